/*
 * qnnc_dsp_rq_asm.h - the Armv7E-M output stage (requantize, offset, clamp) as inline-assembly
 * strings, shared by the int8 conv and fully connected DSP loops. From C, GCC 12 spills the
 * rounding terms of a block's outputs around the 13-register dot-product loops; these strings
 * keep a block's output stage in registers.
 *
 * Exact where qnnc_dsp_rq_fast is (qnnc_dsp_fast_ok) and the shift is <= -1: right shift
 * s = -shift, rounding term (2 * off + 1) * 2^(s - 1) = 2^(s-1) + off * 2^s (MVN of the shift
 * is s - 1), so (x + (x < 0 ? -1 : 0) + round) >> s is TFLite's rounding plus the output offset.
 * Operands the strings name: multiplier and shift arrays %[mp], %[sp] (post-incremented), the
 * temporaries %[m], %[t], 2 * off + 1 in %[o2], and for QNNC_DSP_CLAMP_LOHI the activation
 * range in %[lo], %[hi] (flags clobbered).
 */
#ifndef QNNC_DSP_RQ_ASM_H
#define QNNC_DSP_RQ_ASM_H
#include "qnnc_internal.h"

#if QNNC_PATH_DSP
/* 1 when each of the n channels meets the strings' condition: the fast requantization
 * (qnnc_dsp_fast_ok) with a right shift (shift <= -1). */
QNNC_INLINE int qnnc_dsp_rq_asm_ok(const int32_t *mult, const int32_t *shift, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        if (shift[i] > -1 || !qnnc_dsp_fast_ok(mult[i], shift[i])) {
            return 0;
        }
    }
    return 1;
}
#endif

#if QNNC_PATH_DSP && defined(QNNC_DSP_ASM)
/* The steps on named operands: accumulator a times multiplier m; then the rounding term into m
 * (from the shift t and 2 * off + 1 in o2) and the right shift into t; then a rounded. */
#define QNNC_DSP_RQ_MUL_R(a, m) "qadd %[" a "], %[" a "], %[" a "]\n\tsmmulr %[" a "], %[" a "], %[" m "]\n\t"
#define QNNC_DSP_RQ_TERMS_R(m, t, o2)                                                           \
    "mvn %[" m "], %[" t "]\n\tlsl %[" m "], %[" o2 "], %[" m "]\n\trsb %[" t "], %[" t "], #0\n\t"
#define QNNC_DSP_RQ_FIX_R(a) "add %[" a "], %[" a "], %[" a "], asr #31\n\t" /* half away: -1 if negative */
#define QNNC_DSP_RQ_SHIFT_R(a, m, t)                                                           \
    "add %[" a "], %[" a "], %[" m "]\n\t"                                                     \
    "asr %[" a "], %[" a "], %[" t "]\n\t"
#define QNNC_DSP_RQ_ROUND_R(a, m, t) QNNC_DSP_RQ_FIX_R(a) QNNC_DSP_RQ_SHIFT_R(a, m, t)
/* One channel's three accumulators a, b, c (three pixels) with the multiplier in m and the shift
 * in t (both then consumed), rounded and clamped by clamp. */
#define QNNC_DSP_RQ3_R(a, b, c, m, t, o2, clamp)                                                \
    QNNC_DSP_RQ_MUL_R(a, m) QNNC_DSP_RQ_MUL_R(b, m) QNNC_DSP_RQ_MUL_R(c, m) QNNC_DSP_RQ_TERMS_R(m, t, o2) \
        QNNC_DSP_RQ_ROUND_R(a, m, t) QNNC_DSP_RQ_ROUND_R(b, m, t) QNNC_DSP_RQ_ROUND_R(c, m, t) clamp(a) clamp(b) \
            clamp(c)
/* The same with the rounding term riding in SMMLAR, which adds it to SMMULR's result exactly
 * (it adds r * 2^32 before the rounding, whose low word is zero): one instruction an output less.
 * The terms of both channels come first, into r (a third temporary) and t. With the fix-up,
 * r + (a < 0 ? -1 : 0) goes into the temporary f: with a multiplier >= 0 (qnnc_dsp_rq_asm_ok)
 * the accumulator's sign is the product's, except where the product rounds to 0 from a < 0, and
 * there (r - 1) >> s = r >> s = off, as s >= 1. Without it (every negative value is clamped to
 * the activation floor whichever way it rounds), f is not used. */
#define QNNC_DSP_RQ_MLA_FIX_R(a, m, t, r, f)                                                    \
    "add %[" f "], %[" r "], %[" a "], asr #31\n\t"                                              \
    "qadd %[" a "], %[" a "], %[" a "]\n\tsmmlar %[" a "], %[" a "], %[" m "], %[" f "]\n\t"        \
    "asr %[" a "], %[" a "], %[" t "]\n\t"
#define QNNC_DSP_RQ_MLA_NOFIX_R(a, m, t, r, f)                                                  \
    "qadd %[" a "], %[" a "], %[" a "]\n\tsmmlar %[" a "], %[" a "], %[" m "], %[" r "]\n\t"        \
    "asr %[" a "], %[" a "], %[" t "]\n\t"
/* One channel's three accumulators a, b, c by one of the two above (round), its terms already
 * in m, t, r; f: a temporary. */
#define QNNC_DSP_RQ3_MLA_R(a, b, c, m, t, r, f, round, clamp)                                  \
    round(a, m, t, r, f) round(b, m, t, r, f) round(c, m, t, r, f) clamp(a) clamp(b) clamp(c)

/* Loads of one channel's multiplier and shift into %[m], %[t]; the steps above on %[m], %[t],
 * %[o2]. */
#define QNNC_DSP_RQ_LOAD "ldr %[m], [%[mp]], #4\n\tldr %[t], [%[sp]], #4\n\t"
#define QNNC_DSP_RQ_TERMS QNNC_DSP_RQ_TERMS_R("m", "t", "o2")
#define QNNC_DSP_RQ_MUL(a) QNNC_DSP_RQ_MUL_R(a, "m")
#define QNNC_DSP_RQ_ROUND(a) QNNC_DSP_RQ_ROUND_R(a, "m", "t")

/* No clamp (the caller clamps). */
#define QNNC_DSP_CLAMP_NONE(a) ""
/* The activation range is the whole int8 range. */
#define QNNC_DSP_CLAMP_SSAT(a) "ssat %[" a "], #8, %[" a "]\n\t"
/* [act_min, act_max] in %[lo], %[hi]. */
#define QNNC_DSP_CLAMP_LOHI(a)                                                                 \
    "cmp %[" a "], %[lo]\n\t"                                                                  \
    "it lt\n\t"                                                                                \
    "movlt %[" a "], %[lo]\n\t"                                                                \
    "cmp %[" a "], %[hi]\n\t"                                                                  \
    "it gt\n\t"                                                                                \
    "movgt %[" a "], %[hi]\n\t"

/* One channel's accumulator a, requantized and clamped in place. */
#define QNNC_DSP_RQ1(a, clamp) QNNC_DSP_RQ_LOAD QNNC_DSP_RQ_MUL(a) QNNC_DSP_RQ_TERMS QNNC_DSP_RQ_ROUND(a) clamp(a)
/* One channel's two accumulators a, b (two pixels), one multiplier and shift load for both. */
#define QNNC_DSP_RQ2(a, b, clamp)                                                              \
    QNNC_DSP_RQ_LOAD QNNC_DSP_RQ_MUL(a) QNNC_DSP_RQ_MUL(b) QNNC_DSP_RQ_TERMS QNNC_DSP_RQ_ROUND(a) \
        QNNC_DSP_RQ_ROUND(b) clamp(a) clamp(b)
/* One channel's three accumulators a, b, c (three pixels). */
#define QNNC_DSP_RQ3(a, b, c, clamp) QNNC_DSP_RQ_LOAD QNNC_DSP_RQ3_R(a, b, c, "m", "t", "o2", clamp)
#endif
#endif /* QNNC_DSP_RQ_ASM_H */
