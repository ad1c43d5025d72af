"""``If`` nodes whose condition is known when the model is built, replaced by the branch taken.

TorchScript writes an If for a Python ``if`` on a tensor's size (``if x.size(1) > 8:``) and
tf2onnx one for a ``tf.cond`` on a static shape. With static input shapes the condition folds
to a constant (onnx_fold.py, on a copy): the taken branch's nodes then join the graph, its
initializers too (a name already taken gets a new one, and the branch's references follow), and
the If's outputs become Identity copies of the branch's outputs. Nested Ifs are inlined one level
per round. An If whose condition depends on the input data is refused by name.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import helper

from ..errors import ModelError
from .decompose_recurrent import constant_value
from .onnx_fold import fold_onnx_constants
from .onnx_names import NewTensors, defined_names, drop_dead_nodes, subgraphs

_MAX_ROUNDS = 8  # levels of nested Ifs inlined


def _is_if(n: onnx.NodeProto) -> bool:
    return n.op_type == "If" and n.domain in ("", "ai.onnx")


def has_ifs(model: onnx.ModelProto) -> bool:
    return any(_is_if(n) for n in model.graph.node)


def inline_ifs(model: onnx.ModelProto, opset: int, path: str) -> onnx.ModelProto:
    """The model with every top-level If whose condition folds to a constant replaced by its
    taken branch (the model itself when it has no If). An If whose condition depends on the
    input data is refused by name (ModelError)."""
    if not has_ifs(model):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for _ in range(_MAX_ROUNDS):
        conditions = _known_conditions(m, opset)
        if conditions is None:
            return m  # the model does not fold: the importer's checks say what is wrong
        if not conditions:
            left = next((n for n in m.graph.node if _is_if(n)), None)
            if left is not None:
                raise ModelError(f"the If's condition ('{left.input[0] if left.input else ''}') depends on the "
                                 "input data; qnnc inlines Ifs whose condition is known when the model is built "
                                 "(e.g. a test of a static size)", file=path, node=left.name or None, op="If")
            break
        names = _Names(m.graph)
        nodes: List[onnx.NodeProto] = []
        for n in m.graph.node:
            if _is_if(n) and n.input[0] in conditions:
                nodes.extend(_inline(n, bool(conditions[n.input[0]]), names))
            else:
                nodes.append(n)
        del m.graph.node[:]
        m.graph.node.extend(nodes)
        m.graph.initializer.extend(names.inits)
        drop_dead_nodes(m.graph)  # the conditions' shape arithmetic
    return m


def _known_conditions(model: onnx.ModelProto, opset: int) -> Optional[Dict[str, np.ndarray]]:
    """Condition name -> its value, for the top-level Ifs whose condition folds; None when the
    model does not fold."""
    conds = {n.input[0] for n in model.graph.node if _is_if(n) and n.input}
    if not conds:
        return {}
    try:
        folded = fold_onnx_constants(model, opset)
    except Exception:  # a malformed model: the importer's checks say what is wrong
        return None
    out = {}
    for name in conds:  # an initializer, or a Constant node (folding keeps those as nodes)
        v = constant_value(folded, name)
        if v is not None and v.size == 1:
            out[name] = v.reshape(-1)[0]
    return out


class _Names(NewTensors):
    """The names one graph already uses, its subgraphs' included (never reused for inlined tensors)."""

    def __init__(self, g: onnx.GraphProto):
        super().__init__()
        self.names = defined_names(g) | {o.name for o in g.output}


def _inline(n: onnx.NodeProto, cond: bool, names: _Names) -> List[onnx.NodeProto]:
    """The nodes of ``n``'s taken branch, its names made unique, then Identity copies of the
    branch's outputs under ``n``'s output names."""
    branch: Optional[onnx.GraphProto] = next(
        (a.g for a in n.attribute if a.name == ("then_branch" if cond else "else_branch")), None)
    if branch is None:  # malformed: left to the importer, which names the node
        return [n]
    env: Dict[str, str] = {}
    for init in branch.initializer:
        new = names.name(init.name)
        env[init.name] = new
        t = onnx.TensorProto()
        t.CopyFrom(init)
        t.name = new
        names.inits.append(t)
    out: List[onnx.NodeProto] = []
    for b in branch.node:
        node = onnx.NodeProto()
        node.CopyFrom(b)
        node.ClearField("input")
        node.input.extend([env.get(i, i) if i else "" for i in b.input])
        _rename_in_subgraphs(node, env)
        node.ClearField("output")
        for o in b.output:
            if o:
                env[o] = names.name(o)
            node.output.append(env.get(o, "") if o else "")
        node.name = names.name(b.name or f"{n.name or 'If'}_{b.op_type}")
        out.append(node)
    for o, bo in zip(n.output, branch.output):
        if o:
            out.append(helper.make_node("Identity", [env.get(bo.name, bo.name)], [o],
                                        name=names.name(f"{o}__branch_output")))
    return out


def _rename_in_subgraphs(node: onnx.NodeProto, env: Dict[str, str]) -> None:
    """References from ``node``'s subgraphs to renamed outer tensors follow the new names (names a
    subgraph defines itself shadow the outer ones)."""
    for sub in subgraphs(node):
        inner = {k: v for k, v in env.items() if k not in defined_names(sub)}
        if not inner:
            continue
        for sn in sub.node:
            for k, i in enumerate(sn.input):
                if i in inner:
                    sn.input[k] = inner[i]
            _rename_in_subgraphs(sn, inner)
        for so in sub.output:
            if so.name in inner:
                so.name = inner[so.name]
