/*
 * qnnc_fully_connected_s16_dsp.c - the Armv7E-M DSP path of qnnc_fully_connected_s16
 * (Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_fully_connected_s16.c). Model: CMSIS-NN arm_fully_connected_s16 (DSP).
 *
 * Two output features per pass over the input row: four int16 inputs are repacked once into
 * (x0, x2) and (x1, x3) (PKHBT / PKHTB), each feature's four weights take one LDR, SXTB16 and
 * SXTB16 ROR #8, and two SMLALD. SMLALD accumulates in 64 bits: exact for any length. No scratch.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_DSP
/* PKHBT / PKHTB of two words of int16 pairs (a0, a1), (b0, b1): (a0, b0) and (a1, b1). GCC 12
 * has no intrinsic for them and does not always find them in the C expression. */
QNNC_INLINE int32_t qnnc_fc16_lo(uint32_t a, uint32_t b)
{
    int32_t r;
    __asm("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
QNNC_INLINE int32_t qnnc_fc16_hi(uint32_t a, uint32_t b)
{
    int32_t r;
    __asm("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}

/* Four inputs at x against four weights at w0 and at w1 (one word each), into a0 and a1. */
#define QNNC_FC16_STEP4(x, w0, w1, a0, a1)                                                     \
    do {                                                                                          \
        uint32_t xa_, xb_;                                                                        \
        const uint32_t wa_ = qnnc_dsp_rd32(w0), wb_ = qnnc_dsp_rd32(w1);                          \
        int32_t x02_, x13_;                                                                       \
        memcpy(&xa_, (x), 4u);                                                                    \
        memcpy(&xb_, (x) + 2, 4u);                                                                \
        x02_ = qnnc_fc16_lo(xa_, xb_);                                                          \
        x13_ = qnnc_fc16_hi(xa_, xb_);                                                          \
        a0 = __smlald(x02_, __sxtb16((int8x4_t)wa_), a0);                                                   \
        a0 = __smlald(x13_, qnnc_dsp_sxtb16_ror8(wa_), a0);                                       \
        a1 = __smlald(x02_, __sxtb16((int8x4_t)wb_), a1);                                                   \
        a1 = __smlald(x13_, qnnc_dsp_sxtb16_ror8(wb_), a1);                                       \
    } while (0)

/* acc[0] += sum x[i] * w[i], acc[1] += sum x[i] * w[ws + i] over i < n (int64, exact). */
static QNNC_LOOP_ATTR void qnnc_fc16_dot2_dsp(const int16_t *x, const int8_t *w, int32_t ws, int32_t n,
                                               int64_t *acc)
{
    const int8_t *w1 = w + ws;
    int64_t a0 = acc[0], a1 = acc[1];
    int32_t i;
    for (i = n >> 3; i > 0; --i) { /* 8 at a time: the loop overhead on 16 products */
        QNNC_FC16_STEP4(x, w, w1, a0, a1);
        QNNC_FC16_STEP4(x + 4, w + 4, w1 + 4, a0, a1);
        x += 8;
        w += 8;
        w1 += 8;
    }
    if (n & 4) {
        QNNC_FC16_STEP4(x, w, w1, a0, a1);
        x += 4;
        w += 4;
        w1 += 4;
    }
    for (i = n & 3; i > 0; --i) {
        a0 += (int32_t)*x * (int32_t)*w++;
        a1 += (int32_t)*x++ * (int32_t)*w1++;
    }
    acc[0] = a0;
    acc[1] = a1;
}

/** The DSP fully connected (input offset 0, else 0 is returned: the caller runs portable). */
QNNC_PATH_ATTR int qnnc_fc_dsp_s16(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                                   int32_t in_features, const int16_t *input, int32_t out_features,
                                   const int8_t *weights, const int64_t *bias, int16_t *output)
{
    int32_t r, o;
    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset)) {
        return 0;
    }
    for (r = 0; r < rows; ++r) {
        const int16_t *x = input + r * in_features;
        for (o = 0; o < out_features; o += 2) {
            const int has1 = o + 1 < out_features;
            int64_t acc[2];
            acc[0] = bias != NULL ? bias[o] : 0;
            acc[1] = bias != NULL && has1 ? bias[o + 1] : 0;
            /* an odd last feature is computed twice */
            qnnc_fc16_dot2_dsp(x, weights + o * in_features, has1 ? in_features : 0, in_features, acc);
            *output++ = qnnc_output_s16_fast(acc[0], quant->multiplier[o], quant->shift[o], params->output_offset,
                                             params->act_min, params->act_max);
            if (has1) {
                *output++ = qnnc_output_s16_fast(acc[1], quant->multiplier[o + 1], quant->shift[o + 1],
                                                 params->output_offset, params->act_min, params->act_max);
            }
        }
    }
    return 1;
}
#endif
