"""What the recurrent layers cost on each core: the corpus' LSTM and GRU networks (any corpus
model with an LSTM or GRU node) built with their default int16 activations and with
``recurrent_activation_bits: 8``, run under QEMU with instructions counted
(``../shared/docs/measuring.md``), bit-exact with the reference.

    python -m benchmarks.recurrent                        # m3, m4, m55
    python -m benchmarks.recurrent --cores m4 --models arch_lstm_kws

Prints instructions per inference and per MAC, the recurrent layer's share, the arena and the
kernels' and weights' flash.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import List

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

from benchmarks import harness as H  # noqa: E402
from benchmarks import modelbench as MB  # noqa: E402
from benchmarks.corpus import corpus_dir, corpus_models, seeded_inputs  # noqa: E402
from benchmarks.run import table  # noqa: E402

CORES = ["m3", "m4", "m55"]
CALIBRATION, INPUTS = 32, 1
VARIANTS = {"int16 (default)": "", "int8": "quantization:\n  recurrent_activation_bits: 8\n"}


def recurrent_models(d: Path) -> List[str]:
    """Corpus models with an LSTM or GRU node and one input."""
    import onnx
    out = []
    for name in corpus_models(d):
        m = onnx.load(str(d / name / "model.onnx"), load_external_data=False)
        if any(n.op_type in ("LSTM", "GRU") for n in m.graph.node) and len(m.graph.input) == 1:
            out.append(name)
    return out


def input_shape(path: Path) -> List[int]:
    """The model input's shape, a symbolic dim as 1."""
    import onnx
    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.dim_value > 0 else 1 for d in dims]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", default=",".join(CORES))
    ap.add_argument("--models", default="", help="comma list of corpus folders (default: every recurrent one)")
    args = ap.parse_args(argv)
    cores = [c for c in args.cores.split(",") if c]
    why = H.missing_tools_for(cores)
    if why:
        print(f"benchmarks: cannot run: {why}", file=sys.stderr)
        return 2
    d = corpus_dir()
    if d is None:
        print("benchmarks: model corpus not found (set QNNC_SHARED_MODELS)", file=sys.stderr)
        return 2
    models = [m for m in args.models.split(",") if m] or recurrent_models(d)
    rows, bad = [], []
    with tempfile.TemporaryDirectory(prefix="qnnc-recurrent-") as tmp:
        for model in models:
            path = d / model / "model.onnx"
            shape = input_shape(path)
            cal, xs = seeded_inputs(shape, CALIBRATION, 0), seeded_inputs(shape, INPUTS, 1)
            for variant, extra in VARIANTS.items():
                work = Path(tmp) / model / variant.split()[0]
                res = MB.generate(path, work, cal, extra_config=extra)
                q = MB.quantized_inputs(res, xs)
                for core in cores:
                    r = MB.bench_generated(res, work / "gen", q, H.MACHINES[core], work / core, model, hist=False)
                    if not r.bit_exact:
                        bad.append(f"{model}/{variant}/{core}")
                    rec = sum(lr.instructions for lr in r.layers if lr.kind in ("lstm", "gru"))
                    rows.append([model, variant, core, f"{r.instructions:,}", f"{r.instructions / r.macs:.2f}",
                                 f"{100.0 * rec / r.instructions:.0f} %", f"{r.arena:,}",
                                 f"{r.flash['kernels']:,}", f"{r.flash['weights']:,}"])
                    print(" | ".join(rows[-1]), flush=True)
    print()
    print(table(rows, ["model", "activations", "core", "instructions", "/MAC", "recurrent layer", "arena B",
                       "kernels B", "weights B"]))
    if bad:
        print(f"\nNOT BIT-EXACT: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
