/*
 * qnnc_transpose_impl.h - the body of qnnc_transpose_s8 / _s16, written once for both element types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type) and QNNC_FN
 * (the function name), then includes this file, which defines the function and undefines them.
 */
void QNNC_FN(const qnnc_dims *input_dims, const int32_t perm[4],
             const QNNC_T *input, QNNC_T *output)
{
    const int32_t in_dim[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t in_stride[4] = {input_dims->h * input_dims->w * input_dims->c,
                                  input_dims->w * input_dims->c, input_dims->c, 1};
    int32_t dim[4], stride[4];
    int32_t i0, i1, i2, i3, k;

    /* Walk the output contiguously; stride[k] is the input step along output dim k. */
    for (k = 0; k < 4; ++k) {
        dim[k] = in_dim[perm[k]];
        stride[k] = in_stride[perm[k]];
    }
    for (i0 = 0; i0 < dim[0]; ++i0) {
        for (i1 = 0; i1 < dim[1]; ++i1) {
            for (i2 = 0; i2 < dim[2]; ++i2) {
                const QNNC_T *src = input + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                for (i3 = 0; i3 < dim[3]; ++i3) {
                    *output++ = src[i3 * stride[3]];
                }
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_FN
