"""Bit-exact numpy reference of ``qnnc_lstm_s16`` and ``qnnc_gru_s16`` (ONNX LSTM / GRU with int16
activations, 16x8), plus the C call each op emits (:func:`emit_call`). The scheme is described in
quantize/rules_s16_recurrent.py; the arithmetic is kernels_recurrent.py's (run there with
``bits=16``), with these changes (``requant64`` is the 16x8 requantization ``requantize_s64`` of
kernels_s16.py, zero points are 0)::

    pre_x[j] = sat16(requant64(bias_x[j] + sum_k Wq[j,k] x[k], mx[j], sx[j]))      (int64 sums, Q3.12)
    pre_h[j] = sat16(requant64(bias_h[j] + sum_k Rq[j,k] h[k], mh[j], sh[j]))
    LSTM:  h = sat16(requant(o * act(tanh, t), hm, hs))
    GRU:   linear_before_reset=0: rh[k] = sat16(rdiv(r[k] * h[k], 15))
           h = sat16(rdiv(z * h, 15) + requant((32768 - z) * n, hm, hs))
    Y_c:   sat16(requant(c, cm, cshift))
"""
from __future__ import annotations

import numpy as np

from ..kernel_params import RecurrentParams
from . import kernels_recurrent as KRC

KINDS = ("lstm", "gru")


def direction(kind: str, p: RecurrentParams, c: dict, d: int, x: np.ndarray) -> np.ndarray:
    """One direction ``d`` over int16 x [T, D]: [T, H] (mode 0) or [H] (modes 1, 2), int16 values."""
    return KRC.direction(kind, p, c, d, x, bits=16)


def run_op(op, x: np.ndarray, out_shape) -> np.ndarray:
    """The op's int16 output (``out_shape``) from its int16 input sequence ``x``."""
    return KRC.run_recurrent(op, x, out_shape, bits=16)


def emit_call(e, k: str, op, x: str, out: str) -> None:
    """Append the kernel calls of an int16 ``lstm`` / ``gru`` op (one per direction) to the C emitter
    ``e``'s body: kernels_recurrent.emit_call with the int16 initial h passed on its own."""
    KRC.emit_call(e, k, op, x, out, bits=16)
