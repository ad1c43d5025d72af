/*
 * qnnc_fully_connected_s16_dsp.c - the Armv7E-M DSP path of qnnc_fully_connected_s16
 * (Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_fully_connected_s16.c). Model: CMSIS-NN arm_fully_connected_s16 (DSP).
 *
 * Two output features per pass over the input row (qnnc_dot2_s16_s8_dsp, qnnc_dot_s16_dsp.h:
 * PKHBT / PKHTB-repacked inputs, SXTB16 weights, SMLALD into 64-bit sums, exact for any length).
 * No scratch.
 */
#include "qnnc_s16_internal.h"
#include "qnnc_dot_s16_dsp.h"

#if QNNC_PATH_DSP
/** The DSP fully connected (input offset 0, else 0 is returned: the caller runs portable). */
QNNC_PATH_ATTR int qnnc_fc_dsp_s16(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                                   int32_t in_features, const int16_t *input, int32_t out_features,
                                   const int8_t *weights, const int64_t *bias, int16_t *output)
{
    int32_t r, o;
    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset)) {
        return 0;
    }
    for (r = 0; r < rows; ++r) {
        const int16_t *x = input + r * in_features;
        for (o = 0; o < out_features; o += 2) {
            const int has1 = o + 1 < out_features;
            int64_t acc[2];
            acc[0] = bias != NULL ? bias[o] : 0;
            acc[1] = bias != NULL && has1 ? bias[o + 1] : 0;
            /* an odd last feature is computed twice */
            qnnc_dot2_s16_s8_dsp(x, weights + o * in_features, has1 ? in_features : 0, in_features, acc);
            *output++ = qnnc_output_s16_fast(acc[0], quant->multiplier[o], quant->shift[o], params->output_offset,
                                             params->act_min, params->act_max);
            if (has1) {
                *output++ = qnnc_output_s16_fast(acc[1], quant->multiplier[o + 1], quant->shift[o + 1],
                                                 params->output_offset, params->act_min, params->act_max);
            }
        }
    }
    return 1;
}
#endif
