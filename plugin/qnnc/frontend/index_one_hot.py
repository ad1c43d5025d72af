"""One-hot encodings of token ids read as a lookup of a constant table (ONNX -> ONNX).

A categorical input encoded one-hot (PyTorch's ``F.one_hot(ids, depth).float()``: ``OneHot`` from
the TorchScript exporter; ``Equal(Unsqueeze(ids, -1), arange(depth))`` and Casts from the dynamo
exporter) is the lookup of a row of a constant [rows, depth] table: row i holds the encoding of
id i, and a last row of "off" values is read by every id past the encoded range (as ONNX's OneHot
gives for an index >= depth). So the encoding becomes ``Gather(table, ids)`` and the ids stay an
index input (index_inputs.py), exact for every id from 0 up; an id below 0 reads a row from the
end, as every lookup does. The table is float where the encoding is read only as float (its Casts
to other types become Identity). The importer and the float runner apply it with the other
rewrites of token ids, before finding index inputs.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import onnx
from onnx import helper

from .index_inputs import InputReads
from .index_wraps import id_starts
from .onnx_names import NewTensors, drop_dead_nodes
from .onnx_names import attr as _attr

_MAX_DEPTH = 4096  # a table row per category: larger encodings are left as they are
#: The op this reads as a lookup (the dynamo form's Equal is a comparison the operator table lists).
ONE_HOT_OPS = frozenset({"OneHot"})


def _float_reads(reads: InputReads, name: str) -> Optional[List[onnx.NodeProto]]:
    """The Casts to another numeric type between ``name`` and Casts to float (they become
    Identity), when every reader of ``name`` is such a chain or a Cast to float; else None."""
    middle = []
    for u in reads.readers.get(name, []):
        if u.op_type != "Cast":
            return None
        if _attr(u, "to", None) == onnx.TensorProto.FLOAT:
            continue
        after = reads.readers.get(u.output[0], [])
        if not after or not all(v.op_type == "Cast" and _attr(v, "to", None) == onnx.TensorProto.FLOAT for v in after):
            return None
        middle.append(u)
    return middle


def _unsqueezed_last(reads: InputReads, t: str) -> Optional[str]:
    """The tensor ``t`` is an Unsqueeze of on a new last axis, or None."""
    n = reads.producer.get(t)
    if n is None or n.op_type != "Unsqueeze":
        return None
    axes = _attr(n, "axes", None)
    if axes is None and len(n.input) > 1:
        value = reads.value(n.input[1])
        axes = None if value is None else value.reshape(-1).tolist()
    shape = reads.value_shapes.get(n.input[0])
    if axes is None or len(axes) != 1 or not (axes[0] == -1 or shape is not None and axes[0] == len(shape)):
        return None
    return n.input[0]


def _one_hot_table(reads: InputReads, n: onnx.NodeProto, t: str) -> Optional[np.ndarray]:
    """OneHot(t, depth, values) on the last axis: [depth + 1, depth], the last row all off."""
    depth, values = reads.value(n.input[1]), reads.value(n.input[2])
    shape = reads.value_shapes.get(t)
    axis = int(_attr(n, "axis", -1))
    if depth is None or values is None or depth.size != 1 or values.size != 2 or \
            not np.all(np.isfinite(depth.astype(np.float64))) or \
            not (axis == -1 or shape is not None and axis == len(shape)):
        return None
    d = int(depth.reshape(-1)[0])
    if not 0 < d <= _MAX_DEPTH:
        return None
    off, on = values.reshape(-1).astype(np.float32)
    table = np.full((d + 1, d), off, np.float32)
    table[np.arange(d), np.arange(d)] = on
    return table


def _equal_table(reads: InputReads, n: onnx.NodeProto, t: str) -> Optional[np.ndarray]:
    """Equal(t, c) of t = ids on a new last axis and a constant vector c of ids: [max(c) + 2, len(c)]
    (the last row all false, for the ids past c)."""
    other = n.input[1] if n.input[0] == t else n.input[0]
    c = reads.value(other)
    if c is None or c.ndim != 1 or c.dtype.kind not in "iu" or not len(c) or c.min() < 0 or c.max() >= _MAX_DEPTH:
        return None
    rows = int(c.max()) + 2
    return (np.arange(rows)[:, None] == c[None, :]).astype(np.float32)


def _padded(table: np.ndarray, rows: int) -> np.ndarray:
    """``table`` with copies of its last row (all off) up to ``rows`` rows: the ids are clamped to
    their smallest table, which must not be this one where they index a larger one."""
    if len(table) >= rows:
        return table
    return np.concatenate([table, np.repeat(table[-1:], rows - len(table), axis=0)])


def one_hots_as_lookups(model: onnx.ModelProto) -> bool:
    """Rewrite ``model`` in place (see the module docstring); returns whether anything changed."""
    reads = InputReads(model)
    outputs = {o.name for o in model.graph.output}
    found = []  # (node, ids tensor, table, Casts that become Identity)
    for start in id_starts(model, reads):
        largest = max(reads.table_rows(start), default=0)
        for t, n in reads.walk(start, reads.passes_ids):
            if n.op_type == "OneHot" and len(n.input) == 3 and n.input[0] == t:
                table, ids = _one_hot_table(reads, n, t), t
                values = reads.value(n.input[2])
                middle = [] if values is not None and values.dtype == np.float32 else _float_reads(reads, n.output[0])
            elif n.op_type == "Equal" and t in n.input and n.input[0] != n.input[1]:
                ids = _unsqueezed_last(reads, t)
                table = None if ids is None else _equal_table(reads, n, t)
                middle = _float_reads(reads, n.output[0])
            else:
                continue
            if table is None or middle is None or \
                    middle and not np.isin(table, (0.0, 1.0)).all() or \
                    any(o in outputs for o in [n.output[0]] + [c.output[0] for c in middle]):
                continue  # (Casts to other types hold 0 / 1 exactly, other values maybe not; an
                # encoding that is a graph output keeps its type)
            found.append((n, ids, _padded(table, largest), middle))
    if not found:
        return False
    names = NewTensors.of_model(model)
    retyped = set()
    for n, ids, table, middle in found:
        out = n.output[0]
        lookup = helper.make_node("Gather", [names.const(f"{out}_table", table), ids], [out],
                                  name=n.name or names.name(f"{out}_lookup"), axis=0)
        n.CopyFrom(lookup)
        retyped.add(out)
        for cast in middle:  # float all the way: the Cast to another type goes
            cast.op_type = "Identity"
            del cast.attribute[:]
            retyped.add(cast.output[0])
    model.graph.initializer.extend(names.inits)
    for vi in [vi for vi in model.graph.value_info if vi.name in retyped]:
        model.graph.value_info.remove(vi)
    drop_dead_nodes(model.graph)  # the Unsqueeze of the ids the Equal read
    return True
