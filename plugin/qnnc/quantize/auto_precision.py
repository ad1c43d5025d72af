"""Automatic mixed precision (``quantization.auto_precision``): per-layer activation and weight bits.

0. Activations (only when ``activation_bits: 16``): the all-int16 model is the baseline; each
   weight layer alone is moved to int8 activations and its accuracy drop recorded, then layers are
   moved to int8 from the least sensitive on while the accuracy stays within ``tolerance`` of the
   baseline. Every move halves that layer's activation memory (the arena shrinks accordingly).
1. Weights, sensitivity: with every weight layer int8, the accuracy on the labelled calibration data is
   the baseline; each layer is then quantized alone to int4 and the accuracy drop recorded, and
   the mean squared change of the model's (dequantized) output, which ranks layers whose drops
   tie (a few hundred samples move the accuracy in coarse steps).
2. Greedy: layers in order of increasing drop, then output change, are moved to int4 one at a
   time, and a move is kept only while the accuracy stays within ``tolerance`` of the baseline.

Layers an override pins (``overrides`` entries with ``weight_bits`` / ``activation_bits``) keep
those bits. The search re-quantizes with the same calibration ranges (no new float passes), so
it costs about two reference runs over the calibration data per weight layer. The caller's
``evaluate(weight_bits, activation_bits)`` quantizes with those bits and returns the accuracy
and the dequantized outputs (pipeline.py runs the reference); the search only chooses bits.

What a plan costs in time: the caller's ``cost(weight bits, activation bits)`` returns the
expected instructions per inference on the build's target core and per layer (pipeline.py
quantizes the plan and applies ``plan.cost_model``); ``cost_notes`` states the chosen plan's
figure against the all-int8 plan's, and ``search_weights`` breaks ties between equally
sensitive layers by the instructions their int4 move saves.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..ir import Graph
from .precision import weight_layers

# (weight bits, activation bits of the weight layers) -> (accuracy, dequantized outputs)
Evaluate = Callable[[Dict[str, int], Dict[str, int]], Tuple[float, np.ndarray]]
# (weight bits, activation bits) -> (expected instructions per inference, {layer name: instructions})
Cost = Callable[[Dict[str, int], Dict[str, int]], Tuple[int, Dict[str, int]]]


def cost_notes(graph: Graph, cost: Cost, weight_bits: Mapping[str, int], activation_bits: Mapping[str, int],
               core: str) -> List[str]:
    """Build notes: the chosen plan's expected instructions on ``core`` (a description of the
    target) against the all-int8 plan's, in total and for each weight layer."""
    layers = weight_layers(graph)
    total, per = cost(dict(weight_bits), dict(activation_bits))
    total8, per8 = cost({n.name: 8 for n in layers}, {n.name: 8 for n in graph.nodes})
    notes = [f"auto precision: expected {total:,} instructions per inference (all int8: {total8:,}, "
             f"{total / max(total8, 1):.2f}x) on {core}"]
    for n in layers:
        if n.name in per:
            w, a = weight_bits.get(n.name, 8), activation_bits.get(n.name, 8)
            notes.append(f"  w{w}/a{a}  {n.name}: {per[n.name]:,} instructions (int8: {per8.get(n.name, 0):,})")
    return notes


def _greedy(names: List[str], base: Dict[str, int], low: int, evaluate, tol: float, progress: bool, what: str):
    """Move ``names`` to ``low`` bits one at a time, least sensitive first, keeping each move only
    while the accuracy stays within ``tol`` of ``base``'s. Returns (bits, accuracy, base accuracy,
    drops, output changes, order)."""
    acc0, out0 = evaluate(base)
    drop, change = {}, {}
    for i, name in enumerate(names):
        acc, out = evaluate({**base, name: low})
        drop[name], change[name] = acc0 - acc, float(np.mean((out - out0) ** 2))
        if progress:
            print(f"qnnc: auto precision: {what} sensitivity {i + 1}/{len(names)}", flush=True)
    order = sorted(names, key=lambda n: (round(drop[n], 9), change[n]))
    bits, acc = dict(base), acc0
    for name in order:
        trial = {**bits, name: low}
        a, _ = evaluate(trial)
        if a >= acc0 - tol - 1e-12:
            bits, acc = trial, a
    return bits, acc, acc0, drop, change, order


def search_activations(graph: Graph, evaluate: Evaluate, tolerance: float, pinned_weights: Mapping[str, int],
                       pinned_activations: Mapping[str, int], n_samples: int,
                       progress: bool = False) -> Tuple[Dict[str, int], List[str], float]:
    """Phase 0 (the default is int16 activations): {node name: 8 | 16} activation bits of the weight
    layers, notes, and the all-int16 accuracy. ``pinned_*`` are the bits overrides set."""
    layers = weight_layers(graph)
    free = [n.name for n in layers if n.name not in pinned_activations]
    base = {n.name: pinned_activations.get(n.name, 16) for n in layers}
    weights = dict(pinned_weights)

    def evaluate_acts(act):
        return evaluate(weights, act)

    bits, acc, acc16, drop, _, order = _greedy(free, base, 8, evaluate_acts, tolerance, progress, "activation")
    n8 = [n for n in free if bits[n] == 8]
    notes = [f"auto precision: {len(n8)} of {len(free)} free layers at int8 activations; accuracy on the "
             f"{n_samples} calibration samples {acc:.4f} (all int16 {acc16:.4f}, tolerance {tolerance})"]
    notes += [f"  a{bits[n]}  {n}  (int8 alone: accuracy drop {drop[n]:+.4f})" for n in order]
    return bits, notes, acc16


def search_weights(graph: Graph, evaluate: Evaluate, tolerance: float, pinned_weights: Mapping[str, int],
                   activation_bits: Mapping[str, int], n_samples: int, progress: bool = False,
                   baseline: Optional[float] = None, int16_layers=(),
                   cost: Optional[Cost] = None) -> Tuple[Dict[str, int], List[str]]:
    """Phases 1-2: the per-layer weight bits chosen within ``tolerance`` and notes describing the
    plan. ``baseline`` (phase 0's all-int16 accuracy) is the accuracy the tolerance counts from; by
    default the all-int8-weights model's. ``int16_layers`` compute on int16 activations and keep
    int8 weights (the 16x8 kernels have no int4 variant). ``cost``, when given, orders layers whose
    accuracy drop and output change tie by the instructions their int4 move saves (most first)."""
    tol = tolerance
    layers = weight_layers(graph)
    sizes = {n.name: int(np.prod(graph.shape(n.inputs[1]))) for n in layers}
    free = [n.name for n in layers if n.name not in pinned_weights and n.name not in set(int16_layers)]
    base = {n.name: pinned_weights.get(n.name, 8) for n in layers}
    acts = dict(activation_bits)
    acc8, out8 = evaluate(base, acts)
    drop, change = {}, {}
    for i, name in enumerate(free):
        acc, out = evaluate({**base, name: 4}, acts)
        drop[name], change[name] = acc8 - acc, float(np.mean((out - out8) ** 2))
        if progress:
            print(f"qnnc: auto precision: sensitivity {i + 1}/{len(free)}", flush=True)
    saved = {n: 0 for n in free}  # instructions an int4 move saves (a negative saving costs time)
    if cost is not None and free:
        total8, _ = cost(base, acts)
        saved = {n: total8 - cost({**base, n: 4}, acts)[0] for n in free}
    order = sorted(free, key=lambda n: (round(drop[n], 9), change[n], -saved[n], -sizes[n]))
    ref = acc8 if baseline is None else baseline
    bits, acc = dict(base), acc8
    for name in order:
        trial = {**bits, name: 4}
        a, _ = evaluate(trial, acts)
        if a >= ref - tol - 1e-12:
            bits, acc = trial, a
    int4 = [n for n in free if bits[n] == 4]
    w8 = sum(sizes.values())
    w_mixed = sum(sizes[n] * bits[n] // 8 for n in sizes)
    notes = [f"auto precision: {len(int4)} of {len(free)} free layers at int4 weights; accuracy on the "
             f"{n_samples} calibration samples {acc:.4f} (all int8 {acc8:.4f}, tolerance {tol}); weight values "
             f"{w_mixed} B instead of {w8} B (before packing padding)"]
    notes += [f"  {bits[n]}-bit  {n}  (int4 alone: accuracy drop {drop[n]:+.4f}, output MSE change "
              f"{change[n]:.3g})" for n in order]
    return bits, notes
