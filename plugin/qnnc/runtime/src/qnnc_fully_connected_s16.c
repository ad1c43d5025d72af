/*
 * qnnc_fully_connected_s16 - fully connected with int16 activations and int8 weights (16x8).
 * Reference: qnnc/reference/kernels_s16.py:fully_connected_s16. Model: CMSIS-NN arm_fully_connected_s16.
 */
#include "qnnc_kernels.h"

void qnnc_fully_connected_s16(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                              int32_t rows, int32_t in_features, const int16_t *input,
                              int32_t out_features, const int8_t *weights,
                              const int64_t *bias, int16_t *output)
{
    const int32_t in_off = params->input_offset;
    int32_t r, o, k;

    for (r = 0; r < rows; ++r) {
        const int16_t *x = input + r * in_features;
        for (o = 0; o < out_features; ++o) {
            const int8_t *w = weights + o * in_features;
            int64_t acc = bias != NULL ? bias[o] : 0;
            int32_t k0;
            for (k0 = 0; k0 < in_features; k0 += 256) {
                /* |(x + off) * w| < 2^23: an int32 partial sum of 256 products cannot overflow */
                const int32_t k_end = in_features - k0 < 256 ? in_features : k0 + 256;
                int32_t part = 0;
                for (k = k0; k < k_end; ++k) {
                    part += ((int32_t)x[k] + in_off) * (int32_t)w[k];
                }
                acc += part;
            }
            *output++ = qnnc_clamp_s16(qnnc_requantize_s64(acc, quant->multiplier[o], quant->shift[o])
                                       + params->output_offset, params->act_min, params->act_max);
        }
    }
}
