/*
 * qnnc_conv_s16_mve.c - the Helium path of qnnc_conv_s16 (__ARM_FEATURE_MVE: Cortex-M55/M85;
 * compiled to nothing elsewhere; the entry point and dispatch are in qnnc_conv_s16.c). Model:
 * CMSIS-NN arm_convolve_s16 (MVE).
 *
 * Four output channels per pass over the input: 8 int16 inputs (VLDRH) against 8 weights of
 * each channel widened by the load (VLDRB.S16), VMLADAVA into one int32 sum per channel. A
 * product is at most 2^22 in magnitude, so int32 sums of QNNC_CONV16_CHUNK = 256 products stay
 * below 2^30. When the whole dot product plus the bias fits int32 (qnnc_s16_sums_fit: at most
 * 511 products, biases small enough) and every shift <= 13 (what the quantizer produces for
 * such layers), the sums start from the biases and the output is one vector requantization
 * (qnnc_mve_output_s16_vec: the short form when every shift <= -2) and a narrowing store;
 * otherwise the chunks' sums go to int64 accumulators (exact for any length, the reference's
 * int64 sums). The taps of a pixel are read in place when they are one contiguous run (1x1, or
 * 1xK rows inside the input); small windows (at most QNNC_CONV16_COL values) with padding are
 * first copied into a column on the stack with zeros for padding taps (the input offset is 0 on
 * this path); larger ones are summed kernel row by kernel row.
 *
 * With the scratch of qnnc_conv_s16_get_buffer_size (K % 4 == 0, out_c % 4 == 0, sums that fit
 * int32), or without it when both windows fit the stack column (2 K <= QNNC_CONV16_COL: a first
 * layer's K = 27, any K % 4), and K >= 8, two output pixels run together, three channels x two
 * pixels a pass (qnnc_conv16_passes_mve.h). Two pixels inside the input whose kernel rows are
 * whole vectors (k_w * in_c % 8 == 0) are read in place row by row; other windows are read in
 * place as one run or copied into the scratch or the column by Helium loads and stores
 * (qnnc_conv16_window_mve: no memcpy call per kernel row). The passes over a block of channels
 * run in one inline-assembly loop (~16 instructions a pass besides the MACs instead of ~40 with a
 * C call a pass; for K % 8 != 0 each pass ends with a predicated tail, in place each kernel row
 * is a loop of its own; a C version for other compilers and unoptimized builds), and the one or
 * two channels left over by the passes of three get a pass of their own. The passes' int32 sums
 * of up to QNNC_CONV16_PAIR_CH channels wait on the stack for their requantization, which then
 * runs in a loop of its own.
 *
 * Layers qnnc_s16_sums_fit declines (K > 511: no scratch either) still keep int32 sums when the
 * weights prove them exact (qnnc_conv16_weights_fit: |bias| + 32768 * sum |w| <= INT32_MAX per
 * channel bounds every partial sum for any input), with shifts <= 13, out_c % 4 == 0 and
 * dilation 1 along w: pixel pairs down a column (qnnc_conv16_columns_mve.h) share their valid
 * kernel columns, so each kernel row is read in place as one run for both pixels, three channels
 * x two pixels a call (qnnc_conv16_run3x2_mve), instead of int64 chunks one pixel at a time.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
#if defined(__GNUC__) && !defined(__clang__)
/* The pass loops' assembly (qnnc_conv16_passes_mve.h) needs r7: this file never keeps a frame
 * pointer (as the DSP conv's), or a -fno-omit-frame-pointer build does not compile. */
#pragma GCC optimize("omit-frame-pointer")
#endif
#define QNNC_CONV16_COL 128   /* int16 values of the stack column (256 bytes) */
#define QNNC_CONV16_CHUNK 256 /* products per int32 partial sum: 256 * 2^22 = 2^30 */
#define QNNC_CONV16_PAIR_CH 32 /* channels of the two-pixel path's int32 sums on the stack (256 bytes) */

/* The int32 sums x[i] * wj[j][wo + i] over i < n, lane j < 4: n <= QNNC_CONV16_CHUNK
 * (|sum| <= 2^30), or any n of a layer whose sums fit int32 (qnnc_s16_sums_fit). */
static QNNC_LOOP_ATTR int32x4_t qnnc_conv16_dot4_mve(const int16_t *x, const int8_t *const *wj, int32_t wo, int32_t n)
{
    const int8_t *w = wj[0] + wo, *w1 = wj[1] + wo, *w2 = wj[2] + wo, *w3 = wj[3] + wo;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int32x4_t r;
    int32_t i;
    for (i = n >> 3; i > 0; --i) {
        const int16x8_t xv = vldrhq_s16(x);
        s0 = vmladavaq_s16(s0, xv, vldrbq_s16(w));
        s1 = vmladavaq_s16(s1, xv, vldrbq_s16(w1));
        s2 = vmladavaq_s16(s2, xv, vldrbq_s16(w2));
        s3 = vmladavaq_s16(s3, xv, vldrbq_s16(w3));
        x += 8;
        w += 8;
        w1 += 8;
        w2 += 8;
        w3 += 8;
    }
    if (n & 7) {
        const mve_pred16_t p = vctp16q((uint32_t)(n & 7));
        const int16x8_t xv = vldrhq_z_s16(x, p); /* zero lanes contribute nothing */
        s0 = vmladavaq_s16(s0, xv, vldrbq_z_s16(w, p));
        s1 = vmladavaq_s16(s1, xv, vldrbq_z_s16(w1, p));
        s2 = vmladavaq_s16(s2, xv, vldrbq_z_s16(w2, p));
        s3 = vmladavaq_s16(s3, xv, vldrbq_z_s16(w3, p));
    }
    r = vdupq_n_s32(s0);
    r = vsetq_lane_s32(s1, r, 1);
    r = vsetq_lane_s32(s2, r, 2);
    return vsetq_lane_s32(s3, r, 3);
}

/* Outputs 0 .. 4 * groups - 1 of one pixel in a layer whose sums fit int32 (qnnc_s16_sums_fit,
 * shifts <= 13): per four channels, the sums over the K taps at x (VMLADAVA) start
 * from the biases, and one vector requantization and a narrowing store follow in the same
 * function. */
static QNNC_LOOP_ATTR void qnnc_conv16_pixel_mve(const int16_t *x, const int8_t *filter, int32_t K, int32_t groups,
                                                 const int64_t *bias, const qnnc_per_channel_quant *quant,
                                                 const qnnc_conv_params *params, int vec, int16_t *out)
{
    const mve_pred16_t p = vctp16q((uint32_t)(K & 7));
    int32_t g, i;
    for (g = 0; g < groups; ++g) {
        const int32_t c = 4 * g;
        const int8_t *w = filter + c * K;
        const int16_t *xp = x;
        int32_t s0 = qnnc_s16_bias32(bias, c), s1 = qnnc_s16_bias32(bias, c + 1);
        int32_t s2 = qnnc_s16_bias32(bias, c + 2), s3 = qnnc_s16_bias32(bias, c + 3);
        int32x4_t v, m = vldrwq_s32(quant->multiplier + c), sh = vldrwq_s32(quant->shift + c);
        for (i = K >> 3; i > 0; --i) {
            const int16x8_t xv = vldrhq_s16(xp);
            s0 = vmladavaq_s16(s0, xv, vldrbq_s16(w));
            s1 = vmladavaq_s16(s1, xv, vldrbq_s16(w + K));
            s2 = vmladavaq_s16(s2, xv, vldrbq_s16(w + 2 * K));
            s3 = vmladavaq_s16(s3, xv, vldrbq_s16(w + 3 * K));
            xp += 8;
            w += 8;
        }
        if (K & 7) {
            const int16x8_t xv = vldrhq_z_s16(xp, p); /* zero lanes contribute nothing */
            s0 = vmladavaq_s16(s0, xv, vldrbq_z_s16(w, p));
            s1 = vmladavaq_s16(s1, xv, vldrbq_z_s16(w + K, p));
            s2 = vmladavaq_s16(s2, xv, vldrbq_z_s16(w + 2 * K, p));
            s3 = vmladavaq_s16(s3, xv, vldrbq_z_s16(w + 3 * K, p));
        }
        v = vdupq_n_s32(s0);
        v = vsetq_lane_s32(s1, v, 1);
        v = vsetq_lane_s32(s2, v, 2);
        v = vsetq_lane_s32(s3, v, 3);
        qnnc_mve_prep_s16(vec, &m, &sh);
        vstrhq_s32(out + c, qnnc_mve_output_s16_vec(vec, v, m, sh, params->output_offset, params->act_min,
                                                    params->act_max));
    }
}

#include "qnnc_conv16_passes_mve.h" /* the passes: three channels x two pixels, the channels left over */

/* The int32 sums of channels 0 .. nc - 1 (1 <= nc <= QNNC_CONV16_PAIR_CH) of two pixels whose
 * taps t are at xa and xb: passes of three channels (the assembly for one run of K % 8 == 0 taps,
 * with its predicated tail, or over kernel rows in place), then the one or two channels left in a
 * pass of their own (qnnc_conv16_rest1_mve, qnnc_conv16_rest2_mve). */
static void qnnc_conv16_sums2_mve(const int16_t *xa, const int16_t *xb, const int8_t *w, int32_t K,
                                  const qnnc_conv16_taps *t, int32_t nc, int32_t *sa)
{
    const int32_t full = nc / 3;
    if (full > 0) {
        if (t->rows > 1) {
            qnnc_conv16_passes3x2_rows_mve(xa, xb, w, K, t, full, sa);
        } else if ((K & 7) == 0) {
            qnnc_conv16_passes3x2_mve(xa, xb, w, K, full, sa);
        } else {
            qnnc_conv16_passes3x2_tail_mve(xa, xb, w, K, full, sa);
        }
    }
    if (nc - 3 * full == 1) {
        qnnc_conv16_rest1_mve(xa, xb, w + 3 * full * K, t, sa + 3 * full);
    } else if (nc - 3 * full == 2) {
        qnnc_conv16_rest2_mve(xa, xb, w + 3 * full * K, K, t, sa + 3 * full);
    }
}

/* One vector requantization (vec 1 or 2, qnnc_mve_output_s16_vec) per pixel and four channels
 * c .. c + 3 of qnnc_conv16_out2_mve, their biases (int32 words 0, 2, 4, 6 at bias: the int64
 * biases' low words, or zeros) added to the sums. */
QNNC_INLINE void qnnc_conv16_out4x2_mve(int vec, const int32_t *sa, int32_t c, const int32_t *bias,
                                        const qnnc_per_channel_quant *quant, int32_t off, int32_t lo, int32_t hi,
                                        int16_t *outa, int16_t *outb)
{
    int32x4_t m = vldrwq_s32(quant->multiplier + c), sh = vldrwq_s32(quant->shift + c);
    const int32x4_t bv = vldrwq_gather_shifted_offset_s32(bias, vidupq_n_u32(0u, 2));
    qnnc_mve_prep_s16(vec, &m, &sh);
    vstrhq_s32(outa + c, qnnc_mve_output_s16_vec(vec, vaddq_s32(vldrwq_s32(sa + c), bv), m, sh, off, lo, hi));
    vstrhq_s32(outb + c, qnnc_mve_output_s16_vec(vec, vaddq_s32(vldrwq_s32(sa + QNNC_CONV16_PAIR_CH + c), bv), m,
                                                 sh, off, lo, hi));
}

/* Outputs c0 .. c0 + nc - 1 (nc % 4 == 0) of two pixels from qnnc_conv16_sums2_mve's sums (of
 * channels c0 ..), in a loop apart from the passes: each has the registers to itself (vec:
 * qnnc_mve_s16_vec). Inlined in its two callers: a call a pixel pair cost ~35 instructions of
 * saves and set-up (IC: 50 K), the copies +268 bytes. */
QNNC_INLINE void qnnc_conv16_out2_mve(const int32_t *sa, int32_t c0, int32_t nc, const int64_t *bias,
                                                const qnnc_per_channel_quant *quant, const qnnc_conv_params *params,
                                                int vec, int16_t *outa, int16_t *outb)
{
    static const int32_t zeros[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* the biases of a layer without */
    const int32_t off = params->output_offset, lo = params->act_min, hi = params->act_max;
    /* channel c's low word is int32 word 2c (little-endian int64); no biases: the zeros, no step */
    const int32_t *bw = bias != NULL ? (const int32_t *)(bias + c0) : zeros;
    const int32_t bstep = bias != NULL ? 8 : 0;
    qnnc_per_channel_quant q;
    int32_t c;
    q.multiplier = quant->multiplier + c0;
    q.shift = quant->shift + c0;
    outa += c0;
    outb += c0;
    if (vec == 2) { /* the loop for each requantization, vec a constant in it */
        for (c = 0; c < nc; c += 4, bw += bstep) {
            qnnc_conv16_out4x2_mve(2, sa, c, bw, &q, off, lo, hi, outa, outb);
        }
        return;
    }
    for (c = 0; c < nc; c += 4, bw += bstep) {
        qnnc_conv16_out4x2_mve(1, sa, c, bw, &q, off, lo, hi, outa, outb);
    }
}

/* Outputs 0 .. out_c - 1 (out_c % 4 == 0) of two pixels whose K >= 8 taps t are at xa and xb, in
 * a layer whose sums fit int32 (shifts <= 13): QNNC_CONV16_PAIR_CH channels at a time, the
 * passes' sums (qnnc_conv16_sums2_mve) on the stack, then their requantization
 * (qnnc_conv16_out2_mve). */
static void qnnc_conv16_pair_mve(const int16_t *xa, const int16_t *xb, const int8_t *filter, int32_t K,
                                 const qnnc_conv16_taps *t, int32_t out_c, const int64_t *bias, const qnnc_per_channel_quant *quant,
                                 const qnnc_conv_params *params, int vec, int16_t *outa, int16_t *outb)
{
    int32_t sums[2 * QNNC_CONV16_PAIR_CH];
    int32_t c0;
    for (c0 = 0; c0 < out_c; c0 += QNNC_CONV16_PAIR_CH) {
        const int32_t nc = out_c - c0 < QNNC_CONV16_PAIR_CH ? out_c - c0 : QNNC_CONV16_PAIR_CH;
        qnnc_conv16_sums2_mve(xa, xb, filter + c0 * K, K, t, nc, sums);
        qnnc_conv16_out2_mve(sums, c0, nc, bias, quant, params, vec, outa, outb);
    }
}

/* n >= 0 int16 values from src to dst (Helium: whole vectors, then the last one predicated) */
QNNC_INLINE void qnnc_conv16_copy_mve(int16_t *dst, const int16_t *src, int32_t n)
{
    int32_t i;
    for (i = n >> 3; i > 0; --i) {
        vstrhq_s16(dst, vldrhq_s16(src));
        src += 8;
        dst += 8;
    }
    if (n & 7) {
        const mve_pred16_t p = vctp16q((uint32_t)(n & 7));
        vstrhq_p_s16(dst, vldrhq_z_s16(src, p), p);
    }
}

/* n >= 0 zeros at dst (Helium, the last vector predicated) */
QNNC_INLINE void qnnc_conv16_zero_mve(int16_t *dst, int32_t n)
{
    const int16x8_t z = vdupq_n_s16(0);
    for (; n > 0; n -= 8, dst += 8) {
        vstrhq_p_s16(dst, z, vctp16q((uint32_t)n));
    }
}

/* qnnc_s16_window (the same taps) with its copies and zeros in Helium loops instead of a
 * memset and a memcpy call per kernel row. */
static const int16_t *qnnc_conv16_window_mve(const qnnc_conv_params *params, const int16_t *in_b,
                                             const qnnc_dims *input_dims, const qnnc_dims *filter_dims, int32_t ih0,
                                             int32_t iw0, int16_t *win)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, dil_h = params->dilation_h, dil_w = params->dilation_w;
    int32_t kh0, kh1, kw0, kw1, kh, kw;
    if (dil_w == 1 && ih0 >= 0 && iw0 >= 0 && ih0 + (k_h - 1) * dil_h < in_h && iw0 + k_w <= in_w) {
        /* inside the input (most windows): k_h runs of k_w * in_c taps, no tap ranges */
        const int32_t run = k_w * in_c, step = dil_h * in_w * in_c;
        const int16_t *row = in_b + (ih0 * in_w + iw0) * in_c;
        if (k_h == 1) {
            return row; /* one run: in place */
        }
        for (kh = 0; kh < k_h; ++kh) {
            qnnc_conv16_copy_mve(win + kh * run, row + kh * step, run);
        }
        return win;
    }
    qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
    qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
    if (kh0 == 0 && kh1 == k_h && kw0 == 0 && kw1 == k_w && k_h == 1 && (k_w == 1 || dil_w == 1)) {
        return in_b + (ih0 * in_w + iw0) * in_c;
    }
    if (kh0 != 0 || kh1 != k_h || kw0 != 0 || kw1 != k_w) {
        qnnc_conv16_zero_mve(win, k_h * k_w * in_c);
    }
    for (kh = kh0; kh < kh1; ++kh) {
        const int16_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
        if (dil_w == 1) { /* the row's valid taps are one run */
            qnnc_conv16_copy_mve(win + (kh * k_w + kw0) * in_c, row + (iw0 + kw0) * in_c, (kw1 - kw0) * in_c);
            continue;
        }
        for (kw = kw0; kw < kw1; ++kw) {
            qnnc_conv16_copy_mve(win + (kh * k_w + kw) * in_c, row + (iw0 + kw * dil_w) * in_c, in_c);
        }
    }
    return win;
}

/* Two pixels at a time (qnnc_conv16_pair_mve): both inside the input with kernel rows of
 * whole vectors (k_w * in_c % 8 == 0, dilation 1 along w), their rows read in place; else their
 * windows, where they are not read in place as one run, in the scratch
 * (QNNC_CONV_S16_MVE_BUFFER_SIZE) or, when both fit it (2 K <= QNNC_CONV16_COL), in the stack
 * column col: for layers whose sums fit int32 with shifts <= 13, out_c % 4 == 0 and K >= 8 (K % 8
 * != 0: the passes' predicated tail). 1 when taken. */
static int qnnc_conv16_pairs_mve(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                 const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                 const int16_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                 const int64_t *bias, const qnnc_dims *output_dims, int vec, int16_t *col,
                                 int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, K = k_h * k_w * in_c;
    const int32_t out_w = output_dims->w, out_c = output_dims->c, n_pix = output_dims->h * out_w;
    /* a window in one run, or the kernel rows in place: k_h runs of k_w * in_c taps */
    const qnnc_conv16_taps one = {1, K, 0}, rows = {k_h, k_w * in_c, params->dilation_h * in_w * in_c};
    const int in_place = params->dilation_w == 1 && k_h > 1 && (rows.run & 7) == 0;
    const int32_t last_h = in_h - (k_h - 1) * params->dilation_h, last_w = in_w - k_w;
    int16_t *win;
    int32_t b, p;
    if (K < 8 || (out_c & 3) != 0) {
        return 0;
    }
    if (2 * K <= QNNC_CONV16_COL) {
        win = col;
    } else if (scratch != NULL && scratch->buf != NULL && qnnc_scratch_fits(scratch, 4u, QNNC_CONV_S16_MVE_BUFFER_SIZE(K))) {
        win = (int16_t *)qnnc_scratch_align(scratch, 4u);
    } else {
        return 0;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        int16_t *out_b = output + b * n_pix * out_c;
        for (p = 0; p < n_pix; p += 2) {
            const int32_t p1 = p + 1 < n_pix ? p + 1 : p; /* odd count: the last pixel twice */
            const int32_t iha = (p / out_w) * params->stride_h - params->pad_top;
            const int32_t iwa = (p % out_w) * params->stride_w - params->pad_left;
            const int32_t ihb = (p1 / out_w) * params->stride_h - params->pad_top;
            const int32_t iwb = (p1 % out_w) * params->stride_w - params->pad_left;
            const int16_t *xa, *xb;
            const qnnc_conv16_taps *t = &one;
            if (in_place && iha >= 0 && iwa >= 0 && iha <= last_h - 1 && iwa <= last_w && ihb >= 0 && iwb >= 0 &&
                ihb <= last_h - 1 && iwb <= last_w) {
                xa = in_b + (iha * in_w + iwa) * in_c;
                xb = in_b + (ihb * in_w + iwb) * in_c;
                t = &rows;
            } else {
                xa = qnnc_conv16_window_mve(params, in_b, input_dims, filter_dims, iha, iwa, win);
                xb = qnnc_conv16_window_mve(params, in_b, input_dims, filter_dims, ihb, iwb, win + K);
            }
            qnnc_conv16_pair_mve(xa, xb, filter, K, t, out_c, bias, quant, params, vec, out_b + p * out_c,
                                 out_b + p1 * out_c);
        }
    }
    return 1;
}

#include "qnnc_conv16_columns_mve.h" /* the K > 511 path: pixel pairs down a column */

/* The four channels' sums over a run of n taps at x (filter offset wo): into the int32 vector
 * *v when the layer's sums fit int32 (small), else chunk by chunk into the int64 acc. */
QNNC_INLINE void qnnc_conv16_run4_mve(const int16_t *x, const int8_t *const *wj, int32_t wo, int32_t n, int small,
                                      int32x4_t *v, int64_t *acc)
{
    if (small) {
        *v = vaddq_s32(*v, qnnc_conv16_dot4_mve(x, wj, wo, n));
        return;
    }
    while (n > 0) {
        const int32_t m = n < QNNC_CONV16_CHUNK ? n : QNNC_CONV16_CHUNK;
        const int32x4_t t = qnnc_conv16_dot4_mve(x, wj, wo, m);
        acc[0] += vgetq_lane_s32(t, 0);
        acc[1] += vgetq_lane_s32(t, 1);
        acc[2] += vgetq_lane_s32(t, 2);
        acc[3] += vgetq_lane_s32(t, 3);
        x += m;
        wo += m;
        n -= m;
    }
}

/** The Helium conv (input offset 0, else 0 is returned and the caller runs the portable path). */
QNNC_PATH_ATTR int qnnc_conv_mve_s16(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                     const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int16_t *input,
                                     const qnnc_dims *filter_dims, const int8_t *filter, const int64_t *bias,
                                     const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t K = k_h * k_w * in_c;
    int16_t col[QNNC_CONV16_COL];
    int32_t b, oh, ow, oc, kh, kw, j;
    int vec, small;

    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset)) {
        return 0;
    }
    vec = qnnc_mve_s16_vec(quant, out_c);
    /* the bias and the K products fit int32 (qnnc_s16_sums_fit): int32 sums, vector output */
    small = vec && qnnc_s16_sums_fit(bias, out_c, K);
    if (small && qnnc_conv16_pairs_mve(scratch, params, quant, input_dims, input, filter_dims, filter, bias,
                                       output_dims, vec, col, output)) {
        return 1;
    }
    if (vec && !small && dil_w == 1 && (out_c & 3) == 0 && qnnc_conv16_weights_fit(filter, bias, out_c, K)) {
        qnnc_conv16_columns_mve(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, vec, output);
        return 1;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < output_dims->h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1;
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            for (ow = 0; ow < output_dims->w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                const int16_t *x = NULL;
                int32_t kw0, kw1;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                if (kh0 == 0 && kh1 == k_h && kw0 == 0 && kw1 == k_w && k_h == 1 && (k_w == 1 || dil_w == 1)) {
                    x = in_b + (ih0 * in_w + iw0) * in_c; /* one contiguous run: in place */
                } else if (K <= QNNC_CONV16_COL) {
                    x = qnnc_conv16_window_mve(params, in_b, input_dims, filter_dims, ih0, iw0, col);
                }
                oc = 0;
                if (small && x != NULL) { /* the whole groups of four channels in one call */
                    qnnc_conv16_pixel_mve(x, filter, K, out_c >> 2, bias, quant, params, vec, output);
                    oc = out_c & ~3;
                }
                for (; oc < out_c; oc += 4) {
                    const int32_t nv = out_c - oc < 4 ? out_c - oc : 4;
                    const int8_t *wj[4];
                    int64_t acc[4];
                    int32x4_t v = small ? qnnc_mve_bias4_s16(bias, oc, nv) : vdupq_n_s32(0);
                    for (j = 0; j < 4; ++j) {
                        /* fewer than 4 channels left: the last one is computed again in the spare lanes */
                        wj[j] = filter + (j < nv ? oc + j : out_c - 1) * K;
                    }
                    for (j = 0; !small && j < 4; ++j) {
                        acc[j] = bias != NULL ? bias[j < nv ? oc + j : out_c - 1] : 0;
                    }
                    if (x != NULL) {
                        qnnc_conv16_run4_mve(x, wj, 0, K, small, &v, acc);
                    } else {
                        for (kh = kh0; kh < kh1; ++kh) {
                            const int16_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
                            if (dil_w == 1) {
                                qnnc_conv16_run4_mve(row + (iw0 + kw0) * in_c, wj, (kh * k_w + kw0) * in_c,
                                                     (kw1 - kw0) * in_c, small, &v, acc);
                                continue;
                            }
                            for (kw = kw0; kw < kw1; ++kw) {
                                qnnc_conv16_run4_mve(row + (iw0 + kw * dil_w) * in_c, wj, (kh * k_w + kw) * in_c,
                                                     in_c, small, &v, acc);
                            }
                        }
                    }
                    if (small) { /* every sum and bias fit int32: one vector from the MACs to the store */
                        const mve_pred16_t p = vctp32q((uint32_t)nv);
                        int32x4_t m = vldrwq_z_s32(quant->multiplier + oc, p), sh = vldrwq_z_s32(quant->shift + oc, p);
                        qnnc_mve_prep_s16(vec, &m, &sh);
                        vstrhq_p_s32(output + oc,
                                     qnnc_mve_output_s16_vec(vec, v, m, sh, params->output_offset, params->act_min,
                                                             params->act_max),
                                     p);
                    } else {
                        qnnc_mve_out4_s16(acc, nv, vec, quant, oc, params->output_offset, params->act_min,
                                          params->act_max, output + oc);
                    }
                }
                output += out_c;
            }
        }
    }
    return 1;
}
#endif
