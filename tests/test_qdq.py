"""Already-quantized ONNX models (QDQ and QOperator): qnnc keeps their quantization and its int8
results equal onnxruntime's on the same model.

Oracles: the official MLPerf Tiny int8 models (tf2onnx QDQ of the TFLite int8 files in
../shared/models) and models onnxruntime's own ``quantize_static`` produces here, in both formats,
int8 and uint8 activations, per-channel and per-tensor weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from onnx_factory import model, run_cli, save, tensor, vi
from qnnc.build import build
from qnnc.config import load_config
from qnnc.errors import QnncError
from qnnc.quantize.fixedpoint import ROUND_HALF_EVEN, ROUND_TFLITE, requantize
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.pipeline import compile_model
from qnnc.reference.interpreter import quantize_input, run, run_int8
from qemu_harness import harness
from shared_models import require

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle (pip install onnxruntime)")


def _ort_int8(path: Path, xi: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: xi[i:i + 1]})[0] for i in range(len(xi))])


def _build(path: Path, tmp: Path, config: str = "name: m\n"):
    cfg = tmp / "m.yaml"
    cfg.write_text(config)
    out = tmp / "gen"
    result = build(str(path), load_config(str(cfg)), str(out), "m", progress=False)
    return result, out


def _c_outputs(out: Path, tmp: Path, qm, q_in: np.ndarray) -> np.ndarray:
    exe = compile_driver(str(out), "m", str(tmp / "drv"), sanitize=True)
    return run_driver(exe, q_in.reshape(len(q_in), -1), qm.output_tensor.size)


# ------------------------------------------------------------- official int8 models --

def test_kws_official_int8_equals_onnxruntime_on_every_test_input(tmp_path):
    folder = require("mlperf_tiny_kws_dscnn")
    path = folder / "model_int8_qdq_ref.onnx"
    result, out = _build(path, tmp_path)
    qm = result.compiled.model
    # The model's own input quantization (SOURCE.txt: scale 0.5847029089927673, zero point 83).
    assert qm.input_tensor.zero_point == 83 and np.float32(qm.input_tensor.scale) == np.float32(0.5847029089927673)
    assert (qm.output_tensor.scale, qm.output_tensor.zero_point) == (1.0 / 256.0, -128)
    assert all(op.params.rounding == ROUND_HALF_EVEN for op in qm.ops if op.kind in ("conv", "depthwise_conv",
                                                                                        "fully_connected"))
    d = np.load(folder / "test.npz")
    xi = quantize_input(qm, d["x"]).reshape(d["x"].shape)  # the int8 .bin features of the dataset
    expected = _ort_int8(path, xi).reshape(len(xi), -1)
    ref = run_int8(qm, xi).reshape(len(xi), -1)
    c_out = _c_outputs(out, tmp_path, qm, xi)
    print(f"KWS official int8: {len(xi)} inputs, reference vs onnxruntime differing "
          f"{int(np.any(ref != expected, axis=1).sum())}, C vs reference {int(np.any(c_out != ref, axis=1).sum())}")
    assert np.array_equal(ref, expected)
    assert np.array_equal(c_out, ref)
    accuracy = float(np.mean(np.argmax(ref, axis=1) == d["y"]))
    assert accuracy == pytest.approx(0.9025, abs=1e-4)  # SOURCE.txt: official int8 on the test split


def test_ad_official_int8_equals_onnxruntime_up_to_its_float_rounding(tmp_path):
    """onnxruntime runs this model's MatMul+Add in float32; qnnc rounds the exact product. They agree
    except where float32 error moves a value across a .5 tie, and there qnnc's integer is the
    correctly rounded one."""
    folder = require("mlperf_tiny_ad_fc_autoencoder")
    path = folder / "model_int8_qdq_ref.onnx"
    result, out = _build(path, tmp_path)
    qm = result.compiled.model
    xi = np.random.default_rng(0).integers(-128, 128, size=(200, 640)).astype(np.int8)
    expected = _ort_int8(path, xi).reshape(200, -1).astype(np.int64)
    ref = run_int8(qm, xi).reshape(200, -1).astype(np.int64)
    assert np.array_equal(_c_outputs(out, tmp_path, qm, xi), ref.astype(np.int8))
    bad = np.argwhere(ref != expected)
    print(f"AD official int8: {bad.shape[0]} of {ref.size} output values differ from onnxruntime")
    assert bad.shape[0] <= 4
    last = qm.ops[-1]
    assert last.kind == "fully_connected" and last.params.act_min == -128  # no Relu on the output layer
    for i, j in bad:
        assert abs(ref[i, j] - expected[i, j]) == 1
        # The exact value of the output layer lies within float32 noise of a tie.
        x = run(qm, xi[i:i + 1], keep=[last.inputs[0]])[last.inputs[0]].astype(np.int64).reshape(-1)
        acc = int(last.consts["filter"][j].astype(np.int64) @ (x + last.params.input_offset) + last.consts["bias"][j])
        k = j if last.consts["multiplier"].size > 1 else 0
        exact = acc * int(last.consts["multiplier"][k]) / 2.0 ** (31 - int(last.consts["shift"][k]))
        assert abs(abs(exact - np.floor(exact)) - 0.5) < 1e-4, exact
        assert ref[i, j] - qm.output_tensor.zero_point == int(np.round(exact))


def test_ic_official_int8_close_to_onnxruntime(tmp_path):
    """ResNet-8's residual Adds, average pool and softmax use qnnc's integer arithmetic (TFLite's
    ADD; integer pooling and softmax), where onnxruntime computes in float: a few outputs differ."""
    folder = require("mlperf_tiny_ic_resnet8")
    path = folder / "model_int8_qdq_ref.onnx"
    result, _ = _build(path, tmp_path)
    qm = result.compiled.model
    xi = np.random.default_rng(0).integers(-128, 128, size=(100, 3, 32, 32)).astype(np.int8)
    expected = _ort_int8(path, xi).reshape(100, -1).astype(np.int64)
    ref = run_int8(qm, xi).reshape(100, -1).astype(np.int64)
    same_class = float(np.mean(np.argmax(ref, axis=1) == np.argmax(expected, axis=1)))
    identical = float(np.mean(np.all(ref == expected, axis=1)))
    print(f"IC official int8: identical outputs {identical:.2f}, same top-1 {same_class:.2f}, "
          f"max |diff| {int(np.abs(ref - expected).max())} LSB")
    assert same_class >= 0.95
    assert identical >= 0.5


# ------------------------------------------------- onnxruntime quantize_static models --

def _small_net(seed: int = 0) -> onnx.ModelProto:
    """conv 3x3 + Relu -> depthwise 3x3 stride 2 + Relu -> 1x1 conv -> MaxPool -> Flatten -> Gemm."""
    rng = np.random.default_rng(seed)
    w = {
        "w1": rng.standard_normal((8, 3, 3, 3)) * 0.3, "b1": rng.standard_normal(8) * 0.1,
        "w2": rng.standard_normal((8, 1, 3, 3)) * 0.3, "b2": rng.standard_normal(8) * 0.1,
        "w3": rng.standard_normal((16, 8, 1, 1)) * 0.3, "b3": rng.standard_normal(16) * 0.1,
        "fw": rng.standard_normal((10, 256)) * 0.1, "fb": rng.standard_normal(10) * 0.1,
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         group=8, strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="pw", kernel_shape=[1, 1]),
        helper.make_node("MaxPool", ["c3"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    return model(nodes, [vi("x", [1, 3, 16, 16])], [vi("y", [1, 10])],
                 [tensor(k, v.astype(np.float32)) for k, v in w.items()])


@pytest.fixture(scope="module")
def float_net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qdq_net")
    path = save(_small_net(), tmp / "float.onnx")
    rng = np.random.default_rng(1)
    return path, rng.standard_normal((32, 3, 16, 16)).astype(np.float32), \
        rng.standard_normal((100, 3, 16, 16)).astype(np.float32)


def _ort_quantize(float_path: Path, out: Path, cal: np.ndarray, fmt: str, act: str, per_channel: bool,
                  extra_options=None, reduce_range: bool = False) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": x[None]} for x in cal])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(float_path), str(out), Reader(), quant_format=getattr(QuantFormat, fmt),
                    activation_type=getattr(QuantType, act), weight_type=QuantType.QInt8, per_channel=per_channel,
                    reduce_range=reduce_range, extra_options=extra_options or {})
    return out


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("act", ["QInt8", "QUInt8"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
def test_onnxruntime_quantized_model_matches_onnxruntime(float_net, tmp_path, fmt, act, per_channel):
    float_path, cal, test = float_net
    # 7-bit weights (reduce_range): onnxruntime's x86 int8 GEMM without VNNI (AVX2's VPMADDUBSW)
    # saturates int16 pair sums of 8-bit weights, so its own results then depend on the CPU; with
    # 7-bit weights they are exact everywhere, and qnnc must match them bit for bit.
    path = _ort_quantize(float_path, tmp_path / "q.onnx", cal, fmt, act, per_channel, reduce_range=True)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ("QLinearConv" in ops) == (fmt == "QOperator")
    result, out = _build(path, tmp_path)
    qm = result.compiled.model
    # onnxruntime's model takes float and returns float; compare the integers behind them.
    y = _ort_int8_float_io(path, test)
    ot = qm.output_tensor
    expected = (np.round(y / np.float32(ot.scale)).astype(np.int64) + ot.zero_point).reshape(len(test), -1)
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    assert np.array_equal(ref.astype(np.int64), expected)
    assert np.array_equal(_c_outputs(out, tmp_path, qm, q_in), ref)


@pytest.mark.parametrize("act", ["QInt8", "QUInt8"])
def test_validate_reference_keeps_the_relus_onnxruntime_folded(float_net, tmp_path, act):
    """quantize_static deletes a Relu before a QuantizeLinear whose range starts at 0; validate's
    float reference (the model without its Q/DQ nodes) clamps each quantized tensor to its range, so
    that Relu still acts there (without the clamp: tens of LSB off, single-digit layer SQNR)."""
    from qnnc.validate import validate

    float_path, cal, test = float_net
    path = _ort_quantize(float_path, tmp_path / "q.onnx", cal, "QDQ", act, True, reduce_range=True)
    assert "Relu" not in {n.op_type for n in onnx.load(str(path)).graph.node}
    np.savez(tmp_path / "test.npz", x=test[:16])
    (tmp_path / "m.yaml").write_text("name: m\n")
    out = validate(str(path), load_config(str(tmp_path / "m.yaml")), str(tmp_path / "test.npz"), sanitize=False,
                   progress=False)
    assert out["bit_exact"] and out["float_max_abs_error_lsb"] <= 3.0, out["float_max_abs_error_lsb"]
    assert min(layer["sqnr_db"] for layer in out["layers"]) > 25.0


def _ort_int8_float_io(path: Path, xs: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": x[None]})[0] for x in xs])


def test_qdq_import_keeps_the_model_scales_and_weights(float_net, tmp_path):
    float_path, cal, _ = float_net
    path = _ort_quantize(float_path, tmp_path / "q.onnx", cal, "QDQ", "QInt8", True)
    m = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    w_int = next(inits[n.input[0]] for n in m.graph.node
                 if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].shape == (8, 3, 3, 3))
    qm = compile_model(str(path), load_config(None), "m", progress=False).model
    conv = next(op for op in qm.ops if op.kind == "conv")
    assert np.array_equal(conv.consts["filter"], w_int.transpose(0, 2, 3, 1))  # OIHW -> OHWI, same integers


def test_rounding_can_be_chosen_in_the_config(float_net, tmp_path):
    float_path, cal, _ = float_net
    path = _ort_quantize(float_path, tmp_path / "q.onnx", cal, "QDQ", "QInt8", True)
    (tmp_path / "c.yaml").write_text("quantization:\n  rounding: tflite\n")
    qm = compile_model(str(path), load_config(str(tmp_path / "c.yaml")), "m", progress=False).model
    assert {op.params.rounding for op in qm.ops if op.kind == "conv"} == {ROUND_TFLITE}
    # A float model uses TFLite Micro's rounding unless asked otherwise.
    qm = compile_model(str(float_path), load_config(None), "m", progress=False).model
    assert {op.params.rounding for op in qm.ops if op.kind == "conv"} == {ROUND_TFLITE}


def test_half_even_requantization_is_one_exact_rounding():
    rng = np.random.default_rng(0)
    acc = rng.integers(-(1 << 24), 1 << 24, size=20000)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=20000)
    shift = rng.integers(-20, 2, size=20000)
    got = requantize(acc, mult, shift, ROUND_HALF_EVEN)
    from fractions import Fraction
    for a, m, s, g in list(zip(acc, mult, shift, got))[:2000]:
        exact = Fraction(int(a) * int(m), 1 << (31 - int(s)))
        assert g == round(exact)  # Python's round() on a Fraction: ties to even
    # Ties go to even.
    assert list(requantize(np.array([3, 5, -3, -5]), np.array([1 << 30] * 4), np.array([0] * 4),
                           ROUND_HALF_EVEN)) == [2, 2, -2, -2]


def test_tensor_with_two_qdq_pairs_matches_onnxruntime(tmp_path):
    """A tensor read by two nodes through a QuantizeLinear each (onnxruntime's DedicatedQDQPair,
    QAT exports): both pairs stand for the same int8 tensor."""
    s = tensor("s", np.array(0.03, np.float32))
    z = tensor("z", np.array(-5, np.int8))
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xd"], name="dq_x"),
        helper.make_node("Relu", ["xd"], ["r"], name="relu"),
        helper.make_node("QuantizeLinear", ["r", "s", "z"], ["rq1"], name="q1"),
        helper.make_node("QuantizeLinear", ["r", "s", "z"], ["rq2"], name="q2"),
        helper.make_node("DequantizeLinear", ["rq1", "s", "z"], ["rd1"], name="dq1"),
        helper.make_node("DequantizeLinear", ["rq2", "s", "z"], ["rd2"], name="dq2"),
        helper.make_node("Concat", ["rd1", "rd2"], ["c"], name="concat", axis=1),
        helper.make_node("QuantizeLinear", ["c", "s", "z"], ["y"], name="q_y"),
    ]
    m = model(nodes, [vi("x", [1, 6], onnx.TensorProto.INT8)], [vi("y", [1, 12], onnx.TensorProto.INT8)], [s, z])
    path = save(m, tmp_path / "pairs.onnx")
    qm = compile_model(str(path), load_config(None), "m", progress=False).model
    xi = np.random.default_rng(3).integers(-128, 128, size=(50, 6)).astype(np.int8)
    assert np.array_equal(run_int8(qm, xi).reshape(50, -1), _ort_int8(path, xi).reshape(50, -1))


def test_log_softmax_takes_the_scale_of_the_quantize_linear_after_it(tmp_path):
    """A QDQ model's LogSoftmax quantized by the model at 0.1 (range [-25.5, 0]), not TFLite's 1/16:
    the int8 output is the model's code for the value, within one code of onnxruntime (which rounds
    the float log-probability), and the C is bit-exact."""
    inits = [tensor("s", np.array(0.2, np.float32)), tensor("z", np.array(0, np.int8)),
             tensor("so", np.array(0.1, np.float32)), tensor("zo", np.array(127, np.int8))]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xd"], name="dq_x"),
             helper.make_node("LogSoftmax", ["xd"], ["l"], name="log_softmax", axis=1),
             helper.make_node("QuantizeLinear", ["l", "so", "zo"], ["y"], name="q_y")]
    m = model(nodes, [vi("x", [1, 10], onnx.TensorProto.INT8)], [vi("y", [1, 10], onnx.TensorProto.INT8)], inits)
    path = save(m, tmp_path / "ls.onnx")
    result, out = _build(path, tmp_path)
    qm = result.compiled.model
    assert (qm.output_tensor.scale, qm.output_tensor.zero_point) == (np.float32(0.1), 127)
    xi = np.random.default_rng(5).integers(-128, 128, size=(64, 10)).astype(np.int8)
    ref = run_int8(qm, xi).reshape(64, -1)
    diff = np.abs(ref.astype(np.int32) - _ort_int8(path, xi).reshape(64, -1).astype(np.int32))
    assert diff.max() <= 1 and ref.min() < 127 - 16 / 0.1  # values below TFLite's -16
    assert np.array_equal(_c_outputs(out, tmp_path, qm, xi), ref)


@pytest.mark.parametrize("scale", [0.1, 1e-5])
def test_log_softmax_scale_fixed_after_a_view(scale, tmp_path):
    """The QuantizeLinear after a Reshape of the LogSoftmax sets its scale too (onnxruntime's codes
    exactly); a scale too fine for the kernel's int32 log multiplier is refused by name, not
    emitted as a constant that overflows."""
    inits = [tensor("s", np.array(0.2, np.float32)), tensor("z", np.array(0, np.int8)),
             tensor("so", np.array(scale, np.float32)), tensor("zo", np.array(127, np.int8)),
             tensor("shape", np.array([1, 2, 5], np.int64))]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xd"], name="dq_x"),
             helper.make_node("LogSoftmax", ["xd"], ["l"], name="log_softmax", axis=1),
             helper.make_node("Reshape", ["l", "shape"], ["r"], name="view"),
             helper.make_node("QuantizeLinear", ["r", "so", "zo"], ["y"], name="q_y")]
    m = model(nodes, [vi("x", [1, 10], onnx.TensorProto.INT8)], [vi("y", [1, 2, 5], onnx.TensorProto.INT8)], inits)
    path = save(m, tmp_path / "ls.onnx")
    if scale < 2e-5:
        with pytest.raises(QnncError, match="LogSoftmax output at scale 1e-05"):
            _build(path, tmp_path)
        assert not (tmp_path / "gen").exists()
        return
    qm = _build(path, tmp_path)[0].compiled.model
    xi = np.random.default_rng(6).integers(-128, 128, size=(64, 10)).astype(np.int8)
    assert np.array_equal(run_int8(qm, xi).reshape(64, -1), _ort_int8(path, xi).reshape(64, -1))


def test_tflite_requantized_tensor_and_sliced_int8_input_build(tmp_path):
    """What tf2onnx makes of a TFLite int8 model: the int8 input read through a Transpose and a Slice
    per step before its DequantizeLinear, and a Tanh output quantized at 1/128 for one reader and at
    another scale for the next (a TFLite requantization). Both build (a note names the second
    scale); the int8 reference stays within 2 LSB of onnxruntime's integer model."""
    s_in, z = tensor("s_in", np.array(0.02, np.float32)), tensor("z", np.array(0, np.int8))
    s_t, s_t2 = tensor("s_t", np.array(1 / 128, np.float32)), tensor("s_t2", np.array(0.009, np.float32))
    N = helper.make_node
    nodes = [N("Transpose", ["x"], ["xt"], name="to_time_major", perm=[1, 0, 2])]
    steps = []
    for k in range(3):
        nodes += [N("Slice", ["xt", f"st{k}", f"en{k}", "ax0"], [f"x{k}"], name=f"step{k}"),
                  N("DequantizeLinear", [f"x{k}", "s_in", "z"], [f"xd{k}"], name=f"dq{k}")]
        steps.append(f"xd{k}")
    nodes += [N("Concat", steps, ["c"], name="concat", axis=2),
              N("Tanh", ["c"], ["t"], name="tanh"),
              N("QuantizeLinear", ["t", "s_t", "z"], ["tq"], name="q_tanh"),
              N("DequantizeLinear", ["tq", "s_t", "z"], ["td"], name="dq_tanh"),
              N("QuantizeLinear", ["td", "s_t2", "z"], ["tq2"], name="q_requant"),
              N("DequantizeLinear", ["tq2", "s_t2", "z"], ["td2"], name="dq_requant"),
              N("Relu", ["td2"], ["r"], name="relu"),
              N("QuantizeLinear", ["r", "s_t2", "z"], ["y"], name="q_y")]
    inits = [s_in, z, s_t, s_t2, tensor("ax0", np.array([0], np.int64))]
    for k in range(3):
        inits += [tensor(f"st{k}", np.array([k], np.int64)), tensor(f"en{k}", np.array([k + 1], np.int64))]
    m = model(nodes, [vi("x", [1, 3, 4], onnx.TensorProto.INT8)], [vi("y", [1, 1, 12], onnx.TensorProto.INT8)], inits)
    path = save(m, tmp_path / "tflite.onnx")
    compiled = compile_model(str(path), load_config(None), "m", progress=False)
    assert any("quantized with" in note and "q_requant" in note for note in compiled.notes), compiled.notes
    xi = np.random.default_rng(4).integers(-128, 128, size=(40, 3, 4)).astype(np.int8)
    got = run_int8(compiled.model, xi.reshape(40, -1)).reshape(40, -1).astype(int)
    assert np.abs(got - _ort_int8(path, xi).reshape(40, -1).astype(int)).max() <= 2


def _fake_quant_mlp(zero_point_on_input: bool = True) -> onnx.ModelProto:
    """QAT-style export: float weights behind QuantizeLinear -> DequantizeLinear, and an int8 model
    input whose DequantizeLinear may leave out the zero point (then it is 0, of the input's type)."""
    rng = np.random.default_rng(11)
    w = (rng.standard_normal((16, 8)) * 0.4).astype(np.float32)
    ws = (np.abs(w).max(axis=0) / 127.0).astype(np.float32)  # per output column (MatMul axis 1)
    b = (rng.standard_normal(8) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "xs"] + (["xz"] if zero_point_on_input else []), ["xd"],
                         name="dq_x"),
        helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"], name="q_w", axis=1),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], name="dq_w", axis=1),
        helper.make_node("MatMul", ["xd", "wd"], ["mm"], name="fc"),
        helper.make_node("Add", ["mm", "b"], ["h"], name="bias"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("QuantizeLinear", ["r", "ys", "yz"], ["y"], name="q_y"),
    ]
    inits = [tensor("xs", np.array(0.05, np.float32)), tensor("w", w), tensor("ws", ws),
             tensor("wz", np.zeros(8, np.int8)), tensor("b", b), tensor("ys", np.array(0.02, np.float32)),
             tensor("yz", np.array(-128, np.int8))]
    if zero_point_on_input:
        inits.append(tensor("xz", np.array(0, np.int8)))
    return model(nodes, [vi("x", [1, 16], onnx.TensorProto.INT8)], [vi("y", [1, 8], onnx.TensorProto.INT8)], inits)


@pytest.mark.parametrize("zero_point_on_input", [True, False], ids=["zp", "no_zp"])
def test_fake_quantized_weights_and_default_zero_points_match_onnxruntime(tmp_path, zero_point_on_input):
    path = save(_fake_quant_mlp(zero_point_on_input), tmp_path / "fq.onnx")
    qm = compile_model(str(path), load_config(None), "m", progress=False).model
    assert qm.input_tensor.zero_point == 0  # DequantizeLinear without a zero point: 0 of the int8 input
    assert not any("asymmetric" in n for n in qm.notes)
    xi = np.random.default_rng(2).integers(-128, 128, size=(200, 16)).astype(np.int8)
    expected = _ort_int8(path, xi).reshape(200, -1)
    assert np.array_equal(run_int8(qm, xi).reshape(200, -1), expected)


def test_tf2onnx_dequantized_int8_input_and_reshaped_int8_output(tmp_path):
    """tf2onnx --dequantize writes a TFLite model's int8 input as Cast -> Sub(zero point) ->
    Mul(scale), and a TFLite output often ends QuantizeLinear -> Reshape: the chain is the input's
    DequantizeLinear, the Reshape keeps the scale of what it reshapes. The int8 reference then
    equals onnxruntime's integer model on the FC (its weights as dequantized float here)."""
    rng = np.random.default_rng(5)
    N = helper.make_node
    nodes = [N("Cast", ["x"], ["xf"], name="cast", to=onnx.TensorProto.FLOAT),
             N("Sub", ["xf", "zp"], ["xc"], name="sub_zp"),
             N("Mul", ["xc", "s"], ["xd"], name="mul_scale"),
             N("MatMul", ["xd", "w"], ["h"], name="fc"),
             N("QuantizeLinear", ["h", "ys", "yz"], ["hq"], name="q_h"),
             N("Reshape", ["hq", "shape"], ["y"], name="to_output")]
    inits = [tensor("zp", np.array(3.0, np.float32)), tensor("s", np.array(0.04, np.float32)),
             tensor("w", (rng.standard_normal((16, 8)) * 0.3).astype(np.float32)),
             tensor("ys", np.array(0.05, np.float32)), tensor("yz", np.array(-2, np.int8)),
             tensor("shape", np.array([1, 2, 4], np.int64))]
    m = model(nodes, [vi("x", [1, 16], onnx.TensorProto.INT8)], [vi("y", [1, 2, 4], onnx.TensorProto.INT8)], inits)
    path = save(m, tmp_path / "deq.onnx")
    qm = compile_model(str(path), load_config(None), "m", progress=False).model
    assert (qm.input_tensor.scale, qm.input_tensor.zero_point) == (np.float32(0.04), 3)
    assert (qm.output_tensor.scale, qm.output_tensor.zero_point) == (np.float32(0.05), -2)
    xi = rng.integers(-128, 128, size=(100, 16)).astype(np.int8)
    got = run_int8(qm, xi).reshape(100, -1).astype(int)
    assert np.abs(got - _ort_int8(path, xi).reshape(100, -1).astype(int)).max() <= 1
    # a subtracted constant that is no integer (an image mean) is no zero point: refused by name
    inits[0] = tensor("zp", np.array(3.5, np.float32))
    m = model(nodes, [vi("x", [1, 16], onnx.TensorProto.INT8)], [vi("y", [1, 2, 4], onnx.TensorProto.INT8)], inits)
    with pytest.raises(QnncError, match="graph input 'x' has no DequantizeLinear"):
        compile_model(str(save(m, tmp_path / "mean.onnx")), load_config(None), "m", progress=False)


def test_int8_output_concatenated_from_quantized_tensors_takes_their_scale(tmp_path):
    """tf2onnx's TFLite int8 model whose output is a Concat (TFLite's CONCATENATION: one scale and
    zero point on all inputs and the output) of a reversed view of the int8 input and a quantized
    layer, with no QuantizeLinear at the output: the output takes that scale, and the reference
    equals onnxruntime's integer model up to its float rounding. Parts of other scales are refused."""
    rng = np.random.default_rng(6)
    N = helper.make_node

    def build_with(out_scale):
        nodes = [N("DequantizeLinear", ["x", "s", "z"], ["xd"], name="dq_x"),
                 N("Flatten", ["xd"], ["xdf"], name="flat_x"),
                 N("MatMul", ["xdf", "w"], ["h"], name="fc"),
                 N("QuantizeLinear", ["h", "hs", "z"], ["hq"], name="q_h"),
                 N("ReverseSequence", ["x", "lens"], ["xr"], name="reverse", batch_axis=0, time_axis=1),
                 N("Flatten", ["xr"], ["xrf"], name="flat_r"),
                 N("Concat", ["xrf", "hq"], ["y"], name="join", axis=1)]
        inits = [tensor("s", np.array(0.04, np.float32)), tensor("z", np.array(3, np.int8)),
                 tensor("hs", np.array(out_scale, np.float32)), tensor("lens", np.array([4], np.int64)),
                 tensor("w", (rng.standard_normal((24, 5)) * 0.2).astype(np.float32))]
        m = model(nodes, [vi("x", [1, 4, 6], onnx.TensorProto.INT8)], [vi("y", [1, 29], onnx.TensorProto.INT8)], inits)
        return save(m, tmp_path / f"concat_{out_scale}.onnx")
    path = build_with(0.04)
    qm = compile_model(str(path), load_config(None), "m", progress=False).model
    assert (qm.output_tensor.scale, qm.output_tensor.zero_point) == (np.float32(0.04), 3)
    xi = rng.integers(-128, 128, size=(64, 1, 4, 6)).astype(np.int8)
    got = run_int8(qm, xi.reshape(64, -1)).reshape(64, -1).astype(int)
    want = _ort_int8(path, xi.reshape(64, 4, 6)).reshape(64, -1).astype(int)
    assert np.array_equal(got[:, :24], want[:, :24])  # the reversed input itself
    assert np.abs(got - want).max() <= 1
    with pytest.raises(QnncError, match="graph output 'y' has no DequantizeLinear"):
        compile_model(str(build_with(0.05)), load_config(None), "m", progress=False)


@pytest.mark.parametrize("codes", [np.int8, np.uint8])
def test_validate_reads_integer_input_data_as_the_codes(codes, tmp_path):
    """A quantized model whose input is int8 (uint8) codes (an int8 TFLite model through tf2onnx):
    data given as integers are those codes, as onnxruntime takes them, not real values quantized
    again (that gave 1,400 LSB mean error); real-valued data still work."""
    from qnnc.validate import validate

    rng = np.random.default_rng(6)
    zx = np.array(-4 if codes == np.int8 else 124, codes)
    wq = np.clip(np.rint(rng.standard_normal((20, 5)) * 30), -127, 127).astype(np.int8)
    N = helper.make_node
    nodes = [N("DequantizeLinear", ["xq", "sx", "zx"], ["x"]), N("DequantizeLinear", ["wq", "sw", "zw"], ["w"]),
             N("MatMul", ["x", "w"], ["m"]), N("QuantizeLinear", ["m", "sy", "zy"], ["yq"])]
    inits = [tensor("sx", np.array(0.02, np.float32)), tensor("zx", zx), tensor("wq", wq),
             tensor("sw", np.array(0.01, np.float32)), tensor("zw", np.array(0, np.int8)),
             tensor("sy", np.array(0.05, np.float32)), tensor("zy", np.array(3, np.int8))]
    elem = onnx.TensorProto.INT8 if codes == np.int8 else onnx.TensorProto.UINT8
    path = save(model(nodes, [vi("xq", [1, 20], elem)], [vi("yq", [1, 5], onnx.TensorProto.INT8)], inits),
                tmp_path / "m.onnx")
    info = np.iinfo(codes)
    xq = rng.integers(info.min, info.max + 1, (16, 20)).astype(codes)
    (tmp_path / "m.yaml").write_text("name: m\n")
    for data in (xq, ((xq.astype(np.float32) - zx) * np.float32(0.02))):
        np.savez(tmp_path / "test.npz", xq=data)
        out = validate(str(path), load_config(str(tmp_path / "m.yaml")), str(tmp_path / "test.npz"), sanitize=False,
                       progress=False)
        assert out["bit_exact"] and out["float_max_abs_error_lsb"] <= 1.0, out["float_max_abs_error_lsb"]
    np.savez(tmp_path / "test.npz", xq=np.full((4, 20), 300, np.int32))  # no code of either type
    with pytest.raises(QnncError, match=f"{np.dtype(codes).name} codes"):
        validate(str(path), load_config(str(tmp_path / "m.yaml")), str(tmp_path / "test.npz"), sanitize=False,
                 progress=False)


@pytest.mark.parametrize("op", ["InstanceNormalization", "LpNormalization"])
def test_quantized_composite_op_builds_with_its_clamped_float_reference(op, tmp_path):
    """A composite op (rewritten as a formula of supported ops) between Q/DQ pairs: the float run
    clamps the quantized tensors after the rewrite, so the formula's tensors keep the names the
    importer gives them and get their calibrated ranges."""
    c = 4
    inits = [tensor("s", np.array(0.05, np.float32)), tensor("z", np.array(0, np.int8)),
             tensor("s2", np.array(0.03, np.float32)), tensor("z2", np.array(0, np.int8)),
             tensor("gamma", np.linspace(0.5, 1.5, c).astype(np.float32)),
             tensor("beta", np.linspace(-0.2, 0.2, c).astype(np.float32))]
    N = helper.make_node
    layer = N(op, ["xd", "gamma", "beta"], ["n"], name="layer") if op == "InstanceNormalization" else \
        N(op, ["xd"], ["n"], name="layer", axis=1, p=2)
    nodes = [N("QuantizeLinear", ["x", "s", "z"], ["xq"]), N("DequantizeLinear", ["xq", "s", "z"], ["xd"]), layer,
             N("QuantizeLinear", ["n", "s2", "z2"], ["nq"]), N("DequantizeLinear", ["nq", "s2", "z2"], ["y"])]
    path = save(model(nodes, [vi("x", [1, c, 5, 5])], [vi("y", [1, c, 5, 5])], inits), tmp_path / "m.onnx")
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "cal.npz", x=rng.standard_normal((24, c, 5, 5)).astype(np.float32))
    result, out = _build(path, tmp_path, "name: m\ncalibration:\n  data: cal.npz\n")
    qm = result.compiled.model
    xs = rng.standard_normal((16, c, 5, 5)).astype(np.float32)
    q_in = quantize_input(qm, xs)
    ref = run_int8(qm, q_in).reshape(16, -1)
    f = _ort_int8_float_io(path, xs).reshape(16, -1)
    assert np.abs((ref.astype(np.float64) - qm.output_tensor.zero_point) * qm.output_tensor.scale - f).max() \
        <= 4 * qm.output_tensor.scale


# ------------------------------------------------------------------------- errors --

def _qdq_relu(zp_dtype=np.int8, scale=np.float32(0.1), per_channel_act=False) -> onnx.ModelProto:
    s = np.full(4, scale, np.float32) if per_channel_act else np.array(scale, np.float32)
    z = np.zeros(4 if per_channel_act else (), zp_dtype)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q", axis=1),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq", axis=1),
             helper.make_node("Relu", ["xd"], ["y"], name="relu")]
    return model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])], [tensor("s", s), tensor("z", z)])


def test_per_channel_activation_quantization_is_a_clear_error(tmp_path):
    path = save(_qdq_relu(per_channel_act=True), tmp_path / "pc.onnx")
    r = run_cli(["build", str(path), "-o", str(tmp_path / "out")])
    assert r.returncode == 2, r.stderr
    assert "per-channel quantization of activations is not supported" in r.stderr
    assert "node 'q'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_changing_bit_widths_of_a_quantized_model_is_a_config_error(tmp_path):
    path = save(_qdq_relu(), tmp_path / "m.onnx")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: m\nquantization:\n  activation_bits: 16\n")
    with pytest.raises(QnncError) as e:
        compile_model(str(path), load_config(str(cfg)), "m", progress=False)
    assert "already quantized" in str(e.value) and "c.yaml:3" in str(e.value)
    cfg.write_text("name: m\nquantization:\n  auto_precision:\n    tolerance: 0.01\n")
    with pytest.raises(QnncError) as e:
        compile_model(str(path), load_config(str(cfg)), "m", progress=False)
    assert "already quantized" in str(e.value) and "auto_precision" in str(e.value)


def test_integer_only_ops_are_refused_with_the_node(tmp_path):
    nodes = [helper.make_node("MatMulInteger", ["x", "w"], ["y"], name="mmi")]
    m = model(nodes, [vi("x", [1, 4], onnx.TensorProto.INT8)], [vi("y", [1, 2], onnx.TensorProto.INT32)],
              [tensor("w", np.ones((4, 2), np.int8))])
    path = save(m, tmp_path / "mmi.onnx")
    r = run_cli(["build", str(path), "-o", str(tmp_path / "out")])
    assert r.returncode == 2 and "MatMulInteger" in r.stderr and "Traceback" not in r.stderr


# --------------------------------------------------------------------- Cortex-M --

@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_kws_official_int8_bit_exact_on_cortex_m(core, tmp_path):
    """The half-even layers take the portable loop on cores with DSP/Helium paths; still bit-exact."""
    H = harness()
    from benchmarks import modelbench as MB
    path = require("mlperf_tiny_kws_dscnn") / "model_int8_qdq_ref.onnx"
    cal, xs = MB.model_inputs(path, 3)
    res = MB.generate(path, tmp_path / "kws", cal)
    q = MB.quantized_inputs(res, xs)
    r = MB.bench_generated(res, tmp_path / "kws" / "gen", q, H.MACHINES[core], tmp_path / "kws" / core,
                           "kws_int8_qdq", hist=False)
    print(f"KWS official int8 on {core}: {r.instructions:,} instructions, "
          f"{r.n_inputs - r.mismatches}/{r.n_inputs} bit-exact")
    assert r.bit_exact, f"{r.mismatches} of {r.n_inputs} outputs differ from the reference"


def test_quantized_model_needs_no_calibration_data_in_a_firmware_build(float_net, tmp_path):
    """QDQ models carry their own scales: --require-calibration (firmware builds) accepts them
    without calibration data, and the summary says where the ranges came from."""
    from onnx_factory import run_cli
    float_path, cal, _ = float_net
    path = _ort_quantize(float_path, tmp_path / "q.onnx", cal, "QDQ", "QInt8", True, reduce_range=True)
    (tmp_path / "c.yaml").write_text("name: q\n")
    r = run_cli(["build", path, "-c", tmp_path / "c.yaml", "-o", tmp_path / "out", "--require-calibration"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().endswith("calibrated on the model's own quantization scales"), r.stdout
    assert "WARNING" not in r.stderr


def test_softmax_output_scale_calibrated_on_float_models_fixed_on_qdq(tmp_path):
    """int8 Softmax output scale 1/M (rules_s8.softmax_inv_output_scale): a float classifier whose softmax
    outputs stay small gets M > 256, its range never ending below 0.5 (M = 509); one whose top class
    reaches 0.84 gets 254.5 // 0.84; a confident one keeps TFLite's 1/256, and so do the QDQ model
    onnxruntime makes of the small one and the small one read by another layer. The generated C
    equals the reference at every M."""
    from onnx_factory import tiny_mlp
    rng = np.random.default_rng(18)
    cal = rng.standard_normal((64, 8)).astype(np.float32)
    test = rng.standard_normal((40, 8)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=cal)
    got = {}
    for case, classes, gain in (("small", 20, 0.05), ("mid", 3, 0.5), ("confident", 4, 20.0)):
        m = tiny_mlp(seed=3, classes=classes)
        w2 = next(i for i in m.graph.initializer if i.name == "w2")
        w2.CopyFrom(tensor("w2", onnx.numpy_helper.to_array(w2) * np.float32(gain)))
        path = save(m, tmp_path / f"{case}.onnx")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        top = max(float(sess.run(None, {"x": x[None]})[0].max()) for x in cal)
        (tmp_path / case).mkdir()
        result, out = _build(path, tmp_path / case, f"name: m\ncalibration:\n  data: {tmp_path / 'cal.npz'}\n"
                                                    "  method: minmax\n")
        qm = result.compiled.model
        soft = next(op for op in qm.ops if op.kind == "softmax")
        got[case] = (soft.params.inv_output_scale, top)
        assert (qm.output_tensor.scale, qm.output_tensor.zero_point) == (1.0 / soft.params.inv_output_scale, -128)
        q_in = quantize_input(qm, test)
        ref = run_int8(qm, q_in).reshape(len(test), -1)
        assert np.array_equal(_c_outputs(out, tmp_path / case, qm, q_in), ref)
        if case == "small":
            qdq = _ort_quantize(path, tmp_path / "small_qdq.onnx", cal, "QDQ", "QInt8", True)
            qqm = compile_model(str(qdq), load_config(None), "m", progress=False).model
            assert (qqm.output_tensor.scale, qqm.output_tensor.zero_point) == (1.0 / 256.0, -128)
            assert next(op for op in qqm.ops if op.kind == "softmax").params.inv_output_scale == 256
    assert got["small"][1] < 0.5 and got["small"][0] == 509, got
    assert 0.6 < got["mid"][1] < 0.85 and got["mid"][0] == int(254.5 // got["mid"][1]), got
    assert got["confident"][1] > 0.95 and got["confident"][0] == 256, got
    # the same small Softmax inside the model (a Gemm reads it, as attention's MatMul) keeps 1/256
    m = tiny_mlp(seed=3, classes=20)
    w2 = next(i for i in m.graph.initializer if i.name == "w2")
    w2.CopyFrom(tensor("w2", onnx.numpy_helper.to_array(w2) * np.float32(0.05)))
    m.graph.node[-1].output[0] = "p"
    m.graph.node.append(helper.make_node("Gemm", ["p", "w3"], ["y"], name="fc3", transB=1))
    m.graph.initializer.append(tensor("w3", rng.standard_normal((4, 20)).astype(np.float32)))
    m.graph.output[0].CopyFrom(vi("y", [1, 4]))
    (tmp_path / "inner").mkdir()
    result, _ = _build(save(m, tmp_path / "inner.onnx"), tmp_path / "inner",
                       f"name: m\ncalibration:\n  data: {tmp_path / 'cal.npz'}\n  method: minmax\n")
    assert next(op for op in result.compiled.model.ops if op.kind == "softmax").params.inv_output_scale == 256
