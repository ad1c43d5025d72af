/*
 * qnnc_depthwise_conv_s16_dsp.c - the Armv7E-M DSP path of qnnc_depthwise_conv_s16
 * (Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_depthwise_conv_s16.c). Model: CMSIS-NN arm_depthwise_conv_s16.
 *
 * Depth multiplier 1, input offset 0. Four channels at a time, the taps inside: two word loads
 * of int16 inputs (x0, x1), (x2, x3) and one of four weights, SXTB16 / SXTB16 ROR #8 give
 * (w0, w2), (w1, w3), and SMLABB / SMLATB / SMLABT / SMLATT multiply the matching halves into
 * four int32 sums. A product is at most 2^22 in magnitude, so int32 sums of up to 511 taps are
 * exact (the path takes kernels of at most 511 taps); the int64 bias is added after. Rows of
 * three valid taps (3x3 kernels away from the edges) run without an inner loop. No scratch.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_DSP
#define QNNC_DW16_MAX_TAPS 511 /* 511 * 2^22 < 2^31 */

/* The window of one output pixel: steps to the next input tap in a row and to the next row, the
 * same for the filter, and the valid taps (rows x columns). */
typedef struct {
    int32_t x_row, x_col, f_row, f_col, n_h, n_w;
} qnnc_dw16_window;

/* s0 .. s3 += the products of channels 0 .. 3 at one tap: input xp, weights fp. */
#define QNNC_DW16_TAP(xp, fp)                                                                      \
    do {                                                                                           \
        uint32_t xa_, xb_;                                                                         \
        const uint32_t w_ = qnnc_dsp_rd32(fp);                                                     \
        const int32_t w02_ = __sxtb16((int8x4_t)w_), w13_ = qnnc_dsp_sxtb16_ror8(w_);              \
        memcpy(&xa_, (xp), 4u);                                                                    \
        memcpy(&xb_, (xp) + 2, 4u);                                                                \
        s0 = __smlabb((int32_t)xa_, w02_, s0);                                                     \
        s1 = __smlatb((int32_t)xa_, w13_, s1);                                                     \
        s2 = __smlabt((int32_t)xb_, w02_, s2);                                                     \
        s3 = __smlatt((int32_t)xb_, w13_, s3);                                                     \
    } while (0)

/* s[j] += the products of channel j < 4 over the window's taps (int32 SMLAxy sums); rows of
 * three taps (3x3 kernels away from the edges) without an inner loop. */
QNNC_INLINE void qnnc_dw16_taps4(const int16_t *px, const int8_t *fk, const qnnc_dw16_window *win, int32_t *s)
{
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    int32_t i, j;
    if (win->n_w == 3) {
        const int32_t xc = win->x_col, fc = win->f_col;
        for (i = win->n_h; i > 0; --i) {
            QNNC_DW16_TAP(px, fk);
            QNNC_DW16_TAP(px + xc, fk + fc);
            QNNC_DW16_TAP(px + 2 * xc, fk + 2 * fc);
            px += win->x_row;
            fk += win->f_row;
        }
    } else {
        for (i = win->n_h; i > 0; --i) {
            const int16_t *xp = px;
            const int8_t *fp = fk;
            for (j = win->n_w; j > 0; --j) {
                QNNC_DW16_TAP(xp, fp);
                xp += win->x_col;
                fp += win->f_col;
            }
            px += win->x_row;
            fk += win->f_row;
        }
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* The int32 sums of channels c .. c + 3 of one output pixel over the window (from 0). */
static QNNC_LOOP_ATTR void qnnc_dw16_sum4_dsp(const int16_t *px, const int8_t *fk, const qnnc_dw16_window *win,
                                              int32_t *sum)
{
    sum[0] = sum[1] = sum[2] = sum[3] = 0;
    qnnc_dw16_taps4(px, fk, win, sum);
}

/* Outputs 0 .. 4 * groups - 1 of one pixel in a layer whose sums fit int32 (qnnc_s16_sums_fit):
 * four channels at a time, the sums start from the biases, run over the window's taps and go
 * straight to the output stage. */
static QNNC_LOOP_ATTR void qnnc_dw16_pixel_dsp(const int16_t *px, const int8_t *fk, const qnnc_dw16_window *win,
                                               int32_t groups, const int64_t *bias,
                                               const qnnc_per_channel_quant *quant,
                                               const qnnc_conv_params *params, int16_t *out)
{
    int32_t g;
    for (g = 0; g < groups; ++g) {
        const int32_t c = 4 * g;
        int32_t s[4];
        int32_t j;
        s[0] = qnnc_s16_bias32(bias, c);
        s[1] = qnnc_s16_bias32(bias, c + 1);
        s[2] = qnnc_s16_bias32(bias, c + 2);
        s[3] = qnnc_s16_bias32(bias, c + 3);
        qnnc_dw16_taps4(px + c, fk + c, win, s);
        for (j = 0; j < 4; ++j) {
            out[c + j] = qnnc_output_s16_fast(s[j], quant->multiplier[c + j], quant->shift[c + j],
                                              params->output_offset, params->act_min, params->act_max);
        }
    }
}

/** The DSP depthwise conv (depth multiplier 1, input offset 0, at most 511 taps; else 0 is
 *  returned and the caller runs the portable path). */
QNNC_PATH_ATTR int qnnc_dw_dsp_s16(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                   const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                                   const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims,
                                   int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    int32_t b, oh, ow, c;
    int small;

    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset) ||
        params->depth_multiplier != 1 || in_c != out_c || k_h * k_w > QNNC_DW16_MAX_TAPS) {
        return 0;
    }
    /* the bias and the taps' products fit int32 (qnnc_s16_sums_fit): qnnc_dw16_pixel_dsp */
    small = qnnc_s16_sums_fit(bias, out_c, k_h * k_w);
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < output_dims->h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            for (ow = 0; ow < output_dims->w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw0, kw1;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                {
                    /* the first valid tap, and the steps to the next tap in a row and to the next row */
                    const int empty = kh1 == kh0 || kw1 == kw0; /* a window without valid taps */
                    const int16_t *px = empty ? in_b : in_b + ((ih0 + kh0 * dil_h) * in_w + iw0 + kw0 * dil_w) * in_c;
                    const int8_t *fk = empty ? filter : filter + (kh0 * k_w + kw0) * out_c;
                    const int32_t x_row = dil_h * in_w * in_c, x_col = dil_w * in_c;
                    const int32_t f_row = k_w * out_c, f_col = out_c;
                    qnnc_dw16_window win;
                    win.x_row = x_row;
                    win.x_col = x_col;
                    win.f_row = f_row;
                    win.f_col = f_col;
                    win.n_h = kh1 - kh0;
                    win.n_w = kw1 - kw0;
                    c = 0;
                    if (small) {
                        qnnc_dw16_pixel_dsp(px, fk, &win, out_c >> 2, bias, quant, params, output);
                        c = out_c & ~3;
                    }
                    for (; c < out_c; c += 4) {
                        int32_t sum[4];
                        int32_t j;
                        const int32_t n = out_c - c < 4 ? out_c - c : 4;
                        if (n == 4) {
                            qnnc_dw16_sum4_dsp(px + c, fk + c, &win, sum);
                        } else {
                            int32_t kh, kw;
                            for (j = 0; j < n; ++j) {
                                sum[j] = 0;
                                for (kh = 0; kh < kh1 - kh0; ++kh) {
                                    for (kw = 0; kw < kw1 - kw0; ++kw) {
                                        sum[j] += (int32_t)px[kh * x_row + kw * x_col + c + j] *
                                                  (int32_t)fk[kh * f_row + kw * f_col + c + j];
                                    }
                                }
                            }
                        }
                        for (j = 0; j < n; ++j) {
                            const int32_t oc = c + j;
                            const int64_t acc = (bias != NULL ? bias[oc] : 0) + sum[j];
                            output[oc] = qnnc_output_s16_fast(acc, quant->multiplier[oc], quant->shift[oc],
                                                              params->output_offset, params->act_min,
                                                              params->act_max);
                        }
                    }
                }
                output += out_c;
            }
        }
    }
    return 1;
}
#endif
