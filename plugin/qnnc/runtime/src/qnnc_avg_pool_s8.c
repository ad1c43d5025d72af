/*
 * qnnc_avg_pool_s8 - int8 average pooling, NHWC: the entry point, the dispatch and the portable
 * path. Reference: qnnc/reference/kernels.py:avg_pool_s8. Body: qnnc_avg_pool_impl.h (shared by
 * _s8 and _s16).
 *
 * DSP path (__ARM_FEATURE_DSP: Cortex-M4/M7/M33, and the M55's scalar DSP instructions):
 * qnnc_avg_pool_s8_dsp.c, 4 channels per word summed in 16-bit lanes, when the channel count is
 * a multiple of 4 and the window has at most 256 taps; otherwise the portable loops.
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_CLAMP qnnc_clamp_s8
#if QNNC_DSP_SIMD
#define QNNC_FN qnnc_avg_pool_s8_portable
#define QNNC_FN_STORAGE static
#else
#define QNNC_FN qnnc_avg_pool_s8
#endif
#include "qnnc_avg_pool_impl.h"

#if QNNC_DSP_SIMD
void qnnc_avg_pool_s8(const qnnc_pool_params *params,
                      const qnnc_dims *input_dims, const int8_t *input,
                      const qnnc_dims *output_dims, int8_t *output)
{
    if ((output_dims->c & 3) != 0 || params->kernel_h * params->kernel_w > 256) {
        qnnc_avg_pool_s8_portable(params, input_dims, input, output_dims, output);
        return;
    }
    qnnc_avg_pool_dsp_s8(params, input_dims, input, output_dims, output);
}
#endif
