"""Kernel scratch: the Python sizes (kernel_scratch.py) equal the header's per-path formulas, and
the planner puts each layer's scratch where no live tensor is (see also kernel_driver.c, which runs
every conv/depthwise/fc case with exactly-sized scratch and with one byte too little)."""
from __future__ import annotations

import subprocess
from pathlib import Path


from c_build import compile_c, include_dir, kernel_sources
from qnnc.plan import kernel_scratch as ks
from qnnc.build import build
from qnnc.config import load_config

REPO = Path(__file__).resolve().parent.parent
KWS = REPO / "samples" / "models" / "kws"

CONV = [(k, ic, oc) for k in (1, 3, 4, 9, 27, 40, 64, 72, 130, 576, 2048) for ic in (1, 3, 4, 8, 64)
        for oc in (1, 2, 15, 16, 17, 64, 200)]
TAPS = [1, 4, 9, 25, 49, 64]
HW = [(1, 1), (25, 5), (5, 25), (48, 48), (6, 6), (3, 7), (130, 2), (8, 8), (8, 9)]
FC = [(k, n) for k in (4, 5, 30, 64, 255, 256, 4096) for n in (1, 3, 10, 64, 1000)]

MACROS_MAIN = r"""
#include <stdio.h>
#include "qnnc_kernels.h"
static const int conv[][3] = {%(conv)s};
static const int taps[] = {%(taps)s};
static const int fc[][2] = {%(fc)s};
static const int hw[][2] = {%(hw)s};
int main(void)
{
    size_t i;
    printf("limits %%d %%d %%d %%d %%d %%d\n", QNNC_CONV_MAX_K, QNNC_DW_MAX_TAPS, QNNC_FC_MAX_K, QNNC_CONV_OC_BLOCK,
           QNNC_CONV_S4_REALIGN_MAX, QNNC_CONV_S4_UNPACK_MAX);
    for (i = 0; i < sizeof conv / sizeof conv[0]; ++i) {
        printf("conv %%d %%d %%d %%d %%d %%d\n", QNNC_CONV_DSP_BUFFER_SIZE(conv[i][0], conv[i][1], conv[i][2]),
               QNNC_CONV_MVE_BUFFER_SIZE(conv[i][0], conv[i][2], conv[i][1] == 8),
               QNNC_CONV_S4_DSP_BUFFER_SIZE(conv[i][0], conv[i][1], conv[i][2]),
               QNNC_CONV_S4_MVE_BUFFER_SIZE(conv[i][0], conv[i][2]), QNNC_CONV_S16_DSP_BUFFER_SIZE(conv[i][0]),
               QNNC_CONV_S16_MVE_BUFFER_SIZE(conv[i][0]));
        printf("paired %%d\n", QNNC_CONV_PAIRED_DSP_BUFFER_SIZE(conv[i][0], conv[i][1]));
        printf("strip %%d\n", QNNC_CONV_MVE_STRIP_SIZE(conv[i][2], conv[i][1], conv[i][0]));
    }
    for (i = 0; i < sizeof taps / sizeof taps[0]; ++i) {
        printf("dw %%d %%d %%d %%d\n", QNNC_DW_DSP_BUFFER_SIZE(taps[i]), QNNC_DW_MVE_BUFFER_SIZE(taps[i]),
               QNNC_CONV_S4_UNPACKED_SIZE(taps[i], 3), QNNC_CONV_S4_UNPACKED_SIZE(taps[i], 64));
    }
    for (i = 0; i < sizeof hw / sizeof hw[0]; ++i) {
        printf("rows %%d\n", QNNC_DW_DSP_ROWS_BUFFER_SIZE(hw[i][0], hw[i][1]));
    }
    for (i = 0; i < sizeof fc / sizeof fc[0]; ++i) {
        printf("fc %%d\n", QNNC_FC_DSP_BUFFER_SIZE(fc[i][0], fc[i][1]));
    }
    return 0;
}
"""


def s4_uncapped(k: int, ic: int, oc: int) -> int:
    """QNNC_CONV_S4_DSP_BUFFER_SIZE itself, for the layers get_buffer_size declines (K past the
    limit, a realigned filter past QNNC_CONV_S4_REALIGN_MAX)."""
    k8 = (k + 7) & ~7
    return 4 * k8 + (k8 if ic % 8 else 0) + (oc * (k8 // 2) if k % 8 else 0)


def test_python_sizes_equal_the_header_formulas(tmp_path):
    src = tmp_path / "macros.c"
    src.write_text(MACROS_MAIN % {
        "conv": ", ".join("{%d, %d, %d}" % c for c in CONV),
        "taps": ", ".join(map(str, TAPS)),
        "fc": ", ".join("{%d, %d}" % f for f in FC),
        "hw": ", ".join("{%d, %d}" % hw for hw in HW)})
    exe = compile_c([src], [include_dir()], tmp_path / "macros")
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0].split()[1:] == [str(v) for v in (ks.CONV_MAX_K, ks.DW_MAX_TAPS, ks.FC_MAX_K, ks.CONV_OC_BLOCK,
                                                     ks.CONV_S4_REALIGN_MAX, ks.CONV_S4_UNPACK_MAX)]
    want = [f"conv {ks.conv_dsp_bytes(k, ic, oc)} {ks.conv_mve_bytes(k, oc, ic == 8)} "
            f"{ks.conv_s4_dsp_bytes(k, ic, oc) or s4_uncapped(k, ic, oc)} "
            f"{ks.conv_s4_mve_bytes(k, oc) or 4 * oc + 2 * ((k + 31) & ~31)} "
            f"{ks.conv_s16_scratch_bytes(k) or 6 * k} {4 * k}\npaired {ks.conv_paired_dsp_bytes(k, ic)}"
            f"\nstrip {ks.conv_mve_strip_size(oc, ic, k)}"  # (groups = ic, G = k here)
            for k, ic, oc in CONV]
    want = "\n".join(want).splitlines()
    want += [f"dw {ks.dw_dsp_bytes(t)} {16 * t + 4} {(3 * t + 3) & ~3} {64 * t}" for t in TAPS]
    want += [f"rows {ks.dw_dsp_rows_bytes(h, w)}" for h, w in HW]
    want += [f"fc {ks.fully_connected_scratch_bytes(k, n)}" for k, n in FC]
    assert lines[1:] == want
    # the planner's per-layer figure is the larger path's need
    from qnnc.kernel_params import ConvParams
    p = ConvParams(input_offset=0, output_offset=0, stride_h=1, stride_w=1, pad_top=1, pad_left=1)
    # (a 3x3 layer over 16 channels: Helium's column strip of one output column, 10 groups of 3
    # taps x 16 channels, instead of two columns)
    assert ks.conv_scratch_bytes(p, (1, 8, 8, 16), (32, 3, 3, 16), (1, 8, 8, 32)) == \
        max(4 * 144 + 16, 4 * 32 + 8 * 32 + 2 * 144, 4 * 32 + 8 * 32 + 10 * 48) == 864
    # the strip: stride 2 reads (out_h - 1) * 2 + k_h groups; a first layer's groups of 3 taps x 3
    # channels (K = 27: the last step predicated); none for dilation, 1x1 read in place, or the
    # outer-product shape
    p2 = ConvParams(input_offset=0, output_offset=0, stride_h=2, stride_w=2, pad_top=1, pad_left=1)
    assert ks.conv_mve_strip_bytes(p2, (1, 9, 8, 16), (16, 3, 3, 16), (1, 5, 4, 16)) == 64 + 128 + 11 * 48
    assert ks.conv_mve_strip_bytes(p, (1, 8, 8, 3), (16, 3, 3, 3), (1, 8, 8, 16)) == 64 + 128 + 10 * 9
    pd = ConvParams(input_offset=0, output_offset=0, stride_h=1, stride_w=1, pad_top=2, pad_left=2,
                    dilation_h=2, dilation_w=2)
    assert ks.conv_mve_strip_bytes(pd, (1, 8, 8, 16), (16, 3, 3, 16), (1, 8, 8, 16)) == 0
    p0 = ConvParams(input_offset=0, output_offset=0, stride_h=1, stride_w=1, pad_top=0, pad_left=0)
    assert ks.conv_mve_strip_bytes(p0, (1, 8, 8, 16), (16, 1, 1, 16), (1, 8, 8, 16)) == 0
    assert ks.conv_mve_strip_bytes(p0, (1, 8, 8, 16), (16, 2, 1, 16), (1, 7, 8, 16)) == 64 + 128 + 8 * 16
    assert ks.conv_mve_strip_bytes(p0, (1, 8, 8, 32), (1, 1, 1, 32), (1, 8, 8, 1)) == 0  # outer-product shape
    assert ks.depthwise_scratch_bytes(p, 64, (1, 5, 5, 64), (8, 8)) == max(16 * 25, 16 * 25 + 4) == 404
    # 3x3 stride 1 on the DSP cores: 16 int16 rows of the longer output side (rounded up to 4, + 4)
    # and 24 words of weight pairs; maps of at most 8x8 every line a window reads (the plane: 4
    # channels' shorter side + 2 rows); below 4 channels the Helium need only
    assert ks.depthwise_scratch_bytes(p, 64, (1, 3, 3, 64), (8, 8)) == 2 * 4 * 10 * 12 + 100 == 1060
    assert ks.depthwise_scratch_bytes(p, 64, (1, 3, 3, 64), (6, 3)) == 2 * 4 * 5 * 12 + 100 == 580
    assert ks.depthwise_scratch_bytes(p, 64, (1, 3, 3, 64), (9, 8)) == 32 * 16 + 100 == 612
    assert ks.depthwise_scratch_bytes(p, 64, (1, 3, 3, 64), (25, 5)) == 32 * 32 + 100 == 1124
    assert ks.depthwise_scratch_bytes(p, 3, (1, 3, 3, 3), (25, 5)) == 148
    p2 = ConvParams(input_offset=0, output_offset=0, stride_h=2, stride_w=2, pad_top=1, pad_left=1)
    assert ks.depthwise_scratch_bytes(p2, 64, (1, 3, 3, 64), (8, 8)) == 148
    # a conv with channel-pair weights (plan/paired_conv.py): three q15 columns on the DSP cores
    assert ks.conv_scratch_bytes(p, (1, 8, 8, 16), (32, 3, 3, 16), (1, 8, 8, 32), paired=True) == \
        max(6 * 144, 4 * 32 + 8 * 32 + 2 * 144) == 864
    assert ks.conv_paired_dsp_bytes(27, 3) == 6 * 28 + 3 * 32  # a first layer: the int8 windows too
    # int4 conv, DSP: two q15 columns (and the int8 window for in_c % 8; the realigned filter for K % 8)
    assert ks.conv_s4_dsp_bytes(576, 64, 64) == 4 * 576
    assert ks.conv_s4_dsp_bytes(40, 1, 64) == 5 * 40
    assert ks.conv_s4_dsp_bytes(27, 3, 16) == 4 * 32 + 32 + 16 * 16  # IC's first layer, realigned
    assert ks.conv_s4_dsp_bytes(147, 3, 64) == 0  # a 7x7x3 first layer: 4,736 B realigned
    assert ks.conv_s4_dsp_bytes(64, 64, 64, input_offset=-128) == 0
    # int4 conv: filters of at most 4,096 weights unpacked ahead of the int8 kernel's scratch
    assert ks.conv_s4_unpack_bytes(64, 64, 64, True, helium=True) == 4096 + ks.conv_mve_bytes(64, 64, True) == 4608
    assert ks.conv_s4_unpack_bytes(64, 64, 64, True, helium=False) == 4096 + ks.conv_dsp_bytes(64, 64, 64) == 4368
    assert ks.conv_s4_unpack_bytes(576, 64, 64, False, helium=True) == 0
    # KWS's pointwise layer (no padding: Helium reads it in place): the Helium need; IC's 3x3x64
    # layer: the DSP columns
    p0 = ConvParams(input_offset=0, output_offset=0, stride_h=1, stride_w=1, pad_top=0, pad_left=0)
    assert ks.conv_s4_scratch_bytes(p0, (1, 8, 8, 64), (64, 1, 1, 64), (1, 8, 8, 64)) == 4608
    assert ks.conv_s4_scratch_bytes(p, (1, 8, 8, 64), (64, 3, 3, 64), (1, 8, 8, 64)) == 4 * 576
    # the Helium columns: weight sums and two int8 columns (even K only)
    assert ks.conv_s4_mve_bytes(576, 64) == 4 * 64 + 2 * 576
    assert ks.conv_s4_mve_bytes(27, 16) == 0
    # int4 depthwise: the unpacked filter (rounded up to 4 bytes) ahead of the int8 kernel's need
    assert ks.depthwise_s4_scratch_bytes(p, 64, (1, 3, 3, 64), (8, 8)) == 576 + 1060
    assert ks.depthwise_s4_scratch_bytes(p, 3, (1, 3, 3, 3), (8, 8)) == 28 + 148
    assert ks.depthwise_s4_scratch_bytes(p, 64, (1, 9, 9, 64), (8, 8)) == 0  # 81 taps: not on the int8 SIMD path
    assert ks.fully_connected_scratch_bytes(3, 10) == 0  # K < 4: portable on every core
    # 16x8 conv, DSP: two repacked int16 columns and a window, for whole groups of 4 taps and
    # int32 sums (K <= 511); none with an input offset (the SIMD paths decline those layers)
    assert ks.conv_s16_scratch_bytes(40) == 240 and ks.conv_s16_scratch_bytes(508) == 6 * 508
    assert ks.conv_s16_scratch_bytes(27) == ks.conv_s16_scratch_bytes(512) == 0
    assert ks.conv_s16_scratch_bytes(64, input_offset=5) == 0
    # (the Helium path's two natural-order windows, 4 K, fit in the DSP path's 6 K: one figure serves both)


def test_kws_scratch_is_placed_over_dead_tensors(tmp_path):
    res = build(str(KWS / "kws.onnx"), load_config(str(KWS / "kws.yaml")), str(tmp_path / "gen"), "kws",
                progress=False)
    plan, model = res.plan, res.compiled.model
    assert plan.arena_size == 16000  # portable kernels: no scratch, the lower bound
    assert set(plan.kernel_scratch) == {i for i, op in enumerate(model.ops)
                                        if op.kind in ("conv", "depthwise_conv", "fully_connected")}
    for i, (off, n) in plan.kernel_scratch.items():
        assert n == ks.op_scratch_bytes(model.ops[i], model) > 0
        assert off % 4 == 0 and off + n <= plan.simd_arena_size
        for b in plan.buffers:
            if b.first <= i <= b.last and not b.external:
                assert off + n <= b.offset or b.offset + b.size <= off, (i, b)
    # the 3x3 depthwise layers at the peak (input and output live, 16000 B): the DSP path's channel
    # rows along the 25-pixel side, 16 int16 rows of 32 + 24 words of weight pairs = 1,124 B (the
    # pointwise convs' Helium need, 4 * 64 + 8 * 32 = 512 B, fits under it)
    assert plan.simd_arena_size == 16000 + 32 * 32 + 100 == 17124
    h = (tmp_path / "gen" / "kws.h").read_text()
    assert "#define KWS_ARENA_SIZE 17124\n#else\n#define KWS_ARENA_SIZE 16000\n" in h
    c = (tmp_path / "gen" / "kws.c").read_text()
    assert c.count("qnnc_depthwise_conv_s8(KWS_SCRATCH(") == 4
    # the first conv (10x4 over one channel) runs the portable im2col path on targets without
    # SIMD paths: its two int16 columns (4 * 40 + 4 B) sit in a gap inside the 16000 B arena
    first = next(i for i, op in enumerate(model.ops) if op.kind == "conv")
    assert model.ops[first].attrs["filter_dims"] == (64, 10, 4, 1)
    assert set(plan.portable_scratch) == {first}
    off, n = plan.portable_scratch[first]
    assert n == 164 and off % 4 == 0 and off + n <= plan.arena_size
    for b in plan.buffers:
        if b.first <= first <= b.last and not b.external:
            assert off + n <= b.offset or b.offset + b.size <= off, b
    # (every KWS conv takes the channel-pair weights on the DSP cores: the call names both copies)
    assert c.count("QNNC_CONV_S8_PAIRED_CALL(KWS_SCRATCH_ALL(") == 1


PORTABLE_MAIN = r"""
#include <stdio.h>
#include "qnnc_kernels.h"
static const int conv[][6] = {%(conv)s}; /* unused, kh, kw, in_c, dilation_w, out_c */
int main(void)
{
    size_t i;
    for (i = 0; i < sizeof conv / sizeof conv[0]; ++i) {
        qnnc_conv_params p = {0};
        qnnc_dims in_d = {1, 16, 16, conv[i][3]}, f_d = {conv[i][5], conv[i][1], conv[i][2], conv[i][3]};
        qnnc_dims out_d = {1, 8, 8, conv[i][5]};
        p.stride_h = p.stride_w = 1;
        p.dilation_h = 1;
        p.dilation_w = conv[i][4];
        (void)conv[i][0];
        printf("%%d\n", (int)qnnc_conv_s8_get_buffer_size(&p, &in_d, &f_d, &out_d));
    }
    return 0;
}
"""


def test_portable_im2col_choice_mirrors_the_kernel(tmp_path):
    """On a target without SIMD paths, qnnc_conv_s8_get_buffer_size asks for the im2col columns
    exactly where kernel_scratch.conv_cols_bytes says (the planner reserves them from that)."""
    from qnnc.kernel_params import ConvParams
    shapes = [(0, kh, kw, ic, dw, oc) for kh, kw in ((1, 1), (3, 3), (5, 5), (10, 4), (1, 7), (7, 1))
              for ic in (1, 2, 3, 8, 16, 64) for dw in (1, 2) for oc in (1, 2, 8, 16, 32, 64)]
    src = tmp_path / "portable.c"
    src.write_text(PORTABLE_MAIN % {"conv": ", ".join("{%d, %d, %d, %d, %d, %d}" % s for s in shapes)})
    exe = compile_c([src, *kernel_sources(["qnnc_conv_s8"])], [include_dir()], tmp_path / "portable",
                    extra_flags=["-DQNNC_PORTABLE_ONLY"])
    got = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()]
    want = [ks.conv_cols_bytes(ConvParams(input_offset=0, output_offset=0, stride_h=1, stride_w=1, pad_top=0,
                                          pad_left=0, dilation_w=dw), (oc, kh, kw, ic), oc)
            for _, kh, kw, ic, dw, oc in shapes]
    assert got == want
    # both choices occur in this grid, and the columns never exceed the DSP path's reservation
    assert 0 < sum(1 for v in want if v) < len(want)
    assert all(v <= ks.conv_dsp_bytes(kh * kw * ic, ic, oc) for v, (_, kh, kw, ic, _, oc) in zip(want, shapes))
