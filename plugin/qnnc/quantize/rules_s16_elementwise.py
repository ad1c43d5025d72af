"""int16 rules of the element-wise and data-movement ops (16x8 scheme, see rules_s16.py).

Add / Sub / Mul of two activations or of an activation and a constant, Max / Min, PRelu, the
standalone Relu / Clip / LeakyRelu (those not fused into the layer before), Pad and Concat.
Every tensor is int16, symmetric, zero point 0:

- a constant operand is quantized to int16 with its own symmetric scale (``amax / 32767``), so
  Add/Sub/Mul/Max/Min by a constant keep int16 precision (rules_s16.input16 refuses constants);
- Add / Sub use ``qnnc_add_s16`` (TFLite's int16 ADD, left shift 15), Sub with one input
  multiplier negated as at int8; Mul multiplies the int16 values in int32 (|x1 * x2| <= 2^30)
  and requantizes once (TFLite's int16 MUL);
- Max / Min rescale both inputs to the output scale, then compare (as ``qnnc_minmax_s8``);
- Relu / Clip are a Max with the lower bound (a one-value constant), clamped to the upper bound,
  at the input's scale: the ``minmax`` kernel with identity rescales, no table (a 65536-entry
  table would not fit);
- PRelu and LeakyRelu use TFLite's PRELU arithmetic (an identity and an alpha requantization,
  int8 slope per channel, exact for a scalar slope) on int16 values;
- Pad keeps the input's scale; Concat rescales each input to the output's calibrated scale.

The reference arithmetic is reference/kernels_s16_elementwise.py, the C kernels
``runtime/src/qnnc_{mul,minmax,prelu,pad,concat_slice}_s16.c``.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..ir import Node
from ..kernel_params import AddParams, MinMaxParams, MulParams, PreluParams, RescaleParams
from ..qmodel import QOp, QTensor
from . import unary_functions as UF
from .fixedpoint import add_multipliers, quantize_multiplier, quantize_multipliers
from .lowering import Lowering, broadcast_dims4
from .qparams import s16_scale
from .rules_s8 import prelu_slope
from .rules_s16 import ADD16_LEFT_SHIFT, S16_MAX, S16_MIN, input16, new16, output16, scale16, value16

_S16 = {"activation_bits": 16}


def const16(low: Lowering, name: str) -> Tuple[np.ndarray, QTensor]:
    """A constant operand as int16 with its own symmetric scale ``amax / 32767`` (rounded half away
    from zero); an all-zero constant gets scale 1."""
    c = low.g.const(name).astype(np.float64)
    amax = float(np.max(np.abs(c))) if c.size else 0.0
    scale = s16_scale(-amax, amax)
    q = np.clip(np.sign(c) * np.floor(np.abs(c) / scale + 0.5), S16_MIN, S16_MAX).astype(np.int16)
    return q, QTensor(name, tuple(c.shape), scale, 0, bits=16)


def _operands(low: Lowering, n: Node):
    """(first input, second input, consts): the second may be a constant (``consts["input2"]``);
    the passes put a constant second (Sub of a constant minus an activation is ``reversed``)."""
    a = input16(low, n, 0)
    if low.g.is_const(n.inputs[1]):
        q, b = const16(low, n.inputs[1])
        return a, b, {"input2": q}
    return a, input16(low, n, 1), {}


def _check_rank(low: Lowering, n: Node, out: QTensor, *ins: QTensor) -> None:
    if any(len(t.shape) > len(out.shape) for t in ins) or \
            broadcast_dims4(ins[0].shape, ins[-1].shape, out.shape) is None:
        raise low.err(n, f"broadcasting to {list(out.shape)} is not supported (at most 4 axes once the axes "
                         "that broadcast alike are merged)")


def broadcast_op(low: Lowering, n: Node, kind: str, params, a: QTensor, b: QTensor, out: QTensor,
                 consts: dict, kernel: str) -> None:
    """Append node ``n``'s int16 op ``kind`` of ``a`` and ``b`` (broadcast to ``out``, rank <= 4; a
    one-value constant ``b`` in ``consts["input2"]``)."""
    inputs = [a.name] + ([] if "input2" in consts else [b.name])
    d1, d2, do = broadcast_dims4(a.shape, b.shape, out.shape)
    low.ops.append(QOp(kind, n.name, inputs, out.name, params, consts,
                       {"input1_dims": d1, "input2_dims": d2, "output_dims": do, "kernel": kernel, **_S16}, 0))


def binary(low: Lowering, n: Node) -> None:
    """Add, Sub (``reversed``: the constant minus the activation) and Mul, broadcasting (rank <= 4)."""
    a, b, consts = _operands(low, n)
    out, act_min, act_max = output16(low, n)
    _check_rank(low, n, out, a, b)
    if n.op in ("Add", "Sub"):
        try:
            m1, s1, m2, s2, mo, so = add_multipliers(a.scale, b.scale, out.scale, ADD16_LEFT_SHIFT)
        except ValueError as e:
            raise low.err(n, str(e)) from None
        if n.op == "Sub":  # the add kernel with one input multiplier negated (as at int8)
            m1, m2 = (-m1, m2) if n.attrs.get("reversed") else (m1, -m2)
        params = AddParams(0, 0, m1, s1, m2, s2, ADD16_LEFT_SHIFT, mo, so, 0, act_min, act_max)
        broadcast_op(low, n, "add", params, a, b, out, consts, "qnnc_add_s16")
    else:
        mo, so = quantize_multiplier(a.scale * b.scale / out.scale)
        broadcast_op(low, n, "mul", MulParams(0, 0, mo, so, 0, act_min, act_max), a, b, out, consts,
                      "qnnc_mul_s16")


def minmax(low: Lowering, n: Node) -> None:
    """Max / Min of two activations or an activation and a constant, broadcasting (rank <= 4)."""
    a, b, consts = _operands(low, n)
    out, act_min, act_max = output16(low, n)
    _check_rank(low, n, out, a, b)
    m1, s1 = quantize_multiplier(a.scale / out.scale)
    m2, s2 = quantize_multiplier(b.scale / out.scale)
    params = MinMaxParams(0, m1, s1, 0, m2, s2, 0, act_min, act_max, 1 if n.op == "Max" else 0)
    broadcast_op(low, n, "minmax", params, a, b, out, consts, "qnnc_minmax_s16")


def clip(low: Lowering, n: Node) -> None:
    """Standalone Relu / Clip: max(x, lo) clamped to [lo, hi] (the ``minmax`` kernel with a one-value
    constant ``lo`` and identity rescales). The output keeps the input's scale, as pads and pools do:
    the kept values are copied exactly (a finer output grid would add a rounding, not precision)."""
    x = input16(low, n)
    out = new16(low, n.outputs[0], x.scale)
    lo_f, hi_f = (0.0, float("inf")) if n.op == "Relu" else (float(n.attrs["min"]), float(n.attrs["max"]))
    lo, hi = value16(low, lo_f, out), value16(low, hi_f, out)
    if lo > hi:
        raise low.err(n, f"Clip with min {lo_f} > max {hi_f} is not supported")
    bound = QTensor(f"{n.name}_lower_bound", (1,), out.scale, 0, bits=16)
    m, s = quantize_multiplier(1.0)  # (2^30, 1): the kernels' identity rescale
    params = MinMaxParams(0, m, s, 0, m, s, 0, lo, hi, 1)
    broadcast_op(low, n, "minmax", params, x, bound, out, {"input2": np.array([lo], np.int16)},
                  "qnnc_minmax_s16")


def _prelu_op(low: Lowering, n: Node, x: QTensor, slope: np.ndarray, outer: int, channels: int,
              inner: int) -> None:
    out = new16(low, n.outputs[0], scale16(low, n.outputs[0], n))
    alpha, alpha_scale = UF.prelu_alpha(slope)
    mi, si = quantize_multiplier(x.scale / out.scale)
    ma, sa = quantize_multipliers(x.scale * alpha_scale / out.scale)
    low.ops.append(QOp("prelu", n.name, [x.name], out.name, PreluParams(0, 0, mi, si),
                       {"alpha": alpha, "multiplier": ma, "shift": sa},
                       {"outer": outer, "channels": channels, "inner": inner, "kernel": "qnnc_prelu_s16",
                        **_S16}, 0))


def leaky_relu(low: Lowering, n: Node) -> None:
    """Standalone LeakyRelu (and PRelu with one slope): PRelu with a single channel."""
    x = input16(low, n)
    _prelu_op(low, n, x, np.array([float(n.attrs.get("alpha", 0.01))]), 1, 1, x.size)


def prelu(low: Lowering, n: Node) -> None:
    """PRelu with a constant slope varying along one axis (as the int8 rule)."""
    x = input16(low, n)
    s, axis = prelu_slope(low, n, x)
    _prelu_op(low, n, x, s, int(np.prod(x.shape[:axis])), int(x.shape[axis]), int(np.prod(x.shape[axis + 1:])))


def pad(low: Lowering, n: Node) -> None:
    """Constant Pad (rank <= 4); the output keeps the input's scale, the value is quantized to it."""
    x = input16(low, n)
    pads, r = list(n.attrs["pads"]), len(x.shape)
    if r > 4:
        raise low.err(n, "Pad on tensors of rank > 4 is not supported")
    out = new16(low, n.outputs[0], x.scale)
    low.ops.append(QOp("pad", n.name, [x.name], out.name, None, {},
                       {"input_dims": (1,) * (4 - r) + tuple(x.shape), "pads_before": tuple([0] * (4 - r) + pads[:r]),
                        "output_dims": (1,) * (4 - r) + tuple(out.shape),
                        "pad_value": value16(low, float(n.attrs.get("value", 0.0)), x),
                        "kernel": "qnnc_pad_s16", **_S16}, 0))


def concat(low: Lowering, n: Node) -> None:
    """Concat on any axis; each input is rescaled to the output's calibrated scale (copied when equal)."""
    ins = []
    for i in n.inputs:
        if low.g.is_const(i):
            raise low.err(n, "Concat with a constant input is not supported")
        ins.append(input16(low, n, n.inputs.index(i)))
    out = new16(low, n.outputs[0], scale16(low, n.outputs[0], n))
    axis = n.attrs["axis"] % len(out.shape)
    rescales = []
    for t in ins:
        if t.scale == out.scale:
            rescales.append(None)
        else:
            m, s = quantize_multiplier(t.scale / out.scale)
            rescales.append(RescaleParams(0, m, s, 0))
    low.ops.append(QOp("concat", n.name, [t.name for t in ins], out.name, None, {},
                       {"outer": int(np.prod(out.shape[:axis])),
                        "inners": tuple(int(np.prod(t.shape[axis:])) for t in ins),
                        "rescales": tuple(rescales), "kernel": "qnnc_concat_slice_s16", **_S16}, 0))


RULES = {
    "Add": binary, "Sub": binary, "Mul": binary, "Max": minmax, "Min": minmax,
    "Relu": clip, "Clip": clip, "LeakyRelu": leaky_relu, "PRelu": prelu, "Pad": pad, "Concat": concat,
}
