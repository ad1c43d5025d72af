/*
 * qnnc_batch_matmul_s8 - batched product of two int8 activation tensors (attention's Q K^T and
 * softmax(.) V; ONNX MatMul / Gemm with two computed operands), TFLite BATCH_MATMUL int8
 * arithmetic: both zero points, an exact int32 sum, one per-tensor requantization.
 * Reference: qnnc/reference/kernels_conv_general.py:batch_matmul_s8.
 *
 * The quantizer bounds K so that 255 * 255 * K fits in int32. Portable C99. Body:
 * qnnc_batch_matmul_impl.h (shared with qnnc_batch_matmul_s16).
 */
#include "qnnc_internal.h"

static int8_t qnnc_batch_matmul_out_s8(int32_t acc, const qnnc_batch_matmul_params *params)
{
    int32_t v = qnnc_requantize_mode(acc, params->output_multiplier, params->output_shift, params->rounding);
    const int32_t lo = params->act_min - params->output_offset;
    const int32_t hi = params->act_max - params->output_offset;
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + params->output_offset);
}

#define QNNC_T int8_t
#define QNNC_ACC_T int32_t
#define QNNC_BIAS_T int32_t
#define QNNC_OUT(acc, params) qnnc_batch_matmul_out_s8((acc), (params))
#define QNNC_FN qnnc_batch_matmul_s8
#include "qnnc_batch_matmul_impl.h"
