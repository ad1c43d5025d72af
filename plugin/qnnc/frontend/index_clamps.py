"""The float model's lookups clamped per table (ONNX -> ONNX, for the float runner).

An index input records its largest table's rows (index_inputs.py); its ids are fed within that
table, and each smaller table's lookup clamps them to its own rows, as the embedding kernel does.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import onnx
from onnx import helper

from .index_inputs import InputReads
from .index_wraps import id_input, id_starts
from .onnx_names import NewTensors, replace_nodes


def clamp_smaller_tables(model: onnx.ModelProto, ids: Dict[str, int]) -> None:
    """In place, for the float model: each lookup of a table of fewer rows than the largest its ids
    index (index_inputs) reads the ids clamped to its own [-rows, rows - 1], as the embedding kernel
    clamps per table (several categorical columns of one input, each with its own table, are
    looked up whole, index_picks.py). Through float32, which holds ids below 2^24 exactly: Clip
    takes integers only from opset 12 on."""
    reads = InputReads(model)
    names = NewTensors.of_model(model)
    added: Dict[int, List[onnx.NodeProto]] = {}
    for start in id_starts(model, reads):
        name = id_input(reads, start)
        if name not in ids:
            continue
        for t, n in reads.walk(start, reads.passes_ids):
            rows = reads.lookup_rows(n, t)
            if rows is None or rows >= ids[name]:
                continue
            f, c, i = (names.name(f"{t}_{what}") for what in ("float", "clamped", "in_table"))
            added[id(n)] = [
                helper.make_node("Cast", [t], [f], name=names.name(f"{n.name}_ids_float"), to=onnx.TensorProto.FLOAT),
                helper.make_node("Clip", [f, names.const(f"{i}_low", np.array(-rows, np.float32)),
                                          names.const(f"{i}_high", np.array(rows - 1, np.float32))], [c],
                                 name=names.name(f"{n.name}_ids_clamp")),
                helper.make_node("Cast", [c], [i], name=names.name(f"{n.name}_ids_in_table"),
                                 to=onnx.TensorProto.INT64), n]
            n.input[1] = i
    if not added:
        return
    replace_nodes(model.graph, added)
    model.graph.initializer.extend(names.inits)
