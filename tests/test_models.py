"""Acceptance on the real shared models: build, strict compiles, bit-exactness, accuracy, RAM, determinism."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.reference.interpreter import quantize_input, run_int8
from shared_models import MODELS, random_inputs, require

# Accuracy floors on the shipped test data (float / official TFLite int8 in the comments).
ACCURACY_FLOOR = {
    "mlperf_tiny_kws_dscnn": 0.900,  # float 0.911, TFLite int8 0.903
    "onnx_zoo_mnist8": 0.985,        # float 0.989
    "digits_cnn_sklearn": 0.985,     # float 0.991
}
# How many inputs the bit-exactness test runs (None = the whole test set).
BIT_EXACT_SAMPLES = {"mlperf_tiny_kws_dscnn": None, "onnx_zoo_mnist8": 1000, "digits_cnn_sklearn": None,
                     "mlperf_tiny_ic_resnet8": 100, "mlperf_tiny_ad_fc_autoencoder": 100}

_BUILDS = {}


def _config(model: str, folder: Path, tmp: Path) -> Path:
    cal = folder / "calibration.npz"
    if not cal.is_file():
        shape = _input_shape(folder / "model.onnx")
        cal = tmp / "calibration.npz"
        np.savez(cal, x=random_inputs(model, shape, 64, seed=1))
    cfg = tmp / "model.yaml"
    cfg.write_text(f"name: m\ncalibration:\n  data: {cal}\n  method: minmax\n")
    return cfg


def _input_shape(path: Path):
    import onnx
    m = onnx.load(str(path))
    return [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]


def _test_inputs(model: str, folder: Path):
    test = folder / "test.npz"
    if test.is_file():
        d = np.load(test)
        return d["x"], d["y"]
    return random_inputs(model, _input_shape(folder / "model.onnx"), 100, seed=7), None


def get_build(model: str, tmp_path_factory):
    """Build each shared model once per test session: (result, out_dir, cfg)."""
    if model not in _BUILDS:
        folder = require(model)
        tmp = tmp_path_factory.mktemp(model)
        cfg = load_config(str(_config(model, folder, tmp)))
        out = tmp / "gen"
        result = build(str(folder / "model.onnx"), cfg, str(out), "m", progress=False)
        print(result.summary)
        _BUILDS[model] = (result, out, cfg, tmp)
    return _BUILDS[model]


@pytest.mark.parametrize("model", MODELS)
def test_compiles_strict_host(model, tmp_path_factory):
    result, out, _, tmp = get_build(model, tmp_path_factory)
    sources = sorted(str(p) for p in out.glob("*.c"))
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c", "-I", str(out)]
    for src in sources:
        r = subprocess.run(cmd + [src, "-o", str(tmp / (Path(src).stem + ".o"))], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("model", MODELS)
def test_compiles_cortex_m4(model, tmp_path_factory):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi)")
    result, out, _, tmp = get_build(model, tmp_path_factory)
    cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror",
           "-c", "-I", str(out)]
    for src in sorted(out.glob("*.c")):
        r = subprocess.run(cmd + [str(src), "-o", str(tmp / (src.stem + ".arm.o"))], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("model", MODELS)
def test_bit_exact_with_reference_under_sanitizers(model, tmp_path_factory):
    result, out, cfg, tmp = get_build(model, tmp_path_factory)
    qm = result.compiled.model
    xs, _ = _test_inputs(model, require(model))
    n = BIT_EXACT_SAMPLES[model]
    xs = xs[:n] if n else xs
    exe = compile_driver(str(out), "m", str(tmp / "driver_asan"), sanitize=True)
    q_in = quantize_input(qm, xs)
    c_out = run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    differing = int(np.sum(np.any(c_out != ref, axis=1)))
    print(f"{model}: {len(xs)} inputs, {differing} differ between C (ASan+UBSan) and the reference")
    assert differing == 0
    # The two-context mode checks re-entrancy: interleaved contexts give the same answers.
    c_ctx = run_driver(exe, q_in[:20].reshape(min(20, len(xs)), -1), qm.output_tensor.size, mode="ctx")
    assert np.array_equal(c_ctx, ref[:20])


@pytest.mark.parametrize("model", MODELS)
def test_float_entry_point_matches_reference(model, tmp_path_factory):
    """<name>_run_f32 quantizes exactly like the reference (same float32 arithmetic)."""
    result, out, cfg, tmp = get_build(model, tmp_path_factory)
    qm = result.compiled.model
    xs, _ = _test_inputs(model, require(model))
    xs = xs[:20]
    exe = tmp / "driver_f32"
    if not exe.exists():
        compile_driver(str(out), "m", str(exe))
    f_out = run_driver(str(exe), xs.reshape(len(xs), -1), qm.output_tensor.size, mode="f32")
    ref = run_int8(qm, quantize_input(qm, xs)).reshape(len(xs), -1)
    expect = ((ref.astype(np.float32) - np.float32(qm.output_tensor.zero_point))
              * np.float32(qm.output_tensor.scale))
    assert np.array_equal(f_out, expect)


@pytest.mark.parametrize("model", sorted(ACCURACY_FLOOR))
def test_accuracy_on_real_test_data(model, tmp_path_factory):
    result, out, cfg, tmp = get_build(model, tmp_path_factory)
    qm = result.compiled.model
    xs, ys = _test_inputs(model, require(model))
    pred = run_int8(qm, quantize_input(qm, xs)).reshape(len(xs), -1).astype(np.int32).argmax(axis=1)
    acc = float(np.mean(pred == ys))
    print(f"{model}: int8 accuracy {acc:.4f} on {len(xs)} test samples (floor {ACCURACY_FLOOR[model]})")
    assert acc >= ACCURACY_FLOOR[model]


@pytest.mark.parametrize("model", MODELS)
def test_arena_within_ten_percent_of_lower_bound(model, tmp_path_factory):
    result, *_ = get_build(model, tmp_path_factory)
    r = result.report
    print(f"{model}: arena {r['arena_bytes']} B, lower bound {r['lower_bound_bytes']} B")
    assert r["arena_bytes"] <= 1.10 * r["lower_bound_bytes"]
    assert r["lower_bound_bytes"] >= max(l["output_bytes"] for l in r["layers"])


@pytest.mark.parametrize("model", ["digits_cnn_sklearn", "mlperf_tiny_kws_dscnn"])
def test_byte_identical_output_on_rebuild(model, tmp_path_factory):
    result, out, cfg, tmp = get_build(model, tmp_path_factory)
    again = tmp / "again"
    build(str(require(model) / "model.onnx"), cfg, str(again), "m", progress=False)
    a = {p.name: p.read_bytes() for p in out.iterdir()}
    b = {p.name: p.read_bytes() for p in again.iterdir()}
    assert a == b


def test_rebuild_keeps_unchanged_files_untouched(tmp_path_factory):
    result, out, cfg, tmp = get_build("digits_cnn_sklearn", tmp_path_factory)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    build(str(require("digits_cnn_sklearn") / "model.onnx"), cfg, str(out), "m", progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert before == after


@pytest.mark.slow
def test_mnist_bit_exact_full_test_set(tmp_path_factory):
    """All 9,700 MNIST test images (slow tier)."""
    result, out, cfg, tmp = get_build("onnx_zoo_mnist8", tmp_path_factory)
    qm = result.compiled.model
    xs, ys = _test_inputs("onnx_zoo_mnist8", require("onnx_zoo_mnist8"))
    exe = compile_driver(str(out), "m", str(tmp / "driver_full"), sanitize=True)
    q_in = quantize_input(qm, xs)
    c_out = run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    assert np.array_equal(c_out, ref)
    acc = float(np.mean(c_out.astype(np.int32).argmax(axis=1) == ys))
    print(f"mnist: {len(xs)} images bit-exact, int8 accuracy {acc:.4f}")
    assert acc >= ACCURACY_FLOOR["onnx_zoo_mnist8"]


def test_resnet8_with_dead_channels_builds_bit_exact(tmp_path):
    """Trained models (MLPerf's official VWW MobileNetV1 and IC ResNet weights) have dead output
    channels: weights ~1e-30 and a nonzero bias. ResNet-8 with one such channel in every layer builds
    (no 'int32 accumulator could overflow'), bit-exact, its predictions those of the intact layers'."""
    import onnx
    from onnx import numpy_helper

    from qnnc.frontend.float_runner import float_outputs
    from qnnc.reference.interpreter import dequantize_output

    model = "mlperf_tiny_ic_resnet8"
    folder = require(model)
    m = onnx.load(str(folder / "model.onnx"))
    inits = {i.name: i for i in m.graph.initializer}
    layers = [n for n in m.graph.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 2]
    for n in layers:
        w, b = (numpy_helper.to_array(inits[n.input[i]]).copy() for i in (1, 2))
        w[1], b[1] = 1e-30, 0.7
        inits[n.input[1]].CopyFrom(numpy_helper.from_array(w, n.input[1]))
        inits[n.input[2]].CopyFrom(numpy_helper.from_array(b, n.input[2]))
    onnx.save(m, str(tmp_path / "dead.onnx"))
    cfg = load_config(str(_config(model, folder, tmp_path)))
    result = build(str(tmp_path / "dead.onnx"), cfg, str(tmp_path / "gen"), "m", progress=False)
    qm = result.compiled.model
    weighted = [op for op in qm.ops if op.kind in ("conv", "depthwise_conv", "fully_connected")]
    assert sum(not np.any(op.consts["filter"][1]) for op in weighted) == len(layers)  # the dead ones: weights 0
    xs = random_inputs(model, _input_shape(folder / "model.onnx"), 30, seed=7)
    q_in = quantize_input(qm, xs)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    exe = compile_driver(str(tmp_path / "gen"), "m", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size), ref)
    f = float_outputs(str(tmp_path / "dead.onnx"), xs).reshape(len(xs), -1)
    deq = dequantize_output(qm, ref).astype(np.float64)
    assert np.mean(deq.argmax(axis=1) == f.argmax(axis=1)) >= 0.9
    assert np.abs(deq - f).mean() / qm.output_tensor.scale < 3.0
