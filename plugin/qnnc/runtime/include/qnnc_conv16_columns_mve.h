/*
 * qnnc_conv16_columns_mve.h - the Helium path of qnnc_conv_s16 for layers with more than 511 taps
 * (no kernel scratch, sums that qnnc_s16_sums_fit declines): pixel pairs down a column, int32
 * sums when the weights prove them exact (qnnc_conv16_weights_fit). A part of
 * qnnc_conv_s16_mve.c kept in its own file (that file's size); included there, after
 * qnnc_conv16_out2_mve and QNNC_CONV16_PAIR_CH, and only where QNNC_PATH_MVE is set.
 */
#ifndef QNNC_CONV16_COLUMNS_MVE_H
#define QNNC_CONV16_COLUMNS_MVE_H

#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
/* Three channels x two pixels over a run of n >= 1 taps at x0 and x1, weights at w0, w0 + ws,
 * w0 + 2 ws (ws: the filter's K): the int32 sums added to s[0 .. 3) and s[QNNC_CONV16_PAIR_CH ..]. */
static QNNC_LOOP_ATTR void qnnc_conv16_run3x2_mve(const int16_t *x0, const int16_t *x1, const int8_t *w0,
                                                  int32_t ws, int32_t n, int32_t *s)
{
    const int8_t *w1 = w0 + ws, *w2 = w1 + ws;
    int32_t a0 = 0, a1 = 0, a2 = 0, b0 = 0, b1 = 0, b2 = 0;
    int32_t i;
    for (i = n >> 3; i > 0; --i) {
        const int16x8_t v0 = vldrhq_s16(x0), v1 = vldrhq_s16(x1);
        const int16x8_t u0 = vldrbq_s16(w0), u1 = vldrbq_s16(w1), u2 = vldrbq_s16(w2);
        a0 = vmladavaq_s16(a0, v0, u0);
        b0 = vmladavaq_s16(b0, v1, u0);
        a1 = vmladavaq_s16(a1, v0, u1);
        b1 = vmladavaq_s16(b1, v1, u1);
        a2 = vmladavaq_s16(a2, v0, u2);
        b2 = vmladavaq_s16(b2, v1, u2);
        x0 += 8;
        x1 += 8;
        w0 += 8;
        w1 += 8;
        w2 += 8;
    }
    if (n & 7) { /* zero lanes contribute nothing */
        const mve_pred16_t p = vctp16q((uint32_t)(n & 7));
        const int16x8_t v0 = vldrhq_z_s16(x0, p), v1 = vldrhq_z_s16(x1, p);
        const int16x8_t u0 = vldrbq_z_s16(w0, p), u1 = vldrbq_z_s16(w1, p), u2 = vldrbq_z_s16(w2, p);
        a0 = vmladavaq_s16(a0, v0, u0);
        b0 = vmladavaq_s16(b0, v1, u0);
        a1 = vmladavaq_s16(a1, v0, u1);
        b1 = vmladavaq_s16(b1, v1, u1);
        a2 = vmladavaq_s16(a2, v0, u2);
        b2 = vmladavaq_s16(b2, v1, u2);
    }
    s[0] += a0;
    s[1] += a1;
    s[2] += a2;
    s[QNNC_CONV16_PAIR_CH] += b0;
    s[QNNC_CONV16_PAIR_CH + 1] += b1;
    s[QNNC_CONV16_PAIR_CH + 2] += b2;
}

/* 1 when every channel's bias plus 32768 times the sum of its |weights| fits int32: then every
 * partial sum of the channel, for any int16 input, fits int32 too, whatever K (Helium: the
 * |weights| widened to int16, VADDVA). */
static int qnnc_conv16_weights_fit(const int8_t *filter, const int64_t *bias, int32_t out_c, int32_t K)
{
    int32_t c, i;
    for (c = 0; c < out_c; ++c) {
        const int8_t *w = filter + c * K;
        int32_t t = 0; /* at most 128 K */
        int64_t b;
        for (i = K >> 3; i > 0; --i, w += 8) {
            t = vaddvaq_s16(t, vabsq_s16(vldrbq_s16(w)));
        }
        if (K & 7) {
            t = vaddvaq_s16(t, vabsq_s16(vldrbq_z_s16(w, vctp16q((uint32_t)(K & 7)))));
        }
        b = bias != NULL ? bias[c] : 0;
        if (b < 0) {
            b = -b;
        }
        if (b > (int64_t)INT32_MAX || ((int64_t)t << 15) > (int64_t)INT32_MAX - b) {
            return 0;
        }
    }
    return 1;
}

/* Two pixels of a column, (oh, ow) and (oh + 1, ow), kernel row by kernel row with the rows'
 * taps read in place (dilation 1 along w): the two share their valid kernel columns, so each
 * row is one run of taps for both and one set of weights; a row only one of them has is run
 * for both and kept for that one. For layers qnnc_s16_sums_fit declines (K > 511) whose sums
 * qnnc_conv16_weights_fit proves within int32, shifts <= 13 and out_c % 4 == 0: the rows' sums
 * add up in int32 on the stack, then qnnc_conv16_out2_mve. */
static void qnnc_conv16_columns_mve(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                    const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                                    const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims, int vec,
                                    int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, dil_h = params->dilation_h;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t K = k_h * k_w * in_c;
    int32_t sums[2 * QNNC_CONV16_PAIR_CH], t[2 * QNNC_CONV16_PAIR_CH];
    int32_t *s;
    int32_t b, oh, ow, c0, c, kh, j;
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        int16_t *out_b = output + b * out_h * out_w * out_c;
        for (ow = 0; ow < out_w; ++ow) {
            const int32_t iw0 = ow * params->stride_w - params->pad_left;
            int32_t kw0, kw1, n;
            qnnc_tap_range(iw0, in_w, k_w, 1, &kw0, &kw1);
            n = (kw1 - kw0) * in_c;
            for (oh = 0; oh < out_h; oh += 2) {
                const int32_t oh1 = oh + 1 < out_h ? oh + 1 : oh; /* odd count: the last pixel twice */
                const int32_t iha = oh * params->stride_h - params->pad_top;
                const int32_t ihb = oh1 * params->stride_h - params->pad_top;
                int16_t *outa = out_b + (oh * out_w + ow) * out_c, *outb = out_b + (oh1 * out_w + ow) * out_c;
                for (c0 = 0; c0 < out_c; c0 += QNNC_CONV16_PAIR_CH) {
                    const int32_t nc = out_c - c0 < QNNC_CONV16_PAIR_CH ? out_c - c0 : QNNC_CONV16_PAIR_CH;
                    const int8_t *wc = filter + c0 * K + kw0 * in_c;
                    for (j = 0; j < 2 * QNNC_CONV16_PAIR_CH; ++j) {
                        sums[j] = 0;
                    }
                    for (kh = 0; n > 0 && kh < k_h; ++kh) {
                        const int32_t ra = iha + kh * dil_h, rb = ihb + kh * dil_h;
                        const int va = ra >= 0 && ra < in_h, vb = rb >= 0 && rb < in_h;
                        const int16_t *xa, *xb;
                        if (!va && !vb) {
                            continue;
                        }
                        xa = in_b + ((va ? ra : rb) * in_w + iw0 + kw0) * in_c;
                        xb = in_b + ((vb ? rb : ra) * in_w + iw0 + kw0) * in_c;
                        /* a row both pixels have adds to the sums; a row one of them has goes
                         * through t, and only that pixel's half is kept */
                        s = va && vb ? sums : t;
                        for (j = 0; s == t && j < 2 * QNNC_CONV16_PAIR_CH; ++j) {
                            t[j] = 0;
                        }
                        for (c = 0; c + 3 <= nc; c += 3) {
                            qnnc_conv16_run3x2_mve(xa, xb, wc + c * K + kh * k_w * in_c, K, n, s + c);
                        }
                        if (c < nc) { /* one or two channels left: a run of their own */
                            const int8_t *wr = wc + c * K + kh * k_w * in_c;
                            int32_t r[QNNC_CONV16_PAIR_CH + 2];
                            if (nc - c == 1) {
                                qnnc_conv16_rest1_mve(xa, xb, wr, n, r);
                            } else {
                                qnnc_conv16_rest2_mve(xa, xb, wr, K, n, r);
                            }
                            for (j = 0; j < nc - c; ++j) {
                                s[c + j] += r[j];
                                s[QNNC_CONV16_PAIR_CH + c + j] += r[QNNC_CONV16_PAIR_CH + j];
                            }
                        }
                        for (j = 0; s == t && va && j < nc; ++j) {
                            sums[j] += t[j];
                        }
                        for (j = 0; s == t && vb && j < nc; ++j) {
                            sums[QNNC_CONV16_PAIR_CH + j] += t[QNNC_CONV16_PAIR_CH + j];
                        }
                    }
                    qnnc_conv16_out2_mve(sums, c0, nc, bias, quant, params, vec, outa, outb);
                }
            }
        }
    }
}
#endif /* QNNC_PATH_MVE */

#endif
