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

#if !QNNC_PATH_MVE
/* One requantization with shift <= 0 (right = -shift, at most 31; mask = 2^right - 1, half =
 * mask >> 1): SRDHM as one 64-bit product (exact: the multiplier is never INT32_MIN), then the
 * rounding shift half away from zero - qnnc_requantize's value. */
QNNC_INLINE int32_t qnnc_add16_rq(int32_t x, int32_t mult, int32_t right, int32_t mask, int32_t half)
{
    const int32_t r = (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
    return (r >> right) + ((r & mask) > half + (r < 0 ? 1 : 0) ? 1 : 0);
}

/* Same shapes, zero input offsets, every shift <= 0 and left_shift in [0, 15] (what the
 * quantizer produces): the loop with per-layer constants (the M4's and M3's path; a fifth of
 * qnnc_add16_one's instructions). 1 when it ran; else the caller's loop of qnnc_add16_one. */
static int qnnc_add16_flat(const qnnc_add_params *p, int32_t lo, int32_t hi, int32_t size, const int16_t *x1,
                           const int16_t *x2, int16_t *output)
{
    int32_t s1, s2, so, k1, k2, ko, m1, m2, mo, ls, off, i;
    if (!(p->input1_offset == 0 && p->input2_offset == 0 && p->input1_shift <= 0 && p->input2_shift <= 0 &&
          p->output_shift <= 0 && p->left_shift >= 0 && p->left_shift <= 15)) {
        return 0;
    }
    /* in locals: the int16 stores could alias *p */
    s1 = p->input1_shift < -31 ? 31 : -p->input1_shift;
    s2 = p->input2_shift < -31 ? 31 : -p->input2_shift;
    so = p->output_shift < -31 ? 31 : -p->output_shift;
    k1 = (int32_t)((1u << s1) - 1u);
    k2 = (int32_t)((1u << s2) - 1u);
    ko = (int32_t)((1u << so) - 1u);
    m1 = p->input1_multiplier;
    m2 = p->input2_multiplier;
    mo = p->output_multiplier;
    ls = p->left_shift;
    off = p->output_offset;
    for (i = 0; i < size; ++i) {
        /* |x| * 2^15 <= 2^30: the products fit int32 */
        const int32_t a = qnnc_add16_rq(x1[i] * (1 << ls), m1, s1, k1, k1 >> 1);
        const int32_t b = qnnc_add16_rq(x2[i] * (1 << ls), m2, s2, k2, k2 >> 1);
        int32_t v = qnnc_add16_rq(a + b, mo, so, ko, ko >> 1);
        v = v < lo ? lo : (v > hi ? hi : v);
        output[i] = (int16_t)(v + off);
    }
    return 1;
}
#define QNNC_FLAT(params, lo, hi, size, x1, x2, output) qnnc_add16_flat(params, lo, hi, size, x1, x2, output)
#endif

#define QNNC_FN qnnc_add_s16
#define QNNC_PARAMS qnnc_add_params
#define QNNC_T int16_t
#define QNNC_ONE qnnc_add16_one
#include "qnnc_broadcast_impl.h"
