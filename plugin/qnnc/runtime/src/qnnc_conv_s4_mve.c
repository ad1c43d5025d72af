/*
 * qnnc_conv_s4_mve.c - the Helium path of qnnc_conv_s4 (__ARM_FEATURE_MVE: Cortex-M55/M85;
 * compiled to nothing elsewhere; the entry point and dispatch are in qnnc_conv_s4.c). Also the
 * packed-int4 dot products shared with qnnc_fully_connected_s4_mve.c (in qnnc_s4_internal.h).
 *
 * No working memory. Per output pixel, four output channels at a time: each in-range row of the
 * window is one contiguous run of inputs (kw * in_c with dilation_w 1, else in_c per tap) and
 * of nibbles per channel. Sixteen weights are eight bytes loaded zero-extended to 16-bit lanes
 * b: (b << 8) | ((b << 4) & 0xFF) (VSHL, VSLI) holds nibble 2i in the high half of byte 2i and
 * nibble 2i + 1 in that of byte 2i + 1, so an int8 VSHR #4 gives the 16 weights in order. VMLADAVA
 * sums w * x and VADDVA the weights (the input offset times that sum is added once per run:
 * x + offset does not fit int8). The run's last vector is predicated. The outputs of four
 * channels are requantized as one vector (TFLite rounding; half-to-even per channel, scalar).
 */
#include "qnnc_internal.h"
#include "qnnc_s4_internal.h"

#if QNNC_PATH_MVE

/* A layer's constants for qnnc_s4_px_mve. */
typedef struct {
    const int8_t *filter;
    const int32_t *bias;
    const qnnc_per_channel_quant *quant;
    const int8_t *act_lut;
    int32_t out_c, fsize, off, lo, hi, output_offset, rounding;
    /* the geometry qnnc_s4_runs_mve needs */
    int32_t in_w, in_c, k_h, k_w, dil_h, dil_w, stride_w, pad_left, use_col;
} qnnc_s4_conv_k;

#define QNNC_S4_RUNS 16 /* most runs (window rows, or taps) per pixel of qnnc_s4_px_mve */
#define QNNC_S4_COL 64  /* bytes of the stack column of small windows */

/* One output pixel, every output channel, four at a time: the sum over nrun runs of len inputs,
 * run r at x[r] with its weights from nibble ws[r] of the channel's filter (fsize and every ws[r]
 * even), then the output stage. */
static QNNC_LOOP_ATTR void qnnc_s4_px_mve(const qnnc_s4_conv_k *k, const int8_t *const *xr, const int32_t *ws,
                                          int32_t nrun, int32_t len, int8_t *out)
{
    const int32_t half = k->fsize >> 1, rem = len & 15;
    const mve_pred16_t p8 = vctp8q((uint32_t)rem), p16 = vctp16q((uint32_t)(rem + 1) >> 1);
    int32_t oc, r;
    for (oc = 0; oc < k->out_c; oc += 4) {
        const int32_t nch = k->out_c - oc >= 4 ? 4 : k->out_c - oc;
        /* channels past the last repeat it (valid loads, results unused) */
        const int32_t st1 = nch > 1 ? half : 0, st2 = nch > 2 ? 2 * half : st1, st3 = nch > 3 ? 3 * half : st2;
        const uint8_t *f = (const uint8_t *)k->filter + oc * half;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0, acc[4], c;
        for (r = 0; r < nrun; ++r) {
            const int8_t *x = xr[r];
            const uint8_t *p = f + (ws[r] >> 1);
            int32_t n;
            int8x16_t w;
            for (n = len; n >= 16; n -= 16) {
                const int8x16_t xv = vldrbq_s8(x);
                w = qnnc_s4_w16_mve(p);
                a0 = vmladavaq_s8(a0, w, xv);
                s0 = vaddvaq_s8(s0, w);
                w = qnnc_s4_w16_mve(p + st1);
                a1 = vmladavaq_s8(a1, w, xv);
                s1 = vaddvaq_s8(s1, w);
                w = qnnc_s4_w16_mve(p + st2);
                a2 = vmladavaq_s8(a2, w, xv);
                s2 = vaddvaq_s8(s2, w);
                w = qnnc_s4_w16_mve(p + st3);
                a3 = vmladavaq_s8(a3, w, xv);
                s3 = vaddvaq_s8(s3, w);
                x += 16;
                p += 8;
            }
            if (rem > 0) { /* lanes >= rem masked (a last odd nibble's byte holds the next weight) */
                const int8x16_t xv = vldrbq_z_s8(x, p8);
                w = qnnc_s4_w16z_mve(p, p16);
                a0 = vmladavaq_p_s8(a0, w, xv, p8);
                s0 = vaddvaq_p_s8(s0, w, p8);
                w = qnnc_s4_w16z_mve(p + st1, p16);
                a1 = vmladavaq_p_s8(a1, w, xv, p8);
                s1 = vaddvaq_p_s8(s1, w, p8);
                w = qnnc_s4_w16z_mve(p + st2, p16);
                a2 = vmladavaq_p_s8(a2, w, xv, p8);
                s2 = vaddvaq_p_s8(s2, w, p8);
                w = qnnc_s4_w16z_mve(p + st3, p16);
                a3 = vmladavaq_p_s8(a3, w, xv, p8);
                s3 = vaddvaq_p_s8(s3, w, p8);
            }
        }
        acc[0] = a0 + k->off * s0;
        acc[1] = a1 + k->off * s1;
        acc[2] = a2 + k->off * s2;
        acc[3] = a3 + k->off * s3;
        for (c = 0; c < nch && k->bias != NULL; ++c) {
            acc[c] += k->bias[oc + c];
        }
        qnnc_s4_out4_in(acc, oc, nch, k->quant, k->lo, k->hi, k->output_offset, k->act_lut, k->rounding, out + oc);
    }
}

/* Outputs oc .. oc + nch - 1 of two pixels from their sums: the biases, then the output stage
 * (the second pixel's only when two_px). */
QNNC_INLINE void qnnc_s4_out2px_mve(const qnnc_s4_conv_k *k, int32_t *acc_a, int32_t *acc_b, int32_t oc, int32_t nch,
                                    int two_px, int8_t *outa, int8_t *outb)
{
    int32_t c;
    for (c = 0; c < nch && k->bias != NULL; ++c) {
        acc_a[c] += k->bias[oc + c];
        acc_b[c] += k->bias[oc + c];
    }
    qnnc_s4_out4_in(acc_a, oc, nch, k->quant, k->lo, k->hi, k->output_offset, k->act_lut, k->rounding, outa + oc);
    if (two_px) {
        qnnc_s4_out4_in(acc_b, oc, nch, k->quant, k->lo, k->hi, k->output_offset, k->act_lut, k->rounding, outb + oc);
    }
}

/* Two output pixels whose runs have the same weights (ws, len) and inputs xa[r], xb[r]: each
 * weight vector, unpacked once, serves both; two channels at a time (both pixels' accumulators
 * stay in registers). sums: the channels' weight sums for the offset term are taken in the loop
 * (VADDVA); else they come from wsum (see qnnc_s4_cols2_mve). The second pixel's outputs are
 * stored when two_px. A constant sums gives each caller its own loop. */
QNNC_INLINE void qnnc_s4_2px_mve(const qnnc_s4_conv_k *k, const int8_t *const *xa, const int8_t *const *xb,
                                 const int32_t *ws, int32_t nrun, int32_t len, const int32_t *wsum, int sums,
                                 int two_px, int8_t *outa, int8_t *outb)
{
    const int32_t half = k->fsize >> 1, rem = len & 15;
    const mve_pred16_t p8 = vctp8q((uint32_t)rem), p16 = vctp16q((uint32_t)(rem + 1) >> 1);
    int32_t oc, r, h;
    for (oc = 0; oc < k->out_c; oc += 4) {
        const int32_t nch = k->out_c - oc >= 4 ? 4 : k->out_c - oc;
        int32_t acc_a[4], acc_b[4];
        for (h = 0; h < nch; h += 2) {
            const uint8_t *f = (const uint8_t *)k->filter + (oc + h) * half;
            const int32_t st1 = h + 1 < nch ? half : 0; /* a last single channel repeats itself */
            int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0, s0 = 0, s1 = 0;
            for (r = 0; r < nrun; ++r) {
                const int8_t *x0 = xa[r], *x1 = xb[r];
                const uint8_t *p = f + (ws[r] >> 1);
                int32_t n;
                int8x16_t w;
                for (n = len; n >= 16; n -= 16) {
                    const int8x16_t v0 = vldrbq_s8(x0), v1 = vldrbq_s8(x1);
                    w = qnnc_s4_w16_mve(p);
                    a0 = vmladavaq_s8(a0, w, v0);
                    b0 = vmladavaq_s8(b0, w, v1);
                    s0 = sums ? vaddvaq_s8(s0, w) : s0;
                    w = qnnc_s4_w16_mve(p + st1);
                    a1 = vmladavaq_s8(a1, w, v0);
                    b1 = vmladavaq_s8(b1, w, v1);
                    s1 = sums ? vaddvaq_s8(s1, w) : s1;
                    x0 += 16;
                    x1 += 16;
                    p += 8;
                }
                if (rem > 0) { /* lanes >= rem masked */
                    const int8x16_t v0 = vldrbq_z_s8(x0, p8), v1 = vldrbq_z_s8(x1, p8);
                    w = qnnc_s4_w16z_mve(p, p16);
                    a0 = vmladavaq_p_s8(a0, w, v0, p8);
                    b0 = vmladavaq_p_s8(b0, w, v1, p8);
                    s0 = sums ? vaddvaq_p_s8(s0, w, p8) : s0;
                    w = qnnc_s4_w16z_mve(p + st1, p16);
                    a1 = vmladavaq_p_s8(a1, w, v0, p8);
                    b1 = vmladavaq_p_s8(b1, w, v1, p8);
                    s1 = sums ? vaddvaq_p_s8(s1, w, p8) : s1;
                }
            }
            if (!sums) {
                s0 = wsum[oc + h];
                s1 = wsum[oc + h + (st1 != 0 ? 1 : 0)];
            }
            acc_a[h] = a0 + k->off * s0;
            acc_b[h] = b0 + k->off * s0;
            acc_a[h + 1] = a1 + k->off * s1; /* h + 1 < 4 always; unused when h + 1 == nch */
            acc_b[h + 1] = b1 + k->off * s1;
        }
        qnnc_s4_out2px_mve(k, acc_a, acc_b, oc, nch, two_px, outa, outb);
    }
}

static QNNC_LOOP_ATTR void qnnc_s4_px2_mve(const qnnc_s4_conv_k *k, const int8_t *const *xa, const int8_t *const *xb,
                                           const int32_t *ws, int32_t nrun, int32_t len, int8_t *outa, int8_t *outb)
{
    qnnc_s4_2px_mve(k, xa, xb, ws, nrun, len, NULL, 1, 1, outa, outb);
}

/* Two output pixels from int8 im2col columns xa, xb of the whole window (padding taps at the
 * zero point, so every pixel is one run of K taps) with the channels' weight sums wsum computed
 * once per call: the offset term off * sum(w) is added per channel after the loop, which then
 * needs no VADDVA (a padding tap's x = -off cancels its share of that term). The columns are
 * split in blocks of 32 taps, the 16 even taps then the 16 odd ones (qnnc_s4_split_mve), so 16
 * packed bytes give a block's weights in two shifts (low nibbles: VSHL #4 then VSHR #4; high
 * nibbles: VSHR #4) instead of unpacking them in tap order: per 32 taps of 2 channels x 2 pixels,
 * 4 loads of columns, 2 of weights, 6 shifts and 8 VMLADAVA. K is even: the last block's weights
 * are a predicated load of (K % 32) / 2 bytes (lanes past it 0). */
static QNNC_LOOP_ATTR void qnnc_s4_cols2_mve(const qnnc_s4_conv_k *k, const int8_t *xa, const int8_t *xb,
                                            const int32_t *wsum, int two_px, int8_t *outa, int8_t *outb)
{
    const int32_t half = k->fsize >> 1, blocks = k->fsize >> 5, rem = k->fsize & 31;
    const mve_pred16_t pw = vctp8q((uint32_t)rem >> 1);
    int32_t oc, h, n;
    for (oc = 0; oc < k->out_c; oc += 4) {
        const int32_t nch = k->out_c - oc >= 4 ? 4 : k->out_c - oc;
        int32_t acc_a[4], acc_b[4];
        for (h = 0; h < nch; h += 2) {
            const int8_t *f0 = k->filter + (oc + h) * half;
            const int8_t *f1 = h + 1 < nch ? f0 + half : f0; /* a last single channel repeats itself */
            const int8_t *x0 = xa, *x1 = xb;
            int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
#define QNNC_S4_SPLIT_BLOCK(w0, w1)                                                                \
    do {                                                                                       \
        const int8x16_t e0 = vldrbq_s8(x0), o0 = vldrbq_s8(x0 + 16);                           \
        const int8x16_t e1 = vldrbq_s8(x1), o1 = vldrbq_s8(x1 + 16);                           \
        int8x16_t we = vshrq_n_s8(vshlq_n_s8((w0), 4), 4), wo = vshrq_n_s8((w0), 4);           \
        a0 = vmladavaq_s8(vmladavaq_s8(a0, we, e0), wo, o0);                                   \
        b0 = vmladavaq_s8(vmladavaq_s8(b0, we, e1), wo, o1);                                   \
        we = vshrq_n_s8(vshlq_n_s8((w1), 4), 4);                                               \
        wo = vshrq_n_s8((w1), 4);                                                              \
        a1 = vmladavaq_s8(vmladavaq_s8(a1, we, e0), wo, o0);                                   \
        b1 = vmladavaq_s8(vmladavaq_s8(b1, we, e1), wo, o1);                                   \
    } while (0)
            for (n = blocks; n > 0; --n) {
                QNNC_S4_SPLIT_BLOCK(vldrbq_s8(f0), vldrbq_s8(f1));
                x0 += 32;
                x1 += 32;
                f0 += 16;
                f1 += 16;
            }
            if (rem > 0) {
                QNNC_S4_SPLIT_BLOCK(vldrbq_z_s8(f0, pw), vldrbq_z_s8(f1, pw));
            }
#undef QNNC_S4_SPLIT_BLOCK
            acc_a[h] = a0 + k->off * wsum[oc + h];
            acc_b[h] = b0 + k->off * wsum[oc + h];
            acc_a[h + 1] = a1 + k->off * wsum[f1 != f0 ? oc + h + 1 : oc + h]; /* unused when h + 1 == nch */
            acc_b[h + 1] = b1 + k->off * wsum[f1 != f0 ? oc + h + 1 : oc + h];
        }
        qnnc_s4_out2px_mve(k, acc_a, acc_b, oc, nch, two_px, outa, outb);
    }
}

/* Splits a column of K32 bytes (a multiple of 32) in place into blocks of 32 taps: the 16 even
 * taps, then the 16 odd ones (VLD20/VLD21 of the whole block before its two stores). */
static void qnnc_s4_split_mve(int8_t *col, int32_t K32)
{
    int32_t n;
    for (n = K32 >> 5; n > 0; --n) {
        const int8x16x2_t eo = vld2q_s8(col);
        vstrbq_s8(col, eo.val[0]);
        vstrbq_s8(col + 16, eo.val[1]);
        col += 32;
    }
}

/* The int8 im2col column of the window at (ih0, iw0): in-range taps copied, padding taps at the
 * zero point (-off, which fits int8 on this path). */
static void qnnc_s4_col_mve(const qnnc_conv_params *params, const int8_t *in_b, const qnnc_dims *input_dims,
                            const qnnc_dims *filter_dims, int32_t ih0, int32_t iw0, int8_t *col)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    int32_t kh, kw;
    for (kh = 0; kh < filter_dims->h; ++kh) {
        const int32_t ih = ih0 + kh * params->dilation_h;
        for (kw = 0; kw < filter_dims->w; ++kw) {
            const int32_t iw = iw0 + kw * params->dilation_w;
            if (ih >= 0 && ih < in_h && iw >= 0 && iw < in_w) {
                memcpy(col, in_b + (ih * in_w + iw) * in_c, (size_t)in_c);
            } else {
                memset(col, -params->input_offset, (size_t)in_c);
            }
            col += in_c;
        }
    }
}

/* The conv over int8 columns of two pixels at a time; scratch (qnnc_conv_s4_mve_cols_size): the
 * channels' weight sums, then the two columns of K rounded up to 32. */
static void qnnc_s4_conv_cols_mve(const qnnc_s4_conv_k *k, const qnnc_conv_params *params,
                                  const qnnc_dims *input_dims, const int8_t *input, const qnnc_dims *filter_dims,
                                  const qnnc_dims *output_dims, void *scratch, int8_t *output)
{
    const int32_t K = k->fsize, K32 = (K + 31) & ~31, half = K >> 1, rem = K & 15;
    const int32_t out_w = output_dims->w, out_c = k->out_c, pixels = output_dims->h * out_w;
    const mve_pred16_t p8 = vctp8q((uint32_t)rem), p16 = vctp16q((uint32_t)(rem + 1) >> 1);
    int32_t *wsum = (int32_t *)scratch;
    int8_t *col0 = (int8_t *)(wsum + out_c), *col1 = col0 + K32;
    int32_t b, p, oc, n;
    /* the taps past K of the last block (their weights are 0) are read: defined values */
    memset(col0 + K, 0, (size_t)(K32 - K));
    memset(col1 + K, 0, (size_t)(K32 - K));
    for (oc = 0; oc < out_c; ++oc) { /* sum(w) of every channel, once per call */
        const uint8_t *f = (const uint8_t *)k->filter + oc * half;
        int32_t s = 0;
        for (n = K; n >= 16; n -= 16) {
            s = vaddvaq_s8(s, qnnc_s4_w16_mve(f));
            f += 8;
        }
        wsum[oc] = rem > 0 ? vaddvaq_p_s8(s, qnnc_s4_w16z_mve(f, p16), p8) : s;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * input_dims->h * input_dims->w * input_dims->c;
        int8_t *out_b = output + b * pixels * out_c;
        for (p = 0; p < pixels; p += 2) {
            const int two_px = pixels - p >= 2;
            const int32_t q = two_px ? p + 1 : p; /* a lone last pixel: its column twice */
            qnnc_s4_col_mve(params, in_b, input_dims, filter_dims, (p / out_w) * params->stride_h - params->pad_top,
                            (p % out_w) * params->stride_w - params->pad_left, col0);
            qnnc_s4_col_mve(params, in_b, input_dims, filter_dims, (q / out_w) * params->stride_h - params->pad_top,
                            (q % out_w) * params->stride_w - params->pad_left, col1);
            qnnc_s4_split_mve(col0, K32);
            qnnc_s4_split_mve(col1, K32);
            qnnc_s4_cols2_mve(k, col0, col1, wsum, two_px, out_b + p * out_c, out_b + q * out_c);
        }
    }
}

/* The runs of output pixel ow (window rows [kh0, kh1) from input row ih0 of in_b): each
 * contiguous piece of the window with its inputs xr[r] and the nibble ws[r] of its weights in a
 * channel's filter, all *len long; or one run over col, the window copied with padding taps at
 * the zero point (k->use_col). Returns the number of runs. */
static int32_t qnnc_s4_runs_mve(const qnnc_s4_conv_k *k, const int8_t *in_b, int32_t ih0, int32_t kh0, int32_t kh1,
                                int32_t ow, int8_t *col, const int8_t **xr, int32_t *ws, int32_t *len)
{
    const int32_t in_c = k->in_c, in_w = k->in_w, iw0 = ow * k->stride_w - k->pad_left;
    int32_t kw0, kw1, kh, kw, nrun = 0;
    qnnc_tap_range(iw0, in_w, k->k_w, k->dil_w, &kw0, &kw1);
    *len = in_c;
    if (k->use_col) {
        int8_t *d = col;
        for (kh = 0; kh < k->k_h; ++kh) {
            for (kw = 0; kw < k->k_w; ++kw) {
                int32_t c;
                if (kh >= kh0 && kh < kh1 && kw >= kw0 && kw < kw1) {
                    const int8_t *src = in_b + ((ih0 + kh * k->dil_h) * in_w + iw0 + kw * k->dil_w) * in_c;
                    for (c = 0; c < in_c; ++c) {
                        *d++ = src[c];
                    }
                } else {
                    for (c = 0; c < in_c; ++c) {
                        *d++ = (int8_t)(-k->off);
                    }
                }
            }
        }
        xr[0] = col;
        ws[0] = 0;
        *len = k->fsize;
        return 1;
    }
    if (kw1 > kw0) {
        for (kh = kh0; kh < kh1; ++kh) {
            const int8_t *row = in_b + (ih0 + kh * k->dil_h) * in_w * in_c;
            if (k->dil_w == 1) {
                xr[nrun] = row + (iw0 + kw0) * in_c;
                ws[nrun++] = (kh * k->k_w + kw0) * in_c;
                *len = (kw1 - kw0) * in_c;
            } else {
                for (kw = kw0; kw < kw1; ++kw) {
                    xr[nrun] = row + (iw0 + kw * k->dil_w) * in_c;
                    ws[nrun++] = (kh * k->k_w + kw) * in_c;
                }
            }
        }
    }
    return nrun;
}

int qnnc_conv_mve_s4(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                     const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                     const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                     const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t fsize = k_h * k_w * in_c;
    const int32_t off = params->input_offset, output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t row_run = dil_w == 1 ? k_w * in_c : in_c; /* longest contiguous run */
    const int use_col = row_run < 16 && fsize <= QNNC_S4_COL && off >= -127; /* -off fits int8 */
    /* qnnc_s4_px_mve: every run starts at an even nibble of an even-sized filter */
    const int fast = (fsize & 1) == 0 &&
                     (use_col || ((in_c & 1) == 0 && (dil_w == 1 ? k_h : k_h * k_w) <= QNNC_S4_RUNS));
    int8_t col[2][QNNC_S4_COL];
    int32_t b, oh, ow, oc, kh, kw;
    const int32_t cols = qnnc_conv_s4_mve_cols_size(params, input_dims, filter_dims, output_dims);
    qnnc_s4_conv_k k;
    k.filter = filter;
    k.bias = bias;
    k.quant = quant;
    k.act_lut = params->act_lut;
    k.out_c = out_c;
    k.fsize = fsize;
    k.off = off;
    k.lo = lo;
    k.hi = hi;
    k.output_offset = output_offset;
    k.rounding = params->rounding;
    k.in_w = in_w;
    k.in_c = in_c;
    k.k_h = k_h;
    k.k_w = k_w;
    k.dil_h = dil_h;
    k.dil_w = dil_w;
    k.stride_w = params->stride_w;
    k.pad_left = params->pad_left;
    k.use_col = use_col;
    if (cols > 0 && scratch != NULL && scratch->buf != NULL && scratch->size >= cols) {
        qnnc_s4_conv_cols_mve(&k, params, input_dims, input, filter_dims, output_dims, scratch->buf, output);
        return 1;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw0, kw1;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                if (fast) {
                    const int8_t *xa[QNNC_S4_RUNS], *xb[QNNC_S4_RUNS];
                    int32_t wa[QNNC_S4_RUNS], wb[QNNC_S4_RUNS], la, lb;
                    const int32_t na = qnnc_s4_runs_mve(&k, in_b, ih0, kh0, kh1, ow, col[0], xa, wa, &la);
                    if (ow + 1 < out_w) { /* pairs of pixels with the same runs share the weights */
                        const int32_t nb = qnnc_s4_runs_mve(&k, in_b, ih0, kh0, kh1, ow + 1, col[1], xb, wb, &lb);
                        if (nb == na && lb == la && memcmp(wa, wb, (size_t)na * sizeof wa[0]) == 0) {
                            qnnc_s4_px2_mve(&k, xa, xb, wa, na, la, output, output + out_c);
                            output += 2 * out_c;
                            ++ow;
                            continue;
                        }
                    }
                    qnnc_s4_px_mve(&k, xa, wa, na, la, output);
                    output += out_c;
                    continue;
                }
                for (oc = 0; oc < out_c; oc += 4) {
                    const int32_t nch = out_c - oc >= 4 ? 4 : out_c - oc;
                    int32_t acc[4] = {0, 0, 0, 0}, c;
                    for (c = 0; c < nch && bias != NULL; ++c) {
                        acc[c] = bias[oc + c];
                    }
                    for (kh = kh0; kh < kh1; ++kh) {
                        const int8_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
                        const int32_t w_row = oc * fsize + kh * k_w * in_c;
                        if (dil_w == 1 && kw1 > kw0) {
                            qnnc_s4_dot_mve(filter, w_row + kw0 * in_c, fsize, nch, row + (iw0 + kw0) * in_c,
                                            (kw1 - kw0) * in_c, off, acc);
                        } else if (dil_w != 1) {
                            for (kw = kw0; kw < kw1; ++kw) {
                                qnnc_s4_dot_mve(filter, w_row + kw * in_c, fsize, nch, row + (iw0 + kw * dil_w) * in_c,
                                                in_c, off, acc);
                            }
                        }
                    }
                    qnnc_s4_out4_mve(acc, oc, nch, quant, lo, hi, output_offset, params->act_lut, params->rounding,
                                     output);
                    output += nch;
                }
            }
        }
    }
    return 1;
}
#endif /* QNNC_PATH_MVE */
