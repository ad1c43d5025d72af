/*
 * qnnc_prelu_s16 - int16 PRelu / LeakyRelu with a per-channel int8 slope (TFLite's PRELU
 * arithmetic on int16 values: the identity requantization for x >= 0, the alpha one of
 * x * alpha[c] otherwise). Reference: qnnc/reference/kernels_s16_elementwise.py:prelu_s16.
 */
#include "qnnc_internal.h"

void qnnc_prelu_s16(const qnnc_prelu_params *params, const qnnc_per_channel_quant *alpha_quant,
                    const int8_t *alpha, int32_t outer, int32_t channels, int32_t inner,
                    const int16_t *input, int16_t *output)
{
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t id_mult = params->identity_multiplier, id_shift = params->identity_shift;
    int32_t o, c, k;

    for (o = 0; o < outer; ++o) {
        for (c = 0; c < channels; ++c) {
            const int32_t a = alpha[c];
            const int32_t mult = alpha_quant->multiplier[c], shift = alpha_quant->shift[c];
            for (k = 0; k < inner; ++k) {
                /* zero input offset (the quantizer's): |v| <= 2^15, |alpha| <= 127, |v * alpha| < 2^22 */
                const int32_t v = (int32_t)*input++ + in_off;
                int32_t r = v >= 0 ? qnnc_requantize(v, id_mult, id_shift) : qnnc_requantize(v * a, mult, shift);
                /* clamp before adding the offset: a saturated requantization cannot overflow */
                r = r < -32768 - out_off ? -32768 - out_off : (r > 32767 - out_off ? 32767 - out_off : r);
                *output++ = (int16_t)(r + out_off);
            }
        }
    }
}
