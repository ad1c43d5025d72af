"""Quantization parameters shared by every precision: rounding, activation scale/zero point,
the fixed output parameters of Softmax, and the int32 limit."""
from __future__ import annotations

import math
from typing import Tuple

INT32_MAX = (1 << 31) - 1
SOFTMAX_SCALE, SOFTMAX_ZP = 1.0 / 256.0, -128


def round_half_away(v: float) -> int:
    """Round a float to the nearest integer, ties away from zero (TFLite's ``round``)."""
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def s16_scale(lo: float, hi: float) -> float:
    """Symmetric int16 scale (zero point 0) covering [lo, hi]: max |x| / 32767; 1 for an all-zero range."""
    amax = max(abs(float(lo)), abs(float(hi)))
    return amax / 32767.0 if amax > 1e-30 else 1.0


def act_qparams(lo: float, hi: float) -> Tuple[float, int]:
    """Asymmetric int8 scale and zero point covering [lo, hi] (always including 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo <= 1e-30:
        return 1.0, -128
    scale = (hi - lo) / 255.0
    zp = round_half_away(-128.0 - lo / scale)
    return scale, max(-128, min(127, zp))
