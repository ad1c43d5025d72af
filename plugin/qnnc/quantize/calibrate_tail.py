"""The range of a model output (and of any tensor with few calibration values) extended to the
values unseen inputs will produce beyond the calibration samples (``calibration.method: auto``).

A model output's min-max range is set by a few extreme calibration values, and with a small
calibration set (tens of samples) the inputs met later go beyond it: their outputs clip, and one
clipped value costs more than the rounding error of thousands. The search of ``range_mse_samples``
cannot see this, since no calibration value lies beyond the observed range. So each end's tail is
modelled as exponential (the peaks-over-threshold estimate: the values beyond the
``TAIL_SHARE`` quantile exceed it by ``beta`` on average, and an exponential excess of mean
``beta`` beyond ``c`` has squared error ``2 beta**2 exp(-c / beta)``), and the end moves out to
where the expected clipping error plus the int8 rounding error over the whole range is least.

Measured on the corpus (32 calibration inputs, output SQNR on 256 others): GRU keyword spotting
29.5 -> 36.4 dB, LSTM 30.1 -> 37.9 dB, the tiny transformer 30.9 -> 35.2 dB, SqueezeNet 42.04 ->
42.18 dB; the MobileNetV2/V3 classifiers -0.06 / -0.03 dB (their outputs' tails are lighter than
exponential); the other corpus models unchanged.

Tensors with fewer than ``SMALL_TENSOR_VALUES`` calibration values (model inputs, logits and
hidden layers of tiny networks) are extended the same way, and model outputs are modelled from 16
values on (was 200): on the corpus, TFLM hello world (a scalar input, 32 calibration samples)
21.94 -> 25.97 dB, TFLM micro speech (its 4 logits before the Softmax) 41.39 -> 50.13 dB, the
1-D CNN HAR (6 outputs) 44.88 -> 44.43 dB, person detection 53.98 -> 53.95 dB, the others unchanged.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

TAIL_SHARE = 0.02       # the share of values beyond the threshold that estimates each tail
TAIL_MIN_POINTS = 10    # at least this many values beyond it (else the share grows)
TAIL_MIN_VALUES = 16    # fewer observed values: no estimate, the min-max range stays
# A tensor other than a model output is extended only when it has fewer calibration values than
# this: its min-max over so few values (a scalar input seen 32 times, 4 logits of 32 samples)
# leaves out what unseen inputs reach. Larger tensors keep their range (extending every tensor
# lost up to 1.1 dB on the corpus: MnasNet, MobileNetV3, person detection).
SMALL_TENSOR_VALUES = 200
_GRID = np.linspace(0.0, 1.0, 201)  # the moves tried for each end, in units of the observed span
_LEVELS = 255


def _tail(outward: np.ndarray) -> Tuple[float, float, float]:
    """(threshold, mean excess beta, share of values beyond the threshold) of one end, from the
    values as distances growing outward, sorted from the most extreme."""
    k = max(TAIL_MIN_POINTS, int(len(outward) * TAIL_SHARE))
    u = float(outward[k])
    return u, float(np.mean(outward[:k] - u)), k / len(outward)


def _best_end(tail: Tuple[float, float, float], end: float, far: float, other: float, span: float) -> float:
    """One end of the range as a distance outward (the high end, or minus the low one): the value in
    [end, min(end + span, far)] of least expected error, the int8 rounding error over a range of
    length ``end' + other`` plus the clipping error of the exponential ``tail`` beyond it."""
    u, beta, p = tail
    ends = np.minimum(end + _GRID * span, far)
    err = ((ends + other) / _LEVELS) ** 2 / 12 + p * 2 * beta ** 2 * np.exp(-(ends - u) / beta)
    return float(ends[int(np.argmin(err))])


def range_with_tail(values: np.ndarray, lo: float, hi: float,
                    bounds: Tuple[float, float] = (-math.inf, math.inf)) -> Tuple[float, float]:
    """The range [lo', hi'] ⊇ [lo, hi] of least expected int8 error on values drawn like
    ``values`` (the observed range is [lo, hi]), each end extended at most by the span and kept
    within ``bounds`` (an activation's limits). An end is moved only away from zero (a negative
    low end, a positive high end); [lo, hi] comes back when there are too few values to model."""
    v = np.sort(np.asarray(values, np.float64).reshape(-1))
    if len(v) < TAIL_MIN_VALUES or hi <= lo:
        return lo, hi
    low, high = min(lo, 0.0), max(hi, 0.0)
    span = high - low
    top = _tail(v[::-1]) if hi > 0 and bounds[1] > hi else None
    bottom = _tail(-v) if lo < 0 and bounds[0] < lo else None
    for _ in range(2):  # each end with the other one fixed, twice (coordinate descent)
        if top is not None and top[1] > 0:
            high = _best_end(top, hi, bounds[1], -low, span)
        if bottom is not None and bottom[1] > 0:
            low = -_best_end(bottom, -lo, -bounds[0], high, span)
    return (low if lo < 0 else lo), (high if hi > 0 else hi)
