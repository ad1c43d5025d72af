"""The int16 weight layout of the fully connected DSP path (``qnnc_fc_dot4_wide`` in
runtime/src/qnnc_fully_connected_s8_dsp.c), for layers ``plan.wide_weights`` marks.

Rows in blocks of 4, inputs in groups of 4; per block and group 16 int16 values, row r's at
[4r, 4r + 4): w[k0], w[k2], w[k1], w[k3] - the words (w0, w2), (w1, w3) that SMLAD pairs with
the widened input's words (x0, x2), (x1, x3). Blocks follow each other (4 * in_features values).
"""
from __future__ import annotations

import numpy as np


def wide_fc_weights(filt: np.ndarray) -> np.ndarray:
    """The int16 array for an int8 [out_features][in_features] filter (both multiples of 4)."""
    w = np.asarray(filt, dtype=np.int16)
    n, k = w.shape
    if n % 4 or k % 4:
        raise ValueError(f"int16 weights need in_features and out_features multiples of 4, not {w.shape}")
    # [block, row, group, lane] -> [block, group, row, lane], lanes k0, k2, k1, k3
    blocks = w.reshape(n // 4, 4, k // 4, 4)[:, :, :, [0, 2, 1, 3]]
    return np.ascontiguousarray(blocks.transpose(0, 2, 1, 3)).reshape(-1)
