"""Constant folding on the ONNX protobuf, before the IR exists.

Exporters (PyTorch especially) compute reshape targets at run time: Shape -> Gather ->
Concat -> Reshape. ONNX shape inference cannot always see through that, so the importer
would lack static shapes. Folding Shape of statically shaped tensors and every node whose
inputs are all constants, then re-running shape inference, resolves it.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

_MAX_ROUNDS = 16
_NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                     "Bernoulli"}


def _static_shapes(model: onnx.ModelProto) -> Dict[str, Optional[Tuple[int, ...]]]:
    out = {}
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            out[vi.name] = tuple(int(d.dim_value) for d in t.shape.dim)
        else:
            out[vi.name] = None
    return out


def missing_shapes(model: onnx.ModelProto) -> bool:
    """True when some node output has no static shape after inference."""
    shapes = _static_shapes(model)
    inits = {i.name for i in model.graph.initializer}
    return any(o and o not in inits and shapes.get(o) is None for n in model.graph.node for o in n.output)


def _evaluate(node: onnx.NodeProto, consts: Dict[str, np.ndarray], opset: int):
    from onnx.reference import ReferenceEvaluator

    ins = [i for i in node.input if i]
    vis = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(consts[i].dtype), consts[i].shape)
           for i in ins]
    outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o]
    m = helper.make_model(helper.make_graph([node], "fold", vis, outs),
                          opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(m).run(None, {i: consts[i] for i in ins})


def fold_onnx_constants(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """Fold until every shape is static or nothing more folds; returns a shape-inferred model."""
    outputs = {o.name for o in model.graph.output}
    for _ in range(_MAX_ROUNDS):
        model = shape_inference.infer_shapes(model, data_prop=True)
        if not missing_shapes(model):
            return model
        shapes = _static_shapes(model)
        consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        kept, changed = [], False
        for node in model.graph.node:
            values = None
            if any(o in outputs for o in node.output) or node.op_type in _NONDETERMINISTIC:
                values = None
            elif node.op_type == "Shape" and shapes.get(node.input[0]) is not None:
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                shape = np.array(shapes[node.input[0]], np.int64)
                values = [shape[attrs.get("start", 0):attrs.get("end", None)]]
            elif node.input and all((not i) or i in consts for i in node.input):
                try:
                    values = _evaluate(node, consts, opset)
                except Exception:
                    values = None  # leave it; the importer reports what is wrong
            elif node.op_type == "Constant":
                try:
                    values = _evaluate(node, consts, opset)
                except Exception:
                    values = None
            if values is None:
                kept.append(node)
                continue
            changed = True
            for name, v in zip([o for o in node.output if o], values):
                v = np.asarray(v)
                consts[name] = v
                model.graph.initializer.append(numpy_helper.from_array(v, name))
        if not changed:
            return model
        del model.graph.node[:]
        model.graph.node.extend(kept)
        used = {i for n in model.graph.node for i in n.input} | outputs
        keep_inits = [i for i in model.graph.initializer if i.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep_inits)
        keep_vi = [v for v in model.graph.value_info if v.name not in consts]
        del model.graph.value_info[:]
        model.graph.value_info.extend(keep_vi)
    return shape_inference.infer_shapes(model, data_prop=True)
