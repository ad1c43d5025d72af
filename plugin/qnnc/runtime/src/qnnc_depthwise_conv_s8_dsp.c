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
 * rounding term, SSAT as the upper clamp when act_max is 127); the other border windows loop
 * over their in-range taps only. The last in_c % 4 channels run the portable loops.
 */
#include "qnnc_internal.h"

#if QNNC_PATH_DSP
typedef struct {
    int32_t mult[4], rshift[4], round[4], bias[4]; /* fast path: right shift s, round = 2^(s-1) + off*2^s */
    int32_t shift[4];                               /* the original shifts (reference path) */
    int64_t hm1[4]; /* half-even (mode 3): qnnc_rq_he_hm1 of rshift = qnnc_rq_he_s(shift) */
    /* 1: all 4 channels take the fast TFLite requantization (qnnc_dsp_fast_ok); 2: and the
     * activation range is the whole int8 range (SSAT alone clamps); 3: half-even rounding with every shift <= -1 (qnnc_rq_he_neg); 0: the reference */
    int32_t fast;
    int32_t act_min, act_max, output_offset, lo, hi, rounding;
} qnnc_dw_group;

/* Fast requantization of one value (exact under the conditions of qnnc_dsp_rq_fast, with a right
 * shift s >= 1 here), + output offset, clamped to the activation range. With s >= 1, rounding
 * half away from zero is (x + 2^(s-1) - (x < 0)) >> s: the fix-up is one ADD with ASR #31; the
 * offset rides in `round` as off * 2^s (adding a multiple of 2^s commutes with the floor shift;
 * |x| < 2^30, so nothing overflows). */
QNNC_INLINE int32_t qnnc_dw_rq_fast(int32_t acc, int32_t mult, int32_t s, int32_t round, int32_t amin,
                                    int32_t amax)
{
    int32_t x = qnnc_dsp_smmulr(__qadd(acc, acc), mult);
    x = (x + (x >> 31) + round) >> s; /* round includes off * 2^s */
    x = x < amin ? amin : x;
    return x > amax ? amax : x;
}

/* The same when the activation range is [-128, 127]: SSAT is the whole clamp. */
QNNC_INLINE int32_t qnnc_dw_rq_fast_sat(int32_t acc, int32_t mult, int32_t s, int32_t round)
{
    int32_t x = qnnc_dsp_smmulr(__qadd(acc, acc), mult);
    x = (x + (x >> 31) + round) >> s; /* round includes off * 2^s */
    return qnnc_dsp_ssat8(x);
}

/* Half-even (qnnc_rq_he_neg: |x| <= 2^30, so the offset is added before the clamp). */
QNNC_INLINE int32_t qnnc_dw_rq_he(int32_t acc, int32_t mult, int32_t s, int64_t hm1, int32_t off, int32_t amin,
                                  int32_t amax)
{
    int32_t x = qnnc_rq_he_neg(acc, mult, s, hm1) + off;
    x = x < amin ? amin : x;
    return x > amax ? amax : x;
}

static QNNC_LOOP_ATTR void qnnc_dw_store4_slow(int8_t *out, const int32_t *acc, const qnnc_dw_group *g)
{
    int32_t i;
    for (i = 0; i < 4; ++i) {
        int32_t v = qnnc_requantize_mode(acc[i], g->mult[i], g->shift[i], g->rounding);
        v = v < g->lo ? g->lo : (v > g->hi ? g->hi : v);
        out[i] = (int8_t)(v + g->output_offset);
    }
}

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
    } else if (mode == 2) {
        out[0] = (int8_t)qnnc_dw_rq_fast_sat(a0, g->mult[0], g->rshift[0], g->round[0]);
        out[1] = (int8_t)qnnc_dw_rq_fast_sat(a1, g->mult[1], g->rshift[1], g->round[1]);
        out[2] = (int8_t)qnnc_dw_rq_fast_sat(a2, g->mult[2], g->rshift[2], g->round[2]);
        out[3] = (int8_t)qnnc_dw_rq_fast_sat(a3, g->mult[3], g->rshift[3], g->round[3]);
    } else if (mode) {
        const int32_t amin = g->act_min, amax = g->act_max;
        out[0] = (int8_t)qnnc_dw_rq_fast(a0, g->mult[0], g->rshift[0], g->round[0], amin, amax);
        out[1] = (int8_t)qnnc_dw_rq_fast(a1, g->mult[1], g->rshift[1], g->round[1], amin, amax);
        out[2] = (int8_t)qnnc_dw_rq_fast(a2, g->mult[2], g->rshift[2], g->round[2], amin, amax);
        out[3] = (int8_t)qnnc_dw_rq_fast(a3, g->mult[3], g->rshift[3], g->round[3], amin, amax);
    } else {
        int32_t acc[4];
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        qnnc_dw_store4_slow(out, acc, g);
    }
}

QNNC_INLINE void qnnc_dw_store4(int8_t *restrict out, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                const qnnc_dw_group *restrict g)
{
    qnnc_dw_store4_mode(out, a0, a1, a2, a3, g, g->fast);
}

/* One tap of 4 channels: x widened with the offset, then SMLABB/SMLATT with the tap's weights. */
#define QNNC_DW3_TAP(ptr, wi)                                                                  \
    do {                                                                                       \
        const uint32_t x_ = qnnc_dsp_rd32(ptr);                                                 \
        const int32_t x02_ = __sxtab16(off2, (int32_t)x_), x13_ = qnnc_dsp_sxtab16_ror8(off2, x_); \
        uint64_t w_;                                                                           \
        int32_t w0_, w1_;                                                                      \
        memcpy(&w_, wt + (wi), 8u); /* the tap's two weight words in one LDRD */               \
        w0_ = (int32_t)(uint32_t)w_;                                                           \
        w1_ = (int32_t)(uint32_t)(w_ >> 32);                                                   \
        a0 = __smlabb(w0_, x02_, a0);                                                          \
        a2 = __smlatt(w0_, x02_, a2);                                                          \
        a1 = __smlabb(w1_, x13_, a1);                                                          \
        a3 = __smlatt(w1_, x13_, a3);                                                          \
    } while (0)

/* The same in C (builds without QNNC_DSP_ASM; the reference mode). */
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
            if (nrows == 3) {                                                                  \
                QNNC_DW3_TAP(p + 2 * row_step, 12);                                            \
                QNNC_DW3_TAP(p + 2 * row_step + C, 14);                                        \
                if (ncols == 3) {                                                              \
                    QNNC_DW3_TAP(p + 2 * row_step + 2 * C, 16);                                \
                }                                                                              \
            }                                                                                  \
    } while (0)

#if QNNC_DSP_ASM
/* The window's taps as inline assembly (the other loops' reasons, qnnc_internal.h): GCC 12 keeps
 * the 8 tap offsets and the hoisted weights on the stack and splits LDRD, 10 instructions a tap
 * for these 8 (LDR, 2 SXTAB16, LDRD, 4 SMLAxx). 13 registers. */
#define QNNC_DW3_ASM_TAP(xaddr, woff)                                                          \
    "ldr %[x], " xaddr "\n\t"                                                                   \
    "ldrd %[w0], %[w1], [%[wt], #" woff "]\n\t"                                               \
    "sxtab16 %[y], %[off2], %[x]\n\t"                                                         \
    "sxtab16 %[x], %[off2], %[x], ror #8\n\t"                                                 \
    "smlabb %[a0], %[w0], %[y], %[a0]\n\t"                                                    \
    "smlatt %[a2], %[w0], %[y], %[a2]\n\t"                                                    \
    "smlabb %[a1], %[w1], %[x], %[a1]\n\t"                                                    \
    "smlatt %[a3], %[w1], %[x], %[a3]\n\t"
#define QNNC_DW3_ASM_ROW3(w0, w1, w2)                                                          \
    QNNC_DW3_ASM_TAP("[%[p]]", w0) QNNC_DW3_ASM_TAP("[%[p], %[C]]", w1)                      \
    QNNC_DW3_ASM_TAP("[%[p], %[C], lsl #1]", w2) "add %[p], %[p], %[rs]\n\t"
#define QNNC_DW3_ASM_ROW2(w0, w1)                                                              \
    QNNC_DW3_ASM_TAP("[%[p]]", w0) QNNC_DW3_ASM_TAP("[%[p], %[C]]", w1) "add %[p], %[p], %[rs]\n\t"
#define QNNC_DW3_ASM_OPERANDS                                                                  \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p] "+r"(pp), [x] "=&r"(x_),      \
        [y] "=&r"(y_), [w0] "=&r"(w0_), [w1] "=&r"(w1_)                                         \
    : [C] "r"(C), [rs] "r"(row_step), [wt] "r"(wt), [off2] "r"(off2)                           \
    : "memory"
#endif

/* 3x3-kernel dilation-1 windows of 4 full channels whose in-range taps are `nrows` (3 or 2) rows
 * of `ncols` (3 or 2) columns, px and wt at the first in-range tap (wt's rows 3 taps apart):
 * `rows` runs of `count` output pixels; within a run the windows are `step` input bytes and
 * `out_step` output bytes apart, runs start `px_row` / `out_row` apart. The padding taps are
 * never read (the input offset rides on each input, so they add nothing). */
QNNC_INLINE void qnnc_dw3_run_body(const int8_t *px, int32_t C, int32_t row_step, int32_t step,
                                   const int32_t *restrict wt, int32_t off2, const qnnc_dw_group *restrict g,
                                   int8_t *restrict out, int32_t out_step, int32_t count, int32_t rows,
                                   int32_t px_row, int32_t out_row, int32_t nrows, int32_t mode, int32_t ncols)
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
            int32_t x_, y_, w0_, w1_;
            if (mode == 0) { /* (the reference store's call leaves too few registers) */
                QNNC_DW3_TAPS_C();
            } else if (ncols == 3) {
                __asm volatile(QNNC_DW3_ASM_ROW3("0", "8", "16") QNNC_DW3_ASM_ROW3("24", "32", "40")
                               : QNNC_DW3_ASM_OPERANDS);
                if (nrows == 3) {
                    __asm volatile(QNNC_DW3_ASM_ROW3("48", "56", "64") : QNNC_DW3_ASM_OPERANDS);
                }
            } else {
                __asm volatile(QNNC_DW3_ASM_ROW2("0", "8") QNNC_DW3_ASM_ROW2("24", "32") : QNNC_DW3_ASM_OPERANDS);
                if (nrows == 3) {
                    __asm volatile(QNNC_DW3_ASM_ROW2("48", "56") : QNNC_DW3_ASM_OPERANDS);
                }
            }
#else
            QNNC_DW3_TAPS_C();
#endif
            qnnc_dw_store4_mode(o, a0, a1, a2, a3, g, mode);
            p += step;
            o += out_step;
        }
        px += px_row;
        out += out_row;
    }
}

/* The runs, specialized per requantization mode and width (no per-pixel test of g->fast); one
 * function each, called a few times per channel group (the weight loads they hoist are paid
 * once per call, not per window). */
#define QNNC_DW3_RUN_MODE(name, mode, ncols)                                                           \
    static QNNC_LOOP_ATTR void name(const int8_t *px, int32_t C, int32_t row_step, int32_t step,     \
                                       const int32_t *restrict wt, int32_t off2,                        \
                                       const qnnc_dw_group *restrict g, int8_t *restrict out,           \
                                       int32_t out_step, int32_t count, int32_t rows, int32_t px_row,   \
                                       int32_t out_row, int32_t nrows)                                  \
    {                                                                                                   \
        qnnc_dw3_run_body(px, C, row_step, step, wt, off2, g, out, out_step, count, rows, px_row,       \
                          out_row, nrows, mode, ncols);                                                 \
    }
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_he, 3, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_he, 3, 2)
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_sat, 2, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_fast, 1, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x3_run_ref, 0, 3)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_sat, 2, 2)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_fast, 1, 2)
QNNC_DW3_RUN_MODE(qnnc_dw3x2_run_ref, 0, 2)

/* Geometry of one 2-D block of runs. */
typedef struct {
    const int8_t *px;
    int8_t *out;
    int32_t step, out_step, count, rows, px_row, out_row, nrows;
} qnnc_dw_runs;

QNNC_INLINE void qnnc_dw3_runs_dsp(const qnnc_dw_runs *r, int32_t C, int32_t row_step, const int32_t *restrict wt,
                                   int32_t off2, const qnnc_dw_group *restrict g, int32_t ncols)
{
    if (r->count <= 0 || r->rows <= 0) {
        return;
    }
    /* the run of the group's mode and width (the arguments of every run function) */
#define QNNC_DW3_RUN_ARGS r->px, C, row_step, r->step, wt, off2, g, r->out, r->out_step, r->count, r->rows, r->px_row, \
                          r->out_row, r->nrows
    if (g->fast == 3) {
        if (ncols == 3) {
            qnnc_dw3x3_run_he(QNNC_DW3_RUN_ARGS);
        } else {
            qnnc_dw3x2_run_he(QNNC_DW3_RUN_ARGS);
        }
    } else if (ncols == 3) {
        if (g->fast == 2) {
            qnnc_dw3x3_run_sat(QNNC_DW3_RUN_ARGS);
        } else if (g->fast) {
            qnnc_dw3x3_run_fast(QNNC_DW3_RUN_ARGS);
        } else {
            qnnc_dw3x3_run_ref(QNNC_DW3_RUN_ARGS);
        }
    } else if (g->fast == 2) {
        qnnc_dw3x2_run_sat(QNNC_DW3_RUN_ARGS);
    } else if (g->fast) {
        qnnc_dw3x2_run_fast(QNNC_DW3_RUN_ARGS);
    } else {
        qnnc_dw3x2_run_ref(QNNC_DW3_RUN_ARGS);
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

/* One channel group (4 channels at offset c) over all output pixels. wt holds the widened
 * weights per tap: wt[2t] = (w_c0, w_c2), wt[2t + 1] = (w_c1, w_c3). 3x3 dilation 1: the
 * output split into segments of rows and of columns with the same in-range taps (the inside
 * block, the border rows and columns); each pair of segments whose windows have 2 or 3
 * in-range rows and columns is one block of runs (no test per tap), the rest (maps too small
 * for that, other kernels) window by window over their in-range taps. */
static QNNC_LOOP_ATTR void qnnc_dw_group_dsp(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                                const int8_t *in_c0, const qnnc_dims *filter_dims,
                                                const int32_t *wt, const qnnc_dw_group *g,
                                                const qnnc_dims *output_dims, int8_t *out_c0)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, C = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w, pt = params->pad_top, pl = params->pad_left;
    const int32_t off2 = qnnc_dsp_pack2(params->input_offset), row_step = in_w * C;
    const int dw3 = filter_dims->h == 3 && filter_dims->w == 3 && params->dilation_h == 1 && params->dilation_w == 1;
    int32_t r0 = 0, r1 = 0, c0 = 0, c1 = 0; /* the block of windows inside the input */
    int32_t oh, ow, oh_end, ow_end, i, j;
    if (dw3) {
        qnnc_dw_inside(out_h, in_h, 3, sh, pt, &r0, &r1);
        qnnc_dw_inside(out_w, in_w, 3, sw, pl, &c0, &c1);
    }
    for (oh = 0; oh < out_h; oh = oh_end) {
        int32_t kh0 = 0, nr = 0;
        if (!dw3) {
            oh_end = out_h;
        } else {
            nr = qnnc_dw3_taps(oh, sh, pt, in_h, &kh0);
            oh_end = qnnc_dw3_segment(oh, out_h, sh, pt, in_h, r0, r1, kh0, nr);
        }
        for (ow = 0; ow < out_w; ow = ow_end) {
            int32_t kw0 = 0, nc = 0;
            if (nr < 2) {
                ow_end = out_w;
            } else {
                nc = qnnc_dw3_taps(ow, sw, pl, in_w, &kw0);
                ow_end = qnnc_dw3_segment(ow, out_w, sw, pl, in_w, c0, c1, kw0, nc);
            }
            if (nc >= 2) {
                qnnc_dw_runs r;
                r.nrows = nr;
                r.px = in_c0 + (oh * sh - pt + kh0) * row_step + (ow * sw - pl + kw0) * C;
                r.out = out_c0 + (oh * out_w + ow) * C;
                r.px_row = sh * row_step;
                r.out_row = out_w * C;
                if (ow_end - ow == 1) { /* one column: a single vertical run */
                    r.rows = 1;
                    r.count = oh_end - oh;
                    r.step = sh * row_step;
                    r.out_step = out_w * C;
                } else {
                    r.rows = oh_end - oh;
                    r.count = ow_end - ow;
                    r.step = sw * C;
                    r.out_step = C;
                }
                qnnc_dw3_runs_dsp(&r, C, row_step, wt + 2 * (3 * kh0 + kw0), off2, g, nc);
                continue;
            }
            for (i = oh; i < oh_end; ++i) {
                for (j = ow; j < ow_end; ++j) {
                    qnnc_dw_window_dsp(params, input_dims, in_c0, filter_dims, wt, g, i, j,
                                       out_c0 + (i * out_w + j) * C);
                }
            }
        }
    }
}

QNNC_PATH_ATTR int qnnc_dw_dsp_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                  const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                  const int8_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t C = input_dims->c, taps = filter_dims->h * filter_dims->w;
    const int32_t c4 = C & ~3;
    int32_t *wt; /* the group's weights widened, 2 words a tap (scratch) */
    qnnc_dw_group g;
    int32_t b, c, t, i;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS || c4 == 0 || scratch == NULL ||
        scratch->buf == NULL) {
        return 0;
    }
    if (!qnnc_scratch_fits(scratch, 4u, QNNC_DW_DSP_BUFFER_SIZE(taps))) {
        return 0; /* too small: portable path */
    }
    wt = (int32_t *)qnnc_scratch_align(scratch, 4u);
    g.output_offset = params->output_offset;
    g.act_min = params->act_min;
    g.act_max = params->act_max;
    g.lo = params->act_min - params->output_offset;
    g.hi = params->act_max - params->output_offset;
    g.rounding = params->rounding;
    for (c = 0; c < c4; c += 4) {
        for (t = 0; t < taps; ++t) {
            const uint32_t w = qnnc_dsp_rd32(filter + t * C + c);
            wt[2 * t] = __sxtb16((int32_t)w);
            wt[2 * t + 1] = qnnc_dsp_sxtb16_ror8(w);
        }
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
            /* fast: shift in [-20, -1] (as one unsigned compare) and multiplier 0 or >= 2^30 */
            if (!((uint32_t)g.shift[i] + 20u < 20u && (g.mult[i] == 0 || g.mult[i] >= (1 << 30)))) {
                g.fast = 0;
                g.rshift[i] = 0;
            }
            /* 2^(s-1) plus the output offset moved before the shift: off * 2^s (|x| < 2^30,
             * |off| <= 128, s <= 20, so the sum cannot overflow and the floor shift is exact) */
            g.round[i] = ((1 << g.rshift[i]) >> 1) + params->output_offset * (1 << g.rshift[i]);
        }
        if (g.fast == 1 && params->act_min == -128 && params->act_max == 127) {
            g.fast = 2; /* the clamp is SSAT #8 */
        }
        for (b = 0; b < output_dims->n; ++b) {
            qnnc_dw_group_dsp(params, input_dims, input + b * input_dims->h * input_dims->w * C + c, filter_dims,
                              wt, &g, output_dims, output + b * output_dims->h * output_dims->w * C + c);
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
