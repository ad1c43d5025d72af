"""Attention masks before a Softmax, as exporters write them: an additive -1e4 / -1e9 / float32
minimum, a Where with a constant condition, BERT's (1 - mask) * -10000. Without care the Softmax
input's int8 range spans the fill value and every real score lands on one or two codes
(quantize/calibrate_softmax.py floors the range; rules_s8.py clips the constant to what can reach
the output)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import test_ops_elementwise
from onnx_factory import run_cli, vi
from test_ops_elementwise import M, check

SEQ, DIM = 7, 16


def attention(form: str, fill: float) -> M:
    """Causal self-attention over x [1, SEQ, DIM] with the mask in ``form``, then p @ x."""
    rng = np.random.default_rng(3)
    m = M([1, SEQ, DIM], 14 if form == "computed" else 13)  # (Trilu: opset 14)
    q = m.op("MatMul", ["x", m.const((rng.standard_normal((DIM, DIM)) * 0.3).astype(np.float32))])
    k = m.op("MatMul", ["x", m.const((rng.standard_normal((DIM, DIM)) * 0.3).astype(np.float32))])
    s = m.op("MatMul", [q, m.op("Transpose", [k], perm=[0, 2, 1])])
    causal = np.tril(np.ones((SEQ, SEQ), bool))
    if form == "add":
        s = m.op("Add", [s, m.const(np.where(causal, 0.0, fill).astype(np.float32))])
    elif form == "where":
        s = m.op("Where", [m.const(causal), s, m.const(np.array(fill, np.float32))])
    elif form == "computed":  # built in the forward pass: ConstantOfShape(fill) -> Trilu (upper, k = 1)
        full = m.op("ConstantOfShape", [m.const(np.array([SEQ, SEQ], np.int64))],
                    value=numpy_helper.from_array(np.array([fill], np.float32)))
        s = m.op("Add", [s, m.op("Trilu", [full, m.const(np.array(1, np.int64))], upper=1)])
    elif form == "where_views":  # an Identity and a Reshape between the mask and the Softmax
        s = m.op("Where", [m.const(causal), s, m.const(np.array(fill, np.float32))])
        s = m.op("Reshape", [m.op("Identity", [s]), m.const(np.array([1, SEQ, SEQ], np.int64))])
    else:  # BERT: a padding mask (1 - attention_mask) * fill added
        keep = np.array([[[1, 1, 1, 1, 1, 0, 0]]], np.float32)
        s = m.op("Add", [s, m.op("Mul", [m.op("Sub", [m.const(np.array(1.0, np.float32)), m.const(keep)]),
                                         m.const(np.array(fill, np.float32))])])
    p = m.op("Softmax", [s], axis=-1)
    m.op("MatMul", [p, "x"])
    m.out_shape = [1, SEQ, DIM]
    return m


@pytest.mark.parametrize("form, fill", [("add", -1e4), ("add", -1e9), ("add", -3.4028235e38), ("add", -np.inf),
                                        ("where", -1e4), ("where", -1e9), ("where", -np.inf), ("where_views", -1e9),
                                        ("where_views", -np.inf), ("computed", -np.inf), ("bert", -1e4)])
def test_masked_attention_keeps_the_scores_resolution(form, fill, tmp_path, monkeypatch):
    """Within 0.8 LSB on average and 40 LSB at worst of onnxruntime (the same model without a mask:
    about 0.55 and 12-26 LSB, depending on the samples; before the floor: about 14 LSB on average
    and 100 at worst, and a refusal for the float32 minimum). The samples are this test's own."""
    monkeypatch.setattr(test_ops_elementwise, "RNG", np.random.default_rng(11))
    qm, worst, mean = check(attention(form, fill), tmp_path, max_lsb=40.0, mean_lsb=0.8, c=form == "add")
    assert any("Softmax input" in note for note in qm.notes)
    softmax_in = next(op for op in qm.ops if op.kind == "softmax").inputs[0]
    t = qm.tensors[softmax_in]
    assert (-128 - t.zero_point) * t.scale > -100  # floored near the scores, far above the fill


@pytest.mark.parametrize("form", ["add", "where", "computed"])
def test_an_infinite_mask_is_the_same_for_the_softmax(form, tmp_path):
    """-inf entries (PyTorch's masked_fill(..., float('-inf')), nn.Transformer's causal mask, one
    built in the forward pass by ConstantOfShape and Trilu) become -1e4 where only a Softmax reads
    them (frontend/finite_masks.py): the float model qnnc calibrates on gives onnxruntime's results
    for the model as exported."""
    import onnxruntime as ort
    from qnnc.frontend.float_runner import float_outputs

    path = attention(form, -np.inf).finish(tmp_path / "m.onnx")
    xs = np.random.default_rng(4).standard_normal((4, SEQ, DIM)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {"x": x[None]})[0] for x in xs])
    assert np.all(np.isfinite(want))
    assert np.array_equal(float_outputs(str(path), xs), want)


def padding_attention(path, fill: float, fill_branch: str = "true"):
    """Self-attention over x [1, SEQ, DIM] whose padding mask comes from a second input (1 keep,
    0 pad): Where(mask == 0, fill, scores), as BERT-style exports write it, or (``fill_branch``
    "false") Where(mask == 1, scores, fill), as masked_fill(~pad) does."""
    rng = np.random.default_rng(1)
    w = lambda: numpy_helper.from_array((rng.standard_normal((DIM, DIM)) * 0.3).astype(np.float32))
    inits = [w(), w(), numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array(fill, np.float32), "fill"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array([1, 1, SEQ], np.int64), "mask_shape")]
    inits[0].name, inits[1].name = "wq", "wk"
    N = helper.make_node
    nodes = [N("MatMul", ["x", "wq"], ["q"]), N("MatMul", ["x", "wk"], ["k"]), N("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             N("MatMul", ["q", "kt"], ["s"]), N("Reshape", ["keep", "mask_shape"], ["keep3"]),
             N("Equal", ["keep3", "zero"], ["pad"]), N("Where", ["pad", "fill", "s"], ["masked"])]
    if fill_branch == "false":
        nodes[-2:] = [N("Equal", ["keep3", "one"], ["kept"]), N("Where", ["kept", "s", "fill"], ["masked"])]
    nodes += [N("Softmax", ["masked"], ["p"], axis=-1), N("MatMul", ["p", "x"], ["y"])]
    g = helper.make_graph(nodes, "padding", [vi("x", [1, SEQ, DIM]), vi("keep", [1, SEQ])], [vi("y", [1, SEQ, DIM])],
                          inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _padding_data(n: int, seed: int):
    r = np.random.default_rng(seed)
    keep = np.ones((n, SEQ), np.float32)
    for i in range(n):
        keep[i, r.integers(3, SEQ + 1):] = 0
    return {"x": r.standard_normal((n, SEQ, DIM)).astype(np.float32), "keep": keep}


@pytest.mark.parametrize("fill,fill_branch", [(-1e4, "true"), (-1e9, "true"), (-np.inf, "true"), (-1e4, "false"),
                                              (-np.inf, "false")])
def test_padding_mask_from_an_input(fill, fill_branch, tmp_path):
    """The fill meets the scores in one int8 tensor before the Softmax (scores + mask * (fill -
    scores), the fill's branch's mask); fills beyond -1e4 are taken as -1e4
    (frontend/finite_masks.py), so the scores keep their resolution: the unmasked model's error
    level (before: 74 LSB max, 8 LSB mean at -1e9; -inf refused; the fill as the false branch was
    selected as fill + keep * (scores - fill), the scores then on the fill's scale: 179 LSB)."""
    model = padding_attention(tmp_path / "m.onnx", fill, fill_branch)
    np.savez(tmp_path / "cal.npz", **_padding_data(48, 0))
    np.savez(tmp_path / "test.npz", **_padding_data(16, 1))
    (tmp_path / "q.yaml").write_text("calibration:\n  data: cal.npz\n")
    r = run_cli(["validate", model, "-c", tmp_path / "q.yaml", "-d", tmp_path / "test.npz", "--no-sanitize", "--json"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["bit_exact"]
    assert out["float_max_abs_error_lsb"] <= 24 and out["float_mean_abs_error_lsb"] <= 1.0, out


def test_fill_rewrite_leaves_other_readers_alone():
    """finite_masks touches an Add only where Softmaxes alone read it: not a dead one, not one an
    If branch also reads (a reader inside a subgraph), not one that is a graph output."""
    from onnx import TensorProto
    from qnnc.frontend.finite_masks import finite_masks

    mask = numpy_helper.from_array(np.array([0.0, -np.inf], np.float32), "mask")
    then = helper.make_graph([helper.make_node("Identity", ["a"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 2])])
    nodes = [helper.make_node("Add", ["x", "mask"], ["dead"]),
             helper.make_node("Add", ["x", "mask"], ["a"]), helper.make_node("Softmax", ["a"], ["p"]),
             helper.make_node("If", ["cond"], ["i"], then_branch=then, else_branch=then),
             helper.make_node("Add", ["x", "mask"], ["y"]), helper.make_node("Softmax", ["y"], ["q"])]
    g = helper.make_graph(nodes, "g", [vi("x", [1, 2]), helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                          [vi("p", [1, 2]), vi("i", [1, 2]), vi("y", [1, 2]), vi("q", [1, 2])], [mask])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    assert finite_masks(m) is m
