"""Bit-exact numpy reference of the int16-activation reductions, ArgMax/ArgMin, LogSoftmax and
LayerNorm (``runtime/src/qnnc_{reduce,arg_max,log_softmax,layer_norm}_s16.c``; rules in
quantize/rules_s16_reduce.py), plus the C call of each (:func:`emit_call`, used by emit/c_emitter.py).

* ``reduce_s16``: sum in int64 then :func:`kernels_s16.requantize_s64` (the 16x8 requantization),
  clamped to int16; max / min return the extreme raw value.
* ``arg_max_s16``: as ``arg_max_s8`` on int16 values; the index output stays int8.
* ``layer_norm_s16``: the arithmetic of ``layer_norm_s8`` (kernels_reduce.py) with input offset 0 and
  an int16 output clamp; n <= 2^15 keeps ``n * sum d^2 - (sum d)^2 + epsilon < 2^62`` and
  ``|c * inv| < 2^62``.
* ``log_softmax_s16`` (last axis, output scale 1/1024, zero point 0), per row, integers only:
  ``d = max - x`` (0..65535); ``e = (lut[d & 255] * lut[256 + (d >> 8)] + 2^29) >> 30`` (Q30, the
  largest entry gives exactly 2^30); ``sum = sum e`` (< 2^46, >= 2^30); ``L = log2(sum / 2^30)`` in
  Q20: ``k`` = leading bit of sum, ``m = sum >> (k - 30)`` in [2^30, 2^31), then 20 times
  ``m = (m * m) >> 30``, a fraction bit 1 (and ``m >>= 1``) when ``m >= 2^31``; ``L = ((k - 30) << 20)
  + fraction``; ``t = d * diff_multiplier + L * log_multiplier`` (Q32 output steps, < 2^63);
  ``out = -min((t + 2^31) >> 32, 32768)``.
"""
from __future__ import annotations

import numpy as np

from ..kernel_params import LayerNormParams, ReduceParams
from . import kernels_reduce as KR
from .kernels_s16 import S16_MAX, S16_MIN, requantize_s64

KINDS = ("reduce", "layer_norm", "arg_max", "top_k", "log_softmax")
LOG2_FRAC = 20


def reduce_s16(p: ReduceParams, x, input_dims, output_dims) -> np.ndarray:
    """Reduction of a 4-D int16 tensor over the axes where ``output_dims`` is 1 and ``input_dims``
    is not; mirrors ``qnnc_reduce_s16``. Returns int16 shaped ``output_dims``."""
    x = np.asarray(x, dtype=np.int16).reshape(tuple(input_dims))
    axes = KR.reduced_axes(input_dims, output_dims)
    extreme = KR.reduce_extreme(p.kind, x, axes)
    if extreme is not None:
        return extreme
    acc = x.astype(np.int64).sum(axis=axes, keepdims=True)
    return np.clip(requantize_s64(acc, p.multiplier, p.shift), S16_MIN, S16_MAX).astype(np.int16)


def arg_max_s16(x, outer: int, n: int, inner: int, is_min: int, select_last: int) -> np.ndarray:
    """Index (int8) of the largest (``is_min``: smallest) int16 value along the middle axis of
    ``[outer, n, inner]``; mirrors ``qnnc_arg_max_s16`` (the same selection as ``arg_max_s8``)."""
    return KR.arg_max(x, outer, n, inner, is_min, select_last, np.int16)


def layer_norm_s16(p: LayerNormParams, x, outer: int, n: int, inner: int, multiplier, shift, bias) -> np.ndarray:
    """LayerNorm over the middle axis of ``[outer, n, inner]`` of int16 values; mirrors
    ``qnnc_layer_norm_s16`` (kernels_reduce.layer_norm, clamped to int16)."""
    return KR.layer_norm(p, x, outer, n, inner, multiplier, shift, bias, np.int16)


def _leading_bit(v: np.ndarray) -> np.ndarray:
    """Position of the highest set bit of positive int64 values below 2^53."""
    k = np.floor(np.log2(np.maximum(v, 1))).astype(np.int64)
    k = np.where((np.int64(1) << (k + 1)) <= v, k + 1, k)     # guard float rounding
    return np.where((np.int64(1) << k) > v, k - 1, k)


def log2_q20(total: np.ndarray) -> np.ndarray:
    """``log2(total / 2^30)`` in Q20 by repeated squaring (``total`` >= 2^30, < 2^62)."""
    total = np.asarray(total, dtype=np.int64)
    k = _leading_bit(total)
    m = total >> (k - 30)
    frac = np.zeros_like(total)
    for _ in range(LOG2_FRAC):
        m = (m * m) >> 30
        top = m >= (np.int64(1) << 31)
        m = np.where(top, m >> 1, m)
        frac = (frac << 1) | top.astype(np.int64)
    return ((k - 30) << LOG2_FRAC) + frac


def log_softmax_s16(x, exp_lut, diff_multiplier: int, log_multiplier: int) -> np.ndarray:
    """LogSoftmax over the last axis of int16 ``[rows, cols]`` (output scale 1/1024, zero point 0);
    mirrors ``qnnc_log_softmax_s16`` (arithmetic in the module docstring)."""
    x = np.asarray(x, dtype=np.int16).astype(np.int64)
    lut = np.asarray(exp_lut, dtype=np.int64).reshape(512)
    d = x.max(axis=-1, keepdims=True) - x
    e = (lut[d & 255] * lut[256 + (d >> 8)] + (np.int64(1) << 29)) >> 30
    L = log2_q20(e.sum(axis=-1, keepdims=True))
    t = d * int(diff_multiplier) + L * int(log_multiplier)
    q = (t + (np.int64(1) << 31)) >> 32
    return (-np.minimum(q, 32768)).astype(np.int16)


def run(op, x: np.ndarray, out_shape) -> np.ndarray:
    """The reference output of an int16 op of :data:`KINDS` (interpreter_s16's dispatch)."""
    a, c = op.attrs, op.consts
    if op.kind == "log_softmax":
        return log_softmax_s16(x.reshape(a["rows"], a["cols"]), c["exp_lut"], a["diff_multiplier"],
                               a["log_multiplier"]).reshape(out_shape)
    if op.kind in KR.REDUCE_KINDS:
        return KR.run_reduce(op, x, out_shape, np.int16, reduce_s16)
    raise NotImplementedError(f"int16 {op.kind}")


def emit_call(e, k: str, op, x: str, out: str) -> None:
    """Append the ``_s16`` kernel call of ``op`` (kinds in KINDS, int16 input) to the emitter ``e``'s body;
    reduce / layer_norm / arg_max take the arguments of their int8 kernels (kernels_reduce.emit_call)."""
    a = op.attrs
    if op.kind == "log_softmax":
        lut = e.const_array(f"{k}_exp_lut", op.consts["exp_lut"])
        e.body.append(f"    {op.kernel}({a['rows']}, {a['cols']}, (int64_t){a['diff_multiplier']}, "
                      f"{a['log_multiplier']}, {lut}, {x}, {out});")
    else:
        KR.emit_call(e, k, op, x, out)
