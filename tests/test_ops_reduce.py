"""Reductions, 1-D (N, C, L) networks, LayerNormalization and ArgMax/ArgMin.

Model cases: small ONNX graphs (the forms PyTorch and tf2onnx export) built with qnnc; the
generated C must equal the numpy reference bit for bit under ASan/UBSan, and the reference must be
close to float onnxruntime (bounds per case below). Kernel cases: random shapes and parameters of
qnnc_reduce_s8 / qnnc_layer_norm_s8 / qnnc_arg_max_s8 through a small sanitized driver. Refusals
must name the node, the op and what is missing.
"""
from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_factory import GraphBuilder
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import SANITIZE_FLAGS, compile_driver, run_driver, run_driver_io
from qnnc.errors import ModelError
from qnnc.frontend.float_runner import float_outputs, float_outputs_all
from qnnc.kernel_params import LayerNormParams, ReduceParams
from qnnc.pipeline import accuracy as pipeline_accuracy
from qnnc.quantize.fixedpoint import quantize_multiplier
from qnnc.reference import kernels_reduce as KR
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_all, run_int8

RNG = np.random.default_rng(4321)
RUNTIME = Path(__file__).resolve().parent.parent / "plugin" / "qnnc" / "runtime"


def w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)



M = GraphBuilder


def axes_arg(m, kind, axes, opset):
    """(inputs tail, attrs) giving ``axes`` to a Reduce op as that opset wants it."""
    if kind == "ReduceSum" and opset >= 13 or opset >= 18:
        return [m.const(np.array(axes, np.int64))], {}
    return [], {"axes": axes}


def conv1d(m, x, cin, cout, k=3, stride=1, pad=1, dil=1, group=1):
    return m.op("Conv", [x, m.const(w(cout, cin // group, k)), m.const(w(cout, scale=0.1))], kernel_shape=[k],
                strides=[stride], pads=[pad, pad], dilations=[dil], group=group)


def conv2d(m, x, cin, cout):
    return m.op("Conv", [x, m.const(w(cout, cin, 3, 3)), m.const(w(cout, scale=0.1))], kernel_shape=[3, 3],
                pads=[1, 1, 1, 1])


def bn(m, x, c):
    return m.op("BatchNormalization", [x, m.const(w(c) + 1), m.const(w(c)), m.const(w(c)),
                                       m.const(np.abs(w(c)) + 0.5)], epsilon=1e-5)


# Each case: (input shape, opset, builder, bound) with bound = (max mean |err| LSB, min SQNR dB).
CASES = {}


def case(shape, opset=13, mean_lsb=1.5, sqnr=25.0, out_type=TensorProto.FLOAT):
    def deco(fn):
        CASES[fn.__name__[5:]] = (shape, opset, fn, (mean_lsb, sqnr), out_type)
        return fn
    return deco


@case([1, 6, 16])
def case_mean_last_axis_3d(m):                       # LayerNorm's mean, PyTorch x.mean(-1, keepdim=True)
    return m.op("ReduceMean", [conv1d(m, "x", 6, 8)], axes=[-1], keepdims=1)


@case([1, 3, 6, 5], mean_lsb=2.5, sqnr=20.0)           # conv, mean, then a small-range Gemm
def case_mean_spatial_keepdims0_gemm(m):             # PyTorch x.mean(dim=(2, 3)) -> Linear (mnasnet)
    r = m.op("ReduceMean", [conv2d(m, "x", 3, 8)], axes=[2, 3], keepdims=0)
    return m.op("Gemm", [r, m.const(w(5, 8)), m.const(w(5))], transB=1)


@case([1, 3, 6, 5], sqnr=20.0)
def case_mean_h_then_w_tf2onnx(m):                   # tf2onnx: one axis at a time
    a = m.op("ReduceMean", [conv2d(m, "x", 3, 8)], axes=[2], keepdims=1)
    return m.op("ReduceMean", [a], axes=[3], keepdims=1)


@case([1, 3, 6, 5], opset=18)
def case_mean_channels_axes_input_opset18(m):        # over C: NHWC's last axis, axes as an input
    return m.op("ReduceMean", [conv2d(m, "x", 3, 8), m.const(np.array([1], np.int64))], keepdims=1)


@case([1, 3, 6, 5])
def case_mean_h_keepdims0_reordered(m):              # (N, C, W) result: NHWC gives (N, W, C) -> transpose
    return m.op("Relu", [m.op("ReduceMean", [conv2d(m, "x", 3, 8)], axes=[2], keepdims=0)])


@case([1, 3, 6, 5])
def case_mean_of_stacked_rank5(m):                   # torch.stack([a, b], 1).mean(1): a rank-5 reduction
    c = conv2d(m, "x", 3, 8)
    a = m.op("Unsqueeze", [m.op("Relu", [c]), m.const(np.array([1], np.int64))])
    b = m.op("Unsqueeze", [m.op("Sigmoid", [c]), m.const(np.array([1], np.int64))])
    return m.op("ReduceMean", [m.op("Concat", [a, b], axis=1)], axes=[1], keepdims=0)


@case([1, 2, 3, 4, 5], mean_lsb=2.0, sqnr=15.0)
def case_max_rank5_two_runs(m):                      # axes 1 and 3 of 5: kept, reduced, kept, reduced, kept
    return m.op("ReduceMax", [m.op("Relu", ["x"])], axes=[1, 3], keepdims=1)


@case([1, 3, 6, 5], mean_lsb=1.0)
def case_sum_noncontiguous_axes(m):                  # C and H: not contiguous in NHWC, one pass anyway
    return m.op("ReduceSum", [conv2d(m, "x", 3, 4), m.const(np.array([1, 2], np.int64))], keepdims=0)


# Max / min pick the extremes, exactly the values a min/max calibration on 64 samples clips most
# often on unseen inputs: a looser bound (the kernel itself is exact, see test_reduce_kernel_cases).
@case([1, 3, 6, 5], mean_lsb=2.0, sqnr=15.0)
def case_max_min_4d(m):
    c = conv2d(m, "x", 3, 4)
    a = m.op("ReduceMax", [c], axes=[1, 3], keepdims=1)
    b = m.op("ReduceMin", [c], axes=[1, 3], keepdims=1)
    return m.op("Add", [a, b])


@case([1, 5, 12], opset=18, mean_lsb=1.0)
def case_max_min_axes_input_3d(m):
    c = conv1d(m, "x", 5, 6)
    a = m.op("ReduceMax", [c, m.const(np.array([-1], np.int64))], keepdims=0)
    b = m.op("ReduceMin", [c, m.const(np.array([-1], np.int64))], keepdims=0)
    return m.op("Concat", [a, b], axis=1)


@case([1, 12], opset=18, mean_lsb=2.0, sqnr=20.0)
def case_sum_all_and_noop_empty_axes(m):
    g = m.op("Gemm", ["x", m.const(w(12, 10)), m.const(w(10))])
    same = m.op("ReduceSum", [g], noop_with_empty_axes=1)          # no axes: the identity
    s = m.op("ReduceSum", [same], keepdims=1)                        # no axes: all of them
    return m.op("Add", [same, s])


@case([1, 6, 16], opset=17, mean_lsb=1.0, sqnr=30.0)
def case_layernorm_opset17_last_axis(m):
    c = conv1d(m, "x", 6, 8)
    return m.op("LayerNormalization", [c, m.const(w(16) + 1.0), m.const(w(16))], axis=-1, epsilon=1e-5)


@case([1, 3, 6, 5], opset=17, mean_lsb=1.0, sqnr=30.0)
def case_layernorm_opset17_4d_axis1_no_bias(m):      # over C, H, W: gamma [C, H, W] re-laid out NHWC
    c = conv2d(m, "x", 3, 4)
    return m.op("LayerNormalization", [c, m.const(w(4, 6, 5) + 1.0)], axis=1, epsilon=1e-3)


@case([1, 3, 6, 5], opset=17, mean_lsb=1.0, sqnr=30.0)
def case_layernorm_opset17_4d_axis2(m):              # over H, W: every channel on its own
    c = conv2d(m, "x", 3, 4)
    return m.op("LayerNormalization", [c, m.const(w(6, 5) + 1.0), m.const(w(6, 5))], axis=2)


def decomposed_ln(m, x, n, square="Pow", opset=13):
    ax = axes_arg(m, "ReduceMean", [-1], opset)
    mean = m.op("ReduceMean", [x] + ax[0], **ax[1])
    d = m.op("Sub", [x, mean])
    sq = m.op("Pow", [d, m.const(np.float32(2.0))]) if square == "Pow" else m.op("Mul", [d, d])
    var = m.op("ReduceMean", [sq] + ax[0], **ax[1])
    s = m.op("Sqrt", [m.op("Add", [var, m.const(np.float32(1e-5))])])
    y = m.op("Div", [d, s])
    return m.op("Add", [m.op("Mul", [y, m.const(w(n) + 1.0)]), m.const(w(n))])


@case([1, 6, 16], mean_lsb=1.0, sqnr=30.0)
def case_layernorm_decomposed_pow(m):                # PyTorch nn.LayerNorm exported below opset 17
    return decomposed_ln(m, conv1d(m, "x", 6, 8), 16)


@case([1, 6, 16], opset=18, mean_lsb=1.0, sqnr=30.0)
def case_layernorm_decomposed_mul_self_opset18(m):   # Mul self instead of Pow; axes as inputs
    return decomposed_ln(m, conv1d(m, "x", 6, 8), 16, square="Mul", opset=18)


def tf2onnx_ln(m, x, n, beta=True):
    """tf2onnx's Keras LayerNormalization on (N, T, n): means as GlobalAveragePool of the 3-D
    tensor, x * m + (beta + Neg(mean) * m) with m = gamma / Sqrt(var + eps); TFLite's converter
    drops a zero beta's Add."""
    mean = m.op("GlobalAveragePool", [x])
    d = m.op("Sub", [x, mean])
    var = m.op("GlobalAveragePool", [m.op("Mul", [d, d])])
    r = m.op("Reciprocal", [m.op("Sqrt", [m.op("Add", [var, m.const(np.float32(1e-3))])])])
    mm = m.op("Mul", [r, m.const((w(1, 1, n) + 1.0).astype(np.float32))])
    shift = m.op("Mul", [m.op("Neg", [mean]), mm])
    if beta:
        shift = m.op("Add", [shift, m.const(w(1, 1, n))])
    return m.op("Add", [m.op("Mul", [x, mm]), shift])


@case([1, 6, 16], mean_lsb=1.0, sqnr=30.0)
def case_layernorm_tf2onnx_keras(m):                 # Keras LayerNormalization through tf2onnx
    return tf2onnx_ln(m, conv1d(m, "x", 6, 8), 16)


@case([1, 6, 16], mean_lsb=1.0, sqnr=30.0)
def case_layernorm_tflite_no_beta(m):                # the same through TFLite (zero beta dropped)
    return tf2onnx_ln(m, conv1d(m, "x", 6, 8), 16, beta=False)


@case([1, 20], mean_lsb=0.0, sqnr=-1e9, out_type=TensorProto.INT64)
def case_argmax_classifier(m):                       # Gemm -> ArgMax(axis 1, keepdims 0)
    g = m.op("Gemm", ["x", m.const(w(20, 10)), m.const(w(10))])
    return m.op("ArgMax", [g], axis=1, keepdims=0)


@case([1, 3, 6, 5], opset=13, mean_lsb=0.0, sqnr=-1e9, out_type=TensorProto.INT64)
def case_argmin_4d_channels_select_last(m):
    c = conv2d(m, "x", 3, 6)
    return m.op("ArgMin", [c], axis=1, keepdims=1, select_last_index=1)


@case([1, 3, 6, 5], opset=13, mean_lsb=0.0, sqnr=-1e9, out_type=TensorProto.INT64)
def case_argmax_4d_h_keepdims0(m):
    return m.op("ArgMax", [conv2d(m, "x", 3, 6)], axis=2, keepdims=0)


@case([1, 20], mean_lsb=1.0, sqnr=30.0)
def case_topk_values_classifier(m):                  # torch.topk(logits, 5).values: the input's quantization
    g = m.op("Gemm", ["x", m.const(w(24, 20))], transB=1)
    m.n += 1
    m.nodes.append(helper.make_node("TopK", [g, m.const(np.array([5], np.int64))], ["v", "i"], axis=1, name="topk"))
    return m.op("Relu", ["v"])


@case([1, 3, 6, 5], opset=13, mean_lsb=0.0, sqnr=-1e9, out_type=TensorProto.INT64)
def case_topk_indices_4d_channels_smallest(m):       # indices over C (NHWC's last axis), smallest first
    m.n += 1
    m.nodes.append(helper.make_node("TopK", [conv2d(m, "x", 3, 7), m.const(np.array([3], np.int64))], ["v", "i"],
                                    axis=1, largest=0, name="topk"))
    return m.op("Identity", ["i"])


@case([1, 4, 9], opset=11, mean_lsb=1.0, sqnr=30.0)
def case_topk_sort_3d_last_axis(m):                  # torch.sort(descending=True): K = n over the last axis
    m.n += 1
    m.nodes.append(helper.make_node("TopK", [conv1d(m, "x", 4, 6), m.const(np.array([9], np.int64))], ["v", "i"],
                                    axis=-1, name="topk"))
    return m.op("Sigmoid", ["v"])


@case([1, 3, 40], mean_lsb=1.0)
def case_conv1d_asymmetric_pads_pool_ceil(m):      # one conv and one pool: the lifted geometry is exact
    c = m.op("Conv", ["x", m.const(w(5, 3, 4)), m.const(w(5, scale=0.1))], kernel_shape=[4], strides=[2],
             pads=[2, 1], dilations=[2])
    return m.op("MaxPool", [c], kernel_shape=[3], strides=[2], pads=[1, 1], ceil_mode=1)


@case([1, 3, 40], mean_lsb=3.0, sqnr=20.0)          # several int8 layers, then a small-range Gemm
def case_conv1d_network(m):                          # PyTorch Conv1d / MaxPool1d / BN1d / AdaptiveAvgPool1d
    a = m.op("Relu", [bn(m, conv1d(m, "x", 3, 8, k=5, pad=2), 8)])
    b = m.op("MaxPool", [a], kernel_shape=[2], strides=[2])
    c = m.op("Relu", [conv1d(m, b, 8, 8, k=3, stride=2, pad=2, dil=2)])
    d = m.op("Pad", [c, m.const(np.array([0, 0, 1, 0, 0, 2], np.int64))])
    e = m.op("AveragePool", [conv1d(m, d, 8, 8, group=8)], kernel_shape=[3], strides=[1], pads=[1, 1])
    f = m.op("GlobalAveragePool", [m.op("Add", [e, m.const(w(8, 1))])])
    return m.op("Gemm", [m.op("Flatten", [f]), m.const(w(4, 8)), m.const(w(4))], transB=1)


@case([1, 3, 32], mean_lsb=2.0, sqnr=20.0)
def case_conv1d_mean_over_length_gemm(m):            # HAR-style: Conv1d -> x.mean(-1) -> Linear, no transposes
    a = m.op("Relu", [conv1d(m, "x", 3, 8, k=5, pad=2)])
    r = m.op("ReduceMean", [a], axes=[-1], keepdims=0)
    return m.op("Gemm", [r, m.const(w(4, 8)), m.const(w(4))], transB=1)


@case([1, 6, 16], opset=17, mean_lsb=1.0, sqnr=30.0)
def case_conv1d_layernorm_over_c_and_l(m):           # LayerNorm([C, L]) of a Conv1d output, on its 4-D twin
    c = conv1d(m, "x", 6, 8)
    n = m.op("LayerNormalization", [c, m.const(w(8, 16) + 1.0), m.const(w(8, 16))], axis=1)
    return m.op("ReduceMax", [n], axes=[1], keepdims=1)


@case([1, 4, 30])
def case_conv1d_globalmax_standalone_bn(m):
    a = bn(m, m.op("Relu", [conv1d(m, "x", 4, 6)]), 6)          # BN not after a conv: depthwise 1x1
    return m.op("GlobalMaxPool", [m.op("Sigmoid", [a])])


CAL = 64
TEST = 32


def _build(tmp_path, name, shape, builder, opset, out_type, method=None):
    m = M(shape, opset, out_type)
    builder(m)
    model = m.finish(tmp_path / f"{name}.onnx")
    cal = RNG.standard_normal((CAL, *shape[1:])).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=cal)
    how = f"  method: {method}\n" if method else ""  # default: auto
    (tmp_path / "q.yaml").write_text(f"name: op\ncalibration:\n  data: cal.npz\n{how}")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False)
    return model, res.compiled.model


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_case(name, tmp_path):
    global RNG
    RNG = np.random.default_rng(zlib.crc32(name.encode()))  # the same weights and data in any test selection
    shape, opset, builder, (mean_lsb, min_sqnr), out_type = CASES[name]
    model, qm = _build(tmp_path, name, shape, builder, opset, out_type)
    test = RNG.standard_normal((TEST, *shape[1:])).astype(np.float32)
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    c_out = run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size)
    assert np.array_equal(c_out, ref), f"{name}: C differs from the reference"
    kinds = [o.kind for o in qm.ops]
    f = float_outputs(str(model), test).reshape(len(test), -1).astype(np.float64)
    deq = dequantize_output(qm, ref).astype(np.float64)
    if out_type == TensorProto.INT64:  # an index: scale 1, zero point 0, the dequantized value is it
        assert (qm.output_tensor.scale, qm.output_tensor.zero_point) == (1.0, 0)
        agree = np.mean(deq == f)
        print(f"{name}: ops {kinds}, index agreement with onnxruntime {agree:.3f}")
        assert agree >= 0.85
        return
    err = np.abs(deq - f) / qm.output_tensor.scale
    sqnr = 10 * np.log10(np.mean(f ** 2) / max(np.mean((deq - f) ** 2), 1e-30))
    print(f"{name}: ops {kinds}, mean |err| {err.mean():.2f} LSB, max {err.max():.1f} LSB, SQNR {sqnr:.1f} dB")
    assert err.mean() <= mean_lsb
    assert sqnr >= min_sqnr


# ------------------------------------------------------------------------------ kernel cases --

def _c_array(ctype: str, name: str, a) -> str:
    vals = ", ".join(str(int(v)) for v in np.asarray(a).reshape(-1))
    return f"static const {ctype} {name}[{max(np.asarray(a).size, 1)}] = {{{vals or '0'}}};\n"


def _run_kernel_cases(cases, tmp_path) -> list:
    """Compile one sanitized driver for ``cases`` [(call template, inputs, output size)] and return
    each case's int8 output. Inputs and outputs live in exactly-sized heap blocks (ASan sees any
    read or write past them)."""
    src = ['#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include "qnnc_kernels.h"\n']
    body = []
    for k, (call, x, consts, out_size) in enumerate(cases):
        src.append(_c_array("int8_t", f"in{k}", x))
        for cname, (ctype, arr) in consts.items():
            src.append(_c_array(ctype, f"{cname}{k}", arr))
        body.append(f"""    {{
        int8_t *x = (int8_t *)malloc({x.size}); int8_t *y = (int8_t *)malloc({out_size}); int32_t i;
        memcpy(x, in{k}, {x.size});
        {call.replace('{k}', str(k))};
        for (i = 0; i < {out_size}; ++i) printf("%d ", y[i]);
        printf("\\n"); free(x); free(y);
    }}""")
    src.append("int main(void)\n{\n" + "\n".join(body) + "\n    return 0;\n}\n")
    c = tmp_path / "driver.c"
    c.write_text("".join(src))
    exe = tmp_path / "driver"
    srcs = [str(RUNTIME / "src" / f) for f in ("qnnc_reduce_s8.c", "qnnc_layer_norm_s8.c", "qnnc_arg_max_s8.c",
                                                "qnnc_top_k_s8.c")]
    subprocess.run(["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *SANITIZE_FLAGS,
                    f"-I{RUNTIME / 'include'}", str(c), *srcs, "-o", str(exe)], check=True)
    res = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=120)
    return [np.array([int(v) for v in line.split()], np.int8) for line in res.stdout.splitlines()]


def _dims(sym, d):
    return f"qnnc_dims {sym} = {{{d[0]}, {d[1]}, {d[2]}, {d[3]}}}"


def test_reduce_kernel_cases(tmp_path):
    """Random 4-D shapes and axis sets, sum (mean multipliers) / max / min: C == reference."""
    rng = np.random.default_rng(7)
    cases, refs = [], []
    for k in range(48):
        in4 = tuple(int(v) for v in rng.integers(1, 7, 4))
        mask = rng.random(4) < 0.5
        if k == 0:
            mask[:] = True  # everything
        out4 = tuple(1 if m else d for m, d in zip(mask, in4))
        kind = int(rng.integers(0, 3))
        count = int(np.prod([d for m, d in zip(mask, in4) if m]))
        mult, shift = quantize_multiplier(float(rng.uniform(0.2, 3.0)) / count)
        if k % 7 == 3:
            mult, shift = quantize_multiplier(float(rng.uniform(50, 500)))  # left shifts that saturate
        p = ReduceParams(kind, int(rng.integers(-128, 128)), mult, shift, int(rng.integers(-128, 128)))
        x = rng.integers(-128, 128, in4).astype(np.int8)
        refs.append(KR.reduce_s8(p, x, in4, out4).reshape(-1))
        call = (f"{{ const qnnc_reduce_params p = {{{p.kind}, {p.input_offset}, {p.multiplier}, {p.shift}, "
                f"{p.output_offset}}}; {_dims('di', in4)}; {_dims('do_', out4)}; qnnc_reduce_s8(&p, &di, x, &do_, y); }}")
        cases.append((call, x, {}, int(np.prod(out4))))
    outs = _run_kernel_cases(cases, tmp_path)
    for k, (o, r) in enumerate(zip(outs, refs)):
        assert np.array_equal(o, r), f"reduce case {k}"
    # max / min are the raw extremes (what numpy computes directly)
    x = rng.integers(-128, 128, (1, 3, 4, 5)).astype(np.int8)
    assert np.array_equal(KR.reduce_s8(ReduceParams(1), x, x.shape, (1, 1, 4, 1)), x.max(axis=(1, 3), keepdims=True))
    assert np.array_equal(KR.reduce_s8(ReduceParams(2), x, x.shape, (1, 3, 1, 5)), x.min(axis=2, keepdims=True))


def _layer_norm_case(rng, outer, n, inner, x, gamma, beta, s_in, zp_in, s_out, zp_out, eps):
    """LayerNormParams and constants as rules_reduce.layer_norm makes them."""
    k = 0
    while (1 << (2 * k)) < n:
        k += 1
    frac = 29 - k
    epsilon = int(min(max(round(n * n * eps / (s_in * s_in)), 1), 1 << 61))
    mult = np.zeros(n, np.int32)
    shift = np.zeros(n, np.int32)
    for i, g in enumerate(gamma):
        m, s = quantize_multiplier(abs(float(g)) / (s_out * (1 << frac)))
        mult[i], shift[i] = (-m if g < 0 else m), s
    bias = (np.clip(np.round(beta / s_out), -(1 << 24), 1 << 24) + zp_out).astype(np.int32)
    return LayerNormParams(-zp_in, epsilon, frac), mult, shift, bias


def test_layer_norm_kernel_cases(tmp_path):
    """Random shapes (n from 1 to 4096), constant rows, extreme inputs, negative and zero gammas, tiny
    and huge epsilons: C == reference; and the reference within 1 output LSB of float LayerNorm applied
    to the same (dequantized) int8 input."""
    rng = np.random.default_rng(11)
    cases, refs, floats = [], [], []
    shapes = [(1, 1, 1), (3, 1, 2), (2, 7, 3), (5, 16, 1), (1, 64, 4), (4, 49, 1), (1, 4096, 1), (2, 300, 2)]
    for k in range(24):
        outer, n, inner = shapes[k % len(shapes)]
        zp_in = int(rng.integers(-128, 128))
        if k % 6 == 1:
            x = np.full((outer, n, inner), int(rng.integers(-128, 128)), np.int8)   # constant rows
        elif k % 6 == 2:
            x = rng.choice(np.array([-128, 127], np.int8), (outer, n, inner))       # extremes
        else:
            x = rng.integers(-128, 128, (outer, n, inner)).astype(np.int8)
        s_in = float(rng.uniform(0.005, 0.1))
        gamma = rng.standard_normal(n) * 1.5
        gamma[rng.random(n) < 0.1] = 0.0
        beta = rng.standard_normal(n) * 0.5
        s_out = float(rng.uniform(0.01, 0.05))
        zp_out = int(rng.integers(-50, 50))
        eps = [1e-5, 1e-12, 1e-3, 10.0][k % 4]
        p, mult, shift, bias = _layer_norm_case(rng, outer, n, inner, x, gamma, beta, s_in, zp_in, s_out, zp_out, eps)
        refs.append(KR.layer_norm_s8(p, x, outer, n, inner, mult, shift, bias).reshape(-1))
        xf = (x.astype(np.float64) - zp_in) * s_in
        mu = xf.mean(axis=1, keepdims=True)
        var = ((xf - mu) ** 2).mean(axis=1, keepdims=True)
        yf = (xf - mu) / np.sqrt(var + eps) * gamma.reshape(1, n, 1) + beta.reshape(1, n, 1)
        floats.append(np.clip(yf / s_out + zp_out, -128, 127).reshape(-1))
        call = (f"{{ const qnnc_layer_norm_params p = {{{p.input_offset}, {p.epsilon}, {p.frac_bits}}}; "
                f"qnnc_layer_norm_s8(&p, {outer}, {n}, {inner}, m{{k}}, s{{k}}, b{{k}}, x, y); }}")
        cases.append((call, x, {"m": ("int32_t", mult), "s": ("int32_t", shift), "b": ("int32_t", bias)},
                      x.size))
    outs = _run_kernel_cases(cases, tmp_path)
    worst = 0.0
    for k, (o, r, f) in enumerate(zip(outs, refs, floats)):
        assert np.array_equal(o, r), f"layer norm case {k}"
        worst = max(worst, float(np.abs(r.astype(np.float64) - f).max()))
    print(f"layer norm kernel: max |integer - float on the same int8 input| = {worst:.3f} output LSB")
    assert worst <= 1.01  # two roundings (gamma term, beta term) of 0.5 each, plus ~1e-5 of arithmetic


def test_arg_max_kernel_cases(tmp_path):
    """Random shapes, many ties (few distinct values), argmax / argmin, first / last index."""
    rng = np.random.default_rng(13)
    cases, refs = [], []
    for k in range(24):
        outer, n, inner = (int(rng.integers(1, 5)), int(rng.integers(1, 128)), int(rng.integers(1, 5)))
        x = rng.integers(-3, 3, (outer, n, inner)).astype(np.int8) * (40 if k % 2 else 1)
        is_min, last = k % 3 == 0, (k // 2) % 2
        refs.append(KR.arg_max_s8(x, outer, n, inner, int(is_min), last).reshape(-1))
        v = -x.astype(np.int32) if is_min else x.astype(np.int32)
        expect = (n - 1 - np.argmax(v[:, ::-1], axis=1)) if last else np.argmax(v, axis=1)
        assert np.array_equal(refs[-1], expect.reshape(-1))
        cases.append((f"qnnc_arg_max_s8({outer}, {n}, {inner}, {int(is_min)}, {last}, x, y)", x, {}, outer * inner))
    outs = _run_kernel_cases(cases, tmp_path)
    for k, (o, r) in enumerate(zip(outs, refs)):
        assert np.array_equal(o, r), f"arg max case {k}"


def test_top_k_kernel_cases(tmp_path):
    """Random shapes, many ties (few distinct values), largest / smallest, values / indices, K from 1 to n:
    C == reference, and the reference == a sort by (value, index) in Python."""
    rng = np.random.default_rng(17)
    cases, refs = [], []
    for k in range(32):
        outer, n, inner = (int(rng.integers(1, 5)), int(rng.integers(1, 128)), int(rng.integers(1, 5)))
        kk = int(rng.integers(1, n + 1)) if k % 4 else n
        x = rng.integers(-3, 3, (outer, n, inner)).astype(np.int8) * (40 if k % 2 else 1)
        largest, want = (k // 2) % 2, ("values", "indices")[(k // 4) % 2]
        refs.append(KR.top_k(x, outer, n, inner, kk, largest, want).reshape(-1))
        expect = np.zeros((outer, kk, inner), np.int64)
        for o in range(outer):
            for i in range(inner):
                order = sorted(range(n), key=lambda c: (-int(x[o, c, i]) if largest else int(x[o, c, i]), c))[:kk]
                expect[o, :, i] = [x[o, c, i] for c in order] if want == "values" else order
        assert np.array_equal(refs[-1], expect.reshape(-1))
        out = "y, NULL" if want == "values" else "NULL, y"
        cases.append((f"qnnc_top_k_s8({outer}, {n}, {inner}, {kk}, {largest}, x, {out})", x, {}, outer * kk * inner))
    outs = _run_kernel_cases(cases, tmp_path)
    for k, (o, r) in enumerate(zip(outs, refs)):
        assert np.array_equal(o, r), f"top k case {k}"


def test_argmax_and_topk_over_1000_classes_give_int16_indices(tmp_path):
    """A 1000-class classifier's ArgMax and top-5 indices (more entries than an int8 index holds):
    int16 outputs (the ``_wide`` kernels) in the multi-tensor API; the C equals the reference under
    ASan/UBSan, also through the float API, and the index is onnxruntime's where no two logits are
    within a quantization step."""
    rng = np.random.default_rng(1000)
    w = (rng.standard_normal((1000, 16)) * 0.3).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["g"], transB=1),
             helper.make_node("ArgMax", ["g"], ["cls"], axis=1, keepdims=0),
             helper.make_node("TopK", ["g", "k"], ["v", "top5"], axis=1)]
    g = helper.make_graph(nodes, "cls1000", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("cls", TensorProto.INT64, None),
                           helper.make_tensor_value_info("top5", TensorProto.INT64, None)],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([5], np.int64), "k")])
    path = tmp_path / "cls1000.onnx"
    onnx.save(onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])),
              str(path))
    xs = rng.standard_normal((CAL, 16)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs)
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n")
    res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False)
    qm = res.compiled.model
    assert [t.bits for t in qm.output_tensors] == [16, 16] and qm.multi_io
    assert "int16_t *cls" in (tmp_path / "gen" / "op.h").read_text()
    q = quantize_input(qm, xs)
    ref = [r.reshape(len(xs), -1) for r in run_all(qm, q)]
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    c = run_driver_io(exe, [q.reshape(len(xs), -1)], [t.size for t in qm.output_tensors], output_bits=[16, 16])
    assert all(np.array_equal(a, b) for a, b in zip(c, ref))
    cf = run_driver_io(exe, [xs], [t.size for t in qm.output_tensors], "f32")  # the index as a float
    assert all(np.array_equal(a, b.astype(np.float32)) for a, b in zip(cf, ref))
    f_cls, f_top = (f.reshape(len(xs), -1) for f in float_outputs_all(str(path), xs))
    assert ref[0].max() > 127  # indices an int8 could not hold
    agree = np.mean(ref[0][:, 0] == f_cls[:, 0])
    print(f"1000-class ArgMax: agreement with onnxruntime {agree:.3f}; top-5 sets {np.mean([set(a) == set(b) for a, b in zip(ref[1], f_top)]):.3f}")
    assert agree >= 0.9
    # auto precision's accuracy reads the ArgMax output as the class (it took the argmax of one value: 0)
    assert pipeline_accuracy(qm, xs, f_cls[:, 0].astype(np.int64))[0] == agree


def _seg150(tmp_path, tail_nodes, outs, inits=()):
    rng = np.random.default_rng(150)
    w = rng.standard_normal((150, 3, 1, 1)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["g"])] + tail_nodes, "seg150",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
                          [helper.make_tensor_value_info(o, TensorProto.INT64, None) for o in outs],
                          [numpy_helper.from_array(w, "w"), *inits])
    path = tmp_path / "seg150.onnx"
    onnx.save(onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])),
              str(path))
    xs = rng.standard_normal((CAL, 3, 4, 5)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs)
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n")
    return path, xs


def test_segmentation_argmax_over_150_classes_stays_an_int16_index_through_views(tmp_path):
    """A 150-class segmentation's ArgMax over the channels with keepdims (the layout's NHWC -> NCHW
    view after it): the int16 index reaches the output unchanged (it used to be requantized to int8
    through the view)."""
    path, xs = _seg150(tmp_path, [helper.make_node("ArgMax", ["g"], ["y"], axis=1, keepdims=1)], ["y"])
    res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False)
    qm = res.compiled.model
    t = qm.output_tensors[0]
    assert (t.bits, t.scale, t.zero_point) == (16, 1.0, 0)
    q = quantize_input(qm, xs)
    ref = run_all(qm, q)[0].reshape(len(xs), -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver_io(exe, [q.reshape(len(xs), -1)], [t.size], output_bits=[16])[0], ref)
    f = float_outputs_all(str(path), xs)[0].reshape(len(xs), -1)
    agree = np.mean(ref == f)
    print(f"150-class segmentation ArgMax: per-pixel agreement with onnxruntime {agree:.3f}")
    assert ref.max() > 127 and agree >= 0.9


def test_an_int16_index_read_by_a_concat_is_refused_by_name(tmp_path):
    nodes = [helper.make_node("ArgMax", ["g"], ["a"], axis=1, keepdims=1, name="am"),
             helper.make_node("ArgMin", ["g"], ["b"], axis=1, keepdims=1),
             helper.make_node("Concat", ["a", "b"], ["y"], axis=1, name="cat")]
    path, _ = _seg150(tmp_path, nodes, ["y"])
    with pytest.raises(ModelError) as e:
        build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False)
    assert "cat" in str(e.value) and "int16 index" in str(e.value) and "Concat" in str(e.value), str(e.value)
    assert not (tmp_path / "gen").exists()


# --------------------------------------------------------------------------------- refusals --

def _refused(tmp_path, shape, opset, builder, out_type=TensorProto.FLOAT) -> ModelError:
    with pytest.raises(ModelError) as e:
        _build(tmp_path, "refused", shape, builder, opset, out_type)
    assert not (tmp_path / "gen").exists(), "a refused build wrote output"
    return e.value


def test_refuses_arg_max_over_more_than_32767(tmp_path):
    e = _refused(tmp_path, [1, 40000], 13, lambda m: m.op("ArgMax", [m.op("Relu", ["x"])], axis=1),
                 TensorProto.INT64)
    text = str(e)
    assert "ArgMax" in text and "40000 entries" in text and "32767" in text and "ArgMax_2" in text


def test_refuses_reduce_prod_naming_the_op(tmp_path):
    # (ReduceL2, ReduceLogSumExp ...: rewritten as supported ops, tests/test_ops_composite.py)
    for op in ("ReduceProd",):
        e = _refused(tmp_path, [1, 4, 6], 13, lambda m: m.op(op, [m.op("Relu", ["x"])], axes=[2]))
        assert f"no integer kernel for {op}" in str(e) and f"{op}_2" in str(e), str(e)


@pytest.mark.parametrize("name", ["layernorm_tf2onnx_keras", "layernorm_tflite_no_beta",
                                  "layernorm_decomposed_pow"])
def test_decomposed_layer_norms_become_one_kernel(name, tmp_path):
    """Each exporter's decomposition is recognized: one layer_norm kernel, no tables or products."""
    shape, opset, builder, _, out_type = CASES[name]
    _, qm = _build(tmp_path, name, shape, builder, opset, out_type)
    kinds = [o.kind for o in qm.ops]
    assert kinds.count("layer_norm") == 1 and not {"lut", "mul", "reduce", "avg_pool"} & set(kinds), kinds


def test_refuses_layer_norm_with_computed_scale(tmp_path):
    def builder(m):
        r = m.op("Relu", ["x"])
        return m.op("LayerNormalization", [r, m.op("Sigmoid", [m.op("ReduceMean", [r], axes=[0, 1], keepdims=0)])],
                    axis=-1)
    e = _refused(tmp_path, [1, 4, 6], 17, builder)
    assert "LayerNormalization" in str(e) and "must be a constant" in str(e), str(e)


def test_refuses_rank5_reduce_with_too_many_runs(tmp_path):
    """A rank-5 reduction is the same reduction of a view with merged axes when that has rank <= 4;
    reduced axes 2 and 4 of a 6-D tensor leave five runs: refused by name."""
    e = _refused(tmp_path, [1, 2, 3, 4, 5, 6], 13,
                 lambda m: m.op("ReduceMean", [m.op("Relu", ["x"])], axes=[2, 4]))
    assert "ReduceMean" in str(e) and "rank 6" in str(e) and "ReduceMean_2" in str(e), str(e)


def test_unfused_layer_norm_parts_are_refused_clearly(tmp_path):
    """A Sqrt over activations that is not part of a LayerNorm pattern: refused naming Sqrt (unless the
    elementwise rules lower it), never an internal error."""
    def builder(m):
        return m.op("Sqrt", [m.op("Add", [m.op("ReduceMean", [m.op("Relu", ["x"])], axes=[2]), m.const(np.float32(1))])])
    try:
        _build(tmp_path, "sqrt", [1, 4, 6], builder, 13, TensorProto.FLOAT)
    except ModelError as e:
        assert "Sqrt" in str(e), str(e)


def test_layer_norm_accuracy_vs_onnxruntime(tmp_path):
    """One LayerNormalization (opset 17, gamma/beta) on the model input: on inputs inside the calibrated
    range, the int8 result is within 2 output LSB of float onnxruntime everywhere (input quantization
    included)."""
    global RNG
    RNG = np.random.default_rng(99)
    shape = [1, 16, 64]

    def builder(m):
        return m.op("LayerNormalization", ["x", m.const(w(64) + 1.0), m.const(w(64))], axis=-1, epsilon=1e-5)
    # min-max ranges: the calibrated inputs are then never clipped
    model, qm = _build(tmp_path, "ln", shape, builder, 17, TensorProto.FLOAT, method="minmax")
    assert [o.kind for o in qm.ops] == ["layer_norm"]
    data = np.load(tmp_path / "cal.npz")["x"]                     # the calibrated inputs: no clipping
    q = run_int8(qm, quantize_input(qm, data))
    deq = dequantize_output(qm, q).reshape(len(data), -1).astype(np.float64)
    f = float_outputs(str(model), data).reshape(len(data), -1).astype(np.float64)
    err = np.abs(deq - f) / qm.output_tensor.scale
    print(f"LayerNorm vs onnxruntime: mean {err.mean():.3f} LSB, max {err.max():.3f} LSB over {err.size} values")
    assert err.max() <= 2.0
    assert err.mean() <= 0.5


def test_validate_accuracy_of_a_class_index_output(tmp_path):
    """A classifier that ends in ArgMax outputs the class index itself: validate's accuracy reads
    that value (argmax over a single value would always say class 0; it reported none)."""
    from qnnc.validate import validate

    rng = np.random.default_rng(8)
    w = (rng.standard_normal((5, 10)) * 0.5).astype(np.float32)
    m = GraphBuilder([1, 10], 13)
    m.op("ArgMax", [m.op("Gemm", ["x", m.const(w)], transB=1)], axis=1, keepdims=1)
    m.out_type, m.out_shape = TensorProto.INT64, [1, 1]
    path = m.finish(tmp_path / "m.onnx")
    xs = rng.standard_normal((40, 10)).astype(np.float32)
    ys = (xs @ w.T).argmax(axis=1)
    ys[:10] = (ys[:10] + 1) % 5  # a quarter of the labels wrong
    np.savez(tmp_path / "cal.npz", x=xs)
    np.savez(tmp_path / "test.npz", x=xs, y=ys)
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
    out = validate(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "test.npz"), sanitize=False,
                   progress=False)
    assert out["accuracy_float"] == 0.75, out  # exactly the labels left right
    assert out["accuracy_int8"] >= 0.65 and out["top1_agreement_int8_vs_float"] >= 0.9, out
