/*
 * qnnc_lut_s8 - int8 -> int8 table look-up (Sigmoid, Tanh, LeakyRelu, ...).
 * Reference: qnnc/reference/kernels.py:lut_s8.
 */
#include "qnnc_internal.h"

void qnnc_lut_s8(int32_t size, const int8_t *lut, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = lut[(int32_t)input[i] + 128];
    }
}
