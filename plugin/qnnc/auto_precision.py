"""Automatic mixed precision (``quantization.auto_precision``): which layers can take int4 weights.

1. Sensitivity: with every weight layer int8, the accuracy on the labelled calibration data is
   the baseline; each layer is then quantized alone to int4 and the accuracy drop recorded, and
   the mean squared change of the model's (dequantized) output, which ranks layers whose drops
   tie (a few hundred samples move the accuracy in coarse steps).
2. Greedy: layers in order of increasing drop, then output change, are moved to int4 one at a
   time, and a move is kept only while the accuracy stays within ``tolerance`` of the baseline.

Layers an override pins (``overrides`` entries with ``weight_bits``) keep their bits. The search
re-quantizes with the same calibration ranges (no new float passes), so it costs about two
reference runs over the calibration data per weight layer. The accuracy is measured on the
calibration data itself: check the result on held-out data (``qnnc validate``).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import numpy as np

from .config import Config
from .errors import ConfigError
from .ir import Graph
from .precision import matches, onnx_op_types, weight_layers
from .qmodel import QModel
from .reference.interpreter import dequantize_output, quantize_input, run_int8


def pinned_layers(graph: Graph, cfg: Config, model_path: str) -> Dict[str, int]:
    """{node name: bits} of the layers an override with ``weight_bits`` sets (the last one wins)."""
    op_types = onnx_op_types(model_path or graph.source) if cfg.overrides else {}
    pinned: Dict[str, int] = {}
    for n in weight_layers(graph):
        for ov in cfg.overrides:
            if ov.weight_bits is not None and matches(ov, n, op_types):
                pinned[n.name] = ov.weight_bits
    return pinned


def _evaluate(qm: QModel, xs: np.ndarray, ys: np.ndarray) -> Tuple[float, np.ndarray]:
    """(accuracy, dequantized outputs) of the reference on the samples."""
    q = run_int8(qm, quantize_input(qm, xs)).reshape(len(xs), -1)
    acc = float(np.mean(q.astype(np.int32).argmax(axis=1) == ys.reshape(-1)))
    return acc, dequantize_output(qm, q).astype(np.float64)


def search(graph: Graph, cfg: Config, model_path: str, quantize_with: Callable[[Dict[str, int]], QModel],
           xs: np.ndarray, ys, progress: bool = False) -> Tuple[Dict[str, int], List[str]]:
    """The per-layer weight bits chosen for ``cfg.auto_precision`` (the tolerance) and notes
    describing the plan. ``quantize_with(bits)`` quantizes the model with the given bits."""
    key = "quantization.auto_precision"
    if ys is None or cfg.calibration is None:
        raise ConfigError("auto_precision needs labelled calibration data: calibration.data with class labels "
                          "in an array 'y'", file=cfg.source, key=key, line=cfg.line_of(key))
    if len(ys) != len(xs):
        ys = np.asarray(ys)[:len(xs)]  # max_samples cut the inputs
    tol = cfg.auto_precision
    layers = weight_layers(graph)
    sizes = {n.name: int(np.prod(graph.shape(n.inputs[1]))) for n in layers}
    pinned = pinned_layers(graph, cfg, model_path)
    free = [n.name for n in layers if n.name not in pinned]
    base = {n.name: pinned.get(n.name, 8) for n in layers}
    acc8, out8 = _evaluate(quantize_with(base), xs, ys)
    drop, change = {}, {}
    for i, name in enumerate(free):
        acc, out = _evaluate(quantize_with({**base, name: 4}), xs, ys)
        drop[name], change[name] = acc8 - acc, float(np.mean((out - out8) ** 2))
        if progress:
            print(f"qnnc: auto precision: sensitivity {i + 1}/{len(free)}", flush=True)
    order = sorted(free, key=lambda n: (round(drop[n], 9), change[n], -sizes[n]))
    bits, acc = dict(base), acc8
    for name in order:
        trial = {**bits, name: 4}
        a, _ = _evaluate(quantize_with(trial), xs, ys)
        if a >= acc8 - tol - 1e-12:
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
