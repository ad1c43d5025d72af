/*
 * qnnc_arg_max_s16 - ArgMax / ArgMin of int16 values along the middle axis of [outer, n, inner]
 * (n <= 127). The index output stays int8 (scale 1, zero point 0) as for qnnc_arg_max_s8: it is an
 * integer, so an int16 output would add nothing. Reference:
 * qnnc/reference/kernels_s16_reduce.py:arg_max_s16.
 */
#include "qnnc_internal.h"

void qnnc_arg_max_s16(int32_t outer, int32_t n, int32_t inner, int32_t is_min, int32_t select_last,
                      const int16_t *input, int8_t *output)
{
    int32_t o, i, k;
    for (o = 0; o < outer; ++o) {
        const int16_t *row = input + o * n * inner;
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
            *output++ = (int8_t)at;
        }
    }
}
