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
    int32_t fast;   /* all 4 channels take the fast requantization (qnnc_dsp_fast_ok); 2: and act_max 127 */
    int32_t act_min, act_max, output_offset, lo, hi;
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

/* The same when amax is 127: the upper clamp is SSAT (x >= amin >= -128 already). */
QNNC_INLINE int32_t qnnc_dw_rq_fast_sat(int32_t acc, int32_t mult, int32_t s, int32_t round, int32_t amin)
{
    int32_t x = qnnc_dsp_smmulr(__qadd(acc, acc), mult);
    x = (x + (x >> 31) + round) >> s; /* round includes off * 2^s */
    x = x < amin ? amin : x;
    return qnnc_dsp_ssat8(x);
}

static QNNC_LOOP_ATTR void qnnc_dw_store4_slow(int8_t *out, const int32_t *acc, const qnnc_dw_group *g)
{
    int32_t i;
    for (i = 0; i < 4; ++i) {
        int32_t v = qnnc_requantize(acc[i], g->mult[i], g->shift[i]);
        v = v < g->lo ? g->lo : (v > g->hi ? g->hi : v);
        out[i] = (int8_t)(v + g->output_offset);
    }
}

/* mode: g->fast, or a constant in the specialized 3x3 runs. */
QNNC_INLINE void qnnc_dw_store4_mode(int8_t *restrict out, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                     const qnnc_dw_group *restrict g, int32_t mode)
{
    if (mode == 2) {
        const int32_t amin = g->act_min;
        out[0] = (int8_t)qnnc_dw_rq_fast_sat(a0, g->mult[0], g->rshift[0], g->round[0], amin);
        out[1] = (int8_t)qnnc_dw_rq_fast_sat(a1, g->mult[1], g->rshift[1], g->round[1], amin);
        out[2] = (int8_t)qnnc_dw_rq_fast_sat(a2, g->mult[2], g->rshift[2], g->round[2], amin);
        out[3] = (int8_t)qnnc_dw_rq_fast_sat(a3, g->mult[3], g->rshift[3], g->round[3], amin);
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

/* 3x3 (ncols 3) or 3x2 (ncols 2: the two in-range columns of a window on the left or right
 * border, wt pointing at its first column's weights) dilation-1 windows, rows inside the
 * input, 4 full channels: `rows` runs of `count` output pixels; within a run the windows are
 * `step` input bytes and `out_step` output bytes apart, runs start `px_row` / `out_row` apart.
 * px: the first window's top-left in-range tap. */
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
            /* the rows unrolled: no row loop (its counter and pointers were spilled) */
            QNNC_DW3_TAP(p, 0);
            QNNC_DW3_TAP(p + C, 2);
            if (ncols == 3) {
                QNNC_DW3_TAP(p + 2 * C, 4);
            }
            QNNC_DW3_TAP(p + row_step, 6);
            QNNC_DW3_TAP(p + row_step + C, 8);
            if (ncols == 3) {
                QNNC_DW3_TAP(p + row_step + 2 * C, 10);
            }
            QNNC_DW3_TAP(p + 2 * row_step, 12);
            QNNC_DW3_TAP(p + 2 * row_step + C, 14);
            if (ncols == 3) {
                QNNC_DW3_TAP(p + 2 * row_step + 2 * C, 16);
            }
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
                                       int32_t out_row)                                                 \
    {                                                                                                   \
        qnnc_dw3_run_body(px, C, row_step, step, wt, off2, g, out, out_step, count, rows, px_row,       \
                          out_row, mode, ncols);                                                        \
    }
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
    if (ncols == 3) {
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

/* One channel group (4 channels at offset c) over all output pixels. wt holds the widened
 * weights per tap: wt[2t] = (w_c0, w_c2), wt[2t + 1] = (w_c1, w_c3). 3x3 dilation 1: the
 * windows inside the input in one 2-D block of 3x3 runs, the left/right border columns of
 * those rows as vertical 3x2 runs when two of their columns are in range, the rest (top and
 * bottom rows, other kernels) window by window over their in-range taps. */
static QNNC_LOOP_ATTR void qnnc_dw_group_dsp(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                                const int8_t *in_c0, const qnnc_dims *filter_dims,
                                                const int32_t *wt, const qnnc_dw_group *g,
                                                const qnnc_dims *output_dims, int8_t *out_c0)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, C = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w;
    const int32_t off2 = qnnc_dsp_pack2(params->input_offset), row_step = in_w * C;
    int32_t r0 = 0, r1 = 0, c0 = 0, c1 = 0; /* the block of windows inside the input */
    int32_t oh, ow;
    if (filter_dims->h == 3 && filter_dims->w == 3 && params->dilation_h == 1 && params->dilation_w == 1) {
        qnnc_dw_runs r;
        qnnc_dw_inside(out_h, in_h, 3, sh, params->pad_top, &r0, &r1);
        qnnc_dw_inside(out_w, in_w, 3, sw, params->pad_left, &c0, &c1);
        r.rows = r1 - r0;
        r.px_row = sh * row_step;
        r.out_row = out_w * C;
        r.step = sw * C;
        r.out_step = C;
        r.count = c1 - c0;
        r.px = in_c0 + (r0 * sh - params->pad_top) * row_step + (c0 * sw - params->pad_left) * C;
        r.out = out_c0 + (r0 * out_w + c0) * C;
        qnnc_dw3_runs_dsp(&r, C, row_step, wt, off2, g, 3);
        /* border columns of the inside rows: one vertical run per column */
        for (ow = 0; ow < out_w && r0 < r1; ++ow) {
            const int32_t iw0 = ow * sw - params->pad_left;
            if (ow == c0 && c0 < c1) {
                ow = c1 - 1; /* skip the inside block */
                continue;
            }
            if ((iw0 == -1 || iw0 + 2 == in_w) && in_w >= 2) { /* exactly two columns in range */
                const int32_t kw0 = iw0 < 0 ? 1 : 0;
                r.rows = 1;
                r.count = r1 - r0;
                r.step = sh * row_step;
                r.out_step = out_w * C;
                r.px = in_c0 + (r0 * sh - params->pad_top) * row_step + (iw0 + kw0) * C;
                r.out = out_c0 + (r0 * out_w + ow) * C;
                qnnc_dw3_runs_dsp(&r, C, row_step, wt + 2 * kw0, off2, g, 2);
                continue;
            }
            for (oh = r0; oh < r1; ++oh) {
                qnnc_dw_window_dsp(params, input_dims, in_c0, filter_dims, wt, g, oh, ow,
                                   out_c0 + (oh * out_w + ow) * C);
            }
        }
    }
    /* every window outside the rows [r0, r1) */
    for (oh = 0; oh < out_h; ++oh) {
        if (oh == r0 && r0 < r1) {
            oh = r1 - 1;
            continue;
        }
        for (ow = 0; ow < out_w; ++ow) {
            qnnc_dw_window_dsp(params, input_dims, in_c0, filter_dims, wt, g, oh, ow, out_c0 + (oh * out_w + ow) * C);
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
    for (c = 0; c < c4; c += 4) {
        for (t = 0; t < taps; ++t) {
            const uint32_t w = qnnc_dsp_rd32(filter + t * C + c);
            wt[2 * t] = __sxtb16((int32_t)w);
            wt[2 * t + 1] = qnnc_dsp_sxtb16_ror8(w);
        }
        g.fast = 1;
        for (i = 0; i < 4; ++i) {
            g.mult[i] = quant->multiplier[c + i];
            g.shift[i] = quant->shift[c + i];
            g.bias[i] = bias != NULL ? bias[c + i] : 0;
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
        if (g.fast && params->act_max == 127) {
            g.fast = 2; /* the upper clamp is SSAT #8 */
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
