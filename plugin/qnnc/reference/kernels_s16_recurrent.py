"""Bit-exact numpy reference of ``qnnc_lstm_s16`` and ``qnnc_gru_s16`` (ONNX LSTM / GRU with int16
activations, 16x8), plus the C call each op emits (:func:`emit_call`). The scheme is described in
quantize/rules_s16_recurrent.py; the gate arithmetic is kernels_recurrent.py's with these changes
(``requant64`` is the 16x8 requantization ``requantize_s64`` of kernels_s16.py, zero points are 0)::

    pre_x[j] = sat16(requant64(bias_x[j] + sum_k Wq[j,k] x[k], mx[j], sx[j]))      (int64 sums, Q3.12)
    pre_h[j] = sat16(requant64(bias_h[j] + sum_k Rq[j,k] h[k], mh[j], sh[j]))
    LSTM:  h = sat16(requant(o * act(tanh, t), hm, hs))
    GRU:   linear_before_reset=0: rh[k] = sat16(rdiv(r[k] * h[k], 15))
           h = sat16(rdiv(z * h, 15) + requant((32768 - z) * n, hm, hs))
    Y_c:   sat16(requant(c, cm, cshift))
"""
from __future__ import annotations

from typing import List

import numpy as np

from ..kernel_params import RecurrentParams, struct_fields
from ..quantize.fixedpoint import requantize
from . import kernels_recurrent as KRC
from .kernels_recurrent import _rdiv, act16, consts_of, sat16
from .kernels_s16 import requantize_s64

KINDS = ("lstm", "gru")


def _pre(w: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, v: np.ndarray) -> np.ndarray:
    acc = w.astype(np.int64) @ v.astype(np.int64) + bias.astype(np.int64)
    return sat16(requantize_s64(acc, mult, shift))


def direction(kind: str, p: RecurrentParams, c: dict, d: int, x: np.ndarray) -> np.ndarray:
    """One direction ``d`` over int16 x [T, D]: [T, H] (mode 0) or [H] (modes 1, 2), int16 values."""
    H = p.hidden_size
    W, R = c["input_weights"][d], c["recurrent_weights"][d]
    bx, bh = c["input_bias"][d], c["recurrent_bias"][d]
    mx, sx = c["input_multiplier"][d], c["input_shift"][d]
    mh, sh = c["recurrent_multiplier"][d], c["recurrent_shift"][d]
    sig, tanh = c["sigmoid_lut"], c["tanh_lut"]
    h = c["initial_h"][d].astype(np.int64)
    cell = c["initial_c"][d].astype(np.int64) if kind == "lstm" else None
    cs = p.cell_shift
    steps = range(p.time_steps - 1, -1, -1) if p.reverse else range(p.time_steps)
    ys = np.zeros((p.time_steps, H), np.int64)
    for t in steps:
        a = _pre(W, bx, mx, sx, x[t])
        if kind == "lstm":
            pre = sat16(a + _pre(R, bh, mh, sh, h))
            i, o, f = act16(sig, pre[:H]), act16(sig, pre[H:2 * H]), act16(sig, pre[2 * H:3 * H])
            g = act16(tanh, pre[3 * H:])
            cell = sat16(_rdiv(f * cell, 15) + _rdiv(i * g, 30 - cs))
            tin = _rdiv(cell, cs - 12) if cs >= 12 else sat16(cell * (1 << (12 - cs)))
            h = sat16(requantize(o * act16(tanh, tin), p.hidden_multiplier, p.hidden_shift))
        else:
            if p.linear_before_reset:
                b = _pre(R, bh, mh, sh, h)
            else:
                b = _pre(R[:2 * H], bh[:2 * H], mh[:2 * H], sh[:2 * H], h)
            z = act16(sig, sat16(a[:H] + b[:H]))
            r = act16(sig, sat16(a[H:2 * H] + b[H:2 * H]))
            if p.linear_before_reset:
                n_pre = sat16(a[2 * H:] + _rdiv(r * b[2 * H:], 15))
            else:
                rh = sat16(_rdiv(r * h, 15))
                n_pre = sat16(a[2 * H:] + _pre(R[2 * H:], bh[2 * H:], mh[2 * H:], sh[2 * H:], rh))
            n = act16(tanh, n_pre)
            h = sat16(_rdiv(z * h, 15) + requantize((32768 - z) * n, p.hidden_multiplier, p.hidden_shift))
        ys[t] = h
    if p.output_mode == 0:
        return ys
    if p.output_mode == 1:
        return h
    return sat16(requantize(cell, p.cell_out_multiplier, p.cell_out_shift))


def run_op(op, x: np.ndarray, out_shape) -> np.ndarray:
    """The op's int16 output (``out_shape``) from its int16 input sequence ``x``."""
    params: List[RecurrentParams] = op.attrs["directions"]
    consts = consts_of(op)
    x2 = np.asarray(x, np.int64).reshape(params[0].time_steps, params[0].input_size)
    dirs, H = len(params), params[0].hidden_size
    if params[0].output_mode == 0:
        out = np.zeros((params[0].time_steps, dirs, H), np.int64)
        for d, p in enumerate(params):
            out[:, d, :] = direction(op.kind, p, consts, d, x2)
    else:
        out = np.stack([direction(op.kind, p, consts, d, x2) for d, p in enumerate(params)])
    return out.astype(np.int16).reshape(out_shape)


# -- C emission ---------------------------------------------------------------------------------
_CONSTS = ("input_weights", "recurrent_weights", "input_bias", "recurrent_bias", "input_multiplier",
           "input_shift", "recurrent_multiplier", "recurrent_shift", "initial_h", "initial_c")


def emit_call(e, k: str, op, x: str, out: str) -> None:
    """Append the kernel calls of an int16 ``lstm`` / ``gru`` op (one per direction) to the C emitter
    ``e``'s body: as kernels_recurrent.emit_call, with the int16 initial h passed on its own (the
    weights struct's int8 ``initial_h`` is NULL)."""
    c = consts_of(op)
    scratch = f"arena + {e.plan.offset(op.output + '#scratch')}"
    sig, tanh = KRC._lut(e, "sigmoid", c["sigmoid_lut"]), KRC._lut(e, "tanh", c["tanh_lut"])
    for d, p in enumerate(op.attrs["directions"]):
        sym = {key: KRC._array(e, op, f"{k}_d{d}_{key}", key + str(d), c[key][d]) for key in _CONSTS
               if not (key == "initial_c" and op.kind == "gru")}
        init_c = sym.get("initial_c", "NULL")
        w = e.static("qnnc_recurrent_weights", f"{k}_d{d}_weights",
                     f"{{{sym['input_weights']}, {sym['recurrent_weights']}, {sym['input_bias']}, "
                     f"{sym['recurrent_bias']}, {{{sym['input_multiplier']}, {sym['input_shift']}}}, "
                     f"{{{sym['recurrent_multiplier']}, {sym['recurrent_shift']}}}, NULL, "
                     f"{init_c}, {sig}, {tanh}}}")
        prm = e.static("qnnc_recurrent_params", f"{k}_d{d}_params",
                       "{" + ", ".join(str(int(v)) for _, v in struct_fields(p)) + "}")
        offset = d * p.hidden_size
        e.body.append(f"    {op.kernel}({prm}, {w}, {sym['initial_h']}, {x}, {out} + {offset}, {scratch});")
