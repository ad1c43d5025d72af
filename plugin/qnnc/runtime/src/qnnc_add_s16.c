/*
 * qnnc_add_s16 - broadcasting int16 add with TFLite's int16 ADD arithmetic (left_shift 15).
 * Reference: qnnc/reference/kernels_s16.py:add_s16. Model: CMSIS-NN arm_elementwise_add_s16.
 * Body: qnnc_broadcast_impl.h (shared with the other add / mul / minmax kernels).
 *
 * (x + offset) * 2^15 fits int32 for int16 x with zero offsets (what the quantizer emits);
 * the input multipliers are <= 0.5, so the rescaled sum fits int32 too.
 */
#include "qnnc_s16_internal.h"

static int16_t qnnc_add16_one(const qnnc_add_params *p, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    const int32_t a = (x1 + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t b = (x2 + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t sum = qnnc_requantize(a, p->input1_multiplier, p->input1_shift) +
                        qnnc_requantize(b, p->input2_multiplier, p->input2_shift);
    int32_t v = qnnc_requantize(sum, p->output_multiplier, p->output_shift);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int16_t)(v + p->output_offset);
}

#if QNNC_PATH_MVE
/* Same shapes: the Helium loop when the input offsets are zero and every shift <= 0 (what the
 * quantizer produces). 1 when it ran; else the caller's loop of qnnc_add16_one. */
QNNC_INLINE int qnnc_add16_flat(const qnnc_add_params *params, int32_t size, const int16_t *input1,
                                const int16_t *input2, int16_t *output)
{
    if (params->input1_offset == 0 && params->input2_offset == 0 && params->input1_shift <= 0 &&
        params->input2_shift <= 0 && params->output_shift <= 0 && params->left_shift >= 0 &&
        params->left_shift <= 16) {
        qnnc_add_mve_s16(params, size, input1, input2, output);
        return 1;
    }
    return 0;
}
#define QNNC_FLAT(params, lo, hi, size, x1, x2, output) qnnc_add16_flat(params, size, x1, x2, output)
#endif

#define QNNC_FN qnnc_add_s16
#define QNNC_PARAMS qnnc_add_params
#define QNNC_T int16_t
#define QNNC_ONE qnnc_add16_one
#include "qnnc_broadcast_impl.h"
