"""The int16 weight layouts of the DSP paths, for layers ``plan.wide_weights`` marks.

Fully connected (``qnnc_fc_dot4_wide`` in runtime/src/qnnc_fully_connected_s8_dsp.c): rows in
blocks of 4, inputs in groups of 4; per block and group 16 int16 values, row r's at [4r, 4r + 4):
w[k0], w[k2], w[k1], w[k3] - the words (w0, w2), (w1, w3) that SMLAD pairs with the widened
input's words (x0, x2), (x1, x3). Blocks follow each other (4 * in_features values).

Conv (``qnnc_conv_s8_paired_wide``, runtime/include/qnnc_dsp_mm2x3.h): the channel-pair layout
of emit/paired_weights.py with each channel's 4 taps of a group in the same order k0, k2, k1, k3.
"""
from __future__ import annotations

import numpy as np

from .paired_weights import paired_conv_weights


def wide_fc_weights(filt: np.ndarray) -> np.ndarray:
    """The int16 array for an int8 [out_features][in_features] filter (both multiples of 4)."""
    w = np.asarray(filt, dtype=np.int16)
    n, k = w.shape
    if n % 4 or k % 4:
        raise ValueError(f"int16 weights need in_features and out_features multiples of 4, not {w.shape}")
    # [block, row, group, lane] -> [block, group, row, lane], lanes k0, k2, k1, k3
    blocks = w.reshape(n // 4, 4, k // 4, 4)[:, :, :, [0, 2, 1, 3]]
    return np.ascontiguousarray(blocks.transpose(0, 2, 1, 3)).reshape(-1)


def wide_paired_conv_weights(filt: np.ndarray) -> np.ndarray:
    """The int16 array for an int8 OHWI filter [out_c][kh][kw][in_c] (the paired layout, widened)."""
    groups = paired_conv_weights(filt).astype(np.int16).reshape(-1, 4)
    return np.ascontiguousarray(groups[:, [0, 2, 1, 3]]).reshape(-1)
