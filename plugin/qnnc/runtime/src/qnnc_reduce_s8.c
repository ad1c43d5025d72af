/*
 * qnnc_reduce_s8 - ReduceSum / ReduceMean / ReduceMax / ReduceMin of a 4-D int8 tensor over any set
 * of axes (those where output_dims is 1 and input_dims is not), in one pass without scratch.
 * Reference: qnnc/reference/kernels_reduce.py:reduce_s8. Body: qnnc_reduce_impl.h (shared by _s8
 * and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_ACC_T int32_t
/* int32 sums are exact: the quantizer bounds the count of summed values. */
#define QNNC_SUM_RUN(sum, p, n, i)                        \
    for ((i) = 0; (i) < (n); ++(i)) {                     \
        (sum) += (int32_t)(p)[i] + params->input_offset; \
    }
#define QNNC_SUM_OUT(sum, params) \
    qnnc_clamp_s8(qnnc_requantize((sum), (params)->multiplier, (params)->shift) + (params)->output_offset, -128, 127)
#define QNNC_FN qnnc_reduce_s8
#include "qnnc_reduce_impl.h"
