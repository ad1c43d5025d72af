/*
 * qnnc_mul_s8 - broadcasting int8 multiply with TFLite MUL arithmetic.
 * Reference: qnnc/reference/kernels.py:mul_s8. Body: qnnc_broadcast_impl.h (shared with qnnc_add_s8).
 */
#include "qnnc_internal.h"

static int8_t qnnc_mul_one(const qnnc_mul_params *p, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    /* both factors are in [-255, 255]: the product fits int32 */
    const int32_t prod = (x1 + p->input1_offset) * (x2 + p->input2_offset);
    int32_t v = qnnc_requantize(prod, p->output_multiplier, p->output_shift);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + p->output_offset);
}

#define QNNC_FN qnnc_mul_s8
#define QNNC_PARAMS qnnc_mul_params
#define QNNC_ONE qnnc_mul_one
#define QNNC_T int8_t
#include "qnnc_broadcast_impl.h"
