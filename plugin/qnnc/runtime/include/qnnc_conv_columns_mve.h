/*
 * qnnc_conv_columns_mve.h - the columns of the Helium int8 conv (qnnc_conv_s8_mve.c): int8 im2col
 * columns per pixel (padding taps = the input zero point, so the input offset folds into the
 * bias), and the column strips of layers whose columns overlap down an output column. A part of
 * qnnc_conv_s8_mve.c kept in its own file (that file's size); included there, only where
 * QNNC_PATH_MVE is set.
 */
#ifndef QNNC_CONV_COLUMNS_MVE_H
#define QNNC_CONV_COLUMNS_MVE_H

#include "qnnc_internal.h"

#if QNNC_PATH_MVE
/* The kernel-row groups of the Helium conv's column strip (QNNC_CONV_MVE_STRIP_SIZE): no dilation,
 * not read in place, not the outer-product shape; 0 for other layers. */
QNNC_INLINE int32_t qnnc_conv_strip_groups(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                           const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    if (params->dilation_h != 1 || params->dilation_w != 1 ||
        QNNC_CONV_MVE_OUTER(K, output_dims->c) || qnnc_conv_direct(params, input_dims, filter_dims, output_dims)) {
        return 0;
    }
    return (output_dims->h - 1) * params->stride_h + filter_dims->h;
}

/* n bytes from src to dst, 16 at a time, the last vector predicated. */
QNNC_INLINE void qnnc_conv_copy_mve(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 16; n -= 16) {
        vstrbq_s8(dst, vldrbq_s8(src));
        src += 16;
        dst += 16;
    }
    if (n > 0) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
    }
}

/* n bytes of dst set to v, 16 at a time, the last vector predicated. */
QNNC_INLINE void qnnc_conv_fill_mve(int8_t *dst, int8x16_t v, int32_t n)
{
    for (; n > 0; n -= 16) {
        vstrbq_p_s8(dst, v, vctp8q((uint32_t)n));
        dst += 16;
    }
}

/* The im2col column of a window entirely inside the input (no dilation along w): k_h runs of
 * `run` bytes, `step` bytes apart (most windows of a 3x3 layer; no range logic at all). */
static void qnnc_conv_im2col_inside_s8(const int8_t *src, int32_t step, int32_t run, int32_t k_h, int8_t *col)
{
    int32_t kh;
    for (kh = 0; kh < k_h; ++kh) {
        qnnc_conv_copy_mve(col, src, run);
        src += step;
        col += run;
    }
}

/* The im2col column of a first layer (a kernel row of k_w * in_c <= 16 bytes, no dilation along
 * w): per kernel row one vector load of the in-range taps, the padding merged in by VPSEL, one
 * store (KWS's 10x4 kernel on one channel: 10 loads instead of 10 calls of the run loops). */
static void qnnc_conv_im2col_short_s8(const qnnc_conv_params *params, const int8_t *in_b, int32_t in_h,
                                      int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w, int32_t ih0,
                                      int32_t iw0, int8_t *col)
{
    const int8x16_t pad = vdupq_n_s8((int8_t)(-params->input_offset));
    const int32_t run = k_w * in_c;
    const int32_t dil_h = params->dilation_h;
    const mve_pred16_t row_p = vctp8q((uint32_t)run);
    int32_t kw0, kw1, kh;
    mve_pred16_t in_p;
    qnnc_tap_range(iw0, in_w, k_w, 1, &kw0, &kw1);
    /* lanes [kw0 * in_c, kw1 * in_c) hold input taps */
    in_p = (mve_pred16_t)(vctp8q((uint32_t)(kw1 * in_c)) & ~vctp8q((uint32_t)(kw0 * in_c)));
    for (kh = 0; kh < k_h; ++kh, col += run) {
        const int32_t ih = ih0 + kh * dil_h;
        int8x16_t v = pad;
        if (ih >= 0 && ih < in_h && kw1 > kw0) {
            /* the load starts at the window's first tap (kw0 > 0: before the row, those lanes
             * are not read; the address is computed as an integer, since a pointer before the
             * input would be undefined in C) */
            const int8_t *src = (const int8_t *)((uintptr_t)(in_b + (ih * in_w + iw0 + kw0) * in_c) -
                                                 (uintptr_t)(kw0 * in_c));
            v = vpselq_s8(vldrbq_z_s8(src, in_p), pad, in_p);
        }
        vstrbq_p_s8(col, v, row_p);
    }
}

/* int8 im2col column with padding taps = the input zero point (so x + offset == 0 there).
 * The in-range taps of the window are found once (qnnc_tap_range), so without dilation along
 * w each kernel row is at most padding / one contiguous run / padding (first layers with 1-3
 * input channels: the per-tap loops cost 8x more). */
static void qnnc_conv_im2col_s8(const qnnc_conv_params *params, const int8_t *in_b, int32_t in_h,
                                int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w, int32_t ih0,
                                int32_t iw0, int8_t *col)
{
    const int8x16_t pad = vdupq_n_s8((int8_t)(-params->input_offset));
    const int32_t run = k_w * in_c;
    int32_t kh0, kh1, kw0, kw1, kh, kw;
    qnnc_tap_range(ih0, in_h, k_h, params->dilation_h, &kh0, &kh1);
    qnnc_tap_range(iw0, in_w, k_w, params->dilation_w, &kw0, &kw1);
    if (kw0 == kw1 || kh0 == kh1) {
        qnnc_conv_fill_mve(col, pad, k_h * run); /* no tap in range */
        return;
    }
    if (kh0 > 0) {
        qnnc_conv_fill_mve(col, pad, kh0 * run);
    }
    {
        const int32_t dil_w = params->dilation_w;
        const int32_t row_step = params->dilation_h * in_w * in_c;
        const int32_t m = (kw1 - kw0) * in_c; /* in-range bytes of a row (dilation 1) */
        const int partial = kw0 > 0 || kw1 < k_w;
        /* offset of the window's row start (iw0 may be < 0: only in-range taps form pointers) */
        int32_t at = ((ih0 + kh0 * params->dilation_h) * in_w + iw0) * in_c;
        int8_t *dst = col + kh0 * run;
        for (kh = kh0; kh < kh1; ++kh) {
            if (dil_w == 1) {
                if (partial) {
                    qnnc_conv_fill_mve(dst, pad, run);
                }
                if (m >= 16) {
                    qnnc_conv_copy_mve(dst + kw0 * in_c, in_b + at + kw0 * in_c, m);
                } else {
                    qnnc_copy_s8(dst + kw0 * in_c, in_b + at + kw0 * in_c, m); /* first layers: a few words */
                }
            } else {
                for (kw = 0; kw < k_w; ++kw) {
                    if (kw >= kw0 && kw < kw1) {
                        qnnc_conv_copy_mve(dst + kw * in_c, in_b + at + kw * dil_w * in_c, in_c);
                    } else {
                        qnnc_conv_fill_mve(dst + kw * in_c, pad, in_c);
                    }
                }
            }
            at += row_step;
            dst += run;
        }
    }
    if (kh1 < k_h) {
        qnnc_conv_fill_mve(col + kh1 * run, pad, (k_h - kh1) * run);
    }
}

/* The column strip of one output column (input columns iw0 .. iw0 + k_w - 1): group r holds input
 * row r - pad_top's k_w taps (k_w * in_c bytes; padding = the input zero point), so the column of
 * output pixel (oh, ow) is the k_h groups from group oh * stride_h: K contiguous bytes (the
 * filter's (kh, kw, c) order). Each input byte is copied once per output column it reaches (k_w
 * times), not once per window (k_h * k_w times). */
static QNNC_LOOP_ATTR void qnnc_conv_mve_strip(const qnnc_conv_params *params, const int8_t *in_b, int32_t in_h,
                                               int32_t in_w, int32_t in_c, int32_t k_w, int32_t iw0, int32_t groups,
                                               int8_t *strip)
{
    const int8x16_t pad = vdupq_n_s8((int8_t)(-params->input_offset));
    const int32_t G = k_w * in_c, row_step = in_w * in_c, pt = params->pad_top;
    /* the groups of input rows [0, in_h): [r0, r1) */
    const int32_t r0 = pt < groups ? pt : groups;
    const int32_t r1 = pt + in_h < groups ? pt + in_h : groups;
    int32_t kw0, kw1, m, r;
    qnnc_tap_range(iw0, in_w, k_w, 1, &kw0, &kw1);
    m = (kw1 - kw0) * in_c;
    if (m <= 0 || r1 <= r0) {
        qnnc_conv_fill_mve(strip, pad, groups * G); /* no tap in range */
        return;
    }
    qnnc_conv_fill_mve(strip, pad, r0 * G); /* the padding rows above */
    {
        const int8_t *src = in_b + ((r0 - pt) * in_w + iw0 + kw0) * in_c;
        int8_t *dst = strip + r0 * G + kw0 * in_c;
        if (m < G) { /* a border column: the rows' padding taps first */
            qnnc_conv_fill_mve(strip + r0 * G, pad, (r1 - r0) * G);
        }
        for (r = r0; r < r1; ++r) {
            qnnc_conv_copy_mve(dst, src, m);
            src += row_step;
            dst += G;
        }
    }
    qnnc_conv_fill_mve(strip + r1 * G, pad, (groups - r1) * G); /* and below */
}

/* The input geometry an im2col column needs (constant over a layer). */
typedef struct {
    const qnnc_conv_params *params;
    int32_t in_h, in_w, in_c, k_h, k_w;
    int32_t step;   /* bytes between the kernel rows of a window */
    int32_t span_h; /* (k_h - 1) * dilation_h */
    int short_rows; /* kernel rows of at most one vector, no dilation along w: the first-layer gather */
    mve_pred16_t row_p; /* short_rows: the lanes of one kernel row (k_w * in_c) */
} qnnc_conv_mve_geo_t;

/* The column of a window inside the input whose kernel rows are at most one vector each: per
 * row one predicated load and store, no tap ranges (MobileNetV1's first conv: 60 instructions a
 * column instead of 109). */
QNNC_INLINE void qnnc_conv_im2col_short_inside(const qnnc_conv_mve_geo_t *g, const int8_t *src, int8_t *col)
{
    const mve_pred16_t p = g->row_p;
    const int32_t run = g->k_w * g->in_c, step = g->step;
    int32_t kh = g->k_h;
    for (;;) {
        vstrbq_p_s8(col, vldrbq_z_s8(src, p), p);
        if (--kh == 0) {
            break; /* (src never steps past the window's last row) */
        }
        src += step;
        col += run;
    }
}

/* The int8 im2col column of the window at (ih, iw): inside, first-layer short rows, or runs. */
static QNNC_LOOP_ATTR void qnnc_conv_mve_column(const qnnc_conv_mve_geo_t *g, const int8_t *in_b, int32_t ih,
                                                     int32_t iw, int8_t *col)
{
    const qnnc_conv_params *params = g->params;
    const int inside = ih >= 0 && ih + g->span_h < g->in_h && iw >= 0 && iw + g->k_w <= g->in_w;
    if (g->short_rows) {
        if (inside) {
            qnnc_conv_im2col_short_inside(g, in_b + (ih * g->in_w + iw) * g->in_c, col);
        } else {
            qnnc_conv_im2col_short_s8(params, in_b, g->in_h, g->in_w, g->in_c, g->k_h, g->k_w, ih, iw, col);
        }
    } else if (params->dilation_w == 1 && inside) {
        qnnc_conv_im2col_inside_s8(in_b + (ih * g->in_w + iw) * g->in_c, g->step, g->k_w * g->in_c, g->k_h, col);
    } else {
        qnnc_conv_im2col_s8(params, in_b, g->in_h, g->in_w, g->in_c, g->k_h, g->k_w, ih, iw, col);
    }
}

#endif /* QNNC_PATH_MVE */
#endif /* QNNC_CONV_COLUMNS_MVE_H */
