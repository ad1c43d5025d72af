/*
 * qnnc_prelu_impl.h - the body of qnnc_prelu_s8 / _s16 (PRelu with a per-channel int8 slope,
 * TFLite's PRELU arithmetic: the identity requantization for x >= 0, the alpha one of
 * (x - zero point) * alpha[c] otherwise), written once for both element types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type), QNNC_T_MIN and
 * QNNC_T_MAX (its range) and QNNC_FN (the function name), then includes this file, which defines
 * the function and undefines them.
 */
void QNNC_FN(const qnnc_prelu_params *params, const qnnc_per_channel_quant *alpha_quant, const int8_t *alpha,
             int32_t outer, int32_t channels, int32_t inner, const QNNC_T *input, QNNC_T *output)
{
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t id_mult = params->identity_multiplier, id_shift = params->identity_shift;
    int32_t o, c, k;

    for (o = 0; o < outer; ++o) {
        for (c = 0; c < channels; ++c) {
            const int32_t a = alpha[c];
            const int32_t mult = alpha_quant->multiplier[c], shift = alpha_quant->shift[c];
            for (k = 0; k < inner; ++k) {
                /* |alpha| <= 127, and v is in [-255, 255] for int8, |v| <= 2^15 for int16 (the
                 * quantizer's zero input offset): the product fits int32 */
                const int32_t v = (int32_t)*input++ + in_off;
                int32_t r = v >= 0 ? qnnc_requantize(v, id_mult, id_shift) : qnnc_requantize(v * a, mult, shift);
                /* clamp before adding the offset: a saturated requantization cannot overflow */
                r = r < QNNC_T_MIN - out_off ? QNNC_T_MIN - out_off
                                             : (r > QNNC_T_MAX - out_off ? QNNC_T_MAX - out_off : r);
                *output++ = (QNNC_T)(r + out_off);
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_T_MIN
#undef QNNC_T_MAX
#undef QNNC_FN
