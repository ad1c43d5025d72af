"""A Slice of a Concat that lies within one of its inputs reads that input instead.

An int8 tensor has one scale. A Concat of values of very different magnitudes, such as a YOLO
head's pixel coordinates next to its 0..1 scores, holds the small ones at the large ones' scale.
PyTorch's in-place assignments (``y[..., 0:2] = ...; y[..., 2:4] = f(y[..., 2:4])``, rewritten
as Concats by frontend/decompose_index.py) then read the scores back out of that coarse tensor
to compute the next part; the float model reads them from the original. Reading the slice from
the Concat input that holds it gives the same values at their own scale and skips a copy. Other
readers of the Concat are unchanged.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from ..ir import Graph, Node, Tensor


def _ints(g: Graph, n: Node, i: int) -> Optional[List[int]]:
    if len(n.inputs) <= i or not n.inputs[i]:
        return None
    if not g.is_const(n.inputs[i]):
        raise ValueError("computed")
    return [int(v) for v in np.asarray(g.const(n.inputs[i])).reshape(-1)]


def _window(dim: int, start: int, end: int):
    """[start, end) of a step-1 slice of an axis of ``dim``, as ONNX clamps it."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    return min(max(start, 0), dim), min(max(end, 0), dim)


def slice_through_concat(graph: Graph) -> Graph:
    """Rewire each step-1 Slice (opset 10+ inputs) of a Concat output, also through a Transpose of
    it (the dynamo exporter's slice_scatter moves the axis first and back), whose range along the
    Concat's axis lies within one Concat input to slice that input (then transpose it)."""
    g = graph.copy()
    nodes: List[Node] = []
    for n in g.nodes:
        nodes.append(n)
        if n.op != "Slice" or len(n.inputs) < 3:
            continue
        src = g.producer(n.inputs[0])
        perm = None
        if src is not None and src.op == "Transpose":
            perm = [int(p) for p in src.attrs.get("perm", [])] or None
            src = g.producer(src.inputs[0]) if perm else None
        if src is None or src.op != "Concat" or any(g.is_const(i) for i in src.inputs if i):
            continue
        try:
            starts, ends, axes, steps = (_ints(g, n, i) for i in (1, 2, 3, 4))
        except ValueError:
            continue
        shape = g.shape(n.inputs[0])
        rank = len(shape)
        axes = list(range(len(starts))) if axes is None else [a % rank for a in axes]
        if steps is not None and any(s != 1 for s in steps):
            continue
        if perm is not None:  # axis a of the transposed tensor is axis perm[a] of the Concat's output
            shape = g.shape(src.outputs[0])
            axes = [perm[a] for a in axes]
        axis = int(src.attrs.get("axis", 0)) % rank
        if axis not in axes:
            continue
        k = axes.index(axis)
        lo, hi = _window(shape[axis], starts[k], ends[k])
        at = 0
        for part in src.inputs:
            size = g.shape(part)[axis]
            if at <= lo and hi <= at + size and hi > lo:
                new_starts, new_ends = list(starts), list(ends)
                new_starts[k], new_ends[k] = lo - at, hi - at
                ins = [part, g.add_const(n.name + "_starts", np.array(new_starts, np.int64)),
                       g.add_const(n.name + "_ends", np.array(new_ends, np.int64)),
                       g.add_const(n.name + "_axes", np.array(axes, np.int64))]
                if perm is None:
                    n.inputs = ins
                    break
                # Slice of the part, then the Transpose: the Slice's output keeps its name
                cut = g.unique_name(n.outputs[0] + "_of_part")
                dims = [int(d) for d in g.shape(part)]
                for a, s0, e0 in zip(axes, new_starts, new_ends):
                    dims[a] = _window(dims[a], s0, e0)[1] - _window(dims[a], s0, e0)[0]
                g.tensors[cut] = Tensor(cut, tuple(dims))
                nodes[-1] = Node(n.name, "Slice", ins, [cut])
                nodes.append(Node(g.unique_name(n.name + "_transpose"), "Transpose", [cut], list(n.outputs),
                                  {"perm": list(perm)}))
                break
            at += size
    g.nodes = nodes
    g.remove_unused()
    return g
