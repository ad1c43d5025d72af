/*
 * qnnc_mul_s16 - broadcasting int16 multiply (TFLite's int16 MUL: zero points 0, one int32
 * product requantized once). Reference: qnnc/reference/kernels_s16_elementwise.py:mul_s16.
 * Body: qnnc_broadcast_impl.h (shared with the other add / mul / minmax kernels).
 */
#include "qnnc_internal.h"

static int16_t qnnc_mul16_one(const qnnc_mul_params *p, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    /* zero offsets (what the quantizer emits): |x1 * x2| <= 2^30 fits int32 */
    const int32_t prod = (x1 + p->input1_offset) * (x2 + p->input2_offset);
    int32_t v = qnnc_requantize(prod, p->output_multiplier, p->output_shift);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int16_t)(v + p->output_offset);
}

#define QNNC_FN qnnc_mul_s16
#define QNNC_PARAMS qnnc_mul_params
#define QNNC_T int16_t
#define QNNC_ONE qnnc_mul16_one
#include "qnnc_broadcast_impl.h"
