/*
 * qnnc_dw_small_mve.h - the Helium int8 depthwise 3x3 conv of small maps (qnnc_depthwise_conv_s8_mve.c:
 * layers of at most QNNC_DW_SMALL_MAP output pixels, such as MobileNet's last 3x3 maps). A part of
 * that file kept in its own file (that file's size); included there after the int16x8 helpers it
 * uses (qnnc_dw8_*), only where QNNC_PATH_MVE is set.
 */
#ifndef QNNC_DW_SMALL_MVE_H
#define QNNC_DW_SMALL_MVE_H

#include "qnnc_internal.h"

#if QNNC_PATH_MVE
/* 3x3 layers of at most this many output pixels take qnnc_dw3x3_small8_mve (its table of windows
 * fits the scratch of 9 taps' weights, QNNC_DW_MVE_BUFFER_SIZE; measured: a 5x5 map is still
 * faster this way, a 6x6 one is not) */
#define QNNC_DW_SMALL_MAP 16

/* Small maps (QNNC_DW_SMALL_MAP output pixels or fewer, e.g. MobileNet's 3x3 maps): every window
 * over its in-range taps, the offset added to each input. The inside block and the border runs
 * of qnnc_dw3x3_group8_mve cost more to set up than such a map (2.4 K instructions a group of 8
 * channels of a 3x3 map), so the windows' tap ranges are found once per layer instead
 * (qnnc_dw_small_windows), a table the channel groups share. */
typedef struct {
    int32_t x;      /* input offset of the window's first in-range tap */
    int8_t t0;      /* that tap's index, 3 * kh0 + kw0 */
    int8_t nh, nw;  /* in-range rows and columns (0 rows: none in range, the bias only) */
    int8_t unused;
} qnnc_dw_small_window;
/* the table fits the scratch of a 3x3 layer (a compile error otherwise) */
typedef char qnnc_dw_small_windows_fit[QNNC_DW_SMALL_MAP * sizeof(qnnc_dw_small_window) <= 16 * 9 ? 1 : -1];

/* The in-range taps of every window of a small 3x3 layer, in output order. */
static void qnnc_dw_small_windows(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                  const qnnc_dims *output_dims, qnnc_dw_small_window *win)
{
    const int32_t C = input_dims->c, row_step = input_dims->w * C;
    int32_t oh, ow;
    for (oh = 0; oh < output_dims->h; ++oh) {
        const int32_t ih0 = oh * params->stride_h - params->pad_top;
        int32_t kh0, kh1;
        qnnc_tap_range(ih0, input_dims->h, 3, 1, &kh0, &kh1);
        for (ow = 0; ow < output_dims->w; ++ow, ++win) {
            const int32_t iw0 = ow * params->stride_w - params->pad_left;
            int32_t kw0, kw1;
            qnnc_tap_range(iw0, input_dims->w, 3, 1, &kw0, &kw1);
            win->nh = (int8_t)(kw0 < kw1 ? kh1 - kh0 : 0);
            win->nw = (int8_t)(kw1 - kw0);
            win->x = win->nh > 0 ? (ih0 + kh0) * row_step + (iw0 + kw0) * C : 0;
            win->t0 = (int8_t)(3 * kh0 + kw0);
            win->unused = 0;
        }
    }
}

/* Channels [c, c + n) of the n_px windows of a small map; fast (a constant): 8 lanes, TFLite
 * rounding without left shifts, as qnnc_dw8_runs. */
QNNC_INLINE void qnnc_dw3x3_small8_body(const qnnc_dw8_q *q, const qnnc_dw_small_window *win, int32_t n_px,
                                        const int8_t *in_c0, const int8_t *f_c0, int8_t *out,
                                        mve_pred16_t p, int fast)
{
    const int32_t C = q->C;
    const int16_t off = (int16_t)q->off;
    for (; n_px > 0; --n_px, ++win, out += C) {
        int32x4_t e = q->bias[0], o = q->bias[1];
        int32_t kh = win->nh;
        if (kh > 0) {
            /* the pointers step only between taps in range (never past the input or the filter):
             * from a row's last tap to the next row's first, xskip / wskip */
            const int32_t nw = win->nw, xskip = q->row_step - (nw - 1) * C, wskip = (4 - nw) * C;
            const int8_t *r = in_c0 + win->x, *f = f_c0 + win->t0 * C;
            for (;;) {
                int32_t kw = nw;
                for (;;) {
                    const int16x8_t x = vaddq_n_s16(qnnc_dw8_ld(r, fast, p), off);
                    QNNC_DW8_MAC(e, o, x, qnnc_dw8_ld(f, fast, p));
                    if (--kw == 0) {
                        break;
                    }
                    r += C;
                    f += C;
                }
                if (--kh == 0) {
                    break;
                }
                r += xskip;
                f += wskip;
            }
        }
        if (fast) {
            qnnc_dw8_out(out, qnnc_dw8_rq(e, q->mult[0], q->left[0], q->neg_right[0], 1, 0),
                         qnnc_dw8_rq(o, q->mult[1], q->left[1], q->neg_right[1], 1, 0), q, 1, p);
        } else {
            qnnc_dw8_store(out, e, o, q, 0, p);
        }
    }
}

#define QNNC_DW3X3_SMALL8_FN(name, fast)                                                                  \
    static QNNC_LOOP_ATTR void name(const qnnc_dw8_q *q, const qnnc_dw_small_window *win, int32_t n_px,    \
                                    const int8_t *in_c0, const int8_t *f_c0, int8_t *out, mve_pred16_t p)   \
    {                                                                                                     \
        qnnc_dw3x3_small8_body(q, win, n_px, in_c0, f_c0, out, p, fast);                                  \
    }
QNNC_DW3X3_SMALL8_FN(qnnc_dw3x3_small8_fast, 1)
QNNC_DW3X3_SMALL8_FN(qnnc_dw3x3_small8_any, 0)

/* Channels [c, c + n), n <= 8, of every output pixel of a small 3x3 dilation-1 layer whose
 * windows are win (qnnc_dw_small_windows). */
static QNNC_LOOP_ATTR void qnnc_dw3x3_small8_mve(const qnnc_conv_params *params,
                                                  const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                                  const int8_t *in_c0, const int8_t *f_c0, const int32_t *bias,
                                                  int32_t c, int32_t n, const qnnc_dims *output_dims,
                                                  int8_t *out_c0, const qnnc_dw_small_window *win)
{
    const mve_pred16_t p = vctp16q((uint32_t)n);
    const int32_t n_px = output_dims->h * output_dims->w;
    qnnc_dw8_q q;
    qnnc_dw8_q_setup(params, quant, bias, c, n, input_dims->c, input_dims->w, &q);
    if (n == 8 && q.rq == 0 && q.no_left) {
        qnnc_dw3x3_small8_fast(&q, win, n_px, in_c0, f_c0, out_c0, p);
    } else {
        qnnc_dw3x3_small8_any(&q, win, n_px, in_c0, f_c0, out_c0, p);
    }
}

#endif /* QNNC_PATH_MVE */
#endif /* QNNC_DW_SMALL_MVE_H */
