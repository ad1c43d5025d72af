/*
 * qnnc_depthwise_conv_s4_mve.c - the Helium path of qnnc_depthwise_conv_s4 (__ARM_FEATURE_MVE:
 * Cortex-M55/M85; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_depthwise_conv_s4.c).
 *
 * No working memory. Any depth multiplier; an even channel count (so a tap's weights start at an
 * even nibble; the caller runs the portable path otherwise). Four output channels per vector of
 * int32 lanes, the channel blocks outermost: a block's per-lane offsets, requantization constants
 * and bias are set up once, then every output pixel sums its in-range taps. Per tap, the input
 * bytes of the lanes' input channels (oc / depth_multiplier: a widening load for multiplier 1, a
 * gather otherwise) plus the offset, and the weights: a gather of the bytes holding the lanes'
 * nibbles, shifted left by 28 (low nibble) or 24 (high) and arithmetically right by 28. The last
 * out_c % 4 channels are predicated lanes.
 */
#include "qnnc_internal.h"

#if QNNC_PATH_MVE
/* The 16 weights of 8 packed bytes in order (as in qnnc_conv_s4_mve.c): nibble 2i to the high
 * half of byte 2i, nibble 2i + 1 to that of byte 2i + 1 (VSHL, VSLI), then an int8 VSHR #4. */
QNNC_INLINE int8x16_t qnnc_s4_w16_mve(const uint8_t *p)
{
    const uint16x8_t b = vldrbq_u16(p);
    return vshrq_n_s8(vreinterpretq_s8_u16(vsliq_n_u16(vshlq_n_u16(b, 4), b, 8)), 4);
}

/* The sums of one pixel's in-range taps: x at the first tap's pixel (channel 0 of the block's
 * first input channel), w at its weights' byte; st: bytes between window rows, columns,
 * weight rows, columns. */
static QNNC_LOOP_ATTR int32x4_t qnnc_dw4_s4_mve(int32x4_t acc, const int8_t *x, const uint8_t *w, int32_t nh,
                                                int32_t nw, const int32_t *st, uint32x4_t xo, uint32x4_t wo,
                                                int32x4_t sh, int32_t off, int32_t contiguous, mve_pred16_t pr)
{
    int32_t kh, kw;
    for (kh = 0; kh < nh; ++kh) {
        const int8_t *xp = x + kh * st[0];
        const uint8_t *wp = w + kh * st[2];
        for (kw = 0; kw < nw; ++kw) {
            const int32x4_t xv = contiguous ? vldrbq_z_s32(xp, pr) : vldrbq_gather_offset_z_s32(xp, xo, pr);
            const int32x4_t wb = vreinterpretq_s32_u32(vldrbq_gather_offset_z_u32(wp, wo, pr));
            acc = vaddq_s32(acc, vmulq_s32(vaddq_n_s32(xv, off), vshrq_n_s32(vshlq_s32(wb, sh), 28)));
            xp += st[1];
            wp += st[3];
        }
    }
    return acc;
}

/* Depth multiplier 1, 16 channels from c0 (out_c a multiple of 16) at every output pixel: per tap
 * 16 inputs and 16 weights (qnnc_s4_w16_mve) widened to int16 (VMOVLB / VMOVLT: channels 2j,
 * 2j + 1) and multiplied into int32 (VMULLB / VMULLT): accumulators of channels {0, 4, 8, 12} + r
 * for r = 0, 2, 1, 3, stored with scatters. */
static QNNC_LOOP_ATTR void qnnc_dw16_s4_mve(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                            const qnnc_dims *input_dims, const int8_t *input,
                                            const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                                            const qnnc_dims *output_dims, int8_t *output, int32_t c0)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_c = output_dims->c, k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t off = params->input_offset, output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t x_col = dil_w * in_c, w_row = k_w * out_c / 2, w_col = out_c / 2;
    const uint32x4_t o4 = vmulq_n_u32(vidupq_n_u32(0u, 1), 4u); /* 0, 4, 8, 12 */
    static const int32_t lane_r[4] = {0, 2, 1, 3};
    int32_t b, oh, ow, i;
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c + c0;
        for (oh = 0; oh < output_dims->h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            for (ow = 0; ow < output_dims->w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw0, kw1, kh, kw;
                int32x4_t acc[4];
                int8_t *out = output + ((b * output_dims->h + oh) * output_dims->w + ow) * out_c + c0;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                for (i = 0; i < 4; ++i) {
                    acc[i] = bias != NULL ? vldrwq_gather_shifted_offset_s32(bias + c0 + lane_r[i], o4) : vdupq_n_s32(0);
                }
                for (kh = kh0; kh < kh1 && kw1 > kw0; ++kh) {
                    const int8_t *xp = in_b + (ih0 + kh * dil_h) * in_w * in_c + (iw0 + kw0 * dil_w) * in_c;
                    const uint8_t *wp = (const uint8_t *)filter + kh * w_row + kw0 * w_col + c0 / 2;
                    for (kw = kw0; kw < kw1; ++kw) {
                        const int8x16_t xv = vldrbq_s8(xp), wv = qnnc_s4_w16_mve(wp);
                        const int16x8_t xe = vaddq_n_s16(vmovlbq_s8(xv), (int16_t)off);
                        const int16x8_t xo = vaddq_n_s16(vmovltq_s8(xv), (int16_t)off);
                        const int16x8_t we = vmovlbq_s8(wv), wo = vmovltq_s8(wv);
                        acc[0] = vaddq_s32(acc[0], vmullbq_int_s16(xe, we));
                        acc[1] = vaddq_s32(acc[1], vmulltq_int_s16(xe, we));
                        acc[2] = vaddq_s32(acc[2], vmullbq_int_s16(xo, wo));
                        acc[3] = vaddq_s32(acc[3], vmulltq_int_s16(xo, wo));
                        xp += x_col;
                        wp += w_col;
                    }
                }
                for (i = 0; i < 4; ++i) {
                    const int32_t r = c0 + lane_r[i];
                    if (params->rounding == QNNC_ROUND_TFLITE) {
                        const int32x4_t shift = vldrwq_gather_shifted_offset_s32(quant->shift + r, o4);
                        const int32x4_t left = vmaxq_s32(shift, vdupq_n_s32(0));
                        const int32x4_t neg_right = vmaxq_s32(vminq_s32(shift, vdupq_n_s32(0)), vdupq_n_s32(-31));
                        const int32x4_t v = qnnc_mve_requantize(
                            acc[i], vldrwq_gather_shifted_offset_s32(quant->multiplier + r, o4), left, neg_right);
                        vstrbq_scatter_offset_s32(out + lane_r[i], o4,
                                                  qnnc_mve_clamp_offset(v, vdupq_n_s32(lo), vdupq_n_s32(hi),
                                                                        output_offset));
                    } else {
                        int32_t a[4], j;
                        vst1q_s32(a, acc[i]);
                        for (j = 0; j < 4; ++j) {
                            out[lane_r[i] + 4 * j] = qnnc_output_s8(a[j], quant->multiplier[r + 4 * j],
                                                                    quant->shift[r + 4 * j], lo, hi, output_offset,
                                                                    params->act_lut, params->rounding);
                        }
                    }
                }
                if (params->rounding == QNNC_ROUND_TFLITE) {
                    qnnc_apply_lut(params->act_lut, out, 16);
                }
            }
        }
    }
}

int qnnc_dw_mve_s4(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                   const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                   const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                   const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, m = params->depth_multiplier;
    const int32_t off = params->input_offset, output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    int32_t st[4], oc;
    (void)scratch; /* the int4 paths need no working memory */
    if ((out_c & 1) != 0 || m < 1) {
        return 0;
    }
    if (m == 1 && (out_c & 15) == 0) {
        for (oc = 0; oc < out_c; oc += 16) {
            qnnc_dw16_s4_mve(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, oc);
        }
        return 1;
    }
    st[0] = dil_h * in_w * in_c; /* bytes between window rows, columns; weight rows, columns */
    st[1] = dil_w * in_c;
    st[2] = k_w * out_c / 2;
    st[3] = out_c / 2;
    for (oc = 0; oc < out_c; oc += 4) {
        const int32_t nch = out_c - oc >= 4 ? 4 : out_c - oc;
        const mve_pred16_t pr = vctp32q((uint32_t)nch);
        const int32_t ic0 = oc / m;
        const uint32x4_t lane = vidupq_n_u32(0u, 1);
        /* lane j: input channel (oc + j) / m - ic0; weight byte (oc + j) / 2 - oc / 2, nibble j & 1 */
        uint32_t xoff[4], j;
        int32_t shv[4];
        const int32x4_t bias_v = bias != NULL ? vldrwq_z_s32(bias + oc, pr) : vdupq_n_s32(0);
        const int32x4_t mult_v = vldrwq_z_s32(quant->multiplier + oc, pr);
        const int32x4_t shift_v = vldrwq_z_s32(quant->shift + oc, pr);
        const int32x4_t left = vmaxq_s32(shift_v, vdupq_n_s32(0));
        const int32x4_t neg_right = vmaxq_s32(vminq_s32(shift_v, vdupq_n_s32(0)), vdupq_n_s32(-31));
        int8_t *out = output + oc;
        int32_t b, oh, ow;
        for (j = 0; j < 4u; ++j) {
            xoff[j] = (uint32_t)((oc + (int32_t)j) / m - ic0);
            shv[j] = ((oc + (int32_t)j) & 1) != 0 ? 24 : 28;
        }
        {
            const uint32x4_t xo_v = vld1q_u32(xoff);
            const uint32x4_t wo_v = vshrq_n_u32(lane, 1); /* oc is a multiple of 4 */
            const int32x4_t sh_v = vld1q_s32(shv);
            const int contiguous = m == 1;
            for (b = 0; b < output_dims->n; ++b) {
                const int8_t *in_b = input + b * in_h * in_w * in_c;
                for (oh = 0; oh < out_h; ++oh) {
                    const int32_t ih0 = oh * params->stride_h - params->pad_top;
                    int32_t kh0, kh1;
                    qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
                    for (ow = 0; ow < out_w; ++ow) {
                        const int32_t iw0 = ow * params->stride_w - params->pad_left;
                        int32_t kw0, kw1;
                        int32x4_t acc = bias_v;
                        qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                        if (kh1 > kh0 && kw1 > kw0) {
                            const int32_t first = (ih0 + kh0 * dil_h) * in_w * in_c + (iw0 + kw0 * dil_w) * in_c + ic0;
                            acc = qnnc_dw4_s4_mve(acc, in_b + first,
                                                  (const uint8_t *)filter + kh0 * st[2] + kw0 * st[3] + oc / 2,
                                                  kh1 - kh0, kw1 - kw0, st, xo_v, wo_v, sh_v, off, contiguous, pr);
                        }
                        if (params->rounding == QNNC_ROUND_TFLITE) {
                            const int32x4_t v = qnnc_mve_requantize(acc, mult_v, left, neg_right);
                            vstrbq_p_s32(out, qnnc_mve_clamp_offset(v, vdupq_n_s32(lo), vdupq_n_s32(hi), output_offset),
                                         pr);
                            qnnc_apply_lut(params->act_lut, out, nch);
                        } else {
                            int32_t a[4], c;
                            vst1q_s32(a, acc);
                            for (c = 0; c < nch; ++c) {
                                out[c] = qnnc_output_s8(a[c], quant->multiplier[oc + c], quant->shift[oc + c], lo, hi,
                                                        output_offset, params->act_lut, params->rounding);
                            }
                        }
                        out += out_c;
                    }
                }
            }
        }
    }
    return 1;
}
#endif /* QNNC_PATH_MVE */
