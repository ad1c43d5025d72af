"""Scratch bytes the kernel paths need per layer (mirrors of ``qnnc_kernels.h``).

The C kernels ``qnnc_conv_s8``, ``qnnc_depthwise_conv_s8`` and ``qnnc_fully_connected_s8``
take a ``qnnc_buffer`` with the working memory of the path compiled in (Armv7E-M DSP or
Helium); ``qnnc_<kernel>_s8_get_buffer_size()`` returns what that path needs, using the
``QNNC_*_BUFFER_SIZE`` macros and limits of the header. The generated C is compiled for a
target the generator does not know, so the planner reserves the larger of the two paths'
needs (one function per kernel below, the same formulas) for each layer; a kernel given less
than it needs runs its portable path, so a mismatch costs speed, never correctness.
``tests/test_kernel_scratch.py`` checks these against the header's macros.
"""
from __future__ import annotations

# Defaults of the header's limits (a firmware may raise them; the kernels then fall back
# to the portable path for the larger layers, since the planner reserved less).
CONV_MAX_K = 2048
DW_MAX_TAPS = 64
FC_MAX_K = 4096
CONV_OC_BLOCK = 32
CONV_S4_REALIGN_MAX = 2048
CONV_S4_UNPACK_MAX = 4096
# 16x8 SIMD paths: sums of at most this many products (each up to 2^22) stay in int32
# (qnnc_s16_sums_fit); longer ones take int64 accumulators.
S16_INT32_MAX_K = 511

# The kernels whose SIMD paths take scratch (the int4 conv: its DSP path's columns; the int4
# depthwise: its unpacked filter and the int8 kernel's scratch; the 16x8 conv: its SIMD paths'
# two-pixel windows; the int4 FC and the other int16 kernels have none).
SCRATCH_KERNELS = ("qnnc_conv_s8", "qnnc_depthwise_conv_s8", "qnnc_fully_connected_s8", "qnnc_conv_s4",
                   "qnnc_depthwise_conv_s4", "qnnc_conv_s16")


def conv_dsp_bytes(k: int, in_c: int, out_c: int) -> int:
    """``QNNC_CONV_DSP_BUFFER_SIZE``: two q15 columns, int8 window, and for K % 4 != 0 with an even
    out_c the last two filter rows zero-padded (the fast loops read up to 3 bytes past a row)."""
    last_rows = ((2 * k + 7) & ~3) if k & 3 and out_c % 2 == 0 else 0
    return 4 * (k & ~3) + 16 + (((k + 7) & ~3) if in_c & 3 else 0) + last_rows


def conv_paired_dsp_bytes(k: int, in_c: int) -> int:
    """``QNNC_CONV_PAIRED_DSP_BUFFER_SIZE`` (qnnc_conv_s8_paired's DSP path): three q15 columns of
    K rounded up to 4, and the three pixels' int8 windows when in_c % 4 != 0."""
    return 6 * ((k + 3) & ~3) + (3 * ((k + 7) & ~3) if in_c & 3 else 0)


def conv_mve_outer_bytes(k: int, out_c: int) -> int:
    """The ``QNNC_CONV_MVE_OUTER`` part of ``QNNC_CONV_MVE_BUFFER_SIZE``: the outer-product path's
    (at most 16 output channels, blocks of 8 channels x K <= 32) tap-major weights and 3 words a
    channel of requantization constants, out_c rounded up to 8."""
    return (k + 12) * ((out_c + 7) & ~7) if _mve_outer(k, out_c) else 0


def _mve_outer(k: int, out_c: int) -> bool:
    """``QNNC_CONV_MVE_OUTER``: the shape of the outer-product path (at most 16 output channels,
    blocks of 8 channels x K <= 32)."""
    return out_c <= 16 and ((out_c + 7) >> 3) * k <= 32


def conv_mve_bytes(k: int, out_c: int, direct: bool) -> int:
    """``QNNC_CONV_MVE_BUFFER_SIZE``: folded bias, 2 x block accumulators, two int8 columns, the
    outer-product weights."""
    return (4 * out_c + 8 * min(out_c, CONV_OC_BLOCK) + (0 if direct else 2 * ((k + 15) & ~15)) +
            conv_mve_outer_bytes(k, out_c))


def conv_mve_strip_size(out_c: int, groups: int, g: int) -> int:
    """``QNNC_CONV_MVE_STRIP_SIZE``: folded bias, block accumulators, `groups` kernel-row groups of
    g bytes."""
    return 4 * out_c + 8 * min(out_c, CONV_OC_BLOCK) + groups * g


def conv_mve_strip_bytes(params, in_shape, filter_dims, out_shape) -> int:
    """``QNNC_CONV_MVE_STRIP_SIZE`` where ``qnnc_conv_strip_groups`` takes the layer (no dilation,
    not read in place, not the outer-product shape): folded bias, block accumulators and the column
    strip of one output column; else 0."""
    k_h, k_w, in_c = filter_dims[1], filter_dims[2], in_shape[3]
    k, out_c = k_h * k_w * in_c, out_shape[3]
    if (params.dilation_h != 1 or params.dilation_w != 1 or
            _mve_outer(k, out_c) or _direct(params, in_shape, filter_dims, out_shape)):
        return 0
    return conv_mve_strip_size(out_c, (out_shape[1] - 1) * params.stride_h + k_h, k_w * in_c)


def conv_scratch_bytes(params, in_shape, filter_dims, out_shape, paired: bool = False) -> int:
    """Bytes ``qnnc_conv_s8`` may ask for (max over the DSP and Helium paths); shapes NHWC,
    filter_dims (out_c, kh, kw, in_c). ``paired``: the DSP builds call ``qnnc_conv_s8_paired``
    (plan/paired_conv.py)."""
    in_c, out_c = in_shape[3], out_shape[3]
    k = filter_dims[1] * filter_dims[2] * in_c
    if k > CONV_MAX_K or out_c > CONV_MAX_K:
        return 0
    direct = _direct(params, in_shape, filter_dims, out_shape)
    return max(_conv_dsp(k, in_c, out_c, paired), conv_mve_bytes(k, out_c, direct),
               conv_mve_strip_bytes(params, in_shape, filter_dims, out_shape))


def _conv_dsp(k: int, in_c: int, out_c: int, paired: bool) -> int:
    """The DSP path's need: the paired kernel's, or qnnc_conv_s8's (K >= 4)."""
    if paired:
        return conv_paired_dsp_bytes(k, in_c)
    return conv_dsp_bytes(k, in_c, out_c) if k >= 4 else 0


def _direct(params, in_shape, filter_dims, out_shape) -> bool:
    """The Helium conv reads the input pixels in place (1x1 without padding): qnnc_conv_direct."""
    (_, in_h, in_w, _), (_, out_h, out_w, _) = in_shape, out_shape
    return (filter_dims[1] == 1 and filter_dims[2] == 1 and params.pad_top == 0 and params.pad_left == 0
            and (out_h - 1) * params.stride_h < in_h and (out_w - 1) * params.stride_w < in_w)


def conv_cols_bytes(params, filter_dims, out_c: int) -> int:
    """``QNNC_CONV_COLS_BUFFER_SIZE`` where ``qnnc_conv_cols_pays`` picks the portable im2col
    path (windows of many short runs: few input channels), else 0; filter_dims (out_c, kh, kw,
    in_c). Never more than the DSP path's need, so on SIMD targets it fits the same place."""
    kh, kw, in_c = filter_dims[1], filter_dims[2], filter_dims[3]
    k = kh * kw * in_c
    runs = kh if params.dilation_w == 1 else kh * kw
    if k < 4 or k > CONV_MAX_K or (runs - 1) * out_c * 11 <= 4 * k:
        return 0
    return 4 * k + 4


def dw_dsp_bytes(taps: int) -> int:
    """``QNNC_DW_DSP_BUFFER_SIZE``: the widened weights of 4 channels, 2 words a tap; a 3x3 kernel
    also keeps them transposed (its 2-row border windows run as 2-column ones)."""
    return (16 if taps == 9 else 8) * taps


def dw_dsp_rows_lines(out_h: int, out_w: int) -> int:
    """``QNNC_DW_DSP_ROWS_LINES``: int16 rows a channel of the channel-rows path, 4 (a ring of 3
    input lines and a zero row), or on maps of at most 8x8 the plane: the shorter side + 2."""
    return min(out_h, out_w) + 2 if out_h <= 8 and out_w <= 8 else 4


def dw_dsp_rows_bytes(out_h: int, out_w: int) -> int:
    """``QNNC_DW_DSP_ROWS_BUFFER_SIZE``: the channel-rows path of 3x3 stride-1 layers, 4 channels'
    ``dw_dsp_rows_lines`` int16 rows of the longer output side rounded up to 4, + 4, and 24 words
    of weight pairs, 8-byte aligned (+4)."""
    return 8 * dw_dsp_rows_lines(out_h, out_w) * (((max(out_h, out_w) + 3) & ~3) + 4) + 96 + 4


def dw_dsp_rows_layer(params, filter_dims) -> bool:
    """``QNNC_DW_DSP_ROWS_LAYER``: a 3x3 stride-1 dilation-1 depthwise layer."""
    return (filter_dims[1] == 3 and filter_dims[2] == 3 and params.stride_h == 1 and params.stride_w == 1
            and params.dilation_h == 1 and params.dilation_w == 1)


def depthwise_scratch_bytes(params, in_c: int, filter_dims, out_hw) -> int:
    """Bytes ``qnnc_depthwise_conv_s8`` may ask for; filter_dims (1, kh, kw, out_c), out_hw the
    output's (height, width)."""
    taps = filter_dims[1] * filter_dims[2]
    if params.depth_multiplier != 1 or taps > DW_MAX_TAPS:
        return 0
    dsp = 0
    if in_c >= 4:
        dsp = dw_dsp_rows_bytes(*out_hw) if dw_dsp_rows_layer(params, filter_dims) else dw_dsp_bytes(taps)
    return max(dsp, 16 * taps + 4)


def conv_s4_dsp_bytes(k: int, in_c: int, out_c: int, input_offset: int = 0) -> int:
    """``qnnc_conv_s4_cols_size``, the DSP path for larger filters: two q15 columns of K rounded up to 8,
    the int8 window when in_c is not a multiple of 8, and the realigned filter when K is not (at
    most ``CONV_S4_REALIGN_MAX`` bytes, else 0); 0 where the zero point does not fit int8."""
    k8 = (k + 7) & ~7
    realign = out_c * (k8 // 2) if k % 8 else 0
    if k > CONV_MAX_K or out_c > CONV_MAX_K or not -127 <= input_offset <= 128 or realign > CONV_S4_REALIGN_MAX:
        return 0
    return 4 * k8 + (k8 if in_c % 8 else 0) + realign


def conv_s4_unpack_bytes(k: int, in_c: int, out_c: int, direct: bool, helium: bool, strip: int = 0) -> int:
    """The unpacking path of ``qnnc_conv_s4`` on a SIMD target: a filter of at most
    ``CONV_S4_UNPACK_MAX`` weights unpacked to int8 ahead of ``qnnc_conv_s8``'s scratch on that
    path (on Helium the larger of the columns and the column strip, ``strip``:
    ``conv_mve_strip_bytes``); 0 where it is not taken."""
    if k > CONV_MAX_K or out_c > CONV_MAX_K or k * out_c > CONV_S4_UNPACK_MAX or (not helium and k < 4):
        return 0
    int8_need = max(conv_mve_bytes(k, out_c, direct), strip) if helium else conv_dsp_bytes(k, in_c, out_c)
    return ((k * out_c + 3) & ~3) + int8_need


def conv_s4_scratch_bytes(params, in_shape, filter_dims, out_shape, band: bool = False) -> int:
    """Bytes ``qnnc_conv_s4`` may ask for (max over the DSP and Helium paths): small filters
    unpacked for the int8 kernel; larger ones take the paths' two-pixel columns."""
    in_c, out_c = in_shape[3], out_shape[3]
    k = filter_dims[1] * filter_dims[2] * in_c
    direct = not band and _direct(params, in_shape, filter_dims, out_shape)
    dsp = conv_s4_unpack_bytes(k, in_c, out_c, direct, helium=False) or \
        conv_s4_dsp_bytes(k, in_c, out_c, params.input_offset)
    # (a band's strip is at most the whole layer's: its output rows are fewer)
    strip = conv_mve_strip_bytes(params, in_shape, filter_dims, out_shape)
    mve = conv_s4_unpack_bytes(k, in_c, out_c, direct, helium=True, strip=strip) or \
        conv_s4_mve_bytes(k, out_c, params.input_offset)
    return max(dsp, mve)


def conv_s4_mve_bytes(k: int, out_c: int, input_offset: int = 0) -> int:
    """``qnnc_conv_s4_mve_cols_size``, the Helium path for larger filters: the channels' weight
    sums and two int8 columns of K rounded up to 32, for an even K and an int8 zero point."""
    if k % 2 or k > CONV_MAX_K or out_c > CONV_MAX_K or not -127 <= input_offset <= 128:
        return 0
    return 4 * out_c + 2 * ((k + 31) & ~31)


def depthwise_s4_scratch_bytes(params, in_c: int, filter_dims, out_hw) -> int:
    """``qnnc_depthwise_conv_s4_get_buffer_size``: the filter unpacked to int8
    (``QNNC_CONV_S4_UNPACKED_SIZE``) ahead of the int8 kernel's scratch, where the int8 SIMD path
    takes the layer; filter_dims (1, kh, kw, out_c)."""
    int8_need = depthwise_scratch_bytes(params, in_c, filter_dims, out_hw)
    if int8_need == 0:
        return 0
    return ((filter_dims[1] * filter_dims[2] * filter_dims[3] + 3) & ~3) + int8_need


def conv_s16_scratch_bytes(k: int, input_offset: int = 0) -> int:
    """``qnnc_conv_s16_get_buffer_size``, the larger of its paths' needs: DSP two repacked int16
    columns and a window (``QNNC_CONV_S16_DSP_BUFFER_SIZE`` = 6 K; Helium's two windows are 4 K),
    for whole groups of 4 taps, int32 sums (K <= 511) and input offset 0; else 0."""
    if input_offset != 0 or k % 4 or not 4 <= k <= S16_INT32_MAX_K:
        return 0
    return 6 * k


def fully_connected_scratch_bytes(in_features: int, out_features: int) -> int:
    """Bytes ``qnnc_fully_connected_s8`` may ask for (the Helium path needs none)."""
    if in_features > FC_MAX_K or in_features < 4 or out_features > FC_MAX_K:
        return 0
    return 4 * (in_features // 2 + 2)


def op_scratch_bytes(op, model) -> int:
    """Kernel scratch of one QOp: 0 for kernels without SIMD scratch; a patch segment needs
    the most of its sub-ops (its band calls share one buffer)."""
    if op.kind == "patch_segment":
        return max((_conv_like(sub, model, band=True) for sub in op.attrs["ops"]), default=0)
    if op.kernel not in SCRATCH_KERNELS:
        return 0
    if op.kind == "fully_connected":
        return fully_connected_scratch_bytes(op.attrs["in_features"], op.attrs["out_features"])
    return _conv_like(op, model, band=False)


def _conv_like(op, model, band: bool) -> int:
    if op.kernel not in SCRATCH_KERNELS or op.kind not in ("conv", "depthwise_conv"):
        return 0
    in_shape = tuple(model.tensors[op.inputs[0]].shape)
    out_shape = tuple(model.tensors[op.output].shape)
    if op.kernel == "qnnc_conv_s16":
        fd = op.attrs["filter_dims"]
        return conv_s16_scratch_bytes(fd[1] * fd[2] * in_shape[3], op.params.input_offset)
    if op.kernel == "qnnc_conv_s4":
        return conv_s4_scratch_bytes(op.params, in_shape, op.attrs["filter_dims"], out_shape, band)
    if op.kind == "depthwise_conv":
        if op.kernel == "qnnc_depthwise_conv_s4":
            return depthwise_s4_scratch_bytes(op.params, in_shape[3], op.attrs["filter_dims"], out_shape[1:3])
        return depthwise_scratch_bytes(op.params, in_shape[3], op.attrs["filter_dims"], out_shape[1:3])
    if band:  # band calls have other pads/heights: reserve the non-direct (larger) Helium need
        k = op.attrs["filter_dims"][1] * op.attrs["filter_dims"][2] * in_shape[3]
        if k > CONV_MAX_K or out_shape[3] > CONV_MAX_K:
            return 0
        return max(_conv_dsp(k, in_shape[3], out_shape[3], bool(op.attrs.get("paired_weights"))),
                   conv_mve_bytes(k, out_shape[3], False),
                   conv_mve_strip_bytes(op.params, in_shape, op.attrs["filter_dims"], out_shape))
    return conv_scratch_bytes(op.params, in_shape, op.attrs["filter_dims"], out_shape,
                              bool(op.attrs.get("paired_weights")))


def op_portable_scratch_bytes(op, model) -> int:
    """Kernel scratch one QOp uses on targets without SIMD paths (the portable conv's im2col
    columns; the planner places it only in a gap of the portable arena); 0 for the others."""
    if op.kind != "conv" or op.kernel != "qnnc_conv_s8":
        return 0
    return conv_cols_bytes(op.params, op.attrs["filter_dims"], model.tensors[op.output].shape[3])


def recurrent_scratch_bytes(op) -> int:
    """Arena working memory of ``qnnc_lstm_s8`` / ``qnnc_gru_s8`` (``qnnc_{lstm,gru}_s8_get_buffer_size``):
    LSTM int16 gates [4H] + int16 cell [H] + int8 h [H]; GRU int16 gates [4H] + int8 h [H] + int8 r*h [H];
    rounded up to 4 bytes. 0 for other ops."""
    if op.kind not in ("lstm", "gru"):
        return 0
    h = op.attrs["directions"][0].hidden_size
    n = 11 * h if op.kind == "lstm" else 10 * h
    return (n + 3) & ~3
