"""``qnnc validate``: generated C (host build) vs the numpy reference vs float onnxruntime."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, Optional

import numpy as np

from .build import _api_layout, generate
from .emit.output_dir import write_output
from .quantize.calibrate import _progress, apply_transform, internal_value
from .config import Config, DataRef
from .frontend.data import load_samples
from .frontend.float_runner import FloatRunner
from .emit.hostrun import compile_driver, run_driver
from .passes.equalize import float_transforms
from .reference.interpreter import dequantize_output, quantize_input, run


def _sqnr_db(signal: float, noise: float) -> Optional[float]:
    """10 log10(signal / noise); None when the int8 value is exact (no noise)."""
    if noise <= 0.0:
        return None
    return float(10.0 * np.log10(max(signal, 1e-30) / noise))


def float_and_layers(model_path: str, graph, model, xs: np.ndarray, q_in: np.ndarray, input_shape=None,
                     progress: bool = False):
    """Float outputs (N, out) and the per-layer SQNR of the reference against float onnxruntime.

    For every op (views excluded) the dequantized int8 output of the numpy reference is compared
    with the float value of the same tensor (ONNX name via ``Graph.original_name``, NCHW -> NHWC,
    equalization factors applied); the signal and error energies are summed over all samples.
    Also returns the reference's int8 outputs (N, out).
    """
    runner = FloatRunner(model_path, input_shape, all_tensors=True)
    transforms = float_transforms(graph)
    ops = [op for op in model.ops if op.kind != "reshape"]
    keep = [op.output for op in ops]
    sig = np.zeros(len(ops))
    err = np.zeros(len(ops))
    seen = np.zeros(len(ops), bool)
    f_out, r_out = [], []
    for i in range(xs.shape[0]):
        outs = runner.run(xs[i:i + 1])
        outs[runner.input_name] = xs[i:i + 1]
        f_out.append(outs[runner.output_names[0]].reshape(-1))
        ref = run(model, q_in[i], keep=keep)
        r_out.append(ref[model.output].reshape(-1))

        def get(name):
            v = outs.get(name)
            return None if v is None else apply_transform(v.astype(np.float64), transforms.get(name))

        for j, op in enumerate(ops):
            # an int8 <-> int16 conversion's output is its (graph) input's value at another precision
            f = internal_value(graph, op.inputs[0] if op.kind == "requantize" else op.output, get)
            if f is None:
                continue
            t = model.tensors[op.output]
            d = (ref[op.output].astype(np.float64) - t.zero_point) * t.scale
            sig[j] += float(np.sum(f * f))
            err[j] += float(np.sum((d.reshape(f.shape) - f) ** 2))
            seen[j] = True
        _progress(i + 1, xs.shape[0], "comparing layers with float", progress)
    layers = [{"index": model.ops.index(op), "name": op.name, "op": op.kind, "tensor": op.output,
               "scale": model.tensors[op.output].scale, "sqnr_db": _sqnr_db(sig[j], err[j])}
              for j, op in enumerate(ops) if seen[j]]
    return np.stack(f_out), np.stack(r_out), layers


def validate(model_path: str, cfg: Config, data_path: str, name: Optional[str] = None, limit: Optional[int] = None,
             sanitize: bool = True, progress: bool = True) -> Dict[str, Any]:
    """Build, compile, run on ``data_path`` and compare; returns a JSON-able dict."""
    from .build import default_name
    name = default_name(model_path, cfg, name)
    result = generate(model_path, cfg, name, runtime=True, progress=progress)
    model = result.compiled.model
    in_name = result.compiled.graph.inputs[0]
    raw_shape = result.compiled.graph.shape(in_name)
    if cfg.layout == "nhwc" and len(raw_shape) == 4:  # data (and onnxruntime) use the model's NCHW
        raw_shape = (raw_shape[0], raw_shape[3], raw_shape[1], raw_shape[2])
    ref = DataRef(os.path.abspath(data_path), yaml_key="--data", count=limit)
    xs, ys = load_samples(ref, in_name, raw_shape, None)
    with tempfile.TemporaryDirectory(prefix="qnnc-validate-") as tmp:
        gen = os.path.join(tmp, "gen")
        write_output(result.files, gen)
        exe = compile_driver(gen, name, os.path.join(tmp, "model"), sanitize=sanitize)
        q_in = quantize_input(model, _api_layout(xs, cfg))
        c_out = run_driver(exe, q_in.reshape(len(xs), -1), model.output_tensor.size)
    f_out, ref_out, layers = float_and_layers(model_path, result.compiled.graph, model, xs, q_in,
                                              {in_name: list(raw_shape)}, progress)
    mismatches = int(np.sum(np.any(c_out != ref_out, axis=1)))
    out_shape = model.output_tensor.shape
    if cfg.layout == "nhwc" and len(out_shape) == 4:  # onnxruntime gives NCHW, the API is NHWC
        n, h, w, c = out_shape
        f_out = f_out.reshape(len(xs), n, c, h, w).transpose(0, 1, 3, 4, 2).reshape(len(xs), -1)
    deq = dequantize_output(model, ref_out)
    err_lsb = np.abs(deq.astype(np.float64) - f_out) / model.output_tensor.scale
    res: Dict[str, Any] = {
        "name": name,
        "samples": int(len(xs)),
        "bit_exact": mismatches == 0,
        "c_vs_reference_mismatching_samples": mismatches,
        "sanitizers": bool(sanitize),
        "float_max_abs_error_lsb": float(err_lsb.max()),
        "float_mean_abs_error_lsb": float(err_lsb.mean()),
        "arena_bytes": result.report["arena_bytes"],
        "lower_bound_bytes": result.report["lower_bound_bytes"],
        "weight_bytes": result.report["weight_bytes"],
        "layers": layers,
    }
    if ys is not None and f_out.shape[1] > 1:
        res["accuracy_float"] = float(np.mean(f_out.argmax(axis=1) == ys))
        res["accuracy_int8"] = float(np.mean(c_out.astype(np.int32).argmax(axis=1) == ys))
        res["top1_agreement_int8_vs_float"] = float(np.mean(c_out.astype(np.int32).argmax(axis=1)
                                                            == f_out.argmax(axis=1)))
    return res


def format_validation(res: Dict[str, Any]) -> str:
    """Human-readable validation summary."""
    lines = [
        f"qnnc validate: {res['name']} on {res['samples']} samples",
        f"  C (host{', ASan+UBSan' if res['sanitizers'] else ''}) vs reference: "
        + ("bit-exact" if res["bit_exact"] else f"{res['c_vs_reference_mismatching_samples']} samples differ"),
        f"  int8 vs float onnxruntime: max |error| {res['float_max_abs_error_lsb']:.2f} LSB, "
        f"mean {res['float_mean_abs_error_lsb']:.3f} LSB",
    ]
    if "accuracy_float" in res:
        lines.append(f"  accuracy: float {res['accuracy_float']:.4f}, int8 {res['accuracy_int8']:.4f} "
                     f"(top-1 agreement {res['top1_agreement_int8_vs_float']:.4f})")
    lines.append(f"  RAM arena {res['arena_bytes']} B (lower bound {res['lower_bound_bytes']} B), "
                 f"weights {res['weight_bytes']} B")
    if res.get("layers"):
        lines.append("  per-layer SQNR of int8 vs float onnxruntime (dB; higher is better, each layer's "
                     "error includes what earlier layers passed on):")
        width = min(48, max(len(l["name"]) for l in res["layers"]))
        for l in res["layers"]:
            name = l["name"] if len(l["name"]) <= width else l["name"][:width - 3] + "..."
            db = "exact" if l["sqnr_db"] is None else f"{l['sqnr_db']:6.1f}"
            lines.append(f"    {l['index']:3d}  {l['op']:<16s} {name:<{width}s} {db:>6s}")
    return "\n".join(lines)
