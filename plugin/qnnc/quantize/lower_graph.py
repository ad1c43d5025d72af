"""The lowering: passed float Graph + calibrated ranges + PrecisionPlan -> :class:`QModel`.

One lowering for every precision: for each node it looks up the node's activation bits in the
plan and the op's rule in that precision's table (rules_s8.RULES, rules_s16.RULES). Inputs of
the other precision are converted first; the model API stays int8, so an int16 result is
converted back to int8 at the end.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..errors import ModelError
from ..ir import Graph, Node
from ..qmodel import QModel
from . import rules_s8, rules_s16
from .calibrate import Ranges
from .fixedpoint import ROUND_TFLITE
from .lowering import Lowering
from .precision import PrecisionPlan

# Per-precision rules: activation bits -> {op: rule(lowering, node)}.
RULES = {8: rules_s8.RULES, 16: rules_s16.RULES}
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
    # The rule sees converted inputs under their graph names; the table is restored after.
    saved = {}
    for name in n.inputs:
        if name in low.tensors and not low.g.is_const(name):
            t = low.tensors[name]
            c = low.convert(t, bits)
            if c is not t:
                saved[name] = t
                low.tensors[name] = c
    try:
        RULES[bits].get(n.op, NO_RULE[bits])(low, n)
    finally:
        low.tensors.update(saved)


def quantize(graph: Graph, ranges: Ranges, name: str, plan: PrecisionPlan, per_channel: bool = True,
             float_mean: Optional[Callable[[str], Optional[np.ndarray]]] = None,
             int4_clipping: str = "mse") -> QModel:
    """Lower a passed, NHWC graph to a QModel using calibrated ranges and the precision plan.

    ``float_mean`` enables bias correction: it returns, for a graph tensor, its mean float value
    over the calibration data in the graph's layout (or None when unknown). ``int4_clipping``
    ("mse" or "minmax", see int4.py) chooses the range of int4 weights.
    """
    low = Lowering(graph, ranges, plan, per_channel, float_mean, int4_clipping)
    inp, outp = graph.inputs[0], graph.outputs[0]
    low.new_tensor(inp, *low.calibrated(inp))
    for n in graph.nodes:
        lower_node(low, n)
    out = low.convert(low.tensors[outp], 8)
    return QModel(name=name, tensors=low.tensors, ops=low.ops, input=inp, output=out.name, source=graph.source)
