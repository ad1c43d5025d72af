/*
 * qnnc_softmax_s8 - int8 softmax over the last axis through an exp look-up table.
 * Reference: qnnc/reference/kernels.py:softmax_s8.
 */
#include "qnnc_kernels.h"

void qnnc_softmax_s8(int32_t rows, int32_t cols, const uint32_t *exp_lut,
                     const int8_t *input, int8_t *output)
{
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const int8_t *in_row = input + r * cols;
        int8_t *out_row = output + r * cols;
        int32_t max = -128;
        uint32_t sum = 0u;

        for (i = 0; i < cols; ++i) {
            if (in_row[i] > max) {
                max = in_row[i];
            }
        }
        /* max - x is in [0, 255]; the generator keeps entries <= 2^23 and
         * cols * 2^23 < 2^32, so neither the sum nor e * 256 + sum / 2 wraps. */
        for (i = 0; i < cols; ++i) {
            sum += exp_lut[max - in_row[i]];
        }
        if (sum == 0u) { /* impossible with a valid table (exp_lut[0] > 0); avoids / 0 */
            for (i = 0; i < cols; ++i) {
                out_row[i] = -128;
            }
            continue;
        }
        for (i = 0; i < cols; ++i) {
            const uint32_t e = exp_lut[max - in_row[i]];
            const int32_t q = (int32_t)((e * 256u + sum / 2u) / sum) - 128;
            out_row[i] = (int8_t)(q > 127 ? 127 : q);
        }
    }
}
