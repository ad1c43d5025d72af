"""Bit-exact numpy reference of ``qnnc_lstm_s8`` and ``qnnc_gru_s8`` (ONNX LSTM / GRU), plus the C
call each op emits (:func:`emit_call`, used by emit/c_emitter.py). The scheme (scales, formats) is
described in quantize/rules_recurrent.py; this module defines the integer arithmetic.

Notation: ``requant(acc, m, s)`` is TFLite's multiplier + shift (quantize/fixedpoint.py),
``rdiv(v, k)`` divides by 2^k rounding half away from zero, ``sat16`` / ``sat8`` clamp to int16 /
int8, ``act(lut, v)`` the 513-entry int16 table with linear interpolation (TFLite's int16 LUT):
``u = v + 32768``, ``base = lut[u >> 7]``, ``act = base + (((lut[(u >> 7) + 1] - base) * (u & 127) + 64) >> 7)``
(the tables are non-decreasing, so the shifted value is never negative).

One direction, per time step (all rows of a gate block at once; ``zh`` the zero point of h)::

    pre_x[j] = sat16(requant(bias_x[j] + sum_k Wq[j,k] x[k],   mx[j], sx[j]))      (Q3.12)
    pre_h[j] = sat16(requant(bias_h[j] + sum_k Rq[j,k] h[k],   mh[j], sh[j]))      (Q3.12)

LSTM (gate blocks i, o, f, c of ``hidden`` rows each, ONNX order; cell ``c`` int16 at 2^-cs)::

    i, o, f = act(sigmoid, sat16(pre_x + pre_h)) ;  g = act(tanh, sat16(pre_x + pre_h))  (Q0.15)
    c = sat16(rdiv(f * c, 15) + rdiv(i * g, 30 - cs))
    t = rdiv(c, cs - 12) if cs >= 12 else sat16(c * 2^(12 - cs))                     (Q3.12)
    h = sat8(requant(o * act(tanh, t), hm, hs) + zh)                                (o * tanh: Q0.30)

GRU (blocks z, r, n)::

    z, r = act(sigmoid, sat16(pre_x + pre_h))
    linear_before_reset=1: n_pre = sat16(pre_x_n + rdiv(r * pre_h_n, 15))
    linear_before_reset=0: rh[k] = sat8(rdiv(r[k] * (h[k] - zh), 15) + zh);
                           n_pre = sat16(pre_x_n + sat16(requant(bias_h_n + sum Rq_n rh, mh, sh)))
    n = act(tanh, n_pre)
    h = sat8(zh + rdiv(z * (h - zh), 15) + requant((32768 - z) * n, hm, hs))

Outputs: mode 0 writes every step's h (``output + t * output_stride``), mode 1 the last h, mode 2
(LSTM) the last cell state as int8: ``sat8(requant(c, cm, cshift) + c_offset)``.

The int16-activation kernels (``qnnc_{lstm,gru}_s16``, kernels_s16_recurrent.py) run this same
arithmetic with ``bits=16``: the 16x8 requantization of the gate sums, ``sat16`` for ``h`` and Y_c,
and zero points 0 (their params hold ``hidden_offset = cell_out_offset = 0``).
"""
from __future__ import annotations

from typing import List

import numpy as np

from ..kernel_params import RecurrentParams, struct_fields
from ..quantize.fixedpoint import requantize, requantize_offset, rounding_divide_by_pot
from .kernels_s16 import requantize_s64

RECURRENT_KINDS = ("lstm", "gru")
LUT_SIZE = 513
GATES = {"lstm": 4, "gru": 3}


def sat16(v):
    return np.clip(v, -32768, 32767).astype(np.int64)


def sat8(v):
    return np.clip(v, -128, 127).astype(np.int64)


def act16(lut: np.ndarray, v: np.ndarray) -> np.ndarray:
    """TFLite's int16 LUT: 513 entries, linear interpolation between them (int16 in and out)."""
    u = np.asarray(v, np.int64) + 32768
    idx = u >> 7
    base = lut[idx].astype(np.int64)
    slope = lut[idx + 1].astype(np.int64) - base
    return base + ((slope * (u & 127) + 64) >> 7)


class _Side:
    """One side's (input or recurrent) gate weights as every step uses them: transposed to float64,
    whose BLAS product is exact here (int8 weights times int8/int16 values are integers below 2^22,
    their sums below 2^53), with the bias, multipliers and shifts as int64."""

    def __init__(self, w: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray):
        self.wt = np.asarray(w, np.float64).T
        self.bias = np.asarray(bias, np.int64)
        self.mult = np.asarray(mult, np.int64)
        self.shift = np.asarray(shift, np.int64)

    def gates(self, lo: int, hi: int) -> "_Side":
        """The rows of gates ``lo:hi`` (in units of rows)."""
        return _Side(self.wt.T[lo:hi], self.bias[lo:hi], self.mult[lo:hi], self.shift[lo:hi])


def _pre(side: _Side, v: np.ndarray, bits: int = 8) -> np.ndarray:
    """One side's gate pre-activations in Q3.12 of v [K] or of each row of v [N, K]; int16 inputs
    use the 16x8 requantization (``requantize_s64``), int8 inputs TFLite's 32-bit one."""
    acc = (np.asarray(v, np.float64) @ side.wt).astype(np.int64)  # exact: see _Side
    acc += side.bias
    if bits == 16:
        return sat16(requantize_s64(acc, side.mult, side.shift))
    return sat16(requantize_offset(acc, side.mult, side.shift, 0))


def _rdiv(v, k: int):
    return rounding_divide_by_pot(np.asarray(v, np.int64), k)


def direction(kind: str, p: RecurrentParams, c: dict, d: int, x: np.ndarray, bits: int = 8) -> np.ndarray:
    """One direction ``d`` over x [T, D] of ``bits``-bit activations (8 or 16): [T, H] (mode 0) or
    [H] (modes 1, 2), values of that width. x [B, T, D] runs B sequences at once (each exactly as
    alone: the arithmetic is per row), giving [B, T, H] or [B, H]."""
    single = np.ndim(x) == 2
    xb = np.asarray(x, np.int64)[None] if single else np.asarray(x, np.int64)
    B = xb.shape[0]
    sat = sat16 if bits == 16 else sat8
    H = p.hidden_size
    side_x = _Side(c["input_weights"][d], c["input_bias"][d], c["input_multiplier"][d], c["input_shift"][d])
    side_h = _Side(c["recurrent_weights"][d], c["recurrent_bias"][d], c["recurrent_multiplier"][d],
                   c["recurrent_shift"][d])
    sig, tanh = c["sigmoid_lut"], c["tanh_lut"]
    zh = p.hidden_offset
    h = np.repeat(c["initial_h"][d].astype(np.int64)[None], B, axis=0)
    cell = np.repeat(c["initial_c"][d].astype(np.int64)[None], B, axis=0) if kind == "lstm" else None
    cs = p.cell_shift
    steps = range(p.time_steps - 1, -1, -1) if p.reverse else range(p.time_steps)
    # the input side of every step at once (it does not depend on h): [B, T, gates * H]
    pre_x = _pre(side_x, xb.reshape(B * p.time_steps, -1), bits).reshape(B, p.time_steps, -1)
    if kind != "lstm" and not p.linear_before_reset:  # the GRU's z, r rows and n rows run apart
        side_zr, side_n = side_h.gates(0, 2 * H), side_h.gates(2 * H, 3 * H)
    ys = np.zeros((B, p.time_steps, H), np.int64)
    for t in steps:
        a = pre_x[:, t]
        if kind == "lstm":
            pre = sat16(a + _pre(side_h, h, bits))
            i, o, f = act16(sig, pre[:, :H]), act16(sig, pre[:, H:2 * H]), act16(sig, pre[:, 2 * H:3 * H])
            g = act16(tanh, pre[:, 3 * H:])
            cell = sat16(_rdiv(f * cell, 15) + _rdiv(i * g, 30 - cs))
            tin = _rdiv(cell, cs - 12) if cs >= 12 else sat16(cell * (1 << (12 - cs)))
            h = sat(requantize(o * act16(tanh, tin), p.hidden_multiplier, p.hidden_shift) + zh)
        else:
            if p.linear_before_reset:
                b = _pre(side_h, h, bits)
            else:
                b = _pre(side_zr, h, bits)
            z = act16(sig, sat16(a[:, :H] + b[:, :H]))
            r = act16(sig, sat16(a[:, H:2 * H] + b[:, H:2 * H]))
            if p.linear_before_reset:
                n_pre = sat16(a[:, 2 * H:] + _rdiv(r * b[:, 2 * H:], 15))
            else:
                rh = sat(_rdiv(r * (h - zh), 15) + zh)
                n_pre = sat16(a[:, 2 * H:] + _pre(side_n, rh, bits))
            n = act16(tanh, n_pre)
            h = sat(zh + _rdiv(z * (h - zh), 15)
                    + requantize((32768 - z) * n, p.hidden_multiplier, p.hidden_shift))
        ys[:, t] = h
    if p.output_mode == 0:
        out = ys
    elif p.output_mode == 1:
        out = h
    else:
        out = sat(requantize(cell, p.cell_out_multiplier, p.cell_out_shift) + p.cell_out_offset)
    return out[0] if single else out


def consts_of(op) -> dict:
    """The constants of ``op``: its own, or those of the node's first op (``attrs["weights_of"]``)."""
    return op.attrs["weights_of"].consts if "weights_of" in op.attrs else op.consts


def run_recurrent(op, x: np.ndarray, out_shape, bits: int = 8) -> np.ndarray:
    """The op's output (``out_shape``) from its input sequence ``x``, both int8 (``bits=8``) or
    int16 (``bits=16``)."""
    return run_recurrent_batch(op, np.asarray(x)[None], 1, out_shape, bits)[0]


def run_recurrent_batch(op, x: np.ndarray, b: int, out_shape, bits: int = 8) -> np.ndarray:
    """:func:`run_recurrent` of ``b`` samples at once: x (b, *input shape) -> (b, *out_shape), each
    sample's result what it gives alone (the interpreter's batched runs: calibration judging)."""
    params: List[RecurrentParams] = op.attrs["directions"]
    consts = consts_of(op)
    x3 = np.asarray(x, np.int64).reshape(b, params[0].time_steps, params[0].input_size)
    dirs, H = len(params), params[0].hidden_size
    if params[0].output_mode == 0:
        out = np.zeros((b, params[0].time_steps, dirs, H), np.int64)
        for d, p in enumerate(params):
            out[:, :, d, :] = direction(op.kind, p, consts, d, x3, bits)
    else:
        out = np.stack([direction(op.kind, p, consts, d, x3, bits) for d, p in enumerate(params)], axis=1)
    return out.astype(np.int16 if bits == 16 else np.int8).reshape((b,) + tuple(out_shape))


# -- C emission ---------------------------------------------------------------------------------
_CONSTS = ("input_weights", "recurrent_weights", "input_bias", "recurrent_bias", "input_multiplier",
           "input_shift", "recurrent_multiplier", "recurrent_shift", "initial_h", "initial_c")


def _array(e, op, k: str, key: str, arr: np.ndarray) -> str:
    """A const array emitted once per (node, key): the ops of one node's several outputs share it."""
    tag = ("recurrent", id(op.attrs.get("weights_of", op)), key)
    if tag not in e.seen:
        e.seen[tag] = e.const_array(k, np.ascontiguousarray(arr))
    return e.seen[tag]


def _lut(e, key: str, arr: np.ndarray) -> str:
    tag = ("recurrent_lut", key)
    if tag not in e.seen:
        e.seen[tag] = e.const_array(f"{key}_q12_lut", arr)
    return e.seen[tag]


def emit_call(e, k: str, op, x: str, out: str, bits: int = 8) -> None:
    """Append the kernel calls of ``op`` (one per direction) to the C emitter ``e``'s body; the
    op's arena scratch (``{output}#scratch``, kernel_scratch.recurrent_scratch_bytes) is the
    state and gate memory. With ``bits=16`` the int16 initial h is passed to the kernel on its
    own (the weights struct's int8 ``initial_h`` is NULL)."""
    c = consts_of(op)
    scratch = f"arena + {e.plan.offset(op.output + '#scratch')}"
    sig, tanh = _lut(e, "sigmoid", c["sigmoid_lut"]), _lut(e, "tanh", c["tanh_lut"])
    for d, p in enumerate(op.attrs["directions"]):
        sym = {key: _array(e, op, f"{k}_d{d}_{key}", key + str(d), c[key][d]) for key in _CONSTS
               if not (key == "initial_c" and op.kind == "gru")}
        init_c = sym.get("initial_c", "NULL")
        init_h = "NULL" if bits == 16 else sym["initial_h"]
        state = f"{sym['initial_h']}, " if bits == 16 else ""
        w = e.static("qnnc_recurrent_weights", f"{k}_d{d}_weights",
                     f"{{{sym['input_weights']}, {sym['recurrent_weights']}, {sym['input_bias']}, "
                     f"{sym['recurrent_bias']}, {{{sym['input_multiplier']}, {sym['input_shift']}}}, "
                     f"{{{sym['recurrent_multiplier']}, {sym['recurrent_shift']}}}, {init_h}, "
                     f"{init_c}, {sig}, {tanh}}}")
        prm = e.static("qnnc_recurrent_params", f"{k}_d{d}_params",
                       "{" + ", ".join(str(int(v)) for _, v in struct_fields(p)) + "}")
        offset = d * p.hidden_size
        e.body.append(f"    {op.kernel}({prm}, {w}, {state}{x}, {out} + {offset}, {scratch});")
