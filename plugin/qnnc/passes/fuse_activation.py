"""Fuse Relu / Clip / LeakyRelu into the Conv, FullyConnected or Add that produces their input.

The fused node takes over the activation's output name (its calibrated range is the
post-activation range) and records the activation as ``attrs["activation"]``:
``{"kind": "clip", "min": lo, "max": hi}`` or ``{"kind": "leaky_relu", "alpha": a,
"pre_act": <name of the pre-activation tensor>}``.
"""
from __future__ import annotations

import math

from ..ir import Graph

_PRODUCERS = {"Conv", "FullyConnected", "Add"}
# Table activations (quantize/unary_functions.py) fused into a Conv / FullyConnected as its act_lut:
# ``{"kind": "lut", "op": op, "attrs": attrs, "pre_act": ...}`` (ops with a fixed output scale stay apart).
_TABLE_ACTIVATIONS = {"HardSwish", "Elu", "Selu", "Celu", "Softplus", "Gelu"}
_PRODUCERS |= {"ConvTranspose"}


def fuse_activations(graph: Graph) -> Graph:
    """Fold each activation into its single-consumer producer."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op not in ("Relu", "Clip", "LeakyRelu") and n.op not in _TABLE_ACTIVATIONS:
            continue
        src = n.inputs[0]
        prod = g.producer(src)
        if prod is None or prod.op not in _PRODUCERS or "activation" in prod.attrs:
            continue
        if n.op in _TABLE_ACTIVATIONS and prod.op not in ("Conv", "FullyConnected"):
            continue
        if len(g.consumers(src)) != 1 or src in g.outputs:
            continue
        if n.op == "Relu":
            act = {"kind": "clip", "min": 0.0, "max": math.inf}
        elif n.op == "Clip":
            act = {"kind": "clip", "min": n.attrs["min"], "max": n.attrs["max"]}
        elif n.op == "LeakyRelu":
            act = {"kind": "leaky_relu", "alpha": float(n.attrs.get("alpha", 0.01)), "pre_act": src}
        else:
            act = {"kind": "lut", "op": n.op, "attrs": dict(n.attrs), "pre_act": src}
        prod.attrs["activation"] = act
        prod.outputs = [n.outputs[0]]
        g.nodes.remove(n)
    g.remove_unused()
    return g
