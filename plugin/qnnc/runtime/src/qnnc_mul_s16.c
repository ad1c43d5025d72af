/*
 * qnnc_mul_s16 - broadcasting int16 multiply (TFLite's int16 MUL: zero points 0, one int32
 * product requantized once). Reference: qnnc/reference/kernels_s16_elementwise.py:mul_s16.
 */
#include "qnnc_internal.h"

void qnnc_mul_s16(const qnnc_mul_params *params,
                  const qnnc_dims *input1_dims, const int16_t *input1,
                  const qnnc_dims *input2_dims, const int16_t *input2,
                  const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t d1[4] = {input1_dims->n, input1_dims->h, input1_dims->w, input1_dims->c};
    const int32_t d2[4] = {input2_dims->n, input2_dims->h, input2_dims->w, input2_dims->c};
    const int32_t od[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    /* clamp before adding the offset: a saturated requantization cannot overflow the add */
    const int32_t lo = params->act_min - params->output_offset;
    const int32_t hi = params->act_max - params->output_offset;
    int32_t s1[4], s2[4];
    int32_t i0, i1, i2, i3, k;

    /* Element strides of each input along each output dim (0 where the input broadcasts). */
    s1[3] = 1;
    s2[3] = 1;
    for (k = 2; k >= 0; --k) {
        s1[k] = s1[k + 1] * d1[k + 1];
        s2[k] = s2[k + 1] * d2[k + 1];
    }
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
                    /* zero offsets (what the quantizer emits): |x1 * x2| <= 2^30 fits int32 */
                    const int32_t prod = ((int32_t)a[i3 * s1[3]] + params->input1_offset) *
                                         ((int32_t)b[i3 * s2[3]] + params->input2_offset);
                    int32_t v = qnnc_requantize(prod, params->output_multiplier, params->output_shift);
                    v = v < lo ? lo : (v > hi ? hi : v);
                    *output++ = (int16_t)(v + params->output_offset);
                }
            }
        }
    }
}
