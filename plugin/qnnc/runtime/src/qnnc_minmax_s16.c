/*
 * qnnc_minmax_s16 - broadcasting int16 Max / Min of two tensors with different scales: both are
 * rescaled to the output scale, then compared (as qnnc_minmax_s8). Standalone Relu / Clip use it
 * too (a Max with a one-value lower bound, clamped to the upper bound): they take a clamp loop
 * here, everything else the loops of qnnc_broadcast_impl.h (shared with add / mul).
 * Reference: qnnc/reference/kernels_s16_elementwise.py:minmax_s16.
 */
#include "qnnc_internal.h"

/* Multiplier 2^30 with shift 1 is the identity (the quantizer's choice for equal scales and for
 * Relu / Clip): qnnc_requantize(x, 2^30, 1) == x whenever 2 * x fits int32, so with a zero offset
 * the int16 value is taken as it is (same result, no multiply). */
#define QNNC_MINMAX16_IDENTITY(offset, multiplier, shift) ((offset) == 0 && (multiplier) == (1 << 30) && (shift) == 1)

/* x rescaled to the output scale ((x + offset) fits int32 for int16 x and the quantizer's zero
 * offsets). The identity test is loop-invariant: the compiler hoists it out of the loops. */
QNNC_INLINE int32_t qnnc_minmax16_rescale(int32_t x, int32_t offset, int32_t multiplier, int32_t shift)
{
    return QNNC_MINMAX16_IDENTITY(offset, multiplier, shift) ? x : qnnc_requantize(x + offset, multiplier, shift);
}

static int16_t qnnc_minmax16_one(const qnnc_minmax_params *p, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    const int32_t r1 = qnnc_minmax16_rescale(x1, p->input1_offset, p->input1_multiplier, p->input1_shift);
    const int32_t r2 = qnnc_minmax16_rescale(x2, p->input2_offset, p->input2_multiplier, p->input2_shift);
    int32_t v = p->is_max ? (r1 > r2 ? r1 : r2) : (r1 < r2 ? r1 : r2);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int16_t)(v + p->output_offset);
}

#define QNNC_FN qnnc_minmax16_broadcast
#define QNNC_FN_STORAGE static
#define QNNC_PARAMS qnnc_minmax_params
#define QNNC_T int16_t
#define QNNC_ONE qnnc_minmax16_one
#include "qnnc_broadcast_impl.h"

void qnnc_minmax_s16(const qnnc_minmax_params *params,
                     const qnnc_dims *input1_dims, const int16_t *input1,
                     const qnnc_dims *input2_dims, const int16_t *input2,
                     const qnnc_dims *output_dims, int16_t *output)
{
    if (QNNC_MINMAX16_IDENTITY(params->input1_offset, params->input1_multiplier, params->input1_shift) &&
        QNNC_MINMAX16_IDENTITY(params->input2_offset, params->input2_multiplier, params->input2_shift) &&
        input2_dims->n * input2_dims->h * input2_dims->w * input2_dims->c == 1 &&
        input1_dims->n == output_dims->n && input1_dims->h == output_dims->h && input1_dims->w == output_dims->w &&
        input1_dims->c == output_dims->c) {
        /* Relu / Clip, Max / Min with one value at the same scale: a clamp of the input */
        /* clamp before adding the offset: a saturated requantization cannot overflow the add */
        const int32_t lo = params->act_min - params->output_offset;
        const int32_t hi = params->act_max - params->output_offset;
        const int32_t c2 = input2[0];
        const int32_t size = output_dims->n * output_dims->h * output_dims->w * output_dims->c;
        int32_t k;
        for (k = 0; k < size; ++k) {
            int32_t v = input1[k];
            v = params->is_max ? (v > c2 ? v : c2) : (v < c2 ? v : c2);
            v = v < lo ? lo : (v > hi ? hi : v);
            output[k] = (int16_t)(v + params->output_offset);
        }
        return;
    }
    qnnc_minmax16_broadcast(params, input1_dims, input1, input2_dims, input2, output_dims, output);
}
