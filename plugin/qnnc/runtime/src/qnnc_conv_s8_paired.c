/*
 * qnnc_conv_s8_paired.c - qnnc_conv_s8 over weights laid out in channel pairs (the generator's
 * layout for the Armv7E-M DSP path: qnnc/emit/paired_weights.py): the entry point, which runs
 * the DSP path (qnnc_conv_s8_paired_dsp.c) where it is compiled in and takes the layer, and the
 * portable path, which reads the same layout one weight at a time (a layer outside the DSP
 * path's conditions, or a build without it: correct, not fast).
 */
#include "qnnc_internal.h"

/* Weight of output channel oc, tap k (OHWI order) in the paired layout of kp taps a row. */
QNNC_INLINE int32_t qnnc_paired_weight(const int8_t *filter, int32_t kp, int32_t oc, int32_t k)
{
    return filter[(oc >> 1) * 2 * kp + (k >> 2) * 8 + (oc & 1) * 4 + (k & 3)];
}

static QNNC_PATH_ATTR void qnnc_conv_s8_paired_portable(const qnnc_conv_params *params,
                                                        const qnnc_per_channel_quant *quant,
                                                        const qnnc_dims *input_dims, const int8_t *input,
                                                        const qnnc_dims *filter_dims, const int8_t *filter,
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
                                acc += qnnc_paired_weight(filter, kp, oc, (kh * k_w + kw) * in_c + c) *
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

void qnnc_conv_s8_paired(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                         const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                         const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                         const qnnc_dims *output_dims, int8_t *output)
{
#if QNNC_PATH_DSP
    if (qnnc_conv_paired_dsp_s8(scratch, params, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                                output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_conv_s8_paired_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
}

int32_t qnnc_conv_s8_paired_get_buffer_size(const qnnc_dims *input_dims, const qnnc_dims *filter_dims)
{
#if QNNC_PATH_DSP
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    return K <= QNNC_CONV_MAX_K ? QNNC_CONV_PAIRED_DSP_BUFFER_SIZE(K, input_dims->c) : 0;
#else
    (void)input_dims;
    (void)filter_dims;
    return 0;
#endif
}
