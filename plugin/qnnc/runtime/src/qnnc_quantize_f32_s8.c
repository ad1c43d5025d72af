/*
 * qnnc_quantize_f32_s8 - float -> int8 quantization, no libm.
 * Reference: qnnc/quantize/fixedpoint.py:quantize_f32.
 */
#include "qnnc_internal.h"

void qnnc_quantize_f32_s8(int32_t size, float scale, int32_t zero_point,
                          const float *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        float v = input[i] / scale;
        int32_t q;
        if (v != v) { /* NaN */
            v = 0.0f;
        } else if (v < -256.0f) { /* also keeps the float -> int conversion defined */
            v = -256.0f;
        } else if (v > 256.0f) {
            v = 256.0f;
        }
        /* round half away from zero: the conversion truncates toward zero */
        q = (int32_t)(v + (v >= 0.0f ? 0.5f : -0.5f)) + zero_point;
        output[i] = qnnc_clamp_s8(q, -128, 127);
    }
}
