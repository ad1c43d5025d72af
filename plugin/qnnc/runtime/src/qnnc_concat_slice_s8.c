/*
 * qnnc_concat_slice_s8 - writes one input of a concatenation, optionally re-scaled.
 * Reference: qnnc/reference/kernels.py:rescale_s8 (the interpreter concatenates).
 */
#include "qnnc_internal.h"

void qnnc_concat_slice_s8(const qnnc_rescale_params *rescale,
                          int32_t outer, int32_t inner, int32_t output_stride,
                          const int8_t *input, int8_t *output)
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
        /* clamp first (see qnnc_conv_impl.h): the offset add cannot overflow */
        const int32_t lo = -128 - output_offset;
        const int32_t hi = 127 - output_offset;
        for (o = 0; o < outer; ++o) {
            for (i = 0; i < inner; ++i) {
                int32_t v = qnnc_requantize((int32_t)input[i] + input_offset,
                                            rescale->multiplier, rescale->shift);
                v = v < lo ? lo : (v > hi ? hi : v);
                output[i] = (int8_t)(v + output_offset);
            }
            input += inner;
            output += output_stride;
        }
    }
}
