/*
 * qnnc_conv_outer_mve.h - the Helium int8 conv of layers with few output channels and a short
 * column (QNNC_CONV_MVE_OUTER: first layers, 1x1 convs over a few channels). A part of
 * qnnc_conv_s8_mve.c kept in its own file (that file's size); included there, after the job and
 * the requantization it uses, only where QNNC_PATH_MVE is set.
 *
 * Why a second formulation: the dot-product loops reduce along K, 16 int8 lanes a VMLADAV, so
 * every output channel of a pixel pair costs a weight-row setup, a reduction into a core
 * register, a store and a reload for the requantization, and a short K leaves lanes idle. With
 * at most 16 channels that fixed cost exceeded the MACs (MobileNetV1's 1x1 conv over 8 channels:
 * 416 instructions a pixel pair). Here the sums run along the channels instead: per tap, each
 * pixel's input byte (a scalar) times the tap's weights of 8 channels (two int32 vectors, VMLA)
 * accumulates into vectors that go straight to the requantization; 9 instructions a tap for 16
 * MACs, 4 lanes a VMLA, so it pays only while blocks of 8 channels x K stay small (the limit in
 * QNNC_CONV_MVE_OUTER, measured: past it, e.g. 16 channels over K = 27, the VMLADAV loops win).
 * The weights are read tap-major, from a copy the layer makes once in the scratch
 * (QNNC_CONV_MVE_BUFFER_SIZE), 8 channels a row, zero past out_c.
 */
#ifndef QNNC_CONV_OUTER_MVE_H
#define QNNC_CONV_OUTER_MVE_H

#include "qnnc_internal.h"

#if QNNC_PATH_MVE
/* The outer-product path's layer constants, in the scratch at t (4-byte aligned): per group of 4
 * channels (out_c rounded up to 8, zeros past out_c) the folded bias, the multipliers and the
 * shifts (the path takes only layers whose shifts are all in [-31, 0], QNNC_CONV_MVE_RQ_NO_LEFT:
 * VRSHL's negative amounts as they are), 12 words; then the weights, tap-major in blocks of 8
 * channels, wt[(blk * K + k) * 8 + c] = filter[(8 * blk + c) * K + k]. Returns wt. */
static int8_t *qnnc_conv_mve_outer_setup(const int8_t *filter, const int32_t *fbias, const int32_t *mult,
                                         const int32_t *shift, int32_t K, int32_t out_c, int32_t *t)
{
    const int32_t n8 = (out_c + 7) & ~7; /* out_c rounded up to 8 */
    int8_t *wt = (int8_t *)(t + 3 * n8);
    int32_t oc, k;
    for (oc = 0; oc < n8; ++oc) {
        int32_t *g = t + 12 * (oc >> 2) + (oc & 3);
        const int in = oc < out_c;
        g[0] = in ? fbias[oc] : 0;
        g[4] = in ? mult[oc] : 0;
        g[8] = in ? shift[oc] : 0;
        for (k = 0; k < K; ++k) {
            wt[((oc >> 3) * K + k) * 8 + (oc & 7)] = in ? filter[oc * K + k] : (int8_t)0;
        }
    }
    return wt;
}

/* 4 int8 at *p widened to int32, *p += 4: one VLDRB.S32 with writeback (GCC keeps a second
 * pointer and an ADD for the same two loads written in C). */
typedef struct {
    int8_t b[4];
} qnnc_mve_bytes4; /* the 4 bytes the load reads, as a memory operand (a const struct: a cast to a
                    * pointer to an array of const int8_t trips -Wcast-qual, the array not being const) */
QNNC_INLINE int32x4_t qnnc_mve_ldrb_s32_inc(const int8_t **p)
{
    int32x4_t v;
#if defined(__GNUC__) && !defined(__clang__)
    __asm__("vldrb.s32 %q0, [%1], #4" : "=w"(v), "+r"(*p) : "m"(*(const qnnc_mve_bytes4 *)(const void *)(*p)));
#else
    v = vldrbq_s32(*p);
    *p += 4;
#endif
    return v;
}

/* Requantizes the sums of 4 channels (bias included) of both pixels with the constants at t and
 * stores 4 int8 per pixel, predicated by p. nonneg: QNNC_CONV_MVE_RQ_NONNEG, else _NO_LEFT (as
 * qnnc_conv_mve_rq4). */
QNNC_INLINE void qnnc_conv_mve_outer_rq(int32x4_t v0, int32x4_t v1, const int32_t *t, const qnnc_conv_rq_mve_t *rq,
                                        int8_t *out0, int8_t *out1, mve_pred16_t p, int nonneg)
{
    const int32x4_t mult = vldrwq_s32(t + 4), nr = vldrwq_s32(t + 8);
    qnnc_conv_mve_store2(qnnc_conv_mve_mul_shift(v0, mult, nr, nonneg), qnnc_conv_mve_mul_shift(v1, mult, nr, nonneg),
                         rq->lo, rq->hi, rq->output_offset, out0, out1, p);
}

/* out0 / out1 (every channel) of the pixel pair whose columns are x0 / x1, 8 channels at a time:
 * four int32x4 sums (2 pixels x 2 vectors of channels) starting at the folded bias, K steps of 2
 * scalar loads, 2 widening weight loads and 4 VMLA, then the requantization of the sums in
 * registers. nonneg: a constant. */
QNNC_INLINE void qnnc_conv_mve_outer_body(const qnnc_conv_mve_job_t *job, const int8_t *x0, const int8_t *x1,
                                          int8_t *out0, int8_t *out1, int nonneg)
{
    const int32_t K = job->K, out_c = job->out_c;
    const int32_t *t = job->outer_rq;
    const int8_t *w = job->wt;
    int32_t oc;
    for (oc = 0; oc < out_c; oc += 8, t += 24) {
        const int8_t *a = x0, *b = x1;
        const int32_t left = out_c - oc; /* channels left from oc */
        int32x4_t s00 = vldrwq_s32(t), s01 = vldrwq_s32(t + 12), s10 = s00, s11 = s01;
        int32_t k;
        for (k = 0; k < K; ++k) {
            const int32_t u = *a++, v = *b++;
            const int32x4_t w0 = qnnc_mve_ldrb_s32_inc(&w), w1 = qnnc_mve_ldrb_s32_inc(&w);
            s00 = vmlaq_n_s32(s00, w0, u);
            s01 = vmlaq_n_s32(s01, w1, u);
            s10 = vmlaq_n_s32(s10, w0, v);
            s11 = vmlaq_n_s32(s11, w1, v);
        }
        if (left >= 8) {
            qnnc_conv_mve_outer_rq(s00, s10, t, &job->rq, out0 + oc, out1 + oc, 0xFFFF, nonneg);
            qnnc_conv_mve_outer_rq(s01, s11, t + 12, &job->rq, out0 + oc + 4, out1 + oc + 4, 0xFFFF, nonneg);
        } else {
            /* the last 1-7 channels: stores predicated (nothing past out_c is written) */
            qnnc_conv_mve_outer_rq(s00, s10, t, &job->rq, out0 + oc, out1 + oc, vctp32q((uint32_t)left), nonneg);
            if (left > 4) {
                qnnc_conv_mve_outer_rq(s01, s11, t + 12, &job->rq, out0 + oc + 4, out1 + oc + 4,
                                       vctp32q((uint32_t)(left - 4)), nonneg);
            }
        }
    }
}

/* The outer-product pixel-pair functions of the two modes it takes (as QNNC_CONV_MVE_PIXELS_FN). */
static QNNC_LOOP_ATTR void qnnc_conv_mve_outer_no_left(const qnnc_conv_mve_job_t *job, const int8_t *x0,
                                                       const int8_t *x1, int8_t *out0, int8_t *out1)
{
    qnnc_conv_mve_outer_body(job, x0, x1, out0, out1, 0);
}

static QNNC_LOOP_ATTR void qnnc_conv_mve_outer_nonneg(const qnnc_conv_mve_job_t *job, const int8_t *x0,
                                                      const int8_t *x1, int8_t *out0, int8_t *out1)
{
    qnnc_conv_mve_outer_body(job, x0, x1, out0, out1, 1);
}
#endif /* QNNC_PATH_MVE */
#endif /* QNNC_CONV_OUTER_MVE_H */
