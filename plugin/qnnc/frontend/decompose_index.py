"""Index and prefix ops on activations rewritten as ops qnnc has kernels for (ONNX -> ONNX), the
rewrites of :mod:`decompose` for:

- ScatterND with constant indices: PyTorch's in-place slice assignment (``y[..., 0:2] = f(y[..., 0:2])``
  in a YOLO detection head) exports as one. Indices that cover a box (a range per indexed axis, in
  row-major order) become Slices of the data and a Concat around the updates; any other indices a
  Gather over the flattened data and updates.
- GatherElements with constant indices (``torch.gather``): indices that vary only along the
  gathered axis become a Gather on that axis; any others a Gather over the flattened data.
- GatherND with constant indices (the dynamo exporter's decompositions): a Gather of the addressed
  blocks of the data reshaped to [blocks, block size].
- CumSum over a constant axis: a MatMul with a constant 0/1 triangular matrix, between Transposes
  when the axis is not the last (an int8 weight of 1 is exact).
- Trilu: a Mul with the constant 0/1 triangle of the last two axes.

Each function takes the rewriter of :mod:`decompose` (names, constants, static shapes) and the node,
and appends the replacement nodes to it; the replacement's last node writes the node's output.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError
from .onnx_names import attr as _attr


def _full_shape(r, tensor: str, n: onnx.NodeProto) -> List[int]:
    """The static shape of ``tensor``, the batch axis included (index maps address every element)."""
    dims = r.static_shape(tensor, n)
    if dims[0] <= 0:
        raise ModelError(f"{n.op_type} with constant indices needs a static batch size for '{tensor}' "
                         "(export with a fixed batch, or set input_shape in the YAML config)", file=r.path,
                         node=n.name, op=n.op_type)
    return list(dims)


def _indices(r, n: onnx.NodeProto, i: int, limits: np.ndarray) -> np.ndarray:
    """Constant input ``i`` of ``n`` as int64 with negative entries counted from the back of
    ``limits`` (broadcast against the last axis); out-of-range entries are refused by name."""
    idx = r.constant_input(n, i, "indices")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ModelError(f"{n.op_type} indices must be integers, got {idx.dtype}", file=r.path, node=n.name,
                         op=n.op_type)
    idx = idx.astype(np.int64)
    fixed = np.where(idx < 0, idx + limits, idx)
    if np.any(fixed < 0) or np.any(fixed >= limits):
        raise ModelError(f"{n.op_type} has indices outside the data's shape (limits {np.asarray(limits).tolist()})",
                         file=r.path, node=n.name, op=n.op_type)
    return fixed


def _axis(r, n: onnx.NodeProto, axis: int, rank: int) -> int:
    """``axis`` in [0, rank), counted from the back when negative; out of [-rank, rank) refused."""
    if not -rank <= axis < rank:
        raise ModelError(f"{n.op_type} axis {axis} is out of range for a rank-{rank} input", file=r.path,
                         node=n.name, op=n.op_type)
    return axis % rank


def slice_node(r, x: str, axis: int, start: int, end: int, base: str) -> str:
    """A Slice of ``x`` along ``axis`` from ``start`` to ``end`` (step 1)."""
    c = [r.const(f"{base}_{k}", np.array([v], np.int64)) for k, v in
         (("start", start), ("end", end), ("axis", axis))]
    return r.node("Slice", [x] + c, base)


def _reshape(r, x: str, shape: List[int], base: str, out: Optional[str] = None) -> str:
    return r.node("Reshape", [x, r.const(f"{base}_shape", np.array(shape, np.int64))], base, out)


def _box(points: np.ndarray) -> Optional[List[Tuple[int, int]]]:
    """The ranges [lo, hi) per column when ``points`` (one index tuple per row) list every point of
    that box once, in row-major order; None otherwise."""
    ranges = []
    for col in points.T:
        lo, hi = int(col.min()), int(col.max()) + 1
        ranges.append((lo, hi))
    if int(np.prod([hi - lo for lo, hi in ranges])) != len(points):  # before building the grid
        return None
    grid = np.stack(np.meshgrid(*[np.arange(lo, hi) for lo, hi in ranges], indexing="ij"), -1)
    grid = grid.reshape(-1, points.shape[1])
    return ranges if grid.shape == points.shape and np.array_equal(grid, points) else None


def _place(r, data: str, dims: List[int], updates: str, box: List[Tuple[int, int]], axis: int, base: str,
           out: Optional[str]) -> str:
    """``data`` (of ``dims``) with the region ``box`` (ranges of its leading axes, from ``axis`` on)
    replaced by ``updates``: along the first axis the box does not span, the data before the box,
    the box's part (recursively), the data after it, concatenated."""
    for a in range(axis, len(box)):
        lo, hi = box[a]
        if (lo, hi) == (0, dims[a]):
            continue
        middle = updates
        if any(box[b] != (0, dims[b]) for b in range(a + 1, len(box))):
            inner = slice_node(r, data, a, lo, hi, f"{base}_a{a}_box")
            middle = _place(r, inner, dims[:a] + [hi - lo] + dims[a + 1:], updates, box, a + 1, f"{base}_a{a}", None)
        parts = ([slice_node(r, data, a, 0, lo, f"{base}_a{a}_before")] if lo else []) + [middle] + \
                ([slice_node(r, data, a, hi, dims[a], f"{base}_a{a}_after")] if hi < dims[a] else [])
        if len(parts) == 1:
            return r.node("Identity", parts, base, out)
        return r.node("Concat", parts, f"{base}_a{a}", out, axis=a)
    return r.node("Identity", [updates], base, out)  # the box is the whole tensor


def _is_constant(r, name: str) -> bool:
    return name in r.consts or name in r.folded


def scatter_nd(r, n: onnx.NodeProto) -> None:
    """ScatterND(data, constant indices, updates) without reduction: see the module docstring."""
    reduction = _attr(n, "reduction", b"none")
    reduction = reduction.decode() if isinstance(reduction, bytes) else reduction
    if reduction != "none":
        raise ModelError(f"ScatterND with reduction '{reduction}' is not supported (only plain assignment)",
                         file=r.path, node=n.name, op=n.op_type)
    data, updates, out = n.input[0], n.input[2], n.output[0]
    dims = _full_shape(r, data, n)
    raw = r.constant_input(n, 1, "indices")
    q = int(raw.shape[-1]) if raw.ndim else 0
    if raw.ndim < 1 or q < 1 or q > len(dims):
        raise ModelError(f"ScatterND indices of shape {list(raw.shape)} do not index data of rank {len(dims)}",
                         file=r.path, node=n.name, op=n.op_type)
    idx = _indices(r, n, 1, np.array(dims[:q], np.int64))
    points = idx.reshape(-1, q)
    tail = dims[q:]
    box = _box(points) if points.shape[0] else None
    if points.shape[0] == 0:
        r.node("Identity", [data], out, out)
        return
    if box is not None:
        box_shape = [hi - lo for lo, hi in box] + tail
        if r.dims.get(updates) != box_shape:
            updates = _reshape(r, updates, box_shape, f"{out}_updates_box")
        if _is_constant(r, data):
            # constant data around computed updates: the updates zero-padded to the data's shape,
            # plus the data with the box zeroed (no Concat of constants and activations)
            pads = [lo for lo, _ in box] + [0] * len(tail) + [d - hi for (_, hi), d in zip(box, dims)] + [0] * len(tail)
            value = np.array(r.consts[data] if data in r.consts else numpy_helper.to_array(r.folded[data]),
                             np.float32)
            value = np.broadcast_to(value, dims).copy()
            value[tuple(slice(lo, hi) for lo, hi in box)] = 0
            pads = r.const(f"{out}_pads", np.array(pads, np.int64))
            if value.any():
                r.node("Add", [r.node("Pad", [updates, pads], f"{out}_padded"), r.const(f"{out}_data", value)], out, out)
            else:
                r.node("Pad", [updates, pads], out, out)
            return
        _place(r, data, dims, updates, box, 0, out, out)
        return
    if _is_constant(r, data):
        raise ModelError("ScatterND of computed updates into constant data at indices that do not form a box "
                         "(a range per axis) is not supported", file=r.path, node=n.name, op=n.op_type)
    # any other indices: out = Gather(Concat(data, updates) flattened, where each element comes from)
    size, block = int(np.prod(dims)), int(np.prod(tail)) if tail else 1
    source = np.arange(size, dtype=np.int64).reshape(dims)
    starts = np.ravel_multi_index(points.T, dims[:q]) * block
    for k, s in enumerate(starts):  # a later update of the same element wins, as in onnxruntime
        source.reshape(-1)[s:s + block] = size + k * block + np.arange(block)
    flat_data = _reshape(r, data, [size], f"{out}_data_flat")
    flat_updates = _reshape(r, updates, [points.shape[0] * block], f"{out}_updates_flat")
    both = r.node("Concat", [flat_data, flat_updates], f"{out}_sources", axis=0)
    picked = r.node("Gather", [both, r.const(f"{out}_source_index", source.reshape(-1))], f"{out}_flat", axis=0)
    _reshape(r, picked, dims, f"{out}_reshaped", out)


def gather_elements(r, n: onnx.NodeProto) -> None:
    """GatherElements(data, constant indices, axis): see the module docstring."""
    data, out = n.input[0], n.output[0]
    dims = _full_shape(r, data, n)
    axis = _axis(r, n, int(_attr(n, "axis", 0)), len(dims))
    raw = r.constant_input(n, 1, "indices")
    if raw.ndim != len(dims) or any(raw.shape[b] > dims[b] for b in range(len(dims)) if b != axis):
        raise ModelError(f"GatherElements indices of shape {list(raw.shape)} do not fit data of shape {dims}",
                         file=r.path, node=n.name, op=n.op_type)
    idx = _indices(r, n, 1, np.int64(dims[axis]))
    line = idx
    for b in range(idx.ndim):
        if b != axis:
            line = np.take(line, [0], axis=b)
    if np.array_equal(np.broadcast_to(line, idx.shape), idx):
        # the same indices at every position of the other axes: a Gather along the axis of the data
        # cut to the indices' extent on the other axes
        x = data
        for b in range(len(dims)):
            if b != axis and raw.shape[b] < dims[b]:
                x = slice_node(r, x, b, 0, raw.shape[b], f"{out}_within_a{b}")
        r.node("Gather", [x, r.const(f"{out}_index", line.reshape(-1))], out, out, axis=axis)
        return
    coords = list(np.indices(idx.shape))
    coords[axis] = idx
    flat = np.ravel_multi_index(tuple(coords), dims)
    size = int(np.prod(dims))
    picked = r.node("Gather", [_reshape(r, data, [size], f"{out}_data_flat"),
                               r.const(f"{out}_flat_index", flat.reshape(-1))], f"{out}_flat", axis=0)
    _reshape(r, picked, list(idx.shape), f"{out}_reshaped", out)


def gather_nd(r, n: onnx.NodeProto) -> None:
    """GatherND(data, constant indices, batch_dims): the addressed blocks as a Gather over the data
    reshaped to [blocks, block size], reshaped to the output's shape."""
    data, out = n.input[0], n.output[0]
    dims = _full_shape(r, data, n)
    b = int(_attr(n, "batch_dims", 0))
    raw = r.constant_input(n, 1, "indices")
    if raw.ndim < 1 or raw.shape[-1] < 1 or b + raw.shape[-1] > len(dims) or list(raw.shape[:b]) != dims[:b]:
        raise ModelError(f"GatherND indices of shape {list(raw.shape)} (batch_dims {b}) do not index data of shape "
                         f"{dims}", file=r.path, node=n.name, op=n.op_type)
    k = int(raw.shape[-1])
    idx = _indices(r, n, 1, np.array(dims[b:b + k], np.int64))
    lead = idx.shape[:-1]
    batch = [c.reshape(-1) for c in np.indices(lead)[:b]] if b else []
    coords = tuple(batch + [idx.reshape(-1, k)[:, j] for j in range(k)])
    flat = np.ravel_multi_index(coords, dims[:b + k]) if coords else np.zeros(0, np.int64)
    block = int(np.prod(dims[b + k:])) if len(dims) > b + k else 1
    rows = _reshape(r, data, [int(np.prod(dims[:b + k])), block], f"{out}_blocks")
    picked = r.node("Gather", [rows, r.const(f"{out}_block_index", flat.astype(np.int64))], f"{out}_picked", axis=0)
    _reshape(r, picked, list(lead) + dims[b + k:], f"{out}_reshaped", out)


def cumsum(r, n: onnx.NodeProto) -> None:
    """CumSum(x, constant axis): a MatMul over that axis with the 0/1 matrix T, T[i, j] = 1 where
    input position i adds to output position j (i <= j; i < j exclusive; reversed: i >= j, i > j)."""
    x, out = n.input[0], n.output[0]
    dims = r.static_shape(x, n)
    rank = len(dims)
    axis = _axis(r, n, r.integer_scalar(n, 1, "axis") or 0, rank)  # (the checker requires the axis input)
    if axis == 0:
        raise ModelError("CumSum over the batch axis is not supported (the compiled model takes one sample at "
                         "a time)", file=r.path, node=n.name, op=n.op_type)
    length = dims[axis]
    i, j = np.meshgrid(np.arange(length), np.arange(length), indexing="ij")
    exclusive, reverse = int(_attr(n, "exclusive", 0)), int(_attr(n, "reverse", 0))
    tri = (i > j if exclusive else i >= j) if reverse else (i < j if exclusive else i <= j)
    weight = r.const(f"{out}_triangle", tri.astype(np.float32))
    if axis == rank - 1:
        r.node("MatMul", [x, weight], out, out)
        return
    perm = [a for a in range(rank) if a != axis] + [axis]
    moved = r.node("Transpose", [x], f"{out}_axis_last", perm=perm)
    summed = r.node("MatMul", [moved, weight], f"{out}_axis_last_sum")
    r.node("Transpose", [summed], out, out, perm=[int(p) for p in np.argsort(perm)])


def trilu(r, n: onnx.NodeProto) -> None:
    """Trilu(x, k): x times the constant 0/1 triangle of its last two axes (kept where
    j - i >= k for upper, j - i <= k for lower)."""
    x, out = n.input[0], n.output[0]
    dims = r.static_shape(x, n)
    if len(dims) < 2 or dims[-2] <= 0:
        raise ModelError(f"Trilu needs an input of rank 2 or more with static last two axes, got {dims}",
                         file=r.path, node=n.name, op=n.op_type)
    k = r.integer_scalar(n, 1, "k") or 0
    rows, cols = np.meshgrid(np.arange(dims[-2]), np.arange(dims[-1]), indexing="ij")
    keep = (cols - rows >= k) if int(_attr(n, "upper", 1)) else (cols - rows <= k)
    r.node("Mul", [x, r.const(f"{out}_triangle", keep.astype(np.float32))], out, out)
