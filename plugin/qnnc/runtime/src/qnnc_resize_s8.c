/*
 * qnnc_resize_s8 - bilinear resize over h and w of an [n][h][w][c] int8 tensor (linear Resize).
 * Per output row table_h holds (offset0, offset1, w1): the element offsets, inside one n block,
 * of the two input rows and the weight of the second in Q(fraction_bits) (the first weighs
 * 2^bits - w1); table_w the same per output column. The output keeps the input's scale and zero
 * point: out = (sum wy * wx * in) / 2^(2 bits), rounded half away from zero; |sum| <= 2^(2 bits) * 128
 * fits int32 for bits <= 12. Reference: qnnc/reference/kernels_movement.py:resize_s8.
 */
#include "qnnc_internal.h"

void qnnc_resize_s8(const qnnc_dims *input_dims, const qnnc_dims *output_dims,
                    const int32_t *table_h, const int32_t *table_w, int32_t fraction_bits,
                    const int8_t *input, int8_t *output)
{
    const int32_t one = (int32_t)1 << fraction_bits;
    const int32_t shift = 2 * fraction_bits;
    const int32_t half = (int32_t)1 << (shift - 1);
    const int32_t c_count = output_dims->c;
    const int32_t block = input_dims->h * input_dims->w * input_dims->c;
    int32_t n, y, x, c;

    for (n = 0; n < output_dims->n; ++n) {
        const int8_t *in = input + n * block;
        for (y = 0; y < output_dims->h; ++y) {
            const int8_t *row0 = in + table_h[3 * y];
            const int8_t *row1 = in + table_h[3 * y + 1];
            const int32_t wy1 = table_h[3 * y + 2];
            const int32_t wy0 = one - wy1;
            for (x = 0; x < output_dims->w; ++x) {
                const int32_t x0 = table_w[3 * x];
                const int32_t x1 = table_w[3 * x + 1];
                const int32_t wx1 = table_w[3 * x + 2];
                const int32_t wx0 = one - wx1;
                for (c = 0; c < c_count; ++c) {
                    const int32_t top = wx0 * row0[x0 + c] + wx1 * row0[x1 + c];
                    const int32_t bottom = wx0 * row1[x0 + c] + wx1 * row1[x1 + c];
                    const int32_t acc = wy0 * top + wy1 * bottom;
                    const int32_t v = acc >= 0 ? (acc + half) >> shift : -((half - acc) >> shift);
                    *output++ = (int8_t)v;
                }
            }
        }
    }
}
