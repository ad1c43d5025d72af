/*
 * qnnc_dsp_mm2x2.h - the Armv7E-M DSP inner loop of a 2 output channels x 2 pixels block over
 * two interleaved q15 columns, shared by the int8 conv (qnnc_conv_s8_dsp.c: columns of input +
 * offset) and the 16x8 conv (qnnc_conv_s16_dsp.c: columns of int16 inputs). Each column holds
 * its taps in groups of 4, lane pairs (x0, x2) and (x1, x3): the order SXTB16 / SXTB16 ROR #8
 * give the int8 weights, so the weights need no reordering.
 */
#ifndef QNNC_DSP_MM2X2_H
#define QNNC_DSP_MM2X2_H
#include "qnnc_internal.h"

#if QNNC_PATH_DSP
/* Accumulators of a 2 output channels x 2 pixels block. */
typedef struct {
    int32_t a00, a01, a10, a11; /* a<channel><pixel> */
} qnnc_conv_acc2x2;

#if defined(QNNC_DSP_ASM)
/* One group of 4 taps: weights of both channels (post-increment), the two words of column 0,
 * then of column 1 (LDRD, post-increment), SXTB16 in the lane order of the columns. */
#define QNNC_CONV_MM2X2_GROUP                                                                  \
    "ldr %[wa], [%[w0]], #4\n\t"                                                               \
    "ldr %[wb], [%[w1]], #4\n\t"                                                               \
    "ldrd %[x0], %[x1], [%[c]], #8\n\t"                                                        \
    "sxtb16 %[wa13], %[wa], ror #8\n\t"                                                        \
    "sxtb16 %[wa], %[wa]\n\t"                                                                  \
    "sxtb16 %[wb13], %[wb], ror #8\n\t"                                                        \
    "sxtb16 %[wb], %[wb]\n\t"                                                                  \
    "smlad %[a00], %[wa], %[x0], %[a00]\n\t"                                                   \
    "smlad %[a10], %[wb], %[x0], %[a10]\n\t"                                                   \
    "smlad %[a00], %[wa13], %[x1], %[a00]\n\t"                                                 \
    "smlad %[a10], %[wb13], %[x1], %[a10]\n\t"                                                 \
    "ldrd %[x0], %[x1], [%[c]], #8\n\t"                                                        \
    "smlad %[a01], %[wa], %[x0], %[a01]\n\t"                                                   \
    "smlad %[a11], %[wb], %[x0], %[a11]\n\t"                                                   \
    "smlad %[a01], %[wa13], %[x1], %[a01]\n\t"                                                 \
    "smlad %[a11], %[wb13], %[x1], %[a11]\n\t"
#define QNNC_CONV_MM2X2_OPERANDS                                                               \
    [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [c] "+r"(c),           \
    [w0] "+r"(w0), [w1] "+r"(w1), [wa] "=&r"(wa), [wb] "=&r"(wb), [wa13] "=&r"(wa13),          \
    [wb13] "=&r"(wb13), [x0] "=&r"(x0), [x1] "=&r"(x1)
#endif

/* acc += (col0, col1) x (w0, w1) over the interleaved q15 column pair [c, c_end) (group g of
 * 4 taps: col0 in words 4g, 4g+1; col1 in 4g+2, 4g+3). Per group: two LDR of weights, two
 * LDRD of columns, four SXTB16, eight SMLAD. 4 groups an iteration; `lead` = the column
 * pair's bytes & 48 (the 1 and 2 groups run first), which callers with many blocks over the
 * same columns compute once. */
QNNC_INLINE void qnnc_conv_mm2x2_u4(const uint32_t *c, const uint32_t *c_end, uint32_t lead, const int8_t *w0,
                                    const int8_t *w1, qnnc_conv_acc2x2 *acc)
{
    int32_t a00 = acc->a00, a01 = acc->a01, a10 = acc->a10, a11 = acc->a11;
#if defined(QNNC_DSP_ASM)
    uint32_t wa, wb, wa13, wb13, x0, x1;
    /* (the hot loops: the loop test costs 3 of 67 instructions) */
    if ((lead & 16u) != 0u) {
        __asm volatile(QNNC_CONV_MM2X2_GROUP : QNNC_CONV_MM2X2_OPERANDS : : "memory");
    }
    if ((lead & 32u) != 0u) {
        __asm volatile(QNNC_CONV_MM2X2_GROUP QNNC_CONV_MM2X2_GROUP : QNNC_CONV_MM2X2_OPERANDS : : "memory");
    }
    if (c != c_end) {
        __asm volatile("1:\n\t" QNNC_CONV_MM2X2_GROUP QNNC_CONV_MM2X2_GROUP QNNC_CONV_MM2X2_GROUP
                           QNNC_CONV_MM2X2_GROUP "ldr %[wa], %[end]\n\t"
                                                 "cmp %[c], %[wa]\n\t"
                                                 "bne 1b\n\t"
                       : QNNC_CONV_MM2X2_OPERANDS
                       : [end] "m"(c_end)
                       : "cc", "memory");
    }
#else
    (void)lead;
    for (; c != c_end; c += 4) {
        const uint32_t wa = qnnc_dsp_rd32(w0);
        const uint32_t wb = qnnc_dsp_rd32(w1);
        const int32_t wa13 = qnnc_dsp_sxtb16_ror8(wa), wa02 = __sxtb16((int32_t)wa);
        const int32_t wb13 = qnnc_dsp_sxtb16_ror8(wb), wb02 = __sxtb16((int32_t)wb);
        w0 += 4;
        w1 += 4;
        a00 = __smlad(wa02, (int32_t)c[0], a00);
        a10 = __smlad(wb02, (int32_t)c[0], a10);
        a00 = __smlad(wa13, (int32_t)c[1], a00);
        a10 = __smlad(wb13, (int32_t)c[1], a10);
        a01 = __smlad(wa02, (int32_t)c[2], a01);
        a11 = __smlad(wb02, (int32_t)c[2], a11);
        a01 = __smlad(wa13, (int32_t)c[3], a01);
        a11 = __smlad(wb13, (int32_t)c[3], a11);
    }
#endif
    acc->a00 = a00;
    acc->a01 = a01;
    acc->a10 = a10;
    acc->a11 = a11;
}

/* The same, 2 groups an iteration (the cold loops) or 4 (unroll4: qnnc_conv_mm2x2_u4). */
QNNC_INLINE void qnnc_conv_mm2x2(const uint32_t *c, const uint32_t *c_end, const int8_t *w0,
                                 const int8_t *w1, qnnc_conv_acc2x2 *acc, int unroll4)
{
#if defined(QNNC_DSP_ASM)
    if (unroll4) {
        qnnc_conv_mm2x2_u4(c, c_end, (uint32_t)((uintptr_t)c_end - (uintptr_t)c) & 48u, w0, w1, acc);
    } else {
        int32_t a00 = acc->a00, a01 = acc->a01, a10 = acc->a10, a11 = acc->a11;
        uint32_t wa, wb, wa13, wb13, x0, x1;
        QNNC_DSP_ASM_LOOP2((((uintptr_t)c_end - (uintptr_t)c) & 16u) != 0u, QNNC_CONV_MM2X2_GROUP,
                           QNNC_CONV_MM2X2_OPERANDS, "c", "wa", c, c_end);
        acc->a00 = a00;
        acc->a01 = a01;
        acc->a10 = a10;
        acc->a11 = a11;
    }
#else
    (void)unroll4;
    qnnc_conv_mm2x2_u4(c, c_end, 0u, w0, w1, acc);
#endif
}
#endif /* QNNC_PATH_DSP */
#endif /* QNNC_DSP_MM2X2_H */
