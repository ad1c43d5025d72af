/*
 * qnnc_batch_matmul_s8 - batched product of two int8 activation tensors (attention's Q K^T and
 * softmax(.) V; ONNX MatMul / Gemm with two computed operands), TFLite BATCH_MATMUL int8
 * arithmetic: both zero points, an exact int32 sum, one per-tensor requantization.
 * Reference: qnnc/reference/kernels_conv_general.py:batch_matmul_s8.
 *
 * The quantizer bounds K so that 255 * 255 * K fits in int32. Portable C99. Body:
 * qnnc_batch_matmul_impl.h (shared with qnnc_batch_matmul_s16).
 */
#define QNNC_REQUANTIZE_CALL qnnc_batch_matmul_s8_requantize /* qnnc_rq_out's rare cases (qnnc_internal.h) */
#include "qnnc_internal.h"

/* The one per-tensor requantization, set up once per call (qnnc_rq: one 64-bit multiply-add and
 * a shift per output for TFLite rounding); the same values as qnnc_output_s8. */
#define QNNC_OUT_SETUP(params)                                                                      \
    const int32_t out_lo_ = (params)->act_min - (params)->output_offset;                          \
    const int32_t out_hi_ = (params)->act_max - (params)->output_offset;                          \
    qnnc_rq out_rq_;                                                                                \
    qnnc_rq_setup(&out_rq_, (params)->output_multiplier, (params)->output_shift, (params)->rounding)
#define QNNC_T int8_t
#define QNNC_ACC_T int32_t
#define QNNC_BIAS_T int32_t
#define QNNC_OUT(acc, params) \
    qnnc_rq_out(&out_rq_, (acc), out_lo_, out_hi_, (params)->output_offset, NULL, (params)->rounding)
#define QNNC_FN qnnc_batch_matmul_s8
#include "qnnc_batch_matmul_impl.h"
