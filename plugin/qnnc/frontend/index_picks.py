"""Picks of token ids before a lookup moved after it (ONNX -> ONNX).

A model with several categorical columns in one int64 input looks each column up in its own
table: PyTorch writes ``emb_k(cat[:, k])`` as ``Gather(table_k, Gather(cat, k, axis=1))`` (or a
Slice of the ids). The compiled model reads token ids only as the rows of constant tables
(index_inputs.py), so the pick moves after the lookup, which it commutes with (the table's row
dims are appended after the ids' dims, so the pick's axes stay): ``Gather(Gather(table_k, cat),
k, axis=1)``, the ids looked up whole and the pick made on the looked-up rows (a Gather or Slice
with constant operands, which the int8 graph has). The importer and the float runner apply it with
the other rewrites of token ids, before finding index inputs.
"""
from __future__ import annotations

from typing import List

import numpy as np
import onnx
from onnx import helper

from .index_inputs import InputReads
from .index_wraps import id_starts
from .onnx_names import NewTensors, drop_dead_nodes, replace_nodes
from .onnx_names import attr as _attr


def _is_pick(reads: InputReads, n: onnx.NodeProto, t: str) -> bool:
    """A Gather (constant indices, not on the ids' last axis' far side) or Slice (constant operands,
    non-negative axes) reading the ids ``t`` as its data."""
    if not n.input or n.input[0] != t:
        return False
    if n.op_type == "Gather" and len(n.input) == 2:
        return reads.value(n.input[1]) is not None and int(_attr(n, "axis", 0)) >= 0
    if n.op_type == "Slice" and len(n.input) >= 3:
        operands = [reads.value(i) if i else np.zeros(0) for i in n.input[1:]]
        if any(o is None for o in operands):
            return False
        return len(n.input) > 3 and bool(n.input[3]) and bool(np.all(operands[2] >= 0))
    return False


def _whole(reads: InputReads, n: onnx.NodeProto, t: str) -> bool:
    """Whether pick ``n`` is a Slice of the whole of every axis it names (EmbeddingBag's single bag):
    the lookup then needs no pick after it."""
    shape = reads.value_shapes.get(t)
    if n.op_type != "Slice" or not shape or any(d <= 0 for d in shape):
        return False
    starts, ends, axes = (reads.value(i) for i in n.input[1:4])
    steps = reads.value(n.input[4]) if len(n.input) > 4 and n.input[4] else np.ones_like(starts)
    for s0, e0, a, st in zip(starts.reshape(-1), ends.reshape(-1), axes.reshape(-1), steps.reshape(-1)):
        dim = shape[int(a)]
        if st != 1 or (s0 + dim if s0 < 0 else s0) > 0 or (e0 + dim if e0 < 0 else e0) < dim:
            return False
    return True


def _lookups(reads: InputReads, name: str) -> List[onnx.NodeProto]:
    """The readers of ``name`` when every one is a Gather on axis 0 of a constant table indexed by
    it; else []."""
    users = reads.readers.get(name, [])
    return users if all(reads.lookup_rows(u, name) is not None for u in users) else []


def picks_after_lookups(model: onnx.ModelProto) -> bool:
    """Rewrite ``model`` in place (see the module docstring); returns whether anything changed."""
    reads = InputReads(model)
    found = []  # (pick, the ids it reads, the lookups of its output)
    for start in id_starts(model, reads):
        for t, n in reads.walk(start, reads.passes_ids):
            if _is_pick(reads, n, t):
                users = _lookups(reads, n.output[0])
                if users:
                    found.append((n, t, users))
    if not found:
        return False
    names = NewTensors.of_model(model)
    after = {}  # id(lookup) -> the nodes replacing it
    for pick, ids, users in found:
        for u in users:
            out = u.output[0]
            if _whole(reads, pick, ids):
                after[id(u)] = [helper.make_node("Gather", [u.input[0], ids], [out], name=u.name or
                                                 names.name(f"{out}_all_ids"), axis=0)]
                continue
            rows = names.name(f"{out}_all_ids")
            lookup = helper.make_node("Gather", [u.input[0], ids], [rows], name=names.name(f"{u.name or out}_all_ids"),
                                      axis=0)
            moved = helper.make_node(pick.op_type, [rows] + list(pick.input[1:]), [out],
                                     name=u.name or names.name(f"{out}_pick"))
            moved.attribute.extend(pick.attribute)
            after[id(u)] = [lookup, moved]
    replace_nodes(model.graph, after)
    drop_dead_nodes(model.graph)  # the picks of the ids
    return True
