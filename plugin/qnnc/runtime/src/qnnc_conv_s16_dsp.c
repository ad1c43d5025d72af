/*
 * qnnc_conv_s16_dsp.c - the Armv7E-M DSP path of qnnc_conv_s16 (Cortex-M4/M7/M33; compiled to
 * nothing elsewhere; the entry point and dispatch are in qnnc_conv_s16.c). Model: CMSIS-NN
 * arm_convolve_s16 (DSP).
 *
 * Four output channels per pass over the input: four int16 inputs (two words) are repacked
 * once into the lane pairs (x0, x2) and (x1, x3) with PKHBT / PKHTB, so each channel's four
 * weights need only one LDR and SXTB16 / SXTB16 ROR #8 ((w0, w2), (w1, w3)) and two SMLAD.
 * A product is at most 2^22 in magnitude: the int32 SMLAD sums of a chunk of
 * QNNC_CONV16_CHUNK = 256 products stay below 2^30. When the whole dot product and the bias
 * fit int32 (qnnc_s16_sums_fit: at most 511 products, biases small enough), every whole group of
 * four channels starts from the bias and goes straight to the output stage; otherwise (and for
 * the last out_c % 4 channels) the chunks' sums are added to int64 accumulators, exact for any
 * length (the reference's int64 sums). The taps of
 * a pixel are read in place when they are one contiguous run (1x1, or 1xK rows inside the
 * input); small windows (at most QNNC_CONV16_COL values) with padding are first copied into a
 * column on the stack with zeros for padding taps (the input offset is 0 on this path, so a
 * zero contributes nothing); larger ones are summed kernel row by kernel row.
 *
 * With the scratch of qnnc_conv_s16_get_buffer_size (K % 4 == 0, sums that fit int32), two
 * output pixels' windows are instead repacked once into two interleaved columns in the lane
 * order of SXTB16, and the int8 conv's 2 channels x 2 pixels loop (qnnc_dsp_mm2x2.h) runs on
 * them: per 16 products one LDR of weights a channel, two LDRD, four SXTB16 and eight SMLAD
 * instead of 26 instructions. The SMLAD sums wrap modulo 2^32 on the way, which is exact since
 * the final sum fits.
 */
#include "qnnc_dsp_mm2x2.h"
#include "qnnc_s16_internal.h"

#if QNNC_PATH_DSP
#define QNNC_CONV16_COL 128 /* int16 values of the stack column (256 bytes) */


#define QNNC_CONV16_CHUNK 256 /* products per int32 partial sum: 256 * 2^22 = 2^30 */

/* sum[j] = sum x[i] * wj[j][wo + i] over i < n <= QNNC_CONV16_CHUNK, j < 4: int32 SMLAD sums
 * (|sum| <= 2^30). Four inputs are repacked once for the four
 * channels. */
static QNNC_LOOP_ATTR void qnnc_conv16_dot4_dsp(const int16_t *x, const int8_t *const *wj, int32_t wo, int32_t n,
                                                int32_t *sum)
{
    const int8_t *w = wj[0] + wo, *w1 = wj[1] + wo, *w2 = wj[2] + wo, *w3 = wj[3] + wo;
    const int16_t *end = x + (n & ~3);
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    while (x != end) {
        uint32_t xa, xb, wv;
        int32_t x02, x13;
        memcpy(&xa, x, 4u);
        memcpy(&xb, x + 2, 4u);
        x02 = qnnc_dsp_pkhbt(xa, xb);
        x13 = qnnc_dsp_pkhtb(xa, xb);
        wv = qnnc_dsp_rd32(w);
        s0 = __smlad(x02, __sxtb16((int8x4_t)wv), s0);
        s0 = __smlad(x13, qnnc_dsp_sxtb16_ror8(wv), s0);
        wv = qnnc_dsp_rd32(w1);
        s1 = __smlad(x02, __sxtb16((int8x4_t)wv), s1);
        s1 = __smlad(x13, qnnc_dsp_sxtb16_ror8(wv), s1);
        wv = qnnc_dsp_rd32(w2);
        s2 = __smlad(x02, __sxtb16((int8x4_t)wv), s2);
        s2 = __smlad(x13, qnnc_dsp_sxtb16_ror8(wv), s2);
        wv = qnnc_dsp_rd32(w3);
        s3 = __smlad(x02, __sxtb16((int8x4_t)wv), s3);
        s3 = __smlad(x13, qnnc_dsp_sxtb16_ror8(wv), s3);
        x += 4;
        w += 4;
        w1 += 4;
        w2 += 4;
        w3 += 4;
    }
    for (n &= 3; n > 0; --n) {
        const int32_t xv = *x++;
        s0 += xv * *w++;
        s1 += xv * *w1++;
        s2 += xv * *w2++;
        s3 += xv * *w3++;
    }
    sum[0] = s0;
    sum[1] = s1;
    sum[2] = s2;
    sum[3] = s3;
}

/* Outputs oc .. oc + 3 of one pixel in a layer whose sums fit int32 (qnnc_s16_sums_fit): the four channels w, w + K, w + 2K, w + 3K start from their biases, run
 * over the K taps at x with one weight pointer (the other rows at fixed offsets) and go straight
 * to the output stage, without leaving the registers. */
static QNNC_LOOP_ATTR void qnnc_conv16_out4_dsp(const int16_t *x, const int8_t *w, int32_t K, const int64_t *bias,
                                                const int32_t *mult, const int32_t *shift,
                                                const qnnc_conv_params *params, int16_t *out)
{
    const int32_t K2 = 2 * K, K3 = 3 * K;
    const int16_t *end = x + (K & ~7);
    int32_t s[4];
    int32_t s0 = qnnc_s16_bias32(bias, 0), s1 = qnnc_s16_bias32(bias, 1);
    int32_t s2 = qnnc_s16_bias32(bias, 2), s3 = qnnc_s16_bias32(bias, 3);
    int32_t j;
    /* four taps at x + o of the four channels: the inputs repacked once, one word of weights each */
#define QNNC_CONV16_STEP4(o)                                        \
    do {                                                            \
        uint32_t xa, xb, wv;                                        \
        int32_t x02, x13;                                           \
        memcpy(&xa, x + (o), 4u);                                   \
        memcpy(&xb, x + (o) + 2, 4u);                               \
        x02 = qnnc_dsp_pkhbt(xa, xb);                               \
        x13 = qnnc_dsp_pkhtb(xa, xb);                               \
        wv = qnnc_dsp_rd32(w + (o));                                \
        s0 = __smlad(x02, __sxtb16((int8x4_t)wv), s0);              \
        s0 = __smlad(x13, qnnc_dsp_sxtb16_ror8(wv), s0);            \
        wv = qnnc_dsp_rd32(w + (o) + K);                            \
        s1 = __smlad(x02, __sxtb16((int8x4_t)wv), s1);              \
        s1 = __smlad(x13, qnnc_dsp_sxtb16_ror8(wv), s1);            \
        wv = qnnc_dsp_rd32(w + (o) + K2);                           \
        s2 = __smlad(x02, __sxtb16((int8x4_t)wv), s2);              \
        s2 = __smlad(x13, qnnc_dsp_sxtb16_ror8(wv), s2);            \
        wv = qnnc_dsp_rd32(w + (o) + K3);                           \
        s3 = __smlad(x02, __sxtb16((int8x4_t)wv), s3);              \
        s3 = __smlad(x13, qnnc_dsp_sxtb16_ror8(wv), s3);            \
    } while (0)
    while (x != end) { /* eight taps per pass: half the loop's pointer steps and branches */
        QNNC_CONV16_STEP4(0);
        QNNC_CONV16_STEP4(4);
        x += 8;
        w += 8;
    }
    if (K & 4) {
        QNNC_CONV16_STEP4(0);
        x += 4;
        w += 4;
    }
#undef QNNC_CONV16_STEP4
    for (j = K & 3; j > 0; --j) {
        const int32_t xv = *x++;
        s0 += xv * w[0];
        s1 += xv * w[K];
        s2 += xv * w[K2];
        s3 += xv * w[K3];
        ++w;
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    for (j = 0; j < 4; ++j) {
        out[j] = qnnc_output_s16_fast(s[j], mult[j], shift[j], params->output_offset, params->act_min,
                                      params->act_max);
    }
}

/* acc[j] += the four channels' products over a run of n taps at x (filter offset wo), chunk by
 * chunk: int32 within a chunk, int64 across (exact for any length). */
static void qnnc_conv16_run4_dsp(const int16_t *x, const int8_t *const *wj, int32_t wo, int32_t n, int64_t *acc)
{
    while (n > 0) {
        const int32_t m = n < QNNC_CONV16_CHUNK ? n : QNNC_CONV16_CHUNK;
        int32_t s[4];
        qnnc_conv16_dot4_dsp(x, wj, wo, m, s);
        acc[0] += s[0];
        acc[1] += s[1];
        acc[2] += s[2];
        acc[3] += s[3];
        x += m;
        wo += m;
        n -= m;
    }
}

/* Column j (0 or 1) of a pair from the K natural-order int16 values at v (K % 4 == 0): group
 * g's lane pairs (v0, v2) and (v1, v3) go to words 4g + 2j and 4g + 2j + 1. */
static void qnnc_conv16_column(const int16_t *v, int32_t K, uint32_t *cols, int32_t j)
{
    const int16_t *end = v + K;
    uint32_t *dst = cols + 2 * j;
    for (; v != end; v += 4, dst += 4) {
        uint32_t a, b;
        memcpy(&a, v, 4u);
        memcpy(&b, v + 2, 4u);
        dst[0] = (uint32_t)qnnc_dsp_pkhbt(a, b);
        dst[1] = (uint32_t)qnnc_dsp_pkhtb(a, b);
    }
}

/* The four outputs of a 2 channels (oc, o1) x 2 pixels block (out of line: the loop's registers
 * are free here). */
static __attribute__((noinline)) void qnnc_conv16_store2x2(const qnnc_conv_acc2x2 *acc, const qnnc_per_channel_quant *quant,
                                                           int32_t oc, int32_t o1, const qnnc_conv_params *params,
                                                           int16_t *out0, int16_t *out1)
{
    const int32_t off = params->output_offset, lo = params->act_min, hi = params->act_max;
    const int32_t m0 = quant->multiplier[oc], s0 = quant->shift[oc];
    const int32_t m1 = quant->multiplier[o1], s1 = quant->shift[o1];
    if (s0 <= -2 && s1 <= -2) {
        const int32_t r0 = qnnc_s16_reduced(m0), r1 = qnnc_s16_reduced(m1);
        const int32_t k0 = -2 - s0 < 31 ? -2 - s0 : 31, k1 = -2 - s1 < 31 ? -2 - s1 : 31;
        out0[oc] = qnnc_dsp_output_s16_rk(acc->a00, r0, k0, off, lo, hi);
        out1[oc] = qnnc_dsp_output_s16_rk(acc->a01, r0, k0, off, lo, hi);
        out0[o1] = qnnc_dsp_output_s16_rk(acc->a10, r1, k1, off, lo, hi);
        out1[o1] = qnnc_dsp_output_s16_rk(acc->a11, r1, k1, off, lo, hi);
        return;
    }
    out0[oc] = qnnc_output_s16_fast(acc->a00, m0, s0, off, lo, hi);
    out1[oc] = qnnc_output_s16_fast(acc->a01, m0, s0, off, lo, hi);
    out0[o1] = qnnc_output_s16_fast(acc->a10, m1, s1, off, lo, hi);
    out1[o1] = qnnc_output_s16_fast(acc->a11, m1, s1, off, lo, hi);
}

/* Every output channel of the pixel pair whose columns are at cols (K words), 2 channels x 2
 * pixels a pass, from the int32 biases straight to the output stage (qnnc_s16_sums_fit holds);
 * an odd last channel is computed twice. */
static QNNC_LOOP_ATTR void qnnc_conv16_pair_dsp(const uint32_t *cols, int32_t K, const int8_t *filter,
                                                const int64_t *bias, const qnnc_per_channel_quant *quant,
                                                int32_t out_c, const qnnc_conv_params *params, int16_t *out0,
                                                int16_t *out1)
{
    int32_t oc;
    for (oc = 0; oc < out_c; oc += 2) {
        const int32_t o1 = oc + 1 < out_c ? oc + 1 : oc;
        qnnc_conv_acc2x2 acc;
        acc.a00 = acc.a01 = qnnc_s16_bias32(bias, oc);
        acc.a10 = acc.a11 = qnnc_s16_bias32(bias, o1);
        qnnc_conv_mm2x2(cols, cols + K, filter + oc * K, filter + o1 * K, &acc, 1);
        qnnc_conv16_store2x2(&acc, quant, oc, o1, params, out0, out1);
    }
}

/* Column j of the pixel pair from the window at (ih0, iw0), padding taps 0. With in_c % 4 == 0
 * every kernel row's run (or every tap's, with dilation) starts a group, so each is repacked from
 * the input into its place; otherwise the window is taken in natural order (in place, or copied
 * into win: qnnc_s16_window) and repacked whole. */
static void qnnc_conv16_fill(const qnnc_conv_params *params, const int16_t *in_b, const qnnc_dims *input_dims,
                             const qnnc_dims *filter_dims, int32_t ih0, int32_t iw0, uint32_t *cols, int32_t j,
                             int16_t *win)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t K = k_h * k_w * in_c;
    int32_t kh0, kh1, kw0, kw1, kh, kw, g;
    qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
    qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
    if ((in_c & 3) != 0 || (kh0 == 0 && kh1 == k_h && kw0 == 0 && kw1 == k_w && k_h == 1 && (k_w == 1 || dil_w == 1))) {
        qnnc_conv16_column(qnnc_s16_window(params, in_b, input_dims, filter_dims, ih0, iw0, win), K, cols, j);
        return;
    }
    if (kh0 != 0 || kh1 != k_h || kw0 != 0 || kw1 != k_w) { /* padding taps */
        for (g = 2 * j; g < K; g += 4) {
            cols[g] = 0u;
            cols[g + 1] = 0u;
        }
    }
    /* tap t (a multiple of 4) of column j is at words t + 2j, t + 2j + 1 */
    for (kh = kh0; kh < kh1; ++kh) {
        const int16_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
        if (dil_w == 1) { /* the row's valid taps are one run */
            qnnc_conv16_column(row + (iw0 + kw0) * in_c, (kw1 - kw0) * in_c, cols + (kh * k_w + kw0) * in_c, j);
            continue;
        }
        for (kw = kw0; kw < kw1; ++kw) {
            qnnc_conv16_column(row + (iw0 + kw * dil_w) * in_c, in_c, cols + (kh * k_w + kw) * in_c, j);
        }
    }
}

/* The columns path (see the file comment): 1 when taken. */
static int qnnc_conv16_cols_dsp(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                const int16_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                const int64_t *bias, const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t out_w = output_dims->w, out_c = output_dims->c, n_pix = output_dims->h * out_w;
    uint32_t *cols;
    int16_t *win;
    int32_t b, p, j;
    if (scratch == NULL || scratch->buf == NULL || (K & 3) != 0 || K < 4 ||
        !qnnc_scratch_fits(scratch, 4u, QNNC_CONV_S16_DSP_BUFFER_SIZE(K))) {
        return 0;
    }
    cols = (uint32_t *)qnnc_scratch_align(scratch, 4u);
    win = (int16_t *)(cols + K);
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * input_dims->h * input_dims->w * input_dims->c;
        int16_t *out_b = output + b * n_pix * out_c;
        for (p = 0; p < n_pix; p += 2) {
            const int32_t p1 = p + 1 < n_pix ? p + 1 : p; /* odd count: the last pixel twice */
            for (j = 0; j < 2; ++j) {
                const int32_t q = j == 0 ? p : p1;
                qnnc_conv16_fill(params, in_b, input_dims, filter_dims, (q / out_w) * params->stride_h - params->pad_top,
                                 (q % out_w) * params->stride_w - params->pad_left, cols, j, win);
            }
            qnnc_conv16_pair_dsp(cols, K, filter, bias, quant, out_c, params, out_b + p * out_c, out_b + p1 * out_c);
        }
    }
    return 1;
}

/** The DSP conv (input offset 0, else 0 is returned and the caller runs the portable path). */
QNNC_PATH_ATTR int qnnc_conv_dsp_s16(const qnnc_buffer *scratch, const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                     const qnnc_dims *input_dims, const int16_t *input,
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
    int small;

    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset)) {
        return 0;
    }
    /* the bias and the K products fit int32 (qnnc_s16_sums_fit): no int64 accumulators */
    small = qnnc_s16_sums_fit(bias, out_c, K);
    if (small && qnnc_conv16_cols_dsp(scratch, params, quant, input_dims, input, filter_dims, filter, bias,
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
                for (oc = 0; oc < out_c; oc += 4) {
                    const int32_t nv = out_c - oc < 4 ? out_c - oc : 4;
                    const int8_t *wj[4];
                    int64_t acc[4];
                    if (small && x != NULL && nv == 4) {
                        qnnc_conv16_out4_dsp(x, filter + oc * K, K, bias != NULL ? bias + oc : NULL,
                                             quant->multiplier + oc, quant->shift + oc, params, output + oc);
                        continue;
                    }
                    for (j = 0; j < 4; ++j) {
                        /* fewer than 4 channels left: the last one is computed again in the spare lanes */
                        const int32_t o = j < nv ? oc + j : out_c - 1;
                        wj[j] = filter + o * K;
                        acc[j] = bias != NULL ? bias[o] : 0;
                    }
                    if (x != NULL) {
                        qnnc_conv16_run4_dsp(x, wj, 0, K, acc);
                    } else {
                        for (kh = kh0; kh < kh1; ++kh) {
                            const int16_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
                            if (dil_w == 1) {
                                qnnc_conv16_run4_dsp(row + (iw0 + kw0) * in_c, wj, (kh * k_w + kw0) * in_c,
                                                     (kw1 - kw0) * in_c, acc);
                                continue;
                            }
                            for (kw = kw0; kw < kw1; ++kw) {
                                qnnc_conv16_run4_dsp(row + (iw0 + kw * dil_w) * in_c, wj, (kh * k_w + kw) * in_c,
                                                     in_c, acc);
                            }
                        }
                    }
                    for (j = 0; j < nv; ++j) {
                        output[oc + j] = qnnc_output_s16_fast(acc[j], quant->multiplier[oc + j], quant->shift[oc + j],
                                                              params->output_offset, params->act_min,
                                                              params->act_max);
                    }
                }
                output += out_c;
            }
        }
    }
    return 1;
}
#endif
