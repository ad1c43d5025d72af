"""Activation range calibration: float forward passes over the calibration set.

Streams over the samples (one forward pass each; percentile needs a second pass to fill
fixed-range histograms), so no activation of more than one sample is held in memory.
"""
from __future__ import annotations

import sys
from typing import Dict, Optional, Tuple

import numpy as np

from .float_runner import FloatRunner

Ranges = Dict[str, Tuple[float, float]]
_BINS = 2048


def _progress(i: int, n: int, what: str, enabled: bool) -> None:
    if enabled and n >= 500 and (i % 100 == 0 or i == n):
        sys.stderr.write(f"\rqnnc: {what} {i}/{n}")
        if i == n:
            sys.stderr.write("\n")
        sys.stderr.flush()


def calibrate(model_path: str, xs: np.ndarray, method: str = "minmax", percentile: float = 99.99,
              input_shape=None, progress: bool = True) -> Ranges:
    """Per-tensor (min, max) of every float tensor of the model, incl. the input."""
    runner = FloatRunner(model_path, input_shape, all_tensors=True)
    lo: Dict[str, float] = {}
    hi: Dict[str, float] = {}
    n = xs.shape[0]

    def update(name: str, v: np.ndarray) -> None:
        a, b = float(v.min()), float(v.max())
        lo[name] = min(lo.get(name, a), a)
        hi[name] = max(hi.get(name, b), b)

    for i, outs in enumerate(runner.iterate(xs), 1):
        update(runner.input_name, xs[i - 1])
        for k, v in outs.items():
            update(k, v)
        _progress(i, n, "calibrating", progress)
    if method == "minmax":
        return {k: (lo[k], hi[k]) for k in lo}

    hist = {k: np.zeros(_BINS, np.int64) for k in lo}

    def add(name: str, v: np.ndarray) -> None:
        a, b = lo[name], hi[name]
        if b > a:
            h, _ = np.histogram(v, bins=_BINS, range=(a, b))
            hist[name] += h

    for i, outs in enumerate(runner.iterate(xs), 1):
        add(runner.input_name, xs[i - 1])
        for k, v in outs.items():
            add(k, v)
        _progress(i, n, "histograms", progress)
    tail = (100.0 - percentile) / 100.0
    ranges: Ranges = {}
    for k, h in hist.items():
        a, b = lo[k], hi[k]
        total = h.sum()
        if b <= a or total == 0:
            ranges[k] = (a, b)
            continue
        edges = np.linspace(a, b, _BINS + 1)
        c = np.cumsum(h) / total
        i_lo = int(np.searchsorted(c, tail, side="left"))
        i_hi = int(np.searchsorted(c, 1.0 - tail, side="left"))
        ranges[k] = (float(edges[i_lo]) if a < 0 else a, float(edges[min(i_hi + 1, _BINS)]))
    return ranges


def random_calibration_inputs(shape, count: int = 16, seed: int = 0) -> np.ndarray:
    """Stand-in inputs when the config names no calibration data (N(0, 1), seeded)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count,) + tuple(shape[1:])).astype(np.float32)


def backend_name() -> Optional[str]:
    try:
        import onnxruntime  # noqa: F401
        return "onnxruntime"
    except ImportError:
        return "onnx.reference"
