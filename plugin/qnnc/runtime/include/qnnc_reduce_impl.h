/*
 * qnnc_reduce_impl.h - the body of qnnc_reduce_s8 / _s16, written once for both element types:
 * ReduceSum / ReduceMean / ReduceMax / ReduceMin of a 4-D tensor over any set of axes (those where
 * output_dims is 1 and input_dims is not), in one pass without scratch.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type), QNNC_ACC_T (the
 * type of a sum), QNNC_SUM_RUN(sum, p, n, i) (statements adding the n values at p, zero point
 * included, to sum, with the int32_t i as loop index; it may read params. A statement macro, not a
 * function returning the run's sum: the int8 sum then stays in one accumulator, as fast as before
 * the merge), QNNC_SUM_OUT(sum, params) (the requantized, saturated output of a sum) and QNNC_FN
 * (the function name), then includes this file, which defines the function and undefines them.
 */
void QNNC_FN(const qnnc_reduce_params *params, const qnnc_dims *input_dims, const QNNC_T *input,
             const qnnc_dims *output_dims, QNNC_T *output)
{
    const int32_t in_d[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t out_d[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    int32_t stride[4];
    int32_t span[4]; /* extent of the reduced box along each axis (1 on kept axes) */
    int32_t o[4];
    int32_t a;
    stride[3] = 1;
    for (a = 2; a >= 0; --a) {
        stride[a] = stride[a + 1] * in_d[a + 1];
    }
    for (a = 0; a < 4; ++a) {
        span[a] = out_d[a] != in_d[a] ? in_d[a] : 1;
    }
    for (o[0] = 0; o[0] < out_d[0]; ++o[0]) {
        for (o[1] = 0; o[1] < out_d[1]; ++o[1]) {
            for (o[2] = 0; o[2] < out_d[2]; ++o[2]) {
                for (o[3] = 0; o[3] < out_d[3]; ++o[3]) {
                    const QNNC_T *base = input + o[0] * stride[0] + o[1] * stride[1] + o[2] * stride[2] + o[3];
                    QNNC_ACC_T sum = 0;
                    int32_t ext = base[0];
                    int32_t i0, i1, i2, i3;
                    for (i0 = 0; i0 < span[0]; ++i0) {
                        for (i1 = 0; i1 < span[1]; ++i1) {
                            for (i2 = 0; i2 < span[2]; ++i2) {
                                const QNNC_T *p = base + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                                if (params->kind == QNNC_REDUCE_SUM) {
                                    QNNC_SUM_RUN(sum, p, span[3], i3);
                                } else if (params->kind == QNNC_REDUCE_MAX) {
                                    for (i3 = 0; i3 < span[3]; ++i3) {
                                        ext = p[i3] > ext ? p[i3] : ext;
                                    }
                                } else {
                                    for (i3 = 0; i3 < span[3]; ++i3) {
                                        ext = p[i3] < ext ? p[i3] : ext;
                                    }
                                }
                            }
                        }
                    }
                    if (params->kind == QNNC_REDUCE_SUM) {
                        *output++ = QNNC_SUM_OUT(sum, params);
                    } else {
                        *output++ = (QNNC_T)ext;
                    }
                }
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_ACC_T
#undef QNNC_SUM_RUN
#undef QNNC_SUM_OUT
#undef QNNC_FN
