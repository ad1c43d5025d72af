/*
 * qnnc_add_s8_dsp.c - the DSP loop of qnnc_add_s8 (__ARM_FEATURE_DSP: Cortex-M4/M7/M33; compiled
 * to nothing elsewhere; the entry point, the dispatch and qnnc_add_dsp_setup are in
 * qnnc_add_s8.c and qnnc_internal.h): same shapes, right shifts in [0, 31] on all three
 * requantizations (what the quantizer produces).
 *
 * (x + offset) << (left_shift + 1) is one MLA (x * 2^(ls+1) + offset * 2^(ls+1)), SRDHM is
 * SMMULR of that doubled operand, and the rounding right shift by s (half away from zero) is
 * (r + ((r & -s) >> 31) + (2^s >> 1)) >> s, the same integer as TFLite's mask/threshold form
 * (r = q 2^s + rem: both add 1 exactly when rem >= 2^(s-1) + (r < 0); for s = 0 both give r).
 * A separate function without pre-allocation scheduling (QNNC_LOOP_ATTR): fewer spills of the
 * 15 constants. The quantizer's adds take qnnc_add_dsp_lin (7 constants, no spills) instead.
 */
#include "qnnc_internal.h"

#if QNNC_PATH_DSP_SCALAR
QNNC_INLINE int32_t qnnc_add_dsp_rq(int32_t x2, int32_t m, int32_t s, int32_t ns, int32_t h)
{
    const int32_t r = qnnc_dsp_smmulr(x2, m);
    /* - 1 when r < 0 and s > 0 (an unsigned shift: the signed one by 31 is implementation-defined) */
    return (r - (int32_t)((uint32_t)(r & ns) >> 31) + h) >> s;
}

/* The quantizer's add (left shift 20; one input, L, rescaled by exactly 1/2: multiplier 2^30,
 * shift 0, the input of the larger scale; the other, R, and the output by right shifts >= 1):
 * the constants of qnnc_add_dsp_lin. */
typedef struct {
    int32_t o_r;  /* offset_R * 2^21: (x_R + offset_R) * 2^21 = x_R * 2^21 + o_r */
    int32_t m_r;  /* R's multiplier */
    int32_t h_r;  /* 2^(s_r - 1) + offset_L * 2^(19 + s_r) */
    int32_t s_r;  /* R's right shift, >= 1 */
    int32_t m_o;  /* the output multiplier */
    int32_t h_o;  /* 2^(s_o - 1) + output_offset * 2^s_o */
    int32_t s_o;  /* the output right shift, >= 1 */
} qnnc_add_lin_k;

/* The low byte of max(v, lo) for v, lo in [-128, 127]: SSUB8 sets GE[0] when byte 0 of v minus
 * byte 0 of lo is >= 0 (signed bytes), SEL then takes v's byte 0, else lo's (two instructions;
 * GCC 12 compiles the C max to a compare, an IT block and a reload of lo). */
QNNC_INLINE int32_t qnnc_add_max8(int32_t v, int32_t lo)
{
#if defined(__GNUC__) && QNNC_DSP_SIMD
    int32_t r;
    __asm("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(v), "r"(lo));
    return r;
#else
    return v < lo ? lo : v;
#endif
}

/* Same values as the loop of qnnc_add_dsp_s8, in 16 instructions per output instead of ~36:
 *   a = SRDHM((x_L + o_L) 2^20, 2^30) = (x_L + o_L) 2^19 exactly (no rounding: the product is a
 *       multiple of 2^31), so L costs one shifted add;
 *   b = round((SMMULR(2 (x_R + o_R) 2^20, m_R) + (r < 0 ? -1 : 0) + 2^(s-1)) / 2^s) as in the
 *       file comment (s >= 1: the -1 is r >> 31); o_L 2^(19+s), a multiple of 2^s, added before
 *       the shift is o_L 2^19 after it, so b' = b + o_L 2^19 and a + b = b' + x_L 2^19;
 *   the output likewise, output_offset folded into the rounding constant (+ offset after).
 * qnnc_add_lin_setup checks that the folded constants keep every sum in int32. */
static QNNC_LOOP_ATTR void qnnc_add_dsp_lin(const qnnc_add_lin_k *k, int32_t act_min, int32_t size,
                                            const int8_t *xl, const int8_t *xr, int8_t *out)
{
    const int32_t o_r = k->o_r, m_r = k->m_r, h_r = k->h_r, s_r = k->s_r;
    const int32_t m_o = k->m_o, h_o = k->h_o, s_o = k->s_o;
    const int8_t *const end = xl + size;
    if (act_min == -128) {
        while (xl != end) {
            int32_t r = qnnc_dsp_smmulr(o_r + *xr++ * (1 << 21), m_r);
            r = (r - (int32_t)((uint32_t)r >> 31) + h_r) >> s_r;
            r = qnnc_dsp_smmulr((r + *xl++ * (1 << 19)) * 2, m_o);
            *out++ = (int8_t)qnnc_dsp_ssat8((r - (int32_t)((uint32_t)r >> 31) + h_o) >> s_o);
        }
        return;
    }
    while (xl != end) {
        int32_t r = qnnc_dsp_smmulr(o_r + *xr++ * (1 << 21), m_r);
        r = (r - (int32_t)((uint32_t)r >> 31) + h_r) >> s_r;
        r = qnnc_dsp_smmulr((r + *xl++ * (1 << 19)) * 2, m_o);
        *out++ = (int8_t)qnnc_add_max8(qnnc_dsp_ssat8((r - (int32_t)((uint32_t)r >> 31) + h_o) >> s_o), act_min); /* max 127 */
    }
}

/* 1 when qnnc_add_dsp_lin applies to k (see above; the caller checks act_max == 127, the full
 * range or a fused ReLU); fills kl and which input is L. */
static int qnnc_add_lin_setup(const qnnc_add_dsp_k *k, int32_t off, qnnc_add_lin_k *kl, int *l_is_2)
{
    int32_t o_l, o_r, m_r, s_r;
    int64_t h_r, h_o;
    if (k->p != ((int32_t)1 << 21) || k->so < 1) {
        return 0;
    }
    if (k->m1 == ((int32_t)1 << 30) && k->s1 == 0 && k->s2 >= 1) {
        *l_is_2 = 0;
        o_l = k->o1 / k->p;
        o_r = k->o2;
        m_r = k->m2;
        s_r = k->s2;
    } else if (k->m2 == ((int32_t)1 << 30) && k->s2 == 0 && k->s1 >= 1) {
        *l_is_2 = 1;
        o_l = k->o2 / k->p;
        o_r = k->o1;
        m_r = k->m1;
        s_r = k->s1;
    } else {
        return 0;
    }
    /* |SMMULR(2 Y, m)| <= 2^28 for |Y| <= 2^28 (R), 2^29 + 1 for the output (|a + b| < 2^29) */
    h_r = ((int64_t)1 << (s_r - 1)) + (int64_t)o_l * ((int64_t)1 << (19 + s_r));
    h_o = ((int64_t)1 << (k->so - 1)) + (int64_t)off * ((int64_t)1 << k->so);
    if (h_r > INT32_MAX - (1 << 28) - 1 || h_r < INT32_MIN + (1 << 28) + 1 || h_o > INT32_MAX - (1 << 29) - 2 ||
        h_o < INT32_MIN + (1 << 29) + 2) {
        return 0;
    }
    kl->o_r = o_r;
    kl->m_r = m_r;
    kl->h_r = (int32_t)h_r;
    kl->s_r = s_r;
    kl->m_o = k->mo;
    kl->h_o = (int32_t)h_o;
    kl->s_o = k->so;
    return 1;
}

QNNC_LOOP_ATTR void qnnc_add_dsp_s8(const qnnc_add_dsp_k *k, int32_t lo, int32_t hi, int32_t off, int32_t size,
                                    const int8_t *x1, const int8_t *x2, int8_t *output)
{
    const qnnc_add_dsp_k c = *k;
    int32_t i;
    {
        qnnc_add_lin_k kl;
        int l_is_2;
        if (hi + off == 127 && qnnc_add_lin_setup(k, off, &kl, &l_is_2)) {
            qnnc_add_dsp_lin(&kl, lo + off, size, l_is_2 ? x2 : x1, l_is_2 ? x1 : x2, output);
            return;
        }
    }
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
#endif /* QNNC_PATH_DSP_SCALAR */
