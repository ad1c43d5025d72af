/*
 * qnnc_reduce_s16 - ReduceSum / ReduceMean / ReduceMax / ReduceMin of a 4-D int16 tensor (16x8
 * scheme: symmetric, zero point 0) over any set of axes (those where output_dims is 1 and
 * input_dims is not), in one pass without scratch. Sums are int64 (|sum| <= 2^15 * 2^23 counted
 * values) and requantized with the 16x8 requantization (qnnc_requantize_s64).
 * Reference: qnnc/reference/kernels_s16_reduce.py:reduce_s16.
 */
#include "qnnc_internal.h"

void qnnc_reduce_s16(const qnnc_reduce_params *params, const qnnc_dims *input_dims, const int16_t *input,
                     const qnnc_dims *output_dims, int16_t *output)
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
                    const int16_t *base = input + o[0] * stride[0] + o[1] * stride[1] + o[2] * stride[2] + o[3];
                    int64_t sum = 0;
                    int32_t ext = base[0];
                    int32_t i0, i1, i2, i3;
                    for (i0 = 0; i0 < span[0]; ++i0) {
                        for (i1 = 0; i1 < span[1]; ++i1) {
                            for (i2 = 0; i2 < span[2]; ++i2) {
                                const int16_t *p = base + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                                if (params->kind == QNNC_REDUCE_SUM) {
                                    /* int32 partial sums of one innermost run: at most 2^16 * 2^15 */
                                    int32_t j = 0;
                                    while (j < span[3]) {
                                        const int32_t end = span[3] - j > 65535 ? j + 65535 : span[3];
                                        int32_t part = 0;
                                        for (i3 = j; i3 < end; ++i3) {
                                            part += p[i3];
                                        }
                                        sum += part;
                                        j = end;
                                    }
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
                        *output++ = qnnc_clamp_s16(qnnc_requantize_s64(sum, params->multiplier, params->shift),
                                                   -32768, 32767);
                    } else {
                        *output++ = (int16_t)ext;
                    }
                }
            }
        }
    }
}
