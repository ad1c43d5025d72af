"""int8 activation rules of the lowering (TFLite's int8 scheme): one function per ONNX op.

Weights: int8 symmetric ([-127, 127]) per output channel (or per tensor); layers the precision
plan puts at 4 bits get int4 weights ([-7, 7], see int4.py) stored packed two per byte and call
the ``_s4`` kernels. Activations: int8 asymmetric per tensor. Bias: int32 with scale
s_in * s_w. Requantization: int32 multiplier + shift (see fixedpoint.py) in the layer's
rounding. Ops whose output equals a rearrangement of their input (views, transposes, pads,
max/avg pools) keep the input's parameters, as TFLite does.

Each rule is ``rule(low, node)``: it reads its inputs from ``low.tensors``, appends its QOps to
``low.ops`` and registers its output tensor (lowering.py).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

import numpy as np

from ..ir import Node
from ..kernel_params import AddParams, FcParams, MulParams, PoolParams, RescaleParams
from ..qmodel import QOp, QTensor
from .bias_correction import mean_shift_of
from .fixedpoint import add_multipliers, quantize_multiplier
from .lowering import Lowering, broadcast_dims4, clamps_at_zero
from .int4 import KERNELS_S4, pack_s4, quantize_weights_s4
from .qparams import INT32_MAX, SOFTMAX_ZP, act_qparams, round_half_away
from .weights import apply_scale_floor, bias_scale_floor
from .rules_movement import merged_transpose
from .rules_reduce import RULES as REDUCE_RULES
from . import unary_functions as UF
from .fixedpoint import quantize_multipliers
from ..kernel_params import LogSoftmaxParams, MinMaxParams, PreluParams, SoftmaxParams


SIGMOID_SCALE, SIGMOID_ZP = 1.0 / 256.0, -128
TANH_SCALE, TANH_ZP = 1.0 / 128.0, 0
ADD_LEFT_SHIFT = 20
# Weight-scale floor: a channel's quantized bias stays within +-2^30, the middle half of int32
# (TFLite's rule; weights.py). Dead channels (weights ~0, bias != 0) then output their bias.
BIAS_MAX = 1 << 30


def quantize_value(x: float, t: QTensor) -> int:
    if math.isinf(x):
        return 127 if x > 0 else -128
    return max(-128, min(127, round_half_away(x / t.scale) + t.zero_point))


def act_bounds(act: dict, out: QTensor) -> Tuple[int, int]:
    if not act or act["kind"] != "clip":
        return -128, 127
    return quantize_value(act["min"], out), quantize_value(act["max"], out)


def make_lut(fn, inp: QTensor, out: QTensor) -> np.ndarray:
    q = np.arange(-128, 128, dtype=np.float64)
    y = fn((q - inp.zero_point) * inp.scale)
    r = np.sign(y) * np.floor(np.abs(y) / out.scale + 0.5) + out.zero_point
    return np.clip(r, -128, 127).astype(np.int8)


def unary_fn(n: Node):
    """The float function of a unary (table) op: quantize/unary_functions.py (KeyError if none)."""
    return UF.float_fn(n.op, n.attrs)


def layer_weights(low: Lowering, n: Node, W: np.ndarray, b: np.ndarray, s_in: float) -> Tuple[np.ndarray, np.ndarray]:
    """The layer's integer weights and scales: int4 ([-7, 7]) when the precision plan says so;
    scales at least the floor that keeps the bias within ``BIAS_MAX`` (dead channels: weights 0)."""
    if low.plan.of(n.name).weight_bits == 4:
        wq, ws = quantize_weights_s4(W, low.per_channel, low.int4_clipping)
        qmax = 7
    else:
        wq, ws = low.weights(W)
        qmax = 127
    return apply_scale_floor(W, wq, ws, bias_scale_floor(b, s_in, BIAS_MAX), qmax)


def pack_int4(low: Lowering, n: Node, op: QOp) -> None:
    """For an int4 layer: store the filter packed two per byte (in the kernel's layout) and
    mark the op so it calls the _s4 kernel."""
    if low.plan.of(n.name).weight_bits == 4:
        op.consts["filter"] = pack_s4(op.consts["filter"])
        op.attrs["weight_bits"] = 4
        op.attrs["kernel"] = KERNELS_S4[op.kind]


def check_accumulator(low: Lowering, n: Node, wq: np.ndarray, bq: np.ndarray, x: QTensor) -> None:
    """Refuse a layer whose int32 accumulator could overflow. The true worst case per output channel
    is ``|bias| + sum |w| * max |x - zero point|`` over the int8 input's range: max |x - zp| is
    ``max(127 - zp, zp + 128)`` (255 at most, for zp = -128)."""
    span = max(127 - int(x.zero_point), int(x.zero_point) + 128)
    sums = np.abs(wq.reshape(wq.shape[0], -1).astype(np.int64)).sum(axis=1)
    worst = sums * span + np.abs(bq.astype(np.int64))
    c = int(np.argmax(worst))
    if worst[c] <= INT32_MAX:
        return
    k = int(np.prod(wq.shape[1:]))
    why = (f"the bias alone is {abs(int(bq[c]))} in units of input scale x weight scale"
           if abs(int(bq[c])) > INT32_MAX // 2 else
           f"the layer sums {k} inputs per output, too many for int8 arithmetic with these weights")
    raise low.err(n, f"output channel {c}: the int32 accumulator could overflow (worst case |bias| "
                     f"{abs(int(bq[c]))} + sum |w| {int(sums[c])} x max |x - zero point| {span} = {int(worst[c])} "
                     f"> 2^31 - 1); {why}")


def quant_bias(low: Lowering, b: np.ndarray, s_in: float, w_scales: np.ndarray) -> np.ndarray:
    """The bias in units of ``s_in * w_scales``, rounded half away from zero, as int64 (not clipped:
    :func:`check_accumulator` refuses values beyond int32 by channel)."""
    q = np.floor(np.abs(b.astype(np.float64)) / (s_in * w_scales) + 0.5) * np.sign(b)
    return np.clip(np.nan_to_num(q), -(1 << 62), 1 << 62).astype(np.int64)


def output_with_activation(low: Lowering, n: Node):
    """Output tensor params and the (act_min, act_max, lut, requant-target) for fused activations."""
    out_name = n.outputs[0]
    out = low.new_tensor(out_name, *low.calibrated(out_name, n))
    act = n.attrs.get("activation")
    if act and act["kind"] in ("leaky_relu", "lut"):
        pre = QTensor(act["pre_act"], out.shape, *low.calibrated(act["pre_act"], n))
        a = act.get("alpha", 0.0)
        fn = (lambda x: np.where(x >= 0, x, a * x)) if act["kind"] == "leaky_relu" else \
            UF.float_fn(act["op"], act["attrs"])
        lut = make_lut(fn, pre, out)
        return out, -128, 127, lut, pre
    lo, hi = act_bounds(act, out)
    return out, lo, hi, None, out


def const_operand(low: Lowering, name: str, reach: Optional[Tuple[float, float]] = None) -> Tuple[np.ndarray, QTensor]:
    """A constant operand quantized over its own range; ``reach``: the interval outside which a
    value of it only drives the op's output past its int8 range (clipped to it first, so an
    attention mask of -1e9 leaves the step of the other operand's values alone)."""
    c = low.g.const(name).astype(np.float64)
    if reach is not None:
        c = np.clip(c, *reach)
    t = QTensor(name, tuple(c.shape), *act_qparams(c.min(), c.max()))
    q = np.clip(np.sign(c) * np.floor(np.abs(c) / t.scale + 0.5) + t.zero_point, -128, 127).astype(np.int8)
    return q, t


def weighted(low: Lowering, n: Node):
    """What Conv and FullyConnected share: input, output and fused activation, int8/int4 weights,
    requantization and the (bias-corrected) int32 bias. Returns (x, out, activation (min, max,
    lut), requantization target, integer weights, constants)."""
    x = low.tensors[n.inputs[0]]
    W, b = low.g.const(n.inputs[1]), low.g.const(n.inputs[2])
    out, act_min, act_max, lut, target = output_with_activation(low, n)
    wq, ws = layer_weights(low, n, W, b, x.scale)
    mult, shift = low.requant(n, x.scale, ws, target.scale)
    b = low.corrected_bias(n, W, b, wq, ws, mean_shift_of(n, out.shape))
    bq = quant_bias(low, b, x.scale, ws)
    check_accumulator(low, n, wq, bq, x)
    return x, out, (act_min, act_max, lut), target, wq, {"bias": bq.astype(np.int32), "multiplier": mult,
                                                         "shift": shift}


def conv(low: Lowering, n: Node) -> None:
    x, out, (act_min, act_max, lut), target, wq, consts = weighted(low, n)
    kind, params, filt, filter_dims, macs = low.conv_layout(
        n, wq, x, out, input_offset=-x.zero_point, output_offset=target.zero_point, act_min=act_min,
        act_max=act_max, act_lut=lut, rounding=low.plan.of(n.name).rounding)
    low.ops.append(QOp(kind, n.name, [x.name], out.name, params, {"filter": filt, **consts},
                       {"filter_dims": filter_dims}, macs))
    pack_int4(low, n, low.ops[-1])


def fully_connected(low: Lowering, n: Node) -> None:
    x, out, (act_min, act_max, lut), target, wq, consts = weighted(low, n)
    rows, (n_out, n_in) = int(np.prod(x.shape[:-1])), wq.shape
    params = FcParams(input_offset=-x.zero_point, output_offset=target.zero_point,
                      act_min=act_min, act_max=act_max, act_lut=lut, rounding=low.plan.of(n.name).rounding)
    low.ops.append(QOp("fully_connected", n.name, [x.name], out.name, params,
                       {"filter": np.ascontiguousarray(wq), **consts},
                       {"rows": rows, "in_features": n_in, "out_features": n_out}, rows * n_out * n_in))
    pack_int4(low, n, low.ops[-1])


def _int8_reach(t: QTensor) -> Tuple[float, float]:
    """The real values an int8 tensor represents, lowest to highest."""
    return (-128 - t.zero_point) * t.scale, (127 - t.zero_point) * t.scale


def _constant_reach(n: Node, a: QTensor, target: QTensor) -> Optional[Tuple[float, float]]:
    """For Add / Sub of the activation ``a`` and a constant: the constant values beyond which the
    result is past the requantization target's range for every value of ``a`` (None for Mul)."""
    (alo, ahi), (olo, ohi) = _int8_reach(a), _int8_reach(target)
    if n.op == "Add":
        return olo - ahi, ohi - alo
    if n.op == "Sub":
        return (olo + alo, ohi + ahi) if n.attrs.get("reversed") else (alo - ohi, ahi - olo)
    return None


def binary(low: Lowering, n: Node) -> None:
    g = low.g
    a = low.tensors[n.inputs[0]]
    out, act_min, act_max, lut, target = output_with_activation(low, n)
    consts = {}
    if g.is_const(n.inputs[1]):
        q, b = const_operand(low, n.inputs[1], _constant_reach(n, a, target))
        consts["input2"] = q
    else:
        b = low.tensors[n.inputs[1]]
    if lut is not None:
        raise low.err(n, "a LeakyRelu fused into Add is not supported")
    out_shape = out.shape
    dims = broadcast_dims4(a.shape, b.shape, out_shape) if max(len(a.shape), len(b.shape)) <= len(out_shape) else None
    if dims is None:
        raise low.err(n, f"broadcasting {list(a.shape)} and {list(b.shape)} to {list(out_shape)} is not supported "
                         "(at most 4 axes once the axes that broadcast alike are merged)")
    if n.op in ("Add", "Sub"):
        m1, s1, m2, s2, mo, so = add_multipliers(a.scale, b.scale, out.scale, ADD_LEFT_SHIFT)
        if n.op == "Sub":  # the add kernel with one input multiplier negated (exact on every path)
            m1, m2 = (-m1, m2) if n.attrs.get("reversed") else (m1, -m2)
        params = AddParams(-a.zero_point, -b.zero_point, m1, s1, m2, s2, ADD_LEFT_SHIFT, mo, so,
                           out.zero_point, act_min, act_max)
        kind = "add"
    else:
        mo, so = quantize_multiplier(a.scale * b.scale / out.scale)
        params = MulParams(-a.zero_point, -b.zero_point, mo, so, out.zero_point, act_min, act_max)
        kind = "mul"

    inputs = [a.name] + ([] if "input2" in consts else [b.name])
    low.ops.append(QOp(kind, n.name, inputs, out.name, params, consts,
                        {"input1_dims": dims[0], "input2_dims": dims[1], "output_dims": dims[2]}, 0))


def pool(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    a = n.attrs
    if a.get("dilations", [1, 1]) != [1, 1]:
        raise low.err(n, "dilated pooling is not supported")
    params = PoolParams(kernel_h=a["kernel"][0], kernel_w=a["kernel"][1], stride_h=a["strides"][0],
                        stride_w=a["strides"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
                        count_include_pad=int(a.get("count_include_pad", 0)), pad_value=x.zero_point)
    scale, zp = x.scale, x.zero_point
    if n.op == "AveragePool" and _full_windows(low, n, params):
        scale, zp = avg_pool_output_qparams(low, n, x)
        if (scale, zp) != (x.scale, x.zero_point):
            mult, shift = quantize_multiplier(x.scale / (params.kernel_h * params.kernel_w * scale))
            params = dataclasses.replace(params, multiplier=mult, shift=shift, input_offset=-x.zero_point,
                                         output_offset=zp)
    out = low.new_tensor(n.outputs[0], scale, zp)
    kind = "max_pool" if n.op == "MaxPool" else "avg_pool"
    low.ops.append(QOp(kind, n.name, [x.name], out.name, params, {}, {}, 0))


def _full_windows(low: Lowering, n: Node, p: PoolParams) -> bool:
    """Whether every window of the pool lies inside its input (no padding, no ceil-mode overhang)."""
    if any(n.attrs["pads"]):
        return False
    _, h, w, _ = low.tensors[n.inputs[0]].shape
    _, oh, ow, _ = low.g.shape(n.outputs[0])
    return (oh - 1) * p.stride_h + p.kernel_h <= h and (ow - 1) * p.stride_w + p.kernel_w <= w


def avg_pool_output_qparams(low: Lowering, n: Node, x: QTensor) -> Tuple[float, int]:
    """int8 (scale, zero point) of an average pool's output whose windows are all full.

    The mean of many values spans a narrower range than they do (a global average pool's output
    often half of its input's or less), so a calibrated output range finer than the input's gets its
    own scale: the kernel then requantizes the window sum once instead of rounding the mean at the
    input's scale, which keeps that extra resolution for the layer after it. A QDQ model's own output
    parameters are followed whatever they are."""
    quant = getattr(low.g, "quant", None)
    if quant is not None:
        return quant.activations.get(low.g.original_name(n.outputs[0]), (x.scale, x.zero_point))
    out_q = low.calibrated(n.outputs[0], n)
    return out_q if out_q[0] < x.scale else (x.scale, x.zero_point)


def softmax_constants(input_scale: float, cols: int, inv_output_scale: int) -> np.ndarray:
    """``exp_lut`` of ``qnnc_softmax_s8``: round(exp(-input_scale * d) * 2^bits), d = 0..255, with
    bits = min(23 - k, 31 - ceil(log2(cols + 1))) and k = max(0, ceil(log2(M)) - 8): e * M <= 2^31 and
    the row sum < 2^31, so e * M + sum / 2 never wraps uint32 (M = 256: the 23-bit table of before)."""
    k = max(0, math.ceil(math.log2(inv_output_scale)) - 8)
    bits = min(23 - k, 31 - max(1, math.ceil(math.log2(cols + 1))))
    d = np.arange(256, dtype=np.float64)
    return np.floor(np.exp(-input_scale * d) * (1 << bits) + 0.5).astype(np.uint32)


def softmax(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    axis = n.attrs.get("axis", -1) % len(x.shape)
    if axis != len(x.shape) - 1:
        raise low.err(n, f"Softmax over axis {n.attrs.get('axis')} of shape {list(x.shape)} is not supported; "
                          "only the last axis")
    m = low.softmax_inv_output_scale(n.outputs[0])
    out = low.new_tensor(n.outputs[0], 1.0 / m, SOFTMAX_ZP)
    cols = x.shape[-1]
    lut = softmax_constants(x.scale, cols, m)
    low.ops.append(QOp("softmax", n.name, [x.name], out.name, SoftmaxParams(m), {"exp_lut": lut},
                        {"rows": x.size // cols, "cols": cols}, 0))


def table_output_qparams(low: Lowering, n: Node) -> Tuple[float, int]:
    """int8 (scale, zero point) of a table op's output. A bounded function (Sigmoid, Tanh,
    HardSigmoid, ...) keeps TFLite's fixed range for its whole output interval, unless the calibrated
    range is at least 10 % finer (a final Sigmoid whose outputs stay within [0.2, 0.8]: the table
    maps any input scale to any output scale, so the narrower range costs nothing but saturation
    outside it, as for every calibrated tensor). QDQ models keep the fixed range."""
    fixed = UF.FIXED_OUTPUT.get(n.op)
    if n.op == "Sign" and getattr(low.g, "quant", None) is None and low.sole_concat_reader(n.outputs[0], n) is None:
        # -1, 0 and 1 exactly, whatever the calibration saw: a comparison's mask (x > c is
        # Relu(Sign(x - c))) must hold the side the calibration data never reached
        return 1.0 / 127.0, 0
    if fixed is None:
        return low.calibrated(n.outputs[0], n)
    if getattr(low.g, "quant", None) is not None:
        return fixed
    cal = low.calibrated(n.outputs[0], n)
    if low.sole_concat_reader(n.outputs[0], n) is not None:
        return cal  # the Concat's own parameters: the value is rounded once (Lowering.sole_concat_reader)
    return cal if cal[0] < 0.9 * fixed[0] else fixed


def unary_output_qparams(low: Lowering, n: Node, x: QTensor) -> Tuple[float, int]:
    """int8 (scale, zero point) of a table op's output. A standalone Relu / ReLU6 of an int8
    tensor takes the input's scale with zero point -128: its outputs are then the input's own
    values (every input code maps to one output code, none clipped), where a calibrated output
    scale (e.g. about half the input's for a Relu of a zero-centred input) rounds each value a second
    time onto an unrelated grid: about 1.2 dB of that layer's SQNR (corpus micro speech, whose
    input goes through a Relu before its Conv). QDQ models keep the scale their QuantizeLinear fixes."""
    name = low.g.original_name(n.outputs[0])
    fixed = getattr(low.g, "quant", None) is not None and name in low.g.quant.activations
    if clamps_at_zero(n) and x.bits == 8 and not fixed:
        return x.scale, -128
    q = table_output_qparams(low, n)
    if fixed or n.op == "Sign" or low.sole_concat_reader(n.outputs[0], n) is not None:
        return q  # (Sign: -1, 0, 1 exactly, table_output_qparams)
    return within_image(q, unary_fn(n), x)


def within_image(q: Tuple[float, int], fn, x: QTensor) -> Tuple[float, int]:
    """``q`` narrowed to the values the table can produce: ``fn`` of the input's 256 codes. An output
    range calibrated on float values can reach beyond them (the input's range clipped a tail the
    output's did not): the corpus U-Net's final Sigmoid, whose input range ends at 0 (MSE) while its
    output's reached sigmoid(0.022); the narrower range costs nothing, no output code is lost."""
    with np.errstate(all="ignore"):
        y = np.asarray(fn((np.arange(-128, 128, dtype=np.float64) - x.zero_point) * x.scale), np.float64)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return q
    s, zp = q
    lo, hi = (-128 - zp) * s, (127 - zp) * s
    lo2, hi2 = max(lo, float(y.min())), min(hi, float(y.max()))
    if hi2 <= lo2:
        return q
    q2 = act_qparams(lo2, hi2)
    return q2 if q2[0] < s * (1.0 - 1e-6) else q


def unary(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    out = low.new_tensor(n.outputs[0], *unary_output_qparams(low, n, x))
    lut = make_lut(unary_fn(n), x, out)
    low.ops.append(QOp("lut", n.name, [x.name], out.name, None, {"lut": lut}, {"size": x.size}, 0))


def reshape(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    out = low.new_tensor(n.outputs[0], x.scale, x.zero_point)
    low.ops.append(QOp("reshape", n.name, [x.name], out.name))


def transpose(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    perm = list(n.attrs["perm"])
    shape = tuple(x.shape)
    if len(perm) > 4:
        shape, perm = merged_transpose(shape, perm)
    if len(perm) > 4:
        raise low.err(n, f"transposes of rank {len(perm)} are not supported (rank <= 4)")
    k = 4 - len(perm)
    perm4 = list(range(k)) + [p + k for p in perm]
    out = low.new_tensor(n.outputs[0], x.scale, x.zero_point)
    low.ops.append(QOp("transpose", n.name, [x.name], out.name, None, {},
                        {"input_dims": (1,) * k + tuple(shape), "perm": tuple(perm4)}, 0))


def pad(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    pads = list(n.attrs["pads"])
    r = len(x.shape)
    if r > 4:
        raise low.err(n, "Pad on tensors of rank > 4 is not supported")
    before = [0] * (4 - r) + pads[:r]
    out = low.new_tensor(n.outputs[0], x.scale, x.zero_point)
    value = quantize_value(float(n.attrs.get("value", 0.0)), x)
    low.ops.append(QOp("pad", n.name, [x.name], out.name, None, {},
                        {"input_dims": (1,) * (4 - r) + tuple(x.shape), "pads_before": tuple(before),
                         "output_dims": (1,) * (4 - r) + tuple(out.shape), "pad_value": value}, 0))


def concat(low: Lowering, n: Node) -> None:
    ins = []
    for i in n.inputs:
        if low.g.is_const(i):
            raise low.err(n, "Concat with a constant input is not supported")
        ins.append(low.tensors[i])
    out = low.new_tensor(n.outputs[0], *low.calibrated(n.outputs[0], n))
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
    low.ops.append(QOp("concat", n.name, [t.name for t in ins], out.name, None, {},
                        {"outer": outer, "inners": tuple(inners), "rescales": tuple(rescales)}, 0))


def prelu_slope(low: Lowering, n: Node, x):
    """(slope values along the axis, axis) of the PRelu ``n`` of ``x`` (int8 or int16 rule): a constant
    slope varying along at most one axis, the last one for a scalar."""
    if not low.g.is_const(n.inputs[1]):
        raise low.err(n, "the slope must be a constant (a PRelu slope computed from the input is not supported)")
    slope, r = low.g.const(n.inputs[1]).astype(np.float64), len(x.shape)
    if slope.ndim > r:
        raise low.err(n, f"the slope has shape {list(slope.shape)}, more dims than the input {list(x.shape)}")
    s = slope.reshape((1,) * (r - slope.ndim) + slope.shape)
    axes = [i for i in range(r) if s.shape[i] != 1]
    if len(axes) > 1:
        raise low.err(n, f"a slope of shape {list(slope.shape)} varies along several axes of the input "
                         f"{list(x.shape)}; only a scalar or a per-channel (one axis) slope is supported")
    axis = axes[0] if axes else r - 1
    return np.broadcast_to(s, tuple(x.shape[i] if i == axis else 1 for i in range(r))).reshape(-1), axis


def prelu(low: Lowering, n: Node) -> None:
    """PRelu with a constant slope varying along one axis (TFLite's scheme, alpha per channel)."""
    x = low.tensors[n.inputs[0]]
    s, axis = prelu_slope(low, n, x)
    out = low.new_tensor(n.outputs[0], *low.calibrated(n.outputs[0], n))
    alpha, alpha_scale = UF.prelu_alpha(s)
    mi, si = quantize_multiplier(x.scale / out.scale)
    ma, sa = quantize_multipliers(x.scale * alpha_scale / out.scale)
    low.ops.append(QOp("prelu", n.name, [x.name], out.name, PreluParams(-x.zero_point, out.zero_point, mi, si),
                       {"alpha": alpha, "multiplier": ma, "shift": sa},
                       {"outer": int(np.prod(x.shape[:axis])), "channels": int(x.shape[axis]),
                        "inner": int(np.prod(x.shape[axis + 1:]))}, 0))


def minmax(low: Lowering, n: Node) -> None:
    """Max / Min of two tensors (or a tensor and a constant), broadcasting (rank <= 4)."""
    a = low.tensors[n.inputs[0]]
    consts = {}
    if low.g.is_const(n.inputs[1]):
        consts["input2"], b = const_operand(low, n.inputs[1])
    else:
        b = low.tensors[n.inputs[1]]
    out = low.new_tensor(n.outputs[0], *low.calibrated(n.outputs[0], n))
    dims = broadcast_dims4(a.shape, b.shape, out.shape) if max(len(a.shape), len(b.shape)) <= len(out.shape) else None
    if dims is None:
        raise low.err(n, f"broadcasting {list(a.shape)} and {list(b.shape)} to {list(out.shape)} is not supported "
                         "(at most 4 axes once the axes that broadcast alike are merged)")
    m1, s1 = quantize_multiplier(a.scale / out.scale)
    m2, s2 = quantize_multiplier(b.scale / out.scale)
    params = MinMaxParams(-a.zero_point, m1, s1, -b.zero_point, m2, s2, out.zero_point, -128, 127,
                          1 if n.op == "Max" else 0)
    inputs = [a.name] + ([] if consts else [b.name])
    low.ops.append(QOp("minmax", n.name, inputs, out.name, params, consts,
                       {"input1_dims": dims[0], "input2_dims": dims[1], "output_dims": dims[2]}, 0))


def log_softmax(low: Lowering, n: Node) -> None:
    """LogSoftmax over the last axis; output scale 16/256, zero point 127 (TFLite's int8 LogSoftmax),
    or a model output's calibrated range (Lowering.log_softmax_output_scale), or a QDQ model's own."""
    x = low.tensors[n.inputs[0]]
    axis = n.attrs.get("axis", -1) % len(x.shape)
    if axis != len(x.shape) - 1:
        raise low.err(n, f"LogSoftmax over axis {n.attrs.get('axis')} of shape {list(x.shape)} is not "
                         "supported; only the last axis")
    fixed = low.qdq_params_through_views(n.outputs[0])  # a QDQ model's QuantizeLinear (after views)
    if fixed is not None:
        scale, zp = fixed
        if math.log(2.0) / scale * 2.0 ** UF.LOG2_FRAC_BITS >= 2.0 ** 31:
            raise low.err(n, f"the model quantizes the LogSoftmax output at scale {scale:.3g}; qnnc's int8 "
                             f"LogSoftmax takes scales from {math.log(2.0) * 2.0 ** (UF.LOG2_FRAC_BITS - 31):.3g} "
                             "on (its log multiplier is an int32)")
    else:
        scale, zp = low.log_softmax_output_scale(n.outputs[0], UF.LOG_SOFTMAX_SCALE, 127 + 128), UF.LOG_SOFTMAX_ZP
    out = low.new_tensor(n.outputs[0], scale, zp)
    cols = x.shape[-1]
    bits, lut, diff, logm = UF.log_softmax_constants(x.scale, cols, out.scale)
    low.ops.append(QOp("log_softmax", n.name, [x.name], out.name,
                       LogSoftmaxParams(bits, diff, logm, out.zero_point), {"exp_lut": lut},
                       {"rows": x.size // cols, "cols": cols}, 0))


def no_rule(low: Lowering, n: Node) -> None:
    raise low.err(n, "no int8 lowering for this operator")


RULES = {
    "Conv": conv, "FullyConnected": fully_connected, "Add": binary, "Mul": binary,
    "MaxPool": pool, "AveragePool": pool, "Softmax": softmax, "Reshape": reshape,
    "Transpose": transpose, "Pad": pad, "Concat": concat,
    "Relu": unary, "Clip": unary, "LeakyRelu": unary, "Sigmoid": unary, "Tanh": unary,
    "Sub": binary, "PRelu": prelu, "Max": minmax, "Min": minmax, "LogSoftmax": log_softmax,
    **{op: unary for op in UF.FUNCTIONS},
}
RULES.update(REDUCE_RULES)  # ReduceMean/Sum/Max/Min, LayerNormalization, ArgMax/ArgMin
