/*
 * qnnc_softmax_s16 - int16 softmax over the last axis through a two-level exp table.
 * Reference: qnnc/reference/kernels_s16.py:softmax_s16.
 *
 * exp(-s*d) = exp(-s*(d & 255)) * exp(-s*256*(d >> 8)) for d = max - x in [0, 65535], so a
 * 512-entry table covers every int16 difference (CMSIS-NN's arm_softmax_s16 interpolates a
 * 513-entry table instead; this keeps the arithmetic exact and simple).
 */
#include "qnnc_kernels.h"

static uint32_t qnnc_softmax_s16_exp(const uint32_t *exp_lut, int32_t d)
{
    /* both factors are <= 2^15, so the product is <= 2^30 */
    return (exp_lut[d & 255] * exp_lut[256 + (d >> 8)] + (1u << 14)) >> 15;
}

void qnnc_softmax_s16(int32_t rows, int32_t cols, const uint32_t *exp_lut,
                      const int16_t *input, int16_t *output)
{
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const int16_t *in_row = input + r * cols;
        int16_t *out_row = output + r * cols;
        int32_t max = -32768;
        uint32_t sum = 0u;

        for (i = 0; i < cols; ++i) {
            if (in_row[i] > max) {
                max = in_row[i];
            }
        }
        /* e <= 2^15 and cols < 2^16: neither the sum nor e * 32768 + sum / 2 wraps */
        for (i = 0; i < cols; ++i) {
            sum += qnnc_softmax_s16_exp(exp_lut, max - in_row[i]);
        }
        if (sum == 0u) { /* impossible with a valid table (exp_lut[0] * exp_lut[256] = 2^30) */
            for (i = 0; i < cols; ++i) {
                out_row[i] = 0;
            }
            continue;
        }
        for (i = 0; i < cols; ++i) {
            const uint32_t e = qnnc_softmax_s16_exp(exp_lut, max - in_row[i]);
            const uint32_t q = (e * 32768u + sum / 2u) / sum;
            out_row[i] = (int16_t)(q > 32767u ? 32767u : q);
        }
    }
}
