"""Attention-mask fills made moderate (ONNX -> ONNX).

PyTorch's ``masked_fill(mask, float('-inf'))`` and ``nn.Transformer``'s causal masks export as a
Where selecting a -inf constant, or an Add of a constant holding -inf, right before a Softmax;
other exporters write -1e9 or the float32 minimum. An int8 tensor cannot hold -inf (and the float
run would put it into the calibration ranges), and a fill of -1e9 next to the scores leaves them
no resolution wherever the fill and the scores meet in one int8 tensor before the Softmax (a mask
computed from an input: scores * keep + fill * (1 - keep)). For a Softmax reading the result,
-1e4 is the same as -inf: exp(-1e4 - max) is 0 in float32 as exp(-inf) is, for any score above
-9,900 (but a row masked entirely: after an Add of -1e9 it is uniform, after one of -1e4 the
scores' own Softmax). So where only a Softmax reads such an Add / Where (also through views), the
entries of its constant operand below -1e4 (-inf included) become -1e4; quantize/calibrate_softmax.py
then floors the Softmax input's range near the scores. Elsewhere a non-finite constant is refused as
before. A mask a constant subgraph computes (ConstantOfShape(-inf) -> Trilu: causal masks built in
the forward pass) is evaluated here, before the importer's folding, and taken as a constant.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import numpy_helper

from .onnx_names import defined_names, drop_dead_nodes, subgraphs
from .softmax_inputs import softmax_feeds

#: What a mask entry below it (-inf included) becomes.
MASK_FILL = -1e4


def finite_masks(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with the entries below :data:`MASK_FILL` (-inf included) of the constant operands
    of Add / Where nodes that only Softmaxes read (also through views: softmax_inputs.py) replaced by
    it; the model itself when it has none."""
    g = model.graph
    values = {i.name: i for i in g.initializer}
    consts = {n.output[0]: n.attribute[0].t for n in g.node
              if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].type == onnx.AttributeProto.TENSOR}
    heads = {head for head, feed in softmax_feeds(g.node, [o.name for o in g.output]).items()
             if feed.head_op in ("Add", "Where")}
    computed = _computed_from_constants(g, set(values) | set(consts))
    edits = []  # (node index, input index, moderate array)
    for k, n in enumerate(g.node):
        if n.op_type not in ("Add", "Where") or n.output[0] not in heads:
            continue
        for j in ((0, 1) if n.op_type == "Add" else (1, 2)):
            arr = _value(n.input[j], values, consts) if j < len(n.input) else None
            if arr is None and j < len(n.input) and n.input[j] in computed:
                arr = _evaluate(model, n.input[j], computed[n.input[j]])
            if arr is not None and arr.dtype.kind == "f" and np.any(arr < MASK_FILL) and \
                    not np.any(np.isnan(arr) | np.isposinf(arr)):
                edits.append((k, j, np.maximum(arr, MASK_FILL).astype(arr.dtype)))
    if not edits:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    names = defined_names(m.graph)
    for k, j, arr in edits:
        node = m.graph.node[k]
        name = f"{node.input[j]}_moderate"
        while name in names:
            name += "_"
        names.add(name)
        m.graph.initializer.append(numpy_helper.from_array(arr, name))
        node.input[j] = name
    drop_dead_nodes(m.graph)  # a mask's constant subgraph, now read by no one
    return m


def _computed_from_constants(g: onnx.GraphProto, constants: set) -> Dict[str, List[int]]:
    """{tensor: indices of the nodes computing it} for the tensors nodes compute from constants
    only (a causal mask: ConstantOfShape(-inf) -> Trilu), by nodes without subgraphs."""
    computed: Dict[str, List[int]] = {}
    for k, n in enumerate(g.node):
        if n.op_type == "Constant" or subgraphs(n) or not n.input:
            continue
        ins = [i for i in n.input if i]
        if all(i in constants or i in computed for i in ins):
            nodes = sorted({k}.union(*[computed.get(i, []) for i in ins]))
            for o in n.output:
                if o:
                    computed[o] = nodes
    return computed


def _evaluate(model: onnx.ModelProto, name: str, nodes: List[int]) -> Optional[np.ndarray]:
    """The value of ``name``, computed by ``nodes`` (indices) from the model's constants; None where
    the reference evaluator cannot run them."""
    from onnx.reference import ReferenceEvaluator

    g = model.graph
    sub = [g.node[k] for k in nodes]
    read = {i for n in sub for i in n.input if i}
    inits = [i for i in g.initializer if i.name in read]
    constants = [n for n in g.node if n.op_type == "Constant" and n.output[0] in read]
    out = onnx.helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
    graph = onnx.helper.make_graph(constants + sub, "mask", [], [out], inits)
    try:
        return np.asarray(ReferenceEvaluator(onnx.helper.make_model(graph, opset_imports=model.opset_import)).run(
            None, {})[0])
    except Exception:  # an op the evaluator lacks: the mask stays as it is (and is refused later if -inf)
        return None


def _value(name: str, values, consts) -> Optional[np.ndarray]:
    if name in values:
        return numpy_helper.to_array(values[name])
    if name in consts:
        return numpy_helper.to_array(consts[name])
    return None
