"""Measure, fit and check the cost model of ``qnnc.plan.cost_model`` (expected instructions per layer).

    python -m benchmarks.cost_model fit      # measure every fitting build, print the COEFFICIENTS table
    python -m benchmarks.cost_model check    # KWS and IC: int8, int4, int16, half-even; M4 and M55

``fit`` builds the fitting set (KWS, IC and AD from the shared models as int8, int4 weights, int16
activations, half-to-even rounding, mixed int8/int16, and int8 and half-to-even with and without
int16 weights; the layer suite and MobileNetV1-0.25 of ``layers.py`` as int8 with and without
int16 weights, int4 and int16; int8 itself takes int16 weights where they fit,
``execution.wide_weights: auto`` on the 2 MiB board the benchmarks build for) and runs each on m3,
m4, m55 and rv32 under QEMU with the harness' per-layer instruction counts
(``modelbench.bench_generated``), then fits one coefficient row per (core class, kernel group) and
prints the table to paste into
``plugin/qnnc/plan/cost_model.py``. ``--cache DIR`` keeps each measurement as JSON so a second run
(or ``check`` after ``fit``) reuses them; ``--cores``/``--only`` narrow the set.
``check`` measures (or reads from the cache) and prints, per layer and per model, the table's
prediction against the measurement and the error; it exits 1 if a model total is off by more than
``--tolerance`` (15 %).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001
# this checkout's qnnc (its cost table is the one being fitted or checked)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugin"))

from benchmarks import harness as H  # noqa: E402
from benchmarks import layers as L  # noqa: E402
from benchmarks import modelbench as MB  # noqa: E402
from benchmarks.run import shared_models_dir, table  # noqa: E402

FIT_CORES = ["m3", "m4", "m55", "rv32"]
CHECK_CORES = ["m4", "m55"]
SHARED = ["mlperf_tiny_kws_dscnn", "mlperf_tiny_ic_resnet8", "mlperf_tiny_ad_fc_autoencoder"]
SUITE = list(L.LAYERS)
# variant -> extra YAML config
VARIANTS: Dict[str, str] = {
    "int8": "",
    "int4": "quantization:\n  weight_bits: 4\n",
    "int16": "quantization:\n  activation_bits: 16\n",
    "half_even": "quantization:\n  rounding: half_even\n",
    "mixed": "quantization:\n  overrides:\n    - match: Conv\n      activation_bits: 16\n",
    "wide": "execution:\n  wide_weights: true\n",  # int16 FC/conv weights: the DSP cores' _wide kernels
    # int8 weights everywhere (int8 itself is auto on the 2 MiB reference board: KWS and IC take
    # int16 weights), also with half-to-even rounding (QDQ models): the groups without ":wide"
    "narrow": "execution:\n  wide_weights: false\n",
    "half_even_narrow": "quantization:\n  rounding: half_even\nexecution:\n  wide_weights: false\n",
}
SUITE_VARIANTS = ["int8", "narrow", "int4", "int16"]
CHECK_SET = [(m, v) for m in SHARED[:2]
             for v in ("int8", "narrow", "int4", "int16", "half_even", "half_even_narrow")]


def fit_set() -> List[Tuple[str, str]]:
    """(source, variant) of every fitting build."""
    jobs = [(m, v) for m in SHARED for v in VARIANTS if not (m == SHARED[2] and v == "mixed")]
    return jobs + [(s, v) for s in SUITE for v in SUITE_VARIANTS]


def _source(name: str, tmp: Path):
    """(onnx path, calibration floats or None, float test input) of a shared model or suite layer."""
    if name in L.LAYERS:
        path, cal = L.build_onnx(name, tmp / "suite" / name)
        return path, cal, L.test_inputs(name, 1)
    d = shared_models_dir()
    if d is None:
        raise H.HarnessError("shared models not found (set QNNC_SHARED_MODELS)")
    path = d / name / "model.onnx"
    cal, xs = MB.model_inputs(path, 1)
    return path, cal, xs


def measure(name: str, variant: str, cores: List[str], tmp: Path, cache: Optional[Path]) -> Dict[str, dict]:
    """{core: measurement} of one build: per layer the cost features and instructions, and the run total."""
    from qnnc.plan import cost_model as C

    out: Dict[str, dict] = {}
    todo = []
    for core in cores:
        f = cache / f"{name}__{variant}__{core}.json" if cache else None
        if f is not None and f.is_file():
            out[core] = json.loads(f.read_text())
        else:
            todo.append(core)
    if not todo:
        return out
    path, cal, xs = _source(name, tmp)
    work = tmp / name / variant
    res = MB.generate(path, work, cal, extra_config=VARIANTS[variant])
    model = res.compiled.model
    q = MB.quantized_inputs(res, xs)
    for core in todo:
        r = MB.bench_generated(res, work / "gen", q, H.MACHINES[core], work / core, name, hist=False)
        if not r.bit_exact:
            raise H.HarnessError(f"{name}/{variant} on {core} is not bit-exact")
        layers = []
        cols = C.im2col_layers(model, res.plan)
        for lr in r.layers:
            s = C.layer_shape(model, model.ops[lr.index], lr.index in cols)
            layers.append({"index": lr.index, "name": lr.name, "group": s.group, "x": list(s.vector()),
                           "measured": lr.instructions})
        m = {"name": name, "variant": variant, "core": core, "total": r.instructions, "layers": layers,
             "io": [sum(t.size for t in model.input_tensors), sum(t.size for t in model.output_tensors)],
             "predicted_layers": C.layer_instructions(model, core if core != "rv32" else "riscv", plan=res.plan),
             "macs": r.macs}
        out[core] = m
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            (cache / f"{name}__{variant}__{core}.json").write_text(json.dumps(m))
    return out


def _class_of(core: str) -> str:
    from qnnc.plan import cost_model as C
    return C.CORES[C.core_name(core)][0]


def fit(measurements: List[dict]) -> Dict[Tuple[str, str], Tuple[float, ...]]:
    """The COEFFICIENTS table from measurements (every class with data)."""
    from qnnc.plan import cost_model as C
    import numpy as np
    from scipy.optimize import nnls

    table_: Dict[Tuple[str, str], Tuple[float, ...]] = {}
    for cls in sorted({_class_of(m["core"]) for m in measurements}):
        ms = [m for m in measurements if _class_of(m["core"]) == cls]
        samples = [(l["group"], l["x"], l["measured"]) for m in ms for l in m["layers"]]
        for g, row in C.fit_rows(samples).items():
            table_[(cls, g)] = row
        # the run function around the layers: per input element, per output element, per call
        A = np.array([[m["io"][0], m["io"][1], 1.0] for m in ms])
        y = np.array([max(m["total"] - sum(l["measured"] for l in m["layers"]), 0) for m in ms], dtype=float)
        coef, _ = nnls(A / np.maximum(A.max(axis=0), 1.0), y)
        coef = coef / np.maximum(A.max(axis=0), 1.0)
        table_[(cls, "run")] = (float(coef[0]), float(coef[1]), 0.0, 0.0, float(coef[2]))
    return table_


def format_table(t: Dict[Tuple[str, str], Tuple[float, ...]]) -> str:
    """The table as the Python literal of ``cost_model.COEFFICIENTS``."""
    def num(v: float) -> str:
        return "0.0" if v == 0 else f"{v:.4g}"
    lines = ["COEFFICIENTS: Dict[Tuple[str, str], Tuple[float, float, float, float, float]] = {"]
    for (cls, g), row in sorted(t.items()):
        lines.append(f"    ({cls!r}, {g!r}): ({', '.join(num(v) for v in row)}),")
    return "\n".join(lines + ["}"])


PIN_SOURCES = ["mlperf_tiny_kws_dscnn", "mlperf_tiny_ic_resnet8", "conv3x3", "conv1x1", "fc"]


def pinned(measurements: List[dict]) -> str:
    """The ``PINNED`` list of tests/test_cost_model.py: the costliest layer of each int8 build
    of ``PIN_SOURCES`` on each core, as measured."""
    lines = ["PINNED = ["]
    for m in measurements:
        if m["variant"] == "int8" and m["name"] in PIN_SOURCES and m["layers"]:
            l = max(m["layers"], key=lambda l: l["measured"])
            core = "riscv" if m["core"] == "rv32" else m["core"]
            lines.append(f"    ({core!r}, {l['group']!r}, {', '.join(map(str, l['x'][:-1]))}, {l['measured']}),"
                         f"  # {m['name']} #{l['index']}")
    return "\n".join(lines + ["]"])


def predicted(m: dict, table_=None) -> Tuple[List[int], int]:
    """Per-layer and total predictions of a measurement's build on its core."""
    from qnnc.plan import cost_model as C
    core = "riscv" if m["core"] == "rv32" else m["core"]
    cls = C.CORES[C.core_name(core)][0]
    t = C.COEFFICIENTS if table_ is None else table_
    per = [C.predict(C.LayerShape(l["group"], *l["x"][:-1]), core, t) for l in m["layers"]]
    run = t.get((cls, "run"), (1.0, 1.0, 0.0, 0.0, 50.0))
    overhead = run[0] * m["io"][0] + run[1] * m["io"][1] + run[-1]
    return per, int(round(sum(per) + overhead))


def _pct(p: float, y: float) -> str:
    return f"{100.0 * (p - y) / y:+.1f}%" if y else "-"


def report(measurements: List[dict], table_=None, per_layer: bool = True) -> Tuple[str, float]:
    """Predicted vs measured tables; returns (text, worst model-total error in %)."""
    rows, worst, texts = [], 0.0, []
    for m in measurements:
        per, total = predicted(m, table_)
        err = 100.0 * (total - m["total"]) / m["total"]
        worst = max(worst, abs(err))
        rows.append([m["name"], m["variant"], m["core"], f"{m['total']:,}", f"{total:,}", f"{err:+.1f}%"])
        if per_layer:
            lrows = [[str(l["index"]), l["group"], f"{l['x'][0]:,}", f"{l['measured']:,}", f"{p:,}",
                      _pct(p, l["measured"])] for l, p in zip(m["layers"], per)]
            texts.append(f"{m['name']} {m['variant']} {m['core']}\n"
                         + table(lrows, ["#", "kernel group", "MACs", "measured", "predicted", "error"]))
    text = "\n\n".join(texts + [table(rows, ["model", "precision", "core", "measured", "predicted", "error"])])
    return text, worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["fit", "check"])
    ap.add_argument("--cores", default=None, help="comma list (fit: m3,m4,m55,rv32; check: m4,m55)")
    ap.add_argument("--only", default=None, help="comma list of model/suite names to restrict the set to")
    ap.add_argument("--cache", default=None, help="folder of per-build measurements (JSON) to reuse and extend")
    ap.add_argument("--tolerance", type=float, default=15.0, help="check: largest model-total error in %%")
    ap.add_argument("--no-layers", action="store_true", help="check: model totals only")
    args = ap.parse_args(argv)
    cores = args.cores.split(",") if args.cores else (FIT_CORES if args.command == "fit" else CHECK_CORES)
    why = H.missing_tools_for(cores)
    if why:
        print(f"benchmarks: cannot run: {why}", file=sys.stderr)
        return 2
    jobs = fit_set() if args.command == "fit" else CHECK_SET
    if args.only:
        keep = set(args.only.split(","))
        jobs = [j for j in jobs if j[0] in keep]
    cache = Path(args.cache) if args.cache else None
    ms: List[dict] = []
    skipped: List[str] = []
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="qnnc-cost-") as tmp:
        for name, variant in jobs:
            try:
                got = measure(name, variant, cores, Path(tmp), cache)
            except H.HarnessError as e:  # e.g. a kernel being edited: fit from the rest, say so
                print(f"benchmarks: {name} {variant} skipped: {str(e)[:300]}", file=sys.stderr)
                skipped.append(f"{name}/{variant}")
                continue
            for core in cores:
                ms.append(got[core])
            print(f"[{time.time() - t0:6.1f}s] measured {name} {variant} on {','.join(cores)}", file=sys.stderr,
                  flush=True)
    if args.command == "fit":
        t = fit(ms)
        text, worst = report(ms, t, per_layer=False)
        print(text, file=sys.stderr)
        print(f"# worst model-total error of the fit: {worst:.1f}%", file=sys.stderr)
        print(format_table(t))
        print("\n# tests/test_cost_model.py")
        print(pinned(ms))
        return 1 if skipped else 0
    text, worst = report(ms, per_layer=not args.no_layers)
    print(text)
    print(f"\nworst model-total error: {worst:.1f}% (tolerance {args.tolerance}%)"
          + (f"; NOT MEASURED: {', '.join(skipped)}" if skipped else ""))
    return 0 if worst <= args.tolerance and not skipped else 1


if __name__ == "__main__":
    sys.exit(main())
