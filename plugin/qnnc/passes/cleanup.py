"""Clean-up passes: identity removal, constant folding, view normalization, activations moved over views."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import helper

from ..errors import ModelError
from ..ir import Graph, Node, Tensor

_NOOP_OPS = {"Identity", "Dropout"}
_VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}


def _neutral(g: Graph, name: str, value: float) -> bool:
    """Whether ``name`` is a constant all of whose elements are ``value``."""
    return g.is_const(name) and g.const(name).size > 0 and bool(np.all(g.const(name) == value))


def _passed_on(g: Graph, n: Node) -> Optional[str]:
    """The input ``n`` passes on unchanged, or None: Identity and Dropout; in a float model, a Slice
    of the whole of every axis (exporters' ``x[:, 0:]``, a single bag's rows) and a Mul / Div by
    constant ones or Add / Sub of constant zeros (dynamo's EmbeddingBag weighs its rows by ones)
    that broadcast nothing. (A QDQ model's own requantization there stays.)"""
    if n.op in _NOOP_OPS:
        return n.inputs[0]
    if g.quant is not None or not n.inputs or n.outputs[0] not in g.tensors or \
            any(n.outputs[0] in group for group in g.tied_ranges):
        return None  # (an unrolled step's tensor: the step that adds zeros keeps its place among the others)
    out = g.shape(n.outputs[0])
    if n.op == "Slice":
        x, steps = n.inputs[0], (n.inputs[4] if len(n.inputs) > 4 else "")
        whole = x in g.tensors and g.shape(x) == out and (not steps or _neutral(g, steps, 1))
        return x if whole else None
    if n.op in ("Mul", "Div", "Add", "Sub") and len(n.inputs) == 2:
        readers = g.consumers(n.outputs[0])
        if readers and all(r.op == "Sign" for r in readers):
            return None  # x > 0's difference x - 0: the lowering gives it a symmetric range (lowering.py)
        value = 1.0 if n.op in ("Mul", "Div") else 0.0
        orders = [(0, 1), (1, 0)] if n.op in ("Mul", "Add") else [(0, 1)]  # x / 1, x - 0 only
        for k, c in orders:
            x = n.inputs[k]
            if _neutral(g, n.inputs[c], value) and not g.is_const(x) and x in g.tensors and g.shape(x) == out:
                return x
    return None


def _merged(groups: List[List[str]]) -> List[List[str]]:
    """``groups`` with those sharing a tensor joined (in first-seen order, each tensor once)."""
    out: List[List[str]] = []
    for group in groups:
        group = list(dict.fromkeys(group))
        overlapping = [o for o in out if set(o) & set(group)]
        for o in overlapping:
            out.remove(o)
            group = list(dict.fromkeys(o + group))
        out.append(group)
    return out


def remove_identity(graph: Graph) -> Graph:
    """Drop the nodes that pass an input on unchanged (:func:`_passed_on`). A dropped tensor's
    place in a group of tied ranges (an unrolled loop's steps) goes to the tensor it passed on, so
    the steps keep sharing their ranges (and their layers' arrays)."""
    g = graph.copy()
    became: Dict[str, str] = {}  # a dropped tensor -> the one holding its values
    for n in list(g.nodes):
        src = _passed_on(g, n)
        if src is not None:
            dst = n.outputs[0]
            g.nodes.remove(n)
            if dst in g.outputs:
                # Keep the graph output's name: rename the producer's output instead.
                prod = g.producer(src)
                if prod is not None and src not in g.outputs and len(g.consumers(src)) == 0:
                    prod.outputs = [dst if o == src else o for o in prod.outputs]
                    became[src] = dst
                    continue
            g.replace_uses(dst, src)
            became[dst] = src
    if became and g.tied_ranges:
        def final(t: str) -> str:
            while t in became:
                t = became[t]
            return t
        g.tied_ranges = _merged([[final(t) for t in group] for group in g.tied_ranges])
    g.remove_unused()
    return g


def _evaluate(node: Node, graph: Graph) -> list:
    """Run one node whose inputs are all constants with onnx.reference."""
    from onnx.reference import ReferenceEvaluator

    inputs = [i for i in node.inputs if i]
    vis = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(graph.const(i).dtype),
                                         list(graph.const(i).shape)) for i in inputs]
    outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.outputs if o]
    proto = helper.make_node(node.op, node.inputs, node.outputs, name=node.name, **node.attrs)
    model = helper.make_model(helper.make_graph([proto], "fold", vis, outs),
                              opset_imports=[helper.make_opsetid("", graph.opset)])
    sess = ReferenceEvaluator(model)
    return sess.run(None, {i: graph.const(i) for i in inputs})


def fold_constants(graph: Graph) -> Graph:
    """Evaluate every node whose inputs are all constant (and Shape of static tensors)."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op == "Shape" and n.inputs[0] in g.tensors:
            shape = np.array(g.shape(n.inputs[0]), dtype=np.int64)
            start = n.attrs.get("start", 0)
            end = n.attrs.get("end", None)
            shape = shape[start:end]
            g.tensors[n.outputs[0]].data = shape
            g.tensors[n.outputs[0]].shape = tuple(shape.shape)
            g.nodes.remove(n)
            continue
        if n.inputs and all((not i) or g.is_const(i) for i in n.inputs) and n.outputs[0] not in g.outputs:
            try:
                values = _evaluate(n, g)
            except Exception as e:
                raise ModelError(f"constant folding failed: {e}", file=g.source, node=n.name, op=n.op) from None
            for o, v in zip([o for o in n.outputs if o], values):
                v = np.asarray(v)
                if v.dtype.kind == "f":
                    v = v.astype(np.float32)
                g.tensors[o].data = v
                g.tensors[o].shape = tuple(v.shape)
            g.nodes.remove(n)
    g.remove_unused()
    return g


def normalize_views(graph: Graph) -> Graph:
    """Turn Flatten/Squeeze/Unsqueeze/Reshape into ``Reshape`` with a static ``shape`` attr.

    Shapes are already static after import, so the target is simply the output's shape.
    """
    g = graph.copy()
    for n in g.nodes:
        if n.op in _VIEW_OPS:
            n.attrs = {"shape": list(g.shape(n.outputs[0]))}
            n.inputs = [n.inputs[0]]
            n.op = "Reshape"
    g.remove_unused()
    return g


def merge_reshapes(graph: Graph) -> Graph:
    """Collapse Reshape chains and drop reshapes to the same shape."""
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for n in list(g.nodes):
            if n.op != "Reshape":
                continue
            src = n.inputs[0]
            prod = g.producer(src)
            if prod is not None and prod.op == "Reshape":
                n.inputs = [prod.inputs[0]]
                changed = True
            if g.shape(n.inputs[0]) == g.shape(n.outputs[0]):
                out = n.outputs[0]
                inp = n.inputs[0]
                if out in g.outputs:
                    if inp in g.inputs or inp in g.outputs:
                        continue  # keep a copy-free view between a graph input and output
                    p = g.producer(inp)
                    if p is None or len(g.consumers(inp)) > 1:
                        continue
                    p.outputs = [out if o == inp else o for o in p.outputs]
                    g.nodes.remove(n)
                else:
                    g.nodes.remove(n)
                    g.replace_uses(out, inp)
                changed = True
        g.remove_unused()
    return g


# Activations that act on each value alone and that fuse_activations folds into the layer before.
_FUSABLE_UNARY = ("Relu", "Clip", "LeakyRelu")


def hoist_activations_over_views(graph: Graph) -> Graph:
    """Layer -> Reshape -> Relu/Clip/LeakyRelu -> the activation first, then the Reshape.

    tf2onnx exports a Keras Conv1D as a 2-D Conv between Unsqueeze and Squeeze, with the ReLU on
    the squeezed 3-D tensor; with the activation moved before the view it fuses into the conv and
    the Squeeze / Unsqueeze pair cancels (merge_reshapes). An element-wise op commutes with a
    view; the activation's new output holds the same values as its old one (an alias for the
    calibrated range)."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op not in _FUSABLE_UNARY or len([i for i in n.inputs if i]) != 1:
            continue
        view = g.producer(n.inputs[0])
        if view is None or view.op != "Reshape" or len(g.consumers(view.outputs[0])) != 1 \
                or view.outputs[0] in g.outputs:
            continue
        src = view.inputs[0]
        layer = g.producer(src)
        if layer is None or layer.op not in ("Conv", "FullyConnected") or len(g.consumers(src)) != 1 \
                or src in g.outputs:
            continue
        out = n.outputs[0]
        act = g.unique_name(out + "_before_view")
        g.tensors[act] = Tensor(act, g.shape(src))
        g.aliases[act] = out
        n.inputs, n.outputs = [src], [act]
        view.inputs, view.outputs = [act], [out]
        g.nodes.remove(n)
        g.nodes.insert(g.nodes.index(view), n)
    return g
