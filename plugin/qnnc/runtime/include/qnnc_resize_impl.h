/*
 * qnnc_resize_impl.h - the body of qnnc_resize_s8 and qnnc_resize_s16 (bilinear resize over h and
 * w of an [n][h][w][c] tensor), written once for both activation types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (activation type), QNNC_ACC_T
 * (the type of the full sum: int32 for int8, int64 for int16) and QNNC_FN (the function name),
 * then includes this file, which defines the function and undefines them. The per-row sums
 * wx0 * a + wx1 * b stay in int32 (at most 2^bits * 32768).
 */

void QNNC_FN(const qnnc_dims *input_dims, const qnnc_dims *output_dims,
             const int32_t *table_h, const int32_t *table_w, int32_t fraction_bits,
             const QNNC_T *input, QNNC_T *output)
{
    const int32_t one = (int32_t)1 << fraction_bits;
    const int32_t shift = 2 * fraction_bits;
    const QNNC_ACC_T half = (QNNC_ACC_T)1 << (shift - 1);
    const int32_t c_count = output_dims->c;
    const int32_t block = input_dims->h * input_dims->w * input_dims->c;
    int32_t n, y, x, c;

    for (n = 0; n < output_dims->n; ++n) {
        const QNNC_T *in = input + n * block;
        for (y = 0; y < output_dims->h; ++y) {
            const QNNC_T *row0 = in + table_h[3 * y];
            const QNNC_T *row1 = in + table_h[3 * y + 1];
            const int32_t wy1 = table_h[3 * y + 2];
            const int32_t wy0 = one - wy1;
            for (x = 0; x < output_dims->w; ++x) {
                const int32_t x0 = table_w[3 * x];
                const int32_t x1 = table_w[3 * x + 1];
                const int32_t wx1 = table_w[3 * x + 2];
                const int32_t wx0 = one - wx1;
                for (c = 0; c < c_count; ++c) {
                    const int32_t top = wx0 * row0[x0 + c] + wx1 * row0[x1 + c];
                    const int32_t bottom = wx0 * row1[x0 + c] + wx1 * row1[x1 + c];
                    const QNNC_ACC_T acc = (QNNC_ACC_T)wy0 * top + (QNNC_ACC_T)wy1 * bottom;
                    const QNNC_ACC_T v = acc >= 0 ? (acc + half) >> shift : -((half - acc) >> shift);
                    *output++ = (QNNC_T)v;
                }
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_ACC_T
#undef QNNC_FN
