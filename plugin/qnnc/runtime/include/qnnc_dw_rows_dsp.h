/*
 * qnnc_dw_rows_dsp.h - the Armv7E-M DSP path of qnnc_depthwise_conv_s8 for 3x3 stride-1
 * dilation-1 layers (any padding): channel planes of int16 rows, SMLAD on tap pairs.
 *
 * The channel-interleaved path (qnnc_depthwise_conv_s8_dsp.c) multiplies one tap of 4 channels
 * per SMLABB/SMLATT (one MAC an instruction). Here the input lines of 4 channels (rows, or
 * columns when the map is taller than wide: lines along the longer output side) are widened
 * once (input offset added) into a ring of 3 lines per channel, each zero-padded on both sides,
 * so along a line two adjacent taps of one channel are one int16 pair: 4 output pixels of a
 * kernel row are 8 instructions (SMLAD / SMLATB / SMLABT on the pairs (x0, x1), (x2, x3),
 * (x4, x5) and the weight pairs (w0, w1), (w1, w2)), 12 MACs, after 3 input loads and 2 weight
 * loads. Padding is the zero int16 (the offset rides on each input, so a padded tap adds
 * nothing): every window is a full 3x3 one, with no border cases; input lines outside the map
 * read each channel's zero line. Lines of exactly 6 or 3 pixels on maps of at most 8x8 (the
 * plane) take one block of 6 / of 3 pixels per channel instead, in the run of mode 4. Part of
 * qnnc_depthwise_conv_s8_dsp.c (its qnnc_dw_group and
 * requantization helpers), kept in its own file for that file's size; included there where
 * QNNC_PATH_DSP is set.
 */
#ifndef QNNC_DW_ROWS_DSP_H
#define QNNC_DW_ROWS_DSP_H

#include "qnnc_internal.h"

#if QNNC_PATH_DSP
/* int16 entries of one ring row: the longer output side rounded up to 4 (blocks of 4 pixels) + 4 (a block
 * reads 6 entries; a multiple of 4 keeps every row 8-byte aligned for LDRD). */
QNNC_INLINE int32_t qnnc_dw_rows_len(int32_t n_out) { return ((n_out + 3) & ~3) + 4; }

/* Widen input row `in` (pixel 0, channel c of the group) of width w into the ring rows of the
 * group's 4 channels (row0: channel 0's, at its entry 0; the channels' rows cs words apart): input
 * column j at entry j + pl, packed two entries a word from the even entry at or before pl (an odd
 * pl's first word pairs the zero of entry pl - 1 with column 0). */
QNNC_INLINE void qnnc_dw_rows_gather_one(int16_t *row0, int32_t cs, const int8_t *in, int32_t w, int32_t C, int32_t pl,
                                         int32_t off2)
{
    uint32_t *d = (uint32_t *)(void *)(row0 + (pl & ~1));
    int32_t j = 0;
    if (pl & 1) { /* (0, column 0) */
        const uint32_t x = qnnc_dsp_rd32(in);
        const uint32_t x02 = (uint32_t)__sxtab16(off2, (int32_t)x), x13 = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, x);
        d[0] = x02 << 16;
        d[cs] = x13 << 16;
        d[2 * cs] = x02 & 0xFFFF0000u;
        d[3 * cs] = x13 & 0xFFFF0000u;
        ++d;
        in += C;
        j = 1;
    }
    for (; j + 1 < w; j += 2) {
        const uint32_t x = qnnc_dsp_rd32(in), y = qnnc_dsp_rd32(in + C);
        const uint32_t x02 = (uint32_t)__sxtab16(off2, (int32_t)x), x13 = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, x);
        const uint32_t y02 = (uint32_t)__sxtab16(off2, (int32_t)y), y13 = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, y);
        d[0] = (uint32_t)qnnc_dsp_pkhbt(x02, y02);
        d[cs] = (uint32_t)qnnc_dsp_pkhbt(x13, y13);
        d[2 * cs] = (uint32_t)qnnc_dsp_pkhtb(x02, y02);
        d[3 * cs] = (uint32_t)qnnc_dsp_pkhtb(x13, y13);
        ++d;
        in += 2 * C;
    }
    if (j < w) { /* (last column, 0) */
        const uint32_t x = qnnc_dsp_rd32(in);
        const uint32_t x02 = (uint32_t)__sxtab16(off2, (int32_t)x), x13 = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, x);
        d[0] = x02 & 0xFFFFu;
        d[cs] = x13 & 0xFFFFu;
        d[2 * cs] = x02 >> 16;
        d[3 * cs] = x13 >> 16;
    }
}

/* One input row widened into the ring (qnnc_dw_rows_gather_one), a call of its own. */
static QNNC_LOOP_ATTR void qnnc_dw_rows_gather(int16_t *row0, int32_t cs, const int8_t *in, int32_t w, int32_t C,
                                               int32_t pl, int32_t off2)
{
    qnnc_dw_rows_gather_one(row0, cs, in, w, C, pl, off2);
}

/* n consecutive input rows (`in`, in_step bytes apart) into consecutive plane rows (row0, len
 * entries apart) in one call: on the 6x6 and 3x3 maps of 96x96 networks a call per row cost about
 * as much as the row's own widening (one function for both, the ring's rows too, gave back half the
 * gain and cost the large maps 0.8 %). */
static QNNC_LOOP_ATTR void qnnc_dw_rows_gather_n(int16_t *row0, int32_t len, int32_t cs, const int8_t *in,
                                                 int32_t in_step, int32_t n, int32_t w, int32_t C, int32_t pl,
                                                 int32_t off2)
{
    for (; n > 0; --n) {
        qnnc_dw_rows_gather_one(row0, cs, in, w, C, pl, off2);
        row0 += len;
        in += in_step;
    }
}

/* One kernel row of 4 output pixels: x0..x2 the pairs (x0, x1), (x2, x3), (x4, x5) of the row,
 * w01 = (w0, w1), w12 = (w1, w2) (int16 halves; the fast modes' doubled weights). */
#define QNNC_DWR_ROW_C(r, w01, w12)                                                              \
    do {                                                                                         \
        uint32_t x0_, x1_, x2_;                                                                  \
        memcpy(&x0_, (r), 4u);                                                                   \
        memcpy(&x1_, (r) + 2, 4u);                                                               \
        memcpy(&x2_, (r) + 4, 4u);                                                               \
        a0 = __smlad((int32_t)x0_, (w01), a0);  /* x0 w0 + x1 w1 */                              \
        a1 = __smlatb((int32_t)x0_, (w01), a1); /* x1 w0 */                                      \
        a2 = __smlad((int32_t)x1_, (w01), a2);  /* x2 w0 + x3 w1 */                              \
        a3 = __smlatb((int32_t)x1_, (w01), a3); /* x3 w0 */                                      \
        a0 = __smlabt((int32_t)x1_, (w12), a0); /* x2 w2 */                                      \
        a1 = __smlad((int32_t)x1_, (w12), a1);  /* x2 w1 + x3 w2 */                              \
        a2 = __smlabt((int32_t)x2_, (w12), a2); /* x4 w2 */                                      \
        a3 = __smlad((int32_t)x2_, (w12), a3);  /* x4 w1 + x5 w2 */                              \
    } while (0)

/* Pixels 0 and 1 of a kernel row (the row's last 1-2 pixels). */
#define QNNC_DWR_ROW2(r, w01, w12)                                                               \
    do {                                                                                         \
        uint32_t x0_, x1_;                                                                       \
        memcpy(&x0_, (r), 4u);                                                                   \
        memcpy(&x1_, (r) + 2, 4u);                                                               \
        a0 = __smlad((int32_t)x0_, (w01), a0);                                                   \
        a1 = __smlatb((int32_t)x0_, (w01), a1);                                                  \
        a0 = __smlabt((int32_t)x1_, (w12), a0);                                                  \
        a1 = __smlad((int32_t)x1_, (w12), a1);                                                   \
    } while (0)

#if QNNC_DSP_ASM
/* The same in assembly, the row pointer advanced by the block (LDRD + LDR back to back; the two
 * weight words by immediate offsets from one table pointer). GCC 12 reloads the row pointers
 * and weights from the stack in the C version (12 registers live). */
#define QNNC_DWR_ASM_ROW(r, o01, o12)                                                            \
    "ldrd %[x0], %[x1], [%[" r "]], #8\n\t"                                                      \
    "ldr %[x2], [%[" r "]]\n\t"                                                                  \
    "ldr %[w], [%[wt], #" o01 "]\n\t"                                                            \
    "smlad %[a0], %[x0], %[w], %[a0]\n\t"                                                        \
    "smlatb %[a1], %[x0], %[w], %[a1]\n\t"                                                       \
    "smlad %[a2], %[x1], %[w], %[a2]\n\t"                                                        \
    "smlatb %[a3], %[x1], %[w], %[a3]\n\t"                                                       \
    "ldr %[w], [%[wt], #" o12 "]\n\t"                                                            \
    "smlabt %[a0], %[x1], %[w], %[a0]\n\t"                                                       \
    "smlad %[a1], %[x1], %[w], %[a1]\n\t"                                                        \
    "smlabt %[a2], %[x2], %[w], %[a2]\n\t"                                                       \
    "smlad %[a3], %[x2], %[w], %[a3]\n\t"
#endif

/* The 4 accumulators of the block at the row pointers p0..p2 (advanced by 4 entries). */
#if QNNC_DSP_ASM
#define QNNC_DWR_BLOCK(ra, rb, rc)                                                               \
    do {                                                                                         \
        uint32_t x0_, x1_, x2_, w_;                                                              \
        __asm volatile(QNNC_DWR_ASM_ROW("p0", "0", "4") QNNC_DWR_ASM_ROW("p1", "8", "12")       \
                           QNNC_DWR_ASM_ROW("p2", "16", "20")                                    \
                       : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p0] "+r"(ra), \
                         [p1] "+r"(rb), [p2] "+r"(rc), [x0] "=&r"(x0_), [x1] "=&r"(x1_),        \
                         [x2] "=&r"(x2_), [w] "=&r"(w_)                                          \
                       : [wt] "r"(wt)                                                            \
                       : "memory");                                                              \
    } while (0)
#else
#define QNNC_DWR_BLOCK(ra, rb, rc)                                                               \
    do {                                                                                         \
        QNNC_DWR_ROW_C(ra, wt[0], wt[1]);                                                        \
        QNNC_DWR_ROW_C(rb, wt[2], wt[3]);                                                        \
        QNNC_DWR_ROW_C(rc, wt[4], wt[5]);                                                        \
        ra += 4;                                                                                 \
        rb += 4;                                                                                 \
        rc += 4;                                                                                 \
    } while (0)
#endif

#if QNNC_DSP_ASM && !defined(QNNC_DSP_ASM_13)
/* Six output pixels of one channel on a plane whose rows are 12 entries (24 bytes) apart (lines
 * of 5 to 8 pixels, qnnc_dw_rows_len; lines of 6 take the block in mode 4): the kernel rows at fixed offsets
 * from one pointer, so the block holds 13 registers (six accumulators, the pairs (x0, x1) ..
 * (x6, x7), a weight pair, the row and weight pointers). A 6-pixel line is then one block instead
 * of a block of 4, one of 2 and their loop (on the 6x6 maps of 96x96 MobileNets that overhead was
 * about as much as the block's own instructions). o, o8: the byte offsets of the row's pairs
 * (x0, x1) and (x4, x5); w01, w12: those of the row's weight pairs. */
#define QNNC_DWR6_ASM_ROW(o, o8, w01, w12)                                                        \
    "ldrd %[x2], %[x3], [%[p], #" o8 "]\n\t"                                                     \
    "ldrd %[x0], %[x1], [%[p], #" o "]\n\t"                                                      \
    "ldr %[w], [%[wt], #" w01 "]\n\t"                                                            \
    "smlad %[a0], %[x0], %[w], %[a0]\n\t"                                                        \
    "smlatb %[a1], %[x0], %[w], %[a1]\n\t"                                                       \
    "smlad %[a2], %[x1], %[w], %[a2]\n\t"                                                        \
    "smlatb %[a3], %[x1], %[w], %[a3]\n\t"                                                       \
    "smlad %[a4], %[x2], %[w], %[a4]\n\t"                                                        \
    "smlatb %[a5], %[x2], %[w], %[a5]\n\t"                                                       \
    "ldr %[w], [%[wt], #" w12 "]\n\t"                                                            \
    "smlabt %[a0], %[x1], %[w], %[a0]\n\t"                                                       \
    "smlad %[a1], %[x1], %[w], %[a1]\n\t"                                                        \
    "smlabt %[a2], %[x2], %[w], %[a2]\n\t"                                                       \
    "smlad %[a3], %[x2], %[w], %[a3]\n\t"                                                        \
    "smlabt %[a4], %[x3], %[w], %[a4]\n\t"                                                       \
    "smlad %[a5], %[x3], %[w], %[a5]\n\t"
#define QNNC_DWR6_BLOCK(p_)                                                                      \
    do {                                                                                         \
        uint32_t x0_, x1_, x2_, x3_, w_;                                                         \
        __asm volatile(QNNC_DWR6_ASM_ROW("0", "8", "0", "4") QNNC_DWR6_ASM_ROW("24", "32", "8", "12") \
                           QNNC_DWR6_ASM_ROW("48", "56", "16", "20")                             \
                       : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), \
                         [a5] "+r"(a5), [x0] "=&r"(x0_), [x1] "=&r"(x1_), [x2] "=&r"(x2_),      \
                         [x3] "=&r"(x3_), [w] "=&r"(w_)                                          \
                       : [p] "r"(p_), [wt] "r"(wt)                                               \
                       : "memory");                                                              \
    } while (0)
#define QNNC_DWR6_ROW_LEN 12 /* the entries between the plane's rows the block reads */
/* Three output pixels of one channel on a plane whose rows are 8 entries (16 bytes) apart (maps
 * of 3 pixels a line, the last 3x3 maps of 96x96 networks): the pairs (x0, x1) .. (x4, x5) of each
 * kernel row, one block instead of a block of 2, one of 1 and their bookkeeping. */
#define QNNC_DWR3_ASM_ROW(o, o8, w01, w12)                                                        \
    "ldr %[x2], [%[p], #" o8 "]\n\t"                                                             \
    "ldrd %[x0], %[x1], [%[p], #" o "]\n\t"                                                      \
    "ldr %[w], [%[wt], #" w01 "]\n\t"                                                            \
    "smlad %[a0], %[x0], %[w], %[a0]\n\t"                                                        \
    "smlatb %[a1], %[x0], %[w], %[a1]\n\t"                                                       \
    "smlad %[a2], %[x1], %[w], %[a2]\n\t"                                                        \
    "ldr %[w], [%[wt], #" w12 "]\n\t"                                                            \
    "smlabt %[a0], %[x1], %[w], %[a0]\n\t"                                                       \
    "smlad %[a1], %[x1], %[w], %[a1]\n\t"                                                        \
    "smlabt %[a2], %[x2], %[w], %[a2]\n\t"
#define QNNC_DWR3_BLOCK(p_)                                                                      \
    do {                                                                                         \
        uint32_t x0_, x1_, x2_, w_;                                                              \
        __asm volatile(QNNC_DWR3_ASM_ROW("0", "8", "0", "4") QNNC_DWR3_ASM_ROW("16", "24", "8", "12") \
                           QNNC_DWR3_ASM_ROW("32", "40", "16", "20")                             \
                       : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [x0] "=&r"(x0_), [x1] "=&r"(x1_), \
                         [x2] "=&r"(x2_), [w] "=&r"(w_)                                          \
                       : [p] "r"(p_), [wt] "r"(wt)                                               \
                       : "memory");                                                              \
    } while (0)
#define QNNC_DWR3_ROW_LEN 8 /* the entries between the plane's rows the block reads */
#endif

/* One channel's requantization (lane i of its qnnc_dw_group), read through one pointer a channel
 * (GCC 12 reloads a lane's constants by index from the group at each block). */
typedef struct {
    int32_t bias, mult, rshift, round, act_min, act_max, lane;
    const qnnc_dw_group *g; /* the rest (the out-of-line modes) */
} qnnc_dw_rows_ch;

/* acc requantized in mode (qnnc_dw_group's fast). */
QNNC_INLINE int32_t qnnc_dw_rows_rq_mode(int32_t acc, const qnnc_dw_rows_ch *q, int32_t mode)
{
    int32_t v;
    switch (mode) {
    case 2:
    case 4:
        return qnnc_dw_rq_fast_sat(acc, q->mult, q->rshift, q->round, mode == 4, 1);
    case 1:
    case 5:
        return qnnc_dw_rq_fast(acc, q->mult, q->rshift, q->round, q->act_min, q->act_max, mode == 5, 1);
    case 3:
        return qnnc_dw_rq_he(acc, q->mult, q->rshift, q->g->hm1[q->lane], q->g->output_offset, q->act_min,
                             q->act_max);
    default:
        v = qnnc_requantize_mode(acc, q->mult, q->g->shift[q->lane], q->g->rounding);
        v = v < q->g->lo ? q->g->lo : (v > q->g->hi ? q->g->hi : v);
        return v + q->g->output_offset;
    }
}

/* The rare modes (0, 1 and 5) out of line: one copy, not one per output of the run (and no run of
 * their own: its flash for no layer that matters). */
static QNNC_PATH_ATTR int32_t qnnc_dw_rows_rq_any(int32_t acc, const qnnc_dw_rows_ch *q)
{
    return qnnc_dw_rows_rq_mode(acc, q, q->g->fast);
}

/* acc requantized in the run's mode (a constant; -1: the group's, out of line). */
#define QNNC_DWR_RQ(acc) ((int8_t)(mode < 0 ? qnnc_dw_rows_rq_any((acc), q) : qnnc_dw_rows_rq_mode((acc), q, mode)))

#if defined(QNNC_DWR6_ROW_LEN)
/* A line of n = 6 or 3 pixels (a constant) of the group's 4 channels on the plane (channel 0's
 * kernel rows from p, QNNC_DWR6_ROW_LEN / QNNC_DWR3_ROW_LEN entries apart): one block a channel
 * (the other arguments as qnnc_dw_rows_run_body's). */
QNNC_INLINE void qnnc_dw_rows_short(const int16_t *p, int32_t cs, const int32_t *restrict wt,
                                    const qnnc_dw_rows_ch *restrict q, int8_t *restrict o, int32_t step, int32_t mode,
                                    const int32_t n)
{
    int32_t ch;
    for (ch = 0; ch < 4; ++ch) {
        int32_t a0 = q->bias, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        if (n == 6) {
            QNNC_DWR6_BLOCK(p);
        } else {
            QNNC_DWR3_BLOCK(p);
        }
        /* one store pointer walking the line (GCC 12 otherwise keeps one per pixel, on the stack) */
        *o = QNNC_DWR_RQ(a0);
        o += step;
        *o = QNNC_DWR_RQ(a1);
        o += step;
        *o = QNNC_DWR_RQ(a2);
        if (n == 6) {
            o += step;
            *o = QNNC_DWR_RQ(a3);
            o += step;
            *o = QNNC_DWR_RQ(a4);
            o += step;
            *o = QNNC_DWR_RQ(a5);
        }
        o += 1 - (n - 1) * step; /* the next channel's first pixel */
        p += cs;
        wt += 6;
        ++q;
    }
}
#endif

/* The rows of one output line of the group's 4 channels: from p0..p2 (channel 0's ring rows of
 * the kernel rows; the channels' rows cs entries apart), n pixels `step` bytes apart from o
 * (channel 0; the channels 1 byte apart), wt 6 weight pairs a channel (w01, w12 of each kernel
 * row), q the channels' requantization. Blocks of 4 pixels, then one of 2 and one of 1. */
QNNC_INLINE void qnnc_dw_rows_run_body(const int16_t *p0, const int16_t *p1, const int16_t *p2, int32_t cs,
                                       const int32_t *restrict wt, const qnnc_dw_rows_ch *restrict q,
                                       int8_t *restrict o, int32_t step, int32_t n, int32_t mode)
{
    const int32_t n4 = n >> 2;
    int32_t ch;
#if defined(QNNC_DWR6_ROW_LEN)
    /* only in the run of mode 4 (SSAT without the fix-up: a ReLU's floor at the zero point, what
     * MobileNets use): a copy in every mode's run took the M4 kernels past issue 15's flash limit */
    if (mode == 4 && n == 6 && p1 == p0 + QNNC_DWR6_ROW_LEN && p2 == p1 + QNNC_DWR6_ROW_LEN) {
        qnnc_dw_rows_short(p0, cs, wt, q, o, step, mode, 6);
        return;
    }
    if (mode == 4 && n == 3 && p1 == p0 + QNNC_DWR3_ROW_LEN && p2 == p1 + QNNC_DWR3_ROW_LEN) {
        qnnc_dw_rows_short(p0, cs, wt, q, o, step, mode, 3);
        return;
    }
#endif
    for (ch = 0; ch < 4; ++ch) {
        int8_t *oc = o + ch;
        int8_t *const o_end = oc + n4 * 4 * step;
        const int16_t *r0 = p0 + ch * cs, *r1 = p1 + ch * cs, *r2 = p2 + ch * cs;
        while (oc != o_end) {
            int32_t a0 = q->bias, a1 = a0, a2 = a0, a3 = a0;
            QNNC_DWR_BLOCK(r0, r1, r2);
            oc[0] = QNNC_DWR_RQ(a0);
            oc += step;
            oc[0] = QNNC_DWR_RQ(a1);
            oc += step;
            oc[0] = QNNC_DWR_RQ(a2);
            oc += step;
            oc[0] = QNNC_DWR_RQ(a3);
            oc += step;
        }
        if (n & 2) { /* the last 2 or 3 pixels: 2 of them */
            int32_t a0 = q->bias, a1 = a0;
            QNNC_DWR_ROW2(r0, wt[0], wt[1]);
            QNNC_DWR_ROW2(r1, wt[2], wt[3]);
            QNNC_DWR_ROW2(r2, wt[4], wt[5]);
            r0 += 2;
            r1 += 2;
            r2 += 2;
            oc[0] = QNNC_DWR_RQ(a0);
            oc[step] = QNNC_DWR_RQ(a1);
            oc += 2 * step;
        }
        if (n & 1) { /* the last pixel (a1 unused) */
            int32_t a0 = q->bias, a1 = a0;
            QNNC_DWR_ROW2(r0, wt[0], wt[1]);
            QNNC_DWR_ROW2(r1, wt[2], wt[3]);
            QNNC_DWR_ROW2(r2, wt[4], wt[5]);
            oc[0] = QNNC_DWR_RQ(a0);
            (void)a1;
        }
        wt += 6;
        ++q;
    }
}

#define QNNC_DW_ROWS_RUN(name, mode)                                                                            \
    static QNNC_LOOP_ATTR void name(const int16_t *p0, const int16_t *p1, const int16_t *p2, int32_t cs,       \
                                    const int32_t *restrict wt, const qnnc_dw_rows_ch *restrict q,               \
                                    int8_t *restrict o, int32_t step, int32_t n)                               \
    {                                                                                                           \
        qnnc_dw_rows_run_body(p0, p1, p2, cs, wt, q, o, step, n, mode);                                         \
    }
QNNC_DW_ROWS_RUN(qnnc_dw_rows_run_sat_nofix, 4)
QNNC_DW_ROWS_RUN(qnnc_dw_rows_run_sat, 2)
QNNC_DW_ROWS_RUN(qnnc_dw_rows_run_he, 3) /* imported QDQ models (half-even rounding) */
QNNC_DW_ROWS_RUN(qnnc_dw_rows_run_any, -1)

typedef void qnnc_dw_rows_run_fn(const int16_t *, const int16_t *, const int16_t *, int32_t, const int32_t *,
                                 const qnnc_dw_rows_ch *, int8_t *, int32_t, int32_t);

/* One channel group (4 channels at in_c0 / out_c0) over every output pixel of one image, along
 * lines of the longer output side (rows, or columns when the map is taller than wide: a column
 * is then a "row" of the ring and the kernel is read transposed, as wr is built). wr: the
 * group's weight pairs (qnnc_dw_rows_dsp_weights), ring: `lines` rows of len entries a channel
 * (QNNC_DW_DSP_ROWS_LINES; their padding entries zero): 4, a ring of 3 input lines and a zero
 * row; on maps of at most 8x8 the plane, row j holding input line j - pad (zero where that is
 * outside the map): every line widened first, then the output lines without the ring's
 * bookkeeping (on 6x6 maps that bookkeeping cost about as much as a line's 4-pixel block). */
static QNNC_PATH_ATTR void qnnc_dw_rows_group_dsp(const qnnc_conv_params *params, const qnnc_dims *input_dims, const int8_t *in_c0,
                                   const int32_t *wr, const qnnc_dw_group *g, const qnnc_dims *output_dims,
                                   int8_t *out_c0, int16_t *ring, int32_t len, int32_t lines)
{
    const int32_t C = input_dims->c, tall = output_dims->h > output_dims->w;
    /* lines: their count and input count, the pad across them, the pixel steps along and across */
    const int32_t n_lines = tall ? output_dims->w : output_dims->h, n_in = tall ? input_dims->w : input_dims->h;
    const int32_t n_out = tall ? output_dims->h : output_dims->w, in_full = tall ? input_dims->h : input_dims->w;
    const int32_t pad = tall ? params->pad_left : params->pad_top, pad_along = tall ? params->pad_top : params->pad_left;
    /* the input pixels of a line the windows read (fewer than the line's when the output crops it:
     * the ring row holds n_out + 2 of them from pad_along on) */
    const int32_t in_len = in_full < n_out + 2 - pad_along ? in_full : n_out + 2 - pad_along;
    const int32_t in_along = tall ? input_dims->w * C : C, in_across = tall ? C : input_dims->w * C;
    const int32_t out_along = tall ? output_dims->w * C : C, out_across = tall ? C : output_dims->w * C;
    const int32_t off2 = qnnc_dsp_pack2(params->input_offset), cs = lines * len;
    const int16_t *const zero = ring + 3 * len; /* channel 0's; channel i's cs * i further on */
    qnnc_dw_rows_run_fn *run;
    qnnc_dw_rows_ch q[4];
    const int16_t *r[3]; /* the ring rows of the kernel rows (channel 0's) */
    int32_t next = 0, line, k;
    switch (g->fast) {
    case 2:
        run = qnnc_dw_rows_run_sat;
        break;
    case 4:
        run = qnnc_dw_rows_run_sat_nofix;
        break;
    case 3:
        run = qnnc_dw_rows_run_he;
        break;
    default:
        run = qnnc_dw_rows_run_any;
        break;
    }
    for (k = 0; k < 4; ++k) {
        q[k].bias = g->bias[k];
        q[k].mult = g->mult[k];
        q[k].rshift = g->rshift[k];
        q[k].round = g->round[k];
        q[k].act_min = g->act_min;
        q[k].act_max = g->act_max;
        q[k].lane = k;
        q[k].g = g;
    }
    if (lines >= n_lines + 2) { /* the plane: every line a window reads, lines [k0, k1) inside the map */
        const int32_t k0 = pad > 0 ? pad : 0, k1 = n_lines + 2 < n_in + pad ? n_lines + 2 : n_in + pad;
        if (k1 > k0 && in_len > 0) {
            qnnc_dw_rows_gather_n(ring + k0 * len, len, cs / 2, in_c0 + (k0 - pad) * in_across, in_across, k1 - k0,
                                  in_len, in_along, pad_along, off2);
        }
        for (line = 0; line < n_lines; ++line) {
            r[0] = ring + line * len;
            run(r[0], r[0] + len, r[0] + 2 * len, cs, wr, q, out_c0 + line * out_across, out_along, n_out);
        }
        return;
    }
    for (line = 0; line < n_lines; ++line) {
        for (k = 0; k < 3; ++k) {
            const int32_t ih = line - pad + k;
            if (ih < 0 || ih >= n_in) {
                r[k] = zero;
                continue;
            }
            for (; next <= ih && in_len > 0; ++next) { /* each input line widened once (stride 1: in order) */
                qnnc_dw_rows_gather(ring + (next % 3) * len, cs / 2, in_c0 + next * in_across, in_len, in_along,
                                    pad_along, off2);
            }
            r[k] = ring + (ih % 3) * len;
        }
        run(r[0], r[1], r[2], cs, wr, q, out_c0 + line * out_across, out_along, n_out);
    }
}

/* The group's weight pairs: per channel and kernel row (w0, w1), (w1, w2) as int16 halves (the
 * kernel transposed for lines along the columns: tall), doubled in the fast modes (as the
 * channel-interleaved table; |2w| <= 256). */
static void qnnc_dw_rows_dsp_weights(int32_t *wr, const int8_t *filter, int32_t C, int32_t c, int32_t doubled,
                                     int32_t tall)
{
    const int32_t m = doubled ? 2 : 1, along = tall ? 3 : 1, across = tall ? 1 : 3;
    int32_t i, r;
    for (i = 0; i < 4; ++i) {
        for (r = 0; r < 3; ++r) {
            const int8_t *f = filter + r * across * C + c + i;
            const int32_t w0 = m * f[0], w1 = m * f[along * C], w2 = m * f[2 * along * C];
            wr[6 * i + 2 * r] = (int32_t)(((uint32_t)w0 & 0xFFFFu) | ((uint32_t)w1 << 16));
            wr[6 * i + 2 * r + 1] = (int32_t)(((uint32_t)w1 & 0xFFFFu) | ((uint32_t)w2 << 16));
        }
    }
}
#endif /* QNNC_PATH_DSP */
#endif /* QNNC_DW_ROWS_DSP_H */
