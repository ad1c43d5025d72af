"""Bias correction's mean output shifts (``quantization.bias_correction``): what a layer with
weights ``eps = dequantized(Wq) - W`` adds, on average, to each output channel when applied to
the layer's mean float input. The lowering subtracts it from the float bias before quantizing."""
from __future__ import annotations

from typing import Tuple

import numpy as np


def conv_mean_shift(m: np.ndarray, eps: np.ndarray, attrs: dict, out_hw: Tuple[int, int]) -> np.ndarray:
    """Spatial mean, per output channel, of ``conv(m, eps)`` (``m``: one NHWC tensor, ``eps``: OIHW;
    a batch above 1, as tf2onnx's SpaceToBatchND form of a dilated conv runs, is averaged over).

    The convolution is linear, so the mean output is the weights applied to the mean of each
    kernel tap's input window (zero padding included).
    """
    x = m.reshape((-1,) + m.shape[-3:]).astype(np.float64)
    t, l, b, r = attrs["pads"]
    _, h, w, c = x.shape
    xp = np.zeros((h + t + b, w + l + r, c))  # zero padding (pads >= 0: canonicalize refuses others)
    xp[t:t + h, l:l + w] = x.mean(axis=0)  # linear in x: the batch mean's windows are the mean windows
    cout, _, kh, kw = eps.shape
    sh, sw = attrs["strides"]
    dh, dw = attrs["dilations"]
    oh, ow = out_hw
    # Mean input of each tap (i, j) over the output positions, all taps at once: the rows tap row
    # i reads are summed first, then the columns tap column j reads.
    rows = np.arange(kh)[:, None] * dh + np.arange(oh)[None, :] * sh  # (kh, oh)
    cols = np.arange(kw)[:, None] * dw + np.arange(ow)[None, :] * sw  # (kw, ow)
    pm = xp[rows].sum(axis=1)[:, cols].sum(axis=2) / (oh * ow)  # (kh, kw, C)
    if attrs["group"] != 1:  # depthwise: output channel o reads input channel o // multiplier
        src = np.arange(cout) // (cout // c)
        return np.einsum("oij,ijo->o", eps[:, 0], pm[:, :, src])
    return np.einsum("ocij,ijc->o", eps, pm)


def fc_mean_shift(m: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Mean, per output feature, of ``eps @ x`` over the rows of the mean input ``m``."""
    return eps @ m.reshape(-1, eps.shape[1]).mean(axis=0)


def mean_shift_of(node, out_shape):
    """The mean-shift function (``shift_of(mean_input, eps)``) of a Conv or FullyConnected node."""
    if node.op == "Conv":
        return lambda m, eps: conv_mean_shift(m, eps, node.attrs, tuple(out_shape[1:3]))
    return fc_mean_shift
