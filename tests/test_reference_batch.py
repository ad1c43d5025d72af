"""The batched numpy reference (``run_all`` / ``run_int8`` fold the samples into the kernels' leading
axis) gives, sample by sample, exactly what the reference computes one sample at a time, op by op
(``interpreter._run_op``); and the faster pieces ``calibration.method: auto`` relies on (the float
statistics in chunks, ``srdhm``) are bit-identical to their plain definitions."""
from __future__ import annotations

import numpy as np
import pytest

from qnnc.config import Config, DataRef, load_config
from qnnc.build import generate
from qnnc.quantize.calibrate_auto import _Pending, _Stats
from qnnc.quantize.fixedpoint import (INT32_MAX, INT32_MIN, quantize_multiplier, quantize_multipliers, requantize,
                                     requantize_offset, srdhm)
from qnnc.reference import interpreter as I

import shared_models
from test_ops import CASES, INPUT_SHAPE, M

RNG = np.random.default_rng(77)


def _one_at_a_time(qm, xs) -> list:
    """Every output, each sample run alone through ``_run_op`` (no batch axis anywhere)."""
    outs = []
    for i in range(len(xs)):
        values = I._api_inputs(qm, xs[i])
        for op in qm.ops:
            values[op.output] = I._run_op(op, qm, values)
        outs.append([values[o] for o in qm.outputs])
    return [np.stack([o[j] for o in outs]) for j in range(len(qm.outputs))]


def _check(qm, xs) -> None:
    q = I.quantize_input(qm, xs)
    want = _one_at_a_time(qm, q)
    got = I.run_all(qm, q)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.array_equal(g, w)
    assert np.array_equal(I.run_int8(qm, q), want[0])
    single = I.run(qm, q[0])  # the single-sample API is batch 1 of the same path
    assert np.array_equal(single[qm.output], want[0][0])


@pytest.mark.parametrize("case", ["concat_transpose_pad", "residual_add_relu", "mul_broadcast_and_const",
                                  "pools", "tanh_softmax", "gemm_transb_alpha", "depthwise_multiplier",
                                  "conv_stride_dilation", "views_identity_dropout", "sub_div_const"])
def test_batched_ops_match_one_sample_at_a_time(case, tmp_path):
    m = M(INPUT_SHAPE)
    model = m.finish(CASES[case](m), tmp_path / f"{case}.onnx")
    np.savez(tmp_path / "cal.npz", x=RNG.standard_normal((16, *INPUT_SHAPE[1:])).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n  method: minmax\n")
    qm = generate(str(model), load_config(str(tmp_path / "q.yaml")), "op", progress=False).compiled.model
    # 37 samples: more than one chunk of BATCH_MAX, the last one partial.
    _check(qm, RNG.standard_normal((I.BATCH_MAX + 5, *INPUT_SHAPE[1:])).astype(np.float32) * 1.5)


@pytest.mark.parametrize("model", ["mlperf_tiny_kws_dscnn", "onnx_zoo_mnist8", "digits_cnn_sklearn"])
def test_batched_real_models_match_one_sample_at_a_time(model):
    d = shared_models.require(model)
    cfg = Config(calibration=DataRef(str(d / "calibration.npz")), method="minmax")
    qm = generate(str(d / "model.onnx"), cfg, "m", progress=False).compiled.model
    _check(qm, np.load(d / "test.npz")["x"][:12].astype(np.float32))


def test_srdhm_is_the_gemmlowp_definition():
    a = np.concatenate([RNG.integers(INT32_MIN, INT32_MAX, 200_000, endpoint=True),
                        RNG.integers(-4096, 4096, 20_000)])
    b = np.concatenate([RNG.integers(INT32_MIN, INT32_MAX, 200_000, endpoint=True),
                        RNG.integers(1 << 30, INT32_MAX, 20_000)])
    edge = np.array([INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -1, 0, 1, 1 << 30, INT32_MAX])
    a = np.concatenate([a, np.repeat(edge, len(edge))])
    b = np.concatenate([b, np.tile(edge, len(edge))])
    def gemmlowp(x: int, y: int) -> int:  # SaturatingRoundingDoublingHighMul, in Python integers
        if x == y == INT32_MIN:
            return INT32_MAX
        n = x * y + ((1 << 30) if x * y >= 0 else 1 - (1 << 30))
        return (abs(n) >> 31) * (1 if n >= 0 else -1)  # divided by 2^31 truncating toward zero

    want = [gemmlowp(x, y) for x, y in zip(a.tolist(), b.tolist())]
    assert srdhm(a, b).tolist() == want
    assert srdhm(a[:100], np.int64(1 << 30)).tolist() == srdhm(a[:100], np.full(100, 1 << 30)).tolist()


def test_requantize_offset_is_requantize_plus_offset():
    """The reference's fused requantization (int32 tail where values fit) against the two-step
    definition: accumulators over the whole int32 range and past it, every shift (left ones and
    right ones past 31 take the general path), exact ties, multipliers of INT32_MIN."""
    for t in range(600):
        c = int(RNG.integers(1, 9))
        lim = (1 << 12, 1 << 24, 1 << 31, 1 << 33)[t % 4]
        acc = RNG.integers(-lim, lim, size=(int(RNG.integers(1, 40)), c))
        acc[0, 0] = (INT32_MIN, INT32_MAX, 0, -1)[t % 4] if lim <= 1 << 31 else acc[0, 0]
        mult = RNG.integers(1 << 30, INT32_MAX, size=c, endpoint=True)
        if t % 9 == 0:
            mult[0] = INT32_MIN
        shift = RNG.integers(-31, 0, size=c) if t % 3 else RNG.integers(-34, 4, size=c)
        off = int(RNG.integers(-128, 128)) if t % 5 else int(RNG.integers(-40000, 40000))
        assert np.array_equal(requantize_offset(acc, mult, shift, off), requantize(acc, mult, shift) + off), t
    ties = np.arange(-4096, 4096).reshape(-1, 4)  # with multiplier 2^30 every other product is a tie
    for e in range(1, 32):
        m, sh = np.full(4, 1 << 30), np.array([-e, -1, -2, -3])
        assert np.array_equal(requantize_offset(ties, m, sh, 7), requantize(ties, m, sh) + 7), e


def test_quantize_multipliers_is_the_scalar_form():
    reals = np.concatenate([10.0 ** RNG.uniform(-12, 9, 5000), [0.0, 2.0 ** -32, 2.0 ** -31 * 0.99, 2.0 ** -31,
                                                            (1 - 2.0 ** -33) * 2.0 ** -5, 2.0 ** 30 * 0.999]])
    mult, shift = quantize_multipliers(reals)
    assert list(zip(mult.tolist(), shift.tolist())) == [quantize_multiplier(float(r)) for r in reals]
    for bad in (np.nan, -1.0, np.inf, 2.0 ** 31):
        with pytest.raises(ValueError) as vector:
            quantize_multipliers(np.array([0.5, bad]))
        with pytest.raises(ValueError) as scalar:
            quantize_multiplier(bad)
        assert str(vector.value) == str(scalar.value)


def test_pending_chunk_keeps_samples_whose_shape_changes():
    """The float pass's chunk buffer: one array per tensor, reused chunk after chunk; a tensor whose
    shape or dtype changes within a chunk falls back to a list with the same samples in order."""
    pend = _Pending(4)
    a = [RNG.standard_normal((1, 3)).astype(np.float32) for _ in range(4)]
    for chunk in range(2):  # the second chunk reuses the arrays
        for i, v in enumerate(a):
            pend.add("t", v + chunk)
            pend.add("r", v if i != 2 else np.zeros((1, 5), np.float32))  # shape changes at sample 2
            pend.add("d", v if i != 1 else v.astype(np.float64))          # dtype changes at sample 1
            pend.end_sample()
        got = dict(pend.items())
        assert isinstance(got["t"], np.ndarray) and np.array_equal(got["t"], np.stack(a) + chunk)
        assert [x.shape for x in got["r"]] == [(1, 3), (1, 3), (1, 5), (1, 3)]
        assert all(np.array_equal(x, y) for x, y in zip(got["d"], a)) and got["d"][1].dtype == np.float64
        pend.clear()
    # A tensor first seen mid-chunk holds only its own samples, not the array's rows of a past chunk.
    pend.add("r", a[0])
    pend.end_sample()
    pend.add("r", a[1])
    pend.add("t", a[2])
    pend.end_sample()
    got = dict(pend.items())
    assert len(got["t"]) == 1 and np.array_equal(got["t"][0], a[2])


def _stats_equal(s: _Stats, t: _Stats) -> None:
    assert list(s.lo) == list(t.lo) and list(s.sums) == list(t.sums) and list(s.chan) == list(t.chan)
    for k in s.lo:  # the same floats, including the sign of a zero
        assert str(s.lo[k]) == str(t.lo[k]) and str(s.hi[k]) == str(t.hi[k])
    for k in s.sums:
        assert s.sums[k].shape == t.sums[k].shape and np.array_equal(s.sums[k], t.sums[k])
    for k in s.values:
        assert np.array_equal(np.concatenate(s.values[k]), np.concatenate(t.values[k]))
    for k in s.chan:
        assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(s.chan[k], t.chan[k]))


def test_stats_in_chunks_equal_sample_by_sample():
    # Values spanning many binades (float64 sums round), exact zeros of both signs, a NaN.
    vs = [(RNG.standard_normal((1, 3, 5, 4)) * np.exp(RNG.standard_normal((1, 3, 5, 4)) * 6)).astype(np.float32)
          for _ in range(40)]
    vs[3][0, 0, 0, 0] = -0.0
    vs[3][0, 1, 0, 0] = 0.0
    vs[7] = np.abs(vs[7])
    vs[7][0, 0, 1, 1] = 0.0
    vs[9] = -np.abs(vs[9])
    vs[9][0, 2, 1, 1] = -0.0
    for chunks in ([vs[:1], vs[1:33], vs[33:]], [vs[:17], vs[17:]]):
        one, many = _Stats(), _Stats()
        for v in vs:
            one.add("t", v, 3, 1)
        for c in chunks:
            many.add_many("t", c, 3, 1)
        _stats_equal(one, many)
    nan = [v.copy() for v in vs[:5]]
    nan[2][0, 0, 0, 0] = np.nan
    one, many = _Stats(), _Stats()
    for v in nan:
        one.add("t", v, 1, None)
    many.add_many("t", nan, 1, None)
    assert str(one.lo["t"]) == str(many.lo["t"]) and str(one.hi["t"]) == str(many.hi["t"])
    ragged = [vs[0], vs[1].astype(np.float64)]  # dtypes differ: sample by sample
    one, many = _Stats(), _Stats()
    for v in ragged:
        one.add("t", v, 2, None)
    many.add_many("t", ragged, 2, None)
    _stats_equal(one, many)


@pytest.mark.parametrize("op,direction,bits", [("GRU", "bidirectional", 8), ("LSTM", "reverse", 16),
                                               ("GRU", "forward", 16), ("LSTM", "bidirectional", 8)])
def test_batched_recurrent_layers_match_one_sample_at_a_time(op, direction, bits, tmp_path):
    """LSTM / GRU run their sequences side by side in the batched reference (every output mode)."""
    from test_ops_recurrent import rnn_model
    T, D, H = 7, 5, 6
    outputs = ("Y", "Y_h", "Y_c") if op == "LSTM" else ("Y", "Y_h")
    model = rnn_model(tmp_path / "rnn.onnx", op, T, D, H, direction, outputs)
    np.savez(tmp_path / "cal.npz", x=RNG.standard_normal((16, T, D)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: rnn\ncalibration:\n  data: cal.npz\n  method: minmax\nquantization:\n"
                                     f"  recurrent_activation_bits: {bits}\n")
    qm = generate(str(model), load_config(str(tmp_path / "q.yaml")), "rnn", progress=False).compiled.model
    assert [o.kind for o in qm.ops].count(op.lower()) == len(outputs)
    _check(qm, RNG.standard_normal((I.BATCH_MAX + 3, T, D)).astype(np.float32))
