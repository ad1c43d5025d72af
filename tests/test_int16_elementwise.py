"""int16 element-wise and movement ops (quantization.activation_bits: 16): Add/Sub/Mul of two
activations or with a constant operand (broadcasting), Max/Min, PRelu, standalone Relu / Clip /
LeakyRelu, constant Pad and Concat (quantize/rules_s16_elementwise.py).

Each case builds the op alone (odd sizes [1, 4, 5, 7]) and checks
- the plan: the op runs an ``_s16`` kernel on int16 tensors, and nothing runs at int8 around it
  (int8 only before the first int16 op: the input's layout transpose, slices of it and their
  conversions; and the API's final int16 -> int8 conversion);
- the C: every layer's output bytes (int16 included, through the per-layer callback) equal the
  reference's, all cases compiled into one host executable under ASan/UBSan;
- the precision: on the calibration samples scaled by 0.97 (no clipping), the op's own output
  against float onnxruntime run on the dequantized int8 input: the int16 error is within 1.5 LSB
  of the coarsest int16 scale involved (Mul: plus its factors' propagated rounding), and its SQNR
  beats the int8 build's by at least 20 dB (measured: 35-48 dB) where the int8 op rounds at all
  (Concat and Div by 3 copy / rescale exactly at int8 on these inputs: there int16 is within 1 LSB).

Pad and Concat and the Slices feeding the binary ops follow their input's precision
(precision.FOLLOW_INPUT): the Slices of the int8 input stay int8 and are converted; the Pad case
pads the output of an int16 Add.
"""
from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from case_files import canary, i32
from onnx_factory import GraphBuilder
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import SANITIZE_FLAGS, WARN_FLAGS
from qnnc.kernel_params import MinMaxParams, MulParams, PreluParams, RescaleParams
from qnnc.quantize.fixedpoint import dequantize_s8, quantize_multiplier, quantize_multipliers
from qnnc.reference import kernels_s16_elementwise as KE16
from qnnc.reference.interpreter import quantize_input, run

SHAPE = [1, 4, 5, 7]
N_SAMPLES = 12


def _i64(*v):
    return np.array(v, np.int64)


def _halves(g):
    """Two activations from the input: channels 0-1 and channels 2-3 (int16 Slices)."""
    a = g.op("Slice", ["x", g.const(_i64(0)), g.const(_i64(2)), g.const(_i64(1))])
    b = g.op("Slice", ["x", g.const(_i64(2)), g.const(_i64(4)), g.const(_i64(1))])
    return a, b


def _row(g):
    """A [1, 4, 1, 7] activation (row 0 of the input) to broadcast over H."""
    return g.op("Slice", ["x", g.const(_i64(0)), g.const(_i64(1)), g.const(_i64(2))])


def _per_channel(values):
    return np.array(values, np.float32).reshape(4, 1, 1)


def add_const(g):  # a constant per channel, broadcast over H and W
    return g.op("Add", ["x", g.const(_per_channel([0.5, -1.0, 2.0, 0.25]))])


def sub_activations(g):
    a, b = _halves(g)
    return g.op("Sub", [b, a])


def sub_const_minus_x(g):  # Sub(c, x): reversed, c varying along W
    return g.op("Sub", [g.const(np.linspace(-1, 1, 7).astype(np.float32)), "x"])


def mul_activations_broadcast(g):
    return g.op("Mul", ["x", _row(g)])


def mul_const(g):
    return g.op("Mul", ["x", g.const(_per_channel([0.5, -3.0, 1.25, 0.01]))])


def div_const(g):  # Div by a constant is a Mul (passes)
    return g.op("Div", ["x", g.const(np.float32(3.0))])


def max_activations_broadcast(g):
    return g.op("Max", ["x", _row(g)])


def min_activations(g):
    a, b = _halves(g)
    return g.op("Min", [a, b])


def max_const(g):  # per-channel constant (a scalar one becomes a Clip)
    return g.op("Max", ["x", g.const(_per_channel([0.0, -0.5, 1.0, -2.0]))])


def prelu_channel(g):
    return g.op("PRelu", ["x", g.const(_per_channel([0.1, -0.5, 0.0, 1.5]))])


def relu(g):
    return g.op("Relu", ["x"])


def clip(g):
    return g.op("Clip", ["x", g.const(np.float32(-0.75)), g.const(np.float32(1.5))])


def leaky_relu(g):
    return g.op("LeakyRelu", ["x"], alpha=0.2)


def pad(g):  # Pad follows its input's precision (precision.FOLLOW_INPUT): after an int16 Add
    y = g.op("Add", ["x", g.const(_per_channel([0.5, -1.0, 2.0, 0.25]))])
    return g.op("Pad", [y, g.const(_i64(0, 0, 1, 2, 0, 1, 2, 0)), g.const(np.float32(0.3))])


def concat(g):  # x copied, a slice rescaled to the output scale
    a, _ = _halves(g)
    return g.op("Concat", [a, "x", a], axis=1)


# case -> (builder, kind, kernel of the op under test)
CASES = {
    "add_const": (add_const, "add", "qnnc_add_s16"),
    "sub_activations": (sub_activations, "add", "qnnc_add_s16"),
    "sub_const_minus_x": (sub_const_minus_x, "add", "qnnc_add_s16"),
    "mul_activations_broadcast": (mul_activations_broadcast, "mul", "qnnc_mul_s16"),
    "mul_const": (mul_const, "mul", "qnnc_mul_s16"),
    "div_const": (div_const, "mul", "qnnc_mul_s16"),
    "max_activations_broadcast": (max_activations_broadcast, "minmax", "qnnc_minmax_s16"),
    "min_activations": (min_activations, "minmax", "qnnc_minmax_s16"),
    "max_const": (max_const, "minmax", "qnnc_minmax_s16"),
    "prelu_channel": (prelu_channel, "prelu", "qnnc_prelu_s16"),
    "relu": (relu, "minmax", "qnnc_minmax_s16"),
    "clip": (clip, "minmax", "qnnc_minmax_s16"),
    "leaky_relu": (leaky_relu, "prelu", "qnnc_prelu_s16"),
    "pad": (pad, "pad", "qnnc_pad_s16"),
    "concat": (concat, "concat", "qnnc_concat_slice_s16"),
}
NAMES = list(CASES)


def _build(case: str, bits: int, root: Path):
    d = root / f"{case}_{bits}"
    d.mkdir(parents=True)
    g = GraphBuilder(SHAPE, opset=13)
    CASES[case][0](g)
    g.finish(d / "m.onnx")
    xs = (np.random.default_rng(NAMES.index(case)).standard_normal((N_SAMPLES, *SHAPE[1:])) * 1.5).astype(np.float32)
    np.savez(d / "cal.npz", x=xs)
    name = f"e{NAMES.index(case)}"
    (d / "q.yaml").write_text(f"name: {name}\ncalibration:\n  data: cal.npz\n  method: minmax\n"
                              f"quantization:\n  activation_bits: {bits}\n")
    res = build(str(d / "m.onnx"), load_config(str(d / "q.yaml")), str(d / "gen"), name, progress=False)
    return res.compiled.model, d, xs, name


DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
{includes}

static FILE *out_file;

/* every layer's output bytes, prefixed by the layer index and the byte count */
static void dump(void *user, int32_t layer, const int8_t *output, int32_t size)
{{
    (void)user;
    fwrite(&layer, sizeof layer, 1, out_file);
    fwrite(&size, sizeof size, 1, out_file);
    fwrite(output, 1, (size_t)size, out_file);
}}

#define RUN_MODEL(p, P) do {{ \
    static int8_t in[P##_INPUT_SIZE], out[P##_OUTPUT_SIZE]; \
    static uint32_t arena[(P##_ARENA_SIZE + 3) / 4]; \
    p##_ctx ctx; \
    if (p##_init(&ctx, arena, sizeof arena) != 0) return 2; \
    ctx.on_layer = dump; \
    while (fread(in, 1, P##_INPUT_SIZE, in_file) == P##_INPUT_SIZE) {{ \
        if (p##_invoke(&ctx, in, out) != 0) return 3; \
    }} \
}} while (0)

int main(int argc, char **argv)
{{
    FILE *in_file;
    if (argc != 4) return 1;
    in_file = fopen(argv[2], "rb");
    out_file = fopen(argv[3], "wb");
    if (in_file == NULL || out_file == NULL) return 1;
{dispatch}
    fclose(in_file);
    fclose(out_file);
    return 0;
}}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every case built at int16 and int8, and one sanitized host executable running all int16 models."""
    root = tmp_path_factory.mktemp("s16_elementwise")
    models = {case: {bits: _build(case, bits, root) for bits in (16, 8)} for case in CASES}
    sources, incs = {}, []
    for case in CASES:
        qm, d, xs, name = models[case][16]
        gen = d / "gen"
        incs.append(f'#include "{name}.h"')
        for src in glob.glob(str(gen / "*.c")):
            base = os.path.basename(src)
            if base.startswith("qnnc_"):
                sources.setdefault(base, src)  # the same runtime copy in every folder
            else:
                sources[f"{name}/{base}"] = src
    dispatch = "\n".join(f'    if (atoi(argv[1]) == {k}) RUN_MODEL({models[c][16][3]}, {models[c][16][3].upper()});'
                         for k, c in enumerate(CASES))
    drv = root / "driver.c"
    drv.write_text(DRIVER.format(includes="\n".join(incs), dispatch=dispatch))
    exe = root / "drv"
    # -O1: the sanitized build of 15 models stays quick; the kernels' -O2 builds run in test_int16.py
    cmd = [os.environ.get("CC", "gcc"), "-O1", *WARN_FLAGS, *SANITIZE_FLAGS,
           *[a for case in CASES for a in ("-I", str(models[case][16][1] / "gen"))], str(drv), *sources.values(),
           "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]
    return models, exe, root


def _c_layers(exe: Path, k: int, q: np.ndarray, work: Path):
    """Per sample, {layer: bytes} from the executable's per-layer callback."""
    fin, fout = work / f"in{k}.bin", work / f"out{k}.bin"
    np.ascontiguousarray(q, np.int8).tofile(fin)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
    res = subprocess.run([str(exe), str(k), str(fin), str(fout)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    data, pos, samples = fout.read_bytes(), 0, []
    while pos < len(data):
        layer, size = np.frombuffer(data[pos:pos + 8], np.int32)
        pos += 8
        if layer == 0 or not samples:
            samples.append({})
        samples[-1][int(layer)] = data[pos:pos + size]
        pos += size
    return samples


def _op_under_test(qm, kind):
    """The last op of this kind: the op under test (in the Pad case an Add op feeds it)."""
    return [op for op in qm.ops if op.kind == kind][-1]


def _nchw(a: np.ndarray) -> np.ndarray:
    return np.transpose(a, (0, 3, 1, 2)) if a.ndim == 4 else a


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    noise = float(np.sum((ref - got) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref ** 2)) / noise)


@pytest.mark.parametrize("case", NAMES)
def test_int16_elementwise_op(case, built):
    models, exe, root = built
    _, kind, kernel = CASES[case]
    qm, d, xs, name = models[case][16]

    # the plan: one int16 kernel, no conversion but the API's
    op = _op_under_test(qm, kind)
    assert op.kernel == kernel and op.attrs["activation_bits"] == 16
    assert all(qm.tensors[t].bits == 16 for t in [*op.inputs, op.output])
    # int8 only before the first int16 op (the input's layout transpose and slices of it, then their
    # conversions) and in the API's final conversion: no int8 island around the op
    first = min(i for i, o in enumerate(qm.ops) if o.attrs.get("activation_bits") == 16)
    assert qm.ops.index(op) >= first
    assert all(qm.tensors[o.output].bits == 16 for o in qm.ops[first:-1])
    assert qm.ops[-1].kernel == "qnnc_requantize_s16_s8" and qm.ops[-1].output == qm.output

    # the C: every layer bit-exact with the reference (int16 bytes included)
    x_c = np.concatenate([xs, xs * 4.0])  # and far outside the calibrated ranges: saturation
    q = quantize_input(qm, x_c)
    c_layers = _c_layers(exe, NAMES.index(case), q.reshape(len(x_c), -1), root)
    assert len(c_layers) == len(x_c)
    for i in range(len(x_c)):
        ref = run(qm, q[i], keep=[o.output for o in qm.ops])
        for layer, o in enumerate(qm.ops):
            if o.kind == "reshape":
                continue
            want = np.ascontiguousarray(ref[o.output]).astype(np.int16 if qm.tensors[o.output].bits == 16
                                                              else np.int8).tobytes()
            assert c_layers[i][layer] == want, f"sample {i} layer {layer} ({o.kind} {o.kernel}) differs"

    # the precision: the op's output against float on the dequantized int8 input, int16 vs int8
    # The unit: the LSB of the coarsest int16 scale the values pass (the inputs' conversions from
    # the int8 input round by half of theirs, the op by half of the output's). A product carries each
    # factor's rounding (half its LSB) times the other factor (at most 32768 of its LSB): in output
    # LSB at most 32768 * s1 * s2 / s_out = 32768 x the multiplier.
    unit, tol = max(qm.tensors[t].scale for t in [*op.inputs, op.output]), 1.5
    if kind == "mul":
        unit = qm.tensors[op.output].scale
        tol = 1.5 + 32768 * op.params.output_multiplier * 2.0 ** (op.params.output_shift - 31)
    errs, sqnr = {}, {}
    # inside the calibrated ranges even after the int8 input's rounding (which may pass the edge of a
    # range by half an int8 LSB, where an int16 conversion saturates)
    x_f = xs * 0.97
    for bits in (16, 8):
        qmb, db, _, _ = models[case][bits]
        opb = [o for o in qmb.ops if o.name == op.name][0]  # int8: Relu / Clip / LeakyRelu are tables
        t_in, t_out = qmb.input_tensor, qmb.tensors[opb.output]
        qb = quantize_input(qmb, x_f)
        x_deq = dequantize_s8(qb, t_in.scale, t_in.zero_point).reshape(xs.shape).astype(np.float32)
        sess = ort.InferenceSession(str(db / "m.onnx"))
        fl = np.concatenate([sess.run(None, {"x": x_deq[i:i + 1]})[0] for i in range(len(xs))]).astype(np.float64)
        got = np.concatenate([_nchw((run(qmb, qb[i], keep=[opb.output])[opb.output].astype(np.float64)
                                     - t_out.zero_point).reshape(t_out.shape)) * t_out.scale
                              for i in range(len(xs))]).reshape(fl.shape)
        lo = (-32768 if bits == 16 else -128) - t_out.zero_point
        fl = np.clip(fl, lo * t_out.scale, (lo + (65535 if bits == 16 else 255)) * t_out.scale)  # the output's range
        errs[bits] = np.abs(got - fl) / unit
        sqnr[bits] = _sqnr(fl, got)
    print(f"{case}: int16 max {errs[16].max():.2f} LSB16 (bound {tol:.2f}), SQNR int16 {sqnr[16]:.1f} dB, "
          f"int8 {sqnr[8]:.1f} dB")
    assert errs[16].max() <= tol
    if sqnr[8] < 100:
        assert sqnr[16] >= sqnr[8] + 20.0
    else:  # the int8 op copied exactly (e.g. Concat without rescale): int16 within its input conversion
        assert errs[16].max() <= 1.0


# ------------------------------------------------ random kernel cases (tests/kernel_driver_s16.c) --
# Registered in test_int16.py's BUILDERS: run on the host at -O2 and under ASan/UBSan
# (test_s16_kernel_matches_reference) and on QEMU Cortex-M4/M55 (test_s16_kernel_cases_on_cortex_m),
# in the firmware those tests build anyway.

def _s16(rng, shape) -> np.ndarray:
    if rng.random() < 0.2:  # extremes
        return rng.choice(np.array([-32768, 32767, 0, -1, 1]), shape).astype(np.int16)
    return rng.integers(-32768, 32768, shape).astype(np.int16)


def _act16(rng):
    r = rng.random()
    if r < 0.5:
        return -32768, 32767
    lo = int(rng.integers(-32768, 30000))
    return lo, int(rng.integers(lo, 32768))


def _bytes(a, dtype) -> bytes:
    return np.ascontiguousarray(np.asarray(a).astype(dtype, copy=False)).tobytes()


def _broadcast_shapes(rng):
    out = (1,) + tuple(int(v) for v in rng.integers(1, 7, 3))
    return [out if rng.random() < 0.4 else tuple(d if rng.random() < 0.6 else 1 for d in out) for _ in "ab"] + [out]


def _broadcast_blobs(params, s1, x1, s2, x2, out, expected, rng):
    return [params, i32(*s1), _bytes(x1, "<i2"), i32(*s2), _bytes(x2, "<i2"), i32(*out), canary(rng, expected.nbytes)]


def mul_kernel_case(rng):
    """qnnc_mul_s16: broadcasting, products up to 2^30, multipliers up to ~3 (saturating)."""
    s1, s2, out = _broadcast_shapes(rng)
    mo, so = quantize_multiplier(float(10.0 ** rng.uniform(-11, 0.5)))
    act_min, act_max = _act16(rng)
    p = MulParams(0, 0, mo, so, int(rng.integers(-50, 50)), act_min, act_max)
    x1, x2 = _s16(rng, s1), _s16(rng, s2)
    expected = KE16.mul_s16(p, x1, x2, out)
    return ("mul_s16", _broadcast_blobs(i32(0, 0, mo, so, p.output_offset, act_min, act_max), s1, x1, s2, x2, out,
                                        expected, rng), expected, f"{s1}*{s2}->{out} {p}")


def minmax_kernel_case(rng):
    """qnnc_minmax_s16: broadcasting, rescale multipliers from 1e-3 to 1e5 (saturating left shifts),
    or the identity (2^30, shift 1: the kernel's fast path) on either input; a quarter are Relu / Clip
    (one value, both identities: the clamp loop)."""
    s1, s2, out = _broadcast_shapes(rng)
    reals = 10.0 ** rng.uniform(-3, 5, 2)
    reals[rng.random(2) < 0.3] = 1.0
    if rng.random() < 0.25:
        s1, s2, reals = out, (1, 1, 1, 1), np.ones(2)
    (m1, m2), (e1, e2) = quantize_multipliers(reals)
    act_min, act_max = _act16(rng)
    p = MinMaxParams(0, int(m1), int(e1), 0, int(m2), int(e2), int(rng.integers(-50, 50)), act_min, act_max,
                     int(rng.integers(0, 2)))
    x1, x2 = _s16(rng, s1), _s16(rng, s2)
    expected = KE16.minmax_s16(p, x1, x2, out)
    params = i32(0, p.input1_multiplier, p.input1_shift, 0, p.input2_multiplier, p.input2_shift, p.output_offset,
                 act_min, act_max, p.is_max)
    return ("minmax_s16", _broadcast_blobs(params, s1, x1, s2, x2, out, expected, rng), expected, f"{out} {p}")


def prelu_kernel_case(rng):
    """qnnc_prelu_s16: per-channel int8 slopes (with 0 and -127), outer / channels / inner layouts."""
    outer, channels, inner = int(rng.integers(1, 4)), int(rng.integers(1, 10)), int(rng.integers(1, 6))
    alpha = rng.integers(-127, 128, channels).astype(np.int8)
    alpha[rng.random(channels) < 0.2] = 0
    ma, sa = quantize_multipliers(10.0 ** rng.uniform(-8, 0.5, channels))
    mi, si = quantize_multiplier(float(10.0 ** rng.uniform(-3, 1.5)))
    p = PreluParams(0, int(rng.integers(-50, 50)), mi, si)
    x = _s16(rng, outer * channels * inner)
    expected = KE16.prelu_s16(p, alpha, ma, sa, x, outer, channels, inner)
    blobs = [i32(0, p.output_offset, mi, si), i32(outer, channels, inner), _bytes(alpha, np.int8),
             _bytes(ma, "<i4"), _bytes(sa, "<i4"), _bytes(x, "<i2"), canary(rng, expected.nbytes)]
    return ("prelu_s16", blobs, expected, f"{outer}x{channels}x{inner} {p}")


def pad_kernel_case(rng):
    """qnnc_pad_s16: pads before and after on every dim, any int16 value."""
    din = tuple(int(v) for v in rng.integers(1, 5, 4))
    before = tuple(int(v) for v in rng.integers(0, 3, 4))
    dout = tuple(d + b + int(a) for d, b, a in zip(din, before, rng.integers(0, 3, 4)))
    value = int(rng.integers(-32768, 32768))
    x = _s16(rng, din)
    expected = KE16.pad_s16(x, before, dout, value)
    blobs = [i32(*din), i32(*before), i32(*dout), i32(value), _bytes(x, "<i2"), canary(rng, expected.nbytes)]
    return ("pad_s16", blobs, expected, f"{din} +{before} -> {dout} value {value}")


def concat_kernel_case(rng):
    """qnnc_concat_slice_s16: one input's rows written every output_stride values (the others stay),
    copied (NULL) or rescaled with saturation."""
    outer, inner = int(rng.integers(1, 5)), int(rng.integers(1, 9))
    stride = inner + int(rng.integers(0, 7))
    x = _s16(rng, (outer, inner))
    out = np.frombuffer(canary(rng, outer * stride * 2), np.int16).reshape(outer, stride).copy()
    r = None
    if rng.random() < 0.7:
        m, e = quantize_multiplier(float(10.0 ** rng.uniform(-3, 1)))
        r = RescaleParams(0, m, e, int(rng.integers(-50, 50)))
    expected = out.copy()
    expected[:, :inner] = KE16.rescale_s16(r, x)  # the rest of each row keeps its bytes
    blobs = [b"" if r is None else i32(0, r.multiplier, r.shift, r.output_offset), i32(outer, inner, stride),
             _bytes(x, "<i2"), out.tobytes()]
    return ("concat_slice_s16", blobs, expected, f"{outer}x{inner} stride {stride} {r}")


def sub_kernel_case(rng):
    """qnnc_add_s16 as Sub: one input multiplier negated (rules_s16_elementwise.binary); same shapes
    half of the time (the Helium path on the M55: VQRDMULH rounds a negative product as SRDHM)."""
    from qnnc.kernel_params import AddParams
    from qnnc.quantize.fixedpoint import add_multipliers
    from qnnc.reference.kernels_s16 import add_s16
    s1, s2, out = _broadcast_shapes(rng)
    if rng.random() < 0.5:
        s1 = s2 = out
    sc1, sc2 = (float(10.0 ** rng.uniform(-4, 0)) for _ in range(2))
    m1, e1, m2, e2, mo, eo = add_multipliers(sc1, sc2, (sc1 + sc2) * float(10.0 ** rng.uniform(-0.7, 0.5)), 15)
    m1, m2 = (-m1, m2) if rng.random() < 0.5 else (m1, -m2)
    act_min, act_max = _act16(rng)
    p = AddParams(0, 0, m1, e1, m2, e2, 15, mo, eo, 0, act_min, act_max)
    x1, x2 = _s16(rng, s1), _s16(rng, s2)
    expected = add_s16(p, x1, x2, out)
    params = i32(0, 0, m1, e1, m2, e2, 15, mo, eo, 0, act_min, act_max)
    return ("add", _broadcast_blobs(params, s1, x1, s2, x2, out, expected, rng), expected, f"sub {out} {p}")


#: kernel -> (case id in tests/kernel_driver_s16.c, function, case builder, cases per run)
KERNEL_CASES = {
    "mul_s16": (60, "qnnc_mul_s16", mul_kernel_case, 120),
    "minmax_s16": (61, "qnnc_minmax_s16", minmax_kernel_case, 120),
    "prelu_s16": (62, "qnnc_prelu_s16", prelu_kernel_case, 80),
    "pad_s16": (63, "qnnc_pad_s16", pad_kernel_case, 60),
    "concat_slice_s16": (64, "qnnc_concat_slice_s16", concat_kernel_case, 60),
    "sub_s16": (5, "qnnc_add_s16", sub_kernel_case, 60),  # the add case of the driver
}
