/*
 * qnnc_gather_s8 - data movement by per-axis offset tables (Slice, Split, Gather, DepthToSpace,
 * SpaceToDepth, nearest Resize): out[n][h][w][c] = in[offset_n[n] + offset_h[h] + offset_w[w] +
 * offset_c[c]], offset_c NULL meaning offset_c[c] = c (whole runs are copied).
 * Reference: qnnc/reference/kernels_movement.py:gather_s8.
 */
#include "qnnc_internal.h"

void qnnc_gather_s8(const qnnc_dims *output_dims, const int32_t *offset_n, const int32_t *offset_h,
                    const int32_t *offset_w, const int32_t *offset_c,
                    const int8_t *input, int8_t *output)
{
    const int32_t out_c = output_dims->c;
    int32_t n, h, w, c;

    for (n = 0; n < output_dims->n; ++n) {
        for (h = 0; h < output_dims->h; ++h) {
            const int8_t *row = input + offset_n[n] + offset_h[h];
            for (w = 0; w < output_dims->w; ++w) {
                const int8_t *src = row + offset_w[w];
                if (offset_c == NULL) {
                    for (c = 0; c < out_c; ++c) {
                        output[c] = src[c];
                    }
                } else {
                    for (c = 0; c < out_c; ++c) {
                        output[c] = src[offset_c[c]];
                    }
                }
                output += out_c;
            }
        }
    }
}
