"""Grouped Conv, ConvTranspose and MatMul / Gemm of two activations (qnnc_conv_general_s8,
qnnc_batch_matmul_s8): small ONNX models built with onnx.helper, the generated C bit-exact with
the numpy reference under ASan/UBSan, the reference close to float onnxruntime, random kernel
cases against the reference, and clean refusals of the variants without a kernel."""
from __future__ import annotations

import subprocess
import zlib

import numpy as np
import pytest

from c_build import compile_c, include_dir, runtime_dir, sanitizer_env
from onnx_factory import GraphBuilder
from qnnc.build import build
from qnnc.config import load_config
from qnnc.errors import ModelError
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.frontend.float_runner import float_outputs
from qnnc.inspect_model import inspect_model
from qnnc.kernel_params import BatchMatmulParams, ConvGeneralParams
from qnnc.reference import kernels_conv_general as KG
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

RNG = np.random.default_rng(20261203)


@pytest.fixture(autouse=True)
def _rng_per_test(request):
    """Each test draws from its own seeded stream (the module's RNG, reseeded by the test's name):
    its weights and data do not depend on which tests ran before it in the process."""
    global RNG
    RNG = np.random.default_rng(zlib.crc32(request.node.name.encode()))


def w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)



M = GraphBuilder


def conv(m, x, cin, cout, k=3, group=1, bias=True, **attrs):
    ins = [x, m.const(w(cout, cin // group, k, k))] + ([m.const(w(cout, scale=0.1))] if bias else [])
    return m.op("Conv", ins, kernel_shape=[k, k], group=group, **attrs)


def convt(m, x, cin, cout, k=3, group=1, bias=True, **attrs):
    ins = [x, m.const(w(cin, cout // group, k, k))] + ([m.const(w(cout, scale=0.1))] if bias else [])
    return m.op("ConvTranspose", ins, kernel_shape=[k, k], group=group, **attrs)


# ------------------------------------------------------------------------------ cases --
# Each case: (input shape, builder, op kind the lowered model must contain, max error bound in
# output LSB on in-range data (the calibration samples), config extras). One int8 layer: at most
# 3 LSB (input and weight rounding propagated through the taps, plus the output rounding; measured
# 0.9 - 2.6); the attention chain (5 int8 layers and a softmax): 4 LSB (measured 3.4).

def case_grouped_3x3(m):                        # ResNeXt-style 3x3 groups
    return conv(m, "x", 4, 6, group=2, pads=[1, 1, 1, 1])


def case_grouped_1x1_relu(m):                   # ShuffleNet v1: group=3 1x1, fused Relu, no bias
    return m.op("Relu", [conv(m, "x", 6, 12, k=1, group=3, bias=False)])


def case_grouped_stride_dilation_clip(m):       # stride 2, dilation 2, asymmetric pads, Relu6
    c = conv(m, "x", 8, 8, group=4, strides=[2, 2], dilations=[2, 2], pads=[1, 2, 2, 1])
    return m.op("Clip", [c, m.const(np.float32(0.0)), m.const(np.float32(6.0))])


def case_grouped_batchnorm(m):                  # PyTorch Conv2d(groups) + BatchNorm2d (folded)
    c = conv(m, "x", 6, 9, group=3, pads=[1, 1, 1, 1])
    return m.op("BatchNormalization", [c, m.const(w(9) + 1), m.const(w(9)), m.const(w(9)),
                                       m.const(np.abs(w(9)) + 0.5)], epsilon=1e-5)


def case_convt_unet_k2s2_relu(m):               # U-Net up-sampling: k2 s2, bias, fused Relu
    return m.op("Relu", [convt(m, "x", 6, 4, k=2, strides=[2, 2])])


def case_convt_k3s2_output_padding(m):          # PyTorch ConvTranspose2d(3, 2, 1, output_padding=1)
    return convt(m, "x", 6, 5, strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1], bias=False)


def case_convt_k4s2p1_leaky(m):                 # DCGAN generator block
    return m.op("LeakyRelu", [convt(m, "x", 6, 4, k=4, strides=[2, 2], pads=[1, 1, 1, 1])], alpha=0.2)


def case_convt_dilation_asym(m):                # dilations, different strides per axis, asym pads
    return convt(m, "x", 6, 3, dilations=[2, 1], strides=[1, 2], pads=[0, 1, 2, 0])


def case_convt_same_upper(m):                   # tf2onnx: auto_pad SAME_UPPER (odd total padding)
    return convt(m, "x", 6, 4, strides=[2, 2], auto_pad="SAME_UPPER")


def case_convt_output_shape(m):                 # output_shape attribute (pads computed)
    return convt(m, "x", 6, 4, strides=[2, 2], output_shape=[10, 9])


def case_convt_grouped_and_depthwise(m):
    a = convt(m, "x", 6, 4, group=2, strides=[2, 2], pads=[1, 1, 1, 1])
    return convt(m, a, 4, 4, k=2, group=4, strides=[1, 1])


def case_attention_3d(m):                       # softmax(Q K^T / sqrt(d)) V on (1, T, D)
    q = m.op("MatMul", ["x", m.const(w(8, 8))])
    k = m.op("MatMul", ["x", m.const(w(8, 8))])
    v = m.op("MatMul", ["x", m.const(w(8, 8))])
    s = m.op("MatMul", [q, m.op("Transpose", [k], perm=[0, 2, 1])])
    p = m.op("Softmax", [m.op("Mul", [s, m.const(np.float32(8 ** -0.5))])], axis=-1)
    return m.op("MatMul", [p, v])


def case_matmul_4d_heads(m):                    # (1, heads, T, d) @ (1, heads, d, T), NHWC inside
    s = m.op("MatMul", ["x", m.op("Transpose", ["x"], perm=[0, 1, 3, 2])])
    return m.op("MatMul", [m.op("Sigmoid", [s]), "x"])


def case_matmul_broadcast_batch(m):             # (1, 2, 3, 4) @ (1, 1, 4, 6): batch dim broadcast
    b = m.op("Reshape", [m.op("Relu", ["x"]), m.const(np.array([1, 1, 4, 6], np.int64))])
    return m.op("MatMul", ["x", b])


def case_matmul_3d_by_2d_activation(m):         # (1, 4, 6) @ (6, 4)
    b = m.op("Reshape", [m.op("Tanh", ["x"]), m.const(np.array([6, 4], np.int64))])
    return m.op("MatMul", ["x", b])


def case_gemm_transb_alpha_c(m):                # Gemm(A, B^T) * alpha + beta * C, B computed
    a = m.op("Reshape", ["x", m.const(np.array([3, 4], np.int64))])
    b = m.op("Sigmoid", [a])
    return m.op("Gemm", [a, b, m.const(w(3))], transB=1, alpha=0.5, beta=2.0)


def case_convt_1d_k3s2_output_padding(m):       # PyTorch ConvTranspose1d(4, 3, 3, 2, 1, output_padding=1)
    return m.op("ConvTranspose", ["x", m.const(w(4, 3, 3)), m.const(w(3))], strides=[2], pads=[1, 1],
                output_padding=[1])


def case_convt_1d_grouped_relu(m):              # audio decoder: grouped 1-D upsampling, kernel 4, stride 2
    return m.op("Relu", [m.op("ConvTranspose", ["x", m.const(w(4, 2, 4))], strides=[2], pads=[1, 1], group=2)])


def case_gemm_computed_c(m):                    # Gemm(A, B, C) with B and C computed: a product and an Add
    a = m.op("Reshape", ["x", m.const(np.array([3, 3], np.int64))])
    return m.op("Gemm", [a, m.op("Relu", [a]), m.op("Sigmoid", [a])], beta=0.5)


def case_conv_computed_bias(m):                 # tf2onnx: Add(Conv(x), y[1, C, 1, 1]) as Conv(x, W, Squeeze(y))
    y = m.op("ReduceMean", [conv(m, "x", 6, 4, k=1)], axes=[2, 3], keepdims=1)
    bias = m.op("Squeeze", [y, m.const(np.array([0, 2, 3], np.int64))])
    return m.op("Relu", [m.op("Conv", ["x", m.const(w(4, 6, 3, 3)), bias], kernel_shape=[3, 3], pads=[1, 1, 1, 1])])


def case_convt_computed_bias(m):                # the same with a ConvTranspose
    y = m.op("ReduceMean", [conv(m, "x", 6, 4, k=1)], axes=[2, 3], keepdims=1)
    bias = m.op("Squeeze", [y, m.const(np.array([0, 2, 3], np.int64))])
    return m.op("ConvTranspose", ["x", m.const(w(6, 4, 2, 2)), bias], strides=[2, 2])


def case_gemm_transa_const_b(m):                # transA with a constant B
    a = m.op("Reshape", ["x", m.const(np.array([4, 3], np.int64))])
    return m.op("Gemm", [a, m.const(w(4, 5))], transA=1)


def case_matmul_const_left(m):                  # constant @ activation
    b = m.op("Reshape", ["x", m.const(np.array([4, 3], np.int64))])
    return m.op("MatMul", [m.const(w(5, 4)), b])


CASES = {
    "grouped_3x3": ([1, 4, 6, 5], case_grouped_3x3, "conv_general", 3.0, ""),
    "grouped_1x1_relu": ([1, 6, 4, 4], case_grouped_1x1_relu, "conv_general", 3.0, ""),
    "grouped_stride_dilation_clip": ([1, 8, 7, 8], case_grouped_stride_dilation_clip, "conv_general", 3.0,
                                     "quantization:\n  rounding: half_even\n"),
    "grouped_batchnorm": ([1, 6, 5, 5], case_grouped_batchnorm, "conv_general", 3.0,
                          "quantization:\n  bias_correction: true\n"),
    "convt_unet_k2s2_relu": ([1, 6, 4, 4], case_convt_unet_k2s2_relu, "conv_general", 3.0, ""),
    "convt_k3s2_output_padding": ([1, 6, 4, 5], case_convt_k3s2_output_padding, "conv_general", 3.0,
                                  "quantization:\n  bias_correction: true\n"),
    "convt_k4s2p1_leaky": ([1, 6, 4, 4], case_convt_k4s2p1_leaky, "conv_general", 3.0, ""),
    "convt_dilation_asym": ([1, 6, 4, 5], case_convt_dilation_asym, "conv_general", 3.0, ""),
    "convt_same_upper": ([1, 6, 5, 5], case_convt_same_upper, "conv_general", 3.0, ""),
    "convt_output_shape": ([1, 6, 5, 5], case_convt_output_shape, "conv_general", 3.0, ""),
    "convt_grouped_and_depthwise": ([1, 6, 4, 4], case_convt_grouped_and_depthwise, "conv_general", 3.0, ""),
    "attention_3d": ([1, 6, 8], case_attention_3d, "batch_matmul", 4.0, ""),
    "matmul_4d_heads": ([1, 2, 4, 8], case_matmul_4d_heads, "batch_matmul", 4.0, ""),
    "matmul_broadcast_batch": ([1, 2, 3, 4], case_matmul_broadcast_batch, "batch_matmul", 3.0, ""),
    "matmul_3d_by_2d_activation": ([1, 4, 6], case_matmul_3d_by_2d_activation, "batch_matmul", 3.0, ""),
    "gemm_transb_alpha_c": ([1, 12], case_gemm_transb_alpha_c, "batch_matmul", 3.0, ""),
    "gemm_transa_const_b": ([1, 12], case_gemm_transa_const_b, "batch_matmul", 3.0, ""),
    "gemm_computed_c": ([1, 9], case_gemm_computed_c, "batch_matmul", 3.0, ""),
    "conv_computed_bias": ([1, 6, 5, 5], case_conv_computed_bias, "conv", 4.0, ""),
    "convt_computed_bias": ([1, 6, 5, 5], case_convt_computed_bias, "conv_general", 4.0, ""),
    "convt_1d_k3s2_output_padding": ([1, 4, 6], case_convt_1d_k3s2_output_padding, "conv_general", 3.0, ""),
    "convt_1d_grouped_relu": ([1, 4, 7], case_convt_1d_grouped_relu, "conv_general", 3.0, ""),
    "matmul_const_left": ([1, 12], case_matmul_const_left, "batch_matmul", 3.0, ""),
}


def _build(tmp_path, case, shape, builder, extra=""):
    m = M(shape)
    builder(m)
    path = m.finish(tmp_path / f"{case}.onnx")
    cal = RNG.standard_normal((48, *shape[1:])).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=cal)
    # min-max ranges: the bound is for in-range data (auto calibration may choose clipped ranges)
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n  method: minmax\n" + extra)
    res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False)
    return path, cal, res.compiled.model


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_case(case, tmp_path):
    shape, builder, kind, bound, extra = CASES[case]
    path, cal, qm = _build(tmp_path, case, shape, builder, extra)
    assert kind in [o.kind for o in qm.ops]

    # C bit-exact with the reference under ASan/UBSan, on in-range and out-of-range inputs.
    test = np.concatenate([cal[:16], 2.5 * RNG.standard_normal((16, *shape[1:])).astype(np.float32)])
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    c_out = run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size)
    assert np.array_equal(c_out, ref), f"{case}: C differs from the reference"

    # Reference close to float onnxruntime on in-range data (the calibration samples).
    xs = cal[:24]
    f = float_outputs(str(path), xs).reshape(len(xs), -1).astype(np.float64)
    deq = dequantize_output(qm, run_int8(qm, quantize_input(qm, xs)).reshape(len(xs), -1)).astype(np.float64)
    err = np.abs(deq - f) / qm.output_tensor.scale
    sqnr = 10 * np.log10(np.mean(f ** 2) / max(np.mean((deq - f) ** 2), 1e-30))
    print(f"{case}: ops {[o.kind for o in qm.ops]}, max |err| {err.max():.2f} LSB, mean {err.mean():.3f} LSB, "
          f"SQNR {sqnr:.1f} dB")
    assert err.max() <= bound, f"{case}: max error {err.max():.2f} LSB > {bound}"
    assert err.mean() < 0.6
    assert sqnr > 30.0


def test_matmul_3d_by_constant_is_fully_connected(tmp_path):
    """A (1, T, D) @ constant (D, E) MatMul (transformer linear layers) is a fully connected layer
    (per-channel int8 weights), not a batch_matmul."""
    def builder(m):
        return m.op("Add", [m.op("MatMul", ["x", m.const(w(8, 5))]), m.const(w(5))])
    _, _, qm = _build(tmp_path, "fc3d", [1, 6, 8], builder)
    assert [o.kind for o in qm.ops] == ["fully_connected"]
    assert qm.ops[0].attrs["rows"] == 6


# ----------------------------------------------------------------------------- refusals --

def _refusal(tmp_path, shape, builder, extra=""):
    with pytest.raises(ModelError) as e:
        _build(tmp_path, "refused", shape, builder, extra)
    return e.value.format()


def test_refuses_convtranspose_with_computed_weights(tmp_path):
    def builder(m):
        wt = m.op("Reshape", ["x", m.const(np.array([4, 1, 3, 3], np.int64))])
        return m.op("ConvTranspose", ["x", wt])
    msg = _refusal(tmp_path, [1, 4, 3, 3], builder)
    assert "ConvTranspose_2" in msg and "ConvTranspose" in msg and "weights must be a constant" in msg


def test_refuses_gemm_with_negative_alpha(tmp_path):
    def builder(m):
        a = m.op("Reshape", ["x", m.const(np.array([3, 4], np.int64))])
        return m.op("Gemm", [a, m.op("Relu", [a])], transB=1, alpha=-1.0)
    msg = _refusal(tmp_path, [1, 12], builder)
    assert "Gemm_3" in msg and "alpha=-1.0 is not supported" in msg


def test_refuses_matmul_of_rank_5(tmp_path):
    def builder(m):
        return m.op("MatMul", ["x", "x"])
    msg = _refusal(tmp_path, [1, 1, 2, 4, 4], builder)
    assert "MatMul_1" in msg and "ranks 1 to 4" in msg


def test_refuses_matmul_whose_accumulator_could_overflow(tmp_path):
    k = 140000  # 140000 * 128 * 128 > 2^31 - 1 whatever the zero points
    def builder(m):
        a = m.op("Reshape", ["x", m.const(np.array([1, k], np.int64))])
        b = m.op("Reshape", [m.op("Relu", ["x"]), m.const(np.array([k, 1], np.int64))])
        return m.op("MatMul", [a, b])
    msg = _refusal(tmp_path, [1, k], builder)
    assert "MatMul_4" in msg and "accumulator could overflow" in msg


def test_int4_weights_leave_grouped_conv_at_int8(tmp_path):
    """weight_bits: 4 packs the Conv/FC layers with an int4 kernel; a grouped convolution (no _s4
    variant) keeps int8 weights instead of failing the build (or the automatic precision search)."""
    def builder(m):
        return conv(m, conv(m, "x", 4, 6, group=2, pads=[1, 1, 1, 1]), 6, 4)
    _, _, qm = _build(tmp_path, "int4", [1, 4, 5, 5], builder, "quantization:\n  weight_bits: 4\n")
    grouped, dense = qm.ops[1], qm.ops[2]
    assert grouped.kind == "conv_general" and "weight_bits" not in grouped.attrs
    assert np.abs(grouped.consts["filter"].astype(int)).max() == 127  # int8 values, unpacked
    assert dense.kind == "conv" and dense.attrs.get("weight_bits") == 4


# ------------------------------------------------------------------------------ inspect --

def test_inspect_reports_matmul_of_activations(tmp_path):
    """inspect says yes for a supported MatMul of two activations (and it compiles), and no, with the
    reason, for a variant without a kernel (rank 5); MACs count K from the left operand."""
    m = M([1, 6, 8])
    case_attention_3d(m)
    path = m.finish(tmp_path / "att.onnx")
    info = inspect_model(str(path))
    mm = [n for n in info["nodes"] if n["op"] == "MatMul"]
    assert info["compiles"] and all(n["supported"] for n in mm)
    assert [n["macs"] for n in mm] == [6 * 8 * 8] * 3 + [6 * 6 * 8, 6 * 8 * 6]
    m5 = M([1, 1, 2, 4, 4])
    m5.op("MatMul", ["x", "x"])
    info5 = inspect_model(str(m5.finish(tmp_path / "r5.onnx")))
    node = next(n for n in info5["nodes"] if n["op"] == "MatMul")
    assert not node["supported"] and "rank 5 x 5" in node["why"] and not info5["compiles"]


# ------------------------------------------------------------------------ random kernels --

def _c_array(ctype, name, arr):
    vals = ", ".join(str(int(v)) for v in np.asarray(arr).reshape(-1)) or "0"
    return f"static const {ctype} {name}[] = {{{vals}}};\n"


def _dims(d):
    return "{" + ", ".join(str(int(v)) for v in d) + "}"


def _conv_case(i, rng):
    groups = int(rng.choice([1, 2, 3]))
    icg, ocg = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    kh, kw = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    h, wd = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    transposed = int(rng.integers(0, 2))
    sh, sw = (int(v) for v in rng.integers(1, 5, 2))
    dh, dw = (int(v) for v in rng.integers(1, 4, 2))
    pt, pl = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    if transposed:
        oh = max(1, (h - 1) * sh + (kh - 1) * dh + 1 - pt + int(rng.integers(-1, 3)))
        ow = max(1, (wd - 1) * sw + (kw - 1) * dw + 1 - pl + int(rng.integers(-1, 3)))
    else:
        oh = max(1, (h + pt + int(rng.integers(0, 2)) - (kh - 1) * dh - 1) // sh + 1)
        ow = max(1, (wd + pl + int(rng.integers(0, 2)) - (kw - 1) * dw - 1) // sw + 1)
    ic, oc = icg * groups, ocg * groups
    out_zp = int(rng.integers(-128, 128))
    lo = int(rng.integers(-128, 0))
    p = ConvGeneralParams(input_offset=int(rng.integers(-127, 129)), output_offset=out_zp, stride_h=sh,
                          stride_w=sw, pad_top=pt, pad_left=pl, dilation_h=dh, dilation_w=dw, groups=groups,
                          transposed=transposed, act_min=lo, act_max=int(rng.integers(lo, 128)),
                          act_lut=rng.integers(-128, 128, 256).astype(np.int8) if i % 5 == 0 else None,
                          rounding=int(rng.integers(0, 2)))
    x = rng.integers(-128, 128, (1, h, wd, ic)).astype(np.int8)
    f = rng.integers(-127, 128, (oc, kh, kw, icg)).astype(np.int8)
    bias = rng.integers(-5000, 5000, oc).astype(np.int32)
    mult = rng.integers(1 << 30, (1 << 31) - 1, oc).astype(np.int32)
    shift = rng.integers(-12, 2, oc).astype(np.int32)
    ref = KG.conv_general_s8(p, mult, shift, x, f, bias, (1, oh, ow, oc))
    lut = f"c{i}_lut" if p.act_lut is not None else "NULL"
    src = (_c_array("int8_t", f"c{i}_x", x) + _c_array("int8_t", f"c{i}_f", f) + _c_array("int32_t", f"c{i}_b", bias)
           + _c_array("int32_t", f"c{i}_m", mult) + _c_array("int32_t", f"c{i}_s", shift)
           + (_c_array("int8_t", lut, p.act_lut) if p.act_lut is not None else ""))
    call = (f"    {{ static const qnnc_conv_general_params p = {{{p.input_offset}, {p.output_offset}, {sh}, {sw}, "
            f"{pt}, {pl}, {dh}, {dw}, {groups}, {transposed}, {p.act_min}, {p.act_max}, {lut}, {p.rounding}}};\n"
            f"      static const qnnc_per_channel_quant q = {{c{i}_m, c{i}_s}};\n"
            f"      static const qnnc_dims di = {_dims(x.shape)}, df = {_dims(f.shape)},\n"
            f"                             do_ = {_dims((1, oh, ow, oc))};\n"
            f"      static int8_t out[{ref.size}];\n"
            f"      qnnc_conv_general_s8(&p, &q, &di, c{i}_x, &df, c{i}_f, c{i}_b, &do_, out);\n"
            f"      fwrite(out, 1, sizeof out, stdout); }}\n")
    return src, call, ref


def _matmul_case(i, rng):
    m_, k_, n_ = (int(v) for v in rng.integers(1, 7, 3))
    ob = [int(rng.integers(1, 3)), int(rng.integers(1, 4))]
    ab = [d if rng.random() < 0.6 else 1 for d in ob]
    bb = [d if rng.random() < 0.6 else 1 for d in ob]
    adj_x, adj_y = int(rng.integers(0, 2)), int(rng.integers(0, 2))
    a = rng.integers(-128, 128, tuple(ab) + ((k_, m_) if adj_x else (m_, k_))).astype(np.int8)
    b = rng.integers(-128, 128, tuple(bb) + ((n_, k_) if adj_y else (k_, n_))).astype(np.int8)
    lo = int(rng.integers(-128, 0))
    mult, shift = int(rng.integers(1 << 30, (1 << 31) - 1)), int(rng.integers(-16, 0))
    p = BatchMatmulParams(int(rng.integers(-127, 129)), int(rng.integers(-127, 129)), mult, shift,
                          int(rng.integers(-128, 128)), lo, int(rng.integers(lo, 128)), adj_x, adj_y,
                          int(rng.integers(0, 2)))
    bias = rng.integers(-20000, 20000, n_).astype(np.int32) if i % 2 else None
    out_dims = tuple(ob) + (m_, n_)
    ref = KG.batch_matmul_s8(p, a, b, bias, out_dims)
    src = _c_array("int8_t", f"m{i}_a", a) + _c_array("int8_t", f"m{i}_b", b)
    src += _c_array("int32_t", f"m{i}_bias", bias) if bias is not None else ""
    call = (f"    {{ static const qnnc_batch_matmul_params p = {{{p.input1_offset}, {p.input2_offset}, {mult}, "
            f"{shift}, {p.output_offset}, {p.act_min}, {p.act_max}, {adj_x}, {adj_y}, {p.rounding}}};\n"
            f"      static const qnnc_dims da = {_dims(a.shape)}, db = {_dims(b.shape)}, do_ = {_dims(out_dims)};\n"
            f"      static int8_t out[{ref.size}];\n"
            f"      qnnc_batch_matmul_s8(&p, &da, m{i}_a, &db, m{i}_b, {f'm{i}_bias' if bias is not None else 'NULL'}, "
            f"&do_, out);\n"
            f"      fwrite(out, 1, sizeof out, stdout); }}\n")
    return src, call, ref


def test_random_kernel_cases_match_the_reference(tmp_path):
    """300 random grouped / transposed convolutions and 300 batched matmuls (kernels 1-6, strides 1-4
    and dilations 1-3 in every combination, so the transposed taps step by stride / gcd; paddings;
    output sizes with and without taps; broadcast batches, adj_x / adj_y, both rounding modes, LUTs,
    clamps): the C kernels under ASan/UBSan equal the numpy reference."""
    rng = np.random.default_rng(7)
    srcs, calls, refs = [], [], []
    for i in range(300):
        for make in (_conv_case, _matmul_case):
            s, c, r = make(i, rng)
            srcs.append(s)
            calls.append(c)
            refs.append(r.reshape(-1))
    main = tmp_path / "main.c"
    main.write_text('#include <stdio.h>\n#include "qnnc_kernels.h"\n' + "".join(srcs)
                    + "int main(void)\n{\n" + "".join(calls) + "    return 0;\n}\n")
    srcdir = runtime_dir() / "src"
    exe = compile_c([main, srcdir / "qnnc_conv_general_s8.c", srcdir / "qnnc_batch_matmul_s8.c"], [include_dir()],
                    tmp_path / "kern", sanitize=True, base_flags=("-std=c99", "-O1", "-Wall", "-Wextra", "-Werror"))
    r = subprocess.run([str(exe)], capture_output=True, env=sanitizer_env(), timeout=120)
    assert r.returncode == 0, r.stderr.decode()[:2000]
    got = np.frombuffer(r.stdout, np.int8)
    want = np.concatenate(refs).astype(np.int8)
    assert got.size == want.size and np.array_equal(got, want)
    # The cases are not degenerate: outputs vary and some transposed outputs get no tap (bias only).
    assert len(np.unique(want)) > 200


@pytest.mark.parametrize("case", ["grouped_3x3", "convt_k4s2p1_leaky", "attention_3d"])
def test_int16_plans_run_these_ops_on_int16(case, tmp_path):
    """In an int16 plan grouped Conv, ConvTranspose with a fused LeakyRelu and batch matmul run on
    their 16x8 kernels (test_int16_conv_general.py, test_int16_matmul.py), bit-exact in C."""
    shape, builder, kind, _, _ = CASES[case]
    _, cal, qm = _build(tmp_path, case, shape, builder, "quantization:\n  activation_bits: 16\n")
    ops = [o for o in qm.ops if o.kind == kind]
    assert ops and all(qm.tensors[o.output].bits == 16 and o.kernel.endswith("_s16") for o in ops)
    assert not any("int8 activations inside the int16 plan" in note for note in qm.notes)
    q_in = quantize_input(qm, cal[:8])
    ref = run_int8(qm, q_in).reshape(8, -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(8, -1), qm.output_tensor.size), ref)
