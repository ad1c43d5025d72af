/*
 * qnnc_depthwise_conv_s16 - depthwise convolution with int16 activations and int8 weights (16x8).
 * Reference: qnnc/reference/kernels_s16.py:depthwise_conv_s16. Model: CMSIS-NN arm_depthwise_conv_s16.
 */
#include "qnnc_s16_internal.h"

#define QNNC_DW16_BLOCK 16 /* output channels accumulated together (int64 sums on the stack) */

static void qnnc_depthwise_conv_s16_portable(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                             const qnnc_dims *input_dims, const int16_t *input,
                                             const qnnc_dims *filter_dims, const int8_t *filter,
                                             const int64_t *bias,
                                             const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t dm = params->depth_multiplier;
    const int32_t in_off = params->input_offset;
    int32_t b, oh, ow, oc0, c, kh, kw;

    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t ih0 = oh * params->stride_h - params->pad_top;
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                /* Taps outer, a block of channels inner: the input pixel and the filter tap are
                 * contiguous over channels (depth multiplier 1), so the inner loop streams. */
                for (oc0 = 0; oc0 < out_c; oc0 += QNNC_DW16_BLOCK) {
                    const int32_t n = out_c - oc0 < QNNC_DW16_BLOCK ? out_c - oc0 : QNNC_DW16_BLOCK;
                    int64_t acc[QNNC_DW16_BLOCK];
                    for (c = 0; c < n; ++c) {
                        acc[c] = bias != NULL ? bias[oc0 + c] : 0;
                    }
                    for (kh = 0; kh < k_h; ++kh) {
                        const int32_t ih = ih0 + kh * params->dilation_h;
                        if (ih < 0 || ih >= in_h) {
                            continue; /* padding taps contribute nothing */
                        }
                        for (kw = 0; kw < k_w; ++kw) {
                            const int32_t iw = iw0 + kw * params->dilation_w;
                            const int16_t *px;
                            const int8_t *fk = filter + (kh * k_w + kw) * out_c + oc0;
                            if (iw < 0 || iw >= in_w) {
                                continue;
                            }
                            px = in_b + (ih * in_w + iw) * in_c;
                            if (dm == 1) {
                                px += oc0;
                                for (c = 0; c < n; ++c) {
                                    acc[c] += ((int32_t)px[c] + in_off) * (int32_t)fk[c];
                                }
                            } else {
                                for (c = 0; c < n; ++c) {
                                    acc[c] += ((int32_t)px[(oc0 + c) / dm] + in_off) * (int32_t)fk[c];
                                }
                            }
                        }
                    }
                    for (c = 0; c < n; ++c) {
                        const int32_t oc = oc0 + c;
                        *output++ = qnnc_output_s16(acc[c], quant->multiplier[oc], quant->shift[oc],
                                                    params->output_offset, params->act_min, params->act_max);
                    }
                }
            }
        }
    }
}

void qnnc_depthwise_conv_s16(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                             const qnnc_dims *input_dims, const int16_t *input,
                             const qnnc_dims *filter_dims, const int8_t *filter,
                             const int64_t *bias,
                             const qnnc_dims *output_dims, int16_t *output)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    if (QNNC_SIMD_PATH(qnnc_dw_mve_s16, qnnc_dw_dsp_s16)(params, quant, input_dims, input, filter_dims, filter, bias,
                                                          output_dims, output)) {
        return;
    }
#endif
    qnnc_depthwise_conv_s16_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                                     output);
}
