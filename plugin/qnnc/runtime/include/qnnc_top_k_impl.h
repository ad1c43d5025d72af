/*
 * qnnc_top_k_impl.h - the body of qnnc_top_k_s8 / _s16 (TopK along the middle axis of
 * [outer, n, inner], n <= 127, int8 indices) and qnnc_top_k_wide_s8 / _s16 (n <= 32767, int16
 * indices), written once for both element types.
 *
 * Per (outer, inner) position the k largest values (smallest with largest = 0) in order, equal
 * values by increasing index, as ONNX TopK orders them. Each pick is the best value that comes after
 * the previous pick in that order (smaller, or equal at a larger index), so no scratch memory is
 * needed: O(n * k) comparisons. values / indices may each be NULL (only the other is written);
 * the index is the output value (scale 1, zero point 0).
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type), QNNC_IDX_T (index
 * type) and QNNC_FN (the function name), then includes this file, which defines the function and
 * undefines them.
 */
void QNNC_FN(int32_t outer, int32_t n, int32_t inner, int32_t k, int32_t largest, const QNNC_T *input,
             QNNC_T *values, QNNC_IDX_T *indices)
{
    int32_t o, i, j, c;
    for (o = 0; o < outer; ++o) {
        const QNNC_T *block = input + o * n * inner;
        for (i = 0; i < inner; ++i) {
            /* the order key: the value, negated for the smallest (in int32: -(-32768) fits) */
            int32_t prev = 0, prev_at = -1;
            for (j = 0; j < k; ++j) {
                int32_t best = 0, at = -1;
                for (c = 0; c < n; ++c) {
                    const int32_t v = largest ? (int32_t)block[c * inner + i] : -(int32_t)block[c * inner + i];
                    if (prev_at >= 0 && (v > prev || (v == prev && c <= prev_at))) {
                        continue; /* picked already: before the previous pick in the order */
                    }
                    if (at < 0 || v > best) {
                        best = v;
                        at = c;
                    }
                }
                if (values != NULL) {
                    values[(o * k + j) * inner + i] = block[at * inner + i];
                }
                if (indices != NULL) {
                    indices[(o * k + j) * inner + i] = (QNNC_IDX_T)at;
                }
                prev = best;
                prev_at = at;
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_IDX_T
#undef QNNC_FN
