"""Grouped Conv, ConvTranspose, LSTM and GRU with int16 activations (quantization.activation_bits: 16,
TFLite's 16x8 scheme): ``qnnc_conv_general_s16`` (rules_s16_conv_general.py, reference/kernels_s16_conv_general.py)
and ``qnnc_lstm_s16`` / ``qnnc_gru_s16`` (rules_s16_recurrent.py, reference/kernels_s16_recurrent.py).

Each case is one small ONNX model built with onnx.helper. Checked: the plan lowers the layer to
the int16 kernel with no requantize around it (only the API's conversions), the generated C of
every case (all compiled into ONE host executable under ASan/UBSan) equals the numpy reference
bit for bit, and the int16 layer alone is closer to float onnxruntime than the int8 one by more
than 3 dB SQNR (measured: grouped Conv and ConvTranspose +4.5 to +9.9 dB, LSTM/GRU +6.5 to +14 dB; the rest of
the error is the int8 weights both share). KERNEL_CASES: random kernel cases test_int16.py runs
on the host and on QEMU.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import test_ops_recurrent as TR
from case_files import canary, i32
from c_build import compile_c, include_dir, runtime_dir, sanitizer_env
from onnx_factory import GraphBuilder as M
from qnnc.build import build
from qnnc.config import load_config
from qnnc.frontend.float_runner import float_outputs_all
from qnnc.kernel_params import ConvGeneralParams, RecurrentParams, struct_fields
from qnnc.quantize import rules_recurrent as RR
from qnnc.quantize import rules_s16_recurrent as RS16
from qnnc.quantize.fixedpoint import quantize_multiplier, quantize_multipliers
from qnnc.reference import kernels_conv_general as KG
from qnnc.reference import kernels_recurrent as KRC
from qnnc.reference import kernels_s16_conv_general as KCG16
from qnnc.reference import kernels_s16_recurrent as KRC16
from qnnc.reference.interpreter import quantize_input, run_batch

RNG = np.random.default_rng(20261216)


def w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def convt(m, x, cin, cout, k=3, group=1, bias=True, **attrs):
    ins = [x, m.const(w(cin, cout // group, k, k))] + ([m.const(w(cout, scale=0.1))] if bias else [])
    return m.op("ConvTranspose", ins, kernel_shape=[k, k], group=group, **attrs)


def gconv(m, x, cin, cout, group, k=3, **attrs):
    ins = [x, m.const(w(cout, cin // group, k, k)), m.const(w(cout, scale=0.1))]
    return m.op("Conv", ins, kernel_shape=[k, k], group=group, **attrs)


# Each case: (input shape NCHW, builder, config extras). Every attribute the int8 rules take; a
# fused LeakyRelu runs as the int16 layer then qnnc_prelu_s16 (rules_s16_tables.with_fused_activation).
CASES = {
    "grouped_conv_3x3_relu": ([1, 6, 6, 5], lambda m: m.op("Relu", [gconv(m, "x", 6, 9, 3, pads=[1, 1, 1, 1])]), ""),
    "grouped_conv_s2_dil2_bias_correction": (
        [1, 8, 9, 9], lambda m: gconv(m, "x", 8, 4, 2, strides=[2, 2], dilations=[2, 2], pads=[2, 1, 1, 2]),
        "  bias_correction: true\n"),
    "grouped_conv_leaky": ([1, 4, 5, 5], lambda m: m.op("LeakyRelu", [gconv(m, "x", 4, 4, 2, pads=[1, 1, 1, 1])],
                                                        alpha=0.1), ""),
    "convt_k4s2p1_leaky": ([1, 4, 3, 3], lambda m: m.op("LeakyRelu", [convt(m, "x", 4, 6, k=4, strides=[2, 2],
                                                                             pads=[1, 1, 1, 1])], alpha=0.2), ""),
    "unet_k2s2_relu": ([1, 6, 4, 4], lambda m: m.op("Relu", [convt(m, "x", 6, 4, k=2, strides=[2, 2])]), ""),
    "k3s2_output_padding_bias_correction": (
        [1, 6, 4, 5], lambda m: convt(m, "x", 6, 5, strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1],
                                      bias=False), "  bias_correction: true\n"),
    "k4s2p1_clip6": ([1, 5, 3, 4], lambda m: m.op("Clip", [convt(m, "x", 5, 4, k=4, strides=[2, 2], pads=[1, 1, 1, 1]),
                                                          m.const(np.float32(0.0)), m.const(np.float32(6.0))]), ""),
    "dilation_asym_strides_pads": ([1, 6, 4, 5], lambda m: convt(m, "x", 6, 3, dilations=[2, 1], strides=[1, 2],
                                                                 pads=[0, 1, 2, 0]), ""),
    "same_upper_odd": ([1, 3, 5, 5], lambda m: convt(m, "x", 3, 4, strides=[2, 2], auto_pad="SAME_UPPER"), ""),
    "output_shape_stride3_dil2": ([1, 4, 3, 4], lambda m: convt(m, "x", 4, 3, strides=[3, 3], dilations=[2, 2],
                                                                output_shape=[10, 12]), ""),
    "grouped_then_depthwise": ([1, 6, 4, 4], lambda m: convt(m, convt(m, "x", 6, 4, group=2, strides=[2, 2],
                                                                      pads=[1, 1, 1, 1]), 4, 4, k=2, group=4), ""),
    "wide_300_channels": ([1, 300, 2, 3], lambda m: convt(m, "x", 300, 3, k=2, strides=[2, 2], bias=True), ""),
}


# LSTM / GRU (tests/test_ops_recurrent.py's builder): name -> (op, T, D, H, direction, outputs, kwargs).
# Every variant the int8 rule takes: directions, GRU linear_before_reset 0 / 1, Y / Y_h / Y_c, zero,
# constant and PyTorch-style initial states, one step.
RNN_CASES = {
    "lstm_fwd_torch_Y": ("LSTM", 12, 10, 16, "forward", ("Y",), dict(torch_style=True)),
    "lstm_rev_Yh_Yc": ("LSTM", 12, 8, 16, "reverse", ("Y_h", "Y_c"), {}),
    "lstm_bidir_const_state_big_cell_T1": ("LSTM", 1, 6, 8, "bidirectional", ("Y", "Y_c"),
                                           dict(init="const", wscale=0.9)),
    "gru_lbr1_torch_Y": ("GRU", 12, 10, 16, "forward", ("Y",), dict(torch_style=True, lbr=1)),
    "gru_lbr0_rev_Yh": ("GRU", 16, 9, 24, "reverse", ("Y_h",), dict(lbr=0)),
    "gru_lbr0_bidir_const_state": ("GRU", 8, 4, 10, "bidirectional", ("Y", "Y_h"), dict(lbr=0, init="const")),
}


def build_case(tmp_path: Path, case: str, shape, builder, bits: int, name: str, extra: str = ""):
    """Build one onnx.helper case model at ``bits`` activation bits with C prefix ``name`` (its ONNX
    file made once, shared by both precisions; min-max ranges from 32 seeded normal samples):
    (onnx path, calibration inputs, build result, generated-C folder)."""
    path = tmp_path / f"{case}.onnx"
    if not path.exists():
        m = M(shape)
        builder(m)
        m.finish(path)
    d = tmp_path / f"{case}_{bits}"
    d.mkdir(parents=True)
    cal = np.random.default_rng(3).standard_normal((32, *shape[1:])).astype(np.float32)
    np.savez(d / "cal.npz", x=cal)
    (d / "q.yaml").write_text(f"name: m\ncalibration:\n  data: cal.npz\n  method: minmax\nquantization:\n"
                              f"  activation_bits: {bits}\n{extra}")
    res = build(str(path), load_config(str(d / "q.yaml")), str(d / "gen"), name, progress=False)
    return path, cal, res, d / "gen"


def _build(tmp_path: Path, case: str, bits: int):
    """Build a CASES model at ``bits``; distinct C prefixes: all models link into one executable."""
    shape, builder, extra = CASES[case]
    name = f"t{sorted(CASES).index(case)}_{bits}"
    path, cal, res, gen = build_case(tmp_path, case, shape, builder, bits, name, extra)
    return path, cal, res.compiled.model, gen, name


def _recurrent_build(tmp_path: Path, case: str, bits: int):
    """Build a recurrent case (ONNX made once, tests/test_ops_recurrent.py's builder) at ``bits``."""
    op, T, D, H, direction, outputs, kw = RNN_CASES[case]
    path = tmp_path / f"{case}.onnx"
    if not path.exists():
        TR.rnn_model(path, op, T, D, H, direction, outputs, **kw)
    d = tmp_path / f"{case}_{bits}"
    d.mkdir(parents=True)
    cal = np.random.default_rng(7).standard_normal((min(256, max(16, 2048 // (T * D))), T, D)).astype(np.float32)
    np.savez(d / "cal.npz", x=cal)
    (d / "q.yaml").write_text(f"name: m\ncalibration:\n  data: cal.npz\n  method: minmax\nquantization:\n"
                              f"  activation_bits: {bits}\n")
    name = f"r{sorted(RNN_CASES).index(case)}_{bits}"
    res = build(str(path), load_config(str(d / "q.yaml")), str(d / "gen"), name, progress=False)
    return path, cal, res.compiled.model, d / "gen", name


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every case at int16 and int8 (int8: the accuracy baseline), and ONE sanitized executable that
    runs every int16 model on its input file (<name>.in -> <name>.out, outputs back to back)."""
    tmp = tmp_path_factory.mktemp("h16")
    cases = {c: (_build(tmp, c, 16), _build(tmp, c, 8)) for c in sorted(CASES)}
    cases.update({c: (_recurrent_build(tmp, c, 16), _recurrent_build(tmp, c, 8)) for c in sorted(RNN_CASES)})
    kernels, models, calls = set(), [], []
    for c, ((_, _, qm, gen, name), _) in cases.items():
        kernels |= {p.name for p in gen.glob("qnnc_*.c")}
        models += [gen / f"{name}.c", gen / f"{name}_weights.c"]
        outs = [f"qout{k}" for k in range(len(qm.output_tensors))]
        decl = "".join(f"    static int8_t {o}[{t.size}];\n" for o, t in zip(outs, qm.output_tensors))
        writes = "".join(f"        fwrite({o}, 1, sizeof {o}, fo);\n" for o in outs)
        calls.append(f'''#include "{gen}/{name}.h"
static int run_{name}(void)
{{
    static int{qm.input_tensor.bits}_t qin[{qm.input_tensor.size}];
{decl}    FILE *fi = fopen("{tmp}/{name}.in", "rb"), *fo = fopen("{tmp}/{name}.out", "wb");
    if (!fi || !fo) return 2;
    while (fread(qin, 1, sizeof qin, fi) == sizeof qin) {{
        if ({name}_run(qin, {", ".join(outs)})) return 4;
{writes}    }}
    fclose(fi);
    fclose(fo);
    return 0;
}}
''')
    main = tmp / "main.c"
    names = [cases[c][0][4] for c in sorted(cases)]
    main.write_text("#include <stdio.h>\n" + "".join(calls) + "int main(void)\n{\n"
                    + "".join(f"    if (run_{n}()) return 1;\n" for n in names) + "    return 0;\n}\n")
    srcs = [main, *models, *(runtime_dir() / "src" / k for k in sorted(kernels))]
    exe = compile_c(srcs, [include_dir()], tmp / "all", sanitize=True,
                    base_flags=("-std=c99", "-O1", "-Wall", "-Wextra", "-Werror"))
    return tmp, cases, exe


@pytest.fixture(scope="module")
def c_outputs(built):
    """The C outputs of every int16 model on calibration-range and out-of-range inputs, by case:
    (int8 API inputs, [each output's values, (samples, size)])."""
    tmp, cases, exe = built
    inputs = {}
    for c, ((_, cal, qm, _, name), _) in cases.items():
        test = np.concatenate([cal[:12], 3.0 * RNG.standard_normal((12, *cal.shape[1:])).astype(np.float32)])
        inputs[c] = quantize_input(qm, test)
        inputs[c].tofile(tmp / f"{name}.in")  # int8, or int16 for a multi-I/O model's int16 input
    r = subprocess.run([str(exe)], capture_output=True, env=sanitizer_env(), timeout=120)
    assert r.returncode == 0, r.stderr.decode()[:2000]
    res = {}
    for c, ((_, _, qm, _, name), _) in cases.items():
        raw = np.fromfile(tmp / f"{name}.out", np.int8).reshape(len(inputs[c]), -1)
        bounds = np.cumsum([0] + [t.size for t in qm.output_tensors])
        res[c] = (inputs[c], [raw[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])])
    return res


def _op_alone_error(qm, op, run_op, x_nhwc, f_nhwc):
    """SQNR (dB) and max |error| (in output scale units) vs float of the layer alone, its input
    quantized from the float input at the layer's input scale (no earlier rounding mixed in)."""
    t_in, t_out = qm.tensors[op.inputs[0]], qm.tensors[op.output]
    lo, hi = (-32768, 32767) if t_in.bits == 16 else (-128, 127)
    q = np.clip(np.round(x_nhwc / t_in.scale) + t_in.zero_point, lo, hi)
    q = q.astype(np.int16 if t_in.bits == 16 else np.int8)
    y = np.stack([run_op(op, {op.inputs[0]: q[i:i + 1]}, (1,) + tuple(t_out.shape[1:])) for i in range(len(q))])
    deq = (y.reshape(f_nhwc.shape).astype(np.float64) - t_out.zero_point) * t_out.scale
    err = deq - f_nhwc
    return 10 * np.log10(np.sum(f_nhwc ** 2) / max(np.sum(err ** 2), 1e-30)), np.abs(err).max() / t_out.scale


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_general_int16(case, built, c_outputs):
    _, cases, _ = built
    (path, cal, qm, _, _), (_, _, qm8, _, _) = cases[case]
    # Lowered to the 16x8 kernel: int16 in and out, no requantize but the int8 API's two conversions.
    layers = [o for o in qm.ops if o.kind == "conv_general"]
    assert layers and all(o.kernel == "qnnc_conv_general_s16" and o.consts["bias"].dtype == np.int64
                          for o in layers)
    assert all(o.params.transposed == (not case.startswith("grouped_conv")) for o in layers)
    assert all(qm.tensors[o.inputs[0]].bits == 16 and qm.tensors[o.output].bits == 16 for o in layers)
    assert [o.kind for o in qm.ops].count("requantize") == 2 and not qm.notes
    leaky = [o for o in qm.ops if o.kernel == "qnnc_prelu_s16"]
    assert len(leaky) == ("leaky" in case)
    assert qm.ops[-1].kind == "requantize" and qm.ops[-1].inputs[0] in {o.output for o in layers + leaky} | {
        o.output for o in qm.ops if o.kind == "transpose"}

    # The C equals the reference bit for bit (ASan/UBSan), in range and beyond the calibrated range.
    q_in, (c_out,) = c_outputs[case]
    ref = run_batch(qm, {qm.input: q_in}, keep=[o.output for o in layers])
    assert np.array_equal(c_out, ref[qm.output].reshape(c_out.shape)), f"{case}: C differs from the reference"
    inner = ref[layers[-1].output]  # int16 results use the range (not a degenerate case)
    assert len(np.unique(inner)) > min(200, inner.size // 3)

    # Closer to float than the int8 layer (both read the same float input, int8 weights in both).
    if len(layers) != 1 or leaky:
        return
    xs = cal[:16]
    sess = ort.InferenceSession(str(path))
    f = np.concatenate([sess.run(None, {"x": xs[i:i + 1]})[0] for i in range(len(xs))]).astype(np.float64)
    f_nhwc, x_nhwc = f.transpose(0, 2, 3, 1), xs.transpose(0, 2, 3, 1).astype(np.float64)
    (op8,) = [o for o in qm8.ops if o.kind == "conv_general"]
    sqnr16, err16 = _op_alone_error(qm, layers[0], KCG16.run_op, x_nhwc, f_nhwc)
    sqnr8, err8 = _op_alone_error(qm8, op8, KG.run_op, x_nhwc, f_nhwc)
    print(f"{case}: SQNR vs float int16 {sqnr16:.1f} dB, int8 {sqnr8:.1f} dB; max |err| int16 {err16:.1f} "
          f"int16-LSB, int8 {err8:.2f} int8-LSB")
    assert sqnr16 > sqnr8 + 3.0, f"{case}: int16 {sqnr16:.1f} dB is not 3 dB better than int8 {sqnr8:.1f} dB"


@pytest.mark.parametrize("case", sorted(RNN_CASES))
def test_recurrent_int16(case, built, c_outputs):
    """LSTM / GRU with int16 x and h (qnnc_lstm_s16 / qnnc_gru_s16): lowered to the int16 kernel,
    C bit-exact with the reference, and closer to float onnxruntime than the int8 model."""
    _, cases, _ = built
    (path, cal, qm, _, _), (_, _, qm8, _, _) = cases[case]
    op, *_, outputs, _ = RNN_CASES[case]
    layers = [o for o in qm.ops if o.kind == op.lower()]
    assert len(layers) == len(outputs) and sum(1 for o in layers if o.consts) == 1  # one copy of the weights
    assert all(o.kernel == f"qnnc_{op.lower()}_s16" and qm.tensors[o.inputs[0]].bits == 16
               and qm.tensors[o.output].bits == 16 for o in layers)
    # no requantize but the API's: one per output, one for an int8 input (a multi-I/O model whose
    # input only the layer reads takes int16, lower_graph.api_input_bits)
    assert [o.kind for o in qm.ops].count("requantize") == (qm.input_tensor.bits == 8) + len(outputs)
    assert not qm.notes

    q_in, c_outs = c_outputs[case]
    keep = [o.output for o in layers]
    ref = run_batch(qm, {qm.input: q_in}, keep=keep)
    for k, name in enumerate(qm.outputs):
        assert np.array_equal(c_outs[k], ref[name].reshape(c_outs[k].shape)), f"{case} output {k}: C differs"
    inner = np.concatenate([ref[name].reshape(-1) for name in keep])
    assert len(np.unique(inner)) > min(200, inner.size // 4)  # int16 values use the range

    # Accuracy vs float on in-range inputs, the layer alone (as for ConvTranspose): the float input
    # sequence quantized at the layer's input scale, int16 here, int8 in the int8 model (both with int8
    # weights), each output against float onnxruntime.
    xs = cal[:8].astype(np.float64)
    floats = [f.reshape(len(xs), -1).astype(np.float64) for f in float_outputs_all(str(path), cal[:8])]
    layers8 = [o for o in qm8.ops if o.kind == op.lower()]
    for k, f in enumerate(floats):
        sq = {}
        for bits, model, layer, run in ((16, qm, layers[k], KRC16.run_op), (8, qm8, layers8[k], KRC.run_recurrent)):
            t_in, t_out = model.tensors[layer.inputs[0]], model.tensors[layer.output]
            lim = 32767 if bits == 16 else 127
            q = np.clip(np.round(xs / t_in.scale) + t_in.zero_point, -lim - 1, lim)
            y = np.stack([run(layer, q[i], t_out.shape) for i in range(len(q))])
            deq = (y.reshape(f.shape).astype(np.float64) - t_out.zero_point) * t_out.scale
            sq[bits] = 10 * np.log10(np.sum(f ** 2) / max(np.sum((deq - f) ** 2), 1e-30))
        print(f"{case} output {k}: SQNR vs float int16 {sq[16]:.1f} dB, int8 {sq[8]:.1f} dB")
        assert sq[16] > sq[8] + 3.0, f"{case} output {k}: int16 {sq[16]:.1f} dB vs int8 {sq[8]:.1f} dB"


# ------------------------------------------------------------------ random kernel cases --
# kernel -> (driver id in kernel_driver_s16.c, function, case builder, count): test_int16.py runs them
# with its other int16 kernel cases on the host (O2 and ASan/UBSan) and on QEMU (M4, M55).

def _blob(a, dtype) -> bytes:
    return np.ascontiguousarray(a, dtype=dtype).tobytes()


def _multipliers(rng, n: int, lo: float, hi: float):
    """Per-channel multipliers / shifts of reals 10^U(lo, hi) in the 16x8 range (shift <= 14), some 0."""
    reals = 10.0 ** rng.uniform(lo, hi, n)
    reals[rng.random(n) < 0.05] = 0.0
    mult, shift = quantize_multipliers(reals)
    tiny = shift < -46
    mult[tiny], shift[tiny] = 0, 0
    return mult.astype(np.int32), shift.astype(np.int32)


def conv_general_kernel_case(rng):
    """qnnc_conv_general_s16, grouped and transposed: groups, strides 1-4, dilations 1-3 (transposed
    taps step by stride / gcd), leading pads, output sizes with output_padding and outputs no tap
    reaches (bias only), more than 256 channels per group (the int32 partial sums flush), full-range
    int16 inputs."""
    transposed = int(rng.random() < 0.6)
    groups = int(rng.choice([1, 1, 2, 3])) if transposed else int(rng.choice([2, 3, 4]))
    icg = int(rng.integers(250, 300)) if rng.random() < 0.05 else int(rng.integers(1, 5))
    ocg = int(rng.integers(1, 4))
    kh, kw, h, w = (int(v) for v in rng.integers(1, 6, 4))
    sh, sw = (int(v) for v in rng.integers(1, 5, 2))
    dh, dw = (int(v) for v in rng.integers(1, 4, 2))
    pt, pl = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    if transposed:
        oh = max(1, (h - 1) * sh + (kh - 1) * dh + 1 - pt + int(rng.integers(-1, 3)))
        ow = max(1, (w - 1) * sw + (kw - 1) * dw + 1 - pl + int(rng.integers(-1, 3)))
    else:  # trailing pads 0 to kernel - 1; windows wholly in the padding give the bias
        oh = max(1, (h + pt + int(rng.integers(0, kh)) - (kh - 1) * dh - 1) // sh + 1)
        ow = max(1, (w + pl + int(rng.integers(0, kw)) - (kw - 1) * dw - 1) // sw + 1)
    act_min, act_max = (-32768, 32767) if rng.random() < 0.6 else (0, int(rng.integers(1000, 32768)))
    p = ConvGeneralParams(input_offset=0, output_offset=0, stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl,
                          dilation_h=dh, dilation_w=dw, groups=groups, transposed=transposed, act_min=act_min,
                          act_max=act_max, act_lut=None, rounding=0)
    oc = ocg * groups
    mult, shift = _multipliers(rng, oc, -9, 1.5)
    top = rng.random(oc) < 0.1  # the saturating 16-bit reduction of multipliers >= 0x7FFF0000
    mult[top] = rng.integers(0x7FFF0000, 0x7FFFFFFF, int(top.sum()))
    x = rng.integers(-32768, 32768, (1, h, w, icg * groups)).astype(np.int16)
    filt = rng.integers(-128, 128, (oc, kh, kw, icg)).astype(np.int8)
    bias = None if rng.random() < 0.2 else rng.integers(-(1 << 40), 1 << 40, oc).astype(np.int64) // 10 ** int(
        rng.integers(0, 8))
    out_dims = (1, oh, ow, oc)
    expected = KCG16.conv_general_s16(p, mult, shift, x, filt, bias, out_dims)
    blobs = [i32(0, 0, sh, sw, pt, pl, dh, dw, groups, transposed, act_min, act_max), _blob(mult, "<i4"),
             _blob(shift, "<i4"), i32(*x.shape), _blob(x, "<i2"), i32(*filt.shape), _blob(filt, np.int8),
             b"" if bias is None else _blob(bias, "<i8"), i32(*out_dims), canary(rng, expected.nbytes)]
    return ("conv_general_s16", blobs, expected, f"x{x.shape} filt{filt.shape} {p}")


def recurrent_kernel_case(rng, kind: str):
    """qnnc_lstm_s16 / qnnc_gru_s16, one direction: random sizes, int8 weights, int32 biases, gate
    multipliers that put the pre-activations anywhere from inside to far beyond Q3.12's [-8, 8)
    (saturation), every cell shift, initial states over the whole int16 range, output modes 0 / 1 / 2,
    both GRU linear_before_reset forms, forward and reverse."""
    G = 4 if kind == "lstm" else 3
    T, D, H = int(rng.integers(1, 6)), int(rng.integers(1, 10)), int(rng.integers(1, 9))
    mode = int(rng.integers(0, 3 if kind == "lstm" else 2))
    cs = int(rng.integers(0, 16))
    hm, hs = quantize_multiplier(2.0 ** -30 / 10.0 ** rng.uniform(-5, -2.5))
    cm, csh = quantize_multiplier(2.0 ** -cs / 10.0 ** rng.uniform(-5, -2.5)) if mode == 2 else (0, 0)
    p = RecurrentParams(T, D, H, int(rng.integers(0, 2)), mode, H, 0, cs, hm, hs, cm, csh, 0,
                        int(rng.integers(0, 2)) if kind == "gru" else 0)
    c = {"input_weights": rng.integers(-127, 128, (1, G * H, D)).astype(np.int8),
         "recurrent_weights": rng.integers(-127, 128, (1, G * H, H)).astype(np.int8),
         "input_bias": rng.integers(-(1 << 24), 1 << 24, (1, G * H)).astype(np.int32),
         "recurrent_bias": rng.integers(-(1 << 24), 1 << 24, (1, G * H)).astype(np.int32),
         "initial_h": rng.integers(-32768, 32768, (1, H)).astype(np.int16),
         "initial_c": rng.integers(-32768, 32768, (1, H)).astype(np.int16),
         "sigmoid_lut": RR.SIGMOID_LUT, "tanh_lut": RR.TANH_LUT}
    for side in ("input", "recurrent"):
        m, s = _multipliers(rng, G * H, -9.5, -6.5)
        c[f"{side}_multiplier"], c[f"{side}_shift"] = m[None], s[None]
    x = rng.integers(-32768, 32768, (T, D)).astype(np.int16)
    expected = KRC16.direction(kind, p, c, 0, x.astype(np.int64)).astype(np.int16)
    fields = [int(v) for _, v in struct_fields(p)]
    blobs = [i32(*fields)] + [_blob(c[k][0], dt) for k, dt in (
        ("input_weights", np.int8), ("recurrent_weights", np.int8), ("input_bias", "<i4"), ("recurrent_bias", "<i4"),
        ("input_multiplier", "<i4"), ("input_shift", "<i4"), ("recurrent_multiplier", "<i4"),
        ("recurrent_shift", "<i4"))]
    blobs += [_blob(c["initial_c"][0], "<i2") if kind == "lstm" else b"", _blob(RR.SIGMOID_LUT, "<i2"),
              _blob(RR.TANH_LUT, "<i2"), _blob(c["initial_h"][0], "<i2"), _blob(x, "<i2"),
              canary(rng, RS16.scratch_bytes(kind, H)), canary(rng, expected.nbytes)]
    return (f"{kind}_s16", blobs, expected, f"{kind} T{T} D{D} H{H} {p}")


KERNEL_CASES = {
    "conv_general_s16": (40, "qnnc_conv_general_s16", conv_general_kernel_case, 120),
    "lstm_s16": (41, "qnnc_lstm_s16", lambda rng: recurrent_kernel_case(rng, "lstm"), 80),
    "gru_s16": (42, "qnnc_gru_s16", lambda rng: recurrent_kernel_case(rng, "gru"), 80),
}
