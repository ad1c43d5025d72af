"""Calibration methods, cross-layer equalization, bias correction, per-layer SQNR, accuracy floors.

Synthetic models check each technique's defining property; the shared real models check the
accuracy floors of issue 6 (KWS >= 0.915, digits >= 0.990, MNIST >= 0.988).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qnnc.quantize.calibrate import collect, quant_mse, range_kl, range_mse, range_percentile
from qnnc.quantize.calibrate_auto import held_count, range_mse_samples
from qnnc.config import Config, DataRef
from qnnc.frontend.float_runner import FloatRunner
from qnnc.frontend.importer import import_onnx
from qnnc.passes import run_passes
from qnnc.passes.equalize import _find_pair, _in_range, _out_range, equalize, float_transforms
from qnnc.pipeline import compile_model
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8
from shared_models import require

REPO = Path(__file__).resolve().parent.parent
DIGITS = REPO / "samples" / "models" / "digits"


# -- helpers --------------------------------------------------------------------------------------

def _save(nodes, inputs, outputs, inits, path: Path) -> Path:
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=[numpy_helper.from_array(v, k)
                                                                    for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def _vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _cle_model(path: Path, seed: int = 0) -> Path:
    """Conv -> ReLU -> depthwise -> ReLU -> 1x1 conv -> ReLU -> MaxPool -> Flatten -> Gemm -> ReLU -> Gemm,
    with output-channel weight scales spread over three decades (what CLE is for)."""
    rng = np.random.default_rng(seed)

    def spread(w):
        return (w * 10.0 ** rng.uniform(-1.5, 1.5, size=(w.shape[0],) + (1,) * (w.ndim - 1))).astype(np.float32)

    inits = {
        "w1": spread(rng.standard_normal((8, 3, 3, 3)) * 0.3), "b1": rng.standard_normal(8).astype(np.float32) * 0.1,
        "wd": spread(rng.standard_normal((8, 1, 3, 3)) * 0.3), "bd": rng.standard_normal(8).astype(np.float32) * 0.1,
        "wp": spread(rng.standard_normal((6, 8, 1, 1)) * 0.3), "bp": rng.standard_normal(6).astype(np.float32) * 0.1,
        "wf": spread(rng.standard_normal((5, 24)) * 0.3), "bf": rng.standard_normal(5).astype(np.float32) * 0.1,
        "wo": (rng.standard_normal((3, 5)) * 0.3).astype(np.float32), "bo": np.zeros(3, np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "wd", "bd"], ["cd"], pads=[1, 1, 1, 1], strides=[2, 2], group=8),
        helper.make_node("Relu", ["cd"], ["rd"]),
        helper.make_node("Conv", ["rd", "wp", "bp"], ["cp"]),
        helper.make_node("Relu", ["cp"], ["rp"]),
        helper.make_node("MaxPool", ["rp"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["mp"], ["fl"]),
        helper.make_node("Gemm", ["fl", "wf", "bf"], ["g1"], transB=1),
        helper.make_node("Relu", ["g1"], ["rg"]),
        helper.make_node("Gemm", ["rg", "wo", "bo"], ["y"], transB=1),
    ]
    return _save(nodes, [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 3])], inits, path)


def _conv_nhwc(x, W, b, a):
    """Float NHWC convolution of one sample for the graph interpreter below."""
    t, l, bt, r = a["pads"]
    xp = np.pad(x[0], ((t, bt), (l, r), (0, 0)))
    cout, _, kh, kw = W.shape
    sh, sw = a["strides"]
    dh, dw = a["dilations"]
    oh = (xp.shape[0] - ((kh - 1) * dh + 1)) // sh + 1
    ow = (xp.shape[1] - ((kw - 1) * dw + 1)) // sw + 1
    out = np.zeros((oh, ow, cout)) + b
    depthwise = a["group"] != 1
    src = np.arange(cout) // max(1, cout // x.shape[3])
    for i in range(kh):
        for j in range(kw):
            win = xp[i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw, :]
            out += win[..., src] * W[:, 0, i, j] if depthwise else win @ W[:, :, i, j].T
    return out[None]


def _act(v, n):
    act = n.attrs.get("activation")
    return np.clip(v, act["min"], act["max"]) if act else v


def float_graph(g, x):
    """A float64 interpreter of a passed (NHWC) graph; returns every tensor's value."""
    vals = {g.inputs[0]: x.astype(np.float64)}
    for n in g.nodes:
        v = vals[n.inputs[0]]
        if n.op == "Reshape":
            out = v.reshape(g.shape(n.outputs[0]))
        elif n.op == "Transpose":
            out = v.transpose(n.attrs["perm"])
        elif n.op == "Conv":
            out = _act(_conv_nhwc(v, g.const(n.inputs[1]).astype(np.float64),
                                  g.const(n.inputs[2]).astype(np.float64), n.attrs), n)
        elif n.op == "FullyConnected":
            out = _act(v @ g.const(n.inputs[1]).astype(np.float64).T + g.const(n.inputs[2]), n)
        elif n.op == "MaxPool":
            kh, kw = n.attrs["kernel"]
            sh, sw = n.attrs["strides"]
            oh, ow = g.shape(n.outputs[0])[1:3]
            out = np.stack([np.stack([v[0, i * sh:i * sh + kh, j * sw:j * sw + kw].max(axis=(0, 1))
                                      for j in range(ow)]) for i in range(oh)])[None]
        else:
            raise NotImplementedError(n.op)
        vals[n.outputs[0]] = out
    return vals


# -- calibration methods ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def outlier_model(tmp_path_factory):
    """x -> (x * 1) = t -> Relu = y; data N(0, 1) with one value of 50 in the first sample."""
    tmp = tmp_path_factory.mktemp("outlier")
    path = _save([helper.make_node("Mul", ["x", "one"], ["t"]), helper.make_node("Relu", ["t"], ["y"])],
                 [_vi("x", [1, 64])], [_vi("y", [1, 64])], {"one": np.ones(1, np.float32)}, tmp / "m.onnx")
    xs = np.random.default_rng(0).standard_normal((400, 64)).astype(np.float32)
    xs[0, 5] = 50.0
    return str(path), xs


@pytest.mark.parametrize("method", ["minmax", "percentile", "kl"])
def test_methods_clip_an_outlier_except_minmax(outlier_model, method):
    path, xs = outlier_model
    r = collect(path, xs, method, progress=False).ranges
    lo_t, hi_t = r["t"]
    lo_y, hi_y = r["y"]
    assert lo_y == 0.0  # a ReLU output keeps 0 as its lower end
    if method == "minmax":
        assert hi_t == 50.0 and hi_y == 50.0 and lo_t == pytest.approx(float(xs.min()))
    else:  # outlier clipped, bulk kept (KL's narrowest window is 256 of the 2048 bins over [min, max])
        top = 8.0 if method == "percentile" else 20.0
        assert 2.5 < hi_t < top and 2.5 < hi_y < top, (lo_t, hi_t, hi_y)
        assert -8.0 < lo_t < -2.5


def test_mse_clips_heavy_tails_but_keeps_a_lone_outlier(outlier_model, tmp_path):
    """MSE weighs a clipped value by its squared distance: one value at 50 among 25600 costs more
    clipped than the rounding noise it adds, so MSE keeps it; a heavy (Laplace) tail it clips."""
    path, xs = outlier_model
    r = collect(path, xs, "mse", progress=False).ranges
    assert r["t"][1] > 45.0
    lap = np.random.default_rng(6).laplace(size=(4000, 64)).astype(np.float32)
    r = collect(path, lap, "mse", progress=False).ranges
    mm = collect(path, lap, "minmax", progress=False).ranges
    assert r["t"][1] < 0.9 * mm["t"][1] and r["t"][0] > 0.9 * mm["t"][0], (r["t"], mm["t"])
    assert r["y"][0] == 0.0 and r["y"][1] < mm["y"][1]


def test_moving_average_follows_typical_sample_ranges(outlier_model):
    path, xs = outlier_model
    r = collect(path, xs, "minmax", moving_average=0.9, progress=False).ranges
    typical = float(np.mean(xs[1:].max(axis=1)))
    assert r["t"][1] == pytest.approx(typical, rel=0.25)  # the outlier has decayed away
    r0 = collect(path, xs, "minmax", moving_average=0.0, progress=False).ranges  # momentum 0: last sample
    assert r0["t"] == (pytest.approx(float(xs[-1].min())), pytest.approx(float(xs[-1].max())))


@pytest.mark.parametrize("method", ["mse", "kl", "percentile"])
def test_histogram_methods_keep_min_max_of_a_near_constant_tensor(tmp_path, method):
    """t = x * 1e-6 + 1 only differs from 1 in its last float32 bits: no 2048 bins fit its range
    (np.histogram raises there), so it keeps its min-max range; y = Relu(x) is clipped as usual."""
    path = _save([helper.make_node("Mul", ["x", "tiny"], ["s"]), helper.make_node("Add", ["s", "one"], ["t"]),
                  helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Add", ["t", "y"], ["z"])],
                 [_vi("x", [1, 64])], [_vi("z", [1, 64])],
                 {"tiny": np.full(1, 1e-6, np.float32), "one": np.ones(1, np.float32)}, tmp_path / "m.onnx")
    xs = np.random.default_rng(3).laplace(size=(200, 64)).astype(np.float32)
    cal = collect(str(path), xs, method, progress=False)
    assert cal.ranges["t"] == cal.minmax["t"] and 0 < cal.minmax["t"][1] - cal.minmax["t"][0] < 1e-4
    assert cal.ranges["y"][1] < cal.minmax["y"][1]


def test_keep_minmax_tensors_are_not_clipped(outlier_model):
    path, xs = outlier_model
    r = collect(path, xs, "percentile", keep_minmax=["y"], progress=False).ranges
    assert r["y"][1] == 50.0 and r["t"][1] < 8.0


def test_mse_range_minimises_the_quantization_error():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(400_000)
    a, b = float(x.min()), float(x.max())
    h, _ = np.histogram(x, 2048, (a, b))
    lo, hi = range_mse(h, a, b)
    assert 3.0 < hi < 4.8 and -4.8 < lo < -3.0  # int8-optimal clipping of N(0, 1): about 4 sigma
    assert quant_mse(h, a, b, lo, hi)[0] < 0.8 * quant_mse(h, a, b, a, b)[0]
    # The measured error of the chosen range is smaller too (not just the model of it).
    def measured(l, u):
        s = (u - l) / 255.0
        zp = np.round(-128 - l / s)
        q = np.clip(np.round(x / s) + zp, -128, 127)
        return float(np.mean(((q - zp) * s - x) ** 2))
    assert measured(lo, hi) < measured(a, b)


def test_kl_and_percentile_on_relu_outputs_keep_the_bulk():
    rng = np.random.default_rng(2)
    x = np.maximum(rng.standard_normal(400_000), 0.0)
    zeros = int(np.count_nonzero(x == 0))
    h, _ = np.histogram(x, 2048, (0.0, float(x.max())))
    lo, hi = range_kl(h, 0.0, float(x.max()), zeros)
    assert lo == 0.0 and 3.0 < hi <= x.max()  # the spike at 0 must not pull the range in
    lo, hi = range_percentile(h, 0.0, float(x.max()), 99.9)
    assert lo == 0.0 and hi == pytest.approx(np.percentile(x, 99.9), rel=0.02)


# -- cross-layer equalization -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cle_graphs(tmp_path_factory):
    path = _cle_model(tmp_path_factory.mktemp("cle") / "cle.onnx")
    g = run_passes(import_onnx(str(path), {}, None))
    return str(path), g, equalize(g)


def test_cle_preserves_the_float_function(cle_graphs):
    path, g, e = cle_graphs
    rng = np.random.default_rng(3)
    runner = FloatRunner(path, all_tensors=True)
    for _ in range(5):
        x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
        before, after = float_graph(g, x), float_graph(e, x)
        y0, y1 = before[g.outputs[0]], after[e.outputs[0]]
        np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-6 * np.abs(y0).max())
        np.testing.assert_allclose(y0.reshape(-1), runner.run(x)["y"].reshape(-1), rtol=1e-4, atol=1e-5)
        # Tensors between equalized layers hold the original values times the recorded factors.
        for n in e.nodes:
            if "eq_factor" in n.attrs:
                t = n.outputs[0]
                np.testing.assert_allclose(after[t], before[t] * n.attrs["eq_factor"], rtol=1e-5,
                                           atol=1e-6 * np.abs(before[t]).max())


def test_cle_equalizes_weight_ranges(cle_graphs):
    _, g, e = cle_graphs
    pairs_before = [p for p in (_find_pair(g, n) for n in g.nodes) if p is not None]
    pairs = [p for p in (_find_pair(e, n) for n in e.nodes) if p is not None]
    assert len(pairs) == len(pairs_before) == 4  # conv->dw, dw->1x1, 1x1->pool->flatten->fc, fc->fc
    for p in pairs:
        r1 = _out_range(e.const(p.first.inputs[1]).astype(np.float64))
        r2 = _in_range(e.const(p.second.inputs[1]).astype(np.float64), p)
        np.testing.assert_allclose(r1, r2, rtol=1e-3)
    # The spread of per-channel ranges shrinks (what per-tensor weights need).
    for p0, p in zip(pairs_before, pairs):
        w0 = _out_range(g.const(p0.first.inputs[1]).astype(np.float64))
        w1 = _out_range(e.const(p.first.inputs[1]).astype(np.float64))
        assert w1.max() / w1.min() < w0.max() / w0.min()
    assert set(float_transforms(e)) == {"r1", "rd", "rp", "mp", "rg"}


def _output_sqnr(model_path, cfg, xs):
    c = compile_model(model_path, cfg, "m", progress=False)
    q = dequantize_output(c.model, run_int8(c.model, quantize_input(c.model, xs))).reshape(len(xs), -1)
    runner = FloatRunner(model_path)
    f = np.concatenate([runner.run(xs[i:i + 1])[runner.output_names[0]] for i in range(len(xs))]).reshape(len(xs), -1)
    return 10 * np.log10(np.sum(f ** 2) / np.sum((q - f) ** 2))


def test_cle_improves_quantization_end_to_end(cle_graphs, tmp_path):
    """Through the whole pipeline (calibration sees the rescaled tensors): channels whose ranges
    span three decades lose the small ones to int8 (per-tensor weights and per-tensor activations
    alike); after CLE the output SQNR must be far higher, with per-tensor and per-channel weights."""
    path, _, _ = cle_graphs
    xs = np.random.default_rng(4).standard_normal((64, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs)
    cal = DataRef(str(tmp_path / "cal.npz"))
    for weights in ("per_tensor", "per_channel"):
        plain = _output_sqnr(path, Config(calibration=cal, weights=weights, method="minmax"), xs)
        cle = _output_sqnr(path, Config(calibration=cal, weights=weights, equalization=True, method="minmax"), xs)
        assert cle > plain + 10.0, (weights, plain, cle)


# -- bias correction -------------------------------------------------------------------------------

@pytest.mark.parametrize("batch,group", [(1, 1), (3, 1), (2, 4)])
def test_conv_mean_shift_is_the_mean_of_the_convolution(batch, group):
    """conv_mean_shift (bias correction's per-channel shift) equals the mean over the batch and the
    output positions of the convolution itself, padded, strided, dilated, depthwise, and for a batch
    above 1 (tf2onnx's SpaceToBatchND form of a dilated conv runs the conv on the block phases)."""
    from qnnc.quantize.bias_correction import conv_mean_shift
    rng = np.random.default_rng(batch * 10 + group)
    x = rng.standard_normal((batch, 9, 8, 4))  # NHWC
    eps = rng.standard_normal((4, 4 // group, 3, 2))
    attrs = {"pads": [1, 0, 2, 1], "strides": [2, 1], "dilations": [1, 2], "group": group}
    xp = np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0)))
    oh, ow = (xp.shape[1] - 3) // 2 + 1, (xp.shape[2] - 3) // 1 + 1
    out = np.zeros((batch, oh, ow, 4))
    cpg = 4 // group  # input (and output) channels per group: 4 or 1 (depthwise)
    for o in range(4):
        cin = range((o // cpg) * cpg, (o // cpg + 1) * cpg)
        for i in range(3):
            for j in range(2):
                win = xp[:, i:i + 2 * oh:2, 2 * j:2 * j + ow]
                out[..., o] += sum(win[..., c] * eps[o, k, i, j] for k, c in enumerate(cin))
    np.testing.assert_allclose(conv_mean_shift(x, eps, attrs, (oh, ow)), out.mean(axis=(0, 1, 2)), rtol=1e-10)


def test_bias_correction_reduces_the_mean_output_error(tmp_path):
    """Per-tensor int8 weights whose scale is set by one large weight: the many small weights round
    to 0 or 1 LSB, which on inputs with a non-zero mean shifts each output channel's mean."""
    rng = np.random.default_rng(5)
    w = rng.uniform(0.001, 0.009, (8, 16, 3, 3)) * rng.choice([-1, 1], (8, 16, 3, 3))
    w[0, 0, 1, 1] = 1.0
    path = _save([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
                 [_vi("x", [1, 16, 6, 6])], [_vi("y", [1, 8, 6, 6])],
                 {"w": w.astype(np.float32), "b": np.zeros(8, np.float32)}, tmp_path / "c.onnx")
    xs = (rng.standard_normal((200, 16, 6, 6)) + 3.0).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs[:100])
    cal = DataRef(str(tmp_path / "cal.npz"))
    test = xs[100:]  # not the calibration samples
    f = np.concatenate([FloatRunner(str(path)).run(test[i:i + 1])["y"] for i in range(len(test))])

    def mean_error(bc):
        c = compile_model(str(path), Config(calibration=cal, weights="per_tensor", bias_correction=bc,
                                           method="minmax"), "m", progress=False)
        q = dequantize_output(c.model, run_int8(c.model, quantize_input(c.model, test)))
        return np.abs((q.reshape(f.shape) - f).mean(axis=(0, 2, 3))), c.model.output_tensor.scale

    (plain, lsb), (corrected, _) = mean_error(False), mean_error(True)
    assert plain.mean() > lsb  # the shift is real: more than one output LSB on average
    assert corrected.mean() < 0.1 * plain.mean() and corrected.max() < 0.1 * lsb, (plain, corrected)


# -- YAML --------------------------------------------------------------------------------------------

def _qnnc(*args):
    return subprocess.run([sys.executable, "-m", "qnnc", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("yaml_text,line,key,words", [
    ("calibration:\n  data: cal.npz\n  method: entropy\n", 3, "calibration.method", "'mse', 'kl'"),
    ("calibration:\n  data: cal.npz\n  moving_average: 1.0\n", 3, "calibration.moving_average", "[0, 1)"),
    ("calibration:\n  data: cal.npz\n  method: kl\n  moving_average: 0.9\n", 4, "calibration.moving_average",
     "minmax only"),
    ("calibration:\n  data: cal.npz\n  moving_average: fast\n", 3, "calibration.moving_average", "a number"),
    ("quantization:\n  equalization: yes please\n", 2, "quantization.equalization", "true or false"),
    ("quantization:\n  weights: per_channel\n  bias_correction: 1\n", 3, "quantization.bias_correction",
     "true or false"),
    ("quantization:\n  equalisation: true\n", 2, "quantization.equalisation", "unknown key"),
    ("calibration:\n  data: cal.npz\n  method: Auto\n", 3, "calibration.method", "'auto', 'minmax'"),
    ("calibration:\n  data: cal.npz\n  method: auto\n  moving_average: 0.9\n", 4, "calibration.moving_average",
     "minmax only (method is 'auto')"),
])
def test_yaml_keys_are_validated(tmp_path, yaml_text, line, key, words):
    (tmp_path / "q.yaml").write_text(yaml_text)
    r = _qnnc("build", DIGITS / "digits.onnx", "--config", tmp_path / "q.yaml", "-o", tmp_path / "out")
    assert r.returncode == 2, r.stderr
    assert f"q.yaml:{line}" in r.stderr and f"key '{key}'" in r.stderr and words in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_yaml_all_new_keys_build(tmp_path):
    (tmp_path / "q.yaml").write_text(
        f"calibration:\n  data: {DIGITS / 'calibration.npz'}\n  method: minmax\n  moving_average: 0.95\n"
        "quantization:\n  equalization: true\n  bias_correction: true\n")
    r = _qnnc("build", DIGITS / "digits.onnx", "--config", tmp_path / "q.yaml", "-o", tmp_path / "out", "-q")
    assert r.returncode == 0, r.stderr
    for method in ("mse", "kl"):
        (tmp_path / "q.yaml").write_text(f"calibration:\n  data: {DIGITS / 'calibration.npz'}\n  method: {method}\n")
        r = _qnnc("build", DIGITS / "digits.onnx", "--config", tmp_path / "q.yaml", "-o", tmp_path / "out", "-q")
        assert r.returncode == 0, r.stderr


# -- validate ----------------------------------------------------------------------------------------

def test_validate_prints_per_layer_sqnr(tmp_path):
    args = ("validate", DIGITS / "digits.onnx", "--config", DIGITS / "digits.yaml", "--data", DIGITS / "test.npz",
            "--no-sanitize")
    r = _qnnc(*args, "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    layers = res["layers"]
    assert [l["op"] for l in layers if l["op"] in ("conv", "fully_connected")] == ["conv", "conv", "fully_connected"]
    assert all(l["sqnr_db"] is not None and 25.0 < l["sqnr_db"] < 80.0 for l in layers), layers
    text = _qnnc(*args).stdout
    assert "per-layer SQNR" in text and "/c2/Conv" in text and "fully_connected" in text


def test_validate_sqnr_follows_equalized_tensors(tmp_path):
    """With CLE the tensors between layers are rescaled; the per-layer SQNR must compare them with
    equally rescaled float values (else it would collapse)."""
    (tmp_path / "q.yaml").write_text(f"calibration:\n  data: {DIGITS / 'calibration.npz'}\n"
                                     "quantization:\n  equalization: true\n  bias_correction: true\n")
    r = _qnnc("validate", DIGITS / "digits.onnx", "--config", tmp_path / "q.yaml", "--data", DIGITS / "test.npz",
              "--no-sanitize", "--json")
    assert r.returncode == 0, r.stderr
    assert all(l["sqnr_db"] > 25.0 for l in json.loads(r.stdout)["layers"])


def _validate_layers(path, tmp_path, shape, rng) -> list:
    """``qnnc validate --json``'s per-layer figures of the model at ``path`` (min-max calibration
    on 64 N(0, 1) samples of ``shape``, compared on 16 more)."""
    np.savez(tmp_path / "cal.npz", x=rng.standard_normal((64, *shape)).astype(np.float32))
    np.savez(tmp_path / "test.npz", x=rng.standard_normal((16, *shape)).astype(np.float32))
    (tmp_path / "q.yaml").write_text(f"calibration:\n  data: {tmp_path / 'cal.npz'}\n  method: minmax\n")
    r = _qnnc("validate", path, "--config", tmp_path / "q.yaml", "--data", tmp_path / "test.npz", "--no-sanitize",
              "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["layers"]


def test_validate_sqnr_of_1d_conv_layers(tmp_path):
    """A 1-D conv's ONNX tensor (N, C, W) is stored as (N, 1, W, C): the per-layer comparison (and
    bias correction, through the same internal_value) must transpose it, not just reshape it."""
    rng = np.random.default_rng(5)
    inits = {"w1": (rng.standard_normal((8, 3, 5)) * 0.3).astype(np.float32), "b1": np.zeros(8, np.float32),
             "w2": (rng.standard_normal((6, 8, 3)) * 0.3).astype(np.float32), "b2": np.zeros(6, np.float32)}
    path = _save([helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[2, 2]),
                  helper.make_node("Relu", ["c1"], ["r1"]),
                  helper.make_node("Conv", ["r1", "w2", "b2"], ["y"], pads=[1, 1])],
                 [_vi("x", [1, 3, 32])], [_vi("y", [1, 6, 32])], inits, tmp_path / "m.onnx")
    convs = [l for l in _validate_layers(path, tmp_path, (3, 32), rng) if l["op"] == "conv"]
    assert len(convs) == 2 and all(l["sqnr_db"] > 30.0 for l in convs), convs


def test_validate_sqnr_of_a_reduction_to_3d(tmp_path):
    """ReduceMax over W without keepdims: the ONNX (N, C, H) result is stored (N, H, C) and
    transposed back; the per-layer comparison (and the automatic calibration's judgement, through
    the same internal_value) must follow that transpose, not just reshape."""
    rng = np.random.default_rng(7)
    inits = {"w": (rng.standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float32), "b": np.zeros(4, np.float32)}
    path = _save([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                  helper.make_node("ReduceMax", ["c"], ["y"], axes=[3], keepdims=0)],
                 [_vi("x", [1, 4, 7, 7])], [_vi("y", [1, 4, 7])], inits, tmp_path / "m.onnx")
    red = [l for l in _validate_layers(path, tmp_path, (4, 7, 7), rng) if l["op"] == "reduce"]
    assert len(red) == 1 and red[0]["sqnr_db"] > 30.0, red


def test_validate_sqnr_of_a_layer_computed_in_nchw(tmp_path):
    """A Softmax over the last axis of a 4-D tensor (attention scores) runs on the NCHW order between
    transposes; its tensor is stored so, and the per-layer comparison must not transpose it again."""
    rng = np.random.default_rng(6)
    inits = {"w": (rng.standard_normal((4, 3, 1, 1)) * 0.5).astype(np.float32), "b": np.zeros(4, np.float32)}
    path = _save([helper.make_node("Conv", ["x", "w", "b"], ["c"]),
                  helper.make_node("Softmax", ["c"], ["s"], axis=-1),
                  helper.make_node("Conv", ["s", "w2", "b"], ["y"])],
                 [_vi("x", [1, 3, 5, 7])], [_vi("y", [1, 4, 5, 7])],
                 {**inits, "w2": (rng.standard_normal((4, 4, 1, 1)) * 0.5).astype(np.float32)}, tmp_path / "m.onnx")
    soft = [l for l in _validate_layers(path, tmp_path, (3, 5, 7), rng) if l["op"] == "softmax"]
    assert len(soft) == 1 and soft[0]["sqnr_db"] > 25.0, soft


# -- accuracy on the shared models -------------------------------------------------------------------

def _accuracy(model: str, **cfg_fields) -> float:
    from qnnc.build import generate, write_output
    from qnnc.emit.hostrun import compile_driver, run_driver
    folder = require(model)
    cfg = Config(calibration=DataRef(str(folder / "calibration.npz")), **cfg_fields)
    res = generate(str(folder / "model.onnx"), cfg, "m", progress=False)
    d = np.load(folder / "test.npz")
    xs, ys = d["x"], d["y"]
    with tempfile.TemporaryDirectory() as tmp:
        write_output(res.files, str(Path(tmp) / "gen"))
        exe = compile_driver(str(Path(tmp) / "gen"), "m", str(Path(tmp) / "m"))
        out = run_driver(exe, quantize_input(res.compiled.model, xs).reshape(len(xs), -1),
                         res.compiled.model.output_tensor.size)
    return float(np.mean(out.astype(np.int32).argmax(axis=1) == ys))


def test_digits_accuracy_floor():
    assert _accuracy("digits_cnn_sklearn", method="mse") >= 0.990


def test_kws_accuracy_floor():
    # Float 0.911, TFLite int8 0.903, onnxruntime quantize_static 0.916 (see benchmarks/accuracy.py).
    assert _accuracy("mlperf_tiny_kws_dscnn", method="mse") >= 0.915


def test_mnist_accuracy_floor():  # 9700 test samples through the compiled C: about 30 s
    assert _accuracy("onnx_zoo_mnist8", method="mse") >= 0.988


# --- no silent garbage: firmware builds need calibration data --------------------------------

def _mlp_and_configs(tmp_path: Path):
    from onnx_factory import save, tiny_mlp
    model = save(tiny_mlp(), tmp_path / "mlp.onnx")
    configs = {
        "none": "name: mlp\n",
        "random": "name: mlp\ncalibration:\n  random_inputs: true\n",
        "both": "name: mlp\ncalibration:\n  random_inputs: true\n  data: cal.npz\n",
        "data": "name: mlp\ncalibration:\n  data: cal.npz\n",
    }
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(0).standard_normal((32, 8)).astype(np.float32))
    for k, text in configs.items():
        (tmp_path / f"{k}.yaml").write_text(text)
    return model


def test_firmware_build_without_calibration_data_fails_naming_the_config(tmp_path):
    from onnx_factory import run_cli
    model = _mlp_and_configs(tmp_path)
    r = run_cli(["build", model, "-c", tmp_path / "none.yaml", "-o", tmp_path / "out", "--require-calibration"])
    assert r.returncode == 2, r.stderr
    assert f"qnnc: error: {tmp_path / 'none.yaml'}, key 'calibration.data': no calibration data" in r.stderr
    assert "random_inputs: true" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_random_inputs_is_an_explicit_opt_in_and_excludes_data(tmp_path):
    from onnx_factory import run_cli
    model = _mlp_and_configs(tmp_path)
    r = run_cli(["build", model, "-c", tmp_path / "random.yaml", "-o", tmp_path / "out", "--require-calibration"])
    assert r.returncode == 0, r.stderr
    assert "calibrated on RANDOM inputs (16 N(0,1) samples), not real data" in r.stdout
    assert "WARNING" not in r.stderr  # the user asked for it
    report = json.loads((tmp_path / "out" / "mlp_report.json").read_text())
    assert report["calibration"].startswith("RANDOM inputs")
    r = run_cli(["build", model, "-c", tmp_path / "both.yaml", "-o", tmp_path / "out2"])
    assert r.returncode == 2
    assert f"{tmp_path / 'both.yaml'}:3, key 'calibration.random_inputs'" in r.stderr, r.stderr


def test_cli_without_data_warns_loudly_and_with_data_says_what_it_used(tmp_path):
    from onnx_factory import run_cli
    model = _mlp_and_configs(tmp_path)
    r = run_cli(["build", model, "-c", tmp_path / "none.yaml", "-o", tmp_path / "out"])
    assert r.returncode == 0, r.stderr
    assert "qnnc: WARNING: NO CALIBRATION DATA: activation ranges come from 16 random inputs." in r.stderr
    r = run_cli(["build", model, "-c", tmp_path / "data.yaml", "-o", tmp_path / "out2", "--require-calibration"])
    assert r.returncode == 0, r.stderr
    # The default method is auto: the summary line and the report say what it chose for this model.
    line = r.stdout.rstrip().splitlines()[-1]
    assert re.search(r"calibrated on 32 samples of cal\.npz \(auto: (minmax|mse)( \+ equalization)?"
                     r"( \+ bias correction)?\)$", line), r.stdout
    chosen = line[line.index("(auto: "):]
    assert f"- Calibration: 32 samples of cal.npz {chosen}" in (tmp_path / "out2" / "mlp_report.md").read_text()


# --- calibration.method: auto ------------------------------------------------------------------

def test_auto_is_the_default_and_moving_average_still_selects_minmax(tmp_path):
    from qnnc.config import load_config
    (tmp_path / "a.yaml").write_text("calibration:\n  data: cal.npz\n")
    (tmp_path / "b.yaml").write_text("calibration:\n  data: cal.npz\n  moving_average: 0.9\n")
    assert Config().method == "auto"
    assert load_config(str(tmp_path / "a.yaml")).method == "auto"
    assert load_config(str(tmp_path / "b.yaml")).method == "minmax"


def test_mse_range_from_samples_matches_the_histogram_search():
    """The sorted-sample MSE search (auto) minimises the same error as calibrate.range_mse: its
    range's error, measured directly on the values, is no worse than min-max's or the histogram's."""
    rng = np.random.default_rng(7)
    v = rng.standard_t(2, size=20000)  # heavy tails
    a, b = float(v.min()), float(v.max())

    def measured(lo, hi):
        from qnnc.quantize.calibrate import _grid_quant
        lo_r, hi_r, scale = (float(x[0]) for x in _grid_quant(np.array([lo]), np.array([hi])))
        q = np.clip(np.round((v - lo_r) / scale) * scale + lo_r, lo_r, hi_r)
        return float(np.sum((q - v) ** 2))

    lo, hi = range_mse_samples(v, a, b)
    assert a < lo < 0 < hi < b  # the tails are clipped
    h, _ = np.histogram(v, bins=2048, range=(a, b))
    assert measured(lo, hi) < 0.97 * measured(a, b)  # measured: 5956 vs 6193
    assert measured(lo, hi) <= 1.02 * measured(*range_mse(h, a, b))
    assert range_mse_samples(np.abs(v), 0.0, float(np.abs(v).max()))[0] == 0.0  # a ReLU range keeps 0


def test_held_count():
    assert held_count(4) == 0 and held_count(8) == 2 and held_count(40) == 10 and held_count(1000) == 16
    # a big model (SqueezeNet 1.1 at 96x96: 43 M MACs) is judged on fewer samples: the budget is in MACs
    assert held_count(1000, 43_000_000) == 2 and held_count(1000, 10_700_000) == 4
    # too few for four candidates on 4 samples (MnasNet 0.5 at 96x96: 19 M MACs, 10 runs): min-max
    # against MSE only, on 5 samples rather than four candidates on 2
    assert held_count(1000, 19_000_000) == 5


def test_subsample_step_walks_every_column():
    """The MSE subsample's stride is coprime with the tensor's size, so on an NCHW map it visits
    every column rather than the same few (a stride of 32 on 64-wide rows: columns 0 and 32)."""
    from qnnc.quantize.calibrate_auto import subsample_step
    assert subsample_step(16 * 64 * 64, 2048) == 33 and subsample_step(100, 1000) == 1
    assert subsample_step(3 * 5 * 7, 5) == 22  # 21 = 3 * 7 shares factors; 22 does not
    x = np.arange(16 * 64 * 64).reshape(16, 64, 64)
    kept = x.reshape(-1)[::subsample_step(x.size, 2048)]
    assert len(np.unique(kept % 64)) == 64 and len(np.unique(kept // 4096)) == 16
    assert abs(len(kept) - 2048) < 2048 * 0.05


def test_auto_chooses_by_held_aside_output_error_and_says_so(cle_graphs, tmp_path):
    """On the CLE model (channel ranges over three decades, per-tensor weights) equalization gains
    far more than the margin, so auto must switch it on; the note names every candidate with its SQNR
    and the chosen ranges come from all samples. Config switches set to false are respected."""
    path, _, _ = cle_graphs
    xs = np.random.default_rng(4).standard_normal((64, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs)
    cal = DataRef(str(tmp_path / "cal.npz"))
    c = compile_model(path, Config(calibration=cal, weights="per_tensor"), "m", progress=False)
    assert c.calibration.startswith("64 samples of cal.npz (auto: minmax + equalization"), c.calibration
    note = next(n for n in c.notes if n.startswith("calibration method auto chose"))
    assert "16 held-aside calibration samples" in note and "minmax + equalization" in note and "mse " in note
    assert "from all 64 samples" in note
    plain = _output_sqnr(path, Config(calibration=cal, weights="per_tensor", method="minmax"), xs)
    auto = _output_sqnr(path, Config(calibration=cal, weights="per_tensor"), xs)
    assert auto > plain + 10.0, (plain, auto)
    # equalization explicitly off in the YAML: auto does not try it
    (tmp_path / "q.yaml").write_text("calibration:\n  data: cal.npz\nquantization:\n  weights: per_tensor\n"
                                     "  equalization: false\n")
    from qnnc.config import load_config
    c = compile_model(path, load_config(str(tmp_path / "q.yaml")), "m", progress=False)
    assert "equalization" not in c.calibration
    assert "equalization" not in next(n for n in c.notes if n.startswith("calibration method auto"))


@pytest.mark.parametrize("act", ["LeakyRelu", "HardSwish"])
def test_auto_records_the_ranges_of_fused_activation_inputs(act, tmp_path):
    """auto keeps statistics only for the tensors the quantizer reads: a Conv's output that a
    LeakyRelu or a table activation was fused into is no graph tensor, but its range is read."""
    from onnx_factory import GraphBuilder
    rng = np.random.default_rng(7)
    m = GraphBuilder([1, 3, 8, 8], opset=14)  # HardSwish: opset 14
    c = m.op("Conv", ["x", m.const((rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(np.float32)),
                      m.const((rng.standard_normal(6) * 0.1).astype(np.float32))], kernel_shape=[3, 3], pads=[1] * 4)
    a = m.op(act, [c], **({"alpha": 0.1} if act == "LeakyRelu" else {}))
    m.op("Conv", [a, m.const((rng.standard_normal((4, 6, 1, 1)) * 0.3).astype(np.float32))], kernel_shape=[1, 1])
    path = m.finish(tmp_path / "m.onnx")
    g = run_passes(import_onnx(str(path), {}, None))
    assert any((n.attrs.get("activation") or {}).get("pre_act") for n in g.nodes)  # the case is there
    xs = rng.standard_normal((40, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs)
    c = compile_model(str(path), Config(calibration=DataRef(str(tmp_path / "cal.npz"))), "m", progress=False)
    assert c.calibration.startswith("40 samples of cal.npz (auto:"), c.calibration
    q = dequantize_output(c.model, run_int8(c.model, quantize_input(c.model, xs[:8])))
    runner = FloatRunner(str(path))
    ref = np.stack([runner.run(x[None])["y"][0] for x in xs[:8]])
    err = np.abs(q.reshape(ref.shape) - ref).max()
    assert err < 0.1 * np.abs(ref).max(), err


def test_auto_without_real_data_is_minmax(tmp_path):
    """Random stand-in inputs cannot judge clipping: auto calibrates them with min-max, as before."""
    path, _, _ = _cle_model(tmp_path / "m.onnx"), None, None
    a = compile_model(str(path), Config(), "m", progress=False)
    b = compile_model(str(path), Config(method="minmax"), "m", progress=False)
    assert [t.scale for t in a.model.tensors.values()] == [t.scale for t in b.model.tensors.values()]
    assert not any(n.startswith("calibration method auto") for n in a.notes)


def _auto_vs_minmax(model: str) -> None:
    """auto may lose at most one test sample against min-max (on the generated C)."""
    n = len(np.load(require(model) / "test.npz")["y"])
    auto, minmax = _accuracy(model), _accuracy(model, method="minmax")
    assert auto >= minmax - 1.0 / n, (auto, minmax)


def test_auto_not_worse_than_minmax_digits():
    _auto_vs_minmax("digits_cnn_sklearn")


def test_auto_not_worse_than_minmax_kws():
    _auto_vs_minmax("mlperf_tiny_kws_dscnn")


@pytest.mark.slow
def test_auto_not_worse_than_minmax_mnist():  # 2 x 9700 test samples through the compiled C
    _auto_vs_minmax("onnx_zoo_mnist8")


def test_standalone_relu_and_concat_inputs_are_rounded_once(tmp_path):
    """A Relu of the int8 input takes the input's scale (zero point -128): its outputs are the
    input's own values, not rounded again onto a calibrated grid; the input, read by nothing else,
    spends its codes on [0, max] only; a table op whose only reader is a
    Concat (here a Sigmoid) is computed at the Concat's scale, so the Concat copies it."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((4, 3, 1, 1)) * 0.3).astype(np.float32)
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w"], ["c"], name="conv"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sigmoid"),
             helper.make_node("Concat", ["s", "r"], ["y"], axis=1, name="concat")]
    path = _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 7, 4, 4])], {"w": w}, tmp_path / "m.onnx")
    cal = tmp_path / "cal.npz"
    np.savez(cal, x=rng.standard_normal((16, 3, 4, 4)).astype(np.float32))
    c = compile_model(str(path), Config(calibration=DataRef(str(cal)), method="minmax"), "m", progress=False)
    m = c.model
    relu = next(op for op in m.ops if op.name == "relu")
    x, r = m.tensors[relu.inputs[0]], m.tensors[relu.output]
    assert (r.scale, r.zero_point) == (x.scale, -128)
    assert x.zero_point == -128  # the input, which only the Relu reads, has its range start at 0
    codes = np.arange(-128, 128)
    expect = np.maximum(codes, x.zero_point) - x.zero_point - 128  # every input value kept exactly
    assert np.array_equal(relu.consts["lut"].astype(np.int64), expect)
    concat = next(op for op in m.ops if op.kind == "concat")
    sig = next(op for op in m.ops if op.name == "sigmoid")
    assert concat.attrs["rescales"][concat.inputs.index(sig.output)] is None


def test_percentile_with_another_method_is_said(tmp_path):
    """calibration.percentile only reads with method percentile: set beside another method, the
    build says it has no effect (it was ignored silently)."""
    from onnx_factory import save, tiny_mlp
    from qnnc.build import build
    from qnnc.config import load_config

    save(tiny_mlp(), tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", x=np.random.default_rng(2).standard_normal((16, 8)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: c.npz\n  method: minmax\n  percentile: 99.9\n")
    res = build(str(tmp_path / "m.onnx"), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m",
                progress=False)
    assert any("calibration.percentile (line 5) applies to method percentile only; the method is minmax" in n
               for n in res.compiled.model.notes)
