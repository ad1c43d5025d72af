/*
 * qnnc_conv_s16_mve.c - the Helium path of qnnc_conv_s16 (__ARM_FEATURE_MVE: Cortex-M55/M85;
 * compiled to nothing elsewhere; the entry point and dispatch are in qnnc_conv_s16.c). Model:
 * CMSIS-NN arm_convolve_s16 (MVE).
 *
 * Four output channels per pass over the input: 8 int16 inputs (VLDRH) against 8 weights of
 * each channel widened by the load (VLDRB.S16), VMLADAVA into one int32 sum per channel. A
 * product is at most 2^22 in magnitude, so int32 sums of QNNC_CONV16_CHUNK = 256 products stay
 * below 2^30. When the whole dot product plus the bias fits int32 (qnnc_s16_sums_fit: at most
 * 511 products, biases small enough) and every shift <= 13 (what the quantizer produces for
 * such layers), the sums start from the biases and the output is one vector requantization (qnnc_mve_output_s16) and a narrowing store;
 * otherwise the chunks' sums go to int64 accumulators (exact for any length, the reference's
 * int64 sums). The taps of a pixel are read in place when they are one contiguous run (1x1, or
 * 1xK rows inside the input); small windows (at most QNNC_CONV16_COL values) with padding are
 * first copied into a column on the stack with zeros for padding taps (the input offset is 0 on
 * this path); larger ones are summed kernel row by kernel row.
 *
 * With the scratch of qnnc_conv_s16_get_buffer_size (K % 4 == 0, out_c % 4 == 0, sums that fit
 * int32), two output pixels run together, two channels x two pixels a pass
 * (qnnc_conv16_pair_mve), their windows read in place or copied into the scratch.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
#define QNNC_CONV16_COL 128   /* int16 values of the stack column (256 bytes) */
#define QNNC_CONV16_CHUNK 256 /* products per int32 partial sum: 256 * 2^22 = 2^30 */

/* The int32 sums x[i] * wj[j][wo + i] over i < n, lane j < 4: n <= QNNC_CONV16_CHUNK
 * (|sum| <= 2^30), or any n of a layer whose sums fit int32 (qnnc_s16_sums_fit). */
static QNNC_LOOP_ATTR int32x4_t qnnc_conv16_dot4_mve(const int16_t *x, const int8_t *const *wj, int32_t wo, int32_t n)
{
    const int8_t *w = wj[0] + wo, *w1 = wj[1] + wo, *w2 = wj[2] + wo, *w3 = wj[3] + wo;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int32x4_t r;
    int32_t i;
    for (i = n >> 3; i > 0; --i) {
        const int16x8_t xv = vldrhq_s16(x);
        s0 = vmladavaq_s16(s0, xv, vldrbq_s16(w));
        s1 = vmladavaq_s16(s1, xv, vldrbq_s16(w1));
        s2 = vmladavaq_s16(s2, xv, vldrbq_s16(w2));
        s3 = vmladavaq_s16(s3, xv, vldrbq_s16(w3));
        x += 8;
        w += 8;
        w1 += 8;
        w2 += 8;
        w3 += 8;
    }
    if (n & 7) {
        const mve_pred16_t p = vctp16q((uint32_t)(n & 7));
        const int16x8_t xv = vldrhq_z_s16(x, p); /* zero lanes contribute nothing */
        s0 = vmladavaq_s16(s0, xv, vldrbq_z_s16(w, p));
        s1 = vmladavaq_s16(s1, xv, vldrbq_z_s16(w1, p));
        s2 = vmladavaq_s16(s2, xv, vldrbq_z_s16(w2, p));
        s3 = vmladavaq_s16(s3, xv, vldrbq_z_s16(w3, p));
    }
    r = vdupq_n_s32(s0);
    r = vsetq_lane_s32(s1, r, 1);
    r = vsetq_lane_s32(s2, r, 2);
    return vsetq_lane_s32(s3, r, 3);
}

/* Outputs 0 .. 4 * groups - 1 of one pixel in a layer whose sums fit int32 (qnnc_s16_sums_fit,
 * shifts <= 13): per four channels, the sums over the K taps at x (VMLADAVA) start
 * from the biases, and one vector requantization and a narrowing store follow in the same
 * function. */
static QNNC_LOOP_ATTR void qnnc_conv16_pixel_mve(const int16_t *x, const int8_t *filter, int32_t K, int32_t groups,
                                                 const int64_t *bias, const qnnc_per_channel_quant *quant,
                                                 const qnnc_conv_params *params, int16_t *out)
{
    const mve_pred16_t p = vctp16q((uint32_t)(K & 7));
    int32_t g, i;
    for (g = 0; g < groups; ++g) {
        const int32_t c = 4 * g;
        const int8_t *w = filter + c * K;
        const int16_t *xp = x;
        int32_t s0 = qnnc_s16_bias32(bias, c), s1 = qnnc_s16_bias32(bias, c + 1);
        int32_t s2 = qnnc_s16_bias32(bias, c + 2), s3 = qnnc_s16_bias32(bias, c + 3);
        int32x4_t v;
        for (i = K >> 3; i > 0; --i) {
            const int16x8_t xv = vldrhq_s16(xp);
            s0 = vmladavaq_s16(s0, xv, vldrbq_s16(w));
            s1 = vmladavaq_s16(s1, xv, vldrbq_s16(w + K));
            s2 = vmladavaq_s16(s2, xv, vldrbq_s16(w + 2 * K));
            s3 = vmladavaq_s16(s3, xv, vldrbq_s16(w + 3 * K));
            xp += 8;
            w += 8;
        }
        if (K & 7) {
            const int16x8_t xv = vldrhq_z_s16(xp, p); /* zero lanes contribute nothing */
            s0 = vmladavaq_s16(s0, xv, vldrbq_z_s16(w, p));
            s1 = vmladavaq_s16(s1, xv, vldrbq_z_s16(w + K, p));
            s2 = vmladavaq_s16(s2, xv, vldrbq_z_s16(w + 2 * K, p));
            s3 = vmladavaq_s16(s3, xv, vldrbq_z_s16(w + 3 * K, p));
        }
        v = vdupq_n_s32(s0);
        v = vsetq_lane_s32(s1, v, 1);
        v = vsetq_lane_s32(s2, v, 2);
        v = vsetq_lane_s32(s3, v, 3);
        vstrhq_s32(out + c, qnnc_mve_output_s16(v, vldrwq_s32(quant->multiplier + c), vldrwq_s32(quant->shift + c),
                                                params->output_offset, params->act_min, params->act_max));
    }
}

/* Outputs 0 .. 4 * groups - 1 of two pixels whose K taps are at xa and xb (sums that fit int32,
 * shifts <= 13): two channels x two pixels a pass, so each 8-weight load serves both pixels and
 * each input load both channels (per 8 taps: 2 + 2 loads and 4 VMLADAVA, against 1 + 4 loads and
 * 4 VMLADAVA for one pixel and four channels), then one vector requantization per pixel and four
 * channels. */
static QNNC_LOOP_ATTR void qnnc_conv16_pair_mve(const int16_t *xa, const int16_t *xb, const int8_t *filter, int32_t K,
                                                int32_t groups, const int64_t *bias,
                                                const qnnc_per_channel_quant *quant, const qnnc_conv_params *params,
                                                int16_t *outa, int16_t *outb)
{
    const mve_pred16_t p = vctp16q((uint32_t)(K & 7));
    int32_t g, h, i;
    for (g = 0; g < groups; ++g) {
        const int32_t c = 4 * g;
        int32_t sa[4], sb[4];
        int32x4_t m, sh;
        for (h = 0; h < 4; h += 2) {
            const int8_t *w0 = filter + (c + h) * K, *w1 = w0 + K;
            const int16_t *x0 = xa, *x1 = xb;
            int32_t a0 = qnnc_s16_bias32(bias, c + h), a1 = qnnc_s16_bias32(bias, c + h + 1);
            int32_t b0 = a0, b1 = a1;
            for (i = K >> 3; i > 0; --i) {
                const int16x8_t v0 = vldrhq_s16(x0), v1 = vldrhq_s16(x1);
                const int16x8_t u0 = vldrbq_s16(w0), u1 = vldrbq_s16(w1);
                a0 = vmladavaq_s16(a0, v0, u0);
                b0 = vmladavaq_s16(b0, v1, u0);
                a1 = vmladavaq_s16(a1, v0, u1);
                b1 = vmladavaq_s16(b1, v1, u1);
                x0 += 8;
                x1 += 8;
                w0 += 8;
                w1 += 8;
            }
            if (K & 7) { /* zero lanes contribute nothing */
                const int16x8_t v0 = vldrhq_z_s16(x0, p), v1 = vldrhq_z_s16(x1, p);
                const int16x8_t u0 = vldrbq_z_s16(w0, p), u1 = vldrbq_z_s16(w1, p);
                a0 = vmladavaq_s16(a0, v0, u0);
                b0 = vmladavaq_s16(b0, v1, u0);
                a1 = vmladavaq_s16(a1, v0, u1);
                b1 = vmladavaq_s16(b1, v1, u1);
            }
            sa[h] = a0;
            sa[h + 1] = a1;
            sb[h] = b0;
            sb[h + 1] = b1;
        }
        m = vldrwq_s32(quant->multiplier + c);
        sh = vldrwq_s32(quant->shift + c);
        vstrhq_s32(outa + c, qnnc_mve_output_s16(vld1q_s32(sa), m, sh, params->output_offset, params->act_min,
                                                 params->act_max));
        vstrhq_s32(outb + c, qnnc_mve_output_s16(vld1q_s32(sb), m, sh, params->output_offset, params->act_min,
                                                 params->act_max));
    }
}

/* Two pixels at a time (qnnc_conv16_pair_mve) with their windows in the scratch
 * (QNNC_CONV_S16_MVE_BUFFER_SIZE) where they are not read in place: for layers whose sums fit
 * int32 with shifts <= 13, out_c % 4 == 0 and K % 4 == 0. 1 when taken. */
static int qnnc_conv16_pairs_mve(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                 const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                 const int16_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                 const int64_t *bias, const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t out_w = output_dims->w, out_c = output_dims->c, n_pix = output_dims->h * out_w;
    int16_t *win;
    int32_t b, p;
    if (scratch == NULL || scratch->buf == NULL || (K & 3) != 0 || (out_c & 3) != 0 ||
        !qnnc_scratch_fits(scratch, 4u, QNNC_CONV_S16_MVE_BUFFER_SIZE(K))) {
        return 0;
    }
    win = (int16_t *)qnnc_scratch_align(scratch, 4u);
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * input_dims->h * input_dims->w * input_dims->c;
        int16_t *out_b = output + b * n_pix * out_c;
        for (p = 0; p < n_pix; p += 2) {
            const int32_t p1 = p + 1 < n_pix ? p + 1 : p; /* odd count: the last pixel twice */
            const int16_t *xa = qnnc_s16_window(params, in_b, input_dims, filter_dims,
                                                       (p / out_w) * params->stride_h - params->pad_top,
                                                       (p % out_w) * params->stride_w - params->pad_left, win);
            const int16_t *xb = qnnc_s16_window(params, in_b, input_dims, filter_dims,
                                                       (p1 / out_w) * params->stride_h - params->pad_top,
                                                       (p1 % out_w) * params->stride_w - params->pad_left, win + K);
            qnnc_conv16_pair_mve(xa, xb, filter, K, out_c >> 2, bias, quant, params, out_b + p * out_c,
                                 out_b + p1 * out_c);
        }
    }
    return 1;
}

/* The four channels' sums over a run of n taps at x (filter offset wo): into the int32 vector
 * *v when the layer's sums fit int32 (small), else chunk by chunk into the int64 acc. */
QNNC_INLINE void qnnc_conv16_run4_mve(const int16_t *x, const int8_t *const *wj, int32_t wo, int32_t n, int small,
                                      int32x4_t *v, int64_t *acc)
{
    if (small) {
        *v = vaddq_s32(*v, qnnc_conv16_dot4_mve(x, wj, wo, n));
        return;
    }
    while (n > 0) {
        const int32_t m = n < QNNC_CONV16_CHUNK ? n : QNNC_CONV16_CHUNK;
        const int32x4_t t = qnnc_conv16_dot4_mve(x, wj, wo, m);
        acc[0] += vgetq_lane_s32(t, 0);
        acc[1] += vgetq_lane_s32(t, 1);
        acc[2] += vgetq_lane_s32(t, 2);
        acc[3] += vgetq_lane_s32(t, 3);
        x += m;
        wo += m;
        n -= m;
    }
}

/** The Helium conv (input offset 0, else 0 is returned and the caller runs the portable path). */
QNNC_PATH_ATTR int qnnc_conv_mve_s16(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                     const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int16_t *input,
                                     const qnnc_dims *filter_dims, const int8_t *filter, const int64_t *bias,
                                     const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t K = k_h * k_w * in_c;
    int16_t col[QNNC_CONV16_COL];
    int32_t b, oh, ow, oc, kh, kw, j;
    int vec, small;

    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset)) {
        return 0;
    }
    vec = qnnc_mve_s16_shifts_ok(quant->shift, out_c);
    /* the bias and the K products fit int32 (qnnc_s16_sums_fit): int32 sums, vector output */
    small = vec && qnnc_s16_sums_fit(bias, out_c, K);
    if (small && qnnc_conv16_pairs_mve(scratch, params, quant, input_dims, input, filter_dims, filter, bias,
                                       output_dims, output)) {
        return 1;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < output_dims->h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            for (ow = 0; ow < output_dims->w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                const int16_t *x = NULL;
                int32_t kw0, kw1;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                if (kh0 == 0 && kh1 == k_h && kw0 == 0 && kw1 == k_w && k_h == 1 && (k_w == 1 || dil_w == 1)) {
                    x = in_b + (ih0 * in_w + iw0) * in_c; /* one contiguous run: in place */
                } else if (K <= QNNC_CONV16_COL) {
                    memset(col, 0, (size_t)K * sizeof(int16_t));
                    for (kh = kh0; kh < kh1; ++kh) {
                        const int16_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
                        if (dil_w == 1) {
                            memcpy(col + (kh * k_w + kw0) * in_c, row + (iw0 + kw0) * in_c,
                                   (size_t)((kw1 - kw0) * in_c) * sizeof(int16_t));
                        } else {
                            for (kw = kw0; kw < kw1; ++kw) {
                                memcpy(col + (kh * k_w + kw) * in_c, row + (iw0 + kw * dil_w) * in_c,
                                       (size_t)in_c * sizeof(int16_t));
                            }
                        }
                    }
                    x = col;
                }
                oc = 0;
                if (small && x != NULL) { /* the whole groups of four channels in one call */
                    qnnc_conv16_pixel_mve(x, filter, K, out_c >> 2, bias, quant, params, output);
                    oc = out_c & ~3;
                }
                for (; oc < out_c; oc += 4) {
                    const int32_t nv = out_c - oc < 4 ? out_c - oc : 4;
                    const int8_t *wj[4];
                    int64_t acc[4];
                    int32x4_t v = small ? qnnc_mve_bias4_s16(bias, oc, nv) : vdupq_n_s32(0);
                    for (j = 0; j < 4; ++j) {
                        /* fewer than 4 channels left: the last one is computed again in the spare lanes */
                        wj[j] = filter + (j < nv ? oc + j : out_c - 1) * K;
                    }
                    for (j = 0; !small && j < 4; ++j) {
                        acc[j] = bias != NULL ? bias[j < nv ? oc + j : out_c - 1] : 0;
                    }
                    if (x != NULL) {
                        qnnc_conv16_run4_mve(x, wj, 0, K, small, &v, acc);
                    } else {
                        for (kh = kh0; kh < kh1; ++kh) {
                            const int16_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
                            if (dil_w == 1) {
                                qnnc_conv16_run4_mve(row + (iw0 + kw0) * in_c, wj, (kh * k_w + kw0) * in_c,
                                                     (kw1 - kw0) * in_c, small, &v, acc);
                                continue;
                            }
                            for (kw = kw0; kw < kw1; ++kw) {
                                qnnc_conv16_run4_mve(row + (iw0 + kw * dil_w) * in_c, wj, (kh * k_w + kw) * in_c,
                                                     in_c, small, &v, acc);
                            }
                        }
                    }
                    if (small) { /* every sum and bias fit int32: one vector from the MACs to the store */
                        const mve_pred16_t p = vctp32q((uint32_t)nv);
                        vstrhq_p_s32(output + oc,
                                     qnnc_mve_output_s16(v, vldrwq_z_s32(quant->multiplier + oc, p),
                                                         vldrwq_z_s32(quant->shift + oc, p), params->output_offset,
                                                         params->act_min, params->act_max),
                                     p);
                    } else {
                        qnnc_mve_out4_s16(acc, nv, vec, quant, oc, params->output_offset, params->act_min,
                                          params->act_max, output + oc);
                    }
                }
                output += out_c;
            }
        }
    }
    return 1;
}
#endif
