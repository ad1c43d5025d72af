/*
 * qnnc_concat_slice_impl.h - the body of qnnc_concat_slice_s8 / _s16 (one input of a
 * concatenation written into the output, optionally re-scaled to the output's scale), written
 * once for both element types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type), QNNC_T_MIN and
 * QNNC_T_MAX (its range) and QNNC_FN (the function name), then includes this file, which defines
 * the function and undefines them.
 */
void QNNC_FN(const qnnc_rescale_params *rescale, int32_t outer, int32_t inner, int32_t output_stride,
             const QNNC_T *input, QNNC_T *output)
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
        /* clamp first (see qnnc_conv_impl.h): a saturated requantization cannot overflow the
         * offset add */
        const int32_t lo = QNNC_T_MIN - output_offset;
        const int32_t hi = QNNC_T_MAX - output_offset;
        for (o = 0; o < outer; ++o) {
            for (i = 0; i < inner; ++i) {
                int32_t v = qnnc_requantize((int32_t)input[i] + input_offset, rescale->multiplier, rescale->shift);
                v = v < lo ? lo : (v > hi ? hi : v);
                output[i] = (QNNC_T)(v + output_offset);
            }
            input += inner;
            output += output_stride;
        }
    }
}

#undef QNNC_T
#undef QNNC_T_MIN
#undef QNNC_T_MAX
#undef QNNC_FN
