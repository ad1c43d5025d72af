/*
 * qnnc_add_s16_mve.c - the Helium path of qnnc_add_s16 (__ARM_FEATURE_MVE: Cortex-M55/M85;
 * compiled to nothing elsewhere; the entry point and dispatch are in qnnc_add_s16.c): same
 * shapes, zero input offsets, every requantization shift <= 0. Model: CMSIS-NN
 * arm_elementwise_add_s16 (MVE). 4 lanes at a time with the exact vector requantization
 * (VQRDMULH = SRDHM, VRSHL with the negative fix-up = rounding half away from zero), the same
 * values as qnnc_requantize.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
/* x rounded by 2^shift (shift <= 0; half away from zero): VRSHL rounds half up, so negative
 * values first lose 1 when shift < 0. neg_bit is -31 then (x >> 31 logical: 1 for x < 0) and
 * -32 for shift == 0 (a logical shift by 32 gives 0). */
QNNC_INLINE int32x4_t qnnc_add16_mve_rshift(int32x4_t x, int32_t shift, int32_t neg_bit)
{
    const int32x4_t neg = vreinterpretq_s32_u32(vshlq_r_u32(vreinterpretq_u32_s32(x), neg_bit));
    return vrshlq_n_s32(vqsubq_s32(x, neg), shift);
}

/* Four outputs (full: a constant; else predicated by pr). */
QNNC_INLINE void qnnc_add16_mve_rs4(const qnnc_add_params *p, const int32_t *neg_bit, const int16_t *x1,
                                    const int16_t *x2, int16_t *output, int32x4_t lo, int32x4_t hi,
                                    mve_pred16_t pr, int full)
{
    int32x4_t a = full ? vldrhq_s32(x1) : vldrhq_z_s32(x1, pr);
    int32x4_t b = full ? vldrhq_s32(x2) : vldrhq_z_s32(x2, pr);
    a = vshlq_r_s32(a, p->left_shift); /* |x| * 2^left_shift fits int32 (left_shift <= 16) */
    b = vshlq_r_s32(b, p->left_shift);
    a = vqrdmulhq_n_s32(a, p->input1_multiplier);
    a = qnnc_add16_mve_rshift(a, p->input1_shift, neg_bit[0]);
    b = vqrdmulhq_n_s32(b, p->input2_multiplier);
    b = qnnc_add16_mve_rshift(b, p->input2_shift, neg_bit[1]);
    a = vqrdmulhq_n_s32(vaddq_s32(a, b), p->output_multiplier);
    a = qnnc_add16_mve_rshift(a, p->output_shift, neg_bit[2]);
    a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, p->output_offset), lo), hi);
    if (full) {
        vstrhq_s32(output, a);
    } else {
        vstrhq_p_s32(output, a, pr);
    }
}

/* Every shift <= 0: the constants are scalar operands. Right shifts past 31 give the same result
 * as 31 (the value is below 2^31), so they are clamped there. */
QNNC_PATH_ATTR void qnnc_add_mve_s16(const qnnc_add_params *params, int32_t size, const int16_t *x1,
                                     const int16_t *x2, int16_t *output)
{
    qnnc_add_params p = *params; /* in registers: the stores could alias *params */
    const int32x4_t lo = vdupq_n_s32(p.act_min), hi = vdupq_n_s32(p.act_max);
    int32_t neg_bit[3];
    int32_t n;
    p.input1_shift = p.input1_shift < -31 ? -31 : p.input1_shift;
    p.input2_shift = p.input2_shift < -31 ? -31 : p.input2_shift;
    p.output_shift = p.output_shift < -31 ? -31 : p.output_shift;
    neg_bit[0] = p.input1_shift < 0 ? -31 : -32;
    neg_bit[1] = p.input2_shift < 0 ? -31 : -32;
    neg_bit[2] = p.output_shift < 0 ? -31 : -32;
    for (n = size >> 2; n > 0; --n) {
        qnnc_add16_mve_rs4(&p, neg_bit, x1, x2, output, lo, hi, 0xFFFF, 1);
        x1 += 4;
        x2 += 4;
        output += 4;
    }
    if (size & 3) {
        qnnc_add16_mve_rs4(&p, neg_bit, x1, x2, output, lo, hi, vctp32q((uint32_t)(size & 3)), 0);
    }
}
#endif /* QNNC_PATH_MVE */
