/*
 * qnnc_fully_connected_impl.h - the portable body of qnnc_fully_connected_s8 / _s4, written once
 * for both weight types (the loop skeleton; only the dot product differs).
 *
 * Internal to the kernel library: a kernel source defines QNNC_FN, QNNC_W_T, QNNC_W_AT and
 * QNNC_DOT as for qnnc_conv_impl.h, optionally QNNC_FN_STORAGE, then includes this file, which
 * defines the function and undefines them.
 */
#ifndef QNNC_FN_STORAGE
#define QNNC_FN_STORAGE
#endif
QNNC_FN_STORAGE void QNNC_FN(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                             int32_t in_features, const int8_t *input, int32_t out_features,
                             const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    int32_t r, o;

    for (r = 0; r < rows; ++r) {
        const int8_t *in_row = input + r * in_features;
        for (o = 0; o < out_features; ++o) {
            const QNNC_W_T w_row = QNNC_W_AT(weights, o * in_features);
            int32_t acc = bias != NULL ? bias[o] : 0;
            acc = QNNC_DOT(acc, weights, w_row, in_row, in_features, input_offset);
            *output++ = qnnc_output_s8(acc, quant->multiplier[o], quant->shift[o], lo, hi, output_offset,
                                       params->act_lut, params->rounding);
        }
    }
}

#undef QNNC_FN
#undef QNNC_W_T
#undef QNNC_W_AT
#undef QNNC_DOT
#undef QNNC_FN_STORAGE
