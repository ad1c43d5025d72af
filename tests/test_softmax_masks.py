"""Attention masks before a Softmax, as exporters write them: an additive -1e4 / -1e9 / float32
minimum, a Where with a constant condition, BERT's (1 - mask) * -10000. Without care the Softmax
input's int8 range spans the fill value and every real score lands on one or two codes
(quantize/calibrate_softmax.py floors the range; rules_s8.py clips the constant to what can reach
the output)."""
from __future__ import annotations

import numpy as np
import pytest

from test_ops_elementwise import M, check

SEQ, DIM = 7, 16


def attention(form: str, fill: float) -> M:
    """Causal self-attention over x [1, SEQ, DIM] with the mask in ``form``, then p @ x."""
    rng = np.random.default_rng(3)
    m = M([1, SEQ, DIM], 13)
    q = m.op("MatMul", ["x", m.const((rng.standard_normal((DIM, DIM)) * 0.3).astype(np.float32))])
    k = m.op("MatMul", ["x", m.const((rng.standard_normal((DIM, DIM)) * 0.3).astype(np.float32))])
    s = m.op("MatMul", [q, m.op("Transpose", [k], perm=[0, 2, 1])])
    causal = np.tril(np.ones((SEQ, SEQ), bool))
    if form == "add":
        s = m.op("Add", [s, m.const(np.where(causal, 0.0, fill).astype(np.float32))])
    elif form == "where":
        s = m.op("Where", [m.const(causal), s, m.const(np.array(fill, np.float32))])
    else:  # BERT: a padding mask (1 - attention_mask) * fill added
        keep = np.array([[[1, 1, 1, 1, 1, 0, 0]]], np.float32)
        s = m.op("Add", [s, m.op("Mul", [m.op("Sub", [m.const(np.array(1.0, np.float32)), m.const(keep)]),
                                         m.const(np.array(fill, np.float32))])])
    p = m.op("Softmax", [s], axis=-1)
    m.op("MatMul", [p, "x"])
    return m


@pytest.mark.parametrize("form, fill", [("add", -1e4), ("add", -1e9), ("add", -3.4028235e38), ("add", -np.inf),
                                        ("where", -1e4), ("where", -1e9), ("where", -np.inf), ("bert", -1e4)])
def test_masked_attention_keeps_the_scores_resolution(form, fill, tmp_path):
    """Within 24 LSB and 0.8 LSB on average of onnxruntime (the same model without a mask: about
    12 LSB and 0.55 LSB; before the floor: about 100 LSB and 14 LSB on average, and a refusal for
    the float32 minimum)."""
    qm, worst, mean = check(attention(form, fill), tmp_path, max_lsb=24.0, mean_lsb=0.8, c=form == "add")
    assert any("Softmax input" in note for note in qm.notes)
    softmax_in = next(op for op in qm.ops if op.kind == "softmax").inputs[0]
    t = qm.tensors[softmax_in]
    assert (-128 - t.zero_point) * t.scale > -100  # floored near the scores, far above the fill


@pytest.mark.parametrize("form", ["add", "where"])
def test_an_infinite_mask_is_the_same_for_the_softmax(form, tmp_path):
    """-inf entries (PyTorch's masked_fill(..., float('-inf')), nn.Transformer's causal mask) become
    -1e9 where only a Softmax reads them (frontend/finite_masks.py): the float model qnnc
    calibrates on gives onnxruntime's results for the model as exported."""
    import onnxruntime as ort
    from qnnc.frontend.float_runner import float_outputs

    path = attention(form, -np.inf).finish(tmp_path / "m.onnx")
    xs = np.random.default_rng(4).standard_normal((4, SEQ, DIM)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {"x": x[None]})[0] for x in xs])
    assert np.all(np.isfinite(want))
    assert np.array_equal(float_outputs(str(path), xs), want)
