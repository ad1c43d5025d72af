/*
 * qnnc_conv_s4_dsp.c - the Armv7E-M DSP path of qnnc_conv_s4 (__ARM_FEATURE_DSP without Helium:
 * Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_conv_s4.c). The packed-int4 dot products it shares with qnnc_fully_connected_s4_dsp.c are
 * in qnnc_s4_internal.h.
 *
 * No working memory. Per output pixel, two output channels at a time: each in-range row of the
 * window is one contiguous run of kw * in_c inputs (dilation_w 1) or in_c per tap, and its
 * weights one contiguous run of nibbles. Eight weights are one word W: (W << 4) & 0xF0F0F0F0 and
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
    qnnc_s4_conv_k k;
    (void)scratch; /* the int4 paths need no working memory */
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
