/*
 * qnnc_add_s8 - broadcasting int8 add with TFLite ADD arithmetic: the entry point, the dispatch
 * and the portable loops (body: qnnc_broadcast_impl.h, shared with qnnc_mul_s8).
 * Reference: qnnc/reference/kernels.py:add_s8.
 *
 * Precondition (as in TFLite, where the input multipliers are <= 0.5): the two rescaled
 * inputs and their sum fit int32.
 *
 * Fast paths (same shapes, no broadcasting, every requantization shift <= 0, i.e. no
 * saturating left shift - what the quantizer produces):
 *   - Helium (__ARM_FEATURE_MVE): qnnc_add_s8_mve.c, 4 lanes at a time with the exact vector
 *     requantization;
 *   - DSP (__ARM_FEATURE_DSP), right shifts up to 31: qnnc_add_s8_dsp.c, one MLA, one SMMULR
 *     and a 3-instruction rounding per requantization;
 *   both with a cheaper loop for the quantizer's adds (left shift 20, the larger-scale input
 *   rescaled by exactly 1/2, which needs no multiply: ~17 instead of ~36 instructions per
 *   output on the M4, 4.5 instead of 8 on the M55); QDQ imports lower Add the same way (TFLite
 *   arithmetic, no rounding mode), so they take the same paths;
 *   - otherwise a scalar loop with per-layer constants and a cheaper exact SRDHM: the
 *     operands are below 2^30 in magnitude ((x + offset) << left_shift < 2^28, and the sum
 *     of two rescaled inputs < 2^29), so SRDHM(a, m) = (a * m + 2^30) >> 31 (64-bit, or
 *     SMMULR(2a, m) with the DSP extension) never meets the INT32_MIN * INT32_MIN case.
 */
#include "qnnc_internal.h"

static int8_t qnnc_add_one(const qnnc_add_params *p, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    /* (x + offset) is in [-255, 255] and left_shift <= 20, so the product fits int32;
     * multiplying avoids the undefined left shift of a negative value. */
    const int32_t a = (x1 + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t b = (x2 + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t sum = qnnc_requantize(a, p->input1_multiplier, p->input1_shift) +
                        qnnc_requantize(b, p->input2_multiplier, p->input2_shift);
    int32_t v = qnnc_requantize(sum, p->output_multiplier, p->output_shift);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + p->output_offset);
}

/* 1 when every shift is <= 0 and the left shift in [0, 20] (what the quantizer produces). */
QNNC_INLINE int qnnc_add_fast_ok(const qnnc_add_params *p)
{
    return p->input1_shift <= 0 && p->input2_shift <= 0 && p->output_shift <= 0 && p->left_shift >= 0 &&
           p->left_shift <= 20;
}

#if !QNNC_PATH_MVE
/* One exact requantization with shift <= 0 for |x| < 2^30 (see the file comment). */
QNNC_INLINE int32_t qnnc_add_rq(int32_t x, int32_t mult, int32_t right, int32_t mask, int32_t half)
{
#if QNNC_PATH_DSP_SCALAR
    const int32_t r = qnnc_dsp_smmulr(x * 2, mult);
#else
    const int32_t r = (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
#endif
    return (r >> right) + ((r & mask) > half + (r < 0 ? 1 : 0) ? 1 : 0);
}

#if QNNC_PATH_DSP_SCALAR
/* 1: the DSP loop applies (every right shift in [0, 31], left shift in [0, 20]); fills k. */
static int qnnc_add_dsp_setup(const qnnc_add_params *p, qnnc_add_dsp_k *k)
{
    if (p->input1_shift > 0 || p->input2_shift > 0 || p->output_shift > 0 || p->input1_shift < -31 ||
        p->input2_shift < -31 || p->output_shift < -31 || p->left_shift < 0 || p->left_shift > 20) {
        return 0;
    }
    k->p = (int32_t)1 << (p->left_shift + 1);
    k->o1 = p->input1_offset * k->p;
    k->o2 = p->input2_offset * k->p;
    k->m1 = p->input1_multiplier;
    k->m2 = p->input2_multiplier;
    k->mo = p->output_multiplier;
    k->s1 = -p->input1_shift;
    k->s2 = -p->input2_shift;
    k->so = -p->output_shift;
    k->n1 = p->input1_shift;
    k->n2 = p->input2_shift;
    k->no = p->output_shift;
    k->h1 = (int32_t)((1u << k->s1) >> 1);
    k->h2 = (int32_t)((1u << k->s2) >> 1);
    k->ho = (int32_t)((1u << k->so) >> 1);
    return 1;
}
#endif

/* The constants of the exact requantizations with every shift <= 0 (the flat loop's and the
 * broadcasts'), with the activation range and output offset qnnc_broadcast_impl.h reads by name. */
typedef struct {
    int32_t act_min, act_max, output_offset;
    int32_t o1, o2, ls, m1, m2, mo, s1, s2, so, k1, k2, ko;
} qnnc_add_fast_k;

QNNC_INLINE void qnnc_add_fast_setup(const qnnc_add_params *p, qnnc_add_fast_k *k)
{
    k->act_min = p->act_min;
    k->act_max = p->act_max;
    k->output_offset = p->output_offset;
    k->o1 = p->input1_offset;
    k->o2 = p->input2_offset;
    k->ls = p->left_shift;
    k->m1 = p->input1_multiplier;
    k->m2 = p->input2_multiplier;
    k->mo = p->output_multiplier;
    k->s1 = p->input1_shift < -31 ? 31 : -p->input1_shift;
    k->s2 = p->input2_shift < -31 ? 31 : -p->input2_shift;
    k->so = p->output_shift < -31 ? 31 : -p->output_shift;
    k->k1 = (int32_t)((1u << k->s1) - 1u);
    k->k2 = (int32_t)((1u << k->s2) - 1u);
    k->ko = (int32_t)((1u << k->so) - 1u);
}

/* qnnc_add_one's value under qnnc_add_fast_ok, inlined (a call per element with three 64-bit
 * requantizations had cost about 80 M4 instructions in the broadcasts). */
QNNC_INLINE int8_t qnnc_add_one_fast(const qnnc_add_fast_k *k, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    const int32_t a = qnnc_add_rq((x1 + k->o1) * (1 << k->ls), k->m1, k->s1, k->k1, k->k1 >> 1);
    const int32_t b = qnnc_add_rq((x2 + k->o2) * (1 << k->ls), k->m2, k->s2, k->k2, k->k2 >> 1);
    int32_t v = qnnc_add_rq(a + b, k->mo, k->so, k->ko, k->ko >> 1);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + k->output_offset);
}

static void qnnc_add_flat_fast(const qnnc_add_params *p, int32_t size, const int8_t *x1, const int8_t *x2,
                               int8_t *output)
{
    const int32_t lo = p->act_min - p->output_offset, hi = p->act_max - p->output_offset;
    qnnc_add_fast_k k;
    int32_t i;
    qnnc_add_fast_setup(p, &k);
    for (i = 0; i < size; ++i) {
        output[i] = qnnc_add_one_fast(&k, lo, hi, x1[i], x2[i]);
    }
}
#endif

/* Same shapes, every shift <= 0 (what the quantizer produces): the fast path of the target.
 * 1 when it ran; else the caller's loop of qnnc_add_one. */
QNNC_INLINE int qnnc_add_flat(const qnnc_add_params *params, int32_t lo, int32_t hi, int32_t size,
                              const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!qnnc_add_fast_ok(params)) {
        return 0;
    }
#if QNNC_PATH_MVE
    (void)lo;
    (void)hi;
    qnnc_add_mve_s8(params, size, input1, input2, output);
#else
#if QNNC_PATH_DSP_SCALAR
    {
        qnnc_add_dsp_k k;
        if (qnnc_add_dsp_setup(params, &k)) {
            qnnc_add_dsp_s8(&k, lo, hi, params->output_offset, size, input1, input2, output);
            return 1;
        }
    }
#else
    (void)lo;
    (void)hi;
#endif
    qnnc_add_flat_fast(params, size, input1, input2, output);
#endif
    return 1;
}

#define QNNC_FN qnnc_add_s8_any
#define QNNC_FN_STORAGE static
#define QNNC_PARAMS qnnc_add_params
#define QNNC_ONE qnnc_add_one
#define QNNC_FLAT qnnc_add_flat
#define QNNC_T int8_t
#include "qnnc_broadcast_impl.h"

#if !QNNC_PATH_MVE
#define QNNC_FN qnnc_add_s8_broadcast_fast
#define QNNC_FN_STORAGE static
#define QNNC_PARAMS qnnc_add_fast_k
#define QNNC_ONE qnnc_add_one_fast
#define QNNC_T int8_t
#include "qnnc_broadcast_impl.h"
#endif

void qnnc_add_s8(const qnnc_add_params *params, const qnnc_dims *input1_dims, const int8_t *input1,
                 const qnnc_dims *input2_dims, const int8_t *input2, const qnnc_dims *output_dims, int8_t *output)
{
#if !QNNC_PATH_MVE
    /* broadcasts with every shift <= 0 (what the quantizer produces); same shapes take qnnc_add_flat */
    const int same = input1_dims->n == input2_dims->n && input1_dims->h == input2_dims->h &&
                     input1_dims->w == input2_dims->w && input1_dims->c == input2_dims->c;
    if (!same && qnnc_add_fast_ok(params)) {
        qnnc_add_fast_k k;
        qnnc_add_fast_setup(params, &k);
        qnnc_add_s8_broadcast_fast(&k, input1_dims, input1, input2_dims, input2, output_dims, output);
        return;
    }
#endif
    qnnc_add_s8_any(params, input1_dims, input1, input2_dims, input2, output_dims, output);
}
