"""int4 weights: symmetric quantization to [-7, 7] and packing two weights per byte.

Packing follows CMSIS-NN's ``arm_*_s4`` kernels: the weights are flattened in the kernel's
layout (OHWI, [kh][kw][out_ch] or [out][in]) and weight ``i`` goes into byte ``i // 2``, low
nibble first; an odd count leaves the last high nibble 0. The reference unpacks the same
bytes (:func:`qnnc.reference.kernels_s4.unpack_s4`), so packing is covered by the
bit-exactness tests.

Clipping: ``minmax`` uses scale = amax / 7. ``mse`` (the default) searches, per output channel
(or per tensor), the clipping range ``alpha * amax`` (alpha in [0.30, 1.00]) whose int4
quantization has the least squared error on the weights: with only 15 levels, clipping a few
outliers buys a much finer step for all other weights.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

QMAX = 7
# The kernel an int4 layer calls, by op kind (set as the op's attrs["kernel"]).
KERNELS_S4 = {
    "conv": "qnnc_conv_s4",
    "depthwise_conv": "qnnc_depthwise_conv_s4",
    "fully_connected": "qnnc_fully_connected_s4",
}
CLIP_METHODS = ("mse", "minmax")
_ALPHAS = np.linspace(0.30, 1.0, 71)


def _quant(w: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Round half away from zero of ``w / scales`` (rows), clipped to [-7, 7]."""
    return np.clip(np.sign(w) * np.floor(np.abs(w) / scales[:, None] + 0.5), -QMAX, QMAX)


def _mse_scales(rows: np.ndarray, amax: np.ndarray) -> np.ndarray:
    """Per row, the scale ``alpha * amax / 7`` with the least squared quantization error."""
    best = np.where(amax > 0, amax / QMAX, 1.0)
    best_err = np.full(rows.shape[0], np.inf)
    for a in _ALPHAS:  # ascending; ties keep the smaller clip range found first
        s = np.where(amax > 0, a * amax / QMAX, 1.0)
        err = ((_quant(rows, s) * s[:, None] - rows) ** 2).sum(axis=1)
        better = err < best_err
        best = np.where(better, s, best)
        best_err = np.where(better, err, best_err)
    return best


def quantize_weights_s4(w: np.ndarray, per_channel: bool, clip: str = "mse") -> Tuple[np.ndarray, np.ndarray]:
    """Symmetric int4 weights in [-7, 7]; axis 0 is the output channel.

    Returns (q as int8 with w's shape, scales[out]). ``clip`` is ``mse`` or ``minmax``.
    """
    if clip not in CLIP_METHODS:
        raise ValueError(f"unknown int4 clipping {clip!r}; expected one of {CLIP_METHODS}")
    w64 = w.astype(np.float64).reshape(w.shape[0], -1)
    if per_channel:
        rows = w64
        amax = np.abs(w64).max(axis=1)
    else:
        rows = w64.reshape(1, -1)
        amax = np.array([np.abs(w64).max()])
    if clip == "mse":
        scales = _mse_scales(rows, amax)
    else:
        scales = np.where(amax > 0, amax / QMAX, 1.0)
    if not per_channel:
        scales = np.full(w.shape[0], scales[0])
    q = _quant(w64, scales)
    return q.astype(np.int8).reshape(w.shape), scales


def pack_s4(q: np.ndarray) -> np.ndarray:
    """Flatten int4 values (C order) and pack two per byte, low nibble first; int8 array of
    ``ceil(n / 2)`` bytes (an odd count is padded with a 0 high nibble)."""
    flat = np.asarray(q, dtype=np.int8).reshape(-1)
    if flat.size and (flat.min() < -8 or flat.max() > 7):
        raise ValueError("int4 values must lie in [-8, 7]")
    nib = (flat.astype(np.int16) & 0x0F).astype(np.uint8)
    if nib.size % 2:
        nib = np.concatenate([nib, np.zeros(1, np.uint8)])
    packed = nib[0::2] | (nib[1::2] << 4)
    return packed.astype(np.uint8).view(np.int8)
