"""Bit-exact numpy reference of the int16-activation kernels (``runtime/src/qnnc_*_s16.c``).

TFLite's 16x8 scheme, as in CMSIS-NN's ``arm_*_s16`` kernels: int16 activations (symmetric,
zero point 0), int8 per-channel weights, int64 biases and accumulators. Convolutions and fully
connected layers requantize with :func:`requantize_s64` (TFLite's 16-bit reduced multiplier,
rounded half away from zero like every other qnnc requantization). Pooling, add and transpose
follow their int8 counterparts in :mod:`.kernels` on int16 values.

Convolution sums use float64 products: ``|w * (x + offset)| < 2^23`` and the sums stay far
below 2^53, so float64 (BLAS) arithmetic is exact.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..quantize.fixedpoint import requantize
from ..kernel_params import AddParams, ConvParams, FcParams, PoolParams, RescaleParams
from .kernels import _dims4, avg_pool, conv_accumulators, depthwise_accumulators, fc_accumulators, max_pool

S16_MIN, S16_MAX = -32768, 32767


def reduced_multiplier(multiplier) -> np.ndarray:
    """TFLite's 16-bit form of an int32 multiplier: round(m / 2^16), saturated at 0x7FFF."""
    m = np.asarray(multiplier, dtype=np.int64)
    return np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)


def requantize_s64(acc, multiplier, shift) -> np.ndarray:
    """``acc * reduced(multiplier) / 2^(15 - shift)`` rounded half away from zero (int64 in/out).

    Mirrors ``qnnc_requantize_s64``; the quantizer keeps ``|acc| < 2^47`` and shift in [-46, 14].
    """
    acc = np.asarray(acc, dtype=np.int64)
    total = 15 - np.asarray(shift, dtype=np.int64)
    prod = acc * reduced_multiplier(multiplier)
    q = (np.abs(prod) + (np.int64(1) << (total - 1))) >> total
    return np.where(prod < 0, -q, q)


def _out_s16(acc, multiplier, shift, output_offset: int, act_min: int, act_max: int) -> np.ndarray:
    v = requantize_s64(acc, np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)) + int(output_offset)
    return np.clip(v, int(act_min), int(act_max)).astype(np.int16)


def conv_s16(p: ConvParams, multiplier, shift, x, filt, bias, out_dims) -> np.ndarray:
    """Convolution (group 1), NHWC int16 input, OHWI int8 filter, int64 bias; ``qnnc_conv_s16``."""
    acc = conv_accumulators(p, np.asarray(x, dtype=np.int16), filt, bias, out_dims)
    out = _out_s16(acc, multiplier, shift, p.output_offset, p.act_min, p.act_max)
    n, oh, ow, oc = _dims4(out_dims)
    return out.reshape(n, oh, ow, oc)


def depthwise_conv_s16(p: ConvParams, multiplier, shift, x, filt, bias, out_dims) -> np.ndarray:
    """Depthwise convolution, filter (1, KH, KW, OC); ``qnnc_depthwise_conv_s16``."""
    acc = depthwise_accumulators(p, np.asarray(x, dtype=np.int16), filt, bias, out_dims)
    return _out_s16(acc, multiplier, shift, p.output_offset, p.act_min, p.act_max)


def fully_connected_s16(p: FcParams, multiplier, shift, x, w, bias) -> np.ndarray:
    """Fully connected ``[rows, K] x [N, K]^T`` on int16 inputs; ``qnnc_fully_connected_s16``."""
    acc = fc_accumulators(p, np.asarray(x, dtype=np.int16), w, bias)
    return _out_s16(acc, multiplier, shift, p.output_offset, p.act_min, p.act_max)


def max_pool_s16(p: PoolParams, x, out_dims) -> np.ndarray:
    """Max pooling on int16; ``qnnc_max_pool_s16`` (empty windows give ``pad_value``)."""
    return max_pool(p, x, out_dims, np.int16)


def avg_pool_s16(p: PoolParams, x, out_dims) -> np.ndarray:
    """Average pooling on int16 (sum / count rounded half away); ``qnnc_avg_pool_s16``."""
    return avg_pool(p, x, out_dims, np.int16)


def add_s16(p: AddParams, x1, x2, out_dims) -> np.ndarray:
    """Broadcasting int16 add (TFLite int16 ADD, left_shift 15); ``qnnc_add_s16``."""
    out_dims = _dims4(out_dims)
    a = (np.asarray(x1, dtype=np.int64) + int(p.input1_offset)) << int(p.left_shift)
    b = (np.asarray(x2, dtype=np.int64) + int(p.input2_offset)) << int(p.left_shift)
    r = requantize(a, p.input1_multiplier, p.input1_shift) + requantize(b, p.input2_multiplier, p.input2_shift)
    r = np.broadcast_to(r, out_dims)
    out = requantize(r, p.output_multiplier, p.output_shift) + int(p.output_offset)
    return np.clip(out, int(p.act_min), int(p.act_max)).astype(np.int16)


def softmax_s16(x, exp_lut) -> np.ndarray:
    """Softmax over the last axis of int16 ``[rows, cols]``, output scale 1/32768; ``qnnc_softmax_s16``.

    ``d = max - x``; ``e = (lut[d & 255] * lut[256 + (d >> 8)] + 2^14) >> 15``;
    ``out = min((e * 32768 + sum // 2) // sum, 32767)``.
    """
    x = np.asarray(x, dtype=np.int16).astype(np.int64)
    lut = np.asarray(exp_lut, dtype=np.int64).reshape(512)
    d = x.max(axis=-1, keepdims=True) - x
    e = (lut[d & 255] * lut[256 + (d >> 8)] + (1 << 14)) >> 15
    s = e.sum(axis=-1, keepdims=True)
    q = np.where(s == 0, 0, (e * 32768 + s // 2) // np.maximum(s, 1))
    return np.minimum(q, S16_MAX).astype(np.int16)


def transpose_s16(x, perm) -> np.ndarray:
    """4-D transpose of int16 values; ``qnnc_transpose_s16``."""
    return np.ascontiguousarray(np.transpose(np.asarray(x, dtype=np.int16), [int(v) for v in perm]))


def requantize_s8_s16(p: RescaleParams, x) -> np.ndarray:
    """int8 -> int16: ``clamp(requantize(x + input_offset) + output_offset)``; ``qnnc_requantize_s8_s16``."""
    v = requantize(np.asarray(x, dtype=np.int8).astype(np.int64) + int(p.input_offset), p.multiplier, p.shift)
    return np.clip(v + int(p.output_offset), S16_MIN, S16_MAX).astype(np.int16)


def requantize_s16_s8(p: RescaleParams, x) -> np.ndarray:
    """int16 -> int8: ``clamp(requantize(x + input_offset) + output_offset)``; ``qnnc_requantize_s16_s8``."""
    v = requantize(np.asarray(x, dtype=np.int16).astype(np.int64) + int(p.input_offset), p.multiplier, p.shift)
    return np.clip(v + int(p.output_offset), -128, 127).astype(np.int8)


def convert(p: Optional[RescaleParams], x, to_bits: int) -> np.ndarray:
    """A ``requantize`` op: int8 -> int16 (``to_bits`` 16) or int16 -> int8 (``to_bits`` 8)."""
    return requantize_s8_s16(p, x) if to_bits == 16 else requantize_s16_s8(p, x)
