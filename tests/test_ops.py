"""Every supported ONNX op, as a small synthetic model: C bit-exact with the reference under
sanitizers, and the reference close to float onnxruntime."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from onnx_factory import GraphBuilder
from qnnc.build import build
from qnnc.config import load_config
from qnnc.frontend.float_runner import float_outputs
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

RNG = np.random.default_rng(1234)


def w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)



class M(GraphBuilder):
    """The shared builder; ``finish(last, path)``: the last node made is the output."""

    def finish(self, last: str, path: Path) -> Path:  # noqa: ARG002 - kept for the case functions' calls
        return super().finish(path)


def conv(m, x, cin, cout, k=3, stride=1, pad=1, group=1, dil=1, bias=True):
    ins = [x, m.const(w(cout, cin // group, k, k))] + ([m.const(w(cout, scale=0.1))] if bias else [])
    return m.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group,
                dilations=[dil, dil])


def case_conv_stride_dilation(m):
    return m.op("Relu", [conv(m, conv(m, "x", 3, 8, stride=2), 8, 6, dil=2, pad=2)])


def case_depthwise_multiplier(m):
    return conv(m, "x", 3, 6, group=3)


def case_conv_no_bias_relu6(m):
    return m.op("Clip", [conv(m, "x", 3, 4, k=1, pad=0, bias=False), m.const(np.float32(0)), m.const(np.float32(6))])


def case_conv_leaky_fused(m):
    return m.op("LeakyRelu", [conv(m, "x", 3, 5)], alpha=0.1)


def case_batchnorm_folded_and_standalone(m):
    c = conv(m, "x", 3, 4)
    bn = lambda t, ch: m.op("BatchNormalization", [t, m.const(w(ch) + 1), m.const(w(ch)), m.const(w(ch)),
                                                    m.const(np.abs(w(ch)) + 0.5)], epsilon=1e-5)
    return bn(m.op("Relu", [bn(c, 4)]), 4)


def case_float_to_float_cast(m):                   # PyTorch legacy export of clamp(min=tensor): a no-op Cast
    return m.op("Relu", [m.op("Cast", [conv(m, "x", 3, 4)], to=onnx.TensorProto.FLOAT)])


def case_batchnorm_on_features_after_relu(m):        # PyTorch Linear -> ReLU -> BatchNorm1d: (N, C)
    f = m.op("Relu", [m.op("Gemm", [m.op("Flatten", ["x"], axis=1), m.const(w(10, 48)), m.const(w(10))], transB=1)])
    return m.op("BatchNormalization", [f, m.const(w(10) + 1), m.const(w(10)), m.const(w(10)),
                                       m.const(np.abs(w(10)) + 0.5)], epsilon=1e-5)


def case_gemm_transb_alpha(m):
    f = m.op("Flatten", ["x"], axis=1)
    return m.op("Gemm", [f, m.const(w(48, 7)), m.const(w(7))], alpha=0.5, beta=2.0, transB=0)


def case_matmul_add_sigmoid(m):
    f = m.op("Reshape", ["x", m.const(np.array([1, 48], np.int64))])
    return m.op("Sigmoid", [m.op("Add", [m.op("MatMul", [f, m.const(w(48, 10))]), m.const(w(10))])])


def case_tanh_softmax(m):
    f = m.op("Flatten", ["x"], axis=1)
    g = m.op("Gemm", [f, m.const(w(10, 48)), m.const(w(10))], transB=1)
    return m.op("Softmax", [m.op("Tanh", [g])], axis=-1)


def case_residual_add_relu(m):
    a = conv(m, "x", 3, 4)
    b = conv(m, a, 4, 4)
    return m.op("Relu", [m.op("Add", [a, b])])


def case_mul_broadcast_and_const(m):
    a = conv(m, "x", 3, 4)
    gap = m.op("GlobalAveragePool", [a])
    s = m.op("Sigmoid", [gap])
    return m.op("Mul", [m.op("Mul", [a, s]), m.const(w(4, 1, 1) + 1.0)])


def case_sub_div_const(m):
    return m.op("Div", [m.op("Sub", ["x", m.const(w(3, 1, 1))]), m.const(np.float32(2.5))])


def case_pools(m):
    a = m.op("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    b = m.op("AveragePool", [a], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 1, 1])
    return m.op("AveragePool", [b], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1,
                ceil_mode=1)


def case_concat_transpose_pad(m):
    a = conv(m, "x", 3, 4)
    b = m.op("Mul", [conv(m, "x", 3, 2), m.const(np.float32(3.0))])
    c = m.op("Concat", [a, b], axis=1)
    p = m.op("Pad", [c, m.const(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)), m.const(np.float32(0.5))])
    return m.op("Transpose", [p], perm=[0, 2, 1, 3])


def case_views_identity_dropout(m):
    a = m.op("Identity", ["x"])
    b = m.op("Dropout", [a])
    c = m.op("Unsqueeze", [b, m.const(np.array([0], np.int64))])
    d = m.op("Squeeze", [c, m.const(np.array([0], np.int64))])
    e = m.op("Flatten", [d], axis=1)
    return m.op("LeakyRelu", [m.op("Relu", [e])], alpha=0.2)


def case_standalone_clip_after_pool(m):
    return m.op("Clip", [m.op("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2]),
                         m.const(np.float32(-0.5)), m.const(np.float32(0.8))])


def case_shape_folding(m):
    s = m.op("Shape", ["x"])
    g = m.op("Gather", [s, m.const(np.array(0, np.int64))], axis=0)
    u = m.op("Unsqueeze", [g, m.const(np.array([0], np.int64))])
    shape = m.op("Concat", [u, m.const(np.array([-1], np.int64))], axis=0)
    m.out_shape = [1, 48]
    return m.op("Softmax", [m.op("Reshape", ["x", shape])], axis=1)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}
INPUT_SHAPE = [1, 3, 4, 4]


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_case(case, tmp_path):
    m = M(INPUT_SHAPE)
    last = CASES[case](m)
    model = m.finish(last, tmp_path / f"{case}.onnx")
    cal = RNG.standard_normal((48, *INPUT_SHAPE[1:])).astype(np.float32)
    test = RNG.standard_normal((32, *INPUT_SHAPE[1:])).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=cal)
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n")
    cfg = load_config(str(tmp_path / "q.yaml"))
    res = build(str(model), cfg, str(tmp_path / "gen"), "op", progress=False)
    qm = res.compiled.model

    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    c_out = run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size)
    assert np.array_equal(c_out, ref), f"{case}: C differs from the reference"

    f = float_outputs(str(model), test).reshape(len(test), -1)
    deq = dequantize_output(qm, ref).astype(np.float64)
    err = np.abs(deq - f) / qm.output_tensor.scale
    signal = np.mean(f ** 2)
    sqnr = 10 * np.log10(signal / max(np.mean((deq - f) ** 2), 1e-30)) if signal > 0 else np.inf
    print(f"{case}: ops {[o.kind for o in qm.ops]}, mean |err| {err.mean():.2f} LSB, max {err.max():.1f} LSB, "
          f"SQNR {sqnr:.1f} dB")
    # Several int8 layers in a row: a few LSB of error on average, and a clean signal.
    assert err.mean() < 3.0
    assert sqnr > 20.0


def _pool_build(tmp_path: Path, pads):
    """relu(conv(x)) -> AveragePool over the whole 4x4 plane (with ``pads``) as the model output."""
    m = M(INPUT_SHAPE)
    a = m.op("Relu", [conv(m, "x", 3, 8)])
    k = 4 + pads[0] + pads[2]
    last = m.op("AveragePool", [a], kernel_shape=[k, k], strides=[1, 1], pads=pads)
    model = m.finish(last, tmp_path / "pool.onnx")
    np.savez(tmp_path / "cal.npz", x=RNG.standard_normal((48, *INPUT_SHAPE[1:])).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n  method: minmax\n")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False)
    qm = res.compiled.model
    return qm, next(o for o in qm.ops if o.kind == "avg_pool")


def test_global_average_pool_requantizes_to_its_finer_output_scale(tmp_path):
    """The mean of 16 ReLU outputs spans a narrower range than they do: the int8 pool output gets
    its own calibrated scale, the kernel requantizes each window sum (close to the exact mean of its
    int8 inputs: TFLite's requantization rounding only), and the C matches the reference."""
    from qnnc.reference.interpreter import run
    qm, op = _pool_build(tmp_path, [0, 0, 0, 0])
    x_t, y_t = qm.tensors[op.inputs[0]], qm.tensors[op.output]
    assert op.params.multiplier != 0 and y_t.scale < 0.75 * x_t.scale
    test = np.random.default_rng(5).standard_normal((32, *INPUT_SHAPE[1:])).astype(np.float32)
    q_in = quantize_input(qm, test)
    exact, got = [], []
    for i in range(len(test)):
        vals = run(qm, q_in[i], keep=[op.inputs[0], op.output])
        xin = (vals[op.inputs[0]].astype(np.float64) - x_t.zero_point) * x_t.scale
        exact.append(xin.reshape(16, 8).mean(axis=0))
        got.append(vals[op.output].astype(np.float64).ravel())
    got = np.array(got)
    inside = (got > -128) & (got < 127)  # a mean beyond the calibrated range saturates, as any tensor
    assert inside.mean() > 0.8
    err = np.abs((got - y_t.zero_point) * y_t.scale - np.array(exact))[inside] / y_t.scale
    # TFLite's requantization rounds twice: the doubling high multiply to an integer, then the
    # right shift, which halves that first rounding's error for every bit it shifts
    assert err.max() <= 0.5 + 0.5 / 2 ** max(0, -op.params.shift) + 1e-6
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    c_out = run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size)
    assert np.array_equal(c_out, run_int8(qm, q_in).reshape(len(test), -1))


def test_padded_average_pool_keeps_its_input_scale(tmp_path):
    """Windows that reach into the padding count fewer cells: such a pool shares its input's scale
    and divides each window's sum by its own count."""
    qm, op = _pool_build(tmp_path, [1, 1, 1, 1])
    assert op.params.multiplier == 0
    assert qm.tensors[op.output].scale == qm.tensors[op.inputs[0]].scale
