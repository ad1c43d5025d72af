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

#if defined(__OPTIMIZE__) && defined(__GNUC__) && !defined(__clang__) && !defined(QNNC_NO_INLINE_ASM)
#define QNNC_MVE_ASM 1
/* The triples of qnnc_conv_mve_pair_body for whole steps (K = 16 * full, full >= 2) as one
 * assembly loop: GCC 12 keeps the triple loop's pointers and counters on the stack and spends
 * about 40 instructions a triple around the 12-instruction step loop (reloading, zeroing and
 * storing the six accumulators); here a triple costs about 20. VMLADAV takes even accumulator
 * registers only: r0-r10 hold the sums, r1/r3 the columns, r5/r11/r12 the three filter rows, lr
 * the step count. The triples' state (x0, x1, K, full, the weights, acc0, acc1, acc0's end)
 * is in st, whose address comes in r1 and waits in a stack slot of the function's frame during
 * the step loop (no other register is free: r7 and r9 stay untouched for builds with a frame
 * pointer or a reserved r9). The first step sets the sums (VMLADAV), the rest accumulate. */
typedef struct {
    const int8_t *x0, *x1;
    int32_t K, full;
    const int8_t *w;
    int32_t *acc0, *acc1;
    const int32_t *acc0_end; /* acc0 past the last group */
} qnnc_conv_mve_triples_t;

#define QNNC_MVE_TRIPLE_STEP(op)                                                                     \
    "vldrb.8 q0, [r1], #16\n\t"                                                                      \
    "vldrb.8 q1, [r3], #16\n\t"                                                                      \
    "vldrb.8 q2, [r5], #16\n\t" op " r0, q0, q2\n\t" op " r2, q1, q2\n\t"                           \
    "vldrb.8 q2, [r11], #16\n\t" op " r4, q0, q2\n\t" op " r6, q1, q2\n\t"                          \
    "vldrb.8 q2, [r12], #16\n\t" op " r8, q0, q2\n\t" op " r10, q1, q2\n\t"
/* The start of a triple / pair (r1 = st): the first filter row, K and the step count, the
 * columns (r1 last: it is the base). */
#define QNNC_MVE_GROUP_START                                                                         \
    "ldr r5, [r1, #16]\n\t"                                                                          \
    "ldrd r12, lr, [r1, #8]\n\t"                                                                     \
    "ldrd r1, r3, [r1]\n\t"
/* The end (r1 = st, r3 / r11 = acc0 / acc1 past the group): the next group's weights from
 * `next`, then the next group unless acc0 reached st->acc0_end. */
#define QNNC_MVE_GROUP_END(next)                                                                     \
    "strd r3, r11, [r1, #20]\n\t"                                                                    \
    "str " next ", [r1, #16]\n\t"                                                                    \
    "ldr r5, [r1, #28]\n\t"                                                                          \
    "cmp r3, r5\n\t"                                                                                 \
    "bne 1b\n\t"

/* A whole group loop: `setup` the other filter rows, the peeled first step, the step loop, then
 * `stores` of the sums (r1 = st again, r3 / r11 = acc0 / acc1 advanced past the group). */
#define QNNC_MVE_GROUP_LOOP(setup, step, stores, next)                                               \
    "str r1, %[saved]\n\t"                                                                           \
    "1:\n\t" QNNC_MVE_GROUP_START setup step("vmladav.s8") "subs lr, lr, #1\n\t"                     \
    "dls lr, lr\n\t"                                                                                 \
    "2:\n\t" step("vmladava.s8") "le lr, 2b\n\t" stores QNNC_MVE_GROUP_END(next)
#define QNNC_MVE_SUMS_LOAD_ACC "ldr r1, %[saved]\n\tldrd r3, r11, [r1, #20]\n\t"

static QNNC_LOOP_ATTR void qnnc_conv_mve_triples_asm(qnnc_conv_mve_triples_t *st)
{
    register qnnc_conv_mve_triples_t *r1_st __asm__("r1") = st;
    qnnc_conv_mve_triples_t *saved; /* st during the step loop */
    __asm volatile(QNNC_MVE_GROUP_LOOP("add r11, r5, r12\n\tadd r12, r11, r12\n\t", QNNC_MVE_TRIPLE_STEP,
                                       QNNC_MVE_SUMS_LOAD_ACC "strd r0, r4, [r3], #8\n\tstr r8, [r3], #4\n\t"
                                                              "strd r2, r6, [r11], #8\n\tstr r10, [r11], #4\n\t",
                                       "r12")
                   : "+r"(r1_st), [saved] "=m"(saved)
                   :
                   : "r0", "r2", "r3", "r4", "r5", "r6", "r8", "r10", "r11", "r12", "lr", "q0", "q1", "q2", "cc",
                     "memory");
}

/* The same for channel pairs (r0/r2 and r4/r6 the sums, r5/r11 the rows; r12 keeps the next
 * pair's row). */
#define QNNC_MVE_PAIR_STEP(op)                                                                       \
    "vldrb.8 q0, [r1], #16\n\t"                                                                      \
    "vldrb.8 q1, [r3], #16\n\t"                                                                      \
    "vldrb.8 q2, [r5], #16\n\t" op " r0, q0, q2\n\t" op " r2, q1, q2\n\t"                           \
    "vldrb.8 q2, [r11], #16\n\t" op " r4, q0, q2\n\t" op " r6, q1, q2\n\t"

static QNNC_LOOP_ATTR void qnnc_conv_mve_pairs_asm(qnnc_conv_mve_triples_t *st)
{
    register qnnc_conv_mve_triples_t *r1_st __asm__("r1") = st;
    qnnc_conv_mve_triples_t *saved; /* st during the step loop */
    __asm volatile(QNNC_MVE_GROUP_LOOP("add r11, r5, r12\n\t", QNNC_MVE_PAIR_STEP,
                                       "mov r12, r11\n\t" QNNC_MVE_SUMS_LOAD_ACC
                                       "strd r0, r4, [r3], #8\n\tstrd r2, r6, [r11], #8\n\t",
                                       "r12")
                   : "+r"(r1_st), [saved] "=m"(saved)
                   :
                   : "r0", "r2", "r3", "r4", "r5", "r6", "r11", "r12", "lr", "q0", "q1", "q2", "cc", "memory");
}
#endif

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
#if QNNC_MVE_ASM
    if (tail == QNNC_CONV_MVE_TAIL_NONE && full >= 2 && 16 * full == K) { /* (a row ends where the next starts) */
        qnnc_conv_mve_triples_t st;
        st.x0 = x0;
        st.x1 = x1;
        st.K = K;
        st.full = full;
        st.w = wb;
        st.acc0 = acc0;
        st.acc1 = acc1;
        if (triples > 0) {
            st.acc0_end = acc0 + 3 * triples;
            qnnc_conv_mve_triples_asm(&st); /* (advances st.w, st.acc0, st.acc1) */
        }
        out_c -= 3 * triples;
        if (out_c >= 2) { /* the whole pairs left; an odd last channel below */
            st.acc0_end = st.acc0 + 2 * (out_c >> 1);
            qnnc_conv_mve_pairs_asm(&st);
            out_c &= 1;
        }
        acc0 = st.acc0;
        acc1 = st.acc1;
        wb = st.w;
        goto pairs_left;
    }
#endif
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
#if QNNC_MVE_ASM
pairs_left:
#endif
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
