"""Which int8 convolutions carry their weights in channel pairs for the Armv7E-M DSP path
(Cortex-M4/M7/M33): ``qnnc_conv_s8_paired``, whose 2 output channels x 3 pixels SMLAD block reads
both channels' weights with one load (runtime/include/qnnc_dsp_mm2x3.h).

The layout costs next to no flash: the DSP build carries the paired copy instead of the OHWI one
(each filter row padded to a multiple of 4 taps, an odd out_c's last pair completed with zeros:
a few bytes on first layers), the other builds the OHWI copy (the generated C holds both, each under its own #if;
qnnc_weight_layouts.h). A layer gets it where the paired DSP path takes it, the conditions
``qnnc_conv_paired_dsp_s8`` checks: a bias, and either TFLite rounding with the fast
requantization and a right shift on every channel (``qnnc_dsp_rq_asm_ok``) or half-to-even
rounding (imported QDQ models) with a right shift on every channel; other layers keep
``qnnc_conv_s8``'s path (their paired copy would run the kernel's slow portable loop). Its three
q15 columns (6 bytes a tap against 4) are the kernel scratch the planner reserves for the layer,
which every SIMD target's arena holds. ``execution.wide_weights`` may then give a marked layer the
same layout in int16 (plan/wide_weights.py, ``qnnc_conv_s8_paired_wide``).
"""
from __future__ import annotations

import numpy as np

from ..qmodel import QModel, QOp
from .kernel_scratch import CONV_MAX_K

# kernel_params' rounding values (quantize/fixedpoint.ROUND_*; the plan stage does not import quantize)
ROUND_TFLITE, ROUND_HALF_EVEN = 0, 1


def fast_requantization(multiplier: np.ndarray, shift: np.ndarray) -> bool:
    """``qnnc_dsp_rq_asm_ok``: every channel's multiplier 0 or in [2^30, 2^31) and its shift in
    [-20, -1] (the DSP output stage's exact fast requantization)."""
    m = np.asarray(multiplier, np.int64)
    s = np.asarray(shift, np.int64)
    return bool(np.all(((m == 0) | (m >= 1 << 30)) & (s <= -1) & (s >= -20)))


def eligible(op: QOp) -> bool:
    """An int8 conv (group 1, int8 weights) that the paired DSP path takes."""
    if op.kind != "conv" or op.kernel != "qnnc_conv_s8" or "filter" not in op.consts:
        return False
    out_c, kh, kw, in_c = (int(d) for d in op.attrs["filter_dims"])
    if kh * kw * in_c > CONV_MAX_K or out_c > CONV_MAX_K:
        return False
    if op.consts.get("bias") is None:
        return False
    if op.params.rounding == ROUND_HALF_EVEN:  # qnnc_rq_he_neg: any multiplier, shift <= -1
        return bool(np.all(np.asarray(op.consts["shift"], np.int64) <= -1))
    return op.params.rounding == ROUND_TFLITE and fast_requantization(op.consts["multiplier"], op.consts["shift"])


def mark_paired_convs(model: QModel) -> None:
    """Mark the convolutions that take the paired layout (``attrs["paired_weights"]``), also the
    sub-ops of patch segments."""
    for op in model.ops:
        for o in [op] + op.sub_ops:
            if eligible(o):
                o.attrs["paired_weights"] = True
