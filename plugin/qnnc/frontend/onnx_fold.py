"""Constant folding on the ONNX protobuf, before the IR exists and before any op-support check.

Exporters compute shapes at run time: PyTorch's Shape -> Gather -> Unsqueeze -> Concat -> Reshape
targets, the ConstantOfShape -> Expand initial states of LSTM/GRU exports, the Shape -> Slice ->
Cast -> Sqrt scaling of attention. With static input shapes all of that is constant. Folding
replaces, in rounds until nothing changes (a fixed point):

- ``Shape`` / ``Size`` of a tensor whose shape ONNX shape inference found static, by its value;
- every deterministic node whose inputs are all constants, by its outputs (onnx's reference
  evaluator computes them), e.g. Gather, Expand, ConstantOfShape, Range, Slice, Concat, Cast,
  Equal, Where, Squeeze, Unsqueeze, Reshape, Transpose on constants;

re-running shape inference between rounds (a folded Reshape target makes more shapes static).
Constant nodes whose values are still read by a kept node stay (the importer checks them by
name); nodes producing a graph output are never folded (the importer refuses constant outputs).
"""
from __future__ import annotations

from typing import Dict, Optional, Set, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from .onnx_names import read_names, subgraphs

_MAX_ROUNDS = 32
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


def evaluate_node(node: onnx.NodeProto, consts: Dict[str, np.ndarray], opset: int):
    """The outputs of ``node`` run on the constant arrays ``consts`` (onnx's reference evaluator)."""
    from onnx.reference import ReferenceEvaluator

    ins = [i for i in node.input if i]
    vis = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(consts[i].dtype), consts[i].shape)
           for i in ins]
    outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o]
    m = helper.make_model(helper.make_graph([node], "fold", vis, outs),
                          opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(m).run(None, {i: consts[i] for i in ins})


def _elements(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _fold_value(node: onnx.NodeProto, consts: Dict[str, np.ndarray], shapes, opset: int):
    """The output values of ``node`` if it folds, else None."""
    if node.domain not in ("", "ai.onnx") or node.op_type in _NONDETERMINISTIC:
        return None
    if node.op_type in ("Shape", "Size") and node.input and node.input[0] not in consts \
            and shapes.get(node.input[0]) is not None:
        shape = np.array(shapes[node.input[0]], np.int64)
        if node.op_type == "Size":
            return [np.array(_elements(shape), np.int64)]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        return [shape[attrs.get("start", 0):attrs.get("end", None)]]
    if not (node.op_type == "Constant" or (node.input and all((not i) or i in consts for i in node.input))):
        return None
    try:
        values = [np.asarray(v) for v in evaluate_node(node, consts, opset)]
    except Exception:
        return None  # leave it; the importer reports what is wrong
    if any(v.dtype.kind not in "fiub" for v in values):
        return None  # strings, objects (sequences, sparse tensors): not constants the IR holds
    return values


def _reads(n: onnx.NodeProto) -> Set[str]:
    """The names ``n`` reads: its inputs and the outer names its subgraphs (a Loop's or If's
    body) read, which must keep their constants too."""
    return {i for i in n.input if i} | set().union(*(read_names(sub) for sub in subgraphs(n)))


def _fold_round(model: onnx.ModelProto, opset: int, max_elements: Optional[int]) -> bool:
    """One pass over the nodes in order; returns whether anything folded."""
    g = model.graph
    outputs = {o.name for o in g.output}
    shapes = _static_shapes(model)
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    kept, const_nodes, changed = [], {}, False  # kept: (position, node)
    for k, node in enumerate(g.node):
        if any(o in outputs for o in node.output):
            kept.append((k, node))
            continue
        if max_elements is not None and any(o and shapes.get(o) is not None and _elements(shapes[o]) > max_elements
                                            for o in node.output):
            kept.append((k, node))  # the importer refuses tensors this large, with the node's name
            continue
        values = _fold_value(node, consts, shapes, opset)
        if values is not None and max_elements is not None and any(v.size > max_elements for v in values):
            values = None
        if values is None:
            kept.append((k, node))
            continue
        for name, v in zip([o for o in node.output if o], values):
            consts[name] = v
        if node.op_type == "Constant":
            const_nodes[node.output[0]] = (k, node)  # kept below if a kept node still reads it
            continue
        changed = True
        for name, v in zip([o for o in node.output if o], values):
            g.initializer.append(numpy_helper.from_array(v, name))
    used = set().union(*(_reads(n) for _, n in kept)) | outputs
    still = [(k, n) for k, n in const_nodes.values() if n.output[0] in used]
    changed = changed or len(still) != len(const_nodes)
    if not changed:
        return False
    kept = [n for _, n in sorted(kept + still, key=lambda kn: kn[0])]
    del g.node[:]
    g.node.extend(kept)
    was_init = {i.name for i in g.initializer}
    used = set().union(*(_reads(n) for n in g.node)) | outputs
    keep_inits = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    dropped = was_init - {i.name for i in keep_inits}
    keep_vi = [v for v in g.value_info if v.name not in consts]
    del g.value_info[:]
    g.value_info.extend(keep_vi)
    if any(i.name in dropped for i in g.input):  # IR < 4: initializers listed as graph inputs
        keep_in = [i for i in g.input if i.name not in dropped]
        del g.input[:]
        g.input.extend(keep_in)
    return True


def fold_onnx_constants(model: onnx.ModelProto, opset: int, max_elements: Optional[int] = None) -> onnx.ModelProto:
    """Fold to a fixed point (see the module doc); returns a shape-inferred model.

    ``max_elements``: outputs larger than this stay unfolded (the importer refuses them by name).
    """
    model = shape_inference.infer_shapes(model, data_prop=True)
    for _ in range(_MAX_ROUNDS):
        if not _fold_round(model, opset, max_elements):
            break
        model = shape_inference.infer_shapes(model, data_prop=True)
    return model


def fold_or_none(model: onnx.ModelProto, opset: int) -> Optional[onnx.ModelProto]:
    """:func:`fold_onnx_constants` on a copy; None when it fails (a malformed model: the importer's
    checks say more)."""
    try:
        return fold_onnx_constants(model, opset)
    except Exception:
        return None
