"""uint8 graph inputs (raw image bytes, e.g. a model exported with ``Cast(uint8 -> float)`` first).

qnnc's graph is float, so a uint8 input read only by ``Cast(to=FLOAT)`` nodes becomes a float input
holding the values 0..255 (the Casts become Identity). The pipeline then fixes that input's range to
[0, 255], which gives the int8 quantization scale 1, zero point -128: the int8 value is exactly the
byte minus 128, and the generated API takes the bytes (``const uint8_t *``) and subtracts 128 while
copying them into the arena. A uint8 input read by any other op is refused.
"""
from __future__ import annotations

from typing import List

import onnx

from ..errors import ModelError


def uint8_input_names(model: onnx.ModelProto) -> List[str]:
    """Graph inputs (not initializers) of element type UINT8."""
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits and i.type.HasField("tensor_type")
            and i.type.tensor_type.elem_type == onnx.TensorProto.UINT8]


def float_uint8_inputs(model: onnx.ModelProto, path: str) -> List[str]:
    """Rewrite ``model`` in place so each uint8 input is a float input (its Casts to float become
    Identity); returns the names of those inputs. Refuses a uint8 input read by anything else."""
    names = uint8_input_names(model)
    for name in names:
        for n in model.graph.node:
            if name not in n.input:
                continue
            to = next((a.i for a in n.attribute if a.name == "to"), None)
            if n.op_type != "Cast" or to != onnx.TensorProto.FLOAT:
                what = f"Cast to {onnx.TensorProto.DataType.Name(to)}" if n.op_type == "Cast" and to else n.op_type
                raise ModelError(f"the uint8 input '{name}' is read by {what}; qnnc accepts a uint8 input only "
                                 "when it is Cast to float before use (or export the model with a float32 "
                                 "input)", file=path, node=n.name or None, op=n.op_type)
            n.op_type = "Identity"
            del n.attribute[:]
        inp = next(i for i in model.graph.input if i.name == name)
        inp.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return names
