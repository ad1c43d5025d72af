/*
 * qnnc_batch_matmul_s8 - batched product of two int8 activation tensors (attention's Q K^T and
 * softmax(.) V; ONNX MatMul / Gemm with two computed operands), TFLite BATCH_MATMUL int8
 * arithmetic: both zero points, an exact int32 sum, one per-tensor requantization.
 * Reference: qnnc/reference/kernels_conv_general.py:batch_matmul_s8.
 *
 * Dims n, h are the batch dims (an input's dim is 1 (broadcast) or the output's), w x c the
 * matrices as stored. The quantizer bounds K so that 255 * 255 * K fits in int32. Portable C99.
 */
#include "qnnc_internal.h"

void qnnc_batch_matmul_s8(const qnnc_batch_matmul_params *params,
                          const qnnc_dims *input1_dims, const int8_t *input1,
                          const qnnc_dims *input2_dims, const int8_t *input2,
                          const int32_t *bias,
                          const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t rows = output_dims->w, cols = output_dims->c;
    const int32_t depth = params->adj_x ? input1_dims->w : input1_dims->c;
    const int32_t a_size = input1_dims->w * input1_dims->c, b_size = input2_dims->w * input2_dims->c;
    /* Element strides of input1 along m and k, of input2 along k and n. */
    const int32_t a_m = params->adj_x ? 1 : input1_dims->c, a_k = params->adj_x ? input1_dims->c : 1;
    const int32_t b_k = params->adj_y ? 1 : input2_dims->c, b_n = params->adj_y ? input2_dims->c : 1;
    const int32_t off1 = params->input1_offset, off2 = params->input2_offset;
    const int32_t lo = params->act_min - params->output_offset;
    const int32_t hi = params->act_max - params->output_offset;
    int32_t b0, b1, m, n, k;

    for (b0 = 0; b0 < output_dims->n; ++b0) {
        const int32_t a0 = input1_dims->n == 1 ? 0 : b0, c0 = input2_dims->n == 1 ? 0 : b0;
        for (b1 = 0; b1 < output_dims->h; ++b1) {
            const int32_t a1 = input1_dims->h == 1 ? 0 : b1, c1 = input2_dims->h == 1 ? 0 : b1;
            const int8_t *a = input1 + (a0 * input1_dims->h + a1) * a_size;
            const int8_t *bm = input2 + (c0 * input2_dims->h + c1) * b_size;
            for (m = 0; m < rows; ++m) {
                for (n = 0; n < cols; ++n) {
                    const int8_t *pa = a + m * a_m;
                    const int8_t *pb = bm + n * b_n;
                    int32_t acc = bias != NULL ? bias[n] : 0;
                    int32_t v;
                    for (k = 0; k < depth; ++k) {
                        acc += ((int32_t)pa[k * a_k] + off1) * ((int32_t)pb[k * b_k] + off2);
                    }
                    v = qnnc_requantize_mode(acc, params->output_multiplier, params->output_shift, params->rounding);
                    v = v < lo ? lo : (v > hi ? hi : v);
                    *output++ = (int8_t)(v + params->output_offset);
                }
            }
        }
    }
}
