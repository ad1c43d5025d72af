/*
 * qnnc_arg_max_impl.h - the body of qnnc_arg_max_s8 / _s16 (ArgMax / ArgMin along the middle
 * axis of [outer, n, inner], n <= 127; the index is the int8 output, scale 1, zero point 0, for
 * both input types) and of qnnc_arg_max_wide_s8 / _s16 (n <= 32767, an int16 index), written once.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (input element type), QNNC_IDX_T
 * (index type: int8_t or int16_t) and QNNC_FN (the function name), then includes this file, which
 * defines the function and undefines them.
 */
void QNNC_FN(int32_t outer, int32_t n, int32_t inner, int32_t is_min, int32_t select_last, const QNNC_T *input,
             QNNC_IDX_T *output)
{
    int32_t o, i, k;
    for (o = 0; o < outer; ++o) {
        const QNNC_T *row = input + o * n * inner;
        for (i = 0; i < inner; ++i) {
            /* negated in int32: -(-32768) does not fit int16 */
            int32_t best = is_min ? -(int32_t)row[i] : (int32_t)row[i];
            int32_t at = 0;
            for (k = 1; k < n; ++k) {
                const int32_t v = is_min ? -(int32_t)row[k * inner + i] : (int32_t)row[k * inner + i];
                if (v > best || (select_last && v == best)) {
                    best = v;
                    at = k;
                }
            }
            *output++ = (QNNC_IDX_T)at;
        }
    }
}

#undef QNNC_T
#undef QNNC_IDX_T
#undef QNNC_FN
