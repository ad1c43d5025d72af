"""Activation range calibration: float forward passes over the calibration set.

Streams over the samples, one onnxruntime forward pass each; no activation of more than one
sample is held in memory. The first pass records every tensor's min/max (and, on request, its
mean over the samples, for bias correction); the histogram methods make a second pass that
fills fixed-range histograms (``_BINS`` bins over the first pass's [min, max]) and then choose
a clipping range per tensor from the histogram:

``minmax``
    the observed [min, max] (optionally an exponential moving average of per-sample min/max:
    ``moving_average: <momentum>``).
``percentile``
    the range that keeps ``percentile`` % of the values inside it.
``mse``
    the range whose int8 quantization (asymmetric, 256 levels) has the smallest expected squared
    error over the histogram: clipped values cost their distance to the nearest end, values
    inside cost the uniform rounding noise ``scale**2 / 12`` (exact zeros cost nothing: zero is
    always representable).
``kl``
    the range whose 256-level quantized distribution is closest in KL divergence to the clipped
    float distribution (the TensorRT "entropy" calibrator, for asymmetric int8).

Tensors named in ``keep_minmax`` (the model output and a Softmax's input, whose largest values
decide the prediction) keep their [min, max] under every method.

``auto`` (the config's default) is not a per-tensor rule but a search over these settings judged at
the model output: see calibrate_auto.py.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Mapping, Optional, Tuple

import numpy as np

from ..frontend.data import sample_count, sample_shape, take
from ..frontend.float_runner import FloatRunner

Ranges = Dict[str, Tuple[float, float]]
# ONNX tensor name -> (axis, factor): the value the compiled graph holds is the ONNX value times
# ``factor`` broadcast along ``axis`` (cross-layer equalization rescales channels).
Transforms = Mapping[str, Tuple[int, np.ndarray]]

METHODS = ("minmax", "percentile", "mse", "kl")
_BINS = 2048
_LEVELS = 256


PROGRESS_MIN_TOTAL = 500  # shorter loops finish too quickly to need progress output


class Progress:
    """Progress of one loop over ``total`` samples, on stderr.

    On a terminal: a tqdm bar with count, rate and ETA. Otherwise (a log file, a pipe, CI): plain
    lines, one per 10 % (or after 30 s without one), each with the elapsed time and an estimate of
    the time left; never carriage returns.
    """

    PLAIN_EVERY_SECONDS = 30.0

    def __init__(self, total: int, what: str, stream=None) -> None:
        self.total, self.what, self.done = total, what, 0
        self.stream = stream if stream is not None else sys.stderr
        self.start = self.last_line = time.monotonic()
        self.next_mark = 1
        self.bar = None
        isatty = getattr(self.stream, "isatty", None)
        if isatty is not None and isatty():
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=f"qnnc: {what}", unit="sample", file=self.stream,
                                dynamic_ncols=True, mininterval=0.25, leave=True)
            except ImportError:  # tqdm missing from an old environment: plain lines
                pass

    def update_to(self, done: int) -> None:
        """``done`` of ``total`` samples are finished."""
        done = min(done, self.total)
        if done <= self.done:
            return
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.done = done
            return
        self.done = done
        now = time.monotonic()
        tenths = done * 10 // max(1, self.total)
        if done < self.total and tenths < self.next_mark and now - self.last_line < self.PLAIN_EVERY_SECONDS:
            return
        self.next_mark = tenths + 1
        self.last_line = now
        elapsed = now - self.start
        if done >= self.total:
            tail = f"done in {elapsed:.1f} s"
        else:
            tail = f"{elapsed:.0f} s elapsed, about {elapsed * (self.total - done) / done:.0f} s left"
        self.stream.write(f"qnnc: {self.what} {done}/{self.total} ({100 * done // self.total} %), {tail}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


_ACTIVE: Dict[str, Progress] = {}


def _progress(i: int, n: int, what: str, enabled: bool) -> None:
    """``i`` of ``n`` samples of the loop ``what`` are done (calls with growing ``i``; ``i == n`` ends it)."""
    if not enabled or n < PROGRESS_MIN_TOTAL:
        return
    p = _ACTIVE.get(what)
    if p is None or p.total != n or i <= p.done:  # a new loop
        if p is not None:
            p.close()
        p = _ACTIVE[what] = Progress(n, what)
    p.update_to(i)
    if i >= n:
        p.close()
        del _ACTIVE[what]


def apply_transform(v: np.ndarray, tr: Optional[Tuple[int, np.ndarray]]) -> np.ndarray:
    """``v`` times the per-channel factor of a transform (``v`` itself without one)."""
    if tr is None:
        return v
    axis, factor = tr
    axis = axis % v.ndim
    shape = [1] * v.ndim
    shape[axis] = v.shape[axis]
    return v * np.asarray(factor, dtype=np.float64).reshape(shape).astype(v.dtype)


@dataclass
class Calibration:
    """What the calibration passes measured (ONNX tensor names, transforms applied)."""

    ranges: Ranges
    minmax: Ranges
    means: Dict[str, np.ndarray] = field(default_factory=dict)
    samples: int = 0


def collect(model_path: str, xs: np.ndarray, method: str = "minmax", percentile: float = 99.99,
            input_shape=None, progress: bool = True, moving_average: Optional[float] = None,
            transforms: Optional[Transforms] = None, means: bool = False,
            keep_minmax: Iterable[str] = (), only: Optional[Iterable[str]] = None) -> Calibration:
    """Stream the calibration set through the float model and choose a range for every tensor.

    ``only`` (ONNX names) limits the histogram methods' work to the tensors the compiled graph
    uses; the others keep their min/max.
    """
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}")
    runner = FloatRunner(model_path, input_shape, all_tensors=True)
    transforms = transforms or {}
    lo: Dict[str, float] = {}
    hi: Dict[str, float] = {}
    ema: Dict[str, Tuple[float, float]] = {}
    sums: Dict[str, np.ndarray] = {}
    n = sample_count(xs)

    def values(i: int, outs: Dict[str, np.ndarray]):
        sample = runner.feed(take(xs, slice(i, i + 1)))  # every model input, by name
        for name in runner.input_names:
            yield name, apply_transform(sample[name], transforms.get(name))
        for k, v in outs.items():
            yield k, apply_transform(v, transforms.get(k))

    for i, outs in enumerate(runner.iterate(xs)):
        for k, v in values(i, outs):
            a, b = float(v.min()), float(v.max())
            lo[k] = min(lo.get(k, a), a)
            hi[k] = max(hi.get(k, b), b)
            if moving_average is not None:
                m = moving_average
                ema[k] = (a, b) if k not in ema else (m * ema[k][0] + (1 - m) * a, m * ema[k][1] + (1 - m) * b)
            if means:
                s = sums.get(k)
                sums[k] = v.astype(np.float64) if s is None else s + v
        _progress(i + 1, n, "calibrating", progress)
    minmax = {k: (lo[k], hi[k]) for k in lo}
    mean_values = {k: s / n for k, s in sums.items()}
    if method == "minmax":
        ranges = dict(ema) if moving_average is not None else dict(minmax)
        return Calibration(ranges, minmax, mean_values, n)

    keep = set(keep_minmax)
    only = set(lo) if only is None else set(only)
    wanted = [k for k in lo if k in only and k not in keep and _has_bins(lo[k], hi[k])]
    hist = {k: np.zeros(_BINS, np.int64) for k in wanted}
    zeros = {k: 0 for k in wanted}
    for i, outs in enumerate(runner.iterate(xs)):
        for k, v in values(i, outs):
            if k in hist:
                h, _ = np.histogram(v, bins=_BINS, range=(lo[k], hi[k]))
                hist[k] += h
                zeros[k] += int(np.count_nonzero(v == 0))
        _progress(i + 1, n, "histograms", progress)
    ranges = dict(minmax)
    for k in wanted:
        if method == "percentile":
            ranges[k] = range_percentile(hist[k], lo[k], hi[k], percentile)
        elif method == "mse":
            ranges[k] = range_mse(hist[k], lo[k], hi[k], zeros[k])
        else:
            ranges[k] = range_kl(hist[k], lo[k], hi[k], zeros[k])
    return Calibration(ranges, minmax, mean_values, n)


def calibrate(model_path: str, xs: np.ndarray, method: str = "minmax", percentile: float = 99.99,
              input_shape=None, progress: bool = True, moving_average: Optional[float] = None,
              transforms: Optional[Transforms] = None, keep_minmax: Iterable[str] = ()) -> Ranges:
    """Per-tensor (min, max) of every float tensor of the model, incl. the input."""
    return collect(model_path, xs, method, percentile, input_shape, progress, moving_average, transforms,
                   keep_minmax=keep_minmax).ranges


def _has_bins(lo: float, hi: float) -> bool:
    """Whether [lo, hi] holds ``_BINS`` distinct float32 bins: a tensor whose values only differ in
    their last few bits (a near-constant one) keeps its min-max range, which is as good as any
    clipping there and which np.histogram could not split into bins (it raises)."""
    scale = max(abs(float(lo)), abs(float(hi)))
    return float(hi) - float(lo) > 4 * _BINS * float(np.finfo(np.float32).eps) * scale


# -- choosing a range from a histogram -------------------------------------------------------------
# ``h`` counts values in ``len(h)`` equal bins over [a, b].

def range_percentile(h: np.ndarray, a: float, b: float, percentile: float) -> Tuple[float, float]:
    """Drop (100 - percentile) % of the values at each end (an end at or above 0 stays put)."""
    nb = len(h)
    total = h.sum()
    if b <= a or total == 0:
        return a, b
    tail = (100.0 - percentile) / 100.0
    edges = np.linspace(a, b, nb + 1)
    c = np.cumsum(h) / total
    i_lo = int(np.searchsorted(c, tail, side="left"))
    i_hi = int(np.searchsorted(c, 1.0 - tail, side="left"))
    return (float(edges[i_lo]) if a < 0 else a, float(edges[min(i_hi + 1, nb)]))


def _grid_quant(L: np.ndarray, U: np.ndarray):
    """Representable ends and step of int8 asymmetric quantization of [L, U] (as in quantize/qparams.py)."""
    L = np.minimum(L, 0.0)
    U = np.maximum(U, 0.0)
    scale = np.maximum(U - L, 1e-30) / 255.0
    v = -128.0 - L / scale
    zp = np.clip(np.where(v >= 0, np.floor(v + 0.5), -np.floor(-v + 0.5)), -128, 127)
    return (-128.0 - zp) * scale, (127.0 - zp) * scale, scale


def quant_mse(h: np.ndarray, a: float, b: float, L, U, zeros: int = 0) -> np.ndarray:
    """Expected squared int8 quantization error (summed over the histogram) for each range [L, U]."""
    nb = len(h)
    c = a + (np.arange(nb) + 0.5) * ((b - a) / nb)
    cnt = _without_zeros(h, a, b, zeros).astype(np.float64)
    L = np.atleast_1d(np.asarray(L, np.float64))
    U = np.atleast_1d(np.asarray(U, np.float64))
    out = np.empty(len(L))
    for s in range(0, len(L), 64):
        lo_r, hi_r, scale = (x[:, None] for x in _grid_quant(L[s:s + 64], U[s:s + 64]))
        e = np.where(c > hi_r, (c - hi_r) ** 2, np.where(c < lo_r, (lo_r - c) ** 2, scale ** 2 / 12.0))
        out[s:s + 64] = e @ cnt
    return out


def range_mse(h: np.ndarray, a: float, b: float, zeros: int = 0) -> Tuple[float, float]:
    """The clipping range with the smallest expected int8 quantization error."""
    if b <= a or h.sum() == 0:
        return a, b
    lo0, hi0 = min(a, 0.0), max(b, 0.0)
    fr = np.linspace(1.0 / 64, 1.0, 256)

    def best(L, U):
        e = quant_mse(h, a, b, L, U, zeros)
        i = int(np.argmin(e))
        return float(np.atleast_1d(L)[min(i, np.size(L) - 1)]), float(np.atleast_1d(U)[min(i, np.size(U) - 1)]), e[i]

    # One scale factor for both ends, then each end on its own (coordinate descent).
    L, U, err = best(lo0 * fr, hi0 * fr)
    for _ in range(2):
        if hi0 > 0:
            L2, U2, e2 = best(np.full_like(fr, L), hi0 * fr)
            if e2 < err:
                L, U, err = L2, U2, e2
        if lo0 < 0:
            L2, U2, e2 = best(lo0 * fr, np.full_like(fr, U))
            if e2 < err:
                L, U, err = L2, U2, e2
    full = quant_mse(h, a, b, lo0, hi0, zeros)[0]
    if full <= err:
        return a, b
    return (L if a < 0 else a), (U if b > 0 else b)


def _smooth(p: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    zero = p == 0
    nz = p.size - int(zero.sum())
    if nz == 0:
        return p
    return p + eps * zero - (eps * zero.sum() / nz) * (~zero)


def kl_divergence(h: np.ndarray, i0: int, i1: int, levels: int = _LEVELS) -> float:
    """KL(P || Q): P = h clipped to bins [i0, i1) (outliers added to the end bins), Q = P quantized
    to ``levels`` levels and spread evenly over the bins that were non-empty (TensorRT's scheme)."""
    sliced = h[i0:i1].astype(np.float64)
    p = sliced.copy()
    p[0] += h[:i0].sum()
    p[-1] += h[i1:].sum()
    n = i1 - i0
    merged = max(1, n // levels)
    idx = np.minimum(np.arange(n) // merged, levels - 1)
    nonzero = (p != 0).astype(np.float64)
    qb = np.bincount(idx, weights=sliced, minlength=levels)
    cnt = np.bincount(idx, weights=nonzero, minlength=levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(cnt[idx] > 0, qb[idx] / np.maximum(cnt[idx], 1), 0.0)
    q[p == 0] = 0.0
    if not q.any():
        return math.inf
    p, q = _smooth(p), _smooth(q)
    p = p / p.sum()
    q = q / q.sum()
    m = p > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(p[m] * np.log(p[m] / np.where(q[m] > 0, q[m], 1e-30))))


def _without_zeros(h: np.ndarray, a: float, b: float, zeros: int) -> np.ndarray:
    """The histogram minus the exact zeros (they quantize without error: zero is representable)."""
    if not zeros or not a <= 0.0 <= b:
        return h
    h = h.astype(np.float64).copy()
    z = min(int((0.0 - a) / (b - a) * len(h)), len(h) - 1)
    h[z] = max(h[z] - zeros, 0.0)
    return h


def range_kl(h: np.ndarray, a: float, b: float, zeros: int = 0, levels: int = _LEVELS) -> Tuple[float, float]:
    """The clipping range minimising the KL divergence of the quantized distribution.

    Exact zeros (a ReLU output's spike) are left out: they are represented exactly, and spread
    over a quantization level they would make every wide range look bad.
    """
    nb = len(h)
    if b <= a or h.sum() == 0 or nb <= levels:
        return a, b
    h = _without_zeros(h, a, b, zeros)
    if h.sum() == 0:
        return a, b
    edges = np.linspace(a, b, nb + 1)

    def best(cands):
        cands = cands[::max(1, len(cands) // 256)] + cands[-1:]
        kls = [kl_divergence(h, i0, i1, levels) for i0, i1 in cands]
        k = int(np.argmin(kls))
        return cands[k], kls[k]

    if a >= 0:
        (i0, i1), _ = best([(0, i) for i in range(levels, nb + 1)])
    elif b <= 0:
        (i0, i1), _ = best([(i, nb) for i in range(nb - levels, -1, -1)])
    else:  # signed: each end on its own, alternately (coordinate descent from the full range)
        z = int((0.0 - a) / (b - a) * nb)
        i0, i1, cur = 0, nb, kl_divergence(h, 0, nb, levels)
        for _ in range(3):
            (j0, j1), k1 = best([(i0, i) for i in range(max(i0 + levels, z + 1), nb + 1)])
            if k1 < cur:
                i0, i1, cur = j0, j1, k1
            cands = [(i, i1) for i in range(min(i1 - levels, z), -1, -1)]
            if cands:
                (j0, j1), k0 = best(cands)
                if k0 < cur:
                    i0, i1, cur = j0, j1, k0
    return (float(edges[i0]) if a < 0 else a), (float(edges[i1]) if b > 0 else b)


def random_calibration_inputs(shape, count: int = 16, seed: int = 0) -> np.ndarray:
    """Stand-in inputs when the config names no calibration data (N(0, 1), seeded)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count,) + tuple(shape[1:])).astype(np.float32)


def random_calibration_samples(names, shapes, count: int = 16, seed: int = 0):
    """:func:`random_calibration_inputs` for every model input: one array for a single input, else
    {input name: array}, input k drawn with seed ``seed + k`` (input 0 as for a single input)."""
    if len(names) == 1:
        return random_calibration_inputs(shapes[0], count, seed)
    return {name: random_calibration_inputs(sample_shape(shape), count, seed + k) for k, (name, shape) in
            enumerate(zip(names, shapes))}


def backend_name() -> Optional[str]:
    try:
        import onnxruntime  # noqa: F401
        return "onnxruntime"
    except ImportError:
        return "onnx.reference"


# -- float values of compiled-graph tensors ---------------------------------------------------------

def internal_value(graph, name: str, get: Callable[[str], Optional[np.ndarray]]) -> Optional[np.ndarray]:
    """The float value of graph tensor ``name`` in the graph's storage layout (NHWC internals).

    ``get(onnx_name)`` returns the (transformed) float value of an ONNX tensor for one sample, or
    None. Views (Reshape/Transpose nodes) are followed back to the tensor they rearrange; other
    tensors are looked up under their original ONNX name and transposed NCHW -> NHWC when the
    graph stores them channels-last. Returns None when the value is not available.
    """
    prod = graph.producer(name)
    shape = tuple(graph.shape(name))
    if prod is not None and prod.op in ("Reshape", "Transpose"):
        v = internal_value(graph, prod.inputs[0], get)
        if v is None:
            return None
        if prod.op == "Transpose":
            v = v.transpose(prod.attrs["perm"])
        return v.reshape(shape) if v.size == int(np.prod(shape)) else None
    if prod is not None and prod.op == "Pad" and graph.original_name(name) == name and get(name) is None:
        v = internal_value(graph, prod.inputs[0], get)  # a Pad a pass made (no ONNX tensor to read)
        if v is None:
            return None
        p = prod.attrs["pads"]
        r = v.ndim
        v = np.pad(v, [(p[i], p[r + i]) for i in range(r)], constant_values=float(prod.attrs.get("value", 0.0)))
        return v if tuple(v.shape) == shape else None
    orig = graph.original_name(name)
    # a twin the layout pass transposes back into a tensor stored in the ONNX order (a reduction's
    # 3-D result; a public NCHW output), not into an NHWC internal one
    onnx_order = orig != name and orig in graph.tensors and (len(graph.shape(orig)) != 4 or
                                   (orig in graph.outputs and graph.io_layout == "NCHW"))
    back = next((n for n in graph.consumers(name) if n.op == "Transpose" and n.outputs[0] == orig), None) \
        if onnx_order else None
    if back is not None:
        v = get(orig)
        if v is None:
            return None
        v = v.transpose(np.argsort(back.attrs["perm"]))
        return v.reshape(shape) if v.size == int(np.prod(shape)) else None
    v = get(orig)
    if v is None:
        return None
    public = name in graph.inputs or name in graph.outputs
    if graph.layout == "NHWC" and v.ndim == 4 and not (public and graph.io_layout == "NCHW"):
        # a tensor an op computes in NCHW (a Softmax over W, layout.py's "_nchw" twins) stays so
        if not (tuple(v.shape) == shape and (v.shape[1], v.shape[2], v.shape[3]) != (v.shape[2], v.shape[3], v.shape[1])):
            v = v.transpose(0, 2, 3, 1)
    elif graph.layout == "NHWC" and v.ndim == 3 and len(shape) == 4 and shape[3] == v.shape[1] and \
            1 in shape[1:3] and shape[1] * shape[2] == v.shape[2] and not public:
        v = v.transpose(0, 2, 1)  # a 1-D conv's (N, C, W) tensor, stored as (N, 1, W, C) or (N, W, 1, C)
    if v.size != int(np.prod(shape)):
        return None
    return v.reshape(shape)
