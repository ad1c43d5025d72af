"""The float reference of an already-quantized model: its tensors clamped to their int8 ranges.

:func:`qdq.strip_quantization` removes the Q/DQ nodes, which is what the compiler needs (the ranges
are kept in the QuantSpec). As a float *reference* (``qnnc validate``'s comparison, its per-layer
SQNR) that model misses what a QuantizeLinear does besides rounding: it saturates. onnxruntime's
``quantize_static`` folds a Relu (or Relu6, Clip) into the QuantizeLinear after it, whose range then
starts at 0, and deletes the Relu: without the saturation the float reference has no activation
there and validate reported 30-100 LSB errors for a model that matches onnxruntime's int8 run. Here
each quantized tensor a node computes is clamped to the real values its int8 range holds, as the
QDQ model's own QuantizeLinear clamps it: the model as quantized, without the rounding.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .onnx_names import NewTensors, defined_names
from .qdq import QuantSpec


def clamped_to_quantized_ranges(model: onnx.ModelProto, spec: QuantSpec) -> onnx.ModelProto:
    """A copy of the stripped ``model`` with a Clip to each fixed activation range after the node
    computing that tensor, and before the readers of a graph input that has one."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    new = NewTensors()
    new.names = defined_names(g)
    nodes = []
    for inp in g.input:
        if inp.name in spec.activations:  # the readers take the clamped copy (the input keeps its name)
            copy = new.name(f"{inp.name}_clamped")
            nodes.append(_clip(new, inp.name, copy, spec.activations[inp.name]))
            for n in g.node:
                n.input[:] = [copy if i == inp.name else i for i in n.input]
    for n in g.node:
        nodes.append(n)
        for k, t in enumerate(n.output):
            if t in spec.activations:
                n.output[k] = new.name(f"{t}_unclamped")
                nodes.append(_clip(new, n.output[k], t, spec.activations[t]))
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new.inits)
    return m


def _clip(new: NewTensors, x: str, y: str, params) -> onnx.NodeProto:
    """y = x clamped to the real values of the int8 (scale, zero point) ``params`` (its bounds:
    initializers of ``new``)."""
    scale, zp = params
    lo = new.const(f"{y}_low", np.array((-128 - zp) * scale, np.float32))
    hi = new.const(f"{y}_high", np.array((127 - zp) * scale, np.float32))
    return helper.make_node("Clip", [x, lo, hi], [y], name=new.name(f"{y}_saturation"))
