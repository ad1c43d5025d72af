"""``qnnc validate``: generated C (host build) vs the numpy reference vs float onnxruntime."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, Optional

import numpy as np

from .build import _api_layout, generate, write_output
from .config import Config, DataRef
from .data import load_samples
from .float_runner import float_outputs
from .hostrun import compile_driver, run_driver
from .reference.interpreter import dequantize_output, quantize_input, run_int8


def validate(model_path: str, cfg: Config, data_path: str, name: Optional[str] = None, limit: Optional[int] = None,
             sanitize: bool = True, progress: bool = True) -> Dict[str, Any]:
    """Build, compile, run on ``data_path`` and compare; returns a JSON-able dict."""
    from .build import default_name
    name = default_name(model_path, cfg, name)
    result = generate(model_path, cfg, name, runtime=True, progress=progress)
    model = result.compiled.model
    in_name = result.compiled.graph.inputs[0]
    raw_shape = result.compiled.graph.shape(in_name)
    ref = DataRef(os.path.abspath(data_path), yaml_key="--data", count=limit)
    xs, ys = load_samples(ref, in_name, raw_shape, None)
    with tempfile.TemporaryDirectory(prefix="qnnc-validate-") as tmp:
        gen = os.path.join(tmp, "gen")
        write_output(result.files, gen)
        exe = compile_driver(gen, name, os.path.join(tmp, "model"), sanitize=sanitize)
        q_in = quantize_input(model, _api_layout(xs, cfg))
        c_out = run_driver(exe, q_in.reshape(len(xs), -1), model.output_tensor.size)
    ref_out = run_int8(model, q_in).reshape(len(xs), -1)
    mismatches = int(np.sum(np.any(c_out != ref_out, axis=1)))
    f_out = float_outputs(model_path, xs, {in_name: list(raw_shape)}).reshape(len(xs), -1)
    if cfg.layout == "nhwc" and f_out.ndim == 4:
        f_out = f_out.transpose(0, 2, 3, 1)
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
    return "\n".join(lines)
