"""NaN and infinity tests of computed tensors read as false (ONNX -> ONNX).

PyTorch guards against non-finite values inside the graph: ``torch.nan_to_num``, ``torch.isfinite``,
and the dynamo exporter's atan2 decomposition export IsNaN / IsInf of an activation, feeding a Where.
An integer tensor holds neither NaN nor infinity (where the float model would overflow, the integer
one saturates), so in the compiled model every such test is false everywhere. Each IsNaN / IsInf
whose input depends on the input values becomes a constant all-false tensor of its (static) shape,
and so do the Cast-to-bool, Not, And and Or nodes that this decides (``nan_to_num``'s
``IsInf(x) & (x > 0)`` is false; an Or with a false test is its other operand); the Where they feed
then has a constant condition, which decompose.py resolves to one branch. A test of constants is
left to the folding; one whose shape is not static is left for the importer to refuse by name.
"""
from __future__ import annotations

from typing import Dict, Union

import numpy as np
import onnx
from onnx import numpy_helper

from .decompose_recurrent import data_dependent
from .onnx_fold import fold_or_none
from .onnx_names import attr, drop_dead_nodes, static_dims

#: The tests that are false for every value an integer tensor can hold.
NON_FINITE_TESTS = ("IsNaN", "IsInf")


def nan_tests_false(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """The model with each IsNaN / IsInf of a tensor computed from the input values replaced by an
    all-false constant; the model itself when it has none."""
    live = data_dependent(model)
    tests = [n for n in model.graph.node if n.op_type in NON_FINITE_TESTS and n.domain in ("", "ai.onnx")
             and n.input and n.input[0] in live]
    if not tests:
        return model
    folded = fold_or_none(model, opset)  # static shapes, PyTorch's shape arithmetic folded
    if folded is None:
        return model
    dims = static_dims(folded)
    known: Dict[str, bool] = {}  # tensor -> its value everywhere
    tested = {t.output[0] for t in tests}
    m = onnx.ModelProto()
    m.CopyFrom(model)
    kept = []
    outputs = {o.name for o in m.graph.output}
    same: Dict[str, str] = {}  # And(true, y), Or(false, y): their readers read y (a mask stays a mask)
    for n in m.graph.node:
        n.input[:] = [same.get(i, i) for i in n.input]
        value = _known_output(n, known, tested)
        shape = dims.get(n.output[0]) if n.output else None
        if isinstance(value, bool) and shape is not None and all(d > 0 for d in shape):
            known[n.output[0]] = value
            m.graph.initializer.append(numpy_helper.from_array(np.full(shape, value, np.bool_), n.output[0]))
        elif isinstance(value, str) and dims.get(value) == shape:
            if n.output[0] in outputs:  # a graph output keeps its name
                kept.append(onnx.helper.make_node("Identity", [value], [n.output[0]], name=n.name))
            else:
                same[n.output[0]] = value
        else:
            kept.append(n)
    if not known and not same:
        return model
    del m.graph.node[:]
    m.graph.node.extend(kept)
    stale = [vi for vi in m.graph.value_info if vi.name in known or vi.name in same]
    for vi in stale:
        m.graph.value_info.remove(vi)
    drop_dead_nodes(m.graph)  # the comparisons only a resolved And / Or read
    return m


def _known_output(n: onnx.NodeProto, known: Dict[str, bool], tested) -> Union[bool, str, None]:
    """What the output of ``n`` is, given the tensors ``known`` to be all-true / all-false: a bool
    (the same value everywhere), the name of an input it equals, or None (not known); ``tested``:
    the outputs of the tests made false."""
    if n.domain not in ("", "ai.onnx") or not n.output:
        return None
    if n.op_type in NON_FINITE_TESTS:
        return False if n.output[0] in tested else None
    ins = [known.get(i) for i in n.input]
    if n.op_type == "Cast" and ins and ins[0] is not None and int(attr(n, "to", 0)) == onnx.TensorProto.BOOL:
        return ins[0]
    if n.op_type == "Not" and ins and ins[0] is not None:
        return not ins[0]
    if n.op_type in ("And", "Or") and len(n.input) == 2:
        absorbing = n.op_type == "Or"  # And(false, y) = false, Or(true, y) = true
        if absorbing in ins:
            return absorbing
        for k in (0, 1):
            if ins[k] is (not absorbing):  # And(true, y) = y, Or(false, y) = y
                return n.input[1 - k]
    return None
