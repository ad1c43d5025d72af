"""The compiler's front half: config + ONNX -> QModel, one stage after the other.

This is the one place where the stages meet and where the config is read; each stage gets
plain values and hands a typed result to the next:

    frontend.import_onnx(path, pins)                -> ir.Graph
    passes.run_passes(Graph)                        -> ir.Graph (NHWC, supported ops only)
    quantize.calibrate.collect(path, samples, ...)  -> Calibration (ranges, means)
    quantize.precision.make_plan(Graph, bits ...)   -> PrecisionPlan (auto_precision may refine it;
                                                       recurrent_precision sets LSTM/GRU defaults)
    quantize.quantize(Graph, ranges, plan, ...)     -> qmodel.QModel
    plan.plan_memory(QModel)                        -> plan.MemoryPlan        (build.py)
    emit.emit_c(QModel, MemoryPlan)                 -> {file name: C text}    (build.py)
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx

from .config import Config
from .errors import ConfigError, ModelError
from .frontend.data import load_input_samples, sample_count, take
from .frontend.importer import import_onnx
from .frontend.index_inputs import random_ids
from .frontend.value_inputs import RANGE as VALUE_RANGE, bool_input_names, random_values
from .frontend.uint8_inputs import uint8_input_names
from .ir import Graph, Node
from .reference.heap import keep_freed_heap
from .passes import run_passes
from .passes.equalize import equalize, float_transforms
from .qmodel import QModel
from .quantize import auto_precision, calibrate_auto, calibrate_batchnorm, calibrate_tail
from .quantize.calibrate import collect, internal_value, random_calibration_samples
from .quantize.calibrate_softmax import softmax_floors
from .quantize.fixedpoint import ROUND_HALF_EVEN, ROUND_TFLITE
from .quantize.lower_graph import RULES, quantize
from .quantize.lowering import SOFTMAX_VIEWS, softmax_inv_scale
from .quantize.precision import (PrecisionPlan, PrecisionRequest, make_plan, onnx_op_types, override_bits,
                                 requested_bits, weight_layers)
from .quantize.unary_functions import FIXED_OUTPUT
from .quantize.recurrent_precision import RECURRENT_OPS, recurrent_int16, recurrent_nodes
from .reference.interpreter import dequantize_output, quantize_input, run_all, run_int8


@dataclass
class Compiled:
    """What the front half produces: the float graph after passes, the precision plan and the
    quantized model."""

    graph: Graph
    model: QModel
    calibration_samples: int
    notes: List[str]
    precision: Optional[PrecisionPlan] = None
    calibration: str = ""  # what the activation ranges came from, for the summary line and reports


def model_name(cfg: Config, model_path: str, override: Optional[str] = None) -> str:
    """The C prefix: --name, else config name, else the file stem made into an identifier."""
    if override:
        return override
    if cfg.name:
        return cfg.name
    stem = os.path.splitext(os.path.basename(model_path))[0]
    ident = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in stem)
    return ident if ident and not ident[0].isdigit() else "m_" + ident


def precision_request(cfg: Config, rounding: int) -> PrecisionRequest:
    """The config's precision settings as the plan builder takes them."""
    return PrecisionRequest(weight_bits=cfg.weight_bits, activation_bits=cfg.activation_bits, rounding=rounding,
                            overrides=list(cfg.overrides), config_file=cfg.source, lines=dict(cfg.lines))


def _check_prequantized(graph: Graph, cfg: Config, notes: List[str]) -> None:
    """A QDQ/QOperator model keeps its own quantization: refuse settings that would change it."""
    notes.append(f"{graph.quant.source_format} model: the scales and zero points of its "
                 f"{len(graph.quant.activations)} quantized tensors and {len(graph.quant.weights)} "
                 "quantized constants are used as they are; calibration only fills tensors they leave open")
    notes.extend(graph.quant.notes)
    if cfg.activation_bits != 8 or cfg.weight_bits != 8 or cfg.overrides or cfg.auto_precision is not None:
        key = ("quantization.activation_bits" if cfg.activation_bits != 8 else
               "quantization.weight_bits" if cfg.weight_bits != 8 else
               "quantization.overrides" if cfg.overrides else "quantization.auto_precision")
        raise ConfigError(f"the model is already quantized ({graph.quant.source_format}); its bit widths "
                          "cannot be changed here — quantize the float model instead",
                          file=cfg.source, key=key, line=cfg.line_of(key))
    if cfg.equalization or cfg.bias_correction:
        notes.append("quantization.equalization / bias_correction are ignored: the model's weights are "
                     "already quantized")


def compile_model(model_path: str, cfg: Config, name: str, progress: bool = True) -> Compiled:
    """Run the front half of the pipeline. If the default int16 precision of the recurrent layers
    and their successors (quantize/recurrent_precision.py) cannot be lowered, the model is
    compiled again without it, and a note says why."""
    try:
        return _compile_model(model_path, cfg, name, progress, recurrent_default=True)
    except ModelError as e:
        if not getattr(e, "from_recurrent_default", False):
            raise
        reason = e.format()
    compiled = _compile_model(model_path, cfg, name, progress, recurrent_default=False)
    note = (f"recurrent layers and their successors kept int8 activations (the int16 default could not be "
            f"lowered: {reason})")
    compiled.notes.append(note)
    compiled.model.notes.append(note)
    return compiled


def _recurrent_bits(passed: Graph, cfg: Config, weight_bits: Dict[str, int], rounding: int, prequantized: bool,
                    notes: List[str]) -> Dict[str, int]:
    """{node: bits} of quantization.recurrent_activation_bits for the LSTM / GRU layers and the
    layers downstream of them (quantize/recurrent_precision.py), when it differs from
    activation_bits and the model can take it; a note says what was done."""
    want = cfg.recurrent_activation_bits
    rec = recurrent_nodes(passed)
    if want == cfg.activation_bits or not rec:
        return {}
    if want == 16 and (prequantized or rounding != ROUND_TFLITE):
        if "quantization.recurrent_activation_bits" in cfg.lines:
            notes.append("quantization.recurrent_activation_bits: 16 is ignored: "
                         + ("the model keeps its own quantization" if prequantized else
                            "the 16x8 kernels do not support rounding: half_even"))
        return {}
    ops = RULES[16] if want == 16 else [n.op for n in passed.nodes]
    bits = {k: want for k in recurrent_int16(passed, weight_bits, ops)}
    fused = sorted(n.name for n in passed.nodes if n.op in RECURRENT_OPS)
    what = ([f"recurrent layers {', '.join(repr(r) for r in fused[:4])}{' ...' if len(fused) > 4 else ''}"]
            if fused else []) + ([f"{len(rec) - len(fused)} layers of unrolled LSTM/GRU steps"]
                                 if len(rec) > len(fused) else [])
    notes.append(f"{' and '.join(what)} and {sum(1 for k in bits if k not in rec)} layers after them compute "
                 f"with int{want} activations (quantization.recurrent_activation_bits: {want}"
                 + (", the default: the hidden state fed back at int8 loses several dB; set it to 8 for int8 "
                    "throughout)" if want == 16 else ")"))
    return bits


def _compile_model(model_path: str, cfg: Config, name: str, progress: bool, recurrent_default: bool) -> Compiled:
    keep_freed_heap()  # calibration statistics and the reference: many full-size temporaries
    notes: List[str] = []
    graph = import_onnx(model_path, cfg.input_shape, cfg.source)
    input_names = list(graph.inputs)
    proto = onnx.load(model_path, load_external_data=False)
    u8 = [] if graph.quant is not None else uint8_input_names(proto)
    bools = set(bool_input_names(proto)) & set(graph.value_inputs)  # bool masks (value_inputs.py)
    input_shapes = [graph.shape(i) for i in input_names]
    passed = run_passes(graph, io_layout="NHWC" if cfg.layout == "nhwc" else "NCHW")
    prequantized = graph.quant is not None
    if prequantized:
        _check_prequantized(graph, cfg, notes)
    elif cfg.equalization:
        passed = equalize(passed)
    rounding = {"tflite": ROUND_TFLITE, "half_even": ROUND_HALF_EVEN}.get(
        cfg.rounding, ROUND_HALF_EVEN if prequantized else ROUND_TFLITE)
    req = precision_request(cfg, rounding)
    weight_bits, act_bits = requested_bits(passed, req, model_path)  # checks the overrides before calibrating
    rec_bits = _recurrent_bits(passed, cfg, weight_bits, rounding, prequantized, notes) if recurrent_default else {}
    act_bits = {**rec_bits, **act_bits}  # an override naming a layer wins
    try:
        return _calibrate_and_quantize(model_path, cfg, name, progress, graph, passed, input_names, input_shapes,
                                       u8, bools, prequantized, rounding, req, weight_bits, act_bits, notes)
    except ModelError as e:
        # a layer the recurrent default made int16 cannot be: compile_model retries without it
        e.from_recurrent_default = e.node in rec_bits and rec_bits[e.node] != cfg.activation_bits
        raise


def _calibrate_and_quantize(model_path: str, cfg: Config, name: str, progress: bool, graph: Graph, passed: Graph,
                            input_names, input_shapes, u8, bools, prequantized: bool, rounding: int,
                            req: PrecisionRequest,
                            weight_bits: Dict[str, int], act_bits: Dict[str, int], notes: List[str]) -> Compiled:
    """Calibration, the precision plan and the lowering (compile_model's second half)."""
    ys = None  # labels, for the auto_precision search
    fixed_inputs = _fixed_input_ranges(graph, u8)
    if cfg.calibration is not None:
        xs, ys = load_input_samples(cfg.calibration, input_names, input_shapes, cfg.source, masks=graph.value_inputs)
        if cfg.max_samples:
            xs = take(xs, slice(0, cfg.max_samples))
        _check_value_inputs(graph, xs, cfg, bools)
    else:
        xs = random_calibration_samples(input_names, input_shapes)
        for k, inp in enumerate(input_names):
            x = xs[inp] if isinstance(xs, dict) else xs
            if inp in u8:  # raw bytes: uniform 0..255 (the range is fixed to [0, 255] below anyway)
                x[...] = np.random.default_rng(k).integers(0, 256, x.shape)
            elif inp in graph.index_inputs:  # token ids: uniform over the largest table's rows
                x[...] = random_ids(x.shape, graph.index_inputs[inp], k)
            elif inp in graph.value_inputs:  # an attention mask: 0 / 1
                x[...] = random_values(x.shape, k)
        if not prequantized and cfg.method != "batchnorm":
            notes.append("no calibration data given (calibration.data in the config): activation ranges come from "
                         f"{sample_count(xs)} random N(0,1) inputs"
                         + (" (token ids uniform over their tables)" if graph.index_inputs else "")
                         + (" (integer value inputs such as masks: 0 / 1)" if graph.value_inputs else "")
                         + ", so accuracy on real data will be poor"
                         + (f"; the model has {len(passed.bn_stats)} BatchNormalization layers: 'calibration: "
                            "{method: batchnorm}' derives data-free ranges from their statistics"
                            if passed.bn_stats else ""))
    notes.extend(f"input '{inp}' is an integer the model casts to float or compares with constants (a mask): "
                 "the API takes the value itself as int8, -128..127 (larger values would be clamped)"
                 for inp in graph.value_inputs)
    held = None  # (inputs, labels) the automatic precision search judges on, kept out of calibration
    if cfg.auto_precision is not None and ys is not None:
        xs, ys, held, note = _hold_aside(xs, ys)
        notes.append(note)
    pins = {inp: list(shape) for inp, shape in zip(input_names, input_shapes)}
    method, bias_correction = cfg.method, cfg.bias_correction
    if "calibration.percentile" in cfg.lines and method != "percentile":
        notes.append(f"calibration.percentile (line {cfg.lines['calibration.percentile']}) applies to method "
                     f"percentile only; the method is {method}, which does not read it")
    # masked attention scores: no Softmax input range below where the Softmax's rows reach
    floors = softmax_floors(model_path, xs, pins) if not prequantized and any(n.op == "Softmax" for n in passed.nodes) \
        else {}
    auto = None  # (graph, calibrate_auto.AutoResult) of calibration method auto
    if method == "auto" and (prequantized or cfg.calibration is None):
        method = "minmax"  # auto judges against real data; random inputs and given scales use min-max
    if method == "batchnorm":
        if not passed.bn_stats:
            raise ConfigError("calibration method batchnorm takes its ranges from BatchNormalization statistics, "
                              "and this model has no BatchNormalization layer: give calibration.data instead",
                              file=cfg.source, key="calibration.method", line=cfg.line_of("calibration.method"))
        xs, fitted = calibrate_batchnorm.synthetic_inputs(model_path, xs, input_names,
                                                          list(u8) + list(graph.index_inputs) + graph.value_inputs)
        notes.extend(f"calibration method batchnorm: synthetic input '{k}' ~ N({m:.3g}, {sd:.3g}^2), fitted to the "
                     "statistics of the first BatchNormalization" for k, (m, sd) in fitted.items())
        cal = calibrate_batchnorm.collect_batchnorm(
            model_path, passed, xs, input_names, {t: graph.shape(t) for t in passed.bn_stats if t in graph.tensors},
            pins, progress, transforms=float_transforms(passed), means=cfg.bias_correction)
    elif method == "auto":
        auto = _auto_calibration(model_path, passed, cfg, xs, pins, progress, fixed_inputs, name,
                                 weight_bits, act_bits, rounding, floors)
        passed, cal, bias_correction, method = auto[0], auto[1].calibration, auto[1].chosen.bias_correction, \
            "auto: " + auto[1].chosen.label()
        notes.append(auto[1].note())
        notes.extend(tail_notes(passed, cal, auto[1].small_extended))
    else:
        cal = collect(model_path, xs, method, cfg.percentile, pins, progress, moving_average=cfg.moving_average,
                      transforms=float_transforms(passed), means=cfg.bias_correction,
                      keep_minmax=decision_tensors(passed),
                      only={passed.original_name(t) for t, v in passed.tensors.items() if not v.is_const})
    for inp, r in fixed_inputs.items():  # (see _fixed_input_ranges)
        cal.ranges[inp] = cal.minmax[inp] = r
    cal.ranges.update(floors)
    for t, r in floors.items():  # one note a Softmax: its input comes first, then the views feeding it
        if next(u for u, q in floors.items() if q == r) == t:  # (which share its range)
            notes.append(f"Softmax input '{t}' holds values far below its rows' maxima (masked scores): its range "
                         f"starts at {r[0]:.4g}, where all the lower values add under half an output step together")
    float_mean = ((lambda t: internal_value(passed, t, cal.means.get))
                  if bias_correction and not prequantized else None)

    exact_output = auto is not None and exact_output_scale(auto[1], notes)

    def quantize_with(plan: PrecisionPlan) -> QModel:
        return quantize(passed, cal.ranges, name, plan, per_channel=cfg.weights == "per_channel",
                        float_mean=float_mean, int4_clipping=cfg.int4_clipping, calibration_inputs=(xs, pins),
                        int8_inputs=list(fixed_inputs), exact_output_scale=exact_output)

    def plan_of(weights: Dict[str, int], acts: Dict[str, int]) -> PrecisionPlan:
        return make_plan(passed, weights, {**act_bits, **acts}, cfg.activation_bits, rounding)

    plan = plan_of(weight_bits, {})
    if cfg.auto_precision is not None:
        plan, search_notes = _auto_precision(passed, cfg, req, model_path, quantize_with, plan_of,
                                             *(held if held is not None else (xs, ys)), progress)
        notes.extend(search_notes)
    qm = quantize_with(plan)
    qm.uint8_inputs = list(u8)
    if method == "batchnorm":  # the expected quality, as no data can measure it
        method = _batchnorm_quality(model_path, passed, qm, xs, pins, notes)
    notes[:] = dict.fromkeys(notes)  # once each: two outputs of one tensor share their notes
    qm.notes = notes + qm.notes  # the lowering's own notes (int8 fallbacks in an int16 plan) last
    return Compiled(passed, qm, sample_count(xs), notes, plan,
                    calibration_source(cfg, sample_count(xs), prequantized, method))


HOLD_ASIDE_MIN = 8  # below this many labelled samples the search judges on the calibration samples


def _hold_aside(xs, ys):
    """Split labelled calibration data: the last quarter judges the automatic precision search
    and is not used for activation ranges (a plan judged on the data that set its ranges looks
    better than it is). Returns (calibration inputs, labels, (held inputs, labels) or None, note)."""
    n = sample_count(xs)
    ys = np.asarray(ys)[:n]
    if n < HOLD_ASIDE_MIN:
        return xs, ys, None, (f"auto_precision: only {n} labelled samples, so plans are judged on the calibration "
                              "samples themselves (give more to hold some aside)")
    k = max(2, n // 4)
    held = (take(xs, slice(n - k, n)), ys[n - k:])
    note = (f"auto_precision judged every plan on {k} held-aside samples of calibration.data (not used for "
            f"activation ranges); ranges come from the other {n - k}")
    return take(xs, slice(0, n - k)), ys[:n - k], held, note


def calibration_source(cfg: Config, samples: int, prequantized: bool, method: Optional[str] = None) -> str:
    """What the activation ranges came from, in words (summary line, reports); ``method``: the
    method used (for ``auto``: what it chose), default the config's."""
    if prequantized:
        return "the model's own quantization scales"
    if cfg.method == "batchnorm":
        return f"no data: ranges from BatchNormalization statistics ({method or cfg.method})"
    if cfg.calibration is None:
        return f"RANDOM inputs ({samples} N(0,1) samples), not real data"
    return f"{samples} samples of {os.path.basename(cfg.calibration.path)} ({method or cfg.method})"


def _batchnorm_quality(model_path: str, passed: Graph, qm: QModel, xs, pins, notes: List[str]) -> str:
    """``calibration.method: batchnorm``: the int8 reference's output SQNR vs the float model on the
    synthetic inputs, as a note; returns the method's description for the summary line and report."""
    ref = calibrate_batchnorm.float_reference(model_path, passed, xs, pins)
    out = [dequantize_output(qm, q, j) for j, q in enumerate(run_all(qm, quantize_input(qm, xs)))]
    db = calibrate_batchnorm.sqnr_db(ref, out)
    n = sample_count(xs)
    notes.append(f"calibration method batchnorm (data-free): ranges from the statistics of {len(passed.bn_stats)} "
                 f"BatchNormalization layers (mean beta +- {calibrate_batchnorm.SIGMAS:g} |gamma| per channel), other "
                 f"tensors from a float run with BN outputs drawn from those statistics; expected quality: output "
                 f"SQNR {db:.1f} dB vs float on {n} synthetic inputs (real data may differ: check with "
                 "'qnnc validate' on labelled data when you have some)")
    return f"batchnorm, {len(passed.bn_stats)} BN layers, expected output SQNR {db:.1f} dB on {n} synthetic inputs"


def _check_value_inputs(graph: Graph, xs, cfg: Config, bools) -> None:
    """Calibration data of an integer value input (frontend/value_inputs.py) must lie in -128..127:
    its int8 is the value itself, and a larger value (a step count, a position) would be clamped.
    A bool mask's data (``bools``: those inputs) must be 0 / 1 (the float model reads 2 as true,
    the int8 input as 2)."""
    for inp in graph.value_inputs:
        x = np.asarray(xs[inp] if isinstance(xs, dict) else xs)
        if inp in bools and x.size and not np.all((x == 0) | (x == 1)):
            raise ConfigError(f"input '{inp}' is a bool mask, but calibration.data holds values other than 0 and 1 "
                              f"(from {x.min():g} to {x.max():g}); give it as bool or 0 / 1", file=cfg.source,
                              key="calibration.data", line=cfg.line_of("calibration.data"))
        if x.size and (x.min() < VALUE_RANGE[0] or x.max() > VALUE_RANGE[1]):
            raise ConfigError(f"input '{inp}' is an integer the model casts to float or compares with constants "
                              f"(a mask), which qnnc takes as an int8 value -128..127, but calibration.data holds "
                              f"values from {x.min():g} to {x.max():g}; export the model with a float input for "
                              "such values", file=cfg.source, key="calibration.data",
                              line=cfg.line_of("calibration.data"))


def _fixed_input_ranges(graph: Graph, u8) -> Dict[str, Tuple[float, float]]:
    """Inputs whose int8 quantization is fixed rather than calibrated: uint8 image bytes at
    [0, 255] (scale 1, zero point -128: int8 = byte - 128) and integer value inputs at [-128, 127]
    (scale 1, zero point 0: the value itself, frontend/value_inputs.py). Both keep an int8 API."""
    return {**{inp: (0.0, 255.0) for inp in u8}, **{inp: VALUE_RANGE for inp in graph.value_inputs}}


def _auto_calibration(model_path: str, passed: Graph, cfg: Config, xs, pins, progress: bool, fixed_inputs,
                      name: str, weight_bits, act_bits, rounding, floors):
    """``calibration.method: auto`` (quantize/calibrate_auto.py): candidates judged by the int8
    reference's output SQNR on held-aside samples. Equalization / bias correction are tried unless
    the config sets them; ``floors``: fixed ranges of Softmax inputs (calibrate_softmax.py);
    ``fixed_inputs``: :func:`_fixed_input_ranges`. Returns (graph to quantize, AutoResult)."""
    eq_graph = None
    if not cfg.equalization and "quantization.equalization" not in cfg.lines:
        eq_graph = equalize(passed)
    graphs = {False: passed, True: eq_graph}

    def run(equalized: bool, ranges, means, held_xs):
        g = graphs[equalized]
        fm = (lambda t: internal_value(g, t, means.get)) if means is not None else None
        qm = quantize(g, ranges, name, make_plan(g, weight_bits, act_bits, cfg.activation_bits, rounding),
                      per_channel=cfg.weights == "per_channel", float_mean=fm, int4_clipping=cfg.int4_clipping,
                      calibration_inputs=(xs, pins), int8_inputs=list(fixed_inputs))
        return [dequantize_output(qm, q, j) for j, q in enumerate(run_all(qm, quantize_input(qm, held_xs)))]

    res = calibrate_auto.search(
        model_path, xs, run, lambda values: [internal_value(passed, o, values.get) for o in passed.outputs], pins,
        progress, transforms=float_transforms(passed), eq_transforms=float_transforms(eq_graph) if eq_graph else None,
        keep_minmax=decision_tensors(passed),
        only={passed.original_name(t) for t, v in passed.tensors.items() if not v.is_const},
        also_read=ranges_beyond_graph(passed), fixed={**floors, **fixed_inputs},
        try_bias_correction=not cfg.bias_correction and "quantization.bias_correction" not in cfg.lines,
        force_bias_correction=cfg.bias_correction, macs=calibrate_auto.graph_macs(passed),
        watch=softmax_outputs(passed), tails=output_tails(passed), small_tails=tensor_tails(passed))
    return (eq_graph if res.equalized else passed), res


def ranges_beyond_graph(graph: Graph) -> List[str]:
    """ONNX names of tensors outside the graph whose calibrated ranges the lowering reads: the
    pre-activation tensors of fused activations (passes/fuse_activation.py: LeakyRelu, table
    activations) and every member of a tied group (lower_graph.tie_ranges takes the union of
    whichever have a range)."""
    pre = [graph.original_name(act["pre_act"]) for n in graph.nodes
           for act in [n.attrs.get("activation") or {}] if act.get("pre_act")]
    return pre + [t for group in graph.tied_ranges for t in group]


def _value_bounds(prod: Optional[Node]) -> Tuple[float, float]:
    """(lowest, highest) value the output of ``prod`` can take: the limits of a fused Relu / Clip
    or of a bounded function (Sigmoid, Tanh, ...: the limits of the fixed range the lowering falls
    back to); unbounded otherwise (a model input: ``prod`` None)."""
    if prod is None:
        return (-math.inf, math.inf)
    act = prod.attrs.get("activation") or {}
    if prod.op in ("Relu", "Clip"):
        act = {"kind": "clip", "min": prod.attrs.get("min", 0.0), "max": prod.attrs.get("max", math.inf)}
    bounds = (act["min"], act["max"]) if act.get("kind") == "clip" else (-math.inf, math.inf)
    if prod.op in FIXED_OUTPUT:
        scale, zp = FIXED_OUTPUT[prod.op]
        bounds = ((-128 - zp) * scale, (128 - zp) * scale)
    return bounds


def output_tails(graph: Graph) -> Dict[str, Tuple[float, float]]:
    """{ONNX name: (lowest, highest) value}: the model outputs (and the tensors they are views of)
    whose range calibration method auto extends to the values unseen inputs produce
    (quantize/calibrate_tail.py), within the limits of ``_value_bounds``. A Softmax output keeps
    its own rule (pipeline.exact_output_scale)."""
    tails = {}
    for t in graph.outputs:
        names, prod = output_source(graph, t)
        if prod is None or prod.op == "Softmax":
            continue
        tails.update({graph.original_name(n): _value_bounds(prod) for n in names})
    return tails


def tensor_tails(graph: Graph) -> Dict[str, Tuple[float, float]]:
    """Every activation tensor (model inputs included) with the bounds of ``_value_bounds``: those
    with few calibration values are extended like the outputs (calibrate_tail.SMALL_TENSOR_VALUES).
    Softmax outputs keep their own rule."""
    tails = {}
    for name, v in graph.tensors.items():
        if v.is_const:
            continue
        _, prod = output_source(graph, name)  # through views, as a model output
        if prod is not None and prod.op == "Softmax":
            continue
        tails[graph.original_name(name)] = _value_bounds(prod)
    return tails


def tail_notes(graph: Graph, cal, small: List[str] = ()) -> List[str]:
    """Build notes naming the model outputs whose range auto extended beyond the calibrated one,
    and the other tensors (``small``: few calibration values) it extended."""
    notes = []
    if small:
        shown = ", ".join(f"'{k}'" for k in small[:4]) + (f" and {len(small) - 4} more" if len(small) > 4 else "")
        notes.append(f"calibration method auto: {len(small)} tensor(s) with fewer than "
                     f"{calibrate_tail.SMALL_TENSOR_VALUES} calibration values ({shown}) have ranges extended for "
                     "the values unseen inputs reach beyond the calibration samples (an exponential fit of their "
                     "tails); more calibration samples make this unnecessary")
    for t in graph.outputs:
        k = graph.original_name(t)
        if k in cal.ranges and k in cal.minmax and cal.ranges[k] != cal.minmax[k]:
            (a, b), (c, d) = cal.minmax[k], cal.ranges[k]
            notes.append(f"calibration method auto: output '{k}' range [{a:.4g}, {b:.4g}] extended to [{c:.4g}, "
                         f"{d:.4g}] for the values unseen inputs produce beyond the calibration samples (an "
                         "exponential fit of its tails)")
    return notes


def output_source(graph: Graph, t: str) -> Tuple[List[str], Optional[Node]]:
    """(model output ``t`` and the tensors it is a view of, the node that computes them; None for
    a model input)."""
    names = [t]
    prod = graph.producer(t)
    while prod is not None and prod.op in SOFTMAX_VIEWS:
        names.append(prod.inputs[0])
        prod = graph.producer(prod.inputs[0])
    return names, prod


def softmax_outputs(graph: Graph) -> List[str]:
    """ONNX names of the Softmax outputs that are model outputs (through views): their calibrated
    maximum sets the output scale 1/M (Lowering.softmax_inv_output_scale)."""
    names = []
    for t in graph.outputs:
        prod = output_source(graph, t)[1]
        if prod is not None and prod.op == "Softmax":
            names.append(graph.original_name(prod.outputs[0]))
    return names


def exact_output_scale(res: calibrate_auto.AutoResult, notes: List[str]) -> bool:
    """calibration method auto: whether a Softmax model output takes its calibrated scale 1/M even
    when that is less than 10 % finer than 1/256 (the margin guards inputs beyond the calibrated
    maximum, which saturate). Yes when the held-aside samples show the risk absent: none of them
    exceeds the saturation point 254.5 / M that the other samples' maximum sets. Then the finer
    step only lowers the output's rounding error; saturation starts at p >= 0.5 (M <= 509), so it
    cannot tie two classes (corpus person detect, top 0.957: M 256 -> 265, output SQNR on 256 test
    inputs 53.56 -> 53.98 dB). The held samples are too few to judge this by the output SQNR (6 x 2
    outputs of person detect: rounding chance moves it by 3 dB)."""
    tops = res.held_tops
    if not tops or any(b * softmax_inv_scale(a, True) > 254.5 for a, b in tops.values()):
        return False
    if any(softmax_inv_scale(max(a, b), True) != softmax_inv_scale(max(a, b)) for a, b in tops.values()):
        notes.append(f"calibration method auto: the Softmax output takes its calibrated scale (none of the "
                     f"{res.held} held-aside samples exceeds the range the others set)")
    return True


def _auto_precision(graph: Graph, cfg: Config, req: PrecisionRequest, model_path: str, quantize_with, plan_of,
                    xs: np.ndarray, ys, progress: bool) -> Tuple[PrecisionPlan, List[str]]:
    """The automatic search: activation bits first (only when the default is int16), then weight
    bits on that plan, each judged by the reference's accuracy on the labelled calibration data."""
    key = "quantization.auto_precision"
    if ys is None or cfg.calibration is None:
        raise ConfigError("auto_precision needs labelled calibration data: calibration.data with class labels "
                          "in an array 'y'", file=cfg.source, key=key, line=cfg.line_of(key))
    n = sample_count(xs)
    ys = np.asarray(ys)[:n] if len(ys) != n else ys  # max_samples cut the inputs
    op_types = onnx_op_types(model_path or graph.source) if cfg.overrides else {}
    layers = weight_layers(graph)
    pinned_w = override_bits(graph, req, "weight_bits", layers, op_types)
    pinned_a = override_bits(graph, req, "activation_bits", layers, op_types)

    def evaluate(weights: Dict[str, int], acts: Dict[str, int]):
        return accuracy(quantize_with(plan_of(weights, acts)), xs, ys)

    notes: List[str] = []
    chosen, acc16 = {}, None
    if cfg.activation_bits == 16:
        chosen, found, acc16 = auto_precision.search_activations(graph, evaluate, cfg.auto_precision, pinned_w,
                                                                 pinned_a, n, progress)
        notes.extend(found)
    act16 = plan_of({}, chosen)
    int16_layers = [n.name for n in graph.nodes if act16.of(n.name).activation_bits == 16]
    from .plan import cost_model

    def cost(weights: Dict[str, int], acts: Dict[str, int]):  # expected instructions on the target core
        qm = quantize_with(plan_of(weights, acts))
        per = cost_model.layer_instructions(qm, cfg.target)
        return cost_model.model_instructions(qm, cfg.target), {op.name: k for op, k in zip(qm.ops, per) if k}

    weights, found = auto_precision.search_weights(graph, evaluate, cfg.auto_precision, pinned_w, chosen, n,
                                                   progress, baseline=acc16, int16_layers=int16_layers, cost=cost)
    notes.extend(found)
    final = plan_of(weights, chosen)
    notes.extend(auto_precision.cost_notes(graph, cost, weights, {nd.name: final.of(nd.name).activation_bits
                                                                  for nd in graph.nodes},
                                           cost_model.core_description(cfg.target)))
    return final, notes


def accuracy(qm: QModel, xs: np.ndarray, ys: np.ndarray) -> Tuple[float, np.ndarray]:
    """(accuracy, dequantized outputs) of the numpy reference on labelled samples."""
    q = run_int8(qm, quantize_input(qm, xs)).reshape(sample_count(xs), -1)
    t = qm.output_tensor
    index = q.shape[1] == 1 and (t.scale, t.zero_point) == (1.0, 0)  # an ArgMax output: the class itself
    pred = q[:, 0].astype(np.int64) if index else q.astype(np.int32).argmax(axis=1)
    acc = float(np.mean(pred == ys.reshape(-1)))
    return acc, dequantize_output(qm, q).astype(np.float64)


def decision_tensors(graph: Graph) -> List[str]:
    """ONNX names of the tensors whose largest values decide the prediction: the model outputs and
    the inputs of a Softmax. Clipping calibration methods keep their min-max range (clipping the
    top logits would make classes tie)."""
    todo = list(graph.outputs) + [n.inputs[0] for n in graph.nodes if n.op == "Softmax"]
    names = set()
    while todo:
        t = todo.pop()
        names.add(graph.original_name(t))
        prod = graph.producer(t)
        if prod is not None and prod.op in ("Reshape", "Transpose"):
            todo.append(prod.inputs[0])
    return sorted(names)


def nhwc_data(x: np.ndarray, cfg: Config) -> np.ndarray:
    """Model-layout samples -> the API layout chosen in the config."""
    if cfg.layout == "nhwc" and x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x
