"""Reference of the int16 unary ops (quantize/rules_s16_tables.py): bit-exact definitions of
``qnnc_lut_s16`` and ``qnnc_round_s16`` (runtime/src/qnnc_lut_s16.c), their dispatch in the int16
interpreter and their C calls.

lut_s16: ``u = x + 32768``, ``i = u >> 7``, ``f = u & 127``:
``y = lut[i] + (((lut[i + 1] - lut[i]) * f + 64) >> 7)`` (arithmetic shift: floor), always between
the two entries, so within int16.

round_s16: ``p = x * in_mult`` (exact int64), ``k`` = floor / ceil / round-half-to-even (ONNX Round)
of ``p / 2^in_shift``, then ``y = sat16(requantize(k, out_mult, out_shift))`` (TFLite rounding).
"""
from __future__ import annotations

import numpy as np

from ..qmodel import QOp
from ..quantize.fixedpoint import requantize

KINDS = ("lut", "round")  # the int16 kinds of this family (int16 interpreter dispatch)
EMIT_KINDS = ("round",)   # "lut" is emitted by c_emitter.spatial with op.kernel


def lut_s16(x, lut) -> np.ndarray:
    """513-entry table with linear interpolation (int16 in and out)."""
    u = np.asarray(x, np.int64) + 32768
    idx = u >> 7
    base = lut[idx].astype(np.int64)
    slope = lut[idx + 1].astype(np.int64) - base
    return (base + ((slope * (u & 127) + 64) >> 7)).astype(np.int16)


def round_s16(a: dict, x) -> np.ndarray:
    """Floor (mode 0), Ceil (1), Round half to even (2) of ``x * in_mult / 2^in_shift``, or Mod's
    quotient toward zero (3), floor (4), ceil (5) of it nudged by ``in_mult / 2^(in_shift + 8)``;
    requantized."""
    p = np.asarray(x, np.int64) * np.int64(a["in_mult"])
    sh = int(a["in_shift"])
    if a["mode"] == 0:
        k = p >> sh
    elif a["mode"] == 1:
        k = -((-p) >> sh)
    elif a["mode"] >= 3:  # Mod's quotient (quantize/rules_s16_mod.py): nudged by 2^-8 of a code
        b = np.int64(int(a["in_mult"]) >> 8)
        down, up = (p + b) >> sh, -((-p + b) >> sh)
        k = {3: np.where(p >= 0, down, up), 4: down, 5: up}[a["mode"]]
    else:
        half = np.int64(1) << (sh - 1)
        k = (p + half) >> sh
        tie = ((p + half) & ((np.int64(1) << sh) - 1)) == 0
        k = np.where(tie & ((k & 1) == 1), k - 1, k)
    y = requantize(k, a["out_mult"], a["out_shift"])
    return np.clip(y, -32768, 32767).astype(np.int16)


def run(op: QOp, x: np.ndarray, out_shape) -> np.ndarray:
    """The int16 output of a ``lut`` / ``round`` op."""
    if op.kind == "lut":
        return lut_s16(x, op.consts["lut"]).reshape(out_shape)
    return round_s16(op.attrs, x).reshape(out_shape)


def emit_call(e, k: str, op: QOp, x: str, out: str) -> None:
    """Append the ``qnnc_round_s16`` call of ``op`` to the C emitter ``e``'s body."""
    a = op.attrs
    e.body.append(f"    {op.kernel}({a['mode']}, {a['in_mult']}, {a['in_shift']}, {a['out_mult']}, "
                  f"{a['out_shift']}, {a['size']}, {x}, {out});")
