/*
 * qnnc_conv_pair_mve.h - the dot products of the Helium int8 conv (qnnc_conv_s8_mve.c): the int32
 * sums of two im2col columns (two output pixels) with every filter row, three output channels
 * at a time, VMLADAVA over 16 int8 lanes. A part of qnnc_conv_s8_mve.c kept in its own file
 * (that file's size); included there, only where QNNC_PATH_MVE is set.
 */
#ifndef QNNC_CONV_PAIR_MVE_H
#define QNNC_CONV_PAIR_MVE_H

#include "qnnc_internal.h"

#if QNNC_PATH_MVE
/* One 16-lane step of `ch` (2 or 3, a constant) channels x 2 pixels: a[2c + p] += x_p . w_c
 * (first, a constant: a[2c + p] = x_p . w_c); full (a constant): whole vectors, else the loads
 * predicated by pr. */
#define QNNC_CONV_MVE_DOT(acc, x, w, first) ((first) ? vmladavq_s8((x), (w)) : vmladavaq_s8((acc), (x), (w)))
QNNC_INLINE void qnnc_conv_mve_step(int32_t *a, const int8_t *xa, const int8_t *xb, const int8_t *w0,
                                    const int8_t *w1, const int8_t *w2, int ch, mve_pred16_t pr, int full,
                                    int first)
{
    const int8x16_t va = full ? vldrbq_s8(xa) : vldrbq_z_s8(xa, pr);
    const int8x16_t vb = full ? vldrbq_s8(xb) : vldrbq_z_s8(xb, pr);
    int8x16_t w = full ? vldrbq_s8(w0) : vldrbq_z_s8(w0, pr);
    a[0] = QNNC_CONV_MVE_DOT(a[0], va, w, first);
    a[1] = QNNC_CONV_MVE_DOT(a[1], vb, w, first);
    w = full ? vldrbq_s8(w1) : vldrbq_z_s8(w1, pr);
    a[2] = QNNC_CONV_MVE_DOT(a[2], va, w, first);
    a[3] = QNNC_CONV_MVE_DOT(a[3], vb, w, first);
    if (ch == 3) {
        w = full ? vldrbq_s8(w2) : vldrbq_z_s8(w2, pr);
        a[4] = QNNC_CONV_MVE_DOT(a[4], va, w, first);
        a[5] = QNNC_CONV_MVE_DOT(a[5], vb, w, first);
    }
}

/* How qnnc_conv_mve_rows ends a column (the `tail` of the functions below, a constant there). */
#define QNNC_CONV_MVE_TAIL_NONE 0     /* K = 16 * full: a loop of whole steps */
#define QNNC_CONV_MVE_TAIL_PRED 1     /* then one step predicated by pr (K % 16 bytes) */
#define QNNC_CONV_MVE_TAIL_STRAIGHT 2 /* K = 16 * full, full a small constant: straight-line
                                       * loads at immediate offsets (no loop, no pointer updates) */

/* a[2c + p] = x_p . w_c for `ch` (2 or 3, a constant) filter rows w0, w1 (, w2): `full` (>= 1)
 * whole steps, then the `tail`. */
QNNC_INLINE void qnnc_conv_mve_rows(int32_t *a, const int8_t *xa, const int8_t *xb, const int8_t *w0,
                                    const int8_t *w1, const int8_t *w2, int32_t full, int ch, mve_pred16_t pr,
                                    int tail)
{
    int32_t n;
    if (tail == QNNC_CONV_MVE_TAIL_STRAIGHT) {
        /* the first step sets a[] (no zeroing) */
        qnnc_conv_mve_step(a, xa, xb, w0, w1, w2, ch, pr, 1, 1);
#pragma GCC unroll 8
        for (n = 16; n < 16 * full; n += 16) {
            qnnc_conv_mve_step(a, xa + n, xb + n, w0 + n, w1 + n, ch == 3 ? w2 + n : w2, ch, pr, 1, 0);
        }
        return;
    }
    /* (peeling the first step here too made GCC's code for these loops longer, not shorter) */
    for (n = 0; n < 2 * ch; ++n) {
        a[n] = 0;
    }
    for (n = full; n > 0; --n) {
        qnnc_conv_mve_step(a, xa, xb, w0, w1, w2, ch, pr, 1, 0);
        xa += 16;
        xb += 16;
        w0 += 16;
        w1 += 16;
        if (ch == 3) {
            w2 += 16;
        }
    }
    if (tail == QNNC_CONV_MVE_TAIL_PRED) {
        qnnc_conv_mve_step(a, xa, xb, w0, w1, w2, ch, pr, 0, 0);
    }
}

/* Dot products of two int8 columns (x0, x1; K values) with every filter row:
 * acc0[oc] = x0 . w_oc, acc1[oc] = x1 . w_oc. Three output channels at a time (6 scalar
 * accumulators, 5 pointers and the loop counter fit the registers: 5 loads + 6 VMLADAVA per
 * 96 MACs), the last 1-2 channels two at a time; `full` unpredicated 16-byte steps, then the
 * `tail` (a constant in the callers below). */
QNNC_INLINE void qnnc_conv_mve_pair_body(const int8_t *restrict x0, const int8_t *restrict x1, int32_t K,
                                         int32_t full, const int8_t *restrict filter, int32_t out_c,
                                         int32_t *restrict acc0, int32_t *restrict acc1, int tail)
{
    const mve_pred16_t pr = tail == QNNC_CONV_MVE_TAIL_PRED ? vctp8q((uint32_t)(K & 15)) : (mve_pred16_t)0xFFFF;
    const int8_t *wb = filter;
    /* out_c % 3 == 1: one triple fewer, so the rest is two pairs, not a pair computing one
     * channel twice */
    const int32_t triples = out_c / 3 - (out_c % 3 == 1 && out_c > 3 ? 1 : 0);
    int32_t n3, pairs;
    for (n3 = triples; n3 > 0; --n3) {
        int32_t a[6];
        qnnc_conv_mve_rows(a, x0, x1, wb, wb + K, wb + 2 * K, full, 3, pr, tail);
        acc0[0] = a[0];
        acc0[1] = a[2];
        acc0[2] = a[4];
        acc1[0] = a[1];
        acc1[1] = a[3];
        acc1[2] = a[5];
        acc0 += 3;
        acc1 += 3;
        wb += 3 * K;
    }
    out_c -= 3 * triples;
    for (pairs = (out_c + 1) >> 1; pairs > 0; --pairs) {
        /* an odd last channel is computed twice (w1 = w0) and stored to the same slot */
        const int odd_last = pairs == 1 && (out_c & 1);
        int32_t a[4];
        qnnc_conv_mve_rows(a, x0, x1, wb, odd_last ? wb : wb + K, NULL, full, 2, pr, tail);
        acc0[0] = a[0];
        acc1[0] = a[1];
        if (!odd_last) {
            acc0[1] = a[2];
            acc1[1] = a[3];
        }
        acc0 += 2;
        acc1 += 2;
        wb += 2 * K;
    }
}

/* The inner loops below as functions of one signature (never inlined; `call` runs an inline
 * body with its shape constants). */
#define QNNC_CONV_MVE_LOOP_FN(name, call)                                                             \
    static QNNC_LOOP_ATTR void name(const int8_t *restrict x0, const int8_t *restrict x1, int32_t K,   \
                                    const int8_t *restrict filter, int32_t out_c, int32_t *restrict acc0, \
                                    int32_t *restrict acc1)                                          \
    {                                                                                                 \
        call;                                                                                         \
    }

/* `K >> 4` steps, then a predicated step of K % 16 bytes, or none (K % 16 == 0: every layer
 * but the first ones). */
QNNC_CONV_MVE_LOOP_FN(qnnc_conv_mve_pair, qnnc_conv_mve_pair_body(x0, x1, K, K >> 4, filter, out_c, acc0, acc1, QNNC_CONV_MVE_TAIL_PRED))
QNNC_CONV_MVE_LOOP_FN(qnnc_conv_mve_pair16, qnnc_conv_mve_pair_body(x0, x1, K, K >> 4, filter, out_c, acc0, acc1, QNNC_CONV_MVE_TAIL_NONE))
/* K = 64 (1x1 convs over 64 channels): straight-line steps. Both 4-step columns are the same for
 * every channel, so the compiler loads them once per call into Q registers (two spilled to the
 * stack): per 3 channels 12 weight loads + 2 reloads for 24 VMLADAVA, no pointer updates. */
QNNC_CONV_MVE_LOOP_FN(qnnc_conv_mve_pair64, (void)K; qnnc_conv_mve_pair_body(x0, x1, 64, 4, filter, out_c, acc0, acc1, QNNC_CONV_MVE_TAIL_STRAIGHT))

/* Columns zero-padded to `steps` * 16 bytes: the weights read past a row's end are the next
 * row's, times zero (the caller keeps the reads inside the filter). */
static QNNC_LOOP_ATTR void qnnc_conv_mve_pair_padded(const int8_t *restrict x0, const int8_t *restrict x1,
                                                          int32_t K, int32_t steps, const int8_t *restrict filter,
                                                          int32_t out_c, int32_t *restrict acc0,
                                                          int32_t *restrict acc1)
{
    qnnc_conv_mve_pair_body(x0, x1, K, steps, filter, out_c, acc0, acc1, QNNC_CONV_MVE_TAIL_NONE);
}

#endif /* QNNC_PATH_MVE */
#endif /* QNNC_CONV_PAIR_MVE_H */
