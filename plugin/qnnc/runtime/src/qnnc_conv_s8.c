/*
 * qnnc_conv_s8 - int8 convolution (group 1), NHWC input, OHWI filter: the entry point, the
 * dispatch and the portable path (body: qnnc_conv_impl.h, shared with qnnc_conv_s4).
 * Reference: qnnc/reference/kernels.py:conv_s8.
 *
 * Paths, chosen at compile time from the compiler's own macros (qnnc_internal.h):
 *   - Helium (__ARM_FEATURE_MVE, Cortex-M55/M85): qnnc_conv_s8_mve.c, int8 im2col columns and
 *     VMLADAVA dot products, the input offset folded into the bias; 1x1 convs read the input
 *     pixels directly (plain GEMM, no copy).
 *   - Armv7E-M DSP (__ARM_FEATURE_DSP, Cortex-M4/M7/M33): qnnc_conv_s8_dsp.c, two output pixels
 *     widened into q15 columns, SMLAD over 2 channels x 2 pixels (inline assembly, see
 *     QNNC_DSP_ASM), the four results requantized in registers.
 *   - Portable C99 otherwise, for layers outside the SIMD paths' limits and for rounding modes
 *     other than TFLite's.
 * The SIMD paths' columns (and the Helium path's folded bias and accumulators, in blocks of
 * QNNC_CONV_OC_BLOCK output channels) live in the caller's scratch buffer (sizes:
 * QNNC_CONV_{DSP,MVE}_BUFFER_SIZE in qnnc_kernels.h); a NULL or too small buffer selects the
 * portable path.
 * Integer sums are exact, so every path gives the reference's int8 output bit for bit.
 */
#include "qnnc_internal.h"

#define QNNC_FN qnnc_conv_s8_portable
#define QNNC_FN_STORAGE static QNNC_PATH_ATTR
#define QNNC_W_T const int8_t *
#define QNNC_W_AT(filter, i) ((filter) + (i))
#define QNNC_DOT(acc, filter, w, x, n, off) qnnc_s8_dot(acc, w, x, n, off)
#include "qnnc_conv_impl.h"

int32_t qnnc_conv_s8_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t out_c = output_dims->c;
#if QNNC_PATH_MVE
    if (K > QNNC_CONV_MAX_K || out_c > QNNC_CONV_MAX_K) {
        return 0;
    }
    return QNNC_CONV_MVE_BUFFER_SIZE(K, out_c, qnnc_conv_direct(params, input_dims, filter_dims, output_dims));
#elif QNNC_PATH_DSP
    (void)params;
    if (K > QNNC_CONV_MAX_K || K < 4 || out_c > QNNC_CONV_MAX_K) {
        return 0;
    }
    return QNNC_CONV_DSP_BUFFER_SIZE(K, input_dims->c, out_c);
#else
    (void)params;
    (void)K;
    (void)out_c;
    return 0;
#endif
}

void qnnc_conv_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                  const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                  const qnnc_dims *output_dims, int8_t *output)
{
    if (!qnnc_conv_simd(QNNC_SIMD_PATH(qnnc_conv_mve_s8, qnnc_conv_dsp_s8), scratch, params, quant, input_dims, input,
                        filter_dims, filter, bias, output_dims, output)) {
        qnnc_conv_s8_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
    }
}
