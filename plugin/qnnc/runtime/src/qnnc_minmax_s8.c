/*
 * qnnc_minmax_s8 - broadcasting int8 Max / Min of two tensors with different quantization: both
 * are rescaled to the output scale, then compared. Body: qnnc_broadcast_impl.h (as add / mul).
 * Reference: qnnc/reference/kernels_elementwise.py:minmax_s8.
 */
#include "qnnc_internal.h"

static int8_t qnnc_minmax_one(const qnnc_minmax_params *p, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    /* (x + offset) is in [-255, 255] */
    const int32_t r1 = qnnc_requantize(x1 + p->input1_offset, p->input1_multiplier, p->input1_shift);
    const int32_t r2 = qnnc_requantize(x2 + p->input2_offset, p->input2_multiplier, p->input2_shift);
    int32_t v = p->is_max ? (r1 > r2 ? r1 : r2) : (r1 < r2 ? r1 : r2);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + p->output_offset);
}

#define QNNC_FN qnnc_minmax_s8
#define QNNC_PARAMS qnnc_minmax_params
#define QNNC_ONE qnnc_minmax_one
#define QNNC_T int8_t
#include "qnnc_broadcast_impl.h"
