/*
 * qnnc_batch_matmul_impl.h - the body of qnnc_batch_matmul_s8 and qnnc_batch_matmul_s16, written
 * once for both activation types. Dims n, h are the batch dims (an input's dim is 1 (broadcast)
 * or the output's), w x c the matrices as stored; adj_x / adj_y read an operand transposed.
 *
 * Portable C99: 2 x 2 outputs per pass over the shared dimension (each loaded value, offset once,
 * feeds two products), the odd last row and column one at a time. Integer sums are exact, so the
 * order of the additions does not change a result.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (activation type), QNNC_ACC_T
 * and QNNC_BIAS_T (accumulator and bias types), QNNC_OUT(acc, params) (the output value of an
 * accumulator; optionally QNNC_OUT_SETUP(params), declarations it reads, made once per call) and
 * QNNC_FN (the function name), then includes this file, which defines the
 * function and undefines them.
 */

/* sums s[0..3] (rows m, m + 1 x columns n, n + 1) over depth products: the first value of each
 * operand at pa / pb, the second row a_m and the second column b_n further, each step a_k / b_k.
 * Inlined into one loop per operand layout below, where the constant strides free the registers
 * that keep the four sums out of memory. */
QNNC_INLINE void qnnc_bmm_block_body(const QNNC_T *pa, int32_t a_m, int32_t a_k, const QNNC_T *pb, int32_t b_n,
                                     int32_t b_k, int32_t depth, int32_t off1, int32_t off2, QNNC_ACC_T *s)
{
    QNNC_ACC_T s00 = s[0], s01 = s[1], s10 = s[2], s11 = s[3];
    int32_t k = depth;
    while (k > 0) {
        const int32_t x0 = (int32_t)pa[0] + off1, x1 = (int32_t)pa[a_m] + off1;
        const int32_t y0 = (int32_t)pb[0] + off2, y1 = (int32_t)pb[b_n] + off2;
        /* int32 products: at most 255 * 255 (int8 with offsets) or 2^30 (int16, offsets 0) */
        s00 += (QNNC_ACC_T)(x0 * y0);
        s01 += (QNNC_ACC_T)(x0 * y1);
        s10 += (QNNC_ACC_T)(x1 * y0);
        s11 += (QNNC_ACC_T)(x1 * y1);
        if (--k == 0) {
            break; /* (no step past the last values: a pointer beyond its array's end is undefined) */
        }
        pa += a_k;
        pb += b_k;
    }
    s[0] = s00;
    s[1] = s01;
    s[2] = s10;
    s[3] = s11;
}

/* Both operands contiguous along the shared dimension (Q K^T: K read transposed). */
static QNNC_LOOP_ATTR void qnnc_bmm_block_rows(const QNNC_T *pa, int32_t a_m, const QNNC_T *pb, int32_t b_n,
                                               int32_t depth, int32_t off1, int32_t off2, QNNC_ACC_T *s)
{
    qnnc_bmm_block_body(pa, a_m, 1, pb, b_n, 1, depth, off1, off2, s);
}

/* The first contiguous along it, the second's two columns adjacent (P V). */
static QNNC_LOOP_ATTR void qnnc_bmm_block_cols(const QNNC_T *pa, int32_t a_m, const QNNC_T *pb, int32_t b_k,
                                               int32_t depth, int32_t off1, int32_t off2, QNNC_ACC_T *s)
{
    qnnc_bmm_block_body(pa, a_m, 1, pb, 1, b_k, depth, off1, off2, s);
}

/* Any other layout. */
static QNNC_LOOP_ATTR void qnnc_bmm_block_any(const QNNC_T *pa, int32_t a_m, int32_t a_k, const QNNC_T *pb,
                                              int32_t b_n, int32_t b_k, int32_t depth, int32_t off1, int32_t off2,
                                              QNNC_ACC_T *s)
{
    qnnc_bmm_block_body(pa, a_m, a_k, pb, b_n, b_k, depth, off1, off2, s);
}

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
#if defined(QNNC_OUT_SETUP)
    QNNC_OUT_SETUP(params);
#endif

    for (b0 = 0; b0 < output_dims->n; ++b0) {
        const int32_t a0 = input1_dims->n == 1 ? 0 : b0, c0 = input2_dims->n == 1 ? 0 : b0;
        for (b1 = 0; b1 < output_dims->h; ++b1) {
            const int32_t a1 = input1_dims->h == 1 ? 0 : b1, c1 = input2_dims->h == 1 ? 0 : b1;
            const QNNC_T *a = input1 + (a0 * input1_dims->h + a1) * a_size;
            const QNNC_T *bm = input2 + (c0 * input2_dims->h + c1) * b_size;
            QNNC_T *out = output + (b0 * output_dims->h + b1) * rows * cols;
            /* 2 x 2 outputs per pass over k: each loaded (and offset) value feeds two products */
            for (m = 0; m + 1 < rows; m += 2) {
                for (n = 0; n + 1 < cols; n += 2) {
                    const QNNC_T *pa = a + m * a_m, *pb = bm + n * b_n;
                    QNNC_ACC_T s[4];
                    s[0] = s[2] = bias != NULL ? bias[n] : 0;
                    s[1] = s[3] = bias != NULL ? bias[n + 1] : 0;
                    if (a_k == 1 && b_k == 1) {
                        qnnc_bmm_block_rows(pa, a_m, pb, b_n, depth, off1, off2, s);
                    } else if (a_k == 1 && b_n == 1) {
                        qnnc_bmm_block_cols(pa, a_m, pb, b_k, depth, off1, off2, s);
                    } else {
                        qnnc_bmm_block_any(pa, a_m, a_k, pb, b_n, b_k, depth, off1, off2, s);
                    }
                    out[m * cols + n] = QNNC_OUT(s[0], params);
                    out[m * cols + n + 1] = QNNC_OUT(s[1], params);
                    out[(m + 1) * cols + n] = QNNC_OUT(s[2], params);
                    out[(m + 1) * cols + n + 1] = QNNC_OUT(s[3], params);
                }
            }
            /* the rest: the paired rows' odd last column, and all of an odd last row */
            for (m = 0; m < rows; ++m) {
                for (n = m < (rows & ~1) ? cols & ~1 : 0; n < cols; ++n) {
                    const QNNC_T *pa = a + m * a_m;
                    const QNNC_T *pb = bm + n * b_n;
                    QNNC_ACC_T acc = bias != NULL ? bias[n] : 0;
                    for (k = 0; k < depth; ++k) {
                        acc += (QNNC_ACC_T)(((int32_t)pa[k * a_k] + off1) * ((int32_t)pb[k * b_k] + off2));
                    }
                    out[m * cols + n] = QNNC_OUT(acc, params);
                }
            }
        }
    }
}

#undef QNNC_OUT_SETUP
#undef QNNC_T
#undef QNNC_ACC_T
#undef QNNC_BIAS_T
#undef QNNC_OUT
#undef QNNC_FN
