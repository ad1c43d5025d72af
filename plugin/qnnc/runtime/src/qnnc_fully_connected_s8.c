/*
 * qnnc_fully_connected_s8 - int8 fully connected layer, weights [out_features][in_features].
 * Reference: qnnc/reference/kernels.py:fully_connected_s8.
 */
#include "qnnc_kernels.h"

void qnnc_fully_connected_s8(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *weights,
                             const int32_t *bias, int8_t *output)
{
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
    int32_t r, o, k;

    for (r = 0; r < rows; ++r) {
        const int8_t *in_row = input + r * in_features;
        for (o = 0; o < out_features; ++o) {
            const int8_t *w_row = weights + o * in_features;
            int32_t acc = bias != NULL ? bias[o] : 0;
            int32_t v;
            for (k = 0; k < in_features; ++k) {
                acc += (int32_t)w_row[k] * ((int32_t)in_row[k] + input_offset);
            }
            v = qnnc_requantize(acc, quant->multiplier[o], quant->shift[o]);
            v = v < lo ? lo : (v > hi ? hi : v);
            v += output_offset;
            if (act_lut != NULL) {
                v = act_lut[v + 128];
            }
            *output++ = (int8_t)v;
        }
    }
}
