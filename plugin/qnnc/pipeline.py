"""The compiler front half: config + ONNX -> QModel (import -> passes -> calibrate -> quantize)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .calibrate import collect, internal_value, random_calibration_inputs
from .config import Config
from .data import load_samples
from .importer import import_onnx
from .ir import Graph
from .passes import run_passes
from .passes.equalize import equalize, float_transforms
from .qmodel import QModel
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
    if cfg.equalization:
        passed = equalize(passed)
    if cfg.calibration is not None:
        xs, _ = load_samples(cfg.calibration, input_name, input_shape, cfg.source)
        if cfg.max_samples:
            xs = xs[:cfg.max_samples]
    else:
        xs = random_calibration_inputs(input_shape)
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
    float_mean = (lambda t: internal_value(passed, t, cal.means.get)) if cfg.bias_correction else None
    qm = quantize(passed, cal.ranges, name, per_channel=cfg.weights == "per_channel", float_mean=float_mean)
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
