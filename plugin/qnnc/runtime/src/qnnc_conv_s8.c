/*
 * qnnc_conv_s8 - int8 convolution (group 1), NHWC input, OHWI filter: the entry point, the
 * dispatch and the portable path (body: qnnc_conv_impl.h, shared with qnnc_conv_s4).
 * Reference: qnnc/reference/kernels.py:conv_s8.
 *
 * Paths, chosen at compile time from the compiler's own macros (qnnc_internal.h):
 *   - Helium (__ARM_FEATURE_MVE, Cortex-M55/M85): qnnc_conv_s8_mve.c, int8 im2col columns and
 *     VMLADAVA dot products, the input offset folded into the bias; 1x1 convs read the input
 *     pixels directly (plain GEMM, no copy).
 *   - Armv7E-M DSP (__ARM_FEATURE_DSP, Cortex-M4/M7/M33): qnnc_conv_s8_dsp.c, two output pixels
 *     widened into q15 columns, SMLAD over 2 channels x 2 pixels (inline assembly, see
 *     QNNC_DSP_ASM), the four results requantized in registers.
 *   - Portable C99 otherwise, and for layers outside the SIMD paths' limits. Every path takes
 *     both rounding modes (QNNC_ROUND_TFLITE, QNNC_ROUND_HALF_EVEN).
 * The SIMD paths' columns (and the Helium path's folded bias and accumulators, in blocks of
 * QNNC_CONV_OC_BLOCK output channels) live in the caller's scratch buffer (sizes:
 * QNNC_CONV_{DSP,MVE}_BUFFER_SIZE in qnnc_kernels.h); a NULL or too small buffer selects the
 * portable path.
 * Integer sums are exact, so every path gives the reference's int8 output bit for bit.
 */
#define QNNC_REQUANTIZE_CALL qnnc_conv_s8_requantize /* qnnc_rq_out's rare cases (qnnc_internal.h) */
#include "qnnc_internal.h"

/* ------------------------------------------------------------ portable path --
 * Register-blocked: 2 output channels x 2 output pixels per pass over a window, so each loaded
 * input byte and weight byte feeds two multiply-accumulates (int32 accumulators). The loop over
 * output channel pairs is outermost, so per pair the weight sums S_c are computed once: windows
 * entirely inside the input start from bias_c + input_offset * S_c and accumulate plain w * x
 * (the offset folded out of the inner loop); windows with padding taps also sum the weights they
 * use (one add per weight, shared by both pixels) and add input_offset times that at the end.
 * Per output row, the pixels whose windows use the same taps (the interior, each border column)
 * form a segment walked in pairs by one call (qnnc_conv_seg_s8, requantization inside, the
 * channel constants in registers); when the next output row has the same kernel rows the pairs
 * are vertical (pixel (oh, ow) with (oh + 1, ow): no odd pixel left in narrow rows). A 1x1 conv
 * with stride 1 and no padding is one segment of all pixels: a GEMM over the NHWC rows, no
 * im2col. The window's taps are walked as contiguous runs:
 * a whole kernel row (k_w * in_c bytes in both the input and the OHWI filter) when dilation_w is
 * 1, else in_c bytes per tap. An odd last channel runs the same loops with its weights read
 * twice (the second result dropped). */

/** The taps of a segment's windows: rows of runs of len contiguous bytes. */
typedef struct {
    int32_t rows, runs, len; /* kernel rows, runs per row, bytes per run */
    int32_t x_row, x_run;    /* input strides between rows / runs */
    int32_t w_row, w_run;    /* weight strides between rows / runs */
    int32_t w_oc;            /* the second channel's weights: + w_oc */
} qnnc_conv_win;

/** What one output channel pair's segments share. */
typedef struct {
    const qnnc_conv_params *params;
    const qnnc_per_channel_quant *quant;
    int32_t oc, oc1;        /* the pair (oc1 == oc: an odd last channel) */
    int32_t b0, b1, f0, f1; /* biases; bias + input_offset * (sum of the channel's weights) */
    int32_t out_c;          /* output stride between pixels */
} qnnc_conv_pair;

/** One window, 2 channels x 2 pixels: acc[0..3] = sums of w * x (c0p0, c0p1, c1p0, c1p1); with
 *  `sums`, acc[4..5] = the sums of the weights used (c0, c1). */
QNNC_INLINE void qnnc_conv_win22(const qnnc_conv_win *g, const int8_t *w, const int8_t *xa, const int8_t *xb,
                                 int sums, int32_t *acc)
{
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0, s0 = 0, s1 = 0;
    const int32_t len = g->len, w_oc = g->w_oc, runs = g->runs;
    int32_t left = g->rows * runs, q = 0, k, wo = 0, xo = 0; /* run starts as offsets */
    while (left-- > 0) {
        const int8_t *p0 = w + wo;
        const int8_t *p1 = p0 + w_oc;
        const int8_t *x0 = xa + xo;
        const int8_t *x1 = xb + xo;
#define QNNC_C22_STEP(i, SUM)                                                                      \
    do {                                                                                       \
        const int32_t wa = p0[i], wb = p1[i], u = x0[i], v = x1[i];                            \
        SUM;                                                                                   \
        a00 += wa * u;                                                                         \
        a01 += wa * v;                                                                         \
        a10 += wb * u;                                                                         \
        a11 += wb * v;                                                                         \
    } while (0)
#define QNNC_C22_RUN(SUM)                                                                          \
    do {                                                                                       \
        for (k = len >> 2; k > 0; --k) {                                                       \
            QNNC_C22_STEP(0, SUM);                                                             \
            QNNC_C22_STEP(1, SUM);                                                             \
            QNNC_C22_STEP(2, SUM);                                                             \
            QNNC_C22_STEP(3, SUM);                                                             \
            p0 += 4;                                                                           \
            p1 += 4;                                                                           \
            x0 += 4;                                                                           \
            x1 += 4;                                                                           \
        }                                                                                      \
        for (k = len & 3; k > 0; --k) {                                                        \
            QNNC_C22_STEP(0, SUM);                                                             \
            ++p0;                                                                              \
            ++p1;                                                                              \
            ++x0;                                                                              \
            ++x1;                                                                              \
        }                                                                                      \
    } while (0)
        if (!sums) {
            QNNC_C22_RUN((void)0);
        } else {
            QNNC_C22_RUN((s0 += wa, s1 += wb));
        }
#undef QNNC_C22_RUN
#undef QNNC_C22_STEP
        if (++q < runs) { /* the next run of the kernel row */
            wo += g->w_run;
            xo += g->x_run;
        } else { /* the first run of the next kernel row */
            wo += g->w_row - (runs - 1) * g->w_run;
            xo += g->x_row - (runs - 1) * g->x_run;
            q = 0;
        }
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
    acc[4] = s0;
    acc[5] = s1;
}

/** One window, 2 channels x 1 pixel: acc[0], acc[2] = sums of w * x (c0, c1), acc[4..5] the
 *  weight sums (with `sums`). */
static QNNC_LOOP_ATTR void qnnc_conv_win21(const qnnc_conv_win *g, const int8_t *w, const int8_t *xa, int sums,
                                           int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, s0 = 0, s1 = 0;
    const int32_t len = g->len, w_oc = g->w_oc;
    int32_t r, q, k, wo = 0, xo = 0;
    for (r = 0; r < g->rows; ++r) {
        int32_t wq = wo, xq = xo;
        for (q = 0; q < g->runs; ++q) {
            const int8_t *p0 = w + wq;
            const int8_t *p1 = p0 + w_oc;
            const int8_t *x0 = xa + xq;
            if (!sums) {
                for (k = len >> 1; k > 0; --k) {
                    const int32_t u = x0[0], v = x0[1];
                    a0 += (int32_t)p0[0] * u;
                    a1 += (int32_t)p1[0] * u;
                    a0 += (int32_t)p0[1] * v;
                    a1 += (int32_t)p1[1] * v;
                    p0 += 2;
                    p1 += 2;
                    x0 += 2;
                }
                if ((len & 1) != 0) {
                    a0 += (int32_t)p0[0] * x0[0];
                    a1 += (int32_t)p1[0] * x0[0];
                }
            } else {
                for (k = len; k > 0; --k) {
                    const int32_t wa = p0[0], wb = p1[0], u = x0[0];
                    s0 += wa;
                    s1 += wb;
                    a0 += wa * u;
                    a1 += wb * u;
                    ++p0;
                    ++p1;
                    ++x0;
                }
            }
            wq += g->w_run;
            xq += g->x_run;
        }
        wo += g->w_row;
        xo += g->x_row;
    }
    acc[0] = a0;
    acc[2] = a1;
    acc[4] = s0;
    acc[5] = s1;
}

/** Where a segment's pixels are: pixel 2i + j (j = 0, 1) reads the input at x + i * x_next +
 *  j * x_pair and writes the output at out + i * o_next + j * o_pair (pairs of horizontal
 *  neighbours, or of vertical ones when two output rows have the same taps). */
typedef struct {
    int32_t x_next, x_pair, o_next, o_pair;
} qnnc_conv_seg;

/** n output pixels whose windows use the taps g (w, x at the first tap of the first pixel; the
 *  layout s): 2 at a time, requantized into out. `sums`: windows with padding taps (else the
 *  whole window, the offset folded into f0 / f1). */
static QNNC_LOOP_ATTR void qnnc_conv_seg_s8(const qnnc_conv_pair *c, const qnnc_conv_win *g, const int8_t *w,
                                            const int8_t *x, const qnnc_conv_seg *s, int8_t *out, int32_t n,
                                            int sums)
{
    const qnnc_conv_params *params = c->params;
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    qnnc_rq q0, q1;
    const int two_ch = c->oc1 != c->oc;
    const int32_t x_next = s->x_next, x_pair = s->x_pair, o_next = s->o_next, o_pair = s->o_pair;
    int32_t p, j, xo = 0, oo = 0;
    qnnc_rq_setup(&q0, c->quant->multiplier[c->oc], c->quant->shift[c->oc], params->rounding);
    qnnc_rq_setup(&q1, c->quant->multiplier[c->oc1], c->quant->shift[c->oc1], params->rounding);
    for (p = 0; p < n; p += 2) {
        const int two = p + 1 < n;
        int32_t acc[6], t0 = c->f0, t1 = c->f1;
        if (two) {
            qnnc_conv_win22(g, w, x + xo, x + xo + x_pair, sums, acc);
        } else {
            qnnc_conv_win21(g, w, x + xo, sums, acc);
        }
        if (sums) {
            t0 = c->b0 + params->input_offset * acc[4];
            t1 = c->b1 + params->input_offset * acc[5];
        }
        for (j = 0; j <= two; ++j) {
            int8_t *o = out + oo + j * o_pair + c->oc;
            o[0] = qnnc_rq_out(&q0, t0 + acc[j], lo, hi, output_offset, params->act_lut, params->rounding);
            if (two_ch) {
                o[1] = qnnc_rq_out(&q1, t1 + acc[2 + j], lo, hi, output_offset, params->act_lut, params->rounding);
            }
        }
        xo += x_next;
        oo += o_next;
    }
}

/* ------------------------------------------------------- portable im2col path --
 * Windows made of many short runs (few input channels, as in a first conv over a one-channel
 * spectrogram or image) pay the direct path's per-run set-up (about 45 instructions on a
 * Cortex-M3) once per run and channel pair. Here two output pixels' windows are copied once into
 * int16 columns with the input offset added (padding taps hold 0), in the scratch the DSP path
 * would use, and every output channel pair is then one run of K over both columns: the copy is
 * shared by all out_c channels. qnnc_conv_cols_pays says when that wins. */

/** 1 when the im2col path is cheaper than the direct one: the direct path's extra runs per window
 *  ((runs - 1) x ~22 instructions per output channel) cost more than copying the window (~4
 *  instructions per element, once for all channels); measured on the Cortex-M3 and rv32. Mirrored
 *  by qnnc/plan/kernel_scratch.py:conv_cols_bytes. */
static int qnnc_conv_cols_pays(const qnnc_conv_params *params, const qnnc_dims *filter_dims, int32_t out_c)
{
    const int32_t K = filter_dims->h * filter_dims->w * filter_dims->c;
    const int32_t runs = params->dilation_w == 1 ? filter_dims->h : filter_dims->h * filter_dims->w;
    return K >= 4 && K <= QNNC_CONV_MAX_K && (runs - 1) * out_c * 11 > 4 * K;
}

/** dst[i] = src[i] + off for n values (two per pass). */
static void qnnc_widen_add_s8(int16_t *dst, const int8_t *src, int32_t n, int32_t off)
{
    for (; n >= 2; n -= 2) {
        dst[0] = (int16_t)(src[0] + off);
        dst[1] = (int16_t)(src[1] + off);
        dst += 2;
        src += 2;
    }
    if (n > 0) {
        dst[0] = (int16_t)(src[0] + off);
    }
}

/** Column of the window at (ih0, iw0): K int16 values x + input_offset in OHWI tap order, 0 for
 *  the padding taps (the column is cleared first when the window has any). */
static void qnnc_conv_col_s8(int16_t *col, const qnnc_conv_params *params, const qnnc_dims *input_dims,
                             const int8_t *in_b, int32_t k_h, int32_t k_w, int32_t ih0, int32_t iw0)
{
    const int32_t in_w = input_dims->w, in_c = input_dims->c, off = params->input_offset;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t row = k_w * in_c;
    int32_t kh0, kh1, kw0, kw1, kh, kw;
    qnnc_tap_range(ih0, input_dims->h, k_h, dil_h, &kh0, &kh1);
    qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
    if (kh0 > 0 || kh1 < k_h || kw0 > 0 || kw1 < k_w) {
        int32_t i;
        for (i = 0; i < k_h * row; ++i) {
            col[i] = 0;
        }
    }
    for (kh = kh0; kh < kh1; ++kh) {
        const int8_t *x = in_b + ((ih0 + kh * dil_h) * in_w + iw0) * in_c;
        int16_t *c = col + kh * row;
        if (dil_w == 1) { /* the row's taps are contiguous in the input too */
            qnnc_widen_add_s8(c + kw0 * in_c, x + kw0 * in_c, (kw1 - kw0) * in_c, off);
        } else {
            for (kw = kw0; kw < kw1; ++kw) {
                qnnc_widen_add_s8(c + kw * in_c, x + kw * dil_w * in_c, in_c, off);
            }
        }
    }
}

/** acc[0..3] = the dot products of K weights (channels w, w + w_oc) with two columns (c0p0,
 *  c0p1, c1p0, c1p1). */
static QNNC_LOOP_ATTR void qnnc_conv_cols22(const int8_t *w, int32_t w_oc, const int16_t *xa, const int16_t *xb,
                                            int32_t K, int32_t *acc)
{
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0, k;
    const int8_t *p0 = w;
    const int8_t *p1 = w + w_oc;
#define QNNC_COLS_STEP(i)                                                                          \
    do {                                                                                       \
        const int32_t wa = p0[i], wb = p1[i], u = xa[i], v = xb[i];                            \
        a00 += wa * u;                                                                         \
        a01 += wa * v;                                                                         \
        a10 += wb * u;                                                                         \
        a11 += wb * v;                                                                         \
    } while (0)
    for (k = K >> 2; k > 0; --k) {
        QNNC_COLS_STEP(0);
        QNNC_COLS_STEP(1);
        QNNC_COLS_STEP(2);
        QNNC_COLS_STEP(3);
        p0 += 4;
        p1 += 4;
        xa += 4;
        xb += 4;
    }
    for (k = K & 3; k > 0; --k) {
        QNNC_COLS_STEP(0);
        ++p0;
        ++p1;
        ++xa;
        ++xb;
    }
#undef QNNC_COLS_STEP
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/** The im2col path: pixel pairs in output order (an odd last pixel is computed twice, one result
 *  dropped), all channel pairs per pair. cols: 2 * K int16. */
static QNNC_PATH_ATTR void qnnc_conv_s8_cols(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                             const qnnc_dims *input_dims, const int8_t *input,
                                             const qnnc_dims *filter_dims, const int8_t *filter,
                                             const int32_t *bias, const qnnc_dims *output_dims, int8_t *output,
                                             int16_t *cols)
{
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t K = k_h * k_w * input_dims->c;
    const int32_t per_image = out_h * out_w, n = output_dims->n * per_image;
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    int32_t p, j, oc;
    for (p = 0; p < n; p += 2) {
        const int two = p + 1 < n;
        for (j = 0; j <= two; ++j) {
            const int32_t b = (p + j) / per_image, r = (p + j) - b * per_image;
            const int32_t oh = r / out_w, ow = r - oh * out_w;
            qnnc_conv_col_s8(cols + j * K, params, input_dims,
                             input + b * input_dims->h * input_dims->w * input_dims->c, k_h, k_w,
                             oh * params->stride_h - params->pad_top, ow * params->stride_w - params->pad_left);
        }
        for (oc = 0; oc < out_c; oc += 2) {
            const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc; /* an odd last channel: computed twice */
            int32_t acc[4];
            qnnc_rq q0, q1;
            qnnc_conv_cols22(filter + oc * K, (oc1 - oc) * K, cols, cols + (two ? K : 0), K, acc);
            qnnc_rq_setup(&q0, quant->multiplier[oc], quant->shift[oc], params->rounding);
            qnnc_rq_setup(&q1, quant->multiplier[oc1], quant->shift[oc1], params->rounding);
            for (j = 0; j <= two; ++j) {
                int8_t *o = output + (p + j) * out_c + oc;
                o[0] = qnnc_rq_out(&q0, (bias != NULL ? bias[oc] : 0) + acc[j], lo, hi, output_offset,
                                   params->act_lut, params->rounding);
                if (oc1 != oc) {
                    o[1] = qnnc_rq_out(&q1, (bias != NULL ? bias[oc1] : 0) + acc[2 + j], lo, hi, output_offset,
                                       params->act_lut, params->rounding);
                }
            }
        }
    }
}

static QNNC_PATH_ATTR void qnnc_conv_s8_portable(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                                 const qnnc_dims *input_dims, const int8_t *input,
                                                 const qnnc_dims *filter_dims, const int8_t *filter,
                                                 const int32_t *bias, const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t batches = output_dims->n;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t stride_w = params->stride_w;
    const int32_t filter_size = k_h * k_w * in_c;
    /* 1x1, stride 1, no padding: output pixel i reads input pixel i (one segment) */
    const int flat = k_h == 1 && k_w == 1 && params->stride_h == 1 && stride_w == 1 && params->pad_top == 0 &&
                     params->pad_left == 0 && out_h == in_h && out_w == in_w;
    qnnc_conv_win g;
    qnnc_conv_pair c;
    qnnc_conv_seg sg;
    int32_t oc, rows_here = 1;

    g.x_row = dil_h * in_w * in_c;
    g.w_row = k_w * in_c;
    g.w_run = in_c;
    g.x_run = dil_w * in_c;
    c.params = params;
    c.quant = quant;
    c.out_c = out_c;
    for (oc = 0; oc < out_c; oc += 2) {
        const int8_t *w_oc = filter + oc * filter_size;
        int32_t i, s0 = 0, s1 = 0, b, oh, ow;
        c.oc = oc;
        c.oc1 = oc + 1 < out_c ? oc + 1 : oc; /* an odd last channel: computed twice */
        g.w_oc = (c.oc1 - oc) * filter_size;
        for (i = 0; i < filter_size; ++i) {
            s0 += w_oc[i];
            s1 += w_oc[g.w_oc + i];
        }
        c.b0 = bias != NULL ? bias[oc] : 0;
        c.b1 = bias != NULL ? bias[c.oc1] : 0;
        c.f0 = c.b0 + params->input_offset * s0;
        c.f1 = c.b1 + params->input_offset * s1;
        if (flat) {
            sg.x_next = 2 * in_c;
            sg.x_pair = in_c;
            sg.o_next = 2 * out_c;
            sg.o_pair = out_c;
            g.rows = 1;
            g.runs = 1;
            g.len = in_c;
            qnnc_conv_seg_s8(&c, &g, w_oc, input, &sg, output, batches * out_h * out_w, 0);
            continue;
        }
        for (b = 0; b < batches; ++b) {
            const int8_t *in_b = input + b * in_h * in_w * in_c;
            int8_t *out_b = output + b * out_h * out_w * out_c;
            for (oh = 0; oh < out_h; oh += rows_here) {
                const int32_t ih0 = oh * params->stride_h - params->pad_top;
                int32_t kh0, kh1;
                qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
                rows_here = 1;
                if (oh + 1 < out_h) { /* the next row with the same taps: vertical pairs */
                    int32_t a, e;
                    qnnc_tap_range(ih0 + params->stride_h, in_h, k_h, dil_h, &a, &e);
                    rows_here = a == kh0 && e == kh1 && kh1 > kh0 ? 2 : 1;
                }
                for (ow = 0; ow < out_w;) {
                    const int32_t iw0 = ow * stride_w - params->pad_left;
                    int32_t kw0, kw1, n = 1, cols;
                    qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                    while (ow + n < out_w) { /* the segment: the next pixels with the same taps */
                        int32_t a, e;
                        qnnc_tap_range(iw0 + n * stride_w, in_w, k_w, dil_w, &a, &e);
                        if (a != kw0 || e != kw1) {
                            break;
                        }
                        ++n;
                    }
                    cols = kw1 - kw0;
                    g.rows = cols > 0 ? kh1 - kh0 : 0;
                    g.runs = dil_w == 1 ? 1 : cols;
                    g.len = dil_w == 1 ? cols * in_c : in_c;
                    if (g.rows == 0) { /* windows entirely in the padding read nothing */
                        sg.x_next = sg.x_pair = 0;
                    } else if (rows_here == 2) {
                        sg.x_next = stride_w * in_c;
                        sg.x_pair = params->stride_h * in_w * in_c;
                    } else {
                        sg.x_next = 2 * stride_w * in_c;
                        sg.x_pair = stride_w * in_c;
                    }
                    sg.o_next = rows_here == 2 ? out_c : 2 * out_c;
                    sg.o_pair = rows_here == 2 ? out_w * out_c : out_c;
                    qnnc_conv_seg_s8(&c, &g, w_oc + (kh0 * k_w + kw0) * in_c,
                                     g.rows > 0 ? in_b + ((ih0 + kh0 * dil_h) * in_w + iw0 + kw0 * dil_w) * in_c
                                                : in_b,
                                     &sg, out_b + (oh * out_w + ow) * out_c, n * rows_here,
                                     kh1 - kh0 != k_h || cols != k_w);
                    ow += n;
                }
            }
        }
    }
}

int32_t qnnc_conv_s8_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t out_c = output_dims->c;
#if QNNC_PATH_MVE
    if (K > QNNC_CONV_MAX_K || out_c > QNNC_CONV_MAX_K) {
        return 0;
    }
    return qnnc_conv_mve_s8_buffer_size(params, input_dims, filter_dims, output_dims);
#elif QNNC_PATH_DSP
    (void)params;
    if (K > QNNC_CONV_MAX_K || K < 4 || out_c > QNNC_CONV_MAX_K) {
        return 0;
    }
    return QNNC_CONV_DSP_BUFFER_SIZE(K, input_dims->c, out_c);
#else
    return qnnc_conv_cols_pays(params, filter_dims, out_c) ? QNNC_CONV_COLS_BUFFER_SIZE(K) : 0;
#endif
}

void qnnc_conv_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                  const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                  const qnnc_dims *output_dims, int8_t *output)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    /* the SIMD paths take both rounding modes (not qnnc_conv_simd, which keeps depthwise's
     * half-even layers portable) */
    if (QNNC_SIMD_PATH(qnnc_conv_mve_s8, qnnc_conv_dsp_s8)(scratch, params, quant, input_dims, input, filter_dims,
                                                            filter, bias, output_dims, output)) {
        return;
    }
#endif
    /* the size includes the alignment slack: a buffer one byte short runs the direct path */
    if (scratch != NULL && scratch->buf != NULL && qnnc_conv_cols_pays(params, filter_dims, output_dims->c) &&
        scratch->size >= QNNC_CONV_COLS_BUFFER_SIZE(filter_dims->h * filter_dims->w * filter_dims->c)) {
        qnnc_conv_s8_cols(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                          (int16_t *)qnnc_scratch_align(scratch, 4u));
        return;
    }
    qnnc_conv_s8_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
}
