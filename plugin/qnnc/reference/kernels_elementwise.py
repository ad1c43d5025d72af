"""Bit-exact numpy reference of the element-wise kernels PRelu, Max/Min and LogSoftmax
(``runtime/src/qnnc_prelu_s8.c``, ``qnnc_minmax_s8.c``, ``qnnc_log_softmax_s8.c``).

(The unary ops are look-up tables, ``kernels.lut_s8``; Sub is ``kernels.add_s8`` with a negated
input multiplier.)
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..kernel_params import LogSoftmaxParams, MinMaxParams, PreluParams
from ..qmodel import QOp
from ..quantize.fixedpoint import requantize
from ..quantize.unary_functions import LOG2_FRAC_BITS, LOG2_TABLE_BITS, log2_table

KINDS = ("prelu", "minmax", "log_softmax")
_LOG2 = log2_table().astype(np.int64)


def prelu(p: PreluParams, alpha, alpha_multiplier, alpha_shift, x, outer: int, channels: int, inner: int,
          dtype=np.int8) -> np.ndarray:
    """PRelu of ``dtype`` (int8 or int16) values, clamped to ``dtype``; mirrors ``qnnc_prelu_s8`` /
    ``qnnc_prelu_s16``. ``x`` is ``outer * channels * inner`` values, channel ``c`` = (index / inner) %
    channels. With ``v = x + input_offset``: ``v >= 0: requantize(v, identity_*)``, else
    ``requantize(v * alpha[c], alpha_multiplier[c], alpha_shift[c])``; plus output_offset, clamped."""
    v = np.asarray(x, dtype=np.int64).reshape(outer, channels, inner) + int(p.input_offset)
    a = np.asarray(alpha, np.int64).reshape(1, channels, 1)
    m = np.asarray(alpha_multiplier, np.int64).reshape(1, channels, 1)
    s = np.asarray(alpha_shift, np.int64).reshape(1, channels, 1)
    pos = requantize(v, p.identity_multiplier, p.identity_shift)
    neg = requantize(v * a, m, s)
    out = np.where(v >= 0, pos, neg) + int(p.output_offset)
    info = np.iinfo(dtype)
    return np.clip(out, int(info.min), int(info.max)).astype(dtype).reshape(-1)


def prelu_s8(p: PreluParams, alpha, alpha_multiplier, alpha_shift, x, outer: int, channels: int,
             inner: int) -> np.ndarray:
    """:func:`prelu` of int8 values; mirrors ``qnnc_prelu_s8``."""
    return prelu(p, alpha, alpha_multiplier, alpha_shift, x, outer, channels, inner, np.int8)


def minmax(p: MinMaxParams, x1, x2, out_dims, dtype=np.int8) -> np.ndarray:
    """Broadcasting max (``is_max``) or min of ``dtype`` (int8 or int16) values; mirrors
    ``qnnc_minmax_s8`` / ``qnnc_minmax_s16``. Each input is rescaled to the output scale,
    ``r = requantize(x + input_offset, multiplier, shift)``; then max/min of the two, clamped to
    ``[act_min, act_max] - output_offset``, plus ``output_offset``."""
    r1 = requantize(np.asarray(x1, np.int64) + int(p.input1_offset), p.input1_multiplier, p.input1_shift)
    r2 = requantize(np.asarray(x2, np.int64) + int(p.input2_offset), p.input2_multiplier, p.input2_shift)
    r1, r2 = np.broadcast_to(r1, tuple(out_dims)), np.broadcast_to(r2, tuple(out_dims))
    v = np.maximum(r1, r2) if p.is_max else np.minimum(r1, r2)
    v = np.clip(v, int(p.act_min) - int(p.output_offset), int(p.act_max) - int(p.output_offset))
    return (v + int(p.output_offset)).astype(dtype)


def minmax_s8(p: MinMaxParams, x1, x2, out_dims) -> np.ndarray:
    """:func:`minmax` of int8 values; mirrors ``qnnc_minmax_s8``."""
    return minmax(p, x1, x2, out_dims, np.int8)


def log_softmax_s8(p: LogSoftmaxParams, x, exp_lut) -> np.ndarray:
    """LogSoftmax over the last axis of ``[rows, cols]``; mirrors ``qnnc_log_softmax_s8``.

    Per row: ``d_i = max - x_i`` (0..255), ``sum = sum exp_lut[d_i]`` (< 2^31, >= 2^exp_bits).
    ``log2(sum)`` in Q16: ``k`` = the leading bit of sum, the next 8 bits index ``log2_table``:
    ``L = ((k - exp_bits) << 16) + table[idx]`` (>= 0 up to the table's half-bucket rounding; a
    negative L is taken as 0). Then, in int64, ``t = d_i * diff_multiplier +
    ((L * log_multiplier + 2^15) >> 16)`` (Q16 output steps) and
    ``out = max(output_offset - ((t + 2^15) >> 16), -128)``.
    """
    x = np.asarray(x, dtype=np.int8).astype(np.int64)
    lut = np.asarray(exp_lut, dtype=np.int64).reshape(256)
    d = x.max(axis=-1, keepdims=True) - x
    s = lut[d].sum(axis=-1, keepdims=True)
    k = np.floor(np.log2(np.maximum(s, 1))).astype(np.int64)  # leading bit (exact for s < 2^53)
    k = np.where((np.int64(1) << (k + 1)) <= s, k + 1, k)       # guard float rounding
    k = np.where((np.int64(1) << k) > s, k - 1, k)
    tb = LOG2_TABLE_BITS
    idx = np.where(k >= tb, s >> np.maximum(k - tb, 0), s << np.maximum(tb - k, 0)) & ((1 << tb) - 1)
    L = ((k - int(p.exp_bits)) << LOG2_FRAC_BITS) + _LOG2[idx]
    L = np.maximum(L, 0)
    half = np.int64(1) << (LOG2_FRAC_BITS - 1)
    t = d * int(p.diff_multiplier) + ((L * int(p.log_multiplier) + half) >> LOG2_FRAC_BITS)
    out = int(p.output_offset) - ((t + half) >> LOG2_FRAC_BITS)
    return np.clip(out, -128, 127).astype(np.int8)


def run(op: QOp, values: Dict[str, np.ndarray], out_shape) -> np.ndarray:
    """The output of an element-wise op of :data:`KINDS` (the interpreter's dispatch)."""
    x = values[op.inputs[0]]
    c, a = op.consts, op.attrs
    if op.kind == "prelu":
        return prelu_s8(op.params, c["alpha"], c["multiplier"], c["shift"], x, a["outer"], a["channels"],
                        a["inner"]).reshape(out_shape)
    if op.kind == "minmax":
        x2 = c["input2"] if "input2" in c else values[op.inputs[1]]
        return minmax_s8(op.params, x.reshape(a["input1_dims"]), x2.reshape(a["input2_dims"]),
                         a["output_dims"]).reshape(out_shape)
    if op.kind == "log_softmax":
        return log_softmax_s8(op.params, x.reshape(a["rows"], a["cols"]), c["exp_lut"]).reshape(out_shape)
    raise NotImplementedError(op.kind)
