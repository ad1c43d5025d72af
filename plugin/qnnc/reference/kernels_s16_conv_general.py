"""Bit-exact numpy reference of ``qnnc_conv_general_s16`` (grouped Conv and ConvTranspose, int16
activations, 16x8).

The sums are those of the int8 grouped / transposed convolution (kernels_conv_general.py, exact:
every product is at most 127 * 32768 < 2^22 and the sums stay far below 2^53) on int16 inputs,
plus the int64 bias; the output stage is the 16x8 requantization of kernels_s16.py.
"""
from __future__ import annotations

import numpy as np

from ..kernel_params import ConvGeneralParams
from .kernels_conv_general import conv_general_accumulators
from .kernels_s16 import _out_s16

__all__ = ["conv_general_s16", "run_op", "KERNELS"]


def conv_general_s16(p: ConvGeneralParams, multiplier, shift, x, filt, bias, out_dims) -> np.ndarray:
    """Grouped (``p.transposed == 0``) or transposed convolution of NHWC int16 ``x`` with the
    (OC, KH, KW, IC / groups) int8 filter and int64 bias; output
    ``clamp(requantize_s64(acc) + output_offset)``. Mirrors ``qnnc_conv_general_s16``."""
    acc = conv_general_accumulators(p, np.asarray(x, dtype=np.int16), filt, bias, out_dims)
    out = _out_s16(acc, multiplier, shift, p.output_offset, p.act_min, p.act_max)
    return out.reshape(tuple(int(d) for d in out_dims))


KERNELS = ("qnnc_conv_general_s16",)


def run_op(op, values, out_shape) -> np.ndarray:
    """The output of an int16 ``conv_general`` QOp (interpreter_s16's dispatch by kernel name)."""
    c = op.consts
    return conv_general_s16(op.params, c["multiplier"], c["shift"], values[op.inputs[0]], c["filter"],
                            c["bias"], (1,) + tuple(out_shape[1:])).reshape(out_shape)
