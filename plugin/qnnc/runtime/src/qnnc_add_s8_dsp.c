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
 * 15 constants.
 */
#include "qnnc_internal.h"

#if QNNC_PATH_DSP_SCALAR
QNNC_INLINE int32_t qnnc_add_dsp_rq(int32_t x2, int32_t m, int32_t s, int32_t ns, int32_t h)
{
    const int32_t r = qnnc_dsp_smmulr(x2, m);
    /* - 1 when r < 0 and s > 0 (an unsigned shift: the signed one by 31 is implementation-defined) */
    return (r - (int32_t)((uint32_t)(r & ns) >> 31) + h) >> s;
}

QNNC_LOOP_ATTR void qnnc_add_dsp_s8(const qnnc_add_dsp_k *k, int32_t lo, int32_t hi, int32_t off, int32_t size,
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
#endif /* QNNC_PATH_DSP_SCALAR */
