/*
 * qnnc_conv_s4_dsp.c - the Armv7E-M DSP path of qnnc_conv_s4 (__ARM_FEATURE_DSP without Helium:
 * Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_conv_s4.c). The packed-int4 dot products it shares with qnnc_fully_connected_s4_dsp.c are
 * in qnnc_s4_internal.h.
 *
 * With scratch (qnnc_conv_s4_cols_size): two output pixels at a time, their windows
 * widened once into q15 columns (offset added, padding taps 0) in the lane order of the nibble
 * unpacking below, then two channels x two pixels per pass with the weights unpacked once for
 * both pixels (qnnc_s4_cols2x2_dsp, 1.27 instructions per MAC in the loop). Without it, per
 * output pixel, two output channels at a time: each in-range row of the window is one
 * contiguous run of kw * in_c inputs (dilation_w 1) or in_c per tap, and its weights one
 * contiguous run of nibbles. Eight weights are one word W: (W << 4) & 0xF0F0F0F0 and
 * W & 0xF0F0F0F0 hold the even and the odd nibbles in the high halves of bytes, so SXTB16 gives
 * int16 pairs 16 * (w0, w4), (w2, w6), (w1, w5), (w3, w7) with no further shifts; the inputs
 * (plus the offset, SXTAB16) are paired to match with PKHBT / PKHTB, once for both channels.
 * SMLAD then sums 16 * w * (x + offset) (each product |16 * 8 * 255| < 2^15); the sum divided
 * by 16 is exact. Small windows (kw * in_c < 16, e.g. a first layer with one input channel) are
 * first copied to a 64-byte stack column with padding taps at the input zero point (they add
 * w * 0), so the whole filter is one run.
 */
#include "qnnc_internal.h"
#include "qnnc_s4_internal.h"

#if QNNC_PATH_DSP

/* A layer's constants for qnnc_s4_px_dsp. */
typedef struct {
    const int8_t *filter;
    const int32_t *bias, *mult, *shift;
    const int8_t *act_lut;
    int32_t out_c, fsize, off, lo, hi, output_offset, rounding;
} qnnc_s4_conv_k;

#define QNNC_S4_RUNS 16 /* most runs (window rows, or taps) per pixel of qnnc_s4_px_dsp */

/* One output pixel, every output channel, two at a time: the sum over nrun runs of len inputs,
 * run r at x[r] with its weights from nibble ws[r] of the channel's filter (fsize and every ws[r]
 * even, fsize <= 2^15), then the output stage. */
static QNNC_LOOP_ATTR void qnnc_s4_px_dsp(const qnnc_s4_conv_k *k, const int8_t *const *xr, const int32_t *ws,
                                          int32_t nrun, int32_t len, int8_t *out)
{
    const int32_t off2 = qnnc_dsp_pack2(k->off), len8 = len & ~7, half = k->fsize >> 1;
    int32_t oc, r, j;
    for (oc = 0; oc < k->out_c; oc += 2) {
        const int32_t two = k->out_c - oc >= 2 ? 2 : 1;
        const int8_t *f0 = k->filter + oc * half;
        const int8_t *f1 = two == 2 ? f0 + half : f0; /* one channel: the second repeats the first */
        int32_t a0 = 0, a1 = 0, t0 = 0, t1 = 0;
        for (r = 0; r < nrun; ++r) {
            const int8_t *x = xr[r], *end = x + len8;
            const int8_t *p0 = f0 + (ws[r] >> 1), *p1 = f1 + (ws[r] >> 1);
            while (x != end) {
                qnnc_s4_step8_dsp(x, p0, p1, off2, &a0, &a1);
                x += 8;
                p0 += 4;
                p1 += 4;
            }
            for (j = len8; j < len; ++j) { /* the last len % 8 */
                const int32_t xv = (int32_t)xr[r][j] + k->off;
                t0 += qnnc_s4_weight(f0, ws[r] + j) * xv;
                t1 += qnnc_s4_weight(f1, ws[r] + j) * xv;
            }
        }
        t0 += a0 >> 4; /* exact: every term of a0, a1 is a multiple of 16 */
        t1 += a1 >> 4;
        if (k->bias != NULL) {
            t0 += k->bias[oc];
            t1 += k->bias[oc + two - 1];
        }
        out[oc] = qnnc_s4_out_dsp(t0, k->mult[oc], k->shift[oc], k->lo, k->hi, k->output_offset, k->act_lut,
                                  k->rounding);
        if (two == 2) {
            out[oc + 1] = qnnc_s4_out_dsp(t1, k->mult[oc + 1], k->shift[oc + 1], k->lo, k->hi, k->output_offset,
                                          k->act_lut, k->rounding);
        }
    }
}

/* ------------------------------------------------ two pixels from q15 columns -- */

/* Eight inputs at px plus the offset as the column words (x0, x4), (x2, x6), (x1, x5), (x3, x7):
 * the lane order the nibble unpacking gives. */
QNNC_INLINE void qnnc_s4_widen8_dsp(const int8_t *px, int32_t off2, uint32_t *dst)
{
    const uint32_t v0 = qnnc_dsp_rd32(px), v1 = qnnc_dsp_rd32(px + 4);
    const int32_t e0 = __sxtab16(off2, (int32_t)v0), e1 = __sxtab16(off2, (int32_t)v1);
    const int32_t o0 = qnnc_dsp_sxtab16_ror8(off2, v0), o1 = qnnc_dsp_sxtab16_ror8(off2, v1);
    dst[0] = (uint32_t)qnnc_dsp_pkhbt((uint32_t)e0, (uint32_t)e1);
    dst[1] = (uint32_t)qnnc_dsp_pkhtb((uint32_t)e0, (uint32_t)e1);
    dst[2] = (uint32_t)qnnc_dsp_pkhbt((uint32_t)o0, (uint32_t)o1);
    dst[3] = (uint32_t)qnnc_dsp_pkhtb((uint32_t)o0, (uint32_t)o1);
}

/* One pixel's q15 column for the window at (ih0, iw0): per group of 8 taps the words of
 * qnnc_s4_widen8_dsp, padding taps 0; groups 8 words apart (the other pixel's column fills the
 * other half). in_c % 8 == 0: straight from the input; else (first layers) the window is
 * gathered into raw first (K bytes rounded up to 8, padding taps and the taps past K at the
 * zero point: x + offset == 0). */
static void qnnc_s4_col_dsp(const qnnc_conv_params *params, const int8_t *in_b, int32_t in_h, int32_t in_w,
                            int32_t in_c, int32_t k_h, int32_t k_w, int32_t ih0, int32_t iw0, uint32_t *dst,
                            int8_t *raw)
{
    const int32_t off2 = qnnc_dsp_pack2(params->input_offset);
    int32_t kh, kw, c;
    if ((in_c & 7) != 0) {
        int8_t *r = raw;
        for (kh = 0; kh < k_h; ++kh) {
            const int32_t ih = ih0 + kh * params->dilation_h;
            for (kw = 0; kw < k_w; ++kw) {
                const int32_t iw = iw0 + kw * params->dilation_w;
                const int inside = ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;
                const int8_t *px = in_b + (inside ? (ih * in_w + iw) * in_c : 0);
                for (c = 0; c < in_c; ++c) {
                    *r++ = inside ? px[c] : (int8_t)(-params->input_offset);
                }
            }
        }
        for (c = k_h * k_w * in_c; (c & 7) != 0; ++c) {
            *r++ = (int8_t)(-params->input_offset);
        }
        for (c = 0; c < k_h * k_w * in_c; c += 8) {
            qnnc_s4_widen8_dsp(raw + c, off2, dst);
            dst += 8;
        }
        return;
    }
    for (kh = 0; kh < k_h; ++kh) {
        const int32_t ih = ih0 + kh * params->dilation_h;
        for (kw = 0; kw < k_w; ++kw) {
            const int32_t iw = iw0 + kw * params->dilation_w;
            if (ih >= 0 && ih < in_h && iw >= 0 && iw < in_w) {
                const int8_t *px = in_b + (ih * in_w + iw) * in_c;
                for (c = 0; c < in_c; c += 8) {
                    qnnc_s4_widen8_dsp(px + c, off2, dst);
                    dst += 8;
                }
            } else {
                for (c = 0; c < in_c; c += 8) {
                    dst[0] = dst[1] = dst[2] = dst[3] = 0u;
                    dst += 8;
                }
            }
        }
    }
}

#if defined(QNNC_DSP_ASM)
/* One group of 8 taps (13 registers, see QNNC_DSP_ASM): each channel's weight word, its even
 * nibbles widened for both pixels, then its odd ones; the column words by LDRD (pixel 0 read
 * twice per half: no register is left to keep it). */
#define QNNC_S4_COLS_HALF(shift_a, shift_b, x_p0, x_p1)                                      \
    shift_a "sxtb16 %[t1], %[t0]\n\t"                                                       \
            "sxtb16 %[t0], %[t0], ror #8\n\t"                                               \
            "ldrd %[x0], %[x1], [%[c], #" x_p0 "]\n\t"                                       \
            "smlad %[a00], %[t1], %[x0], %[a00]\n\t"                                        \
            "smlad %[a00], %[t0], %[x1], %[a00]\n\t"                                        \
            "ldrd %[x0], %[x1], [%[c], #" x_p1 "]\n\t"                                       \
            "smlad %[a01], %[t1], %[x0], %[a01]\n\t"                                        \
            "smlad %[a01], %[t0], %[x1], %[a01]\n\t" shift_b                                \
            "sxtb16 %[t1], %[t0]\n\t"                                                       \
            "sxtb16 %[t0], %[t0], ror #8\n\t"                                               \
            "smlad %[a11], %[t1], %[x0], %[a11]\n\t"                                        \
            "smlad %[a11], %[t0], %[x1], %[a11]\n\t"                                        \
            "ldrd %[x0], %[x1], [%[c], #" x_p0 "]\n\t"                                       \
            "smlad %[a10], %[t1], %[x0], %[a10]\n\t"                                        \
            "smlad %[a10], %[t0], %[x1], %[a10]\n\t"
#define QNNC_S4_COLS_GROUP                                                                   \
    "ldr %[wa], [%[w0]], #4\n\t"                                                            \
    "ldr %[wb], [%[w1]], #4\n\t" QNNC_S4_COLS_HALF(                                         \
        "lsl %[t0], %[wa], #4\n\tand %[t0], %[t0], #0xF0F0F0F0\n\t",                         \
        "lsl %[t0], %[wb], #4\n\tand %[t0], %[t0], #0xF0F0F0F0\n\t", "0", "16")              \
        QNNC_S4_COLS_HALF("and %[t0], %[wa], #0xF0F0F0F0\n\t", "and %[t0], %[wb], #0xF0F0F0F0\n\t", \
                          "8", "24") "add %[c], %[c], #32\n\t"
#define QNNC_S4_COLS_OPERANDS                                                                \
    [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [c] "+r"(c), [w0] "+r"(w0), \
    [w1] "+r"(w1), [wa] "=&r"(wa), [wb] "=&r"(wb), [t0] "=&r"(t0), [t1] "=&r"(t1), [x0] "=&r"(x0),    \
    [x1] "=&r"(x1)
#endif

/* 16 * the sums of the channels whose packed weights start at w0 and w1 over the column pair
 * [c, end) (group g: pixel 0 in words 8g .. 8g + 3, pixel 1 in 8g + 4 .. 8g + 7): acc[2 * ch +
 * pixel]. Per 8 taps of both channels and pixels: two weight words, their even and odd nibbles
 * widened by SXTB16 once for both pixels, four column words per pixel, 16 SMLAD. */
static QNNC_LOOP_ATTR void qnnc_s4_cols2x2_dsp(const uint32_t *c, const uint32_t *end, const int8_t *w0,
                                               const int8_t *w1, int32_t *acc)
{
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
#if defined(QNNC_DSP_ASM)
    uint32_t wa, wb, t0, t1, x0, x1;
    QNNC_DSP_ASM_LOOP2((((uintptr_t)end - (uintptr_t)c) & 32u) != 0u, QNNC_S4_COLS_GROUP, QNNC_S4_COLS_OPERANDS,
                       "c", "wa", c, end);
#else
    while (c != end) {
        const uint32_t wa = qnnc_dsp_rd32(w0), wb = qnnc_dsp_rd32(w1);
        int32_t ta = (int32_t)((wa << 4) & 0xF0F0F0F0u), tb = (int32_t)((wb << 4) & 0xF0F0F0F0u);
        int32_t a_lo = __sxtb16(ta), a_hi = qnnc_dsp_sxtb16_ror8((uint32_t)ta);
        int32_t b_lo = __sxtb16(tb), b_hi = qnnc_dsp_sxtb16_ror8((uint32_t)tb);
        a00 = __smlad(a_lo, (int32_t)c[0], a00);
        a00 = __smlad(a_hi, (int32_t)c[1], a00);
        a10 = __smlad(b_lo, (int32_t)c[0], a10);
        a10 = __smlad(b_hi, (int32_t)c[1], a10);
        a01 = __smlad(a_lo, (int32_t)c[4], a01);
        a01 = __smlad(a_hi, (int32_t)c[5], a01);
        a11 = __smlad(b_lo, (int32_t)c[4], a11);
        a11 = __smlad(b_hi, (int32_t)c[5], a11);
        ta = (int32_t)(wa & 0xF0F0F0F0u);
        tb = (int32_t)(wb & 0xF0F0F0F0u);
        a_lo = __sxtb16(ta);
        a_hi = qnnc_dsp_sxtb16_ror8((uint32_t)ta);
        b_lo = __sxtb16(tb);
        b_hi = qnnc_dsp_sxtb16_ror8((uint32_t)tb);
        a00 = __smlad(a_lo, (int32_t)c[2], a00);
        a00 = __smlad(a_hi, (int32_t)c[3], a00);
        a10 = __smlad(b_lo, (int32_t)c[2], a10);
        a10 = __smlad(b_hi, (int32_t)c[3], a10);
        a01 = __smlad(a_lo, (int32_t)c[6], a01);
        a01 = __smlad(a_hi, (int32_t)c[7], a01);
        a11 = __smlad(b_lo, (int32_t)c[6], a11);
        a11 = __smlad(b_hi, (int32_t)c[7], a11);
        c += 8;
        w0 += 4;
        w1 += 4;
    }
#endif
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* The conv over q15 columns of two pixels at a time, K rounded up to K8, a multiple of 8; cols:
 * the scratch, QNNC_CONV_S4_DSP_BUFFER_SIZE bytes: the columns (4 * K8), the raw window when
 * in_c % 8 != 0 (K8), and when K % 8 != 0 the filter realigned so that every channel's weights
 * start on a byte and end with zeros up to K8 (out_c * K8 / 2). */
static void qnnc_s4_conv_cols_dsp(const qnnc_s4_conv_k *k, const qnnc_conv_params *params,
                                  const qnnc_dims *input_dims, const int8_t *input, const qnnc_dims *filter_dims,
                                  const qnnc_dims *output_dims, uint32_t *cols, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t K = k->fsize, K8 = (K + 7) & ~7;
    const int32_t out_w = output_dims->w, out_c = k->out_c, half = K8 >> 1;
    const int32_t pixels = output_dims->h * out_w;
    const uint32_t *c_end = cols + K8; /* 8 words (two pixels) per group of 8 taps */
    int8_t *raw = (int8_t *)(cols + K8);
    const int8_t *filter = k->filter;
    int32_t b, p, oc, j;
    if (K != K8) { /* realigned after the raw window: a byte per two weights, zeros past K */
        int8_t *f = raw + K8;
        for (oc = 0; oc < out_c; ++oc) {
            for (j = 0; j < K8; j += 2) {
                const int32_t lo = j < K ? qnnc_s4_weight(k->filter, oc * K + j) : 0;
                const int32_t hi = j + 1 < K ? qnnc_s4_weight(k->filter, oc * K + j + 1) : 0;
                *f++ = (int8_t)(uint8_t)(((uint32_t)lo & 0xFu) | (((uint32_t)hi & 0xFu) << 4));
            }
        }
        filter = raw + K8;
    }
    /* every channel takes qnnc_dsp_rq_fast (TFLite rounding, no table): a lean output stage */
    int fast = k->rounding == QNNC_ROUND_TFLITE && k->act_lut == NULL;
    for (oc = 0; fast && oc < out_c; ++oc) {
        fast = qnnc_dsp_fast_ok(k->mult[oc], k->shift[oc]);
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        int8_t *out_b = output + b * pixels * out_c;
        for (p = 0; p < pixels; p += 2) {
            const int32_t two_px = pixels - p >= 2 ? 2 : 1;
            for (j = 0; j < 2; ++j) { /* a lone last pixel fills both columns */
                const int32_t q = p + (j < two_px ? j : 0);
                qnnc_s4_col_dsp(params, in_b, in_h, in_w, in_c, filter_dims->h, filter_dims->w,
                                (q / out_w) * params->stride_h - params->pad_top,
                                (q % out_w) * params->stride_w - params->pad_left, cols + 4 * j, raw);
            }
            for (oc = 0; oc < out_c; oc += 2) {
                const int32_t two = out_c - oc >= 2 ? 2 : 1;
                const int8_t *w0 = filter + oc * half;
                int32_t acc[4], ch, px;
                qnnc_s4_cols2x2_dsp(cols, c_end, w0, two == 2 ? w0 + half : w0, acc);
                for (ch = 0; ch < two; ++ch) {
                    const int32_t o = oc + ch;
                    for (px = 0; px < two_px; ++px) {
                        /* exact: every term is a multiple of 16 */
                        const int32_t v = (acc[2 * ch + px] >> 4) + (k->bias != NULL ? k->bias[o] : 0);
                        if (fast) {
                            int32_t r = qnnc_dsp_rq_fast(v, k->mult[o], -k->shift[o]);
                            r = r < k->lo ? k->lo : (r > k->hi ? k->hi : r);
                            out_b[(p + px) * out_c + o] = (int8_t)(r + k->output_offset);
                            continue;
                        }
                        out_b[(p + px) * out_c + o] = qnnc_s4_out_dsp(v, k->mult[o], k->shift[o], k->lo, k->hi,
                                                                      k->output_offset, k->act_lut, k->rounding);
                    }
                }
            }
        }
    }
}

#define QNNC_S4_COL 64 /* bytes of the stack column of small windows */

int qnnc_conv_dsp_s4(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                     const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                     const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                     const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t fsize = k_h * k_w * in_c;
    const int32_t off = params->input_offset, output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t row_run = dil_w == 1 ? k_w * in_c : in_c; /* longest contiguous run */
    const int use_col = row_run < 16 && fsize <= QNNC_S4_COL && off >= -127; /* -off fits int8 */
    int8_t col[QNNC_S4_COL];
    int32_t b, oh, ow, oc, kh, kw;
    /* qnnc_s4_px_dsp: every run starts at an even nibble of an even-sized filter */
    const int fast = (fsize & 1) == 0 && fsize <= 32768 &&
                     (use_col || ((in_c & 1) == 0 && (dil_w == 1 ? k_h : k_h * k_w) <= QNNC_S4_RUNS));
    const int32_t cols = qnnc_conv_s4_cols_size(params, input_dims, filter_dims, output_dims);
    qnnc_s4_conv_k k;
    k.filter = filter;
    k.bias = bias;
    k.mult = quant->multiplier;
    k.shift = quant->shift;
    k.act_lut = params->act_lut;
    k.out_c = out_c;
    k.fsize = fsize;
    k.off = off;
    k.lo = lo;
    k.hi = hi;
    k.output_offset = output_offset;
    k.rounding = params->rounding;
    if (cols > 0 && scratch != NULL && scratch->buf != NULL && scratch->size >= cols) {
        qnnc_s4_conv_cols_dsp(&k, params, input_dims, input, filter_dims, output_dims, (uint32_t *)scratch->buf,
                              output);
        return 1;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw0, kw1;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                if (use_col) { /* the window, padding taps at the zero point (x + off == 0) */
                    int8_t *d = col;
                    for (kh = 0; kh < k_h; ++kh) {
                        for (kw = 0; kw < k_w; ++kw) {
                            int32_t c;
                            if (kh >= kh0 && kh < kh1 && kw >= kw0 && kw < kw1) {
                                const int8_t *src = in_b + ((ih0 + kh * dil_h) * in_w + iw0 + kw * dil_w) * in_c;
                                for (c = 0; c < in_c; ++c) {
                                    *d++ = src[c];
                                }
                            } else {
                                for (c = 0; c < in_c; ++c) {
                                    *d++ = (int8_t)(-off);
                                }
                            }
                        }
                    }
                }
                if (fast) {
                    const int8_t *xr[QNNC_S4_RUNS];
                    int32_t ws[QNNC_S4_RUNS], nrun = 0, len = in_c;
                    if (use_col) {
                        xr[0] = col;
                        ws[0] = 0;
                        nrun = 1;
                        len = fsize;
                    } else if (kw1 > kw0) {
                        for (kh = kh0; kh < kh1; ++kh) {
                            const int8_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
                            if (dil_w == 1) {
                                xr[nrun] = row + (iw0 + kw0) * in_c;
                                ws[nrun++] = (kh * k_w + kw0) * in_c;
                                len = (kw1 - kw0) * in_c;
                            } else {
                                for (kw = kw0; kw < kw1; ++kw) {
                                    xr[nrun] = row + (iw0 + kw * dil_w) * in_c;
                                    ws[nrun++] = (kh * k_w + kw) * in_c;
                                }
                            }
                        }
                    }
                    qnnc_s4_px_dsp(&k, xr, ws, nrun, len, output);
                    output += out_c;
                    continue;
                }
                for (oc = 0; oc < out_c; oc += 2) {
                    const int32_t two = out_c - oc >= 2 ? 2 : 1;
                    int32_t acc[2], s[2], c;
                    for (c = 0; c < two; ++c) {
                        acc[c] = bias != NULL ? bias[oc + c] : 0;
                    }
                    if (use_col) {
                        s[0] = oc * fsize;
                        s[1] = s[0] + fsize;
                        qnnc_s4_dot_dsp(filter, s, two, col, fsize, off, acc);
                    } else {
                        for (kh = kh0; kh < kh1; ++kh) {
                            const int8_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
                            const int32_t w_row = oc * fsize + kh * k_w * in_c;
                            if (dil_w == 1 && kw1 > kw0) {
                                s[0] = w_row + kw0 * in_c;
                                s[1] = s[0] + fsize;
                                qnnc_s4_dot_dsp(filter, s, two, row + (iw0 + kw0) * in_c, (kw1 - kw0) * in_c, off,
                                                acc);
                            } else if (dil_w != 1) {
                                for (kw = kw0; kw < kw1; ++kw) {
                                    s[0] = w_row + kw * in_c;
                                    s[1] = s[0] + fsize;
                                    qnnc_s4_dot_dsp(filter, s, two, row + (iw0 + kw * dil_w) * in_c, in_c, off, acc);
                                }
                            }
                        }
                    }
                    for (c = 0; c < two; ++c) {
                        output[c] = qnnc_s4_out_dsp(acc[c], quant->multiplier[oc + c], quant->shift[oc + c], lo,
                                                    hi, output_offset, params->act_lut, params->rounding);
                    }
                    output += two;
                }
            }
        }
    }
    return 1;
}
#endif /* QNNC_PATH_DSP */
