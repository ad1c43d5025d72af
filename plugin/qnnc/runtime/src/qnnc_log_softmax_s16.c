/*
 * qnnc_log_softmax_s16 - int16 LogSoftmax over the last axis in integer arithmetic (output scale
 * 1/1024, zero point 0): max subtraction, a two-level Q30 exp table (d = max - x covers 0..65535),
 * the row sum in 64 bits, log2 of the sum with 20 fraction bits by repeated squaring, times
 * ln 2 / output scale. Reference (and the arithmetic in full):
 * qnnc/reference/kernels_s16_reduce.py:log_softmax_s16.
 */
#include "qnnc_internal.h"

#define QNNC_LSM16_LOG2_FRAC 20

/** log2(total / 2^30) in Q20 of 2^30 <= total < 2^62: the leading bit gives the integer part, the
 *  mantissa in [2^30, 2^31) squared 20 times gives one fraction bit each (exact integer steps, so
 *  the reference reproduces them bit for bit). */
static int64_t qnnc_log2_q20(uint64_t total)
{
    int32_t k = 0, i;
    uint64_t m;
    int64_t frac = 0;
    while ((total >> k) > 1u) {
        ++k;
    }
    m = total >> (k - 30); /* k >= 30: the row's largest value alone gives 2^30 */
    for (i = 0; i < QNNC_LSM16_LOG2_FRAC; ++i) {
        m = (m * m) >> 30; /* m < 2^31: m * m < 2^62 */
        frac <<= 1;
        if (m >= ((uint64_t)1 << 31)) {
            m >>= 1;
            frac |= 1;
        }
    }
    return ((int64_t)(k - 30) << QNNC_LSM16_LOG2_FRAC) + frac;
}

void qnnc_log_softmax_s16(int32_t rows, int32_t cols, int64_t diff_multiplier, int32_t log_multiplier,
                          const uint32_t *exp_lut, const int16_t *input, int16_t *output)
{
    const uint64_t half = (uint64_t)1 << 29;
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const int16_t *in_row = input + r * cols;
        int16_t *out_row = output + r * cols;
        int32_t max = -32768;
        uint64_t sum = 0u;
        int64_t log_term;

        for (i = 0; i < cols; ++i) {
            if (in_row[i] > max) {
                max = in_row[i];
            }
        }
        for (i = 0; i < cols; ++i) {
            const uint32_t d = (uint32_t)(max - in_row[i]); /* 0..65535 */
            sum += ((uint64_t)exp_lut[d & 255u] * exp_lut[256u + (d >> 8)] + half) >> 30;
        }
        log_term = qnnc_log2_q20(sum) * (int64_t)log_multiplier; /* < 2^24 * 2^22 */
        for (i = 0; i < cols; ++i) {
            /* Q32 output steps: d * diff_multiplier < 2^16 * 2^46, non-negative */
            const int64_t t = (int64_t)(max - in_row[i]) * diff_multiplier + log_term;
            const int64_t q = (t + ((int64_t)1 << 31)) >> 32;
            out_row[i] = (int16_t)(q > 32768 ? -32768 : -q);
        }
    }
}
