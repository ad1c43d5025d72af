"""int16 rules of the unary table ops (Sigmoid, Tanh, Exp, ..., Pow with a constant exponent,
Reciprocal, and so the Div of a constant by an activation): TFLite's int16 look-up table.

An int16 activation (symmetric, zero point 0) indexes a 513-entry int16 table, one entry every 128
input codes from -32768 to +32768, with exact integer linear interpolation between two entries
(``qnnc_lut_s16``; reference: reference/kernels_s16_tables.py). The table is built here in float64
from the op's float function (quantize/unary_functions.py, the same as the int8 tables) with TFLite's
midpoint correction (``gen_lut`` of TFLite's int16 activations): each entry is lowered by half the
interpolation error at the middle of its segment, which halves the worst error of a convex segment.
The grid holds input code 0, so a kink at 0 (Abs, Elu, Celu, Selu, ...) is exact.

Floor, Ceil and Round are not continuous: interpolating a table would blur every step. They get an
exact integer kernel instead (``qnnc_round_s16``): ``k = rounding(x * s_in)`` with ``s_in`` as a
31-bit fixed-point multiplier on an int64 product, then ``k / s_out`` by the usual requantization.

Output scales are those of the int8 path: the fixed ranges of the bounded functions (Sigmoid,
HardSigmoid: [0, 1]; Tanh, Softsign, Erf: [-1, 1]) at 2^-15 per code, as TFLite's int16 Logistic
and Tanh; the calibrated range (int16 symmetric) otherwise, or, for a tensor a pass made (the
Reciprocal of a decomposed Div), the function's range over the int16 codes of the input's range.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ..ir import Node
from ..qmodel import QOp
from . import unary_functions as UF
from .fixedpoint import quantize_multiplier
from .lowering import Lowering
from .qparams import s16_scale
from .rules_s16 import S16_MAX, S16_MIN, input16, new16, scale16

LUT16_SIZE = 513
LUT16_STEP = 128            # input codes per table segment: 65536 / 512
FIXED16_SCALE = 1.0 / 32768.0
FIXED_OUTPUT16 = {"Sigmoid", "Tanh", "HardSigmoid", "Softsign", "Erf"}  # |f| <= 1: scale 2^-15
ROUND_MODES = {"Floor": 0, "Ceil": 1, "Round": 2}
ROUND_FRAC_BITS = 31        # x * s_in as x * mult / 2^(31 - exp): mult in [2^30, 2^31)


def _round_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def make_lut16(fn, s_in: float, s_out: float) -> np.ndarray:
    """The 513 int16 entries of ``qnnc_lut_s16``: ``fn`` at input codes -32768 + 128 k, in output
    codes, each entry but the last lowered by half the interpolation error at its segment's middle
    (TFLite's gen_lut); rounded half away from zero, saturated to int16."""
    k = np.arange(LUT16_SIZE, dtype=np.float64)
    x = (k * LUT16_STEP - 32768.0) * s_in
    lim = float(1 << 20)  # far outside int16: keeps 1e30 (1/0, exp overflow) finite
    val = np.clip(fn(x) / s_out, -lim, lim)
    mid = np.clip(fn(x[:-1] + 0.5 * LUT16_STEP * s_in) / s_out, -lim, lim)
    sample = _round_away(val)
    interp_mid = _round_away((val[1:] + sample[:-1]) / 2.0)
    bias = _round_away((interp_mid - _round_away(mid)) / 2.0)
    table = sample.copy()
    table[:-1] -= bias
    return np.clip(table, S16_MIN, S16_MAX).astype(np.int16)


def derived_range16(fn, s_in: float, lo: float, hi: float):
    """Range of ``fn`` over the int16 codes of an input of scale ``s_in`` within [lo, hi] (half a step
    of slack): the output range of a table whose output a pass made (e.g. 1/b of a decomposed Div).
    Results of magnitude >= 1e29 (1/0) are left out."""
    x = np.arange(-32768, 32768, dtype=np.float64) * s_in
    x = x[(x >= lo - s_in / 2) & (x <= hi + s_in / 2)]
    if x.size == 0:
        x = np.array([lo, hi], np.float64)
    y = fn(x)
    y = y[np.abs(y) < 1e29]  # 1/0 is num / 1e-30 (unary_functions._reciprocal): left out
    return (float(y.min()), float(y.max())) if y.size else (0.0, 0.0)


def input_range(low: Lowering, name: str, x) -> tuple:
    """The calibrated float range of a table's input, through the views and transposes a pass put
    before it (the int16 tensor is symmetric: its own range would add the sign the data lacks, and
    with it 1/x near 0); the int16 tensor's range when there is none."""
    for _ in range(8):
        src = low.g.original_name(name)
        if src in low.ranges:
            lo, hi = low.ranges[src]
            return float(lo), float(hi)
        p = low.g.producer(name)
        if p is None or p.op not in ("Transpose", "Reshape") or not p.inputs:
            break
        name = p.inputs[0]
    return low.value_range(x)


def output_scale16(low: Lowering, n: Node, fn, x) -> float:
    """The int16 output scale of a unary op (see the module docstring)."""
    if n.op in FIXED_OUTPUT16:
        return FIXED16_SCALE
    name = n.outputs[0]
    if low.g.original_name(name) not in low.ranges and n.attrs.get("derived_range") == "table":
        lo, hi = input_range(low, n.inputs[0], x)
        return s16_scale(*derived_range16(fn, x.scale, lo, hi))
    return scale16(low, name, n)


def round_constants(mode: int, s_in: float, s_out: float) -> dict:
    """``qnnc_round_s16``'s constants: the mode (Floor 0, Ceil 1, Round 2; Mod's quotient toward
    zero 3, floor 4, ceil 5: rules_s16_mod.py), ``s_in`` as
    ``in_mult / 2^in_shift`` (in_mult in [2^30, 2^31), in_shift in [16, 62] for s_in < 2^15, so
    x * in_mult is an exact int64 below 2^46) and ``1 / s_out`` as a requantization (out_mult,
    out_shift)."""
    if not 0 < s_in < 1 << 15:
        raise ValueError(f"input scale {s_in:g} out of range for int16 Floor/Ceil/Round (0 < scale < 2^15)")
    m, e = math.frexp(s_in)  # s_in = m * 2^e, m in [0.5, 1)
    in_mult = int(math.floor(m * (1 << ROUND_FRAC_BITS) + 0.5))
    in_shift = ROUND_FRAC_BITS - e
    if in_mult == 1 << ROUND_FRAC_BITS:
        in_mult, in_shift = in_mult >> 1, in_shift - 1
    if in_shift > 62:  # |x * s_in| < 2^-16: the value only decides between 0 and +-1
        in_mult, in_shift = max(1, in_mult >> (in_shift - 62)), 62
    out_mult, out_shift = quantize_multiplier(1.0 / s_out)
    return {"mode": mode, "in_mult": in_mult, "in_shift": in_shift, "out_mult": out_mult, "out_shift": out_shift}


def unary(low: Lowering, n: Node) -> None:
    """A unary table op on int16 activations: ``qnnc_lut_s16`` (``qnnc_round_s16`` for Floor/Ceil/Round)."""
    x = low.convert(input16(low, n), 16)  # int8 after a layer that fell back to int8 (grouped Conv)
    fn = UF.float_fn(n.op, n.attrs)
    out = new16(low, n.outputs[0], output_scale16(low, n, fn, x))
    attrs = {"size": x.size, "activation_bits": 16}
    if n.op in ROUND_MODES:
        try:
            consts = round_constants(ROUND_MODES[n.op], x.scale, out.scale)
        except ValueError as e:
            raise low.err(n, str(e)) from None
        low.ops.append(QOp("round", n.name, [x.name], out.name, None, {},
                           {**attrs, **consts, "kernel": "qnnc_round_s16"}, 0))
        return
    lut = make_lut16(fn, x.scale, out.scale)
    low.ops.append(QOp("lut", n.name, [x.name], out.name, None, {"lut": lut},
                       {**attrs, "kernel": "qnnc_lut_s16"}, 0))


def with_fused_activation(rule, leaky_rule=None):
    """``rule`` (an int16 Conv / ConvTranspose / FullyConnected / Add rule) for a node that may carry a fused
    activation the 16x8 kernels cannot apply (passes/fuse_activation.py: a table such as HardSwish,
    Elu, Selu, Celu, Softplus, Gelu, or a LeakyRelu): the layer into its pre-activation tensor,
    then the activation's own int16 op on it (``qnnc_lut_s16``; ``leaky_rule``, the int16
    LeakyRelu rule, for a LeakyRelu)."""
    def lower(low: Lowering, n: Node) -> None:
        act = n.attrs.get("activation")
        kind = act.get("kind") if act else None
        if kind == "lut":
            follow = Node(f"{n.name}_{act['op'].lower()}", act["op"], [act["pre_act"]], list(n.outputs),
                          dict(act["attrs"]))
            follow_rule = unary
        elif kind == "leaky_relu" and leaky_rule is not None:
            follow = Node(f"{n.name}_leakyrelu", "LeakyRelu", [act["pre_act"]], list(n.outputs),
                          {"alpha": act["alpha"]})
            follow_rule = leaky_rule
        else:
            return rule(low, n)
        pre = act["pre_act"]
        layer = Node(n.name, n.op, list(n.inputs), [pre], {k: v for k, v in n.attrs.items() if k != "activation"})
        # The passes dropped the pre-activation tensor from the graph: the layer sees a copy of the
        # graph that has it (the output's shape), the graph itself stays as it is.
        g = low.g
        low.g = copy.copy(g)
        low.g.tensors = {**g.tensors, pre: g.tensors[n.outputs[0]]}
        try:
            rule(low, layer)
            follow_rule(low, follow)
        finally:
            low.g = g
    return lower


def fused_rules(rules: dict) -> dict:
    """The int16 Conv / ConvTranspose / FullyConnected / Add rules of ``rules`` wrapped by
    :func:`with_fused_activation` (with ``rules["LeakyRelu"]`` for fused LeakyRelus)."""
    return {op: with_fused_activation(rules[op], rules.get("LeakyRelu"))
            for op in ("Conv", "ConvTranspose", "FullyConnected", "Add") if op in rules}


TABLE_OPS = ("Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Softsign",
             "Erf", "Gelu", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Pow", "Sin", "Cos",
             "Floor", "Ceil", "Round", "Sign", "ThresholdedRelu", "Shrink", "Tan", "Atan", "Asin", "Acos", "Sinh",
             "Cosh", "Asinh", "Acosh", "Atanh")
RULES = {op: unary for op in TABLE_OPS}
