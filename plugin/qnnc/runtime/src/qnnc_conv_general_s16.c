/*
 * qnnc_conv_general_s16 - the convolutions of qnnc_conv_general_s8 with int16 activations and
 * int8 weights (16x8 scheme), NHWC: grouped convolution (1 < groups, not depthwise) and transposed
 * convolution (ONNX ConvTranspose, any groups) in gather form.
 * Reference: qnnc/reference/kernels_s16_conv_general.py:conv_general_s16.
 *
 * The filter is OHWI per group (n=out_ch, h=kh, w=kw, c=in_ch/groups), so the requantization is
 * per output channel (qnnc_output_s16 on the int64 accumulator, TFLite's 16-bit reduced
 * multiplier). Portable C99, no working memory. Body: qnnc_conv_general_impl.h (shared with
 * qnnc_conv_general_s8).
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_ACC_T int64_t
#define QNNC_BIAS_T int64_t
#define QNNC_TRANSPOSED(params) ((params)->transposed)
/* one tap: int32 partial sums, widened */
#define QNNC_TAP(acc, x, w, n, input_offset) (acc) += qnnc_dot_s16_s8((x), (w), (n), (input_offset))
/* lo + output_offset, hi + output_offset: act_min, act_max */
#define QNNC_OUT(acc, mult, shift, lo, hi, output_offset, params) \
    qnnc_output_s16((acc), (mult), (shift), (output_offset), (lo) + (output_offset), (hi) + (output_offset))
#define QNNC_FN qnnc_conv_general_s16
#include "qnnc_conv_general_impl.h"
