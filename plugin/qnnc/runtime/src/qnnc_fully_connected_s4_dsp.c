/*
 * qnnc_fully_connected_s4_dsp.c - the Armv7E-M DSP path of qnnc_fully_connected_s4
 * (__ARM_FEATURE_DSP without Helium: Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry
 * point and dispatch are in qnnc_fully_connected_s4.c).
 *
 * No working memory. Two output features at a time, each row's dot product by qnnc_s4_dot_dsp
 * (qnnc_conv_s4_dsp.c: eight nibbles per word unpacked with masks and SXTB16, SMLAD), the output
 * stage qnnc_s4_out_dsp.
 */
#include "qnnc_internal.h"
#include "qnnc_s4_internal.h"

#if QNNC_PATH_DSP
void qnnc_fc_dsp_s4(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                    int32_t in_features, const int8_t *input, int32_t out_features, const int8_t *packed_weights,
                    const int32_t *bias, int8_t *output)
{
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    int32_t r, o, c;
    for (r = 0; r < rows; ++r) {
        const int8_t *x = input + r * in_features;
        for (o = 0; o < out_features; o += 2) {
            const int32_t two = out_features - o >= 2 ? 2 : 1;
            int32_t acc[2], s[2];
            s[0] = o * in_features;
            s[1] = s[0] + in_features;
            for (c = 0; c < two; ++c) {
                acc[c] = bias != NULL ? bias[o + c] : 0;
            }
            qnnc_s4_dot_dsp(packed_weights, s, two, x, in_features, params->input_offset, acc);
            for (c = 0; c < two; ++c) {
                output[o + c] = qnnc_s4_out_dsp(acc[c], quant->multiplier[o + c], quant->shift[o + c], lo, hi,
                                                output_offset, params->act_lut, params->rounding);
            }
        }
        output += out_features;
    }
}
#endif /* QNNC_PATH_DSP */
