/*
 * qnnc_fully_connected_s4 - fully connected with int8 activations and packed int4 weights.
 * Reference: qnnc/reference/kernels_s4.py:fully_connected_s4.
 *
 * The weights are [out_features][in_features] like qnnc_fully_connected_s8, flattened and
 * packed two per byte, low nibble first (CMSIS-NN arm_fully_connected_s4): weight i is the low
 * nibble of byte i/2 when i is even, the high nibble when odd; an odd count leaves the last
 * high nibble 0. With an odd in_features every other row starts mid-byte (qnnc_s4_dot
 * handles that). Portable C99 on every target.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE_SIZE__) && !defined(QNNC_NO_FORCE_O2)
#pragma GCC optimize("O2") /* kernels stay at -O2 when the firmware is built for size */
#endif

#include "qnnc_kernels.h"

void qnnc_fully_connected_s4(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *packed_weights,
                             const int32_t *bias, int8_t *output)
{
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
    int32_t r, o;

    for (r = 0; r < rows; ++r) {
        const int8_t *x = input + r * in_features;
        for (o = 0; o < out_features; ++o) {
            int32_t acc = bias != NULL ? bias[o] : 0;
            acc += qnnc_s4_dot(packed_weights, o * in_features, x, in_features, input_offset);
            *output++ = qnnc_output_s8(acc, quant->multiplier[o], quant->shift[o], lo, hi, output_offset,
                                       act_lut, params->rounding);
        }
    }
}
