"""The lowering: passed float Graph + calibrated ranges + PrecisionPlan -> :class:`QModel`.

One lowering for every precision: for each node it looks up the node's activation bits in the
plan and the op's rule in that precision's table (rules_s8.RULES, rules_s16.RULES). Inputs of
the other precision are converted first; the model API stays int8, so an int16 result is
converted back to int8 at the end.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import ModelError
from ..ir import Graph, Node
from ..qmodel import QModel
from . import rules_s8, rules_s16
from . import rules_conv_general
from . import rules_movement
from . import rules_embedding
from . import rules_recurrent
from . import rules_s16_elementwise
from . import rules_s16_conv_general
from . import rules_s16_recurrent
from . import rules_s16_tables
from . import rules_s16_mod
from . import rules_s16_reduce
from . import rules_s16_matmul
from .calibrate import Ranges
from .fixedpoint import ROUND_TFLITE, MultiplierRangeError
from .qparams import s16_scale
from .lowering import Lowering
from .precision import PrecisionPlan

# Per-precision rules: activation bits -> {op: rule(lowering, node)}.
RULES = {8: rules_s8.RULES, 16: rules_s16.RULES}
RULES[8] = {**RULES[8], **rules_conv_general.RULES}  # grouped/transposed Conv, MatMul of activations
RULES[8] = {**RULES[8], **rules_movement.RULES}  # Slice, Split, Gather, Resize, DepthToSpace ...
RULES[16] = {**RULES[16], **rules_movement.RULES}  # the same rules move int16 data (byte tables)
RULES[8] = {**RULES[8], **rules_recurrent.RULES}  # LSTM, GRU
RULES[16] = {**RULES[16], **rules_s16_conv_general.RULES_S16}  # Conv (grouped too), ConvTranspose (16x8)
RULES[16] = {**RULES[16], **rules_s16_recurrent.RULES_S16}  # LSTM, GRU (16x8)
RULES[16] = {**RULES[16], **rules_s16_elementwise.RULES}  # element-wise (constants too), Pad, Concat
RULES[16] = {**RULES[16], **rules_s16_tables.RULES, **rules_s16_tables.fused_rules(RULES[16])}  # unary tables
RULES[16] = {**RULES[16], **rules_s16_mod.RULES}  # Mod by a constant: exact (round + add kernels)
RULES[16] = {**RULES[16], **rules_s16_reduce.RULES_S16}  # reductions, ArgMax/Min, LogSoftmax, LayerNorm
RULES[16] = {**RULES[16], **rules_s16_matmul.RULES_S16}  # MatMul / Gemm of two activations (16x8)
RULES[8] = {**RULES[8], **rules_embedding.RULES}  # Gather by token ids: embedding lookup
RULES[16] = {**RULES[16], **rules_embedding.RULES}
NO_RULE = {8: rules_s8.no_rule, 16: rules_s16.no_rule}


def lower_node(low: Lowering, n: Node) -> None:
    """Lower one node at the plan's activation bits, converting inputs of the other precision."""
    bits = low.plan.of(n.name).activation_bits
    if bits == 16 and (getattr(low.g, "quant", None) is not None
                       or low.plan.of(n.name).rounding != ROUND_TFLITE):
        what = ("the model is already quantized (QDQ/QOperator) and keeps its own int8 quantization"
                if getattr(low.g, "quant", None) is not None else
                "quantization.rounding: half_even is not supported by the 16x8 kernels (they round like "
                "TFLite); use rounding: tflite or auto")
        raise ModelError(f"int16 activations are not possible here: {what}", file=low.g.source,
                         node=n.name, op=n.op)
    wide = [i for i in n.inputs if i in low.wide_indices]
    if wide:  # an int16 index (ArgMax / TopK over more than 127 entries): views keep it int16, scale 1
        if n.op not in ("Reshape", "Transpose") or len([i for i in n.inputs if i and not low.g.is_const(i)]) != 1:
            raise ModelError(f"the int16 index '{low.g.original_name(wide[0])}' (an ArgMax / TopK over more than 127 "
                             f"entries) is read by {n.op}; only views of it (Reshape, Transpose) and model outputs "
                             "are supported", file=low.g.source, node=n.name, op=n.op)
        RULES[16][n.op](low, n)
        low.wide_indices.update(o for o in n.outputs if o)
        return
    # The rule sees converted inputs under their graph names; the table is restored after.
    saved = {}
    for name in n.inputs:
        if name in low.tensors and not low.g.is_const(name) and name not in low.g.index_inputs:
            t = low.tensors[name]
            c = low.convert(t, bits)
            if c is not t:
                saved[name] = t
                low.tensors[name] = c
    try:
        RULES[bits].get(n.op, NO_RULE[bits])(low, n)
    except MultiplierRangeError as e:
        raise ModelError(f"{e}: the scales of this node's input and output are too far apart for integer "
                         "requantization (e.g. a division by a tensor whose range includes 0, or a constant "
                         "of extreme magnitude)", file=low.g.source, node=n.name, op=n.op) from None
    finally:
        low.tensors.update(saved)


def quantize(graph: Graph, ranges: Ranges, name: str, plan: PrecisionPlan, per_channel: bool = True,
             float_mean: Optional[Callable[[str], Optional[np.ndarray]]] = None,
             int4_clipping: str = "mse", calibration_inputs=None, int8_inputs: Sequence[str] = (),
             exact_output_scale: bool = False) -> QModel:
    """Lower a passed, NHWC graph to a QModel using calibrated ranges and the precision plan.

    ``float_mean`` enables bias correction: it returns, for a graph tensor, its mean float value
    over the calibration data in the graph's layout (or None when unknown). ``int4_clipping``
    ("mse" or "minmax", see int4.py) chooses the range of int4 weights. ``exact_output_scale``: a
    Softmax model output takes its calibrated scale even when that is not 10 % finer than 1/256
    (Lowering.softmax_inv_output_scale; calibration method auto chooses it: pipeline.exact_output_scale).
    """
    low = Lowering(graph, tie_ranges(ranges, graph.tied_ranges), plan, per_channel,
                   tie_means(float_mean, graph), int4_clipping)
    low.exact_output_scale = exact_output_scale
    low.notes = []  # what the lowering had to do differently from the plan (lower_node)
    low.calibration_inputs = calibration_inputs  # (samples, input pins): rules_recurrent's float LSTM/GRU
    multi = len(graph.inputs) != 1 or len(graph.outputs) != 1
    for inp in graph.inputs:
        bits = api_input_bits(graph, plan, inp) if multi and inp not in int8_inputs else 8
        if inp in graph.index_inputs:  # token ids: the id itself, int16 (rules_embedding.py)
            low.new_tensor(inp, 1.0, 0, bits=16)
        elif bits == 16:
            low.new_tensor(inp, s16_scale(*low.ranges[graph.original_name(inp)]), 0, bits=16)
        else:
            low.new_tensor(inp, *low.calibrated(inp))
    for n in graph.nodes:
        lower_node(low, n)
    # the API is int8, except a wide index (an int16 output, with the multi-tensor API)
    outs = [o if o in low.wide_indices else low.convert(low.tensors[o], 8).name for o in graph.outputs]
    return QModel(name=name, tensors=low.tensors, ops=low.ops, inputs=list(graph.inputs), outputs=outs,
                  source=graph.source, notes=low.notes, index_inputs=dict(graph.index_inputs),
                  value_inputs=list(graph.value_inputs),
                  output_names=list(graph.output_names if len(graph.output_names) == len(graph.outputs)
                                    else graph.outputs))


def tie_ranges(ranges: Ranges, groups) -> Ranges:
    """``ranges`` with every group of tied tensors (Graph.tied_ranges) given the union of their
    ranges (a copy; the same dict when there are no groups)."""
    if not groups:
        return ranges
    out = dict(ranges)
    for group in groups:
        have = [ranges[t] for t in group if t in ranges]
        if have:
            union = (min(float(lo) for lo, _ in have), max(float(hi) for _, hi in have))
            out.update({t: union for t in group if t in ranges})
    return out


def tie_means(float_mean: Optional[Callable[[str], Optional[np.ndarray]]], graph: Graph):
    """Bias correction's mean of a tensor, averaged over its tied group (Graph.tied_ranges), so
    the tied steps' layers get one corrected bias, as they get one range."""
    if float_mean is None or not graph.tied_ranges:
        return float_mean
    group_of = {t: i for i, g in enumerate(graph.tied_ranges) for t in g}
    cache = {}

    def mean(t: str) -> Optional[np.ndarray]:
        i = group_of.get(graph.original_name(t))
        if i is None:
            return float_mean(t)
        if i not in cache:
            ms = [float_mean(x) for x in graph.tied_ranges[i] if x in graph.tensors]
            ms = [m for m in ms if m is not None]
            same = ms and all(m.shape == ms[0].shape for m in ms)
            cache[i] = np.mean(np.stack(ms), axis=0) if same else None
        return cache[i] if cache[i] is not None else float_mean(t)
    return mean


def api_input_bits(graph: Graph, plan: PrecisionPlan, inp: str) -> int:
    """Bits of a graph input in the multi-I/O API: 16 when every node reading it runs with int16
    activations (so no conversion op is needed), else 8. Single-I/O models keep an int8 input."""
    readers = [n for n in graph.nodes if inp in n.inputs]
    if readers and graph.quant is None and all(plan.of(n.name).activation_bits == 16 and n.op in RULES[16]
                                               for n in readers):
        return 16
    return 8
