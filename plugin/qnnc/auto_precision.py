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
those bits. The search
re-quantizes with the same calibration ranges (no new float passes), so it costs about two
reference runs over the calibration data per weight layer. The accuracy is measured on the
calibration data itself: check the result on held-out data (``qnnc validate``).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .config import Config
from .errors import ConfigError
from .ir import Graph
from .precision import matches, onnx_op_types, weight_layers
from .qmodel import QModel
from .reference.interpreter import dequantize_output, quantize_input, run_int8


def _pinned(graph: Graph, cfg: Config, model_path: str, key: str) -> Dict[str, int]:
    """{node name: bits} of the weight layers an override with ``key`` (weight_bits or
    activation_bits) sets (the last one wins)."""
    op_types = onnx_op_types(model_path or graph.source) if cfg.overrides else {}
    pinned: Dict[str, int] = {}
    for n in weight_layers(graph):
        for ov in cfg.overrides:
            if getattr(ov, key) is not None and matches(ov, n, op_types):
                pinned[n.name] = getattr(ov, key)
    return pinned


def pinned_layers(graph: Graph, cfg: Config, model_path: str) -> Dict[str, int]:
    """{node name: bits} of the layers an override with ``weight_bits`` sets (the last one wins)."""
    return _pinned(graph, cfg, model_path, "weight_bits")


def _evaluate(qm: QModel, xs: np.ndarray, ys: np.ndarray) -> Tuple[float, np.ndarray]:
    """(accuracy, dequantized outputs) of the reference on the samples."""
    q = run_int8(qm, quantize_input(qm, xs)).reshape(len(xs), -1)
    acc = float(np.mean(q.astype(np.int32).argmax(axis=1) == ys.reshape(-1)))
    return acc, dequantize_output(qm, q).astype(np.float64)


def pinned_activation_layers(graph: Graph, cfg: Config, model_path: str) -> Dict[str, int]:
    """{node name: bits} of the weight layers an override with ``activation_bits`` sets."""
    return _pinned(graph, cfg, model_path, "activation_bits")


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


def search_activations(graph: Graph, cfg: Config, model_path: str,
                       quantize_with: Callable[..., QModel], xs: np.ndarray, ys,
                       progress: bool = False) -> Tuple[Dict[str, int], List[str], Optional[float]]:
    """Phase 0: {node name: 8 | 16} activation bits of the weight layers (empty unless the config's
    default is 16), notes, and the all-int16 accuracy (None when skipped).
    ``quantize_with(weight_bits, act_bits)`` quantizes with the given bits."""
    if cfg.activation_bits != 16:
        return {}, [], None
    ys = _labels(cfg, xs, ys)
    pinned = pinned_activation_layers(graph, cfg, model_path)
    layers = weight_layers(graph)
    free = [n.name for n in layers if n.name not in pinned]
    base = {n.name: pinned.get(n.name, 16) for n in layers}
    weights = pinned_layers(graph, cfg, model_path)

    def evaluate(act):
        return _evaluate(quantize_with(weights, act), xs, ys)

    bits, acc, acc16, drop, _, order = _greedy(free, base, 8, evaluate, cfg.auto_precision, progress, "activation")
    n8 = [n for n in free if bits[n] == 8]
    notes = [f"auto precision: {len(n8)} of {len(free)} free layers at int8 activations; accuracy on the "
             f"{len(xs)} calibration samples {acc:.4f} (all int16 {acc16:.4f}, tolerance {cfg.auto_precision})"]
    notes += [f"  a{bits[n]}  {n}  (int8 alone: accuracy drop {drop[n]:+.4f})" for n in order]
    return bits, notes, acc16


def _labels(cfg: Config, xs: np.ndarray, ys):
    key = "quantization.auto_precision"
    if ys is None or cfg.calibration is None:
        raise ConfigError("auto_precision needs labelled calibration data: calibration.data with class labels "
                          "in an array 'y'", file=cfg.source, key=key, line=cfg.line_of(key))
    return np.asarray(ys)[:len(xs)] if len(ys) != len(xs) else ys  # max_samples cut the inputs


def search(graph: Graph, cfg: Config, model_path: str, quantize_with: Callable[[Dict[str, int]], QModel],
           xs: np.ndarray, ys, progress: bool = False, baseline: Optional[float] = None,
           int16_layers=()) -> Tuple[Dict[str, int], List[str]]:
    """The per-layer weight bits chosen for ``cfg.auto_precision`` (the tolerance) and notes
    describing the plan. ``quantize_with(bits)`` quantizes the model with the given bits (and the
    activation bits phase 0 chose). ``baseline`` (phase 0's all-int16 accuracy) is the accuracy
    the tolerance counts from; by default the all-int8-weights model's. ``int16_layers`` compute
    on int16 activations and keep int8 weights (the 16x8 kernels have no int4 variant)."""
    ys = _labels(cfg, xs, ys)
    tol = cfg.auto_precision
    layers = weight_layers(graph)
    sizes = {n.name: int(np.prod(graph.shape(n.inputs[1]))) for n in layers}
    pinned = pinned_layers(graph, cfg, model_path)
    free = [n.name for n in layers if n.name not in pinned and n.name not in set(int16_layers)]
    base = {n.name: pinned.get(n.name, 8) for n in layers}
    acc8, out8 = _evaluate(quantize_with(base), xs, ys)
    drop, change = {}, {}
    for i, name in enumerate(free):
        acc, out = _evaluate(quantize_with({**base, name: 4}), xs, ys)
        drop[name], change[name] = acc8 - acc, float(np.mean((out - out8) ** 2))
        if progress:
            print(f"qnnc: auto precision: sensitivity {i + 1}/{len(free)}", flush=True)
    order = sorted(free, key=lambda n: (round(drop[n], 9), change[n], -sizes[n]))
    ref = acc8 if baseline is None else baseline
    bits, acc = dict(base), acc8
    for name in order:
        trial = {**bits, name: 4}
        a, _ = _evaluate(quantize_with(trial), xs, ys)
        if a >= ref - tol - 1e-12:
            bits, acc = trial, a
    int4 = [n for n in free if bits[n] == 4]
    w8 = sum(sizes.values())
    w_mixed = sum(sizes[n] * bits[n] // 8 for n in sizes)
    notes = [f"auto precision: {len(int4)} of {len(free)} free layers at int4 weights; accuracy on the "
             f"{len(xs)} calibration samples {acc:.4f} (all int8 {acc8:.4f}, tolerance {tol}); weight values "
             f"{w_mixed} B instead of {w8} B (before packing padding)"]
    notes += [f"  {bits[n]}-bit  {n}  (int4 alone: accuracy drop {drop[n]:+.4f}, output MSE change "
              f"{change[n]:.3g})" for n in order]
    return bits, notes
