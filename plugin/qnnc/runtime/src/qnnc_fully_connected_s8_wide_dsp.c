/*
 * qnnc_fully_connected_s8_wide_dsp.c - the Armv7E-M DSP path of qnnc_fully_connected_s8_wide
 * (__ARM_FEATURE_DSP: Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point, dispatch
 * and portable path are in qnnc_fully_connected_s8_wide.c).
 *
 * As qnnc_fully_connected_s8_dsp.c (the input row widened once into q15 with the offset added,
 * 4 output features at a time, the same output stage: qnnc_fc_dsp.h), but the weights come
 * as int16 pairs ready for SMLAD: per 4 rows and 4 inputs one LDRD of the input and two LDM of
 * 4 weight words feed 8 SMLAD, 21 cycles on the M4 against 25 with SXTB16 on int8 weights.
 */
#include "qnnc_fc_dsp.h"

#if QNNC_PATH_DSP
/* The int16 weights (qnnc/emit/wide_weights.py): per 4 rows and group of 4 inputs, 8 words:
 * row r's (w0, w2) and (w1, w3) at words 2r, 2r + 1, the lane order of the widened input. */
#if defined(QNNC_DSP_ASM)
/* One group: x's two words, then rows 0-1 and rows 2-3 by one LDM each (4 registers, 5 cycles
 * on the M4 against 6 for two LDRD); the LDM registers are fixed (a register list ascends). */
#define QNNC_FC_WIDE_GROUP                                                                     \
    "ldrd %[xa], %[xb], [%[x]], #8\n\t"                                                         \
    "ldm %[w]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"                                               \
    "smlad %[a0], %[p0], %[xa], %[a0]\n\t"                                                      \
    "smlad %[a0], %[p1], %[xb], %[a0]\n\t"                                                      \
    "smlad %[a1], %[p2], %[xa], %[a1]\n\t"                                                      \
    "smlad %[a1], %[p3], %[xb], %[a1]\n\t"                                                      \
    "ldm %[w]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"                                               \
    "smlad %[a2], %[p0], %[xa], %[a2]\n\t"                                                      \
    "smlad %[a2], %[p1], %[xb], %[a2]\n\t"                                                      \
    "smlad %[a3], %[p2], %[xa], %[a3]\n\t"                                                      \
    "smlad %[a3], %[p3], %[xb], %[a3]\n\t"
#define QNNC_FC_WIDE_OPERANDS                                                                  \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w),      \
        [xa] "=&r"(xa), [xb] "=&r"(xb), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2), [p3] "=&r"(p3)
#endif

/* acc[0..3] += x . the 4 rows of int16 weights at w, over `groups` groups of 4 inputs. */
QNNC_INLINE void qnnc_fc_dot4_wide(const uint32_t *x, int32_t groups, const int16_t *w16, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if defined(QNNC_DSP_ASM)
    const uint32_t *w = (const uint32_t *)(const void *)w16; /* 4-byte aligned for LDM (the generator's arrays) */
    const uint32_t *x_end = x + 2 * groups;
    register uint32_t p0 __asm("r2"), p1 __asm("r3"), p2 __asm("r4"), p3 __asm("r5");
    uint32_t xa, xb;
    if ((groups & 1) != 0) {
        __asm volatile(QNNC_FC_WIDE_GROUP : QNNC_FC_WIDE_OPERANDS : : "memory");
    }
    if ((groups & 2) != 0) {
        __asm volatile(QNNC_FC_WIDE_GROUP QNNC_FC_WIDE_GROUP : QNNC_FC_WIDE_OPERANDS : : "memory");
    }
    if (x != x_end) { /* 4 groups an iteration */
        __asm volatile("1:\n\t" QNNC_FC_WIDE_GROUP QNNC_FC_WIDE_GROUP QNNC_FC_WIDE_GROUP QNNC_FC_WIDE_GROUP
                       "ldr %[xa], %[end]\n\t"
                       "cmp %[x], %[xa]\n\t"
                       "bne 1b\n\t"
                       : QNNC_FC_WIDE_OPERANDS
                       : [end] "m"(x_end)
                       : "cc", "memory");
    }
#else
    int32_t g;
    for (g = 0; g < groups; ++g) {
        const int32_t xa = (int32_t)x[0], xb = (int32_t)x[1];
        int32_t w[8]; /* the group's 16 weights as SMLAD operands (memcpy: no type punning) */
        memcpy(w, w16, sizeof w);
        a0 = __smlad(w[0], xa, __smlad(w[1], xb, a0));
        a1 = __smlad(w[2], xa, __smlad(w[3], xb, a1));
        a2 = __smlad(w[4], xa, __smlad(w[5], xb, a2));
        a3 = __smlad(w[6], xa, __smlad(w[7], xb, a3));
        x += 2;
        w16 += 16;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One input row against the int16 weight rows (in_features and out_features multiples of 4). */
static QNNC_LOOP_ATTR void qnnc_fc_row_wide_dsp(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                                                   int32_t K, const uint32_t *xw, int32_t out_features,
                                                   const int16_t *wide, const int32_t *bias, int mode,
                                                   int8_t *restrict output)
{
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    int32_t o, i;
    (void)mode; /* (C loops: the general output stage only) */
#if defined(QNNC_DSP_ASM)
    if (mode != 0 && bias != NULL) { /* as qnnc_fc_row_dsp's fast loop */
        const int16_t *w = wide;
        const int32_t *b = bias, *mp = quant->multiplier, *sp = quant->shift;
        const int32_t o2 = 2 * output_offset + 1, amin = params->act_min, amax = params->act_max;
        int8_t *out = output;
        int8_t *const out_end = output + out_features;
        while (out != out_end) {
            int32_t acc[4];
            acc[0] = b[0];
            acc[1] = b[1];
            acc[2] = b[2];
            acc[3] = b[3];
            qnnc_fc_dot4_wide(xw, K / 4, w, acc);
            qnnc_fc_store4_asm(acc, &mp, &sp, o2, amin, amax, mode, out);
            w += 4 * K;
            b += 4;
            out += 4;
        }
        return;
    }
#endif
    for (o = 0; o < out_features; o += 4) {
        int32_t acc[4];
        for (i = 0; i < 4; ++i) {
            acc[i] = bias != NULL ? bias[o + i] : 0;
        }
        qnnc_fc_dot4_wide(xw, K / 4, wide + o * K, acc);
        for (i = 0; i < 4; ++i) {
            output[o + i] = qnnc_fc_out_dsp(acc[i], quant->multiplier[o + i], quant->shift[o + i], lo, hi,
                                            output_offset, params->rounding);
        }
    }
}

QNNC_PATH_ATTR int qnnc_fc_wide_dsp_s8(const qnnc_buffer *scratch, const qnnc_fc_params *params,
                                       const qnnc_per_channel_quant *quant, int32_t rows, int32_t in_features,
                                       const int8_t *input, int32_t out_features, const int16_t *weights,
                                       const int32_t *bias, int8_t *output)
{
    const int32_t K = in_features;
    const int32_t off2 = qnnc_dsp_pack2(params->input_offset);
    int32_t r;
    int mode;
    uint32_t *xw; /* the widened row: K / 4 groups of two words (scratch) */
    if ((K & 3) != 0 || (out_features & 3) != 0 || K > QNNC_FC_MAX_K || K < 4 || out_features > QNNC_FC_MAX_K ||
        scratch == NULL || scratch->buf == NULL ||
        !qnnc_scratch_fits(scratch, 4u, QNNC_FC_DSP_BUFFER_SIZE(K, out_features))) {
        return 0; /* the portable path */
    }
    xw = (uint32_t *)qnnc_scratch_align(scratch, 4u);
    mode = qnnc_fc_asm_mode(params, quant, out_features);
    for (r = 0; r < rows; ++r) {
        qnnc_fc_widen_row(xw, input + r * K, K, off2);
        qnnc_fc_row_wide_dsp(params, quant, K, xw, out_features, weights, bias, mode, output + r * out_features);
    }
    qnnc_apply_lut(params->act_lut, output, rows * out_features);
    return 1;
}
#endif /* QNNC_PATH_DSP */
