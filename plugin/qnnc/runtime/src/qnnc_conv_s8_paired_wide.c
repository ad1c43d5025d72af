/*
 * qnnc_conv_s8_paired_wide.c - qnnc_conv_s8_paired over the int16 copy of the channel-pair layout
 * (execution.wide_weights: qnnc/emit/wide_weights.py): the entry point, which runs the DSP path's
 * int16 instance (qnnc_conv_s8_paired_dsp.c, whose loop then needs no SXTB16) where it is compiled
 * in and takes the layer, else the portable path (qnnc_conv_paired_portable.h). The generated code
 * calls it on the DSP builds only (QNNC_CONV_S8_PAIRED_WIDE_CALL); the scratch is
 * qnnc_conv_s8_paired_get_buffer_size's.
 */
#include "qnnc_conv_paired_portable.h"

void qnnc_conv_s8_paired_wide(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                              const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                              const qnnc_dims *filter_dims, const int16_t *filter, const int32_t *bias,
                              const qnnc_dims *output_dims, int8_t *output)
{
#if QNNC_PATH_DSP
    if (qnnc_conv_paired_dsp_s8_wide(scratch, params, quant, input_dims, input, filter_dims,
                                     (const int8_t *)(const void *)filter, bias, output_dims, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_conv_s8_paired_portable(params, quant, input_dims, input, filter_dims, filter, 1, bias, output_dims,
                                 output);
}
