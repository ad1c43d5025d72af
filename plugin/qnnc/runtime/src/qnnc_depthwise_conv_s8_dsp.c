/*
 * qnnc_depthwise_conv_s8_dsp.c - the Armv7E-M DSP path of qnnc_depthwise_conv_s8
 * (__ARM_FEATURE_DSP: Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point and
 * dispatch are in qnnc_depthwise_conv_s8.c).
 *
 * Depth multiplier 1, 4 channels per word: the group's weights are widened once (SXTB16) into
 * a small table in the caller's scratch buffer (QNNC_DW_DSP_BUFFER_SIZE), inputs widened with
 * the offset (SXTAB16), then SMLABB/SMLATT per tap (weight pairs by LDRD); 3x3 windows inside
 * the input are fully unrolled (one 2-D block of runs; border columns as runs of 3x2 windows),
 * with the requantization mode as a compile-time constant (the output offset folded into the
 * rounding term, SSAT as the upper clamp when act_max is 127, no half-away fix-up for negative
 * values where the clamp's floor is at or above the output offset; in the fast TFLite modes the
 * widened weights and the bias are doubled, which is the x2 of SQRDMULH without a QADD a value);
 * each run goes along the longer side of its block. The other border windows loop over their
 * in-range taps only. The last in_c % 4 channels run the portable loops. 3x3 stride-1 layers
 * (when the scratch holds their lines) take the channel rows of qnnc_dw_rows_dsp.h instead.
 */
#include "qnnc_internal.h"

#if QNNC_PATH_DSP
#if defined(__GNUC__) && !defined(__clang__)
/* The window's taps hold 13 registers: this file never keeps a frame pointer, even in a
 * -fno-omit-frame-pointer build (as qnnc_conv_s8_paired_dsp.c; GCC 12 then finds no registers
 * for the runs). */
#pragma GCC optimize("omit-frame-pointer")
#endif
typedef struct {
    /* fast modes: right shift s, round = 2^(s-1) + off*2^s, bias doubled (as the weight table) */
    int32_t mult[4], rshift[4], round[4], bias[4];
    int32_t shift[4];                               /* the original shifts (reference path) */
    int64_t hm1[4]; /* half-even (mode 3): qnnc_rq_he_hm1 of rshift = qnnc_rq_he_s(shift) */
    /* 1: all 4 channels take the fast TFLite requantization (qnnc_dsp_fast_ok, the accumulator
     * doubled: qnnc_dw_doubling_ok); 2: and the activation range is the whole int8 range (SSAT
     * alone clamps); 4 and 5: 2 and 1 where act_min >= output_offset (negative values clamp to
     * act_min with or without the half-away fix-up, which both round them to at most the offset,
     * so it is left out); 3: half-even rounding with every shift <= -1 (qnnc_rq_he_neg); 0: the
     * reference */
    int32_t fast;
    int32_t act_min, act_max, output_offset, lo, hi, rounding;
} qnnc_dw_group;

/* Fast requantization of one value (exact under the conditions of qnnc_dsp_rq_fast, with a right
 * shift s >= 1 here), + output offset, clamped to the activation range. acc2 is the accumulator
 * doubled (the weight table and the bias are), so SMMULR alone is SQRDMULH. With s >= 1,
 * rounding half away from zero is (x + 2^(s-1) - (x < 0)) >> s: the fix-up is one ADD with ASR
 * #31 (left out with `nofix`: the group's mode 4/5); the offset rides in `round` as off * 2^s
 * (adding a multiple of 2^s commutes with the floor shift; |x| < 2^30, so nothing overflows).
 * mla (a constant): the terms ride in SMMLAR (acc + SMMULR, exact), one ADD less; the fix-up tests
 * acc2's sign (x's differs only where x is 0 and acc2 < 0: (round - 1) >> s = round >> s, s >= 1).
 * The windows' clamped modes keep SMMULR (GCC 12 -Os found no registers for the 3x3 runs' asm). */
QNNC_INLINE int32_t qnnc_dw_rq_fast_x(int32_t acc2, int32_t mult, int32_t s, int32_t round, int32_t nofix,
                                      const int mla)
{
    const int32_t x = mla ? 0 : qnnc_dsp_smmulr(acc2, mult);
    return mla ? qnnc_dsp_smmlar(acc2, mult, nofix ? round : round + (acc2 >> 31)) >> s
               : (x + (nofix ? 0 : x >> 31) + round) >> s; /* round includes off * 2^s */
}

QNNC_INLINE int32_t qnnc_dw_rq_fast(int32_t acc2, int32_t mult, int32_t s, int32_t round, int32_t amin,
                                    int32_t amax, int32_t nofix, const int mla)
{
    int32_t x = qnnc_dw_rq_fast_x(acc2, mult, s, round, nofix, mla);
    x = x < amin ? amin : x;
    return x > amax ? amax : x;
}

/* The same when the activation range is [-128, 127]: SSAT is the whole clamp. */
QNNC_INLINE int32_t qnnc_dw_rq_fast_sat(int32_t acc2, int32_t mult, int32_t s, int32_t round, int32_t nofix,
                                        const int mla)
{
    return qnnc_dsp_ssat8(qnnc_dw_rq_fast_x(acc2, mult, s, round, nofix, mla));
}

/* Half-even (qnnc_rq_he_neg: |x| <= 2^30, so the offset is added before the clamp). */
QNNC_INLINE int32_t qnnc_dw_rq_he(int32_t acc, int32_t mult, int32_t s, int64_t hm1, int32_t off, int32_t amin,
                                  int32_t amax)
{
    int32_t x = qnnc_rq_he_neg(acc, mult, s, hm1) + off;
    x = x < amin ? amin : x;
    return x > amax ? amax : x;
}

QNNC_INLINE void qnnc_dw_store4_slow(int8_t *out, const int32_t *acc, const qnnc_dw_group *g)
{
    int32_t i;
    for (i = 0; i < 4; ++i) {
        int32_t v = qnnc_requantize_mode(acc[i], g->mult[i], g->shift[i], g->rounding);
        v = v < g->lo ? g->lo : (v > g->hi ? g->hi : v);
        out[i] = (int8_t)(v + g->output_offset);
    }
}

/* The constants (mult, round, rshift) of channels i and i + 1 of the group, i a constant.
 * With QNNC_DSP_ASM by six back-to-back LDRs, which pipeline on the M4 (one cycle each after
 * the first; GCC interleaves them with the arithmetic, two cycles each). */
#if QNNC_DSP_ASM
#define QNNC_DW_LD_OFF(field, i) "n"(offsetof(qnnc_dw_group, field) + 4 * (i))
#define QNNC_DW_LD_PAIR(g, i, m0, r0, s0, m1, r1, s1)                                                     \
    __asm("ldr %[m0_], [%[g_], #%c[om0]]\n\tldr %[r0_], [%[g_], #%c[or0]]\n\t"                          \
          "ldr %[s0_], [%[g_], #%c[os0]]\n\tldr %[m1_], [%[g_], #%c[om1]]\n\t"                           \
          "ldr %[r1_], [%[g_], #%c[or1]]\n\tldr %[s1_], [%[g_], #%c[os1]]"                                \
          : [m0_] "=&r"(m0), [r0_] "=&r"(r0), [s0_] "=&r"(s0), [m1_] "=&r"(m1), [r1_] "=&r"(r1),         \
            [s1_] "=&r"(s1)                                                                            \
          : [g_] "r"(g), [om0] QNNC_DW_LD_OFF(mult, i), [or0] QNNC_DW_LD_OFF(round, i),                 \
            [os0] QNNC_DW_LD_OFF(rshift, i), [om1] QNNC_DW_LD_OFF(mult, (i) + 1),                         \
            [or1] QNNC_DW_LD_OFF(round, (i) + 1), [os1] QNNC_DW_LD_OFF(rshift, (i) + 1), "m"(*(g)))
#else
#define QNNC_DW_LD_PAIR(g, i, m0, r0, s0, m1, r1, s1)                                                     \
    do {                                                                                               \
        m0 = (g)->mult[i];                                                                             \
        r0 = (g)->round[i];                                                                            \
        s0 = (g)->rshift[i];                                                                           \
        m1 = (g)->mult[(i) + 1];                                                                       \
        r1 = (g)->round[(i) + 1];                                                                      \
        s1 = (g)->rshift[(i) + 1];                                                                     \
    } while (0)
#endif

/* Two values of channels i, i + 1 in a fast mode (sat: SSAT is the clamp). */
#define QNNC_DW_FAST_PAIR(i, x0, x1, sat)                                                                 \
    do {                                                                                               \
        int32_t m0_, r0_, s0_, m1_, r1_, s1_;                                                          \
        QNNC_DW_LD_PAIR(g, i, m0_, r0_, s0_, m1_, r1_, s1_);                                           \
        if (sat) {                                                                                     \
            out[i] = (int8_t)qnnc_dw_rq_fast_sat(x0, m0_, s0_, r0_, nofix, 1);                         \
            out[(i) + 1] = (int8_t)qnnc_dw_rq_fast_sat(x1, m1_, s1_, r1_, nofix, 1);                   \
        } else {                                                                                       \
            out[i] = (int8_t)qnnc_dw_rq_fast(x0, m0_, s0_, r0_, g->act_min, g->act_max, nofix, 0);     \
            out[(i) + 1] = (int8_t)qnnc_dw_rq_fast(x1, m1_, s1_, r1_, g->act_min, g->act_max, nofix, 0);\
        }                                                                                              \
    } while (0)

/* mode: g->fast, or a constant in the specialized 3x3 runs. */
QNNC_INLINE void qnnc_dw_store4_mode(int8_t *restrict out, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                     const qnnc_dw_group *restrict g, int32_t mode)
{
    if (mode == 3) {
        const int32_t amin = g->act_min, amax = g->act_max, off = g->output_offset;
        out[0] = (int8_t)qnnc_dw_rq_he(a0, g->mult[0], g->rshift[0], g->hm1[0], off, amin, amax);
        out[1] = (int8_t)qnnc_dw_rq_he(a1, g->mult[1], g->rshift[1], g->hm1[1], off, amin, amax);
        out[2] = (int8_t)qnnc_dw_rq_he(a2, g->mult[2], g->rshift[2], g->hm1[2], off, amin, amax);
        out[3] = (int8_t)qnnc_dw_rq_he(a3, g->mult[3], g->rshift[3], g->hm1[3], off, amin, amax);
    } else if (mode == 2 || mode == 4) {
        const int32_t nofix = mode == 4;
        QNNC_DW_FAST_PAIR(0, a0, a1, 1);
        QNNC_DW_FAST_PAIR(2, a2, a3, 1);
    } else if (mode) {
        const int32_t nofix = mode == 5;
        QNNC_DW_FAST_PAIR(0, a0, a1, 0);
        QNNC_DW_FAST_PAIR(2, a2, a3, 0);
    } else {
        int32_t acc[4];
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        qnnc_dw_store4_slow(out, acc, g);
    }
}

/* The group's mode chosen at run time, one copy for the windows outside the specialized runs. */
static QNNC_LOOP_ATTR void qnnc_dw_store4(int8_t *restrict out, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                          const qnnc_dw_group *restrict g)
{
    qnnc_dw_store4_mode(out, a0, a1, a2, a3, g, g->fast);
}

/* One tap of 4 channels: x widened with the offset, then SMLABB/SMLATT with the tap's weights. */
#define QNNC_DW3_TAP(ptr, wi)                                                                  \
    do {                                                                                       \
        const uint32_t tx_ = qnnc_dsp_rd32(ptr);                                               \
        const int32_t x02_ = __sxtab16(off2, (int32_t)tx_), x13_ = qnnc_dsp_sxtab16_ror8(off2, tx_); \
        uint64_t tw_;                                                                          \
        int32_t w0_, w1_;                                                                      \
        memcpy(&tw_, wt + (wi), 8u); /* the tap's two weight words in one LDRD */              \
        w0_ = (int32_t)(uint32_t)tw_;                                                          \
        w1_ = (int32_t)(uint32_t)(tw_ >> 32);                                                  \
        a0 = __smlabb(w0_, x02_, a0);                                                          \
        a2 = __smlatt(w0_, x02_, a2);                                                          \
        a1 = __smlabb(w1_, x13_, a1);                                                          \
        a3 = __smlatt(w1_, x13_, a3);                                                          \
    } while (0)

/* The same in C (builds without QNNC_DSP_ASM; the modes chosen at run time). */
#define QNNC_DW3_TAPS_C()                                                                      \
    do {                                                                                       \
            /* the rows unrolled: no row loop (its counter and pointers were spilled) */       \
            QNNC_DW3_TAP(p, 0);                                                                \
            QNNC_DW3_TAP(p + C, 2);                                                            \
            if (ncols == 3) {                                                                  \
                QNNC_DW3_TAP(p + 2 * C, 4);                                                    \
            }                                                                                  \
            QNNC_DW3_TAP(p + row_step, 6);                                                     \
            QNNC_DW3_TAP(p + row_step + C, 8);                                                 \
            if (ncols == 3) {                                                                  \
                QNNC_DW3_TAP(p + row_step + 2 * C, 10);                                        \
            }                                                                                  \
            QNNC_DW3_TAP(p + 2 * row_step, 12);                                                \
            QNNC_DW3_TAP(p + 2 * row_step + C, 14);                                            \
            if (ncols == 3) {                                                                  \
                QNNC_DW3_TAP(p + 2 * row_step + 2 * C, 16);                                    \
            }                                                                                  \
    } while (0)

#if QNNC_DSP_ASM
/* The window's taps as inline assembly (the other loops' reasons, qnnc_internal.h): GCC 12 keeps
 * the 8 tap offsets and the hoisted weights on the stack and splits LDRD, 10 instructions a tap
 * for these 8 (LDRD, LDR, 2 SXTAB16, 4 SMLAxx). The tap's two weight words come by one LDRD (the
 * same M4 cycles as two LDRs through one register, one instruction fewer): 13 registers, which
 * leaves GCC one for the run's pointers. Builds that reserve r9 load them by two LDRs through one
 * register and the row step from memory at the row's end (11 registers; GCC 12 found none for 12
 * in some modes and levels). woff: the first word's offset. */
#if defined(QNNC_DSP_ASM_13)
#define QNNC_DW3_ASM_13 1
#define QNNC_DW3_ASM_W0(woff) "ldr %[w], [%[wt], #" woff "]\n\t"
#define QNNC_DW3_ASM_W1(woff) "ldr %[w], [%[wt], #" woff " + 4]\n\t"
#define QNNC_DW3_ASM_V "w" /* the second word's register */
#define QNNC_DW3_ASM_V_OPERAND
#define QNNC_DW3_ASM_NEXT_ROW "ldr %[w], %[rs]\n\tadd %[p], %[p], %[w]\n\t"
#define QNNC_DW3_ASM_RS "m"(row_step)
#else
#define QNNC_DW3_ASM_13 0
#define QNNC_DW3_ASM_W0(woff) "ldrd %[w], %[v], [%[wt], #" woff "]\n\t"
#define QNNC_DW3_ASM_W1(woff) ""
#define QNNC_DW3_ASM_V "v"
#define QNNC_DW3_ASM_V_OPERAND , [v] "=&r"(v_)
#define QNNC_DW3_ASM_NEXT_ROW "add %[p], %[p], %[rs]\n\t"
#define QNNC_DW3_ASM_RS "r"(row_step)
#endif
#define QNNC_DW3_ASM_TAP(xaddr, woff)                                                          \
    QNNC_DW3_ASM_W0(woff)                                                                      \
    "ldr %[x], " xaddr "\n\t"                                                                   \
    "sxtab16 %[y], %[off2], %[x]\n\t"                                                         \
    "smlabb %[a0], %[w], %[y], %[a0]\n\t"                                                     \
    "smlatt %[a2], %[w], %[y], %[a2]\n\t" QNNC_DW3_ASM_W1(woff)                               \
    "sxtab16 %[x], %[off2], %[x], ror #8\n\t"                                                 \
    "smlabb %[a1], %[" QNNC_DW3_ASM_V "], %[x], %[a1]\n\t"                                    \
    "smlatt %[a3], %[" QNNC_DW3_ASM_V "], %[x], %[a3]\n\t"
#define QNNC_DW3_ASM_ROW3(w0, w1, w2)                                                          \
    QNNC_DW3_ASM_TAP("[%[p]]", w0) QNNC_DW3_ASM_TAP("[%[p], %[C]]", w1)                       \
    QNNC_DW3_ASM_TAP("[%[p], %[C], lsl #1]", w2) QNNC_DW3_ASM_NEXT_ROW
#define QNNC_DW3_ASM_ROW2(w0, w1)                                                              \
    QNNC_DW3_ASM_TAP("[%[p]]", w0) QNNC_DW3_ASM_TAP("[%[p], %[C]]", w1) QNNC_DW3_ASM_NEXT_ROW
/* the three rows of a window 3 or 2 taps wide (wt's rows 3 taps = 24 bytes apart) */
#define QNNC_DW3_ASM_3X3                                                                       \
    QNNC_DW3_ASM_ROW3("0", "8", "16") QNNC_DW3_ASM_ROW3("24", "32", "40") QNNC_DW3_ASM_ROW3("48", "56", "64")
#define QNNC_DW3_ASM_3X2                                                                       \
    QNNC_DW3_ASM_ROW2("0", "8") QNNC_DW3_ASM_ROW2("24", "32") QNNC_DW3_ASM_ROW2("48", "56")
#define QNNC_DW3_ASM_OPERANDS                                                                  \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p] "+r"(pp), [x] "=&r"(x_),      \
        [y] "=&r"(y_), [w] "=&r"(w_) QNNC_DW3_ASM_V_OPERAND                                    \
    : [C] "r"(C), [rs] QNNC_DW3_ASM_RS, [wt] "r"(wt), [off2] "r"(off2)                          \
    : "memory"
#endif

/* 3x3-kernel dilation-1 windows of 4 full channels whose in-range taps are 3 rows of `ncols` (3
 * or 2) columns, px and wt at the first in-range tap (wt's rows 3 taps apart; the columns C
 * bytes apart and the rows row_step, or the other way round with the transposed table):
 * `rows` runs of `count` output pixels; within a run the windows are `step` input bytes and
 * `out_step` output bytes apart, runs start `px_row` / `out_row` apart. The padding taps are
 * never read (the input offset rides on each input, so they add nothing). */
QNNC_INLINE void qnnc_dw3_run_body(const int8_t *px, int32_t C, int32_t row_step, int32_t step,
                                   const int32_t *restrict wt, int32_t off2, const qnnc_dw_group *restrict g,
                                   int8_t *restrict out, int32_t out_step, int32_t count, int32_t rows,
                                   int32_t px_row, int32_t out_row, int32_t mode, int32_t ncols)
{
    for (; rows > 0; --rows) {
        const int8_t *p = px;
        int8_t *o = out;
        /* an end pointer rather than a counter: the counter lived on the stack (load + store a pixel) */
        const int8_t *const o_end = out + count * out_step;
        while (o != o_end) {
            int32_t a0 = g->bias[0], a1 = g->bias[1], a2 = g->bias[2], a3 = g->bias[3];
#if QNNC_DSP_ASM
            const int8_t *pp = p;
            int32_t x_, y_, w_;
#if !QNNC_DW3_ASM_13
            int32_t v_; /* the tap's second weight word */
#endif
            /* the C taps where the output stage leaves GCC 12 too few registers at some levels:
             * the modes chosen at run time (mode < 0: the reference and mode 1, a range
             * narrower than int8 whose floor is below the zero point, both rare) and half-even's
             * 64-bit terms in builds that reserve r9 */
            if (mode < 0 || (mode == 3 && QNNC_DW3_ASM_13)) {
                QNNC_DW3_TAPS_C();
            } else if (ncols == 3) {
                __asm volatile(QNNC_DW3_ASM_3X3 : QNNC_DW3_ASM_OPERANDS);
            } else {
                __asm volatile(QNNC_DW3_ASM_3X2 : QNNC_DW3_ASM_OPERANDS);
            }
#else
            QNNC_DW3_TAPS_C();
#endif
            if (mode < 0) {
                qnnc_dw_store4(o, a0, a1, a2, a3, g);
            } else {
                qnnc_dw_store4_mode(o, a0, a1, a2, a3, g, mode);
            }
            p += step;
            o += out_step;
        }
        px += px_row;
        out += out_row;
    }
}

/* The runs, specialized per requantization mode and width (no per-pixel test of g->fast; mode
 * -1: the rare modes 0 and 1, chosen per pixel); one function each, called a few times per
 * channel group (the weight loads they hoist are paid once per call, not per window). */
#define QNNC_DW3_RUN_MODE(name, mode, ncols)                                                           \
    static QNNC_LOOP_ATTR void name(const int8_t *px, int32_t C, int32_t row_step, int32_t step,     \
                                       const int32_t *restrict wt, int32_t off2,                        \
                                       const qnnc_dw_group *restrict g, int8_t *restrict out,           \
                                       int32_t out_step, int32_t count, int32_t rows, int32_t px_row,   \
                                       int32_t out_row)                                                 \
    {                                                                                                   \
        qnnc_dw3_run_body(px, C, row_step, step, wt, off2, g, out, out_step, count, rows, px_row,       \
                          out_row, mode, ncols);                                                        \
    }
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_he, 3, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_he, 3, 2)
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_sat, 2, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_sat_nofix, 4, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_fast_nofix, 5, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_any, -1, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_sat, 2, 2)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_sat_nofix, 4, 2)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_fast_nofix, 5, 2)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_any, -1, 2)

/* `count` windows of 2x2 in-range taps (the corners of a padded 3x3 layer), `step` input bytes
 * and `out_step` output bytes apart, px and wt at the first in-range tap (wt's rows 3 taps apart). */
static QNNC_LOOP_ATTR void qnnc_dw2x2_run(const int8_t *p, int32_t C, int32_t row_step, int32_t step,
                                          const int32_t *restrict wt, int32_t off2, const qnnc_dw_group *restrict g,
                                          int8_t *restrict out, int32_t out_step, int32_t count)
{
    for (; count > 0; --count) {
        int32_t a0 = g->bias[0], a1 = g->bias[1], a2 = g->bias[2], a3 = g->bias[3];
        QNNC_DW3_TAP(p, 0);
        QNNC_DW3_TAP(p + C, 2);
        QNNC_DW3_TAP(p + row_step, 6);
        QNNC_DW3_TAP(p + row_step + C, 8);
        qnnc_dw_store4(out, a0, a1, a2, a3, g);
        p += step;
        out += out_step;
    }
}

/* Geometry of one 2-D block of runs. */
typedef struct {
    const int8_t *px;
    int8_t *out;
    int32_t step, out_step, count, rows, px_row, out_row;
} qnnc_dw_runs;

QNNC_INLINE void qnnc_dw3_runs_dsp(const qnnc_dw_runs *r, int32_t C, int32_t row_step, const int32_t *restrict wt,
                                   int32_t off2, const qnnc_dw_group *restrict g, int32_t ncols)
{
    if (r->count <= 0 || r->rows <= 0) {
        return;
    }
    /* the run of the group's mode and width (the arguments of every run function) */
#define QNNC_DW3_RUN_ARGS r->px, C, row_step, r->step, wt, off2, g, r->out, r->out_step, r->count, r->rows, r->px_row, \
                          r->out_row
    switch (g->fast) {
    case 2:
        (ncols == 3 ? qnnc_dw3x3_run_sat : qnnc_dw3x2_run_sat)(QNNC_DW3_RUN_ARGS);
        break;
    case 3:
        (ncols == 3 ? qnnc_dw3x3_run_he : qnnc_dw3x2_run_he)(QNNC_DW3_RUN_ARGS);
        break;
    case 4:
        (ncols == 3 ? qnnc_dw3x3_run_sat_nofix : qnnc_dw3x2_run_sat_nofix)(QNNC_DW3_RUN_ARGS);
        break;
    case 5:
        (ncols == 3 ? qnnc_dw3x3_run_fast_nofix : qnnc_dw3x2_run_fast_nofix)(QNNC_DW3_RUN_ARGS);
        break;
    default:
        (ncols == 3 ? qnnc_dw3x3_run_any : qnnc_dw3x2_run_any)(QNNC_DW3_RUN_ARGS);
        break;
    }
#undef QNNC_DW3_RUN_ARGS
}

/* One output pixel of 4 channels over its in-range taps only (bounds found once). */
static QNNC_LOOP_ATTR void qnnc_dw_window_dsp(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                                 const int8_t *in_c0, const qnnc_dims *filter_dims,
                                                 const int32_t *wt, const qnnc_dw_group *g, int32_t oh,
                                                 int32_t ow, int8_t *out)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, C = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t dh = params->dilation_h, dw = params->dilation_w;
    const int32_t off2 = qnnc_dsp_pack2(params->input_offset), row_step = in_w * C;
    const int32_t ih0 = oh * params->stride_h - params->pad_top;
    const int32_t iw0 = ow * params->stride_w - params->pad_left;
    int32_t a0 = g->bias[0], a1 = g->bias[1], a2 = g->bias[2], a3 = g->bias[3];
    int32_t kh, kw, kh0, kh1, kw0, kw1;
    qnnc_tap_range(ih0, in_h, k_h, dh, &kh0, &kh1);
    qnnc_tap_range(iw0, in_w, k_w, dw, &kw0, &kw1);
    for (kh = kh0; kh < kh1 && kw0 < kw1; ++kh) {
        const int8_t *r = in_c0 + (ih0 + kh * dh) * row_step + (iw0 + kw0 * dw) * C;
        const int32_t *w = wt + 2 * (kh * k_w + kw0);
        for (kw = kw0; kw < kw1; ++kw) {
            const uint32_t x = qnnc_dsp_rd32(r);
            const int32_t x02 = __sxtab16(off2, (int32_t)x), x13 = qnnc_dsp_sxtab16_ror8(off2, x);
            a0 = __smlabb(w[0], x02, a0);
            a2 = __smlatt(w[0], x02, a2);
            a1 = __smlabb(w[1], x13, a1);
            a3 = __smlatt(w[1], x13, a3);
            r += dw * C;
            w += 2;
        }
    }
    qnnc_dw_store4(out, a0, a1, a2, a3, g);
}

/* The in-range taps of a 3-tap dilation-1 window at output position o along one axis: the
 * first (*k0) and the count (returned). */
QNNC_INLINE int32_t qnnc_dw3_taps(int32_t o, int32_t stride, int32_t pad, int32_t n_in, int32_t *k0)
{
    int32_t k1;
    qnnc_tap_range(o * stride - pad, n_in, 3, 1, k0, &k1);
    return k1 - *k0;
}

/* The end of the segment of output positions from o on whose windows have the same in-range
 * taps (k0, n = qnnc_dw3_taps of o); [lo, hi), the windows inside the input (qnnc_dw_inside),
 * is one segment. */
QNNC_INLINE int32_t qnnc_dw3_segment(int32_t o, int32_t n_out, int32_t stride, int32_t pad, int32_t n_in,
                                     int32_t lo, int32_t hi, int32_t k0, int32_t n)
{
    int32_t e = o + 1, k;
    if (o == lo && lo < hi) {
        return hi;
    }
    while (e < n_out && (e != lo || lo >= hi) && qnnc_dw3_taps(e, stride, pad, n_in, &k) == n && k == k0) {
        ++e;
    }
    return e;
}

/* The output positions along one axis of a 3x3 dilation-1 layer in segments whose windows have
 * the same in-range taps: [start, end), the first in-range tap k0 and their count. Computed once
 * a layer (the channel groups share them). n = 0: not such a layer, or more segments than fit
 * (the windows then go one by one). */
#define QNNC_DW_MAX_SEGS 6 /* 3x3 layers with pads up to 2 need at most 5 */
typedef struct {
    int32_t n;
    int16_t start[QNNC_DW_MAX_SEGS], end[QNNC_DW_MAX_SEGS];
    int8_t k0[QNNC_DW_MAX_SEGS], taps[QNNC_DW_MAX_SEGS];
} qnnc_dw_segs;

static void qnnc_dw3_axis_segs(qnnc_dw_segs *segs, int32_t n_out, int32_t n_in, int32_t stride, int32_t pad)
{
    int32_t lo, hi, o, e, k0, n;
    segs->n = 0;
    if (n_out > 32767) {
        return;
    }
    qnnc_dw_inside(n_out, n_in, 3, stride, pad, &lo, &hi);
    for (o = 0; o < n_out; o = e) {
        if (segs->n == QNNC_DW_MAX_SEGS) {
            segs->n = 0;
            return;
        }
        n = qnnc_dw3_taps(o, stride, pad, n_in, &k0);
        e = qnnc_dw3_segment(o, n_out, stride, pad, n_in, lo, hi, k0, n);
        segs->start[segs->n] = (int16_t)o;
        segs->end[segs->n] = (int16_t)e;
        segs->k0[segs->n] = (int8_t)k0;
        segs->taps[segs->n] = (int8_t)n;
        ++segs->n;
    }
}

/* The windows [oh, oh_end) x [ow, ow_end) one by one over their in-range taps. */
QNNC_INLINE void qnnc_dw_windows_dsp(const qnnc_conv_params *params, const qnnc_dims *input_dims, const int8_t *in_c0,
                                const qnnc_dims *filter_dims, const int32_t *wt, const qnnc_dw_group *g,
                                const qnnc_dims *output_dims, int8_t *out_c0, int32_t oh, int32_t oh_end, int32_t ow,
                                int32_t ow_end)
{
    const int32_t C = input_dims->c, out_w = output_dims->w;
    int32_t i, j;
    for (i = oh; i < oh_end; ++i) {
        for (j = ow; j < ow_end; ++j) {
            qnnc_dw_window_dsp(params, input_dims, in_c0, filter_dims, wt, g, i, j, out_c0 + (i * out_w + j) * C);
        }
    }
}

/* One channel group (4 channels at offset c) over all output pixels. wt holds the widened
 * weights per tap: wt[2t] = (w_c0, w_c2), wt[2t + 1] = (w_c1, w_c3). 3x3 dilation 1 (rows and
 * cols: the segments of qnnc_dw3_axis_segs): each pair of a row and a column segment is one
 * block. Blocks whose windows have 3 in-range rows of 2 or 3 taps, or 2 rows of 3 (with the
 * transposed table wt_t, as 3 columns of 2), are runs (no test per tap); 2 x 2 blocks (the
 * corners) go through qnnc_dw2x2_run; the rest (maps too small for that, other kernels) window
 * by window over their in-range taps. */
static QNNC_LOOP_ATTR void qnnc_dw_group_dsp(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                                const int8_t *in_c0, const qnnc_dims *filter_dims,
                                                const int32_t *wt, const int32_t *wt_t, const qnnc_dw_group *g,
                                                const qnnc_dims *output_dims, int8_t *out_c0,
                                                const qnnc_dw_segs *rows, const qnnc_dw_segs *cols)
{
    const int32_t in_w = input_dims->w, C = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w, pt = params->pad_top, pl = params->pad_left;
    const int32_t off2 = qnnc_dsp_pack2(params->input_offset), row_step = in_w * C;
    int32_t si, sj, i;
    if (rows->n == 0 || cols->n == 0) {
        qnnc_dw_windows_dsp(params, input_dims, in_c0, filter_dims, wt, g, output_dims, out_c0, 0, out_h, 0, out_w);
        return;
    }
    for (si = 0; si < rows->n; ++si) {
        const int32_t oh = rows->start[si], oh_end = rows->end[si], kh0 = rows->k0[si], nr = rows->taps[si];
        if (nr < 2) {
            qnnc_dw_windows_dsp(params, input_dims, in_c0, filter_dims, wt, g, output_dims, out_c0, oh, oh_end, 0,
                                out_w);
            continue;
        }
        for (sj = 0; sj < cols->n; ++sj) {
            const int32_t ow = cols->start[sj], ow_end = cols->end[sj], kw0 = cols->k0[sj], nc = cols->taps[sj];
            /* 3 rows of taps, or 2 of 3 taps as 3 columns of 2 with the transposed table */
            if ((nr == 3 && nc >= 2) || (nr == 2 && nc == 3 && wt_t != NULL)) {
                qnnc_dw_runs r;
                r.px = in_c0 + (oh * sh - pt + kh0) * row_step + (ow * sw - pl + kw0) * C;
                r.out = out_c0 + (oh * out_w + ow) * C;
                if (ow_end - ow < oh_end - oh) { /* taller than wide: the runs go down the columns */
                    r.rows = ow_end - ow;
                    r.count = oh_end - oh;
                    r.step = sh * row_step;
                    r.out_step = out_w * C;
                    r.px_row = sw * C;
                    r.out_row = C;
                } else {
                    r.rows = oh_end - oh;
                    r.count = ow_end - ow;
                    r.step = sw * C;
                    r.out_step = C;
                    r.px_row = sh * row_step;
                    r.out_row = out_w * C;
                }
                if (nr == 3) {
                    qnnc_dw3_runs_dsp(&r, C, row_step, wt + 2 * (3 * kh0 + kw0), off2, g, nc);
                } else {
                    qnnc_dw3_runs_dsp(&r, row_step, C, wt_t + 2 * (3 * kw0 + kh0), off2, g, 2);
                }
            } else if (nr == 2 && nc == 2) { /* a corner (or a short row of them) */
                for (i = oh; i < oh_end; ++i) {
                    qnnc_dw2x2_run(in_c0 + (i * sh - pt + kh0) * row_step + (ow * sw - pl + kw0) * C, C, row_step,
                                   sw * C, wt + 2 * (3 * kh0 + kw0), off2, g, out_c0 + (i * out_w + ow) * C, C,
                                   ow_end - ow);
                }
            } else {
                qnnc_dw_windows_dsp(params, input_dims, in_c0, filter_dims, wt, g, output_dims, out_c0, oh, oh_end,
                                    ow, ow_end);
            }
        }
    }
}

/* 1 when doubling the accumulator cannot overflow for any input: |bias| + taps * 128 * 255 <
 * 2^30 (|w| <= 128, |x + input offset| <= 255), so the doubled table and bias give exactly the
 * QADD(acc, acc) of the fast requantization. */
QNNC_INLINE int qnnc_dw_doubling_ok(int32_t bias, int32_t taps)
{
    const int32_t room = (1 << 30) - taps * 128 * 255;
    return bias > -room && bias < room;
}

#include "qnnc_dw_rows_dsp.h"

QNNC_PATH_ATTR int qnnc_dw_dsp_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                  const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                  const int8_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t C = input_dims->c, taps = filter_dims->h * filter_dims->w;
    const int32_t c4 = C & ~3;
    int32_t *wt; /* the group's weights widened, 2 words a tap (scratch) */
    int32_t *wt_t = NULL; /* 3x3: the same transposed (tap (r, c) at 3c + r), if the scratch holds it
                           * (QNNC_DW_DSP_BUFFER_SIZE; else the 2-row border windows go one by one) */
    int16_t *ring = NULL; /* 3x3 stride 1: the channel rows (qnnc_dw_rows_dsp.h), if the scratch holds them */
    int32_t *wr = NULL, len = 0, lines = 0;
    qnnc_dw_segs rows, cols;
    qnnc_dw_group g;
    int32_t b, c, t, i;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS || c4 == 0 || scratch == NULL ||
        scratch->buf == NULL) {
        return 0;
    }
    if (!qnnc_scratch_fits(scratch, 4u, 8 * taps)) {
        return 0; /* too small even for the table: portable path */
    }
    memset(&g, 0, sizeof g); /* (the rows path copies every field; a mode leaves some unset) */
    if (QNNC_DW_DSP_ROWS_LAYER(params, filter_dims) &&
        qnnc_scratch_fits(scratch, 8u, QNNC_DW_DSP_ROWS_BUFFER_SIZE(output_dims->h, output_dims->w) - 4)) {
        len = qnnc_dw_rows_len(output_dims->h > output_dims->w ? output_dims->h : output_dims->w);
        lines = QNNC_DW_DSP_ROWS_LINES(output_dims->h, output_dims->w);
        ring = (int16_t *)qnnc_scratch_align(scratch, 8u);
        wr = (int32_t *)(void *)(ring + 4 * lines * len);
        memset(ring, 0, (size_t)(8 * lines * len)); /* the padding entries and the zero lines stay zero */
    }
    wt = (int32_t *)qnnc_scratch_align(scratch, 4u);
    if (taps == 9 && qnnc_scratch_fits(scratch, 4u, 16 * taps)) {
        wt_t = wt + 2 * taps;
    }
    rows.n = cols.n = 0;
    if (filter_dims->h == 3 && filter_dims->w == 3 && params->dilation_h == 1 && params->dilation_w == 1) {
        qnnc_dw3_axis_segs(&rows, output_dims->h, input_dims->h, params->stride_h, params->pad_top);
        qnnc_dw3_axis_segs(&cols, output_dims->w, input_dims->w, params->stride_w, params->pad_left);
    }
    g.output_offset = params->output_offset;
    g.act_min = params->act_min;
    g.act_max = params->act_max;
    g.lo = params->act_min - params->output_offset;
    g.hi = params->act_max - params->output_offset;
    g.rounding = params->rounding;
    for (c = 0; c < c4; c += 4) {
        g.fast = params->rounding == QNNC_ROUND_HALF_EVEN ? 3 : 1;
        for (i = 0; i < 4; ++i) {
            g.mult[i] = quant->multiplier[c + i];
            g.shift[i] = quant->shift[c + i];
            g.bias[i] = bias != NULL ? bias[c + i] : 0;
            if (params->rounding == QNNC_ROUND_HALF_EVEN) {
                g.rshift[i] = g.shift[i] <= -1 ? qnnc_rq_he_s(g.shift[i]) : 0;
                g.hm1[i] = qnnc_rq_he_hm1(g.rshift[i]);
                g.fast = g.shift[i] <= -1 ? g.fast : 0; /* (a scale >= 0.5: the reference) */
                continue;
            }
            g.rshift[i] = -g.shift[i];
            /* fast: shift in [-20, -1] (as one unsigned compare), multiplier 0 or >= 2^30 and a
             * bias that leaves room to double the accumulator */
            if (!((uint32_t)g.shift[i] + 20u < 20u && (g.mult[i] == 0 || g.mult[i] >= (1 << 30)) &&
                  qnnc_dw_doubling_ok(g.bias[i], taps))) {
                g.fast = 0;
                g.rshift[i] = 0;
            }
            /* 2^(s-1) plus the output offset moved before the shift: off * 2^s (|x| < 2^30,
             * |off| <= 128, s <= 20, so the sum cannot overflow and the floor shift is exact) */
            g.round[i] = ((1 << g.rshift[i]) >> 1) + params->output_offset * (1 << g.rshift[i]);
        }
        if (g.fast == 1) {
            if (params->act_min == -128 && params->act_max == 127) {
                g.fast = 2; /* the clamp is SSAT #8 */
            }
            if (params->act_min >= params->output_offset) {
                g.fast = g.fast == 2 ? 4 : 5; /* no fix-up */
            }
        }
        if (ring != NULL) {
            for (i = 0; g.fast != 0 && g.fast != 3 && i < 4; ++i) {
                g.bias[i] *= 2; /* qnnc_dw_doubling_ok */
            }
            qnnc_dw_rows_dsp_weights(wr, filter, C, c, g.fast != 0 && g.fast != 3, output_dims->h > output_dims->w);
            for (b = 0; b < output_dims->n; ++b) {
                qnnc_dw_rows_group_dsp(params, input_dims, input + b * input_dims->h * input_dims->w * C + c, wr, &g,
                                       output_dims, output + b * output_dims->h * output_dims->w * C + c, ring, len,
                                       lines);
            }
            continue;
        }
        for (t = 0; t < taps; ++t) {
            const uint32_t w = qnnc_dsp_rd32(filter + t * C + c);
            int32_t w02 = __sxtb16((int32_t)w), w13 = qnnc_dsp_sxtb16_ror8(w);
            if (g.fast != 0 && g.fast != 3) { /* the fast modes: doubled per halfword (|2w| <= 256) */
                w02 = __sadd16(w02, w02);
                w13 = __sadd16(w13, w13);
            }
            wt[2 * t] = w02;
            wt[2 * t + 1] = w13;
            if (wt_t != NULL) {
                wt_t[2 * (3 * (t % 3) + t / 3)] = w02;
                wt_t[2 * (3 * (t % 3) + t / 3) + 1] = w13;
            }
        }
        for (i = 0; g.fast != 0 && g.fast != 3 && i < 4; ++i) {
            g.bias[i] *= 2; /* qnnc_dw_doubling_ok */
        }
        for (b = 0; b < output_dims->n; ++b) {
            qnnc_dw_group_dsp(params, input_dims, input + b * input_dims->h * input_dims->w * C + c, filter_dims,
                              wt, wt_t, &g, output_dims, output + b * output_dims->h * output_dims->w * C + c,
                              &rows, &cols);
        }
    }
    if (c4 < C) {
        qnnc_dw_portable_s8(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, c4, C);
    }
    if (params->act_lut != NULL) {
        const int32_t n = output_dims->n * output_dims->h * output_dims->w;
        int32_t p;
        for (p = 0; p < n; ++p) {
            for (c = 0; c < c4; ++c) { /* the portable tail channels already have it */
                output[p * C + c] = params->act_lut[output[p * C + c] + 128];
            }
        }
    }
    return 1;
}
#endif /* QNNC_PATH_DSP */
