"""Models quantized by onnxruntime's ``quantize_dynamic`` (DynamicQuantizeLinear + MatMulInteger /
ConvInteger, com.microsoft DynamicQuantizeLSTM) are read as the float model they approximate
(frontend/dynamic_quant.py) and compiled like any float model.

Oracles: onnxruntime on the original float model, and on the dynamically quantized file. The
float reading must be as close to the original as onnxruntime's own run of the quantized file is;
the generated C equals the numpy reference under ASan/UBSan; the int8 build is close to float.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnx_factory import model, tensor, vi
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.errors import ModelError
from qnnc.frontend.dynamic_quant import DYNAMIC_OPS
from qnnc.frontend.float_runner import float_outputs
from qnnc.frontend.importer import convert_opset
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle (pip install onnxruntime)")
quantization = pytest.importorskip("onnxruntime.quantization", reason="onnxruntime's quantization tool")


def _cnn(rng) -> onnx.ModelProto:
    """Conv (per-channel ConvInteger) -> Relu -> Flatten -> Gemm (MatMulInteger + Add)."""
    w = (rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(6) * 0.1).astype(np.float32)
    fc = (rng.standard_normal((4, 6 * 8 * 8)) * 0.05).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], transB=1)]
    return model(nodes, [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4])],
                 [tensor("w", w), tensor("b", b), tensor("fc", fc), tensor("fb", np.zeros(4, np.float32))])


def _lstm(rng) -> onnx.ModelProto:
    """A bidirectional LSTM over x [1, T, I] transposed to [T, 1, I] (DynamicQuantizeLSTM) and a
    MatMul head."""
    t, i, h = 10, 4, 8
    w = (rng.standard_normal((2, 4 * h, i)) * 0.4).astype(np.float32)
    r = (rng.standard_normal((2, 4 * h, h)) * 0.3).astype(np.float32)
    b = (rng.standard_normal((2, 8 * h)) * 0.1).astype(np.float32)
    head = (rng.standard_normal((2 * h, 3)) * 0.3).astype(np.float32)
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "w", "r", "b"], ["", "hn"], hidden_size=h, direction="bidirectional"),
             helper.make_node("Transpose", ["hn"], ["ht"], perm=[1, 0, 2]),
             helper.make_node("Reshape", ["ht", "shape"], ["hf"]),
             helper.make_node("MatMul", ["hf", "head"], ["y"])]
    return model(nodes, [vi("x", [1, t, i])], [vi("y", [1, 3])],
                 [tensor("w", w), tensor("r", r), tensor("b", b), tensor("head", head),
                  tensor("shape", np.array([1, 2 * h], np.int64))])


def _attention_like(rng) -> onnx.ModelProto:
    """x [1, 6, 8] feeds a MatMul and a Transpose (onnxruntime quantizes the Transpose too, reading
    x's quantized copy, and dequantizes after it): scores = (x W) x^T."""
    w = (rng.standard_normal((8, 8)) * 0.3).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["a", "xt"], ["y"])]
    return model(nodes, [vi("x", [1, 6, 8])], [vi("y", [1, 6, 6])], [tensor("w", w)])


CASES = {"cnn": (_cnn, [3, 8, 8], 30.0), "lstm": (_lstm, [10, 4], 30.0), "transposed_input": (_attention_like, [6, 8], 25.0)}  # (model, sample shape, min dB)


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    ref, got = ref.astype(np.float64).reshape(len(ref), -1), got.astype(np.float64).reshape(len(ref), -1)
    return float(10 * np.log10(np.mean(ref ** 2) / max(np.mean((got - ref) ** 2), 1e-30)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_dynamic_quantization_read_as_float_and_compiled(name, tmp_path):
    make, shape, min_sqnr = CASES[name]
    rng = np.random.default_rng(len(name))
    original = tmp_path / "float.onnx"
    onnx.save(make(rng), str(original))
    dynamic = tmp_path / "dynamic.onnx"
    quantization.quantize_dynamic(str(original), str(dynamic), weight_type=quantization.QuantType.QInt8,
                                  per_channel=True,
                                  op_types_to_quantize=["Conv", "MatMul", "Gemm", "LSTM", "Transpose"])
    ops = {n.op_type for n in onnx.load(str(dynamic)).graph.node}
    assert ops & set(DYNAMIC_OPS), ops  # the file is dynamically quantized
    read, _ = convert_opset(onnx.load(str(dynamic)), str(dynamic))
    assert not {n.op_type for n in read.graph.node} & set(DYNAMIC_OPS)

    xs = rng.standard_normal((16, *shape)).astype(np.float32)
    f_orig = float_outputs(str(original), xs)
    f_read = float_outputs(str(dynamic), xs)
    sess = ort.InferenceSession(str(dynamic), providers=["CPUExecutionProvider"])
    f_ort_q = np.concatenate([sess.run(None, {"x": x[None]})[0] for x in xs])
    # the float reading is the weights' dequantized model: at least as close to the original as
    # onnxruntime's run of the dynamically quantized file (which also rounds the activations)
    read_db, ort_db = _sqnr(f_orig, f_read), _sqnr(f_orig, f_ort_q)
    print(f"{name}: float reading {read_db:.1f} dB, onnxruntime dynamic {ort_db:.1f} dB from the float model")
    assert read_db >= ort_db and read_db >= 35.0

    np.savez(tmp_path / "cal.npz", x=xs)
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
    qm = build(str(dynamic), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m",
               progress=False).compiled.model
    q_in = quantize_input(qm, xs)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    exe = compile_driver(str(tmp_path / "gen"), "m", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size), ref)
    db = _sqnr(f_orig, dequantize_output(qm, ref))
    print(f"{name}: int8 build {db:.1f} dB from the original float model")
    assert db >= min_sqnr


def test_matmul_integer_of_two_activations_reads_as_their_float_product(tmp_path):
    """Both operands dynamically quantized (attention's scores): a MatMul of the float operands."""
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("DynamicQuantizeLinear", ["xt"], ["tq", "ts", "tz"]),
             helper.make_node("MatMulInteger", ["xq", "tq", "xz", "tz"], ["i"]),
             helper.make_node("Cast", ["i"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["xs", "ts"], ["s"]), helper.make_node("Mul", ["f", "s"], ["y"])]
    path = tmp_path / "scores.onnx"
    onnx.save(model(nodes, [vi("x", [1, 6, 8])], [vi("y", [1, 6, 6])]), str(path))
    xs = np.random.default_rng(5).standard_normal((16, 6, 8)).astype(np.float32)
    f = float_outputs(str(path), xs)
    np.testing.assert_allclose(f, np.matmul(xs, xs.transpose(0, 2, 1)).reshape(f.shape), rtol=1e-5, atol=1e-5)
    np.savez(tmp_path / "cal.npz", x=xs)
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
    qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m",
               progress=False).compiled.model
    q_in = quantize_input(qm, xs)
    exe = compile_driver(str(tmp_path / "gen"), "m", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size),
                          run_int8(qm, q_in).reshape(len(xs), -1))


def test_dequantized_dynamic_quantization_reads_as_the_float_input(tmp_path):
    """tf2onnx writes a TFLite dynamic-range model's hybrid fully connected layer as
    DequantizeLinear(DynamicQuantizeLinear(x)) before a MatMul of dequantized int8 weights: read
    as the MatMul of the float x. The float reading equals the formula; C equals the reference."""
    rng = np.random.default_rng(6)
    wq = rng.integers(-127, 128, (8, 5)).astype(np.int8)
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("DynamicQuantizeLinear", ["r"], ["rq", "rs", "rz"]),
             helper.make_node("DequantizeLinear", ["rq", "rs", "rz"], ["rd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"]),
             helper.make_node("MatMul", ["rd", "w"], ["y"])]
    path = tmp_path / "drq.onnx"
    onnx.save(model(nodes, [vi("x", [1, 8])], [vi("y", [1, 5])],
                    [tensor("wq", wq), tensor("ws", np.array(0.01, np.float32))]), str(path))
    xs = rng.standard_normal((32, 8)).astype(np.float32)
    f = float_outputs(str(path), xs)
    np.testing.assert_allclose(f, np.maximum(xs, 0) @ (wq.astype(np.float32) * 0.01), rtol=1e-5, atol=1e-5)
    np.savez(tmp_path / "cal.npz", x=xs)
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
    qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m",
               progress=False).compiled.model
    assert [o.kind for o in qm.ops] == ["lut", "fully_connected"]  # the Relu, the MatMul
    q_in = quantize_input(qm, xs)
    exe = compile_driver(str(tmp_path / "gen"), "m", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size),
                          run_int8(qm, q_in).reshape(len(xs), -1))


def test_matmul_integer_of_a_model_input_is_refused_by_name(tmp_path):
    """A MatMulInteger not fed by a DynamicQuantizeLinear is no dynamic quantization: refused by name."""
    nodes = [helper.make_node("MatMulInteger", ["x", "w"], ["i"], name="mmi"),
             helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)]
    m = model(nodes, [vi("x", [1, 4], TensorProto.INT8)], [vi("y", [1, 2])],
              [tensor("w", np.ones((4, 2), np.int8))])
    path = tmp_path / "mmi.onnx"
    onnx.save(m, str(path))
    with pytest.raises(ModelError) as e:
        build(str(path), load_config(None), str(tmp_path / "gen"), "m", progress=False)
    assert "mmi" in str(e.value) and "DynamicQuantizeLinear" in str(e.value), str(e.value)
