"""Bit-exact numpy reference of the C kernel library (``runtime/src/qnnc_*.c``).

Every function here mirrors one kernel in ``runtime/include/qnnc_kernels.h`` and
produces exactly the same int8 values; ``tests/test_kernels.py`` checks that on random
cases. The requantization arithmetic comes from :mod:`qnnc.fixedpoint`.

Conventions: 4-D activations are NHWC int8 arrays shaped ``(N, H, W, C)`` (N is 1 in
practice, but every function loops over or broadcasts across N); functions return new
int8 arrays and never modify their inputs.

Integer sums are exact, so the summation order is free. Convolutions use a strided
im2col view and a float64 matrix product: every product ``w * (x + offset)`` is at most
``128 * 255`` in magnitude and every partial sum is an integer far below 2^53, so float64
(BLAS) arithmetic is exact here and much faster than numpy's integer dot. When the sum of the
magnitudes of one output's products is below 2^24 (``_exact_dtype``), float32 is exact too, and
twice as fast again.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ..quantize.fixedpoint import INT32_MAX, requantize, requantize_offset
from ..kernel_params import AddParams, ConvParams, FcParams, MulParams, PoolParams, RescaleParams, SoftmaxParams

__all__ = [
    "conv_s8",
    "depthwise_conv_s8",
    "fully_connected_s8",
    "max_pool_s8",
    "avg_pool_s8",
    "add_s8",
    "mul_s8",
    "softmax_s8",
    "lut_s8",
    "transpose_s8",
    "pad_s8",
    "rescale_s8",
]


# ------------------------------------------------------------------ helpers --


def _activation(acc: np.ndarray, multiplier, shift, output_offset: int,
                act_min: int, act_max: int, act_lut: Optional[np.ndarray], rounding: int = 0) -> np.ndarray:
    """requantize (with the layer's rounding mode) + output_offset, clamp to [act_min, act_max],
    optional LUT; int8 out."""
    out = requantize_offset(acc, multiplier, shift, output_offset, rounding)
    np.clip(out, int(act_min), int(act_max), out=out)
    if act_lut is not None:
        lut = np.asarray(act_lut).astype(np.int8, copy=False).reshape(256)
        return lut[out + 128]
    return out.astype(np.int8)


def _windows(x: np.ndarray, fill, out_h: int, out_w: int, kernel_h: int, kernel_w: int,
             stride_h: int, stride_w: int, pad_top: int, pad_left: int,
             dilation_h: int = 1, dilation_w: int = 1) -> np.ndarray:
    """Strided window view of a (N, H, W, C) array: shape (N, OH, OW, KH, KW, C).

    Window (oh, ow) tap (kh, kw) reads input row ``oh*stride_h - pad_top + kh*dilation_h``
    (columns likewise); taps outside the input read ``fill``. The input is first copied
    into a ``fill``-initialized canvas that covers every tap, so any padding (including
    windows reaching past the bottom/right edge, or negative padding) is handled.
    """
    n, h, w, c = x.shape
    # Row range touched by any tap, relative to the input (may extend on both sides).
    lo_h = min(0, -pad_top)
    hi_h = max(h, (out_h - 1) * stride_h - pad_top + (kernel_h - 1) * dilation_h + 1)
    lo_w = min(0, -pad_left)
    hi_w = max(w, (out_w - 1) * stride_w - pad_left + (kernel_w - 1) * dilation_w + 1)
    if (lo_h, hi_h, lo_w, hi_w) == (0, h, 0, w) and pad_top == 0 and pad_left == 0:
        base = x  # every tap inside the input: no canvas to copy it into
    else:
        canvas = np.full((n, hi_h - lo_h, hi_w - lo_w, c), fill, dtype=x.dtype)
        canvas[:, -lo_h:-lo_h + h, -lo_w:-lo_w + w, :] = x
        # First tap of window 0 sits at input row -pad_top, i.e. canvas row -pad_top - lo_h.
        base = canvas[:, -pad_top - lo_h:, -pad_left - lo_w:, :]
    s0, s1, s2, s3 = base.strides
    return np.lib.stride_tricks.as_strided(
        base,
        shape=(n, out_h, out_w, kernel_h, kernel_w, c),
        strides=(s0, s1 * stride_h, s2 * stride_w, s1 * dilation_h, s2 * dilation_w, s3),
        writeable=False,
    )


def _abs_max(a: np.ndarray, offset: int) -> int:
    """Largest |a + offset| (0 for an empty array)."""
    return 0 if a.size == 0 else max(abs(int(a.min()) + int(offset)), abs(int(a.max()) + int(offset)))


def _exact_dtype(x: np.ndarray, offset: int, w: np.ndarray, taps: int):
    """float32 when every partial sum of ``taps`` products ``w * (x + offset)`` is an integer below
    2^24 in magnitude (exactly representable, so any summation order is exact), else float64."""
    if x.size == 0 or w.size == 0:
        return np.float64
    xmax, wmax = _abs_max(x, offset), _abs_max(w, 0)
    return np.float32 if taps * xmax * wmax < (1 << 24) else np.float64


def _dims4(out_dims: Sequence[int]) -> Tuple[int, int, int, int]:
    d = tuple(int(v) for v in out_dims)
    if len(d) != 4:
        raise ValueError(f"expected 4 output dims, got {out_dims!r}")
    return d  # type: ignore[return-value]


# -------------------------------------------------------------- convolutions --


def conv_s8(p: ConvParams, multiplier, shift, x, filt, bias, out_dims) -> np.ndarray:
    """Convolution (group 1), NHWC input, OHWI filter; mirrors ``qnnc_conv_s8``.

    ``acc[oc] = bias[oc] + sum filt[oc,kh,kw,ic] * (x[ih,iw,ic] + input_offset)`` over the
    taps inside the input (padding taps contribute nothing); then
    ``requantize(acc, multiplier[oc], shift[oc]) + output_offset``, clamp to
    ``[act_min, act_max]`` and, if ``act_lut`` is set, ``act_lut[v + 128]``.
    """
    acc = conv_accumulators(p, np.asarray(x, dtype=np.int8), filt, bias, out_dims)
    out = _activation(acc, np.asarray(multiplier, np.int64), np.asarray(shift, np.int64),
                      p.output_offset, p.act_min, p.act_max, p.act_lut, p.rounding)
    n, oh, ow, oc = _dims4(out_dims)
    return out.reshape(n, oh, ow, oc)


def conv_accumulators(p: ConvParams, x: np.ndarray, filt, bias, out_dims) -> np.ndarray:
    """int64 sums ``[n*oh*ow, oc]`` of a group-1 convolution of integer NHWC ``x`` (int8 or int16)
    with an OHWI int8 filter, plus the bias: what every precision's conv accumulates."""
    filt = np.asarray(filt, dtype=np.int8)
    n, oh, ow, oc = _dims4(out_dims)
    o, kh, kw, ic = filt.shape
    if o != oc or x.shape[3] != ic or x.shape[0] != n:
        raise ValueError(f"conv shape mismatch: x {x.shape}, filter {filt.shape}, out {out_dims}")
    # x + input_offset with zeros in the padding == padding taps contribute nothing.
    ft = _exact_dtype(x, p.input_offset, filt, kh * kw * ic)
    xo = x.astype(ft)
    xo += ft(p.input_offset)  # in place: one full-size temporary less
    if (kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left) == (1, 1, 1, 1, 0, 0) and x.shape[1:3] == (oh, ow):
        cols = xo.reshape(n * oh * ow, ic)  # a pointwise conv's columns are its input
    else:
        win = _windows(xo, 0.0, oh, ow, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left,
                       p.dilation_h, p.dilation_w)
        cols = win.reshape(n * oh * ow, kh * kw * ic)  # copies (im2col)
    acc = cols @ filt.reshape(oc, kh * kw * ic).astype(ft).T  # exact, see module doc
    acc = acc.astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64).reshape(1, oc)
    return acc


def depthwise_conv_s8(p: ConvParams, multiplier, shift, x, filt, bias, out_dims) -> np.ndarray:
    """Depthwise convolution; filter shaped (1, KH, KW, OC); mirrors ``qnnc_depthwise_conv_s8``.

    Output channel ``oc`` reads input channel ``oc // depth_multiplier`` with filter
    ``filt[0, :, :, oc]``; the arithmetic is otherwise that of :func:`conv_s8`.
    """
    acc = depthwise_accumulators(p, np.asarray(x, dtype=np.int8), filt, bias, out_dims)
    return _activation(acc, np.asarray(multiplier, np.int64), np.asarray(shift, np.int64),
                       p.output_offset, p.act_min, p.act_max, p.act_lut, p.rounding)


def depthwise_accumulators(p: ConvParams, x: np.ndarray, filt, bias, out_dims) -> np.ndarray:
    """int64 sums ``[n, oh, ow, oc]`` of a depthwise convolution of integer NHWC ``x`` with a
    (1, KH, KW, OC) int8 filter, plus the bias."""
    filt = np.asarray(filt, dtype=np.int8)
    n, oh, ow, oc = _dims4(out_dims)
    _, kh, kw, foc = filt.shape
    dm = int(p.depth_multiplier)
    if foc != oc or x.shape[3] * dm != oc or x.shape[0] != n:
        raise ValueError(f"depthwise shape mismatch: x {x.shape}, filter {filt.shape}, "
                         f"out {out_dims}, depth_multiplier {dm}")
    # int16 products summed in int32 where they fit (int8 inputs: |x + offset| <= 255, |w| <= 128),
    # half the memory traffic of float32; else float sums, exact (see the module doc).
    xmax, wmax = _abs_max(x, p.input_offset), _abs_max(filt, 0)
    small = xmax * wmax <= np.iinfo(np.int16).max and kh * kw * xmax * wmax <= INT32_MAX
    ft = np.int16 if small else _exact_dtype(x, p.input_offset, filt, kh * kw)
    xo = x.astype(ft)
    xo += ft(p.input_offset)  # in place: one full-size temporary less
    if dm != 1:
        xo = np.repeat(xo, dm, axis=3)  # channel oc now holds input channel oc // dm
    win = _windows(xo, 0, oh, ow, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left,
                   p.dilation_h, p.dilation_w)
    # One multiply-add per tap over whole (n, oh, ow, oc) planes: several times faster than einsum
    # on a batch.
    f = filt[0].astype(ft)
    acc = (win[:, :, :, 0, 0, :] * f[0, 0]).astype(np.int32 if small else ft)
    prod = np.empty(acc.shape, ft)
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.multiply(win[:, :, :, i, j, :], f[i, j], out=prod)
                acc += prod
    acc = acc.astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64).reshape(1, 1, 1, oc)
    return acc


def fully_connected_s8(p: FcParams, multiplier, shift, x, w, bias) -> np.ndarray:
    """Fully connected ``[rows, K] x [N, K]^T``; mirrors ``qnnc_fully_connected_s8``.

    ``acc[r, o] = bias[o] + sum_k w[o, k] * (x[r, k] + input_offset)``, then requantize with
    ``multiplier[o]``/``shift[o]``, add ``output_offset``, clamp, optional ``act_lut``.
    """
    acc = fc_accumulators(p, np.asarray(x, dtype=np.int8), w, bias)
    return _activation(acc, np.asarray(multiplier, np.int64), np.asarray(shift, np.int64),
                       p.output_offset, p.act_min, p.act_max, p.act_lut, p.rounding)


def fc_accumulators(p: FcParams, x: np.ndarray, w, bias) -> np.ndarray:
    """int64 sums ``[rows, N]`` of integer ``x [rows, K]`` times int8 ``w [N, K]^T``, plus the bias."""
    w = np.asarray(w, dtype=np.int8)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"fully connected shape mismatch: x {x.shape}, w {w.shape}")
    ft = _exact_dtype(x, p.input_offset, w, w.shape[1])
    xo = x.astype(ft)
    xo += ft(p.input_offset)  # in place: one full-size temporary less
    acc = (xo @ w.astype(ft).T).astype(np.int64)  # exact, see module doc
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64).reshape(1, w.shape[0])
    return acc


# ------------------------------------------------------------------- pooling --


def max_pool_s8(p: PoolParams, x, out_dims) -> np.ndarray:
    """Max pooling; mirrors ``qnnc_max_pool_s8``.

    Window (oh, ow) covers rows ``oh*stride_h - pad_top + [0, kernel_h)`` (columns likewise);
    cells outside the input are ignored. A window with no valid cell yields ``pad_value``.
    The result is clamped to ``[act_min, act_max]``.
    """
    return max_pool(p, x, out_dims, np.int8)


def max_pool(p: PoolParams, x, out_dims, dtype) -> np.ndarray:
    """Max pooling of int8 or int16 ``x`` (the dtype); what ``max_pool_s8`` / ``_s16`` compute."""
    x = np.asarray(x, dtype=dtype)
    n, oh, ow, c = _dims4(out_dims)
    sentinel = -100000  # below any int8/int16 value: marks cells outside the input
    win = _windows(x.astype(np.int32), sentinel, oh, ow, p.kernel_h, p.kernel_w,
                   p.stride_h, p.stride_w, p.pad_top, p.pad_left)
    m = win.max(axis=(3, 4))
    m = np.where(m == sentinel, int(p.pad_value), m)
    return np.clip(m, int(p.act_min), int(p.act_max)).astype(dtype)


def avg_pool_s8(p: PoolParams, x, out_dims) -> np.ndarray:
    """Average pooling; mirrors ``qnnc_avg_pool_s8``.

    ``sum`` = raw int8 values of the valid cells, plus ``pad_value`` for every window cell
    outside the input when ``count_include_pad``; ``count`` = valid cells, or
    ``kernel_h * kernel_w`` with ``count_include_pad``. Result
    ``(sum +- count//2) / count`` truncated toward zero (round half away), or with ``multiplier``
    != 0 ``requantize(sum + count * input_offset) + output_offset``, clamped to
    ``[act_min, act_max]``. A window with count 0 (no valid cell, padding excluded)
    yields ``pad_value`` (clamped) like max pooling.
    """
    return avg_pool(p, x, out_dims, np.int8)


def avg_pool(p: PoolParams, x, out_dims, dtype) -> np.ndarray:
    """Average pooling of int8 or int16 ``x`` (the dtype); what ``avg_pool_s8`` / ``_s16`` compute."""
    x = np.asarray(x, dtype=dtype)
    n, oh, ow, c = _dims4(out_dims)
    kh, kw = int(p.kernel_h), int(p.kernel_w)
    win = _windows(x.astype(np.int64), 0, oh, ow, kh, kw,
                   p.stride_h, p.stride_w, p.pad_top, p.pad_left)
    total = win.sum(axis=(3, 4))
    ones = np.ones((1, x.shape[1], x.shape[2], 1), dtype=np.int64)
    valid = _windows(ones, 0, oh, ow, kh, kw, p.stride_h, p.stride_w,
                     p.pad_top, p.pad_left).sum(axis=(3, 4))  # (1, OH, OW, 1)
    if p.count_include_pad:
        total = total + int(p.pad_value) * (kh * kw - valid)
        count = np.full_like(valid, kh * kw)
    else:
        count = valid
    if p.multiplier:  # its own output scale (the quantizer uses it where every window is full)
        res = requantize(total + count * int(p.input_offset), p.multiplier, p.shift) + int(p.output_offset)
    else:
        safe = np.maximum(count, 1)
        half = safe // 2
        num = np.where(total >= 0, total + half, total - half)
        q = np.abs(num) // safe
        res = np.where(num < 0, -q, q)  # C truncating division
    res = np.where(count == 0, int(p.pad_value), res)
    return np.clip(res, int(p.act_min), int(p.act_max)).astype(dtype)


# --------------------------------------------------------------- elementwise --


def add_s8(p: AddParams, x1, x2, out_dims) -> np.ndarray:
    """Broadcasting add (TFLite ADD arithmetic); mirrors ``qnnc_add_s8``.

    ``a = (x1 + input1_offset) << left_shift`` (likewise ``b``);
    ``r = requantize(a, input1_*) + requantize(b, input2_*)``;
    ``out = clamp(requantize(r, output_*) + output_offset)``. Each input dim equals the
    output dim or 1.
    """
    out_dims = _dims4(out_dims)
    a = (np.asarray(x1, dtype=np.int64) + int(p.input1_offset)) << int(p.left_shift)
    b = (np.asarray(x2, dtype=np.int64) + int(p.input2_offset)) << int(p.left_shift)
    r = (requantize(a, p.input1_multiplier, p.input1_shift)
         + requantize(b, p.input2_multiplier, p.input2_shift))
    r = np.broadcast_to(r, out_dims)
    out = requantize(r, p.output_multiplier, p.output_shift) + int(p.output_offset)
    return np.clip(out, int(p.act_min), int(p.act_max)).astype(np.int8)


def mul_s8(p: MulParams, x1, x2, out_dims) -> np.ndarray:
    """Broadcasting multiply (TFLite MUL arithmetic); mirrors ``qnnc_mul_s8``.

    ``out = clamp(requantize((x1 + input1_offset) * (x2 + input2_offset)) + output_offset)``.
    """
    out_dims = _dims4(out_dims)
    a = np.asarray(x1, dtype=np.int64) + int(p.input1_offset)
    b = np.asarray(x2, dtype=np.int64) + int(p.input2_offset)
    r = np.broadcast_to(a * b, out_dims)
    out = requantize(r, p.output_multiplier, p.output_shift) + int(p.output_offset)
    return np.clip(out, int(p.act_min), int(p.act_max)).astype(np.int8)


def softmax_s8(p: SoftmaxParams, x, exp_lut) -> np.ndarray:
    """Softmax over the last axis of ``[rows, cols]``, output scale ``1 / M`` (``M = p.inv_output_scale``
    >= 256; 256 is TFLite's 1/256), zero point -128; mirrors ``qnnc_softmax_s8``.

    Per row: ``e_i = exp_lut[max - x_i]``, ``sum = sum e_i`` (uint32),
    ``out_i = clamp((e_i * M + sum // 2) // sum - 128, -128, 127)`` in uint32 arithmetic. The generator
    (quantize/rules_s8.softmax_constants) keeps ``exp_lut <= 2^bits`` with
    ``bits = min(23 - k, 31 - ceil(log2(cols + 1)))``, ``k = max(0, ceil(log2(M)) - 8)``: then
    ``e * M <= 2^31`` and ``sum < 2^31``, so nothing wraps.
    A row whose sum is 0 (impossible with a valid table, exp_lut[0] > 0) gives -128.
    """
    x = np.asarray(x, dtype=np.int8)
    lut = np.asarray(exp_lut, dtype=np.int64).reshape(256)
    xi = x.astype(np.int64)
    d = xi.max(axis=-1, keepdims=True) - xi
    e = lut[d]
    s = e.sum(axis=-1, keepdims=True)
    num = (e * int(p.inv_output_scale) + s // 2) & 0xFFFFFFFF  # uint32 wrap, as in C (never wraps in practice)
    q = np.where(s == 0, 0, num // np.maximum(s, 1))
    return np.clip(q - 128, -128, 127).astype(np.int8)


def lut_s8(x, lut) -> np.ndarray:
    """Table look-up ``lut[x + 128]``; mirrors ``qnnc_lut_s8``."""
    x = np.asarray(x, dtype=np.int8)
    table = np.asarray(lut).astype(np.int8, copy=False).reshape(256)
    return table[x.astype(np.int64) + 128]


# -------------------------------------------------------------- data movement --


def transpose_s8(x, perm) -> np.ndarray:
    """4-D transpose: output dim i is input dim ``perm[i]``; mirrors ``qnnc_transpose_s8``."""
    x = np.asarray(x, dtype=np.int8)
    return np.ascontiguousarray(np.transpose(x, [int(v) for v in perm]))


def pad_s8(x, pads_before, out_dims, pad_value: int) -> np.ndarray:
    """Constant padding; mirrors ``qnnc_pad_s8``.

    The output (``out_dims``) is filled with ``pad_value`` and the input copied at offset
    ``pads_before`` (non-negative; the input must fit inside the output).
    """
    x = np.asarray(x, dtype=np.int8)
    out = np.full(_dims4(out_dims), int(pad_value), dtype=np.int8)
    idx = tuple(slice(int(b), int(b) + s) for b, s in zip(pads_before, x.shape))
    out[idx] = x
    return out


def rescale_s8(p: Optional[RescaleParams], x) -> np.ndarray:
    """Re-scale to other quantization parameters (one concat input; ``qnnc_concat_slice_s8``).

    ``None`` copies; otherwise ``clamp(requantize(x + input_offset) + output_offset)`` to int8.
    """
    x = np.asarray(x, dtype=np.int8)
    if p is None:
        return x.copy()
    out = requantize(x.astype(np.int64) + int(p.input_offset), p.multiplier, p.shift)
    return np.clip(out + int(p.output_offset), -128, 127).astype(np.int8)
