/*
 * qnnc_lut_s16 - int16 -> int16 unary functions (Sigmoid, Tanh, Exp, ...): TFLite's 513-entry
 * int16 table with linear interpolation (Floor/Ceil/Round: qnnc_round_s16.c). Input and output may
 * be the same buffer (in place). Reference: qnnc/reference/kernels_s16_tables.py:lut_s16 (bit-exact).
 */
#include "qnnc_internal.h"

void qnnc_lut_s16(int32_t size, const int16_t *lut, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t u = (int32_t)input[i] + 32768; /* [0, 65535] */
        const int32_t idx = u >> 7;
        const int32_t base = lut[idx];
        const int32_t slope = (int32_t)lut[idx + 1] - base; /* |slope * 127| < 2^23 */
        /* The interpolated value lies between the two entries: no saturation needed. */
        output[i] = (int16_t)(base + ((slope * (u & 127) + 64) >> 7));
    }
}
