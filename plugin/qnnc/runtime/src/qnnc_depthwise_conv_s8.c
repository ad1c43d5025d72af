/*
 * qnnc_depthwise_conv_s8 - int8 depthwise convolution, NHWC input, [kh][kw][out_ch] filter: the
 * entry point, the dispatch and the portable path (body: qnnc_conv_impl.h, shared
 * with qnnc_depthwise_conv_s4). Reference: qnnc/reference/kernels.py:depthwise_conv_s8.
 *
 * Paths, chosen at compile time from the compiler's own macros (qnnc_internal.h), for depth
 * multiplier 1 (other multipliers, and the DSP path's last in_c % 4 channels, use the portable
 * loops):
 *   - Helium (__ARM_FEATURE_MVE): qnnc_depthwise_conv_s8_mve.c, 8 channels per int16x8 vector
 *     for 3x3 dilation 1, else 4 channels per int32x4 vector.
 *   - Armv7E-M DSP (__ARM_FEATURE_DSP): qnnc_depthwise_conv_s8_dsp.c, 4 channels per word,
 *     SMLABB/SMLATT per tap, 3x3 windows inside the input fully unrolled.
 * Both rounding modes (TFLite's and half-even) on every path.
 *   - Portable C99 otherwise: for multiplier 1 one
 *     channel at a time, output pixels in pairs per weight load, the offset folded into the
 *     bias for windows inside the input (qnnc_dw_m1_s8 below).
 * The weight tables live in the caller's scratch buffer (QNNC_DW_{DSP,MVE}_BUFFER_SIZE in
 * qnnc_kernels.h); a NULL or too small buffer selects the portable path.
 */
#define QNNC_REQUANTIZE_CALL qnnc_dw_s8_requantize /* qnnc_rq_out's rare cases (qnnc_internal.h) */
#include "qnnc_internal.h"

/* The generic portable loops (any depth multiplier): qnnc_conv_impl.h. */
#define QNNC_FN qnnc_dw_generic_s8
#define QNNC_FN_STORAGE static QNNC_PATH_ATTR
#define QNNC_W_T const int8_t *
#define QNNC_W_AT(filter, i) ((filter) + (i))
#define QNNC_WEIGHT(filter, w, k) ((int32_t)(w)[k])
#define QNNC_DEPTHWISE 1
#include "qnnc_conv_impl.h"

/* Depth multiplier 1, portable: per output pixel pair (vertical neighbours when two output rows
 * use the same kernel rows, else horizontal ones with the same taps, else one pixel) the window
 * geometry is worked out once, then the channel loop runs innermost over the contiguous NHWC
 * channels (qnnc_dw_px_s8): each weight load feeds both pixels, the weights' sum (one add per
 * tap, shared by the pair) times input_offset is added once instead of the offset per input. */

/** What qnnc_dw_px_s8 reads (the layer's constants and one pixel pair's window). */
typedef struct {
    const qnnc_conv_params *params;
    const qnnc_per_channel_quant *quant;
    const int32_t *bias;
    int32_t x_row, x_tap, w_row, w_tap; /* strides between kernel rows / taps */
    int32_t rows, cols;                 /* the window's taps */
    int32_t x_pair, o_pair, two;        /* the second pixel (when two): input and output offsets */
} qnnc_dw_ctx;

/** Channels [c0, c1) of one or two output pixels (w, x, out at channel 0 of the first tap /
 *  output). */
static QNNC_LOOP_ATTR void qnnc_dw_px_s8(const qnnc_dw_ctx *k, const int8_t *w, const int8_t *x, int8_t *out,
                                         int32_t c0, int32_t c1)
{
    const qnnc_conv_params *params = k->params;
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int32_t x_row = k->x_row, x_tap = k->x_tap, w_row = k->w_row, w_tap = k->w_tap;
    const int32_t rows = k->rows, cols = k->cols, x_pair = k->x_pair, o_pair = k->o_pair, two = k->two;
    const int32_t *bias = k->bias;
    int32_t c, r, t;
    qnnc_rq q;
    for (c = c0; c < c1; ++c) {
        int32_t a0 = 0, a1 = 0, s = 0, wo = c, xo = c, base;
        if (cols == 3) {
            for (r = 0; r < rows; ++r) {
                const int32_t w0 = w[wo], w1 = w[wo + w_tap], w2 = w[wo + 2 * w_tap];
                s += w0 + w1 + w2;
                a0 += w0 * x[xo] + w1 * x[xo + x_tap] + w2 * x[xo + 2 * x_tap];
                if (two) {
                    a1 += w0 * x[xo + x_pair] + w1 * x[xo + x_pair + x_tap] + w2 * x[xo + x_pair + 2 * x_tap];
                }
                wo += w_row;
                xo += x_row;
            }
        } else {
            for (r = 0; r < rows; ++r) {
                int32_t wi = wo, xi = xo;
                for (t = 0; t < cols; ++t) {
                    const int32_t wv = w[wi];
                    s += wv;
                    a0 += wv * x[xi];
                    if (two) {
                        a1 += wv * x[xi + x_pair];
                    }
                    wi += w_tap;
                    xi += x_tap;
                }
                wo += w_row;
                xo += x_row;
            }
        }
        base = (bias != NULL ? bias[c] : 0) + input_offset * s;
        qnnc_rq_setup(&q, k->quant->multiplier[c], k->quant->shift[c], params->rounding);
        out[c] = qnnc_rq_out(&q, base + a0, lo, hi, output_offset, params->act_lut, params->rounding);
        if (two) {
            out[o_pair + c] = qnnc_rq_out(&q, base + a1, lo, hi, output_offset, params->act_lut, params->rounding);
        }
    }
}

#if !QNNC_PATH_DSP && !QNNC_PATH_MVE /* (the SIMD paths leave only a few tail channels here) */
/* One kernel row of a pixel pair, `cols` (2 or 3, a constant after inlining) taps. */
#define QNNC_DW_ROW(cols)                                                                         \
    do {                                                                                          \
        const int32_t w0 = wp[0], w1 = wp[w_tap], w2 = (cols) == 3 ? wp[2 * w_tap] : 0;           \
        s += w0 + w1 + w2;                                                                        \
        a0 += w0 * xp[0] + w1 * xp[x_tap] + ((cols) == 3 ? w2 * xp[2 * x_tap] : 0);               \
        a1 += w0 * xq[0] + w1 * xq[x_tap] + ((cols) == 3 ? w2 * xq[2 * x_tap] : 0);               \
        wp += w_row;                                                                              \
        xp += x_row;                                                                              \
        xq += x_row;                                                                              \
    } while (0)

/** qnnc_dw_px_s8 for its most frequent windows, without a fused table: a pixel pair under
 *  `rows` kernel rows of `cols` taps (constants after inlining; used for 3 rows of 3 taps, every
 *  vertical pixel pair of a 3x3 layer, and of 2 taps, its left and right edges), unrolled and
 *  without the pair test: on cores without SIMD about 190 instead of 240 instructions per channel
 *  and pair. (2-row windows, the top and bottom edges, gained 0.2 % on KWS for 1.5 KB: left to
 *  qnnc_dw_px_s8.) */
QNNC_INLINE void qnnc_dw_pair_s8(const qnnc_dw_ctx *k, const int8_t *w, const int8_t *x, int8_t *out,
                                 int32_t c0, int32_t c1, const int32_t rows, const int32_t cols)
{
    const qnnc_conv_params *params = k->params;
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int32_t x_row = k->x_row, x_tap = k->x_tap, w_row = k->w_row, w_tap = k->w_tap;
    const int32_t o_pair = k->o_pair;
    const int32_t *bias = k->bias;
    const int32_t rounding = params->rounding;
    int32_t c;
    qnnc_rq q;
    for (c = c0; c < c1; ++c) {
        const int8_t *wp = w + c, *xp = x + c, *xq = x + k->x_pair + c;
        int32_t a0 = 0, a1 = 0, s = 0, base;
        QNNC_DW_ROW(cols);
        QNNC_DW_ROW(cols);
        if (rows == 3) {
            QNNC_DW_ROW(cols);
        }
        base = (bias != NULL ? bias[c] : 0) + input_offset * s;
        qnnc_rq_setup(&q, k->quant->multiplier[c], k->quant->shift[c], rounding);
        out[c] = qnnc_rq_out(&q, base + a0, lo, hi, output_offset, NULL, rounding);
        out[o_pair + c] = qnnc_rq_out(&q, base + a1, lo, hi, output_offset, NULL, rounding);
    }
}
#undef QNNC_DW_ROW

#define QNNC_DW_PAIR_FN(name, rows, cols)                                                          \
    static QNNC_LOOP_ATTR void name(const qnnc_dw_ctx *k, const int8_t *w, const int8_t *x, int8_t *out, \
                                    int32_t c0, int32_t c1)                                       \
    {                                                                                             \
        qnnc_dw_pair_s8(k, w, x, out, c0, c1, rows, cols);                                        \
    }
QNNC_DW_PAIR_FN(qnnc_dw_pair33_s8, 3, 3)
QNNC_DW_PAIR_FN(qnnc_dw_pair32_s8, 3, 2)
#undef QNNC_DW_PAIR_FN

#endif

/** One or two output pixels' channels [c0, c1): the unrolled pair paths where they apply. */
static void qnnc_dw_window_s8(const qnnc_dw_ctx *k, const int8_t *w, const int8_t *x, int8_t *out, int32_t c0,
                              int32_t c1)
{
#if !QNNC_PATH_DSP && !QNNC_PATH_MVE
    if (k->two && k->rows == 3 && k->cols == 3 && k->params->act_lut == NULL) {
        qnnc_dw_pair33_s8(k, w, x, out, c0, c1);
    } else if (k->two && k->rows == 3 && k->cols == 2 && k->params->act_lut == NULL) {
        qnnc_dw_pair32_s8(k, w, x, out, c0, c1);
    } else {
        qnnc_dw_px_s8(k, w, x, out, c0, c1);
    }
#else
    qnnc_dw_px_s8(k, w, x, out, c0, c1);
#endif
}

static QNNC_PATH_ATTR void qnnc_dw_m1_s8(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                         const qnnc_dims *input_dims, const int8_t *input,
                                         const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                                         const qnnc_dims *output_dims, int8_t *output, int32_t ic_begin,
                                         int32_t ic_end)
{
    const int32_t batches = output_dims->n;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t stride_h = params->stride_h, stride_w = params->stride_w;
    qnnc_dw_ctx k;
    int32_t b, oh, ow, rows_here;

    k.params = params;
    k.quant = quant;
    k.bias = bias;
    k.x_row = dil_h * in_w * in_c;
    k.x_tap = dil_w * in_c;
    k.w_row = k_w * out_c;
    k.w_tap = out_c;
    for (b = 0; b < batches; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        int8_t *out_b = output + b * out_h * out_w * out_c;
        for (oh = 0; oh < out_h; oh += rows_here) {
            const int32_t ih0 = oh * stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            rows_here = 1;
            if (oh + 1 < out_h) { /* the next row with the same kernel rows: vertical pairs */
                int32_t e0, e1;
                qnnc_tap_range(ih0 + stride_h, in_h, k_h, dil_h, &e0, &e1);
                rows_here = e0 == kh0 && e1 == kh1 && kh1 > kh0 ? 2 : 1;
            }
            for (ow = 0; ow < out_w;) {
                const int32_t iw0 = ow * stride_w - params->pad_left;
                int32_t kw0, kw1, n = 1;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                k.rows = kw1 > kw0 ? kh1 - kh0 : 0;
                k.cols = k.rows > 0 ? kw1 - kw0 : 0;
                k.two = 0;
                k.x_pair = 0;
                if (rows_here == 2) {
                    k.two = 1;
                    k.x_pair = stride_h * in_w * in_c;
                    k.o_pair = out_w * out_c;
                } else if (ow + 1 < out_w) {
                    int32_t e0, e1;
                    qnnc_tap_range(iw0 + stride_w, in_w, k_w, dil_w, &e0, &e1);
                    if (e0 == kw0 && e1 == kw1) {
                        k.two = 1;
                        k.x_pair = k.rows > 0 ? stride_w * in_c : 0;
                        k.o_pair = out_c;
                        n = 2;
                    }
                }
                /* (a window entirely in the padding reads nothing) */
                qnnc_dw_window_s8(&k, filter + (kh0 * k_w + kw0) * out_c,
                              k.rows > 0 ? in_b + ((ih0 + kh0 * dil_h) * in_w + iw0 + kw0 * dil_w) * in_c : in_b,
                              out_b + (oh * out_w + ow) * out_c, ic_begin, ic_end);
                ow += n;
            }
        }
    }
}

/** The portable depthwise conv of input channels [ic_begin, ic_end) (also the DSP path's last
 *  in_c % 4 channels). */
#if QNNC_PATH_DSP
QNNC_PATH_ATTR
#else
static QNNC_PATH_ATTR
#endif
void qnnc_dw_portable_s8(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                         const qnnc_dims *input_dims, const int8_t *input, const qnnc_dims *filter_dims,
                         const int8_t *filter, const int32_t *bias, const qnnc_dims *output_dims, int8_t *output,
                         int32_t ic_begin, int32_t ic_end)
{
    if (params->depth_multiplier == 1) {
        qnnc_dw_m1_s8(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, ic_begin,
                      ic_end);
    } else {
        qnnc_dw_generic_s8(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                           ic_begin, ic_end);
    }
}

int32_t qnnc_depthwise_conv_s8_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                               const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t taps = filter_dims->h * filter_dims->w;
    (void)output_dims;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS) {
        return 0;
    }
#if QNNC_PATH_MVE
    (void)input_dims;
    return QNNC_DW_MVE_BUFFER_SIZE(taps);
#elif QNNC_PATH_DSP
    if (input_dims->c < 4) {
        return 0;
    }
    return QNNC_DW_DSP_ROWS_LAYER(params, filter_dims) ? QNNC_DW_DSP_ROWS_BUFFER_SIZE(output_dims->h, output_dims->w)
                                                       : QNNC_DW_DSP_BUFFER_SIZE(taps);
#else
    (void)input_dims;
    return 0;
#endif
}

void qnnc_depthwise_conv_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                            const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            const qnnc_dims *output_dims, int8_t *output)
{
    /* both rounding modes take the SIMD paths (not qnnc_conv_simd: its paths are TFLite-only) */
    qnnc_conv_path *const path = QNNC_SIMD_PATH(qnnc_dw_mve_s8, qnnc_dw_dsp_s8);
    if (path == NULL ||
        !path(scratch, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output)) {
        qnnc_dw_portable_s8(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, 0,
                            input_dims->c);
    }
}
