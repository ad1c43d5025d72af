/*
 * qnnc_requantize_s8_s16 - int8 -> int16 re-scaling (model input and int8/int16 boundaries).
 * Reference: qnnc/reference/kernels_s16.py:requantize_s8_s16.
 */
#include "qnnc_internal.h"

void qnnc_requantize_s8_s16(const qnnc_rescale_params *params, int32_t size,
                            const int8_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = qnnc_clamp_s16(qnnc_rescale(params, input[i]), -32768, 32767);
    }
}
