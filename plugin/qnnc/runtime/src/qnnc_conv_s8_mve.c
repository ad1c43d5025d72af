/*
 * qnnc_conv_s8_mve.c - the Helium path of qnnc_conv_s8 (__ARM_FEATURE_MVE: Cortex-M55/M85;
 * compiled to nothing elsewhere; the entry point and dispatch are in qnnc_conv_s8.c).
 *
 * Per output pixel an int8 column with padding taps holding the input zero point (so every tap
 * contributes w * (x + offset) and the offset term folds into the bias: bias + offset * sum(w),
 * computed once per layer): from a column strip shared down an output column where the layer
 * has no dilation, else an im2col copy (qnnc_conv_columns_mve.h); then VMLADAVA dot products of
 * 16 int8 lanes, 2 pixels x 3 output channels at a time; layers of a few output channels over a
 * short column sum along the channels instead (qnnc_conv_outer_mve.h). 1x1 convolutions read the
 * input pixels directly (plain GEMM, no copy). The columns or the strip, the folded bias and the
 * accumulators (blocks of QNNC_CONV_OC_BLOCK output channels) live in the caller's scratch buffer
 * (qnnc_conv_mve_s8_buffer_size).
 */
#include "qnnc_internal.h"

#if QNNC_PATH_MVE
#include "qnnc_conv_columns_mve.h" /* the im2col columns and the column strips */

/* Requantization constants shared by every output of a layer. */
typedef struct {
    int32x4_t lo, hi;
    int32_t output_offset;
} qnnc_conv_rq_mve_t;

#include "qnnc_conv_pair_mve.h" /* the dot products: 2 pixels x 3 channels */

/* Requantization modes of a layer (the `mode` of the functions below, a constant there). */
#define QNNC_CONV_MVE_RQ_NO_LEFT 0 /* TFLite rounding, every shift in [-31, 0] (the generator's) */
#define QNNC_CONV_MVE_RQ_TFLITE 1  /* TFLite rounding, some shift > 0 or < -31 */
#define QNNC_CONV_MVE_RQ_HE 2      /* half-even, every shift < 0: qnnc_mve_rq_he_neg */
#define QNNC_CONV_MVE_RQ_HE_REF 3  /* half-even, some shift >= 0: per lane, the reference */
/* NO_LEFT, clamped at or above the zero point (lo >= 0: a Relu): a negative value rounds to <= 0
 * with or without the fix-up and clamps to lo alike; VRSHL rounds values >= 0 half away */
#define QNNC_CONV_MVE_RQ_NONNEG 4

/* Half-even requantization of 4 lanes by the reference, one lane at a time (layers with a
 * scale >= 0.5: not a case worth vector code). */
static __attribute__((noinline)) int32x4_t qnnc_conv_mve_he_ref(int32x4_t v, int32x4_t mult, int32x4_t shift)
{
    int32_t a[4], m[4], s[4], i;
    vst1q_s32(a, v);
    vst1q_s32(m, mult);
    vst1q_s32(s, shift);
    for (i = 0; i < 4; ++i) {
        a[i] = qnnc_requantize_half_even(a[i], m[i], s[i]);
    }
    return vld1q_s32(a);
}

/* SRDHM by mult, then the rounding right shift by -nr (TFLite rounding; nonneg, a constant: the
 * values are clamped at or above the zero point afterwards, so VRSHL alone, see
 * QNNC_CONV_MVE_RQ_NONNEG). */
QNNC_INLINE int32x4_t qnnc_conv_mve_mul_shift(int32x4_t v, int32x4_t mult, int32x4_t nr, int nonneg)
{
    v = vqrdmulhq_s32(v, mult);
    return nonneg ? vrshlq_s32(v, nr) : qnnc_mve_round_shift(v, nr);
}

/* Both pixels' requantized vectors clamped, offset and stored as 4 int8 each, predicated by p
 * (out1 == out0 for an odd last pixel: the same values). */
QNNC_INLINE void qnnc_conv_mve_store2(int32x4_t v0, int32x4_t v1, int32x4_t lo, int32x4_t hi, int32_t output_offset,
                                      int8_t *out0, int8_t *out1, mve_pred16_t p)
{
    v0 = qnnc_mve_clamp_offset(v0, lo, hi, output_offset);
    v1 = qnnc_mve_clamp_offset(v1, lo, hi, output_offset);
    if (p == 0xFFFF) {
        vstrbq_s32(out0, v0);
        vstrbq_s32(out1, v1);
    } else {
        vstrbq_p_s32(out0, v0, p);
        vstrbq_p_s32(out1, v1, p);
    }
}

/* Requantizes one vector of 4 channels for both pixels and stores 4 int8 per pixel, predicated
 * by p. TFLite rounding (exact gemmlowp arithmetic): VQSHL = the saturating left shift,
 * VQRDMULH = SRDHM, VRSHL by minus the right shift after the negative fix-up = rounding half
 * away from zero. Half-even: qnnc_mve_rq_he_neg, or the reference per lane. */
QNNC_INLINE void qnnc_conv_mve_rq4(int32x4_t v0, int32x4_t v1, int32x4_t fb, int32x4_t mult, int32x4_t shift,
                                   int32x4_t lo, int32x4_t hi, int32_t output_offset, int8_t *out0, int8_t *out1,
                                   mve_pred16_t p, int mode)
{
    v0 = vaddq_s32(v0, fb);
    v1 = vaddq_s32(v1, fb);
    if (mode == QNNC_CONV_MVE_RQ_HE) {
        /* -s = max(shift, -31) + 1 in [-30, 0], lim = 2^s */
        const int32x4_t neg_s = vaddq_n_s32(vmaxq_s32(shift, vdupq_n_s32(-31)), 1);
        const int32x4_t lim = vshlq_s32(vdupq_n_s32(1), vnegq_s32(neg_s));
        v0 = qnnc_mve_rq_he_neg(v0, mult, neg_s, lim);
        v1 = qnnc_mve_rq_he_neg(v1, mult, neg_s, lim);
    } else if (mode == QNNC_CONV_MVE_RQ_HE_REF) {
        v0 = qnnc_conv_mve_he_ref(v0, mult, shift);
        v1 = qnnc_conv_mve_he_ref(v1, mult, shift);
    } else {
        const int nonneg = mode == QNNC_CONV_MVE_RQ_NONNEG, no_left = nonneg || mode == QNNC_CONV_MVE_RQ_NO_LEFT;
        /* (no_left: every shift in [-31, 0] already) */
        const int32x4_t nr = no_left ? shift : vmaxq_s32(vminq_s32(shift, vdupq_n_s32(0)), vdupq_n_s32(-31));
        if (!no_left) {
            const int32x4_t left = vmaxq_s32(shift, vdupq_n_s32(0));
            v0 = vqshlq_s32(v0, left);
            v1 = vqshlq_s32(v1, left);
        }
        v0 = qnnc_conv_mve_mul_shift(v0, mult, nr, nonneg);
        v1 = qnnc_conv_mve_mul_shift(v1, mult, nr, nonneg);
    }
    qnnc_conv_mve_store2(v0, v1, lo, hi, output_offset, out0, out1, p);
}

/* out0[oc], out1[oc] = requantized acc0[oc] / acc1[oc] + fbias[oc], 4 channels per vector,
 * the two pixels sharing each load of the channel parameters: whole vectors in a loop of
 * post-incremented loads, the last 1-3 channels predicated. mode: QNNC_CONV_MVE_RQ_*, a
 * constant in the callers below. */
QNNC_INLINE void qnnc_conv_mve_requant_body(const int32_t *acc0, const int32_t *acc1, const int32_t *fbias,
                                            const qnnc_per_channel_quant *quant, const qnnc_conv_rq_mve_t *rq,
                                            int32_t out_c, int8_t *out0, int8_t *out1, int mode)
{
    const int32_t *mult = quant->multiplier, *shift = quant->shift;
    const int32_t tail = out_c & 3;
    const int32x4_t lo = rq->lo, hi = rq->hi; /* in registers: the stores could alias *rq */
    const int32_t output_offset = rq->output_offset;
    int32_t n;
    for (n = out_c >> 2; n > 0; --n) {
        qnnc_conv_mve_rq4(vldrwq_s32(acc0), vldrwq_s32(acc1), vldrwq_s32(fbias), vldrwq_s32(mult),
                          vldrwq_s32(shift), lo, hi, output_offset, out0, out1, 0xFFFF, mode);
        acc0 += 4;
        acc1 += 4;
        fbias += 4;
        mult += 4;
        shift += 4;
        out0 += 4;
        out1 += 4;
    }
    if (tail) {
        const mve_pred16_t p = vctp32q((uint32_t)tail);
        qnnc_conv_mve_rq4(vldrwq_z_s32(acc0, p), vldrwq_z_s32(acc1, p), vldrwq_z_s32(fbias, p),
                          vldrwq_z_s32(mult, p), vldrwq_z_s32(shift, p), lo, hi, output_offset, out0, out1, p,
                          mode);
    }
}

/* The requantization of the rare modes (QNNC_CONV_MVE_RQ_TFLITE, _HE_REF) out of line. */
static __attribute__((noinline)) void qnnc_conv_mve_requant_rare(const int32_t *acc0, const int32_t *acc1,
                                                                 const int32_t *fbias, const qnnc_per_channel_quant *quant,
                                                                 const qnnc_conv_rq_mve_t *rq, int32_t out_c,
                                                                 int8_t *out0, int8_t *out1, int mode)
{
    if (mode == QNNC_CONV_MVE_RQ_TFLITE) {
        qnnc_conv_mve_requant_body(acc0, acc1, fbias, quant, rq, out_c, out0, out1, QNNC_CONV_MVE_RQ_TFLITE);
    } else {
        qnnc_conv_mve_requant_body(acc0, acc1, fbias, quant, rq, out_c, out0, out1, QNNC_CONV_MVE_RQ_HE_REF);
    }
}

/* s0 += a . v, s1 += b . v: one weight vector against both resident columns. */
QNNC_INLINE void qnnc_conv_mve_res_mac(int32_t *s0, int32_t *s1, int8x16_t a, int8x16_t b, int8x16_t v)
{
    *s0 = vmladavaq_s8(*s0, a, v);
    *s1 = vmladavaq_s8(*s1, b, v);
}

/* weights of step j of a row: predicated on the last step of a `pred` loop */
#define QNNC_CONV_RES_LD(ptr, j) ((pred && (j) == steps - 1) ? vldrbq_z_s8((ptr), pl) : vldrbq_s8(ptr))

/* Columns of 1-3 vectors (`steps`, a constant in the callers below): both columns stay in Q
 * registers for the whole channel loop, which then loads only weights (per 2 channels: 2 *
 * steps loads, 4 * steps VMLADAV, 2 STRD). The first layers and small 1x1 convs (K = 16, 27,
 * 32, 40), where the blocked loop's per-block work exceeded its dot products. Columns padded
 * past K with zeros read the next weight row there (the caller keeps the reads inside). */
QNNC_INLINE void qnnc_conv_mve_resident_body(const int8_t *restrict x0, const int8_t *restrict x1, int32_t K,
                                             const int8_t *restrict filter, int32_t out_c, int32_t *restrict acc0,
                                             int32_t *restrict acc1, int steps, int pred)
{
    /* pred (a constant): the last step reads only the row's own K - 16 * (steps - 1) weights
     * (the last channels of a layer, whose padded read would leave the filter) */
    const mve_pred16_t pl = pred ? vctp8q((uint32_t)(K - 16 * (steps - 1))) : (mve_pred16_t)0xFFFF;
    /* (pred: the columns' last step predicated too, for columns read in place) */
    const int8x16_t a0 = QNNC_CONV_RES_LD(x0, 0), b0 = QNNC_CONV_RES_LD(x1, 0);
    const int8x16_t a1 = steps > 1 ? QNNC_CONV_RES_LD(x0 + 16, 1) : a0;
    const int8x16_t b1 = steps > 1 ? QNNC_CONV_RES_LD(x1 + 16, 1) : b0;
    const int8x16_t a2 = steps > 2 ? QNNC_CONV_RES_LD(x0 + 32, 2) : a0;
    const int8x16_t b2 = steps > 2 ? QNNC_CONV_RES_LD(x1 + 32, 2) : b0;
    const int8_t *w = filter;
    int32_t n;
    for (n = out_c >> 1; n > 0; --n) {
        const int8_t *u = w + K;
        int8x16_t v = QNNC_CONV_RES_LD(w, 0), t = QNNC_CONV_RES_LD(u, 0);
        int32_t s00 = vmladavq_s8(a0, v), s01 = vmladavq_s8(b0, v);
        int32_t s10 = vmladavq_s8(a0, t), s11 = vmladavq_s8(b0, t);
        if (steps > 1) {
            v = QNNC_CONV_RES_LD(w + 16, 1);
            t = QNNC_CONV_RES_LD(u + 16, 1);
            qnnc_conv_mve_res_mac(&s00, &s01, a1, b1, v);
            qnnc_conv_mve_res_mac(&s10, &s11, a1, b1, t);
        }
        if (steps > 2) {
            v = QNNC_CONV_RES_LD(w + 32, 2);
            t = QNNC_CONV_RES_LD(u + 32, 2);
            qnnc_conv_mve_res_mac(&s00, &s01, a2, b2, v);
            qnnc_conv_mve_res_mac(&s10, &s11, a2, b2, t);
        }
        acc0[0] = s00;
        acc0[1] = s10;
        acc1[0] = s01;
        acc1[1] = s11;
        acc0 += 2;
        acc1 += 2;
        w = u + K;
    }
    if (out_c & 1) {
        const int8x16_t v = QNNC_CONV_RES_LD(w, 0);
        int32_t s00 = vmladavq_s8(a0, v), s01 = vmladavq_s8(b0, v);
        if (steps > 1) {
            qnnc_conv_mve_res_mac(&s00, &s01, a1, b1, QNNC_CONV_RES_LD(w + 16, 1));
        }
        if (steps > 2) {
            qnnc_conv_mve_res_mac(&s00, &s01, a2, b2, QNNC_CONV_RES_LD(w + 32, 2));
        }
        acc0[0] = s00;
        acc1[0] = s01;
    }
}

#undef QNNC_CONV_RES_LD

/* The resident-column loop per column length (1-3 vectors). */
QNNC_CONV_MVE_LOOP_FN(qnnc_conv_mve_resident1, qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 1, 0))
QNNC_CONV_MVE_LOOP_FN(qnnc_conv_mve_resident2, qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 2, 0))
QNNC_CONV_MVE_LOOP_FN(qnnc_conv_mve_resident3, qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 3, 0))

/* A dot-product loop of the K16 mode (the QNNC_CONV_MVE_LOOP_FN signature). */
typedef void (*qnnc_conv_mve_dot_fn)(const int8_t *restrict x0, const int8_t *restrict x1, int32_t K,
                                     const int8_t *restrict filter, int32_t out_c, int32_t *restrict acc0,
                                     int32_t *restrict acc1);

/* What the channel-block loop of a pixel pair needs (constant over the layer). */
typedef struct qnnc_conv_mve_job qnnc_conv_mve_job_t;
struct qnnc_conv_mve_job {
    qnnc_conv_rq_mve_t rq;
    const int8_t *filter;
    const int32_t *fbias, *mult, *shift;
    int32_t *accs;
    int32_t K, out_c, blk;
    int32_t steps;  /* zero-padded columns: 16-byte steps of a column */
    int32_t tail_c; /* zero-padded columns: the last channels whose padded read would leave the filter */
    int mode;       /* QNNC_CONV_MVE_K16, _PRED or _PADDED */
    qnnc_conv_mve_dot_fn dot; /* the K16 mode's loop for this K, chosen once per layer */
    int rq_mode;    /* QNNC_CONV_MVE_RQ_* */
    /* the pixel-pair function of rq_mode, chosen once per layer */
    void (*pixels)(const qnnc_conv_mve_job_t *job, const int8_t *x0, const int8_t *x1, int8_t *out0, int8_t *out1);
    /* the outer-product path (qnnc_conv_outer_mve.h): tap-major weights, channel constants */
    const int8_t *wt;
    const int32_t *outer_rq;
};

#define QNNC_CONV_MVE_K16 0    /* K % 16 == 0 */
#define QNNC_CONV_MVE_PRED 1   /* a predicated last step (1x1 read in place) */
#define QNNC_CONV_MVE_PADDED 2 /* im2col columns zero-padded to whole vectors */

/* The resident-column loop with the last step's reads predicated to K bytes: a layer's last
 * channels (whose padded weight read would leave the filter) and 1x1 convs reading columns in
 * place with K % 16 != 0. */
static QNNC_LOOP_ATTR void qnnc_conv_mve_resident_tail(int32_t steps, const int8_t *restrict x0,
                                                            const int8_t *restrict x1, int32_t K,
                                                            const int8_t *restrict filter, int32_t out_c,
                                                            int32_t *restrict acc0, int32_t *restrict acc1)
{
    if (steps == 1) {
        qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 1, 1);
    } else if (steps == 2) {
        qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 2, 1);
    } else {
        qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 3, 1);
    }
}

/* The resident-column loop for 1, 2 or 3 vectors a column. */
QNNC_INLINE void qnnc_conv_mve_resident(int32_t steps, const int8_t *x0, const int8_t *x1, int32_t K,
                                        const int8_t *w, int32_t n, int32_t *acc0, int32_t *acc1)
{
    if (steps == 1) {
        qnnc_conv_mve_resident1(x0, x1, K, w, n, acc0, acc1);
    } else if (steps == 2) {
        qnnc_conv_mve_resident2(x0, x1, K, w, n, acc0, acc1);
    } else {
        qnnc_conv_mve_resident3(x0, x1, K, w, n, acc0, acc1);
    }
}

/* acc0 / acc1 = the dot products of columns x0 / x1 with the filter rows oc .. oc + n. */
QNNC_INLINE void qnnc_conv_mve_dots(const qnnc_conv_mve_job_t *job, const int8_t *x0, const int8_t *x1, int32_t oc,
                                    int32_t n, int32_t *acc0, int32_t *acc1)
{
    const int32_t K = job->K;
    const int8_t *w = job->filter + oc * K;
    if (job->mode == QNNC_CONV_MVE_K16) {
        job->dot(x0, x1, K, w, n, acc0, acc1);
    } else if (job->mode == QNNC_CONV_MVE_PRED) {
        if (job->steps > 3) {
            qnnc_conv_mve_pair(x0, x1, K, w, n, acc0, acc1);
        } else {
            qnnc_conv_mve_resident_tail(job->steps, x0, x1, K, w, n, acc0, acc1);
        }
    } else {
        /* full steps for every channel whose padded read stays inside the filter */
        int32_t n_fast = job->out_c - job->tail_c - oc;
        n_fast = n_fast < 0 ? 0 : (n_fast > n ? n : n_fast);
        if (n_fast > 0) {
            if (job->steps > 3) {
                qnnc_conv_mve_pair_padded(x0, x1, K, job->steps, w, n_fast, acc0, acc1);
            } else {
                qnnc_conv_mve_resident(job->steps, x0, x1, K, w, n_fast, acc0, acc1);
            }
        }
        if (n_fast < n) {
            if (job->steps > 3) {
                qnnc_conv_mve_pair(x0, x1, K, w + n_fast * K, n - n_fast, acc0 + n_fast, acc1 + n_fast);
            } else {
                qnnc_conv_mve_resident_tail(job->steps, x0, x1, K, w + n_fast * K, n - n_fast, acc0 + n_fast,
                                            acc1 + n_fast);
            }
        }
    }
}

/* out0 / out1 (every channel) of the pixel pair whose columns are x0 / x1: per channel block
 * the dot products, then their requantization in `mode` (a constant in the callers below). */
QNNC_INLINE void qnnc_conv_mve_pixels_body(const qnnc_conv_mve_job_t *job, const int8_t *x0, const int8_t *x1,
                                           int8_t *out0, int8_t *out1, int mode)
{
    const int32_t out_c = job->out_c, blk = job->blk;
    int32_t *accs = job->accs;
    int32_t oc;
    if (out_c <= blk && job->mode == QNNC_CONV_MVE_K16 && mode != QNNC_CONV_MVE_RQ_TFLITE &&
        mode != QNNC_CONV_MVE_RQ_HE_REF) {
        /* one block of whole steps (most layers): no block loop to set up per pixel pair */
        qnnc_per_channel_quant q;
        q.multiplier = job->mult;
        q.shift = job->shift;
        job->dot(x0, x1, job->K, job->filter, out_c, accs, accs + out_c);
        qnnc_conv_mve_requant_body(accs, accs + out_c, job->fbias, &q, &job->rq, out_c, out0, out1, mode);
        return;
    }
    for (oc = 0; oc < out_c; oc += blk) {
        const int32_t n = out_c - oc < blk ? out_c - oc : blk;
        qnnc_per_channel_quant qb;
        qb.multiplier = job->mult + oc;
        qb.shift = job->shift + oc;
        qnnc_conv_mve_dots(job, x0, x1, oc, n, accs, accs + n);
        if (mode == QNNC_CONV_MVE_RQ_TFLITE || mode == QNNC_CONV_MVE_RQ_HE_REF) {
            qnnc_conv_mve_requant_rare(accs, accs + n, job->fbias + oc, &qb, &job->rq, n, out0 + oc, out1 + oc,
                                       job->rq_mode);
        } else {
            qnnc_conv_mve_requant_body(accs, accs + n, job->fbias + oc, &qb, &job->rq, n, out0 + oc, out1 + oc,
                                       mode);
        }
    }
}

/* One pixel-pair function per requantization mode, chosen once per layer (job.pixels): each
 * holds only its own mode's code and constants (one function for every mode spilled and
 * reloaded them on every call). The rare modes share one. */
#define QNNC_CONV_MVE_PIXELS_FN(name, mode)                                                                  \
    static QNNC_LOOP_ATTR void name(const qnnc_conv_mve_job_t *job, const int8_t *x0, const int8_t *x1,       \
                                    int8_t *out0, int8_t *out1)                                               \
    {                                                                                                        \
        qnnc_conv_mve_pixels_body(job, x0, x1, out0, out1, mode);                                            \
    }
QNNC_CONV_MVE_PIXELS_FN(qnnc_conv_mve_pixels_no_left, QNNC_CONV_MVE_RQ_NO_LEFT)
QNNC_CONV_MVE_PIXELS_FN(qnnc_conv_mve_pixels_nonneg, QNNC_CONV_MVE_RQ_NONNEG)
QNNC_CONV_MVE_PIXELS_FN(qnnc_conv_mve_pixels_he, QNNC_CONV_MVE_RQ_HE)
QNNC_CONV_MVE_PIXELS_FN(qnnc_conv_mve_pixels_rare, QNNC_CONV_MVE_RQ_TFLITE)

#include "qnnc_conv_outer_mve.h" /* few output channels: sums along the channels */

int32_t qnnc_conv_mve_s8_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c, out_c = output_dims->c;
    const int32_t cols = QNNC_CONV_MVE_BUFFER_SIZE(K, out_c, qnnc_conv_direct(params, input_dims, filter_dims,
                                                                              output_dims));
    const int32_t groups = qnnc_conv_strip_groups(params, input_dims, filter_dims, output_dims);
    const int32_t strip = groups > 0 ? QNNC_CONV_MVE_STRIP_SIZE(out_c, groups, filter_dims->w * input_dims->c) : 0;
    return cols > strip ? cols : strip;
}

QNNC_PATH_ATTR int qnnc_conv_mve_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                    const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                    const int8_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                    const int32_t *bias, const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t K = k_h * k_w * in_c;
    const int32_t n_pix = output_dims->h * out_w;
    const int32_t output_offset = params->output_offset;
    const int32_t input_offset = params->input_offset;
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
    /* 1x1, no padding: the input pixel itself is the column */
    const int direct = qnnc_conv_direct(params, input_dims, filter_dims, output_dims);
    qnnc_conv_mve_geo_t geo;
    const int32_t blk = out_c < QNNC_CONV_OC_BLOCK ? out_c : QNNC_CONV_OC_BLOCK;
    int32_t b, p, oc;
    qnnc_conv_mve_job_t job;
    int32_t *fbias; /* bias + input_offset * sum(w): the offset folded in (out_c) */
    int32_t *accs;  /* the dot products of a pixel pair, one channel block (2 * blk) */
    int8_t *cols;   /* two int8 columns of (K + 15) & ~15 bytes, unless direct */
    int outer;      /* the outer-product path (qnnc_conv_outer_mve.h) */
    int32_t groups; /* the column strip's kernel-row groups (qnnc_conv_mve_strip), 0: columns */

    if (K > QNNC_CONV_MAX_K || out_c > QNNC_CONV_MAX_K || scratch == NULL || scratch->buf == NULL) {
        return 0;
    }
    /* the scratch buffer, 4-byte aligned; too small: portable path (or columns, not the strip) */
    groups = qnnc_conv_strip_groups(params, input_dims, filter_dims, output_dims);
    if (groups > 0 && !qnnc_scratch_fits(scratch, 4u, QNNC_CONV_MVE_STRIP_SIZE(out_c, groups, k_w * in_c))) {
        groups = 0;
    }
    if (groups == 0 && !qnnc_scratch_fits(scratch, 4u, QNNC_CONV_MVE_BUFFER_SIZE(K, out_c, direct))) {
        return 0;
    }
    fbias = (int32_t *)qnnc_scratch_align(scratch, 4u);
    accs = fbias + out_c;
    cols = (int8_t *)(accs + 2 * blk);
    job.rq.lo = vdupq_n_s32(lo);
    job.rq.hi = vdupq_n_s32(hi);
    job.rq.output_offset = output_offset;
    job.rq_mode = params->rounding == QNNC_ROUND_HALF_EVEN ? QNNC_CONV_MVE_RQ_HE : QNNC_CONV_MVE_RQ_NO_LEFT;
    for (oc = 0; oc < out_c; ++oc) {
        if (params->rounding == QNNC_ROUND_HALF_EVEN && quant->shift[oc] >= 0) {
            job.rq_mode = QNNC_CONV_MVE_RQ_HE_REF;
        } else if (params->rounding != QNNC_ROUND_HALF_EVEN && (quant->shift[oc] > 0 || quant->shift[oc] < -31)) {
            job.rq_mode = QNNC_CONV_MVE_RQ_TFLITE;
        }
    }
    if (job.rq_mode == QNNC_CONV_MVE_RQ_NO_LEFT && lo >= 0) {
        job.rq_mode = QNNC_CONV_MVE_RQ_NONNEG;
    }
    /* few output channels, a short column, no left shifts: sums along the channels */
    outer = QNNC_CONV_MVE_OUTER(K, out_c) &&
            (job.rq_mode == QNNC_CONV_MVE_RQ_NO_LEFT || job.rq_mode == QNNC_CONV_MVE_RQ_NONNEG);
    job.pixels = job.rq_mode == QNNC_CONV_MVE_RQ_NO_LEFT  ? qnnc_conv_mve_pixels_no_left
                 : job.rq_mode == QNNC_CONV_MVE_RQ_NONNEG ? qnnc_conv_mve_pixels_nonneg
                 : job.rq_mode == QNNC_CONV_MVE_RQ_HE     ? qnnc_conv_mve_pixels_he
                                                          : qnnc_conv_mve_pixels_rare;
    if (outer) {
        job.pixels = job.rq_mode == QNNC_CONV_MVE_RQ_NONNEG ? qnnc_conv_mve_outer_nonneg : qnnc_conv_mve_outer_no_left;
    }
    {
        const int32_t colsz = (K + 15) & ~15;
        job.filter = filter;
        job.fbias = fbias;
        job.mult = quant->multiplier;
        job.shift = quant->shift;
        job.accs = accs;
        job.K = K;
        job.out_c = out_c;
        job.blk = blk;
        job.steps = colsz >> 4;
        job.tail_c = (colsz + K - 1) / K;
        /* (columns read in place, or from a strip, are not zero past K: the last step predicated) */
        job.mode = (K & 15) == 0 ? QNNC_CONV_MVE_K16
                   : (direct || groups > 0) ? QNNC_CONV_MVE_PRED : QNNC_CONV_MVE_PADDED;
        job.dot = K == 64 ? qnnc_conv_mve_pair64
                  : job.steps > 3 ? qnnc_conv_mve_pair16
                  : job.steps == 3 ? qnnc_conv_mve_resident3
                  : job.steps == 2 ? qnnc_conv_mve_resident2 : qnnc_conv_mve_resident1;
        geo.params = params;
        geo.in_h = in_h;
        geo.in_w = in_w;
        geo.in_c = in_c;
        geo.k_h = k_h;
        geo.k_w = k_w;
        geo.step = params->dilation_h * in_w * in_c;
        geo.span_h = (k_h - 1) * params->dilation_h;
        geo.short_rows = k_w * in_c <= 16 && params->dilation_w == 1;
        geo.row_p = vctp8q((uint32_t)(k_w * in_c));
        if (!direct && groups == 0) {
            /* the columns' bytes past K stay zero (im2col writes only K bytes) */
            int32_t k;
            for (k = K; k < colsz; ++k) {
                cols[k] = 0;
                cols[colsz + k] = 0;
            }
        }
        for (oc = 0; oc < out_c; ++oc) {
            /* whole vectors unpredicated (a predicate per step tripled this loop's work) */
            const int8_t *w = filter + oc * K;
            int32_t s = 0, k;
            for (k = K; k >= 16; k -= 16) {
                s = vaddvaq_s8(s, vldrbq_s8(w));
                w += 16;
            }
            if (k > 0) {
                const mve_pred16_t pr = vctp8q((uint32_t)k);
                s = vaddvaq_p_s8(s, vldrbq_z_s8(w, pr), pr);
            }
            fbias[oc] = (bias != NULL ? bias[oc] : 0) + input_offset * s;
        }
        job.wt = NULL;
        job.outer_rq = NULL;
        if (outer) {
            int32_t *t = (int32_t *)(void *)(cols + (direct ? 0 : 2 * colsz));
            job.wt = qnnc_conv_mve_outer_setup(filter, fbias, quant->multiplier, quant->shift, K, out_c, t);
            job.outer_rq = t;
        }
        for (b = 0; b < output_dims->n; ++b) {
            const int8_t *in_b = input + b * in_h * in_w * in_c;
            int8_t *out_b = output + b * n_pix * out_c;
            if (groups > 0) {
                /* output column by output column: pixel pairs down the column read the strip */
                const int32_t out_h = output_dims->h, G = k_w * in_c, down = params->stride_h * G;
                int32_t ow, oh;
                for (ow = 0; ow < out_w; ++ow) {
                    qnnc_conv_mve_strip(params, in_b, in_h, in_w, in_c, k_w, ow * params->stride_w - params->pad_left,
                                        groups, cols);
                    for (oh = 0; oh < out_h; oh += 2) {
                        const int32_t oh1 = oh + 1 < out_h ? oh + 1 : oh;
                        job.pixels(&job, cols + oh * down, cols + oh1 * down, out_b + (oh * out_w + ow) * out_c,
                                   out_b + (oh1 * out_w + ow) * out_c);
                    }
                }
                continue;
            }
            if (direct && params->stride_h == 1 && params->stride_w == 1 && out_w == in_w) {
                /* 1x1 stride 1: input pixel p is the column of output pixel p (no divisions) */
                for (p = 0; p < n_pix; p += 2) {
                    const int32_t p1 = p + 1 < n_pix ? p + 1 : p;
                    job.pixels(&job, in_b + p * in_c, in_b + p1 * in_c, out_b + p * out_c, out_b + p1 * out_c);
                }
                continue;
            }
            for (p = 0; p < n_pix; p += 2) {
                const int32_t p1 = p + 1 < n_pix ? p + 1 : p;
                const int32_t oh0 = p / out_w, ow0 = p % out_w, oh1 = p1 / out_w, ow1 = p1 % out_w;
                int8_t *out0 = out_b + p * out_c;
                int8_t *out1 = out_b + p1 * out_c;
                const int32_t ih0 = oh0 * params->stride_h - params->pad_top;
                const int32_t iw0 = ow0 * params->stride_w - params->pad_left;
                const int32_t ih1 = oh1 * params->stride_h - params->pad_top;
                const int32_t iw1 = ow1 * params->stride_w - params->pad_left;
                const int8_t *x0, *x1;
                if (direct) {
                    x0 = in_b + ((oh0 * params->stride_h) * in_w + ow0 * params->stride_w) * in_c;
                    x1 = in_b + ((oh1 * params->stride_h) * in_w + ow1 * params->stride_w) * in_c;
                } else {
                    qnnc_conv_mve_column(&geo, in_b, ih0, iw0, cols);
                    qnnc_conv_mve_column(&geo, in_b, ih1, iw1, cols + colsz);
                    x0 = cols;
                    x1 = cols + colsz;
                }
                job.pixels(&job, x0, x1, out0, out1);
            }
        }
    }
    qnnc_apply_lut(act_lut, output, output_dims->n * n_pix * out_c);
    return 1;
}
#endif /* QNNC_PATH_MVE */
