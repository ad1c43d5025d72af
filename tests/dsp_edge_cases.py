"""Deterministic kernel cases at the edges of the DSP shortcuts, run on QEMU by test_cortex_m.py.

Random data never reaches these edges, so the values are built to sit on them:

* the depthwise DSP path doubles the widened weights and the bias (the x2 of SQRDMULH without a
  QADD) only while |bias| + taps * 128 * 255 < 2^30 (``qnnc_dw_doubling_ok``): extreme inputs
  (every tap adds +-32640) with biases one below the limit, at it, and past it;
* the half-away fix-up for negative values is left out where the clamp's floor is at or above
  the output zero point (depthwise) or at zero point -128 (the channel-pair conv's whole-range
  loop): every output an exact rounding tie, with the floor at the zero point and one below it;
* depthwise runs along the longer side of a block: unequal strides;
* the DSP convs gather the windows of in_c % 4 != 0 layers that lie inside the input a word at a
  time, reading up to 3 bytes past each kernel row (only where those stay inside the input):
  first-layer shapes of 1-7 channels whose last windows end at the input's last byte, runs of 1
  to 6 words, unpadded and padded, strides 1 and 2, both conv paths (out_c 4 and 5);
* 3x3 stride-1 depthwise maps of at most 8x8 widen every input line first (the plane, its rows
  outside the map zero): square, wide and tall maps, pads 0-2, at the 8x8 limit and past it;
* the DSP multiply has loops of its own for same shapes and for one value per channel (either
  input), with the output offset folded into the rounding term: both orders, shift 0 and the
  quantizer's shifts, output offsets at both ends, every activation range.
"""
from __future__ import annotations

from typing import List

import numpy as np

import test_kernels as T
from qnnc.kernel_params import ConvParams
from qnnc.reference import kernels as ref

# the doubling limit for a 3x3 kernel
LIMIT = (1 << 30) - 9 * 128 * 255


def _case(x, filt, bias, mult, shift, act, in_zp, out_zp, pad, depthwise, desc, stride=(1, 1)) -> T.Case:
    """A conv / depthwise case (TFLite rounding, no LUT) with the reference output."""
    _, h, w, _ = x.shape
    k = filt.shape[1]
    sh, sw = stride
    oc = filt.shape[3] if depthwise else filt.shape[0]
    out_dims = (1, (h + 2 * pad - k) // sh + 1, (w + 2 * pad - k) // sw + 1, oc)
    p = ConvParams(input_offset=-in_zp, output_offset=out_zp, stride_h=sh, stride_w=sw, pad_top=pad,
                   pad_left=pad, dilation_h=1, dilation_w=1, depth_multiplier=1, act_min=act[0], act_max=act[1],
                   act_lut=None, rounding=0)
    mult, shift = np.asarray(mult, np.int32), np.asarray(shift, np.int32)
    bias = np.asarray(bias, np.int32)
    expected = (ref.depthwise_conv_s8 if depthwise else ref.conv_s8)(p, mult, shift, x, filt, bias, out_dims)
    blobs = [T.i32(p.input_offset, p.output_offset, sh, sw, pad, pad, 1, 1, 1, act[0], act[1], 0), b"",
             T.arr(mult, "<i4"), T.arr(shift, "<i4"), T.dims(x.shape), T.arr(x, np.int8),
             T.dims(filt.shape), T.arr(filt, np.int8), T.arr(bias, "<i4"), T.dims(out_dims),
             T.canary(np.random.default_rng(1), expected.size)]
    return T.Case("depthwise" if depthwise else "conv", blobs, expected, desc)


def _tie_biases(shifts) -> np.ndarray:
    """Biases whose requantization (zero weights, multiplier 2^30) lands exactly on -2^(s-1) before
    the right shift s: -1 with the half-away fix-up, 0 without."""
    return np.array([2 * -(1 << (-s - 1)) - 1 for s in shifts], np.int32)


def _mul_cases() -> List[T.Case]:
    """Multiplies of the DSP loops' shapes (random broadcast shapes rarely have them)."""
    rng = np.random.default_rng(11)
    out = []
    shapes = [((1, 5, 7, 16), (1, 5, 7, 16)), ((1, 6, 6, 17), (1, 1, 1, 17)), ((1, 1, 1, 3), (1, 4, 9, 3)),
              ((1, 3, 2, 1), (1, 1, 1, 1)), ((1, 1, 1, 40), (1, 1, 1, 40)), ((1, 2, 8, 5), (1, 1, 1, 5)),
              ((1, 4, 1, 6), (1, 1, 5, 6)), ((1, 3, 4, 1), (1, 3, 4, 7))]  # (other broadcasts: the element loop)
    for i, (s1, s2) in enumerate(shapes):
        out_shape = tuple(max(a, b) for a, b in zip(s1, s2))
        for j in range(4):
            mo, sho = T.rand_scale(rng, -2.9, -1.9) if j else (int(rng.integers(1 << 30, 1 << 31)), 0)
            act = [(-128, 127), (int(rng.integers(-128, 0)), 127), (-128, int(rng.integers(0, 127))),
                   (-20, 40)][(i + j) % 4]
            off = [-128, 127, int(rng.integers(-100, 100)), 0][j]
            p = T.MulParams(input1_offset=int(rng.integers(-127, 129)), input2_offset=int(rng.integers(-127, 129)),
                            output_multiplier=int(mo), output_shift=int(sho), output_offset=off, act_min=act[0],
                            act_max=act[1])
            x1, x2 = T.rand_i8(rng, s1), T.rand_i8(rng, s2)
            expected = ref.mul_s8(p, x1, x2, out_shape)
            blobs = [T.i32(p.input1_offset, p.input2_offset, p.output_multiplier, p.output_shift, p.output_offset,
                           p.act_min, p.act_max),
                     T.dims(s1), T.arr(x1, np.int8), T.dims(s2), T.arr(x2, np.int8), T.dims(out_shape),
                     T.canary(rng, expected.size)]
            out.append(T.Case("mul", blobs, expected, f"DSP mul {s1}*{s2} {p}"))
    return out


def cases() -> List[T.Case]:
    """The cases, in a fixed order (each channel group of 4 shares one bias class)."""
    out = _mul_cases()
    c = 8
    # the doubling limit: x + offset = -255 (or +255), weights -128, 9 taps in range inside the map;
    # channels 0-3 one below the limit (doubled), 4-7 at or past it (the reference requantization)
    for biases, name in (([LIMIT - 1] * 4 + [LIMIT] * 4, "limit-1 | limit"),
                         ([LIMIT - 1] * 4 + [(1 << 30) - 1000] * 4, "limit-1 | 2^30-1000"),
                         ([-(LIMIT - 1)] * 4 + [-LIMIT] * 4, "-(limit-1) | -limit")):
        neg = biases[0] < 0
        x = np.full((1, 6, 6, c), 127 if neg else -128, np.int8)
        filt = np.full((1, 3, 3, c), -128, np.int8)
        out.append(_case(x, filt, biases, [1 << 30] * c, [-1] * c, (-128, 127), -128 if neg else 127, 5, 1, True,
                         f"depthwise doubling limit {name}"))
    rng = np.random.default_rng(5)
    # rounding ties: the floor at the zero point (no fix-up) and one below it (the fix-up kept)
    z = 10
    shifts = [-1, -1, -2, -3, -1, -4, -2, -1]
    x = rng.integers(-128, 128, (1, 5, 5, c)).astype(np.int8)
    filt = np.zeros((1, 3, 3, c), np.int8)
    for lo in (z - 1, z):
        out.append(_case(x, filt, _tie_biases(shifts), [1 << 30] * c, shifts, (lo, 70), 3, z, 1, True,
                         f"depthwise ties, floor {lo}, zero point {z}"))
    out.append(_case(x, filt, _tie_biases(shifts), [1 << 30] * c, shifts, (-128, 127), 3, -127, 1, True,
                     "depthwise ties, whole range, zero point -127"))
    # the channel-pair conv (kernel_driver.c runs it when in_c + out_c + k + out_w is even)
    for ic, oc, k in ((8, 16, 3), (12, 6, 3), (64, 64, 1)):
        shifts = [-(1 + i % 4) for i in range(oc)]
        x = rng.integers(-128, 128, (1, 5, 7, ic)).astype(np.int8)
        filt = np.zeros((oc, k, k, ic), np.int8)
        for zp in (-127, -128):
            out.append(_case(x, filt, _tie_biases(shifts), [1 << 30] * oc, shifts, (-128, 127), 0, zp, k // 2, False,
                             f"channel-pair conv ties, zero point {zp}, {ic}->{oc} {k}x{k}"))
    # unequal strides (the runs' orientation: taller or wider blocks)
    for h, w, sh, sw in ((13, 4, 2, 1), (4, 13, 1, 2), (15, 6, 3, 1)):
        x = rng.integers(-128, 128, (1, h, w, c)).astype(np.int8)
        filt = rng.integers(-128, 128, (1, 3, 3, c)).astype(np.int8)
        bias = rng.integers(-50000, 50000, c).astype(np.int32)
        out.append(_case(x, filt, bias, [1 << 30] * c, [-9] * c, (-128, 127), 7, -3, 1, True,
                         f"depthwise strides ({sh}, {sw})", stride=(sh, sw)))
    # the inside-window gather of in_c % 4 != 0 layers: (h, w, in_c, k, pad, stride)
    for h, w, ic, k, pad, st in ((7, 9, 3, 3, 0, 1), (9, 8, 3, 3, 1, 2), (6, 11, 1, 5, 0, 1), (8, 8, 2, 3, 0, 1),
                                 (7, 7, 5, 3, 0, 2), (10, 6, 1, 3, 1, 1), (5, 9, 7, 3, 0, 1)):
        for oc in (4, 5):
            x = rng.integers(-128, 128, (1, h, w, ic)).astype(np.int8)
            filt = rng.integers(-128, 128, (oc, k, k, ic)).astype(np.int8)
            bias = rng.integers(-20000, 20000, oc).astype(np.int32)
            mult = rng.integers(1 << 30, (1 << 31) - 1, oc)
            out.append(_case(x, filt, bias, mult, [-(10 + i % 3) for i in range(oc)], (-128, 127), 5, -2, pad, False,
                             f"in_c {ic} gather, {h}x{w} {k}x{k} pad {pad} stride {st} -> {oc}", stride=(st, st)))
    # the depthwise plane: (h, w, pad) of the input
    for h, w, pad in ((6, 6, 1), (3, 3, 1), (8, 8, 1), (9, 8, 1), (2, 7, 1), (7, 3, 1), (5, 4, 0), (4, 4, 2),
                      (1, 1, 1), (1, 6, 1)):
        x = rng.integers(-128, 128, (1, h, w, c)).astype(np.int8)
        filt = rng.integers(-128, 128, (1, 3, 3, c)).astype(np.int8)
        bias = rng.integers(-50000, 50000, c).astype(np.int32)
        out.append(_case(x, filt, bias, [1 << 30] * c, [-9] * c, (-128, 127), 3, -5, pad, True,
                         f"depthwise plane {h}x{w} pad {pad}"))
    return out
