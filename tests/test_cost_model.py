"""The cost model (plan/cost_model.py): expected instructions per layer on a target core, in the
build report and in the automatic precision search's notes."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from onnx_factory import save, tiny_cnn, tiny_mlp
from qnnc.config import Config, load_config
from qnnc.plan import cost_model as C

# Per-layer instruction counts measured under QEMU by `python -m benchmarks.cost_model fit` (the run
# that produced COEFFICIENTS): (core, kernel group, MACs, output elements, input elements, MACs per
# output channel, measured instructions).
# After re-measuring, paste the PINNED block that command prints here.
PINNED = [
    ('m3', 'qnnc_conv_s8:1x1:wide', 512000, 8000, 8000, 8000, 1891057),  # mlperf_tiny_kws_dscnn #2
    ('m4', 'qnnc_conv_s8:1x1:wide', 512000, 8000, 8000, 8000, 455572),  # mlperf_tiny_kws_dscnn #2
    ('m55', 'qnnc_conv_s8:1x1:wide', 512000, 8000, 8000, 8000, 123950),  # mlperf_tiny_kws_dscnn #2
    ('riscv', 'qnnc_conv_s8:1x1:wide', 512000, 8000, 8000, 8000, 2336198),  # mlperf_tiny_kws_dscnn #2
    ('m3', 'qnnc_conv_s8:kxk:wide', 2359296, 16384, 16384, 147456, 7593291),  # mlperf_tiny_ic_resnet8 #2
    ('m4', 'qnnc_conv_s8:kxk:wide', 2359296, 16384, 16384, 147456, 2194674),  # mlperf_tiny_ic_resnet8 #2
    ('m55', 'qnnc_conv_s8:kxk:wide', 2359296, 16384, 16384, 147456, 528515),  # mlperf_tiny_ic_resnet8 #2
    ('riscv', 'qnnc_conv_s8:kxk:wide', 2359296, 16384, 16384, 147456, 9390369),  # mlperf_tiny_ic_resnet8 #2
    ('m3', 'qnnc_conv_s8:kxk:wide', 4718592, 32768, 16384, 147456, 15186451),  # conv3x3 #0
    ('m4', 'qnnc_conv_s8:kxk:wide', 4718592, 32768, 16384, 147456, 4006085),  # conv3x3 #0
    ('m55', 'qnnc_conv_s8:kxk:wide', 4718592, 32768, 16384, 147456, 916024),  # conv3x3 #0
    ('riscv', 'qnnc_conv_s8:kxk:wide', 4718592, 32768, 16384, 147456, 18780586),  # conv3x3 #0
    ('m3', 'qnnc_fully_connected_s8:wide', 16384, 64, 256, 256, 52952),  # fc #0
    ('m4', 'qnnc_fully_connected_s8:wide', 16384, 64, 256, 256, 14915),  # fc #0
    ('m55', 'qnnc_fully_connected_s8:wide', 16384, 64, 256, 256, 3478),  # fc #0
    ('riscv', 'qnnc_fully_connected_s8:wide', 16384, 64, 256, 256, 68424),  # fc #0
    ('m3', 'qnnc_conv_s8:1x1:wide', 1048576, 16384, 16384, 16384, 3863958),  # conv1x1 #0
    ('m4', 'qnnc_conv_s8:1x1:wide', 1048576, 16384, 16384, 16384, 948298),  # conv1x1 #0
    ('m55', 'qnnc_conv_s8:1x1:wide', 1048576, 16384, 16384, 16384, 260778),  # conv1x1 #0
    ('riscv', 'qnnc_conv_s8:1x1:wide', 1048576, 16384, 16384, 16384, 4780324),  # conv1x1 #0
]


def _build(tmp_path, model, cfg: Config, name="m"):
    from qnnc.build import generate
    return generate(str(save(model, tmp_path / f"{name}.onnx")), cfg, name, runtime=False, progress=False)


def test_report_has_expected_instructions_per_layer_total_and_core(tmp_path):
    res = _build(tmp_path, tiny_cnn(), Config())
    r = res.report
    code = [l for l in r["layers"] if l["kernel"]]
    assert code and all(isinstance(l["instructions"], int) and l["instructions"] > 0 for l in code)
    t = r["target"]
    assert t["core"] == "m4" and t["assumed"] and "m4 is assumed" in t["description"]
    assert t["instructions"] >= sum(l["instructions"] for l in code)
    md = res.files["m_report.md"]
    assert "expected instr. (m4)" in md and "m4 is assumed" in md
    assert re.search(rf"\*\*total\*\* .*\| \*\*{t['instructions']:,}\*\* \|", md)
    page = res.files["m_report.html"]
    assert "expected instr. (m4)" in page and f"{t['instructions']:,}" in page and "m4 is assumed" in page
    assert json.loads(res.files["m_report.json"])["target"]["instructions"] == t["instructions"]
    from qnnc.report import layer_table
    table = layer_table(r)
    assert "instr m4" in table and str(t["instructions"]) in table and "m4 is assumed" in table.replace("\n", " ")
    # a named core: its own figures, no assumption stated
    m55 = _build(tmp_path, tiny_cnn(), Config(target="m55"), "n").report["target"]
    assert m55["core"] == "m55" and not m55["assumed"] and "assumed" not in m55["description"]
    assert m55["instructions"] != t["instructions"]


def test_target_from_config_and_cli(tmp_path):
    from qnnc.cli import TARGET_CORES, make_parser
    assert set(TARGET_CORES) == set(C.CORES)
    (tmp_path / "c.yaml").write_text("target: m33\n")
    assert load_config(str(tmp_path / "c.yaml")).target == "m33"
    (tmp_path / "c.yaml").write_text("target: m99\n")
    with pytest.raises(Exception) as e:
        load_config(str(tmp_path / "c.yaml"))
    assert "c.yaml:1" in str(e.value) and "target" in str(e.value)
    assert make_parser().parse_args(["build", "m.onnx", "-o", "x", "--target", "m55"]).target == "m55"
    assert C.core_name("Cortex-M7") == "m7" and C.core_name("rv32") == "riscv" and C.core_name(None) == "m4"


def test_predictions_positive_and_monotone_in_macs():
    """Every fitted row, on every core: more MACs (same kind of layer, outputs growing with them)
    never costs fewer instructions, and every kernel call costs something."""
    groups = sorted({g for _, g in C.COEFFICIENTS} - {"run"})
    assert any(g.startswith("qnnc_conv_s8") for g in groups)
    for core in C.CORES:
        for g in groups:
            costs = []
            for scale in (1, 2, 4, 16, 64):
                macs = 4608 * scale if "conv" in g or "fully" in g else 0
                costs.append(C.predict(C.LayerShape(g, macs, 512 * scale, 512 * scale, macs // 32), core))
            assert costs[0] > 0 and costs == sorted(costs), (core, g, costs)
    # the per-MAC figure of a big int8 conv orders the cores as the kernels do
    conv = C.LayerShape("qnnc_conv_s8:kxk", 4_718_592, 32768, 16384, 4_718_592 // 32)
    assert C.predict(conv, "m55") < C.predict(conv, "m4") < C.predict(conv, "m3")


def test_cost_model_matches_pinned_measurements():
    """The table reproduces per-layer counts measured when it was fitted (a changed coefficient
    table, or a new fit whose figures moved, shows here)."""
    assert len(PINNED) >= 6
    for core, group, macs, outs, ins, columns, measured in PINNED:
        got = C.predict(C.LayerShape(group, macs, outs, ins, columns), core)
        assert abs(got - measured) <= 0.15 * measured, (core, group, got, measured)


def test_auto_precision_notes_state_plan_cost_against_int8(tmp_path):
    from qnnc.pipeline import compile_model
    model = save(tiny_mlp(seed=3, in_features=12, hidden=16, classes=6), tmp_path / "mlp.onnx")
    xs = np.random.default_rng(5).standard_normal((40, 12)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs, y=np.arange(40) % 6)
    (tmp_path / "q.yaml").write_text(f"name: m\ntarget: m55\ncalibration:\n  data: {tmp_path / 'cal.npz'}\n"
                                     "quantization:\n  auto_precision:\n    tolerance: 0.9\n")
    res = compile_model(str(model), load_config(str(tmp_path / "q.yaml")), "m", progress=False)
    line = next(n for n in res.notes if "instructions per inference" in n)
    m = re.search(r"expected ([\d,]+) instructions per inference \(all int8: ([\d,]+), [\d.]+x\) on Cortex-M55",
                  line)
    assert m, line
    mixed, int8 = (int(g.replace(",", "")) for g in m.groups())
    assert mixed == C.model_instructions(res.model, "m55") and int8 > 0
    assert any(re.match(r"\s+w4/a8 .*: [\d,]+ instructions \(int8: [\d,]+\)", n) for n in res.notes)
