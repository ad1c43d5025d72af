/*
 * qnnc_depthwise_conv_s16_mve.c - the Helium path of qnnc_depthwise_conv_s16
 * (__ARM_FEATURE_MVE: Cortex-M55/M85; compiled to nothing elsewhere; the entry point and
 * dispatch are in qnnc_depthwise_conv_s16.c). Model: CMSIS-NN arm_depthwise_conv_s16 (MVE).
 *
 * Depth multiplier 1, input offset 0, eight channels at a time with the taps inside. A product
 * is at most 2^22 in magnitude. When the taps' sums plus the bias fit int32 (qnnc_s16_sums_fit)
 * and shifts are <= 13 (what the quantizer produces), the sums start from the biases and the
 * requantization (qnnc_mve_requant_s16_vec: the short form when every shift <= -2) and the
 * stores follow without leaving the vector registers: whole groups of eight channels run along
 * an output row (what the row shares set up once) with VMULLB / VMULLT products of the even
 * and odd lanes (gathers keep the channels apart, saturating narrows put them back together),
 * the other channels (and layers with activation bounds outside int16) pixel by pixel with
 * loads widened to int32 lanes (VLDRH.S32, VLDRB.S32).
 * Otherwise (at most 511 taps: 511 * 2^22 < 2^31) VMULLB / VMULLT products of the even and odd
 * int16 lanes are summed in int32, and each output takes the int64 bias and the scalar
 * requantization. No scratch.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
#define QNNC_DW16_MAX_TAPS 511 /* 511 * 2^22 < 2^31 */

/* The int32 sums of channels c .. c + n - 1 (n <= 8) of one output pixel over n_h x n_w taps:
 * VMULLB / VMULLT multiply the even / odd int16 lanes into int32 (MVE has no lane-wise
 * integer multiply-accumulate); sum[0..3] are the even channels, sum[4..7] the odd ones. */
static QNNC_LOOP_ATTR void qnnc_dw16_sum8_mve(const int16_t *px, int32_t x_row, int32_t x_col, const int8_t *fk,
                                              int32_t f_row, int32_t f_col, int32_t n_h, int32_t n_w, int32_t n,
                                              int32_t *sum)
{
    const mve_pred16_t p = vctp16q((uint32_t)n);
    int32x4_t se = vdupq_n_s32(0), so = vdupq_n_s32(0);
    int32_t i, j;
    for (i = 0; i < n_h; ++i) {
        const int16_t *xp = px;
        const int8_t *fp = fk;
        for (j = 0; j < n_w; ++j) {
            const int16x8_t xv = vldrhq_z_s16(xp, p), wv = vldrbq_z_s16(fp, p);
            se = vaddq_s32(se, vmullbq_int_s16(xv, wv));
            so = vaddq_s32(so, vmulltq_int_s16(xv, wv));
            xp += x_col;
            fp += f_col;
        }
        px += x_row;
        fk += f_row;
    }
    vst1q_s32(sum, se);
    vst1q_s32(sum + 4, so);
}

/* Outputs c .. c + n - 1 (n <= 8) of one pixel when the layer's sums fit int32
 * (qnnc_s16_sums_fit, shifts <= 13): the loads widen to int32 lanes (VLDRH.S32,
 * VLDRB.S32) so the sums stay in channel order, then the bias, qnnc_mve_output_s16_vec and a
 * narrowing store, without leaving the vector registers. */
static QNNC_LOOP_ATTR void qnnc_dw16_out8_mve(const int16_t *px, const int32_t *xs, const int8_t *fk,
                                              const int32_t *fs, int32_t n_h, int32_t n_w, int32_t n,
                                              const int64_t *bias, const qnnc_per_channel_quant *quant,
                                              const qnnc_conv_params *params, int vec, int16_t *out)
{
    const mve_pred16_t p0 = vctp32q((uint32_t)n), p1 = vctp32q((uint32_t)(n > 4 ? n - 4 : 0));
    const int32_t o4 = n > 4 ? 4 : 0; /* the second vector's offset (all lanes off when n <= 4) */
    const int32_t x_row = xs[0], x_col = xs[1], f_row = fs[0], f_col = fs[1];
    int32x4_t s0 = qnnc_mve_bias4_s16(bias, 0, n < 4 ? n : 4);
    int32x4_t s1 = qnnc_mve_bias4_s16(bias, o4, n - o4 > 0 ? n - o4 : 0);
    int32x4_t m0, sh0, m1, sh1;
    int32_t i, j;
    for (i = 0; i < n_h; ++i) {
        const int16_t *xp = px;
        const int8_t *fp = fk;
        for (j = 0; j < n_w; ++j) {
            s0 = vaddq_s32(s0, vmulq_s32(vldrhq_z_s32(xp, p0), vldrbq_z_s32(fp, p0)));
            s1 = vaddq_s32(s1, vmulq_s32(vldrhq_z_s32(xp + o4, p1), vldrbq_z_s32(fp + o4, p1)));
            xp += x_col;
            fp += f_col;
        }
        px += x_row;
        fk += f_row;
    }
    m0 = vldrwq_z_s32(quant->multiplier, p0);
    sh0 = vldrwq_z_s32(quant->shift, p0);
    m1 = vldrwq_z_s32(quant->multiplier + o4, p1);
    sh1 = vldrwq_z_s32(quant->shift + o4, p1);
    qnnc_mve_prep_s16(vec, &m0, &sh0);
    qnnc_mve_prep_s16(vec, &m1, &sh1);
    vstrhq_p_s32(out, qnnc_mve_output_s16_vec(vec, s0, m0, sh0, params->output_offset, params->act_min,
                                              params->act_max), p0);
    vstrhq_p_s32(out + o4, qnnc_mve_output_s16_vec(vec, s1, m1, sh1, params->output_offset, params->act_min,
                                                   params->act_max), p1);
}

/* Channels 0 .. 7 (a whole group of eight) of one output row, in a layer whose sums fit int32
 * and whose activation bounds lie in int16: px and fk are the input and filter at the first
 * valid kernel row (n_h rows), column 0. What does not change along the row is set up once: the
 * two int32 sums' start (the int64 biases' low words, gathered) and the even / odd channels'
 * multipliers and shifts (gathered, prepared by qnnc_mve_prep_s16). Per pixel: one int16 load
 * of the inputs and one widening load of the weights per tap, VMULLB / VMULLT products of the
 * even and odd channels added to the sums, the requantization, then VQMOVNB / VQMOVNT narrow
 * the even and odd channels back into one vector in channel order (saturating to int16, which
 * the clamp to bounds inside int16 makes exact) for the clamp and one store. */
static QNNC_LOOP_ATTR void qnnc_dw16_row8_mve(const int16_t *px, const int8_t *fk, int32_t n_h,
                                              const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                              const qnnc_dims *filter_dims, int32_t out_w, const int64_t *bias,
                                              const qnnc_per_channel_quant *quant, int vec, int16_t *out)
{
    const uint32x4_t even = vidupq_n_u32(0u, 2), odd = vidupq_n_u32(1u, 2);
    const int32_t in_w = input_dims->w, ch = input_dims->c, k_w = filter_dims->w;
    const int32_t stride_w = params->stride_w, pad_left = params->pad_left, dil_w = params->dilation_w;
    const int32_t x_row = params->dilation_h * in_w * ch, x_col = dil_w * ch, f_row = k_w * ch;
    const int32_t off = params->output_offset;
    const int16x8_t lo = vdupq_n_s16((int16_t)params->act_min), hi = vdupq_n_s16((int16_t)params->act_max);
    int32x4_t be = vdupq_n_s32(0), bo = vdupq_n_s32(0);
    int32x4_t me = vldrwq_gather_shifted_offset_s32(quant->multiplier, even);
    int32x4_t she = vldrwq_gather_shifted_offset_s32(quant->shift, even);
    int32x4_t mo = vldrwq_gather_shifted_offset_s32(quant->multiplier, odd);
    int32x4_t sho = vldrwq_gather_shifted_offset_s32(quant->shift, odd);
    int32_t ow, i, j;
    if (bias != NULL) { /* channel c's low word is int32 word 2c (little-endian int64) */
        be = vldrwq_gather_shifted_offset_s32((const int32_t *)bias, vidupq_n_u32(0u, 4));
        bo = vldrwq_gather_shifted_offset_s32((const int32_t *)bias, vidupq_n_u32(2u, 4));
    }
    qnnc_mve_prep_s16(vec, &me, &she);
    qnnc_mve_prep_s16(vec, &mo, &sho);
    for (ow = 0; ow < out_w; ++ow) {
        const int32_t iw0 = ow * stride_w - pad_left;
        int32_t kw0, kw1;
        qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
        {
            /* the first valid tap (none: no loads) */
            const int16_t *xr = kw1 > kw0 ? px + (iw0 + kw0 * dil_w) * ch : px;
            const int8_t *fr = kw1 > kw0 ? fk + kw0 * ch : fk;
            int32x4_t se = be, so = bo;
            for (i = kw1 > kw0 ? n_h : 0; i > 0; --i) { /* no guard on the taps of a row */
                const int16_t *xp = xr;
                const int8_t *fp = fr;
                j = kw1 - kw0;
                do {
                    const int16x8_t xv = vldrhq_s16(xp), wv = vldrbq_s16(fp);
                    se = vaddq_s32(se, vmullbq_int_s16(xv, wv));
                    so = vaddq_s32(so, vmulltq_int_s16(xv, wv));
                    xp += x_col;
                    fp += ch;
                } while (--j > 0);
                xr += x_row;
                fr += f_row;
            }
            se = vaddq_n_s32(qnnc_mve_requant_s16_vec(vec, se, me, she), off);
            so = vaddq_n_s32(qnnc_mve_requant_s16_vec(vec, so, mo, sho), off);
            vst1q_s16(out, vminq_s16(vmaxq_s16(vqmovntq_s32(vqmovnbq_s32(vreinterpretq_s16_s32(so), se), so), lo),
                                     hi));
        }
        out += ch;
    }
}

/** The Helium depthwise conv (depth multiplier 1, input offset 0, at most 511 taps; else 0 is
 *  returned and the caller runs the portable path). */
QNNC_PATH_ATTR int qnnc_dw_mve_s16(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                   const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                                   const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims,
                                   int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    int32_t b, oh, ow, c;
    int vec, small, rows8;

    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset) ||
        params->depth_multiplier != 1 || in_c != out_c || k_h * k_w > QNNC_DW16_MAX_TAPS) {
        return 0;
    }
    vec = qnnc_mve_s16_vec(quant, out_c);
    /* the bias and the taps' products fit int32 (qnnc_s16_sums_fit): int32 sums, vector output */
    small = vec && qnnc_s16_sums_fit(bias, out_c, k_h * k_w);
    /* whole groups of eight channels row by row (qnnc_dw16_row8_mve: activation bounds in int16) */
    rows8 = small && params->act_min >= -32768 && params->act_max <= 32767 ? out_c & ~7 : 0;
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < output_dims->h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            for (c = 0; c < rows8; c += 8) {
                qnnc_per_channel_quant qc;
                const int rows = kh1 > kh0; /* else no valid taps (and no loads) */
                qc.multiplier = quant->multiplier + c;
                qc.shift = quant->shift + c;
                qnnc_dw16_row8_mve((rows ? in_b + (ih0 + kh0 * dil_h) * in_w * in_c : in_b) + c,
                                   (rows ? filter + kh0 * k_w * out_c : filter) + c, kh1 - kh0, params, input_dims,
                                   filter_dims, output_dims->w, bias != NULL ? bias + c : NULL, &qc, vec, output + c);
            }
            for (ow = 0; ow < output_dims->w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw0, kw1;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                {
                    /* the first valid tap, and the steps to the next tap in a row and to the next row */
                    const int empty = kh1 == kh0 || kw1 == kw0; /* a window without valid taps */
                    const int16_t *px = empty ? in_b : in_b + ((ih0 + kh0 * dil_h) * in_w + iw0 + kw0 * dil_w) * in_c;
                    const int8_t *fk = empty ? filter : filter + (kh0 * k_w + kw0) * out_c;
                    const int32_t x_row = dil_h * in_w * in_c, x_col = dil_w * in_c;
                    const int32_t f_row = k_w * out_c, f_col = out_c;
                    const int32_t xs[2] = {x_row, x_col}, fs[2] = {f_row, f_col};
                    for (c = rows8; small && c < out_c; c += 8) { /* the other channels */
                        qnnc_per_channel_quant qc;
                        qc.multiplier = quant->multiplier + c;
                        qc.shift = quant->shift + c;
                        qnnc_dw16_out8_mve(px + c, xs, fk + c, fs, kh1 - kh0, kw1 - kw0, out_c - c < 8 ? out_c - c : 8,
                                           bias != NULL ? bias + c : NULL, &qc, params, vec, output + c);
                    }
                    for (c = 0; !small && c < out_c; c += 8) {
                        int32_t sum[8];
                        int64_t acc[8];
                        int32_t j;
                        const int32_t n = out_c - c < 8 ? out_c - c : 8;
                        qnnc_dw16_sum8_mve(px + c, x_row, x_col, fk + c, f_row, f_col, kh1 - kh0, kw1 - kw0, n, sum);
                        for (j = 0; j < n; ++j) {
                            acc[j] = (bias != NULL ? bias[c + j] : 0) + sum[(j >> 1) + (j & 1) * 4];
                        }
                        qnnc_mve_out4_s16(acc, n < 4 ? n : 4, vec, quant, c, params->output_offset, params->act_min,
                                          params->act_max, output + c);
                        if (n > 4) {
                            qnnc_mve_out4_s16(acc + 4, n - 4, vec, quant, c + 4, params->output_offset,
                                              params->act_min, params->act_max, output + c + 4);
                        }
                    }
                }
                output += out_c;
            }
        }
    }
    return 1;
}
#endif
