"""int8 weight quantization: symmetric per output channel (or per tensor), and recovering the
integers of a pre-quantized (QDQ) model's weights. int4 weights: int4.py."""
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
