/*
 * qnnc_avg_pool_s16 - int16 average pooling, NHWC: the entry point, the dispatch and the portable
 * path. Reference: qnnc/reference/kernels_s16.py:avg_pool_s16. Body: qnnc_avg_pool_impl.h (shared
 * by _s8 and _s16).
 *
 * Helium path (qnnc_avg_pool_s16_mve.c, M55/M85: eight channels a pass in int32 vectors) and DSP
 * path (qnnc_avg_pool_s16_dsp.c, M4/M7/M33: four channels a pass, two per word) for windows of at
 * most 65535 taps (their int32 sums are the portable path's); otherwise the portable loops.
 */
#include "qnnc_s16_internal.h"

#define QNNC_T int16_t
#define QNNC_CLAMP qnnc_clamp_s16
#if QNNC_PATH_MVE || QNNC_PATH_DSP
#define QNNC_FN qnnc_avg_pool_s16_portable
#define QNNC_FN_STORAGE static
#else
#define QNNC_FN qnnc_avg_pool_s16
#endif
#include "qnnc_avg_pool_impl.h"

#if QNNC_PATH_MVE || QNNC_PATH_DSP
void qnnc_avg_pool_s16(const qnnc_pool_params *params,
                       const qnnc_dims *input_dims, const int16_t *input,
                       const qnnc_dims *output_dims, int16_t *output)
{
    if (params->kernel_h > 0 && params->kernel_w > 0 && params->kernel_h <= 65535 / params->kernel_w) {
        QNNC_SIMD_PATH(qnnc_avg_pool_mve_s16, qnnc_avg_pool_dsp_s16)(params, input_dims, input, output_dims, output);
        return;
    }
    qnnc_avg_pool_s16_portable(params, input_dims, input, output_dims, output);
}
#endif
