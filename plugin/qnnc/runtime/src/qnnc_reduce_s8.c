/*
 * qnnc_reduce_s8 - ReduceSum / ReduceMean / ReduceMax / ReduceMin of a 4-D int8 tensor over any set
 * of axes (those where output_dims is 1 and input_dims is not), in one pass without scratch.
 * Reference: qnnc/reference/kernels_reduce.py:reduce_s8.
 */
#include "qnnc_internal.h"

void qnnc_reduce_s8(const qnnc_reduce_params *params, const qnnc_dims *input_dims, const int8_t *input,
                    const qnnc_dims *output_dims, int8_t *output)
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
                    const int8_t *base = input + o[0] * stride[0] + o[1] * stride[1] + o[2] * stride[2] + o[3];
                    int32_t acc = params->kind == QNNC_REDUCE_SUM ? 0 : (int32_t)base[0];
                    int32_t i0, i1, i2, i3;
                    for (i0 = 0; i0 < span[0]; ++i0) {
                        for (i1 = 0; i1 < span[1]; ++i1) {
                            for (i2 = 0; i2 < span[2]; ++i2) {
                                const int8_t *p = base + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                                if (params->kind == QNNC_REDUCE_SUM) {
                                    for (i3 = 0; i3 < span[3]; ++i3) {
                                        acc += (int32_t)p[i3] + params->input_offset;
                                    }
                                } else if (params->kind == QNNC_REDUCE_MAX) {
                                    for (i3 = 0; i3 < span[3]; ++i3) {
                                        acc = p[i3] > acc ? p[i3] : acc;
                                    }
                                } else {
                                    for (i3 = 0; i3 < span[3]; ++i3) {
                                        acc = p[i3] < acc ? p[i3] : acc;
                                    }
                                }
                            }
                        }
                    }
                    if (params->kind == QNNC_REDUCE_SUM) {
                        acc = qnnc_requantize(acc, params->multiplier, params->shift) + params->output_offset;
                        *output++ = qnnc_clamp_s8(acc, -128, 127);
                    } else {
                        *output++ = (int8_t)acc;
                    }
                }
            }
        }
    }
}
