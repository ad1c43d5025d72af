/*
 * qnnc_depthwise_conv_s8 - int8 depthwise convolution, NHWC input, [kh][kw][out_ch] filter: the
 * entry point, the dispatch and the portable path (body: qnnc_conv_impl.h, shared
 * with qnnc_depthwise_conv_s4). Reference: qnnc/reference/kernels.py:depthwise_conv_s8.
 *
 * Paths, chosen at compile time from the compiler's own macros (qnnc_internal.h), for depth
 * multiplier 1 (other multipliers, and the DSP path's last in_c % 4 channels, use the portable
 * loops):
 *   - Helium (__ARM_FEATURE_MVE): qnnc_depthwise_conv_s8_mve.c, 8 channels per int16x8 vector
 *     for 3x3 dilation 1, else 4 channels per int32x4 vector.
 *   - Armv7E-M DSP (__ARM_FEATURE_DSP): qnnc_depthwise_conv_s8_dsp.c, 4 channels per word,
 *     SMLABB/SMLATT per tap, 3x3 windows inside the input fully unrolled.
 *   - Portable C99 otherwise, and for rounding modes other than TFLite's.
 * The weight tables live in the caller's scratch buffer (QNNC_DW_{DSP,MVE}_BUFFER_SIZE in
 * qnnc_kernels.h); a NULL or too small buffer selects the portable path.
 */
#include "qnnc_internal.h"

#define QNNC_FN qnnc_dw_portable_s8
#if QNNC_PATH_DSP
#define QNNC_FN_STORAGE QNNC_PATH_ATTR /* the DSP path's last in_c % 4 channels too */
#else
#define QNNC_FN_STORAGE static QNNC_PATH_ATTR
#endif
#define QNNC_W_T const int8_t *
#define QNNC_W_AT(filter, i) ((filter) + (i))
#define QNNC_WEIGHT(filter, w, k) ((int32_t)(w)[k])
#define QNNC_DEPTHWISE 1
#include "qnnc_conv_impl.h"

int32_t qnnc_depthwise_conv_s8_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                               const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t taps = filter_dims->h * filter_dims->w;
    (void)output_dims;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS) {
        return 0;
    }
#if QNNC_PATH_MVE
    (void)input_dims;
    return QNNC_DW_MVE_BUFFER_SIZE(taps);
#elif QNNC_PATH_DSP
    return input_dims->c >= 4 ? QNNC_DW_DSP_BUFFER_SIZE(taps) : 0;
#else
    (void)input_dims;
    return 0;
#endif
}

void qnnc_depthwise_conv_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                            const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            const qnnc_dims *output_dims, int8_t *output)
{
    if (!qnnc_conv_simd(QNNC_SIMD_PATH(qnnc_dw_mve_s8, qnnc_dw_dsp_s8), scratch, params, quant, input_dims, input,
                        filter_dims, filter, bias, output_dims, output)) {
        qnnc_dw_portable_s8(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, 0,
                            input_dims->c);
    }
}
