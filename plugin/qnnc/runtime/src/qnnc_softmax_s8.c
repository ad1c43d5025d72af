/*
 * qnnc_softmax_s8 - int8 softmax over the last axis through an exp look-up table.
 * Reference: qnnc/reference/kernels.py:softmax_s8. Body: qnnc_softmax_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

/* max - x is in [0, 255]; the generator keeps entries <= 2^23 and cols * 2^23 < 2^32, so
 * neither the sum nor e * 256 + sum / 2 wraps. */
QNNC_INLINE int8_t qnnc_softmax_s8_out(uint32_t e, uint32_t sum)
{
    const int32_t q = (int32_t)((e * 256u + sum / 2u) / sum) - 128;
    return (int8_t)(q > 127 ? 127 : q);
}

#define QNNC_T int8_t
#define QNNC_T_MIN (-128)
#define QNNC_EXP(exp_lut, d) (exp_lut)[d]
#define QNNC_OUT qnnc_softmax_s8_out
#define QNNC_ZERO_SUM (-128) /* (exp_lut[0] > 0) */
#define QNNC_FN qnnc_softmax_s8
#include "qnnc_softmax_impl.h"
