"""Int8 accuracy of qnnc (each calibration method, with and without cross-layer equalization and bias
correction) side by side with onnxruntime's ``quantize_static`` (MinMax, Percentile, Entropy;
per-channel QDQ int8) on the shared models with labels, in one run on the same data.

    python benchmarks/accuracy.py                          # all three models, every setting
    python benchmarks/accuracy.py --models mlperf_tiny_kws_dscnn --methods minmax,mse
    python benchmarks/accuracy.py --limit 1000 --json acc.json

qnnc figures come from the generated C compiled with the host gcc (bit-exact with qnnc's numpy
reference, which ``tests/test_models.py`` checks); flash = weights + per-channel requantization
constants in bytes, RAM = the activation arena, both from the build report. See
benchmarks/README.md ("Accuracy").
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = ["mlperf_tiny_kws_dscnn", "onnx_zoo_mnist8", "digits_cnn_sklearn"]
METHODS = ["minmax", "percentile", "mse", "kl"]
VARIANTS = {"none": {}, "cle": {"equalization": True}, "bc": {"bias_correction": True},
            "cle+bc": {"equalization": True, "bias_correction": True},
            # precision: int16 activations (16x8), int4 weights, the automatic int4/int8 search
            "int16": {"activation_bits": 16}, "int4": {"weight_bits": 4},
            "int4+bc": {"weight_bits": 4, "bias_correction": True}, "auto": {"auto_precision": 0.005},
            "auto16": {"activation_bits": 16, "auto_precision": 0.005}}
ORT_METHODS = ["MinMax", "Percentile", "Entropy"]


def shared_dir() -> Path:
    env = os.environ.get("QNNC_SHARED_MODELS")
    return Path(env) if env else REPO.parent / "shared" / "models"


def float_outputs(model_path: str, xs: np.ndarray) -> np.ndarray:
    from qnnc.frontend.float_runner import FloatRunner
    r = FloatRunner(model_path)
    return np.concatenate([r.run(xs[i:i + 1])[r.output_names[0]].reshape(1, -1) for i in range(len(xs))])


def run_qnnc(model_path: str, cal_path: str, xs: np.ndarray, method: str, extra: Dict) -> Dict:
    """Build with qnnc, compile the C on the host, run the test inputs; int8 outputs + sizes."""
    from qnnc.build import generate, write_output
    from qnnc.config import Config, DataRef
    from qnnc.emit.hostrun import compile_driver, run_driver
    from qnnc.reference.interpreter import dequantize_output, quantize_input
    cfg = Config(calibration=DataRef(cal_path), method=method, **extra)
    t0 = time.time()
    res = generate(model_path, cfg, "m", progress=False)
    model = res.compiled.model
    with tempfile.TemporaryDirectory(prefix="qnnc-acc-") as tmp:
        write_output(res.files, os.path.join(tmp, "gen"))
        exe = compile_driver(os.path.join(tmp, "gen"), "m", os.path.join(tmp, "m"))
        q = run_driver(exe, quantize_input(model, xs).reshape(len(xs), -1), model.output_tensor.size)
    return {"out": dequantize_output(model, q).reshape(len(xs), -1), "flash": res.report["weight_bytes"],
            "ram": res.report["arena_bytes"], "seconds": time.time() - t0}


class _Reader:
    def __init__(self, name: str, xs: np.ndarray):
        self.name, self.xs, self.i = name, xs, 0

    def get_next(self):
        if self.i >= len(self.xs):
            return None
        self.i += 1
        return {self.name: self.xs[self.i - 1:self.i]}

    def rewind(self):
        self.i = 0


def run_ort(model_path: str, cal: np.ndarray, xs: np.ndarray, method: str, preprocess: bool = True) -> Dict:
    """onnxruntime quantize_static (per-channel QDQ, int8 weights and activations) + its run.

    ``preprocess`` first runs ``quant_pre_process`` (shape inference + graph optimization), the step
    onnxruntime's quantization guide recommends and its quantizer asks for."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="qnnc-ort-") as tmp:
        m = onnx.load(model_path)
        m.ir_version = min(m.ir_version, 10)  # as qnnc's float runner: older runtimes refuse newer IR
        src, dst = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "qdq.onnx")
        onnx.save(m, src)
        inits = {i.name for i in m.graph.initializer}
        name = next(i.name for i in m.graph.input if i.name not in inits)
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # its "consider pre-processing" advice
        try:
            with contextlib.redirect_stdout(sys.stderr):  # its progress prints
                if preprocess:
                    pre = os.path.join(tmp, "pre.onnx")
                    quant_pre_process(src, pre)
                    src = pre
                quantize_static(src, dst, _Reader(name, cal), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                                calibrate_method=getattr(CalibrationMethod, method))
        except Exception as e:  # report, don't crash (MNIST-8 makes quantize_static raise ValueError)
            return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}", "seconds": time.time() - t0}
        finally:
            logging.getLogger().setLevel(level)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(dst, opts, providers=["CPUExecutionProvider"])
        out_name = sess.get_outputs()[0].name
        out = np.concatenate([sess.run([out_name], {name: xs[i:i + 1]})[0].reshape(1, -1) for i in range(len(xs))])
        qdq_bytes = os.path.getsize(dst)
    return {"out": out, "seconds": time.time() - t0, "file_bytes": qdq_bytes}


def _sqnr(f: np.ndarray, q: np.ndarray) -> float:
    noise = float(np.sum((q.astype(np.float64) - f) ** 2))
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(f.astype(np.float64) ** 2) / noise))


def bench_model(model: str, methods: List[str], variants: List[str], ort_methods: List[str],
                limit: Optional[int], log) -> Dict:
    folder = shared_dir() / model
    path = str(folder / "model.onnx")
    cal_path = str(folder / "calibration.npz")
    cal = np.load(cal_path)["x"].astype(np.float32)
    test = np.load(folder / "test.npz")
    xs, ys = test["x"].astype(np.float32), test["y"]
    if limit:
        xs, ys = xs[:limit], ys[:limit]
    f = float_outputs(path, xs)
    rows = []

    def score(out):
        pred = out.argmax(axis=1)
        return {"accuracy": float(np.mean(pred == ys)), "agreement": float(np.mean(pred == f.argmax(axis=1))),
                "output_sqnr_db": _sqnr(f, out)}

    for method in methods:
        for v in variants:
            r = run_qnnc(path, cal_path, xs, method, VARIANTS[v])
            row = {"tool": "qnnc", "method": method, "variant": v, **score(r["out"]), "flash_bytes": r["flash"],
                   "ram_bytes": r["ram"], "seconds": round(r["seconds"], 1)}
            rows.append(row)
            log(f"  qnnc {method:10s} {v:6s} acc {row['accuracy']:.4f}  ({row['seconds']:.0f} s)")
    for method in ort_methods:
        # The recommended recipe (pre-processed model); if that fails, report the failure and also
        # try the model as it is.
        for pre in (True, False):
            r = run_ort(path, cal, xs, method, preprocess=pre)
            row = {"tool": "onnxruntime", "method": method, "variant": "" if pre else "no-pre",
                   "preprocessed": pre, "seconds": round(r["seconds"], 1)}
            if "error" in r:
                row["error"] = r["error"]
                log(f"  ort  {method:10s} {row['variant']:6s} failed: {r['error']}")
            else:
                row.update(score(r["out"]))
                row["qdq_file_bytes"] = r["file_bytes"]
                log(f"  ort  {method:10s} {row['variant']:6s} acc {row['accuracy']:.4f}  ({row['seconds']:.0f} s)")
            rows.append(row)
            if "error" not in r:
                break
    return {"model": model, "samples": int(len(xs)), "calibration_samples": int(len(cal)),
            "float_accuracy": float(np.mean(f.argmax(axis=1) == ys)), "rows": rows}


def format_table(res: Dict) -> str:
    lines = [f"{res['model']}: {res['samples']} test samples, {res['calibration_samples']} calibration samples, "
             f"float accuracy {res['float_accuracy']:.4f}",
             f"  {'tool':12s} {'method':11s} {'CLE/BC':7s} {'accuracy':>8s} {'agree':>7s} {'SQNR dB':>8s} "
             f"{'flash B':>8s} {'RAM B':>7s}"]
    for r in res["rows"]:
        head = f"  {r['tool']:12s} {r['method']:11s} {r['variant']:7s}"
        if "error" in r:
            lines.append(f"{head} failed: {r['error']}")
            continue
        flash = str(r.get("flash_bytes", "-"))
        ram = str(r.get("ram_bytes", "-"))
        lines.append(f"{head} {r['accuracy']:8.4f} {r['agreement']:7.4f} {r['output_sqnr_db']:8.1f} "
                     f"{flash:>8s} {ram:>7s}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--methods", default=",".join(METHODS), help="qnnc calibration methods")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="of: " + ", ".join(VARIANTS))
    ap.add_argument("--ort", default=",".join(ORT_METHODS), help="onnxruntime methods ('' for none)")
    ap.add_argument("--limit", type=int, help="use at most this many test samples")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "plugin"))  # a source checkout without pip install -e

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    results = []
    for model in [m for m in args.models.split(",") if m]:
        if not (shared_dir() / model / "test.npz").is_file():
            log(f"{model}: no model/test data in {shared_dir()}; skipped")
            continue
        log(f"{model}:")
        results.append(bench_model(model, [m for m in args.methods.split(",") if m],
                                   [v for v in args.variants.split(",") if v],
                                   [m for m in args.ort.split(",") if m], args.limit, log))
    for res in results:
        print(format_table(res))
        print()
    print("agree: top-1 agreement with the float model; SQNR: of the dequantized output vs float "
          "(over all test samples); flash/RAM: qnnc build report (weights incl. requantization constants / "
          "activation arena). onnxruntime: quantize_static after quant_pre_process (its recommended "
          "recipe); 'no-pre': on the model as it is, tried only when the recipe fails.")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
