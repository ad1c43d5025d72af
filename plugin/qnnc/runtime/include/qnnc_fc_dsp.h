/*
 * qnnc_fc_dsp.h - what the Armv7E-M DSP paths of the int8 fully connected kernels share
 * (qnnc_fully_connected_s8_dsp.c: int8 weights; qnnc_fully_connected_s8_wide_dsp.c: int16
 * weights): the widened input row, the choice and code of the output stage.
 */
#ifndef QNNC_FC_DSP_H
#define QNNC_FC_DSP_H
#include "qnnc_dsp_rq_asm.h"

#if QNNC_PATH_DSP
/* Output stage: for half-even rounding qnnc_rq_he_neg where the shift is negative (every
 * layer's but a few) and the reference one otherwise; for TFLite rounding the fast
 * requantization where exact (qnnc_dsp_fast_ok) or the reference one. */
QNNC_INLINE int8_t qnnc_fc_out_dsp(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi,
                                   int32_t output_offset, int32_t rounding)
{
    int32_t v;
    if (rounding == QNNC_ROUND_HALF_EVEN) {
        if (shift <= -1) {
            const int32_t s = qnnc_rq_he_s(shift);
            v = qnnc_rq_he_neg(acc, mult, s, qnnc_rq_he_hm1(s));
        } else {
            v = qnnc_requantize_half_even(acc, mult, shift);
        }
    } else if (qnnc_dsp_fast_ok(mult, shift)) {
        v = qnnc_dsp_rq_fast(acc, mult, -shift);
    } else {
        v = qnnc_requantize(acc, mult, shift);
    }
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + output_offset);
}

/* Modes of the output stage beyond 0 (general: qnnc_fc_out_dsp per output): every channel takes
 * the assembly output stage, clamped by SSAT (the activation range is the whole int8 range) or
 * to the activation range. */
#define QNNC_FC_ASM_SSAT 1
#define QNNC_FC_ASM_CLAMP 2

/* The layer's output stage mode: QNNC_FC_ASM_* where every channel's requantization is fast
 * with a right shift (one scan of the layer's channels per call), else 0. */
QNNC_INLINE int qnnc_fc_asm_mode(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                                 int32_t out_features)
{
#if defined(QNNC_DSP_ASM)
    if (params->rounding != QNNC_ROUND_HALF_EVEN && out_features >= 4 &&
        qnnc_dsp_rq_asm_ok(quant->multiplier, quant->shift, out_features)) {
        return params->act_min == -128 && params->act_max == 127 ? QNNC_FC_ASM_SSAT : QNNC_FC_ASM_CLAMP;
    }
#endif
    (void)params;
    (void)quant;
    (void)out_features;
    return 0;
}

/* The first kq (a multiple of 4) inputs of a row widened with the offset (off2 = the offset in
 * both halves) into xw: words (x0, x2), (x1, x3) per group of 4, the lane order of SXTB16. */
QNNC_INLINE void qnnc_fc_widen_row(uint32_t *xw, const int8_t *x, int32_t kq, int32_t off2)
{
    int32_t k;
    for (k = 0; k < kq; k += 4) {
        const uint32_t v = qnnc_dsp_rd32(x + k);
        xw[k / 2] = (uint32_t)__sxtab16(off2, (int32_t)v);
        xw[k / 2 + 1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v);
    }
}
#endif

#if QNNC_PATH_DSP && defined(QNNC_DSP_ASM)
/* The output stage of 4 fully connected outputs (mode QNNC_FC_ASM_*) in one assembly block,
 * stored at out; *mp_, *sp_ advance past the 4 channels' multipliers and shifts. */
QNNC_INLINE void qnnc_fc_store4_asm(int32_t *acc, const int32_t **mp_, const int32_t **sp_, int32_t o2,
                                    int32_t amin, int32_t amax, int mode, int8_t *out)
{
    const int32_t *mp = *mp_, *sp = *sp_;
    int32_t m_, t_;
#define QNNC_FC_RQ_OUTPUTS                                                                     \
    [a0] "+r"(acc[0]), [a1] "+r"(acc[1]), [a2] "+r"(acc[2]), [a3] "+r"(acc[3]), [mp] "+r"(mp), [sp] "+r"(sp), \
        [m] "=&r"(m_), [t] "=&r"(t_)
    if (mode == QNNC_FC_ASM_SSAT) {
        __asm volatile(QNNC_DSP_RQ1("a0", QNNC_DSP_CLAMP_SSAT) QNNC_DSP_RQ1("a1", QNNC_DSP_CLAMP_SSAT)
                           QNNC_DSP_RQ1("a2", QNNC_DSP_CLAMP_SSAT) QNNC_DSP_RQ1("a3", QNNC_DSP_CLAMP_SSAT)
                       : QNNC_FC_RQ_OUTPUTS
                       : [o2] "r"(o2)
                       : "memory");
    } else {
        __asm volatile(QNNC_DSP_RQ1("a0", QNNC_DSP_CLAMP_LOHI) QNNC_DSP_RQ1("a1", QNNC_DSP_CLAMP_LOHI)
                           QNNC_DSP_RQ1("a2", QNNC_DSP_CLAMP_LOHI) QNNC_DSP_RQ1("a3", QNNC_DSP_CLAMP_LOHI)
                       : QNNC_FC_RQ_OUTPUTS
                       : [o2] "r"(o2), [lo] "r"(amin), [hi] "r"(amax)
                       : "cc", "memory");
    }
#undef QNNC_FC_RQ_OUTPUTS
    out[0] = (int8_t)acc[0];
    out[1] = (int8_t)acc[1];
    out[2] = (int8_t)acc[2];
    out[3] = (int8_t)acc[3];
    *mp_ = mp;
    *sp_ = sp;
}
#endif
#endif /* QNNC_FC_DSP_H */
