"""Token ids normalized by the model before the lookup: the arithmetic dropped (ONNX -> ONNX).

Keras 3's ``Embedding`` computes ``where(ids < 0, ids + rows, ids)`` before its gather, and
tf2onnx writes that as integer arithmetic (Cast, Less, Not, Mul, Add). ONNX's Gather and qnnc's
embedding kernel count an index below 0 from the end themselves, so the arithmetic changes
nothing: here each Gather on axis 0 of a constant table whose indices an element-wise computation
derives from a graph input alone (constants broadcast as scalars) reads the input directly, when
that computation maps every id from -rows to the int16 maximum, wherever it yields a row at all,
to the row the embedding kernel reads for the id itself (so ``ids % rows`` is no such wrap: 25
would read row 5 there and the clamped last row here). This is checked by running the
computation on all those ids (onnx's reference evaluator); any
other arithmetic stays and the input is refused as token ids, naming the node. Nodes nobody reads
any more are dropped. The importer and the float runner apply it before finding index inputs.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .index_inputs import INDEX_TYPES, InputReads
from .onnx_names import drop_dead_nodes

# ops computing each output element from the same element of their inputs
_ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Cast", "Less", "Greater", "Equal", "LessOrEqual", "GreaterOrEqual",
                          "Not", "And", "Or", "Where", "Neg", "Abs", "Max", "Min", "Clip", "Identity", "Mod"})
_MAX_ROWS = 1 << 16


def _scalar_constants(reads: InputReads) -> Dict[str, onnx.TensorProto]:
    """Initializers and Constant values of one element and rank 0 or 1 (they broadcast over ids of
    any rank without adding axes)."""
    return {k: v for k, v in reads.constants.items() if int(np.prod(v.dims)) == 1 and len(v.dims) <= 1}


def _region(model: onnx.ModelProto, start: str, scalars) -> List[onnx.NodeProto]:
    """The element-wise nodes computing from ``start`` and scalar constants alone, in graph order
    (one pass: the graph is topologically sorted)."""
    inside, nodes = {start}, []
    for n in model.graph.node:
        ins = [i for i in n.input if i]
        if n.op_type in _ELEMENTWISE and any(i in inside for i in ins) and all(i in inside or i in scalars
                                                                                for i in ins):
            nodes.append(n)
            inside.update(o for o in n.output if o)
    return nodes


def _ancestors(nodes: List[onnx.NodeProto], target: str) -> List[onnx.NodeProto]:
    """The nodes of ``nodes`` that ``target`` depends on, in order."""
    need, keep = {target}, []
    for n in reversed(nodes):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
    return keep[::-1]


def _evaluate(model, nodes, scalars, start: str, dtype, target: str, ids: np.ndarray) -> Optional[np.ndarray]:
    """``target`` computed by ``nodes`` from ``start`` = ``ids`` (None if the evaluator fails)."""
    from onnx.reference import ReferenceEvaluator
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    used = {i for n in nodes for i in n.input if i in scalars}
    inits = [numpy_helper.from_array(numpy_helper.to_array(scalars[i]), i) for i in sorted(used)]
    g = helper.make_graph(list(nodes), "wrap", [helper.make_tensor_value_info(start, dtype, [len(ids)])],
                          [helper.make_tensor_value_info(target, onnx.TensorProto.UNDEFINED, None)], inits)
    try:
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        return np.asarray(ReferenceEvaluator(m).run(None, {start: ids.astype(
            helper.tensor_dtype_to_np_dtype(dtype))})[0]).reshape(-1)
    except Exception:  # an op the evaluator refuses here: the arithmetic stays (and is refused later)
        return None


def id_starts(model: onnx.ModelProto, reads: InputReads) -> Dict[str, int]:
    """{tensor holding a graph input's ids as integers: its element type}: an int32 / int64 input
    itself, or the Casts to int32 / int64 of a float input (Keras' float token ids)."""
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        kind = inp.type.tensor_type.elem_type
        if kind in INDEX_TYPES:
            out[inp.name] = kind
        elif kind == onnx.TensorProto.FLOAT:
            for n in reads.readers.get(inp.name, []):
                to = next((a.i for a in n.attribute if a.name == "to"), None)
                if n.op_type == "Cast" and to in INDEX_TYPES:
                    out[n.output[0]] = to
    return out


def id_input(reads: InputReads, start: str) -> str:
    """The graph input an id tensor of :func:`id_starts` holds: itself, or what its Cast reads."""
    return reads.producer[start].input[0] if start in reads.producer else start


def drop_index_wraps(model: onnx.ModelProto) -> bool:
    """Rewrite ``model`` in place (see the module docstring); returns whether anything changed."""
    reads = InputReads(model)
    scalars = _scalar_constants(reads)
    changed = False
    for start, dtype in id_starts(model, reads).items():
        nodes = _region(model, start, scalars)
        produced = {o for n in nodes for o in n.output}
        for g in [n for n in model.graph.node if n.op_type == "Gather" and len(n.input) == 2
                  and n.input[1] in produced]:
            table = reads.table_shape(g.input[0])
            axis = next((a.i for a in g.attribute if a.name == "axis"), 0)
            if table is None or len(table) < 2 or axis not in (0, -len(table)) or not 0 < table[0] <= _MAX_ROWS:
                continue
            rows = int(table[0])
            # every id the int16 API passes from -rows on (below, Keras' wrap reads again from the
            # end where the kernel clamps: negative ids mean nothing to a vocabulary)
            ids = np.arange(-rows, 32768, dtype=np.int64)
            got = _evaluate(model, _ancestors(nodes, g.input[1]), scalars, start, dtype, g.input[1], ids)
            if got is None or got.shape != ids.shape:
                continue
            valid = (got >= -rows) & (got < rows)  # where the model reads a row (elsewhere ONNX is undefined)
            kernel = np.clip(np.where(ids < 0, ids + rows, ids), 0, rows - 1)  # the row the kernel reads
            if np.array_equal(np.where(got < 0, got + rows, got)[valid], kernel[valid]):
                g.input[1] = start
                changed = True
    if changed:
        drop_dead_nodes(model.graph)
    return changed
