"""Data-free activation ranges from BatchNormalization statistics (``calibration: {method: batchnorm}``).

Nagel et al. 2019 ("Data-Free Quantization Through Weight Equalization and Bias Correction") use the
statistics a BatchNormalization layer was trained with: its output ``gamma * x_hat + beta`` has,
per channel, mean ``beta`` and standard deviation ``|gamma|`` on the training data (``x_hat`` was
normalized with the running mean and variance). ``passes.canonicalize.fold_batchnorm`` records
``(beta, |gamma|)`` under the ONNX name of each BN output (``Graph.bn_stats``) before folding it.

Ranges (all seeded, so the same model gives the same ranges):

* a BN output (the pre-activation tensor of the fused Conv/Gemm):
  ``[min_c(beta_c - n |gamma_c|), max_c(beta_c + n |gamma_c|)]`` with ``n = SIGMAS = 6`` as in DFQ.
  Why 6 and not the ~4 sigma an int8 MSE search picks for a Gaussian: real features are Gaussian
  only in their first two moments (skewed, heavy-tailed: the shared digits model's data reach
  6 sigma), and one per-tensor range covers every channel. Measured on that model (output SQNR vs
  float on its first 300 test samples): n = 4 gives 36.4 dB, n = 6 37.8 dB, n = 8 37.2 dB.
* the output of a Relu / Clip (ReLU6) fused into that Conv/Gemm: the same per-channel ranges
  clipped to the activation's bounds, then merged.
* the model input: a synthetic input N(mu, s^2) whose mean and std are fitted so that the first
  Conv/Gemm gives the pre-BN mean and variance its BatchNormalization recorded (ZeroQ's idea of
  matching BN statistics, in closed form for one linear layer); N(0, 1) when no BN follows the
  first layer. Its range is the min/max of those samples.
* every other tensor comes from a float run of the model in which each BN output is *replaced* by
  values drawn per channel from N(beta, gamma^2) (the input as above), so an Add, pool or last
  Gemm after a BN layer sees values of the BN-implied scale: ops that pass values through (pools,
  views, Concat, Pad, Slice ...) keep their inputs' range, Relu/Clip clip it; ops that sum
  (Conv/Gemm without BN, Mul) get per channel mean +- ``FREE_SIGMAS`` std of that run, an Add of
  k tensors ``SIGMAS * sqrt(k)`` std; the rest (Softmax, Sigmoid ...) its min/max.

The pipeline reports the expected quality: the output SQNR of the int8 reference against the float
model on the synthetic inputs.
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import helper

from ..frontend.data import sample_count, take
from ..frontend.float_runner import FloatRunner
from ..frontend.importer import convert_opset
from ..ir import Graph
from .calibrate import Calibration, Transforms, apply_transform, internal_value

SIGMAS = 6.0  # range half-width in BN standard deviations (DFQ's choice; see the module docstring)
# Conv/Gemm outputs without BN statistics (a last Gemm's logits): per channel mean +- FREE_SIGMAS std
# of the synthetic run (an Add of k tensors: SIGMAS * sqrt(k)). Twice SIGMAS: the synthetic BN values
# are independent, real features are correlated, so the synthetic std underestimates the real one
# (by ~2x on the shared digits model's logits); a range twice too wide costs 6 dB of rounding noise
# on that tensor, a clipped top logit costs more (see the report of issue 18 for the measurements).
FREE_SIGMAS = 2 * SIGMAS
SEED = 1000   # BN tensor k is drawn with seed SEED + k (the model inputs use seeds 0, 1, ...)

BnStats = Mapping[str, Tuple[np.ndarray, np.ndarray]]


def channel_ranges(beta: np.ndarray, gamma: np.ndarray, n: Optional[float] = None,
                   clip: Tuple[float, float] = (-np.inf, np.inf),
                   transform: Optional[Tuple[int, np.ndarray]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel [beta - n|gamma|, beta + n|gamma|], clipped to ``clip`` (a fused activation's
    bounds), times the channel factor of an equalization ``transform`` (applied after the clip, as
    equalization scales the activation's output). ``n`` defaults to :data:`SIGMAS`."""
    n = SIGMAS if n is None else n
    lo = np.clip(beta - n * np.abs(gamma), clip[0], clip[1])
    hi = np.clip(beta + n * np.abs(gamma), clip[0], clip[1])
    if transform is not None:
        f = np.broadcast_to(np.asarray(transform[1], np.float64).reshape(-1), lo.shape)
        lo, hi = np.minimum(lo * f, hi * f), np.maximum(lo * f, hi * f)
    return lo, hi


def bn_range(beta: np.ndarray, gamma: np.ndarray, n: Optional[float] = None,
             clip: Tuple[float, float] = (-np.inf, np.inf),
             transform: Optional[Tuple[int, np.ndarray]] = None) -> Tuple[float, float]:
    """One per-tensor range: :func:`channel_ranges` merged over the channels."""
    lo, hi = channel_ranges(beta, gamma, n, clip, transform)
    return float(lo.min()), float(hi.max())


def fused_clips(graph: Graph) -> Dict[str, Tuple[float, float]]:
    """{ONNX name of a fused Relu/Clip output: (min, max)} for the Conv/FC/Add nodes of the compiled
    graph that carry a clip activation."""
    out = {}
    for n in graph.nodes:
        act = n.attrs.get("activation")
        if isinstance(act, dict) and act.get("kind") == "clip":
            out[graph.original_name(n.outputs[0])] = (float(act["min"]), float(act["max"]))
    return out


def _cut_model(model: onnx.ModelProto, stats: BnStats, shapes: Mapping[str, Sequence[int]]
               ) -> Tuple[onnx.ModelProto, List[str]]:
    """The model with every recorded BN node removed and its output made a graph input (fed with
    synthetic values). Returns (model, names of the new inputs in graph order)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    outputs = {o.name for o in m.graph.output}
    cut: List[str] = []
    keep = []
    for node in m.graph.node:
        y = node.output[0] if node.output else ""
        if node.op_type == "BatchNormalization" and y in stats and y not in outputs and y in shapes:
            cut.append(y)
            continue
        keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    for y in cut:
        m.graph.input.append(helper.make_tensor_value_info(y, onnx.TensorProto.FLOAT, list(shapes[y])))
    # value_info of the removed outputs would now describe graph inputs twice
    vis = [vi for vi in m.graph.value_info if vi.name not in set(cut)]
    del m.graph.value_info[:]
    m.graph.value_info.extend(vis)
    return m, cut


def synthetic_bn_values(beta: np.ndarray, gamma: np.ndarray, shape: Sequence[int], count: int,
                        seed: int) -> np.ndarray:
    """``count`` samples of a BN output of ``shape`` (batch 1, channels on axis 1): N(beta_c, gamma_c^2)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((count,) + tuple(shape[1:]))
    bshape = (1, len(beta)) + (1,) * (len(shape) - 2)
    return (beta.reshape(bshape) + np.abs(gamma).reshape(bshape) * z).astype(np.float32)


# Ops whose outputs are input values (or averages of them): their range is their inputs' range
# (the synthetic run's max of a pool is not the BN-implied tail its inputs were given).
SUBSET_OPS = {"MaxPool", "GlobalMaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Flatten", "Transpose",
              "Squeeze", "Unsqueeze", "Identity", "Dropout", "Slice", "Split", "Gather", "Concat", "Resize",
              "Upsample", "DepthToSpace", "SpaceToDepth", "Pad", "ReduceMax", "ReduceMin", "ReduceMean"}
# Ops whose outputs are sums over their inputs: per channel mean +- FREE_SIGMAS std of the synthetic
# run (its min/max would be the tail of only a few samples).
LINEAR_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Sum", "Mul"}


class _Moments:
    """Running per-channel (axis 1) count, sum, sum of squares, min and max of one tensor."""

    def __init__(self) -> None:
        self.n = 0
        self.s = self.s2 = None
        self.lo, self.hi = np.inf, -np.inf
        self.total = None

    def add(self, v: np.ndarray, keep_mean: bool) -> None:
        v64 = np.asarray(v, np.float64)
        c = v64.reshape(v64.shape[0], v64.shape[1], -1) if v64.ndim >= 2 else v64.reshape(1, 1, -1)
        c = np.moveaxis(c, 1, 0).reshape(c.shape[1], -1)
        s, s2 = c.sum(axis=1), (c * c).sum(axis=1)
        self.s = s if self.s is None else self.s + s
        self.s2 = s2 if self.s2 is None else self.s2 + s2
        self.n += c.shape[1]
        self.lo, self.hi = min(self.lo, float(v64.min())), max(self.hi, float(v64.max()))
        if keep_mean:
            self.total = v64 if self.total is None else self.total + v64

    def gaussian_range(self, n: float) -> Tuple[float, float]:
        """Per channel mean +- ``n`` std, merged over the channels."""
        mean = self.s / self.n
        std = np.sqrt(np.maximum(self.s2 / self.n - mean * mean, 0.0))
        return float((mean - n * std).min()), float((mean + n * std).max())


def _clip_bounds(node, inits: Mapping[str, np.ndarray]) -> Tuple[float, float]:
    """(min, max) of a Relu or Clip node (constant bounds; a missing bound is unbounded)."""
    if node.op_type == "Relu":
        return 0.0, np.inf
    lo, hi = -np.inf, np.inf
    for a in node.attribute:  # opset < 11
        if a.name == "min":
            lo = a.f
        elif a.name == "max":
            hi = a.f
    if len(node.input) > 1 and node.input[1] in inits:
        lo = float(inits[node.input[1]])
    if len(node.input) > 2 and node.input[2] in inits:
        hi = float(inits[node.input[2]])
    return lo, hi


def collect_batchnorm(model_path: str, graph: Graph, xs, input_names: Sequence[str],
                      shapes: Mapping[str, Sequence[int]], input_shape=None, progress: bool = True,
                      transforms: Optional[Transforms] = None, means: bool = False) -> Calibration:
    """Data-free ranges of every tensor (ONNX names), as the module docstring describes.

    ``graph``: the compiled graph (its ``bn_stats`` and fused activations); ``xs``: synthetic model
    inputs (N(0, 1), one array or {input name: array}); ``shapes``: ONNX-layout shapes by ONNX name
    (the imported graph's), for the BN outputs.
    """
    stats = graph.bn_stats
    transforms = transforms or {}
    model, _ = convert_opset(onnx.load(model_path), model_path)
    cut_model, cut = _cut_model(model, stats, shapes)
    n = sample_count(xs)
    feeds: Dict[str, np.ndarray] = dict(xs) if isinstance(xs, dict) else {input_names[0]: xs}
    for k, y in enumerate(sorted(cut)):
        beta, gamma = stats[y]
        feeds[y] = synthetic_bn_values(beta, gamma, shapes[y], n, SEED + k)
    pins = dict(input_shape or {})
    pins.update({y: list(shapes[y]) for y in cut})
    moments: Dict[str, _Moments] = {}
    fd, tmp = tempfile.mkstemp(suffix=".onnx", prefix="qnnc_bn_")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cut_model.SerializeToString())
        runner = FloatRunner(tmp, pins, all_tensors=True, derived=True)
    finally:
        os.unlink(tmp)
    for i in range(n):
        one = take(feeds, slice(i, i + 1))
        for k, v in {**runner.feed(one), **runner.run(one)}.items():
            moments.setdefault(k, _Moments()).add(apply_transform(v, transforms.get(k)), means)
    ranges = {k: (m.lo, m.hi) for k, m in moments.items()}
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    clips = fused_clips(graph)
    for node in model.graph.node:  # topological order: a node's input ranges are final
        for out in node.output:
            if not out or out not in ranges:
                continue
            if out in stats:
                beta, gamma = stats[out]
                ranges[out] = bn_range(beta, gamma, transform=transforms.get(out))
            elif node.op_type in ("Relu", "Clip") and node.input[0] in stats:
                beta, gamma = stats[node.input[0]]
                bounds = clips.get(out, _clip_bounds(node, inits))
                ranges[out] = bn_range(beta, gamma, clip=bounds, transform=transforms.get(out))
            elif node.op_type in ("Relu", "Clip") and node.input[0] in ranges:  # e.g. after a residual Add
                lo, hi = _clip_bounds(node, inits)
                r = ranges[node.input[0]]
                ranges[out] = (min(max(r[0], lo), hi), min(max(r[1], lo), hi))
            elif node.op_type in SUBSET_OPS and (out in transforms) == (node.input[0] in transforms):
                # (equalization scales a channel the same way before and after a pass-through op)
                ins = [ranges[t] for t in node.input[:1 if node.op_type != "Concat" else None] if t in ranges]
                if ins:
                    lo, hi = min(r[0] for r in ins), max(r[1] for r in ins)
                    if node.op_type == "Pad":  # the pad value joins the range
                        lo, hi = min(lo, 0.0), max(hi, 0.0)
                    ranges[out] = (lo, hi)
            elif node.op_type in ("Add", "Sub", "Sum"):
                # k summed tensors: correlation can raise the std over the independent one by at most sqrt(k)
                ranges[out] = moments[out].gaussian_range(SIGMAS * np.sqrt(max(len(node.input), 1)))
            elif node.op_type in LINEAR_OPS:
                ranges[out] = moments[out].gaussian_range(FREE_SIGMAS)
    mean_values = {k: m.total / n for k, m in moments.items() if m.total is not None}
    return Calibration(ranges, dict(ranges), mean_values, n)


def _input_fit(model: onnx.ModelProto, inp: str) -> Optional[Tuple[float, float]]:
    """(mean, std) of iid input values that give the Conv/Gemm right after input ``inp`` the
    pre-BN statistics its BatchNormalization recorded (running mean and variance), or None when
    ``inp`` does not feed a Conv/Gemm + BatchNormalization. Per output channel c, iid inputs of mean
    mu and std s give mean ``mu * sum(W_c) + b_c`` and variance ``s^2 * sum(W_c^2)`` (padding
    ignored): s^2 is the median over channels of ``var_c / sum(W_c^2)``, mu the least-squares fit."""
    inits = {t.name: onnx.numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    for conv in model.graph.node:
        if conv.op_type not in ("Conv", "Gemm") or not conv.input or conv.input[0] != inp:
            continue
        bns = [n for n in model.graph.node if n.op_type == "BatchNormalization" and n.input[0] == conv.output[0]]
        if not bns or conv.input[1] not in inits or any(t not in inits for t in bns[0].input[3:5]):
            continue
        w = inits[conv.input[1]]
        if conv.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in conv.attribute):
            w = w.T
        w = w.reshape(w.shape[0], -1)
        b = inits[conv.input[2]] if len(conv.input) > 2 and conv.input[2] in inits else np.zeros(w.shape[0])
        mean, var = inits[bns[0].input[3]], inits[bns[0].input[4]]
        sq, sw = (w * w).sum(axis=1), w.sum(axis=1)
        ok = sq > 0
        if not ok.any():
            return None
        std = float(np.sqrt(np.median(var[ok] / sq[ok])))
        mu = float(np.dot(sw, mean - b) / np.dot(sw, sw)) if np.dot(sw, sw) > 0 else 0.0
        return mu, std
    return None


def synthetic_inputs(model_path: str, xs, input_names: Sequence[str], skip: Iterable[str] = ()):
    """The N(0, 1) stand-in inputs rescaled, per input, to the mean and std that match the first
    BatchNormalization's statistics (:func:`_input_fit`; inputs without one stay N(0, 1); ``skip``:
    uint8 inputs). Returns (inputs, {input name: (mean, std)} of the fitted ones)."""
    model, _ = convert_opset(onnx.load(model_path), model_path)
    fitted = {}
    out = dict(xs) if isinstance(xs, dict) else {input_names[0]: xs}
    for name in input_names:
        fit = None if name in set(skip) else _input_fit(model, name)
        if fit is not None:
            fitted[name] = fit
            out[name] = (fit[0] + fit[1] * np.asarray(out[name], np.float64)).astype(np.float32)
    return (out if isinstance(xs, dict) else out[input_names[0]]), fitted


def float_reference(model_path: str, graph: Graph, xs, input_shape=None) -> List[np.ndarray]:
    """The float model's outputs on ``xs`` in the compiled graph's layout, one array per graph
    output (samples stacked), to compare the int8 reference against."""
    runner = FloatRunner(model_path, input_shape, all_tensors=True)
    per_output: List[List[np.ndarray]] = [[] for _ in graph.outputs]
    for i in range(sample_count(xs)):
        x = take(xs, slice(i, i + 1))
        values = {**runner.feed(x), **runner.run(x)}
        for j, o in enumerate(graph.outputs):
            per_output[j].append(internal_value(graph, o, values.get))
    return [np.concatenate([np.asarray(v, np.float64).reshape(1, -1) for v in vs], axis=0) for vs in per_output]


def sqnr_db(ref: Iterable[np.ndarray], out: Iterable[np.ndarray]) -> float:
    """Signal-to-quantization-noise ratio in dB of ``out`` against ``ref`` (all outputs together)."""
    f = np.concatenate([np.asarray(r, np.float64).reshape(-1) for r in ref])
    q = np.concatenate([np.asarray(o, np.float64).reshape(-1) for o in out])
    noise = float(np.sum((q - f) ** 2))
    return float("inf") if noise == 0.0 else float(10 * np.log10(max(float(np.sum(f * f)), 1e-30) / noise))
