"""float16 / bfloat16 / float64 models read as float32 (ONNX -> ONNX, in place).

PyTorch's ``model.half()`` exports, mixed-precision checkpoints and some converters give models
whose weights and activations are float16 (or float64). qnnc quantizes every tensor anyway, so the
float type only matters to the float run that calibrates and checks it: the model is read with
its float tensors as float32 (the weights' values exactly, since float32 holds every float16 and
bfloat16 value), its Casts to a float type as Casts to float32. Calibration and validate then
compare with that float32 run, which is at least as close to the model's real numbers.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

_OTHER_FLOATS = (onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE)


def float32_model(model: onnx.ModelProto) -> None:
    """Turn the model's float16 / bfloat16 / float64 tensors, I/O types and Casts into float32."""
    g = model.graph
    for i, t in enumerate(g.initializer):
        if t.data_type in _OTHER_FLOATS:
            g.initializer[i].CopyFrom(_float32_tensor(t))
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type in _OTHER_FLOATS:
            vi.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type in _OTHER_FLOATS:
                a.t.CopyFrom(_float32_tensor(a.t))
            elif n.op_type == "Cast" and a.name == "to" and a.i in _OTHER_FLOATS:
                a.i = onnx.TensorProto.FLOAT


def _float32_tensor(t: onnx.TensorProto) -> onnx.TensorProto:
    out = numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name)
    return out
