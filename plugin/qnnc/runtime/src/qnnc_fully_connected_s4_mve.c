/*
 * qnnc_fully_connected_s4_mve.c - the Helium path of qnnc_fully_connected_s4 (__ARM_FEATURE_MVE:
 * Cortex-M55/M85; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_fully_connected_s4.c).
 *
 * No working memory. Four output features at a time, each row's dot products by qnnc_s4_dot_mve
 * (qnnc_conv_s4_mve.c: 16 nibbles per 8 bytes unpacked with VSHL / VSLI / VSHR, VMLADAVA), the
 * four outputs requantized as one vector by qnnc_s4_out4_mve.
 */
#include "qnnc_internal.h"
#include "qnnc_s4_internal.h"

#if QNNC_PATH_MVE
void qnnc_fc_mve_s4(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                    int32_t in_features, const int8_t *input, int32_t out_features, const int8_t *packed_weights,
                    const int32_t *bias, int8_t *output)
{
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    int32_t r, o, c;
    for (r = 0; r < rows; ++r) {
        const int8_t *x = input + r * in_features;
        for (o = 0; o < out_features; o += 4) {
            const int32_t nch = out_features - o >= 4 ? 4 : out_features - o;
            int32_t acc[4] = {0, 0, 0, 0};
            for (c = 0; c < nch && bias != NULL; ++c) {
                acc[c] = bias[o + c];
            }
            qnnc_s4_dot_mve(packed_weights, o * in_features, in_features, nch, x, in_features, params->input_offset,
                            acc);
            qnnc_s4_out4_mve(acc, o, nch, quant, lo, hi, output_offset, params->act_lut, params->rounding,
                             output + o);
        }
        output += out_features;
    }
}
#endif /* QNNC_PATH_MVE */
