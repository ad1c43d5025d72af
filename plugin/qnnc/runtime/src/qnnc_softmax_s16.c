/*
 * qnnc_softmax_s16 - int16 softmax over the last axis through a two-level exp table.
 * Reference: qnnc/reference/kernels_s16.py:softmax_s16. Body: qnnc_softmax_impl.h (shared by _s8 and _s16).
 *
 * exp(-s*d) = exp(-s*(d & 255)) * exp(-s*256*(d >> 8)) for d = max - x in [0, 65535], so a
 * 512-entry table covers every int16 difference (CMSIS-NN's arm_softmax_s16 interpolates a
 * 513-entry table instead; this keeps the arithmetic exact and simple).
 */
#include "qnnc_internal.h"

static uint32_t qnnc_softmax_s16_exp(const uint32_t *exp_lut, int32_t d)
{
    /* both factors are <= 2^15, so the product is <= 2^30 */
    return (exp_lut[d & 255] * exp_lut[256 + (d >> 8)] + (1u << 14)) >> 15;
}

/* e <= 2^15 and cols < 2^16: neither the sum nor e * 32768 + sum / 2 wraps */
QNNC_INLINE int16_t qnnc_softmax_s16_out(uint32_t e, uint32_t sum)
{
    const uint32_t q = (e * 32768u + sum / 2u) / sum;
    return (int16_t)(q > 32767u ? 32767u : q);
}

#define QNNC_T int16_t
#define QNNC_T_MIN (-32768)
#define QNNC_EXP qnnc_softmax_s16_exp
#define QNNC_OUT qnnc_softmax_s16_out
#define QNNC_ZERO_SUM 0 /* (exp_lut[0] * exp_lut[256] = 2^30) */
#define QNNC_PARAMS
#define QNNC_LOCALS
#define QNNC_FN qnnc_softmax_s16
#include "qnnc_softmax_impl.h"
