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
    # average pool with its own output scale (multiplier != 0; every window full, no padding):
    # out = requantize(sum + count * input_offset, multiplier, shift) + output_offset
    multiplier: int = 0
    shift: int = 0
    input_offset: int = 0
    output_offset: int = 0


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


@dataclass(frozen=True)
class ConvGeneralParams:
    """``qnnc_conv_general_params``: grouped (1 < groups) or transposed convolution (gather form)."""

    input_offset: int
    output_offset: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    dilation_h: int = 1
    dilation_w: int = 1
    groups: int = 1
    transposed: int = 0
    act_min: int = -128
    act_max: int = 127
    act_lut: Optional[np.ndarray] = None
    rounding: int = 0  # fixedpoint.ROUND_TFLITE | ROUND_HALF_EVEN


@dataclass(frozen=True)
class BatchMatmulParams:
    """``qnnc_batch_matmul_params``: int8 x int8 batched matrix product, one requantization."""

    input1_offset: int
    input2_offset: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127
    adj_x: int = 0  # input1 stored transposed ([K, M] per batch)
    adj_y: int = 0  # input2 stored transposed ([N, K] per batch)
    rounding: int = 0


@dataclass(frozen=True)
class PreluParams:
    """``qnnc_prelu_params`` (TFLite int8 PRelu): x >= 0 uses the identity requantization, x < 0
    the per-channel alpha one (alpha, its multipliers and shifts are arrays of the op)."""

    input_offset: int
    output_offset: int
    identity_multiplier: int
    identity_shift: int


@dataclass(frozen=True)
class MinMaxParams:
    """``qnnc_minmax_params``: both inputs rescaled to the output scale, then max (is_max 1) or min."""

    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127
    is_max: int = 1


@dataclass(frozen=True)
class SoftmaxParams:
    """``qnnc_softmax_params``: int8 Softmax output scale 1 / inv_output_scale (an integer >= 256; 256 is
    TFLite's fixed 1/256), zero point -128 (see quantize/rules_s8.softmax)."""

    inv_output_scale: int = 256


@dataclass(frozen=True)
class LogSoftmaxParams:
    """``qnnc_log_softmax_params`` (see quantize/unary_functions.log_softmax_constants)."""

    exp_bits: int
    diff_multiplier: int
    log_multiplier: int
    output_offset: int


@dataclass(frozen=True)
class ReduceParams:
    """``qnnc_reduce_params``: kind 0 sum (and mean: 1/count is in the multiplier), 1 max, 2 min;
    sum: out = clamp(requant(sum(x + input_offset)) + output_offset), max/min: the raw extreme."""

    kind: int
    input_offset: int = 0
    multiplier: int = 0
    shift: int = 0
    output_offset: int = 0


@dataclass(frozen=True)
class LayerNormParams:
    """``qnnc_layer_norm_params`` (reference/kernels_reduce.py:layer_norm_s8 defines the arithmetic)."""

    input_offset: int
    epsilon: int      # n^2 * epsilon / input_scale^2, an integer in [1, 2^61]
    frac_bits: int    # the normalized value is kept with this many fraction bits (29 - ceil(log4 n))


@dataclass(frozen=True)
class RecurrentParams:
    """``qnnc_recurrent_params``: one direction of an LSTM / GRU (reference/kernels_recurrent.py)."""

    time_steps: int
    input_size: int
    hidden_size: int
    reverse: int              # 1: steps t = T-1 .. 0
    output_mode: int          # 0: every h (at output + t * output_stride), 1: the last h, 2: the last c (int8)
    output_stride: int
    hidden_offset: int        # the zero point of h
    cell_shift: int           # LSTM: cell state int16 with scale 2^-cell_shift
    hidden_multiplier: int    # 2^-30 / s_h: a Q0.30 product to h
    hidden_shift: int
    cell_out_multiplier: int  # output_mode 2: 2^-cell_shift / s_out
    cell_out_shift: int
    cell_out_offset: int
    linear_before_reset: int  # GRU


def struct_fields(params) -> list:
    """(name, value) pairs in C declaration order."""
    return [(f.name, getattr(params, f.name)) for f in fields(params)]
