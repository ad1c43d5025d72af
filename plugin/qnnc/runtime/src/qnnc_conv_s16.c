/*
 * qnnc_conv_s16 - convolution (group 1) with int16 activations and int8 weights (16x8), NHWC.
 * Reference: qnnc/reference/kernels_s16.py:conv_s16. Model: CMSIS-NN arm_convolve_s16. The DSP and
 * Helium paths take kernel scratch (qnnc_conv_s16_get_buffer_size); the portable path needs none.
 */
#include "qnnc_s16_internal.h"

static void qnnc_conv_s16_portable(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                   const qnnc_dims *input_dims, const int16_t *input,
                                   const qnnc_dims *filter_dims, const int8_t *filter,
                                   const int64_t *bias,
                                   const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t in_off = params->input_offset;
    const int32_t dil_w = params->dilation_w;
    int32_t b, oh, ow, oc, kh, kw;

    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t ih0 = oh * params->stride_h - params->pad_top;
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                /* with dilation 1 the valid taps of a kernel row are contiguous in the input and
                 * the filter: one dot product per row */
                const int32_t kw_first = iw0 < 0 ? -iw0 : 0;
                const int32_t kw_last = in_w - iw0 < k_w ? in_w - iw0 : k_w;
                for (oc = 0; oc < out_c; ++oc) {
                    const int8_t *f = filter + oc * k_h * k_w * in_c;
                    int64_t acc = bias != NULL ? bias[oc] : 0;
                    for (kh = 0; kh < k_h; ++kh) {
                        const int32_t ih = ih0 + kh * params->dilation_h;
                        if (ih < 0 || ih >= in_h) {
                            continue; /* padding taps contribute nothing */
                        }
                        if (dil_w == 1) {
                            if (kw_last > kw_first) {
                                acc += qnnc_dot_s16_s8(in_b + (ih * in_w + iw0 + kw_first) * in_c,
                                                       f + (kh * k_w + kw_first) * in_c,
                                                       (kw_last - kw_first) * in_c, in_off);
                            }
                            continue;
                        }
                        for (kw = 0; kw < k_w; ++kw) {
                            const int32_t iw = iw0 + kw * dil_w;
                            if (iw >= 0 && iw < in_w) {
                                acc += qnnc_dot_s16_s8(in_b + (ih * in_w + iw) * in_c, f + (kh * k_w + kw) * in_c,
                                                       in_c, in_off);
                            }
                        }
                    }
                    *output++ = qnnc_output_s16(acc, quant->multiplier[oc], quant->shift[oc], params->output_offset,
                                                params->act_min, params->act_max);
                }
            }
        }
    }
}

int32_t qnnc_conv_s16_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                      const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
#if QNNC_PATH_DSP || QNNC_PATH_MVE
    /* the two-pixel paths: whole groups of 4 taps, int32 sums (at most 511 products); Helium also
     * whole groups of 4 channels */
    if (params->input_offset == 0 && (K & 3) == 0 && K >= 4 && K <= 511) {
#if QNNC_PATH_MVE
        return (output_dims->c & 3) == 0 ? QNNC_CONV_S16_MVE_BUFFER_SIZE(K) : 0;
#else
        (void)output_dims;
        return QNNC_CONV_S16_DSP_BUFFER_SIZE(K);
#endif
    }
#else
    (void)params;
    (void)K;
#endif
    (void)output_dims;
    return 0;
}

void qnnc_conv_s16(const qnnc_buffer *scratch, const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                   const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                   const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims, int16_t *output)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    if (QNNC_SIMD_PATH(qnnc_conv_mve_s16, qnnc_conv_dsp_s16)(scratch, params, quant, input_dims, input, filter_dims,
                                                              filter, bias, output_dims, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_conv_s16_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
}
