"""Broadcasts of opsets 1-6 stated the numpy way before the opset conversion (ONNX -> ONNX).

Before opset 7 the element-wise ops broadcast only with ``broadcast=1``, matching B's dims against
A's from ``axis`` on: a Conv's bias added as B [C] at axis 1 of [N, C, H, W] (the ONNX model zoo's
mnist-1, emotion-ferplus-2, squeezenet1.0-3 ...). onnx's version converter needs the shape of every
such input, which shape inference cannot give at opsets 1-5, and states an ``axis`` with one
trailing dim too many (B [4] at axis 1 of a rank-4 A becomes [4, 1, 1, 1], which broadcasts to
[4, 4, H, W]). So an older model is converted to opset 6 first, and each such B gets its trailing
dims here, from shape inference at opset 6 (a constant reshaped, an activation through an
Unsqueeze) and loses its ``axis``: what is left is the numpy broadcasting of opset 7. PRelu's
slope [C], per channel before opset 7 ("of size 1, shared across channels"), is aligned with the
channel axis alike.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import onnx
from onnx import helper, numpy_helper, shape_inference

# the ops with a ``broadcast`` / ``axis`` pair before opset 7
_OPS = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less"}


def _shapes(model: onnx.ModelProto) -> Dict[str, List[Optional[int]]]:
    """Tensor name -> its dims (None where symbolic), as far as the graph states them."""
    g = model.graph
    shapes: Dict[str, List[Optional[int]]] = {i.name: list(i.dims) for i in g.initializer}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if vi.name not in shapes and t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    shapes[n.output[0]] = list(a.t.dims)
    return shapes


def numpy_broadcasts(model: onnx.ModelProto) -> onnx.ModelProto:
    """The opset-6 (or older) ``model`` with every ``broadcast=1`` + ``axis`` input B (and every
    PRelu slope [C] of a rank-3+ input with C channels) given the trailing dims that align it with
    A from the right, its ``axis`` dropped; the model itself when it has none or shape inference
    fails (the converter then says what is wrong)."""
    def legacy_axis(n: onnx.NodeProto) -> Optional[onnx.AttributeProto]:
        if n.op_type not in _OPS or n.domain not in ("", "ai.onnx") or len(n.input) != 2:
            return None
        attrs = {a.name: a for a in n.attribute}
        if "axis" not in attrs or helper.get_attribute_value(attrs.get("broadcast", helper.make_attribute("b", 0))) != 1:
            return None
        return attrs["axis"]

    def prelu(n: onnx.NodeProto) -> bool:
        return n.op_type == "PRelu" and n.domain in ("", "ai.onnx") and len(n.input) == 2

    if not any(legacy_axis(n) is not None or prelu(n) for n in model.graph.node):
        return model
    try:
        m = shape_inference.infer_shapes(model)
    except Exception:  # a malformed model: left to the converter's message
        return model
    shapes = _shapes(m)
    ranks = {k: len(v) for k, v in shapes.items()}
    inits = {i.name: i for i in m.graph.initializer}
    taken = set(ranks) | {o for n in m.graph.node for o in n.output}
    nodes = []
    for n in m.graph.node:
        axis_attr = legacy_axis(n)
        a, b = (n.input[0], n.input[1]) if axis_attr is not None or prelu(n) else ("", "")
        if a not in ranks or b not in ranks:
            nodes.append(n)
            continue
        if axis_attr is not None:
            axis = helper.get_attribute_value(axis_attr)
            axis = axis + ranks[a] if axis < 0 else axis
            keep = [x for x in n.attribute if x.name != "axis"]
            del n.attribute[:]
            n.attribute.extend(keep)
        elif ranks[b] == 1 and ranks[a] >= 3 and shapes[b][0] not in (None, 1) and shapes[b][0] == shapes[a][1]:
            axis = 1  # PRelu's per-channel slope [C] (size 1: shared), read at the channel axis
        else:
            nodes.append(n)
            continue
        extra = ranks[a] - axis - ranks[b]
        if extra > 0:
            k = 0
            while f"{b}_aligned{k}" in taken:
                k += 1
            aligned = f"{b}_aligned{k}"
            taken.add(aligned)
            if b in inits:  # a bias: the constant itself, reshaped
                arr = numpy_helper.to_array(inits[b])
                t = numpy_helper.from_array(arr.reshape(arr.shape + (1,) * extra), aligned)
                m.graph.initializer.append(t)
                if m.ir_version < 4:  # IR 3 lists every initializer among the graph inputs
                    m.graph.input.append(helper.make_tensor_value_info(aligned, t.data_type, list(t.dims)))
            else:
                nodes.append(helper.make_node("Unsqueeze", [b], [aligned], name=f"{n.name or n.op_type}_align",
                                              axes=list(range(ranks[b], ranks[b] + extra))))
            n.input[1] = aligned
        nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    try:  # (the aligned inputs' shapes; every other tensor keeps its shape)
        return shape_inference.infer_shapes(m)
    except Exception:
        return m
