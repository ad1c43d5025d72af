"""3-D convolutions and pools (video, volumetric and radar networks: Conv3d, MaxPool3d, AvgPool3d)
rewritten as 2-D ones (ONNX -> ONNX), the rewrites of :mod:`decompose` for Conv, MaxPool and
AveragePool over a 5-D input.

The input [N, C, D, H, W] is transposed and reshaped to [N, D * C, H, W]: depth plane p is the
channel block [p * C, (p + 1) * C). For output plane d, the planes its window reads are adjacent
channel blocks, so a Conv3d is, per output plane, one 2-D Conv over a channel Slice (zero depth
padding: a Pad of whole planes first), with the weight [O, KD * C/g, KH, KW] ordered as the
slice (plane-major); every plane's conv reads the same weight, which the C holds once. Grouped
convs take the slice's channels regrouped by a constant Gather. A 3-D pool is the 2-D pool of
every plane, then the Max / Mean (Sum over the window for count_include_pad) of the window's
planes. The output planes are concatenated along channels, reshaped to [N, D', O, H', W'] and
transposed back to [N, O, D', H', W']; the per-plane outputs share one calibrated range (a tied
group), so the Concat is a copy.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import onnx

from ..errors import ModelError
from .decompose_index import slice_node
from .onnx_names import attr as _attr


def is_volume_op(n: onnx.NodeProto, ranks: Dict[str, int]) -> bool:
    """A Conv with a 3-D kernel (its kernel_shape, or a 5-D constant weight: ``ranks`` holds the
    constants' ranks), or a MaxPool / AveragePool with one."""
    if len(_attr(n, "kernel_shape", [])) == 3:
        return n.op_type in ("Conv", "MaxPool", "AveragePool")
    return n.op_type == "Conv" and len(n.input) > 1 and ranks.get(n.input[1]) == 5


def _depth_geometry(r, n: onnx.NodeProto, size: int, kernel: int) -> Tuple[int, int, int, int, int]:
    """(stride, dilation, pad before, pad after, output planes) along the depth axis."""
    strides = list(_attr(n, "strides", [1, 1, 1]))
    dilations = list(_attr(n, "dilations", [1, 1, 1]))
    stride, dil = int(strides[0]), int(dilations[0])
    auto = _attr(n, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    span = (kernel - 1) * dil + 1
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = -(-size // stride)
        total = max((out - 1) * stride + span - size, 0)
        small = total // 2
        before, after = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
    elif auto == "VALID":
        before = after = 0
    else:
        pads = list(_attr(n, "pads", [0] * 6))
        before, after = int(pads[0]), int(pads[3])
    room = size + before + after - span
    ceil = int(_attr(n, "ceil_mode", 0))
    planes = (-(-room // stride) if ceil else room // stride) + 1
    if planes < 1:
        raise ModelError(f"{n.op_type} over a depth of {size} with a window of {span}: no output plane",
                         file=r.path, node=n.name, op=n.op_type)
    return stride, dil, before, after, planes


def _planar_attrs(n: onnx.NodeProto) -> dict:
    """The node's attributes for the 2-D op over (H, W): the depth entries dropped."""
    out = {}
    for a in n.attribute:
        v = onnx.helper.get_attribute_value(a)
        if a.name in ("kernel_shape", "strides", "dilations"):
            out[a.name] = [int(x) for x in v[1:]]
        elif a.name == "pads":
            out[a.name] = [int(v[1]), int(v[2]), int(v[4]), int(v[5])]
        elif a.name in ("auto_pad", "group", "ceil_mode", "count_include_pad"):
            out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _as_planes(r, x: str, dims: List[int], base: str) -> str:
    """[N, C, D, H, W] -> [N, D * C, H, W] (plane p: channels [p * C, (p + 1) * C))."""
    moved = r.node("Transpose", [x], f"{base}_depth_first", perm=[0, 2, 1, 3, 4])
    shape = np.array([0, dims[2] * dims[1], dims[3], dims[4]], np.int64)
    return r.node("Reshape", [moved, r.const(f"{base}_planes_shape", shape)], f"{base}_planes")


def _from_planes(r, planes: List[str], out_dims: List[int], out: str) -> None:
    """The output planes ([N, O, H', W'] each) as ``out`` [N, O, D', H', W']; their ranges tied."""
    r.tied.append(list(planes))
    joined = planes[0] if len(planes) == 1 else r.node("Concat", planes, f"{out}_planes", axis=1)
    shape = np.array([0, out_dims[2], out_dims[1], out_dims[3], out_dims[4]], np.int64)
    stacked = r.node("Reshape", [joined, r.const(f"{out}_stacked_shape", shape)], f"{out}_depth_first")
    r.node("Transpose", [stacked], out, out, perm=[0, 2, 1, 3, 4])


def _plane_slice(r, x: str, first: int, count: int, channels: int, base: str) -> str:
    """Planes ``first`` .. ``first + count`` of [N, D * C, H, W]: their channel blocks."""
    return slice_node(r, x, 1, first * channels, (first + count) * channels, base)


def conv3d(r, n: onnx.NodeProto) -> None:
    """Conv over [N, C, D, H, W]: see the module docstring."""
    x, out = n.input[0], n.output[0]
    dims = r.static_shape(x, n)
    w = np.asarray(r.constant_input(n, 1, "weight"), np.float32)
    out_dims = r.static_shape(out, n)
    if len(dims) != 5 or len(out_dims) != 5:
        raise ModelError(f"a Conv with a 5-D weight needs a 5-D input, got {dims}", file=r.path, node=n.name,
                         op=n.op_type)
    o, cg, kd, kh, kw = w.shape
    c = dims[1]
    group = int(_attr(n, "group", 1))
    stride, dil, before, after, planes = _depth_geometry(r, n, dims[2], kd)
    if planes != out_dims[2]:
        raise ModelError(f"internal: {planes} output planes where shape inference has {out_dims[2]}", file=r.path,
                         node=n.name, op=n.op_type)
    xp = _as_planes(r, x, dims, out)
    if before or after:
        pads = np.array([0, before * c, 0, 0, 0, after * c, 0, 0], np.int64)
        xp = r.node("Pad", [xp, r.const(f"{out}_depth_pads", pads)], f"{out}_depth_padded")
    # weight [O, KD * C/g, KH, KW], plane-major as the slices
    weight = r.const(f"{out}_planar_weight", np.ascontiguousarray(w.transpose(0, 2, 1, 3, 4).reshape(o, kd * cg, kh, kw)))
    ins = [weight] + ([n.input[2]] if len(n.input) > 2 and n.input[2] else [])
    regroup = None
    if group > 1:  # slice order [plane][channel] -> [group][plane][channel of the group]
        order = [p * c + g * cg + i for g in range(group) for p in range(kd) for i in range(cg)]
        regroup = r.const(f"{out}_group_order", np.array(order, np.int64))
    attrs = _planar_attrs(n)
    outs = []
    for d in range(planes):
        first = d * stride
        base = f"{out}_plane{d}"
        if dil == 1:
            s = _plane_slice(r, xp, first, kd, c, f"{base}_window")
        else:
            s = r.node("Concat", [_plane_slice(r, xp, first + k * dil, 1, c, f"{base}_window{k}") for k in range(kd)],
                       f"{base}_window", axis=1)
        if regroup is not None:
            s = r.node("Gather", [s, regroup], f"{base}_grouped", axis=1)
        outs.append(r.node("Conv", [s] + ins, base, **attrs))
    _from_planes(r, outs, out_dims, out)


def pool3d(r, n: onnx.NodeProto) -> None:
    """MaxPool / AveragePool over [N, C, D, H, W]: see the module docstring."""
    x, out = n.input[0], n.output[0]
    if len(n.output) > 1 and n.output[1]:
        raise ModelError("MaxPool's Indices output is not supported", file=r.path, node=n.name, op=n.op_type)
    dims = r.static_shape(x, n)
    out_dims = r.static_shape(out, n)
    if len(dims) != 5:
        raise ModelError(f"a 3-D {n.op_type} needs a 5-D input, got {dims}", file=r.path, node=n.name, op=n.op_type)
    kd = int(_attr(n, "kernel_shape", [1, 1, 1])[0])
    stride, dil, before, after, planes = _depth_geometry(r, n, dims[2], kd)
    c = dims[1]
    xp = _as_planes(r, x, dims, out)
    attrs = _planar_attrs(n)
    if attrs.get("kernel_shape") != [1, 1] or any(v != 1 for v in attrs.get("strides", [1, 1])) or \
            any(attrs.get("pads", [0])) or attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        xp = r.node(n.op_type, [xp], f"{out}_planar", **attrs)
    average = n.op_type == "AveragePool"
    whole = average and int(_attr(n, "count_include_pad", 0))
    outs = []
    for d in range(planes):
        base = f"{out}_plane{d}"
        window = [d * stride - before + k * dil for k in range(kd)]
        valid = [p for p in window if 0 <= p < dims[2]]
        if not valid:
            raise ModelError(f"{n.op_type}'s window for output plane {d} covers only depth padding", file=r.path,
                             node=n.name, op=n.op_type)
        parts = [_plane_slice(r, xp, p, 1, c, f"{base}_from{p}") for p in valid]
        if len(parts) == 1 and not (whole and sum(1 for p in window if -before <= p < dims[2] + after) > 1):
            outs.append(r.node("Identity", parts, base))
        elif not average:
            outs.append(r.node("Max", parts, base))
        elif whole:  # the padding's planes count as zeros; those past it (ceil_mode's last window) do not
            counted = sum(1 for p in window if -before <= p < dims[2] + after)
            total = parts[0] if len(parts) == 1 else r.node("Sum", parts, f"{base}_sum")
            outs.append(r.node("Mul", [total, r.const(f"{base}_inverse", np.array(1.0 / counted, np.float32))],
                               base))
        else:
            outs.append(r.node("Mean", parts, base))
    _from_planes(r, outs, out_dims, out)
