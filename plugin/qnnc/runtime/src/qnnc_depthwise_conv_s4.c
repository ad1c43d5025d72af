/*
 * qnnc_depthwise_conv_s4 - depthwise convolution with int8 activations and packed int4 weights.
 * Reference: qnnc/reference/kernels_s4.py:depthwise_conv_s4. Body: qnnc_conv_impl.h
 * (shared with qnnc_depthwise_conv_s8).
 *
 * The filter is [kh][kw][out_ch] like qnnc_depthwise_conv_s8, flattened and packed two weights
 * per byte, low nibble first (CMSIS-NN arm_depthwise_conv_s4): weight i is the low nibble of
 * byte i/2 when i is even, the high nibble when odd; an odd count leaves the last high nibble 0.
 * Output channel oc reads input channel oc / depth_multiplier.
 *
 * Paths: on SIMD targets given the scratch get_buffer_size asks for, the filter is unpacked to
 * int8 there (kh*kw*out_ch bytes) and qnnc_depthwise_conv_s8 runs on it - its SIMD path, at
 * int8 speed, for the cost of one pass over the weights; without that scratch the Armv7E-M DSP
 * and Helium paths of qnnc_depthwise_conv_s4_dsp.c / _mve.c unpack the nibbles on the fly (both
 * rounding modes); the portable C99 path below runs elsewhere and for layers they decline.
 */
#include "qnnc_internal.h"

#define QNNC_FN qnnc_dw_portable_s4
#define QNNC_FN_STORAGE static QNNC_PATH_ATTR
#define QNNC_W_T int32_t
#define QNNC_W_AT(packed, i) (i)
#define QNNC_WEIGHT(packed, w, k) qnnc_s4_weight(packed, (w) + (k))
#define QNNC_DEPTHWISE 1
#include "qnnc_conv_impl.h"

int32_t qnnc_depthwise_conv_s4_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                               const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    const int32_t taps = filter_dims->h * filter_dims->w;
    if (params->depth_multiplier != 1 || taps > QNNC_DW_MAX_TAPS) {
        return 0;
    }
    return QNNC_CONV_S4_UNPACKED_SIZE(taps, output_dims->c) +
           qnnc_depthwise_conv_s8_get_buffer_size(params, input_dims, filter_dims, output_dims);
#else
    (void)params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
#endif
}

void qnnc_depthwise_conv_s4(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                            const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *packed_filter, const int32_t *bias,
                            const qnnc_dims *output_dims, int8_t *output)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    qnnc_buffer rest;
    const int8_t *filter = qnnc_s4_unpack_scratch(
        scratch, qnnc_depthwise_conv_s4_get_buffer_size(params, input_dims, filter_dims, output_dims), packed_filter,
        filter_dims->h * filter_dims->w * output_dims->c, &rest);
    if (filter != NULL) {
        qnnc_depthwise_conv_s8(&rest, params, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                               output);
        return;
    }
    if (QNNC_SIMD_PATH(qnnc_dw_mve_s4, qnnc_dw_dsp_s4)(NULL, params, quant, input_dims, input, filter_dims, packed_filter,
                                                       bias, output_dims, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_dw_portable_s4(params, quant, input_dims, input, filter_dims, packed_filter, bias, output_dims, output, 0,
                        input_dims->c);
}
