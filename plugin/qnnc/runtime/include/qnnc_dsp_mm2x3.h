/*
 * qnnc_dsp_mm2x3.h - the Armv7E-M DSP inner loop of a 2 output channels x 3 pixels block
 * (qnnc_conv_s8_paired_dsp.c): weights in channel pairs (per group of 4 taps, 8 bytes: channel
 * a's 4 int8 weights, then channel b's; qnnc/emit/paired_weights.py), three interleaved q15
 * columns (group g: words 6g .. 6g + 5, column j's two words at 6g + 2j, in the lane order
 * SXTB16 / SXTB16 ROR #8 give the weights, as qnnc_dsp_mm2x2.h).
 *
 * Per group: one LDRD of both channels' weights, three LDRD of the columns, four SXTB16 and
 * twelve SMLAD: 20 instructions and about 28 Cortex-M4 cycles for 24 MACs, against 16 and 21
 * for 16 MACs in the 2 x 2 block over OHWI weights (two weight pointers). One weight pointer
 * frees the register a third pixel's two accumulators need: the loop holds 14 registers (r0-r12,
 * lr). qnnc_conv_s8_paired_dsp.c is compiled without a frame pointer whatever the build's flags
 * (a file-level pragma); a build that reserves r9 (-ffixed-r9, -msingle-pic-base) defines
 * QNNC_DSP_ASM_13 (the PlatformIO library does it from the build flags): the columns are then read
 * a word at a time (13 registers, 3 more cycles a group); without it GCC stops with "asm operand
 * has impossible constraints".
 *
 * With int16 weights (execution.wide_weights, qnnc_conv_s8_paired_wide; qnnc/emit/wide_weights.py)
 * a group's 16 bytes are both channels' weight words ready for SMLAD: one LDM of four registers
 * (5 cycles) replaces the LDRD and the four SXTB16: 16 instructions and about 26 cycles a group.
 */
#ifndef QNNC_DSP_MM2X3_H
#define QNNC_DSP_MM2X3_H
#include "qnnc_internal.h"

#if QNNC_PATH_DSP
#if defined(QNNC_DSP_ASM) && !defined(QNNC_DSP_ASM_13)
/* One pixel's two column words at addr into both channels' accumulators a and b, their first
 * SMLADs from sa and sb (the peeled first group starts them from the bias). */
#define QNNC_CONV_MM2X3_PIXEL_FROM(a, b, sa, sb, addr)                                           \
    "ldrd %[x0], %[x1], " addr "\n\t"                                                          \
    "smlad %[" a "], %[wa], %[x0], %[" sa "]\n\t"                                               \
    "smlad %[" b "], %[wb], %[x0], %[" sb "]\n\t"                                               \
    "smlad %[" a "], %[wa13], %[x1], %[" a "]\n\t"                                              \
    "smlad %[" b "], %[wb13], %[x1], %[" b "]\n\t"
/* One pixel's two column words (post-increment) into both channels' accumulators. */
#define QNNC_CONV_MM2X3_PIXEL(a, b) QNNC_CONV_MM2X3_PIXEL_FROM(a, b, a, b, "[%[c]], #8")
#define QNNC_CONV_MM2X3_X [x0] "=&r"(x0), [x1] "=&r"(x1)
#elif defined(QNNC_DSP_ASM)
#define QNNC_CONV_MM2X3_PIXEL(a, b)                                                            \
    "ldr %[x0], [%[c]], #4\n\t"                                                                \
    "smlad %[" a "], %[wa], %[x0], %[" a "]\n\t"                                               \
    "smlad %[" b "], %[wb], %[x0], %[" b "]\n\t"                                               \
    "ldr %[x0], [%[c]], #4\n\t"                                                                \
    "smlad %[" a "], %[wa13], %[x0], %[" a "]\n\t"                                             \
    "smlad %[" b "], %[wb13], %[x0], %[" b "]\n\t"
#define QNNC_CONV_MM2X3_X [x0] "=&r"(x0)
#endif

#if defined(QNNC_DSP_ASM)
/* A group's weights: both channels' (LDRD, post-increment), widened once for the three pixels. */
#define QNNC_CONV_MM2X3_WEIGHTS                                                                \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                        \
    "sxtb16 %[wa13], %[wa], ror #8\n\t"                                                        \
    "sxtb16 %[wa], %[wa]\n\t"                                                                  \
    "sxtb16 %[wb13], %[wb], ror #8\n\t"                                                        \
    "sxtb16 %[wb], %[wb]\n\t"
/* The same over int16 weights: channel a's words (taps 0, 2), (1, 3), then channel b's, as the
 * SXTB16 pair above gives them, by one LDM (5 cycles on the M4, as four pipelined LDRs, in one
 * instruction). An LDM fills its registers in the order of their numbers: the statements that
 * run it declare the four with QNNC_CONV_MM2X3_WIDE_REGS. */
#define QNNC_CONV_MM2X3_WEIGHTS_WIDE "ldm %[w]!, {%[wa], %[wa13], %[wb], %[wb13]}\n\t"
/* One group of 4 taps of either width. */
#define QNNC_CONV_MM2X3_GROUP_OF(WEIGHTS)                                                       \
    WEIGHTS QNNC_CONV_MM2X3_PIXEL("a0", "b0") QNNC_CONV_MM2X3_PIXEL("a1", "b1") QNNC_CONV_MM2X3_PIXEL("a2", "b2")
#define QNNC_CONV_MM2X3_GROUP QNNC_CONV_MM2X3_GROUP_OF(QNNC_CONV_MM2X3_WEIGHTS)
#define QNNC_CONV_MM2X3_GROUP_WIDE QNNC_CONV_MM2X3_GROUP_OF(QNNC_CONV_MM2X3_WEIGHTS_WIDE)
/* The wide group's weight registers, fixed and ascending in the weights' memory order: r2-r5,
 * neither r7 (a frame pointer) nor r9 (reserved by -ffixed-r9 builds). */
#define QNNC_CONV_MM2X3_WIDE_REGS                                                              \
    register uint32_t wa __asm("r2"), wa13 __asm("r3"), wb __asm("r4"), wb13 __asm("r5")
/* The dot products over the three columns from %[c] (the weights from %[w]), G the group of the
 * layer's weight width (QNNC_CONV_MM2X3_GROUP or _GROUP_WIDE): groups % 4 (in the memory operand
 * %[lead]) groups first, by entering the 4-group loop at its last 1-3 (TBB), then 4 an iteration
 * until %[c] reaches the memory operand %[end]. */
#define QNNC_CONV_MM2X3_LOOP_OF(G)                                                             \
    "ldr %[x0], %[lead]\n\t"                                                                   \
    "tbb [pc, %[x0]]\n\t"                                                                      \
    "0:\n\t"                                                                                   \
    ".byte (10f - 0b) / 2, (13f - 0b) / 2, (12f - 0b) / 2, (11f - 0b) / 2\n\t"                  \
    "10:\n\t" G "11:\n\t" G "12:\n\t" G "13:\n\t" G                                            \
    "ldr %[wa], %[end]\n\t"                                                                    \
    "cmp %[c], %[wa]\n\t"                                                                      \
    "bne 10b\n\t"
/* The first group of a block, peeled: its SMLADs start from the bias in a0 / b0 (pixels 2 and 1
 * first, their columns by immediate offsets, pixel 0's last with the post-increment), so the
 * block needs no copies of the bias into a1, a2, b1, b2 (4 instructions a channel pair and pixel
 * triple). WEIGHTS: the group's weight loads (and widening) of the layer's width. */
#define QNNC_CONV_MM2X3_FIRST_OF(WEIGHTS)                                                       \
    WEIGHTS QNNC_CONV_MM2X3_PIXEL_FROM("a2", "b2", "a0", "b0", "[%[c], #16]")                   \
        QNNC_CONV_MM2X3_PIXEL_FROM("a1", "b1", "a0", "b0", "[%[c], #8]")                        \
            QNNC_CONV_MM2X3_PIXEL_FROM("a0", "b0", "a0", "b0", "[%[c]], #24")
/* The same, 8 groups an iteration, after the peeled first group (the other groups % 8 first, from
 * the memory operand %[lead]: 8 when there are none, which enters at the end test; TBH: the entry
 * offsets pass TBB's 510 bytes): the loop's end test, a stack load, once per 8 groups. For the
 * whole-range channel loops that hold most of the cycles (one more copy of the groups is about
 * 320 bytes of flash). */
#define QNNC_CONV_MM2X3_LOOP8_OF(G)                                                            \
    "ldr %[x0], %[lead]\n\t"                                                                   \
    "tbh [pc, %[x0], lsl #1]\n\t"                                                              \
    "0:\n\t"                                                                                   \
    ".hword (10f - 0b) / 2, (17f - 0b) / 2, (16f - 0b) / 2, (15f - 0b) / 2\n\t"                 \
    ".hword (14f - 0b) / 2, (13f - 0b) / 2, (12f - 0b) / 2, (11f - 0b) / 2, (18f - 0b) / 2\n\t" \
    "10:\n\t" G "11:\n\t" G "12:\n\t" G "13:\n\t" G                                            \
    "14:\n\t" G "15:\n\t" G "16:\n\t" G "17:\n\t" G                                            \
    "18:\n\t"                                                                                  \
    "ldr %[wa], %[end]\n\t"                                                                    \
    "cmp %[c], %[wa]\n\t"                                                                      \
    "bne 10b\n\t"
#define QNNC_CONV_MM2X3_OPERANDS                                                               \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [b0] "+r"(b0), [b1] "+r"(b1), [b2] "+r"(b2),   \
        [c] "+r"(c), [w] "+r"(w), [wa] "=&r"(wa), [wb] "=&r"(wb), [wa13] "=&r"(wa13),            \
        [wb13] "=&r"(wb13), QNNC_CONV_MM2X3_X
#endif

/* A 2 x 3 block's accumulators (channel a's pixels 0-2, channel b's) and its weight pointer:
 * passed and returned by value, so GCC keeps them in registers (an array of accumulators stayed in
 * memory, stored back after every output stage). */
typedef struct {
    int32_t a0, a1, a2, b0, b1, b2;
    const int8_t *w;
} qnnc_mm2x3;

/* s's accumulators += the channel pair's weights at s.w x the three columns [c, c_end) of
 * `groups` groups (groups % 4 first, then 4 an iteration); s.w moves past the pair's weights (to
 * the next pair's). w: 4-byte aligned; wide (a constant): int16 weights, 16 bytes a group. */
QNNC_INLINE qnnc_mm2x3 qnnc_conv_mm2x3(const uint32_t *c, const uint32_t *c_end, uint32_t groups, qnnc_mm2x3 s,
                                       const int wide)
{
    int32_t a0 = s.a0, a1 = s.a1, a2 = s.a2, b0 = s.b0, b1 = s.b1, b2 = s.b2;
    const int8_t *w = s.w;
#if defined(QNNC_DSP_ASM)
    /* the loop's end and entry in stack slots: their addresses need no register (the loop uses
     * all 14); groups % 4 groups run first by entering the 4-group loop at its last 1-3 (TBB) */
    const uint32_t *volatile end = c_end;
    volatile uint32_t lead = groups & 3u;
    uint32_t x0;
#if !defined(QNNC_DSP_ASM_13)
    uint32_t x1;
#endif
    if (c != c_end && wide) {
        QNNC_CONV_MM2X3_WIDE_REGS;
        __asm volatile(QNNC_CONV_MM2X3_LOOP_OF(QNNC_CONV_MM2X3_GROUP_WIDE)
                       : QNNC_CONV_MM2X3_OPERANDS
                       : [end] "m"(end), [lead] "m"(lead)
                       : "cc", "memory");
    } else if (c != c_end) {
        uint32_t wa, wb, wa13, wb13;
        __asm volatile(QNNC_CONV_MM2X3_LOOP_OF(QNNC_CONV_MM2X3_GROUP)
                       : QNNC_CONV_MM2X3_OPERANDS
                       : [end] "m"(end), [lead] "m"(lead)
                       : "cc", "memory");
    }
#else
    (void)groups;
    for (; c != c_end; c += 6) {
        int32_t wa02, wa13, wb02, wb13;
        if (wide) { /* the words SMLAD takes, as the SXTB16 pair below gives them */
            wa02 = (int32_t)qnnc_dsp_rd32(w);
            wa13 = (int32_t)qnnc_dsp_rd32(w + 4);
            wb02 = (int32_t)qnnc_dsp_rd32(w + 8);
            wb13 = (int32_t)qnnc_dsp_rd32(w + 12);
            w += 16;
        } else {
            const uint32_t wa = qnnc_dsp_rd32(w), wb = qnnc_dsp_rd32(w + 4);
            wa13 = qnnc_dsp_sxtb16_ror8(wa);
            wa02 = __sxtb16((int32_t)wa);
            wb13 = qnnc_dsp_sxtb16_ror8(wb);
            wb02 = __sxtb16((int32_t)wb);
            w += 8;
        }
        a0 = __smlad(wa13, (int32_t)c[1], __smlad(wa02, (int32_t)c[0], a0));
        b0 = __smlad(wb13, (int32_t)c[1], __smlad(wb02, (int32_t)c[0], b0));
        a1 = __smlad(wa13, (int32_t)c[3], __smlad(wa02, (int32_t)c[2], a1));
        b1 = __smlad(wb13, (int32_t)c[3], __smlad(wb02, (int32_t)c[2], b1));
        a2 = __smlad(wa13, (int32_t)c[5], __smlad(wa02, (int32_t)c[4], a2));
        b2 = __smlad(wb13, (int32_t)c[5], __smlad(wb02, (int32_t)c[4], b2));
    }
#endif
    s.a0 = a0;
    s.a1 = a1;
    s.a2 = a2;
    s.b0 = b0;
    s.b1 = b1;
    s.b2 = b2;
    s.w = w;
    return s;
}
#endif /* QNNC_PATH_DSP */
#endif /* QNNC_DSP_MM2X3_H */
