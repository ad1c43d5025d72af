"""int16 activations with int8 weights (TFLite's 16x8 scheme): float Graph -> :class:`QModel`.

``quantization.activation_bits: 16``. Activations are int16, symmetric, zero point 0, scale
``amax / 32767`` of the calibrated range; weights int8 symmetric per channel (as for int8);
biases int64 with scale ``s_in * s_w``; conv/FC requantization uses TFLite's 16-bit reduced
multiplier on the int64 accumulator (see reference/kernels_s16.py). Softmax outputs scale
1/32768 as in TFLite.

This module lowers single nodes at int16; activation_bits.py drives it (with the int8 lowering
for int8 layers) and inserts the ``requantize`` ops. The model API stays int8: the generated
``<name>_run`` takes and returns int8 (asymmetric, calibrated like an int8 model's input and
output), one op converts the input to int16 first and one converts the result back to int8 last.
So ``<name>_run``/``_run_f32``, test data, self-tests and every host tool keep working unchanged;
the int16 precision applies to every layer in between.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from .fixedpoint import quantize_multiplier
from .ir import Node
from .kernel_params import AddParams, ConvParams, FcParams, PoolParams, RescaleParams
from .qmodel import QOp, QTensor
from .quantize import SOFTMAX_SCALE, SOFTMAX_ZP, _Lowering, _conv_mean_shift, act_qparams, quantize_weights
from .reference.kernels_s16 import softmax_exp_lut

S16_MIN, S16_MAX = -32768, 32767
SOFTMAX16_SCALE = 1.0 / 32768.0
ADD16_LEFT_SHIFT = 15
ACC_LIMIT = 1 << 47          # |int64 accumulator| bound of the 16x8 requantization (as in TFLite)
BIAS_LIMIT = (1 << 40) - 1   # keeps bias + products far inside ACC_LIMIT
SUPPORTED = "Conv (incl. depthwise), Gemm/MatMul (FullyConnected), MaxPool, AveragePool, Add, Softmax, " \
            "Relu/Clip fused into the layer before, Reshape/Flatten, Transpose"


def _round(v: float) -> int:
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


class _Lowering16(_Lowering):
    """The int8 lowering with int16 activation tensors and _s16 kernels."""

    # -- tensors --------------------------------------------------------------------
    def scale16(self, name: str, n: Node = None) -> float:
        """Symmetric int16 scale of a tensor's calibrated range (the int8 checks run first)."""
        self.calibrated(name, n)  # raises the clear errors for missing or non-finite ranges
        lo, hi = self.ranges[self.g.original_name(name)]
        amax = max(abs(float(lo)), abs(float(hi)))
        return amax / S16_MAX if amax > 1e-30 else 1.0

    def new16(self, name: str, scale: float) -> QTensor:
        t = QTensor(name, tuple(self.g.shape(name)), float(scale), 0, bits=16)
        self.tensors[name] = t
        return t

    def input16(self, n: Node, i: int = 0) -> QTensor:
        name = n.inputs[i]
        if self.g.is_const(name):
            raise self.err(n, "a constant operand is not supported with int16 activations "
                              "(quantization.activation_bits: 16)")
        return self.tensors[name]

    def value16(self, x: float, t: QTensor) -> int:
        if math.isinf(x):
            return S16_MAX if x > 0 else S16_MIN
        return max(S16_MIN, min(S16_MAX, _round(x / t.scale)))

    def output16(self, n: Node) -> Tuple[QTensor, int, int]:
        """Output tensor and clamp bounds of a fused Relu/Clip."""
        out = self.new16(n.outputs[0], self.scale16(n.outputs[0], n))
        act = n.attrs.get("activation")
        if act and act["kind"] != "clip":
            raise self.err(n, f"a fused {act['kind']} is not supported with int16 activations "
                              "(quantization.activation_bits: 16); only Relu/Clip")
        if not act:
            return out, S16_MIN, S16_MAX
        return out, self.value16(act["min"], out), self.value16(act["max"], out)

    # -- arithmetic -----------------------------------------------------------------
    def requant16(self, n: Node, s_in: float, w_scales: np.ndarray, s_out: float):
        """Per-channel multipliers with shifts in [-46, 14] (the 16x8 requantization's range)."""
        mult, shift = self.requant(n, s_in, w_scales, s_out)
        tiny = shift < -46  # the product rounds to 0 anyway
        mult, shift = np.where(tiny, 0, mult).astype(np.int32), np.where(tiny, 0, shift).astype(np.int32)
        if shift.max(initial=0) > 14:
            raise self.err(n, f"requantization multiplier too large for the 16x8 scheme (2^{int(shift.max())})")
        return mult, shift

    def bias64(self, b: np.ndarray, s_in: float, w_scales: np.ndarray) -> np.ndarray:
        q = np.floor(np.abs(b.astype(np.float64)) / (s_in * w_scales) + 0.5) * np.sign(b)
        return np.clip(q, -BIAS_LIMIT, BIAS_LIMIT).astype(np.int64)

    def check_acc64(self, n: Node, wq: np.ndarray, bq: np.ndarray) -> None:
        worst = np.abs(wq.reshape(wq.shape[0], -1).astype(np.int64)).sum(axis=1) * 32768 + np.abs(bq)
        if worst.max() >= ACC_LIMIT:
            raise self.err(n, f"the int64 accumulator could exceed 2^47 (worst case {int(worst.max())}), the "
                              "limit of the 16x8 requantization; the layer has too many inputs per output")

    def int8_weights(self, n: Node, W: np.ndarray):
        if self.weight_bits.get(n.name, 8) != 8:
            raise self.err(n, "int4 weights with int16 activations are not supported; use weight_bits: 8 for "
                              "this layer or activation_bits: 8")
        return quantize_weights(W, self.per_channel)

    # -- ops ------------------------------------------------------------------------
    def conv(self, n: Node) -> None:
        x = self.input16(n)
        W, b = self.g.const(n.inputs[1]), self.g.const(n.inputs[2])
        cout, cin_g, kh, kw = W.shape
        cin, group = x.shape[3], n.attrs["group"]
        out, act_min, act_max = self.output16(n)
        wq, ws = self.int8_weights(n, W)
        mult, shift = self.requant16(n, x.scale, ws, out.scale)
        b = self.corrected_bias(n, W, b, wq, ws,
                                lambda m, eps: _conv_mean_shift(m, eps, n.attrs, tuple(out.shape[1:3])))
        bq = self.bias64(b, x.scale, ws)
        self.check_acc64(n, wq, bq)
        a = n.attrs
        common = dict(input_offset=0, output_offset=0, stride_h=a["strides"][0], stride_w=a["strides"][1],
                      pad_top=a["pads"][0], pad_left=a["pads"][1], dilation_h=a["dilations"][0],
                      dilation_w=a["dilations"][1], act_min=act_min, act_max=act_max, act_lut=None)
        oh, ow = out.shape[1], out.shape[2]
        if group == 1:
            kind, kernel = "conv", "qnnc_conv_s16"
            filt = np.ascontiguousarray(wq.transpose(0, 2, 3, 1))
            params = ConvParams(depth_multiplier=1, **common)
            macs = oh * ow * cout * kh * kw * cin
        elif group == cin and cin_g == 1 and cout % cin == 0:
            kind, kernel = "depthwise_conv", "qnnc_depthwise_conv_s16"
            filt = np.ascontiguousarray(wq.reshape(cout, kh, kw).transpose(1, 2, 0)[None])
            params = ConvParams(depth_multiplier=cout // cin, **common)
            macs = oh * ow * cout * kh * kw
        else:
            raise self.err(n, f"grouped convolution with group={group} (input channels {cin}) is not supported; "
                              "only group=1 and depthwise (group == input channels) are")
        self.ops.append(QOp(kind, n.name, [x.name], out.name, params,
                            {"filter": filt, "bias": bq, "multiplier": mult, "shift": shift},
                            {"filter_dims": tuple(filt.shape) if kind == "conv" else (1, kh, kw, cout),
                             "kernel": kernel, "activation_bits": 16}, macs))

    def fully_connected(self, n: Node) -> None:
        x = self.input16(n)
        W, b = self.g.const(n.inputs[1]), self.g.const(n.inputs[2])
        out, act_min, act_max = self.output16(n)
        wq, ws = self.int8_weights(n, W)
        mult, shift = self.requant16(n, x.scale, ws, out.scale)
        b = self.corrected_bias(n, W, b, wq, ws, lambda m, eps: eps @ m.reshape(-1, W.shape[1]).mean(axis=0))
        bq = self.bias64(b, x.scale, ws)
        self.check_acc64(n, wq, bq)
        rows = int(np.prod(x.shape[:-1]))
        params = FcParams(input_offset=0, output_offset=0, act_min=act_min, act_max=act_max, act_lut=None)
        self.ops.append(QOp("fully_connected", n.name, [x.name], out.name, params,
                            {"filter": np.ascontiguousarray(wq), "bias": bq, "multiplier": mult, "shift": shift},
                            {"rows": rows, "in_features": W.shape[1], "out_features": W.shape[0],
                             "kernel": "qnnc_fully_connected_s16", "activation_bits": 16},
                            rows * W.shape[0] * W.shape[1]))

    def pool(self, n: Node) -> None:
        x = self.input16(n)
        out = self.new16(n.outputs[0], x.scale)
        a = n.attrs
        if a.get("dilations", [1, 1]) != [1, 1]:
            raise self.err(n, "dilated pooling is not supported")
        if n.op == "AveragePool" and a["kernel"][0] * a["kernel"][1] > 65535:
            raise self.err(n, "int16 average pooling over more than 65535 cells could overflow its int32 sum")
        params = PoolParams(kernel_h=a["kernel"][0], kernel_w=a["kernel"][1], stride_h=a["strides"][0],
                            stride_w=a["strides"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
                            count_include_pad=int(a.get("count_include_pad", 0)), pad_value=0,
                            act_min=S16_MIN, act_max=S16_MAX)
        kind = "max_pool" if n.op == "MaxPool" else "avg_pool"
        self.ops.append(QOp(kind, n.name, [x.name], out.name, params, {},
                            {"kernel": f"qnnc_{kind}_s16", "activation_bits": 16}, 0))

    def binary(self, n: Node) -> None:
        if n.op != "Add":
            raise self.err(n, f"no int16 lowering for {n.op} (quantization.activation_bits: 16); supported: "
                              + SUPPORTED)
        a, b = self.input16(n, 0), self.input16(n, 1)
        out, act_min, act_max = self.output16(n)
        if len(out.shape) > 4 or any(len(t.shape) > len(out.shape) for t in (a, b)):
            raise self.err(n, f"broadcasting to {list(out.shape)} is not supported (rank <= 4)")
        twice_max = 2.0 * max(a.scale, b.scale)
        m1, s1 = quantize_multiplier(a.scale / twice_max)
        m2, s2 = quantize_multiplier(b.scale / twice_max)
        try:
            mo, so = quantize_multiplier(twice_max / ((1 << ADD16_LEFT_SHIFT) * out.scale))
        except ValueError as e:
            raise self.err(n, str(e)) from None
        params = AddParams(0, 0, m1, s1, m2, s2, ADD16_LEFT_SHIFT, mo, so, 0, act_min, act_max)

        def dims4(shape):
            return (1,) * (4 - len(shape)) + tuple(shape)

        self.ops.append(QOp("add", n.name, [a.name, b.name], out.name, params, {},
                            {"input1_dims": dims4(a.shape), "input2_dims": dims4(b.shape),
                             "output_dims": dims4(out.shape), "kernel": "qnnc_add_s16", "activation_bits": 16}, 0))

    def softmax(self, n: Node) -> None:
        x = self.input16(n)
        axis = n.attrs.get("axis", -1) % len(x.shape)
        if axis != len(x.shape) - 1:
            raise self.err(n, f"Softmax over axis {n.attrs.get('axis')} of shape {list(x.shape)} is not supported; "
                              "only the last axis")
        cols = x.shape[-1]
        if cols >= 1 << 16:
            raise self.err(n, f"int16 softmax over {cols} classes is not supported (at most 65535)")
        out = self.new16(n.outputs[0], SOFTMAX16_SCALE)
        self.ops.append(QOp("softmax", n.name, [x.name], out.name, None, {"exp_lut": softmax_exp_lut(x.scale)},
                            {"rows": x.size // cols, "cols": cols, "kernel": "qnnc_softmax_s16",
                             "activation_bits": 16}, 0))

    def reshape(self, n: Node) -> None:
        x = self.input16(n)
        out = self.new16(n.outputs[0], x.scale)
        self.ops.append(QOp("reshape", n.name, [x.name], out.name, None, {}, {"activation_bits": 16}))

    def transpose(self, n: Node) -> None:
        x = self.input16(n)
        perm = list(n.attrs["perm"])
        if len(perm) > 4:
            raise self.err(n, f"transposes of rank {len(perm)} are not supported (rank <= 4)")
        k = 4 - len(perm)
        out = self.new16(n.outputs[0], x.scale)
        self.ops.append(QOp("transpose", n.name, [x.name], out.name, None, {},
                            {"input_dims": (1,) * k + tuple(x.shape),
                             "perm": tuple(list(range(k)) + [p + k for p in perm]),
                             "kernel": "qnnc_transpose_s16", "activation_bits": 16}, 0))

    def unsupported(self, n: Node) -> None:
        raise self.err(n, f"no int16 lowering for {n.op} (quantization.activation_bits: 16); supported: "
                          + SUPPORTED)

    def lower(self, n: Node) -> None:
        handler = {
            "Conv": self.conv, "FullyConnected": self.fully_connected, "Add": self.binary,
            "MaxPool": self.pool, "AveragePool": self.pool, "Softmax": self.softmax, "Reshape": self.reshape,
            "Transpose": self.transpose,
        }.get(n.op, self.unsupported)
        handler(n)


def requantize_op(name: str, src: QTensor, dst: QTensor) -> QOp:
    """An int8 <-> int16 conversion from ``src`` to ``dst`` (one kernel call)."""
    m, s = quantize_multiplier(src.scale / dst.scale)
    params = RescaleParams(-src.zero_point, m, s, dst.zero_point)
    kernel = "qnnc_requantize_s8_s16" if dst.bits == 16 else "qnnc_requantize_s16_s8"
    return QOp("requantize", name, [src.name], dst.name, None, {},
               {"kernel": kernel, "rescale": params, "size": src.size, "to_bits": dst.bits}, 0)


def api_output_qparams(low: _Lowering, outp: str, value_range: Tuple[float, float]) -> Tuple[float, int]:
    """int8 scale and zero point for a tensor converted from int16 (e.g. the model output): those
    of an int8 model's softmax output after a Softmax (through views), else ``value_range``'s."""
    producer = next((op for op in reversed(low.ops) if op.output == outp), None)
    while producer is not None and producer.kind == "reshape":  # a view: look at what it shows
        producer = next((op for op in low.ops if op.output == producer.inputs[0]), None)
    if producer is not None and producer.kind == "softmax":
        return SOFTMAX_SCALE, SOFTMAX_ZP
    return act_qparams(*value_range)
