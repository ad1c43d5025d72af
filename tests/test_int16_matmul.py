"""MatMul / Gemm of two activations with int16 activations (quantization.activation_bits: 16,
TFLite's 16x8 scheme): ``qnnc_batch_matmul_s16`` (rules_s16_matmul.py, reference/kernels_s16_matmul.py).

Each case is one small ONNX model built with onnx.helper. Checked: the plan lowers the product to
the int16 kernel with no requantize around it (only the int8 API's: of the input, possibly after
int8 layout views, and of the result), the generated
C of every case (all compiled into ONE host executable under ASan/UBSan) equals the numpy reference
bit for bit, in and beyond the calibrated range, and the int16 product alone is closer to float
onnxruntime than the int8 one by more than 40 dB SQNR (operands, constant and output int16 instead
of int8; measured 82.7 to 89.9 dB vs 35.5 to 43.4 dB, +46 to +47 dB). The same executable runs
KERNEL_CASES random direct calls of the kernel (full int16 range, sums beyond int32, saturating
multipliers, clamping) against the reference.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from c_build import compile_c, include_dir, runtime_dir, sanitizer_env
from test_int16_conv_general import build_case
from qnnc.kernel_params import BatchMatmulParams
from qnnc.quantize.fixedpoint import quantize_multiplier
from qnnc.frontend.float_runner import _with_all_outputs
from qnnc.quantize.calibrate import internal_value
from qnnc.reference import kernels_conv_general as KG
from qnnc.reference import kernels_s16_matmul as KMM16
from qnnc.reference.interpreter import quantize_input, run_batch

RNG = np.random.default_rng(20261203)
MARGIN_DB = 40.0  # int16 product vs int8 product, SQNR against float onnxruntime
KERNEL_CASES = 40  # random direct calls of qnnc_batch_matmul_s16, in the same executable


def w(*shape, scale=0.5):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def shape_const(m, *dims):
    return m.const(np.array(dims, np.int64))


def gemm_transb_alpha_c(m):
    """Gemm(A, B^T) * 0.5 + 2 * C with B = Sigmoid(A) computed."""
    a = m.op("Reshape", ["x", shape_const(m, 3, 4)])
    return m.op("Gemm", [a, m.op("Sigmoid", [a]), m.const(w(3))], transB=1, alpha=0.5, beta=2.0)


# name -> (input shape, builder). Every form the int8 rule takes: broadcast batch dims, 4-D heads,
# transA / transB, alpha, beta * C, a constant on either side, a fused Relu, odd sizes.
CASES = {
    "matmul_4d_broadcast_batch": (  # (1, 2, 3, 4) @ (1, 1, 4, 6)
        [1, 2, 3, 4], lambda m: m.op("MatMul", ["x", m.op("Reshape", [m.op("Relu", ["x"]),
                                                                     shape_const(m, 1, 1, 4, 6)])])),
    "matmul_4d_heads_transposed": (  # (1, 2, 5, 3) @ (1, 2, 3, 5), attention's Q K^T per head
        [1, 2, 5, 3], lambda m: m.op("MatMul", ["x", m.op("Transpose", ["x"], perm=[0, 1, 3, 2])])),
    "matmul_3d_by_2d_odd_relu": (  # (1, 5, 7) @ (7, 5), K = 7, then an int16 Relu
        [1, 5, 7], lambda m: m.op("Relu", [m.op("MatMul", ["x", m.op("Reshape", [
            m.op("Mul", ["x", m.const(np.float32(0.7))]), shape_const(m, 7, 5)])])])),
    "gemm_transb_alpha_c": ([1, 3, 4], lambda m: gemm_transb_alpha_c(m)),
    "gemm_transa_const_b": (  # transA with a constant B (4, 5)
        [1, 4, 3], lambda m: m.op("Gemm", [m.op("Reshape", ["x", shape_const(m, 4, 3)]), m.const(w(4, 5))],
                                  transA=1)),
    "matmul_const_left": (  # constant (5, 4) @ activation (4, 3)
        [1, 4, 3], lambda m: m.op("MatMul", [m.const(w(5, 4)), m.op("Reshape", ["x", shape_const(m, 4, 3)])])),
}


def _build(tmp_path: Path, case: str, bits: int):
    """Build a CASES model at ``bits``; distinct C prefixes: all models link into one executable."""
    shape, builder = CASES[case]
    name = f"mm{sorted(CASES).index(case)}_{bits}"
    path, cal, res, gen = build_case(tmp_path, case, shape, builder, bits, name)
    return path, cal, res.compiled.model, gen, name, res.compiled.graph


def kernel_case(rng):
    """Random direct call of qnnc_batch_matmul_s16: batch dims broadcast either way, adj_x / adj_y,
    full-range int16 operands (-32768 included) or small ones with multipliers near 1, depths past int32's reach (K up to 1500, sums
    beyond 2^31), int64 bias or none, multipliers from tiny (0) to saturating (>= 0x7FFF0000 reduces
    to 0x7FFF) so outputs both round and clamp, Relu-like bounds."""
    b0, b1 = (int(v) for v in rng.integers(1, 4, 2))
    m, n = (int(v) for v in rng.integers(1, 7, 2))
    k = int(rng.choice([1, 2, 7, int(rng.integers(8, 300)), 1500]))
    adj_x, adj_y = (int(v) for v in rng.integers(0, 2, 2))
    d1 = (b0 if rng.random() < 0.6 else 1, b1 if rng.random() < 0.6 else 1) + ((k, m) if adj_x else (m, k))
    d2 = (b0 if rng.random() < 0.6 else 1, b1 if rng.random() < 0.6 else 1) + ((n, k) if adj_y else (k, n))
    small = rng.random() < 0.3  # small values, multipliers near 1: every unit of the sum shows
    lim = 40 if small else 32768
    a = rng.integers(-lim, lim, d1).astype(np.int16)
    b = rng.integers(-lim, lim, d2).astype(np.int16)
    if not small:
        a.flat[0], b.flat[-1] = -32768, -32768
    real = 10.0 ** rng.uniform(-7.5, -3.5) / k ** 0.5 if rng.random() < 0.9 else 10.0 ** -12
    if small:
        real = 10.0 ** rng.uniform(-1.5, 0.5) / k ** 0.5
    mult, shift = quantize_multiplier(real)
    if shift < -46:
        mult, shift = 0, 0
    if rng.random() < 0.1:
        mult = int(rng.integers(0x7FFF0000, 0x7FFFFFFF))
    bias = None if rng.random() < 0.3 else (rng.integers(-(1 << 40), 1 << 40, n) // 10 ** int(rng.integers(0, 8)))
    if small and bias is not None:
        bias //= 1 << 30
    lo, hi = (-32768, 32767) if rng.random() < 0.7 else (0, int(rng.integers(100, 32768)))
    p = BatchMatmulParams(input1_offset=0, input2_offset=0, output_multiplier=int(mult), output_shift=int(shift),
                          output_offset=0, act_min=lo, act_max=hi, adj_x=adj_x, adj_y=adj_y, rounding=0)
    out_dims = (max(d1[0], d2[0]), max(d1[1], d2[1]), m, n)
    return p, a, b, bias, out_dims, KMM16.batch_matmul_s16(p, a, b, bias, out_dims)


def _kernel_calls(tmp: Path, cases) -> str:
    """C source calling qnnc_batch_matmul_s16 on each case's constant arrays, each output written to
    ``<tmp>/k<i>.out``."""
    def arr(ctype, name, v, suffix=""):
        return f"static const {ctype} {name}[] = {{{', '.join(f'{int(x)}{suffix}' for x in np.ravel(v))}}};\n"
    src = ['#include "qnnc_kernels.h"\n']
    for i, (p, a, b, bias, out_dims, y) in enumerate(cases):
        fields = ", ".join(str(int(v)) for v in (p.input1_offset, p.input2_offset, p.output_multiplier,
                                                   p.output_shift, p.output_offset, p.act_min, p.act_max,
                                                   p.adj_x, p.adj_y, p.rounding))
        src.append(arr("int16_t", f"k{i}_a", a) + arr("int16_t", f"k{i}_b", b)
                   + (arr("int64_t", f"k{i}_bias", bias, "LL") if bias is not None else ""))
        src.append(f"""static int kernel_{i}(void)
{{
    static const qnnc_batch_matmul_params p = {{{fields}}};
    static const qnnc_dims d1 = {{{', '.join(map(str, a.shape))}}}, d2 = {{{', '.join(map(str, b.shape))}}};
    static const qnnc_dims dout = {{{', '.join(map(str, out_dims))}}};
    static int16_t y[{y.size}];
    FILE *fo = fopen("{tmp}/k{i}.out", "wb");
    if (!fo) return 2;
    qnnc_batch_matmul_s16(&p, &d1, k{i}_a, &d2, k{i}_b, {f"k{i}_bias" if bias is not None else "NULL"}, &dout, y);
    fwrite(y, 1, sizeof y, fo);
    fclose(fo);
    return 0;
}}
""")
    return "".join(src)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every case at int16 and int8 (int8: the accuracy baseline), and ONE sanitized executable that
    runs every int16 model on its input file (<name>.in -> <name>.out)."""
    tmp = tmp_path_factory.mktemp("mm16")
    cases = {c: (_build(tmp, c, 16), _build(tmp, c, 8)) for c in sorted(CASES)}
    kernels, models, calls = set(), [], []
    for c, ((_, _, qm, gen, name, _), _) in cases.items():
        kernels |= {p.name for p in gen.glob("qnnc_*.c")}
        models += [gen / f"{name}.c", gen / f"{name}_weights.c"]
        calls.append(f'''#include "{gen}/{name}.h"
static int run_{name}(void)
{{
    static int8_t qin[{qm.input_tensor.size}], qout[{qm.output_tensor.size}];
    FILE *fi = fopen("{tmp}/{name}.in", "rb"), *fo = fopen("{tmp}/{name}.out", "wb");
    if (!fi || !fo) return 2;
    while (fread(qin, 1, sizeof qin, fi) == sizeof qin) {{
        if ({name}_run(qin, qout)) return 4;
        fwrite(qout, 1, sizeof qout, fo);
    }}
    fclose(fi);
    fclose(fo);
    return 0;
}}
''')
    names = [cases[c][0][4] for c in sorted(cases)]
    main = tmp / "main.c"
    krng = np.random.default_rng(20261204)
    kcases = [kernel_case(krng) for _ in range(KERNEL_CASES)]
    kernels.add("qnnc_batch_matmul_s16.c")
    main.write_text("#include <stdio.h>\n" + _kernel_calls(tmp, kcases) + "".join(calls) + "int main(void)\n{\n"
                    + "".join(f"    if (kernel_{i}()) return 1;\n" for i in range(len(kcases)))
                    + "".join(f"    if (run_{n}()) return 1;\n" for n in names) + "    return 0;\n}\n")
    srcs = [main, *models, *(runtime_dir() / "src" / k for k in sorted(kernels))]
    exe = compile_c(srcs, [include_dir()], tmp / "all", sanitize=True,
                    base_flags=("-std=c99", "-O1", "-Wall", "-Wextra", "-Werror"))
    inputs = {}
    for c, ((_, cal, qm, _, name, _), _) in cases.items():
        test = np.concatenate([cal[:12], 3.0 * RNG.standard_normal((12, *cal.shape[1:])).astype(np.float32)])
        inputs[c] = quantize_input(qm, test)
        inputs[c].tofile(tmp / f"{name}.in")
    r = subprocess.run([str(exe)], capture_output=True, env=sanitizer_env(), timeout=120)
    assert r.returncode == 0, r.stderr.decode()[:2000]
    outs = {c: np.fromfile(tmp / f"{cases[c][0][4]}.out", np.int8).reshape(len(inputs[c]), -1) for c in cases}
    kouts = [np.fromfile(tmp / f"k{i}.out", "<i2") for i in range(len(kcases))]
    return cases, inputs, outs, list(zip(kcases, kouts))


def test_batch_matmul_s16_kernel(built):
    """The C kernel equals the reference bit for bit (ASan/UBSan) on random direct calls, and the
    cases reach what they are meant to (sums beyond int32, clamping, saturating multipliers)."""
    *_, kres = built
    for i, ((p, a, b, bias, out_dims, y), c) in enumerate(kres):
        assert np.array_equal(c, y.reshape(-1)), f"kernel case {i}: C differs ({p}, {a.shape} x {b.shape})"
    ys = np.concatenate([y.reshape(-1) for (*_, y), _ in kres])
    assert (ys == 32767).any() and (ys == -32768).any() and len(np.unique(ys)) > 300
    assert any(a.shape[-1 - p.adj_x] * 2 ** 30 > 2 ** 31 for (p, a, *_), _ in kres)


def _float_values(path: Path, graph, tensors, xs):
    """Float onnxruntime values (samples, ...) of QModel tensors in the compiled graph's layout:
    every ONNX intermediate is a graph output, and calibrate.internal_value follows the passes'
    views and layout (a converted copy ``<name>__s16`` / ``__s8`` holds the values of ``<name>``)."""
    m = _with_all_outputs(onnx.load(str(path)))
    sess = ort.InferenceSession(m.SerializeToString())
    names = [o.name for o in m.graph.output]
    res = {t: [] for t in tensors}
    for i in range(len(xs)):
        run = dict(zip(names, sess.run(names, {"x": xs[i:i + 1]})), x=xs[i:i + 1])
        for t in tensors:
            v = internal_value(graph, t.split("__s")[0], run.get)
            assert v is not None, f"no float value for {t}"
            res[t].append(v.astype(np.float64))
    return {t: np.stack(v) for t, v in res.items()}


def _op_alone_sqnr(qm, op, run_op, floats, f_out):
    """SQNR (dB) vs float of the product alone: each activation operand quantized from its float
    onnxruntime value at the op's input scale (no earlier rounding mixed in)."""
    t_out = qm.tensors[op.output]
    ys = []
    for i in range(len(f_out)):
        vals = {}
        for name in op.inputs:
            t = qm.tensors[name]
            lo, hi = (-32768, 32767) if t.bits == 16 else (-128, 127)
            q = np.clip(np.round(floats[name][i] / t.scale) + t.zero_point, lo, hi)
            vals[name] = q.astype(np.int16 if t.bits == 16 else np.int8).reshape(t.shape)
        ys.append(run_op(op, vals, t_out.shape))
    deq = (np.stack(ys).reshape(f_out.shape).astype(np.float64) - t_out.zero_point) * t_out.scale
    return 10 * np.log10(np.sum(f_out ** 2) / max(np.sum((deq - f_out) ** 2), 1e-30))


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_matmul_int16(case, built):
    cases, inputs, outs, _ = built
    (path, cal, qm, _, _, graph), (_, _, qm8, _, _, graph8) = cases[case]
    # Lowered to the 16x8 kernel: int16 operands and output, int64 bias, no requantize but the API's.
    (op,) = [o for o in qm.ops if o.kind == "batch_matmul"]
    assert op.kernel == "qnnc_batch_matmul_s16" and op.attrs["activation_bits"] == 16
    assert all(qm.tensors[t].bits == 16 for t in op.inputs + [op.output])
    assert all(c.dtype == np.int16 for k, c in op.consts.items() if k.startswith("input"))
    assert "bias" not in op.consts or op.consts["bias"].dtype == np.int64
    assert not qm.notes and qm.ops[-1].kind == "requantize"  # the API's int8 output
    assert all(o.kind != "requantize" or o is qm.ops[-1] for o in qm.ops if op.output in o.inputs)
    producer = {o.output: o for o in qm.ops}
    for conv in [o for o in qm.ops[:-1] if o.kind == "requantize"]:  # the API input's, after int8 views
        t = conv.inputs[0]
        while t in producer:
            assert producer[t].kind in ("transpose", "reshape") and producer[t].kernel in (None, "qnnc_transpose_s8"), t
            t = producer[t].inputs[0]
        assert t == qm.input

    # The C equals the reference bit for bit (ASan/UBSan), in range and beyond the calibrated range.
    ref = run_batch(qm, {qm.input: inputs[case]}, keep=[op.output])
    assert np.array_equal(outs[case], ref[qm.output].reshape(outs[case].shape)), f"{case}: C differs"
    inner = ref[op.output]  # int16 results use the range (not a degenerate case)
    assert len(np.unique(inner)) > min(100, inner.size // 3)

    # Closer to float onnxruntime than the int8 product (each alone, operands quantized from float).
    (op8,) = [o for o in qm8.ops if o.kind == "batch_matmul"]
    assert op8.kernel == "qnnc_batch_matmul_s8"
    assert op8.output == op.output
    xs = cal[:16]
    vals = {**_float_values(path, graph, op.inputs + [op.output], xs), **_float_values(path, graph8, op8.inputs, xs)}
    f_out = vals[op.output]
    sq16 = _op_alone_sqnr(qm, op, KMM16.run_op, vals, f_out)
    sq8 = _op_alone_sqnr(qm8, op8, KG.run_op, vals, f_out)
    print(f"{case}: SQNR vs float int16 {sq16:.1f} dB, int8 {sq8:.1f} dB")
    assert sq16 > sq8 + MARGIN_DB, f"{case}: int16 {sq16:.1f} dB is not {MARGIN_DB} dB better than int8 {sq8:.1f} dB"
