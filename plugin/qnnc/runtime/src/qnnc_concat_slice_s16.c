/*
 * qnnc_concat_slice_s16 - writes one int16 input of a concatenation, optionally re-scaled to
 * the output's scale (as qnnc_concat_slice_s8).
 * Reference: qnnc/reference/kernels_s16_elementwise.py:rescale_s16 (the interpreter concatenates).
 */
#include "qnnc_internal.h"

void qnnc_concat_slice_s16(const qnnc_rescale_params *rescale,
                           int32_t outer, int32_t inner, int32_t output_stride,
                           const int16_t *input, int16_t *output)
{
    int32_t o, i;

    if (rescale == NULL) {
        for (o = 0; o < outer; ++o) {
            for (i = 0; i < inner; ++i) {
                output[i] = input[i];
            }
            input += inner;
            output += output_stride;
        }
        return;
    }
    {
        const int32_t input_offset = rescale->input_offset;
        const int32_t output_offset = rescale->output_offset;
        /* clamp first: a saturated requantization cannot overflow the offset add */
        const int32_t lo = -32768 - output_offset;
        const int32_t hi = 32767 - output_offset;
        for (o = 0; o < outer; ++o) {
            for (i = 0; i < inner; ++i) {
                int32_t v = qnnc_requantize((int32_t)input[i] + input_offset, rescale->multiplier, rescale->shift);
                v = v < lo ? lo : (v > hi ? hi : v);
                output[i] = (int16_t)(v + output_offset);
            }
            input += inner;
            output += output_stride;
        }
    }
}
