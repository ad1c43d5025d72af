"""Run the qnnc Cortex-M benchmarks on QEMU and print the tables.

    python -m benchmarks.run                       # every shared model + the layer suite, M3/M4/M7/M55
    python -m benchmarks.run --cores m4,m55 --layers-only
    python -m benchmarks.run --models mlperf_tiny_kws_dscnn --json out.json

See benchmarks/README.md for the method and ../shared/docs/measuring.md for the reference figures.
QEMU runs one at a time (the machines are shared).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

from benchmarks import harness as H  # noqa: E402
from benchmarks import layers as L  # noqa: E402
from benchmarks import modelbench as MB  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ALL_CORES = ["m4", "m7", "m55", "m3"]

# TFLite Micro + CMSIS-NN, measuring.md: model -> (M4 Invoke instr, M55 Invoke instr)
TFLM: Dict[str, tuple] = {
    "mlperf_tiny_kws_dscnn": (7_697_846, 1_813_637),
    "mlperf_tiny_ic_resnet8": (29_862_819, 4_911_117),
    "mlperf_tiny_ad_fc_autoencoder": (582_946, 149_995),
    "mobilenet_v1_025": (24_101_936, 6_558_312),  # measuring.md's VWW MobileNetV1-0.25 96x96x3
}
# Issue 7 goals: model -> (M4 instr, M55 instr); layer -> (M4 instr/MAC, M55 instr/MAC)
GOALS = {
    "mlperf_tiny_kws_dscnn": (5_200_000, 1_360_000),
    "mlperf_tiny_ic_resnet8": (19_800_000, 3_700_000),
    "mlperf_tiny_ad_fc_autoencoder": (440_000, 110_000),
    "conv3x3": (1.80, 0.30),
    "dwconv3x3": (5.0, 1.8),
    "fc": (1.80, 0.45),
    "mobilenet_v1_025": (2.4, 0.66),
}


def shared_models_dir() -> Optional[Path]:
    env = os.environ.get("QNNC_SHARED_MODELS")
    p = Path(env) if env else REPO.parent / "shared" / "models"
    return p if p.is_dir() else None


def _fmt_int(v) -> str:
    return "-" if v is None else f"{v:,}"


def _fmt_f(v, d=2) -> str:
    return "-" if v is None else f"{v:.{d}f}"


def table(rows: List[List[str]], header: List[str]) -> str:
    allrows = [header] + rows
    w = [max(len(str(r[i])) for r in allrows) for i in range(len(header))]
    lines = ["| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(header)) + " |",
             "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c).rjust(w[i]) if i else str(c).ljust(w[i]) for i, c in enumerate(r)) + " |")
    return "\n".join(lines)


def ref_for(label: str, core: str, macs: int):
    """(reference instr, source) for a model or a suite layer on a core, or (None, '')."""
    col = {"m4": 0, "m55": 1}.get(core)
    if col is None:
        return None, ""
    if label in TFLM:
        return TFLM[label][col], "TFLM+CMSIS-NN"
    if label in L.REFERENCE:
        return L.REFERENCE[label][1 + col], "CMSIS-NN"
    return None, ""


def goal_for(label: str, core: str, macs: int):
    col = {"m4": 0, "m55": 1}.get(core)
    if col is None or label not in GOALS:
        return None
    g = GOALS[label][col]
    return g if isinstance(g, int) else g * macs


def headline(r: MB.ModelResult) -> int:
    """The compared figure: a whole model's <name>_run, or a suite layer's own kernel call
    (its region inside the run, so the input/output copies of <name>_run are not counted)."""
    if r.model in L.LAYERS and len(r.layers) == 1:
        return r.layers[0].instructions
    return r.instructions


def summary_rows(results: List[MB.ModelResult]) -> List[List[str]]:
    rows = []
    for r in results:
        ref, _src = ref_for(r.model, r.machine, r.macs)
        goal = goal_for(r.model, r.machine, r.macs)
        fl = r.flash
        n = headline(r)
        rows.append([
            r.model, r.machine, _fmt_int(r.macs), _fmt_int(n), _fmt_f(n / r.macs if r.macs else None, 3),
            _fmt_int(ref), _fmt_f(n / ref if ref else None, 2),
            ("yes" if n <= goal else "NO") if goal else "-",
            _fmt_int(int(r.m4_cycles * n / r.instructions)) if r.machine == "m4" and r.m4_cycles else "-",
            _fmt_int(fl.get("weights", 0)), _fmt_int(fl.get("generated", 0)), _fmt_int(fl.get("kernels", 0)),
            _fmt_int(fl.get("libc", 0)), _fmt_int(r.arena), _fmt_int(r.stack),
            f"{r.n_inputs - r.mismatches}/{r.n_inputs}",
        ])
    return rows


SUMMARY_HEADER = ["model / layer", "core", "MACs", "instr", "instr/MAC", "reference", "ratio", "goal met",
                  "M4 cycles (est.)", "weights B", "gen. code B", "kernels B", "libc B", "arena B",
                  "stack B", "bit-exact"]


def layer_breakdown(label: str, per_core: Dict[str, MB.ModelResult]) -> str:
    cores = list(per_core)
    first = per_core[cores[0]]
    rows = []
    for j, l in enumerate(first.layers):
        row = [str(l.index), l.kind, _fmt_int(l.macs or None)]
        for c in cores:
            lc = per_core[c].layers[j]
            row.append(_fmt_int(lc.instructions))
            row.append(_fmt_f(lc.per_mac, 2))
        rows.append(row)
    hdr = ["#", "op", "MACs"]
    for c in cores:
        hdr += [f"{c} instr", f"{c} /MAC"]
    return f"{label}: per layer\n" + table(rows, hdr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", default=",".join(ALL_CORES), help="comma list of m3,m4,m7,m55,rv32 (rv32: RISC-V "
                    "rv32imac on QEMU virt, not in the default list)")
    ap.add_argument("--models", default=None, help="comma list of shared model folders (default: all)")
    ap.add_argument("--layers", default=None, help="comma list of suite layers (default: all)")
    ap.add_argument("--models-only", action="store_true")
    ap.add_argument("--layers-only", action="store_true")
    ap.add_argument("--inputs", type=int, default=3, help="inferences per model (bit-exactness check)")
    ap.add_argument("--opt", default="-O2", help="firmware optimization level, e.g. --opt=-Os (Zephyr's "
                    "default); the kernel sources get --kernel-opt")
    ap.add_argument("--kernel-opt", default=None, help="one extra flag for the kernel sources only. Default: "
                    "-O2 when --opt is another level, as the Zephyr module (CONFIG_QNNC_OPTIMIZE_SPEED=y) and "
                    "the PlatformIO library (custom_qnnc_kernels_opt = -O2) build them; 'pragma': nothing "
                    "extra, the kernels' own optimize pragma only (a hand-written Makefile around the CLI "
                    "output); -DQNNC_NO_FORCE_O2: kernels really at --opt")
    ap.add_argument("--build-dir", default=None, help="keep the builds here (default: a temporary folder)")
    ap.add_argument("--json", default=None, help="write all results as JSON")
    ap.add_argument("--no-layers-table", action="store_true", help="skip the per-layer breakdowns")
    ap.add_argument("--wide-weights", choices=["auto", "true", "false"], default="auto",
                    help="execution.wide_weights: int16 fully connected and conv weights on the DSP cores (M4/M7: fewer "
                    "cycles, twice those weights' flash); auto (default, as a firmware build for the 2 MiB M4 "
                    "reference board): where the weights fit half its flash")
    args = ap.parse_args(argv)

    if args.kernel_opt is None and args.opt != "-O2":
        args.kernel_opt = "-O2"  # what both integrations do by default
    elif args.kernel_opt == "pragma":
        args.kernel_opt = None
    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    for c in cores:
        if c not in H.MACHINES:
            ap.error(f"unknown core {c!r} (choose from {', '.join(H.MACHINES)})")
    why = H.missing_tools_for(cores)
    if why:
        print(f"benchmarks: cannot run: {why}", file=sys.stderr)
        return 2
    jobs = []  # (label, onnx path, calibration floats or None, float test inputs)
    tmp_ctx = tempfile.TemporaryDirectory(prefix="qnnc-bench-") if args.build_dir is None else None
    root = Path(args.build_dir or tmp_ctx.name)
    root.mkdir(parents=True, exist_ok=True)
    if not args.layers_only:
        d = shared_models_dir()
        if d is None:
            print("benchmarks: shared models not found (set QNNC_SHARED_MODELS); models skipped", file=sys.stderr)
        else:
            found = sorted(p.parent.name for p in d.glob("*/model.onnx"))
            names = args.models.split(",") if args.models else found
            unknown = [n for n in names if n not in found]
            if unknown:
                ap.error(f"unknown model {', '.join(map(repr, unknown))} in {d} (choose from {', '.join(found)})")
            for n in names:
                onnx_path = d / n / "model.onnx"
                cal, xs = MB.model_inputs(onnx_path, args.inputs)
                jobs.append((n, onnx_path, cal, xs))
    if not args.models_only:
        suite = args.layers.split(",") if args.layers else list(L.LAYERS)
        unknown = [n for n in suite if n not in L.LAYERS]
        if unknown:
            ap.error(f"unknown suite layer {', '.join(map(repr, unknown))} (choose from {', '.join(L.LAYERS)})")
        for n in suite:
            path, cal = L.build_onnx(n, root / "suite" / n)
            jobs.append((n, path, cal, L.test_inputs(n, args.inputs)))

    results: List[MB.ModelResult] = []
    by_label: Dict[str, Dict[str, MB.ModelResult]] = {}
    t0 = time.time()
    for label, onnx_path, cal, xs in jobs:
        work = root / label
        res = MB.generate(onnx_path, work, cal,
                          extra_config=f"execution:\n  wide_weights: {args.wide_weights}\n")
        q = MB.quantized_inputs(res, xs)
        for c in cores:
            r = MB.bench_generated(res, work / "gen", q, H.MACHINES[c], work / c, label, opt=args.opt,
                                   kernel_opt=args.kernel_opt, hist=(c == "m4"))
            results.append(r)
            by_label.setdefault(label, {})[c] = r
            n = headline(r)
            print(f"[{time.time() - t0:6.1f}s] {label:32s} {c:4s} {n:>12,} instr "
                  f"{n / r.macs:7.3f}/MAC  bit-exact {r.n_inputs - r.mismatches}/{r.n_inputs}", flush=True)

    print()
    print(table(summary_rows(results), SUMMARY_HEADER))
    if not args.no_layers_table:
        for label, per_core in by_label.items():
            if len(per_core[next(iter(per_core))].layers) > 1:
                print()
                print(layer_breakdown(label, per_core))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    if tmp_ctx is not None:
        tmp_ctx.cleanup()
    bad = [r for r in results if not r.bit_exact]
    if bad:
        print(f"\nNOT BIT-EXACT: {', '.join(f'{r.model}/{r.machine}' for r in bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
