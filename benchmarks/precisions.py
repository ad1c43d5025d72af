"""What each precision costs in time on each core: KWS and IC built as int8, with int4 weights,
with int16 activations and as the official int8 QDQ models (onnxruntime's rounding), run under
QEMU with instructions counted (``../shared/docs/measuring.md``), bit-exact with the reference.

    python -m benchmarks.precisions                       # m3, m4, m55, rv32
    python -m benchmarks.precisions --cores m4,m55 --models mlperf_tiny_kws_dscnn

Prints instructions per inference and per MAC, the ratio to the int8 build on the same core, and
the weights' flash (goal: int4, int16 and QDQ builds within 1.5x of int8 on the M4 and M55).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

from benchmarks import harness as H  # noqa: E402
from benchmarks import modelbench as MB  # noqa: E402
from benchmarks.run import shared_models_dir, table  # noqa: E402

MODELS = ["mlperf_tiny_kws_dscnn", "mlperf_tiny_ic_resnet8"]
CORES = ["m3", "m4", "m55", "rv32"]
# variant -> (ONNX file in the model folder, extra YAML config)
VARIANTS: Dict[str, Tuple[str, str]] = {
    "int8": ("model.onnx", ""),
    "int4 weights": ("model.onnx", "quantization:\n  weight_bits: 4\n"),
    "int16 activations": ("model.onnx", "quantization:\n  activation_bits: 16\n"),
    "official QDQ": ("model_int8_qdq_ref.onnx", ""),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", default=",".join(CORES), help="comma list of " + ",".join(H.MACHINES))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--inputs", type=int, default=1, help="inferences per build (bit-exactness check)")
    args = ap.parse_args(argv)
    cores = [c for c in args.cores.split(",") if c]
    why = H.missing_tools_for(cores)
    if why:
        print(f"benchmarks: cannot run: {why}", file=sys.stderr)
        return 2
    root_dir = shared_models_dir()
    if root_dir is None:
        print("benchmarks: shared models not found (set QNNC_SHARED_MODELS)", file=sys.stderr)
        return 2
    rows: List[List[str]] = []
    bad = []
    with tempfile.TemporaryDirectory(prefix="qnnc-precisions-") as tmp:
        for model in args.models.split(","):
            folder = root_dir / model
            cal, xs = MB.model_inputs(folder / "model.onnx", args.inputs)
            int8: Dict[str, int] = {}
            for variant, (onnx_file, extra) in VARIANTS.items():
                if not (folder / onnx_file).is_file():
                    continue
                work = Path(tmp) / model / variant.replace(" ", "_")
                res = MB.generate(folder / onnx_file, work, cal, extra_config=extra)
                q = MB.quantized_inputs(res, xs)
                for core in cores:
                    r = MB.bench_generated(res, work / "gen", q, H.MACHINES[core], work / core, model, hist=False)
                    if not r.bit_exact:
                        bad.append(f"{model}/{variant}/{core}")
                    int8.setdefault(core, r.instructions) if variant == "int8" else None
                    ratio = r.instructions / int8[core] if core in int8 else float("nan")
                    rows.append([model, variant, core, f"{r.instructions:,}", f"{r.instructions / r.macs:.2f}",
                                 f"{ratio:.2f}x", f"{res.compiled.model.weight_bytes:,}"])
                    print(" | ".join(rows[-1]), flush=True)
    print()
    print(table(rows, ["model", "precision", "core", "instructions", "/MAC", "vs int8", "weights B"]))
    if bad:
        print(f"\nNOT BIT-EXACT: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
