"""Models of opsets newer than qnnc reads (frontend/newer_opsets.py): read as opset 21 where every op
means the same there (onnx.version_converter lacks some adapters), ops added since rewritten as
their formula, and an attribute added since that changes the meaning still a clear refusal.

Every model that builds is checked bit-exact (C under ASan/UBSan against the numpy reference) and
against onnxruntime running the original file (its own Swish / RMSNormalization kernels), with the
calibration data covering the test data's range."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from onnx_factory import model, save, tensor, vi
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.errors import ModelError
from qnnc.frontend.importer import convert_opset, import_onnx
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8


def _needs_opset(version: int):
    """Skip where the installed onnx package does not know opset ``version`` yet (qnnc accepts
    onnx >= 1.13, whose releases before 1.23 know fewer opsets; CI installs the newest)."""
    return pytest.mark.skipif(onnx.defs.onnx_opset_version() < version,
                              reason=f"the installed onnx package knows opsets up to {onnx.defs.onnx_opset_version()}, "
                                     f"not {version}")


def _w(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _same_float(path: Path, tmp: Path, shape):
    """The model as qnnc reads it (restated at opset 21) computes what onnxruntime computes on the
    original file, in float: the rewrite is the op's formula."""
    m, opset = convert_opset(onnx.load(str(path)), str(path))
    assert opset == 21
    onnx.save(m, str(tmp / "restated.onnx"))
    x = np.random.default_rng(9).uniform(-1, 1, shape).astype(np.float32)
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            for p in (path, tmp / "restated.onnx"))
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def _check(path: Path, tmp: Path, shape, max_lsb: float, mean_lsb: float, float_path: Optional[Path] = None):
    """Build, C == reference, reference vs onnxruntime on the original model (or ``float_path``,
    where onnxruntime cannot load it; in output LSB)."""
    rng = np.random.default_rng(5)
    cal = rng.uniform(-1, 1, (64, *shape[1:])).astype(np.float32)
    cal[0], cal[1] = 1.0, -1.0
    test = rng.uniform(-1, 1, (16, *shape[1:])).astype(np.float32)
    np.savez(tmp / "cal.npz", x=cal)
    (tmp / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
    res = build(str(path), load_config(str(tmp / "q.yaml")), str(tmp / "gen"), "m", progress=False)
    qm = res.compiled.model
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp / "gen"), "m", str(tmp / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size), ref)
    sess = ort.InferenceSession(str(float_path or path), providers=["CPUExecutionProvider"])
    f = np.stack([sess.run(None, {"x": t[None]})[0] for t in test]).reshape(len(test), -1)
    err = np.abs(dequantize_output(qm, ref).astype(np.float64) - f) / qm.output_tensor.scale
    print(f"{path.stem}: max {err.max():.2f} LSB, mean {err.mean():.3f} LSB")
    assert err.max() <= max_lsb and err.mean() <= mean_lsb, (err.max(), err.mean())
    return qm


@_needs_opset(22)
def test_opset22_op_the_converter_cannot_take_down(tmp_path):
    """GlobalMaxPool-22 only added bfloat16, but the converter has no adapter to 21 (the model was
    refused): it is read as GlobalMaxPool-1."""
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("GlobalMaxPool", ["c"], ["p"], name="gmp"),
             helper.make_node("Flatten", ["p"], ["y"], name="flat")]
    path = save(model(nodes, [vi("x", [1, 3, 8, 8])], [vi("y", [1, 6])], [tensor("w", _w(rng, 6, 3, 3, 3))],
                      opset=22, ir_version=10), tmp_path / "gmp22.onnx")
    assert import_onnx(str(path)).opset == 21
    _check(path, tmp_path, [1, 3, 8, 8], max_lsb=3.0, mean_lsb=0.5)  # the conv's rounding, max-pooled


@_needs_opset(24)
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_swish_opset24(tmp_path, alpha):
    """Swish-24 (no older version exists) as x * Sigmoid(alpha * x)."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Swish", ["c"], ["y"], name="swish", alpha=alpha)]
    path = save(model(nodes, [vi("x", [1, 3, 6, 6])], [vi("y", [1, 4, 6, 6])], [tensor("w", _w(rng, 4, 3, 3, 3))],
                      opset=24, ir_version=10), tmp_path / "swish24.onnx")
    _same_float(path, tmp_path, [1, 3, 6, 6])
    qm = _check(path, tmp_path, [1, 3, 6, 6], max_lsb=3.0, mean_lsb=0.8)
    assert "mul" in [o.kind for o in qm.ops]


@_needs_opset(23)
@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_normalization_opset23(tmp_path, axis):
    """RMSNormalization-23 (PyTorch's nn.RMSNorm at opset 23+) as the formula PyTorch exports at
    older opsets; axis 1 of a rank-3 tensor normalizes over the last two axes."""
    rng = np.random.default_rng(3)
    scale_shape = [4] if axis == -1 else [3, 4]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
             helper.make_node("RMSNormalization", ["h", "s"], ["y"], name="rms", axis=axis, epsilon=1e-5)]
    path = save(model(nodes, [vi("x", [1, 3, 6])], [vi("y", [1, 3, 4])],
                      [tensor("w", _w(rng, 6, 4)), tensor("s", 1.0 + _w(rng, *scale_shape))],
                      opset=23, ir_version=10), tmp_path / "rms23.onnx")
    _same_float(path, tmp_path, [1, 3, 6])
    # int8 all through the formula (as PyTorch's own older-opset export builds): over rows of 4 a
    # small mean square's reciprocal is coarse, up to 9 LSB at the worst sample (mean under 1)
    _check(path, tmp_path, [1, 3, 6], max_lsb=10.0, mean_lsb=1.0)


@_needs_opset(28)
def test_attribute_added_since_is_still_refused(tmp_path):
    """SpaceToDepth-28's mode=CRD means something SpaceToDepth-13 cannot say: not relabelled, and
    the converter's refusal names the attribute."""
    node = helper.make_node("SpaceToDepth", ["x"], ["y"], name="s2d", blocksize=2, mode="CRD")
    path = save(model([node], [vi("x", [1, 2, 4, 4])], [vi("y", [1, 8, 2, 2])], opset=28, ir_version=13),
                tmp_path / "s2d.onnx")
    with pytest.raises(ModelError) as e:
        import_onnx(str(path))
    assert "opset 28" in str(e.value) and "mode" in str(e.value)


@_needs_opset(28)
def test_attribute_added_since_left_at_default_is_relabelled(tmp_path):
    """SpaceToDepth-28 without mode (its default, DCR, is SpaceToDepth-13's only mode) builds."""
    node = helper.make_node("SpaceToDepth", ["x"], ["y"], name="s2d", blocksize=2)
    path = save(model([node], [vi("x", [1, 2, 4, 4])], [vi("y", [1, 8, 2, 2])], opset=28, ir_version=13),
                tmp_path / "s2d.onnx")
    assert import_onnx(str(path)).opset == 21
    _check(path, tmp_path, [1, 2, 4, 4], max_lsb=0.51, mean_lsb=0.3)


def _attention_model(path: Path, mask: str, rng) -> Path:
    """x [1, 6, 8] -> Q, K, V projections -> Attention-23 (2 heads, 3-D inputs) -> output projection,
    as PyTorch exports scaled_dot_product_attention / nn.MultiheadAttention from opset 23 on.
    mask: 'none', 'causal' (is_causal=1), 'bool' (a boolean causal attn_mask) or 'additive' (a float
    mask of 0 / -inf)."""
    nodes = [helper.make_node("MatMul", ["x", w], [o], name=f"proj_{o}") for w, o in
             (("wq", "q"), ("wk", "k"), ("wv", "v"))]
    inits = [tensor(n, _w(rng, 8, 8, scale=0.4)) for n in ("wq", "wk", "wv", "wo")]
    ins = ["q", "k", "v"]
    causal = np.triu(np.ones((6, 6), bool), 1)
    if mask == "bool":
        inits.append(tensor("mask", ~causal))
        ins.append("mask")
    elif mask == "additive":
        inits.append(tensor("mask", np.where(causal, -np.inf, 0.0).astype(np.float32)))
        ins.append("mask")
    nodes.append(helper.make_node("Attention", ins, ["att"], name="attention", q_num_heads=2, kv_num_heads=2,
                                  is_causal=int(mask == "causal")))
    nodes.append(helper.make_node("MatMul", ["att", "wo"], ["y"], name="out_proj"))
    return save(model(nodes, [vi("x", [1, 6, 8])], [vi("y", [1, 6, 8])], inits, opset=23, ir_version=10), path)


@_needs_opset(23)
@pytest.mark.parametrize("mask", ["none", "causal", "bool", "additive"])
def test_attention_opset23_inlined(tmp_path, mask):
    """Attention-23 (no older version) inlined as the body its ONNX schema defines (onnx.inliner):
    the same float function as onnxruntime's Attention kernel, then built like the attention a
    PyTorch export at opset 20 spells out (the -inf mask fill made moderate, the body's guard of
    rows masked entirely folded away: a causal mask has none)."""
    path = _attention_model(tmp_path / f"attention_{mask}.onnx", mask, np.random.default_rng(4))
    _same_float(path, tmp_path, [1, 6, 8])
    qm = _check(path, tmp_path, [1, 6, 8], max_lsb=4.0, mean_lsb=1.0)
    kinds = [o.kind for o in qm.ops]
    assert "softmax" in kinds and "batch_matmul" in kinds, kinds
    # the one Add is the scores' mask (without one, an Add of zeros: dropped): the body's Expand of
    # K and V to the shape they have is no layer
    assert kinds.count("add") == (0 if mask == "none" else 1), kinds


@_needs_opset(23)
def test_unknown_op_of_a_newer_opset_is_a_clear_error(tmp_path):
    """An op no ONNX schema knows, in an opset-23 model: the converter's refusal naming it, not an
    internal error (looking for its function body raised SchemaError)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"), helper.make_node("FancyOp", ["r"], ["y"], name="f")]
    path = save(model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])], opset=23, ir_version=10), tmp_path / "u.onnx")
    with pytest.raises(ModelError) as e:
        import_onnx(str(path))
    assert "FancyOp" in str(e.value) and "opset 23" in str(e.value)


@pytest.mark.parametrize("reduce_mean", [False, True])
def test_ops_newer_than_the_declared_opset(tmp_path, reduce_mean):
    """An opset-13 model holding LayerNormalization (opset 17) and Mish (opset 18), as exporters
    that stamp an older opset write them (tf2onnx's TFLite HardSwish-14 at opset 13): stamped with
    opset 18, where every other node means the same (the ops keep their own kernels); with a
    ReduceMean-13 (axes an attribute, an input from opset 18 on) each op is inlined instead, as its
    own opset's function body in ops of opset 13. The float reading equals onnxruntime on the same
    graph declared at the newest opset it can be; the build is bit-exact and close to it. A
    malformed one (a second input) stays a clear error."""
    rng = np.random.default_rng(15)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("LayerNormalization", ["h", "g", "b"], ["n"], axis=-1),
             helper.make_node("Mish", ["n"], ["y"])]
    if reduce_mean:
        nodes[2:] = [helper.make_node("Mish", ["n"], ["m"]),
                     helper.make_node("ReduceMean", ["m"], ["r"], axes=[1], keepdims=1),
                     helper.make_node("Add", ["m", "r"], ["y"])]
    inits = [tensor("w", _w(rng, 8, 6)), tensor("g", _w(rng, 6) + 1.0), tensor("b", _w(rng, 6))]
    old = save(model(nodes, [vi("x", [1, 8])], [vi("y", [1, 6])], inits, opset=13), tmp_path / "stamped13.onnx")
    if reduce_mean:  # the float oracle: the two new ops' formulas at opset 13
        nodes[:3] = [helper.make_node("MatMul", ["x", "w"], ["h"]),
                     helper.make_node("ReduceMean", ["h"], ["mu"], axes=[-1], keepdims=1),
                     helper.make_node("Sub", ["h", "mu"], ["d"]), helper.make_node("Mul", ["d", "d"], ["d2"]),
                     helper.make_node("ReduceMean", ["d2"], ["var"], axes=[-1], keepdims=1),
                     helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
                     helper.make_node("Div", ["d", "sd"], ["z"]), helper.make_node("Mul", ["z", "g"], ["zg"]),
                     helper.make_node("Add", ["zg", "b"], ["n"]), helper.make_node("Softplus", ["n"], ["sp"]),
                     helper.make_node("Tanh", ["sp"], ["t"]), helper.make_node("Mul", ["n", "t"], ["m"])]
        inits.append(tensor("eps", np.array(1e-5, np.float32)))
    new = save(model(nodes, [vi("x", [1, 8])], [vi("y", [1, 6])], inits, opset=13 if reduce_mean else 18),
               tmp_path / "oracle.onnx")
    read, opset = convert_opset(onnx.load(str(old)), str(old))
    kinds = {n.op_type for n in read.graph.node}
    if reduce_mean:
        assert opset == 13 and {"LayerNormalization", "Mish"}.isdisjoint(kinds)
    else:
        assert opset == 18 and {"LayerNormalization", "Mish"} <= kinds
    onnx.save(read, str(tmp_path / "read.onnx"))
    x = np.random.default_rng(9).uniform(-1, 1, (1, 8)).astype(np.float32)
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            for p in (new, tmp_path / "read.onnx"))
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # (the inlined formulas requantize at each of their ops: less close than the kernels)
    qm = _check(old, tmp_path, [1, 8], 20.0 if reduce_mean else 8.0, 1.5 if reduce_mean else 0.6, float_path=new)
    if not reduce_mean:  # the stamped model compiles as the one declared at opset 18
        stamped_ops = [(o.kind, o.kernel) for o in qm.ops]
        assert stamped_ops == [(o.kind, o.kernel) for o in _check(new, tmp_path, [1, 8], 8.0, 0.6).ops]


def test_malformed_op_newer_than_the_declared_opset_is_a_clear_error(tmp_path):
    bad = [helper.make_node("HardSwish", ["x", "x"], ["y"], name="two_inputs")]
    path = save(model(bad, [vi("x", [1, 8])], [vi("y", [1, 8])], opset=13), tmp_path / "bad.onnx")
    with pytest.raises(ModelError, match="two_inputs.*HardSwish is defined from opset 14"):
        import_onnx(str(path))


@pytest.mark.parametrize("kind", ["upsample9", "image_scaler8"])
def test_newer_op_beside_an_op_the_stamp_would_change_is_converted_instead(tmp_path, kind):
    """HardSwish (opset 14) in a model declaring opset 9 with Upsample (deprecated from opset 10,
    so not read at 14) or opset 8 with ImageScaler (removed: rewritten before the conversion): the
    model is not stamped with opset 14 but converted as usual and the HardSwish read as its body;
    it builds, and the float reading equals the same graph with x * HardSigmoid(x) written out."""
    rng = np.random.default_rng(18)
    if kind == "upsample9":
        first = [helper.make_node("Upsample", ["x", "scales"], ["u"], mode="nearest")]
        inits, opset, shape = [tensor("scales", np.array([1, 1, 2, 2], np.float32))], 9, [1, 2, 3, 3]
    else:
        first = [helper.make_node("ImageScaler", ["x"], ["u"], scale=0.5, bias=[0.1, -0.2])]
        inits, opset, shape = [], 8, [1, 2, 3, 3]
    out = [1, 2, 6, 6] if kind == "upsample9" else shape
    nodes = first + [helper.make_node("HardSwish", ["u"], ["y"])]
    twin = first + [helper.make_node("HardSigmoid", ["u"], ["h"], alpha=1 / 6, beta=0.5),
                    helper.make_node("Mul", ["u", "h"], ["y"])]
    path = save(model(nodes, [vi("x", shape)], [vi("y", out)], inits, opset=opset), tmp_path / f"{kind}.onnx")
    read, read_opset = convert_opset(onnx.load(str(path)), str(path))
    assert read_opset == 13 and "HardSwish" not in {n.op_type for n in read.graph.node}
    onnx.save(read, str(tmp_path / "read.onnx"))
    reference = convert_opset(model(twin, [vi("x", shape)], [vi("y", out)], inits, opset=opset), str(path))[0]
    x = rng.uniform(-4, 4, shape).astype(np.float32)
    a, b = (ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            for m in (reference, read))
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)
    np.savez(tmp_path / "cal.npz", x=rng.uniform(-4, 4, (16, *shape[1:])).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
    build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m", progress=False)
