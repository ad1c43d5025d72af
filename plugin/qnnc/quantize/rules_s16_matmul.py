"""int16-activation (16x8 scheme) rule of MatMul / Gemm of two activations: ``batch_matmul`` on
``qnnc_batch_matmul_s16``.

The int8 rule (rules_conv_general.matmul) covers MatMul of two activations and the Gemm the passes
leave as MatMul (transA, a computed B, alpha, a constant C). At int16 both operands are int16,
symmetric (zero point 0); a constant operand gets its own symmetric int16 scale
(rules_s16_elementwise.const16). The products sum exactly in int64 (|a * b| <= 2^30, so up to 2^17
terms stay below the 2^47 bound of the 16x8 requantization); alpha folds into the one per-tensor
multiplier (rules_s16.requant16, applied by ``qnnc_requantize_s64``); a constant C (times beta) is
an int64 bias per output column in units of ``s_a * s_b * alpha``. A fused Relu/Clip (should a pass
fuse one; fuse_activation does not today) clamps in int16 (rules_s16.output16).
"""
from __future__ import annotations

import numpy as np

from ..ir import Node
from ..kernel_params import BatchMatmulParams
from .lowering import Lowering
from . import rules_conv_general as CG
from . import rules_s16 as S16
from .rules_s16_elementwise import const16

S16_ABS_MAX = 32768  # largest |int16| value


def _operand(low: Lowering, name: str):
    """(int16 QTensor, constant int16 array or None) of one operand."""
    if low.g.is_const(name):
        q, t = const16(low, name)
        return t, q
    return low.tensors[name], None


def matmul(low: Lowering, n: Node) -> None:
    """MatMul / Gemm of two activations (or an activation and a constant) -> int16 ``batch_matmul``."""
    a, qa = _operand(low, n.inputs[0])
    b, qb = _operand(low, n.inputs[1])
    shapes = CG.matmul_shapes(low, n, a, b, qa, qb)
    _, _, m_, k_, n_, _ = shapes
    out, act_min, act_max = S16.output16(low, n)
    acc_scale = a.scale * b.scale * float(n.attrs.get("alpha", 1.0))
    c_row = CG.matmul_c_row(low, n, m_, n_)
    bias = None
    if c_row is not None:
        bias = S16.bias64(low, c_row, acc_scale, np.ones(n_))
        if np.abs(bias).max() > S16.BIAS_LIMIT:
            raise low.err(n, f"the int64 bias (C) would reach {int(np.abs(bias).max())} in units of the product "
                             "scale, beyond the 16x8 scheme's limit 2^40 - 1")
    worst = k_ * S16_ABS_MAX * S16_ABS_MAX + (int(np.abs(bias).max()) if bias is not None else 0)
    if worst >= S16.ACC_LIMIT:
        raise low.err(n, f"the int64 accumulator could exceed 2^47, the limit of the 16x8 requantization: {k_} "
                         f"products of int16 values reach {worst}; at most {(S16.ACC_LIMIT - 1) // S16_ABS_MAX ** 2} "
                         "terms fit")
    mult, shift = S16.requant16(low, n, acc_scale, np.ones(1), out.scale)
    params = BatchMatmulParams(input1_offset=0, input2_offset=0, output_multiplier=int(mult[0]),
                               output_shift=int(shift[0]), output_offset=0, act_min=act_min, act_max=act_max,
                               adj_x=int(n.attrs.get("transA", 0)), adj_y=int(n.attrs.get("transB", 0)),
                               rounding=low.plan.of(n.name).rounding)
    CG.append_batch_matmul(low, n, params, [(a, qa), (b, qb)], None if bias is None else bias.astype(np.int64),
                           shapes, out.name, {"kernel": "qnnc_batch_matmul_s16", "activation_bits": 16})


RULES_S16 = {"MatMul": matmul}
