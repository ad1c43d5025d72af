"""Bit-exact numpy reference of the int16 element-wise and movement kernels (16x8 scheme):
``qnnc_mul_s16``, ``qnnc_minmax_s16``, ``qnnc_prelu_s16``, ``qnnc_pad_s16``,
``qnnc_concat_slice_s16`` (``runtime/src/``), and the dispatch of int16 ``add`` ops whose second
operand is a constant (the arithmetic of ``qnnc_add_s16`` is kernels_s16.add_s16).

Each is its int8 counterpart (reference/kernels.py, kernels_elementwise.py) on int16 values,
clamped to int16: every product and rescaled value fits int32 (|x1 * x2| <= 2^30, |v * alpha| < 2^22),
so the int32 requantization of fixedpoint.py applies unchanged.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..kernel_params import MinMaxParams, MulParams, PreluParams, RescaleParams
from ..qmodel import QOp
from ..quantize.fixedpoint import requantize
from .kernels import _dims4
from . import kernels_elementwise as KE
from . import kernels_s16 as K16

S16_MIN, S16_MAX = -32768, 32767
KINDS = ("add", "mul", "minmax", "prelu", "pad", "concat")


def mul_s16(p: MulParams, x1, x2, out_dims) -> np.ndarray:
    """Broadcasting int16 multiply; mirrors ``qnnc_mul_s16``:
    ``clamp(requantize((x1 + input1_offset) * (x2 + input2_offset)) + output_offset)``."""
    a = np.asarray(x1, dtype=np.int64) + int(p.input1_offset)
    b = np.asarray(x2, dtype=np.int64) + int(p.input2_offset)
    r = np.broadcast_to(a * b, _dims4(out_dims))
    v = np.clip(requantize(r, p.output_multiplier, p.output_shift),
                int(p.act_min) - int(p.output_offset), int(p.act_max) - int(p.output_offset))
    return (v + int(p.output_offset)).astype(np.int16)


def minmax_s16(p: MinMaxParams, x1, x2, out_dims) -> np.ndarray:
    """Broadcasting int16 Max / Min; mirrors ``qnnc_minmax_s16`` (kernels_elementwise.minmax; the
    output dims must be 4-D)."""
    return KE.minmax(p, x1, x2, _dims4(out_dims), np.int16)


def prelu_s16(p: PreluParams, alpha, alpha_multiplier, alpha_shift, x, outer: int, channels: int,
              inner: int) -> np.ndarray:
    """int16 PRelu; mirrors ``qnnc_prelu_s16`` (kernels_elementwise.prelu, clamped to int16)."""
    return KE.prelu(p, alpha, alpha_multiplier, alpha_shift, x, outer, channels, inner, np.int16)


def pad_s16(x, pads_before, out_dims, pad_value: int) -> np.ndarray:
    """Constant padding of int16 values; mirrors ``qnnc_pad_s16``."""
    x = np.asarray(x, dtype=np.int16)
    out = np.full(_dims4(out_dims), int(pad_value), dtype=np.int16)
    out[tuple(slice(int(b), int(b) + s) for b, s in zip(pads_before, x.shape))] = x
    return out


def rescale_s16(p: Optional[RescaleParams], x) -> np.ndarray:
    """One Concat input; mirrors ``qnnc_concat_slice_s16``: a copy (``None``) or
    ``clamp(requantize(x + input_offset) + output_offset)`` to int16."""
    x = np.asarray(x, dtype=np.int16)
    if p is None:
        return x.copy()
    v = np.clip(requantize(x.astype(np.int64) + int(p.input_offset), p.multiplier, p.shift),
                S16_MIN - int(p.output_offset), S16_MAX - int(p.output_offset))
    return (v + int(p.output_offset)).astype(np.int16)


def run(op: QOp, values: Dict[str, np.ndarray], out_shape) -> np.ndarray:
    """The output of an int16 op of :data:`KINDS` (interpreter_s16's dispatch)."""
    x = values[op.inputs[0]]
    c, a = op.consts, op.attrs
    if op.kind in ("add", "mul", "minmax"):
        x2 = c["input2"] if "input2" in c else values[op.inputs[1]]
        fn = {"add": K16.add_s16, "mul": mul_s16, "minmax": minmax_s16}[op.kind]
        return fn(op.params, x.reshape(a["input1_dims"]), np.asarray(x2).reshape(a["input2_dims"]),
                  a["output_dims"]).reshape(out_shape)
    if op.kind == "prelu":
        return prelu_s16(op.params, c["alpha"], c["multiplier"], c["shift"], x, a["outer"], a["channels"],
                         a["inner"]).reshape(out_shape)
    if op.kind == "pad":
        return pad_s16(x.reshape(a["input_dims"]), a["pads_before"], a["output_dims"],
                       a["pad_value"]).reshape(out_shape)
    if op.kind == "concat":
        parts = [rescale_s16(r, values[i]).reshape(a["outer"], inner)
                 for i, r, inner in zip(op.inputs, a["rescales"], a["inners"])]
        return np.concatenate(parts, axis=1).reshape(out_shape)
    raise NotImplementedError(f"int16 {op.kind}")
