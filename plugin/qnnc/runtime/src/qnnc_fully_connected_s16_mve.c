/*
 * qnnc_fully_connected_s16_mve.c - the Helium path of qnnc_fully_connected_s16
 * (__ARM_FEATURE_MVE: Cortex-M55/M85; compiled to nothing elsewhere; the entry point and
 * dispatch are in qnnc_fully_connected_s16.c). Model: CMSIS-NN arm_fully_connected_s16 (MVE).
 *
 * Four output features per pass over the input row (qnnc_dot4_s16_s8_mve, qnnc_dot_s16_mve.h:
 * VLDRH inputs against VLDRB.S16 weights, VMLADAVA into int32 chunks added to int64 sums, exact
 * for any length). No scratch.
 */
#include "qnnc_s16_internal.h"
#include "qnnc_dot_s16_mve.h"

#if QNNC_PATH_MVE
/** The Helium fully connected (input offset 0, else 0 is returned: the caller runs portable). */
QNNC_PATH_ATTR int qnnc_fc_mve_s16(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                                   int32_t in_features, const int16_t *input, int32_t out_features,
                                   const int8_t *weights, const int64_t *bias, int16_t *output)
{
    int32_t r, o, j;
    int vec;
    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset)) {
        return 0;
    }
    vec = qnnc_mve_s16_vec(quant, out_features);
    for (r = 0; r < rows; ++r) {
        const int16_t *x = input + r * in_features;
        for (o = 0; o < out_features; o += 4) {
            const int8_t *wj[4];
            int64_t acc[4];
            for (j = 0; j < 4; ++j) {
                /* fewer than 4 features left: the last one is computed again in the spare lanes */
                const int32_t f = o + j < out_features ? o + j : out_features - 1;
                wj[j] = weights + f * in_features;
                acc[j] = bias != NULL ? bias[f] : 0;
            }
            qnnc_dot4_s16_s8_mve(x, wj, in_features, acc);
            qnnc_mve_out4_s16(acc, out_features - o < 4 ? out_features - o : 4, vec, quant, o, params->output_offset,
                              params->act_min, params->act_max, output + o);
        }
        output += out_features;
    }
    return 1;
}
#endif
