/*
 * qnnc_fully_connected_s8_wide - qnnc_fully_connected_s8 with int16 weights (config
 * execution.wide_weights): the entry point, the dispatch and the portable path. Generated code
 * calls it on the Armv7E-M DSP path only (QNNC_FC_S8_WIDE_CALL), where the loop then needs no
 * SXTB16 (qnnc_fully_connected_s8_wide_dsp.c); the portable path serves every other build and a
 * scratch buffer too small for the DSP path. Reference: qnnc/reference/kernels.py:fully_connected_s8
 * (the same sums); the layout: qnnc/emit/wide_weights.py.
 */
#define QNNC_REQUANTIZE_CALL qnnc_fc_wide_requantize /* qnnc_rq_out's rare cases (qnnc_internal.h) */
#include "qnnc_internal.h"

/* The portable path: one output at a time, weights read from the int16 layout (rows in blocks
 * of 4, inputs in groups of 4 with lanes k0, k2, k1, k3). */
static QNNC_PATH_ATTR void qnnc_fc_wide_portable_s8(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                                                    int32_t rows, int32_t K, const int8_t *input,
                                                    int32_t out_features, const int16_t *wide, const int32_t *bias,
                                                    int8_t *output)
{
    static const uint8_t lane[4] = {0u, 2u, 1u, 3u}; /* input k % 4 -> its place in a row's group */
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    int32_t r, o, k;
    for (r = 0; r < rows; ++r) {
        const int8_t *x = input + r * K;
        for (o = 0; o < out_features; ++o) {
            const int16_t *w = wide + (o & ~3) * K + 4 * (o & 3);
            int32_t acc = bias != NULL ? bias[o] : 0;
            for (k = 0; k < K; ++k) {
                acc += (int32_t)w[16 * (k >> 2) + lane[k & 3]] * ((int32_t)x[k] + params->input_offset);
            }
            *output++ = qnnc_output_s8_fast(acc, quant->multiplier[o], quant->shift[o], lo, hi, output_offset,
                                            params->act_lut, params->rounding);
        }
    }
}

void qnnc_fully_connected_s8_wide(const qnnc_buffer *scratch, const qnnc_fc_params *params,
                                  const qnnc_per_channel_quant *quant, int32_t rows, int32_t in_features,
                                  const int8_t *input, int32_t out_features, const int16_t *weights,
                                  const int32_t *bias, int8_t *output)
{
#if QNNC_PATH_DSP
    if (qnnc_fc_wide_dsp_s8(scratch, params, quant, rows, in_features, input, out_features, weights, bias, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_fc_wide_portable_s8(params, quant, rows, in_features, input, out_features, weights, bias, output);
}
