/*
 * qnnc_fully_connected_s16 - fully connected with int16 activations and int8 weights (16x8).
 * Reference: qnnc/reference/kernels_s16.py:fully_connected_s16. Model: CMSIS-NN arm_fully_connected_s16.
 */
#include "qnnc_s16_internal.h"

static void qnnc_fully_connected_s16_portable(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                                              int32_t rows, int32_t in_features, const int16_t *input,
                                              int32_t out_features, const int8_t *weights,
                                              const int64_t *bias, int16_t *output)
{
    int32_t r, o;

    for (r = 0; r < rows; ++r) {
        const int16_t *x = input + r * in_features;
        for (o = 0; o < out_features; ++o) {
            const int64_t acc = (bias != NULL ? bias[o] : 0) +
                                qnnc_dot_s16_s8(x, weights + o * in_features, in_features, params->input_offset);
            *output++ = qnnc_output_s16(acc, quant->multiplier[o], quant->shift[o], params->output_offset,
                                        params->act_min, params->act_max);
        }
    }
}

void qnnc_fully_connected_s16(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                              int32_t rows, int32_t in_features, const int16_t *input,
                              int32_t out_features, const int8_t *weights,
                              const int64_t *bias, int16_t *output)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    if (QNNC_SIMD_PATH(qnnc_fc_mve_s16, qnnc_fc_dsp_s16)(params, quant, rows, in_features, input, out_features,
                                                          weights, bias, output)) {
        return;
    }
#endif
    qnnc_fully_connected_s16_portable(params, quant, rows, in_features, input, out_features, weights, bias, output);
}
