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
                            const qnnc_conv16_taps run = {1, n, 0};
                            int32_t r[QNNC_CONV16_PAIR_CH + 2];
                            if (nc - c == 1) {
                                qnnc_conv16_rest1_mve(xa, xb, wr, &run, r);
                            } else {
                                qnnc_conv16_rest2_mve(xa, xb, wr, K, &run, r);
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
