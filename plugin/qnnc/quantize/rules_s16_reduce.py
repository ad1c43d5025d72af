"""int16 rules (16x8 scheme, ``quantization.activation_bits: 16``) of the reductions, ArgMax/ArgMin,
LogSoftmax and LayerNormalization; registered in lower_graph.RULES[16] (``RULES_S16``).

The op kinds and their attributes are those of the int8 rules (rules_reduce.py, rules_s8.log_softmax);
``attrs["kernel"]`` names the ``_s16`` kernel and ``attrs["activation_bits"]`` is 16. Activations
are int16, symmetric, zero point 0 (rules_s16.py). The arithmetic is in reference/kernels_s16_reduce.py.

* ReduceSum / ReduceMean: ``sum(x)`` in int64 (|sum| <= 2^15 * 2^23 = 2^38), requantized once with
  the 16x8 requantization (``qnnc_requantize_s64``) by ``s_in / (s_out * count)`` (mean) or
  ``s_in / s_out`` (sum); the output has its calibrated symmetric int16 scale. ReduceMax / ReduceMin
  keep the input's scale and return the extreme raw value.
* ArgMax / ArgMin: the input is int16; the output stays the int8 index of the int8 op (scale 1,
  zero point 0, at most 127 entries): an index is an integer, 16 bits would add nothing. Its range
  is set to [-128, 127] so that conversions a following int16 view needs are exact.
* LogSoftmax (last axis): output scale ``LOG_SOFTMAX16_SCALE`` = 1/1024 (range [-32, 0]; the int8
  op's is 1/16 over [-15.9, 0]) or, for a model output calibrated further down, that range
  (Lowering.log_softmax_output_scale), exp table in Q30, log2 of the row sum with 20 fraction bits.
* LayerNormalization: the int8 kernel's exact integer mean / variance / reciprocal square root on
  int16 values (at most ``MAX_NORM16`` normalized values so every int64 intermediate fits), gamma
  and beta folded into per-position multipliers and biases; output calibrated symmetric int16.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Node
from ..kernel_params import LayerNormParams, ReduceParams
from ..qmodel import QOp
from .fixedpoint import quantize_multiplier
from .lowering import Lowering
from .rules_reduce import (arg_max_attrs, check_reduced, index_tensor, layer_norm_constants, layer_norm_geometry,
                           reduce_dims, top_k_outputs)
from .rules_s16 import input16, last_axis_cols, new16, scale16

MAX_COUNT = 1 << 23           # |sum| <= 2^15 * 2^23 = 2^38, far inside the 16x8 requantization's 2^47
_KIND = {"ReduceSum": 0, "ReduceMean": 0, "ReduceMax": 1, "ReduceMin": 2}
MAX_NORM16 = 1 << 15          # LayerNorm: n^2 * 2^30 (variance term) + epsilon stays below 2^62
LOG_SOFTMAX16_SCALE = 1.0 / 1024.0
EXP_BITS16 = 30               # exp table entries in Q30
LOG2_FRAC16 = 20              # fraction bits of log2(row sum)
DIFF_MULT_MAX = 1 << 46       # d * diff_multiplier < 2^62 for d < 2^16


def _s16_multiplier(low: Lowering, n: Node, real: float):
    """(multiplier, shift) for ``qnnc_requantize_s64`` (shift in [-46, 14]; smaller gives 0)."""
    try:
        m, s = quantize_multiplier(real)
    except ValueError as e:
        raise low.err(n, str(e)) from None
    if s < -46:
        return 0, 0
    if s > 14:
        raise low.err(n, f"requantization multiplier {real:.3g} too large for the 16x8 scheme (2^{s})")
    return m, s


def reduce(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    in4, out4, count = reduce_dims(low, n, x, MAX_COUNT)
    kind = _KIND[n.op]
    if kind:
        out = new16(low, n.outputs[0], x.scale)
        params = ReduceParams(kind)
    else:
        out = new16(low, n.outputs[0], scale16(low, n.outputs[0], n))
        m, s = _s16_multiplier(low, n, x.scale / out.scale / (count if n.op == "ReduceMean" else 1))
        params = ReduceParams(0, 0, m, s, 0)
    check_reduced(low, n, out, out4)
    low.ops.append(QOp("reduce", n.name, [x.name], out.name, params, {},
                       {"input_dims": in4, "output_dims": out4, "kernel": "qnnc_reduce_s16",
                        "activation_bits": 16}, 0))


def arg_max(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    attrs = arg_max_attrs(low, n, x)
    out = index_tensor(low, n.outputs[0], attrs["index_bits"])  # int8 up to 127 entries (module docstring)
    # A later int16 op (a view such as Reshape) converts the index with its tensor's range: the calibrated
    # one could clip an index not seen in calibration. With [-128, 127] (the int8 index's own range, on
    # this lowering's copy of the ranges) the int16 copy is exact and a conversion back to int8 has
    # scale 1, zero point 0 again.
    if attrs["index_bits"] == 8:
        low.ranges = {**low.ranges, low.g.original_name(out.name): (-128.0, 127.0)}
    kernel = "qnnc_arg_max_s16" if attrs["index_bits"] == 8 else "qnnc_arg_max_wide_s16"
    low.ops.append(QOp("arg_max", n.name, [x.name], out.name, None, {},
                       {**attrs, "kernel": kernel, "activation_bits": 16}, 0))


def top_k(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    attrs, used = top_k_outputs(low, n, x)
    kernel = "qnnc_top_k_s16" if attrs["index_bits"] == 8 else "qnnc_top_k_wide_s16"
    for want, name in used:
        if want == "values":
            out = new16(low, name, x.scale)
        else:  # the index: int8 with its own range (as arg_max's), or int16 over > 127 entries
            out = index_tensor(low, name, attrs["index_bits"])
            if attrs["index_bits"] == 8:
                low.ranges = {**low.ranges, low.g.original_name(out.name): (-128.0, 127.0)}
        low.ops.append(QOp("top_k", n.name if want == "values" else f"{n.name}_indices", [x.name], out.name,
                           None, {}, {**attrs, "want": want, "kernel": kernel, "activation_bits": 16}, 0))


def log_softmax_constants16(input_scale: float, out_scale: float = LOG_SOFTMAX16_SCALE):
    """(exp_lut, diff_multiplier, log_multiplier) of ``qnnc_log_softmax_s16``:
    exp_lut[i] = round(exp(-s*i) * 2^30), exp_lut[256 + j] = round(exp(-s*256*j) * 2^30) (i, j < 256);
    diff_multiplier = round(s / out_scale * 2^32) (at most 2^46), log_multiplier =
    round(ln 2 / out_scale * 2^(32 - 20)) (Q32 output steps per Q20 log2 unit)."""
    i = np.arange(256, dtype=np.float64)
    lo = np.floor(np.exp(-input_scale * i) * (1 << EXP_BITS16) + 0.5)
    hi = np.floor(np.exp(-input_scale * 256.0 * i) * (1 << EXP_BITS16) + 0.5)
    lut = np.concatenate([lo, hi]).astype(np.uint32)
    diff = int(min(math.floor(input_scale / out_scale * 2.0 ** 32 + 0.5), DIFF_MULT_MAX))
    logm = int(math.floor(math.log(2.0) / out_scale * (1 << (32 - LOG2_FRAC16)) + 0.5))
    return lut, diff, logm


def log_softmax(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    cols = last_axis_cols(low, n, x, "LogSoftmax", "LogSoftmax")
    out = new16(low, n.outputs[0], low.log_softmax_output_scale(n.outputs[0], LOG_SOFTMAX16_SCALE, 32768))
    lut, diff, logm = log_softmax_constants16(x.scale, out.scale)
    low.ops.append(QOp("log_softmax", n.name, [x.name], out.name, None, {"exp_lut": lut},
                       {"rows": x.size // cols, "cols": cols, "diff_multiplier": diff, "log_multiplier": logm,
                        "kernel": "qnnc_log_softmax_s16", "activation_bits": 16}, 0))


def layer_norm(low: Lowering, n: Node) -> None:
    x = input16(low, n)
    outer, count, inner, gamma, beta = layer_norm_geometry(low, n, x, MAX_NORM16, "int16 LayerNormalization")
    out = new16(low, n.outputs[0], scale16(low, n.outputs[0], n))
    e = count * count * float(n.attrs["epsilon"]) / (x.scale * x.scale)
    if not math.isfinite(e) or e > 1 << 61:
        # int16 input scales are ~128x finer than int8's: n^2 * eps / s_in^2 in units of the input grows
        # accordingly; beyond 2^61 it would not fit the int64 variance sum (no silent clamping)
        raise low.err(n, f"int16 LayerNormalization: epsilon {n.attrs['epsilon']} is too large for {count} "
                         f"normalized values at input scale {x.scale:.3g} (n^2 * eps / scale^2 must stay below "
                         "2^61); use activation_bits: 8 for this layer")
    epsilon = max(int(round(e)), 1)
    frac, mult, shift, bias = layer_norm_constants(low, n, gamma, beta, count, out)  # zero point 0
    low.ops.append(QOp("layer_norm", n.name, [x.name], out.name, LayerNormParams(0, epsilon, frac),
                       {"multiplier": mult, "shift": shift, "bias": bias},
                       {"outer": outer, "n": count, "inner": inner, "kernel": "qnnc_layer_norm_s16",
                        "activation_bits": 16}, 0))


RULES_S16 = {"ReduceMean": reduce, "ReduceSum": reduce, "ReduceMax": reduce, "ReduceMin": reduce,
             "ArgMax": arg_max, "ArgMin": arg_max, "TopK": top_k, "LogSoftmax": log_softmax,
             "LayerNormalization": layer_norm}
