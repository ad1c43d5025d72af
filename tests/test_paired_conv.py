"""Conv weights in channel pairs for the Armv7E-M DSP path (plan/paired_conv.py,
emit/paired_weights.py, runtime qnnc_conv_s8_paired).

* the generator's layout is the kernel's (the formula of tests/kernel_driver.c, which runs
  qnnc_conv_s8_paired on half of the random conv cases, on the host and on QEMU);
* which layers take it: int8 convs with a bias and TFLite rounding with the fast requantization,
  or half-to-even rounding with right shifts;
* the generated C names both copies, each under its own #if, and counts the padded copy in
  weight_bytes;
* a model whose convs cover the DSP path's cases (an odd out_c, K % 4 != 0, pixel counts that are
  no multiple of 3 and below 3, whole-range and clamped activations) is bit-exact with the
  reference on the host (sanitizers) and on QEMU M3/M4/M7/M55, the DSP cores linking the paired
  copies and the others the OHWI ones.
"""
from __future__ import annotations

import copy
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import onnx_factory as F  # noqa: E402
from qnnc.emit.paired_weights import paired_conv_weights  # noqa: E402
from qnnc.plan.paired_conv import eligible  # noqa: E402
from qnnc.qmodel import paired_filter_bytes  # noqa: E402


def _model():
    """Conv 3->5 3x3 (K = 27, odd out_c, 35 pixels) + Relu; Conv 5->8 1x1 stride 2 (12 pixels);
    Conv 8->6 3x3 stride 2 + Clip (4 pixels, a clamped range); Conv 6->4 2x2 (1 pixel); Gemm."""
    rng = np.random.default_rng(11)

    def w(*shape):
        return F.tensor(f"w{len(shape)}_{rng.integers(1 << 30)}", rng.standard_normal(shape).astype(np.float32) * 0.4)

    ws = [w(5, 3, 3, 3), w(8, 5, 1, 1), w(6, 8, 3, 3), w(4, 6, 2, 2), w(3, 4)]
    bs = [F.tensor(f"b{i}", rng.standard_normal(n).astype(np.float32) * 0.1) for i, n in enumerate((5, 8, 6, 4, 3))]
    nodes = [
        helper.make_node("Conv", ["x", ws[0].name, "b0"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", ws[1].name, "b1"], ["c2"], kernel_shape=[1, 1], strides=[2, 2]),
        helper.make_node("Conv", ["c2", ws[2].name, "b2"], ["c3"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c3", "lo", "hi"], ["r3"]),
        helper.make_node("Conv", ["r3", ws[3].name, "b3"], ["c4"], kernel_shape=[2, 2]),
        helper.make_node("Flatten", ["c4"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", ws[4].name, "b4"], ["y"], transB=1),
    ]
    inits = ws + bs + [F.tensor("lo", np.array(-0.3, np.float32)), F.tensor("hi", np.array(0.3, np.float32))]
    return F.model(nodes, [F.vi("x", [1, 3, 7, 5])], [F.vi("y", [1, 3])], inits)


def _build(tmp_path: Path):
    from benchmarks import modelbench as MB
    tmp_path.mkdir(parents=True, exist_ok=True)
    onnx_path = F.save(_model(), tmp_path / "cnn.onnx")
    cal = np.random.default_rng(5).standard_normal((48, 3, 7, 5)).astype(np.float32)
    # int8 paired weights (the benchmark board's wide_weights: auto would widen them: test_wide_conv_weights.py)
    res = MB.generate(onnx_path, tmp_path / "out", cal, extra_config="execution:\n  wide_weights: false\n")
    return res, np.random.default_rng(6).standard_normal((4, 3, 7, 5)).astype(np.float32)  # NCHW, as the model


def test_layout_is_the_kernels():
    """Pair p, group g of 4 taps: channel 2p's weights then 2p + 1's; K padded to 4, odd out_c
    completed with a zero row."""
    rng = np.random.default_rng(0)
    for out_c, kh, kw, in_c in ((5, 3, 3, 3), (4, 1, 1, 8), (1, 1, 1, 2), (64, 1, 1, 64)):
        w = rng.integers(-128, 128, (out_c, kh, kw, in_c)).astype(np.int8)
        k, kp = kh * kw * in_c, (kh * kw * in_c + 3) & ~3
        want = np.zeros(((out_c + 1) // 2) * 2 * kp, np.int8)
        flat = w.reshape(out_c, k)
        for o in range(out_c):
            for t in range(k):
                want[(o // 2) * 2 * kp + (t // 4) * 8 + (o % 2) * 4 + t % 4] = flat[o, t]
        got = paired_conv_weights(w)
        assert got.dtype == np.int8 and np.array_equal(got, want)
        assert got.size == paired_filter_bytes((out_c, kh, kw, in_c))


def test_which_layers_take_the_paired_layout(tmp_path):
    res, _ = _build(tmp_path)
    convs = [op for op in res.compiled.model.ops if op.kind == "conv"]
    assert len(convs) == 4 and all(op.attrs.get("paired_weights") for op in convs)
    op = convs[0]
    for change in ({"shift": np.zeros_like(op.consts["shift"])},  # no right shift: the reference path
                   {"multiplier": np.full_like(op.consts["multiplier"], 1 << 29)}):  # slow requantization
        other = copy.deepcopy(op)
        other.consts.update(change)
        assert not eligible(other)
    other = copy.deepcopy(op)
    other.params = dataclasses.replace(op.params, rounding=1)  # half to even: any multiplier, shift <= -1
    other.consts["multiplier"] = np.full_like(op.consts["multiplier"], 1 << 29)
    assert eligible(other)
    other.consts["shift"] = np.zeros_like(op.consts["shift"])
    assert not eligible(other)
    other = copy.deepcopy(op)
    del other.consts["bias"]
    assert not eligible(other)
    # the generated C: both copies under their own #if, the call naming both
    c = res.files["m.c"]
    wc = res.files["m_weights.c"]
    assert c.count("QNNC_CONV_S8_PAIRED_CALL(") == 4 and "qnnc_conv_s8(" not in c
    assert wc.count("#if defined(QNNC_CONV_WANT_PAIRED_WEIGHTS)") == 4
    assert wc.count("#if !defined(QNNC_CONV_WANT_PAIRED_WEIGHTS)") == 4
    assert {"qnnc_conv_s8_paired.c", "qnnc_conv_s8_paired_dsp.c", "qnnc_dsp_mm2x3.h", "qnnc_weight_layouts.h",
            "qnnc_conv_im2col_dsp.h"} <= set(res.files)
    # weight_bytes: the DSP build's copies, rows padded to 4 taps and out_c to even
    plain = sum(int(a.nbytes) for o in res.compiled.model.ops for a in o.consts.values())
    pad = sum(paired_filter_bytes(o.attrs["filter_dims"]) - o.consts["filter"].nbytes for o in convs)
    assert pad == (6 * 28 - 5 * 27) + (8 * 8 - 8 * 5)  # K = 27 and 5 padded; the 3x3x8 and 2x2x6 ones fit
    assert res.report["weight_bytes"] == plain + pad


def test_host_build_bit_exact_under_sanitizers(tmp_path):
    from qnnc.emit.hostrun import compile_driver, run_driver
    from qnnc.reference.interpreter import run_int8
    res, xs = _build(tmp_path)
    model = res.compiled.model
    exe = compile_driver(str(tmp_path / "out" / "gen"), "m", str(tmp_path / "m_host"), sanitize=True)
    from benchmarks import modelbench as MB
    q = MB.quantized_inputs(res, xs)  # NHWC int8, the generated API's layout
    got = run_driver(exe, q.reshape(len(xs), -1), model.output_tensor.size)
    assert np.array_equal(got, run_int8(model, q).reshape(len(xs), -1))


@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m4", "m7", "m55", "m3"])
def test_cortex_m_bit_exact_and_linked_per_path(core, tmp_path):
    from qemu_model import run_bit_exact
    res, xs = _build(tmp_path)
    _, names = run_bit_exact(res, tmp_path / "out" / "gen", xs, core, tmp_path / core, "cnn")
    dsp = core in ("m4", "m7")
    convs = [i for i, op in enumerate(res.compiled.model.ops) if op.kind == "conv"]
    for i in convs:
        assert (f"m_op{i}_filter_paired" in names) == dsp and (f"m_op{i}_filter" in names) == (not dsp), i
    assert ("qnnc_conv_paired_dsp_s8" in names) == dsp


def _group_counts_model():
    """The assembly block's first-group entry cases: Conv 4->4 1x1 (K = 4: the peeled group alone),
    Conv 4->6 3x3 (K = 36: 8 more groups, one whole pass of the 8-group loop), Conv 6->8 3x3
    (K = 54: 13 more, entering at 5 then one pass), each + Relu (whole-range outputs: the
    all-assembly channel loop); 6x6 pixels (12 triples)."""
    rng = np.random.default_rng(12)

    def w(name, *shape):
        return F.tensor(name, rng.standard_normal(shape).astype(np.float32) * 0.3)

    inits = [w("w1", 4, 4, 1, 1), w("w2", 6, 4, 3, 3), w("w3", 8, 6, 3, 3), w("wf", 3, 8 * 36)]
    inits += [F.tensor(f"b{i}", rng.standard_normal(n).astype(np.float32) * 0.1) for i, n in ((1, 4), (2, 6), (3, 8), (4, 3))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("Flatten", ["r3"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wf", "b4"], ["y"], transB=1),
    ]
    return F.model(nodes, [F.vi("x", [1, 4, 6, 6])], [F.vi("y", [1, 3])], inits)


@pytest.mark.qemu
@pytest.mark.parametrize("wide", ["false", "true"])
def test_block_group_counts_bit_exact_on_m4(wide, tmp_path):
    """1, 9 and 14 groups of 4 taps (qnnc_dsp_mm2x3.h's peeled first group, then none / 8 / 13 in
    the 8-group loop) in the int8 and int16 weight widths: bit-exact on the host (sanitizers) and
    on QEMU M4."""
    from benchmarks import modelbench as MB
    from qemu_model import run_bit_exact
    from qnnc.emit.hostrun import compile_driver, run_driver
    from qnnc.reference.interpreter import run_int8
    onnx_path = F.save(_group_counts_model(), tmp_path / "g.onnx")
    cal = np.random.default_rng(5).standard_normal((48, 4, 6, 6)).astype(np.float32)
    res = MB.generate(onnx_path, tmp_path / "out", cal, extra_config=f"execution:\n  wide_weights: {wide}\n")
    model = res.compiled.model
    convs = [op for op in model.ops if op.kind == "conv"]
    assert [op.attrs["filter_dims"][1] * op.attrs["filter_dims"][2] * op.attrs["filter_dims"][3]
            for op in convs] == [4, 36, 54]
    assert all(op.attrs.get("paired_weights") and bool(op.attrs.get("wide_weights")) == (wide == "true")
               and op.params.act_min == -128 and op.params.act_max == 127 for op in convs)
    xs = np.random.default_rng(6).standard_normal((3, 4, 6, 6)).astype(np.float32)
    exe = compile_driver(str(tmp_path / "out" / "gen"), "m", str(tmp_path / "host"), sanitize=True)
    q = MB.quantized_inputs(res, xs)
    assert np.array_equal(run_driver(exe, q.reshape(len(xs), -1), model.output_tensor.size),
                          run_int8(model, q).reshape(len(xs), -1))
    run_bit_exact(res, tmp_path / "out" / "gen", xs, "m4", tmp_path / "m4", "g")
