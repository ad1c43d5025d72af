/*
 * qnnc_reduce_s16 - ReduceSum / ReduceMean / ReduceMax / ReduceMin of a 4-D int16 tensor (16x8
 * scheme: symmetric, zero point 0) over any set of axes (those where output_dims is 1 and
 * input_dims is not), in one pass without scratch. Sums are int64 (|sum| <= 2^15 * 2^23 counted
 * values) and requantized with the 16x8 requantization (qnnc_requantize_s64).
 * Reference: qnnc/reference/kernels_s16_reduce.py:reduce_s16. Body: qnnc_reduce_impl.h (shared by
 * _s8 and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_ACC_T int64_t
/* int32 partial sums of one innermost run (at most 2^16 * 2^15 each), widened to int64. */
#define QNNC_SUM_RUN(sum, p, n, i)                                      \
    do {                                                                \
        int32_t j_ = 0;                                                 \
        while (j_ < (n)) {                                              \
            const int32_t end_ = (n) - j_ > 65535 ? j_ + 65535 : (n);   \
            int32_t part_ = 0;                                          \
            for ((i) = j_; (i) < end_; ++(i)) {                         \
                part_ += (p)[i];                                        \
            }                                                           \
            (sum) += part_;                                             \
            j_ = end_;                                                  \
        }                                                               \
    } while (0)
#define QNNC_SUM_OUT(sum, params) \
    qnnc_clamp_s16(qnnc_requantize_s64((sum), (params)->multiplier, (params)->shift), -32768, 32767)
#define QNNC_FN qnnc_reduce_s16
#include "qnnc_reduce_impl.h"
