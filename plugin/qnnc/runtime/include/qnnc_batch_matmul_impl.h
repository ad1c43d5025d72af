/*
 * qnnc_batch_matmul_impl.h - the body of qnnc_batch_matmul_s8 and qnnc_batch_matmul_s16, written
 * once for both activation types. Dims n, h are the batch dims (an input's dim is 1 (broadcast)
 * or the output's), w x c the matrices as stored; adj_x / adj_y read an operand transposed.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (activation type), QNNC_ACC_T
 * and QNNC_BIAS_T (accumulator and bias types), QNNC_OUT(acc, params) (the output value of an
 * accumulator) and QNNC_FN (the function name), then includes this file, which defines the
 * function and undefines them.
 */

void QNNC_FN(const qnnc_batch_matmul_params *params,
             const qnnc_dims *input1_dims, const QNNC_T *input1,
             const qnnc_dims *input2_dims, const QNNC_T *input2,
             const QNNC_BIAS_T *bias,
             const qnnc_dims *output_dims, QNNC_T *output)
{
    const int32_t rows = output_dims->w, cols = output_dims->c;
    const int32_t depth = params->adj_x ? input1_dims->w : input1_dims->c;
    const int32_t a_size = input1_dims->w * input1_dims->c, b_size = input2_dims->w * input2_dims->c;
    /* Element strides of input1 along m and k, of input2 along k and n. */
    const int32_t a_m = params->adj_x ? 1 : input1_dims->c, a_k = params->adj_x ? input1_dims->c : 1;
    const int32_t b_k = params->adj_y ? 1 : input2_dims->c, b_n = params->adj_y ? input2_dims->c : 1;
    const int32_t off1 = params->input1_offset, off2 = params->input2_offset;
    int32_t b0, b1, m, n, k;

    for (b0 = 0; b0 < output_dims->n; ++b0) {
        const int32_t a0 = input1_dims->n == 1 ? 0 : b0, c0 = input2_dims->n == 1 ? 0 : b0;
        for (b1 = 0; b1 < output_dims->h; ++b1) {
            const int32_t a1 = input1_dims->h == 1 ? 0 : b1, c1 = input2_dims->h == 1 ? 0 : b1;
            const QNNC_T *a = input1 + (a0 * input1_dims->h + a1) * a_size;
            const QNNC_T *bm = input2 + (c0 * input2_dims->h + c1) * b_size;
            for (m = 0; m < rows; ++m) {
                for (n = 0; n < cols; ++n) {
                    const QNNC_T *pa = a + m * a_m;
                    const QNNC_T *pb = bm + n * b_n;
                    QNNC_ACC_T acc = bias != NULL ? bias[n] : 0;
                    for (k = 0; k < depth; ++k) {
                        /* int32 product: at most 255 * 255 (int8 with offsets) or 2^30 (int16, offsets 0) */
                        acc += (QNNC_ACC_T)(((int32_t)pa[k * a_k] + off1) * ((int32_t)pb[k * b_k] + off2));
                    }
                    *output++ = QNNC_OUT(acc, params);
                }
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_ACC_T
#undef QNNC_BIAS_T
#undef QNNC_OUT
#undef QNNC_FN
