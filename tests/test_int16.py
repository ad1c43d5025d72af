"""int16 activations with int8 weights (quantization.activation_bits: 16, TFLite's 16x8 scheme).

- every ``qnnc_*_s16`` kernel (and the int8 <-> int16 conversions) against the numpy reference
  (qnnc.reference.kernels_s16) on seeded random cases, compiled strictly at -O2 and with
  ASan+UBSan, every array in its own exactly-sized heap block (tests/kernel_driver_s16.c);
- a small ONNX model using every supported op, built with int16 activations: generated C
  bit-exact with the reference under sanitizers, 2-byte tensors in the arena;
- clean errors: ``activation_bits: 12`` (with its YAML line), an op without an int16 kernel;
- the shared models (skip without /work/shared): KWS bit-exact on the whole test set and
  accuracy >= 0.911 (the float model's), digits/MNIST accuracy, arena twice the int8 one.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List

import numpy as np
import pytest
from onnx import helper

import onnx_factory as F
from case_files import canary, compile_drivers, conv_geometry, i32, pool_geometry, run_case_file, serialize
from c_build import include_dir, kernel_sources
from qnnc.quantize import fixedpoint
from qnnc.build import build
from qnnc.config import load_config
from qnnc.errors import ConfigError
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.kernel_params import AddParams, ConvParams, FcParams, PoolParams, RescaleParams
from qnnc.quantize.rules_s16 import softmax_exp_lut
from qnnc.reference import kernels_s16 as R
from qnnc.reference.interpreter import quantize_input, run_int8
from qemu_harness import harness
from shared_models import require

HERE = Path(__file__).resolve().parent
KERNEL_IDS = {"conv": 0, "depthwise": 1, "fc": 2, "max_pool": 3, "avg_pool": 4, "add": 5, "softmax": 6,
              "transpose": 7, "s8_to_s16": 8, "s16_to_s8": 9}
S16_FUNCTIONS = ["qnnc_conv_s16", "qnnc_depthwise_conv_s16", "qnnc_fully_connected_s16", "qnnc_max_pool_s16",
                 "qnnc_avg_pool_s16", "qnnc_add_s16", "qnnc_softmax_s16", "qnnc_transpose_s16",
                 "qnnc_requantize_s8_s16", "qnnc_requantize_s16_s8"]


# ----------------------------------------------------------------- plumbing --



def arr(a, dtype) -> bytes:
    return np.ascontiguousarray(np.asarray(a).astype(dtype, copy=False)).tobytes()




def run_cases(exe: Path, cases, workdir: Path, env=None) -> List[bytes]:
    return run_case_file(exe, serialize(cases, KERNEL_IDS), len(cases), workdir, env)


# -------------------------------------------------------- random parameters --

def rand_scales16(rng, n: int, low: bool = False):
    """Per-channel multipliers/shifts in the range the 16x8 quantizer emits (shift in [-46, 14]),
    with exact zeros and multipliers >= 0x7FFF0000 (the saturating 16-bit reduction).
    ``low``: every scale below 0.224 (shift <= -2, or multiplier 0), the Helium paths' short
    requantization (qnnc_mve_requant_s16_hi)."""
    reals = 10.0 ** rng.uniform(-9, -0.65 if low else 1.5, n)
    reals[rng.random(n) < 0.05] = 0.0
    mult, shift = fixedpoint.quantize_multipliers(reals)
    top = rng.random(n) < 0.1
    mult[top] = rng.integers(0x7FFF0000, 0x7FFFFFFF, int(top.sum()))
    tiny = shift < -46
    mult[tiny], shift[tiny] = 0, 0
    return mult.astype(np.int32), shift.astype(np.int32)


def rand_act16(rng):
    r = rng.random()
    if r < 0.5:
        return -32768, 32767
    if r < 0.75:
        return 0, 32767
    lo = int(rng.integers(-32768, 30000))
    return lo, int(rng.integers(lo, 32768))


def rand_s16(rng, shape) -> np.ndarray:
    x = rng.integers(-32768, 32768, shape)
    if rng.random() < 0.2:  # extremes
        x = rng.choice(np.array([-32768, 32767, 0, -1, 1]), shape)
    return x.astype(np.int16)


def rand_i8(rng, shape) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


def rand_bias64(rng, n: int):
    if rng.random() < 0.2:
        return None
    return rng.integers(-(1 << 40), 1 << 40, n).astype(np.int64) // int(10 ** rng.integers(0, 8))


def conv_case(rng, depthwise: bool):
    h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow = conv_geometry(rng, 10, 4)
    if depthwise:
        ic = int(rng.integers(1, 9))
        dm = int(rng.choice([1, 1, 2, 3]))
        oc = ic * dm
    else:
        # sometimes more than 256 input channels: the kernel's int32 partial sums flush every 256
        ic = int(rng.integers(250, 300)) if rng.random() < 0.05 else int(rng.integers(1, 12))
        oc, dm = int(rng.integers(1, 10)), 1
    act_min, act_max = rand_act16(rng)
    p = ConvParams(input_offset=0, output_offset=0, stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl,
                   dilation_h=dh, dilation_w=dw, depth_multiplier=dm, act_min=act_min, act_max=act_max)
    mult, shift = rand_scales16(rng, oc)
    x = rand_s16(rng, (1, h, w, ic))
    filt = rand_i8(rng, (1, kh, kw, oc) if depthwise else (oc, kh, kw, ic))
    bias = rand_bias64(rng, oc)
    out_dims = (1, oh, ow, oc)
    fn = R.depthwise_conv_s16 if depthwise else R.conv_s16
    expected = fn(p, mult, shift, x, filt, bias, out_dims)
    blobs = [i32(0, 0, sh, sw, pt, pl, dh, dw, dm, act_min, act_max), arr(mult, "<i4"), arr(shift, "<i4"),
             i32(*x.shape), arr(x, "<i2"), i32(*filt.shape), arr(filt, np.int8),
             b"" if bias is None else arr(bias, "<i8"), i32(*out_dims), canary(rng, expected.nbytes)]
    return ("depthwise" if depthwise else "conv", blobs, expected, f"x{x.shape} filt{filt.shape} {p}")


def fc_case(rng):
    rows, n = int(rng.integers(1, 4)), int(rng.integers(1, 20))
    k = int(rng.integers(500, 700)) if rng.random() < 0.1 else int(rng.integers(1, 80))
    act_min, act_max = rand_act16(rng)
    p = FcParams(input_offset=0, output_offset=0, act_min=act_min, act_max=act_max)
    mult, shift = rand_scales16(rng, n)
    x, wt = rand_s16(rng, (rows, k)), rand_i8(rng, (n, k))
    bias = rand_bias64(rng, n)
    expected = R.fully_connected_s16(p, mult, shift, x, wt, bias)
    blobs = [i32(0, 0, act_min, act_max, rows, k, n), arr(mult, "<i4"), arr(shift, "<i4"), arr(x, "<i2"),
             arr(wt, np.int8), b"" if bias is None else arr(bias, "<i8"), canary(rng, expected.nbytes)]
    return ("fc", blobs, expected, f"x{x.shape} w{wt.shape} {p}")


def pool_case(rng, kind: str):
    h, w, c, kh, kw, sh, sw, pt, pb, pl, pr = pool_geometry(rng)
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    act_min, act_max = rand_act16(rng)
    p = PoolParams(kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl,
                   count_include_pad=int(rng.random() < 0.5), pad_value=0, act_min=act_min, act_max=act_max)
    if kind == "avg_pool" and rng.random() < 0.5:  # its own output scale: requantized window sums
        mult, shift = fixedpoint.quantize_multiplier(float(10.0 ** rng.uniform(-1.5, 0.7)) / (kh * kw))
        p = dataclasses.replace(p, multiplier=mult, shift=shift)
    x = rand_s16(rng, (1, h, w, c))
    out_dims = (1, oh, ow, c)
    expected = (R.max_pool_s16 if kind == "max_pool" else R.avg_pool_s16)(p, x, out_dims)
    blobs = [i32(kh, kw, sh, sw, pt, pl, p.count_include_pad, 0, act_min, act_max, p.multiplier, p.shift, 0, 0),
             i32(*x.shape), arr(x, "<i2"),
             i32(*out_dims), canary(rng, expected.nbytes)]
    return (kind, blobs, expected, f"x{x.shape} out{out_dims} {p}")


def add_case(rng):
    out = (1,) + tuple(int(v) for v in rng.integers(1, 7, 3))
    s1 = out if rng.random() < 0.4 else tuple(d if rng.random() < 0.6 else 1 for d in out)
    s2 = out if rng.random() < 0.4 else tuple(d if rng.random() < 0.6 else 1 for d in out)
    sc1, sc2 = (float(10.0 ** rng.uniform(-4, 0)) for _ in range(2))
    sco = (sc1 + sc2) * float(10.0 ** rng.uniform(-0.7, 0.5))
    m1, e1, m2, e2, mo, eo = fixedpoint.add_multipliers(sc1, sc2, sco, 15)
    act_min, act_max = rand_act16(rng)
    p = AddParams(0, 0, m1, e1, m2, e2, 15, mo, eo, 0, act_min, act_max)
    x1, x2 = rand_s16(rng, s1), rand_s16(rng, s2)
    expected = R.add_s16(p, x1, x2, out)
    blobs = [i32(0, 0, m1, e1, m2, e2, 15, mo, eo, 0, act_min, act_max), i32(*s1), arr(x1, "<i2"), i32(*s2),
             arr(x2, "<i2"), i32(*out), canary(rng, expected.nbytes)]
    return ("add", blobs, expected, f"{s1}+{s2}->{out} {p}")


def softmax_case(rng):
    rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 40))
    lut = softmax_exp_lut(float(10.0 ** rng.uniform(-5, -1)))
    x = rand_s16(rng, (rows, cols))
    if rng.random() < 0.3:  # ties and a dominant class
        x[:, : cols // 2] = x[:, :1]
    expected = R.softmax_s16(x, lut)
    blobs = [i32(rows, cols), arr(lut, "<u4"), arr(x, "<i2"), canary(rng, expected.nbytes)]
    return ("softmax", blobs, expected, f"{rows}x{cols}")


def transpose_case(rng):
    shape = tuple(int(v) for v in rng.integers(1, 6, 4))
    perm = tuple(int(v) for v in rng.permutation(4))
    x = rand_s16(rng, shape)
    expected = R.transpose_s16(x, perm)
    return ("transpose", [i32(*shape), i32(*perm), arr(x, "<i2"), canary(rng, expected.nbytes)], expected,
            f"{shape} perm {perm}")


def convert_case(rng, to16: bool, n=None, params=None):
    n = int(rng.integers(1, 300)) if n is None else n
    if to16:  # int8 (asymmetric) -> int16: real multiplier s8 / s16, typically > 1
        m, s = fixedpoint.quantize_multiplier(float(10.0 ** rng.uniform(-1, 2.6)))
        p = RescaleParams(int(rng.integers(-128, 128)), m, s, 0) if params is None else params
        x = rand_i8(rng, n)
        expected = R.requantize_s8_s16(p, x)
        xb = arr(x, np.int8)
    else:  # int16 -> int8: s16 / s8, typically < 1
        m, s = fixedpoint.quantize_multiplier(float(10.0 ** rng.uniform(-4, 0.3)))
        p = RescaleParams(0, m, s, int(rng.integers(-128, 128)))
        x = rand_s16(rng, n)
        expected = R.requantize_s16_s8(p, x)
        xb = arr(x, "<i2")
    blobs = [i32(p.input_offset, p.multiplier, p.shift, p.output_offset, n), xb, canary(rng, expected.nbytes)]
    return ("s8_to_s16" if to16 else "s16_to_s8", blobs, expected, f"{n} {p}")


BUILDERS = {
    "conv": (lambda rng: conv_case(rng, False), 200),
    "depthwise": (lambda rng: conv_case(rng, True), 200),
    "fc": (fc_case, 150),
    "max_pool": (lambda rng: pool_case(rng, "max_pool"), 150),
    "avg_pool": (lambda rng: pool_case(rng, "avg_pool"), 150),
    "add": (add_case, 150),
    "softmax": (softmax_case, 150),
    "transpose": (transpose_case, 60),
    "s8_to_s16": (lambda rng: convert_case(rng, True), 60),
    "s16_to_s8": (lambda rng: convert_case(rng, False), 60),
}
# int16 Mul, Max/Min, PRelu, Pad, Concat kernels: cases and ids in test_int16_elementwise.py
from test_int16_elementwise import KERNEL_CASES as _ELEMENTWISE  # noqa: E402
KERNEL_IDS.update({k: v[0] for k, v in _ELEMENTWISE.items()})
S16_FUNCTIONS += [v[1] for v in _ELEMENTWISE.values() if v[1] not in S16_FUNCTIONS]
BUILDERS.update({k: (v[2], v[3]) for k, v in _ELEMENTWISE.items()})
# int16 ConvTranspose, LSTM and GRU kernels: cases and ids in test_int16_conv_general.py
from test_int16_conv_general import KERNEL_CASES as _CONV_GENERAL  # noqa: E402
KERNEL_IDS.update({k: v[0] for k, v in _CONV_GENERAL.items()})
S16_FUNCTIONS += [v[1] for v in _CONV_GENERAL.values() if v[1] not in S16_FUNCTIONS]
BUILDERS.update({k: (v[2], v[3]) for k, v in _CONV_GENERAL.items()})
# int16 unary tables and Floor/Ceil/Round: cases and ids in test_int16_tables.py
from test_int16_tables import KERNEL_CASES as _TABLES  # noqa: E402
KERNEL_IDS.update({k: v[0] for k, v in _TABLES.items()})
S16_FUNCTIONS += [v[1] for v in _TABLES.values() if v[1] not in S16_FUNCTIONS]
BUILDERS.update({k: (v[2], v[3]) for k, v in _TABLES.items()})


# ---------------------------------------------- shapes of the DSP / Helium paths --

def _out(size: int, k: int, stride: int, dil: int, pad_lo: int, pad_hi: int) -> int:
    return (size + pad_lo + pad_hi - ((k - 1) * dil + 1)) // stride + 1


def simd_conv_case(rng, depthwise: bool, ic: int, oc_or_dm: int, kh: int, kw: int, hw=(6, 7), stride=(1, 1),
                   dil=(1, 1), pads=(0, 0, 0, 0), in_off: int = 0, extreme: bool = False, bias_fill=None,
                   batch: int = 1, low: bool = False):
    """A conv / depthwise case of a chosen shape (the SIMD paths' channel blocks, windows, tails).
    ``extreme``: every product is (-32768) * (-128) = 2^22, so long sums leave int32.
    ``bias_fill``: every bias set to this value (the int32 paths' limits).
    ``low``: scales of rand_scales16(low=True)."""
    h, w = hw
    pt, pl, pb, pr = pads
    oh, ow = _out(h, kh, stride[0], dil[0], pt, pb), _out(w, kw, stride[1], dil[1], pl, pr)
    dm = oc_or_dm if depthwise else 1
    oc = ic * dm if depthwise else oc_or_dm
    act_min, act_max = rand_act16(rng)
    p = ConvParams(input_offset=in_off, output_offset=0, stride_h=stride[0], stride_w=stride[1], pad_top=pt,
                   pad_left=pl, dilation_h=dil[0], dilation_w=dil[1], depth_multiplier=dm, act_min=act_min,
                   act_max=act_max)
    mult, shift = rand_scales16(rng, oc, low)
    fshape = (1, kh, kw, oc) if depthwise else (oc, kh, kw, ic)
    if extreme:
        x, filt = np.full((batch, h, w, ic), -32768, np.int16), np.full(fshape, -128, np.int8)
    else:
        x, filt = rand_s16(rng, (batch, h, w, ic)), rand_i8(rng, fshape)
    bias = rand_bias64(rng, oc) if bias_fill is None else np.full(oc, bias_fill, np.int64)
    out_dims = (batch, oh, ow, oc)
    expected = (R.depthwise_conv_s16 if depthwise else R.conv_s16)(p, mult, shift, x, filt, bias, out_dims)
    blobs = [i32(in_off, 0, stride[0], stride[1], pt, pl, dil[0], dil[1], dm, act_min, act_max), arr(mult, "<i4"),
             arr(shift, "<i4"), i32(*x.shape), arr(x, "<i2"), i32(*filt.shape), arr(filt, np.int8),
             b"" if bias is None else arr(bias, "<i8"), i32(*out_dims), canary(rng, expected.nbytes)]
    return ("depthwise" if depthwise else "conv", blobs, expected, f"simd x{x.shape} filt{filt.shape} {p}")


def _room(n: int) -> int:
    """The largest bias with which n products of 2^22 still fit int32 (qnnc_s16_sums_fit)."""
    return (1 << 31) - 1 - (n << 22)


def simd_fc_case(rng, rows: int, k: int, n: int, in_off: int = 0, extreme: bool = False, low: bool = False):
    act_min, act_max = rand_act16(rng)
    p = FcParams(input_offset=in_off, output_offset=0, act_min=act_min, act_max=act_max)
    mult, shift = rand_scales16(rng, n, low)
    if extreme:
        x, wt = np.full((rows, k), -32768, np.int16), np.full((n, k), -128, np.int8)
    else:
        x, wt = rand_s16(rng, (rows, k)), rand_i8(rng, (n, k))
    bias = rand_bias64(rng, n)
    expected = R.fully_connected_s16(p, mult, shift, x, wt, bias)
    blobs = [i32(in_off, 0, act_min, act_max, rows, k, n), arr(mult, "<i4"), arr(shift, "<i4"), arr(x, "<i2"),
             arr(wt, np.int8), b"" if bias is None else arr(bias, "<i8"), canary(rng, expected.nbytes)]
    return ("fc", blobs, expected, f"simd x{x.shape} w{wt.shape} {p}")


def simd_add_case(rng, shape):
    sc1, sc2 = (float(10.0 ** rng.uniform(-4, 0)) for _ in range(2))
    sco = (sc1 + sc2) * float(10.0 ** rng.uniform(-0.7, 0.5))
    m1, e1, m2, e2, mo, eo = fixedpoint.add_multipliers(sc1, sc2, sco, 15)
    act_min, act_max = rand_act16(rng)
    p = AddParams(0, 0, m1, e1, m2, e2, 15, mo, eo, int(rng.integers(-100, 100)), act_min, act_max)
    x1, x2 = rand_s16(rng, shape), rand_s16(rng, shape)
    expected = R.add_s16(p, x1, x2, shape)
    blobs = [i32(0, 0, m1, e1, m2, e2, 15, mo, eo, p.output_offset, act_min, act_max), i32(*shape), arr(x1, "<i2"),
             i32(*shape), arr(x2, "<i2"), i32(*shape), canary(rng, expected.nbytes)]
    return ("add", blobs, expected, f"simd {shape} {p}")


def simd_cases(seed: int = 1616):
    """Shapes that reach every branch of the DSP and Helium paths: channel counts that are and are
    not multiples of 2 / 4 / 8, 1x1 read in place, small windows through the stack column, large
    ones row by row (K > 128) and tap by tap (dilation), long dot products (K > 600, with every
    product 2^22: beyond int32), depth multipliers, input offsets (the portable fallback)."""
    rng = np.random.default_rng(seed)
    cases = []
    for ic in (1, 2, 3, 4, 7, 8, 9, 16, 17):
        for oc in (1, 2, 3, 4, 5, 8, 9):
            cases.append(simd_conv_case(rng, False, ic, oc, 1, 1))
        cases.append(simd_conv_case(rng, False, ic, int(rng.integers(1, 10)), 3, 3, pads=(1, 1, 1, 1)))
        cases.append(simd_conv_case(rng, False, ic, int(rng.integers(1, 10)), 1, 3, pads=(0, 1, 0, 1)))
        cases.append(simd_conv_case(rng, False, ic, int(rng.integers(1, 10)), 3, 2, stride=(2, 2),
                                    dil=(2, 2), pads=(2, 1, 0, 2)))
    cases += [simd_conv_case(rng, False, 1, 8, 10, 4, hw=(12, 6), stride=(2, 2), pads=(4, 1, 5, 2)),  # KWS conv1
              simd_conv_case(rng, False, 16, 5, 3, 3, hw=(5, 5), pads=(1, 1, 1, 1)),  # K 144: row by row
              simd_conv_case(rng, False, 13, 6, 3, 3, hw=(6, 6), dil=(1, 2), pads=(1, 2, 1, 2)),  # tap by tap
              simd_conv_case(rng, False, 72, 5, 3, 3, hw=(4, 4), pads=(1, 1, 1, 1)),  # K 648
              simd_conv_case(rng, False, 72, 3, 3, 3, hw=(4, 4), pads=(1, 1, 1, 1), extreme=True),
              simd_conv_case(rng, False, 700, 6, 1, 1, hw=(2, 2), extreme=True),  # K 700 in place
              simd_conv_case(rng, False, 650, 5, 1, 1, hw=(2, 3), stride=(2, 2)),
              # every product 2^22 and biases 2^31 - 1 - K * 2^22: the int32 paths' largest sum
              # (2^31 - 1); one more sends the layer to the int64 accumulators
              *[simd_conv_case(rng, False, k, 8, 1, 1, hw=(2, 2), extreme=True, bias_fill=_room(k) + more)
                for k in (256, 300, 511) for more in (0, 1)],
              # the DSP columns path (K % 4 == 0): odd pixel counts, batches, windows repacked row
              # by row (in_c % 4 == 0) or through the natural-order window (in_c % 4 != 0)
              simd_conv_case(rng, False, 8, 7, 3, 3, hw=(5, 3), pads=(1, 1, 1, 1), batch=2),
              simd_conv_case(rng, False, 2, 5, 2, 3, hw=(5, 6), stride=(1, 2), dil=(2, 1), pads=(1, 2, 0, 1),
                             batch=3),
              simd_conv_case(rng, False, 12, 3, 1, 1, hw=(3, 3), batch=2),
              simd_conv_case(rng, False, 4, 6, 3, 3, hw=(7, 7), stride=(2, 2), dil=(1, 2), pads=(2, 0, 1, 3)),
              # the Helium two-pixel path also needs out_c % 4 == 0
              simd_conv_case(rng, False, 8, 8, 3, 3, hw=(5, 3), pads=(1, 1, 1, 1), batch=2),
              simd_conv_case(rng, False, 2, 4, 2, 3, hw=(5, 6), stride=(1, 2), dil=(2, 1), pads=(1, 2, 0, 1)),
              simd_conv_case(rng, False, 12, 12, 1, 1, hw=(3, 3), batch=3),
              simd_conv_case(rng, False, 1, 8, 10, 4, hw=(9, 5), stride=(2, 2), pads=(4, 1, 5, 2)),
              simd_conv_case(rng, False, 8, 4, 3, 3, pads=(1, 1, 1, 1), in_off=37),
              simd_conv_case(rng, False, 5, 4, 1, 1, in_off=-1000)]
    for c in (1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 64):
        cases.append(simd_conv_case(rng, True, c, 1, 3, 3, pads=(1, 1, 1, 1)))
        cases.append(simd_conv_case(rng, True, c, 1, 3, 3, hw=(9, 8), stride=(2, 2), pads=(1, 0, 1, 1)))
        cases.append(simd_conv_case(rng, True, c, 1, 2, 3, dil=(2, 1), pads=(0, 2, 1, 0)))
    cases += [simd_conv_case(rng, True, 3, 2, 3, 3, pads=(1, 1, 1, 1)),  # depth multiplier: portable
              simd_conv_case(rng, True, 8, 1, 3, 3, pads=(1, 1, 1, 1), in_off=11),
              simd_conv_case(rng, True, 9, 1, 22, 23, hw=(22, 23), extreme=True),  # 506 taps: int32 sums
              simd_conv_case(rng, True, 4, 1, 23, 23, hw=(23, 23), extreme=True),  # 529 taps: portable
              *[simd_conv_case(rng, True, 8, 1, 16, 16, hw=(16, 16), extreme=True, bias_fill=_room(256) + more)
                for more in (0, 1)],
              *[simd_conv_case(rng, True, 12, 1, 22, 23, hw=(22, 23), extreme=True, bias_fill=-_room(506) - more)
                for more in (0, 1)],
              simd_conv_case(rng, True, 5, 1, 3, 3, hw=(2, 2), pads=(4, 4, 4, 4)),  # windows off the input
              simd_conv_case(rng, False, 3, 5, 3, 3, hw=(2, 2), pads=(4, 4, 4, 4))]
    for k in (1, 3, 4, 7, 8, 15, 16, 31, 64, 255, 256, 257, 640, 1100):
        cases.append(simd_fc_case(rng, int(rng.integers(1, 3)), k, int(rng.integers(1, 10))))
    cases += [simd_fc_case(rng, 2, 1100, 5, extreme=True), simd_fc_case(rng, 1, 33, 6, in_off=-77)]
    # every shift <= -2 (or multiplier 0): the Helium paths' short requantization in each of
    # their output stages (two pixels, one pixel, the last channels, the int64 sums, the
    # depthwise groups of eight and the tail, fully connected); the cases above mostly take the
    # general one
    cases += [simd_conv_case(rng, False, 8, 8, 3, 3, hw=(5, 3), pads=(1, 1, 1, 1), batch=2, low=True),
              simd_conv_case(rng, False, 1, 8, 10, 4, hw=(9, 5), stride=(2, 2), pads=(4, 1, 5, 2), low=True),
              simd_conv_case(rng, False, 16, 64, 1, 1, hw=(3, 3), low=True),
              simd_conv_case(rng, False, 5, 7, 3, 3, pads=(1, 1, 1, 1), low=True),
              simd_conv_case(rng, False, 16, 5, 3, 3, hw=(5, 5), pads=(1, 1, 1, 1), low=True),
              *[simd_conv_case(rng, False, 300, 6, 1, 1, hw=(2, 2), extreme=True, bias_fill=_room(300) + more,
                               low=True) for more in (0, 1)],
              *[simd_conv_case(rng, True, c, 1, 3, 3, pads=(1, 1, 1, 1), low=True) for c in (5, 8, 12, 16, 64)],
              *[simd_conv_case(rng, True, 12, 1, 22, 23, hw=(22, 23), extreme=True, bias_fill=-_room(506) - more,
                               low=True) for more in (0, 1)],
              *[simd_fc_case(rng, 2, k, n, low=True) for k, n in ((64, 12), (1100, 5), (33, 4))]]
    for n in (1, 3, 4, 5, 8, 37):
        cases.append(simd_add_case(rng, (1, 1, 1, n)))
    cases.append(simd_add_case(rng, (1, 3, 5, 7)))
    # long same-shape adds: enough outputs to meet the rounding ties of every requantization
    cases += [simd_add_case(rng, (1, 16, 16, 16)) for _ in range(4)]
    # int8 -> int16 inputs long enough for the 256-entry table (from 512 values; on the M55 its
    # look-up is a Helium gather with a predicated last step)
    cases += [convert_case(rng, True, n) for n in (511, 512, 519, 1000, 4000)]
    # and the Helium path's shift limits and offsets: saturating left shifts, a right
    # one past 31, negative multipliers, an output offset
    cases += [convert_case(rng, True, n, RescaleParams(io, m, s, oo))
              for n, (io, m, s, oo) in ((37, (5, 2**31 - 1, 30, 0)), (333, (-128, 1 << 30, -40, -7)),
                                        (9, (3, -1500000000, 2, 17)), (600, (0, 1 << 30, 29, -5)),
                                        (21, (127, 1717986918, -31, 3000)), (50, (-3, 1073741824, -13, -20000)))]
    # the Helium two-pixel conv's passes (K % 8 == 0, three channels each, the last one again
    # over the last three channels when out_c % 3 != 0; out_c beyond QNNC_CONV16_PAIR_CH = 32)
    cases += [simd_conv_case(rng, False, 8, 4, 1, 1, hw=(3, 3)),  # K 8: no loop after the first taps
              simd_conv_case(rng, False, 8, 12, 1, 1, hw=(2, 3), low=True),
              simd_conv_case(rng, False, 8, 36, 1, 3, hw=(3, 5), pads=(0, 1, 0, 1)),  # K 24
              simd_conv_case(rng, False, 16, 96, 1, 1, hw=(1, 5), low=True),
              simd_conv_case(rng, False, 64, 68, 1, 1, hw=(5, 5), low=True)]
    # the Helium two-pixel conv without scratch: both windows in the stack column (2 K <= 128, any
    # K % 4, the passes' predicated tail), and the windows inside the input copied without tap
    # ranges (dilation along h too); K 65 takes the one-pixel path
    cases += [simd_conv_case(rng, False, 3, 16, 3, 3, hw=(6, 7), pads=(1, 1, 1, 1)),  # K 27: a first layer
              simd_conv_case(rng, False, 3, 8, 3, 3, hw=(5, 5), stride=(2, 2), pads=(1, 1, 1, 1), low=True),
              simd_conv_case(rng, False, 1, 4, 3, 3, hw=(4, 5), pads=(1, 0, 1, 2)),  # K 9
              simd_conv_case(rng, False, 7, 12, 3, 3, hw=(5, 6), pads=(0, 1, 1, 0), batch=2),  # K 63
              simd_conv_case(rng, False, 16, 8, 2, 2, hw=(4, 4), pads=(1, 1, 0, 0)),  # K 64: the column's limit
              simd_conv_case(rng, False, 13, 4, 1, 5, hw=(3, 7), pads=(0, 2, 0, 2)),  # K 65
              simd_conv_case(rng, False, 3, 8, 2, 3, hw=(6, 6), dil=(2, 2), pads=(1, 1, 1, 1)),  # K 18
              simd_conv_case(rng, False, 4, 8, 3, 3, hw=(8, 6), dil=(2, 1), pads=(0, 1, 0, 1)),  # K 36
              simd_conv_case(rng, False, 16, 8, 3, 3, hw=(7, 6), dil=(2, 1), pads=(1, 1, 1, 1)),  # K 144
              simd_conv_case(rng, False, 20, 4, 1, 3, hw=(3, 6), low=True),  # K 60 in place
              *[simd_conv_case(rng, False, 3, 8, 3, 3, hw=(3, 4), extreme=True, bias_fill=_room(27) + more)
                for more in (0, 1)]]
    # the Helium two-pixel conv over kernel rows in place (k_h > 1, k_w * in_c % 8 == 0, both pixels
    # inside the input; pairs at the borders take windows): the one and two channels left over,
    # stride 2 and an odd pixel count, dilation along h, batches (a border pair read in place by
    # mistake would read the next sample's rows)
    cases += [simd_conv_case(rng, False, 16, 16, 3, 3, hw=(6, 7), pads=(1, 1, 1, 1), batch=2, bias_fill=-4321),
              simd_conv_case(rng, False, 8, 4, 3, 3, hw=(7, 6), stride=(2, 2), pads=(1, 0, 1, 0), batch=2,
                             bias_fill=777),  # run 24
              simd_conv_case(rng, False, 8, 8, 2, 3, hw=(6, 7), dil=(2, 1), pads=(0, 1, 0, 1), low=True,
                             bias_fill=0),
              simd_conv_case(rng, False, 32, 20, 3, 3, hw=(5, 5), pads=(1, 1, 1, 1), bias_fill=12),  # K 288
              # pairs whose second pixel alone is on a border: the padded bottom row, the right edge
              simd_conv_case(rng, False, 8, 4, 3, 3, hw=(5, 7), pads=(0, 0, 1, 0), batch=2, bias_fill=5),
              simd_conv_case(rng, False, 16, 8, 3, 3, hw=(5, 6), pads=(1, 1, 1, 1), bias_fill=-9)]
    # the Helium columns path (K > 511, every sum within int32 by the weights' bound, out_c % 4 ==
    # 0): pixel pairs down a column, kernel rows in place, padding rows and columns, an odd height,
    # more than QNNC_CONV16_PAIR_CH channels; every product 2^22 (K 648 above) fails the bound
    cases += [simd_conv_case(rng, False, 64, 8, 3, 3, hw=(5, 4), pads=(1, 1, 1, 1), bias_fill=12345),  # K 576
              simd_conv_case(rng, False, 64, 36, 3, 3, hw=(3, 3), stride=(2, 2), pads=(1, 0, 1, 1), low=True,
                             bias_fill=-7),
              simd_conv_case(rng, False, 60, 12, 3, 3, hw=(7, 5), dil=(2, 1), pads=(2, 1, 1, 1), batch=2,
                             bias_fill=0),
              simd_conv_case(rng, False, 520, 4, 1, 1, hw=(3, 2), bias_fill=99),
              simd_conv_case(rng, False, 100, 4, 2, 3, hw=(2, 4), pads=(3, 3, 0, 3), bias_fill=-5000),  # K 600
              simd_conv_case(rng, False, 64, 8, 3, 3, hw=(4, 4), pads=(1, 1, 1, 1))]
    return cases


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    return compile_drivers(tmp_path_factory, "s16_kernels", kernel_sources(S16_FUNCTIONS) + [HERE / "kernel_driver_s16.c"])


@pytest.mark.parametrize("build_kind", ["O2", "asan_ubsan"])
@pytest.mark.parametrize("kernel", list(BUILDERS))
def test_s16_kernel_matches_reference(kernel, build_kind, drivers):
    workdir, exes = drivers
    exe, env = exes[build_kind]
    builder, count = BUILDERS[kernel]
    rng = np.random.default_rng(1600 + KERNEL_IDS[kernel])
    cases = [builder(rng) for _ in range(count)]
    results = run_cases(exe, cases, workdir, env)
    bad = [f"case {i}: {c[3]}" for i, (c, got) in enumerate(zip(cases, results))
           if got != np.ascontiguousarray(c[2]).tobytes()]
    assert not bad, f"{len(bad)}/{len(cases)} {kernel} cases differ:\n" + "\n".join(bad[:5])


def test_s16_simd_shape_cases_match_reference(drivers):
    """The SIMD-path shapes (simd_cases) on the host: there they run the portable path, so this
    checks the cases themselves (and the portable kernels) before QEMU runs them on the paths."""
    workdir, exes = drivers
    exe, env = exes["asan_ubsan"]
    cases = simd_cases()
    results = run_cases(exe, cases, workdir, env)
    bad = [f"case {i}: {c[3]}" for i, (c, got) in enumerate(zip(cases, results))
           if got != np.ascontiguousarray(c[2]).tobytes()]
    assert not bad, f"{len(bad)}/{len(cases)} cases differ:\n" + "\n".join(bad[:5])


def test_requantize_s64_known_answers():
    """The 16x8 requantization: 16-bit reduced multiplier, rounding half away from zero."""
    m, s = fixedpoint.quantize_multiplier(0.5)  # (2^30, 0): reduced 2^14, total shift 15
    assert R.requantize_s64(np.array([3, -3, 5, -5, 1 << 40]), m, s).tolist() == [2, -2, 3, -3, 1 << 39]
    assert R.reduced_multiplier(0x7FFF8000).tolist() == 0x7FFF  # saturates instead of reaching 2^15
    assert R.requantize_s64(np.array([1000]), 0, 0).tolist() == [0]


# -------------------------------------------------------- a whole small model --

def all_ops_model(seed: int = 0):
    """Conv+Relu -> depthwise Conv+Relu -> residual Add -> MaxPool -> AveragePool -> Transpose ->
    Flatten -> Gemm -> Softmax; input [1, 2, 8, 8]."""
    rng = np.random.default_rng(seed)
    t = F.tensor
    w1 = rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.4
    w2 = rng.standard_normal((4, 1, 3, 3)).astype(np.float32) * 0.4
    fw = rng.standard_normal((5, 16)).astype(np.float32) * 0.3
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         group=4),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Add", ["r1", "r2"], ["a"], name="residual"),
        helper.make_node("MaxPool", ["a"], ["m"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["m"], ["p"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Transpose", ["p"], ["tp"], name="transpose", perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["tp"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["z"], name="fc", transB=1),
        helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=-1),
    ]
    inits = [t("w1", w1), t("b1", rng.standard_normal(4).astype(np.float32) * 0.1), t("w2", w2),
             t("b2", rng.standard_normal(4).astype(np.float32) * 0.1), t("fw", fw),
             t("fb", rng.standard_normal(5).astype(np.float32) * 0.1)]
    return F.model(nodes, [F.vi("x", [1, 2, 8, 8])], [F.vi("y", [1, 5])], inits)


def _build(tmp_path: Path, onnx_model, bits: int = 16, extra: str = ""):
    F.save(onnx_model, tmp_path / "m.onnx")
    rng = np.random.default_rng(3)
    shape = [d.dim_value for d in onnx_model.graph.input[0].type.tensor_type.shape.dim]
    np.savez(tmp_path / "cal.npz", x=rng.standard_normal([32] + shape[1:]).astype(np.float32))
    (tmp_path / "m.yaml").write_text(f"name: m\ncalibration:\n  data: cal.npz\nquantization:\n"
                                     f"  activation_bits: {bits}\n{extra}")
    cfg = load_config(str(tmp_path / "m.yaml"))
    return build(str(tmp_path / "m.onnx"), cfg, str(tmp_path / f"gen{bits}"), "m", progress=False)


def test_small_model_int16_bit_exact_under_sanitizers(tmp_path):
    result = _build(tmp_path, all_ops_model())
    qm = result.compiled.model
    used = qm.kernels_used()
    for fn in ["qnnc_conv_s16", "qnnc_depthwise_conv_s16", "qnnc_add_s16", "qnnc_max_pool_s16",
               "qnnc_avg_pool_s16", "qnnc_fully_connected_s16", "qnnc_softmax_s16",
               "qnnc_requantize_s8_s16", "qnnc_requantize_s16_s8"]:
        assert fn in used
    # only the NCHW -> NHWC input transpose (data movement) stays int8, before the conversion
    assert [k for k in used if k.endswith("_s8") and "requantize" not in k] == ["qnnc_transpose_s8"]
    assert qm.ops[0].kernel == "qnnc_transpose_s8" and qm.ops[1].kernel == "qnnc_requantize_s8_s16"
    for fn in used:  # the runtime copy picks up the int16 kernels
        assert (tmp_path / "gen16" / f"{fn}.c").is_file()
    inner = [t for n, t in qm.tensors.items() if n not in (qm.input, qm.output, qm.ops[0].output)]
    assert inner and all(t.bits == 16 and t.zero_point == 0 for t in inner)
    assert qm.input_tensor.bits == 8 and qm.output_tensor.bits == 8  # the int8 API
    # after the int16 Softmax: scale 1/M of its calibrated range (top 0.86 here: M = 297; lowering.py
    # softmax_inv_output_scale), zero point -128
    m_out = round(1 / qm.output_tensor.scale)
    assert m_out == 297 and qm.output_tensor.scale == 1 / m_out and qm.output_tensor.zero_point == -128
    # the planner counts 2 bytes per int16 element and keeps every buffer 4-byte aligned
    for b in result.plan.buffers:
        t = qm.tensors[b.tensors[0]]
        assert b.size == t.nbytes == t.size * t.bits // 8 and b.offset % 4 == 0
    # at the residual Add both int16 [1, 8, 8, 4] inputs are live (the output reuses one in place)
    assert result.plan.arena_size >= 2 * 2 * 8 * 8 * 4
    rng = np.random.default_rng(11)
    xs = rng.standard_normal((60, 2, 8, 8)).astype(np.float32) * 1.5
    exe = compile_driver(str(tmp_path / "gen16"), "m", str(tmp_path / "drv"), sanitize=True)
    q = quantize_input(qm, xs)
    c_out = run_driver(exe, q.reshape(len(xs), -1), qm.output_tensor.size)
    ref = run_int8(qm, q).reshape(len(xs), -1)
    assert np.array_equal(c_out, ref)
    c_ctx = run_driver(exe, q[:10].reshape(10, -1), qm.output_tensor.size, mode="ctx")
    assert np.array_equal(c_ctx, ref[:10])
    f_out = run_driver(exe, xs[:10].reshape(10, -1), qm.output_tensor.size, mode="f32")  # <name>_run_f32
    assert np.array_equal(f_out, (ref[:10].astype(np.float32) + np.float32(128)) * np.float32(1 / m_out))


def test_int16_closer_to_float_than_int8(tmp_path):
    """The int16 logits (before the int8 API output) track float better than the int8 model's.

    Calibration and test inputs are the same, so no clipping: the gap is the rounding error of
    the int8 activations in every layer (both models share the int8 input quantization; the int8
    model's global average pool requantizes to its own, finer output scale, int8's best case)."""
    import onnxruntime as ort
    from qnnc.reference.interpreter import run
    m = all_ops_model(seed=2)
    m.graph.node.pop()  # drop the Softmax: compare logits
    m.graph.output[0].name = "z"
    sqnr = {}
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((32, 2, 8, 8)).astype(np.float32)  # = _build's calibration data
    for bits in (8, 16):
        d = tmp_path / f"b{bits}"
        d.mkdir()
        qm = _build(d, m, bits).compiled.model
        sess = ort.InferenceSession(str(d / "m.onnx"))
        fl = np.concatenate([sess.run(None, {"x": xs[i:i + 1]})[0] for i in range(len(xs))]).astype(np.float64)
        name = qm.ops[-1].inputs[0] if bits == 16 else qm.output  # the int16 logits / the int8 ones
        t = qm.tensors[name]
        q = quantize_input(qm, xs)
        out = np.stack([run(qm, q[i], keep=[name])[name] for i in range(len(xs))]).reshape(fl.shape)
        deq = (out.astype(np.float64) - t.zero_point) * t.scale
        sqnr[bits] = 10 * np.log10(np.sum(fl ** 2) / np.sum((fl - deq) ** 2))
    print(f"logits SQNR vs float: int8 {sqnr[8]:.1f} dB, int16 {sqnr[16]:.1f} dB")
    assert sqnr[16] > sqnr[8] + 2.0


# ------------------------------------------------------------------- errors --

def test_activation_bits_12_is_a_config_error_with_line(tmp_path):
    (tmp_path / "q.yaml").write_text("name: m\nquantization:\n  weights: per_channel\n  activation_bits: 12\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "q.yaml"))
    text = str(info.value)
    assert "q.yaml:4" in text and "quantization.activation_bits" in text and "12" in text


def test_activation_bits_16_parsed(tmp_path):
    (tmp_path / "q.yaml").write_text("quantization:\n  activation_bits: 16\n")
    assert load_config(str(tmp_path / "q.yaml")).activation_bits == 16
    (tmp_path / "q.yaml").write_text("quantization: {}\n")
    assert load_config(str(tmp_path / "q.yaml")).activation_bits == 8


def test_every_int8_op_has_an_int16_rule():
    """An int16 plan runs every operator int8 lowers with int16 activations: each op of the int8 rule
    table has an int16 rule (lower_graph has no int8 fallback between conversions any more)."""
    from qnnc.quantize.lower_graph import RULES
    assert set(RULES[8]) <= set(RULES[16]), sorted(set(RULES[8]) - set(RULES[16]))


# ------------------------------------------------------------ shared models --

_BUILDS = {}


def shared_build(model: str, bits: int, tmp_path_factory):
    key = (model, bits)
    if key not in _BUILDS:
        folder = require(model)
        tmp = tmp_path_factory.mktemp(f"{model}_{bits}")
        (tmp / "m.yaml").write_text(f"name: m\ncalibration:\n  data: {folder / 'calibration.npz'}\n"
                                    f"  method: minmax\nquantization:\n  activation_bits: {bits}\n")
        result = build(str(folder / "model.onnx"), load_config(str(tmp / "m.yaml")), str(tmp / "gen"), "m",
                       progress=False)
        print(result.summary)
        _BUILDS[key] = (result, tmp)
    return _BUILDS[key]


def _accuracy(result, folder: Path, n=None):
    d = np.load(folder / "test.npz")
    xs, ys = d["x"][:n], d["y"][:n]
    qm = result.compiled.model
    q = quantize_input(qm, xs)
    ref = run_int8(qm, q).reshape(len(xs), -1)
    return float(np.mean(ref.astype(np.int32).argmax(axis=1) == ys)), q, ref


def test_kws_int16_bit_exact_and_accuracy(tmp_path_factory):
    folder = require("mlperf_tiny_kws_dscnn")
    result, tmp = shared_build("mlperf_tiny_kws_dscnn", 16, tmp_path_factory)
    qm = result.compiled.model
    acc, q, ref = _accuracy(result, folder)
    exe = compile_driver(str(tmp / "gen"), "m", str(tmp / "drv"), sanitize=True)
    c_out = run_driver(exe, q.reshape(len(q), -1), qm.output_tensor.size)
    differing = int(np.sum(np.any(c_out != ref, axis=1)))
    print(f"kws int16: accuracy {acc:.4f} on {len(q)}, {differing} differ C vs reference, "
          f"arena {result.plan.arena_size} B, weights {qm.weight_bytes} B")
    assert differing == 0
    assert acc >= 0.911  # measured 0.9163 (float 0.9113, qnnc int8 0.9137)


def test_kws_int16_arena_twice_int8(tmp_path_factory):
    require("mlperf_tiny_kws_dscnn")
    r16, _ = shared_build("mlperf_tiny_kws_dscnn", 16, tmp_path_factory)
    r8, _ = shared_build("mlperf_tiny_kws_dscnn", 8, tmp_path_factory)
    a16, a8 = r16.plan.arena_size, r8.plan.arena_size
    print(f"kws arena: int8 {a8} B, int16 {a16} B; weights int8 {r8.compiled.model.weight_bytes} B, "
          f"int16 {r16.compiled.model.weight_bytes} B")
    # int16 activations double the arena: 32,000 B against the int8 tensors' 16,000 B lower bound
    assert a16 == 2 * r8.plan.lower_bound == 32000 and r16.plan.lower_bound == a16
    assert r16.report["arena_bytes"] == a16
    # int64 biases (4 more bytes per output channel) and the 512-entry softmax table (256 more
    # uint32) are all the int16 build adds to the weights
    extra = r16.compiled.model.weight_bytes - r8.compiled.model.weight_bytes
    channels = sum(op.consts["bias"].size for op in r16.compiled.model.ops if "bias" in op.consts)
    assert extra == 4 * channels + 4 * 256


def _accuracy_bit_exact(result, folder, tmp):
    """Accuracy of the reference on the test data, after checking the C under ASan/UBSan equals it."""
    acc, q, ref = _accuracy(result, folder)
    exe = compile_driver(str(tmp / "gen"), "m", str(tmp / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q.reshape(len(q), -1), result.compiled.model.output_tensor.size), ref)
    return acc, q


def test_digits_int16_accuracy_and_bit_exact(tmp_path_factory):
    folder = require("digits_cnn_sklearn")
    result, tmp = shared_build("digits_cnn_sklearn", 16, tmp_path_factory)
    acc, q = _accuracy_bit_exact(result, folder, tmp)
    print(f"digits int16: accuracy {acc:.4f}, arena {result.plan.arena_size} B")
    assert acc >= 0.990  # measured 0.9907 (float 0.9907, int8 0.9907)
    assert result.plan.arena_size == 2560  # int8: 1280 B


@pytest.mark.slow
def test_mnist_int16_accuracy_and_bit_exact_full(tmp_path_factory):
    folder = require("onnx_zoo_mnist8")
    result, tmp = shared_build("onnx_zoo_mnist8", 16, tmp_path_factory)
    acc, q = _accuracy_bit_exact(result, folder, tmp)
    print(f"mnist int16: accuracy {acc:.4f} on {len(q)}, arena {result.plan.arena_size} B")
    assert acc >= 0.989  # measured 0.9892 on all 9,700 (float 0.9891, int8 0.9892)
    assert result.plan.arena_size == 15680  # int8: 7840 B


def _bit_exact(tmp_path: Path, result, xs: np.ndarray, gen: str) -> None:
    qm = result.compiled.model
    exe = compile_driver(str(tmp_path / gen), "m", str(tmp_path / f"drv_{gen}"), sanitize=True)
    q = quantize_input(qm, xs)
    assert np.array_equal(run_driver(exe, q.reshape(len(xs), -1), qm.output_tensor.size),
                          run_int8(qm, q).reshape(len(xs), -1))


@pytest.mark.parametrize("default,extra,want16,want8", [
    # int8 model, one layer (by node name) int16: conversions in and out around it
    (8, "  overrides:\n    - match: dw\n      activation_bits: 16\n",
     ["qnnc_depthwise_conv_s16"], ["qnnc_conv_s8", "qnnc_add_s8", "qnnc_fully_connected_s8"]),
    # int16 model with the classifier (by op type) and softmax int8
    (16, "  overrides:\n    - match: Gemm\n      activation_bits: 8\n    - match: softmax\n"
         "      activation_bits: 8\n",
     ["qnnc_conv_s16", "qnnc_add_s16", "qnnc_avg_pool_s16"], ["qnnc_fully_connected_s8", "qnnc_softmax_s8"]),
])
def test_per_layer_activation_bits_mixing_bit_exact(tmp_path, default, extra, want16, want8):
    """``overrides[].activation_bits`` mixes int8 and int16 layers with requantize ops where they meet."""
    result = _build(tmp_path, all_ops_model(), bits=default, extra=extra)
    qm = result.compiled.model
    used = qm.kernels_used()
    assert set(want16 + want8) <= set(used)
    assert {"qnnc_requantize_s8_s16", "qnnc_requantize_s16_s8"} <= set(used)
    for op in qm.ops:  # every kernel reads tensors of its own precision
        bits = 16 if (op.kind != "requantize" and op.attrs.get("activation_bits") == 16) else 8
        if op.kind == "requantize":
            assert qm.tensors[op.inputs[0]].bits + qm.tensors[op.output].bits == 24
        elif op.kind != "reshape":
            assert all(qm.tensors[t].bits == bits for t in op.inputs + [op.output]), op.name
    assert qm.input_tensor.bits == 8 and qm.output_tensor.bits == 8
    xs = np.random.default_rng(4).standard_normal((40, 2, 8, 8)).astype(np.float32)
    _bit_exact(tmp_path, result, xs, f"gen{default}")


def test_override_with_the_default_precision_changes_nothing(tmp_path):
    extra = "  overrides:\n    - match: fc1\n      activation_bits: 8\n"
    a = _build(tmp_path, F.tiny_mlp(), bits=8, extra=extra).compiled.model
    assert all(op.attrs.get("activation_bits") is None for op in a.ops)
    assert "qnnc_requantize_s8_s16" not in a.kernels_used()


# --------------------------------------------------------------- Cortex-M (QEMU) --

def fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_s16_kernel_cases_on_cortex_m(core, tmp_path):
    """Every random s16 kernel case of test_s16_kernel_matches_reference plus simd_cases, in one
    firmware per core (benchmarks/firmware/kernel_cases_main.c with kernel_driver_s16.c prints a hash of
    each output):
    the DSP paths on the M4, the Helium paths on the M55. The portable path runs these cases on
    the host under ASan/UBSan (test_s16_kernel_matches_reference) and whole models on the M3
    (test_kws_int16_bit_exact_on_cortex_m)."""
    H = harness()
    cases = []
    for kernel, (builder, count) in BUILDERS.items():
        rng = np.random.default_rng(1600 + KERNEL_IDS[kernel])
        cases += [builder(rng) for _ in range(count)]
    cases += simd_cases()
    blob = tmp_path / "cases.bin"
    blob.write_bytes(serialize(cases, KERNEL_IDS))
    srcs = kernel_sources(S16_FUNCTIONS) + [H.FIRMWARE / "kernel_cases_main.c"]
    fw = H.build_firmware(H.MACHINES[core], srcs, [include_dir(), HERE],
                          tmp_path, name=f"s16_cases_{core}",
                          defines=[f'BENCH_CASES_FILE="{blob}"', 'BENCH_CASES_DRIVER="kernel_driver_s16.c"'],
                          extra_cflags=["-Wno-unused-function", "-Werror"], jobs=2)
    run = H.run_firmware(fw, tmp_path)
    assert run.returncode == 0, f"firmware exited {run.returncode}:\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    got = {}
    for line in run.stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[0] == "H":
            got[int(p[1])] = int(p[2], 16)
    bad = [f"case {i} {c[0]}: {c[3]}" for i, c in enumerate(cases)
           if got.get(i) != fnv1a(np.ascontiguousarray(c[2]).tobytes())]
    assert not bad, f"{len(bad)}/{len(cases)} s16 cases differ on {core}:\n" + "\n".join(bad[:8])


@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m3", "m4", "m55"])
def test_kws_int16_bit_exact_on_cortex_m(core, tmp_path_factory):
    """The generated int16 KWS runs bit-exact with the reference on an emulated core of each
    kernel path: portable C (M3), DSP (M4; the M7 runs the same code) and Helium (M55). One
    build serves the three cores."""
    H = harness()
    from benchmarks import modelbench as MB
    folder = require("mlperf_tiny_kws_dscnn")
    if "kws16_nhwc" not in _BUILDS:
        work = tmp_path_factory.mktemp("kws16")
        (work / "m.yaml").write_text(f"name: {MB.NAME}\nlayout: nhwc\ncalibration:\n  data: {folder / 'calibration.npz'}\n"
                                     "  method: minmax\nquantization:\n  activation_bits: 16\n")
        _BUILDS["kws16_nhwc"] = (build(str(folder / "model.onnx"), load_config(str(work / "m.yaml")),
                                       str(work / "gen"), MB.NAME, progress=False), work)
    res, work = _BUILDS["kws16_nhwc"]
    _, xs = MB.model_inputs(folder / "model.onnx", 2)
    r = MB.bench_generated(res, work / "gen", MB.quantized_inputs(res, xs), H.MACHINES[core], work / core,
                           "kws_int16", hist=False)
    print(f"kws int16 on {core}: {r.instructions:,} instructions ({r.per_mac:.2f}/MAC), stack {r.stack} B, "
          f"arena {r.arena} B")
    assert r.bit_exact, f"{r.mismatches} of {r.n_inputs} outputs differ from the reference"


def test_validate_reports_int16_layers(tmp_path):
    """``qnnc validate`` works on an int16 model: bit-exact, per-layer SQNR including the conversions."""
    _build(tmp_path, all_ops_model())
    xs = np.random.default_rng(8).standard_normal((16, 2, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "test.npz", x=xs)
    r = F.run_cli(["validate", tmp_path / "m.onnx", "--config", tmp_path / "m.yaml", "--data", tmp_path / "test.npz"])
    assert r.returncode == 0, r.stderr
    assert "bit-exact" in r.stdout and "int8 -> int16" in r.stdout and "qnnc_" not in r.stderr


def test_fused_leaky_relu_runs_at_int16(tmp_path):
    """A LeakyRelu fused into a Conv and into an Add (passes/fuse_activation.py) runs as the int16
    layer into its pre-activation tensor and ``qnnc_prelu_s16`` on it, bit-exact in C (ASan/UBSan)."""
    rng = np.random.default_rng(21)
    t = F.tensor
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c"], ["l1"], name="leaky1", alpha=0.1),
        helper.make_node("Add", ["l1", "l1b"], ["a"], name="add"),
        helper.make_node("LeakyRelu", ["a"], ["y"], name="leaky2", alpha=0.3),
    ]
    inits = [t("w", rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.4),
             t("b", rng.standard_normal(4).astype(np.float32) * 0.1),
             t("l1b", rng.standard_normal((1, 4, 1, 1)).astype(np.float32))]
    result = _build(tmp_path, F.model(nodes, [F.vi("x", [1, 2, 8, 8])], [F.vi("y", [1, 4, 8, 8])], inits))
    qm = result.compiled.model
    kernels = [op.kernel for op in qm.ops]
    assert kernels.count("qnnc_prelu_s16") == 2, kernels
    for i, k in enumerate(kernels):  # each LeakyRelu right after its layer, on its int16 output
        if k == "qnnc_prelu_s16":
            assert kernels[i - 1] in ("qnnc_conv_s16", "qnnc_add_s16")
            assert qm.tensors[qm.ops[i].inputs[0]].bits == 16 and qm.tensors[qm.ops[i].output].bits == 16
    assert not any("int8 activations inside" in n for n in qm.notes)
    xs = rng.standard_normal((40, 2, 8, 8)).astype(np.float32) * 1.5
    exe = compile_driver(str(tmp_path / "gen16"), "m", str(tmp_path / "drv"), sanitize=True)
    q = quantize_input(qm, xs)
    assert np.array_equal(run_driver(exe, q.reshape(len(xs), -1), qm.output_tensor.size),
                          run_int8(qm, q).reshape(len(xs), -1))
