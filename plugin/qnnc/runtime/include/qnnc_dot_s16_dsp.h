/*
 * qnnc_dot_s16_dsp.h - the Armv7E-M DSP dot product of the 16x8 kernels: int16 inputs against two
 * rows of int8 weights (qnnc_fully_connected_s16's DSP path, the LSTM / GRU gate rows). Four
 * int16 inputs are repacked once into (x0, x2) and (x1, x3) (PKHBT / PKHTB), each row's four
 * weights take one LDR, SXTB16 and SXTB16 ROR #8, and two SMLALD: 64-bit sums, exact for any
 * length. Included only where QNNC_PATH_DSP is set.
 */
#ifndef QNNC_DOT_S16_DSP_H
#define QNNC_DOT_S16_DSP_H

#include "qnnc_internal.h"

#if QNNC_PATH_DSP
/* Four inputs at x against four weights at w0 and at w1 (one word each), into a0 and a1. */
#define QNNC_DOT16_STEP4(x, w0, w1, a0, a1)                                                        \
    do {                                                                                           \
        uint32_t xa_, xb_;                                                                         \
        const uint32_t wa_ = qnnc_dsp_rd32(w0), wb_ = qnnc_dsp_rd32(w1);                           \
        int32_t x02_, x13_;                                                                        \
        memcpy(&xa_, (x), 4u);                                                                     \
        memcpy(&xb_, (x) + 2, 4u);                                                                 \
        x02_ = qnnc_dsp_pkhbt(xa_, xb_);                                                           \
        x13_ = qnnc_dsp_pkhtb(xa_, xb_);                                                           \
        a0 = __smlald(x02_, __sxtb16((int8x4_t)wa_), a0);                                          \
        a0 = __smlald(x13_, qnnc_dsp_sxtb16_ror8(wa_), a0);                                        \
        a1 = __smlald(x02_, __sxtb16((int8x4_t)wb_), a1);                                          \
        a1 = __smlald(x13_, qnnc_dsp_sxtb16_ror8(wb_), a1);                                        \
    } while (0)

/* acc[0] += sum x[i] * w[i], acc[1] += sum x[i] * w[ws + i] over i < n (int64, exact). */
static QNNC_LOOP_ATTR QNNC_UNUSED void qnnc_dot2_s16_s8_dsp(const int16_t *x, const int8_t *w, int32_t ws, int32_t n,
                                               int64_t *acc)
{
    const int8_t *w1 = w + ws;
    int64_t a0 = acc[0], a1 = acc[1];
    int32_t i;
    for (i = n >> 3; i > 0; --i) { /* 8 at a time: the loop overhead on 16 products */
        QNNC_DOT16_STEP4(x, w, w1, a0, a1);
        QNNC_DOT16_STEP4(x + 4, w + 4, w1 + 4, a0, a1);
        x += 8;
        w += 8;
        w1 += 8;
    }
    if (n & 4) {
        QNNC_DOT16_STEP4(x, w, w1, a0, a1);
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
#endif

#endif
