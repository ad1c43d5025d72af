"""qnnc kernels and generated models on emulated Cortex-M cores (QEMU), bit-exact with the reference.

Cores: M0 (ARMv6-M code built for cortex-m0 on mps2-an385, whose start-up sets CCR.UNALIGN_TRP:
an unaligned access faults as on a Cortex-M0/M0+; portable C path), M3 (mps2-an385, portable C
path), M4 (mps2-an386, DSP path), M7 (mps2-an500, DSP path), M55 (mps3-an547, Helium/MVE path).
The kernel path is chosen by the compiler's own macros (__ARM_FEATURE_DSP, __ARM_FEATURE_MVE), so
each core exercises a different one.

* every random case of tests/test_kernels.py, plus shaped cases that hit the SIMD fast paths
  (channel counts that are multiples of 4/8/16, 1x1 and 3x3 convolutions, strides, padding,
  tails), runs on each core and must equal the numpy reference;
* the shared models run on a few inputs per core and must equal qnnc.reference.interpreter;
* the instruction counter itself is checked on loops of known length.

Needs arm-none-eabi-gcc (with newlib-nano) and qemu-system-arm; skipped with the reason when
they are absent (.ci/run installs them).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import harness as H  # noqa: E402

_MISSING = H.missing_tools()
pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(_MISSING is not None, reason=f"Cortex-M tests need QEMU: {_MISSING}")]

CORES = ["m0", "m3", "m4", "m7", "m55"]


@pytest.fixture(scope="module")
def qemu_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cortex_m")


# ------------------------------------------------------------ the counter itself --


COUNTER_MAIN = r"""
#include "bench_support.h"
int main(void)
{
    BENCH_BEGIN();
    BENCH_END();
    BENCH_BEGIN();
    /* 1 + 1000 * 3 instructions */
    __asm volatile("movw r0, #1000\n1:\n\tnop\n\tsubs r0, r0, #1\n\tbne 1b" ::: "r0", "cc", "memory");
    BENCH_END();
    BENCH_BEGIN();
    BENCH_BEGIN();
    __asm volatile("nop");
    BENCH_END();
    BENCH_END();
    return 7;
}
"""


@pytest.mark.parametrize("core", ["m4", "m55"])
def test_instruction_counter_is_exact(core, qemu_dir):
    work = qemu_dir / f"counter_{core}"
    work.mkdir()
    src = work / "counter_main.c"
    src.write_text(COUNTER_MAIN)
    fw = H.build_firmware(H.MACHINES[core], [src], [], work, name="counter", opt="-O1")
    run = H.run_firmware(fw, work)
    assert run.returncode == 7  # the guest's exit code comes through semihosting
    empty, loop, outer = run.regions
    assert empty.count == 0
    assert loop.count == 3001
    assert len(outer.children) == 1 and outer.children[0].count == 1 and outer.net == 1
    again = H.run_firmware(fw, work)
    assert [r.count for r in again.regions] == [r.count for r in run.regions]  # deterministic


UNALIGNED_MAIN = r"""
#include <stdint.h>
#include "bench_support.h"
volatile uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
volatile uintptr_t one = 1;
int main(void)
{
    uint32_t x = *(volatile const uint32_t *)((uintptr_t)buf + one); /* a word load at an odd address */
    return (int)(x & 0u) + 5;
}
"""


@pytest.mark.parametrize("core", ["m0", "m3"])
def test_m0_firmware_traps_unaligned_access(core, qemu_dir):
    """What makes the M0 runs mean something: its start-up's CCR.UNALIGN_TRP turns an unaligned
    word load into a UsageFault (CFSR.UNALIGNED, the firmware exits 99), as on a Cortex-M0; the M3
    firmware, which leaves it clear, loads the word."""
    work = qemu_dir / f"unaligned_{core}"
    work.mkdir()
    src = work / "unaligned_main.c"
    src.write_text(UNALIGNED_MAIN)
    run = H.run_firmware(H.build_firmware(H.MACHINES[core], [src], [H.FIRMWARE], work, name="unaligned", opt="-O1"),
                         work)
    if core == "m0":
        assert run.returncode == 99 and "FAULT cfsr=01000000" in run.stdout, run.stdout
    else:
        assert run.returncode == 5, run.stdout


# --------------------------------------------------------------- kernel cases --


def _shaped_cases():
    """Cases aimed at the SIMD paths (test_kernels' random shapes are mostly tiny/odd)."""
    import test_kernels as T
    from qnnc.kernel_params import ConvParams, FcParams
    from qnnc.reference import kernels as ref

    rng = np.random.default_rng(4242)
    # a separate stream picks the rounding mode, so the shapes and values above stay as they were;
    # a third of the conv/FC cases use onnxruntime's half-even rounding (imported QDQ models)
    rounding_rng = np.random.default_rng(77)
    cases = []

    def rounding():
        from qnnc.quantize import fixedpoint
        return fixedpoint.ROUND_HALF_EVEN if rounding_rng.random() < 1 / 3 else fixedpoint.ROUND_TFLITE

    def conv(h, w, ic, oc, kh, kw, stride, pad, depthwise=False, dm=1, act=None, lut=False,
             pads=None, dil=1, bias=True, out_zp=None, scales=None, rnd=None):
        pt, pl, pb, pr = pads if pads is not None else (pad, pad, pad, pad)
        oh = (h + pt + pb - dil * (kh - 1) - 1) // stride + 1
        ow = (w + pl + pr - dil * (kw - 1) - 1) // stride + 1
        act_min, act_max = act if act is not None else T.rand_act(rng)
        if depthwise:
            oc = ic * dm
        p = ConvParams(input_offset=-T.rand_zp(rng), output_offset=T.rand_zp(rng) if out_zp is None else out_zp,
                       stride_h=stride,
                       stride_w=stride, pad_top=pt, pad_left=pl, dilation_h=dil, dilation_w=dil,
                       depth_multiplier=dm if depthwise else 1, act_min=act_min, act_max=act_max,
                       act_lut=rng.integers(-128, 128, 256).astype(np.int8) if lut else None,
                       rounding=rounding() if rnd is None else rnd)
        mult, shift = T.rand_scales(rng, oc, raw_ok=rng.random() < 0.3) if scales is None else scales(oc)
        x = T.rand_i8(rng, (1, h, w, ic))
        filt = T.rand_i8(rng, (1, kh, kw, oc) if depthwise else (oc, kh, kw, ic))
        b = rng.integers(-50000, 50000, oc).astype(np.int32) if bias else None
        out_dims = (1, oh, ow, oc)
        fn = ref.depthwise_conv_s8 if depthwise else ref.conv_s8
        expected = fn(p, mult, shift, x, filt, b, out_dims)
        blobs = [T.i32(p.input_offset, p.output_offset, stride, stride, pt, pl, dil, dil, p.depth_multiplier,
                       act_min, act_max, p.rounding),
                 b"" if p.act_lut is None else T.arr(p.act_lut, np.int8),
                 T.arr(mult, "<i4"), T.arr(shift, "<i4"), T.dims(x.shape), T.arr(x, np.int8),
                 T.dims(filt.shape), T.arr(filt, np.int8), b"" if b is None else T.arr(b, "<i4"),
                 T.dims(out_dims), T.canary(rng, expected.size)]
        cases.append(T.Case("depthwise" if depthwise else "conv", blobs, expected,
                            f"shaped x{x.shape} filt{filt.shape} out{out_dims} stride {stride} pads "
                            f"{(pt, pl, pb, pr)} {p}"))

    def fc(rows, k, n, lut=False):
        act_min, act_max = T.rand_act(rng)
        p = FcParams(input_offset=-T.rand_zp(rng), output_offset=T.rand_zp(rng), act_min=act_min,
                     act_max=act_max, act_lut=rng.integers(-128, 128, 256).astype(np.int8) if lut else None,
                     rounding=rounding())
        mult, shift = T.rand_scales(rng, n, raw_ok=rng.random() < 0.3)
        x, wt = T.rand_i8(rng, (rows, k)), T.rand_i8(rng, (n, k))
        b = rng.integers(-50000, 50000, n).astype(np.int32) if rng.random() < 0.8 else None
        expected = ref.fully_connected_s8(p, mult, shift, x, wt, b)
        blobs = [T.i32(p.input_offset, p.output_offset, act_min, act_max, rows, k, n, p.rounding),
                 b"" if p.act_lut is None else T.arr(p.act_lut, np.int8),
                 T.arr(mult, "<i4"), T.arr(shift, "<i4"), T.arr(x, np.int8), T.arr(wt, np.int8),
                 b"" if b is None else T.arr(b, "<i4"), T.canary(rng, expected.size)]
        cases.append(T.Case("fc", blobs, expected, f"shaped x{x.shape} w{wt.shape} {p}"))

    def add(shape):
        from qnnc.quantize import fixedpoint
        from qnnc.kernel_params import AddParams
        sc1, sc2 = (float(10.0 ** rng.uniform(-3, 0)) for _ in range(2))
        sco = (sc1 + sc2) * float(10.0 ** rng.uniform(-0.5, 0.5))
        m1, sh1, m2, sh2, mo, sho = fixedpoint.add_multipliers(sc1, sc2, sco, 20)
        act_min, act_max = T.rand_act(rng)
        p = AddParams(input1_offset=-T.rand_zp(rng), input2_offset=-T.rand_zp(rng), input1_multiplier=m1,
                      input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2, left_shift=20,
                      output_multiplier=mo, output_shift=sho, output_offset=T.rand_zp(rng),
                      act_min=act_min, act_max=act_max)
        x1, x2 = T.rand_i8(rng, shape), T.rand_i8(rng, shape)
        expected = ref.add_s8(p, x1, x2, shape)
        blobs = [T.i32(p.input1_offset, p.input2_offset, m1, sh1, m2, sh2, 20, mo, sho, p.output_offset,
                       act_min, act_max),
                 T.dims(shape), T.arr(x1, np.int8), T.dims(shape), T.arr(x2, np.int8), T.dims(shape),
                 T.canary(rng, expected.size)]
        cases.append(T.Case("add", blobs, expected, f"shaped same-shape add {shape} {p}"))

    for shape in ((1, 1, 1, 1), (1, 1, 1, 3), (1, 2, 3, 4), (1, 5, 5, 7), (1, 8, 8, 16), (1, 4, 4, 64)):
        for _ in range(3):
            add(shape)
    full = (-128, 127)
    for ic in (1, 3, 4, 8, 12, 16, 20, 32, 48, 64):
        for oc in (1, 2, 3, 4, 5, 8, 16, 17):
            conv(5, 6, ic, oc, 3, 3, 1, 1)
            conv(4, 5, ic, oc, 1, 1, 1, 0)
    for ic, oc in ((16, 32), (64, 64), (32, 16), (8, 24)):
        conv(9, 8, ic, oc, 3, 3, 2, 1)
        conv(7, 7, ic, oc, 3, 3, 1, 1, act=full, lut=True)
        conv(6, 9, ic, oc, 1, 1, 2, 0, act=(-128, 50))
        conv(5, 5, ic, oc, 3, 3, 1, 0, pads=(0, 1, 2, 1))
        conv(8, 8, ic, oc, 3, 3, 1, 2, dil=2)
        conv(10, 10, ic, oc, 5, 5, 1, 2, bias=False)
    conv(49, 10, 1, 16, 10, 4, 2, 0, pads=(4, 1, 5, 1))   # KWS first layer shape (smaller oc)
    conv(16, 16, 3, 16, 3, 3, 1, 1)                       # ResNet first layer shape
    for c in (1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 24, 32, 33, 64):
        conv(6, 7, c, 0, 3, 3, 1, 1, depthwise=True)
        conv(7, 6, c, 0, 3, 3, 2, 1, depthwise=True)
    for c in (8, 16, 64):
        conv(9, 9, c, 0, 3, 3, 1, 1, depthwise=True, act=full, lut=True)
        conv(6, 6, c, 0, 3, 3, 1, 0, depthwise=True, pads=(1, 0, 0, 2))
        conv(6, 6, c, 0, 3, 3, 1, 1, depthwise=True, dm=2)
        conv(8, 8, c, 0, 5, 5, 1, 2, depthwise=True)
        conv(8, 8, c, 0, 3, 3, 1, 2, depthwise=True, dil=2)
        conv(25, 5, c, 0, 3, 3, 1, 1, depthwise=True, act=(-128, 40))
        # maps too small for an inside block, border columns with one or two taps in range
        conv(2, 2, c, 0, 3, 3, 1, 1, depthwise=True)
        conv(1, 5, c, 0, 3, 3, 1, 1, depthwise=True)
        conv(5, 1, c, 0, 3, 3, 1, 1, depthwise=True, act=full)
        conv(4, 4, c, 0, 3, 3, 1, 2, depthwise=True)
        conv(9, 7, c, 0, 3, 3, 2, 0, depthwise=True, pads=(2, 1, 1, 2))
    for k in (1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 256, 257):
        for n in (1, 2, 3, 4, 5, 8, 12):
            fc(1, k, n)
    for rows in (2, 3, 5):
        fc(rows, 64, 10, lut=True)
        fc(rows, 20, 7)

    # the Helium 3x3 stride-1 "same" path for outputs over [-128, 127] with zero point -128
    # (qnnc_dw_rows_mve.h): every shift in [-31, 0] (multipliers < 1, some in [0.5, 1): shift 0)
    def scales_below_one(n):
        from qnnc.quantize import fixedpoint
        reals = 10.0 ** rng.uniform(-5, 0, n)
        reals[rng.random(n) < 0.2] = rng.uniform(0.5, 0.999)
        return fixedpoint.quantize_multipliers(np.minimum(reals, 0.999))

    for h, w in ((5, 2), (5, 5), (6, 3), (7, 4), (8, 6), (9, 7), (12, 8), (25, 5), (13, 11), (6, 10)):
        for c in (1, 3, 8, 17, 64):
            conv(h, w, c, 0, 3, 3, 1, 1, depthwise=True, act=full, out_zp=-128, scales=scales_below_one,
                 rnd=0, bias=rng.random() < 0.8)

    def scales_some_above_one(n):  # left shifts too (requantization beyond the fast path)
        from qnnc.quantize import fixedpoint
        return fixedpoint.quantize_multipliers(10.0 ** rng.uniform(-3, 0.7, n))

    # the DSP 3x3 stride-1 channel-rows path (qnnc_dw_rows_dsp.h): lines along the longer side
    # (wide and tall maps), blocks of 4 pixels with tails of 1-3, even and odd left/top pads,
    # every requantization mode (sat / sat without fix-up / clamped without fix-up / half-even /
    # the reference for scales above one), 4-channel groups with and without tail channels; lines
    # of 6 and of 3 pixels on the plane (one block of 6 / of 3: 6x6 and 3x3 outputs, a tall 6x4 and
    # 3x2, lines padded on one side only, lines cropped by an implied negative right pad)
    for h, w, pads in ((3, 41, (1, 1, 1, 1)), (41, 3, (1, 1, 1, 1)), (4, 13, (0, 2, 1, 0)), (13, 4, (2, 0, 0, 1)),
                       (5, 10, (1, 1, 1, 1)), (10, 6, (1, 0, 1, 2)), (2, 18, (1, 1, 1, 1)), (6, 6, (1, 1, 1, 1)),
                       (6, 4, (1, 1, 1, 1)), (6, 8, (1, 0, 1, 0)), (3, 3, (1, 1, 1, 1)), (3, 2, (1, 1, 1, 1)),
                       (3, 5, (1, 0, 1, 0)), (6, 9, (1, 1, 1, -2)), (3, 7, (1, 1, 1, -3))):
        for c in (4, 12, 22):
            z = int(rng.integers(-128, 100))
            conv(h, w, c, 0, 3, 3, 1, 0, pads=pads, depthwise=True, act=full, out_zp=-128, scales=scales_below_one,
                 rnd=0)
            conv(h, w, c, 0, 3, 3, 1, 0, pads=pads, depthwise=True, act=(z, 127), out_zp=z, scales=scales_below_one,
                 rnd=0)
            conv(h, w, c, 0, 3, 3, 1, 0, pads=pads, depthwise=True, act=full, scales=scales_below_one, rnd=0)
            conv(h, w, c, 0, 3, 3, 1, 0, pads=pads, depthwise=True, rnd=1, bias=False)
            conv(h, w, c, 0, 3, 3, 1, 0, pads=pads, depthwise=True, act=(-100, 90), scales=scales_some_above_one)
    # outputs that crop the input (an implied negative bottom / right pad: the API's dims allow it):
    # the ring rows hold only the pixels the windows read
    for h, w, pads in ((3, 30, (1, 1, 1, -20)), (30, 3, (1, 1, -20, 1)), (1, 100, (1, 0, 1, -97))):
        conv(h, w, 4, 0, 3, 3, 1, 0, pads=pads, depthwise=True, act=full, out_zp=-128, scales=scales_below_one, rnd=0)
        conv(h, w, 8, 0, 3, 3, 1, 0, pads=pads, depthwise=True)
    # the same for first layers (in_c % 4 != 0): a pixel triple of the channel-pair path is
    # gathered as one output row only where its pixels are on one (out_c 4 and 5: both conv
    # paths, by kernel_driver.c's parity)
    for h, w, ic, pads in ((5, 10, 3, (0, 0, 0, -4)), (7, 10, 1, (0, 0, -2, -3)), (6, 9, 2, (1, 1, 0, -5))):
        for oc in (4, 5):
            conv(h, w, ic, oc, 3, 3, 1, 0, pads=pads, act=full, scales=scales_below_one, rnd=0)

    # K = 64 exactly (Helium's straight-line qnnc_conv_mve_pair64): 1x1 over 64 channels and
    # im2col columns of 64 taps, channel counts around its triples and the 32-channel blocks,
    # odd pixel counts
    for k, ic in ((1, 64), (2, 16), (4, 4)):
        for oc in (1, 4, 7, 33, 40):
            conv(3, 5, ic, oc, k, k, 1, 0)

    # Helium conv requantization without the negative fix-up (QNNC_CONV_MVE_RQ_NONNEG): TFLite
    # rounding, shifts <= 0, outputs clamped at or above the zero point (lo = 0, lo > 0), and
    # lo = -1 next to it (the fix-up kept)
    for h, w, ic, oc, k in ((5, 5, 64, 64, 1), (4, 6, 16, 33, 1), (3, 7, 48, 3, 1), (5, 4, 8, 5, 3),
                            (6, 6, 32, 17, 3), (7, 3, 3, 16, 3)):
        z = int(rng.integers(-128, 100))
        for act in ((z, 127), (z + int(rng.integers(1, 20)), min(127, z + 90)), (max(-128, z - 1), 127)):
            conv(h, w, ic, oc, k, k, 1, k // 2, act=act, out_zp=z, scales=scales_below_one, rnd=0,
                 bias=rng.random() < 0.8)

    # Helium's small-map depthwise (qnnc_dw3x3_small8_mve, at most 16 output pixels): MobileNet's
    # 3x3 maps (stride 1 "same", stride 2 with bottom/right padding), a 4x4 map, windows with no
    # tap in range (pads of 3), with and without the Relu clamp, both roundings
    for c in (5, 8, 13, 128):
        for rnd in (0, 1):
            conv(3, 3, c, 0, 3, 3, 1, 1, depthwise=True, act=(0, 127), out_zp=-3, rnd=rnd)
            conv(6, 6, c, 0, 3, 3, 2, 0, depthwise=True, pads=(0, 0, 1, 1), rnd=rnd)
            conv(4, 4, c, 0, 3, 3, 1, 1, depthwise=True, act=full, scales=scales_below_one, rnd=rnd)
            conv(2, 2, c, 0, 3, 3, 1, 0, depthwise=True, pads=(3, 3, 0, 0), rnd=rnd)
            conv(3, 3, c, 0, 3, 3, 1, 1, depthwise=True, act=full, scales=scales_some_above_one, rnd=rnd)

    # Helium's outer-product conv (qnnc_conv_outer_mve.h: out_c <= 16, blocks of 8 channels x K <=
    # 32, shifts <= 0, TFLite rounding): 1x1 read in place and im2col columns (first layers with
    # stride 2 and bottom/right padding), channel counts around the 8-channel blocks and their
    # 4-lane halves, odd pixel counts, with and without the Relu clamp (_NONNEG / _NO_LEFT);
    # next to the limits, shapes just past them (the dot-product path)
    for h, w, ic, oc, k, stride, pads in ((3, 5, 8, 16, 1, 1, 0), (5, 3, 1, 1, 1, 1, 0), (4, 4, 3, 5, 1, 1, 0),
                                          (3, 3, 16, 9, 1, 1, 0), (5, 5, 32, 8, 1, 1, 0), (8, 8, 1, 8, 5, 1, 0),
                                          (7, 6, 3, 8, 3, 2, (0, 0, 1, 1)), (9, 7, 3, 7, 3, 2, (1, 1, 1, 1)),
                                          (5, 6, 4, 12, 2, 1, 0), (6, 5, 3, 4, 3, 1, 1), (5, 5, 17, 16, 1, 1, 0),
                                          (5, 5, 33, 8, 1, 1, 0)):
        z = int(rng.integers(-128, 100))
        for act in (full, (z, 127)):
            conv(h, w, ic, oc, k, k, stride, 0, pads=pads if isinstance(pads, tuple) else (pads,) * 4, act=act,
                 out_zp=z, scales=scales_below_one, rnd=0, bias=rng.random() < 0.8)
    # int16 weights (execution.wide_weights; kernel_driver.c passes them for half the shapes with
    # in/out features multiples of 4): several rows, 1, 2 and 25 groups of inputs, a LUT
    for rows, k, n in ((2, 64, 12), (3, 100, 8), (4, 4, 4), (2, 8, 16), (3, 16, 24)):
        fc(rows, k, n, lut=rows == 3)
    return cases


@functools.lru_cache(maxsize=None)
def _all_cases():
    import test_kernels as T
    import dsp_edge_cases
    cases = [c for k in T.BUILDERS for c in T.cases_for(k)]
    return cases + _shaped_cases() + dsp_edge_cases.cases()


@pytest.mark.parametrize("core", CORES)
def test_kernel_cases_bit_exact(core, qemu_dir):
    import test_kernels as T
    from cortex_m_cases import run_cases

    cases = _all_cases()
    failures, _ = run_cases(core, cases, T.serialize, qemu_dir / f"cases_{core}")
    assert not failures, (f"{len(failures)} of {len(cases)} kernel cases differ from the reference on "
                          f"{core}; first ones:\n" + "\n".join(f"#{i}: {d}" for i, d in failures[:8]))


@pytest.mark.parametrize("core", ["m4", "m55"])
def test_kernel_cases_bit_exact_firmware_Os(core, qemu_dir):
    """Kernels built with the firmware's -Os (no per-file -O2) must give the same results."""
    import test_kernels as T
    from cortex_m_cases import run_cases

    cases = _shaped_cases()
    failures, _ = run_cases(core, cases, T.serialize, qemu_dir / f"cases_Os_{core}", opt="-Os", kernel_opt="-Os")
    assert not failures, "\n".join(f"#{i}: {d}" for i, d in failures[:8])


@pytest.mark.parametrize("flag", ["-DQNNC_NO_INLINE_ASM", "-mno-unaligned-access", "-O2 -fno-omit-frame-pointer",
                                  "-O2 -ffixed-r9 -DQNNC_DSP_ASM_13"])
def test_dsp_c_loops_bit_exact(flag, qemu_dir):
    """The DSP conv/FC loops' C versions on the M4: what -DQNNC_NO_INLINE_ASM selects, and what a
    build without unaligned access (CCR.UNALIGN_TRP firmware) gets instead of the asm loops; a build
    that keeps a frame pointer (the channel-pair conv's file omits it); the channel-pair conv's
    13-register loop of a build that reserves r9."""
    import test_kernels as T
    from cortex_m_cases import run_cases

    cases = _shaped_cases()
    failures, _ = run_cases("m4", cases, T.serialize, qemu_dir / f"cases_c_loops{flag.replace(' ', '_')}",
                            kernel_opt=flag)
    assert not failures, "\n".join(f"#{i}: {d}" for i, d in failures[:8])


# --------------------------------------------------------------- shared models --


MODEL_CORES = [(m, c) for m in ["digits_cnn_sklearn", "onnx_zoo_mnist8", "mlperf_tiny_ad_fc_autoencoder",
                                "mlperf_tiny_kws_dscnn", "mlperf_tiny_ic_resnet8"] for c in CORES]
_SLOW = {("mlperf_tiny_ic_resnet8", "m3"), ("mlperf_tiny_ic_resnet8", "m7"), ("mlperf_tiny_kws_dscnn", "m3"),
         ("mlperf_tiny_kws_dscnn", "m7"), ("onnx_zoo_mnist8", "m7"), ("onnx_zoo_mnist8", "m3")}

_GENERATED = {}


def _generated(model: str, qemu_dir: Path):
    from benchmarks import modelbench as MB
    from shared_models import require

    if model not in _GENERATED:
        folder = require(model)
        cal, xs = MB.model_inputs(folder / "model.onnx", 3)
        res = MB.generate(folder / "model.onnx", qemu_dir / model, cal)
        _GENERATED[model] = (res, MB.quantized_inputs(res, xs))
    return _GENERATED[model]


@pytest.mark.parametrize("model,core", [pytest.param(m, c, marks=pytest.mark.slow) if (m, c) in _SLOW
                                        else (m, c) for m, c in MODEL_CORES])
def test_shared_model_bit_exact(model, core, qemu_dir):
    from benchmarks import modelbench as MB

    res, q = _generated(model, qemu_dir)
    r = MB.bench_generated(res, qemu_dir / model / "gen", q, H.MACHINES[core], qemu_dir / model / core, model,
                           hist=False)
    print(f"{model} on {core}: {r.instructions:,} instructions ({r.per_mac:.3f}/MAC), "
          f"{r.n_inputs - r.mismatches}/{r.n_inputs} outputs bit-exact, stack {r.stack} B, arena {r.arena} B")
    assert r.bit_exact, f"{r.mismatches} of {r.n_inputs} outputs differ from the reference"
    assert len(set(r.instructions_all)) >= 1 and r.instructions > 0


# ------------------------------------------------------------ suite whole model --

_SUITE = {}


@pytest.mark.parametrize("core", ["m4", "m55"])
def test_mobilenet_suite_model_bit_exact(core, qemu_dir):
    """The benchmark suite's MobileNetV1-0.25 96x96x3 (the VWW architecture): bit-exact on target,
    and the same 7,489,664 MACs as measuring.md's TFLM figure it is compared with. It exercises
    paths the shared models do not: 1x1 convs with K = 8 read in place, depthwise stride 2 on
    3x3-6x6 maps, a 3-channel first layer with zero-padded columns."""
    from benchmarks import layers as L
    from benchmarks import modelbench as MB

    name = "mobilenet_v1_025"
    if name not in _SUITE:
        path, cal = L.build_onnx(name, qemu_dir / name / "onnx")
        res = MB.generate(path, qemu_dir / name, cal)
        _SUITE[name] = (res, MB.quantized_inputs(res, L.test_inputs(name, 2)))
    res, q = _SUITE[name]
    r = MB.bench_generated(res, qemu_dir / name / "gen", q, H.MACHINES[core], qemu_dir / name / core, name,
                           hist=False)
    print(f"{name} on {core}: {r.instructions:,} instructions ({r.per_mac:.3f}/MAC)")
    assert r.macs == 7_489_664
    assert r.bit_exact, f"{r.mismatches} of {r.n_inputs} outputs differ from the reference"

