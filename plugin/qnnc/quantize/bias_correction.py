"""Bias correction's mean output shifts (``quantization.bias_correction``): what a layer with
weights ``eps = dequantized(Wq) - W`` adds, on average, to each output channel when applied to
the layer's mean float input. The lowering subtracts it from the float bias before quantizing."""
from __future__ import annotations

from typing import Tuple

import numpy as np


def conv_mean_shift(m: np.ndarray, eps: np.ndarray, attrs: dict, out_hw: Tuple[int, int]) -> np.ndarray:
    """Spatial mean, per output channel, of ``conv(m, eps)`` (``m``: one NHWC tensor, ``eps``: OIHW).

    The convolution is linear, so the mean output is the weights applied to the mean of each
    kernel tap's input window (zero padding included).
    """
    x = m.reshape(m.shape[-3:]).astype(np.float64)
    t, l, b, r = attrs["pads"]
    xp = np.pad(x, ((t, b), (l, r), (0, 0)))
    cout, _, kh, kw = eps.shape
    sh, sw = attrs["strides"]
    dh, dw = attrs["dilations"]
    oh, ow = out_hw
    depthwise = attrs["group"] != 1
    src = np.arange(cout) // (cout // x.shape[2]) if depthwise else None
    acc = np.zeros(cout)
    for i in range(kh):
        for j in range(kw):
            win = xp[i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw, :]
            pm = win.mean(axis=(0, 1))
            acc += eps[:, 0, i, j] * pm[src] if depthwise else eps[:, :, i, j] @ pm
    return acc


def fc_mean_shift(m: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Mean, per output feature, of ``eps @ x`` over the rows of the mean input ``m``."""
    return eps @ m.reshape(-1, eps.shape[1]).mean(axis=0)


def mean_shift_of(node, out_shape):
    """The mean-shift function (``shift_of(mean_input, eps)``) of a Conv or FullyConnected node."""
    if node.op == "Conv":
        return lambda m, eps: conv_mean_shift(m, eps, node.attrs, tuple(out_shape[1:3]))
    return fc_mean_shift
