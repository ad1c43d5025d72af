/*
 * qnnc_conv_general_s8 - the convolutions qnnc_conv_s8 / qnnc_depthwise_conv_s8 do not cover:
 * grouped convolution (1 < groups, each group a group-1 convolution over its own input channels,
 * e.g. ResNeXt / ShuffleNet v1) and transposed convolution (ONNX ConvTranspose) in gather form.
 * Reference: qnnc/reference/kernels_conv_general.py:conv_general_s8.
 *
 * The filter is OHWI per group (dims n=out_ch, h=kh, w=kw, c=in_ch/groups) in both modes, so the
 * per-output-channel requantization is that of qnnc_conv_s8 (qnnc_output_s8). Portable C99; the
 * int32 sums are exact (the quantizer bounds the worst case per output channel). No working
 * memory. Body: qnnc_conv_general_impl.h (shared with qnnc_conv_general_s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_ACC_T int32_t
#define QNNC_BIAS_T int32_t
#define QNNC_TRANSPOSED(params) ((params)->transposed)
#define QNNC_TAP(acc, x, w, n, input_offset)                           \
    {                                                                  \
        int32_t i_;                                                    \
        for (i_ = 0; i_ < (n); ++i_) {                                 \
            (acc) += (int32_t)(w)[i_] * ((int32_t)(x)[i_] + (input_offset)); \
        }                                                              \
    }
#define QNNC_OUT(acc, mult, shift, lo, hi, output_offset, params) \
    qnnc_output_s8((acc), (mult), (shift), (lo), (hi), (output_offset), (params)->act_lut, (params)->rounding)
#define QNNC_FN qnnc_conv_general_s8
#include "qnnc_conv_general_impl.h"
