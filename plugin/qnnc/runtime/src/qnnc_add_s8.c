/*
 * qnnc_add_s8 - broadcasting int8 add with TFLite ADD arithmetic.
 * Reference: qnnc/reference/kernels.py:add_s8.
 *
 * Precondition (as in TFLite, where the input multipliers are <= 0.5): the two rescaled
 * inputs and their sum fit int32.
 *
 * Fast paths (same shapes, no broadcasting, every requantization shift <= 0, i.e. no
 * saturating left shift - what the quantizer produces):
 *   - Helium (__ARM_FEATURE_MVE): 4 lanes at a time with the exact vector requantization
 *     (VQRDMULH = SRDHM, VRSHL with the negative fix-up = rounding half away from zero);
 *   - otherwise a scalar loop with per-layer constants and a cheaper exact SRDHM: the
 *     operands are below 2^30 in magnitude ((x + offset) << left_shift < 2^28, and the sum
 *     of two rescaled inputs < 2^29), so SRDHM(a, m) = (a * m + 2^30) >> 31 (64-bit, or
 *     SMMULR(2a, m) with the DSP extension) never meets the INT32_MIN * INT32_MIN case.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE_SIZE__) && !defined(QNNC_NO_FORCE_O2)
#pragma GCC optimize("O2") /* kernels stay at -O2 when the firmware is built for size */
#endif

#include "qnnc_kernels.h"

#if !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define QNNC_ADD_MVE 1
#include <arm_mve.h>
#elif !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_DSP)
#define QNNC_ADD_DSP 1
#include <arm_acle.h>
#endif

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

#if defined(QNNC_ADD_MVE)
/* x rounded by 2^shift (shift <= 0; half away from zero): VRSHL rounds half up, so negative
 * values first lose 1 when shift < 0. neg_bit is -31 then (x >> 31 logical: 1 for x < 0) and
 * -32 for shift == 0 (a logical shift by 32 gives 0). */
QNNC_INLINE int32x4_t qnnc_add_mve_rshift(int32x4_t x, int32_t shift, int32_t neg_bit)
{
    const int32x4_t neg = vreinterpretq_s32_u32(vshlq_r_u32(vreinterpretq_u32_s32(x), neg_bit));
    return vrshlq_n_s32(vqsubq_s32(x, neg), shift);
}

/* Four outputs of the loop below (full: a constant; else predicated by pr). */
QNNC_INLINE void qnnc_add_mve_rs4(const qnnc_add_params *p, const int32_t *neg_bit, const int8_t *x1,
                                  const int8_t *x2, int8_t *output, int32x4_t lo, int32x4_t hi, mve_pred16_t pr,
                                  int full)
{
    int32x4_t a = full ? vldrbq_s32(x1) : vldrbq_z_s32(x1, pr);
    int32x4_t b = full ? vldrbq_s32(x2) : vldrbq_z_s32(x2, pr);
    a = vshlq_r_s32(vaddq_n_s32(a, p->input1_offset), p->left_shift);
    b = vshlq_r_s32(vaddq_n_s32(b, p->input2_offset), p->left_shift);
    a = vqrdmulhq_n_s32(a, p->input1_multiplier);
    a = qnnc_add_mve_rshift(a, p->input1_shift, neg_bit[0]);
    b = vqrdmulhq_n_s32(b, p->input2_multiplier);
    b = qnnc_add_mve_rshift(b, p->input2_shift, neg_bit[1]);
    a = vqrdmulhq_n_s32(vaddq_s32(a, b), p->output_multiplier);
    a = qnnc_add_mve_rshift(a, p->output_shift, neg_bit[2]);
    a = vminq_s32(vmaxq_s32(vqaddq_n_s32(a, p->output_offset), lo), hi);
    if (full) {
        vstrbq_s32(output, a);
    } else {
        vstrbq_p_s32(output, a, pr);
    }
}

/* Every shift <= 0: the constants are scalar operands (VQRDMULH, VRSHL, VSHL by a general
 * register), so only the clamp bounds take Q registers (with vector constants the loop needs 9
 * of the 8 and spills). Right shifts past 31 give the same result as 31 (the value is below
 * 2^31), so they are clamped there. */
static void qnnc_add_flat_mve(const qnnc_add_params *params, int32_t size, const int8_t *x1, const int8_t *x2,
                              int8_t *output)
{
    qnnc_add_params p = *params; /* in registers: the stores could alias *params */
    const int32x4_t lo = vdupq_n_s32(p.act_min), hi = vdupq_n_s32(p.act_max);
    int32_t neg_bit[3];
    p.input1_shift = p.input1_shift < -31 ? -31 : p.input1_shift;
    p.input2_shift = p.input2_shift < -31 ? -31 : p.input2_shift;
    p.output_shift = p.output_shift < -31 ? -31 : p.output_shift;
    neg_bit[0] = p.input1_shift < 0 ? -31 : -32;
    neg_bit[1] = p.input2_shift < 0 ? -31 : -32;
    neg_bit[2] = p.output_shift < 0 ? -31 : -32;
    int32_t n;
    for (n = size >> 2; n > 0; --n) {
        qnnc_add_mve_rs4(&p, neg_bit, x1, x2, output, lo, hi, 0xFFFF, 1);
        x1 += 4;
        x2 += 4;
        output += 4;
    }
    if (size & 3) {
        qnnc_add_mve_rs4(&p, neg_bit, x1, x2, output, lo, hi, vctp32q((uint32_t)(size & 3)), 0);
    }
}
#else
/* One exact requantization with shift <= 0 for |x| < 2^30 (see the file comment). */
QNNC_INLINE int32_t qnnc_add_rq(int32_t x, int32_t mult, int32_t right, int32_t mask, int32_t half)
{
#if defined(QNNC_ADD_DSP)
    int32_t r;
    __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(x * 2), "r"(mult)); /* no ACLE intrinsic for SMMULR */
#else
    const int32_t r = (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
#endif
    return (r >> right) + ((r & mask) > half + (r < 0 ? 1 : 0) ? 1 : 0);
}

#if defined(QNNC_ADD_DSP)
/* The DSP loop, for right shifts in [0, 31] on all three requantizations (what the quantizer
 * produces): (x + offset) << (left_shift + 1) is one MLA (x * 2^(ls+1) + offset * 2^(ls+1)),
 * SRDHM is SMMULR of that doubled operand, and the rounding right shift by s (half away from
 * zero) is (r + ((r & -s) >> 31) + (2^s >> 1)) >> s, the same integer as TFLite's
 * mask/threshold form (r = q 2^s + rem: both add 1 exactly when rem >= 2^(s-1) + (r < 0);
 * for s = 0 both give r). */
typedef struct {
    int32_t p, o1, o2, m1, m2, mo, s1, s2, so, n1, n2, no, h1, h2, ho;
} qnnc_add_dsp_k;

/* A separate function without pre-allocation scheduling: fewer spills of the 15 constants. */
#if defined(__GNUC__) && !defined(__clang__)
#define QNNC_ADD_LOOP_ATTR __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define QNNC_ADD_LOOP_ATTR __attribute__((noinline))
#else
#define QNNC_ADD_LOOP_ATTR
#endif

QNNC_INLINE int32_t qnnc_add_dsp_rq(int32_t x2, int32_t m, int32_t s, int32_t ns, int32_t h)
{
    const int32_t r = qnnc_dsp_smmulr(x2, m);
    /* - 1 when r < 0 and s > 0 (an unsigned shift: the signed one by 31 is implementation-defined) */
    return (r - (int32_t)((uint32_t)(r & ns) >> 31) + h) >> s;
}

static QNNC_ADD_LOOP_ATTR void qnnc_add_flat_dsp(const qnnc_add_dsp_k *k, int32_t lo, int32_t hi, int32_t off, int32_t size,
                              const int8_t *x1, const int8_t *x2, int8_t *output)
{
    const qnnc_add_dsp_k c = *k;
    int32_t i;
    if (lo + off == -128 && hi + off == 127) { /* no activation clamp: SSAT */
        for (i = 0; i < size; ++i) {
            const int32_t a = qnnc_add_dsp_rq(x1[i] * c.p + c.o1, c.m1, c.s1, c.n1, c.h1);
            const int32_t b = qnnc_add_dsp_rq(x2[i] * c.p + c.o2, c.m2, c.s2, c.n2, c.h2);
            output[i] = (int8_t)qnnc_dsp_ssat8(qnnc_add_dsp_rq((a + b) * 2, c.mo, c.so, c.no, c.ho) + off);
        }
        return;
    }
    for (i = 0; i < size; ++i) {
        const int32_t a = qnnc_add_dsp_rq(x1[i] * c.p + c.o1, c.m1, c.s1, c.n1, c.h1);
        const int32_t b = qnnc_add_dsp_rq(x2[i] * c.p + c.o2, c.m2, c.s2, c.n2, c.h2);
        int32_t v = qnnc_add_dsp_rq((a + b) * 2, c.mo, c.so, c.no, c.ho);
        v = v < lo ? lo : (v > hi ? hi : v);
        output[i] = (int8_t)(v + off);
    }
}

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

static void qnnc_add_flat_fast(const qnnc_add_params *p, int32_t size, const int8_t *x1, const int8_t *x2,
                               int8_t *output)
{
    const int32_t m1 = p->input1_multiplier, m2 = p->input2_multiplier, mo = p->output_multiplier;
    const int32_t s1 = p->input1_shift < -31 ? 31 : -p->input1_shift;
    const int32_t s2 = p->input2_shift < -31 ? 31 : -p->input2_shift;
    const int32_t so = p->output_shift < -31 ? 31 : -p->output_shift;
    const int32_t k1 = (int32_t)((1u << s1) - 1u), k2 = (int32_t)((1u << s2) - 1u), ko = (int32_t)((1u << so) - 1u);
    const int32_t h1 = k1 >> 1, h2 = k2 >> 1, ho = ko >> 1;
    const int32_t o1 = p->input1_offset, o2 = p->input2_offset, ls = p->left_shift;
    const int32_t lo = p->act_min - p->output_offset, hi = p->act_max - p->output_offset;
    const int32_t off = p->output_offset;
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t a = qnnc_add_rq((x1[i] + o1) * (1 << ls), m1, s1, k1, h1);
        const int32_t b = qnnc_add_rq((x2[i] + o2) * (1 << ls), m2, s2, k2, h2);
        int32_t v = qnnc_add_rq(a + b, mo, so, ko, ho);
        v = v < lo ? lo : (v > hi ? hi : v);
        output[i] = (int8_t)(v + off);
    }
}
#endif

void qnnc_add_s8(const qnnc_add_params *params,
                 const qnnc_dims *input1_dims, const int8_t *input1,
                 const qnnc_dims *input2_dims, const int8_t *input2,
                 const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t on = output_dims->n, oh = output_dims->h, ow = output_dims->w, oc = output_dims->c;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - params->output_offset;
    const int32_t hi = params->act_max - params->output_offset;
    /* Element strides of each input; 0 along a broadcast (size-1) dimension. */
    const int32_t s1c = input1_dims->c == 1 ? 0 : 1;
    const int32_t s1w = input1_dims->w == 1 ? 0 : input1_dims->c;
    const int32_t s1h = input1_dims->h == 1 ? 0 : input1_dims->w * input1_dims->c;
    const int32_t s1n = input1_dims->n == 1 ? 0 : input1_dims->h * input1_dims->w * input1_dims->c;
    const int32_t s2c = input2_dims->c == 1 ? 0 : 1;
    const int32_t s2w = input2_dims->w == 1 ? 0 : input2_dims->c;
    const int32_t s2h = input2_dims->h == 1 ? 0 : input2_dims->w * input2_dims->c;
    const int32_t s2n = input2_dims->n == 1 ? 0 : input2_dims->h * input2_dims->w * input2_dims->c;
    int32_t n, h, w, c;

    if (input1_dims->n == on && input1_dims->h == oh && input1_dims->w == ow && input1_dims->c == oc &&
        input2_dims->n == on && input2_dims->h == oh && input2_dims->w == ow && input2_dims->c == oc) {
        const int32_t size = on * oh * ow * oc; /* no broadcasting: one flat loop */
        int32_t i;
        if (params->input1_shift <= 0 && params->input2_shift <= 0 && params->output_shift <= 0 &&
            params->left_shift >= 0 && params->left_shift <= 20) {
#if defined(QNNC_ADD_MVE)
            qnnc_add_flat_mve(params, size, input1, input2, output);
#else
#if defined(QNNC_ADD_DSP)
            qnnc_add_dsp_k k;
            if (qnnc_add_dsp_setup(params, &k)) {
                qnnc_add_flat_dsp(&k, lo, hi, params->output_offset, size, input1, input2, output);
                return;
            }
#endif
            qnnc_add_flat_fast(params, size, input1, input2, output);
#endif
            return;
        }
        for (i = 0; i < size; ++i) {
            output[i] = qnnc_add_one(params, lo, hi, input1[i], input2[i]);
        }
        return;
    }
    for (n = 0; n < on; ++n) {
        for (h = 0; h < oh; ++h) {
            for (w = 0; w < ow; ++w) {
                const int8_t *x1 = input1 + n * s1n + h * s1h + w * s1w;
                const int8_t *x2 = input2 + n * s2n + h * s2h + w * s2w;
                for (c = 0; c < oc; ++c) {
                    *output++ = qnnc_add_one(params, lo, hi, x1[c * s1c], x2[c * s2c]);
                }
            }
        }
    }
}
