"""Stage 3 - quantize: float Graph + calibrated ranges -> :class:`QModel` (TFLite int8 scheme).

Weights: int8 symmetric ([-127, 127]) per output channel (or per tensor); layers the precision
plan (precision.py) puts at 4 bits get int4 weights ([-7, 7], see int4.py) stored packed two per
byte and call the ``_s4`` kernels. Activations: int8
asymmetric per tensor. Bias: int32 with scale s_in * s_w. Requantization: int32 multiplier +
shift (see fixedpoint.py). Ops whose output equals a rearrangement of their input (views,
transposes, pads, max/avg pools) keep the input's parameters, as TFLite does.

Bias correction (``quantization.bias_correction``): each Conv/FC bias is lowered by the mean output
error its int8 weights cause, ``(dequantized(Wq) - W)`` applied to the layer's mean float input on
the calibration data (Nagel et al. 2019, empirical variant). It only changes the int32 bias values.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .calibrate import Ranges
from .errors import ModelError
from .fixedpoint import ROUND_HALF_EVEN, ROUND_TFLITE, quantize_multiplier, quantize_multipliers
from .int4 import KERNELS_S4, pack_s4, quantize_weights_s4
from .ir import Graph, Node
from .kernel_params import AddParams, ConvParams, FcParams, MulParams, PoolParams, RescaleParams
from .qmodel import QModel, QOp, QTensor

INT32_MAX = (1 << 31) - 1
SOFTMAX_SCALE, SOFTMAX_ZP = 1.0 / 256.0, -128
SIGMOID_SCALE, SIGMOID_ZP = 1.0 / 256.0, -128
TANH_SCALE, TANH_ZP = 1.0 / 128.0, 0
ADD_LEFT_SHIFT = 20
_PASSTHROUGH = {"Reshape", "Transpose", "Pad", "MaxPool", "AveragePool"}


def _round(v: float) -> int:
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def act_qparams(lo: float, hi: float) -> Tuple[float, int]:
    """Asymmetric int8 scale and zero point covering [lo, hi] (always including 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo <= 1e-30:
        return 1.0, -128
    scale = (hi - lo) / 255.0
    zp = _round(-128.0 - lo / scale)
    return scale, max(-128, min(127, zp))


def quantize_weights(w: np.ndarray, per_channel: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights; axis 0 is the output channel. Returns (q, scales[out])."""
    w64 = w.astype(np.float64).reshape(w.shape[0], -1)
    amax = np.abs(w64).max(axis=1) if per_channel else np.full(w.shape[0], np.abs(w64).max())
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.sign(w64) * np.floor(np.abs(w64) / scales[:, None] + 0.5), -127, 127)
    return q.astype(np.int8).reshape(w.shape), scales


def fixed_weight_quantization(W: np.ndarray, candidates) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Recover the integers of dequantized weights ``W`` (axis 0 = output channel).

    Passes may have transposed or permuted the weights, so the match is by value: the first
    scale vector (one per output channel, or one for all) that makes every ``W / scale`` an
    integer in [-127, 127] gives the model's own quantization, with the exact float32 scales
    (so the requantization multipliers equal the ones of the tool that quantized the model).
    """
    w = W.astype(np.float64).reshape(W.shape[0], -1)
    for s in candidates:
        if s.size not in (1, W.shape[0]):
            continue
        sc = np.broadcast_to(s.astype(np.float64), (W.shape[0],))
        r = w / sc[:, None]
        q = np.round(r)
        if np.all(np.abs(r - q) < 1e-3) and np.all(np.abs(q) <= 127):
            return q.astype(np.int8).reshape(W.shape), sc.copy()
    return None


def _quantize_value(x: float, t: QTensor) -> int:
    if math.isinf(x):
        return 127 if x > 0 else -128
    return max(-128, min(127, _round(x / t.scale) + t.zero_point))


def _act_bounds(act: dict, out: QTensor) -> Tuple[int, int]:
    if not act or act["kind"] != "clip":
        return -128, 127
    return _quantize_value(act["min"], out), _quantize_value(act["max"], out)


def _lut(fn, inp: QTensor, out: QTensor) -> np.ndarray:
    q = np.arange(-128, 128, dtype=np.float64)
    y = fn((q - inp.zero_point) * inp.scale)
    r = np.sign(y) * np.floor(np.abs(y) / out.scale + 0.5) + out.zero_point
    return np.clip(r, -128, 127).astype(np.int8)


def _unary_fn(n: Node):
    if n.op == "Relu":
        return lambda x: np.maximum(x, 0.0)
    if n.op == "Clip":
        return lambda x: np.clip(x, n.attrs["min"], n.attrs["max"])
    if n.op == "LeakyRelu":
        a = float(n.attrs.get("alpha", 0.01))
        return lambda x: np.where(x >= 0, x, a * x)
    if n.op == "Sigmoid":
        return lambda x: 1.0 / (1.0 + np.exp(-x))
    if n.op == "Tanh":
        return np.tanh
    raise KeyError(n.op)


def _conv_mean_shift(m: np.ndarray, eps: np.ndarray, attrs: dict, out_hw: Tuple[int, int]) -> np.ndarray:
    """Spatial mean, per output channel, of ``conv(m, eps)`` (``m``: one NHWC tensor, ``eps``: OIHW).

    The convolution is linear, so the mean output is the weights applied to the mean of each
    kernel tap's input window (zero padding included).
    """
    x = m.reshape(m.shape[-3:]).astype(np.float64)
    t, l, b, r = attrs["pads"]
    xp = np.pad(x, ((t, b), (l, r), (0, 0)))
    cout, _, kh, kw = eps.shape
    sh, sw = attrs["strides"]
    dh, dw = attrs["dilations"]
    oh, ow = out_hw
    depthwise = attrs["group"] != 1
    src = np.arange(cout) // (cout // x.shape[2]) if depthwise else None
    acc = np.zeros(cout)
    for i in range(kh):
        for j in range(kw):
            win = xp[i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw, :]
            pm = win.mean(axis=(0, 1))
            acc += eps[:, 0, i, j] * pm[src] if depthwise else eps[:, :, i, j] @ pm
    return acc


class _Lowering:
    def __init__(self, g: Graph, ranges: Ranges, per_channel: bool,
                 float_mean: Optional[Callable[[str], Optional[np.ndarray]]] = None):
        self.g = g
        self.ranges = ranges
        self.per_channel = per_channel
        self.float_mean = float_mean
        self.weight_bits: Dict[str, int] = {}  # node name -> 4 for int4 weights (else int8)
        self.int4_clipping = "mse"
        self.rounding = ROUND_TFLITE  # fixedpoint.ROUND_*: conv / FC requantization rounding
        self.tensors: Dict[str, QTensor] = {}
        self.ops = []

    # -- helpers ----------------------------------------------------------------
    def err(self, n: Node, msg: str) -> ModelError:
        return ModelError(msg, file=self.g.source, node=n.name, op=f"{n.op}, opset {self.g.opset}")

    def calibrated(self, name: str, n: Node = None) -> Tuple[float, int]:
        name = self.g.original_name(name)
        if self.g.quant is not None and name in self.g.quant.activations:
            return self.g.quant.activations[name]  # fixed by the model's QuantizeLinear
        if name not in self.ranges:
            raise ModelError(f"no calibration range for tensor '{name}' (internal: a pass renamed a tensor "
                             "without a passthrough rule)", file=self.g.source, node=n.name if n else None)
        lo, hi = self.ranges[name]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ModelError(f"the float model produces non-finite values (range [{lo}, {hi}]) in tensor '{name}' "
                             "on the calibration data; check the model and the data's scaling",
                             file=self.g.source, node=n.name if n else None, op=n.op if n else None)
        return act_qparams(lo, hi)

    def new_tensor(self, name: str, scale: float, zp: int) -> QTensor:
        t = QTensor(name, tuple(self.g.shape(name)), float(scale), int(zp))
        self.tensors[name] = t
        return t

    def weights(self, W: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """int8 weights and per-output-channel scales: the model's own for a QDQ import, else computed."""
        if self.g.quant is not None:
            fixed = fixed_weight_quantization(W, self.g.quant.weight_scale_candidates())
            if fixed is not None:
                return fixed
        return quantize_weights(W, self.per_channel)

    def layer_weights(self, n: Node, W: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The layer's integer weights and scales: int4 ([-7, 7]) when the precision plan says so."""
        if self.weight_bits.get(n.name, 8) == 4:
            return quantize_weights_s4(W, self.per_channel, self.int4_clipping)
        return self.weights(W)

    def pack_int4(self, n: Node, op: QOp) -> None:
        """For an int4 layer: store the filter packed two per byte (in the kernel's layout) and
        mark the op so it calls the _s4 kernel."""
        if self.weight_bits.get(n.name, 8) == 4:
            op.consts["filter"] = pack_s4(op.consts["filter"])
            op.attrs["weight_bits"] = 4
            op.attrs["kernel"] = KERNELS_S4[op.kind]

    def check_accumulator(self, n: Node, wq: np.ndarray, bq: np.ndarray) -> None:
        """Refuse weights whose worst-case int32 accumulation could overflow."""
        worst = np.abs(wq.reshape(wq.shape[0], -1).astype(np.int64)).sum(axis=1) * 255 + np.abs(bq.astype(np.int64))
        if worst.max() > INT32_MAX:
            raise self.err(n, f"the int32 accumulator could overflow (worst case {int(worst.max())}); the layer "
                              "has too many inputs per output for int8 arithmetic")

    def requant(self, n: Node, s_in: float, w_scales: np.ndarray, s_out: float):
        if self.rounding == ROUND_HALF_EVEN:
            # onnxruntime's scale, in float32 (QLinearConv / QLinearMatMul compute it so); the
            # multiplier + shift then represent it exactly.
            real = ((np.float32(s_in) * np.asarray(w_scales, np.float32)).astype(np.float32)
                    / np.float32(s_out)).astype(np.float32).astype(np.float64)
        else:
            real = s_in * w_scales / s_out
        try:
            return quantize_multipliers(real)
        except ValueError as e:
            raise self.err(n, str(e)) from None

    def quant_bias(self, b: np.ndarray, s_in: float, w_scales: np.ndarray) -> np.ndarray:
        q = np.floor(np.abs(b.astype(np.float64)) / (s_in * w_scales) + 0.5) * np.sign(b)
        return np.clip(q, -INT32_MAX, INT32_MAX).astype(np.int32)

    def corrected_bias(self, n: Node, W: np.ndarray, b: np.ndarray, wq: np.ndarray, ws: np.ndarray,
                       shift_of) -> np.ndarray:
        """Bias correction: subtract the mean output shift the int8 weights introduce.

        ``shift_of(mean_input, eps)`` is the mean (per output channel) of the layer applied with
        weights ``eps = dequantized(wq) - W`` to the mean float input measured on the calibration
        data. Without bias correction (or without a mean for the input) ``b`` is returned as is.
        """
        if self.float_mean is None:
            return b
        m = self.float_mean(n.inputs[0])
        if m is None:
            return b
        w64 = W.astype(np.float64)
        deq = wq.astype(np.float64) * ws.reshape((-1,) + (1,) * (W.ndim - 1))
        shift = shift_of(m.astype(np.float64), deq - w64)
        return b.astype(np.float64) - shift

    def output_with_activation(self, n: Node):
        """Output tensor params and the (act_min, act_max, lut, requant-target) for fused activations."""
        out_name = n.outputs[0]
        out = self.new_tensor(out_name, *self.calibrated(out_name, n))
        act = n.attrs.get("activation")
        if act and act["kind"] == "leaky_relu":
            pre = QTensor(act["pre_act"], out.shape, *self.calibrated(act["pre_act"], n))
            a = act["alpha"]
            lut = _lut(lambda x: np.where(x >= 0, x, a * x), pre, out)
            return out, -128, 127, lut, pre
        lo, hi = _act_bounds(act, out)
        return out, lo, hi, None, out

    # -- ops ----------------------------------------------------------------------
    def conv(self, n: Node) -> None:
        g = self.g
        x = self.tensors[n.inputs[0]]
        W = g.const(n.inputs[1])
        b = g.const(n.inputs[2])
        cout, cin_g, kh, kw = W.shape
        cin = x.shape[3]
        group = n.attrs["group"]
        out, act_min, act_max, lut, target = self.output_with_activation(n)
        wq, ws = self.layer_weights(n, W)
        mult, shift = self.requant(n, x.scale, ws, target.scale)
        b = self.corrected_bias(n, W, b, wq, ws,
                                lambda m, eps: _conv_mean_shift(m, eps, n.attrs, tuple(out.shape[1:3])))
        bq = self.quant_bias(b, x.scale, ws)
        self.check_accumulator(n, wq, bq)
        a = n.attrs
        common = dict(input_offset=-x.zero_point, output_offset=target.zero_point,
                      stride_h=a["strides"][0], stride_w=a["strides"][1],
                      pad_top=a["pads"][0], pad_left=a["pads"][1],
                      dilation_h=a["dilations"][0], dilation_w=a["dilations"][1],
                      act_min=act_min, act_max=act_max, act_lut=lut, rounding=self.rounding)
        oh, ow = out.shape[1], out.shape[2]
        if group == 1:
            kind = "conv"
            filt = np.ascontiguousarray(wq.transpose(0, 2, 3, 1))  # OIHW -> OHWI
            params = ConvParams(depth_multiplier=1, **common)
            macs = oh * ow * cout * kh * kw * cin
        elif group == cin and cin_g == 1 and cout % cin == 0:
            kind = "depthwise_conv"
            filt = np.ascontiguousarray(wq.reshape(cout, kh, kw).transpose(1, 2, 0)[None])  # [1,kh,kw,cout]
            params = ConvParams(depth_multiplier=cout // cin, **common)
            macs = oh * ow * cout * kh * kw
        else:
            raise self.err(n, f"grouped convolution with group={group} (input channels {cin}) is not supported; "
                              "only group=1 and depthwise (group == input channels) are")
        self.ops.append(QOp(kind, n.name, [x.name], out.name, params,
                            {"filter": filt, "bias": bq, "multiplier": mult, "shift": shift},
                            {"filter_dims": tuple(filt.shape) if kind == "conv" else (1, kh, kw, cout)}, macs))
        self.pack_int4(n, self.ops[-1])

    def fully_connected(self, n: Node) -> None:
        g = self.g
        x = self.tensors[n.inputs[0]]
        W = g.const(n.inputs[1])
        b = g.const(n.inputs[2])
        out, act_min, act_max, lut, target = self.output_with_activation(n)
        wq, ws = self.layer_weights(n, W)
        mult, shift = self.requant(n, x.scale, ws, target.scale)
        b = self.corrected_bias(n, W, b, wq, ws,
                                lambda m, eps: eps @ m.reshape(-1, W.shape[1]).mean(axis=0))
        bq = self.quant_bias(b, x.scale, ws)
        self.check_accumulator(n, wq, bq)
        rows = int(np.prod(x.shape[:-1]))
        params = FcParams(input_offset=-x.zero_point, output_offset=target.zero_point,
                          act_min=act_min, act_max=act_max, act_lut=lut, rounding=self.rounding)
        self.ops.append(QOp("fully_connected", n.name, [x.name], out.name, params,
                            {"filter": np.ascontiguousarray(wq), "bias": bq, "multiplier": mult, "shift": shift},
                            {"rows": rows, "in_features": W.shape[1], "out_features": W.shape[0]},
                            rows * W.shape[0] * W.shape[1]))
        self.pack_int4(n, self.ops[-1])

    def const_operand(self, name: str) -> Tuple[np.ndarray, QTensor]:
        c = self.g.const(name).astype(np.float64)
        t = QTensor(name, tuple(c.shape), *act_qparams(c.min(), c.max()))
        q = np.clip(np.sign(c) * np.floor(np.abs(c) / t.scale + 0.5) + t.zero_point, -128, 127).astype(np.int8)
        return q, t

    def binary(self, n: Node) -> None:
        g = self.g
        a = self.tensors[n.inputs[0]]
        consts = {}
        if g.is_const(n.inputs[1]):
            q, b = self.const_operand(n.inputs[1])
            consts["input2"] = q
        else:
            b = self.tensors[n.inputs[1]]
        out, act_min, act_max, lut, target = self.output_with_activation(n)
        if lut is not None:
            raise self.err(n, "a LeakyRelu fused into Add is not supported")
        out_shape = out.shape
        for t in (a, b):
            if len(t.shape) > len(out_shape) or len(out_shape) > 4:
                raise self.err(n, f"broadcasting {list(t.shape)} to {list(out_shape)} is not supported (rank <= 4)")
        if n.op == "Add":
            twice_max = 2.0 * max(a.scale, b.scale)
            m1, s1 = quantize_multiplier(a.scale / twice_max)
            m2, s2 = quantize_multiplier(b.scale / twice_max)
            mo, so = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * out.scale))
            params = AddParams(-a.zero_point, -b.zero_point, m1, s1, m2, s2, ADD_LEFT_SHIFT, mo, so,
                               out.zero_point, act_min, act_max)
            kind = "add"
        else:
            mo, so = quantize_multiplier(a.scale * b.scale / out.scale)
            params = MulParams(-a.zero_point, -b.zero_point, mo, so, out.zero_point, act_min, act_max)
            kind = "mul"

        def dims4(shape):
            return (1,) * (4 - len(shape)) + tuple(shape)

        inputs = [a.name] + ([] if "input2" in consts else [b.name])
        self.ops.append(QOp(kind, n.name, inputs, out.name, params, consts,
                            {"input1_dims": dims4(a.shape), "input2_dims": dims4(b.shape),
                             "output_dims": dims4(out_shape)}, 0))

    def pool(self, n: Node) -> None:
        x = self.tensors[n.inputs[0]]
        out = self.new_tensor(n.outputs[0], x.scale, x.zero_point)
        a = n.attrs
        if a.get("dilations", [1, 1]) != [1, 1]:
            raise self.err(n, "dilated pooling is not supported")
        params = PoolParams(kernel_h=a["kernel"][0], kernel_w=a["kernel"][1], stride_h=a["strides"][0],
                            stride_w=a["strides"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
                            count_include_pad=int(a.get("count_include_pad", 0)), pad_value=x.zero_point)
        kind = "max_pool" if n.op == "MaxPool" else "avg_pool"
        self.ops.append(QOp(kind, n.name, [x.name], out.name, params, {}, {}, 0))

    def softmax(self, n: Node) -> None:
        x = self.tensors[n.inputs[0]]
        axis = n.attrs.get("axis", -1) % len(x.shape)
        if axis != len(x.shape) - 1:
            raise self.err(n, f"Softmax over axis {n.attrs.get('axis')} of shape {list(x.shape)} is not supported; "
                              "only the last axis")
        out = self.new_tensor(n.outputs[0], SOFTMAX_SCALE, SOFTMAX_ZP)
        cols = x.shape[-1]
        bits = min(23, 31 - max(1, math.ceil(math.log2(cols + 1))))
        d = np.arange(256, dtype=np.float64)
        lut = np.floor(np.exp(-x.scale * d) * (1 << bits) + 0.5).astype(np.uint32)
        self.ops.append(QOp("softmax", n.name, [x.name], out.name, None, {"exp_lut": lut},
                            {"rows": x.size // cols, "cols": cols}, 0))

    def unary(self, n: Node) -> None:
        x = self.tensors[n.inputs[0]]
        if n.op == "Sigmoid":
            out = self.new_tensor(n.outputs[0], SIGMOID_SCALE, SIGMOID_ZP)
        elif n.op == "Tanh":
            out = self.new_tensor(n.outputs[0], TANH_SCALE, TANH_ZP)
        else:
            out = self.new_tensor(n.outputs[0], *self.calibrated(n.outputs[0], n))
        lut = _lut(_unary_fn(n), x, out)
        self.ops.append(QOp("lut", n.name, [x.name], out.name, None, {"lut": lut}, {"size": x.size}, 0))

    def reshape(self, n: Node) -> None:
        x = self.tensors[n.inputs[0]]
        out = self.new_tensor(n.outputs[0], x.scale, x.zero_point)
        self.ops.append(QOp("reshape", n.name, [x.name], out.name))

    def transpose(self, n: Node) -> None:
        x = self.tensors[n.inputs[0]]
        perm = list(n.attrs["perm"])
        if len(perm) > 4:
            raise self.err(n, f"transposes of rank {len(perm)} are not supported (rank <= 4)")
        k = 4 - len(perm)
        perm4 = list(range(k)) + [p + k for p in perm]
        out = self.new_tensor(n.outputs[0], x.scale, x.zero_point)
        self.ops.append(QOp("transpose", n.name, [x.name], out.name, None, {},
                            {"input_dims": (1,) * k + tuple(x.shape), "perm": tuple(perm4)}, 0))

    def pad(self, n: Node) -> None:
        x = self.tensors[n.inputs[0]]
        pads = list(n.attrs["pads"])
        r = len(x.shape)
        if r > 4:
            raise self.err(n, "Pad on tensors of rank > 4 is not supported")
        before = [0] * (4 - r) + pads[:r]
        out = self.new_tensor(n.outputs[0], x.scale, x.zero_point)
        value = _quantize_value(float(n.attrs.get("value", 0.0)), x)
        self.ops.append(QOp("pad", n.name, [x.name], out.name, None, {},
                            {"input_dims": (1,) * (4 - r) + tuple(x.shape), "pads_before": tuple(before),
                             "output_dims": (1,) * (4 - r) + tuple(out.shape), "pad_value": value}, 0))

    def concat(self, n: Node) -> None:
        ins = []
        for i in n.inputs:
            if self.g.is_const(i):
                raise self.err(n, "Concat with a constant input is not supported")
            ins.append(self.tensors[i])
        out = self.new_tensor(n.outputs[0], *self.calibrated(n.outputs[0], n))
        axis = n.attrs["axis"] % len(out.shape)
        outer = int(np.prod(out.shape[:axis]))
        rescales = []
        for t in ins:
            if t.scale == out.scale and t.zero_point == out.zero_point:
                rescales.append(None)
            else:
                m, s = quantize_multiplier(t.scale / out.scale)
                rescales.append(RescaleParams(-t.zero_point, m, s, out.zero_point))
        inners = [int(np.prod(t.shape[axis:])) for t in ins]
        self.ops.append(QOp("concat", n.name, [t.name for t in ins], out.name, None, {},
                            {"outer": outer, "inners": tuple(inners), "rescales": tuple(rescales)}, 0))

    def lower(self, n: Node) -> None:
        handler = {
            "Conv": self.conv, "FullyConnected": self.fully_connected, "Add": self.binary, "Mul": self.binary,
            "MaxPool": self.pool, "AveragePool": self.pool, "Softmax": self.softmax, "Reshape": self.reshape,
            "Transpose": self.transpose, "Pad": self.pad, "Concat": self.concat,
            "Relu": self.unary, "Clip": self.unary, "LeakyRelu": self.unary, "Sigmoid": self.unary,
            "Tanh": self.unary,
        }.get(n.op)
        if handler is None:
            raise self.err(n, "no int8 lowering for this operator")
        handler(n)


def quantize(graph: Graph, ranges: Ranges, name: str, per_channel: bool = True,
             float_mean: Optional[Callable[[str], Optional[np.ndarray]]] = None,
             weight_bits: Optional[Dict[str, int]] = None, int4_clipping: str = "mse",
             activation_bits: int = 8, rounding: int = ROUND_TFLITE,
             layer_activation_bits: Optional[Dict[str, int]] = None) -> QModel:
    """Lower a passed, NHWC graph to a QModel using calibrated ranges.

    ``float_mean`` enables bias correction: it returns, for a graph tensor, its mean float value
    over the calibration data in the graph's layout (or None when unknown). ``weight_bits`` maps
    Conv/FullyConnected node names to 4 for int4 weights (see precision.py; default int8), whose
    range ``int4_clipping`` ("mse" or "minmax", see int4.py) chooses. ``activation_bits`` 16
    selects int16 activations (the 16x8 scheme, see quantize_s16.py); ``layer_activation_bits``
    ({node name: 8 | 16}) overrides it per layer (see activation_bits.py). ``rounding``
    (fixedpoint.ROUND_*) is the conv / fully-connected requantization rounding: TFLite Micro's
    double rounding, or one half-to-even rounding of the exact product, which reproduces
    onnxruntime's results on a QDQ model (then the multipliers encode its float32 scales).
    """
    if activation_bits == 16 or any(b == 16 for b in (layer_activation_bits or {}).values()):
        from .activation_bits import quantize_mixed  # imports this module
        return quantize_mixed(graph, ranges, name, per_channel, float_mean, weight_bits, int4_clipping, rounding,
                              activation_bits, layer_activation_bits)
    low = _Lowering(graph, ranges, per_channel, float_mean)
    low.weight_bits = dict(weight_bits or {})
    low.int4_clipping = int4_clipping
    low.rounding = rounding
    inp = graph.inputs[0]
    low.new_tensor(inp, *low.calibrated(inp))
    for n in graph.nodes:
        low.lower(n)
    return QModel(name=name, tensors=low.tensors, ops=low.ops, input=inp, output=graph.outputs[0],
                  source=graph.source)
