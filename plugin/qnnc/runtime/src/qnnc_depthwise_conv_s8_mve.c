/*
 * qnnc_depthwise_conv_s8_mve.c - the Helium path of qnnc_depthwise_conv_s8 (__ARM_FEATURE_MVE:
 * Cortex-M55/M85; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_depthwise_conv_s8.c).
 *
 * Depth multiplier 1. 3x3 dilation 1: 8 channels per int16x8 vector (VLDRB.S16, VMULLB/VMULLT
 * into even/odd int32x4 accumulators), the windows inside the input as a 2-D block of runs and
 * the border columns as runs of 3x2 windows, the offset term folded into the bias of exactly
 * the taps used; maps of at most QNNC_DW_SMALL_MAP pixels window by window
 * (qnnc_dw_small_mve.h). Other kernels: 4 channels per int32x4 vector. Two horizontally
 * adjacent output pixels share each input column load. The widened weights live in the
 * caller's scratch buffer (QNNC_DW_MVE_BUFFER_SIZE).
 */
#include "qnnc_internal.h"

#if QNNC_PATH_MVE
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

/* Half-even rounding lane by lane (qnnc_requantize_half_even): the layers qnnc_mve_rq_he_neg
 * cannot take (a shift >= 0 or < -30; out of line, rare). */
static QNNC_LOOP_ATTR int32x4_t qnnc_dw_rq_he_lanes(int32x4_t acc, int32x4_t mult, int32x4_t shift)
{
    int32_t a[4], m[4], s[4];
    int32_t i;
    vst1q_s32(a, acc);
    vst1q_s32(m, mult);
    vst1q_s32(s, shift);
    for (i = 0; i < 4; ++i) {
        a[i] = qnnc_requantize_half_even(a[i], m[i], s[i]);
    }
    return vld1q_s32(a);
}

/* Half-even, modes 1 and 2 of qnnc_dw_rq_mode, out of line (keeps the general loops small). */
static QNNC_LOOP_ATTR int32x4_t qnnc_dw_rq_he(int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t neg_right,
                                              int rq)
{
    return rq == 1 ? qnnc_mve_rq_he_neg(acc, mult, neg_right, left) : qnnc_dw_rq_he_lanes(acc, mult, left);
}

/* The requantization modes (rq): 0 TFLite (left = the left shifts, neg_right = minus the right
 * shifts); 1 half-even with every shift in [-30, -1] (qnnc_mve_rq_he_neg: left = 2^s, neg_right
 * = -s, s = -1 - shift); 2 half-even lane by lane (left = the shifts). */
QNNC_INLINE int32x4_t qnnc_dw_rq_mode(int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t neg_right, int rq)
{
    if (rq != 0) {
        return qnnc_dw_rq_he(acc, mult, left, neg_right, rq);
    }
    return qnnc_mve_requantize(acc, mult, left, neg_right);
}

/* The mode (qnnc_dw_rq_mode) of channels [c, c + n) and its vectors from the shifts. */
static int qnnc_dw_rq_setup(const qnnc_conv_params *params, const int32_t *shift, int32_t n, int32x4_t sh,
                            int32x4_t *left, int32x4_t *neg_right)
{
    int32_t i;
    int rq = params->rounding == QNNC_ROUND_HALF_EVEN ? 1 : 0;
    for (i = 0; i < n && rq == 1; ++i) {
        rq = shift[i] <= -1 && shift[i] >= -30 ? 1 : 2;
    }
    if (rq == 0) {
        const int32x4_t zero = vdupq_n_s32(0);
        *left = vmaxq_s32(sh, zero);
        *neg_right = vmaxq_s32(vminq_s32(sh, zero), vdupq_n_s32(-31));
    } else if (rq == 1) {
        *neg_right = vaddq_n_s32(sh, 1);                                   /* -s */
        *left = vshlq_s32(vdupq_n_s32(1), vsubq_s32(vdupq_n_s32(0), *neg_right)); /* 2^s */
    } else {
        *left = sh;
    }
    return rq;
}

/* Requantize 4 int32 lanes exactly (qnnc_dw_rq_mode), clamp, add the offset, store 4 bytes. */
QNNC_INLINE void qnnc_dw_out_mve(int8_t *out, int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t neg_right,
                                 int32x4_t lo, int32x4_t hi, int32_t output_offset, mve_pred16_t p, int rq)
{
    vstrbq_p_s32(out, qnnc_mve_clamp_offset(qnnc_dw_rq_mode(acc, mult, left, neg_right, rq), lo, hi, output_offset),
                 p);
}

/* Channels [c, c + 4) (predicated: n of them) of every output pixel: kernels other than 3x3
 * dilation 1 (those take the int16x8 path below). */
static QNNC_LOOP_ATTR void qnnc_dw_group_mve(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
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
    int32x4_t left, neg_right;
    const int rq = qnnc_dw_rq_setup(params, quant->shift + c, n, shift, &left, &neg_right);
    const int32x4_t vbias = bias != NULL ? vldrwq_z_s32(bias + c, p) : zero;
    int32x4_t bias_in; /* bias + off * sum of all the taps' weights: for windows inside */
    /* wtab (scratch): the group's weights widened to int32 lanes, per tap (<= QNNC_DW_MAX_TAPS) */
    int32_t oh, ow, kh, kw;
    {
        int32x4_t ws = zero;
        for (kh = 0; kh < k_h * k_w; ++kh) {
            wtab[kh] = vldrbq_z_s32(f_c0 + kh * C, p);
            ws = vaddq_s32(ws, wtab[kh]);
        }
        bias_in = vmlaq_n_s32(vbias, ws, off);
    }
    for (oh = 0; oh < out_h; ++oh) {
        const int32_t ih0 = oh * params->stride_h - params->pad_top;
        const int rows_inside = ih0 >= 0 && ih0 + (k_h - 1) * dh < in_h;
        for (ow = 0; ow < out_w; ++ow) {
            const int32_t iw0 = ow * sw - params->pad_left;
            const int cols_inside = iw0 >= 0 && iw0 + (k_w - 1) * dw < in_w;
            int8_t *out = out_c0 + (oh * out_w + ow) * C;
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
                    qnnc_dw_out_mve(out, a0, mult, left, neg_right, lo, hi, params->output_offset, p, rq);
                    qnnc_dw_out_mve(out + C, a1, mult, left, neg_right, lo, hi, params->output_offset, p, rq);
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
                    qnnc_dw_out_mve(out, a0, mult, left, neg_right, lo, hi, params->output_offset, p, rq);
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
                qnnc_dw_out_mve(out, a0, mult, left, neg_right, lo, hi, params->output_offset, p, rq);
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
    /* [0]: even lanes, [1]: odd; left and neg_right as qnnc_dw_rq_mode wants them for rq */
    int32x4_t mult[2], left[2], neg_right[2], bias[2], bias_in[2];
    int16x8_t act_min, act_max;
    int32_t output_offset, off, C, row_step;
    int no_left; /* every shift <= 0: no saturating left shift */
    int rq;      /* the requantization mode (qnnc_dw_rq_mode) */
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

/* Requantize one int32x4 of the layout exactly (qnnc_mve_requantize); no clamp yet. */
QNNC_INLINE int32x4_t qnnc_dw8_rq(int32x4_t a, int32x4_t mult, int32x4_t left, int32x4_t neg_right, int no_left,
                                  int rq)
{
    if (rq != 0) {
        return qnnc_dw_rq_mode(a, mult, left, neg_right, rq);
    }
    return qnnc_mve_round_shift(vqrdmulhq_s32(no_left ? a : vqshlq_s32(a, left), mult), neg_right);
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
    const int32x4_t vE = qnnc_dw8_rq(aE, q->mult[0], q->left[0], q->neg_right[0], q->no_left, q->rq);
    const int32x4_t vO = qnnc_dw8_rq(aO, q->mult[1], q->left[1], q->neg_right[1], q->no_left, q->rq);
    qnnc_dw8_out(out, vE, vO, q, full, p);
}

/* Two pixels' accumulators: each lane half's parameters loaded once for both. */
QNNC_INLINE void qnnc_dw8_store2(int8_t *out0, int8_t *out1, int32x4_t e0, int32x4_t o0, int32x4_t e1, int32x4_t o1,
                                 const qnnc_dw8_q *q, int full, mve_pred16_t p)
{
    int32x4_t m = q->mult[0], l = q->left[0], r = q->neg_right[0];
    e0 = qnnc_dw8_rq(e0, m, l, r, q->no_left, q->rq);
    e1 = qnnc_dw8_rq(e1, m, l, r, q->no_left, q->rq);
    m = q->mult[1];
    l = q->left[1];
    r = q->neg_right[1];
    o0 = qnnc_dw8_rq(o0, m, l, r, q->no_left, q->rq);
    o1 = qnnc_dw8_rq(o1, m, l, r, q->no_left, q->rq);
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
    static QNNC_LOOP_ATTR void name(const qnnc_dw8_block *g, const qnnc_dw8_q *q, mve_pred16_t p)      \
    {                                                                                                  \
        qnnc_dw8_q qc = *q;                                                                            \
        if (full) {                                                                                    \
            qc.no_left = 1;                                                                            \
            qc.rq = 0; /* (full runs are TFLite only) */                                                \
        }                                                                                              \
        qnnc_dw8_runs_body(g, &qc, full, p, ncols);                                                    \
    }
QNNC_DW8_RUNS_FN(qnnc_dw8_runs_full3, 1, 3)
QNNC_DW8_RUNS_FN(qnnc_dw8_runs_part3, 0, 3)
QNNC_DW8_RUNS_FN(qnnc_dw8_runs_full2, 1, 2)
QNNC_DW8_RUNS_FN(qnnc_dw8_runs_part2, 0, 2)

/* fast: all 8 lanes, TFLite rounding without left shifts; else the general body (half-even:
 * the requantization out of line, a specialized copy of the runs would cost 1.4 KB of flash). */
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

/* The constants of channels [c, c + n), n <= 8, in the even/odd lane layout (gathers, once per
 * group of 8 channels); bias_in is left to the caller. */
static void qnnc_dw8_q_setup(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                             const int32_t *bias, int32_t c, int32_t n, int32_t C, int32_t in_w, qnnc_dw8_q *q)
{
    const uint32x4_t ev = vidupq_n_u32(0u, 2), od = vidupq_n_u32(1u, 2);
    const mve_pred16_t pe = vctp32q((uint32_t)(n + 1) / 2u), po = vctp32q((uint32_t)n / 2u);
    int32_t i;
    for (i = 0; i < 2; ++i) {
        const uint32x4_t idx = i == 0 ? ev : od;
        const mve_pred16_t pi = i == 0 ? pe : po;
        const int32x4_t shift = vldrwq_gather_shifted_offset_z_s32(quant->shift + c, idx, pi);
        q->mult[i] = vldrwq_gather_shifted_offset_z_s32(quant->multiplier + c, idx, pi);
        q->rq = qnnc_dw_rq_setup(params, quant->shift + c, n, shift, &q->left[i], &q->neg_right[i]);
        q->bias[i] = bias != NULL ? vldrwq_gather_shifted_offset_z_s32(bias + c, idx, pi) : vdupq_n_s32(0);
    }
    q->act_min = vdupq_n_s16((int16_t)params->act_min);
    q->act_max = vdupq_n_s16((int16_t)params->act_max);
    q->no_left = 1;
    for (i = 0; i < n; ++i) {
        if (quant->shift[c + i] > 0) {
            q->no_left = 0;
        }
    }
    q->output_offset = params->output_offset;
    q->off = params->input_offset;
    q->C = C;
    q->row_step = in_w * C;
}

/* One output pixel whose window crosses the border: the in-range taps [kh0, kh1) x [kw0, kw1),
 * offset added to each input. */
static QNNC_LOOP_ATTR void qnnc_dw8_border(const int8_t *r0, int32_t kh0, int32_t kh1, int32_t kw0, int32_t kw1,
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

#include "qnnc_dw_small_mve.h" /* maps of at most QNNC_DW_SMALL_MAP pixels, window by window */

/* Channels [c, c + n), n <= 8, of every output pixel of a 3x3 dilation-1 layer. wt (scratch):
 * the 9 taps' weights as int16x8. */
static QNNC_LOOP_ATTR void qnnc_dw3x3_group8_mve(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
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
    int32_t oh, ow, t;
    qnnc_dw8_q_setup(params, quant, bias, c, n, C, in_w, &q);
    {
        int16x8_t ws = vdupq_n_s16(0), wl = ws, wr = ws;
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
    {
        const int32_t pt = params->pad_top, pl = params->pad_left;
        const int fast = full && q.rq == 0 && q.no_left;
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

#include "qnnc_dw_rows_mve.h" /* 3x3 stride 1 "same": one channel, 4 rows per vector */

QNNC_PATH_ATTR int qnnc_dw_mve_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                  const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                  const int8_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t C = input_dims->c, taps = filter_dims->h * filter_dims->w;
    /* 3x3 dilation 1: 8 channels per int16x8 (same 16 bytes a tap in the scratch) */
    const int rows = qnnc_dw_rows_ok(params, quant, input_dims, filter_dims, output_dims);
    const int dw3x3 = filter_dims->h == 3 && filter_dims->w == 3 && params->dilation_h == 1 &&
                      params->dilation_w == 1;
    /* a small map: its windows' tap ranges, found once (qnnc_dw3x3_small8_mve) */
    const int small = dw3x3 && output_dims->h * output_dims->w <= QNNC_DW_SMALL_MAP;
    qnnc_dw_small_window *win; /* (the scratch of the weights table, which small maps do not use) */
    int32x4_t *wtab;
    int32_t b, c;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS || scratch == NULL || scratch->buf == NULL) {
        return 0;
    }
    /* int32x4_t wants 8-byte alignment; QNNC_DW_MVE_BUFFER_SIZE has 4 bytes for it. Less than
     * the full size is refused even when the alignment slack is not needed, so a buffer one
     * byte short always takes the portable path (as the other kernels do). */
    if (scratch->size < QNNC_DW_MVE_BUFFER_SIZE(taps) || !qnnc_scratch_fits(scratch, 8u, 16 * taps)) {
        return 0; /* too small: portable path */
    }
    wtab = (int32x4_t *)qnnc_scratch_align(scratch, 8u);
    win = (qnnc_dw_small_window *)(void *)wtab;
    if (small) {
        qnnc_dw_small_windows(params, input_dims, output_dims, win);
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * input_dims->h * input_dims->w * C;
        int8_t *out_b = output + b * output_dims->h * output_dims->w * C;
        if (rows) { /* 3x3 stride 1 "same", output [0, 255] - 128: qnnc_dw_rows_mve.h */
            qnnc_dw_rows_mve(params, quant, input_dims, in_b, filter, bias, out_b);
            continue;
        }
        if (small) {
            for (c = 0; c < C; c += 8) {
                qnnc_dw3x3_small8_mve(params, quant, input_dims, in_b + c, filter + c, bias, c, C - c < 8 ? C - c : 8,
                                      output_dims, out_b + c, win);
            }
            continue;
        }
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
    if (params->act_lut != NULL) { /* (a helper call here costs the channel loop above a register) */
        const int32_t n = output_dims->n * output_dims->h * output_dims->w * C;
        int32_t i;
        for (i = 0; i < n; ++i) {
            output[i] = params->act_lut[output[i] + 128];
        }
    }
    return 1;
}
#endif /* QNNC_PATH_MVE */
