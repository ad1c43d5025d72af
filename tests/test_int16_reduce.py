"""int16 activations (16x8 scheme) for the reductions, ArgMax/ArgMin, LogSoftmax and LayerNormalization
(quantize/rules_s16_reduce.py, reference/kernels_s16_reduce.py, runtime/src/qnnc_{reduce,arg_max,
log_softmax,layer_norm}_s16.c).

- every op alone in a tiny ONNX model (several axis sets, keepdims 0/1, odd sizes, LayerNorm also
  in the decomposed form the passes fuse), built with ``activation_bits: 16``: the plan must run it
  on its ``_s16`` kernel with int16 tensors (only the int8 API's two conversions around it);
- one sanitized (ASan/UBSan) host executable for all of them: the generated C equals the reference
  bit for bit, on the int8 API output AND on the op's int16 output (captured by the per-layer
  callback); plus random kernel cases over the whole int16 range (extremes, ties, large counts,
  n = 2^15 LayerNorm rows) read from a file into exactly-sized heap blocks;
- precision: the op's int16 output against float onnxruntime on the same (dequantized) input must
  beat the int8 build's output by ``SQNR_GAIN_DB`` (index agreement 1.0 for ArgMax/ArgMin).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

from onnx_factory import GraphBuilder
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import SANITIZE_FLAGS
from qnnc.frontend.float_runner import float_outputs
from qnnc.kernel_params import LayerNormParams, ReduceParams
from qnnc.quantize.fixedpoint import quantize_multiplier
from qnnc.quantize.rules_s16_reduce import log_softmax_constants16
from qnnc.reference import kernels_reduce as KR
from qnnc.reference import kernels_s16_reduce as KR16
from qnnc.reference.interpreter import quantize_input, run, run_int8

RUNTIME = Path(__file__).resolve().parent.parent / "plugin" / "qnnc" / "runtime"
SQNR_GAIN_DB = 30.0   # int16 output vs int8 output, both against float on the same input (measured: 34-46 dB)
SAMPLES = 24


def w(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _axes(m, kind, axes, opset):
    if kind == "ReduceSum" and opset >= 13 or opset >= 18:
        return [m.const(np.array(axes, np.int64))], {}
    return [], {"axes": axes}


def _reduce(kind, axes, keepdims, opset=13):
    def f(m, rng):
        tail, attrs = _axes(m, kind, axes, opset)
        return m.op(kind, ["x"] + tail, keepdims=keepdims, **attrs)
    return f


def _decomposed_ln(m, rng):
    n = 16
    mean = m.op("ReduceMean", ["x"], axes=[-1])
    d = m.op("Sub", ["x", mean])
    var = m.op("ReduceMean", [m.op("Pow", [d, m.const(np.float32(2.0))])], axes=[-1])
    y = m.op("Div", [d, m.op("Sqrt", [m.op("Add", [var, m.const(np.float32(1e-5))])])])
    return m.op("Add", [m.op("Mul", [y, m.const(w(rng, n) + 1.0)]), m.const(w(rng, n))])


# name: (input shape, opset, builder, kernel, output type)
CASES = {
    "mean_last_keepdims1": ([1, 6, 16], 13, _reduce("ReduceMean", [-1], 1), "qnnc_reduce_s16", TensorProto.FLOAT),
    # (a mean over H and W alone becomes a global average pool in the passes)
    "mean_c_w_keepdims0": ([1, 4, 5, 7], 13, _reduce("ReduceMean", [1, 3], 0), "qnnc_reduce_s16", TensorProto.FLOAT),
    "sum_c_h_noncontiguous": ([1, 3, 6, 5], 13, _reduce("ReduceSum", [1, 2], 0), "qnnc_reduce_s16",
                              TensorProto.FLOAT),
    "sum_all_odd": ([1, 7, 9], 13, lambda m, rng: m.op("ReduceSum", ["x"], keepdims=1), "qnnc_reduce_s16",
                    TensorProto.FLOAT),
    "max_c_w_keepdims1": ([1, 3, 6, 5], 13, _reduce("ReduceMax", [1, 3], 1), "qnnc_reduce_s16", TensorProto.FLOAT),
    "min_last_keepdims0_opset18": ([1, 5, 13], 18, _reduce("ReduceMin", [-1], 0, 18), "qnnc_reduce_s16",
                                   TensorProto.FLOAT),
    "argmax_classifier": ([1, 20], 13, lambda m, rng: m.op("ArgMax", ["x"], axis=1, keepdims=0),
                          "qnnc_arg_max_s16", TensorProto.INT64),
    "argmin_4d_select_last": ([1, 3, 6, 5], 13,
                              lambda m, rng: m.op("ArgMin", ["x"], axis=1, keepdims=1, select_last_index=1),
                              "qnnc_arg_max_s16", TensorProto.INT64),
    "log_softmax_2d_odd": ([1, 37], 13, lambda m, rng: m.op("LogSoftmax", ["x"], axis=-1),
                           "qnnc_log_softmax_s16", TensorProto.FLOAT),
    "log_softmax_3d": ([1, 4, 10], 13, lambda m, rng: m.op("LogSoftmax", ["x"], axis=-1),
                       "qnnc_log_softmax_s16", TensorProto.FLOAT),
    "layernorm_opset17_last": ([1, 6, 16], 17, lambda m, rng: m.op(
        "LayerNormalization", ["x", m.const(w(rng, 16) + 1.0), m.const(w(rng, 16))], axis=-1, epsilon=1e-5),
        "qnnc_layer_norm_s16", TensorProto.FLOAT),
    "layernorm_4d_axis1_no_bias": ([1, 3, 6, 5], 17, lambda m, rng: m.op(
        "LayerNormalization", ["x", m.const(w(rng, 3, 6, 5) + 1.0)], axis=1, epsilon=1e-3),
        "qnnc_layer_norm_s16", TensorProto.FLOAT),
    "layernorm_decomposed": ([1, 6, 16], 13, _decomposed_ln, "qnnc_layer_norm_s16", TensorProto.FLOAT),
}


def _build(d: Path, name: str, idx: int, bits: int):
    shape, opset, builder, _, out_type = CASES[name]
    rng = np.random.default_rng(idx + 100)
    m = GraphBuilder(shape, opset, out_type)
    builder(m, rng)
    d.mkdir(parents=True, exist_ok=True)
    model = m.finish(d / "m.onnx")
    xs = (rng.standard_normal((SAMPLES, *shape[1:])) * 1.5).astype(np.float32)
    np.savez(d / "cal.npz", x=xs)
    (d / "q.yaml").write_text(f"name: m{idx}\ncalibration:\n  data: cal.npz\n  method: minmax\n"
                              f"quantization:\n  activation_bits: {bits}\n")
    res = build(str(model), load_config(str(d / "q.yaml")), str(d / "gen"), f"m{idx}", progress=False)
    return model, res.compiled.model, xs


def _sqnr(f, q) -> float:
    return float(10 * np.log10(np.sum(f ** 2) / max(np.sum((f - q) ** 2), 1e-30)))


# ------------------------------------------------------------- the batched C run --

def _model_section(j: int, qm, layer: int, nbytes: int) -> str:
    p, P = f"m{j}", f"M{j}"
    return f"""
static int run_{p}(const char *fin, const char *fout)
{{
    static int8_t in[{P}_INPUT_SIZE], out[{P}_OUTPUT_SIZE], lay[{nbytes}];
    static int8_t arena[{P}_ARENA_SIZE] __attribute__((aligned(16)));
    {p}_ctx ctx;
    capture cap;
    FILE *fi = fopen(fin, "rb"), *fo = fopen(fout, "wb");
    cap.layer = {layer}; cap.buf = lay; cap.size = 0;
    if (!fi || !fo || {p}_init(&ctx, arena, sizeof arena)) return 1;
    ctx.on_layer = grab;
    ctx.user = &cap;
    while (fread(in, 1, {P}_INPUT_SIZE, fi) == {P}_INPUT_SIZE) {{
        if ({p}_invoke(&ctx, in, out) || cap.size != {nbytes}) return 2;
        fwrite(out, 1, {P}_OUTPUT_SIZE, fo);
        fwrite(lay, 1, {nbytes}, fo);
        cap.size = 0;
    }}
    fclose(fi);
    fclose(fo);
    return 0;
}}
"""


def _kernel_cases():
    """Random direct kernel calls on the full int16 range: (C call, input, reference output, float or None)."""
    rng = np.random.default_rng(2024)
    cases = []
    for k in range(16):  # reductions: random 4-D shapes and axis sets, large and tiny multipliers
        in4 = tuple(int(v) for v in rng.integers(1, 8, 4))
        mask = rng.random(4) < 0.5
        if k == 0:
            mask[:] = True
        out4 = tuple(1 if mk else dd for mk, dd in zip(mask, in4))
        kind = k % 3
        count = int(np.prod([dd for mk, dd in zip(mask, in4) if mk]))
        mult, shift = quantize_multiplier(float(rng.uniform(0.2, 3.0)) / count)
        if k % 5 == 4:
            mult, shift = quantize_multiplier(float(rng.uniform(100, 8000)))  # saturating sums
        p = ReduceParams(kind, 0, mult, shift, 0)
        x = rng.integers(-32768, 32768, in4).astype(np.int16)
        if k % 4 == 1:
            x = rng.choice(np.array([-32768, 32767], np.int16), in4)
        call = (f"{{ const qnnc_reduce_params p = {{{kind}, 0, {mult}, {shift}, 0}}; "
                f"const qnnc_dims di = {{{in4[0]}, {in4[1]}, {in4[2]}, {in4[3]}}}; "
                f"const qnnc_dims dq = {{{out4[0]}, {out4[1]}, {out4[2]}, {out4[3]}}}; "
                "qnnc_reduce_s16(&p, &di, (const int16_t *)x, &dq, (int16_t *)y); }")
        cases.append((call, x, KR16.reduce_s16(p, x, in4, out4), None))
    # one long run: 70000 values of 32767 in one innermost span (the kernel's int32 partial sums flush)
    x = np.full((1, 1, 1, 70000), 32767, np.int16)
    x[0, 0, 0, ::3] = -32768
    mult, shift = quantize_multiplier(1.0 / 70000)
    p = ReduceParams(0, 0, mult, shift, 0)
    cases.append((f"{{ const qnnc_reduce_params p = {{0, 0, {mult}, {shift}, 0}}; "
                  "const qnnc_dims di = {1, 1, 1, 70000}; const qnnc_dims dq = {1, 1, 1, 1}; "
                  "qnnc_reduce_s16(&p, &di, (const int16_t *)x, &dq, (int16_t *)y); }",
                  x, KR16.reduce_s16(p, x, x.shape, (1, 1, 1, 1)), None))
    for k in range(8):  # arg max / min with many ties, including -32768 (whose negation needs int32)
        outer, n, inner = int(rng.integers(1, 4)), int(rng.integers(1, 128)), int(rng.integers(1, 4))
        x = rng.choice(np.array([-32768, -1, 0, 5, 32767], np.int16), (outer, n, inner))
        is_min, last = k % 2, (k // 2) % 2
        cases.append((f"qnnc_arg_max_s16({outer}, {n}, {inner}, {is_min}, {last}, (const int16_t *)x, y)",
                      x, KR16.arg_max_s16(x, outer, n, inner, is_min, last), None))
    for k in range(8):  # top k values / indices with many ties, including -32768
        outer, n, inner = int(rng.integers(1, 4)), int(rng.integers(1, 128)), int(rng.integers(1, 4))
        kk = int(rng.integers(1, n + 1))
        x = rng.choice(np.array([-32768, -1, 0, 5, 32767], np.int16), (outer, n, inner))
        largest, want = k % 2, ("values", "indices")[(k // 2) % 2]
        out = "(int16_t *)y, NULL" if want == "values" else "NULL, y"
        cases.append((f"qnnc_top_k_s16({outer}, {n}, {inner}, {kk}, {largest}, (const int16_t *)x, {out})",
                      x, KR.top_k(x, outer, n, inner, kk, largest, want, np.int16), None))
    for k in range(8):  # wide indices (n > 127, int16 index output): arg max / top k, int16 and int8 inputs
        outer, n, inner = int(rng.integers(1, 3)), int(rng.integers(128, 700)), int(rng.integers(1, 3))
        s16 = k < 4
        x = rng.choice(np.array([-32768, -1, 0, 5, 32767] if s16 else [-128, -1, 0, 5, 127],
                                np.int16 if s16 else np.int8), (outer, n, inner))
        t, suffix = ("(const int16_t *)x", "s16") if s16 else ("(const int8_t *)x", "s8")
        vals = "(int16_t *)NULL" if s16 else "(int8_t *)NULL"
        if k % 2:
            kk = int(rng.integers(1, 6))
            cases.append((f"qnnc_top_k_wide_{suffix}({outer}, {n}, {inner}, {kk}, {k % 4 // 2}, {t}, {vals}, "
                          "(int16_t *)y)", x, KR.top_k(x, outer, n, inner, kk, k % 4 // 2, "indices", x.dtype,
                                                       np.int16), None))
        else:
            cases.append((f"qnnc_arg_max_wide_{suffix}({outer}, {n}, {inner}, {k % 4 // 2}, {k // 4}, {t}, (int16_t *)y)",
                          x, KR.arg_max(x, outer, n, inner, k % 4 // 2, k // 4, x.dtype, np.int16), None))
    for k in range(8):  # log softmax: d up to 65535, very small and very large input scales
        rows, cols = int(rng.integers(1, 4)), [1, 2, 7, 37, 300, 1000, 5, 64][k]
        s_in = [1e-4, 3e-4, 1e-3, 1e-2, 1e-5, 5e-4, 1.0, 2e-3][k]
        x = rng.integers(-32768, 32768, (rows, cols)).astype(np.int16)
        if k == 5:
            x[:, ::2] = -32768
            x[:, 1] = 32767
        lut, diff, logm = log_softmax_constants16(s_in)
        xf = x.astype(np.float64) * s_in
        mx = xf.max(axis=1, keepdims=True)
        f = (xf - mx) - np.log(np.exp(xf - mx).sum(axis=1, keepdims=True))
        cases.append((f"{{ static const uint32_t lut[512] = {{{', '.join(str(int(v)) for v in lut)}}}; "
                      f"qnnc_log_softmax_s16({rows}, {cols}, (int64_t){diff}, {logm}, lut, (const int16_t *)x, "
                      "(int16_t *)y); }", x, KR16.log_softmax_s16(x, lut, diff, logm),
                      np.clip(f * 1024.0, -32768, 0)))
    shapes = [(1, 1, 1), (3, 1, 2), (2, 7, 3), (5, 16, 1), (1, 64, 4), (1, 32768, 1), (2, 300, 2), (1, 32768, 1)]
    for k in range(8):  # layer norm: constant rows, extremes, n = 2^15 at full swing, eps tiny/huge
        outer, n, inner = shapes[k]
        x = rng.integers(-32768, 32768, (outer, n, inner)).astype(np.int16)
        if k == 1:
            x[:] = -32768
        if k in (2, 5):
            x = rng.choice(np.array([-32768, 32767], np.int16), (outer, n, inner))
        s_in, s_out = float(rng.uniform(1e-5, 1e-3)), float(rng.uniform(1e-4, 4e-4))
        gamma = rng.standard_normal(n) * 1.5
        gamma[rng.random(n) < 0.1] = 0.0
        beta = rng.standard_normal(n) * 0.5
        eps = [1e-5, 1e-12, 1e-3, 10.0][k % 4] if n < 1000 else 1e-3  # n^2 * eps / s_in^2 < 2^61
        kk = 0
        while (1 << (2 * kk)) < n:
            kk += 1
        frac = 29 - kk
        epsilon = int(min(max(round(n * n * eps / (s_in * s_in)), 1), 1 << 61))
        mult, shift = np.zeros(n, np.int32), np.zeros(n, np.int32)
        for i, g in enumerate(gamma):
            m, s = quantize_multiplier(abs(float(g)) / (s_out * (1 << frac)))
            mult[i], shift[i] = (-m if g < 0 else m), s
        bias = np.clip(np.sign(beta) * np.floor(np.abs(beta) / s_out + 0.5), -(1 << 24), 1 << 24).astype(np.int32)
        p = LayerNormParams(0, epsilon, frac)
        xf = x.astype(np.float64) * s_in
        mu = xf.mean(axis=1, keepdims=True)
        var = ((xf - mu) ** 2).mean(axis=1, keepdims=True)
        yf = (xf - mu) / np.sqrt(var + eps) * gamma.reshape(1, n, 1) + beta.reshape(1, n, 1)
        arrays = "".join(f"static const int32_t {nm}[{n}] = {{{', '.join(str(int(v)) for v in a)}}}; "
                         for nm, a in (("lm", mult), ("ls", shift), ("lb", bias)))
        cases.append((f"{{ {arrays}const qnnc_layer_norm_params p = {{0, {epsilon}, {frac}}}; "
                      f"qnnc_layer_norm_s16(&p, {outer}, {n}, {inner}, lm, ls, lb, (const int16_t *)x, "
                      "(int16_t *)y); }", x, KR16.layer_norm_s16(p, x, outer, n, inner, mult, shift, bias),
                      np.clip(yf / s_out, -32768, 32767)))
    return cases


def _kernel_section(cases) -> str:
    body = []
    for call, x, ref, _ in cases:
        body.append(f"""    {{
        void *x = malloc({x.nbytes}); int8_t *y = (int8_t *)malloc({ref.nbytes});
        if (!x || !y || fread(x, 1, {x.nbytes}, fi) != {x.nbytes}) return 1;
        {call};
        fwrite(y, 1, {ref.nbytes}, fo);
        free(x); free(y);
    }}""")
    return ("static int run_kernels(const char *fin, const char *fout)\n{\n"
            "    FILE *fi = fopen(fin, \"rb\"), *fo = fopen(fout, \"wb\");\n    if (!fi || !fo) return 1;\n"
            + "\n".join(body) + "\n    fclose(fi);\n    fclose(fo);\n    return 0;\n}\n")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Build every case at int16 (and int8 for the precision comparison), compile one sanitized executable
    running all int16 models and the kernel cases, run it; returns per-case data."""
    tmp = tmp_path_factory.mktemp("s16_reduce")
    names = sorted(CASES)
    data, sections, headers, sources, kernels = {}, [], [], [], {}
    for j, name in enumerate(names):
        model, qm, xs = _build(tmp / name / "b16", name, j, 16)
        _, qm8, _ = _build(tmp / name / "b8", name, j, 8)
        layer = next(i for i, o in enumerate(qm.ops) if o.kernel == CASES[name][3])
        t = qm.tensors[qm.ops[layer].output]
        gen = tmp / name / "b16" / "gen"
        sections.append(_model_section(j, qm, layer, t.nbytes))
        headers.append(f'#include "m{j}.h"')
        sources += [str(gen / f"m{j}.c"), str(gen / f"m{j}_weights.c")]
        for c in gen.glob("qnnc_*.c"):
            kernels.setdefault(c.name, str(c))
        q = quantize_input(qm, xs)
        q.reshape(len(xs), -1).astype(np.int8).tofile(tmp / f"in{j}.bin")
        data[name] = dict(j=j, model=model, qm=qm, qm8=qm8, xs=xs, q=q, layer=layer, t=t)
    cases = _kernel_cases()
    with open(tmp / "kin.bin", "wb") as f:
        for _, x, _, _ in cases:
            f.write(np.ascontiguousarray(x).tobytes())
    for name in ("qnnc_reduce_s16.c", "qnnc_arg_max_s16.c", "qnnc_top_k_s16.c", "qnnc_log_softmax_s16.c",
                 "qnnc_layer_norm_s16.c", "qnnc_arg_max_wide_s16.c", "qnnc_top_k_wide_s16.c",
                 "qnnc_arg_max_wide_s8.c", "qnnc_top_k_wide_s8.c"):
        kernels.setdefault(name, str(RUNTIME / "src" / name))
    dispatch = "".join(f"    if (run_m{j}(argv[{2 * j + 1}], argv[{2 * j + 2}])) return {10 + j};\n"
                       for j in range(len(names)))
    k = len(names)
    src = ("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"qnnc_kernels.h\"\n"
           + "\n".join(headers) + "\n"
           "typedef struct { int32_t layer; int8_t *buf; int32_t size; } capture;\n"
           "static void grab(void *user, int32_t layer, const int8_t *output, int32_t size)\n{\n"
           "    capture *c = (capture *)user;\n"
           "    if (layer == c->layer) { memcpy(c->buf, output, (size_t)size); c->size = size; }\n}\n"
           + "".join(sections) + _kernel_section(cases)
           + f"int main(int argc, char **argv)\n{{\n    if (argc != {2 * k + 3}) return 2;\n" + dispatch
           + f"    return run_kernels(argv[{2 * k + 1}], argv[{2 * k + 2}]) ? 9 : 0;\n}}\n")
    (tmp / "drv.c").write_text(src)
    exe = tmp / "drv"
    gens = [f"-I{tmp / n / 'b16' / 'gen'}" for n in names] + [f"-I{RUNTIME / 'include'}"]  # kernels no model uses
    subprocess.run(["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *SANITIZE_FLAGS, *gens,
                    str(tmp / "drv.c"), *sources, *sorted(kernels.values()), "-o", str(exe)], check=True)
    args = [str(exe)]
    for j in range(k):
        args += [str(tmp / f"in{j}.bin"), str(tmp / f"out{j}.bin")]
    args += [str(tmp / "kin.bin"), str(tmp / "kout.bin")]
    subprocess.run(args, check=True, timeout=120, env={"ASAN_OPTIONS": "detect_leaks=0",
                                                        "UBSAN_OPTIONS": "print_stacktrace=1"})
    for name, d in data.items():
        qm, t = d["qm"], d["t"]
        raw = np.fromfile(tmp / f"out{d['j']}.bin", np.int8).reshape(SAMPLES, -1)
        osz = qm.output_tensor.size
        d["c_out"] = raw[:, :osz]
        d["c_layer"] = raw[:, osz:].copy().view(np.int16 if t.bits == 16 else np.int8)
    kout = np.fromfile(tmp / "kout.bin", np.int8)
    return data, cases, kout


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_int16_lowered_bit_exact_and_closer_to_float(name, batch):
    data, _, _ = batch
    d = data[name]
    qm, qm8, t = d["qm"], d["qm8"], d["t"]
    kernel = CASES[name][3]
    # lowered to the int16 kernel, int16 in (and out, but for the int8 index); besides it only the int8
    # API's conversions and data movement (the NCHW <-> NHWC transposes, views)
    assert [o.kernel for o in qm.ops].count(kernel) == 1
    assert all(o.kind in ("requantize", "transpose", "reshape") for o in qm.ops if o.kernel != kernel)
    op = qm.ops[d["layer"]]
    assert qm.ops[d["layer"] - 1].kernel == "qnnc_requantize_s8_s16"  # the API input, converted once
    assert qm.tensors[op.inputs[0]].bits == 16 and qm.tensors[op.inputs[0]].zero_point == 0
    assert t.bits == (8 if kernel == "qnnc_arg_max_s16" else 16)
    assert not any("runs with int8 activations" in n for n in qm.notes)
    # C == reference, on the API output and on the op's own (int16) output
    q = d["q"]
    ref = run_int8(qm, q).reshape(SAMPLES, -1)
    assert np.array_equal(d["c_out"], ref), f"{name}: C API output differs from the reference"
    lay = np.stack([run(qm, q[i], keep=[op.output])[op.output] for i in range(SAMPLES)]).reshape(SAMPLES, -1)
    assert np.array_equal(d["c_layer"], lay), f"{name}: C int16 layer output differs from the reference"
    assert len(np.unique(lay)) > 1  # not a degenerate (constant) output
    # precision: float onnxruntime on the dequantized int8 input both builds share
    xin = qm.tensors[qm.input]
    assert (xin.scale, xin.zero_point) == (qm8.tensors[qm8.input].scale, qm8.tensors[qm8.input].zero_point)
    xdq = ((q.astype(np.float64) - xin.zero_point) * xin.scale).astype(np.float32).reshape(d["xs"].shape)
    f = float_outputs(str(d["model"]), xdq).reshape(SAMPLES, -1).astype(np.float64)
    q8 = run_int8(qm8, q).reshape(SAMPLES, -1)
    t8 = qm8.output_tensor
    if kernel == "qnnc_arg_max_s16":  # the API output is the index itself (scale 1, zero point 0)
        assert (qm.output_tensor.scale, qm.output_tensor.zero_point) == (1.0, 0)  # also through int16 views
        agree16, agree8 = np.mean(ref == f), np.mean(q8 == f)
        print(f"{name}: index agreement with onnxruntime: int16 {agree16:.3f}, int8 {agree8:.3f}")
        assert agree16 == 1.0  # int8 -> int16 is strictly monotonic: the same index, ties included
        return
    # the int16 result in the API's layout: the input of the final int16 -> int8 conversion
    last = qm.ops[-1]
    assert last.kernel == "qnnc_requantize_s16_s8"
    t = qm.tensors[last.inputs[0]]
    res = np.stack([run(qm, q[i], keep=[t.name])[t.name] for i in range(SAMPLES)]).reshape(SAMPLES, -1)
    deq16 = res.astype(np.float64) * t.scale
    deq8 = (q8.astype(np.float64) - t8.zero_point) * t8.scale
    # A few values of the dequantized input's float result lie just outside the range calibrated on the
    # float input (or below LogSoftmax's -32), so both builds clip them: the SQNRs leave those out, the
    # max error printed includes them.
    inside = np.abs(f) <= 32767 * t.scale
    assert inside.mean() > 0.9
    s16, s8 = _sqnr(f[inside], deq16[inside]), _sqnr(f[inside], deq8[inside])
    err16 = np.abs(deq16 - f) / t.scale
    print(f"{name}: SQNR vs float onnxruntime: int16 {s16:.1f} dB, int8 {s8:.1f} dB; "
          f"|err| int16 mean {err16.mean():.2f} max {err16.max():.2f} int16 LSB")
    if name.startswith(("max_", "min_")):
        # an extreme of the (int8-quantized) input is exact at int8 too: the int16 result may only
        # carry the int8 -> int16 conversion's rounding
        assert err16.max() <= 0.5 + 1e-3
    else:
        assert s16 >= s8 + SQNR_GAIN_DB


def test_kernel_cases_full_int16_range(batch):
    """Direct calls over the whole int16 range: C == reference; LogSoftmax and LayerNorm within a few
    output LSB of float on the same int16 input."""
    _, cases, kout = batch
    at = 0
    for k, (call, x, ref, fl) in enumerate(cases):
        got = kout[at:at + ref.nbytes].copy().view(ref.dtype).reshape(ref.shape)
        at += ref.nbytes
        assert np.array_equal(got, ref), f"kernel case {k}: {call[:80]}"
        if fl is not None:
            err = np.abs(ref.astype(np.float64) - fl)
            assert err.max() <= 1.6, f"kernel case {k}: {err.max():.2f} LSB from float"
    assert at == kout.size


@pytest.mark.slow  # ~35 s per core (firmware build + emulation): outside the default tier's budget
@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m3", "m55"])
def test_kernel_cases_on_cortex_m(core, tmp_path):
    """The same kernel cases on an emulated Cortex-M (one firmware per core, inputs linked in with
    .incbin): the firmware prints an FNV-1a hash of each output, equal to the reference's. The kernels
    have only a portable path; the M3 (Armv7-M) and M55 (Armv8.1-M) builds check its 64-bit arithmetic
    (libgcc helpers, the LayerNorm division) on two architectures."""
    from cortex_m_cases import H, fnv1a
    from c_build import include_dir
    if H.missing_tools():
        pytest.skip(H.missing_tools())
    cases = _kernel_cases()
    if core == "m55":  # its flash is smaller: the M3 runs the n = 2^15 and 70000-value cases
        cases = [c for c in cases if c[1].nbytes <= 16384]
    blob = tmp_path / "inputs.bin"
    offsets, at = [], 0
    with open(blob, "wb") as f:
        for _, x, _, _ in cases:
            offsets.append(at)
            data = np.ascontiguousarray(x).tobytes()
            f.write(data + b"\0" * (-len(data) % 8))
            at += len(data) + (-len(data) % 8)
    biggest = max(ref.nbytes for _, _, ref, _ in cases)
    body = "".join(f"""    {{
        const void *x = inputs + {off};
        int8_t *y = out;
        BENCH_BEGIN();
        {call};
        BENCH_END();
        report({k}, {ref.nbytes});
    }}
""" for k, ((call, _, ref, _), off) in enumerate(zip(cases, offsets)))
    main = (f'#include <stdint.h>\n#include "bench_support.h"\n#include "qnnc_kernels.h"\n'
            f'__asm__(".section .bench_data,\\"a\\",%progbits\\n.balign 8\\n.global inputs\\ninputs:\\n'
            f'.incbin \\"{blob}\\"\\n.previous\\n");\n'
            "extern const unsigned char inputs[];\n"
            f"static int8_t out[{biggest}] __attribute__((aligned(8)));\n"
            "static void report(int32_t k, int32_t n)\n{\n    uint32_t h = 2166136261u;\n    int32_t i;\n"
            "    for (i = 0; i < n; ++i) {\n        h = (h ^ (uint8_t)out[i]) * 16777619u;\n    }\n"
            '    bench_puts("H ");\n    bench_put_dec(k);\n    bench_puts(" ");\n    bench_put_hex32(h);\n'
            '    bench_puts("\\n");\n}\n'
            "int main(void)\n{\n" + body + "    return 0;\n}\n")
    src = tmp_path / "reduce_s16_cases_main.c"
    src.write_text(main)
    kernels = [RUNTIME / "src" / f"qnnc_{k}_s16.c" for k in ("reduce", "arg_max", "top_k", "log_softmax", "layer_norm",
                                                             "arg_max_wide", "top_k_wide")]
    kernels += [RUNTIME / "src" / f"qnnc_{k}_s8.c" for k in ("arg_max_wide", "top_k_wide")]
    fw = H.build_firmware(H.MACHINES[core], [*kernels, src], [include_dir()], tmp_path, name=f"reduce_s16_{core}",
                          extra_cflags=["-Wno-unused-function"])
    run_fw = H.run_firmware(fw, tmp_path)
    assert run_fw.returncode == 0, run_fw.stdout[-2000:] + run_fw.stderr[-2000:]
    got = {int(p[1]): int(p[2], 16) for p in (ln.split() for ln in run_fw.stdout.splitlines())
           if len(p) == 3 and p[0] == "H"}
    bad = [k for k, (_, _, ref, _) in enumerate(cases) if got.get(k) != fnv1a(np.ascontiguousarray(ref).tobytes())]
    assert not bad, f"{core}: kernel cases {bad} differ from the reference"
    for k, ((call, x, _, _), r) in enumerate(zip(cases, run_fw.regions)):  # for the record (run with -s)
        print(f"{core} case {k}: {r.count} instructions, {x.size} inputs: {call.split('qnnc_')[-1][:40]}")
    assert len(got) == len(cases)
