"""The compiler front half: config + ONNX -> QModel (import -> passes -> calibrate -> quantize)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .calibrate import collect, internal_value, random_calibration_inputs
from .config import Config
from .data import load_samples
from .errors import ConfigError
from .fixedpoint import ROUND_HALF_EVEN, ROUND_TFLITE
from .importer import import_onnx
from .ir import Graph
from .passes import run_passes
from .passes.equalize import equalize, float_transforms
from .precision import layer_weight_bits
from . import auto_precision
from .qmodel import QModel
from .activation_bits import layer_activation_bits
from .quantize import quantize


@dataclass
class Compiled:
    """What the front half produces: the float graph after passes and the quantized model."""

    graph: Graph
    model: QModel
    calibration_samples: int
    notes: List[str]


def model_name(cfg: Config, model_path: str, override: Optional[str] = None) -> str:
    """The C prefix: --name, else config name, else the file stem made into an identifier."""
    if override:
        return override
    if cfg.name:
        return cfg.name
    stem = os.path.splitext(os.path.basename(model_path))[0]
    ident = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in stem)
    return ident if ident and not ident[0].isdigit() else "m_" + ident


def compile_model(model_path: str, cfg: Config, name: str, progress: bool = True) -> Compiled:
    """Run the front half of the pipeline."""
    notes: List[str] = []
    graph = import_onnx(model_path, cfg.input_shape, cfg.source)
    input_name = graph.inputs[0]
    input_shape = graph.shape(input_name)
    passed = run_passes(graph, io_layout="NHWC" if cfg.layout == "nhwc" else "NCHW")
    prequantized = graph.quant is not None
    if prequantized:
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
    elif cfg.equalization:
        passed = equalize(passed)
    weight_bits = layer_weight_bits(passed, cfg, model_path)  # checks the overrides before calibrating
    act_bits = layer_activation_bits(passed, cfg, model_path)  # int8/int16 per layer (overrides)
    ys = None  # labels, for the auto_precision search
    if cfg.calibration is not None:
        xs, ys = load_samples(cfg.calibration, input_name, input_shape, cfg.source)
        if cfg.max_samples:
            xs = xs[:cfg.max_samples]
    else:
        xs = random_calibration_inputs(input_shape)
        if not prequantized:
            notes.append("no calibration data given (calibration.data in the config): activation ranges come from "
                     f"{xs.shape[0]} random N(0,1) inputs, so accuracy on real data will be poor")
    if cfg.layout == "nhwc" and len(input_shape) == 4:
        # The config asks for an NHWC API; calibration data is in the model's layout.
        pass
    pins = {input_name: list(input_shape)}
    cal = collect(model_path, xs, cfg.method, cfg.percentile, pins, progress, moving_average=cfg.moving_average,
                  transforms=float_transforms(passed), means=cfg.bias_correction,
                  keep_minmax=decision_tensors(passed),
                  only={passed.original_name(t) for t, v in passed.tensors.items() if not v.is_const})
    float_mean = ((lambda t: internal_value(passed, t, cal.means.get))
                  if cfg.bias_correction and not prequantized else None)
    rounding = {"tflite": ROUND_TFLITE, "half_even": ROUND_HALF_EVEN}.get(
        cfg.rounding, ROUND_HALF_EVEN if prequantized else ROUND_TFLITE)

    def quantize_with(bits, act=None):
        return quantize(passed, cal.ranges, name, per_channel=cfg.weights == "per_channel", float_mean=float_mean,
                        weight_bits=bits, int4_clipping=cfg.int4_clipping,
                        activation_bits=cfg.activation_bits, rounding=rounding,
                        layer_activation_bits={**act_bits, **(act or {})})

    if cfg.auto_precision is not None:
        # Activation bits first (only when the default is int16), then weight bits on that plan.
        chosen, plan, acc16 = auto_precision.search_activations(passed, cfg, model_path, quantize_with, xs, ys,
                                                                progress)
        act_bits.update(chosen)
        notes.extend(plan)
        int16_layers = [n.name for n in passed.nodes if act_bits.get(n.name, cfg.activation_bits) == 16]
        weight_bits, plan = auto_precision.search(passed, cfg, model_path, quantize_with, xs, ys, progress,
                                                  baseline=acc16, int16_layers=int16_layers)
        notes.extend(plan)
    qm = quantize_with(weight_bits)
    qm.notes = notes
    return Compiled(passed, qm, int(xs.shape[0]), notes)


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
