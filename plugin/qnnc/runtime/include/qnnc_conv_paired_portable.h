/*
 * qnnc_conv_paired_portable.h - the portable path of qnnc_conv_s8_paired and qnnc_conv_s8_paired_wide
 * (qnnc_conv_s8_paired.c, qnnc_conv_s8_paired_wide.c): qnnc_conv_s8's loop reading the channel-pair
 * layout, int8 or int16, one weight at a time (a layer outside the DSP path's conditions, or a
 * build without it: correct, not fast).
 */
#ifndef QNNC_CONV_PAIRED_PORTABLE_H
#define QNNC_CONV_PAIRED_PORTABLE_H
#include "qnnc_internal.h"

/* Weight of output channel oc, tap k (OHWI order) in the paired layout of kp taps a row: int8, or
 * with wide int16 (qnnc_conv_s8_paired_wide: the 4 taps of a group in the order 0, 2, 1, 3). */
QNNC_INLINE int32_t qnnc_paired_weight(const void *filter, int wide, int32_t kp, int32_t oc, int32_t k)
{
    const int32_t at = (oc >> 1) * 2 * kp + (k >> 2) * 8 + (oc & 1) * 4;
    if (wide) {
        static const uint8_t lane[4] = {0, 2, 1, 3};
        return ((const int16_t *)filter)[at + lane[k & 3]];
    }
    return ((const int8_t *)filter)[at + (k & 3)];
}

/* Both entry points' portable path (wide: the int16 layout); its own function, as the SIMD paths
 * are (QNNC_PATH_ATTR: the stack high-water is the deeper path's, not their sum). */
static QNNC_PATH_ATTR void qnnc_conv_s8_paired_portable(const qnnc_conv_params *params,
                                                        const qnnc_per_channel_quant *quant,
                                                        const qnnc_dims *input_dims, const int8_t *input,
                                                        const qnnc_dims *filter_dims, const void *filter, int wide,
                                                        const int32_t *bias, const qnnc_dims *output_dims,
                                                        int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t kp = (k_h * k_w * in_c + 3) & ~3;
    const int32_t lo = params->act_min - params->output_offset, hi = params->act_max - params->output_offset;
    int32_t b, oh, ow, oc, kh, kw, c;
    for (b = 0; b < output_dims->n; ++b) {
        for (oh = 0; oh < out_h; ++oh) {
            for (ow = 0; ow < out_w; ++ow) {
                int8_t *out = output + ((b * out_h + oh) * out_w + ow) * out_c;
                for (oc = 0; oc < out_c; ++oc) {
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    for (kh = 0; kh < k_h; ++kh) {
                        const int32_t ih = oh * params->stride_h - params->pad_top + kh * params->dilation_h;
                        for (kw = 0; kw < k_w; ++kw) {
                            const int32_t iw = ow * params->stride_w - params->pad_left + kw * params->dilation_w;
                            const int8_t *x;
                            if (ih < 0 || ih >= in_h || iw < 0 || iw >= in_w) {
                                continue; /* padding: x + input_offset = 0 */
                            }
                            x = input + ((b * in_h + ih) * in_w + iw) * in_c;
                            for (c = 0; c < in_c; ++c) {
                                acc += qnnc_paired_weight(filter, wide, kp, oc, (kh * k_w + kw) * in_c + c) *
                                       (x[c] + params->input_offset);
                            }
                        }
                    }
                    out[oc] = qnnc_output_s8(acc, quant->multiplier[oc], quant->shift[oc], lo, hi,
                                             params->output_offset, params->act_lut, params->rounding);
                }
            }
        }
    }
}
#endif /* QNNC_CONV_PAIRED_PORTABLE_H */
