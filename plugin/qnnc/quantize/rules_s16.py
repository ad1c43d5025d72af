"""int16 activations with int8 weights (TFLite's 16x8 scheme): float Graph -> :class:`QModel`.

``quantization.activation_bits: 16``. Activations are int16, symmetric, zero point 0, scale
``amax / 32767`` of the calibrated range; weights int8 symmetric per channel (as for int8);
biases int64 with scale ``s_in * s_w``; conv/FC requantization uses TFLite's 16-bit reduced
multiplier on the int64 accumulator (see reference/kernels_s16.py). Softmax outputs scale
1/32768 as in TFLite.

These are the int16 rules of the lowering (lowering.py), one function per ONNX op; the
lowering converts inputs of the other precision with ``requantize`` ops. The model API stays int8: the generated
``<name>_run`` takes and returns int8 (asymmetric, calibrated like an int8 model's input and
output), one op converts the input to int16 first and one converts the result back to int8 last.
So ``<name>_run``/``_run_f32``, test data, self-tests and every host tool keep working unchanged;
the int16 precision applies to every layer in between.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from ..ir import Node
from ..kernel_params import FcParams, PoolParams
from ..qmodel import QOp, QTensor
from .bias_correction import mean_shift_of
from .lowering import Lowering
from .qparams import round_half_away, s16_scale
from .rules_movement import merged_transpose
from .weights import apply_scale_floor, bias_scale_floor, quantize_weights


S16_MIN, S16_MAX = -32768, 32767
SOFTMAX16_SCALE = 1.0 / 32768.0
ADD16_LEFT_SHIFT = 15
ACC_LIMIT = 1 << 47          # |int64 accumulator| bound of the 16x8 requantization (as in TFLite)
BIAS_LIMIT = (1 << 40) - 1   # keeps bias + products far inside ACC_LIMIT
BIAS_MAX = 1 << 39           # weight-scale floor: the bias stays within half of BIAS_LIMIT (weights.py)
SUPPORTED = "the ops `qnnc ops` marks int16"


def softmax_exp_lut(input_scale: float) -> np.ndarray:
    """The 512-entry table of ``qnnc_softmax_s16``: exp(-s*i) and exp(-s*256*j), times 2^15."""
    i = np.arange(256, dtype=np.float64)
    lo = np.floor(np.exp(-input_scale * i) * (1 << 15) + 0.5)
    hi = np.floor(np.exp(-input_scale * 256.0 * i) * (1 << 15) + 0.5)
    return np.concatenate([lo, hi]).astype(np.uint32)


def scale16(low: Lowering, name: str, n: Node = None) -> float:
    """Symmetric int16 scale of a tensor's calibrated range (the int8 checks run first)."""
    low.calibrated(name, n)  # raises the clear errors for missing or non-finite ranges
    original = low.g.original_name(name)
    if original not in low.ranges and n is not None and n.attrs.get("derived_range") and name in n.outputs:
        from .unary_functions import node_derived_range  # a tensor a pass made (Sum, Max ... chains)
        return s16_scale(*node_derived_range(low, n))
    return s16_scale(*low.ranges[original])


def new16(low: Lowering, name: str, scale: float) -> QTensor:
    t = QTensor(name, tuple(low.g.shape(name)), float(scale), 0, bits=16)
    low.tensors[name] = t
    return t


def input16(low: Lowering, n: Node, i: int = 0) -> QTensor:
    name = n.inputs[i]
    if low.g.is_const(name):
        raise low.err(n, "a constant operand is not supported with int16 activations "
                          "(quantization.activation_bits: 16)")
    return low.tensors[name]


def value16(low: Lowering, x: float, t: QTensor) -> int:
    if math.isinf(x):
        return S16_MAX if x > 0 else S16_MIN
    return max(S16_MIN, min(S16_MAX, round_half_away(x / t.scale)))


def output16(low: Lowering, n: Node) -> Tuple[QTensor, int, int]:
    """Output tensor and clamp bounds of a fused Relu/Clip."""
    out = new16(low, n.outputs[0], scale16(low, n.outputs[0], n))
    act = n.attrs.get("activation")
    if act and act["kind"] != "clip":
        raise low.err(n, f"a fused {act['kind']} is not supported with int16 activations "
                          "(quantization.activation_bits: 16); only Relu/Clip")
    if not act:
        return out, S16_MIN, S16_MAX
    return out, value16(low, act["min"], out), value16(low, act["max"], out)


def requant16(low: Lowering, n: Node, s_in: float, w_scales: np.ndarray, s_out: float):
    """Per-channel multipliers with shifts in [-46, 14] (the 16x8 requantization's range)."""
    mult, shift = low.requant(n, s_in, w_scales, s_out)
    tiny = shift < -46  # the product rounds to 0 anyway
    mult, shift = np.where(tiny, 0, mult).astype(np.int32), np.where(tiny, 0, shift).astype(np.int32)
    if shift.max(initial=0) > 14:
        raise low.err(n, f"requantization multiplier too large for the 16x8 scheme (2^{int(shift.max())})")
    return mult, shift


def bias64(low: Lowering, b: np.ndarray, s_in: float, w_scales: np.ndarray) -> np.ndarray:
    """The bias in units of ``s_in * w_scales`` (rounded half away from zero), as int64, not clipped:
    :func:`check_acc64` refuses values beyond ``BIAS_LIMIT`` by channel."""
    q = np.floor(np.abs(b.astype(np.float64)) / (s_in * w_scales) + 0.5) * np.sign(b)
    return np.clip(np.nan_to_num(q), -(1 << 62), 1 << 62).astype(np.int64)


def check_acc64(low: Lowering, n: Node, wq: np.ndarray, bq: np.ndarray) -> None:
    """Refuse a layer whose int64 accumulator could leave the 16x8 requantization's range: per output
    channel the true worst case ``|bias| + sum |w| * 32768`` (int16 activations, zero point 0) must stay
    below 2^47, and the bias within ``BIAS_LIMIT``."""
    sums = np.abs(wq.reshape(wq.shape[0], -1).astype(np.int64)).sum(axis=1)
    worst = sums * 32768 + np.abs(bq)
    big_bias = np.flatnonzero(np.abs(bq) > BIAS_LIMIT)
    if big_bias.size:
        c = int(big_bias[0])
        raise low.err(n, f"output channel {c}: the int64 bias would be {int(bq[c])} in units of input scale x "
                         f"weight scale, beyond the 16x8 scheme's limit 2^40 - 1")
    c = int(np.argmax(worst))
    if worst[c] >= ACC_LIMIT:
        raise low.err(n, f"output channel {c}: the int64 accumulator could exceed 2^47, the limit of the 16x8 "
                         f"requantization (worst case |bias| {abs(int(bq[c]))} + sum |w| {int(sums[c])} x max |x| "
                         f"32768 = {int(worst[c])}); the layer sums {int(np.prod(wq.shape[1:]))} inputs per output, "
                         "too many for int16 arithmetic with these weights")


def int8_weights(low: Lowering, n: Node, W: np.ndarray, b: np.ndarray, s_in: float):
    """int8 weights and scales, scales at least the floor that keeps the bias within ``BIAS_MAX``."""
    if low.plan.of(n.name).weight_bits != 8:
        raise low.err(n, "int4 weights with int16 activations are not supported; use weight_bits: 8 for "
                          "this layer or activation_bits: 8")
    wq, ws = quantize_weights(W, low.per_channel)
    return apply_scale_floor(W, wq, ws, bias_scale_floor(b, s_in, BIAS_MAX), 127)


def weighted(low: Lowering, n: Node):
    """What Conv and FullyConnected share at int16: input, output and its clamp, int8 weights,
    the 16x8 requantization and the (bias-corrected) int64 bias. Returns (x, out, clamp, integer
    weights, constants)."""
    x = input16(low, n)
    W, b = low.g.const(n.inputs[1]), low.g.const(n.inputs[2])
    out, act_min, act_max = output16(low, n)
    wq, ws = int8_weights(low, n, W, b, x.scale)
    mult, shift = requant16(low, n, x.scale, ws, out.scale)
    b = low.corrected_bias(n, W, b, wq, ws, mean_shift_of(n, out.shape))
    bq = bias64(low, b, x.scale, ws)
    check_acc64(low, n, wq, bq)
    return x, out, (act_min, act_max), wq, {"bias": bq, "multiplier": mult, "shift": shift}


def conv(low: Lowering, n: Node) -> None:
    x, out, (act_min, act_max), wq, consts = weighted(low, n)
    kind, params, filt, filter_dims, macs = low.conv_layout(
        n, wq, x, out, input_offset=0, output_offset=0, act_min=act_min, act_max=act_max, act_lut=None)
    low.ops.append(QOp(kind, n.name, [x.name], out.name, params, {"filter": filt, **consts},
                       {"filter_dims": filter_dims, "kernel": f"qnnc_{kind}_s16", "activation_bits": 16}, macs))


def fully_connected(low: Lowering, n: Node) -> None:
    x, out, (act_min, act_max), wq, consts = weighted(low, n)
    rows, (n_out, n_in) = int(np.prod(x.shape[:-1])), wq.shape
    params = FcParams(input_offset=0, output_offset=0, act_min=act_min, act_max=act_max, act_lut=None)
    low.ops.append(QOp("fully_connected", n.name, [x.name], out.name, params,
                       {"filter": np.ascontiguousarray(wq), **consts},
                       {"rows": rows, "in_features": n_in, "out_features": n_out,
                        "kernel": "qnnc_fully_connected_s16", "activation_bits": 16}, rows * n_out * n_in))


def pool(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    out = new16(low, n.outputs[0], x.scale)
    a = n.attrs
    if a.get("dilations", [1, 1]) != [1, 1]:
        raise low.err(n, "dilated pooling is not supported")
    if n.op == "AveragePool" and a["kernel"][0] * a["kernel"][1] > 65535:
        raise low.err(n, "int16 average pooling over more than 65535 cells could overflow its int32 sum")
    params = PoolParams(kernel_h=a["kernel"][0], kernel_w=a["kernel"][1], stride_h=a["strides"][0],
                        stride_w=a["strides"][1], pad_top=a["pads"][0], pad_left=a["pads"][1],
                        count_include_pad=int(a.get("count_include_pad", 0)), pad_value=0,
                        act_min=S16_MIN, act_max=S16_MAX)
    kind = "max_pool" if n.op == "MaxPool" else "avg_pool"
    low.ops.append(QOp(kind, n.name, [x.name], out.name, params, {},
                        {"kernel": f"qnnc_{kind}_s16", "activation_bits": 16}, 0))


def last_axis_cols(low: Lowering, n: Node, x: QTensor, op: str, what: str) -> int:
    """The class count of the int16 (Log)Softmax ``n`` over the last axis of ``x``; refused over another
    axis or more than 65535 classes (``op`` / ``what`` name it in the two messages)."""
    axis = n.attrs.get("axis", -1) % len(x.shape)
    if axis != len(x.shape) - 1:
        raise low.err(n, f"{op} over axis {n.attrs.get('axis')} of shape {list(x.shape)} is not supported; "
                          "only the last axis")
    cols = x.shape[-1]
    if cols >= 1 << 16:
        raise low.err(n, f"int16 {what} over {cols} classes is not supported (at most 65535)")
    return cols


def softmax(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    cols = last_axis_cols(low, n, x, "Softmax", "softmax")
    out = new16(low, n.outputs[0], SOFTMAX16_SCALE)
    low.ops.append(QOp("softmax", n.name, [x.name], out.name, None, {"exp_lut": softmax_exp_lut(x.scale)},
                        {"rows": x.size // cols, "cols": cols, "kernel": "qnnc_softmax_s16",
                         "activation_bits": 16}, 0))


def reshape(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    out = new16(low, n.outputs[0], x.scale)
    low.ops.append(QOp("reshape", n.name, [x.name], out.name, None, {}, {"activation_bits": 16}))


def transpose(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    perm = list(n.attrs["perm"])
    shape = tuple(x.shape)
    if len(perm) > 4:  # size-1 axes dropped, axes that stay neighbours merged (as the int8 rule)
        shape, perm = merged_transpose(shape, perm)
    if len(perm) > 4:
        raise low.err(n, f"transposes of rank {len(perm)} are not supported (rank <= 4)")
    k = 4 - len(perm)
    out = new16(low, n.outputs[0], x.scale)
    low.ops.append(QOp("transpose", n.name, [x.name], out.name, None, {},
                        {"input_dims": (1,) * k + tuple(shape),
                         "perm": tuple(list(range(k)) + [p + k for p in perm]),
                         "kernel": "qnnc_transpose_s16", "activation_bits": 16}, 0))


def keep_at_8_bits(n: Node) -> str:
    """The override that keeps node ``n`` at 8 bits inside an int16 plan, for an error message."""
    return f"keep it at 8 bits (quantization.overrides: [{{match: '{n.name}', activation_bits: 8}}])"


def no_rule(low: Lowering, n: Node) -> None:
    raise low.err(n, f"no int16 lowering for {n.op} (quantization.activation_bits: 16); {keep_at_8_bits(n)} "
                      "or use ops of: " + SUPPORTED)


RULES = {
    "Conv": conv, "FullyConnected": fully_connected,
    "MaxPool": pool, "AveragePool": pool, "Softmax": softmax, "Reshape": reshape,
    "Transpose": transpose,
}
