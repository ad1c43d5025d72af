"""What qnnc compiles of the model corpus (``../shared/models/corpus``): one row per model.

Each model is built with default settings (no config: int8, per-channel weights, min-max ranges
from seeded random inputs), its C compiled on the host under ASan/UBSan and run on other seeded
inputs, and compared with the numpy reference (bit-exact) and with float onnxruntime (output
SQNR, mean error in output LSB). A refused model gets its error's first line.

    python -m benchmarks.corpus                 # the table
    python -m benchmarks.corpus --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SAMPLES = 8


@dataclass
class CorpusRow:
    """The result for one model."""

    model: str
    ok: bool
    error: str = ""
    ops: int = 0
    macs: int = 0
    arena: int = 0
    lower_bound: int = 0
    flash: int = 0
    bit_exact: Optional[bool] = None
    sqnr_db: Optional[float] = None
    mean_err_lsb: Optional[float] = None


def corpus_dir() -> Optional[Path]:
    """``$QNNC_SHARED_MODELS/corpus`` or ``../shared/models/corpus``, if present."""
    env = os.environ.get("QNNC_SHARED_MODELS")
    base = Path(env) if env else REPO.parent / "shared" / "models"
    d = base / "corpus"
    return d if d.is_dir() else None


def corpus_models(d: Path) -> List[str]:
    return sorted(p.parent.name for p in d.glob("*/model.onnx"))


def seeded_inputs(shape, count: int, seed: int) -> np.ndarray:
    """N(0, 1) samples of the model's input shape (batch ``count``)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count,) + tuple(shape[1:])).astype(np.float32)


def measure(path: Path, work: Path) -> CorpusRow:
    """Build one model with default settings and check it (see the module doc)."""
    from qnnc.build import build
    from qnnc.config import load_config
    from qnnc.emit.hostrun import compile_driver, run_driver
    from qnnc.errors import QnncError
    from qnnc.frontend.float_runner import float_outputs
    from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

    name = path.parent.name
    out = work / name
    try:
        result = build(str(path), load_config(None), str(out), "m", progress=False)
    except QnncError as e:
        return CorpusRow(name, False, error=e.format().splitlines()[0])
    qm, plan = result.compiled.model, result.plan
    row = CorpusRow(name, True, ops=len(qm.ops), macs=int(sum(op.macs for op in qm.ops)),
                    arena=plan.arena_size, lower_bound=plan.lower_bound, flash=qm.weight_bytes)
    shape = result.compiled.graph.shape(result.compiled.graph.inputs[0])
    xs = seeded_inputs(shape, SAMPLES, seed=1)
    q_in = quantize_input(qm, xs)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    exe = compile_driver(str(out), "m", str(work / f"{name}_drv"), sanitize=True)
    c_out = run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size)
    row.bit_exact = bool(np.array_equal(c_out, ref))
    pins = {result.compiled.graph.inputs[0]: list(shape)}  # a dynamic batch taken as 1, as the build did
    y = float_outputs(str(path), xs, pins).reshape(len(xs), -1).astype(np.float64)
    if y.shape[1] == ref.shape[1]:
        deq = dequantize_output(qm, ref).reshape(len(xs), -1).astype(np.float64)
        noise = float(np.sum((deq - y) ** 2))
        row.sqnr_db = float(10 * np.log10(np.sum(y ** 2) / noise)) if noise > 0 else float("inf")
        row.mean_err_lsb = float(np.mean(np.abs(deq - y)) / qm.output_tensor.scale)
    return row


def run_corpus(models: Optional[List[str]] = None) -> List[CorpusRow]:
    d = corpus_dir()
    if d is None:
        raise SystemExit("corpus not found: set QNNC_SHARED_MODELS or place it at ../shared/models/corpus")
    rows = []
    with tempfile.TemporaryDirectory(prefix="qnnc-corpus-") as tmp:
        for name in models or corpus_models(d):
            rows.append(measure(d / name / "model.onnx", Path(tmp)))
    return rows


def format_table(rows: List[CorpusRow]) -> str:
    head = "| model | build | ops | MACs | arena B | lower bound B | flash B | bit-exact | SQNR dB | mean err LSB |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        if not r.ok:
            lines.append(f"| {r.model} | refused: {r.error[:110]} | | | | | | | | |")
            continue
        sq = "inf" if r.sqnr_db == float("inf") else f"{r.sqnr_db:.1f}" if r.sqnr_db is not None else "-"
        err = f"{r.mean_err_lsb:.2f}" if r.mean_err_lsb is not None else "-"
        lines.append(f"| {r.model} | ok | {r.ops} | {r.macs:,} | {r.arena:,} | {r.lower_bound:,} | {r.flash:,} | "
                     f"{'yes' if r.bit_exact else 'NO'} | {sq} | {err} |")
    n_ok = sum(r.ok for r in rows)
    lines.append(f"\n{n_ok} of {len(rows)} models compile with default settings.")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated model folder names (default: all)")
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    rows = run_corpus(args.models.split(",") if args.models else None)
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
