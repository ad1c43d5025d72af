"""Data-free calibration from BatchNormalization statistics (``calibration: {method: batchnorm}``).

The folding pass records each BN's (beta, |gamma|); the ranges follow from them as
quantize/calibrate_batchnorm.py specifies; builds without data offer the method and firmware builds
accept it as an opt-in; the generated C is bit-exact with the reference; on a model whose BN
statistics are those of its data, the data-free build comes close to min-max on that data.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from onnx_factory import model as make_model, save, tensor, tiny_mlp, vi
from qnnc.build import check_calibration_given, generate, write_output
from qnnc.cli import main
from qnnc.config import Config, DataRef, load_config
from qnnc.errors import ConfigError
from qnnc.frontend.float_runner import FloatRunner, float_outputs
from qnnc.frontend.importer import import_onnx
from qnnc.passes import run_passes
from qnnc.pipeline import compile_model
from qnnc.quantize import calibrate_batchnorm as cbn
from qnnc.quantize.calibrate import random_calibration_inputs
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

BETA = np.array([0.5, -1.0, 0.2], np.float32)
GAMMA = np.array([1.0, -2.0, 0.5], np.float32)  # a negative gamma: the std is |gamma|


def conv_bn_relu(act: str = "Relu"):
    """Conv(1->3, 3x3) -> BatchNormalization -> Relu (or Clip 0..6) -> MaxPool -> Flatten -> Gemm, [1,1,6,6]."""
    rng = np.random.default_rng(3)
    act_node = (helper.make_node("Relu", ["n"], ["r"], name="relu") if act == "Relu" else
                helper.make_node("Clip", ["n", "lo", "hi"], ["r"], name="relu6"))
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "be", "mu", "var"], ["n"], name="bn", epsilon=1e-5),
             act_node,
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[3, 3], strides=[3, 3]),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    inits = [tensor("w", rng.standard_normal((3, 1, 3, 3)).astype(np.float32) * 0.5),
             tensor("b", np.zeros(3, np.float32)), tensor("g", GAMMA), tensor("be", BETA),
             tensor("mu", np.array([0.1, -0.2, 0.0], np.float32)), tensor("var", np.array([1.5, 0.8, 2.0], np.float32)),
             tensor("fw", rng.standard_normal((4, 12)).astype(np.float32) * 0.3), tensor("fb", np.zeros(4, np.float32)),
             tensor("lo", np.array(0.0, np.float32)), tensor("hi", np.array(6.0, np.float32))]
    return make_model(nodes, [vi("x", [1, 1, 6, 6])], [vi("y", [1, 4])], inits)


def _bn_config(tmp_path: Path) -> Config:
    (tmp_path / "bn.yaml").write_text("name: m\ncalibration:\n  method: batchnorm\n")
    return load_config(str(tmp_path / "bn.yaml"))


@pytest.mark.parametrize("act, clipped", [("Relu", (0.0, 11.0)), ("Clip", (0.0, 6.0))])
def test_ranges_come_from_the_bn_statistics(tmp_path, act, clipped):
    path = str(save(conv_bn_relu(act), tmp_path / "m.onnx"))
    g = import_onnx(path, {}, None)
    passed = run_passes(g)
    assert list(passed.bn_stats) == ["n"]  # recorded under the BN output, kept through every pass
    beta, gamma = passed.bn_stats["n"]
    np.testing.assert_allclose(beta, BETA)
    np.testing.assert_allclose(gamma, np.abs(GAMMA))
    xs = random_calibration_inputs(g.shape("x"))
    cal = cbn.collect_batchnorm(path, passed, xs, ["x"], {"n": g.shape("n")}, progress=False)
    # per channel beta -+ 6|gamma|: [-5.5, 6.5], [-13, 11], [-2.8, 3.2]; merged
    assert cal.ranges["n"] == pytest.approx((-13.0, 11.0))
    # the fused activation clips it; the max pool keeps its input's range; the logits get mean +- 12 std
    assert cal.ranges["r"] == pytest.approx(clipped)
    assert cal.ranges["p"] == pytest.approx(clipped)
    assert cal.ranges["x"] == pytest.approx((float(xs.min()), float(xs.max())))  # the synthetic input's
    lo, hi = cal.ranges["y"]
    assert lo < 0 < hi
    again = cbn.collect_batchnorm(path, passed, xs, ["x"], {"n": g.shape("n")}, progress=False)
    assert again.ranges == cal.ranges  # deterministic


def test_config_takes_batchnorm_only_without_data(tmp_path):
    assert _bn_config(tmp_path).method == "batchnorm" and _bn_config(tmp_path).calibration is None
    (tmp_path / "bad.yaml").write_text("calibration:\n  method: batchnorm\n  data: cal.npz\n")
    with pytest.raises(ConfigError, match="method batchnorm is data-free") as e:
        load_config(str(tmp_path / "bad.yaml"))
    assert "calibration.data" in str(e.value)


def test_firmware_refusal_offers_batchnorm_and_accepts_it(tmp_path):
    bn = str(save(conv_bn_relu(), tmp_path / "bn.onnx"))
    mlp = str(save(tiny_mlp(), tmp_path / "mlp.onnx"))
    with pytest.raises(ConfigError) as e:
        check_calibration_given(bn, Config())
    assert "'calibration: {method: batchnorm}'" in str(e.value) and "1 BatchNormalization layer" in str(e.value)
    with pytest.raises(ConfigError) as e:
        check_calibration_given(mlp, Config())
    assert "batchnorm" not in str(e.value)  # no statistics to offer
    check_calibration_given(bn, _bn_config(tmp_path))  # the explicit opt-in
    with pytest.raises(ConfigError, match="no BatchNormalization layer"):
        compile_model(mlp, _bn_config(tmp_path), "m", progress=False)


def test_cli_offers_batchnorm_and_reports_the_expected_quality(tmp_path, capsys):
    path = save(conv_bn_relu(), tmp_path / "bn.onnx")
    assert main(["build", str(path), "-o", str(tmp_path / "out"), "-q"]) == 0
    r = capsys.readouterr()
    assert "NO CALIBRATION DATA" in r.err and "'calibration: {method: batchnorm}'" in r.err
    _bn_config(tmp_path)
    assert main(["build", str(path), "-c", str(tmp_path / "bn.yaml"), "-o", str(tmp_path / "out2"), "-q",
                 "--require-calibration"]) == 0
    r = capsys.readouterr()
    assert "WARNING" not in r.err
    assert "expected quality: output SQNR" in r.err
    assert "calibrated on no data: ranges from BatchNormalization statistics (batchnorm, 1 BN layers, " \
           "expected output SQNR" in r.out
    report = json.loads((tmp_path / "out2" / "m_report.json").read_text())
    assert report["calibration"].startswith("no data: ranges from BatchNormalization statistics")


def test_batchnorm_build_is_bit_exact_c_vs_reference(tmp_path):
    from qnnc.emit.hostrun import compile_driver, run_driver
    path = str(save(conv_bn_relu(), tmp_path / "bn.onnx"))
    res = generate(path, _bn_config(tmp_path), "m", progress=False, require_calibration=True)
    m = res.compiled.model
    xs = np.random.default_rng(7).uniform(-3, 3, (24, 1, 6, 6)).astype(np.float32)
    q = quantize_input(m, xs).reshape(len(xs), -1)
    write_output(res.files, str(tmp_path / "gen"))
    exe = compile_driver(str(tmp_path / "gen"), "m", str(tmp_path / "m"), sanitize=True)
    out = run_driver(exe, q, m.output_tensor.size)
    np.testing.assert_array_equal(out, run_int8(m, q).reshape(len(xs), -1))


# -- a model whose BN statistics are those of its data ---------------------------------------------

def _images(n: int, seed: int) -> np.ndarray:
    """Smooth blobs in [0, 1] (spatially correlated, not N(0, 1)): [n, 1, 8, 8]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:8, 0:8]
    cy, cx, s = rng.uniform(1, 7, (3, n, 1, 1))
    img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.8 + s / 3) ** 2))
    return np.clip(img + 0.05 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)[:, None]


def _trained_like(tmp_path: Path, data: np.ndarray, residual: bool) -> str:
    """Conv+BN+Relu, Conv+BN(+ the first block's output: a residual Add)+Relu, GlobalAveragePool, Gemm;
    each BN's mean/var measured on ``data``."""
    rng = np.random.default_rng(11)
    w1 = rng.standard_normal((8, 1, 3, 3)).astype(np.float32) * 0.5
    w2 = rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.3
    stats = {k: (np.zeros(8, np.float32), np.ones(8, np.float32)) for k in ("1", "2")}
    gamma = {k: (rng.uniform(0.5, 1.5, 8) * rng.choice([-1, 1], 8)).astype(np.float32) for k in ("1", "2")}
    beta = {k: (0.3 * rng.standard_normal(8)).astype(np.float32) for k in ("1", "2")}
    fw = rng.standard_normal((4, 8)).astype(np.float32)
    path = tmp_path / "trained.onnx"
    for stage in ("1", "2", "done"):
        nodes, inits = [], [tensor("fw", fw), tensor("fb", np.zeros(4, np.float32))]
        src = "x"
        for k, w in (("1", w1), ("2", w2)):
            add = residual and k == "2"
            nodes += [helper.make_node("Conv", [src, f"w{k}"], [f"c{k}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                      helper.make_node("BatchNormalization", [f"c{k}", f"g{k}", f"b{k}", f"m{k}", f"v{k}"], [f"n{k}"])]
            if add:
                nodes.append(helper.make_node("Add", [f"n{k}", "r1"], ["sum"]))
            nodes.append(helper.make_node("Relu", ["sum" if add else f"n{k}"], [f"r{k}"]))
            inits += [tensor(f"w{k}", w), tensor(f"g{k}", gamma[k]), tensor(f"b{k}", beta[k]),
                      tensor(f"m{k}", stats[k][0]), tensor(f"v{k}", stats[k][1])]
            src = f"r{k}"
        nodes += [helper.make_node("GlobalAveragePool", [src], ["gap"]),
                  helper.make_node("Flatten", ["gap"], ["fl"]), helper.make_node("Gemm", ["fl", "fw", "fb"], ["y"],
                                                                               transB=1)]
        save(make_model(nodes, [vi("x", [1, 1, 8, 8])], [vi("y", [1, 4])], inits), path)
        if stage == "done":
            break
        runner = FloatRunner(str(path), all_tensors=True)
        c = np.concatenate([runner.run(data[i:i + 1])[f"c{stage}"] for i in range(len(data))])
        stats[stage] = (c.mean(axis=(0, 2, 3)).astype(np.float32), c.var(axis=(0, 2, 3)).astype(np.float32))
    return str(path)


def _sqnr(f, q) -> float:
    return float(10 * np.log10(np.sum(f.astype(np.float64) ** 2) / np.sum((q - f.astype(np.float64)) ** 2)))


@pytest.mark.parametrize("residual", [False, True])
def test_data_free_quality_is_close_to_minmax_on_data(tmp_path, residual):
    """BN statistics measured on the data the model sees: the data-free ranges lose at most 6 dB of
    output SQNR (measured: see below) against min-max ranges from 200 samples of that data, and
    beat ranges from random N(0, 1) inputs, which do not look like these images."""
    path = _trained_like(tmp_path, _images(200, 0), residual)
    np.savez(tmp_path / "cal.npz", x=_images(200, 1))
    test = _images(100, 2)
    f = float_outputs(path, test).reshape(len(test), -1)

    def sqnr(cfg: Config) -> float:
        m = compile_model(path, cfg, "m", progress=False).model
        return _sqnr(f, dequantize_output(m, run_int8(m, quantize_input(m, test))).reshape(len(test), -1))

    data = sqnr(Config(calibration=DataRef(str(tmp_path / "cal.npz")), method="minmax"))
    free = sqnr(_bn_config(tmp_path))
    rand = sqnr(Config(method="minmax", random_calibration=True))
    print(f"output SQNR dB: minmax on data {data:.1f}, batchnorm {free:.1f}, minmax on random {rand:.1f}")
    assert free >= data - 6.0
    assert free > rand
