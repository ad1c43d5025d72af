/*
 * qnnc_prelu_s8 - int8 PRelu with a per-channel slope (TFLite's int8 PRELU arithmetic: two
 * requantizations, the identity one for x >= 0 and the alpha one of (x - zero point) * alpha[c]).
 * Reference: qnnc/reference/kernels_elementwise.py:prelu_s8.
 */
#include "qnnc_internal.h"

void qnnc_prelu_s8(const qnnc_prelu_params *params, const qnnc_per_channel_quant *alpha_quant,
                   const int8_t *alpha, int32_t outer, int32_t channels, int32_t inner,
                   const int8_t *input, int8_t *output)
{
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t id_mult = params->identity_multiplier, id_shift = params->identity_shift;
    int32_t o, c, k;

    for (o = 0; o < outer; ++o) {
        for (c = 0; c < channels; ++c) {
            const int32_t a = alpha[c];
            const int32_t mult = alpha_quant->multiplier[c], shift = alpha_quant->shift[c];
            for (k = 0; k < inner; ++k) {
                /* v is in [-255, 255] and |alpha| <= 127: the product fits int32 */
                const int32_t v = (int32_t)*input++ + in_off;
                int32_t r = v >= 0 ? qnnc_requantize(v, id_mult, id_shift) : qnnc_requantize(v * a, mult, shift);
                /* clamp before adding the offset: a saturated requantization cannot overflow */
                r = r < -128 - out_off ? -128 - out_off : (r > 127 - out_off ? 127 - out_off : r);
                *output++ = (int8_t)(r + out_off);
            }
        }
    }
}
