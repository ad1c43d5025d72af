"""The channel-pair weight layout of ``qnnc_conv_s8_paired``'s DSP path, for the convolutions
``plan.paired_conv`` marks (the layout qnnc_kernels.h documents at qnnc_conv_s8_paired).

Per pair of output channels (2p, 2p + 1) and group of 4 taps (OHWI order, K padded with zeros
to a multiple of 4): 8 bytes, channel 2p's 4 weights then channel 2p + 1's, so one LDRD loads
both channels' weights for a group. An odd out_c's last pair has a zero second channel.
"""
from __future__ import annotations

import numpy as np


def paired_conv_weights(filt: np.ndarray) -> np.ndarray:
    """The int8 array for an int8 OHWI filter [out_c][kh][kw][in_c]."""
    w = np.asarray(filt, dtype=np.int8)
    out_c = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    kp, oc2 = (k + 3) & ~3, out_c + (out_c & 1)
    rows = np.zeros((oc2, kp), np.int8)
    rows[:out_c, :k] = w.reshape(out_c, k)
    # [pair, channel, group, lane] -> [pair, group, channel, lane]
    return np.ascontiguousarray(rows.reshape(oc2 // 2, 2, kp // 4, 4).transpose(0, 2, 1, 3)).reshape(-1)
