/*
 * qnnc_conv_s8_paired_dsp.c - the Armv7E-M DSP path of qnnc_conv_s8_paired and, over the int16
 * copy of the weights, of qnnc_conv_s8_paired_wide (__ARM_FEATURE_DSP: Cortex-M4/M7/M33; compiled
 * to nothing elsewhere; the entry points are in qnnc_conv_s8_paired.c and _wide.c, the portable
 * path in qnnc_conv_paired_portable.h). One instance of the path per weight width, so a build
 * links only those of the widths its layers use.
 *
 * Three output pixels at a time are widened once into interleaved q15 columns with the input
 * offset added (qnnc_conv_im2col_dsp.h; a first layer's triple of one output row inside the
 * input gathered and widened together, qnnc_conv_paired_inside3), then every channel pair runs
 * the 2 x 3 SMLAD block of
 * qnnc_dsp_mm2x3.h over the weights the generator laid out in channel pairs, and each channel's
 * three results are requantized, clamped and stored by the inline-assembly output stage of
 * qnnc_dsp_rq_asm.h (one multiplier and shift load for the three). A pixel count that is no
 * multiple of 3 ends with a triple that overlaps the one before (those pixels' outputs are
 * stored twice, the same values; the output never overlaps the input); maps of 1 or 2 pixels, an
 * odd out_c's last channel and half-to-even layers take a C output stage. The layers the
 * generator gives this layout have a bias and either TFLite rounding with the fast requantization
 * on every channel (qnnc_dsp_rq_asm_ok) or half-to-even rounding with every shift <= -1
 * (qnnc_conv_paired_rq_ok); others run the portable path.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* The 2 x 3 block holds 14 registers, r7 among them: this file never keeps a frame pointer, even
 * in a -fno-omit-frame-pointer build (a per-function attribute is not enough with GCC 12: the
 * register stays reserved in functions compiled after one that keeps it). */
#pragma GCC optimize("omit-frame-pointer")
#endif
#define QNNC_IM2COL_STRIDE 6 /* three interleaved columns */
#include "qnnc_conv_im2col_dsp.h"
#include "qnnc_dsp_mm2x3.h"
#include "qnnc_dsp_rq_asm.h"

#if QNNC_PATH_DSP
/* What the channel loop of one pixel triple needs. */
typedef struct {
    const uint32_t *cols, *c_end; /* the three columns: groups * 6 words */
    uint32_t groups;              /* (K + 3) / 4 */
    int8_t *out;                  /* pixel 0's outputs; pixel i's at out + i * out_c */
    int32_t out_c;
    const int8_t *filter, *w_end; /* the channel pairs' weights; the end of the whole pairs' */
    const int32_t *bias, *mult, *shift;
    int32_t off, act_min, act_max; /* output offset, activation range */
    int32_t rounding;              /* QNNC_ROUND_TFLITE, or QNNC_ROUND_HALF_EVEN with every shift <= -1 */
} qnnc_conv_paired_job;

#define QNNC_PAIRED_SSAT 0 /* the activation range is the whole int8 range */
#define QNNC_PAIRED_LOHI 1 /* clamp to [act_min, act_max] */
#define QNNC_PAIRED_HE 2   /* half-to-even rounding (imported QDQ models): the output stage in C */

#if defined(QNNC_DSP_ASM)
/* Pixel 0's result at o (post-increment), pixel 1's at o + out_c, pixel 2's at o + 2 * out_c. */
#define QNNC_PAIRED_STORE3(a, b, c)                                                            \
    "strb %[" b "], [%[o], %[d]]\n\t"                                                           \
    "strb %[" c "], [%[o], %[d], lsl #1]\n\t"                                                   \
    "strb %[" a "], [%[o]], #1\n\t"
/* One channel's output stage: its three accumulators x, y, z requantized, saturated to int8 and
 * stored (the activation range is the whole int8 range). */
#define QNNC_PAIRED_CHANNEL_SSAT(x, y, z)                                                      \
    __asm volatile(QNNC_DSP_RQ3("a", "b", "c", QNNC_DSP_CLAMP_SSAT) QNNC_PAIRED_STORE3("a", "b", "c") \
                   : [a] "+r"(x), [b] "+r"(y), [c] "+r"(z), [mp] "+r"(mult), [sp] "+r"(shift),      \
                     [o] "+r"(o), [m] "=&r"(m_), [t] "=&r"(t_)                                   \
                   : [o2] "r"(off2p1), [d] "r"(d)                                              \
                   : "memory")
/* The same, requantized only (x, y, z then hold the outputs; the caller clamps and stores: with
 * the range in registers too, GCC's allocator gave up on some builds). */
#define QNNC_PAIRED_CHANNEL_RQ(x, y, z)                                                        \
    __asm volatile(QNNC_DSP_RQ3("a", "b", "c", QNNC_DSP_CLAMP_NONE)                              \
                   : [a] "+r"(x), [b] "+r"(y), [c] "+r"(z), [mp] "+r"(mult), [sp] "+r"(shift),      \
                     [m] "=&r"(m_), [t] "=&r"(t_)                                                \
                   : [o2] "r"(off2p1))
#endif

#if defined(QNNC_DSP_ASM) && !defined(QNNC_DSP_ASM_13)
/* What the all-assembly channel loop reads and advances: stack slots (memory operands), since its
 * dot products hold all 14 registers. */
typedef struct {
    const uint32_t *cols, *c_end;
    uint32_t lead; /* the groups after the first, % 8 (8: none) */
    const int8_t *w_end;
    const int32_t *bias, *mult, *shift;
    int8_t *o;
    int32_t d, o2; /* out_c; 2 * output offset + 1 */
} qnnc_paired_state;

/* The whole-range channel loop's template (below) over LOOP8, qnnc_dsp_mm2x3.h's 8-group loop for
 * the layer's weight width, and its operands. */
#define QNNC_PAIRED_SSAT_ASM(FIRST, LOOP8)                                                     \
    "20:\n\t"                                                                                   \
    "ldr %[x0], %[bias]\n\t"                                                                    \
    "ldrd %[a0], %[b0], [%[x0]], #8\n\t"                                                        \
    "str %[x0], %[bias]\n\t"                                                                    \
    "ldr %[c], %[cols]\n\t" FIRST LOOP8 /* the pair's multipliers (wa13, x0) and shifts (wb13, x1) */ \
    "ldr %[wa], %[mp]\n\t"                                                                      \
    "ldr %[wb], %[shp]\n\t"                                                                     \
    "ldrd %[wa13], %[x0], [%[wa]], #8\n\t"                                                      \
    "ldrd %[wb13], %[x1], [%[wb]], #8\n\t"                                                      \
    "str %[wa], %[mp]\n\t"                                                                      \
    "str %[wb], %[shp]\n\t"                                                                     \
    "ldr %[c], %[o2]\n\t" /* 2 * off + 1, the rounding terms' base */                            \
    QNNC_DSP_RQ_TERMS_R("wa", "wb13", "c") /* channel a's rounding term in wa, b's in wb */       \
    QNNC_DSP_RQ_TERMS_R("wb", "x1", "c") /* (both free until the stores), then c is free */      \
    ".if %c[fix]\n\t"                                                                            \
    QNNC_DSP_RQ3_MLA_R("a0", "a1", "a2", "wa13", "wb13", "wa", "c", QNNC_DSP_RQ_MLA_FIX_R, QNNC_DSP_CLAMP_SSAT) \
    QNNC_DSP_RQ3_MLA_R("b0", "b1", "b2", "x0", "x1", "wb", "c", QNNC_DSP_RQ_MLA_FIX_R, QNNC_DSP_CLAMP_SSAT)     \
    ".else\n\t"                                                                                  \
    QNNC_DSP_RQ3_MLA_R("a0", "a1", "a2", "wa13", "wb13", "wa", "c", QNNC_DSP_RQ_MLA_NOFIX_R, QNNC_DSP_CLAMP_SSAT) \
    QNNC_DSP_RQ3_MLA_R("b0", "b1", "b2", "x0", "x1", "wb", "c", QNNC_DSP_RQ_MLA_NOFIX_R, QNNC_DSP_CLAMP_SSAT)     \
    ".endif\n\t"                                                                                 \
    "ldr %[wa], %[o]\n\t"                                                                       \
    "ldr %[wb], %[d]\n\t"                                                                       \
    "strb %[a1], [%[wa], %[wb]]\n\t"                                                            \
    "strb %[a2], [%[wa], %[wb], lsl #1]\n\t"                                                    \
    "strb %[a0], [%[wa]], #1\n\t"                                                               \
    "strb %[b1], [%[wa], %[wb]]\n\t"                                                            \
    "strb %[b2], [%[wa], %[wb], lsl #1]\n\t"                                                    \
    "strb %[b0], [%[wa]], #1\n\t"                                                               \
    "str %[wa], %[o]\n\t"                                                                       \
    "ldr %[wb], %[wend]\n\t"                                                                    \
    "cmp %[w], %[wb]\n\t"                                                                       \
    "bne 20b\n\t"
#define QNNC_PAIRED_SSAT_OPERANDS                                                              \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [b0] "=&r"(b0), [b1] "=&r"(b1), [b2] "=&r"(b2), \
      [c] "=&r"(c), [w] "+r"(w), [wa] "=&r"(wa), [wb] "=&r"(wb), [wa13] "=&r"(wa13), [wb13] "=&r"(wb13), \
      [x0] "=&r"(x0), [x1] "=&r"(x1), [bias] "+m"(st.bias), [mp] "+m"(st.mult), [shp] "+m"(st.shift),   \
      [o] "+m"(st.o)                                                                            \
    : [cols] "m"(st.cols), [end] "m"(st.c_end), [lead] "m"(st.lead), [wend] "m"(st.w_end), [d] "m"(st.d), \
      [o2] "m"(st.o2), [fix] "i"(fix)                                                           \
    : "cc", "memory"

/* Every channel pair of the current pixel triple, whole-range activations (SSAT), in one
 * assembly loop: per pair the bias, the dot products (qnnc_dsp_mm2x3.h's peeled first group, from
 * the bias, then the others, entered by TBH at their count % 8), both channels' output stages and stores; the C loop around the block version
 * spent about 30 instructions a pair moving the accumulators and reloading its state. fix (a
 * constant): 0 leaves out the half-away fix-up for negative values, for an output zero point of
 * -128 (a ReLU's floor: whichever way a negative value rounds, it is at most the zero point
 * after the offset, which SSAT maps to -128). wide (a constant): int16 weights. */
QNNC_INLINE void qnnc_conv_paired_ssat_asm(const qnnc_conv_paired_job *j, const int fix, const int wide)
{
    qnnc_paired_state st;
    const int8_t *w = j->filter;
    int32_t a0, a1, a2, b0, b1, b2;
    const uint32_t *c;
    uint32_t x0, x1;
    st.cols = j->cols;
    st.c_end = j->c_end;
    st.lead = j->groups == 1u ? 8u : (j->groups - 1u) & 7u; /* the groups after the peeled first */
    st.w_end = j->w_end;
    st.bias = j->bias;
    st.mult = j->mult;
    st.shift = j->shift;
    st.o = j->out;
    st.d = j->out_c;
    st.o2 = 2 * j->off + 1;
    if (wide) {
        QNNC_CONV_MM2X3_WIDE_REGS;
        __asm volatile(QNNC_PAIRED_SSAT_ASM(QNNC_CONV_MM2X3_FIRST_OF(QNNC_CONV_MM2X3_WEIGHTS_WIDE),
                                            QNNC_CONV_MM2X3_LOOP8_OF(QNNC_CONV_MM2X3_GROUP_WIDE))
                       QNNC_PAIRED_SSAT_OPERANDS);
    } else {
        uint32_t wa, wb, wa13, wb13;
        __asm volatile(QNNC_PAIRED_SSAT_ASM(QNNC_CONV_MM2X3_FIRST_OF(QNNC_CONV_MM2X3_WEIGHTS),
                                            QNNC_CONV_MM2X3_LOOP8_OF(QNNC_CONV_MM2X3_GROUP))
                       QNNC_PAIRED_SSAT_OPERANDS);
    }
}
#endif

/* One channel's three accumulators requantized (half to even when he, with shift <= -1), clamped
 * and stored from C (o: pixel 0's byte, pixels 1 and 2 d and 2d bytes further). */
QNNC_INLINE void qnnc_conv_paired_out3(int32_t x, int32_t y, int32_t z, int32_t m, int32_t shift, int32_t off,
                                       int32_t amin, int32_t amax, int8_t *o, int32_t d, int he)
{
    int32_t v[3], i;
    if (he) {
        const int32_t sh = qnnc_rq_he_s(shift);
        const int64_t hm1 = qnnc_rq_he_hm1(sh);
        v[0] = qnnc_rq_he_neg(x, m, sh, hm1) + off;
        v[1] = qnnc_rq_he_neg(y, m, sh, hm1) + off;
        v[2] = qnnc_rq_he_neg(z, m, sh, hm1) + off;
    } else {
        v[0] = qnnc_dsp_rq_fast(x, m, -shift) + off;
        v[1] = qnnc_dsp_rq_fast(y, m, -shift) + off;
        v[2] = qnnc_dsp_rq_fast(z, m, -shift) + off;
    }
    for (i = 0; i < 3; ++i) {
        o[i * d] = qnnc_clamp_s8(v[i], amin, amax);
    }
}

/* Channel pairs [0, out_c / 2) of a triple of consecutive pixels (mode: QNNC_PAIRED_*; wide, a
 * constant: int16 weights). */
QNNC_INLINE void qnnc_conv_paired_body(const qnnc_conv_paired_job *j, int mode, const int wide)
{
    const int8_t *const w_end = j->w_end;
    const int32_t *bias = j->bias, *mult = j->mult, *shift = j->shift;
    const int32_t d = j->out_c;
    const int32_t amin = j->act_min, amax = j->act_max;
    int8_t *o = j->out;
#if defined(QNNC_DSP_ASM)
    const int32_t off2p1 = 2 * j->off + 1; /* QNNC_DSP_RQ3's rounding term */
#endif
    qnnc_mm2x3 s;
    s.w = j->filter;
    while (s.w != w_end) {
        s.a0 = s.a1 = s.a2 = bias[0];
        s.b0 = s.b1 = s.b2 = bias[1];
        bias += 2;
        s = qnnc_conv_mm2x3(j->cols, j->c_end, j->groups, s, wide);
#if defined(QNNC_DSP_ASM)
        if (mode != QNNC_PAIRED_HE) {
            int32_t m_, t_;
            if (mode == QNNC_PAIRED_SSAT) {
                QNNC_PAIRED_CHANNEL_SSAT(s.a0, s.a1, s.a2);
                QNNC_PAIRED_CHANNEL_SSAT(s.b0, s.b1, s.b2);
                continue;
            }
            QNNC_PAIRED_CHANNEL_RQ(s.a0, s.a1, s.a2);
            QNNC_PAIRED_CHANNEL_RQ(s.b0, s.b1, s.b2);
            o[0] = qnnc_clamp_s8(s.a0, amin, amax);
            o[d] = qnnc_clamp_s8(s.a1, amin, amax);
            o[2 * d] = qnnc_clamp_s8(s.a2, amin, amax);
            o[1] = qnnc_clamp_s8(s.b0, amin, amax);
            o[d + 1] = qnnc_clamp_s8(s.b1, amin, amax);
            o[2 * d + 1] = qnnc_clamp_s8(s.b2, amin, amax);
            o += 2;
            continue;
        }
#endif
        qnnc_conv_paired_out3(s.a0, s.a1, s.a2, mult[0], shift[0], j->off, amin, amax, o, d, mode == QNNC_PAIRED_HE);
        qnnc_conv_paired_out3(s.b0, s.b1, s.b2, mult[1], shift[1], j->off, amin, amax, o + 1, d,
                              mode == QNNC_PAIRED_HE);
        mult += 2;
        shift += 2;
        o += 2;
    }
}

/* The whole-range channel loop, fix and wide (constants) as for qnnc_conv_paired_ssat_asm; the C
 * loop keeps the fix-up either way (same results). */
QNNC_INLINE void qnnc_conv_paired_ssat_mode(const qnnc_conv_paired_job *j, const int fix, const int wide)
{
#if defined(QNNC_DSP_ASM) && !defined(QNNC_DSP_ASM_13)
    if (j->out_c >= 2) {
        qnnc_conv_paired_ssat_asm(j, fix, wide);
    }
#else
    (void)fix;
    qnnc_conv_paired_body(j, QNNC_PAIRED_SSAT, wide);
#endif
}

/* Channels [oc0, out_c) (oc0 even) of the first n (1-3) pixels, the output stage in C: an odd
 * out_c's last channel (its pair's second row is zero), and the pixels a count that is no
 * multiple of 3 leaves (the columns past them repeat the last one). */
QNNC_INLINE void qnnc_conv_paired_rest_of(const qnnc_conv_paired_job *j, int32_t oc0, int32_t n, const int wide)
{
    const int he = j->rounding == QNNC_ROUND_HALF_EVEN;
    int32_t oc, i;
    for (oc = oc0; oc < j->out_c; oc += 2) {
        const int two = oc + 1 < j->out_c;
        int8_t t[2][3 * 3]; /* pixels past n are not stored */
        qnnc_mm2x3 s;
        s.a0 = s.a1 = s.a2 = j->bias[oc];
        s.b0 = s.b1 = s.b2 = two ? j->bias[oc + 1] : 0;
        s.w = j->filter + (oc >> 1) * (wide ? 16 : 8) * (int32_t)j->groups;
        s = qnnc_conv_mm2x3(j->cols, j->c_end, j->groups, s, wide);
        qnnc_conv_paired_out3(s.a0, s.a1, s.a2, j->mult[oc], j->shift[oc], j->off, j->act_min, j->act_max, t[0], 3, he);
        if (two) {
            qnnc_conv_paired_out3(s.b0, s.b1, s.b2, j->mult[oc + 1], j->shift[oc + 1], j->off, j->act_min,
                                  j->act_max, t[1], 3, he);
        }
        for (i = 0; i < n; ++i) {
            j->out[i * j->out_c + oc] = t[0][3 * i];
            if (two) {
                j->out[i * j->out_c + oc + 1] = t[1][3 * i];
            }
        }
    }
}

/* The channel loop per output mode and the C rest, one instance each per weight width (W: the
 * names' suffix, wide: 0 or 1; _nofix: output zero point -128; _wide: int16 weights, linked only
 * where a layer has them). */
#define QNNC_PAIRED_CHANNEL_LOOPS(W, wide)                                                      \
    static QNNC_LOOP_ATTR void qnnc_conv_paired_ssat##W(const qnnc_conv_paired_job *j)         \
    {                                                                                           \
        qnnc_conv_paired_ssat_mode(j, 1, wide);                                                 \
    }                                                                                           \
    static QNNC_LOOP_ATTR void qnnc_conv_paired_ssat_nofix##W(const qnnc_conv_paired_job *j)   \
    {                                                                                           \
        qnnc_conv_paired_ssat_mode(j, 0, wide);                                                 \
    }                                                                                           \
    static QNNC_LOOP_ATTR void qnnc_conv_paired_lohi##W(const qnnc_conv_paired_job *j)         \
    {                                                                                           \
        qnnc_conv_paired_body(j, QNNC_PAIRED_LOHI, wide);                                       \
    }                                                                                           \
    static QNNC_LOOP_ATTR void qnnc_conv_paired_he##W(const qnnc_conv_paired_job *j)           \
    {                                                                                           \
        qnnc_conv_paired_body(j, QNNC_PAIRED_HE, wide);                                         \
    }                                                                                           \
    static QNNC_LOOP_ATTR void qnnc_conv_paired_rest##W(const qnnc_conv_paired_job *j, int32_t oc0, int32_t n) \
    {                                                                                           \
        qnnc_conv_paired_rest_of(j, oc0, n, wide);                                              \
    }
QNNC_PAIRED_CHANNEL_LOOPS(, 0)
QNNC_PAIRED_CHANNEL_LOOPS(_wide, 1)
/* The instance of one of them for the driver's weight width (wide, a constant there). */
#define QNNC_PAIRED_OF(name) (wide ? name##_wide : name)

/* The requantizations the path takes: TFLite's where every channel has the fast form with a right
 * shift (qnnc_dsp_rq_asm_ok), half to even where every shift is <= -1 (qnnc_rq_he_neg). */
static int qnnc_conv_paired_rq_ok(int32_t rounding, const qnnc_per_channel_quant *quant, int32_t out_c)
{
    int32_t i;
    if (rounding == QNNC_ROUND_TFLITE) {
        return qnnc_dsp_rq_asm_ok(quant->multiplier, quant->shift, out_c);
    }
    for (i = 0; i < out_c; ++i) {
        if (quant->shift[i] > -1) {
            return 0;
        }
    }
    return rounding == QNNC_ROUND_HALF_EVEN;
}

/* The three columns of a 1x1 stride-1 unpadded layer's pixels px (their in_c channels, in_c % 4 == 0). */
static QNNC_LOOP_ATTR void qnnc_conv_paired_flat_cols(uint32_t *cols, const int8_t *in_b, const int32_t *px,
                                                      int32_t in_c, int32_t off2)
{
    int32_t j;
    for (j = 0; j < 3; ++j) {
        (void)qnnc_conv_widen_run(cols + 2 * j, in_b + px[j] * in_c, in_c, off2);
    }
}

/* The k_h rows of the three windows at s (d bytes apart), n = 1-4 words a row each, into the
 * three int8 windows at r (rs bytes apart). */
#define QNNC_INSIDE3_ROWS(n)                                                                     \
    for (i = 0; i < k_h; ++i) {                                                                  \
        qnnc_copy_words(r, s, (n));                                                              \
        qnnc_copy_words(r + rs, s + d, (n));                                                     \
        qnnc_copy_words(r + 2 * rs, s + 2 * d, (n));                                             \
        r += run;                                                                                \
        s += row_step;                                                                           \
    }

/* Three windows of one output row inside the input (s: the first's first byte; d: stride_w *
 * in_c, from one window to the next) into the three columns: gathered as qnnc_conv_inside_q15
 * does into the three int8 windows, then widened together, group by group (the six words of a
 * group are contiguous in the columns). The taps past K keep what the last row's word copy left
 * there (the next input bytes): the paired layouts pad K with zero weights, so unlike
 * qnnc_conv_inside_q15's columns these need no mask. */
static QNNC_LOOP_ATTR void qnnc_conv_paired_inside3(uint32_t *cols, const int8_t *s, int32_t d,
                                                    const qnnc_conv_inside_layer *l)
{
    const int32_t row_step = l->row_step, k_h = l->k_h, run = l->run, rs = l->rs, off2 = l->off2;
    const int32_t kp = (k_h * run + 3) & ~3;
    const int8_t *const r0 = l->raw;
    const int8_t *w = r0, *const w_end = r0 + kp;
    int8_t *r = l->raw;
    int32_t i, j, c;
    switch ((run + 3) >> 2) {
    case 1:
        QNNC_INSIDE3_ROWS(1);
        break;
    case 2:
        QNNC_INSIDE3_ROWS(2);
        break;
    case 3:
        QNNC_INSIDE3_ROWS(3);
        break;
    case 4:
        QNNC_INSIDE3_ROWS(4);
        break;
    default: /* 5 words or more a row: a word at a time */
        for (i = 0; i < k_h; ++i) {
            for (j = 0; j < 3; ++j) {
                for (c = 0; c < run; c += 4) {
                    const uint32_t v = qnnc_dsp_rd32(s + j * d + c);
                    memcpy(r + j * rs + c, &v, 4u);
                }
            }
            r += run;
            s += row_step;
        }
        break;
    }
    for (; w != w_end; w += 4, cols += 6) {
        const uint32_t x0 = qnnc_dsp_rd32(w), x1 = qnnc_dsp_rd32(w + rs), x2 = qnnc_dsp_rd32(w + 2 * rs);
        cols[0] = (uint32_t)__sxtab16(off2, (int32_t)x0);
        cols[1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, x0);
        cols[2] = (uint32_t)__sxtab16(off2, (int32_t)x1);
        cols[3] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, x1);
        cols[4] = (uint32_t)__sxtab16(off2, (int32_t)x2);
        cols[5] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, x2);
    }
}

/* The columns of the pixel triple px whose windows the gather takes, gathered and widened; returns
 * the others as a bit mask (bit j: column j, for the generic im2col). */
static QNNC_LOOP_ATTR int32_t qnnc_conv_paired_inside_cols(uint32_t *cols, const int8_t *in_b, const int32_t *px,
                                                           const qnnc_conv_inside_layer *l)
{
    const int32_t row_step = l->row_step;
    const int32_t oy = px[0] / l->out_w, ox = px[0] - oy * l->out_w;
    int32_t j, rest = 0;
    /* most triples: three pixels of one output row, all inside */
    if (px[2] == px[0] + 2 && oy >= l->oy0 && oy <= l->oy1 && ox >= l->ox0 && ox + 2 <= l->ox1) {
        const int32_t at = (oy * l->sh - l->pt) * row_step + (ox * l->sw - l->pl) * l->in_c, d = l->sw * l->in_c;
        if (at + 2 * d <= l->at_max) {
            qnnc_conv_paired_inside3(cols, in_b + at, d, l);
            return 0;
        }
    }
    for (j = 0; j < 3; ++j) {
        const int32_t at = qnnc_conv_inside_start(l, px[j]);
        if (at >= 0) {
            qnnc_conv_inside_q15(cols + 2 * j, in_b + at, l);
        } else {
            rest |= 1 << j;
        }
    }
    return rest;
}

/* The path over either weight width (wide, a constant: int16 weights; the public functions'
 * arguments): one instance per width, so a build links those of the widths its layers use, each a
 * single function with its helpers inlined as the one instance was before (flatten: with two
 * callers GCC kept the generic im2col out of line, IC +0.7 %). */
QNNC_INLINE int qnnc_conv_paired_dsp_run(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                         const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                         const int8_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                         const int32_t *bias, const qnnc_dims *output_dims, int8_t *output,
                                         const int wide)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t K = k_h * k_w * in_c, kp = (K + 3) & ~3;
    const int32_t n_pix = output_dims->h * out_w;
    /* the pointwise layers: each pixel's window is its channels, contiguous (no im2col set-up) */
    const int flat = k_h == 1 && k_w == 1 && params->stride_h == 1 && params->stride_w == 1 && params->pad_top == 0 &&
                     params->pad_left == 0 && output_dims->h == in_h && out_w == in_w && (in_c & 3) == 0;
    const int32_t off2 = qnnc_dsp_pack2(params->input_offset);
    qnnc_conv_paired_job job;
    qnnc_conv_inside_layer inside; /* in_c % 4 != 0: the windows inside the input */
    void (*channels)(const qnnc_conv_paired_job *); /* one of the channel loops above */
    uint32_t *cols;
    int8_t *raw; /* in_c % 4 != 0: the int8 windows (the generic im2col uses the first) */
    int32_t b, p;

    if (K > QNNC_CONV_MAX_K || out_c > QNNC_CONV_MAX_K || bias == NULL || scratch == NULL ||
        scratch->buf == NULL || !qnnc_conv_paired_rq_ok(params->rounding, quant, out_c) ||
        !qnnc_scratch_fits(scratch, 4u, QNNC_CONV_PAIRED_DSP_BUFFER_SIZE(K, in_c))) {
        return 0;
    }
    cols = (uint32_t *)qnnc_scratch_align(scratch, 4u);
    raw = (int8_t *)(cols + 6 * (kp / 4));
    qnnc_conv_inside_setup(&inside, params, input_dims, k_h, k_w, output_dims, raw);
    job.groups = (uint32_t)(kp / 4);
    job.cols = cols;
    job.c_end = cols + 6 * (kp / 4);
    job.filter = filter;
    job.w_end = filter + (out_c >> 1) * (wide ? 16 : 8) * (kp / 4);
    job.bias = bias;
    job.mult = quant->multiplier;
    job.shift = quant->shift;
    job.out_c = out_c;
    job.off = params->output_offset;
    job.act_min = params->act_min;
    job.act_max = params->act_max;
    job.rounding = params->rounding;
    /* the channel loop of the layer's output mode */
    if (params->rounding == QNNC_ROUND_HALF_EVEN) {
        channels = QNNC_PAIRED_OF(qnnc_conv_paired_he);
    } else if (params->act_min == -128 && params->act_max == 127) {
        channels = params->output_offset == -128 ? QNNC_PAIRED_OF(qnnc_conv_paired_ssat_nofix)
                                                 : QNNC_PAIRED_OF(qnnc_conv_paired_ssat);
    } else {
        channels = QNNC_PAIRED_OF(qnnc_conv_paired_lohi);
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        int8_t *out_b = output + b * n_pix * out_c;
        for (p = 0; p < n_pix; p += 3) {
            int32_t px[3], j;
            if (p + 3 > n_pix && n_pix >= 3) {
                p = n_pix - 3; /* the last triple overlaps the one before: its pixels again, same values */
            }
            px[0] = p;
            px[1] = p + 1 < n_pix ? p + 1 : p;
            px[2] = p + 2 < n_pix ? p + 2 : px[1];
            if (flat) { /* 1x1, stride 1, no padding: each column is its pixel's channels */
                qnnc_conv_paired_flat_cols(cols, in_b, px, in_c, off2);
            } else {
                /* in_c % 4 != 0 (first layers): the windows inside the input straight to the
                 * gather, the rest (and every window of other layers) the generic im2col */
                const int32_t rest = inside.oy0 <= inside.oy1 ? qnnc_conv_paired_inside_cols(cols, in_b, px, &inside) : 7;
                for (j = 0; j < 3; ++j) {
                    if (((rest >> j) & 1) != 0) {
                        qnnc_conv_im2col_q15(params, in_b, in_h, in_w, in_c, k_h, k_w,
                                             (px[j] / out_w) * params->stride_h - params->pad_top,
                                             (px[j] % out_w) * params->stride_w - params->pad_left, kp, cols, j,
                                             NULL, raw);
                    }
                }
            }
            job.out = out_b + p * out_c;
            if (n_pix - p < 3) {
                QNNC_PAIRED_OF(qnnc_conv_paired_rest)(&job, 0, n_pix - p);
                continue;
            }
            channels(&job);
            if ((out_c & 1) != 0) {
                QNNC_PAIRED_OF(qnnc_conv_paired_rest)(&job, out_c - 1, 3);
            }
        }
    }
    qnnc_apply_lut(params->act_lut, output, output_dims->n * n_pix * out_c);
    return 1;
}

#if defined(__GNUC__) && !defined(__clang__)
#define QNNC_PAIRED_FLATTEN __attribute__((flatten))
#else
#define QNNC_PAIRED_FLATTEN
#endif

QNNC_PATH_ATTR QNNC_PAIRED_FLATTEN int qnnc_conv_paired_dsp_s8(const qnnc_buffer *scratch,
                                                               const qnnc_conv_params *params,
                                                               const qnnc_per_channel_quant *quant,
                                                               const qnnc_dims *input_dims, const int8_t *input,
                                                               const qnnc_dims *filter_dims, const int8_t *filter,
                                                               const int32_t *bias, const qnnc_dims *output_dims,
                                                               int8_t *output)
{
    return qnnc_conv_paired_dsp_run(scratch, params, quant, input_dims, input, filter_dims, filter, bias,
                                    output_dims, output, 0);
}

/* filter: the int16 layout (qnnc_conv_s8_paired_wide), passed as bytes and read a word at a time. */
QNNC_PATH_ATTR QNNC_PAIRED_FLATTEN int qnnc_conv_paired_dsp_s8_wide(const qnnc_buffer *scratch,
                                                                    const qnnc_conv_params *params,
                                                                    const qnnc_per_channel_quant *quant,
                                                                    const qnnc_dims *input_dims, const int8_t *input,
                                                                    const qnnc_dims *filter_dims,
                                                                    const int8_t *filter, const int32_t *bias,
                                                                    const qnnc_dims *output_dims, int8_t *output)
{
    return qnnc_conv_paired_dsp_run(scratch, params, quant, input_dims, input, filter_dims, filter, bias,
                                    output_dims, output, 1);
}
#endif /* QNNC_PATH_DSP */
