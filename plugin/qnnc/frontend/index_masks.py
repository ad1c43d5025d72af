"""Comparisons of token ids with a constant read as a lookup (ONNX -> ONNX).

Keras' ``Embedding(mask_zero=True)`` (and hand-written padding masks) compare the ids themselves
with the padding id: tf2onnx writes ``Equal(ids, 0)``, then Not, and the mask reaches the
recurrent layer's steps. Token ids are index inputs (index_inputs.py): the compiled model holds
them as int16 and reads them only as the rows of constant tables, so a comparison of an id with a
constant c becomes one more table: ``Greater(Squeeze(Gather(T, ids)), 0.5)`` with ``T[i] =
(i == c)`` (or the comparison's own test) over the rows of the embedding table the same ids index,
when that gives the comparison's result for every id from 0 on (ids past the table read its last
row; an id below 0, no vocabulary's, reads a row from the end as every lookup does). The lookup
is an embedding op, and the Greater of a computed value with a constant is a mask the
composite rewrites read (decompose.py). The importer and the float runner apply it after the index
wraps are dropped (index_wraps.py) and before finding index inputs.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import onnx
from onnx import helper

from .index_inputs import InputReads
from .index_wraps import id_starts
from .onnx_names import NewTensors, replace_nodes

_TESTS = {"Equal": np.equal, "Greater": np.greater, "Less": np.less, "GreaterOrEqual": np.greater_equal,
          "LessOrEqual": np.less_equal}
_SWAPPED = {"Equal": "Equal", "Greater": "Less", "Less": "Greater", "GreaterOrEqual": "LessOrEqual",
            "LessOrEqual": "GreaterOrEqual"}


def _scalar(reads: InputReads, name: str):
    """The one value of a constant of rank 0 or 1 (no Cast between), if it is an integer (also as a
    float: Keras' float ids compared with 0.0), else None."""
    value = reads.value(name)
    if value is None:
        return None
    if value.size != 1 or value.ndim > 1 or value.dtype.kind not in "iuf":
        return None
    v = value.reshape(-1)[0]
    return int(v) if value.dtype.kind in "iu" or float(v).is_integer() else None


def _comparison(reads: InputReads, n: onnx.NodeProto, t: str):
    """(test, constant, the constant's shape) of a comparison ``n`` of ``t`` with a constant
    integer, else None."""
    if n.op_type not in _TESTS or len(n.input) != 2 or t not in n.input or n.input[0] == n.input[1]:
        return None
    other = n.input[1] if n.input[0] == t else n.input[0]
    c = _scalar(reads, other)
    if c is None:
        return None
    return (n.op_type if n.input[0] == t else _SWAPPED[n.op_type]), c, reads.value(other).shape


def _exact(test, c: int, rows: int) -> bool:
    """Whether the table ``test(i, c)`` over the rows gives the comparison of every id from 0 up to the
    int16 maximum at the row the lookup reads (ids past the table read its last row). Ids below 0
    are no vocabulary's: the lookup counts them from the end of the table."""
    ids = np.arange(32768)
    table = test(np.arange(rows), c)
    return bool(np.array_equal(table[np.minimum(ids, rows - 1)], test(ids, c)))


def id_comparisons_as_lookups(model: onnx.ModelProto) -> bool:
    """Rewrite ``model`` in place (see the module docstring); returns whether anything changed."""
    reads = InputReads(model)
    inputs = {i.name for i in model.graph.input}
    found: List[tuple] = []
    for start in id_starts(model, reads):
        rows = reads.table_rows(start)
        compares: List[tuple] = []
        for t, n in reads.walk(start, reads.passes_ids):
            test = _comparison(reads, n, t)
            if test is not None:
                compares.append((n, t) + test)
        source = reads.producer.get(start)
        if source is not None and source.op_type == "Cast" and source.input[0] in inputs:
            # Keras' float ids (cast to an integer type for the lookup) compared as floats
            for n in reads.readers.get(source.input[0], []):
                test = _comparison(reads, n, source.input[0])
                if test is not None:
                    compares.append((n, start) + test)
        if rows:
            found.extend((n, t, op, c, shape, min(rows)) for n, t, op, c, shape in compares
                         if _exact(_TESTS[op], c, min(rows)))
    if not found:
        return False
    names = NewTensors.of_model(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    replaced: Dict[int, List[onnx.NodeProto]] = {}
    for n, t, op, c, shape, rows in found:
        out = n.output[0]
        table = names.const(f"{out}_table", _TESTS[op](np.arange(rows), c).astype(np.float32).reshape(rows, 1))
        looked, flat = names.name(f"{out}_lookup"), names.name(f"{out}_value")
        if opset >= 13:
            squeeze = helper.make_node("Squeeze", [looked, names.const(f"{out}_axes", np.array([-1], np.int64))],
                                       [flat], name=names.name(f"{n.name}_value"))
        else:
            squeeze = helper.make_node("Squeeze", [looked], [flat], name=names.name(f"{n.name}_value"), axes=[-1])
        replaced[id(n)] = [
            helper.make_node("Gather", [table, t], [looked], name=names.name(f"{n.name}_lookup"), axis=0), squeeze,
            # (0.5 in the constant's shape: a [1] constant makes a rank-0 id's result [1], as before)
            helper.make_node("Greater", [flat, names.const(f"{out}_half", np.full(shape, 0.5, np.float32))], [out],
                             name=n.name or names.name(f"{out}_test"))]
    replace_nodes(model.graph, replaced)
    model.graph.initializer.extend(names.inits)
    return True
