/*
 * qnnc_requantize_s16_s8 - int16 -> int8 re-scaling (model output and int16/int8 boundaries).
 * Reference: qnnc/reference/kernels_s16.py:requantize_s16_s8.
 */
#include "qnnc_internal.h"

void qnnc_requantize_s16_s8(const qnnc_rescale_params *params, int32_t size,
                            const int16_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = qnnc_clamp_s8(qnnc_rescale(params, input[i]), -128, 127);
    }
}
