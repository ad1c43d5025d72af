/*
 * qnnc_conv_s8_paired.c - qnnc_conv_s8 over weights laid out in channel pairs (the generator's
 * layout for the Armv7E-M DSP path: qnnc/emit/paired_weights.py): the entry point, which runs
 * the DSP path (qnnc_conv_s8_paired_dsp.c) where it is compiled in and takes the layer, and the
 * portable path, which reads the same layout one weight at a time (a layer outside the DSP
 * path's conditions, or a build without it: correct, not fast; qnnc_conv_paired_portable.h).
 */
#include "qnnc_conv_paired_portable.h"

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
    qnnc_conv_s8_paired_portable(params, quant, input_dims, input, filter_dims, filter, 0, bias, output_dims,
                                 output);
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
