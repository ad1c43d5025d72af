"""``execution.wide_weights`` for convolutions: the channel-pair layout as int16 for the Armv7E-M DSP
path (``qnnc_conv_s8_paired_wide``).

* the generator's int16 layout (qnnc/emit/wide_weights.py) is the kernels' (the formula of
  tests/kernel_driver.c, which runs the kernel itself on half the random paired conv cases, and of
  its portable path, qnnc_conv_paired_portable.h);
* which convs are widened: those with the channel-pair layout (plan/paired_conv.py), patch
  segments' too, all together or none, after the fully connected layers, within the flash budget;
  counted in weight_bytes as the DSP build carries them and named in the notes;
* the generated C runs bit-exact on QEMU M3/M4/M7/M55, the DSP cores linking the int16 copy and
  the _wide kernel, the others the OHWI weights and qnnc_conv_s8.
"""
from __future__ import annotations

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
from qnnc.emit.wide_weights import wide_paired_conv_weights  # noqa: E402
from qnnc.qmodel import paired_filter_bytes  # noqa: E402

H, W = 7, 8  # 56 pixels: the last pixel triple overlaps the one before
FC_IN = 7 * H * W  # the classifier's inputs: a multiple of 4, so it can take int16 weights too


def _cnn(seed: int = 0):
    """An RGB first layer (3x3, in_c 3: the gathered windows), a pointwise layer (1x1: the flat
    columns), a 3x3 layer with an odd out_c (the C rest of the last channel) and a classifier
    (FC_IN -> 4)."""
    rng = np.random.default_rng(seed)

    def conv(name, x, y, oc, ic, k):
        w = (rng.standard_normal((oc, ic, k, k)) * 0.4).astype(np.float32)
        b = (rng.standard_normal(oc) * 0.1).astype(np.float32)
        inits.extend([F.tensor(f"{name}_w", w), F.tensor(f"{name}_b", b)])
        nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [f"{name}_c"], name=name,
                                      kernel_shape=[k, k], pads=[k // 2] * 4))
        nodes.append(helper.make_node("Relu", [f"{name}_c"], [y], name=f"{name}_relu"))

    nodes, inits = [], []
    conv("first", "x", "a", 8, 3, 3)
    conv("pointwise", "a", "b", 16, 8, 1)
    conv("odd", "b", "c", 7, 16, 3)
    fw = (rng.standard_normal((4, FC_IN)) * 0.05).astype(np.float32)
    inits.extend([F.tensor("fw", fw), F.tensor("fb", np.zeros(4, np.float32))])
    nodes.append(helper.make_node("Flatten", ["c"], ["f"], name="flatten", axis=1))
    nodes.append(helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1))
    return F.model(nodes, [F.vi("x", [1, 3, H, W])], [F.vi("y", [1, 4])], inits)


def _build(tmp_path: Path, execution: str = "  wide_weights: true\n", extra: str = ""):
    from benchmarks import modelbench as MB
    tmp_path.mkdir(parents=True, exist_ok=True)
    onnx_path = F.save(_cnn(), tmp_path / "cnn.onnx")
    cal = np.random.default_rng(5).standard_normal((32, 3, H, W)).astype(np.float32)
    res = MB.generate(onnx_path, tmp_path / "out", cal, extra_config=f"execution:\n{execution}{extra}")
    return res, np.random.default_rng(6).standard_normal((3, 3, H, W)).astype(np.float32)


def _convs(res):
    return [op for op in res.compiled.model.ops if op.kind == "conv"]


def test_layout_is_the_kernels():
    for out_c, k in ((8, 12), (7, 27), (2, 5)):
        w = np.random.default_rng(out_c).integers(-128, 128, (out_c, 1, 1, k)).astype(np.int8)
        got = wide_paired_conv_weights(w)
        kp = (k + 3) & ~3
        pos = [0, 2, 1, 3]  # tap k % 4 -> its place in a channel's group (kernel_driver.c, the portable path)
        want = np.zeros((out_c + (out_c & 1)) * kp, np.int16)
        for o in range(out_c):
            for t in range(k):
                want[(o // 2) * 2 * kp + (t // 4) * 8 + (o % 2) * 4 + pos[t % 4]] = w[o, 0, 0, t]
        assert got.dtype == np.int16 and np.array_equal(got, want)


def _fc(res):
    return next(op for op in res.compiled.model.ops if op.kind == "fully_connected")


def test_paired_convs_widened_and_counted(tmp_path):
    plain, _ = _build(tmp_path / "plain", "  wide_weights: false\n")
    res, _ = _build(tmp_path / "wide")
    convs = _convs(res)
    paired = [bool(op.attrs.get("paired_weights")) for op in convs]
    assert paired[1], "the pointwise layer takes the channel-pair layout"
    assert [bool(op.attrs.get("wide_weights")) for op in convs] == paired
    added = sum(paired_filter_bytes(op.attrs["filter_dims"]) for op in convs if op.attrs.get("paired_weights"))
    assert _fc(res).attrs.get("wide_weights")
    added += FC_IN * 4
    assert res.report["weight_bytes"] == plain.report["weight_bytes"] + added  # the DSP build's int16 copies
    assert any(f"1 fully connected layer(s) and {sum(paired)} conv layer(s) with int16 weights" in n
               and f"+{added} B" in n for n in res.compiled.model.notes), res.compiled.model.notes
    c = res.files["m.c"] + res.files["m_weights.c"]
    assert c.count("QNNC_CONV_S8_PAIRED_WIDE_CALL(") == sum(paired) and "QNNC_CONV_S8_PAIRED_CALL(" not in c
    f = convs[1].attrs["filter_dims"]
    assert f"const int16_t m_op{res.compiled.model.ops.index(convs[1])}_filter_paired_s16[" \
           f"{paired_filter_bytes(f)}]" in c
    for name in ("qnnc_conv_s8_paired_wide.c", "qnnc_conv_s8_paired.c", "qnnc_conv_s8_paired_dsp.c",
                 "qnnc_conv_paired_portable.h"):
        assert name in res.files, name
    assert "qnnc_conv_s8_paired_wide.c" not in plain.files


def test_flash_budget_fully_connected_first_then_all_convs_or_none(tmp_path):
    plain, _ = _build(tmp_path / "plain", "  wide_weights: false\n")
    p = plain.report["weight_bytes"]
    convs = sum(paired_filter_bytes(op.attrs["filter_dims"]) for op in _convs(plain) if op.attrs.get("paired_weights"))
    fc = FC_IN * 4
    assert 0 < convs < fc, (convs, fc)  # the cases below rely on it

    def wide(budget):
        res, _ = _build(tmp_path / str(budget), extra=f"flash_budget: {budget}\n")
        return bool(_fc(res).attrs.get("wide_weights")), [bool(o.attrs.get("wide_weights")) for o in _convs(res)], res

    fc_wide, conv_wide, res = wide(p + fc + convs - 1)  # room for the classifier, not for every conv as well
    assert fc_wide and not any(conv_wide)
    assert "QNNC_CONV_S8_PAIRED_WIDE_CALL" not in res.files["m.c"] and "qnnc_conv_s8_paired_wide.c" not in res.files
    fc_wide, conv_wide, _ = wide(p + convs)  # the classifier does not fit: the convs do, all of them
    assert not fc_wide and all(conv_wide)
    fc_wide, conv_wide, res = wide(p + convs - 1)  # one byte short of all the convs: none
    assert not fc_wide and not any(conv_wide)
    assert res.report["weight_bytes"] == p and "WIDE" not in res.files["m.c"] + res.files["m_weights.c"]


@pytest.mark.qemu
def test_patch_segment_convs_widened_bit_exact(tmp_path):
    """The convs a patch segment runs band by band take the int16 weights too (no int8 instance
    left to link), bit-exact on the M4."""
    from qemu_model import run_bit_exact
    res, xs = _build(tmp_path, "  wide_weights: true\n  patch_layers: 2\n  patches: 2\n")
    seg = next(op for op in res.compiled.model.ops if op.sub_ops)
    subs = [o for o in seg.sub_ops if o.kind == "conv"]
    assert subs and all(o.attrs.get("paired_weights") and o.attrs.get("wide_weights") for o in subs)
    _, names = run_bit_exact(res, tmp_path / "out" / "gen", xs, "m4", tmp_path / "m4", "cnn")
    assert "qnnc_conv_paired_dsp_s8_wide" in names and "qnnc_conv_paired_dsp_s8" not in names


@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m4", "m7", "m55", "m3"])
def test_cortex_m_bit_exact_and_linked_per_path(core, tmp_path):
    from qemu_model import run_bit_exact
    res, xs = _build(tmp_path)
    _, names = run_bit_exact(res, tmp_path / "out" / "gen", xs, core, tmp_path / core, "cnn")
    dsp = core in ("m4", "m7")
    i = res.compiled.model.ops.index(_convs(res)[1])
    assert (f"m_op{i}_filter_paired_s16" in names) == dsp and (f"m_op{i}_filter" in names) == (not dsp)
    assert ("qnnc_conv_paired_dsp_s8_wide" in names) == dsp
    assert "qnnc_conv_paired_dsp_s8" not in names  # every paired layer is wide: the int8 instance is not linked
