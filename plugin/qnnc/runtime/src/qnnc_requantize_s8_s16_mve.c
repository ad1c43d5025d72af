/*
 * qnnc_requantize_s8_s16_mve.c - the Helium path of qnnc_requantize_s8_s16 (__ARM_FEATURE_MVE:
 * Cortex-M55/M85; compiled to nothing elsewhere; the entry point and the other paths are in
 * qnnc_requantize_s8_s16.c). Four values a step, the last one predicated: VLDRB.S32 widens the
 * int8 inputs, the input offset, qnnc_mve_requantize (VQSHL: the saturating left shift, VQRDMULH:
 * SRDHM, then the rounding right shift: qnnc_requantize's values), the output offset, the clamp
 * to int16 and a narrowing store.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
void qnnc_requantize_s8_s16_mve(const qnnc_rescale_params *params, int32_t size, const int8_t *input,
                                int16_t *output)
{
    const int32_t shift = params->shift;
    const int32x4_t mult = vdupq_n_s32(params->multiplier);
    /* qnnc_requantize's shifts: any left one past 31 saturates as 31 does (|x| >= 1), the right one
     * is at most 31 */
    const int32x4_t left = vdupq_n_s32(shift > 31 ? 31 : (shift > 0 ? shift : 0));
    const int32x4_t neg_right = vdupq_n_s32(shift > 0 ? 0 : (shift < -31 ? -31 : shift));
    const int32x4_t lo = vdupq_n_s32(-32768), hi = vdupq_n_s32(32767);
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    int32_t n;
    for (n = size; n > 0; n -= 4) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        const int32x4_t v = qnnc_mve_requantize(vaddq_n_s32(vldrbq_z_s32(input, p), in_off), mult, left, neg_right);
        vstrhq_p_s32(output, vminq_s32(vmaxq_s32(vaddq_n_s32(v, out_off), lo), hi), p);
        input += 4;
        output += 4;
    }
}
#endif
