"""int8 weight quantization: symmetric per output channel (or per tensor), and recovering the
integers of a pre-quantized (QDQ) model's weights. int4 weights: int4.py.

Weight-scale floor (dead channels). Trained models have output channels whose weights are (near)
zero, e.g. 1e-30, but whose bias is not: the channel outputs a constant. Its weight scale
amax / 127 would be ~1e-32 and the bias, quantized with scale s_in * s_w, far beyond int32. As
TFLite's converter does (``AdjustWeightsForBiasScale``: the bias must fall "within the middle half
of the allowable bit range"), such a channel's weight scale is raised to the floor
``|bias| / (s_in * bias_max)`` (``bias_max`` = 2^30 for the int32 bias of int8 layers, 2^39 for the
int64 bias of int16 layers): the quantized bias then has at most half the accumulator's range and
the channel's (near-)zero weights quantize to 0, so its output is the requantized bias, a
constant. Channels whose scale is above the floor are unchanged.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def quantize_weights(w: np.ndarray, per_channel: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights; axis 0 is the output channel. Returns (q, scales[out])."""
    w64 = w.astype(np.float64).reshape(w.shape[0], -1)
    amax = np.abs(w64).max(axis=1) if per_channel else np.full(w.shape[0], np.abs(w64).max())
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.sign(w64) * np.floor(np.abs(w64) / scales[:, None] + 0.5), -127, 127)
    return q.astype(np.int8).reshape(w.shape), scales


def fixed_weight_quantization(W: np.ndarray, candidates) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Recover the integers of dequantized weights ``W`` (axis 0 = output channel).

    Passes may have transposed or permuted the weights, so the match is by value: the first
    scale vector (one per output channel, or one for all) that makes every ``W / scale`` an
    integer in [-127, 127] gives the model's own quantization, with the exact float32 scales
    (so the requantization multipliers equal the ones of the tool that quantized the model).
    """
    w = W.astype(np.float64).reshape(W.shape[0], -1)
    for s in candidates:
        if s.size not in (1, W.shape[0]):
            continue
        sc = np.broadcast_to(s.astype(np.float64), (W.shape[0],))
        r = w / sc[:, None]
        q = np.round(r)
        if np.all(np.abs(r - q) < 1e-3) and np.all(np.abs(q) <= 127):
            return q.astype(np.int8).reshape(W.shape), sc.copy()
    return None


def bias_scale_floor(b: np.ndarray, s_in: float, bias_max: float) -> np.ndarray:
    """Per output channel, the smallest weight scale that keeps ``|b| / (s_in * s_w) <= bias_max``."""
    return np.abs(np.asarray(b, np.float64)) / (float(s_in) * float(bias_max))


def apply_scale_floor(w: np.ndarray, q: np.ndarray, scales: np.ndarray, floor: np.ndarray,
                      qmax: int) -> Tuple[np.ndarray, np.ndarray]:
    """Raise the scales below ``floor`` to it and requantize those channels' weights (symmetric,
    round half away from zero, clipped to [-qmax, qmax]); other channels keep ``q`` and ``scales``."""
    scales = np.asarray(scales, np.float64)
    low = scales < floor
    if not np.any(low):
        return q, scales
    scales = np.where(low, floor, scales)
    rows = w.astype(np.float64).reshape(w.shape[0], -1)[low]
    q = np.array(q, copy=True).reshape(w.shape[0], -1)
    q[low] = np.clip(np.sign(rows) * np.floor(np.abs(rows) / scales[low][:, None] + 0.5), -qmax, qmax)
    return q.reshape(w.shape), scales
