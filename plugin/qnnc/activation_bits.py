"""Activation precision per layer: int8, int16 (16x8 scheme) or a mix, with int8 <-> int16
conversions where they meet.

``quantization.activation_bits`` (8 | 16) sets the default; ``quantization.overrides`` entries
with ``activation_bits`` set single layers (ONNX node name) or all layers of an ONNX op type,
later entries winning. A layer computes at its precision: an input of the other precision is
converted first (one ``requantize`` op per tensor and precision, shared by all its readers).
Views and data movement (Reshape, Transpose, MaxPool, AveragePool, Pad) keep their input's
precision unless an override names them. The model API stays int8 (see quantize_s16.py).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from .calibrate import Ranges
from .config import Config
from .errors import ModelError
from .fixedpoint import ROUND_TFLITE
from .ir import Graph, Node
from .precision import matches, onnx_op_types
from .qmodel import QModel, QTensor
from .quantize import _Lowering
from .quantize_s16 import _Lowering16, api_output_qparams, requantize_op

_FOLLOW_INPUT = ("Reshape", "Transpose", "MaxPool", "AveragePool", "Pad")


def layer_activation_bits(graph: Graph, cfg: Config, model_path: Optional[str] = None) -> Dict[str, int]:
    """{node name: 8 or 16} for the nodes an ``activation_bits`` override names (others: the default)."""
    ovs = [ov for ov in cfg.overrides if ov.activation_bits is not None]
    if not ovs:
        return {}
    op_types = onnx_op_types(model_path or graph.source)
    bits = {}
    for n in graph.nodes:
        for ov in ovs:
            if matches(ov, n, op_types):
                bits[n.name] = int(ov.activation_bits)
    return bits


class _Mixed:
    """Lowers node by node with the int8 or the int16 lowering (sharing tensors and ops)."""

    def __init__(self, graph: Graph, ranges: Ranges, per_channel: bool, float_mean, weight_bits, int4_clipping,
                 rounding: int):
        self.low16 = _Lowering16(graph, ranges, per_channel, float_mean)
        self.low8 = _Lowering(graph, ranges, per_channel, float_mean)
        self.low8.tensors = self.low16.tensors  # one tensor table and one op list for both
        self.low8.ops = self.low16.ops
        for low in (self.low8, self.low16):
            low.weight_bits = dict(weight_bits or {})
            low.int4_clipping = int4_clipping
        self.low8.rounding = rounding
        self.rounding = rounding
        self.g = graph
        self.converted: Dict[tuple, QTensor] = {}

    @property
    def tensors(self) -> Dict[str, QTensor]:
        return self.low16.tensors

    def value_range(self, t: QTensor):
        """Calibrated float range of a tensor; for tensors without one (those passes made, such as
        a layout transpose's output) the range its quantization can represent."""
        name = self.g.original_name(t.name)
        if name in self.low8.ranges:
            lo, hi = self.low8.ranges[name]
            return float(lo), float(hi)
        if t.bits == 8:
            return (-128 - t.zero_point) * t.scale, (127 - t.zero_point) * t.scale
        return -32767 * t.scale, 32767 * t.scale

    def convert(self, t: QTensor, bits: int) -> QTensor:
        """``t`` at ``bits`` (itself, or a converted copy made once)."""
        if t.bits == bits:
            return t
        key = (t.name, bits)
        if key not in self.converted:
            lo, hi = self.value_range(t)
            if bits == 16:
                amax = max(abs(lo), abs(hi))
                dst = QTensor(f"{t.name}__s16", t.shape, amax / 32767.0 if amax > 1e-30 else 1.0, 0, bits=16)
            else:
                q = api_output_qparams(self.low8, t.name, (lo, hi))
                dst = QTensor(f"{t.name}__s8", t.shape, *q)
            self.tensors[dst.name] = dst
            self.low16.ops.append(requantize_op(f"{t.name} int{t.bits} -> int{bits}", t, dst))
            self.converted[key] = dst
        return self.converted[key]

    def lower(self, n: Node, bits: int) -> None:
        if bits == 16 and (getattr(self.g, "quant", None) is not None or self.rounding != ROUND_TFLITE):
            what = ("the model is already quantized (QDQ/QOperator) and keeps its own int8 quantization"
                    if getattr(self.g, "quant", None) is not None else
                    "quantization.rounding: half_even is not supported by the 16x8 kernels (they round like "
                    "TFLite); use rounding: tflite or auto")
            raise ModelError(f"int16 activations are not possible here: {what}", file=self.g.source,
                             node=n.name, op=n.op)
        # Inputs of the other precision are converted first; the handler sees the converted tensor
        # under the graph name, then the table is restored.
        saved = {}
        for name in n.inputs:
            if name in self.tensors and not self.g.is_const(name):
                t = self.tensors[name]
                c = self.convert(t, bits)
                if c is not t:
                    saved[name] = t
                    self.tensors[name] = c
        try:
            (self.low16 if bits == 16 else self.low8).lower(n)
        finally:
            self.tensors.update(saved)


def quantize_mixed(graph: Graph, ranges: Ranges, name: str, per_channel: bool = True,
                   float_mean: Optional[Callable[[str], Optional[np.ndarray]]] = None,
                   weight_bits: Optional[Dict[str, int]] = None, int4_clipping: str = "mse",
                   rounding: int = ROUND_TFLITE, default_bits: int = 16,
                   layer_bits: Optional[Dict[str, int]] = None) -> QModel:
    """Lower a passed, NHWC graph with per-layer activation precision (int8 API input and output)."""
    layer_bits = dict(layer_bits or {})
    m = _Mixed(graph, ranges, per_channel, float_mean, weight_bits, int4_clipping, rounding)
    inp, outp = graph.inputs[0], graph.outputs[0]
    m.low8.new_tensor(inp, *m.low8.calibrated(inp))
    for n in graph.nodes:
        if n.name in layer_bits:
            bits = layer_bits[n.name]
        elif n.op in _FOLLOW_INPUT and n.inputs[0] in m.tensors:
            bits = m.tensors[n.inputs[0]].bits
        else:
            bits = default_bits
        m.lower(n, bits)
    out = m.convert(m.tensors[outp], 8)
    return QModel(name=name, tensors=m.tensors, ops=m.low16.ops, input=inp, output=out.name, source=graph.source)
