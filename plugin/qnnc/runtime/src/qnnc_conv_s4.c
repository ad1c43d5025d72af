/*
 * qnnc_conv_s4 - convolution (group 1) with int8 activations and packed int4 weights.
 * Reference: qnnc/reference/kernels_s4.py:conv_s4.
 *
 * The filter is OHWI like qnnc_conv_s8, flattened and packed two weights per byte, low
 * nibble first (CMSIS-NN arm_convolve_s4): weight i is the low nibble of byte i/2 when i is
 * even, the high nibble when odd; an odd total count leaves the last high nibble 0. An output
 * channel's weights may therefore start in the middle of a byte (qnnc_s4_dot handles the
 * odd start and reads whole bytes otherwise). The arithmetic is that of qnnc_conv_s8 on the unpacked weights.
 * Portable C99 on every target (the weights are in [-8, 7]; sums are exact).
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE_SIZE__) && !defined(QNNC_NO_FORCE_O2)
#pragma GCC optimize("O2") /* kernels stay at -O2 when the firmware is built for size */
#endif

#include "qnnc_kernels.h"

void qnnc_conv_s4(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                  const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *packed_filter,
                  const int32_t *bias,
                  const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t batches = output_dims->n;
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
    const int32_t filter_size = k_h * k_w * in_c;
    int32_t b, oh, ow, oc, kh, kw;

    for (b = 0; b < batches; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh_first, kh_last;
            qnnc_tap_range(ih0, in_h, k_h, params->dilation_h, &kh_first, &kh_last);
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw_first, kw_last;
                qnnc_tap_range(iw0, in_w, k_w, params->dilation_w, &kw_first, &kw_last);
                for (oc = 0; oc < out_c; ++oc) {
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    /* Padding taps are skipped: they would read x == -input_offset. */
                    for (kh = kh_first; kh < kh_last; ++kh) {
                        const int8_t *in_row = in_b + (ih0 + kh * params->dilation_h) * in_w * in_c;
                        for (kw = kw_first; kw < kw_last; ++kw) {
                            const int8_t *in_px = in_row + (iw0 + kw * params->dilation_w) * in_c;
                            acc += qnnc_s4_dot(packed_filter, oc * filter_size + (kh * k_w + kw) * in_c, in_px,
                                               in_c, input_offset);
                        }
                    }
                    *output++ = qnnc_output_s8(acc, quant->multiplier[oc], quant->shift[oc], lo, hi, output_offset,
                                               act_lut, params->rounding);
                }
            }
        }
    }
}
