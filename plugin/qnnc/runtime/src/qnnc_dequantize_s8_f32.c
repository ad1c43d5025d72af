/*
 * qnnc_dequantize_s8_f32 - int8 -> float dequantization.
 * Reference: qnnc/quantize/fixedpoint.py:dequantize_s8.
 */
#include "qnnc_internal.h"

void qnnc_dequantize_s8_f32(int32_t size, float scale, int32_t zero_point,
                            const int8_t *input, float *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = (float)((int32_t)input[i] - zero_point) * scale;
    }
}
