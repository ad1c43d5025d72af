"""int16 unary functions (quantize/rules_s16_tables.py): every op `qnnc ops` lists as a table
(Sigmoid ... Round, Pow with a constant exponent, Reciprocal, Div of a constant by an activation)
and the reciprocal of a Div by an activation, with activation_bits 16.

Two multi-output models hold every op as its own branch (one on a signed input, one on a positive
input for Log/Sqrt/Reciprocal/...), built once at int16 and once at int8 (module fixture). Per op:

* the plan: the op runs ``qnnc_lut_s16`` / ``qnnc_round_s16`` on int16 tensors (no int8 kernel, no
  requantize between its input and it);
* the kernel, exhaustively: the C kernel on all 65536 int16 codes with the op's own table equals the
  reference (one ASan/UBSan build for every op), and the reference is within a stated bound of the
  exact float function on that dense sweep (in int16 output LSB);
* the whole model: the generated C equals the reference on the models' outputs (ASan/UBSan);
* precision: against float onnxruntime run on the dequantized int8 input, the int16 op output has an
  SQNR at least 20 dB above the int8 build's output of the same op.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from c_build import compile_c, include_dir, kernel_sources, sanitizer_env
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver_io
from qnnc.frontend.float_runner import float_outputs_all
from qnnc.quantize import unary_functions as UF
from qnnc.reference import kernels_s16_tables as KT
from qnnc.reference.interpreter import quantize_input, run_all, run_batch

SHAPE = [1, 105]  # an odd size (rank 2: no layout transpose)

# branch name -> (ONNX op, attributes, constant operand as (position, value), max error vs the exact
# float function in int16 output LSB over every input code in the calibrated range: linear
# interpolation's curvature error, larger at kinks off the grid (HardSigmoid, HardSwish) and where
# the function bends fast (Softsign at 0, 1/x and x^-1.5 at the low end). Signed input: N(0, 2^2).
SIGNED = {
    "sigmoid": ("Sigmoid", {}, None, 2.5),
    "tanh": ("Tanh", {}, None, 3.5),
    "hard_sigmoid": ("HardSigmoid", {"alpha": 0.25, "beta": 0.4}, None, 24.0),
    "hard_swish": ("HardSwish", {}, None, 14.0),
    "elu": ("Elu", {"alpha": 0.7}, None, 2.0),
    "selu": ("Selu", {}, None, 2.5),
    "celu": ("Celu", {"alpha": 1.3}, None, 2.5),
    "softplus": ("Softplus", {}, None, 2.0),
    "softsign": ("Softsign", {}, None, 9.0),
    "erf": ("Erf", {}, None, 3.5),
    "exp": ("Exp", {}, None, 9.0),
    # Neg / Abs are graph outputs, whose range calibration auto extends beyond the calibrated one
    # (calibrate_tail.py): the output scale is then not the input's, and the table's rounded entries
    # plus the interpolation's rounding make up to about 1 LSB where the mirror was exact.
    "neg": ("Neg", {}, None, 1.1),
    "abs": ("Abs", {}, None, 1.4),
    "sin": ("Sin", {}, None, 4.0),
    "cos": ("Cos", {}, None, 4.0),
    "floor": ("Floor", {}, None, 0.5),
    "ceil": ("Ceil", {}, None, 0.5),
    "round": ("Round", {}, None, 0.5),
    "square": ("Pow", {}, (1, 2.0), 2.5),
    "cube": ("Pow", {}, (1, 3.0), 3.5),
    "pow_base_2": ("Pow", {}, (0, 2.0), 6.5),  # 2^x: a constant base
    "gelu": ("Gelu", {}, None, 2.5),
    "gelu_tanh": ("Gelu", {"approximate": "tanh"}, None, 2.5),
}
# Positive input: U(0.25, 4) calibration data.
POSITIVE = {
    "log": ("Log", {}, None, 8.0),
    "sqrt": ("Sqrt", {}, None, 2.5),
    "reciprocal": ("Reciprocal", {}, None, 52.0),
    "div_const_by_x": ("Div", {}, (0, 3.0), 52.0),
    "pow_half": ("Pow", {}, (1, 0.5), 2.5),
    "pow_minus_1_5": ("Pow", {}, (1, -1.5), 75.0),
    "gelu_pos": ("Gelu", {}, None, 2.0),
}
GELU_OPSET = 20


def _model(path: Path, branches: dict) -> Path:
    nodes, inits, outs = [], [], []
    for name, (op, attrs, const, _) in branches.items():
        ins = ["x"]
        if const is not None:
            cname = f"{name}_c"
            inits.append(numpy_helper.from_array(np.array(const[1], np.float32), cname))
            ins.insert(const[0], cname)
        nodes.append(helper.make_node(op, ins, [name], name=f"{name}_node", **attrs))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, SHAPE))
    if "sigmoid" in branches:  # Gemm + Softplus: the passes fuse the table into the fully connected layer
        w = np.random.default_rng(7).standard_normal((16, SHAPE[1])).astype(np.float32) * 0.1
        inits.append(numpy_helper.from_array(w, "fc_w"))
        nodes.append(helper.make_node("Gemm", ["x", "fc_w"], ["fc_pre"], name="fc_node", transB=1))
        nodes.append(helper.make_node("Softplus", ["fc_pre"], ["fc_softplus"], name="fc_softplus_node"))
        outs.append(helper.make_tensor_value_info("fc_softplus", TensorProto.FLOAT, [1, 16]))
    # Div by an activation: Mul(x, Reciprocal(b)) after the passes; its reciprocal is an int16 table.
    if "log" in branches:
        nodes.append(helper.make_node("Sin", ["x"], ["sin_x"], name="sin_x_node"))
        nodes.append(helper.make_node("Div", ["sin_x", "x"], ["div_by_x"], name="div_by_x_node"))
        outs.append(helper.make_tensor_value_info("div_by_x", TensorProto.FLOAT, SHAPE))
    g = helper.make_graph(nodes, "tables", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)], outs,
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", GELU_OPSET)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _samples(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "signed":
        return (rng.standard_normal((n, *SHAPE[1:])) * 2.0).astype(np.float32)
    return rng.uniform(0.25, 4.0, (n, *SHAPE[1:])).astype(np.float32)


def _build(folder: Path, kind: str, bits: int):
    folder.mkdir(parents=True, exist_ok=True)
    model = _model(folder / "m.onnx", SIGNED if kind == "signed" else POSITIVE)
    np.savez(folder / "cal.npz", x=_samples(kind, 48, 1))
    (folder / "q.yaml").write_text(f"name: t\ncalibration:\n  data: cal.npz\nquantization:\n"
                                   f"  activation_bits: {bits}\n")
    res = build(str(model), load_config(str(folder / "q.yaml")), str(folder / "gen"), "t", progress=False)
    return model, res, folder / "gen"


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables16")
    return {(kind, bits): _build(root / f"{kind}{bits}", kind, bits)
            for kind in ("signed", "positive") for bits in (16, 8)}


@pytest.fixture(scope="module")
def sqnr_of(builds):
    """``sqnr_of(kind, name)``: {bits: SQNR in dB} of graph output ``name``'s tensor (the int16 one
    in the int16 build) against float onnxruntime on 24 test samples (the float input; the
    multi-output model's API input is int16 in the int16 build, int8 in the int8 one). Each build
    runs once, batched."""
    cache = {}

    def outputs(kind: str, bits: int):
        if (kind, bits) not in cache:
            model, res, _ = builds[(kind, bits)]
            qm = res.compiled.model
            xs = _samples(kind, 24, 2)
            names = list(qm.output_names)
            q = quantize_input(qm, xs).reshape((len(xs),) + tuple(qm.tensors[qm.inputs[0]].shape))
            cache[(kind, bits)] = (dict(zip(names, float_outputs_all(str(model), xs))),
                                   run_batch(qm, {qm.inputs[0]: q}, keep=names))
        return cache[(kind, bits)]

    def sqnr(kind: str, name: str):
        out = {}
        for bits in (16, 8):
            fl, got = outputs(kind, bits)
            t = builds[(kind, bits)][1].compiled.model.tensors[name]
            f = fl[name].reshape(24, -1).astype(np.float64)
            deq = (got[name].reshape(f.shape).astype(np.float64) - t.zero_point) * t.scale
            out[bits] = 10 * np.log10(np.sum(f ** 2) / max(np.sum((f - deq) ** 2), 1e-30))
        return out
    return sqnr


def _op_of(qm, out: str):
    """The op that computes graph output ``out`` (its int16 tensor, before the API conversion)."""
    return next(op for op in qm.ops if op.output == out)


def _cases():
    return [("signed", k) for k in SIGNED] + [("positive", k) for k in POSITIVE]


def _exact(qm, op, fn_name: str, attrs: dict, lo: float, hi: float):
    """Dense sweep over every int16 input code in the calibrated input range [lo, hi]: (reference,
    exact float function in output codes, clipped to int16)."""
    t_in, t_out = qm.tensors[op.inputs[0]], qm.tensors[op.output]
    x = np.arange(max(-32768, int(np.floor(lo / t_in.scale))), min(32767, int(np.ceil(hi / t_in.scale))) + 1,
                  dtype=np.int64)
    fn = UF.float_fn(fn_name, attrs)
    f = np.clip(fn(x * t_in.scale) / t_out.scale, -32768, 32767)
    return KT.run(op, x.astype(np.int16), (x.size,)).astype(np.int64), f


def _canonical(op_type: str, attrs: dict, const):
    """The canonical op and attributes the passes make of a branch (unary_functions.float_fn's input)."""
    if op_type == "Pow":
        return "Pow", {"exponent": const[1]} if const[0] == 1 else {"base": const[1]}
    if op_type == "Div":
        return "Reciprocal", {"numerator": const[1]}
    return op_type, attrs


@pytest.mark.parametrize("kind,name", _cases(), ids=[c[1] for c in _cases()])
def test_op_lowered_to_int16_and_close_to_float(kind, name, builds, sqnr_of):
    """The plan (int16 kernel on int16 tensors), the dense-sweep error bound and the SQNR gain."""
    op_type, attrs, const, bound = (SIGNED if kind == "signed" else POSITIVE)[name]
    res16 = builds[(kind, 16)][1]
    qm = res16.compiled.model
    op = _op_of(qm, name)
    want = "qnnc_round_s16" if op_type in ("Floor", "Ceil", "Round") else "qnnc_lut_s16"
    assert op.kernel == want and op.attrs["activation_bits"] == 16
    assert qm.tensors[op.inputs[0]].bits == 16 and qm.tensors[op.output].bits == 16
    assert not any(f"'{name}_node' runs with int8" in n for n in qm.notes)

    assert not any(p.output == op.inputs[0] and p.kind == "requantize" for p in qm.ops)
    cal = _samples(kind, 48, 1)
    ref, f = _exact(qm, op, *_canonical(op_type, attrs, const), float(cal.min()), float(cal.max()))
    err = np.abs(ref - f)
    print(f"{name}: dense-sweep max |error| {err.max():.3f} int16 LSB, mean {err.mean():.3f}")
    assert err.max() <= bound, f"{name}: {err.max():.3f} LSB > {bound}"

    sqnr = sqnr_of(kind, name)
    print(f"{name}: SQNR vs float int8 {sqnr[8]:.1f} dB, int16 {sqnr[16]:.1f} dB")
    # Floor/Ceil: the error is a few inputs next to an integer flipping (1 in 2520 at int16): 10 dB.
    assert sqnr[16] >= sqnr[8] + (10.0 if op_type in ("Floor", "Ceil") else 20.0), sqnr


def test_div_by_activation_reciprocal_is_int16(builds, sqnr_of):
    """Div(a, b) by an activation is Mul(a, Reciprocal(b)): the reciprocal is an int16 table (the
    Mul is element-wise's rule, int16 when that family has it)."""
    qm = builds[("positive", 16)][1].compiled.model
    recip = [op for op in qm.ops if op.name.startswith("div_by_x_node") and op.kind == "lut"]
    assert len(recip) == 1 and recip[0].kernel == "qnnc_lut_s16"
    assert qm.tensors[recip[0].output].bits == 16
    sqnr = sqnr_of("positive", "div_by_x")
    print(f"div_by_x: SQNR vs float int8 {sqnr[8]:.1f} dB, int16 {sqnr[16]:.1f} dB "
          f"({[op.kernel for op in qm.ops if op.name.startswith('div_by_x')]})")
    assert sqnr[16] >= sqnr[8] + 20.0, sqnr  # with the int16 Mul (test_int16_elementwise.py)


def test_fused_table_activation_runs_after_the_int16_layer(builds, sqnr_of):
    """A table fused into a fully connected layer (passes/fuse_activation.py) is, at int16, the 16x8
    layer into the pre-activation tensor, then qnnc_lut_s16 (the 16x8 kernels have no act_lut)."""
    qm = builds[("signed", 16)][1].compiled.model
    op = _op_of(qm, "fc_softplus")
    fc = next(p for p in qm.ops if p.output == op.inputs[0])
    assert (fc.kernel, op.kernel) == ("qnnc_fully_connected_s16", "qnnc_lut_s16")
    assert qm.tensors[fc.output].bits == 16 and qm.tensors[op.output].bits == 16
    sqnr = sqnr_of("signed", "fc_softplus")  # both builds share the int8 weights' error
    print(f"fc_softplus: SQNR vs float int8 {sqnr[8]:.1f} dB, int16 {sqnr[16]:.1f} dB")
    assert sqnr[16] >= sqnr[8] + 6.0, sqnr


_DRIVER = r"""
#include <stdio.h>
#include <stdint.h>
#include "qnnc_kernels.h"
/* Per case from stdin: int32 kind (0 lut, 1 round), 5 int32 round params, 513 int16 entries;
 * writes the kernel's outputs for all 65536 codes, the lut case in place on half of them. */
int main(void)
{
    static int16_t in[65536], out[65536], lut[513];
    int32_t hdr[6];
    int32_t i;
    for (i = 0; i < 65536; ++i) in[i] = (int16_t)(i - 32768);
    while (fread(hdr, sizeof(int32_t), 6, stdin) == 6) {
        if (fread(lut, sizeof(int16_t), 513, stdin) != 513) return 2;
        if (hdr[0] == 0) {
            for (i = 0; i < 32768; ++i) out[i] = in[i];
            qnnc_lut_s16(32768, lut, out, out);
            qnnc_lut_s16(32768, lut, in + 32768, out + 32768);
        } else {
            qnnc_round_s16(hdr[1], hdr[2], hdr[3], hdr[4], hdr[5], 65536, in, out);
        }
        fwrite(out, sizeof(int16_t), 65536, stdout);
    }
    return 0;
}
"""


def test_kernels_exhaustive_c_equals_reference(builds, tmp_path):
    """Every op's kernel on every int16 code: C (ASan/UBSan) == reference, one build for all."""
    drv = tmp_path / "lut16_driver.c"
    drv.write_text(_DRIVER)
    exe = tmp_path / "lut16"
    compile_c([drv, *kernel_sources(["qnnc_lut_s16", "qnnc_round_s16"])], [include_dir()], exe, sanitize=True)
    payload, refs = b"", []
    x = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)
    for kind, name in _cases():
        op = _op_of(builds[(kind, 16)][1].compiled.model, name)
        a = op.attrs
        if op.kind == "lut":
            hdr, lut = [0, 0, 0, 0, 0, 0], op.consts["lut"]
        else:
            hdr, lut = [1, a["mode"], a["in_mult"], a["in_shift"], a["out_mult"], a["out_shift"]], np.zeros(513)
        payload += np.array(hdr, np.int32).tobytes() + np.asarray(lut, np.int16).tobytes()
        refs.append(KT.run(op, x, (x.size,)))
    res = subprocess.run([str(exe)], input=payload, capture_output=True, env=sanitizer_env(), check=True)
    got = np.frombuffer(res.stdout, np.int16).reshape(len(refs), -1)
    for (kind, name), ref, c in zip(_cases(), refs, got):
        assert np.array_equal(c, ref), f"{name}: C differs from the reference"


@pytest.mark.parametrize("kind", ["signed", "positive"])
def test_generated_c_bit_exact(kind, builds, tmp_path):
    """The generated C of the int16 models equals the reference on every output (ASan/UBSan),
    on in-range inputs and on inputs beyond the calibrated range."""
    _, res, gen = builds[(kind, 16)]
    qm = res.compiled.model
    xs = np.concatenate([_samples(kind, 12, 2), 3.0 * _samples(kind, 4, 3)])
    q = quantize_input(qm, {"x": xs})
    ref = run_all(qm, q)
    exe = compile_driver(str(gen), "t", str(tmp_path / "drv"), sanitize=True)
    c = run_driver_io(exe, [q[k] for k in qm.inputs], [t.size for t in qm.output_tensors], "int8")
    for k, out in enumerate(qm.outputs):
        assert np.array_equal(c[k], ref[k].reshape(len(xs), -1)), f"output {out} differs from the reference"


# -------------------------------------- random kernel cases (host ASan/UBSan and QEMU, test_int16.py) --

def lut_kernel_case(rng):
    """qnnc_lut_s16: any 513-entry table (non-monotonic, full-range jumps), any int16 inputs."""
    from case_files import canary, i32
    size = int(rng.integers(1, 300))
    lut = rng.integers(-32768, 32768, 513).astype(np.int16)
    if rng.random() < 0.5:  # a smooth table, as the quantizer makes
        lut = np.cumsum(rng.integers(-400, 400, 513)).clip(-32768, 32767).astype(np.int16)
    x = rng.integers(-32768, 32768, size).astype(np.int16)
    x[: min(size, 2)] = [-32768, 32767][: min(size, 2)]
    expected = KT.lut_s16(x, lut)
    return ("lut_s16", [i32(size), lut.astype("<i2").tobytes(), x.astype("<i2").tobytes(),
                        canary(rng, expected.nbytes)], expected, f"size {size}")


def round_kernel_case(rng):
    """qnnc_round_s16: each mode, input scales 2^-20 .. 2^10 (exact ties included), any int16 inputs."""
    from case_files import canary, i32
    from qnnc.quantize.rules_s16_tables import round_constants
    size = int(rng.integers(1, 300))
    s_in = float(2.0 ** rng.uniform(-20, 10)) if rng.random() < 0.8 else float(2.0 ** int(rng.integers(-12, 0)))
    s_out = float(max(s_in * 32768, 1.0) * 2.0 ** rng.uniform(-16, -13))
    c = round_constants(int(rng.integers(0, 3)), s_in, s_out)
    x = rng.integers(-32768, 32768, size).astype(np.int16)
    expected = KT.round_s16(c, x)
    return ("round_s16", [i32(c["mode"], c["in_mult"], c["in_shift"], c["out_mult"], c["out_shift"], size),
                          x.astype("<i2").tobytes(), canary(rng, expected.nbytes)], expected, f"{c} size {size}")


# kernel -> (driver id in kernel_driver_s16.c, function, case builder, count): test_int16.py runs them
# with its other int16 kernel cases on the host (O2 and ASan/UBSan) and on QEMU (M4, M55).
KERNEL_CASES = {
    "lut_s16": (80, "qnnc_lut_s16", lut_kernel_case, 60),
    "round_s16": (81, "qnnc_round_s16", round_kernel_case, 90),
}
