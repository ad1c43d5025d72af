/*
 * qnnc_depthwise_conv_s8 - int8 depthwise convolution, NHWC input, [kh][kw][out_ch] filter.
 * Reference: qnnc/reference/kernels.py:depthwise_conv_s8.
 *
 * Paths, chosen at compile time from the compiler's own macros (depth_multiplier 1; other
 * multipliers and the last in_c % 4 channels use the portable loops):
 *   - Helium (__ARM_FEATURE_MVE): 3x3 dilation 1: 8 channels per int16x8 vector (VLDRB.S16,
 *     VMULLB/VMULLT into even/odd int32x4 accumulators), the windows inside the input as a 2-D
 *     block of runs and the border columns as runs of 3x2 windows, the offset term folded into
 *     the bias of exactly the taps used; other kernels 4 channels per int32x4 vector. Two
 *     horizontally adjacent output pixels share each input column load.
 *   - Armv7E-M DSP (__ARM_FEATURE_DSP): 4 channels per word; the group's weights are widened
 *     once (SXTB16) into a small table, inputs widened with the offset (SXTAB16), then
 *     SMLABB/SMLATT per tap (weight pairs by LDRD); 3x3 windows inside the input are fully
 *     unrolled (one 2-D block of runs; border columns as runs of 3x2 windows), with the
 *     requantization mode as a compile-time constant (the output offset folded into the
 *     rounding term, SSAT as the upper clamp when act_max is 127); the other border windows
 *     loop over their in-range taps only.
 *   - Portable C99 otherwise.
 * The weight tables live in the caller's scratch buffer (QNNC_DW_{DSP,MVE}_BUFFER_SIZE in
 * qnnc_kernels.h); a NULL or too small buffer selects the portable path.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE_SIZE__) && !defined(QNNC_NO_FORCE_O2)
#pragma GCC optimize("O2") /* kernels stay at -O2 when the firmware is built for size */
#endif

#include "qnnc_kernels.h"

#if !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define QNNC_DW_MVE 1
#include <arm_mve.h>
#elif !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define QNNC_DW_DSP 1
#include <arm_acle.h>
#include <string.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define QNNC_DW_LOOP_ATTR __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define QNNC_DW_LOOP_ATTR __attribute__((noinline))
#else
#define QNNC_DW_LOOP_ATTR
#endif

/* Each path is its own function, so the stack high-water is the deepest path's, not their sum. */
#if defined(__GNUC__)
#define QNNC_DW_PATH_ATTR __attribute__((noinline))
#else
#define QNNC_DW_PATH_ATTR
#endif

/* Input channels [ic_begin, ic_end) (all their depth_multiplier outputs). */
static QNNC_DW_PATH_ATTR void qnnc_dw_portable(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                             const qnnc_dims *input_dims, const int8_t *input,
                             const qnnc_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias,
                             const qnnc_dims *output_dims, int8_t *output, int32_t ic_begin, int32_t ic_end)
{
    const int32_t batches = output_dims->n;
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t depth_multiplier = params->depth_multiplier;
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
    int32_t b, oh, ow, ic, m, kh, kw;

    for (b = 0; b < batches; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh_first, kh_last;
            qnnc_tap_range(ih0, in_h, k_h, params->dilation_h, &kh_first, &kh_last);
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw_first, kw_last;
                qnnc_tap_range(iw0, in_w, k_w, params->dilation_w, &kw_first, &kw_last);
                /* Without a scratch accumulator per channel, each output channel sums its
                 * own taps; the tap loads are strided by in_c / out_c. */
                for (ic = ic_begin; ic < ic_end; ++ic) {
                    for (m = 0; m < depth_multiplier; ++m) {
                        const int32_t oc = ic * depth_multiplier + m;
                        int32_t acc = bias != NULL ? bias[oc] : 0;
                        for (kh = kh_first; kh < kh_last; ++kh) {
                            const int8_t *in_row =
                                in_b + (ih0 + kh * params->dilation_h) * in_w * in_c + ic;
                            const int8_t *filt_row = filter + kh * k_w * out_c + oc;
                            for (kw = kw_first; kw < kw_last; ++kw) {
                                const int32_t x = in_row[(iw0 + kw * params->dilation_w) * in_c];
                                acc += (int32_t)filt_row[kw * out_c] * (x + input_offset);
                            }
                        }
                        output[oc] = qnnc_output_s8(acc, quant->multiplier[oc], quant->shift[oc], lo, hi, output_offset,
                                                    act_lut, params->rounding);
                    }
                }
                output += out_c;
            }
        }
    }
}

#if defined(QNNC_DW_DSP) || defined(QNNC_DW_MVE)
/* [*lo, *hi): the output positions whose window [o * stride - pad, + k) lies inside [0, n). */
static void qnnc_dw_inside(int32_t n_out, int32_t n_in, int32_t k, int32_t stride, int32_t pad, int32_t *lo,
                           int32_t *hi)
{
    int32_t a = 0, b = n_out;
    while (a < n_out && a * stride - pad < 0) {
        ++a;
    }
    while (b > a && (b - 1) * stride - pad + k > n_in) {
        --b;
    }
    *lo = a;
    *hi = b < a ? a : b;
}

#endif

#if defined(QNNC_DW_DSP)
/* ------------------------------------------------------------ Armv7E-M DSP path -- */

typedef struct {
    int32_t mult[4], rshift[4], round[4], bias[4]; /* fast path: right shift s, round = 2^(s-1) + off*2^s */
    int32_t shift[4];                               /* the original shifts (reference path) */
    int32_t fast;   /* all 4 channels take the fast requantization (see qnnc_conv_s8.c); 2: and act_max 127 */
    int32_t act_min, act_max, output_offset, lo, hi;
} qnnc_dw_group;

/* Fast requantization of one value (exact under the conditions of qnnc_conv_s8.c, with a right
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

static QNNC_DW_LOOP_ATTR void qnnc_dw_store4_slow(int8_t *out, const int32_t *acc, const qnnc_dw_group *g)
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
    static QNNC_DW_LOOP_ATTR void name(const int8_t *px, int32_t C, int32_t row_step, int32_t step,     \
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
    if (ncols == 3) {
        if (g->fast == 2) {
            qnnc_dw3x3_run_sat(r->px, C, row_step, r->step, wt, off2, g, r->out, r->out_step, r->count, r->rows,
                               r->px_row, r->out_row);
        } else if (g->fast) {
            qnnc_dw3x3_run_fast(r->px, C, row_step, r->step, wt, off2, g, r->out, r->out_step, r->count, r->rows,
                                r->px_row, r->out_row);
        } else {
            qnnc_dw3x3_run_ref(r->px, C, row_step, r->step, wt, off2, g, r->out, r->out_step, r->count, r->rows,
                               r->px_row, r->out_row);
        }
    } else if (g->fast == 2) {
        qnnc_dw3x2_run_sat(r->px, C, row_step, r->step, wt, off2, g, r->out, r->out_step, r->count, r->rows,
                           r->px_row, r->out_row);
    } else if (g->fast) {
        qnnc_dw3x2_run_fast(r->px, C, row_step, r->step, wt, off2, g, r->out, r->out_step, r->count, r->rows,
                            r->px_row, r->out_row);
    } else {
        qnnc_dw3x2_run_ref(r->px, C, row_step, r->step, wt, off2, g, r->out, r->out_step, r->count, r->rows,
                           r->px_row, r->out_row);
    }
}

/* One output pixel of 4 channels over its in-range taps only (bounds found once). */
static QNNC_DW_LOOP_ATTR void qnnc_dw_window_dsp(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                                 const int8_t *in_c0, const qnnc_dims *filter_dims,
                                                 const int32_t *wt, const qnnc_dw_group *g, int32_t oh,
                                                 int32_t ow, int8_t *out)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, C = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t dh = params->dilation_h, dw = params->dilation_w;
    const int32_t off = params->input_offset;
    const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
    const int32_t row_step = in_w * C;
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
static QNNC_DW_LOOP_ATTR void qnnc_dw_group_dsp(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                                const int8_t *in_c0, const qnnc_dims *filter_dims,
                                                const int32_t *wt, const qnnc_dw_group *g,
                                                const qnnc_dims *output_dims, int8_t *out_c0)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, C = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w;
    const int32_t off = params->input_offset;
    const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
    const int32_t row_step = in_w * C;
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

static QNNC_DW_PATH_ATTR int qnnc_dw_dsp(const qnnc_buffer *scratch,
                       const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                       const qnnc_dims *input_dims, const int8_t *input,
                       const qnnc_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t C = input_dims->c;
    const int32_t taps = filter_dims->h * filter_dims->w;
    const int32_t c4 = C & ~3;
    int32_t *wt; /* the group's weights widened, 2 words a tap (scratch) */
    qnnc_dw_group g;
    int32_t b, c, t, i;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS || c4 == 0 || scratch == NULL ||
        scratch->buf == NULL) {
        return 0;
    }
    {
        const uintptr_t a = ((uintptr_t)scratch->buf + 3u) & ~(uintptr_t)3u;
        if (scratch->size - (int32_t)(a - (uintptr_t)scratch->buf) < QNNC_DW_DSP_BUFFER_SIZE(taps)) {
            return 0; /* too small: portable path */
        }
        wt = (int32_t *)a;
    }
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
            if (!((g.mult[i] == 0 || g.mult[i] >= (1 << 30)) && g.shift[i] <= -1 && g.shift[i] >= -20)) {
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
        qnnc_dw_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, c4, C);
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
#endif /* QNNC_DW_DSP */

#if defined(QNNC_DW_MVE)
/* ------------------------------------------------------------- Helium MVE path -- */

/* acc + x * w per lane (MVE has no lane-wise multiply-accumulate of two vectors). */
QNNC_INLINE int32x4_t qnnc_dw_mla(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    int32x4_t r = vaddq_s32(acc, vmulq_s32(x, w));
#if defined(__GNUC__)
    /* an empty asm as an ordering point: without it GCC 12 computes all the products of a
     * window first and spills them (8 Q registers) */
    __asm("" : "+w"(r));
#endif
    return r;
}

/* Requantize 4 int32 lanes exactly (see qnnc_conv_s8.c), clamp, add the offset, store 4 bytes. */
QNNC_INLINE void qnnc_dw_out_mve(int8_t *out, int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t neg_right,
                                 int32x4_t lo, int32x4_t hi, int32_t output_offset, mve_pred16_t p)
{
    int32x4_t x = vqrdmulhq_s32(vqshlq_s32(acc, left), mult);
    x = vrshlq_s32(vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, neg_right), 31)), neg_right);
    x = vaddq_n_s32(vminq_s32(vmaxq_s32(x, lo), hi), output_offset);
    vstrbq_p_s32(out, x, p);
}

/* Channels [c, c + 4) (predicated: n of them) of every output pixel. */
/* Requantization constants of one group of 4 channels. */
typedef struct {
    int32x4_t mult, left, neg_right, lo, hi;
    int32_t output_offset;
} qnnc_dw_rq_mve;

/* 3x3, stride 1, dilation 1, 4 full channels: `pairs` pairs of adjacent output pixels whose
 * windows lie inside the input. row: input at the first window's top-left tap (channel c);
 * wtab: the 9 taps' weights widened to int32; out: first output (channel c). */
static QNNC_DW_LOOP_ATTR void qnnc_dw3x3_pairs_mve(const int8_t *row, int32_t C, int32_t row_step,
                                                   const int32x4_t *wtab, int32x4_t bias_in,
                                                   const qnnc_dw_rq_mve *q, int8_t *out, int32_t pairs)
{
    const int32_t C2 = 2 * C, C3 = 3 * C;
    for (; pairs > 0; --pairs) {
        int32x4_t a0 = bias_in, a1 = bias_in;
        const int8_t *r = row;
        int32_t kh;
        for (kh = 0; kh < 3; ++kh) {
            int32x4_t x = vldrbq_s32(r), w = wtab[3 * kh];
            a0 = qnnc_dw_mla(a0, x, w);
            x = vldrbq_s32(r + C);
            a1 = qnnc_dw_mla(a1, x, w);
            w = wtab[3 * kh + 1];
            a0 = qnnc_dw_mla(a0, x, w);
            x = vldrbq_s32(r + C2);
            a1 = qnnc_dw_mla(a1, x, w);
            w = wtab[3 * kh + 2];
            a0 = qnnc_dw_mla(a0, x, w);
            x = vldrbq_s32(r + C3);
            a1 = qnnc_dw_mla(a1, x, w);
            r += row_step;
        }
        {
            int32x4_t v = vqrdmulhq_s32(vqshlq_s32(a0, q->left), q->mult);
            v = vrshlq_s32(vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, q->neg_right), 31)), q->neg_right);
            vstrbq_s32(out, vaddq_n_s32(vminq_s32(vmaxq_s32(v, q->lo), q->hi), q->output_offset));
            v = vqrdmulhq_s32(vqshlq_s32(a1, q->left), q->mult);
            v = vrshlq_s32(vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, q->neg_right), 31)), q->neg_right);
            vstrbq_s32(out + C, vaddq_n_s32(vminq_s32(vmaxq_s32(v, q->lo), q->hi), q->output_offset));
        }
        row += C2;
        out += C2;
    }
}

/* One 3x3 output pixel (dilation 1) of 4 full channels that may cross the border: taps
 * outside the input are skipped, the offset is added to every input explicitly. */
static QNNC_DW_LOOP_ATTR void qnnc_dw3x3_one_mve(const int8_t *in_c0, int32_t in_h, int32_t in_w, int32_t C,
                                                 int32_t ih0, int32_t iw0, const int32x4_t *wtab,
                                                 int32x4_t acc, int32_t off, const qnnc_dw_rq_mve *q, int8_t *out)
{
    const int32_t row_step = in_w * C;
    const int c0 = iw0 >= 0, c2 = iw0 + 2 < in_w; /* column 1 is always inside */
    int32_t kh;
    for (kh = 0; kh < 3; ++kh) {
        const int32_t ih = ih0 + kh;
        const int8_t *r = in_c0 + ih * row_step + iw0 * C;
        if (ih < 0 || ih >= in_h) {
            continue;
        }
        if (c0) {
            acc = qnnc_dw_mla(acc, vaddq_n_s32(vldrbq_s32(r), off), wtab[3 * kh]);
        }
        acc = qnnc_dw_mla(acc, vaddq_n_s32(vldrbq_s32(r + C), off), wtab[3 * kh + 1]);
        if (c2) {
            acc = qnnc_dw_mla(acc, vaddq_n_s32(vldrbq_s32(r + 2 * C), off), wtab[3 * kh + 2]);
        }
    }
    {
        int32x4_t v = vqrdmulhq_s32(vqshlq_s32(acc, q->left), q->mult);
        v = vrshlq_s32(vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, q->neg_right), 31)), q->neg_right);
        vstrbq_s32(out, vaddq_n_s32(vminq_s32(vmaxq_s32(v, q->lo), q->hi), q->output_offset));
    }
}

/* 3x3, stride 1, dilation 1, 4 full channels: a strip of 4 adjacent output pixels of one row
 * (those past the row end are computed but not stored). Each input column is loaded once per
 * kernel row and feeds up to 3 of the 4 accumulators; columns and rows outside the input are
 * skipped (padding taps contribute nothing), the input offset is added to each column. */
static QNNC_DW_LOOP_ATTR void qnnc_dw3x3_strip_mve(const int8_t *in_c0, int32_t in_h, int32_t in_w, int32_t C,
                                                   int32_t ih0, int32_t iw0, const int32x4_t *wtab,
                                                   int32x4_t vbias, int32_t off, const qnnc_dw_rq_mve *q,
                                                   int8_t *out, int32_t n_out)
{
    const int32_t row_step = in_w * C;
    /* column j (0..5) of the strip is input column iw0 + j */
    /* (only the columns the n_out stored pixels need) */
    const int v0 = iw0 >= 0 && iw0 < in_w, v1 = iw0 + 1 >= 0 && iw0 + 1 < in_w;
    const int v2 = iw0 + 2 >= 0 && iw0 + 2 < in_w;
    const int v3 = n_out > 1 && iw0 + 3 >= 0 && iw0 + 3 < in_w;
    const int v4 = n_out > 2 && iw0 + 4 >= 0 && iw0 + 4 < in_w;
    const int v5 = n_out > 3 && iw0 + 5 >= 0 && iw0 + 5 < in_w;
    int32x4_t a0 = vbias, a1 = vbias, a2 = vbias, a3 = vbias;
    int32_t kh;
    for (kh = 0; kh < 3; ++kh) {
        const int32_t ih = ih0 + kh;
        const int8_t *r = in_c0 + ih * row_step + iw0 * C;
        const int32x4_t *w = wtab + 3 * kh;
        int32x4_t x;
        if (ih < 0 || ih >= in_h) {
            continue;
        }
        if (v0) {
            x = vaddq_n_s32(vldrbq_s32(r), off);
            a0 = qnnc_dw_mla(a0, x, w[0]);
        }
        if (v1) {
            x = vaddq_n_s32(vldrbq_s32(r + C), off);
            a0 = qnnc_dw_mla(a0, x, w[1]);
            a1 = qnnc_dw_mla(a1, x, w[0]);
        }
        if (v2) {
            x = vaddq_n_s32(vldrbq_s32(r + 2 * C), off);
            a0 = qnnc_dw_mla(a0, x, w[2]);
            a1 = qnnc_dw_mla(a1, x, w[1]);
            a2 = qnnc_dw_mla(a2, x, w[0]);
        }
        if (v3) {
            x = vaddq_n_s32(vldrbq_s32(r + 3 * C), off);
            a1 = qnnc_dw_mla(a1, x, w[2]);
            a2 = qnnc_dw_mla(a2, x, w[1]);
            a3 = qnnc_dw_mla(a3, x, w[0]);
        }
        if (v4) {
            x = vaddq_n_s32(vldrbq_s32(r + 4 * C), off);
            a2 = qnnc_dw_mla(a2, x, w[2]);
            a3 = qnnc_dw_mla(a3, x, w[1]);
        }
        if (v5) {
            x = vaddq_n_s32(vldrbq_s32(r + 5 * C), off);
            a3 = qnnc_dw_mla(a3, x, w[2]);
        }
    }
    qnnc_dw_out_mve(out, a0, q->mult, q->left, q->neg_right, q->lo, q->hi, q->output_offset, vctp32q(4u));
    if (n_out > 1) {
        qnnc_dw_out_mve(out + C, a1, q->mult, q->left, q->neg_right, q->lo, q->hi, q->output_offset, vctp32q(4u));
    }
    if (n_out > 2) {
        qnnc_dw_out_mve(out + 2 * C, a2, q->mult, q->left, q->neg_right, q->lo, q->hi, q->output_offset,
                        vctp32q(4u));
    }
    if (n_out > 3) {
        qnnc_dw_out_mve(out + 3 * C, a3, q->mult, q->left, q->neg_right, q->lo, q->hi, q->output_offset,
                        vctp32q(4u));
    }
}

static QNNC_DW_LOOP_ATTR void qnnc_dw_group_mve(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                                const qnnc_dims *input_dims, const int8_t *in_c0,
                                                const qnnc_dims *filter_dims, const int8_t *f_c0,
                                                const int32_t *bias, int32_t c, int32_t n,
                                                const qnnc_dims *output_dims, int8_t *out_c0,
                                                int32x4_t *wtab)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, C = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t dh = params->dilation_h, dw = params->dilation_w;
    const int32_t sw = params->stride_w;
    const int32_t off = params->input_offset;
    const int32_t row_step = in_w * C;
    const mve_pred16_t p = vctp32q((uint32_t)n);
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t lo = vdupq_n_s32(params->act_min - params->output_offset);
    const int32x4_t hi = vdupq_n_s32(params->act_max - params->output_offset);
    const int32x4_t shift = vldrwq_z_s32(quant->shift + c, p);
    const int32x4_t mult = vldrwq_z_s32(quant->multiplier + c, p);
    const int32x4_t left = vmaxq_s32(shift, zero);
    const int32x4_t neg_right = vmaxq_s32(vminq_s32(shift, zero), vdupq_n_s32(-31));
    const int32x4_t vbias = bias != NULL ? vldrwq_z_s32(bias + c, p) : zero;
    int32x4_t bias_in; /* bias + off * sum of all the taps' weights: for windows inside */
    /* wtab (scratch): the group's weights widened to int32 lanes, per tap (<= QNNC_DW_MAX_TAPS) */
    const int fast3x3 = k_h == 3 && k_w == 3 && dh == 1 && dw == 1 && sw == 1 && n == 4;
    /* border windows: the middle column of every window is inside the input */
    const int pad_ok = params->pad_left <= 1 && out_w - params->pad_left <= in_w - 1;
    qnnc_dw_rq_mve rq;
    int32_t oh, ow, kh, kw;
    {
        int32x4_t ws = zero;
        for (kh = 0; kh < k_h * k_w; ++kh) {
            wtab[kh] = vldrbq_z_s32(f_c0 + kh * C, p);
            ws = vaddq_s32(ws, wtab[kh]);
        }
        bias_in = vmlaq_n_s32(vbias, ws, off);
    }
    rq.mult = mult;
    rq.left = left;
    rq.neg_right = neg_right;
    rq.lo = lo;
    rq.hi = hi;
    rq.output_offset = params->output_offset;
    for (oh = 0; oh < out_h; ++oh) {
        const int32_t ih0 = oh * params->stride_h - params->pad_top;
        const int rows_inside = ih0 >= 0 && ih0 + (k_h - 1) * dh < in_h;
        if (fast3x3 && out_w <= 8) { /* narrow maps (mostly border): strips of 4 pixels */
            for (ow = 0; ow < out_w; ow += 4) {
                qnnc_dw3x3_strip_mve(in_c0, in_h, in_w, C, ih0, ow - params->pad_left, wtab, vbias, off, &rq,
                                     out_c0 + (oh * out_w + ow) * C, out_w - ow);
            }
            continue;
        }
        for (ow = 0; ow < out_w; ++ow) {
            const int32_t iw0 = ow * sw - params->pad_left;
            const int cols_inside = iw0 >= 0 && iw0 + (k_w - 1) * dw < in_w;
            int8_t *out = out_c0 + (oh * out_w + ow) * C;
            if (fast3x3 && !(rows_inside && cols_inside) && pad_ok) {
                qnnc_dw3x3_one_mve(in_c0, in_h, in_w, C, ih0, iw0, wtab, vbias, off, &rq, out);
                continue;
            }
            if (fast3x3 && rows_inside && cols_inside) {
                /* the run of pixel pairs whose windows are inside */
                int32_t pairs = 0;
                while (ow + 2 * pairs + 1 < out_w && iw0 + 2 * pairs + 3 < in_w) {
                    ++pairs;
                }
                if (pairs > 0) {
                    qnnc_dw3x3_pairs_mve(in_c0 + ih0 * row_step + iw0 * C, C, row_step, wtab, bias_in, &rq, out,
                                         pairs);
                    ow += 2 * pairs - 1;
                    continue;
                }
                qnnc_dw3x3_one_mve(in_c0, in_h, in_w, C, ih0, iw0, wtab, vbias, off, &rq, out);
                continue;
            }
            if (rows_inside && cols_inside) {
                /* Two adjacent pixels when the second is inside too (stride 1, dilation 1:
                 * each input column load serves both). */
                if (sw == 1 && dw == 1 && ow + 1 < out_w && iw0 + k_w < in_w) {
                    int32x4_t a0 = bias_in, a1 = bias_in;
                    const int8_t *row = in_c0 + ih0 * row_step + iw0 * C;
                    if (k_w == 3 && n == 4) {
                        /* 3 wide, full group: unpredicated, weights from the widened table */
                        const int32x4_t *wv = wtab;
                        for (kh = 0; kh < k_h; ++kh) {
                            /* ordered so that only 6 vector registers are live */
                            const int8_t *r1 = row + C;
                            int32x4_t x = vldrbq_s32(row), w = wv[0];
                            a0 = qnnc_dw_mla(a0, x, w);
                            x = vldrbq_s32(r1);
                            a1 = qnnc_dw_mla(a1, x, w);
                            w = wv[1];
                            a0 = qnnc_dw_mla(a0, x, w);
                            x = vldrbq_s32(r1 + C);
                            a1 = qnnc_dw_mla(a1, x, w);
                            w = wv[2];
                            a0 = qnnc_dw_mla(a0, x, w);
                            x = vldrbq_s32(r1 + 2 * C);
                            a1 = qnnc_dw_mla(a1, x, w);
                            wv += 3;
                            row += dh * row_step;
                        }
                    } else {
                        const int8_t *f = f_c0;
                        for (kh = 0; kh < k_h; ++kh) {
                            int32x4_t xprev = vldrbq_z_s32(row, p);
                            for (kw = 0; kw < k_w; ++kw) {
                                const int32x4_t wv = vldrbq_z_s32(f + kw * C, p);
                                const int32x4_t xnext = vldrbq_z_s32(row + (kw + 1) * C, p);
                                a0 = qnnc_dw_mla(a0, xprev, wv);
                                a1 = qnnc_dw_mla(a1, xnext, wv);
                                xprev = xnext;
                            }
                            row += dh * row_step;
                            f += k_w * C;
                        }
                    }
                    qnnc_dw_out_mve(out, a0, mult, left, neg_right, lo, hi, params->output_offset, p);
                    qnnc_dw_out_mve(out + C, a1, mult, left, neg_right, lo, hi, params->output_offset, p);
                    ++ow;
                    continue;
                } else {
                    int32x4_t a0 = bias_in;
                    for (kh = 0; kh < k_h; ++kh) {
                        const int8_t *row = in_c0 + (ih0 + kh * dh) * row_step + iw0 * C;
                        for (kw = 0; kw < k_w; ++kw) {
                            a0 = qnnc_dw_mla(a0, vldrbq_z_s32(row + kw * dw * C, p),
                                           vldrbq_z_s32(f_c0 + (kh * k_w + kw) * C, p));
                        }
                    }
                    qnnc_dw_out_mve(out, a0, mult, left, neg_right, lo, hi, params->output_offset, p);
                }
            } else {
                /* Window crosses the border: only the taps inside, offset added explicitly. */
                int32x4_t a0 = vbias;
                for (kh = 0; kh < k_h; ++kh) {
                    const int32_t ih = ih0 + kh * dh;
                    if (ih < 0 || ih >= in_h) {
                        continue;
                    }
                    for (kw = 0; kw < k_w; ++kw) {
                        const int32_t iw = iw0 + kw * dw;
                        if (iw < 0 || iw >= in_w) {
                            continue;
                        }
                        a0 = qnnc_dw_mla(a0, vaddq_n_s32(vldrbq_z_s32(in_c0 + ih * row_step + iw * C, p), off),
                                       vldrbq_z_s32(f_c0 + (kh * k_w + kw) * C, p));
                    }
                }
                qnnc_dw_out_mve(out, a0, mult, left, neg_right, lo, hi, params->output_offset, p);
            }
        }
    }
}

/* ---- 3x3 (dilation 1) with 8 channels per int16x8 vector ----------------------------------
 * The input and the weights are widened to int16 lanes (VLDRB.S16: 8 channels a load), the
 * products of the even and odd lanes go to two int32x4 accumulators (VMULLB/VMULLT + VADD):
 * half the loads of 4 channels per int32x4. Accumulator E holds channels c, c+2, c+4, c+6,
 * O holds c+1, c+3, c+5, c+7; VMOVNB/VMOVNT put them back in order before the store. */

typedef struct {
    int32x4_t mult[2], left[2], neg_right[2], bias[2], bias_in[2]; /* [0]: even lanes, [1]: odd */
    int16x8_t act_min, act_max;
    int32_t output_offset, off, C, row_step;
    int no_left; /* every shift <= 0: no saturating left shift */
} qnnc_dw8_q;

/* acc{E,O} += x * w (8 lanes of int16); the empty asm orders the adds (see qnnc_dw_mla). */
#if defined(__GNUC__)
#define QNNC_DW8_ORDER(a) __asm("" : "+w"(a))
#else
#define QNNC_DW8_ORDER(a) (void)0
#endif
#define QNNC_DW8_MAC(aE, aO, x, w)                                                             \
    do {                                                                                       \
        aE = vaddq_s32(aE, vmullbq_int_s16(x, w));                                             \
        QNNC_DW8_ORDER(aE);                                                                    \
        aO = vaddq_s32(aO, vmulltq_int_s16(x, w));                                             \
        QNNC_DW8_ORDER(aO);                                                                    \
    } while (0)

/* Requantize one int32x4 of the layout exactly (see qnnc_conv_s8.c); no clamp yet. */
QNNC_INLINE int32x4_t qnnc_dw8_rq(int32x4_t a, int32x4_t mult, int32x4_t left, int32x4_t neg_right, int no_left)
{
    int32x4_t v = vqrdmulhq_s32(no_left ? a : vqshlq_s32(a, left), mult);
    return vrshlq_s32(vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, neg_right), 31)), neg_right);
}

/* Both halves back in channel order, saturated to int16, plus the output offset (saturating),
 * clamped to the activation range: the same int8 as clamp(v, min - off, max - off) + off,
 * since saturation keeps an out-of-range value out of range. Then 8 (full) or the first n
 * channels (predicate p) stored. */
QNNC_INLINE void qnnc_dw8_out(int8_t *out, int32x4_t vE, int32x4_t vO, const qnnc_dw8_q *q, int full, mve_pred16_t p)
{
    int16x8_t r = vqmovntq_s32(vqmovnbq_s32(vdupq_n_s16(0), vE), vO);
    r = vminq_s16(vmaxq_s16(vqaddq_n_s16(r, (int16_t)q->output_offset), q->act_min), q->act_max);
    if (full) {
        vstrbq_s16(out, r);
    } else {
        vstrbq_p_s16(out, r, p);
    }
}

/* One pixel's accumulators requantized and stored. */
QNNC_INLINE void qnnc_dw8_store(int8_t *out, int32x4_t aE, int32x4_t aO, const qnnc_dw8_q *q, int full,
                                mve_pred16_t p)
{
    const int32x4_t vE = qnnc_dw8_rq(aE, q->mult[0], q->left[0], q->neg_right[0], q->no_left);
    const int32x4_t vO = qnnc_dw8_rq(aO, q->mult[1], q->left[1], q->neg_right[1], q->no_left);
    qnnc_dw8_out(out, vE, vO, q, full, p);
}

/* Two pixels' accumulators: each lane half's parameters loaded once for both. */
QNNC_INLINE void qnnc_dw8_store2(int8_t *out0, int8_t *out1, int32x4_t e0, int32x4_t o0, int32x4_t e1, int32x4_t o1,
                                 const qnnc_dw8_q *q, int full, mve_pred16_t p)
{
    int32x4_t m = q->mult[0], l = q->left[0], r = q->neg_right[0];
    e0 = qnnc_dw8_rq(e0, m, l, r, q->no_left);
    e1 = qnnc_dw8_rq(e1, m, l, r, q->no_left);
    m = q->mult[1];
    l = q->left[1];
    r = q->neg_right[1];
    o0 = qnnc_dw8_rq(o0, m, l, r, q->no_left);
    o1 = qnnc_dw8_rq(o1, m, l, r, q->no_left);
    qnnc_dw8_out(out0, e0, o0, q, full, p);
    qnnc_dw8_out(out1, e1, o1, q, full, p);
}

QNNC_INLINE int16x8_t qnnc_dw8_ld(const int8_t *x, int full, mve_pred16_t p)
{
    return full ? vldrbq_s16(x) : vldrbq_z_s16(x, p);
}

/* Geometry of a 2-D block of windows whose in-range taps are 3 rows x `ncols` columns (3: the
 * inside windows; 2: a border column): `rows` runs of `count` windows, `step` input bytes and
 * `out_step` output bytes apart within a run, runs `px_row` / `out_row` apart. px: the first
 * window's top-left in-range tap; wt: that tap's weights (row stride 3); bias: the bias with
 * the offset term of exactly these taps folded in (even, odd lanes). */
typedef struct {
    const int8_t *px;
    int8_t *out;
    const int16x8_t *wt;
    const int32x4_t *bias;
    int32_t step, out_step, count, rows, px_row, out_row;
} qnnc_dw8_block;

QNNC_INLINE void qnnc_dw8_runs_body(const qnnc_dw8_block *g, const qnnc_dw8_q *q, int full, mve_pred16_t p,
                                    int32_t ncols)
{
    const int32_t C = q->C, rs = q->row_step;
    const int16x8_t *wt = g->wt;
    const int8_t *px = g->px;
    int8_t *out = g->out;
    int32_t rows;
    for (rows = g->rows; rows > 0; --rows) {
        const int8_t *pp = px;
        int8_t *o = out;
        int32_t count = g->count;
        if (ncols == 3 && g->step == C && g->out_step == C) {
            /* stride 1 along the run: pixel pairs share the input columns */
            for (; count >= 2; count -= 2) {
                int32x4_t e0 = g->bias[0], o0 = g->bias[1], e1 = e0, o1 = o0;
                const int8_t *r = pp;
                int32_t kh;
                for (kh = 0; kh < 3; ++kh) {
                    int16x8_t x = qnnc_dw8_ld(r, full, p), w = wt[3 * kh];
                    QNNC_DW8_MAC(e0, o0, x, w);
                    x = qnnc_dw8_ld(r + C, full, p);
                    QNNC_DW8_MAC(e1, o1, x, w);
                    w = wt[3 * kh + 1];
                    QNNC_DW8_MAC(e0, o0, x, w);
                    x = qnnc_dw8_ld(r + 2 * C, full, p);
                    QNNC_DW8_MAC(e1, o1, x, w);
                    w = wt[3 * kh + 2];
                    QNNC_DW8_MAC(e0, o0, x, w);
                    x = qnnc_dw8_ld(r + 3 * C, full, p);
                    QNNC_DW8_MAC(e1, o1, x, w);
                    r += rs;
                }
                qnnc_dw8_store2(o, o + C, e0, o0, e1, o1, q, full, p);
                pp += 2 * C;
                o += 2 * C;
            }
        }
        for (; count > 0; --count) {
            int32x4_t e = g->bias[0], od = g->bias[1];
            const int8_t *r = pp;
            int32_t kh;
            for (kh = 0; kh < 3; ++kh) {
                QNNC_DW8_MAC(e, od, qnnc_dw8_ld(r, full, p), wt[3 * kh]);
                QNNC_DW8_MAC(e, od, qnnc_dw8_ld(r + C, full, p), wt[3 * kh + 1]);
                if (ncols == 3) {
                    QNNC_DW8_MAC(e, od, qnnc_dw8_ld(r + 2 * C, full, p), wt[3 * kh + 2]);
                }
                r += rs;
            }
            qnnc_dw8_store(o, e, od, q, full, p);
            pp += g->step;
            o += g->out_step;
        }
        px += g->px_row;
        out += g->out_row;
    }
}

/* The bodies as functions: 8 channels without left shift (the common case: unpredicated,
 * no_left a constant) or the general predicated one; 3 or 2 columns. */
#define QNNC_DW8_RUNS_FN(name, full, ncols)                                                            \
    static QNNC_DW_LOOP_ATTR void name(const qnnc_dw8_block *g, const qnnc_dw8_q *q, mve_pred16_t p)      \
    {                                                                                                  \
        qnnc_dw8_q qc = *q;                                                                            \
        if (full) {                                                                                    \
            qc.no_left = 1;                                                                            \
        }                                                                                              \
        qnnc_dw8_runs_body(g, &qc, full, p, ncols);                                                    \
    }
QNNC_DW8_RUNS_FN(qnnc_dw8_runs_full3, 1, 3)
QNNC_DW8_RUNS_FN(qnnc_dw8_runs_part3, 0, 3)
QNNC_DW8_RUNS_FN(qnnc_dw8_runs_full2, 1, 2)
QNNC_DW8_RUNS_FN(qnnc_dw8_runs_part2, 0, 2)

QNNC_INLINE void qnnc_dw8_runs(const qnnc_dw8_block *g, const qnnc_dw8_q *q, int fast, mve_pred16_t p, int32_t ncols)
{
    if (g->rows <= 0 || g->count <= 0) {
        return;
    }
    if (ncols == 3) {
        if (fast) {
            qnnc_dw8_runs_full3(g, q, p);
        } else {
            qnnc_dw8_runs_part3(g, q, p);
        }
    } else if (fast) {
        qnnc_dw8_runs_full2(g, q, p);
    } else {
        qnnc_dw8_runs_part2(g, q, p);
    }
}

/* One output pixel whose window crosses the border: the in-range taps [kh0, kh1) x [kw0, kw1),
 * offset added to each input. */
static QNNC_DW_LOOP_ATTR void qnnc_dw8_border(const int8_t *r0, int32_t kh0, int32_t kh1, int32_t kw0, int32_t kw1,
                                              const int16x8_t *wt, const qnnc_dw8_q *q, int8_t *out, mve_pred16_t p)
{
    int32x4_t e = q->bias[0], o = q->bias[1];
    int32_t kh, kw;
    for (kh = kh0; kh < kh1; ++kh) {
        const int8_t *r = r0 + kh * q->row_step;
        for (kw = kw0; kw < kw1; ++kw) {
            const int16x8_t x = vaddq_n_s16(vldrbq_z_s16(r + kw * q->C, p), (int16_t)q->off);
            QNNC_DW8_MAC(e, o, x, wt[3 * kh + kw]);
        }
    }
    qnnc_dw8_store(out, e, o, q, 0, p);
}

/* Channels [c, c + n), n <= 8, of every output pixel of a 3x3 dilation-1 layer. wt (scratch):
 * the 9 taps' weights as int16x8. */
static QNNC_DW_LOOP_ATTR void qnnc_dw3x3_group8_mve(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                                    const qnnc_dims *input_dims, const int8_t *in_c0,
                                                    const int8_t *f_c0, const int32_t *bias, int32_t c, int32_t n,
                                                    const qnnc_dims *output_dims, int8_t *out_c0, int16x8_t *wt)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, C = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w;
    const mve_pred16_t p = vctp16q((uint32_t)n);
    const int full = n == 8;
    /* bias + offset term of the windows without column 0 (left border) / column 2 (right) */
    int32x4_t bias_no_col0[2], bias_no_col2[2];
    qnnc_dw8_q q;
    int32_t oh, ow, t, i;
    {
        /* even/odd lane parameters by gathers (once per group) */
        const uint32x4_t ev = vidupq_n_u32(0u, 2), od = vidupq_n_u32(1u, 2);
        const mve_pred16_t pe = vctp32q((uint32_t)(n + 1) / 2u), po = vctp32q((uint32_t)n / 2u);
        const int32x4_t zero = vdupq_n_s32(0);
        int16x8_t ws = vdupq_n_s16(0), wl = ws, wr = ws;
        for (i = 0; i < 2; ++i) {
            const uint32x4_t idx = i == 0 ? ev : od;
            const mve_pred16_t pi = i == 0 ? pe : po;
            const int32x4_t shift = vldrwq_gather_shifted_offset_z_s32(quant->shift + c, idx, pi);
            q.mult[i] = vldrwq_gather_shifted_offset_z_s32(quant->multiplier + c, idx, pi);
            q.left[i] = vmaxq_s32(shift, zero);
            q.neg_right[i] = vmaxq_s32(vminq_s32(shift, zero), vdupq_n_s32(-31));
            q.bias[i] = bias != NULL ? vldrwq_gather_shifted_offset_z_s32(bias + c, idx, pi) : zero;
        }
        for (t = 0; t < 9; ++t) {
            wt[t] = vldrbq_z_s16(f_c0 + t * C, p);
            ws = vaddq_s16(ws, wt[t]); /* |sum| <= 9 * 128: fits int16 */
            if (t % 3 == 0) {
                wl = vaddq_s16(wl, wt[t]); /* column 0 */
            } else if (t % 3 == 2) {
                wr = vaddq_s16(wr, wt[t]); /* column 2 */
            }
        }
        q.bias_in[0] = vmlaq_n_s32(q.bias[0], vmovlbq_s16(ws), params->input_offset);
        q.bias_in[1] = vmlaq_n_s32(q.bias[1], vmovltq_s16(ws), params->input_offset);
        /* windows missing column 0 (left border) or column 2 (right border) */
        ws = vsubq_s16(ws, wl);
        bias_no_col0[0] = vmlaq_n_s32(q.bias[0], vmovlbq_s16(ws), params->input_offset);
        bias_no_col0[1] = vmlaq_n_s32(q.bias[1], vmovltq_s16(ws), params->input_offset);
        ws = vsubq_s16(vaddq_s16(ws, wl), wr);
        bias_no_col2[0] = vmlaq_n_s32(q.bias[0], vmovlbq_s16(ws), params->input_offset);
        bias_no_col2[1] = vmlaq_n_s32(q.bias[1], vmovltq_s16(ws), params->input_offset);
    }
    q.act_min = vdupq_n_s16((int16_t)params->act_min);
    q.act_max = vdupq_n_s16((int16_t)params->act_max);
    q.no_left = 1;
    for (i = 0; i < n; ++i) {
        if (quant->shift[c + i] > 0) {
            q.no_left = 0;
        }
    }
    q.output_offset = params->output_offset;
    q.off = params->input_offset;
    q.C = C;
    q.row_step = in_w * C;
    {
        const int32_t pt = params->pad_top, pl = params->pad_left;
        const int fast = full && q.no_left;
        int32_t r0, r1, c0, c1;
        qnnc_dw8_block g;
        qnnc_dw_inside(out_h, in_h, 3, sh, pt, &r0, &r1);
        qnnc_dw_inside(out_w, in_w, 3, sw, pl, &c0, &c1);
        /* the windows inside the input: one 2-D block */
        g.rows = r1 - r0;
        g.count = c1 - c0;
        g.step = sw * C;
        g.out_step = C;
        g.px_row = sh * q.row_step;
        g.out_row = out_w * C;
        g.px = in_c0 + (r0 * sh - pt) * q.row_step + (c0 * sw - pl) * C;
        g.out = out_c0 + (r0 * out_w + c0) * C;
        g.wt = wt;
        g.bias = q.bias_in;
        qnnc_dw8_runs(&g, &q, fast, p, 3);
        /* the border columns of those rows: vertical runs of 3x2 windows when two columns are in range */
        for (ow = 0; ow < out_w && r0 < r1; ++ow) {
            const int32_t iw0 = ow * sw - pl;
            if (ow == c0 && c0 < c1) {
                ow = c1 - 1; /* skip the inside block */
                continue;
            }
            if ((iw0 == -1 || iw0 + 2 == in_w) && in_w >= 2) {
                const int32_t kw0 = iw0 < 0 ? 1 : 0;
                g.rows = 1;
                g.count = r1 - r0;
                g.step = sh * q.row_step;
                g.out_step = out_w * C;
                g.px = in_c0 + (r0 * sh - pt) * q.row_step + (iw0 + kw0) * C;
                g.out = out_c0 + (r0 * out_w + ow) * C;
                g.wt = wt + kw0;
                g.bias = kw0 ? bias_no_col0 : bias_no_col2;
                qnnc_dw8_runs(&g, &q, fast, p, 2);
                continue;
            }
            for (oh = r0; oh < r1; ++oh) {
                int32_t kw0, kw1;
                qnnc_tap_range(iw0, in_w, 3, 1, &kw0, &kw1);
                qnnc_dw8_border(in_c0 + (oh * sh - pt) * q.row_step + iw0 * C, 0, 3, kw0, kw1, wt, &q,
                                out_c0 + (oh * out_w + ow) * C, p);
            }
        }
        /* every window of the other rows, over its in-range taps */
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * sh - pt;
            int32_t kh0, kh1;
            if (oh == r0 && r0 < r1) {
                oh = r1 - 1;
                continue;
            }
            qnnc_tap_range(ih0, in_h, 3, 1, &kh0, &kh1);
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * sw - pl;
                int32_t kw0, kw1;
                qnnc_tap_range(iw0, in_w, 3, 1, &kw0, &kw1);
                /* (no tap in range: the bias only) */
                qnnc_dw8_border(in_c0 + ih0 * q.row_step + iw0 * C, kh0, kw0 < kw1 ? kh1 : kh0, kw0, kw1, wt, &q,
                                out_c0 + (oh * out_w + ow) * C, p);
            }
        }
    }
}

static QNNC_DW_PATH_ATTR int qnnc_dw_mve(const qnnc_buffer *scratch,
                       const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                       const qnnc_dims *input_dims, const int8_t *input,
                       const qnnc_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t C = input_dims->c;
    const int32_t taps = filter_dims->h * filter_dims->w;
    /* 3x3 dilation 1: 8 channels per int16x8 (same 16 bytes a tap in the scratch) */
    const int dw3x3 = filter_dims->h == 3 && filter_dims->w == 3 && params->dilation_h == 1 &&
                      params->dilation_w == 1;
    int32x4_t *wtab;
    int32_t b, c;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS || scratch == NULL || scratch->buf == NULL) {
        return 0;
    }
    {
        /* int32x4_t wants 8-byte alignment; QNNC_DW_MVE_BUFFER_SIZE has 4 bytes for it. Less
         * than the full size is refused even when the alignment slack is not needed, so a
         * buffer one byte short always takes the portable path (as the other kernels do). */
        const uintptr_t a = ((uintptr_t)scratch->buf + 7u) & ~(uintptr_t)7u;
        if (scratch->size < QNNC_DW_MVE_BUFFER_SIZE(taps) ||
            scratch->size - (int32_t)(a - (uintptr_t)scratch->buf) < 16 * taps) {
            return 0; /* too small: portable path */
        }
        wtab = (int32x4_t *)a;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * input_dims->h * input_dims->w * C;
        int8_t *out_b = output + b * output_dims->h * output_dims->w * C;
        if (dw3x3) {
            for (c = 0; c < C; c += 8) {
                qnnc_dw3x3_group8_mve(params, quant, input_dims, in_b + c, filter + c, bias, c, C - c < 8 ? C - c : 8,
                                      output_dims, out_b + c, (int16x8_t *)wtab);
            }
            continue;
        }
        for (c = 0; c < C; c += 4) {
            qnnc_dw_group_mve(params, quant, input_dims, in_b + c, filter_dims, filter + c, bias, c,
                              C - c < 4 ? C - c : 4, output_dims, out_b + c, wtab);
        }
    }
    if (params->act_lut != NULL) {
        const int32_t n = output_dims->n * output_dims->h * output_dims->w * C;
        int32_t i;
        for (i = 0; i < n; ++i) {
            output[i] = params->act_lut[output[i] + 128];
        }
    }
    return 1;
}
#endif /* QNNC_DW_MVE */

int32_t qnnc_depthwise_conv_s8_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                               const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t taps = filter_dims->h * filter_dims->w;
    (void)output_dims;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS) {
        return 0;
    }
#if defined(QNNC_DW_MVE)
    (void)input_dims;
    return QNNC_DW_MVE_BUFFER_SIZE(taps);
#elif defined(QNNC_DW_DSP)
    return input_dims->c >= 4 ? QNNC_DW_DSP_BUFFER_SIZE(taps) : 0;
#else
    (void)input_dims;
    return 0;
#endif
}

void qnnc_depthwise_conv_s8(const qnnc_buffer *scratch,
                            const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                            const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias,
                            const qnnc_dims *output_dims, int8_t *output)
{
#if defined(QNNC_DW_MVE)
    /* The SIMD paths implement TFLite rounding; other modes take the portable path. */
    if (params->rounding == QNNC_ROUND_TFLITE &&
        qnnc_dw_mve(scratch, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output)) {
        return;
    }
#elif defined(QNNC_DW_DSP)
    if (params->rounding == QNNC_ROUND_TFLITE &&
        qnnc_dw_dsp(scratch, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_dw_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, 0,
                     input_dims->c);
}
