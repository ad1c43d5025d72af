/*
 * qnnc_batch_matmul_s16 - batched product of two int16 activation tensors (ONNX MatMul / Gemm with
 * two computed operands, or one constant operand) in TFLite's 16x8 scheme: int16 operands
 * (symmetric, zero point 0), an exact int64 sum, one per-tensor 16x8 requantization
 * (qnnc_requantize_s64). Reference: qnnc/reference/kernels_s16_matmul.py:batch_matmul_s16.
 *
 * Layout and broadcasting as qnnc_batch_matmul_s8. Each product is at most 2^30 in magnitude
 * (offsets are 0 in the 16x8 scheme); they are summed in int64 because two of them already
 * overflow int32. The quantizer keeps |bias| + K * 2^30 below 2^47, the requantization's bound.
 * Portable C99. Body: qnnc_batch_matmul_impl.h.
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_ACC_T int64_t
#define QNNC_BIAS_T int64_t
#define QNNC_OUT(acc, params) \
    qnnc_output_s16((acc), (params)->output_multiplier, (params)->output_shift, (params)->output_offset, \
                    (params)->act_min, (params)->act_max)
#define QNNC_FN qnnc_batch_matmul_s16
#include "qnnc_batch_matmul_impl.h"
