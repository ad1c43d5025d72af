/*
 * qnnc_add_s16 - broadcasting int16 add with TFLite's int16 ADD arithmetic (left_shift 15).
 * Reference: qnnc/reference/kernels_s16.py:add_s16. Model: CMSIS-NN arm_elementwise_add_s16.
 *
 * (x + offset) * 2^15 fits int32 for int16 x with zero offsets (what the quantizer emits);
 * the input multipliers are <= 0.5, so the rescaled sum fits int32 too.
 */
#include "qnnc_s16_internal.h"

void qnnc_add_s16(const qnnc_add_params *params,
                  const qnnc_dims *input1_dims, const int16_t *input1,
                  const qnnc_dims *input2_dims, const int16_t *input2,
                  const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t d1[4] = {input1_dims->n, input1_dims->h, input1_dims->w, input1_dims->c};
    const int32_t d2[4] = {input2_dims->n, input2_dims->h, input2_dims->w, input2_dims->c};
    const int32_t od[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    int32_t s1[4], s2[4];
    int32_t i0, i1, i2, i3, k;

    /* Element strides of each input along each output dim (0 where the input broadcasts). */
    s1[3] = 1;
    s2[3] = 1;
    for (k = 2; k >= 0; --k) {
        s1[k] = s1[k + 1] * d1[k + 1];
        s2[k] = s2[k + 1] * d2[k + 1];
    }
#if QNNC_PATH_MVE
    /* same shapes, zero input offsets, every shift <= 0 (what the quantizer produces) */
    if (d1[0] == od[0] && d1[1] == od[1] && d1[2] == od[2] && d1[3] == od[3] && d2[0] == od[0] &&
        d2[1] == od[1] && d2[2] == od[2] && d2[3] == od[3] && params->input1_offset == 0 &&
        params->input2_offset == 0 && params->input1_shift <= 0 && params->input2_shift <= 0 &&
        params->output_shift <= 0 && params->left_shift >= 0 && params->left_shift <= 16) {
        qnnc_add_mve_s16(params, od[0] * od[1] * od[2] * od[3], input1, input2, output);
        return;
    }
#endif
    for (k = 0; k < 4; ++k) {
        s1[k] = d1[k] == 1 ? 0 : s1[k];
        s2[k] = d2[k] == 1 ? 0 : s2[k];
    }
    for (i0 = 0; i0 < od[0]; ++i0) {
        for (i1 = 0; i1 < od[1]; ++i1) {
            for (i2 = 0; i2 < od[2]; ++i2) {
                const int16_t *a = input1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2];
                const int16_t *b = input2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2];
                for (i3 = 0; i3 < od[3]; ++i3) {
                    const int32_t x1 = ((int32_t)a[i3 * s1[3]] + params->input1_offset) *
                                       ((int32_t)1 << params->left_shift);
                    const int32_t x2 = ((int32_t)b[i3 * s2[3]] + params->input2_offset) *
                                       ((int32_t)1 << params->left_shift);
                    const int32_t sum = qnnc_requantize(x1, params->input1_multiplier, params->input1_shift) +
                                        qnnc_requantize(x2, params->input2_multiplier, params->input2_shift);
                    const int32_t v = qnnc_requantize(sum, params->output_multiplier, params->output_shift) +
                                      params->output_offset;
                    *output++ = qnnc_clamp_s16(v, params->act_min, params->act_max);
                }
            }
        }
    }
}
