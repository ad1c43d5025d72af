/*
 * qnnc_minmax_s16 - broadcasting int16 Max / Min of two tensors with different scales: both are
 * rescaled to the output scale, then compared (as qnnc_minmax_s8). Standalone Relu / Clip use it
 * too (a Max with a one-value lower bound, clamped to the upper bound).
 * Reference: qnnc/reference/kernels_s16_elementwise.py:minmax_s16.
 */
#include "qnnc_internal.h"

/* x rescaled to the output scale. Multiplier 2^30 with shift 1 is the identity (the quantizer's
 * choice for equal scales and for Relu / Clip): qnnc_requantize(x, 2^30, 1) == x whenever 2 * x fits
 * int32, so with a zero offset the int16 value is taken as it is (same result, no multiply). */
QNNC_INLINE int32_t qnnc_minmax16_rescale(int32_t x, int32_t offset, int32_t multiplier, int32_t shift,
                                          int identity)
{
    return identity ? x : qnnc_requantize(x + offset, multiplier, shift);
}

void qnnc_minmax_s16(const qnnc_minmax_params *params,
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
    const int id1 = params->input1_offset == 0 && params->input1_multiplier == (1 << 30) && params->input1_shift == 1;
    const int id2 = params->input2_offset == 0 && params->input2_multiplier == (1 << 30) && params->input2_shift == 1;
    int32_t s1[4], s2[4];
    int32_t i0, i1, i2, i3, k;

    /* Element strides of each input along each output dim (0 where the input broadcasts). */
    s1[3] = 1;
    s2[3] = 1;
    for (k = 2; k >= 0; --k) {
        s1[k] = s1[k + 1] * d1[k + 1];
        s2[k] = s2[k + 1] * d2[k + 1];
    }
    if (id1 && id2 && d2[0] * d2[1] * d2[2] * d2[3] == 1 && d1[0] == od[0] && d1[1] == od[1] && d1[2] == od[2] &&
        d1[3] == od[3]) {
        /* Relu / Clip, Max / Min with one value at the same scale: a clamp of the input */
        const int32_t c2 = input2[0], size = od[0] * od[1] * od[2] * od[3];
        for (k = 0; k < size; ++k) {
            int32_t v = input1[k];
            v = params->is_max ? (v > c2 ? v : c2) : (v < c2 ? v : c2);
            v = v < lo ? lo : (v > hi ? hi : v);
            output[k] = (int16_t)(v + params->output_offset);
        }
        return;
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
                    /* (x + offset) fits int32 for int16 x and the quantizer's zero offsets */
                    const int32_t r1 = qnnc_minmax16_rescale(a[i3 * s1[3]], params->input1_offset,
                                                             params->input1_multiplier, params->input1_shift, id1);
                    const int32_t r2 = qnnc_minmax16_rescale(b[i3 * s2[3]], params->input2_offset,
                                                             params->input2_multiplier, params->input2_shift, id2);
                    int32_t v = params->is_max ? (r1 > r2 ? r1 : r2) : (r1 < r2 ? r1 : r2);
                    v = v < lo ? lo : (v > hi ? hi : v);
                    *output++ = (int16_t)(v + params->output_offset);
                }
            }
        }
    }
}
