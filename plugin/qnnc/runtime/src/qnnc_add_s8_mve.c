/*
 * qnnc_add_s8_mve.c - the Helium path of qnnc_add_s8 (__ARM_FEATURE_MVE: Cortex-M55/M85;
 * compiled to nothing elsewhere; the entry point and dispatch are in qnnc_add_s8.c): same
 * shapes, every requantization shift <= 0. 4 lanes at a time with the exact vector
 * requantization (VQRDMULH = SRDHM, VRSHL with the negative fix-up = rounding half away from
 * zero).
 */
#include "qnnc_internal.h"

#if QNNC_PATH_MVE
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

/* The quantizer's add: one input, L, rescaled by exactly 1/2 (multiplier 2^30, shift 0: the
 * input of the larger scale), so its rescaled value (x_L + o_L) 2^(ls-1) (ls = left_shift >= 1)
 * needs no rounding; the other, R, and the output round by right shifts s >= 1, where rounding
 * half away from zero is (r + (r < 0 ? -1 : 0) + 2^(s-1)) >> s (r >> 31 is the -1). A multiple of
 * 2^s added before such a shift is the same value divided by 2^s added after it: o_L 2^(ls-1)
 * joins R's rounding constant (h_r) and the output offset the output's (h_o); the caller checks
 * that they keep every sum in int32. 17 instructions per 4 outputs instead of 23. */
typedef struct {
    int32_t ls, o_r, m_r, h_r, neg_s_r, m_o, h_o, neg_s_o, act_min, act_max;
} qnnc_add_mve_lin_k;

/* Four outputs of qnnc_add_mve_lin (full: a constant; else predicated by pr). */
QNNC_INLINE void qnnc_add_mve_lin4(const qnnc_add_mve_lin_k *c, int32x4_t pow_ls, int32_t pow_ls1, int32x4_t lo,
                                   int32x4_t hi, const int8_t *xl, const int8_t *xr, int8_t *output,
                                   mve_pred16_t pr, int full)
{
    const int32x4_t vl = full ? vldrbq_s32(xl) : vldrbq_z_s32(xl, pr);
    int32x4_t r = full ? vldrbq_s32(xr) : vldrbq_z_s32(xr, pr);
    r = vqrdmulhq_n_s32(vmlasq_n_s32(r, pow_ls, c->o_r), c->m_r);
    r = vshlq_r_s32(vaddq_n_s32(vaddq_s32(r, vshrq_n_s32(r, 31)), c->h_r), c->neg_s_r);
    r = vqrdmulhq_n_s32(vmlaq_n_s32(r, vl, pow_ls1), c->m_o);
    r = vshlq_r_s32(vaddq_n_s32(vaddq_s32(r, vshrq_n_s32(r, 31)), c->h_o), c->neg_s_o);
    r = vminq_s32(vmaxq_s32(r, lo), hi);
    if (full) {
        vstrbq_s32(output, r);
    } else {
        vstrbq_p_s32(output, r, pr);
    }
}

static QNNC_LOOP_ATTR void qnnc_add_mve_lin(const qnnc_add_mve_lin_k *k, int32_t size, const int8_t *xl,
                                            const int8_t *xr, int8_t *output)
{
    const qnnc_add_mve_lin_k c = *k; /* in registers: the stores could alias *k */
    const int32x4_t pow_ls = vdupq_n_s32((int32_t)1 << c.ls);
    const int32_t pow_ls1 = (int32_t)1 << (c.ls - 1);
    const int32x4_t lo = vdupq_n_s32(c.act_min), hi = vdupq_n_s32(c.act_max);
    int32_t n;
    for (n = size >> 2; n > 0; --n) {
        qnnc_add_mve_lin4(&c, pow_ls, pow_ls1, lo, hi, xl, xr, output, 0xFFFF, 1);
        xl += 4;
        xr += 4;
        output += 4;
    }
    if (size & 3) {
        qnnc_add_mve_lin4(&c, pow_ls, pow_ls1, lo, hi, xl, xr, output, vctp32q((uint32_t)(size & 3)), 0);
    }
}

/* 1 when qnnc_add_mve_lin applies (see above); fills k and which input is L. */
static int qnnc_add_mve_lin_setup(const qnnc_add_params *p, qnnc_add_mve_lin_k *k, int *l_is_2)
{
    int32_t o_l, s_r, s_o;
    int64_t h_r, h_o;
    if (p->left_shift < 1 || p->left_shift > 20 || p->output_shift > -1 || p->output_shift < -31) {
        return 0;
    }
    if (p->input1_multiplier == ((int32_t)1 << 30) && p->input1_shift == 0 && p->input2_shift <= -1 &&
        p->input2_shift >= -31) {
        *l_is_2 = 0;
        o_l = p->input1_offset;
        k->o_r = p->input2_offset;
        k->m_r = p->input2_multiplier;
        s_r = -p->input2_shift;
    } else if (p->input2_multiplier == ((int32_t)1 << 30) && p->input2_shift == 0 && p->input1_shift <= -1 &&
               p->input1_shift >= -31) {
        *l_is_2 = 1;
        o_l = p->input2_offset;
        k->o_r = p->input1_offset;
        k->m_r = p->input1_multiplier;
        s_r = -p->input1_shift;
    } else {
        return 0;
    }
    /* |x + o| <= 256, so |(x_R + o_R) 2^ls| <= 2^28, |SRDHM| <= 2^28 and |a + b| < 2^29 */
    s_o = -p->output_shift;
    h_r = ((int64_t)1 << (s_r - 1)) + (int64_t)o_l * ((int64_t)1 << (p->left_shift - 1 + s_r));
    h_o = ((int64_t)1 << (s_o - 1)) + (int64_t)p->output_offset * ((int64_t)1 << s_o);
    if (h_r > INT32_MAX - (1 << 28) - 1 || h_r < INT32_MIN + (1 << 28) + 1 || h_o > INT32_MAX - (1 << 29) - 2 ||
        h_o < INT32_MIN + (1 << 29) + 2) {
        return 0;
    }
    k->ls = p->left_shift;
    k->o_r *= (int32_t)1 << p->left_shift;
    k->h_r = (int32_t)h_r;
    k->neg_s_r = -s_r;
    k->m_o = p->output_multiplier;
    k->h_o = (int32_t)h_o;
    k->neg_s_o = -s_o;
    k->act_min = p->act_min;
    k->act_max = p->act_max;
    return 1;
}

/* Every shift <= 0: the constants are scalar operands (VQRDMULH, VRSHL, VSHL by a general
 * register), so only the clamp bounds take Q registers (with vector constants the loop needs 9
 * of the 8 and spills). Right shifts past 31 give the same result as 31 (the value is below
 * 2^31), so they are clamped there. */
QNNC_PATH_ATTR void qnnc_add_mve_s8(const qnnc_add_params *params, int32_t size, const int8_t *x1,
                                    const int8_t *x2, int8_t *output)
{
    qnnc_add_params p = *params; /* in registers: the stores could alias *params */
    const int32x4_t lo = vdupq_n_s32(p.act_min), hi = vdupq_n_s32(p.act_max);
    int32_t neg_bit[3];
    {
        qnnc_add_mve_lin_k k;
        int l_is_2;
        if (qnnc_add_mve_lin_setup(params, &k, &l_is_2)) {
            qnnc_add_mve_lin(&k, size, l_is_2 ? x2 : x1, l_is_2 ? x1 : x2, output);
            return;
        }
    }
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
#endif /* QNNC_PATH_MVE */
