/*
 * qnnc_conv16_passes_mve.h - the passes of the Helium int16 conv (qnnc_conv_s16_mve.c): the int32
 * sums of three output channels x two pixels over a window of taps (in C, and for GCC with
 * optimization in inline assembly), and of the one or two channels the passes of three leave
 * over. A part of qnnc_conv_s16_mve.c kept in its own file (that file's size); included there,
 * after QNNC_CONV16_PAIR_CH, and only where QNNC_PATH_MVE is set.
 *
 * A window is rows runs of run taps, step int16 values apart (qnnc_conv16_taps): one run of K
 * taps for a window copied into the scratch or read in place as one run, or the k_h kernel rows
 * of a pixel inside the input read in place (no copy). The filter's K = rows * run weights of a
 * channel are contiguous either way.
 */
#ifndef QNNC_CONV16_PASSES_MVE_H
#define QNNC_CONV16_PASSES_MVE_H

#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
/* Where a pixel's taps are: rows runs of run taps, the runs step int16 values apart. */
typedef struct {
    int32_t rows, run, step;
} qnnc_conv16_taps;

/* Three channels x two pixels over a run of n >= 1 taps at x0 and x1, weights at w0, w0 + ws,
 * w0 + 2 ws (ws: the filter's K): the int32 sums added to s[0 .. 3) and s[QNNC_CONV16_PAIR_CH ..].
 * Each 8-weight load serves both pixels and each input load three channels (per 8 taps: 2 + 3
 * loads and 6 VMLADAVA, 48 products in 11 instructions with the loop's; two channels a pass took
 * 9 for 32, and four would need more registers than there are). The columns path's runs, and the
 * passes where the assembly below is not compiled. */
static QNNC_LOOP_ATTR void qnnc_conv16_run3x2_mve(const int16_t *x0, const int16_t *x1, const int8_t *w0,
                                                  int32_t ws, int32_t n, int32_t *s)
{
    const int8_t *w1 = w0 + ws, *w2 = w1 + ws;
    int32_t a0 = 0, a1 = 0, a2 = 0, b0 = 0, b1 = 0, b2 = 0;
    int32_t i;
    for (i = n >> 3; i > 0; --i) {
        const int16x8_t v0 = vldrhq_s16(x0), v1 = vldrhq_s16(x1);
        const int16x8_t u0 = vldrbq_s16(w0), u1 = vldrbq_s16(w1), u2 = vldrbq_s16(w2);
        a0 = vmladavaq_s16(a0, v0, u0);
        b0 = vmladavaq_s16(b0, v1, u0);
        a1 = vmladavaq_s16(a1, v0, u1);
        b1 = vmladavaq_s16(b1, v1, u1);
        a2 = vmladavaq_s16(a2, v0, u2);
        b2 = vmladavaq_s16(b2, v1, u2);
        x0 += 8;
        x1 += 8;
        w0 += 8;
        w1 += 8;
        w2 += 8;
    }
    if (n & 7) { /* zero lanes contribute nothing */
        const mve_pred16_t p = vctp16q((uint32_t)(n & 7));
        const int16x8_t v0 = vldrhq_z_s16(x0, p), v1 = vldrhq_z_s16(x1, p);
        const int16x8_t u0 = vldrbq_z_s16(w0, p), u1 = vldrbq_z_s16(w1, p), u2 = vldrbq_z_s16(w2, p);
        a0 = vmladavaq_s16(a0, v0, u0);
        b0 = vmladavaq_s16(b0, v1, u0);
        a1 = vmladavaq_s16(a1, v0, u1);
        b1 = vmladavaq_s16(b1, v1, u1);
        a2 = vmladavaq_s16(a2, v0, u2);
        b2 = vmladavaq_s16(b2, v1, u2);
    }
    s[0] += a0;
    s[1] += a1;
    s[2] += a2;
    s[QNNC_CONV16_PAIR_CH] += b0;
    s[QNNC_CONV16_PAIR_CH + 1] += b1;
    s[QNNC_CONV16_PAIR_CH + 2] += b2;
}

#if defined(__GNUC__) && defined(__OPTIMIZE__)
/* npass >= 1 passes of three channels x two pixels over K >= 8 taps: channels w, w + K, ...
 * (rows of K weights), their sums into s[0 .. 3 npass) and s[QNNC_CONV16_PAIR_CH ..]. The passes'
 * loop in inline assembly: the pixels' window pointers, s, its end and K - 8 wait in a frame the
 * assembly pushes and pops, so the six sums (even registers: VMLADAV), the five pointers (the
 * weight ones low registers: VLDRB.S16) and LR fit the 12 registers GCC can give an asm even with
 * a frame pointer; the first 8 taps are peeled (VMLADAV starts the sums: no zeroing) and the
 * channels' weight pointers follow from channel 0's (channel 2 ends where the next pass's channel
 * 0 starts). 16 instructions a pass besides its MACs instead of ~40 with one C call a pass (GCC 12
 * recomputes the loop count and saves registers in every call). The pieces below make the three
 * variants: K % 8 == 0, K % 8 != 0 (a predicated tail a pass), and kernel rows read in place. */

/* The frame: [0] xa, [4] xb, [8] s (then the next pass's), [12] its end, [16] K - 8. */
#define QNNC_CONV16_ASM_ENTER(FRAME)                                                                          \
    "sub sp, sp, #" FRAME "\n\t"                                                                              \
    "strd %[x0], %[x1], [sp]\n\t"                                                                             \
    "strd %[a1], %[e], [sp, #8]\n\t"                                                                          \
    "str %[b0], [sp, #16]\n\t"

/* A pass's first 8 taps (VMLADAV starts the six sums) and its three channels' weight pointers. */
#define QNNC_CONV16_ASM_PEEL                                                                                  \
    "ldrd %[x0], %[x1], [sp]\n\t"                                                                             \
    "ldr lr, [sp, #16]\n\t"                                                                                   \
    "vldrh.16 q0, [%[x0]], #16\n\t"                                                                           \
    "vldrh.16 q1, [%[x1]], #16\n\t"                                                                           \
    "vldrb.s16 q2, [%[w0]], #8\n\t"                                                                           \
    "vmladav.s16 %[e], q0, q2\n\t"                                                                            \
    "vmladav.s16 %[b0], q1, q2\n\t"                                                                           \
    "add %[w1], %[w0], lr\n\t"                                                                                \
    "vldrb.s16 q2, [%[w1]], #8\n\t"                                                                           \
    "vmladav.s16 %[a1], q0, q2\n\t"                                                                           \
    "vmladav.s16 %[b1], q1, q2\n\t"                                                                           \
    "add %[w2], %[w1], lr\n\t"                                                                                \
    "vldrb.s16 q2, [%[w2]], #8\n\t"                                                                           \
    "vmladav.s16 %[a2], q0, q2\n\t"                                                                           \
    "vmladav.s16 %[b2], q1, q2\n\t"

/* 8 taps of the three channels and two pixels (the loop body: 11 instructions, 48 products). */
#define QNNC_CONV16_ASM_MACS                                                                                  \
    "vldrh.16 q0, [%[x0]], #16\n\t"                                                                           \
    "vldrh.16 q1, [%[x1]], #16\n\t"                                                                           \
    "vldrb.s16 q2, [%[w0]], #8\n\t"                                                                           \
    "vmladava.s16 %[e], q0, q2\n\t"                                                                           \
    "vmladava.s16 %[b0], q1, q2\n\t"                                                                          \
    "vldrb.s16 q2, [%[w1]], #8\n\t"                                                                           \
    "vmladava.s16 %[a1], q0, q2\n\t"                                                                          \
    "vmladava.s16 %[b1], q1, q2\n\t"                                                                          \
    "vldrb.s16 q2, [%[w2]], #8\n\t"                                                                           \
    "vmladava.s16 %[a2], q0, q2\n\t"                                                                          \
    "vmladava.s16 %[b2], q1, q2\n\t"

/* The last K % 8 taps of a pass (K % 8 != 0): one predicated load of each pixel and channel
 * (false lanes load as zeros and add nothing, nothing past the rows is read), then the third
 * channel's weight pointer steps to the next pass's first channel. */
#define QNNC_CONV16_ASM_TAIL                                                                                  \
    "ldr lr, [sp, #16]\n\t"                                                                                   \
    "and lr, lr, #7\n\t"                                                                                      \
    "vctp.16 lr\n\t"                                                                                          \
    "vpstttt\n\t"                                                                                             \
    "vldrht.16 q0, [%[x0]]\n\t"                                                                               \
    "vldrht.16 q1, [%[x1]]\n\t"                                                                               \
    "vldrbt.s16 q2, [%[w0]]\n\t"                                                                              \
    "vldrbt.s16 q3, [%[w1]]\n\t"                                                                              \
    "vmladava.s16 %[e], q0, q2\n\t"                                                                           \
    "vmladava.s16 %[b0], q1, q2\n\t"                                                                          \
    "vmladava.s16 %[a1], q0, q3\n\t"                                                                          \
    "vmladava.s16 %[b1], q1, q3\n\t"                                                                          \
    "vpst\n\t"                                                                                                \
    "vldrbt.s16 q2, [%[w2]]\n\t"                                                                              \
    "vmladava.s16 %[a2], q0, q2\n\t"                                                                          \
    "vmladava.s16 %[b2], q1, q2\n\t"                                                                          \
    "add %[w2], %[w2], lr\n\t"

/* The pass's six sums to s, the next pass (channel 0 where channel 2 ended) until s reaches its
 * end, then the frame popped. */
#define QNNC_CONV16_ASM_STORE_NEXT(FRAME)                                                                     \
    "ldr lr, [sp, #8]\n\t"                                                                                    \
    "str %[a2], [lr, #8]\n\t"                                                                                 \
    "strd %[b0], %[b1], [lr, #%c[ob]]\n\t"                                                                    \
    "str %[b2], [lr, #%c[ob] + 8]\n\t"                                                                        \
    "strd %[e], %[a1], [lr], #12\n\t"                                                                         \
    "str lr, [sp, #8]\n\t"                                                                                    \
    "mov %[w0], %[w2]\n\t"                                                                                    \
    "ldr %[e], [sp, #12]\n\t"                                                                                 \
    "cmp lr, %[e]\n\t"                                                                                        \
    "bne 1b\n\t"                                                                                              \
    "add sp, sp, #" FRAME

/* The passes over one run of K taps; TAIL: "" for K % 8 == 0, else QNNC_CONV16_ASM_TAIL. */
#define QNNC_CONV16_PASSES_ASM(TAIL)                                                                          \
    __asm volatile(QNNC_CONV16_ASM_ENTER("24") "\n1:\n\t" QNNC_CONV16_ASM_PEEL                               \
                   "lsrs lr, lr, #3\n\t"                                                                      \
                   "wls lr, lr, 3f\n"                                                                         \
                   "2:\n\t" QNNC_CONV16_ASM_MACS "le lr, 2b\n"                                                \
                   "3:\n\t" TAIL QNNC_CONV16_ASM_STORE_NEXT("24")                                             \
                   : [e] "+Te"(e), [a1] "+Te"(a1), [b0] "+Te"(b0), [a2] "=&Te"(a2), [b1] "=&Te"(b1),         \
                     [b2] "=&Te"(b2), [x0] "+r"(xa), [x1] "+r"(xb), [w0] "+l"(w), [w1] "=&l"(w1),           \
                     [w2] "=&l"(w2)                                                                           \
                   : [ob] "i"(4 * QNNC_CONV16_PAIR_CH)                                                        \
                   : "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "memory", "cc")

/* The asm's operands: s's end, then channel 0's sum of pixel a (e); s, then channel 1's (a1);
 * the bytes of a row after its first 8, then a sum (b0). */
#define QNNC_CONV16_PASSES_VARS                                                                               \
    int32_t *e = s + 3 * npass;                                                                               \
    int32_t *a1 = s;                                                                                          \
    int32_t b0 = K - 8;                                                                                       \
    int32_t b1, b2;                                                                                           \
    const int8_t *w1, *w2

static void qnnc_conv16_passes3x2_mve(const int16_t *xa, const int16_t *xb, const int8_t *w, int32_t K,
                                      int32_t npass, int32_t *s)
{
    int32_t a2;
    QNNC_CONV16_PASSES_VARS;
    QNNC_CONV16_PASSES_ASM("");
}

/* The same for K % 8 != 0 (K > 8): each pass ends with the predicated tail. */
static void qnnc_conv16_passes3x2_tail_mve(const int16_t *xa, const int16_t *xb, const int8_t *w, int32_t K,
                                           int32_t npass, int32_t *s)
{
    int32_t a2;
    QNNC_CONV16_PASSES_VARS;
    QNNC_CONV16_PASSES_ASM(QNNC_CONV16_ASM_TAIL);
}

/* The same over t->rows >= 2 runs of t->run taps (t->run % 8 == 0) t->step apart, read in place
 * (K = rows * run): the frame also holds [20] (run - 8) / 8, [24] rows - 1, [28] the bytes from a
 * run's end to the next run, [32] run / 8 and [36] the rows left; after the first run each run is
 * a loop of its own (9 instructions a run besides its MACs, instead of copying the window). */
static void qnnc_conv16_passes3x2_rows_mve(const int16_t *xa, const int16_t *xb, const int8_t *w, int32_t K,
                                           const qnnc_conv16_taps *t, int32_t npass, int32_t *s)
{
    const int32_t cfg[4] = {(t->run - 8) >> 3, t->rows - 1, 2 * (t->step - t->run), t->run >> 3};
    const int32_t *a2 = cfg; /* the asm reads cfg through it, then it is a sum */
    QNNC_CONV16_PASSES_VARS;
    __asm volatile(QNNC_CONV16_ASM_ENTER("40")
                   "ldrd %[b1], %[b2], [%[a2]]\n\t"
                   "strd %[b1], %[b2], [sp, #20]\n\t"
                   "ldrd %[b1], %[b2], [%[a2], #8]\n\t"
                   "strd %[b1], %[b2], [sp, #28]\n"
                   "1:\n\t" QNNC_CONV16_ASM_PEEL
                   "ldr lr, [sp, #20]\n\t"
                   "wls lr, lr, 3f\n"
                   "2:\n\t" QNNC_CONV16_ASM_MACS "le lr, 2b\n"
                   "3:\n\t"
                   "ldr lr, [sp, #24]\n"
                   "4:\n\t"
                   "str lr, [sp, #36]\n\t"
                   "ldr lr, [sp, #28]\n\t"
                   "add %[x0], %[x0], lr\n\t"
                   "add %[x1], %[x1], lr\n\t"
                   "ldr lr, [sp, #32]\n\t"
                   "dls lr, lr\n"
                   "5:\n\t" QNNC_CONV16_ASM_MACS "le lr, 5b\n\t"
                   "ldr lr, [sp, #36]\n\t"
                   "subs lr, lr, #1\n\t"
                   "bne 4b\n\t" QNNC_CONV16_ASM_STORE_NEXT("40")
                   : [e] "+Te"(e), [a1] "+Te"(a1), [b0] "+Te"(b0), [a2] "+Te"(a2), [b1] "=&Te"(b1),
                     [b2] "=&Te"(b2), [x0] "+r"(xa), [x1] "+r"(xb), [w0] "+l"(w), [w1] "=&l"(w1), [w2] "=&l"(w2)
                   : [ob] "i"(4 * QNNC_CONV16_PAIR_CH)
                   : "lr", "d0", "d1", "d2", "d3", "d4", "d5", "memory", "cc");
}
#else
/* The passes in C (other compilers, builds without optimization): a run at a time, added up. */
static void qnnc_conv16_passes3x2_rows_mve(const int16_t *xa, const int16_t *xb, const int8_t *w, int32_t K,
                                           const qnnc_conv16_taps *t, int32_t npass, int32_t *s)
{
    int32_t j, r;
    for (j = 0; j < npass; ++j) {
        int32_t *sj = s + 3 * j;
        sj[0] = sj[1] = sj[2] = 0;
        sj[QNNC_CONV16_PAIR_CH] = sj[QNNC_CONV16_PAIR_CH + 1] = sj[QNNC_CONV16_PAIR_CH + 2] = 0;
        for (r = 0; r < t->rows; ++r) {
            qnnc_conv16_run3x2_mve(xa + r * t->step, xb + r * t->step, w + 3 * j * K + r * t->run, K, t->run, sj);
        }
    }
}
static void qnnc_conv16_passes3x2_mve(const int16_t *xa, const int16_t *xb, const int8_t *w, int32_t K,
                                      int32_t npass, int32_t *s)
{
    const qnnc_conv16_taps one = {1, K, 0};
    qnnc_conv16_passes3x2_rows_mve(xa, xb, w, K, &one, npass, s);
}
static void qnnc_conv16_passes3x2_tail_mve(const int16_t *xa, const int16_t *xb, const int8_t *w, int32_t K,
                                           int32_t npass, int32_t *s)
{
    qnnc_conv16_passes3x2_mve(xa, xb, w, K, npass, s);
}
#endif

/* *a += x0 . w and *b += x1 . w over n taps (tail: the last n % 8 predicated; else n % 8 == 0). */
QNNC_INLINE void qnnc_conv16_dot1x2(const int16_t *x0, const int16_t *x1, const int8_t *w, int32_t n, int tail,
                                    int32_t *a, int32_t *b)
{
    int32_t i, sa = *a, sb = *b;
    for (i = n >> 3; i > 0; --i) {
        const int16x8_t u = vldrbq_s16(w);
        sa = vmladavaq_s16(sa, vldrhq_s16(x0), u);
        sb = vmladavaq_s16(sb, vldrhq_s16(x1), u);
        x0 += 8;
        x1 += 8;
        w += 8;
    }
    if (tail && (n & 7)) { /* zero lanes contribute nothing */
        const mve_pred16_t p = vctp16q((uint32_t)(n & 7));
        const int16x8_t u = vldrbq_z_s16(w, p);
        sa = vmladavaq_s16(sa, vldrhq_z_s16(x0, p), u);
        sb = vmladavaq_s16(sb, vldrhq_z_s16(x1, p), u);
    }
    *a = sa;
    *b = sb;
}

/* The same for two channels (weights at w0 and w0 + ws): s[0], s[1] from x0, s[2], s[3] from x1. */
QNNC_INLINE void qnnc_conv16_dot2x2(const int16_t *x0, const int16_t *x1, const int8_t *w0, int32_t ws, int32_t n,
                                    int tail, int32_t *s)
{
    const int8_t *w1 = w0 + ws;
    int32_t i, a0 = s[0], a1 = s[1], b0 = s[2], b1 = s[3];
    for (i = n >> 3; i > 0; --i) {
        const int16x8_t v0 = vldrhq_s16(x0), v1 = vldrhq_s16(x1);
        const int16x8_t u0 = vldrbq_s16(w0), u1 = vldrbq_s16(w1);
        a0 = vmladavaq_s16(a0, v0, u0);
        b0 = vmladavaq_s16(b0, v1, u0);
        a1 = vmladavaq_s16(a1, v0, u1);
        b1 = vmladavaq_s16(b1, v1, u1);
        x0 += 8;
        x1 += 8;
        w0 += 8;
        w1 += 8;
    }
    if (tail && (n & 7)) { /* zero lanes contribute nothing */
        const mve_pred16_t p = vctp16q((uint32_t)(n & 7));
        const int16x8_t v0 = vldrhq_z_s16(x0, p), v1 = vldrhq_z_s16(x1, p);
        const int16x8_t u0 = vldrbq_z_s16(w0, p), u1 = vldrbq_z_s16(w1, p);
        a0 = vmladavaq_s16(a0, v0, u0);
        b0 = vmladavaq_s16(b0, v1, u0);
        a1 = vmladavaq_s16(a1, v0, u1);
        b1 = vmladavaq_s16(b1, v1, u1);
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = b0;
    s[3] = b1;
}

/* The sums of both pixels over the taps t of the channel at w, into s[0] and
 * s[QNNC_CONV16_PAIR_CH]: the one channel left over by the passes of three. One run (a window)
 * with its last run % 8 taps predicated, or kernel rows in place (run % 8 == 0) a loop each. */
static QNNC_LOOP_ATTR void qnnc_conv16_rest1_mve(const int16_t *x0, const int16_t *x1, const int8_t *w,
                                                 const qnnc_conv16_taps *t, int32_t *s)
{
    int32_t a = 0, b = 0, r;
    if (t->rows == 1) {
        qnnc_conv16_dot1x2(x0, x1, w, t->run, 1, &a, &b);
    } else {
        for (r = 0; r < t->rows; ++r) {
            qnnc_conv16_dot1x2(x0 + r * t->step, x1 + r * t->step, w + r * t->run, t->run, 0, &a, &b);
        }
    }
    s[0] = a;
    s[QNNC_CONV16_PAIR_CH] = b;
}

/* The same for the two channels left over (weights at w0 and w0 + ws). */
static QNNC_LOOP_ATTR void qnnc_conv16_rest2_mve(const int16_t *x0, const int16_t *x1, const int8_t *w0, int32_t ws,
                                                 const qnnc_conv16_taps *t, int32_t *s)
{
    int32_t v[4] = {0, 0, 0, 0};
    int32_t r;
    if (t->rows == 1) {
        qnnc_conv16_dot2x2(x0, x1, w0, ws, t->run, 1, v);
    } else {
        for (r = 0; r < t->rows; ++r) {
            qnnc_conv16_dot2x2(x0 + r * t->step, x1 + r * t->step, w0 + r * t->run, ws, t->run, 0, v);
        }
    }
    s[0] = v[0];
    s[1] = v[1];
    s[QNNC_CONV16_PAIR_CH] = v[2];
    s[QNNC_CONV16_PAIR_CH + 1] = v[3];
}
#endif /* QNNC_PATH_MVE */

#endif
