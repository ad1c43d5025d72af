"""int8 rules of the data-movement and resampling ops: Slice, Split, Gather (constant indices),
DepthToSpace, SpaceToDepth and Resize / Upsample.

They only move data, so every output keeps its input's scale and zero point (precision.FOLLOW_INPUT).
Everything but linear Resize becomes one ``gather`` op (``qnnc_gather_s8``)::

    out[n, h, w, c] = in[offset_n[n] + offset_h[h] + offset_w[w] + offset_c[c]]

with one table of input element offsets per output axis, computed here at compile time (a NULL
``offset_c`` means ``offset_c[c] = c``: whole rows are copied). The tables absorb slicing with any
step, index lists, axis removal, the NCHW (ONNX) <-> NHWC (storage) axis order of 4-D tensors and
the block rearrangements of DepthToSpace/SpaceToDepth, so no transpose is needed around them.

Linear Resize becomes one ``resize`` op (``qnnc_resize_s8``): over two storage axes (H and W of
an NHWC tensor, or the last axis of a 3-D one) each output coordinate has a table entry
``(offset0, offset1, weight1)`` with ``weight1`` in Q11 (``weight0 = 2048 - weight1``); the kernel
computes ``sum wy * wx * x`` in int32 (at most 2^22 * 128; int64 for int16 tensors) and rounds
once, half away from zero, by 2^22 (see reference/kernels_movement.py). Coordinates follow onnxruntime's float32 arithmetic.

Layout: the graph stores 4-D activations NHWC (passes/layout.py leaves these ops as they are, listed
in its ``_LAYOUT_FREE``); the rules read the ONNX (NCHW) semantics and map the axes here. int16
tensors (quantization.activation_bits: 16) are gathered as bytes; linear Resize has an int16 kernel.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..ir import Node
from ..qmodel import QOp, QTensor

TO_NHWC = (0, 2, 3, 1)  # storage axis j holds ONNX axis TO_NHWC[j] (as passes/layout.py)
RESIZE_WEIGHT_BITS = 11
_ONE = 1 << RESIZE_WEIGHT_BITS
COORD_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
               "half_pixel_symmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


# -- layout ------------------------------------------------------------------------------------
def _perm(low, name: str) -> Tuple[int, ...]:
    """Storage order of a tensor: storage axis j holds ONNX axis perm[j]."""
    r = len(low.g.shape(name))
    return TO_NHWC if (r == 4 and low.g.layout == "NHWC") else tuple(range(r))


def onnx_shape(low, name: str) -> Tuple[int, ...]:
    """The ONNX shape of a (possibly NHWC-stored) activation."""
    s, p = low.g.shape(name), _perm(low, name)
    out = [0] * len(s)
    for j, a in enumerate(p):
        out[a] = s[j]
    return tuple(out)


def _onnx_strides(low, name: str) -> List[int]:
    """Element stride in storage of each ONNX axis."""
    s, p = low.g.shape(name), _perm(low, name)
    st = [1] * len(s)
    for j in range(len(s) - 2, -1, -1):
        st[j] = st[j + 1] * s[j + 1]
    out = [0] * len(s)
    for j, a in enumerate(p):
        out[a] = st[j]
    return out


def _activation(low, n: Node) -> QTensor:
    x = n.inputs[0]
    if low.g.is_const(x):
        raise low.err(n, f"the data input '{x}' is a constant while another input is computed from the model "
                         "input; only constant indices/sizes with an activation as data are supported")
    return low.tensors[x]


def _const_input(low, n: Node, k: int, what: str) -> Optional[np.ndarray]:
    """Constant input ``k`` (None when omitted); refuses one computed from the model input."""
    if len(n.inputs) <= k or not n.inputs[k]:
        return None
    if not low.g.is_const(n.inputs[k]):
        raise low.err(n, f"the {what} input '{n.inputs[k]}' is computed from the model input; qnnc needs it "
                         "constant (known at compile time)")
    return np.asarray(low.g.const(n.inputs[k]))


# -- the gather op -------------------------------------------------------------------------------
def _is_range(t: np.ndarray, step: int = 1) -> bool:
    return bool(np.array_equal(t - t[0], np.arange(len(t), dtype=np.int64) * step))


def gather_tables(tables: Sequence[np.ndarray]) -> Tuple[Tuple[int, ...], List[Optional[np.ndarray]]]:
    """Per-output-storage-axis offset tables -> (4 output dims, 4 int32 tables; the last None when it
    is 0..c-1). Length-1 axes fold into a base offset, rows that stay contiguous merge, and more than
    four axes merge pairwise (tables grow, the result does not change)."""
    base = 0
    ts = []
    for t in tables:
        t = np.asarray(t, dtype=np.int64).reshape(-1)
        if len(t) == 1:
            base += int(t[0])
        else:
            ts.append(t)
    # An inner axis that is a contiguous run, under an outer one stepping by exactly that run: one run.
    while len(ts) >= 2 and _is_range(ts[-1]) and _is_range(ts[-2], len(ts[-1])):
        inner = ts.pop()
        outer = ts.pop()
        ts.append((outer[:, None] + inner[None, :]).reshape(-1))
    while len(ts) > 4:
        k = min(range(len(ts) - 1), key=lambda i: len(ts[i]) * len(ts[i + 1]))
        ts[k:k + 2] = [(ts[k][:, None] + ts[k + 1][None, :]).reshape(-1)]
    ts = [np.zeros(1, np.int64)] * (4 - len(ts)) + ts
    c = ts[3]
    if c[0] != 0 and _is_range(c):  # move a contiguous run's start into the outer offsets
        base += int(c[0])
        c = c - c[0]
    ts = [ts[0] + base] + ts[1:3] + [c]
    dims = tuple(len(t) for t in ts)
    out: List[Optional[np.ndarray]] = [t.astype(np.int32) for t in ts]
    if np.array_equal(c, np.arange(len(c))):
        out[3] = None
    return dims, out


def append_gather(low, n: Node, x: QTensor, out: QTensor, tables: Sequence[np.ndarray]) -> None:
    """One ``gather`` op from ``x`` to ``out`` (tables per output storage axis, input element offsets).
    int16 tensors (quantization.activation_bits: 16) are gathered as bytes: offsets x 2 and an inner
    axis of the element's two bytes (``element_bytes`` 2)."""
    width = x.bits // 8
    if width != 1:
        tables = [np.asarray(t, np.int64) * width for t in tables] + [np.arange(width, dtype=np.int64)]
    dims, ts = gather_tables(tables)
    lo = sum(int(t.min()) if t is not None else 0 for t in ts)
    hi = sum(int(t.max()) if t is not None else dims[3] - 1 for t in ts)
    if int(np.prod(dims)) != out.nbytes or lo < 0 or hi >= x.nbytes or out.bits != x.bits:
        raise low.err(n, f"internal: gather tables do not fit ({dims}, offsets {lo}..{hi}, input {x.size}, "
                         f"output {out.size})")
    consts = {f"offset_{a}": t for a, t in zip("nhwc", ts) if t is not None}
    low.ops.append(QOp("gather", n.name, [x.name], out.name, None, consts,
                       {"output_dims": dims, "element_bytes": width}, 0))


def _out_tensor(low, name: str, x: QTensor) -> QTensor:
    return low.new_tensor(name, x.scale, x.zero_point, bits=x.bits)


def _gather_onnx(low, n: Node, x: QTensor, out_name: str, index: Sequence[np.ndarray]) -> None:
    """Output ONNX axis i = input ONNX axis i at the indices ``index[i]`` (same rank in and out)."""
    strides = _onnx_strides(low, n.inputs[0])
    per_axis = [np.asarray(ix, np.int64) * s for ix, s in zip(index, strides)]
    out = _out_tensor(low, out_name, x)
    append_gather(low, n, x, out, [per_axis[a] for a in _perm(low, out_name)])


# -- Slice / Split / Gather ----------------------------------------------------------------------
def _axis(low, n: Node, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise low.err(n, f"axis {axis} is out of range for a rank-{rank} input")
    return axis % rank


def slice_indices(dim: int, start: int, end: int, step: int) -> np.ndarray:
    """The indices ONNX Slice takes along one axis (negative values count from the end, then clamped)."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return np.arange(start, end, step, dtype=np.int64)


def slice_(low, n: Node) -> None:
    x = _activation(low, n)
    shape = onnx_shape(low, n.inputs[0])
    r = len(shape)
    if len(n.inputs) > 1:  # opset 10+: starts, ends, axes, steps inputs
        starts, ends = _const_input(low, n, 1, "starts"), _const_input(low, n, 2, "ends")
        axes, steps = _const_input(low, n, 3, "axes"), _const_input(low, n, 4, "steps")
    else:  # opset 1-9 attributes
        starts, ends = n.attrs.get("starts"), n.attrs.get("ends")
        axes, steps = n.attrs.get("axes"), None
    if starts is None or ends is None:
        raise low.err(n, "Slice needs starts and ends")
    starts = [int(v) for v in np.asarray(starts).reshape(-1)]
    ends = [int(v) for v in np.asarray(ends).reshape(-1)]
    axes = list(range(len(starts))) if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.asarray(steps).reshape(-1)]
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise low.err(n, f"starts, ends, axes and steps differ in length ({len(starts)}, {len(ends)}, "
                         f"{len(axes)}, {len(steps)})")
    index = [np.arange(d, dtype=np.int64) for d in shape]
    seen = set()
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = _axis(low, n, a, r)
        if a in seen:
            raise low.err(n, f"axis {a} is listed twice in axes")
        seen.add(a)
        if st == 0:
            raise low.err(n, "a step of 0 is invalid")
        index[a] = slice_indices(shape[a], s, e, st)
    want = onnx_shape(low, n.outputs[0])
    if tuple(len(i) for i in index) != tuple(want):
        raise low.err(n, f"the slice gives shape {[len(i) for i in index]}, the model says {list(want)}")
    _gather_onnx(low, n, x, n.outputs[0], index)


def split(low, n: Node) -> None:
    """Split -> one gather per used output; the sizes come from the (inferred) output shapes, which
    covers the split attribute/input and opset 18's num_outputs alike."""
    x = _activation(low, n)
    shape = onnx_shape(low, n.inputs[0])
    axis = _axis(low, n, int(n.attrs.get("axis", 0)), len(shape))
    start = 0
    for o in n.outputs:
        if not o:
            raise low.err(n, "Split with an omitted output is not supported")
        size = onnx_shape(low, o)[axis]
        index = [np.arange(d, dtype=np.int64) for d in shape]
        index[axis] = np.arange(start, start + size, dtype=np.int64)
        start += size
        if o in low.g.outputs or low.g.consumers(o):
            _gather_onnx(low, n, x, o, index)
    if start != shape[axis]:
        raise low.err(n, f"the outputs take {start} of the {shape[axis]} values along axis {axis}")


def gather(low, n: Node) -> None:
    x = _activation(low, n)
    shape = onnx_shape(low, n.inputs[0])
    r = len(shape)
    axis = _axis(low, n, int(n.attrs.get("axis", 0)), r)
    idx = _const_input(low, n, 1, "indices")
    if idx is None:
        raise low.err(n, "Gather needs indices")
    if idx.dtype.kind not in "iu":
        raise low.err(n, f"the indices are {idx.dtype}; expected integers")
    flat = idx.astype(np.int64).reshape(-1)
    bad = flat[(flat < -shape[axis]) | (flat >= shape[axis])]
    if bad.size:
        raise low.err(n, f"index {int(bad[0])} is out of range for axis {axis} of size {shape[axis]}")
    flat = flat % shape[axis]
    strides = _onnx_strides(low, n.inputs[0])
    per_axis = [np.arange(d, dtype=np.int64) * s for d, s in zip(shape, strides)]
    # Output ONNX axes: input axes before `axis`, the index dims, the input axes after `axis`.
    k = idx.ndim
    groups = [per_axis[i] for i in range(axis)] + [None] * k + [per_axis[i] for i in range(axis + 1, r)]
    out_name = n.outputs[0]
    oshape = onnx_shape(low, out_name)
    if tuple(oshape) != tuple(shape[:axis]) + tuple(idx.shape) + tuple(shape[axis + 1:]):
        raise low.err(n, f"internal: output shape {list(oshape)} does not match Gather's")
    operm = _perm(low, out_name)
    gathered = flat * strides[axis]
    if k <= 1 or list(operm) == sorted(operm):
        # Storage order of the output: its index dims stay together (one table).
        tables, done = [], False
        for a in operm:
            if groups[a] is not None:
                tables.append(groups[a])
            elif not done:
                tables.append(gathered)
                done = True
        if k == 0:
            tables.append(gathered)  # a scalar index: one offset, no output axis
        append_gather(low, n, x, _out_tensor(low, out_name, x), tables)
        return
    # Index dims split apart by the output's NHWC order (k >= 2, 4-D output): gather in ONNX order
    # into a temporary, then transpose.
    if x.bits != 8:
        raise low.err(n, "int16 Gather with multi-dimensional indices giving a 4-D output is not supported")
    tmp = QTensor(out_name + "__onnx_order", tuple(oshape), x.scale, x.zero_point)
    low.tensors[tmp.name] = tmp
    append_gather(low, n, x, tmp, groups[:axis] + [gathered] + groups[axis + k:])
    out = _out_tensor(low, out_name, x)
    low.ops.append(QOp("transpose", n.name + "_to_nhwc", [tmp.name], out.name, None, {},
                       {"input_dims": tuple(oshape), "perm": tuple(operm)}, 0))


# -- DepthToSpace / SpaceToDepth ---------------------------------------------------------------
def depth_space(low, n: Node) -> None:
    x = _activation(low, n)
    shape = onnx_shape(low, n.inputs[0])
    if len(shape) != 4:
        raise low.err(n, f"{n.op} needs a 4-D NCHW input; this one has shape {list(shape)}")
    b = int(n.attrs.get("blocksize", 0))
    if b < 1:
        raise low.err(n, f"blocksize {b} is invalid")
    batch, c, h, w = shape  # a batch above 1: tf2onnx's SpaceToBatchND of a dilated conv runs the
    st = _onnx_strides(low, n.inputs[0])  # block rearrangement on channels moved to axis 0
    out_name = n.outputs[0]
    out_shape = onnx_shape(low, out_name)
    ob, oc, oh, ow = out_shape
    if ob != batch:
        raise low.err(n, f"input {list(shape)} and output {list(out_shape)} differ in dim 0")
    if n.op == "DepthToSpace":
        mode = n.attrs.get("mode", "DCR")
        if mode not in ("DCR", "CRD"):
            raise low.err(n, f"mode '{mode}' is not supported (DCR, CRD)")
        if c % (b * b) or (oc, oh, ow) != (c // (b * b), h * b, w * b):
            raise low.err(n, f"input {list(shape)} and blocksize {b} do not give the output shape")
        ys, xs, cs = np.arange(oh), np.arange(ow), np.arange(oc)
        # input channel: DCR (i * b + j) * oc + c', CRD c' * b * b + i * b + j (i, j: offsets in the block)
        ci, cj, cc = (b * oc, oc, 1) if mode == "DCR" else (b, 1, b * b)
        off_h = (ys // b) * st[2] + (ys % b) * ci * st[1]
        off_w = (xs // b) * st[3] + (xs % b) * cj * st[1]
        off_c = cs * cc * st[1]
    else:
        if h % b or w % b or (oc, oh, ow) != (c * b * b, h // b, w // b):
            raise low.err(n, f"input {list(shape)} and blocksize {b} do not give the output shape")
        ys, xs, cs = np.arange(oh), np.arange(ow), np.arange(oc)
        # output channel (i * b + j) * c + c' reads input row y * b + i, column x * b + j
        i, j, cc = cs // (b * c), (cs // c) % b, cs % c
        off_h = ys * b * st[2]
        off_w = xs * b * st[3]
        off_c = i * st[2] + j * st[3] + cc * st[1]
    by_axis = {0: np.arange(batch, dtype=np.int64) * st[0], 1: off_c, 2: off_h, 3: off_w}
    append_gather(low, n, x, _out_tensor(low, out_name, x), [by_axis[a] for a in _perm(low, out_name)])


# -- Resize ----------------------------------------------------------------------------------------
def _source_coords(mode: str, out_len: int, in_len: int, scale: np.float32) -> np.ndarray:
    """onnxruntime's float32 input coordinate of every output coordinate."""
    f = np.float32
    x = np.arange(out_len, dtype=np.float32)
    with np.errstate(all="ignore"):
        if mode == "half_pixel":
            return (x + f(0.5)) / scale - f(0.5)
        if mode == "pytorch_half_pixel":
            return (x + f(0.5)) / scale - f(0.5) if out_len > 1 else np.zeros(out_len, np.float32)
        if mode == "align_corners":
            if out_len == 1:
                return np.zeros(1, np.float32)
            return x * f(in_len - 1) / f(out_len - 1)
        if mode == "asymmetric":
            return x / scale
        if mode == "tf_half_pixel_for_nn":
            return (x + f(0.5)) / scale
        if mode == "half_pixel_symmetric":
            adj = f(out_len) / (scale * f(in_len))
            center = f(in_len) / f(2)
            offset = center * (f(1) - adj)
            return offset + (x + f(0.5)) / scale - f(0.5)
    raise ValueError(mode)


def nearest_indices(coords: np.ndarray, nearest_mode: str, in_len: int) -> np.ndarray:
    """The input index each coordinate takes (onnxruntime's rounding), clamped to the input."""
    c = coords.astype(np.float32)
    if nearest_mode == "round_prefer_floor":
        half = c == np.trunc(c) + np.float32(0.5)
        r = np.where(half, np.floor(c), np.sign(c) * np.floor(np.abs(c) + np.float32(0.5)))
    elif nearest_mode == "round_prefer_ceil":
        r = np.sign(c) * np.floor(np.abs(c) + np.float32(0.5))
    elif nearest_mode == "floor":
        r = np.floor(c)
    else:
        r = np.ceil(c)
    return np.clip(r, 0, in_len - 1).astype(np.int64)


def linear_taps(coords: np.ndarray, in_len: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index0, index1, Q11 weight of index1) per coordinate, as onnxruntime's bilinear upsampler:
    the coordinate is clamped to [0, in_len - 1] first."""
    c = np.clip(coords.astype(np.float32), np.float32(0), np.float32(in_len - 1))
    i0 = np.minimum(c.astype(np.int64), in_len - 1)
    i1 = np.minimum(i0 + 1, in_len - 1)
    frac = (c - i0.astype(np.float32)).astype(np.float64)
    w1 = np.floor(frac * _ONE + 0.5).astype(np.int64)
    w1 = np.where(i0 == i1, 0, w1)
    return i0, i1, w1


def _resize_scales(low, n: Node, shape, oshape) -> List[np.float32]:
    """Per ONNX axis, the float32 scale onnxruntime uses in the coordinate transforms."""
    r = len(shape)
    scales = _const_input(low, n, 2, "scales") if len(n.inputs) > 2 else None
    sizes = _const_input(low, n, 3, "sizes") if len(n.inputs) > 3 else None
    if n.op == "Upsample" or (low.g.opset < 11 and len(n.inputs) == 2):
        scales = _const_input(low, n, 1, "scales") if len(n.inputs) > 1 else np.asarray(n.attrs.get("scales"))
    if scales is not None and scales.size == 0:
        scales = None
    if sizes is not None and sizes.size == 0:
        sizes = None
    axes = n.attrs.get("axes")
    axes = list(range(r)) if axes is None else [_axis(low, n, int(a), r) for a in axes]
    out = [np.float32(1.0)] * r
    if scales is not None:
        vals = [np.float32(v) for v in np.asarray(scales, np.float32).reshape(-1)]
        if len(vals) != len(axes):
            raise low.err(n, f"{len(vals)} scales for {len(axes)} axes")
        for a, v in zip(axes, vals):
            if not (v > 0 and math.isfinite(float(v))):
                raise low.err(n, f"scale {float(v)} is invalid; scales must be positive")
            out[a] = v
        return out
    if sizes is None:
        raise low.err(n, "Resize needs scales or sizes")
    vals = [int(v) for v in np.asarray(sizes).reshape(-1)]
    if len(vals) != len(axes):
        raise low.err(n, f"{len(vals)} sizes for {len(axes)} axes")
    policy = n.attrs.get("keep_aspect_ratio_policy", "stretch")
    if policy == "stretch":
        for a in axes:
            out[a] = np.float32(np.float32(oshape[a]) / np.float32(shape[a]))
    elif policy in ("not_larger", "not_smaller"):
        ratios = [np.float32(np.float32(v) / np.float32(shape[a])) for a, v in zip(axes, vals)]
        s = min(ratios) if policy == "not_larger" else max(ratios)
        for a in axes:
            out[a] = s
    else:
        raise low.err(n, f"keep_aspect_ratio_policy '{policy}' is not supported")
    return out


def resize(low, n: Node) -> None:
    x = _activation(low, n)
    shape = onnx_shape(low, n.inputs[0])
    out_name = n.outputs[0]
    oshape = onnx_shape(low, out_name)
    a = n.attrs
    mode = a.get("mode", "nearest")
    default_coord = "asymmetric" if (n.op == "Upsample" or low.g.opset < 11) else "half_pixel"
    coord = a.get("coordinate_transformation_mode", default_coord)
    if mode == "cubic":
        raise low.err(n, "mode 'cubic' is not supported (nearest and linear are)")
    if mode not in ("nearest", "linear", "bilinear"):
        raise low.err(n, f"mode '{mode}' is not supported (nearest and linear are)")
    if coord == "tf_crop_and_resize":
        raise low.err(n, "coordinate_transformation_mode 'tf_crop_and_resize' (a region of interest) is not "
                         f"supported; supported: {', '.join(COORD_MODES)}")
    if coord not in COORD_MODES:
        raise low.err(n, f"coordinate_transformation_mode '{coord}' is not supported; supported: "
                         f"{', '.join(COORD_MODES)}")
    if len(shape) != len(oshape):
        raise low.err(n, f"input {list(shape)} and output {list(oshape)} differ in rank")
    scales = _resize_scales(low, n, shape, oshape)
    if mode == "nearest":
        nm = a.get("nearest_mode", "round_prefer_floor")
        if nm not in NEAREST_MODES:
            raise low.err(n, f"nearest_mode '{nm}' is not supported; supported: {', '.join(NEAREST_MODES)}")
        index = [np.arange(d, dtype=np.int64) if (o == d and s == 1) else
                 nearest_indices(_source_coords(coord, o, d, s), nm, d)
                 for d, o, s in zip(shape, oshape, scales)]
        _gather_onnx(low, n, x, out_name, index)
        return
    # linear over the axes whose size or scale changes
    resized = [i for i, (d, o, s) in enumerate(zip(shape, oshape, scales)) if o != d or s != 1]
    if int(a.get("antialias", 0)) and any(oshape[i] < shape[i] for i in resized):
        raise low.err(n, "antialias=1 when downscaling is not supported")
    taps = {i: linear_taps(_source_coords(coord, oshape[i], shape[i], scales[i]), shape[i]) for i in resized}
    # In storage order the resized axes must be at most two, with only size-1 axes between them.
    iperm = _perm(low, n.inputs[0])
    if _perm(low, out_name) != iperm:
        raise low.err(n, "internal: input and output layouts differ")
    pos = [iperm.index(i) for i in resized]
    sshape = low.g.shape(n.inputs[0])
    if len(pos) > 2:
        raise low.err(n, f"linear resize over {len(pos)} axes (axes {resized}) is not supported; at most two "
                         "(bilinear over H and W)")
    if not pos:
        _gather_onnx(low, n, x, out_name, [np.arange(d, dtype=np.int64) for d in shape])
        return
    pos = sorted(pos)
    p, q = (pos[0], pos[0]) if len(pos) == 1 else pos
    if int(np.prod(sshape[p + 1:q])) != 1:
        raise low.err(n, f"linear resize over axes {resized}, which are not neighbours in memory, is not "
                         "supported")
    outer, inner = int(np.prod(sshape[:p])), int(np.prod(sshape[q + 1:]))
    ax_h = iperm[p]
    ax_w = iperm[q] if len(pos) == 2 else None
    in_w = sshape[q] if ax_w is not None else 1
    h0, h1, hw = taps[ax_h]
    tab_h = np.stack([h0 * in_w * inner, h1 * in_w * inner, hw], axis=1).astype(np.int32).reshape(-1)
    if ax_w is not None:
        w0, w1, ww = taps[ax_w]
    else:
        w0 = w1 = ww = np.zeros(1, np.int64)
    tab_w = np.stack([w0 * inner, w1 * inner, ww], axis=1).astype(np.int32).reshape(-1)
    out = _out_tensor(low, out_name, x)
    in_dims = (outer, sshape[p], in_w, inner)
    out_dims = (outer, len(h0), len(w0), inner)
    if int(np.prod(out_dims)) != out.size:
        raise low.err(n, f"internal: resize dims {out_dims} do not match the output {list(out.shape)}")
    attrs = {"input_dims": in_dims, "output_dims": out_dims, "fraction_bits": RESIZE_WEIGHT_BITS}
    if x.bits == 16:
        attrs.update(kernel="qnnc_resize_s16", activation_bits=16)
    low.ops.append(QOp("resize", n.name, [x.name], out.name, None, {"table_h": tab_h, "table_w": tab_w}, attrs,
                       int(np.prod(out_dims)) * 4))


def _checked(rule):
    """A rule whose malformed attributes or constant inputs (a list where a number belongs, a value
    numpy cannot read) end as a clear model error naming the node, not a traceback."""
    def run(low, n: Node) -> None:
        try:
            rule(low, n)
        except (TypeError, ValueError, IndexError, OverflowError, KeyError) as e:
            raise low.err(n, f"invalid attributes or constant inputs for {n.op} ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:200]})") from None
    return run


RULES = {op: _checked(rule) for op, rule in {
    "Slice": slice_, "Split": split, "Gather": gather, "DepthToSpace": depth_space, "SpaceToDepth": depth_space,
    "Resize": resize, "Upsample": resize,
}.items()}
OPS = tuple(RULES)


def merged_transpose(shape, perm):
    """(shape, perm) of the same data movement with size-1 axes dropped and runs of input axes that
    stay adjacent and in order merged (e.g. ShuffleNet's channel shuffle (1, g, C/g, H, W) by
    (0, 2, 1, 3, 4) is (g, C/g, H*W) by (1, 0, 2))."""
    kept = [a for a in range(len(shape)) if shape[a] != 1]
    runs = []
    for a in (a for a in perm if shape[a] != 1):
        if runs and kept.index(a) == kept.index(runs[-1][-1]) + 1:
            runs[-1].append(a)
        else:
            runs.append([a])
    order = sorted(range(len(runs)), key=lambda r: runs[r][0])
    new_shape = [int(np.prod([shape[a] for a in runs[r]])) for r in order]
    return (new_shape or [1]), ([order.index(r) for r in range(len(runs))] or [0])
