"""-inf attention masks made finite (ONNX -> ONNX).

PyTorch's ``masked_fill(mask, float('-inf'))`` and ``nn.Transformer``'s causal masks export as a
Where selecting a -inf constant, or an Add of a constant holding -inf, right before a Softmax.
An int8 tensor cannot hold -inf (and the float run would put it into the calibration ranges).
For a Softmax reading the result, -1e9 is the same as -inf: exp(-1e9 - max) is 0 in float32 as
exp(-inf) is. So where every reader of such an Add / Where is a Softmax, the -inf entries of its
constant operand become -1e9; quantize/calibrate_softmax.py then floors the Softmax input's range
near the scores. Elsewhere a non-finite constant is refused as before.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import numpy_helper

#: What a -inf mask entry becomes.
MASK_FILL = -1e9


def finite_masks(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with the -inf entries of the constant operands of Add / Where nodes that only
    Softmaxes read replaced by :data:`MASK_FILL`; the model itself when it has none."""
    g = model.graph
    readers: Dict[str, List[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}
    values = {i.name: i for i in g.initializer}
    consts = {n.output[0]: n.attribute[0].t for n in g.node
              if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].type == onnx.AttributeProto.TENSOR}
    edits = []  # (node index, input index, finite array)
    for k, n in enumerate(g.node):
        if n.op_type not in ("Add", "Where") or n.output[0] in outputs:
            continue
        if not all(r.op_type == "Softmax" for r in readers.get(n.output[0], [None])):
            continue
        for j in ((0, 1) if n.op_type == "Add" else (1, 2)):
            arr = _value(n.input[j], values, consts) if j < len(n.input) else None
            if arr is not None and arr.dtype.kind == "f" and np.any(np.isneginf(arr)) and \
                    not np.any(np.isnan(arr) | np.isposinf(arr)):
                edits.append((k, j, np.where(np.isneginf(arr), MASK_FILL, arr).astype(arr.dtype)))
    if not edits:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    names = {i.name for i in m.graph.initializer} | {o for n in m.graph.node for o in n.output}
    for k, j, arr in edits:
        node = m.graph.node[k]
        name = f"{node.input[j]}_finite"
        while name in names:
            name += "_"
        names.add(name)
        m.graph.initializer.append(numpy_helper.from_array(arr, name))
        node.input[j] = name
    return m


def _value(name: str, values, consts) -> Optional[np.ndarray]:
    if name in values:
        return numpy_helper.to_array(values[name])
    if name in consts:
        return numpy_helper.to_array(consts[name])
    return None
