"""How long ``qnnc validate`` takes on a whole test set, stage by stage.

    python benchmarks/validate_speed.py                                  # MNIST (9,700 samples)
    python benchmarks/validate_speed.py --samples 1000,9700              # several sizes
    python benchmarks/validate_speed.py --model M.onnx --data test.npz --calibration cal.npz

Prints one table: for each sample count, the seconds of each stage run on its own (build with
calibration, writing + compiling the host C with ASan/UBSan, the C program on all samples, float
onnxruntime, the numpy reference, the whole per-layer comparison: float + reference + SQNR) and of ``qnnc validate`` end to
end (which runs the C program in the background while Python compares, so it is less than the
sum). A measurement, not a test: timings depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "plugin"))

SHARED = Path(os.environ.get("QNNC_SHARED_MODELS", REPO.parent / "shared" / "models"))
MNIST = SHARED / "onnx_zoo_mnist8"

STAGES = ["build", "compile C", "run C", "float ORT", "reference", "compare (all)", "validate"]


def measure(model: Path, data: Path, calibration: Path, n: int, sanitize: bool) -> Dict[str, float]:
    from qnnc.build import _api_layout, generate
    from qnnc.config import DataRef, load_config
    from qnnc.emit.hostrun import compile_driver
    from qnnc.emit.output_dir import write_output
    from qnnc.frontend.data import load_samples
    from qnnc.reference.interpreter import quantize_input, run
    from qnnc.validate import FloatBatches, float_and_layers, run_c, single_threaded_blas, validate

    times: Dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="qnnc-bench-") as tmp:
        cfg_path = Path(tmp) / "q.yaml"
        cfg_path.write_text(f"name: bench\ncalibration:\n  data: {calibration}\n")
        cfg = load_config(str(cfg_path))
        t = time.perf_counter()
        result = generate(str(model), cfg, "bench", progress=False)
        times["build"] = time.perf_counter() - t
        qm, graph = result.compiled.model, result.compiled.graph
        in_name = graph.inputs[0]
        raw_shape = graph.shape(in_name)
        xs, _ = load_samples(DataRef(str(data), yaml_key="--data", count=n), in_name, raw_shape, None)
        q_in = quantize_input(qm, _api_layout(xs, cfg))

        t = time.perf_counter()
        gen = os.path.join(tmp, "gen")
        write_output(result.files, gen, qm.name)
        exe = compile_driver(gen, "bench", os.path.join(tmp, "drv"), sanitize=sanitize)
        times["compile C"] = time.perf_counter() - t

        t = time.perf_counter()
        run_c(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size)
        times["run C"] = time.perf_counter() - t

        shape = {in_name: list(raw_shape)}
        t = time.perf_counter()
        floats = FloatBatches(str(model), shape, xs)
        for start in range(0, len(xs), 256):
            floats.run(xs[start:start + 256])
        times["float ORT"] = time.perf_counter() - t
        times["float batched"] = float(floats.multi is not None)

        keep = [op.output for op in qm.ops if op.kind != "reshape"]
        t = time.perf_counter()
        with single_threaded_blas():
            for i in range(len(xs)):
                run(qm, q_in[i], keep=keep)
        times["reference"] = time.perf_counter() - t

        t = time.perf_counter()
        float_and_layers(str(model), graph, qm, xs, q_in, shape)
        times["compare (all)"] = time.perf_counter() - t

        t = time.perf_counter()
        res = validate(str(model), cfg, str(data), name="bench", limit=n, sanitize=sanitize, progress=False)
        times["validate"] = time.perf_counter() - t
        assert res["bit_exact"], "the generated C and the reference disagree"
        times["samples"] = res["samples"]
    return times


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=MNIST / "model.onnx", help="float ONNX model (default: MNIST)")
    ap.add_argument("--data", type=Path, default=MNIST / "test.npz", help="test inputs (.npz/.npy)")
    ap.add_argument("--calibration", type=Path, default=MNIST / "calibration.npz", help="calibration data")
    ap.add_argument("--samples", default="9700", help="comma-separated sample counts (default: 9700)")
    ap.add_argument("--no-sanitize", action="store_true", help="host C without ASan/UBSan")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        print(f"model not found: {args.model} (set QNNC_SHARED_MODELS or pass --model)", file=sys.stderr)
        return 2
    rows = [measure(args.model, args.data, args.calibration, int(n), not args.no_sanitize)
            for n in args.samples.split(",")]
    print(f"qnnc validate stages on {args.model.parent.name}/{args.model.name}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; seconds")
    head = ["samples"] + STAGES
    print(" | ".join(f"{h:>13s}" for h in head))
    for r in rows:
        print(" | ".join([f"{int(r['samples']):>13d}"] + [f"{r[s]:>13.1f}" for s in STAGES]))
    print("float ORT ran in batches" if all(r["float batched"] for r in rows) else
          "float ORT ran one sample per call (the model's batch dimension is fixed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
