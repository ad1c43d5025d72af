"""ONNX Runtime's dynamic quantization read back as the float model it approximates (ONNX -> ONNX).

``onnxruntime.quantization.quantize_dynamic`` (the usual way to shrink an LSTM or transformer
model) stores int8 weights and quantizes each activation at run time: DynamicQuantizeLinear(x)
gives (x_q, x_scale, x_zp), MatMulInteger / ConvInteger multiply x_q by the int8 weight in int32,
and a Cast and a Mul by x_scale * w_scale return to float; LSTMs become com.microsoft's
DynamicQuantizeLSTM. A compiled model quantizes its activations from calibration instead, so the
file is read as float: each MatMulInteger / ConvInteger of a DynamicQuantizeLinear's output
becomes a MatMul / Conv of the float x with the weight's integers minus their zero point (x_scale
becomes 1, so the Mul after it applies w_scale alone: float weight = (w - w_zp) * w_scale, as the
file holds it), and each DynamicQuantizeLSTM an LSTM with its dequantized, transposed weights.
Calibration and the float reference then run this model; the weights re-quantize to the same
int8 values where their scales agree.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError

#: The ops of a dynamically quantized model this reads as float.
DYNAMIC_OPS = ("DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM")


def _is_dynamic(n: onnx.NodeProto) -> bool:
    if n.op_type == "DynamicQuantizeLSTM":
        return n.domain == "com.microsoft"
    return n.op_type in DYNAMIC_OPS and n.domain in ("", "ai.onnx")


def dynamic_quantization_as_float(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """The model with its dynamic quantization read as float (see the module docstring); the model
    itself when it has none."""
    if not any(_is_dynamic(n) for n in model.graph.node):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits: Dict[str, onnx.TensorProto] = {i.name: i for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].type == onnx.AttributeProto.TENSOR:
            inits[n.output[0]] = n.attribute[0].t
    source = {}  # DynamicQuantizeLinear output -> its float input
    scales = set()  # DynamicQuantizeLinear scale outputs
    nodes, new_inits = [], []
    for n in g.node:
        if not _is_dynamic(n):
            if n.op_type == "DequantizeLinear" and len(n.input) > 1 and n.input[1] in scales:
                # onnxruntime also quantizes a Transpose / Reshape of x (reading x_q) and dequantizes
                # after it with x's scale: that op now reads the float x, so the dequantization goes;
                # tf2onnx dequantizes x_q itself (a TFLite dynamic-range model's hybrid MatMul of
                # float weights): the float x
                nodes.append(helper.make_node("Identity", [source.get(n.input[0], n.input[0])], list(n.output),
                                              name=n.name))
                continue
            if any(i in source for i in n.input):  # x_q read by other ops (a Transpose): now of the float x
                n.input[:] = [source.get(i, i) for i in n.input]
                source.update((o, o) for o in n.output if o)  # their outputs are float too
            nodes.append(n)
            continue
        if n.op_type == "DynamicQuantizeLinear":
            source[n.output[0]] = n.input[0]
            if len(n.output) > 1 and n.output[1]:  # x_scale 1: the Mul after the product applies w_scale
                scales.add(n.output[1])
                new_inits.append(numpy_helper.from_array(np.array(1.0, np.float32), n.output[1]))
            if len(n.output) > 2 and n.output[2]:
                new_inits.append(numpy_helper.from_array(np.array(0, np.uint8), n.output[2]))
            continue

        def weight(i: int, what: str) -> np.ndarray:
            if len(n.input) <= i or n.input[i] not in inits:
                raise ModelError(f"{n.op_type} needs a constant {what} (dynamic quantization of weights)",
                                 file=path, node=n.name, op=n.op_type)
            return numpy_helper.to_array(inits[n.input[i]])

        def optional(i: int, default: float) -> np.ndarray:
            return weight(i, "zero point") if len(n.input) > i and n.input[i] else np.array(default)

        if n.op_type in ("MatMulInteger", "ConvInteger"):
            x = n.input[0]
            if x not in source:
                raise ModelError(f"{n.op_type} whose first input is not a DynamicQuantizeLinear's output is not "
                                 "supported (only onnxruntime's dynamic quantization is read as float)",
                                 file=path, node=n.name, op=n.op_type)
            if n.op_type == "MatMulInteger" and n.input[1] in source:  # two activations (attention)
                nodes.append(helper.make_node("MatMul", [source[x], source[n.input[1]]], list(n.output), name=n.name))
                continue
            w = weight(1, "weight").astype(np.float32)
            zp = optional(3, 0).astype(np.float32)
            if n.op_type == "ConvInteger" and zp.ndim == 1 and zp.size > 1:
                zp = zp.reshape(-1, *([1] * (w.ndim - 1)))  # one per output channel
            name = f"{n.output[0]}_float_weight"
            new_inits.append(numpy_helper.from_array((w - zp).astype(np.float32), name))
            op = "MatMul" if n.op_type == "MatMulInteger" else "Conv"
            nodes.append(helper.make_node(op, [source[x], name], list(n.output), name=n.name,
                                          **({} if op == "MatMul" else {a.name: helper.get_attribute_value(a)
                                                                       for a in n.attribute})))
            continue
        # DynamicQuantizeLSTM: X, W, R, B, sequence_lens, initial_h, initial_c, P, W_scale,
        # W_zero_point, R_scale, R_zero_point; W [dirs, input, 4 * hidden] (LSTM's transposed)
        ins = list(n.input) + [""] * (12 - len(n.input))
        lstm_in = [ins[0]]
        for wi, si, zi, what in ((1, 8, 9, "W"), (2, 10, 11, "R")):
            q = weight(wi, what).astype(np.float32)
            scale = weight(si, f"{what}_scale").astype(np.float32)
            zp = weight(zi, f"{what}_zero_point").astype(np.float32) if ins[zi] else np.zeros_like(scale)
            # per direction [dirs] or per gate column [dirs, 4 * hidden]
            scale = scale.reshape(q.shape[0], 1, -1)
            zp = zp.reshape(q.shape[0], 1, -1)
            name = f"{n.output[0] or n.name}_{what}_float"
            new_inits.append(numpy_helper.from_array(((q - zp) * scale).transpose(0, 2, 1).astype(np.float32), name))
            lstm_in.append(name)
        lstm_in += ins[3:8]
        while lstm_in and not lstm_in[-1]:
            lstm_in.pop()
        nodes.append(helper.make_node("LSTM", lstm_in, list(n.output), name=n.name,
                                      **{a.name: helper.get_attribute_value(a) for a in n.attribute}))
    for vi in [vi for vi in g.value_info if vi.name in {o for n in g.node if _is_dynamic(n) for o in n.output}]:
        g.value_info.remove(vi)  # int32 / uint8 types of what is now float
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    return m
