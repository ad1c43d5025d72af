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

from ..fixedpoint import requantize
from ..kernel_params import AddParams, ConvParams, FcParams, PoolParams, RescaleParams
from .kernels import _dims4, _windows

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
    x = np.asarray(x, dtype=np.int16)
    filt = np.asarray(filt, dtype=np.int8)
    n, oh, ow, oc = _dims4(out_dims)
    o, kh, kw, ic = filt.shape
    if o != oc or x.shape[3] != ic or x.shape[0] != n:
        raise ValueError(f"conv shape mismatch: x {x.shape}, filter {filt.shape}, out {out_dims}")
    xo = x.astype(np.float64) + float(p.input_offset)
    win = _windows(xo, 0.0, oh, ow, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left,
                   p.dilation_h, p.dilation_w)
    cols = win.reshape(n * oh * ow, kh * kw * ic)
    acc = (cols @ filt.reshape(oc, kh * kw * ic).astype(np.float64).T).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64).reshape(1, oc)
    out = _out_s16(acc, multiplier, shift, p.output_offset, p.act_min, p.act_max)
    return out.reshape(n, oh, ow, oc)


def depthwise_conv_s16(p: ConvParams, multiplier, shift, x, filt, bias, out_dims) -> np.ndarray:
    """Depthwise convolution, filter (1, KH, KW, OC); ``qnnc_depthwise_conv_s16``."""
    x = np.asarray(x, dtype=np.int16)
    filt = np.asarray(filt, dtype=np.int8)
    n, oh, ow, oc = _dims4(out_dims)
    _, kh, kw, foc = filt.shape
    dm = int(p.depth_multiplier)
    if foc != oc or x.shape[3] * dm != oc or x.shape[0] != n:
        raise ValueError(f"depthwise shape mismatch: x {x.shape}, filter {filt.shape}, out {out_dims}")
    xo = x.astype(np.float64) + float(p.input_offset)
    if dm != 1:
        xo = np.repeat(xo, dm, axis=3)
    win = _windows(xo, 0.0, oh, ow, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left,
                   p.dilation_h, p.dilation_w)
    acc = np.einsum("nhwklc,klc->nhwc", win, filt[0].astype(np.float64), optimize=True).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64).reshape(1, 1, 1, oc)
    return _out_s16(acc, multiplier, shift, p.output_offset, p.act_min, p.act_max)


def fully_connected_s16(p: FcParams, multiplier, shift, x, w, bias) -> np.ndarray:
    """Fully connected ``[rows, K] x [N, K]^T`` on int16 inputs; ``qnnc_fully_connected_s16``."""
    x = np.asarray(x, dtype=np.int16)
    w = np.asarray(w, dtype=np.int8)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"fully connected shape mismatch: x {x.shape}, w {w.shape}")
    xo = x.astype(np.float64) + float(p.input_offset)
    acc = (xo @ w.astype(np.float64).T).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64).reshape(1, w.shape[0])
    return _out_s16(acc, multiplier, shift, p.output_offset, p.act_min, p.act_max)


def max_pool_s16(p: PoolParams, x, out_dims) -> np.ndarray:
    """Max pooling on int16; ``qnnc_max_pool_s16`` (empty windows give ``pad_value``)."""
    x = np.asarray(x, dtype=np.int16)
    n, oh, ow, c = _dims4(out_dims)
    sentinel = -100000  # below any int16 value: marks cells outside the input
    win = _windows(x.astype(np.int32), sentinel, oh, ow, p.kernel_h, p.kernel_w,
                   p.stride_h, p.stride_w, p.pad_top, p.pad_left)
    m = win.max(axis=(3, 4))
    m = np.where(m == sentinel, int(p.pad_value), m)
    return np.clip(m, int(p.act_min), int(p.act_max)).astype(np.int16)


def avg_pool_s16(p: PoolParams, x, out_dims) -> np.ndarray:
    """Average pooling on int16 (sum / count rounded half away); ``qnnc_avg_pool_s16``."""
    x = np.asarray(x, dtype=np.int16)
    n, oh, ow, c = _dims4(out_dims)
    kh, kw = int(p.kernel_h), int(p.kernel_w)
    win = _windows(x.astype(np.int64), 0, oh, ow, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left)
    total = win.sum(axis=(3, 4))
    ones = np.ones((1, x.shape[1], x.shape[2], 1), dtype=np.int64)
    valid = _windows(ones, 0, oh, ow, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left).sum(axis=(3, 4))
    if p.count_include_pad:
        total = total + int(p.pad_value) * (kh * kw - valid)
        count = np.full_like(valid, kh * kw)
    else:
        count = valid
    safe = np.maximum(count, 1)
    half = safe // 2
    num = np.where(total >= 0, total + half, total - half)
    q = np.abs(num) // safe
    res = np.where(num < 0, -q, q)
    res = np.where(count == 0, int(p.pad_value), res)
    return np.clip(res, int(p.act_min), int(p.act_max)).astype(np.int16)


def add_s16(p: AddParams, x1, x2, out_dims) -> np.ndarray:
    """Broadcasting int16 add (TFLite int16 ADD, left_shift 15); ``qnnc_add_s16``."""
    out_dims = _dims4(out_dims)
    a = (np.asarray(x1, dtype=np.int64) + int(p.input1_offset)) << int(p.left_shift)
    b = (np.asarray(x2, dtype=np.int64) + int(p.input2_offset)) << int(p.left_shift)
    r = requantize(a, p.input1_multiplier, p.input1_shift) + requantize(b, p.input2_multiplier, p.input2_shift)
    r = np.broadcast_to(r, out_dims)
    out = requantize(r, p.output_multiplier, p.output_shift) + int(p.output_offset)
    return np.clip(out, int(p.act_min), int(p.act_max)).astype(np.int16)


def softmax_exp_lut(input_scale: float) -> np.ndarray:
    """The 512-entry table of ``qnnc_softmax_s16``: exp(-s*i) and exp(-s*256*j), times 2^15."""
    i = np.arange(256, dtype=np.float64)
    lo = np.floor(np.exp(-input_scale * i) * (1 << 15) + 0.5)
    hi = np.floor(np.exp(-input_scale * 256.0 * i) * (1 << 15) + 0.5)
    return np.concatenate([lo, hi]).astype(np.uint32)


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
