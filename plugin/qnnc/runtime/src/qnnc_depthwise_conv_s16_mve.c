/*
 * qnnc_depthwise_conv_s16_mve.c - the Helium path of qnnc_depthwise_conv_s16
 * (__ARM_FEATURE_MVE: Cortex-M55/M85; compiled to nothing elsewhere; the entry point and
 * dispatch are in qnnc_depthwise_conv_s16.c). Model: CMSIS-NN arm_depthwise_conv_s16 (MVE).
 *
 * Depth multiplier 1, input offset 0, eight channels of one output pixel at a time with the taps
 * inside. A product is at most 2^22 in magnitude. When the taps' sums plus the bias fit int32
 * (qnnc_s16_sums_fit) and shifts are <= 13 (what the quantizer produces), the sums start from
 * the biases and the requantization (qnnc_mve_output_s16) and the stores follow without leaving
 * the vector registers: whole groups of eight channels take VMULLB / VMULLT products of the
 * even and odd lanes (gathers and scatters keep the channels apart), a last group of fewer
 * channels widening loads to int32 lanes (VLDRH.S32, VLDRB.S32).
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
 * VLDRB.S32) so the sums stay in channel order, then the bias, qnnc_mve_output_s16 and a
 * narrowing store, without leaving the vector registers. */
static QNNC_LOOP_ATTR void qnnc_dw16_out8_mve(const int16_t *px, const int32_t *xs, const int8_t *fk,
                                              const int32_t *fs, int32_t n_h, int32_t n_w, int32_t n,
                                              const int64_t *bias, const qnnc_per_channel_quant *quant,
                                              const qnnc_conv_params *params, int16_t *out)
{
    const mve_pred16_t p0 = vctp32q((uint32_t)n), p1 = vctp32q((uint32_t)(n > 4 ? n - 4 : 0));
    const int32_t o4 = n > 4 ? 4 : 0; /* the second vector's offset (all lanes off when n <= 4) */
    const int32_t x_row = xs[0], x_col = xs[1], f_row = fs[0], f_col = fs[1];
    int32x4_t s0 = qnnc_mve_bias4_s16(bias, 0, n < 4 ? n : 4);
    int32x4_t s1 = qnnc_mve_bias4_s16(bias, o4, n - o4 > 0 ? n - o4 : 0);
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
    vstrhq_p_s32(out, qnnc_mve_output_s16(s0, vldrwq_z_s32(quant->multiplier, p0), vldrwq_z_s32(quant->shift, p0),
                                          params->output_offset, params->act_min, params->act_max), p0);
    vstrhq_p_s32(out + o4, qnnc_mve_output_s16(s1, vldrwq_z_s32(quant->multiplier + o4, p1),
                                               vldrwq_z_s32(quant->shift + o4, p1), params->output_offset,
                                               params->act_min, params->act_max), p1);
}

/* Outputs 0 .. 7 of one pixel, a whole group of eight channels, when the layer's sums fit int32:
 * one int16 load of the inputs and one widening load of the weights per tap, VMULLB / VMULLT
 * products of the even and odd channels added to two int32 sums that start from their biases
 * (the int64 biases' low words, gathered), then the requantization with the even / odd
 * channels' multipliers and shifts (gathered) and stores to the even / odd outputs (scattered):
 * the lanes never need reordering. */
static QNNC_LOOP_ATTR void qnnc_dw16_full8_mve(const int16_t *px, const int32_t *xs, const int8_t *fk,
                                               const int32_t *fs, int32_t n_h, int32_t n_w, const int64_t *bias,
                                               const qnnc_per_channel_quant *quant, const qnnc_conv_params *params,
                                               int16_t *out)
{
    const uint32x4_t even = vidupq_n_u32(0u, 2), odd = vidupq_n_u32(1u, 2);
    const int32_t x_row = xs[0], x_col = xs[1], f_row = fs[0], f_col = fs[1];
    int32x4_t se = vdupq_n_s32(0), so = vdupq_n_s32(0);
    int32_t i, j;
    if (bias != NULL) { /* channel c's low word is int32 word 2c (little-endian int64) */
        se = vldrwq_gather_shifted_offset_s32((const int32_t *)bias, vidupq_n_u32(0u, 4));
        so = vldrwq_gather_shifted_offset_s32((const int32_t *)bias, vidupq_n_u32(2u, 4));
    }
    for (i = 0; i < n_h; ++i) {
        const int16_t *xp = px;
        const int8_t *fp = fk;
        for (j = 0; j < n_w; ++j) {
            const int16x8_t xv = vldrhq_s16(xp), wv = vldrbq_s16(fp);
            se = vaddq_s32(se, vmullbq_int_s16(xv, wv));
            so = vaddq_s32(so, vmulltq_int_s16(xv, wv));
            xp += x_col;
            fp += f_col;
        }
        px += x_row;
        fk += f_row;
    }
    vstrhq_scatter_shifted_offset_s32(
        out, even,
        qnnc_mve_output_s16(se, vldrwq_gather_shifted_offset_s32(quant->multiplier, even),
                            vldrwq_gather_shifted_offset_s32(quant->shift, even), params->output_offset,
                            params->act_min, params->act_max));
    vstrhq_scatter_shifted_offset_s32(
        out, odd,
        qnnc_mve_output_s16(so, vldrwq_gather_shifted_offset_s32(quant->multiplier, odd),
                            vldrwq_gather_shifted_offset_s32(quant->shift, odd), params->output_offset,
                            params->act_min, params->act_max));
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
    int vec, small;

    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset) ||
        params->depth_multiplier != 1 || in_c != out_c || k_h * k_w > QNNC_DW16_MAX_TAPS) {
        return 0;
    }
    vec = qnnc_mve_s16_shifts_ok(quant->shift, out_c);
    /* the bias and the taps' products fit int32 (qnnc_s16_sums_fit): int32 sums, vector output */
    small = vec && qnnc_s16_sums_fit(bias, out_c, k_h * k_w);
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < output_dims->h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
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
                    for (c = 0; small && c < out_c; c += 8) {
                        qnnc_per_channel_quant qc;
                        qc.multiplier = quant->multiplier + c;
                        qc.shift = quant->shift + c;
                        if (out_c - c >= 8) {
                            qnnc_dw16_full8_mve(px + c, xs, fk + c, fs, kh1 - kh0, kw1 - kw0,
                                                bias != NULL ? bias + c : NULL, &qc, params, output + c);
                            continue;
                        }
                        qnnc_dw16_out8_mve(px + c, xs, fk + c, fs, kh1 - kh0, kw1 - kw0, out_c - c < 8 ? out_c - c : 8,
                                           bias != NULL ? bias + c : NULL, &qc, params, output + c);
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
