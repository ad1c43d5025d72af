"""Python mirrors of the parameter structs in ``runtime/include/qnnc_kernels.h``.

The quantizer fills them, the numpy reference reads them and the C emitter prints them
as struct initializers, so the three stages cannot drift apart. Field order matches the
C struct declarations exactly (the emitter relies on it).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class ConvParams:
    """``qnnc_conv_params``; ``act_lut`` is a 256-entry int8 table or None."""

    input_offset: int
    output_offset: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    dilation_h: int = 1
    dilation_w: int = 1
    depth_multiplier: int = 1
    act_min: int = -128
    act_max: int = 127
    act_lut: Optional[np.ndarray] = None
    rounding: int = 0  # fixedpoint.ROUND_TFLITE | ROUND_HALF_EVEN


@dataclass(frozen=True)
class FcParams:
    """``qnnc_fc_params``."""

    input_offset: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127
    act_lut: Optional[np.ndarray] = None
    rounding: int = 0  # fixedpoint.ROUND_TFLITE | ROUND_HALF_EVEN
    # kernel_sums (a C pointer, emitted by the C emitter from the weights; not an arithmetic
    # parameter: the reference never reads it)


@dataclass(frozen=True)
class PoolParams:
    """``qnnc_pool_params``."""

    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    count_include_pad: int = 0
    pad_value: int = 0
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class AddParams:
    """``qnnc_add_params`` (TFLite ADD arithmetic)."""

    input1_offset: int
    input2_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    left_shift: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class MulParams:
    """``qnnc_mul_params`` (TFLite MUL arithmetic)."""

    input1_offset: int
    input2_offset: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class RescaleParams:
    """``qnnc_rescale_params``: out = clamp(requant(x + input_offset) + output_offset)."""

    input_offset: int
    multiplier: int
    shift: int
    output_offset: int


def struct_fields(params) -> list:
    """(name, value) pairs in C declaration order."""
    return [(f.name, getattr(params, f.name)) for f in fields(params)]
