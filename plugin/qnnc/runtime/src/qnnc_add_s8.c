/*
 * qnnc_add_s8 - broadcasting int8 add with TFLite ADD arithmetic.
 * Reference: qnnc/reference/kernels.py:add_s8.
 *
 * Precondition (as in TFLite, where the input multipliers are <= 0.5): the two rescaled
 * inputs and their sum fit int32.
 */
#include "qnnc_kernels.h"

static int8_t qnnc_add_one(const qnnc_add_params *p, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    /* (x + offset) is in [-255, 255] and left_shift <= 20, so the product fits int32;
     * multiplying avoids the undefined left shift of a negative value. */
    const int32_t a = (x1 + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t b = (x2 + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t sum = qnnc_requantize(a, p->input1_multiplier, p->input1_shift) +
                        qnnc_requantize(b, p->input2_multiplier, p->input2_shift);
    int32_t v = qnnc_requantize(sum, p->output_multiplier, p->output_shift);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + p->output_offset);
}

void qnnc_add_s8(const qnnc_add_params *params,
                 const qnnc_dims *input1_dims, const int8_t *input1,
                 const qnnc_dims *input2_dims, const int8_t *input2,
                 const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t on = output_dims->n, oh = output_dims->h, ow = output_dims->w, oc = output_dims->c;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - params->output_offset;
    const int32_t hi = params->act_max - params->output_offset;
    /* Element strides of each input; 0 along a broadcast (size-1) dimension. */
    const int32_t s1c = input1_dims->c == 1 ? 0 : 1;
    const int32_t s1w = input1_dims->w == 1 ? 0 : input1_dims->c;
    const int32_t s1h = input1_dims->h == 1 ? 0 : input1_dims->w * input1_dims->c;
    const int32_t s1n = input1_dims->n == 1 ? 0 : input1_dims->h * input1_dims->w * input1_dims->c;
    const int32_t s2c = input2_dims->c == 1 ? 0 : 1;
    const int32_t s2w = input2_dims->w == 1 ? 0 : input2_dims->c;
    const int32_t s2h = input2_dims->h == 1 ? 0 : input2_dims->w * input2_dims->c;
    const int32_t s2n = input2_dims->n == 1 ? 0 : input2_dims->h * input2_dims->w * input2_dims->c;
    int32_t n, h, w, c;

    if (input1_dims->n == on && input1_dims->h == oh && input1_dims->w == ow && input1_dims->c == oc &&
        input2_dims->n == on && input2_dims->h == oh && input2_dims->w == ow && input2_dims->c == oc) {
        const int32_t size = on * oh * ow * oc; /* no broadcasting: one flat loop */
        int32_t i;
        for (i = 0; i < size; ++i) {
            output[i] = qnnc_add_one(params, lo, hi, input1[i], input2[i]);
        }
        return;
    }
    for (n = 0; n < on; ++n) {
        for (h = 0; h < oh; ++h) {
            for (w = 0; w < ow; ++w) {
                const int8_t *x1 = input1 + n * s1n + h * s1h + w * s1w;
                const int8_t *x2 = input2 + n * s2n + h * s2h + w * s2w;
                for (c = 0; c < oc; ++c) {
                    *output++ = qnnc_add_one(params, lo, hi, x1[c * s1c], x2[c * s2c]);
                }
            }
        }
    }
}
