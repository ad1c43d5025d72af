"""Fixed-point arithmetic shared by the quantizer and the numpy reference.

This module *defines* the integer arithmetic that the C kernels reproduce bit for bit.
It follows the TFLite / CMSIS-NN convention: a real multiplier M is stored as an int32
``multiplier`` in [2^30, 2^31) and a power-of-two ``shift`` (positive = left), and

    requantize(acc) = RoundingDivideByPOT(SRDHM(sat32(acc << left), multiplier), right)

where SRDHM is the saturating rounding doubling high multiply and both roundings are
half-away-from-zero. ``sat32`` saturates the left-shifted accumulator instead of
overflowing (TFLite leaves that case undefined; the C kernels saturate identically).
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1



class MultiplierRangeError(ValueError):
    """A real requantization multiplier that no int32 multiplier + shift can represent."""

def quantize_multiplier(real: float) -> Tuple[int, int]:
    """Return ``(multiplier, shift)`` with real ~= multiplier * 2^(shift - 31).

    ``multiplier`` is 0 or in [2^30, 2^31); ``shift`` is in [-31, 30]. Values too small to
    represent become (0, 0), i.e. the product is zero, as in TFLite.
    """
    if not math.isfinite(real) or real < 0:
        raise MultiplierRangeError(f"requantization multiplier must be finite and >= 0, got {real!r}")
    if real == 0.0:
        return 0, 0
    q, exp = math.frexp(real)  # real = q * 2^exp, q in [0.5, 1)
    q_fixed = int(math.floor(q * (1 << 31) + 0.5))  # round half away (q > 0)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        exp += 1
    if exp < -31:
        return 0, 0
    if exp > 30:
        raise MultiplierRangeError(f"requantization multiplier {real:.3g} is too large (> 2^30)")
    return q_fixed, exp


def quantize_multipliers(reals) -> Tuple[np.ndarray, np.ndarray]:
    """Vector form of :func:`quantize_multiplier`; returns int32 arrays."""
    r = np.asarray(reals, dtype=np.float64).ravel()
    if not (np.all(np.isfinite(r)) and np.all(r >= 0)):
        _raise_first_error(r)
    q, exp = np.frexp(r)
    # The scalar form, element-wise: q * 2^31 + 0.5 is exact in float64 (q < 1 has 53 bits).
    exp = exp.astype(np.int64)
    q_fixed = np.floor(q * float(1 << 31) + 0.5).astype(np.int64)
    carry = q_fixed == (1 << 31)
    q_fixed[carry] //= 2
    exp[carry] += 1
    if np.any(exp > 30):
        _raise_first_error(r)
    zero = (r == 0.0) | (exp < -31)
    q_fixed[zero] = 0
    exp[zero] = 0
    return q_fixed.astype(np.int32), exp.astype(np.int32)


def _raise_first_error(reals: np.ndarray) -> None:
    for v in reals:
        quantize_multiplier(float(v))  # raises the scalar form's error for the first bad value
    raise AssertionError("no value was out of range")


def add_multipliers(scale1: float, scale2: float, scale_out: float, left_shift: int) -> Tuple[int, ...]:
    """TFLite ADD's requantization: each input is shifted left by ``left_shift`` and rescaled to
    twice the larger input scale (multipliers <= 0.5), the sum then to the output scale. Returns
    (multiplier1, shift1, multiplier2, shift2, output multiplier, output shift)."""
    twice_max = 2.0 * max(scale1, scale2)
    m1, s1 = quantize_multiplier(scale1 / twice_max)
    m2, s2 = quantize_multiplier(scale2 / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * scale_out))
    return m1, s1, m2, s2, mo, so


def _trunc_div_pow2(x: np.ndarray, bits: int) -> np.ndarray:
    """Integer division by 2^bits truncating toward zero (C semantics) on int64."""
    neg = x < 0
    q = np.abs(x) >> bits
    return np.where(neg, -q, q)


def srdhm(a: np.ndarray, b) -> np.ndarray:
    """Saturating rounding doubling high multiply of int32 values (gemmlowp/TFLite)."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    ab = np.asarray(a64 * b64)  # an array even for scalar inputs (updated in place below)
    # (ab + nudge) / 2^31 truncated, nudge 2^30 or 1 - 2^30 by sign, is floor((ab + 2^30) / 2^31)
    # for either sign: one add and one shift (the reference's hottest line).
    ab += np.int64(1 << 30)  # in place: ab is a fresh product
    res = np.right_shift(ab, 31, out=ab)
    if not np.any(b64 == INT32_MIN):  # b: the (per-channel) multipliers, a few values
        return res
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), res)


def rounding_divide_by_pot(x: np.ndarray, exponent) -> np.ndarray:
    """Divide by 2^exponent rounding half away from zero (gemmlowp RoundingDivideByPOT)."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    # (x >> e) + (remainder > (mask >> 1) + (x < 0)) in fewer passes: for e >= 1 it is
    # floor((x + 2^(e-1) - (x < 0)) / 2^e), for e == 0 it is x.
    y = x + (mask >> 1)
    y += (x >= 0) & (mask != 0) if not np.all(mask != 0) else (x >= 0)  # mask: per channel, small
    y >>= exponent
    return y


# Rounding modes of conv / fully-connected requantization (``rounding`` in their params).
ROUND_TFLITE = 0      # TFLite Micro / CMSIS-NN: SRDHM then RoundingDivideByPOT (two roundings)
ROUND_HALF_EVEN = 1   # one rounding of the exact product, ties to even: onnxruntime / XNNPACK results


def requantize_half_even(acc, multiplier, shift) -> np.ndarray:
    """``acc * multiplier * 2^(shift-31)`` rounded once, ties to even (int64 out, unclamped).

    With ``multiplier * 2^(shift-31)`` equal to a float32 scale (every float32 in range is exactly
    representable so), this is onnxruntime's ``QLinearConv`` / ``QuantizeLinear`` result
    (``nearbyint(acc * scale)``) without float arithmetic — up to onnxruntime's float32 rounding of
    the product, which can move a value lying within ~2^-18 of a .5 tie (qnnc's is the exact rounding).
    """
    acc = np.asarray(acc, dtype=np.int64)
    # The quantizer's shifts are in [-31, 30]; others clamp there (as the TFLite mode's right shift)
    total = 31 - np.clip(np.asarray(shift, dtype=np.int64), -31, 30)
    prod = acc * np.asarray(multiplier, dtype=np.int64)      # |acc|, |multiplier| < 2^31: fits int64
    q = prod >> total                                        # floor
    rem = prod - (q << total)
    half = np.int64(1) << (total - 1)
    up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    return q + up.astype(np.int64)


def requantize(acc, multiplier, shift, rounding: int = ROUND_TFLITE) -> np.ndarray:
    """Apply an int32 multiplier + shift to int32 accumulators; returns int64 (unclamped).

    ``multiplier``/``shift`` broadcast against ``acc`` (per-channel along the last axis).
    """
    if rounding == ROUND_HALF_EVEN:
        return requantize_half_even(acc, multiplier, shift)
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.minimum(np.maximum(-shift, 0), 31)
    shifted = np.clip(acc << left if left.any() else acc, INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(srdhm(shifted, multiplier), right)


def requantize_offset(acc, multiplier, shift, output_offset: int, rounding: int = ROUND_TFLITE) -> np.ndarray:
    """``requantize(acc, multiplier, shift, rounding) + output_offset`` (unclamped; int64, or int32
    where that holds every value), in fewer passes over the data where the arithmetic allows (the
    reference's hottest lines)."""
    fast = None if rounding != ROUND_TFLITE else _requantize_right_offset(acc, multiplier, shift, output_offset)
    if fast is not None:
        return fast
    out = requantize(acc, multiplier, shift, rounding)
    out += int(output_offset)
    return out


def _requantize_right_offset(acc, multiplier, shift, output_offset: int):
    """The TFLite-mode requantization plus ``output_offset`` for right shifts only (shift in
    [-31, -1]), int32 accumulators and no INT32_MIN multiplier; None otherwise.

    Then nothing saturates, and the two roundings are
    ``x = floor((acc * m + 2^30) / 2^31)`` (SRDHM, either sign) and
    ``floor((x - (x < 0) + 2^(e-1)) / 2^e)`` (RoundingDivideByPOT, e = -shift >= 1); the offset
    joins the second: ``floor((y + offset * 2^e) / 2^e) == floor(y / 2^e) + offset``.
    """
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    acc = np.asarray(acc, dtype=np.int64)
    if acc.size == 0 or np.any(s > -1) or np.any(s < -31) or np.any(m == INT32_MIN):
        return None
    lo, hi = int(acc.min()), int(acc.max())
    if lo < INT32_MIN or hi > INT32_MAX:
        return None
    e = -s
    c = (np.int64(1) << (e - 1)) + (np.int64(output_offset) << e)
    p = acc * m                     # |acc|, |m| <= 2^31: fits int64
    p += np.int64(1 << 30)
    # |x| <= |acc| (m < 2^31): the rest runs in int32 (half the memory traffic) when x - 1 + c fits.
    if max(-lo, hi) + 1 + int(np.max(np.abs(c))) < (1 << 31):
        x = np.right_shift(p, 31, out=np.empty(p.shape, np.int32), casting="unsafe")
        x += x >> 31                # x - (x < 0): ties of negative values away from zero
        x += c.astype(np.int32)
        x >>= e.astype(np.int32)
        return x
    p >>= 31
    p += p >> 63
    p += c
    p >>= e
    return p


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (float in, int64 out)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def quantize_f32(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 exactly as the generated C does it (float32 arithmetic).

    v = x / scale in float32; NaN -> 0; v clamped to [-256, 256]; rounded half away
    from zero by adding +-0.5f in float32 and truncating; + zero point; clamped to int8.
    """
    x = np.asarray(x, dtype=np.float32)
    v = x / np.float32(scale)
    v = np.where(np.isnan(v), np.float32(0.0), v)
    v = np.clip(v, np.float32(-256.0), np.float32(256.0)).astype(np.float32)
    half = np.where(v >= 0, np.float32(0.5), np.float32(-0.5)).astype(np.float32)
    r = np.trunc((v + half).astype(np.float32)).astype(np.int64) + int(zero_point)
    return np.clip(r, -128, 127).astype(np.int8)


def dequantize_s8(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8 -> float32 as the generated C does it: (float)(q - zp) * scale."""
    d = (np.asarray(q, dtype=np.int32) - int(zero_point)).astype(np.float32)
    return (d * np.float32(scale)).astype(np.float32)
