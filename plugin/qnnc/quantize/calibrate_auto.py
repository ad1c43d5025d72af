"""``calibration.method: auto``: choose the clipping ranges (and equalization / bias correction)
by the error they cause at the model output, measured on calibration samples held aside.

One float pass over the calibration set (as ``minmax`` makes) records, per tensor:

* min/max, separately for the range-estimation part A and the held-aside part B (the last
  ``held_count(n)`` samples);
* a strided subsample of the values (at most ``_SUBSAMPLE`` per tensor) for the MSE range;
* the mean (for bias correction) and, for the tensors cross-layer equalization would rescale,
  per-channel min/max (an equalized tensor's min-max range follows from them exactly: the
  factors are positive);
* the float model outputs of the held-aside samples.

Candidates, each quantized with ranges from part A only and judged by the output SQNR (dB) of
the int8 model (the numpy reference) against float on part B:

1. ``minmax``: the observed range;
2. ``mse``: per tensor the range of least expected int8 error (asymmetric, 256 levels) over the
   subsample; the decision tensors (model outputs, Softmax inputs) keep min-max;
3. both with bias correction, unless the config switches it off; the better of 1-2 (MSE unless
   min-max scores ``MINMAX_MARGIN_DB`` more) is then judged against min-max on the equalized
   graph, and the better of those without bias correction, unless the config sets these switches
   itself; a change is kept only when it gains ``MARGIN_DB`` (on a few samples, smaller gains are
   noise). Bias correction is judged once, on the best graph and ranges: on the corpus, switching
   it off never gained the margin, on either graph (four reference runs, not five).

Every candidate's model outputs (``tails``), and its other tensors with fewer than
``calibrate_tail.SMALL_TENSOR_VALUES`` calibration values (``small_tails``), then take the range
``calibrate_tail`` extends to the values unseen inputs produce beyond the calibration samples. That
is not judged on the held-aside samples: on a few of them the rare inputs beyond the calibrated
ranges seldom occur (TFLM hello world's 8 held samples: none), while they set the error later.

The winner's ranges are then recomputed from all samples (A and B). The choice is per model:
a per-tensor search would need a reference run per tensor and candidate, which breaks the time
budget (auto costs at most about twice a min-max calibration: one float pass, a few reference
runs on ``held_count`` samples). The score is a callable so this module needs neither the
config nor the reference interpreter (stage rules).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np

from ..frontend.data import sample_count, take
from ..frontend.float_runner import FloatRunner
from .calibrate import Calibration, Ranges, Transforms, _grid_quant, _progress, apply_transform
from .calibrate_tail import SMALL_TENSOR_VALUES, range_with_tail

_SUBSAMPLE = 65536  # values kept per tensor for the MSE range (strided over each sample)
_CHUNK = 16         # samples whose float tensors enter the statistics together
HELD_MAX = 16       # held-aside samples judged per candidate (each costs a reference run)
HELD_MIN_SAMPLES = 8  # below this many calibration samples the candidates are judged on all of them
# Fewest held samples the four-candidate search is judged on; a model whose run budget allows
# fewer judges min-max against MSE only, on twice as many. On 2 samples the candidates' scores
# move by a dB or more with which samples they are (MnasNet: the held scores of min-max and MSE
# swapped order with a change of the MSE subsample while on 256 test inputs MSE stayed 0.4-1 dB
# ahead), more than the margins the search decides by.
FULL_SEARCH_MIN_HELD = 4


MARGIN_DB = 1.0  # what equalization must gain to be switched on, and bias correction to be switched off
# What min-max must gain over the MSE ranges to be chosen: on a few held samples (2 for the
# larger CNNs) a smaller difference is noise, and MSE's ranges, set by the bulk of each
# tensor's values rather than by the few most extreme calibration values, carry over better to
# inputs not seen (corpus models within this margin: MnasNet +1.1 dB on test inputs, micro
# speech +1.0 dB, U-Net +0.1 dB; the others unchanged).
MINMAX_MARGIN_DB = 0.5


# Reference runs (samples x candidates) the search may make, as multiply-accumulates: the numpy
# reference costs roughly 10 ns per MAC, so this is about 2 s, at most 64 runs (16 samples, 4 candidates).
RUN_BUDGET_MACS = 200_000_000
RUNS_MAX, RUNS_MIN = 64, 4


def held_count(n: int, macs: int = 0) -> int:
    """How many of ``n`` calibration samples (the last ones) judge the candidates (0: judge on all),
    for a model of ``macs`` multiply-accumulates: up to a quarter of them, within the run budget
    for four candidates, or for two (min-max and MSE) where four would get fewer than
    ``FULL_SEARCH_MIN_HELD`` samples."""
    if n < HELD_MIN_SAMPLES:
        return 0
    budget = run_budget(macs)
    per_sample = 4 if budget // 4 >= FULL_SEARCH_MIN_HELD else 2  # candidates each sample is run for
    return min(HELD_MAX, max(2, n // 4), max(2, budget // per_sample))


def subsample_step(size: int, quota: int) -> int:
    """The stride that keeps about ``quota`` of a sample's ``size`` values for the MSE range:
    ``size // quota`` moved up to the next number coprime with ``size``. A stride that divides the
    tensor's shape keeps the same few columns of every row (U-Net's 16x64x64 maps at stride 32:
    columns 0 and 32 only, half of the kept values on the padded border); a coprime one walks
    through every column and channel."""
    step = max(1, size // max(1, quota))
    while step > 1 and math.gcd(step, size) != 1:
        step += 1
    return step


def run_budget(macs: int) -> int:
    """Reference sample-runs the search may make for a model of ``macs`` MACs."""
    return int(min(RUNS_MAX, max(RUNS_MIN, RUN_BUDGET_MACS // max(1, macs))))


def graph_macs(graph) -> int:
    """Multiply-accumulates of the Conv / FullyConnected nodes of a passed graph (OIHW / (out, in)
    weights): the cost estimate that sizes the search."""
    total = 0
    for n in graph.nodes:
        if n.op in ("Conv", "FullyConnected") and len(n.inputs) > 1 and graph.is_const(n.inputs[1]):
            total += int(np.prod(graph.shape(n.outputs[0]))) * int(np.prod(graph.shape(n.inputs[1])[1:]))
    return total


@dataclass
class _Stats:
    """Streaming statistics of one part of the calibration set."""

    lo: Dict[str, float] = field(default_factory=dict)
    hi: Dict[str, float] = field(default_factory=dict)
    sums: Dict[str, np.ndarray] = field(default_factory=dict)
    chan: Dict[str, Tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    values: Dict[str, List[np.ndarray]] = field(default_factory=dict)
    n: int = 0

    def add(self, k: str, v: np.ndarray, step: int, axis: Optional[int]) -> None:
        """One sample's value ``v`` of tensor ``k``: its range, per-channel ranges on ``axis``, its
        sum (for the mean) and every ``step``-th value (for the MSE range)."""
        a, b = float(v.min()), float(v.max())
        self.lo[k] = min(self.lo.get(k, a), a)
        self.hi[k] = max(self.hi.get(k, b), b)
        s = self.sums.get(k)
        if s is None:
            self.sums[k] = v.astype(np.float64)
        else:
            np.add(s, v, out=s)
        self.values.setdefault(k, []).append(np.array(v.reshape(-1)[::step], np.float64))
        self._add_channels(k, v[np.newaxis], axis)

    def _add_channels(self, k: str, st: np.ndarray, axis: Optional[int]) -> None:
        """Per-channel min / max of samples ``st`` (stacked on a new axis 0) along ``axis``."""
        if axis is None:
            return
        ax = axis % (st.ndim - 1)
        red = tuple(i for i in range(st.ndim - 1) if i != ax)
        # Across the samples first (a contiguous element-wise pass), then within one sample's
        # shape: the same extremes, 5x faster than one reduction over the scattered axes.
        lo, hi = st.min(axis=0), st.max(axis=0)
        cl, ch = lo.min(axis=red).astype(np.float64), hi.max(axis=red).astype(np.float64)
        if k in self.chan:
            cl, ch = np.minimum(self.chan[k][0], cl), np.maximum(self.chan[k][1], ch)
        self.chan[k] = (cl, ch)

    def add_many(self, k: str, vs, step: int, axis: Optional[int]) -> None:
        """``add`` of several samples of tensor ``k`` in order (a list of arrays, or one array
        with the samples on axis 0), with one numpy call per statistic
        (the per-call overhead dominated the float pass); the same values as ``add`` one by one:
        min / max are exact in any order and the sums are still added sample by sample."""
        v0 = vs[0]
        if len(vs) == 1 or (not isinstance(vs, np.ndarray) and len({(v.shape, v.dtype) for v in vs}) > 1):
            for v in vs:
                self.add(k, v, step, axis)
            return
        st = vs if isinstance(vs, np.ndarray) else np.stack(vs)
        flat = st.reshape(len(vs), -1)
        # Folded sample by sample as add does: which of -0.0 / 0.0 (or a NaN) is kept depends on it.
        for a, b in zip(flat.min(axis=1).tolist(), flat.max(axis=1).tolist()):
            a, b = float(a), float(b)
            self.lo[k] = min(self.lo.get(k, a), a)
            self.hi[k] = max(self.hi.get(k, b), b)
        self._add_channels(k, st, axis)
        self.values.setdefault(k, []).append(flat[:, ::step].astype(np.float64).reshape(-1))  # exact
        s = self.sums.get(k)
        rows = flat
        if s is None:
            s = self.sums[k] = flat[0].astype(np.float64).reshape(v0.shape)
            rows = flat[1:]
        flat_s = s.reshape(-1)  # a view: still ((s + v0) + v1) + ..., add's order, sample by sample
        for row in rows:  # each row widened to float64 exactly by the ufunc, no full-size copy
            np.add(flat_s, row, out=flat_s, dtype=np.float64)

    def merged(self, other: "_Stats") -> "_Stats":
        out = _Stats(n=self.n + other.n)
        for k in set(self.lo) | set(other.lo):
            los = [s.lo[k] for s in (self, other) if k in s.lo]
            his = [s.hi[k] for s in (self, other) if k in s.hi]
            out.lo[k], out.hi[k] = min(los), max(his)
            sums = [s.sums[k] for s in (self, other) if k in s.sums]
            if sums:
                out.sums[k] = sums[0] if len(sums) == 1 else sums[0] + sums[1]
            out.values[k] = self.values.get(k, []) + other.values.get(k, [])
            chans = [s.chan[k] for s in (self, other) if k in s.chan]
            if chans:
                out.chan[k] = chans[0] if len(chans) == 1 else (np.minimum(chans[0][0], chans[1][0]),
                                                                  np.maximum(chans[0][1], chans[1][1]))
        return out

    def minmax(self) -> Ranges:
        return {k: (self.lo[k], self.hi[k]) for k in self.lo}

    def means(self, transforms: Optional[Transforms] = None) -> Dict[str, np.ndarray]:
        transforms = transforms or {}
        return {k: apply_transform(s / max(1, self.n), transforms.get(k)) for k, s in self.sums.items()}

    def mse(self, keep: Iterable[str], only: Optional[Iterable[str]] = None) -> Ranges:
        keep = set(keep)
        only = set(self.lo) if only is None else set(only)
        out = self.minmax()
        for k in self.lo:
            if k in only and k not in keep and self.hi[k] > self.lo[k]:
                out[k] = range_mse_samples(np.concatenate(self.values[k]), self.lo[k], self.hi[k])
        return out

    def equalized_minmax(self, transforms: Transforms) -> Ranges:
        """Min-max ranges of the tensors after equalization (positive per-channel factors)."""
        out = self.minmax()
        for k, (_, factor) in transforms.items():
            if k in self.chan:
                f = np.asarray(factor, np.float64)
                cl, ch = self.chan[k]
                out[k] = (float(np.min(cl * f)), float(np.max(ch * f)))
        return out


class _Pending:
    """One chunk of samples' tensors on their way to ``_Stats.add_many``.

    Each tensor's samples are copied into one array as they arrive, while the float run's output
    is still in cache: stacking them at the flush read memory the float run had long evicted. The
    arrays are reused chunk after chunk (``add_many`` keeps no view of them). A tensor whose shape
    or dtype changes between samples is kept as a list instead.
    """

    def __init__(self, size: int):
        self.size = size
        self.count = 0  # samples added since the last clear
        self._stacked: Dict[str, np.ndarray] = {}
        self._lists: Dict[str, List[np.ndarray]] = {}  # this chunk's tensors kept as lists
        self._names: Dict[str, None] = {}  # this chunk's tensors, in order

    def add(self, name: str, v: np.ndarray) -> None:
        """Sample number ``count`` of tensor ``name``."""
        v = np.asarray(v)
        seen = name in self._names
        self._names[name] = None
        if name in self._lists:
            self._lists[name].append(v)
            return
        buf = self._stacked.get(name)
        fits = buf is not None and buf.shape[1:] == v.shape and buf.dtype == v.dtype
        if fits and (seen or self.count == 0):
            buf[self.count] = v
            return
        if self.count == 0:  # the chunk's first sample: a new array
            self._stacked[name] = np.empty((self.size,) + v.shape, v.dtype)
            self._stacked[name][0] = v
            return
        # Shape or dtype changed within the chunk (or a tensor first seen mid-chunk): a list.
        self._lists[name] = (list(buf[:self.count].copy()) if seen else []) + [v]
        self._stacked.pop(name, None)

    def end_sample(self) -> None:
        """The current sample's tensors are all added."""
        self.count += 1

    def items(self):
        """(name, samples): a stacked array (sample axis first) or a list of arrays."""
        for name in self._names:
            yield name, (self._lists[name] if name in self._lists else self._stacked[name][:self.count])

    def clear(self) -> None:
        self.count = 0
        self._lists.clear()
        self._names.clear()


def range_mse_samples(s: np.ndarray, a: float, b: float) -> Tuple[float, float]:
    """The int8 range of least squared error over the sample values ``s`` of a tensor with
    observed range [a, b] (the candidates of ``calibrate.range_mse``; exact zeros cost nothing).

    Sorted values and prefix sums make each candidate O(log m): clipped values cost their squared
    distance to the nearest representable end, values inside the uniform rounding noise scale**2/12.
    """
    s = np.sort(s[s != 0.0].astype(np.float32)).astype(np.float64)  # float32 values: an exact, faster sort
    m = len(s)
    if b <= a or m == 0:
        return a, b
    p1 = np.concatenate([[0.0], np.cumsum(s)])
    p2 = np.concatenate([[0.0], np.cumsum(s * s)])

    def err(L, U):
        lo_r, hi_r, scale = _grid_quant(np.atleast_1d(L), np.atleast_1d(U))
        i = np.searchsorted(s, lo_r, side="left")   # s[:i] < lo_r
        j = np.searchsorted(s, hi_r, side="right")  # s[j:] > hi_r
        below = p2[i] - 2 * lo_r * p1[i] + lo_r ** 2 * i
        above = (p2[m] - p2[j]) - 2 * hi_r * (p1[m] - p1[j]) + hi_r ** 2 * (m - j)
        return np.maximum(below, 0) + np.maximum(above, 0) + (j - i) * scale ** 2 / 12.0

    lo0, hi0 = min(a, 0.0), max(b, 0.0)
    fr = np.linspace(1.0 / 64, 1.0, 256)

    def best(L, U):
        e = err(L, U)
        i = int(np.argmin(e))
        return float(np.atleast_1d(L)[min(i, np.size(L) - 1)]), float(np.atleast_1d(U)[min(i, np.size(U) - 1)]), e[i]

    L, U, e0 = best(lo0 * fr, hi0 * fr)
    for _ in range(2):  # one factor for both ends, then each end on its own (coordinate descent)
        if hi0 > 0:
            L2, U2, e2 = best(np.full_like(fr, L), hi0 * fr)
            if e2 < e0:
                L, U, e0 = L2, U2, e2
        if lo0 < 0:
            L2, U2, e2 = best(lo0 * fr, np.full_like(fr, U))
            if e2 < e0:
                L, U, e0 = L2, U2, e2
    if err(lo0, hi0)[0] <= e0:
        return a, b
    return (L if a < 0 else a), (U if b > 0 else b)


@dataclass
class Candidate:
    """One setting the search judged."""

    method: str  # "minmax" | "mse"
    equalization: bool
    bias_correction: bool
    sqnr_db: float = float("nan")

    def label(self) -> str:
        extra = [w for w, on in (("equalization", self.equalization), ("bias correction", self.bias_correction))
                 if on]
        return self.method + (" + " + " + ".join(extra) if extra else "")


@dataclass
class AutoResult:
    """The chosen setting with its calibration (from all samples) and what was tried."""

    calibration: Calibration
    chosen: Candidate
    tried: List[Candidate]
    held: int
    equalized: bool
    full_search: bool = True
    # (max over the range-estimation part, max over the held-aside part) of each ``watch`` tensor
    held_tops: Dict[str, Tuple[float, float]] = field(default_factory=dict)
    # tensors other than the model outputs whose few calibration values had their range extended
    small_extended: List[str] = field(default_factory=list)

    def note(self) -> str:
        where = (f"{self.held} held-aside calibration samples (not used for the ranges it judged)" if self.held
                 else "the calibration samples themselves (too few to hold some aside)")
        tried = ", ".join(f"{c.label()} {c.sqnr_db:.1f} dB" for c in self.tried)
        small = "" if self.full_search else " (too few held samples for more candidates: only min-max and MSE)"
        return (f"calibration method auto chose {self.chosen.label()}: output SQNR vs float on {where}: {tried}"
                f"{small}; its ranges come from all {self.calibration.samples} samples")


def _sqnr(ref: List[np.ndarray], out: List[np.ndarray]) -> float:
    f = np.concatenate([np.asarray(r, np.float64).reshape(-1) for r in ref])
    q = np.concatenate([np.asarray(o, np.float64).reshape(-1) for o in out])
    noise = float(np.sum((q - f) ** 2))
    return float("inf") if noise == 0.0 else float(10 * np.log10(max(float(np.sum(f * f)), 1e-30) / noise))


def search(model_path: str, xs, run: Callable[[bool, Ranges, Optional[Dict[str, np.ndarray]], object],
                                                 List[np.ndarray]],
           float_out: Callable[[Dict[str, np.ndarray]], List[np.ndarray]], input_shape=None, progress: bool = True,
           transforms: Optional[Transforms] = None, eq_transforms: Optional[Transforms] = None,
           keep_minmax: Iterable[str] = (), only: Optional[Iterable[str]] = None, also_read: Iterable[str] = (),
           fixed: Optional[Ranges] = None, try_bias_correction: bool = True,
           force_bias_correction: bool = False, macs: int = 0, watch: Iterable[str] = (),
           tails: Optional[Mapping[str, Tuple[float, float]]] = None,
           small_tails: Optional[Mapping[str, Tuple[float, float]]] = None) -> AutoResult:
    """Run the float pass and the candidate search (see the module docstring).

    ``run(equalized, ranges, means, held_xs)`` quantizes the graph (the equalized one when
    ``equalized``) with those ranges (and bias correction from ``means`` when not None) and
    returns its dequantized outputs for ``held_xs``. ``float_out(values)`` turns one sample's
    float tensors {ONNX name: value} into the model outputs as ``run`` returns them (graph
    layout). ``transforms``: the equalization already applied (config ``equalization: true``);
    ``eq_transforms``: those of the equalized candidate graph (None: no such candidate).
    ``only``: the tensors the graphs hold (the MSE candidate's; None: all the float run returns);
    with those of ``eq_transforms`` and ``also_read`` (others whose range the quantizer reads: a fused
    activation's input, the members of a tied group) they are the tensors whose statistics are recorded, and have ranges.
    ``fixed`` ranges override the calibrated ones (uint8 inputs). ``macs`` sizes the search
    (``run_budget``): a model too big for four candidates on ``FULL_SEARCH_MIN_HELD`` held samples,
    or a calibration set too small to hold that many aside, is judged on min-max against MSE only.
    ``watch``: tensors whose maxima over the two parts are returned (``held_tops``;
    with held-aside samples only). ``tails``: {tensor: (lowest, highest) value it can take} whose
    range extends to the expected tail beyond the calibrated one (``calibrate_tail``).
    ``small_tails``: the same for every tensor, applied to those with fewer than
    ``SMALL_TENSOR_VALUES`` calibration values.
    """
    runner = FloatRunner(model_path, input_shape, all_tensors=True)
    transforms = transforms or {}
    eq_transforms = eq_transforms or {}
    eq_axes = {name: axis for name, (axis, _) in eq_transforms.items()}
    n = sample_count(xs)
    k = held_count(n, macs)
    # four candidates only on enough held samples (fewer: a small calibration set or a big model)
    full_search = k == 0 or (k >= FULL_SEARCH_MIN_HELD and run_budget(macs) >= 4 * k)
    quota = max(16, _SUBSAMPLE // max(1, n))
    part_a, part_b = _Stats(), _Stats()
    held_float: List[List[np.ndarray]] = []
    only_set = set(only) if only is not None else None
    pending = _Pending(_CHUNK)  # a chunk of samples' tensors, not yet in the statistics
    # Statistics only for the tensors a candidate's graph can read (the float run also returns
    # those the passes fused away, e.g. a Conv's output before its BatchNormalization).
    recorded = None if only_set is None else only_set | set(eq_axes) | set(also_read)

    def flush(part: _Stats) -> None:
        for name, vs in pending.items():
            part.add_many(name, vs, subsample_step(vs[0].size, quota), eq_axes.get(name))
        pending.clear()

    for i, outs in enumerate(runner.iterate(xs)):
        part = part_b if i >= n - k else part_a
        part.n += 1
        sample = runner.feed(take(xs, slice(i, i + 1)))
        values = {name: sample[name] for name in runner.input_names}
        values.update(outs)
        for name, v in values.items():
            if recorded is None or name in recorded:
                pending.add(name, apply_transform(v, transforms.get(name)))
        pending.end_sample()
        if i + 1 == n - k or i + 1 == n or pending.count >= _CHUNK:
            flush(part)
        if i >= n - k or k == 0:
            held_float.append(float_out(values))
        _progress(i + 1, n, "calibrating", progress)
    held_xs = take(xs, slice(n - k, n)) if k else xs  # k == 0: judged on the samples themselves
    judge = part_a
    ref = [np.stack([h[j] for h in held_float]) for j in range(len(held_float[0]))]
    keep = list(keep_minmax)
    fixed = fixed or {}
    tails, small_tails = tails or {}, small_tails or {}

    def ranges_of(stats: _Stats, c: Candidate, extended: Optional[List[str]] = None) -> Ranges:
        """The candidate's ranges; ``extended`` collects the tensors other than outputs whose range
        the tail fit widened."""
        if c.equalization:
            r = stats.equalized_minmax(eq_transforms)
        elif c.method == "mse":
            r = stats.mse(keep, only)
        else:
            r = stats.minmax()
        for name, bounds in {**small_tails, **tails}.items():
            rescaled = c.equalization and name in eq_transforms  # its values were recorded before the rescaling
            if name not in r or name not in stats.values or name in fixed or rescaled:
                continue
            vals = np.concatenate(stats.values[name])
            if name in tails or vals.size < SMALL_TENSOR_VALUES:
                was, r[name] = r[name], range_with_tail(vals, *r[name], bounds)
                if extended is not None and name not in tails and r[name] != was:
                    extended.append(name)
        r.update(fixed)
        return r

    def means_of(stats: _Stats, c: Candidate):
        if not (c.bias_correction or force_bias_correction):
            return None
        return stats.means(eq_transforms if c.equalization else None)

    cache: Dict[str, Ranges] = {}
    tried: List[Candidate] = []

    def judge_candidate(c: Candidate) -> Candidate:
        key = f"{c.method}/{c.equalization}"
        if key not in cache:
            cache[key] = ranges_of(judge, c)
        c.sqnr_db = _sqnr(ref, run(c.equalization, cache[key], means_of(judge, c), held_xs))
        tried.append(c)
        return c

    # Bias correction starts on (unless the config switches it off): it removes the mean shift
    # that weight rounding adds to each channel, and on the corpus it never cost more than 0.1 dB.
    bc0 = force_bias_correction or try_bias_correction

    def better(c: Candidate, than: Candidate) -> Candidate:
        # A change of setting must win by a margin: on a few held samples, tenths of a dB are noise.
        return c if c.sqnr_db > than.sqnr_db + MARGIN_DB else than

    mm = judge_candidate(Candidate("minmax", False, bc0))
    ms = judge_candidate(Candidate("mse", False, bc0))
    best = mm if mm.sqnr_db > ms.sqnr_db + MINMAX_MARGIN_DB else ms
    if eq_transforms and full_search:
        best = better(judge_candidate(Candidate("minmax", True, bc0)), best)
    if try_bias_correction and full_search:  # off only where that gains the margin, judged once: on the best
        best = better(judge_candidate(Candidate(best.method, best.equalization, False)), best)
    full = part_a.merged(part_b) if k else part_a
    small_extended: List[str] = []
    ranges = ranges_of(full, best, small_extended)
    minmax = full.equalized_minmax(eq_transforms) if best.equalization else full.minmax()
    minmax.update(fixed)
    means = full.means(eq_transforms if best.equalization else None) if (best.bias_correction or bc0) else {}
    cal = Calibration(ranges, minmax, means, n)
    tops = {w: (part_a.hi[w], part_b.hi[w]) for w in watch if k and w in part_a.hi and w in part_b.hi}
    return AutoResult(cal, best, tried, k, best.equalization, full_search, tops, sorted(small_extended))

