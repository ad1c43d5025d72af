"""The C kernel library (runtime/src) against the numpy reference (qnnc.reference.kernels).

Every kernel is compiled with strict warnings (twice: -O2, and -fsanitize=address,undefined)
into ``kernel_driver`` and run on many seeded random cases; results must be bit-identical
to the reference. The driver gives every array its own exactly-sized heap block, so the
sanitizer build also catches out-of-bounds reads and writes. A separate test cross-compiles
every kernel for Cortex-M4.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest

import case_files
from case_files import canary, conv_geometry, i32, pool_geometry, run_case_file

from c_build import (
    ARM_M4_FLAGS,
    CompileError,
    compile_c,
    find_compiler,
    include_dir,
    kernel_functions,
    kernel_sources,
    runtime_dir,
    sanitizer_env,
)
from qnnc.quantize import fixedpoint
from qnnc.kernel_params import AddParams, ConvParams, FcParams, MulParams, PoolParams, RescaleParams, SoftmaxParams
from qnnc.reference import kernels as ref

HERE = Path(__file__).resolve().parent
DRIVER_SRC = HERE / "kernel_driver.c"

# Seeds of the builders whose cases run as another kernel id ("conv_shaped" -> conv).
SHAPED_SEEDS = {"conv_shaped": 2000, "depthwise_shaped": 2001}

# Kernel ids understood by kernel_driver.c.
KERNEL_IDS = {
    "conv": 0, "depthwise": 1, "fc": 2, "max_pool": 3, "avg_pool": 4, "add": 5, "mul": 6,
    "softmax": 7, "lut": 8, "transpose": 9, "pad": 10, "concat": 11, "quantize": 12,
    "dequantize": 13, "embedding": 14, "batch_matmul": 15,
}


# ----------------------------------------------------------------- plumbing --


@dataclass
class Case:
    """One kernel call: driver blobs (the last one is the pre-filled output buffer) and
    the expected final content of that buffer."""

    kernel: str
    blobs: List[bytes]
    expected: np.ndarray
    desc: str




def arr(a, dtype) -> bytes:
    return np.ascontiguousarray(np.asarray(a).astype(dtype, copy=False)).tobytes()


def dims(shape) -> bytes:
    return i32(*[int(v) for v in shape])




def serialize(cases: List[Case]) -> bytes:
    return case_files.serialize(cases, KERNEL_IDS)


def run_driver(exe: Path, cases: List[Case], workdir: Path, env=None) -> List[bytes]:
    """Run the driver on ``cases``; returns the output buffer of each case."""
    return run_case_file(exe, serialize(cases), len(cases), workdir, env)


# -------------------------------------------------------- random parameters --


EXTREME_MULTIPLIERS = np.array([2**31 - 1, 2**31 - 5, 2**31 - 100, -(2**31), -(2**31) + 1,
                                -(2**31) + 77], dtype=np.int64)


def rand_rounding(rng) -> int:
    """Conv/FC requantization rounding: mostly TFLite's, a quarter half-even (QDQ imports)."""
    return fixedpoint.ROUND_HALF_EVEN if rng.random() < 0.25 else fixedpoint.ROUND_TFLITE


def rand_scales(rng, n: int, raw_ok: bool = True):
    """Per-channel (multiplier, shift) int32 arrays.

    Mostly ``quantize_multiplier`` of log-uniform reals in [1e-6, 5] (tiny and > 1), some
    exact zeros, rarely huge reals (saturating left shift), and - with ``raw_ok`` - now and
    then raw random pairs (any int32 multiplier, shift in [-40, 30]) or extreme ones to
    exercise the clamps inside requantize and the overflow-free offset add.
    """
    kind = rng.random()
    if raw_ok and kind < 0.04:  # extreme multipliers + left shifts: requantize saturates to
        # about +-2^31, so adding the output offset would overflow if done before clamping
        mult = rng.choice(EXTREME_MULTIPLIERS, n).astype(np.int32)
        shift = rng.integers(8, 31, n).astype(np.int32)
        return mult, shift
    if raw_ok and kind < 0.1:
        mult = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64).astype(np.int32)
        shift = rng.integers(-40, 31, n).astype(np.int32)
        return mult, shift
    reals = 10.0 ** rng.uniform(-6, 0.7, n)
    reals[rng.random(n) < 0.05] = 0.0
    if kind > 0.92:
        reals[rng.random(n) < 0.5] = 10.0 ** rng.uniform(2, 8)
    return fixedpoint.quantize_multipliers(reals)


def rand_scale(rng, lo: float, hi: float):
    return fixedpoint.quantize_multiplier(float(10.0 ** rng.uniform(lo, hi)))


def rand_act(rng):
    """(act_min, act_max): full range, ReLU-like, ReLU6-like or an arbitrary (narrow) range."""
    r = rng.random()
    if r < 0.5:
        return -128, 127
    if r < 0.75:
        return int(rng.integers(-128, 1)), 127
    if r < 0.9:
        lo = int(rng.integers(-128, 1))
        return lo, int(rng.integers(lo + 40, 128))
    lo = int(rng.integers(-128, 60))
    return lo, int(rng.integers(lo, 128))


def rand_lut(rng) -> Optional[np.ndarray]:
    return rng.integers(-128, 128, 256).astype(np.int8) if rng.random() < 0.3 else None


def rand_i8(rng, shape) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


def rand_zp(rng) -> int:
    return int(rng.integers(-128, 128))


# ------------------------------------------------------------ case builders --


def conv_case(rng, depthwise: bool) -> Case:
    h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow = conv_geometry(rng, 11, 4)
    big = rng.random() < 0.1
    if depthwise:
        ic = int(rng.integers(1, 17 if big else 7))
        dm = int(rng.choice([1, 1, 2, 3]))
        oc = ic * dm
    else:
        ic = int(rng.integers(1, 41 if big else 10))
        oc = int(rng.integers(1, 17 if big else 10))
        dm = 1
    act_min, act_max = rand_act(rng)
    p = ConvParams(input_offset=-rand_zp(rng), output_offset=rand_zp(rng), stride_h=sh, stride_w=sw,
                   pad_top=pt, pad_left=pl, dilation_h=dh, dilation_w=dw, depth_multiplier=dm,
                   act_min=act_min, act_max=act_max, act_lut=rand_lut(rng))
    mult, shift = rand_scales(rng, oc)
    x = rand_i8(rng, (1, h, w, ic))
    filt = rand_i8(rng, (1, kh, kw, oc) if depthwise else (oc, kh, kw, ic))
    bias = None if rng.random() < 0.2 else rng.integers(-50000, 50000, oc).astype(np.int32)
    p = dataclasses.replace(p, rounding=rand_rounding(rng))
    out_dims = (1, oh, ow, oc)
    fn = ref.depthwise_conv_s8 if depthwise else ref.conv_s8
    expected = fn(p, mult, shift, x, filt, bias, out_dims)
    blobs = [
        i32(p.input_offset, p.output_offset, sh, sw, pt, pl, dh, dw, dm, act_min, act_max, p.rounding),
        b"" if p.act_lut is None else arr(p.act_lut, np.int8),
        arr(mult, "<i4"), arr(shift, "<i4"), dims(x.shape), arr(x, np.int8),
        dims(filt.shape), arr(filt, np.int8), b"" if bias is None else arr(bias, "<i4"),
        dims(out_dims), canary(rng, expected.size),
    ]
    return Case("depthwise" if depthwise else "conv", blobs, expected,
                f"x{x.shape} filt{filt.shape} out{out_dims} {p}")


# Layer shapes of real networks (1x1 GEMMs, 3x3 with padding, strided, KWS's 10x4 first layer,
# dilated), with channel counts that leave odd tails: the register-blocked portable loops take
# different paths for them (pixel pairs, channel pairs, padding windows, vertical pairs).
SHAPED_GEOMETRIES = [
    # kh, kw, stride, (pt, pl, pb, pr), dilation
    (1, 1, 1, (0, 0, 0, 0), 1), (1, 1, 2, (0, 0, 0, 0), 1), (3, 3, 1, (1, 1, 1, 1), 1),
    (3, 3, 2, (0, 0, 1, 1), 1), (3, 3, 2, (1, 1, 1, 1), 1), (3, 3, 1, (0, 0, 0, 0), 1),
    (10, 4, 2, (4, 1, 5, 1), 1), (5, 5, 1, (2, 2, 2, 2), 1), (3, 3, 1, (2, 2, 2, 2), 2),
    (1, 3, 1, (0, 1, 0, 1), 1), (3, 1, 2, (1, 0, 1, 0), 1),
]


def shaped_conv_case(rng, depthwise: bool) -> Case:
    """A conv / depthwise case with a SHAPED_GEOMETRIES window, batch 1 or 2."""
    while True:
        kh, kw, s, (pt, pl, pb, pr), d = SHAPED_GEOMETRIES[int(rng.integers(len(SHAPED_GEOMETRIES)))]
        h, w = int(rng.integers(1, 14)), int(rng.integers(1, 14))
        oh = (h + pt + pb - d * (kh - 1) - 1) // s + 1
        ow = (w + pl + pr - d * (kw - 1) - 1) // s + 1
        if oh >= 1 and ow >= 1:
            break
    n = 2 if rng.random() < 0.2 else 1
    if depthwise:
        ic = int(rng.integers(1, 41))
        dm = 2 if rng.random() < 0.15 else 1
        oc = ic * dm
    else:
        ic = 1 if kh == 10 else int(rng.integers(1, 71))
        oc = int(rng.integers(1, 34))
        dm = 1
    act_min, act_max = rand_act(rng)
    p = ConvParams(input_offset=-rand_zp(rng), output_offset=rand_zp(rng), stride_h=s, stride_w=s,
                   pad_top=pt, pad_left=pl, dilation_h=d, dilation_w=d, depth_multiplier=dm,
                   act_min=act_min, act_max=act_max, act_lut=rand_lut(rng))
    mult, shift = rand_scales(rng, oc)
    x = rand_i8(rng, (n, h, w, ic))
    filt = rand_i8(rng, (1, kh, kw, oc) if depthwise else (oc, kh, kw, ic))
    bias = None if rng.random() < 0.2 else rng.integers(-50000, 50000, oc).astype(np.int32)
    p = dataclasses.replace(p, rounding=rand_rounding(rng))
    out_dims = (n, oh, ow, oc)
    fn = ref.depthwise_conv_s8 if depthwise else ref.conv_s8
    expected = fn(p, mult, shift, x, filt, bias, out_dims)
    blobs = [
        i32(p.input_offset, p.output_offset, s, s, pt, pl, d, d, dm, act_min, act_max, p.rounding),
        b"" if p.act_lut is None else arr(p.act_lut, np.int8),
        arr(mult, "<i4"), arr(shift, "<i4"), dims(x.shape), arr(x, np.int8),
        dims(filt.shape), arr(filt, np.int8), b"" if bias is None else arr(bias, "<i4"),
        dims(out_dims), canary(rng, expected.size),
    ]
    return Case("depthwise" if depthwise else "conv", blobs, expected,
                f"shaped x{x.shape} filt{filt.shape} out{out_dims} {p}")


def fc_case(rng) -> Case:
    rows, k, n = int(rng.integers(1, 5)), int(rng.integers(1, 81)), int(rng.integers(1, 21))
    act_min, act_max = rand_act(rng)
    p = FcParams(input_offset=-rand_zp(rng), output_offset=rand_zp(rng), act_min=act_min,
                 act_max=act_max, act_lut=rand_lut(rng))
    mult, shift = rand_scales(rng, n)
    x, wt = rand_i8(rng, (rows, k)), rand_i8(rng, (n, k))
    bias = None if rng.random() < 0.2 else rng.integers(-50000, 50000, n).astype(np.int32)
    p = dataclasses.replace(p, rounding=rand_rounding(rng))
    expected = ref.fully_connected_s8(p, mult, shift, x, wt, bias)
    blobs = [
        i32(p.input_offset, p.output_offset, act_min, act_max, rows, k, n, p.rounding),
        b"" if p.act_lut is None else arr(p.act_lut, np.int8),
        arr(mult, "<i4"), arr(shift, "<i4"), arr(x, np.int8), arr(wt, np.int8),
        b"" if bias is None else arr(bias, "<i4"), canary(rng, expected.size),
    ]
    return Case("fc", blobs, expected, f"x{x.shape} w{wt.shape} {p}")


def pool_case(rng, kind: str) -> Case:
    h, w, c, kh, kw, sh, sw, pt, pb, pl, pr = pool_geometry(rng)
    if rng.random() < 0.5:  # floor mode
        oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    else:  # ceil mode: the last window may reach past the padding
        oh, ow = -(-(h + pt + pb - kh) // sh) + 1, -(-(w + pl + pr - kw) // sw) + 1
    act_min, act_max = rand_act(rng)
    p = PoolParams(kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl,
                   count_include_pad=int(rng.random() < 0.5), pad_value=rand_zp(rng),
                   act_min=act_min, act_max=act_max)
    if kind == "avg_pool" and rng.random() < 0.5:  # its own output scale: requantized window sums
        mult, shift = fixedpoint.quantize_multiplier(float(10.0 ** rng.uniform(-1.5, 0.7)) / (kh * kw))
        p = dataclasses.replace(p, multiplier=mult, shift=shift, input_offset=-rand_zp(rng),
                                output_offset=rand_zp(rng))
    x = rand_i8(rng, (1, h, w, c))
    out_dims = (1, oh, ow, c)
    fn = ref.max_pool_s8 if kind == "max_pool" else ref.avg_pool_s8
    expected = fn(p, x, out_dims)
    blobs = [
        i32(kh, kw, sh, sw, pt, pl, p.count_include_pad, p.pad_value, act_min, act_max, p.multiplier, p.shift,
            p.input_offset, p.output_offset),
        dims(x.shape), arr(x, np.int8), dims(out_dims), canary(rng, expected.size),
    ]
    return Case(kind, blobs, expected, f"x{x.shape} out{out_dims} {p}")


def broadcast_shapes(rng):
    out = (int(rng.choice([1, 1, 1, 2])),) + tuple(int(v) for v in rng.integers(1, 7, 3))
    if rng.random() < 0.3:
        return out, out, out
    s1 = tuple(d if rng.random() < 0.6 else 1 for d in out)
    s2 = tuple(d if rng.random() < 0.6 else 1 for d in out)
    return out, s1, s2


def add_case(rng) -> Case:
    out, s1, s2 = broadcast_shapes(rng)
    sc1, sc2 = (float(10.0 ** rng.uniform(-3, 0)) for _ in range(2))
    # output scale matched to the sum's range (mostly), or independent (saturating)
    sco = (sc1 + sc2) * float(10.0 ** rng.uniform(-0.5, 0.5)) if rng.random() < 0.8 \
        else float(10.0 ** rng.uniform(-3, 0))
    left_shift = 20 if rng.random() < 0.8 else int(rng.integers(0, 21))
    m1, sh1, m2, sh2, mo, sho = fixedpoint.add_multipliers(sc1, sc2, sco, left_shift)  # TFLite's scheme
    if rng.random() < 0.05:
        mo, sho = int(rng.choice(EXTREME_MULTIPLIERS)), int(rng.integers(8, 31))
    act_min, act_max = rand_act(rng)
    p = AddParams(input1_offset=-rand_zp(rng), input2_offset=-rand_zp(rng), input1_multiplier=m1,
                  input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2, left_shift=left_shift,
                  output_multiplier=mo, output_shift=sho, output_offset=rand_zp(rng),
                  act_min=act_min, act_max=act_max)
    x1, x2 = rand_i8(rng, s1), rand_i8(rng, s2)
    expected = ref.add_s8(p, x1, x2, out)
    blobs = [
        i32(p.input1_offset, p.input2_offset, m1, sh1, m2, sh2, left_shift, mo, sho,
            p.output_offset, act_min, act_max),
        dims(s1), arr(x1, np.int8), dims(s2), arr(x2, np.int8), dims(out),
        canary(rng, expected.size),
    ]
    return Case("add", blobs, expected, f"{s1}+{s2}->{out} {p}")


def mul_case(rng) -> Case:
    out, s1, s2 = broadcast_shapes(rng)
    if rng.random() < 0.1:
        mo, sho = rand_scales(rng, 1)
        mo, sho = int(mo[0]), int(sho[0])
    elif rng.random() < 0.8:  # real multiplier s1 * s2 / s_out matched to the product range
        mo, sho = rand_scale(rng, -2.4 - 0.5, -2.4 + 0.5)
    else:
        mo, sho = rand_scale(rng, -6, 3)
    if rng.random() < 0.05:
        mo, sho = int(rng.choice(EXTREME_MULTIPLIERS)), int(rng.integers(8, 31))
    act_min, act_max = rand_act(rng)
    p = MulParams(input1_offset=-rand_zp(rng), input2_offset=-rand_zp(rng), output_multiplier=mo,
                  output_shift=sho, output_offset=rand_zp(rng), act_min=act_min, act_max=act_max)
    x1, x2 = rand_i8(rng, s1), rand_i8(rng, s2)
    expected = ref.mul_s8(p, x1, x2, out)
    blobs = [
        i32(p.input1_offset, p.input2_offset, mo, sho, p.output_offset, act_min, act_max),
        dims(s1), arr(x1, np.int8), dims(s2), arr(x2, np.int8), dims(out),
        canary(rng, expected.size),
    ]
    return Case("mul", blobs, expected, f"{s1}*{s2}->{out} {p}")


def exp_lut(rng, cols: int, inv_output_scale: int) -> np.ndarray:
    """A ``qnnc_softmax_s8`` table for ``cols`` classes and output scale 1/M: entries <= 2^bits with the
    generator's bits (rules_s8.softmax_constants), so e * M + sum / 2 fits uint32."""
    from qnnc.quantize.rules_s8 import softmax_constants
    r = rng.random()
    if r < 0.6:  # the real thing: exp(-scale * d) * 2^bits
        return softmax_constants(10.0 ** rng.uniform(-2.5, 0.5), cols, inv_output_scale)
    bits = int(np.log2(softmax_constants(0.0, cols, inv_output_scale)[0]))
    if r < 0.97:  # arbitrary entries <= 2^bits with a non-zero entry for d = 0
        lut = rng.integers(0, (1 << bits) + 1, 256).astype(np.uint32)
        lut[0] = rng.integers(1, (1 << bits) + 1)
        return lut
    return np.zeros(256, dtype=np.uint32)  # degenerate table: sum 0 must not divide by zero


# Output scales 1/M of the int8 softmax: TFLite's 1/256, calibrated ones, and large M (tiny tables)
SOFTMAX_M = (256, 256, 285, 509, 743, 4096, 1 << 16)


def softmax_case(rng, inv_output_scale: Optional[int] = None, x: Optional[np.ndarray] = None,
                 lut: Optional[np.ndarray] = None) -> Case:
    m = int(rng.choice(SOFTMAX_M)) if inv_output_scale is None else inv_output_scale
    if x is None:
        rows = int(rng.integers(1, 6))
        cols = int(rng.integers(1, 512 if rng.random() < 0.2 else 40))
        if rng.random() < 0.3:
            base = int(rng.integers(-128, 100))
            x = (base + rng.integers(0, 28, (rows, cols))).astype(np.int8)  # close values
        else:
            x = rand_i8(rng, (rows, cols))
    rows, cols = x.shape
    lut = exp_lut(rng, cols, m) if lut is None else lut
    expected = ref.softmax_s8(SoftmaxParams(m), x, lut)
    blobs = [i32(rows, cols, m), arr(lut, "<u4"), arr(x, np.int8), canary(rng, expected.size)]
    return Case("softmax", blobs, expected, f"x{x.shape} M={m}")


def lut_case(rng) -> Case:
    x = rand_i8(rng, (int(rng.integers(1, 300)),))
    table = rand_i8(rng, (256,))
    expected = ref.lut_s8(x, table)
    return Case("lut", [i32(x.size), arr(table, np.int8), arr(x, np.int8),
                        canary(rng, x.size)], expected, f"n={x.size}")


def transpose_case(rng) -> Case:
    shape = tuple(int(v) for v in rng.integers(1, 6, 4))
    perm = [int(v) for v in rng.permutation(4)]
    x = rand_i8(rng, shape)
    expected = ref.transpose_s8(x, perm)
    return Case("transpose", [dims(shape), i32(*perm), arr(x, np.int8),
                              canary(rng, x.size)], expected, f"{shape} perm {perm}")


def pad_case(rng) -> Case:
    shape = (int(rng.integers(1, 3)),) + tuple(int(v) for v in rng.integers(1, 6, 3))
    before = [int(v) for v in rng.integers(0, 3, 4)]
    after = [int(v) for v in rng.integers(0, 3, 4)]
    out = tuple(s + b + a for s, b, a in zip(shape, before, after))
    pad_value = rand_zp(rng)
    x = rand_i8(rng, shape)
    expected = ref.pad_s8(x, before, out, pad_value)
    blobs = [dims(shape), i32(*before), dims(out), i32(pad_value), arr(x, np.int8),
             canary(rng, expected.size)]
    return Case("pad", blobs, expected, f"{shape} before {before} -> {out}")


def concat_case(rng) -> Case:
    outer, inner = int(rng.integers(1, 7)), int(rng.integers(1, 13))
    extra = int(rng.integers(0, 11))
    stride, column = inner + extra, int(rng.integers(0, extra + 1))
    if rng.random() < 0.3:
        p = None
        hdr = i32(0, 0, 0, 0, 0, outer, inner, stride, column)
    else:
        m, s = rand_scale(rng, -2, 1.2)
        if rng.random() < 0.1:
            m, s = int(rng.choice(EXTREME_MULTIPLIERS)), int(rng.integers(8, 31))
        p = RescaleParams(input_offset=-rand_zp(rng), multiplier=m, shift=s,
                          output_offset=rand_zp(rng))
        hdr = i32(1, p.input_offset, m, s, p.output_offset, outer, inner, stride, column)
    x = rand_i8(rng, (outer, inner))
    initial = canary(rng, outer * stride)
    expected = np.frombuffer(initial, dtype=np.int8).copy().reshape(outer, stride)
    expected[:, column:column + inner] = ref.rescale_s8(p, x)  # the gaps stay untouched
    return Case("concat", [hdr, arr(x, np.int8), initial], expected,
                f"outer {outer} inner {inner} stride {stride} col {column} {p}")


def quantize_case(rng) -> Case:
    n = int(rng.integers(1, 200))
    scale = np.float32(10.0 ** rng.uniform(-4, 1))
    zp = rand_zp(rng)
    x = (rng.normal(0, 1, n) * float(scale) * 10.0 ** rng.uniform(0, 3)).astype(np.float32)
    ties = rng.random(n) < 0.3  # (k + 0.5) * scale: exact or near rounding ties
    x[ties] = ((rng.integers(-300, 300, ties.sum()) + 0.5) * scale).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 3.4e38,
                         255.5 * scale, -256.5 * scale, 0.5 * scale, -0.5 * scale],
                        dtype=np.float32)
    pick = rng.random(n) < 0.1
    x[pick] = rng.choice(specials, pick.sum())
    with np.errstate(over="ignore"):  # x / scale overflows to inf for the huge specials
        expected = fixedpoint.quantize_f32(x, float(scale), zp)
    blobs = [i32(n, zp), arr([scale], "<f4"), arr(x, "<f4"), canary(rng, n)]
    return Case("quantize", blobs, expected, f"n={n} scale={scale!r} zp={zp}")


def dequantize_case(rng) -> Case:
    n = int(rng.integers(1, 200))
    scale = np.float32(10.0 ** rng.uniform(-6, 2))
    zp = rand_zp(rng)
    q = rand_i8(rng, (n,))
    expected = fixedpoint.dequantize_s8(q, float(scale), zp)
    blobs = [i32(n, zp), arr([scale], "<f4"), arr(q, np.int8), canary(rng, 4 * n)]
    return Case("dequantize", blobs, expected, f"n={n} scale={scale!r} zp={zp}")


def embedding_case(rng) -> Case:
    """Token ids from twice the table's rows below 0 to twice above its end (counted from the
    end, then clamped), an int8 or int16 table (qnnc_embedding_s8 / _s16)."""
    from qnnc.reference.kernels_movement import embedding
    rows, row = int(rng.integers(1, 40)), int(rng.integers(1, 20))
    bits = 16 if rng.random() < 0.4 else 8
    count = int(rng.integers(1, 30))
    dtype = np.int16 if bits == 16 else np.int8
    info = np.iinfo(dtype)
    table = rng.integers(info.min, info.max + 1, (rows, row)).astype(dtype)
    ids = rng.integers(-2 * rows - 2, 2 * rows + 2, count).astype(np.int16)
    if count >= 2 and rng.random() < 0.2:  # the int16 extremes
        ids[:2] = [-32768, 32767]
    expected = embedding(ids, table)
    blobs = [i32(count, rows, row, bits), arr(table, dtype), arr(ids, "<i2"), canary(rng, expected.nbytes)]
    return Case("embedding", blobs, expected, f"{count} ids of {rows} rows x {row}, int{bits}")


def batch_matmul_case(rng) -> Case:
    """qnnc_batch_matmul_s8: batch dims broadcast either way, adj_x / adj_y, odd and even M / N (the
    2 x 2 blocks and their edges), K from 1, any offsets, with or without a bias."""
    from qnnc.kernel_params import BatchMatmulParams
    from qnnc.reference.kernels_conv_general import batch_matmul_s8
    n, h = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    m, k, cols = int(rng.integers(1, 10)), int(rng.integers(1, 41)), int(rng.integers(1, 10))
    adj_x, adj_y = int(rng.random() < 0.3), int(rng.random() < 0.5)
    n1, h1 = (n if rng.random() < 0.7 else 1), (h if rng.random() < 0.7 else 1)
    n2, h2 = (n if rng.random() < 0.7 else 1), (h if rng.random() < 0.7 else 1)
    a = rand_i8(rng, (n1, h1) + ((k, m) if adj_x else (m, k)))
    b = rand_i8(rng, (n2, h2) + ((cols, k) if adj_y else (k, cols)))
    mult, shift = rand_scale(rng, -6, -1)
    act_min, act_max = rand_act(rng)
    p = BatchMatmulParams(input1_offset=-rand_zp(rng), input2_offset=-rand_zp(rng), output_multiplier=int(mult),
                          output_shift=int(shift), output_offset=rand_zp(rng), act_min=act_min, act_max=act_max,
                          adj_x=adj_x, adj_y=adj_y, rounding=rand_rounding(rng))
    bias = None if rng.random() < 0.5 else rng.integers(-50000, 50000, cols).astype(np.int32)
    out_dims = (n, h, m, cols)
    expected = batch_matmul_s8(p, a, b, bias, out_dims).reshape(-1)
    blobs = [i32(*dataclasses.astuple(p)), dims(a.shape), arr(a, np.int8), dims(b.shape), arr(b, np.int8),
             b"" if bias is None else arr(bias, "<i4"), dims(out_dims), canary(rng, expected.size)]
    return Case("batch_matmul", blobs, expected, f"a{a.shape} b{b.shape} -> {out_dims} {p}")


# kernel -> (case builder, number of cases)
BUILDERS: Dict[str, tuple] = {
    "conv": (functools.partial(conv_case, depthwise=False), 300),
    "depthwise": (functools.partial(conv_case, depthwise=True), 300),
    "fc": (fc_case, 200),
    "max_pool": (functools.partial(pool_case, kind="max_pool"), 300),
    "avg_pool": (functools.partial(pool_case, kind="avg_pool"), 300),
    "add": (add_case, 250),
    "mul": (mul_case, 250),
    "softmax": (softmax_case, 200),
    "lut": (lut_case, 50),
    "transpose": (transpose_case, 150),
    "pad": (pad_case, 150),
    "concat": (concat_case, 200),
    "quantize": (quantize_case, 100),
    "dequantize": (dequantize_case, 100),
    "embedding": (embedding_case, 80),
    "batch_matmul": (batch_matmul_case, 120),
    "conv_shaped": (functools.partial(shaped_conv_case, depthwise=False), 60),
    "depthwise_shaped": (functools.partial(shaped_conv_case, depthwise=True), 60),
}


@functools.lru_cache(maxsize=None)
def cases_for(kernel: str) -> List[Case]:
    builder, count = BUILDERS[kernel]
    rng = np.random.default_rng(1000 + KERNEL_IDS[kernel] if kernel in KERNEL_IDS else SHAPED_SEEDS[kernel])
    return [builder(rng) for _ in range(count)]


# ------------------------------------------------------------------ fixtures --


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("qnnc_kernels")


@pytest.fixture(scope="module")
def drivers(build_dir) -> Dict[str, tuple]:
    """build name -> (driver executable, environment)."""
    if find_compiler("gcc") is None:
        pytest.skip("gcc not found")
    srcs = kernel_sources() + [DRIVER_SRC]
    plain = compile_c(srcs, [include_dir()], build_dir / "driver_O2")
    asan = compile_c(srcs, [include_dir()], build_dir / "driver_asan", sanitize=True)
    return {"O2": (plain, None), "asan_ubsan": (asan, sanitizer_env())}


# --------------------------------------------------------------------- tests --


def test_conv_cases_reach_both_portable_paths():
    """The driver runs each conv case with get_buffer_size's scratch, then one byte short. On a
    target without SIMD paths that is the im2col path (few input channels, kernel_scratch's
    mirror of the kernel's choice) and then the direct one: enough cases must take the first."""
    from types import SimpleNamespace
    from qnnc.plan.kernel_scratch import conv_cols_bytes
    im2col = 0
    for kind in ("conv", "conv_shaped"):
        for c in cases_for(kind):
            params, filt, out = (np.frombuffer(c.blobs[i], "<i4") for i in (0, 6, 9))
            im2col += conv_cols_bytes(SimpleNamespace(dilation_w=int(params[7])), tuple(int(v) for v in filt),
                                      int(out[3])) > 0
    assert 40 <= im2col <= 300, im2col


def test_one_source_file_per_kernel_function():
    """The emitter copies runtime/src/<function>.c for each function a model uses, with its
    <function>_dsp.c / _mve.c SIMD paths (CMSIS-NN style) and the internal headers they include."""
    import re

    from qnnc.runtime import PATH_SUFFIXES

    functions = kernel_functions()
    s16 = [f for f in functions if "_s16" in f]  # int16-activation kernels, tested in test_int16*.py
    assert len(s16) == 30  # 10 + element-wise 5, tables 2, reductions 7 (top k, wide indices), conv_general/LSTM/GRU 3,
    # batch_matmul, resize, embedding
    s4 = [f for f in functions if f.endswith("_s4")]  # int4-weight kernels, tested in test_int4.py
    assert len(s4) == 3
    # 14 + the coverage issue's 12 (reduce, gather, resize, lstm, gru, ...) + the int16-weight fully connected
    # + the channel-pair conv, int8 and int16 weights + the embedding lookup + top k + wide-index arg max / top k
    assert len(functions) - len(s16) - len(s4) == 33
    path_files = {p.stem for p in kernel_sources() if p.stem.endswith(PATH_SUFFIXES)}
    portable_files = {p.stem for p in kernel_sources()} - path_files
    assert portable_files == set(functions)
    for name in path_files:  # a SIMD path belongs to a function and compiles to nothing elsewhere
        fn = name.rsplit("_", 1)[0]
        assert fn in functions, f"{name}.c belongs to no kernel function"
        assert set(kernel_sources([fn])) >= {runtime_dir() / "src" / f"{name}.c"}
        text = (runtime_dir() / "src" / f"{name}.c").read_text()
        assert re.search(r"^#if QNNC_(PATH_DSP|PATH_DSP_SCALAR|DSP_SIMD|PATH_MVE)$", text, re.M), name
        assert not [f for f in functions if f"\nvoid {f}(" in text or f"QNNC_FN {f}\n" in text], name
    for name in functions:  # each file defines its function (and no other public one)
        text = (runtime_dir() / "src" / f"{name}.c").read_text()
        # directly, or through the body a pair of kernels shares (qnnc_<kernel>_impl.h)
        assert f"\nvoid {name}(" in text or f"\n#define QNNC_FN {name}\n" in text
        others = [f for f in functions if f != name and (f"\nvoid {f}(" in text or f"QNNC_FN {f}\n" in text)]
        assert not others
    for impl in (runtime_dir() / "include").glob("qnnc_*_impl.h"):  # an impl body defines no name itself
        text = impl.read_text()
        assert ("\nvoid QNNC_FN(" in text or "\nQNNC_FN_STORAGE void QNNC_FN(" in text) and \
            not any(f"{f}(" in text for f in functions)
    # the public header declares no internal helper (those are in qnnc_internal.h)
    public_header = (runtime_dir() / "include" / "qnnc_kernels.h").read_text()
    assert not re.search(r"\bqnnc_(dsp|mve)_|\bqnnc_requantize\(", public_header)


@pytest.mark.parametrize("build", ["O2", "asan_ubsan"])
@pytest.mark.parametrize("kernel", list(BUILDERS))
def test_kernel_matches_reference(kernel, build, drivers, build_dir):
    exe, env = drivers[build]
    cases = cases_for(kernel)
    results = run_driver(exe, cases, build_dir, env)
    failures = []
    for i, (case, got) in enumerate(zip(cases, results)):
        exp = np.ascontiguousarray(case.expected)
        ok = got == exp.tobytes()  # byte equality: exact, also for float outputs
        if not ok:
            got_arr = np.frombuffer(got, dtype=exp.dtype)
            bad = np.flatnonzero(got_arr != exp.ravel())[:5] if got_arr.size == exp.size else []
            failures.append(f"case {i}: {case.desc}\n  first mismatches at {list(bad)}: "
                            f"got {[got_arr[j] for j in bad]}, want {[exp.ravel()[j] for j in bad]}")
    assert not failures, f"{len(failures)}/{len(cases)} {kernel} cases differ:\n" + "\n".join(failures[:5])


@pytest.mark.parametrize("build", ["O2", "asan_ubsan"])
def test_softmax_output_scale_bit_exact(build, drivers, build_dir):
    """qnnc_softmax_s8's output scale 1/M against the reference: M = 256 (TFLite's) up to 2^16, one to
    511 classes, each with a row that saturates at 127 (one dominant entry: p * M > 255.5),
    uniform rows, and random ones; the tables as the generator makes them (entries up to its bound)."""
    from qnnc.quantize.rules_s8 import softmax_constants
    exe, env = drivers[build]
    rng = np.random.default_rng(18)
    cases = []
    for m in (256, 257, 300, 509, 743, 4096, 65535, 1 << 16):
        for j, cols in enumerate((1, 2, 4, 10, 255, 256, 511)):
            x = rand_i8(rng, (4, cols))
            x[0] = -128
            x[0, cols // 2] = 127        # saturating: one class takes nearly all
            x[1] = int(rng.integers(-128, 128))  # uniform: 1 / cols
            if cols > 1:
                x[2, :2] = 127           # two equal top classes (p <= 1/2 each)
            cases.append(softmax_case(rng, m, x=x, lut=softmax_constants((0.03, 0.3, 1.0)[j % 3], cols, m)))
    results = run_driver(exe, cases, build_dir, env)
    bad = [c.desc for c, got in zip(cases, results) if got != np.ascontiguousarray(c.expected).tobytes()]
    assert not bad, bad[:5]
    saturated = [c for c in cases if int(c.desc.split("M=")[1]) > 256 and c.expected[0].max() == 127]
    assert len(saturated) >= 30  # most dominant rows of M > 256 reach the clamp


def test_shared_library_builds_and_works(build_dir):
    """All kernels build as one -fPIC -shared library (strict flags) and work via ctypes."""
    if find_compiler("gcc") is None:
        pytest.skip("gcc not found")
    so = compile_c(kernel_sources(), [include_dir()], build_dir / "libqnnc_kernels.so", shared=True)
    lib = ctypes.CDLL(str(so))
    for name in kernel_functions():
        assert hasattr(lib, name)

    rng = np.random.default_rng(7)
    x, table = rand_i8(rng, (100,)), rand_i8(rng, (256,))
    out = np.zeros(100, dtype=np.int8)
    i8p = ctypes.POINTER(ctypes.c_int8)
    lib.qnnc_lut_s8(ctypes.c_int32(100), table.ctypes.data_as(i8p), x.ctypes.data_as(i8p),
                    out.ctypes.data_as(i8p))
    assert np.array_equal(out, ref.lut_s8(x, table))

    class FcParamsC(ctypes.Structure):
        _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32),
                    ("act_min", ctypes.c_int32), ("act_max", ctypes.c_int32), ("act_lut", i8p),
                    ("rounding", ctypes.c_int32), ("kernel_sums", ctypes.POINTER(ctypes.c_int32))]

    class QuantC(ctypes.Structure):
        _fields_ = [("multiplier", ctypes.POINTER(ctypes.c_int32)),
                    ("shift", ctypes.POINTER(ctypes.c_int32))]

    p = FcParams(input_offset=5, output_offset=-3, act_min=-100, act_max=120)
    xs, w = rand_i8(rng, (2, 30)), rand_i8(rng, (7, 30))
    bias = rng.integers(-1000, 1000, 7).astype(np.int32)
    mult, shift = fixedpoint.quantize_multipliers(10.0 ** rng.uniform(-4, -2, 7))
    i32p = ctypes.POINTER(ctypes.c_int32)
    pc = FcParamsC(5, -3, -100, 120, None, 0, None)
    qc = QuantC(mult.ctypes.data_as(i32p), shift.ctypes.data_as(i32p))
    got = np.zeros((2, 7), dtype=np.int8)
    lib.qnnc_fully_connected_s8(None, ctypes.byref(pc), ctypes.byref(qc), ctypes.c_int32(2),
                                ctypes.c_int32(30), xs.ctypes.data_as(i8p), ctypes.c_int32(7),
                                w.ctypes.data_as(i8p), bias.ctypes.data_as(i32p),
                                got.ctypes.data_as(i8p))
    assert np.array_equal(got, ref.fully_connected_s8(p, mult, shift, xs, w, bias))


# Undefined symbols a kernel object may reference on Cortex-M: compiler/libc helpers only
# (no libm, no malloc).
ARM_ALLOWED_UNDEFINED = {"memcpy", "memset", "memmove"}


def test_kernels_compile_for_cortex_m4(tmp_path):
    """Every kernel cross-compiles warning-free for Cortex-M4, has no globals (empty
    .data/.bss) and needs no libm or allocator. A kernel's files may call each other (the entry
    point its _dsp / _mve path, a path the portable loops) and nothing of another kernel."""
    if find_compiler("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi)")
    nm = find_compiler("arm-none-eabi-nm")
    size = find_compiler("arm-none-eabi-size")

    def symbols(obj, *flags):
        out = subprocess.run([nm, *flags, str(obj)], stdout=subprocess.PIPE, text=True, check=True).stdout
        return {line.split()[-1] for line in out.splitlines() if line.strip()}

    for fn in kernel_functions():
        objs = [compile_c([src], [include_dir()], tmp_path / f"{src.stem}.o", compiler="arm-none-eabi-gcc",
                          base_flags=ARM_M4_FLAGS, compile_only=True) for src in kernel_sources([fn])]
        if nm is not None:
            own = set().union(*(symbols(obj, "--defined-only", "--extern-only") for obj in objs))
            for obj in objs:
                bad = {u for u in symbols(obj, "-u") - own
                       if u not in ARM_ALLOWED_UNDEFINED and not u.startswith("__aeabi")}
                assert not bad, f"{obj.stem}.c references {sorted(bad)}"
        for obj in objs if size is not None else ():
            line = subprocess.run([size, str(obj)], stdout=subprocess.PIPE, text=True,
                                  check=True).stdout.splitlines()[1].split()
            text, data, bss = (int(v) for v in line[:3])
            assert data == 0 and bss == 0, f"{obj.stem}.c has globals: data={data} bss={bss}"


def test_compile_c_reports_compiler_output(tmp_path):
    if find_compiler("gcc") is None:
        pytest.skip("gcc not found")
    bad = tmp_path / "bad.c"
    bad.write_text("int f(void) { return x; }\n")
    with pytest.raises(CompileError) as info:
        compile_c([bad], [], tmp_path / "bad.o", compile_only=True)
    assert "bad.c" in info.value.output and "x" in info.value.output


# ------------------------------------------------ reference known answers --


def test_reference_known_answers():
    """Hand-computed values pinning the reference semantics."""
    # avg pool rounds half away from zero: (-3)/2 -> -2, 3/2 -> 2, 1/2 -> 1 (pad counts)
    x = np.array([-1, -2, 1, 2], dtype=np.int8).reshape(1, 2, 2, 1)
    p = PoolParams(kernel_h=1, kernel_w=2, stride_h=1, stride_w=2, pad_top=0, pad_left=0)
    assert ref.avg_pool_s8(p, x, (1, 2, 1, 1)).ravel().tolist() == [-2, 2]
    p = PoolParams(kernel_h=1, kernel_w=2, stride_h=1, stride_w=1, pad_top=0, pad_left=1,
                   count_include_pad=1, pad_value=0)
    assert ref.avg_pool_s8(p, x, (1, 2, 2, 1)).ravel().tolist() == [-1, -2, 1, 2]
    p = PoolParams(kernel_h=1, kernel_w=2, stride_h=1, stride_w=1, pad_top=0, pad_left=1)
    assert ref.avg_pool_s8(p, x, (1, 2, 2, 1)).ravel().tolist() == [-1, -2, 1, 2]
    # max pool: a window entirely in the padding yields pad_value
    p = PoolParams(kernel_h=1, kernel_w=1, stride_h=1, stride_w=1, pad_top=1, pad_left=0,
                   pad_value=-7)
    assert ref.max_pool_s8(p, x, (1, 3, 2, 1)).ravel().tolist() == [-7, -7, -1, -2, 1, 2]
    # conv: padding taps contribute nothing (acc = bias + w * (x + off) of the valid tap)
    p = ConvParams(input_offset=3, output_offset=1, stride_h=1, stride_w=1, pad_top=0, pad_left=1)
    one, sh0 = fixedpoint.quantize_multiplier(1.0)
    xi = np.array([[[[2]]]], dtype=np.int8)
    filt = np.array([[[[4], [5]]]], dtype=np.int8)  # (1, 1, 2, 1): tap 0 is padding
    out = ref.conv_s8(p, np.array([one]), np.array([sh0]), xi, filt, np.array([10]), (1, 1, 1, 1))
    assert out.ravel().tolist() == [10 + 5 * (2 + 3) + 1]
    # softmax of a constant row is uniform: (2^23*256 + n*2^23/2) / (n*2^23) - 128
    lut = np.round(np.exp(-0.1 * np.arange(256)) * (1 << 23)).astype(np.uint32)
    assert ref.softmax_s8(SoftmaxParams(256), np.zeros((1, 4), np.int8), lut).ravel().tolist() == [64 - 128] * 4
    # at scale 1/400: 400 / 4 = 100 steps; a row with one dominant entry saturates at 127
    lut = np.round(np.exp(-0.1 * np.arange(256)) * (1 << 22)).astype(np.uint32)
    assert ref.softmax_s8(SoftmaxParams(400), np.zeros((1, 4), np.int8), lut).ravel().tolist() == [100 - 128] * 4
    assert ref.softmax_s8(SoftmaxParams(400), np.array([[127, -128, -128]], np.int8), lut).ravel().tolist() == \
        [127, -128, -128]
    # depthwise with depth multiplier 2: output channels 0,1 read input channel 0
    p = ConvParams(input_offset=0, output_offset=0, stride_h=1, stride_w=1, pad_top=0,
                   pad_left=0, depth_multiplier=2)
    xi = np.array([[[[3, 5]]]], dtype=np.int8)
    filt = np.array([[[[1, 2, 3, 4]]]], dtype=np.int8)
    out = ref.depthwise_conv_s8(p, np.full(4, one), np.full(4, sh0), xi, filt, None, (1, 1, 1, 4))
    assert out.ravel().tolist() == [3, 6, 15, 20]


def _direct_conv(p, mult, shift, x, filt, bias, out_dims, depthwise):
    """Spec-literal loops (slow): a third opinion next to the numpy and C versions."""
    n, oh_, ow_, oc_ = out_dims
    out = np.zeros(out_dims, dtype=np.int64)
    _, kh_, kw_, _ = filt.shape
    for oh in range(oh_):
        for ow in range(ow_):
            for oc in range(oc_):
                acc = 0 if bias is None else int(bias[oc])
                for kh in range(kh_):
                    for kw in range(kw_):
                        ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h
                        iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w
                        if not (0 <= ih < x.shape[1] and 0 <= iw < x.shape[2]):
                            continue
                        if depthwise:
                            acc += int(filt[0, kh, kw, oc]) * (
                                int(x[0, ih, iw, oc // p.depth_multiplier]) + p.input_offset)
                        else:
                            acc += sum(int(filt[oc, kh, kw, ic]) * (int(x[0, ih, iw, ic]) + p.input_offset)
                                       for ic in range(x.shape[3]))
                v = int(fixedpoint.requantize(acc, int(mult[oc]), int(shift[oc]))) + p.output_offset
                v = min(max(v, p.act_min), p.act_max)
                out[0, oh, ow, oc] = v if p.act_lut is None else p.act_lut[v + 128]
    return out.astype(np.int8)


def _direct_pool(p, x, out_dims, kind):
    n, oh_, ow_, c_ = out_dims
    out = np.zeros(out_dims, dtype=np.int64)
    for oh in range(oh_):
        for ow in range(ow_):
            for c in range(c_):
                vals, padded = [], 0
                for kh in range(p.kernel_h):
                    for kw in range(p.kernel_w):
                        ih, iw = oh * p.stride_h - p.pad_top + kh, ow * p.stride_w - p.pad_left + kw
                        if 0 <= ih < x.shape[1] and 0 <= iw < x.shape[2]:
                            vals.append(int(x[0, ih, iw, c]))
                        else:
                            padded += 1
                if kind == "max_pool":
                    v = max(vals) if vals else p.pad_value
                else:
                    total = sum(vals) + (p.pad_value * padded if p.count_include_pad else 0)
                    count = p.kernel_h * p.kernel_w if p.count_include_pad else len(vals)
                    if count == 0:
                        v = p.pad_value
                    elif p.multiplier:  # its own output scale: the window sum requantized
                        v = int(fixedpoint.requantize(total + count * p.input_offset, p.multiplier, p.shift))
                        v += p.output_offset
                    else:
                        q = (abs(total) + count // 2) // count  # round half away from zero
                        v = q if total >= 0 else -q
                out[0, oh, ow, c] = min(max(v, p.act_min), p.act_max)
    return out.astype(np.int8)


def test_reference_matches_direct_loops():
    """The vectorized reference (im2col, strided windows) equals plain loops over the spec."""
    rng = np.random.default_rng(11)
    for depthwise in (False, True):
        for _ in range(25):
            h, w = (int(v) for v in rng.integers(1, 7, 2))
            kh, kw = (int(v) for v in rng.integers(1, 4, 2))
            sh, sw, dh, dw = (int(v) for v in rng.integers(1, 3, 4))
            pt, pl, pb, pr = (int(v) for v in rng.integers(0, 3, 4))
            oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
            ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
            if oh < 1 or ow < 1:
                continue
            ic = int(rng.integers(1, 5))
            dm = int(rng.integers(1, 3)) if depthwise else 1
            oc = ic * dm if depthwise else int(rng.integers(1, 5))
            act_min, act_max = rand_act(rng)
            p = ConvParams(input_offset=-rand_zp(rng), output_offset=rand_zp(rng), stride_h=sh,
                           stride_w=sw, pad_top=pt, pad_left=pl, dilation_h=dh, dilation_w=dw,
                           depth_multiplier=dm, act_min=act_min, act_max=act_max,
                           act_lut=rand_lut(rng))
            mult, shift = rand_scales(rng, oc)
            x = rand_i8(rng, (1, h, w, ic))
            filt = rand_i8(rng, (1, kh, kw, oc) if depthwise else (oc, kh, kw, ic))
            bias = None if rng.random() < 0.3 else rng.integers(-9999, 9999, oc).astype(np.int32)
            fn = ref.depthwise_conv_s8 if depthwise else ref.conv_s8
            got = fn(p, mult, shift, x, filt, bias, (1, oh, ow, oc))
            want = _direct_conv(p, mult, shift, x, filt, bias, (1, oh, ow, oc), depthwise)
            assert np.array_equal(got, want), p
    for kind in ("max_pool", "avg_pool"):
        for _ in range(40):
            case_rng = np.random.default_rng(int(rng.integers(1 << 30)))
            case = pool_case(case_rng, kind)
            v = np.frombuffer(case.blobs[0], "<i4")
            p = PoolParams(*(int(a) for a in v))
            x = np.frombuffer(case.blobs[2], np.int8).reshape(np.frombuffer(case.blobs[1], "<i4"))
            out_dims = tuple(int(a) for a in np.frombuffer(case.blobs[3], "<i4"))
            assert np.array_equal(case.expected, _direct_pool(p, x, out_dims, kind)), p


def test_reference_speed_resnet8():
    """The reference runs the ~12.5 M-MAC MLPerf-Tiny ResNet-8 convolutions well under 1 s."""
    rng = np.random.default_rng(3)
    # (H, W, in_ch, out_ch, kernel, stride) of ResNet-8 on 32x32x3
    layers = [(32, 32, 3, 16, 3, 1), (32, 32, 16, 16, 3, 1), (32, 32, 16, 16, 3, 1),
              (32, 32, 16, 32, 3, 2), (16, 16, 32, 32, 3, 1), (32, 32, 16, 32, 1, 2),
              (16, 16, 32, 64, 3, 2), (8, 8, 64, 64, 3, 1), (16, 16, 32, 64, 1, 2)]
    args = []
    macs = 0
    for h, w, ic, oc, k, s in layers:
        pad = k // 2
        oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        macs += oh * ow * oc * k * k * ic
        p = ConvParams(input_offset=3, output_offset=-5, stride_h=s, stride_w=s, pad_top=pad,
                       pad_left=pad, act_min=-5)
        mult, shift = fixedpoint.quantize_multipliers(10.0 ** rng.uniform(-4, -2, oc))
        args.append((p, mult, shift, rand_i8(rng, (1, h, w, ic)), rand_i8(rng, (oc, k, k, ic)),
                     rng.integers(-1000, 1000, oc).astype(np.int32), (1, oh, ow, oc)))
    assert 12e6 < macs < 13e6
    ref.conv_s8(*args[0])  # warm-up
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for a in args:
            ref.conv_s8(*a)
        best = min(best, time.perf_counter() - t0)
    assert best < 0.5, f"reference ResNet-8 convolutions took {best:.3f} s"
