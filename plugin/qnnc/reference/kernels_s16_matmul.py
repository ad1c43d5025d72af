"""Bit-exact numpy reference of ``qnnc_batch_matmul_s16`` (MatMul / Gemm of two int16 activations,
16x8 scheme).

The sums are exact (kernels_conv_general.batch_matmul_accumulators: |a * b| <= 2^30 and the
quantizer keeps the sums below 2^47, within float64's exact integers); the output stage is the 16x8 requantization of
kernels_s16.py (``requantize_s64``, then clamp).
"""
from __future__ import annotations

import numpy as np

from ..kernel_params import BatchMatmulParams
from .kernels_conv_general import batch_matmul_accumulators
from .kernels_s16 import _out_s16

__all__ = ["batch_matmul_s16", "run_op", "KERNELS"]


def batch_matmul_s16(p: BatchMatmulParams, a, b, bias, out_dims) -> np.ndarray:
    """Mirrors ``qnnc_batch_matmul_s16``: ``a`` and ``b`` 4-D int16 (batch, batch, rows, cols as
    stored), batch dims 1 or the output's; ``acc = bias[n] + sum_k (a + input1_offset) * (b +
    input2_offset)`` in int64 (``bias`` int64 per output column or None), requantized once with
    ``requantize_s64``, plus the output offset, clamped to [act_min, act_max]."""
    acc = batch_matmul_accumulators(p, np.asarray(a, dtype=np.int16), np.asarray(b, dtype=np.int16), bias,
                                    out_dims)
    return _out_s16(acc, p.output_multiplier, p.output_shift, p.output_offset, p.act_min, p.act_max)


KERNELS = ("qnnc_batch_matmul_s16",)


def run_op(op, values, out_shape) -> np.ndarray:
    """The output of an int16 ``batch_matmul`` QOp (interpreter_s16's dispatch by kernel name)."""
    c = op.consts
    live = iter(op.inputs)
    a = c["input1"] if "input1" in c else values[next(live)]
    b = c["input2"] if "input2" in c else values[next(live)]
    y = batch_matmul_s16(op.params, np.asarray(a).reshape(op.attrs["input1_dims"]),
                         np.asarray(b).reshape(op.attrs["input2_dims"]), c.get("bias"), op.attrs["output_dims"])
    return y.reshape(out_shape)
