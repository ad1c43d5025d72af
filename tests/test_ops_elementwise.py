"""Element-wise ops: unary tables (HardSigmoid ... Round), PRelu, Sub / Max / Min / Div of activations,
variadic Sum / Mean / Max / Min, LogSoftmax.

Each case is a small ONNX model built with onnx.helper. The reference must match float onnxruntime run
on the *dequantized int8 input* (so the error measured is the op's own, not the input's rounding):
unary tables within 1 output LSB (0.5 from the table's rounding, +0.5 where a fixed output scale
clips 1.0), the kernels within the bound each test states. The generated C must be bit-exact with the
reference under ASan/UBSan.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from onnx_factory import GraphBuilder
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.errors import ModelError
from qnnc.frontend.float_runner import float_outputs
from qnnc.quantize.fixedpoint import dequantize_s8
from qnnc.quantize.unary_functions import log2_table
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

RNG = np.random.default_rng(20261203)
RUNTIME = Path(__file__).resolve().parent.parent / "plugin" / "qnnc" / "runtime"



class M(GraphBuilder):
    """The shared builder (tests/onnx_factory.py) at opset 14 by default."""

    def __init__(self, shape, opset=14):
        super().__init__(shape, opset)


def compile_model(m: M, tmp_path: Path, n: int = 24, spread: float = 1.5, shift: float = 0.0):
    """Build with calibration on n seeded N(shift, spread^2) samples; returns (QModel, model path, samples)."""
    path = m.finish(tmp_path / "m.onnx")
    xs = (RNG.standard_normal((n, *m.shape[1:])) * spread + shift).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs)
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n")
    res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False)
    return res.compiled.model, path, xs


def check(m: M, tmp_path: Path, max_lsb: float, mean_lsb: float = 0.5, c: bool = True, spread: float = 1.5,
          shift: float = 0.0):
    """Build; C bit-exact with the reference (if ``c``); the reference within ``max_lsb`` / ``mean_lsb``
    output LSB of onnxruntime on the dequantized input (float clipped to the output's int8 range).
    Returns (QModel, max error, mean error)."""
    qm, path, xs = compile_model(m, tmp_path, spread=spread, shift=shift)
    q_in = quantize_input(qm, xs)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    if c:
        exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
        c_out = run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size)
        assert np.array_equal(c_out, ref), "the C differs from the reference"
    t_in, t_out = qm.input_tensor, qm.output_tensor
    x_deq = dequantize_s8(q_in, t_in.scale, t_in.zero_point).reshape(xs.shape)
    f = float_outputs(str(path), x_deq).reshape(len(xs), -1).astype(np.float64)
    f = np.clip(f, (-128 - t_out.zero_point) * t_out.scale, (127 - t_out.zero_point) * t_out.scale)
    err = np.abs(dequantize_output(qm, ref).astype(np.float64) - f) / t_out.scale
    assert err.max() <= max_lsb, f"max error {err.max():.2f} LSB > {max_lsb}"
    assert err.mean() <= mean_lsb, f"mean error {err.mean():.3f} LSB > {mean_lsb}"
    return qm, float(err.max()), float(err.mean())


def kinds(qm):
    return [op.kind for op in qm.ops if op.kind not in ("transpose", "reshape")]


def refused(m: M, tmp_path: Path, *words):
    with pytest.raises(ModelError) as e:
        compile_model(m, tmp_path)
    text = str(e.value)
    for w in words:
        assert w in text, text
    assert not (tmp_path / "gen").exists()
    return text


# -- unary tables ----------------------------------------------------------------------------------

UNARY = [  # (id, op, attrs, opset, input shape)
    ("hardsigmoid", "HardSigmoid", {}, 13, [1, 3, 4, 4]),
    ("hardsigmoid_ab", "HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}, 13, [1, 16]),
    ("hardswish", "HardSwish", {}, 14, [1, 3, 4, 4]),
    ("elu", "Elu", {"alpha": 0.7}, 13, [1, 4, 6]),
    ("selu", "Selu", {}, 13, [1, 3, 4, 4]),
    ("celu", "Celu", {"alpha": 2.0}, 13, [1, 16]),
    ("softplus", "Softplus", {}, 13, [1, 3, 4, 4]),
    ("softsign", "Softsign", {}, 13, [1, 16]),
    ("erf", "Erf", {}, 13, [1, 3, 4, 4]),
    ("gelu", "Gelu", {}, 20, [1, 3, 4, 4]),
    ("gelu_tanh", "Gelu", {"approximate": "tanh"}, 20, [1, 4, 6]),
    ("exp", "Exp", {}, 13, [1, 16]),
    ("neg", "Neg", {}, 13, [1, 3, 4, 4]),
    ("abs", "Abs", {}, 13, [1, 4, 6]),
    ("sin", "Sin", {}, 13, [1, 16]),
    ("cos", "Cos", {}, 13, [1, 3, 4, 4]),
    ("floor", "Floor", {}, 13, [1, 16]),
    ("ceil", "Ceil", {}, 13, [1, 16]),
    ("round", "Round", {}, 13, [1, 16]),
    ("sign", "Sign", {}, 13, [1, 16]),
    ("thresholded_relu", "ThresholdedRelu", {"alpha": 0.5}, 13, [1, 3, 4, 4]),
    ("shrink", "Shrink", {"lambd": 0.3, "bias": 0.1}, 13, [1, 16]),
    ("tan", "Tan", {}, 13, [1, 16]),
    ("atan", "Atan", {}, 13, [1, 3, 4, 4]),
    ("sinh", "Sinh", {}, 13, [1, 16]),
    ("cosh", "Cosh", {}, 13, [1, 4, 6]),
    ("asinh", "Asinh", {}, 13, [1, 16]),
]


@pytest.mark.parametrize("case", UNARY, ids=[c[0] for c in UNARY])
def test_unary_table(case, tmp_path):
    _, op, attrs, opset, shape = case
    m = M(shape, opset)
    m.op(op, ["x"], **attrs)
    qm, worst, mean = check(m, tmp_path, max_lsb=1.0, c=False)
    assert kinds(qm) == ["lut"]


POSITIVE = [  # ops defined for x > 0: inputs N(3, 0.6^2)
    ("log", "Log", {}), ("sqrt", "Sqrt", {}), ("reciprocal", "Reciprocal", {}),
]


def test_unary_acosh(tmp_path):
    """Defined for x >= 1: inputs N(5, 0.6^2), so no sample leaves the domain."""
    m = M([1, 16], 13)
    m.op("Acosh", ["x"])
    qm, _, _ = check(m, tmp_path, max_lsb=1.0, c=False, spread=0.6, shift=5.0)
    assert kinds(qm) == ["lut"]
UNIT = [("asin", "Asin"), ("acos", "Acos"), ("atanh", "Atanh")]  # defined on (-1, 1): after a Tanh


@pytest.mark.parametrize("case", UNIT, ids=[c[0] for c in UNIT])
def test_unary_unit_domain(case, tmp_path):
    m = M([1, 16], 13)
    m.op(case[1], [m.op("Tanh", ["x"])])
    # two tables chained: the Tanh's rounding passes through the steep ends of asin / atanh
    qm, _, _ = check(m, tmp_path, max_lsb=2.0, c=False, spread=0.5)
    assert kinds(qm) == ["lut", "lut"]


@pytest.mark.parametrize("case", POSITIVE, ids=[c[0] for c in POSITIVE])
def test_unary_positive_domain(case, tmp_path):
    _, op, attrs = case
    m = M([1, 16], 13)
    m.op(op, ["x"], **attrs)
    qm, _, _ = check(m, tmp_path, max_lsb=1.0, c=False, spread=0.6, shift=3.0)
    assert kinds(qm) == ["lut"]


@pytest.mark.parametrize("exponent", [2.0, 3.0, 0.5, -1.0])
def test_pow_constant_exponent(exponent, tmp_path):
    m = M([1, 16], 13)
    m.op("Pow", ["x", m.const(np.array(exponent, np.float32))])
    qm, _, _ = check(m, tmp_path, max_lsb=1.0, c=False, spread=0.6, shift=3.0 if exponent in (0.5, -1.0) else 0.0)
    assert kinds(qm) == ["lut"]


def test_pow_constant_base(tmp_path):
    m = M([1, 16], 13)
    m.op("Pow", [m.const(np.array(2.0, np.float32)), "x"])
    check(m, tmp_path, max_lsb=1.0, c=False, spread=0.6)


@pytest.mark.parametrize("divisor", [0.7, -1.3])
def test_mod_constant_divisor(divisor, tmp_path):
    """torch.fmod(x, c): Mod with fmod 1 and a constant scalar divisor, one table (the C too, once)."""
    m = M([1, 4, 6], 13)
    m.op("Mod", ["x", m.const(np.array(divisor, np.float32))], fmod=1)
    qm, _, _ = check(m, tmp_path, max_lsb=1.0, c=divisor > 0)
    assert kinds(qm) == ["lut"]


def test_mod_constant_dividend(tmp_path):
    m = M([1, 16], 13)
    m.op("Mod", [m.const(np.array(2.5, np.float32)), "x"], fmod=1)
    qm, _, _ = check(m, tmp_path, max_lsb=1.0, c=False, spread=0.6, shift=3.0)
    assert kinds(qm) == ["lut"]


@pytest.mark.parametrize("form", ["div", "mul_reciprocal"])
def test_remainder_pattern_is_one_mod_table(form, tmp_path):
    """torch.remainder(x, c) as PyTorch exports it, x - Floor(x / c) * c (the Div, or a Mul by 1 / c),
    is one Mod table (fmod 0): within 1 LSB of float on the same int8 inputs, C bit-exact."""
    m = M([1, 4, 6], 13)
    c = m.const(np.array(0.7, np.float32))
    q = m.op("Div", ["x", c]) if form == "div" else m.op("Mul", ["x", m.const(np.array(1 / 0.7, np.float32))])
    m.op("Sub", ["x", m.op("Mul", [m.op("Floor", [q]), c])])
    qm, _, _ = check(m, tmp_path, max_lsb=1.0)
    assert kinds(qm) == ["lut"]


def test_remainder_pattern_needs_one_divisor(tmp_path):
    """x - Floor(x / 0.7) * 0.8 is no remainder: its four ops stay."""
    m = M([1, 16], 13)
    q = m.op("Div", ["x", m.const(np.array(0.7, np.float32))])
    m.op("Sub", ["x", m.op("Mul", [m.op("Floor", [q]), m.const(np.array(0.8, np.float32))])])
    qm, _, _ = check(m, tmp_path, max_lsb=64.0, mean_lsb=64.0, c=False)
    assert kinds(qm).count("lut") == 1 and len(kinds(qm)) == 4, kinds(qm)


def test_mod_refusals(tmp_path):
    m = M([1, 16], 13)
    m.op("Mod", ["x", m.op("Relu", ["x"])], fmod=1)
    refused(m, tmp_path, "Mod", "constant non-zero finite scalar divisor", "node 'Mod_2'")
    m = M([1, 16], 13)
    m.op("Mod", ["x", m.const(np.array(0.0, np.float32))], fmod=1)
    (tmp_path / "b").mkdir()
    refused(m, tmp_path / "b", "Mod", "constant non-zero finite scalar divisor")


def test_unary_tables_in_c(tmp_path):
    """Every table op in one model (Sum of branches, chained Adds): the C is bit-exact."""
    m = M([1, 3, 4, 4], 20)
    branches = [m.op(op, ["x"], **attrs) for _, op, attrs, _, _ in UNARY]
    e = m.op("Exp", [m.op("Tanh", ["x"])])
    branches += [m.op(op, [e]) for _, op, _ in POSITIVE]
    branches.append(m.op("Pow", ["x", m.const(np.array(2.0, np.float32))]))
    m.op("Sum", branches)
    qm, _, _ = check(m, tmp_path, max_lsb=64.0, mean_lsb=8.0)  # many int8 branches summed: C is the point
    # + the Tanh and Exp feeding the positive-domain ops
    assert kinds(qm).count("lut") == len(branches) + 2 and kinds(qm).count("add") == len(branches) - 1


def test_pow_refusals(tmp_path):
    m = M([1, 16], 13)
    m.op("Pow", ["x", m.op("Relu", ["x"])])
    refused(m, tmp_path, "Pow", "constant scalar exponent", "node 'Pow_2'")
    m = M([1, 16], 13)
    m.op("Pow", ["x", m.const(np.full(16, 2.0, np.float32))])
    (tmp_path / "b").mkdir()
    refused(m, tmp_path / "b", "Pow", "constant scalar exponent")


# -- activations fused after Conv ----------------------------------------------------------------

def _conv(m, x, cin, cout):
    w = (RNG.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32)
    return m.op("Conv", [x, m.const(w), m.const((RNG.standard_normal(cout) * 0.1).astype(np.float32))],
                kernel_shape=[3, 3], pads=[1, 1, 1, 1])


@pytest.mark.parametrize("op,opset", [("HardSwish", 14), ("Gelu", 20), ("Elu", 13)])
def test_table_fused_into_conv(op, opset, tmp_path):
    m = M([1, 3, 6, 6], opset)
    m.op(op, [_conv(m, "x", 3, 4)])
    qm, _, _ = check(m, tmp_path, max_lsb=3.0, mean_lsb=0.6, c=op == "HardSwish")  # one act_lut in C is enough
    assert kinds(qm) == ["conv"] and qm.ops[[o.kind for o in qm.ops].index("conv")].params.act_lut is not None


def test_hardswish_decomposed_by_opset13_export(tmp_path):
    """PyTorch's Hardswish at opset 13: x * HardSigmoid(x, alpha=1/6) -> one HardSwish table (fused
    into the Conv); an SE block's HardSigmoid times another tensor stays a table + Mul."""
    m = M([1, 3, 6, 6], 13)
    c = _conv(m, "x", 3, 4)
    hs = m.op("Mul", [c, m.op("HardSigmoid", [c], alpha=1 / 6, beta=0.5)])
    gate = m.op("HardSigmoid", [m.op("GlobalAveragePool", [hs])], alpha=1 / 6, beta=0.5)
    m.op("Mul", [hs, gate])
    qm, _, _ = check(m, tmp_path, max_lsb=3.0, mean_lsb=0.8)
    assert kinds(qm) == ["conv", "avg_pool", "lut", "mul"]


def test_gelu_decomposed(tmp_path):
    """0.5 * x * (1 + Erf(x / sqrt 2)) (PyTorch's exported GELU) works op by op."""
    m = M([1, 3, 4, 4], 13)
    e = m.op("Erf", [m.op("Div", ["x", m.const(np.array(math.sqrt(2.0), np.float32))])])
    m.op("Mul", [m.op("Mul", ["x", m.op("Add", [e, m.const(np.array(1.0, np.float32))])]),
                 m.const(np.array(0.5, np.float32))])
    qm, _, _ = check(m, tmp_path, max_lsb=3.0, mean_lsb=0.8, c=False)  # existing kernels + a table
    assert kinds(qm) == ["mul", "lut", "add", "mul", "mul"]


# -- PRelu -----------------------------------------------------------------------------------------

PRELU = [  # (id, input shape, slope shape)
    ("nchw_pytorch", [1, 3, 4, 4], [3, 1, 1]),
    ("ncl_3d", [1, 4, 6], [4, 1]),
    ("nc_2d", [1, 8], [8]),
    ("nhwc_tf2onnx", [1, 4, 4, 3], [1, 1, 3]),
    ("negative_slopes", [1, 3, 4, 4], [3, 1, 1]),
]


@pytest.mark.parametrize("case", PRELU, ids=[c[0] for c in PRELU])
def test_prelu_per_channel(case, tmp_path):
    name, shape, sshape = case
    slope = (RNG.uniform(0.05, 0.5, sshape)).astype(np.float32)
    if name == "negative_slopes":
        slope = slope * np.array([1, -1, 0], np.float32).reshape(3, 1, 1)
    m = M(shape, 13)
    m.op("PRelu", ["x", m.const(slope)])
    qm, _, _ = check(m, tmp_path, max_lsb=0.51, c=name != "nc_2d")
    assert kinds(qm) == ["prelu"]


def test_prelu_scalar_slope_is_a_table(tmp_path):
    m = M([1, 3, 4, 4], 13)
    m.op("PRelu", [_conv(m, "x", 3, 4), m.const(np.array([0.25], np.float32))])
    qm, _, _ = check(m, tmp_path, max_lsb=3.0, mean_lsb=0.6, c=False)  # the existing fused LeakyRelu path
    assert kinds(qm) == ["conv"]  # a LeakyRelu fused into the Conv


def test_prelu_refusals(tmp_path):
    m = M([1, 3, 4, 4], 13)
    m.op("PRelu", ["x", m.const(np.full((3, 4, 1), 0.1, np.float32))])
    refused(m, tmp_path, "PRelu", "several axes", "node 'PRelu_1'")
    m = M([1, 3, 4, 4], 13)
    m.op("PRelu", ["x", m.op("Sigmoid", ["x"])])
    (tmp_path / "b").mkdir()
    refused(m, tmp_path / "b", "PRelu", "slope must be a constant")


# -- Sub, Max, Min, Div of activations -----------------------------------------------------------

def test_sub_activations(tmp_path):
    m = M([1, 3, 4, 4], 13)
    m.op("Sub", ["x", m.op("Tanh", ["x"])])
    qm, _, _ = check(m, tmp_path, max_lsb=1.5)
    assert kinds(qm) == ["lut", "add"] and qm.ops[-2 if qm.ops[-1].kind == "transpose" else -1].params.input2_multiplier < 0


def test_sub_broadcast_and_constant_minus_activation(tmp_path):
    m = M([1, 3, 4, 4], 13)
    d = m.op("Sub", ["x", m.op("GlobalAveragePool", ["x"])])     # x - mean over H, W (broadcast)
    m.op("Sub", [m.const((RNG.standard_normal((3, 1, 1))).astype(np.float32)), d])  # c - d
    check(m, tmp_path, max_lsb=2.0, mean_lsb=0.6)


def test_sub_kernel_negated_multiplier_is_exact():
    """a - b through qnnc_add_s8's arithmetic with input2's multiplier negated equals the exact
    a - b requantized, up to the rounding of the add arithmetic (<= 1 LSB), over all int8 pairs."""
    from qnnc.kernel_params import AddParams
    from qnnc.quantize.fixedpoint import add_multipliers
    from qnnc.reference.kernels import add_s8
    sa, za, sb, zb, so, zo = 0.05, -3, 0.03, 10, 0.07, 5
    m1, s1, m2, s2, mo, so_ = add_multipliers(sa, sb, so, 20)
    p = AddParams(-za, -zb, m1, s1, -m2, s2, 20, mo, so_, zo)
    a = np.repeat(np.arange(-128, 128), 256).reshape(1, 1, 256, 256)
    b = np.tile(np.arange(-128, 128), 256).reshape(1, 1, 256, 256)
    got = add_s8(p, a, b, (1, 1, 256, 256)).astype(np.int64)
    exact = np.clip(np.round(((a - za) * sa - (b - zb) * sb) / so) + zo, -128, 127)
    assert np.abs(got - exact).max() <= 1


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_max_min_activations_broadcast(op, tmp_path):
    m = M([1, 3, 4, 4], 13)
    a = m.op(op, ["x", m.op("Tanh", ["x"])])
    m.op(op, [a, m.op("GlobalAveragePool", ["x"])])  # broadcast [1,3,1,1]
    qm, _, _ = check(m, tmp_path, max_lsb=1.5)
    assert kinds(qm) == ["lut", "minmax", "avg_pool", "minmax"]


@pytest.mark.parametrize("op,const,kind", [("Max", (3, 1, 1), "minmax"), ("Min", (), "lut")])
def test_max_min_constants(op, const, kind, tmp_path):
    """A per-channel constant (quantized like an activation: one more rounding, <= 1.5 LSB); a scalar
    constant is a Clip (a table, exact up to 0.5 LSB, plus onnxruntime's float32 rounding at a tie)."""
    m = M([1, 3, 4, 4], 13)
    m.op(op, ["x", m.const((RNG.standard_normal(const) * 0.5).astype(np.float32))])
    qm, _, _ = check(m, tmp_path, max_lsb=1.5 if kind == "minmax" else 0.5 + 1e-5, c=kind == "minmax")
    assert kinds(qm) == [kind]


def test_variadic_max_min_sum_mean(tmp_path):
    m = M([1, 3, 4, 4], 13)
    t, r = m.op("Tanh", ["x"]), m.op("Relu", ["x"])
    mx = m.op("Max", ["x", t, m.op("Neg", ["x"])])
    mn = m.op("Min", [t, r, m.const(np.array(0.5, np.float32))])
    s = m.op("Sum", [mx, mn, m.const(np.array(0.25, np.float32))])
    m.op("Mean", [s, t, r])
    qm, _, _ = check(m, tmp_path, max_lsb=3.0, mean_lsb=0.8)
    assert kinds(qm).count("minmax") == 3 and kinds(qm).count("add") == 4 and kinds(qm)[-1] == "mul"


def test_div_by_activation(tmp_path):
    """x / b for b in [0.5, 1.5] (a Reciprocal table over b's codes, then Mul), and 2 / b (one table)."""
    m = M([1, 3, 4, 4], 13)
    b = m.op("Add", [m.op("Sigmoid", ["x"]), m.const(np.array(0.5, np.float32))])
    q = m.op("Div", ["x", b])
    m.op("Add", [q, m.op("Div", [m.const(np.array(2.0, np.float32)), b])])
    qm, worst, mean = check(m, tmp_path, max_lsb=3.0, mean_lsb=0.8)
    assert kinds(qm) == ["lut", "add", "lut", "mul", "lut", "add"]


# -- LogSoftmax ------------------------------------------------------------------------------------

LOG_SOFTMAX = [  # (id, shape, axis, opset, C checked)
    ("classifier_2d", [1, 10], 1, 13, True),
    ("last_axis_3d", [1, 5, 12], -1, 13, False),
    ("channels_4d", [1, 6, 3, 3], 1, 13, True),
    ("wide_1000", [1, 1000], -1, 13, True),
    ("one_col", [1, 4, 1], 2, 13, True),
    ("opset11_2d", [1, 16], 1, 11, False),
]


@pytest.mark.parametrize("case", LOG_SOFTMAX, ids=[c[0] for c in LOG_SOFTMAX])
@pytest.mark.parametrize("spread", [1.5, 8.0])
def test_log_softmax(case, spread, tmp_path):
    _, shape, axis, opset, c = case
    m = M(shape, opset)
    m.op("LogSoftmax", ["x"], axis=axis)
    qm, _, _ = check(m, tmp_path, max_lsb=0.75, mean_lsb=0.3, c=c, spread=spread)
    assert kinds(qm) == ["log_softmax"]
    scale, zp = qm.output_tensor.scale, qm.output_tensor.zero_point
    if spread == 1.5 or shape[-1] == 1:  # every calibrated value above -16: TFLite's fixed scale
        assert (scale, zp) == (16 / 256, 127)
    else:  # a model output calibrated below -16: its range, 255 steps below 0 (zero point 127)
        assert zp == 127 and scale > 16 / 256


@pytest.mark.parametrize("bits", [8, 16])
def test_log_softmax_model_output_covers_its_calibrated_range(bits, tmp_path):
    """Logits spread N(0, 20^2): the log-probabilities reach about -100, far below the fixed ranges
    ([-16, 0] int8, [-32, 0] int16). As a model output the LogSoftmax's scale covers the calibrated
    minimum instead (the int16 op's then reaches the int8 API output whole): bit-exact C under
    sanitizers, and the unclipped output above 26 dB SQNR against float onnxruntime (measured 48.7
    and 47.3 dB; 3.6 and 8.0 dB with the fixed scales)."""
    m = M([1, 10], 13)
    m.op("LogSoftmax", ["x"], axis=1)
    path = m.finish(tmp_path / "m.onnx")
    xs = (RNG.standard_normal((32, 10)) * 20).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs)
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n"
                                     f"quantization:\n  activation_bits: {bits}\n")
    qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op",
               progress=False).compiled.model
    op = next(o for o in qm.ops if o.kind == "log_softmax")
    steps, fixed = (255, 16 / 256) if bits == 8 else (32768, 1 / 1024)
    assert qm.tensors[op.output].scale * steps > 2 * fixed * steps  # below -32 / -64
    q_in = quantize_input(qm, xs)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size), ref)
    t_in = qm.input_tensor
    f = float_outputs(str(path), dequantize_s8(q_in, t_in.scale, t_in.zero_point).reshape(xs.shape))
    f = f.reshape(len(xs), -1).astype(np.float64)
    q = dequantize_output(qm, ref).astype(np.float64)
    assert 10 * np.log10((f ** 2).sum() / ((q - f) ** 2).sum()) > 26.0


def test_log_softmax_inside_the_model_keeps_the_fixed_scale(tmp_path):
    """Only a model output's LogSoftmax takes its calibrated range; one read by another layer keeps
    TFLite's 16/256 (the likely classes, which weigh most next, stay fine) though the calibration
    reaches below -16 (the Mul's output scale says so)."""
    m = M([1, 10], 13)
    m.op("Mul", [m.op("LogSoftmax", ["x"], axis=1), m.const(np.array(0.5, np.float32))])
    qm, _, _ = compile_model(m, tmp_path, spread=8.0)
    inner = next(op for op in qm.ops if op.kind == "log_softmax")
    assert (qm.tensors[inner.output].scale, qm.tensors[inner.output].zero_point) == (16 / 256, 127)
    assert qm.output_tensor.scale * 255 > 0.5 * 16


def test_log_softmax_refusals(tmp_path):
    """Over a middle axis of a 5-D tensor (no transpose of rank 5 brings it last)."""
    m = M([1, 2, 3, 4, 5], 13)
    m.op("LogSoftmax", ["x"], axis=2)
    refused(m, tmp_path, "LogSoftmax", "only the last axis", "node 'LogSoftmax_1'")


NON_LAST = [  # (id, op, shape, axis or None for the default, opset)
    ("softmax_4d_channels_op11", "Softmax", [1, 6, 3, 3], 1, 11),
    ("softmax_4d_default_op11", "Softmax", [1, 4, 2, 3], None, 11),
    ("softmax_4d_spatial_op11", "Softmax", [1, 3, 4, 4], 2, 11),
    ("softmax_3d_op11", "Softmax", [1, 5, 6], 1, 11),
    ("log_softmax_4d_op11", "LogSoftmax", [1, 6, 3, 3], 1, 11),
    ("softmax_3d_middle", "Softmax", [1, 5, 6], 1, 13),
    ("log_softmax_3d_middle", "LogSoftmax", [1, 7, 4], -2, 13),
    ("softmax_4d_rows", "Softmax", [1, 3, 4, 5], 2, 13),
    ("log_softmax_4d_rows", "LogSoftmax", [1, 3, 4, 5], 2, 13),
]


@pytest.mark.parametrize("case", NON_LAST, ids=[c[0] for c in NON_LAST])
def test_softmax_over_a_non_last_axis(case, tmp_path):
    """Before opset 13 these ops coerce the input to 2-D at the axis: a Softmax over the channels
    of a 4-D map normalizes over C x H x W (frontend/decompose.py rewrites it as Reshape, the op
    over the last axis, Reshape); from 13 on, the axis of an input of rank 4 at most goes last
    between Transposes. The result is that of the ONNX float model."""
    _, op, shape, axis, opset = case
    m = M(shape, opset)
    m.op(op, ["x"], **({} if axis is None else {"axis": axis}))
    qm, _, _ = check(m, tmp_path, max_lsb=1.0, mean_lsb=0.3, c=case[0].startswith(("softmax_4d_channels", "log")))
    assert kinds(qm) == [op.lower().replace("logsoftmax", "log_softmax")]


def test_log_softmax_kernel_random_rows():
    """The integer kernel against exact float math on random int8 rows and scales (<= 0.6 LSB
    where the exact result is inside the int8 range)."""
    from qnnc.kernel_params import LogSoftmaxParams
    from qnnc.quantize.unary_functions import log_softmax_constants
    from qnnc.reference.kernels_elementwise import log_softmax_s8
    rng = np.random.default_rng(7)
    for cols in (1, 2, 7, 100, 4000):
        for s_in in (0.002, 0.03, 0.2, 1.0):
            x = rng.integers(-128, 128, (8, cols)).astype(np.int8)
            bits, lut, diff, logm = log_softmax_constants(s_in, cols)
            q = log_softmax_s8(LogSoftmaxParams(bits, diff, logm, 127), x, lut).astype(np.float64)
            v = x.astype(np.float64) * s_in
            v = v - v.max(axis=1, keepdims=True)
            exact = v - np.log(np.exp(v).sum(axis=1, keepdims=True))
            ideal = exact / (16 / 256) + 127
            inside = ideal >= -128
            assert np.abs(q - ideal)[inside].max() <= 0.6, (cols, s_in)
            assert np.all(q[~inside] == -128)


def test_log2_table_in_c_matches_python():
    text = (RUNTIME / "src" / "qnnc_log_softmax_s8.c").read_text()
    body = text.split("qnnc_log2_q16[256] = {", 1)[1].split("};", 1)[0]
    values = [int(v) for v in re.findall(r"(\d+)u", body)]
    assert values == [int(v) for v in log2_table()]


# -- refusal message --------------------------------------------------------------------------------

def test_refusal_lists_elementwise_ops(tmp_path):
    m = M([1, 16], 13)
    m.op("Hardmax", ["x"])
    text = refused(m, tmp_path, "Hardmax")
    for op in ("PRelu", "Max", "Min", "LogSoftmax", "HardSwish", "Gelu", "Erf", "Pow"):
        assert op in text


# -- Sub on the add kernel's DSP / Helium paths (QEMU) ---------------------------------------------

def _sub_cases(count: int = 60):
    """Same-shape add cases (the SIMD fast paths) with the second (or first) input multiplier negated,
    as the Sub rule makes them."""
    import test_kernels as T
    from qnnc.kernel_params import AddParams
    from qnnc.quantize.fixedpoint import add_multipliers
    from qnnc.reference.kernels import add_s8
    rng = np.random.default_rng(99)
    cases = []
    for i in range(count):
        out = (1, int(rng.integers(1, 5)), int(rng.integers(1, 7)), int(rng.integers(1, 19)))
        sc1, sc2, sco = (float(10.0 ** rng.uniform(-3, 0)) for _ in range(3))
        m1, s1, m2, s2, mo, so = add_multipliers(sc1, sc2, sco, 20)
        m1, m2 = (-m1, m2) if i % 3 == 0 else (m1, -m2)
        act_min, act_max = T.rand_act(rng)
        p = AddParams(-T.rand_zp(rng), -T.rand_zp(rng), m1, s1, m2, s2, 20, mo, so, T.rand_zp(rng), act_min,
                      act_max)
        x1, x2 = T.rand_i8(rng, out), T.rand_i8(rng, out)
        expected = add_s8(p, x1, x2, out)
        blobs = [T.i32(p.input1_offset, p.input2_offset, m1, s1, m2, s2, 20, mo, so, p.output_offset, act_min,
                       act_max), T.dims(out), T.arr(x1, np.int8), T.dims(out), T.arr(x2, np.int8), T.dims(out),
                 T.canary(rng, expected.size)]
        cases.append(T.Case("add", blobs, expected, f"sub {out} {p}"))
    return cases


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_sub_negated_multiplier_on_simd_paths(core, tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import harness as H
    if H.missing_tools() is not None:
        pytest.skip(f"needs QEMU: {H.missing_tools()}")
    import test_kernels as T
    from cortex_m_cases import run_cases
    cases = _sub_cases()
    failures, _ = run_cases(core, cases, T.serialize, tmp_path / core)
    assert not failures, failures[:4]
