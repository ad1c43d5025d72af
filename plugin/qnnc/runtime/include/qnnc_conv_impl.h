/*
 * qnnc_conv_impl.h - the portable bodies of convolution and depthwise convolution, int8 and
 * packed int4 weights (qnnc_conv_s8 / _s4, qnnc_depthwise_conv_s8 / _s4): one loop over the
 * output pixels and their windows' in-range taps; per pixel either every filter over the
 * window's channels (conv) or each channel's own taps (QNNC_DEPTHWISE).
 *
 * Internal to the kernel library: a kernel source defines QNNC_FN (the function name),
 * QNNC_W_T and QNNC_W_AT(filter, i) (how weight i of the flattened filter is addressed: a
 * pointer filter + i for int8, the index i for packed int4), and for conv
 * QNNC_DOT(acc, filter, w, x, n, input_offset) (acc plus the sum over k < n of weight w + k
 * times x[k] + input_offset), for depthwise QNNC_DEPTHWISE and QNNC_WEIGHT(filter, w, k)
 * (weight w + k as int32); optionally QNNC_FN_STORAGE. It then includes this file, which
 * defines the function and undefines them. The depthwise function computes input channels
 * [ic_begin, ic_end) (all their depth_multiplier outputs), its last two parameters.
 */
#ifndef QNNC_FN_STORAGE
#define QNNC_FN_STORAGE
#endif
#if defined(QNNC_DEPTHWISE)
#define QNNC_IC_RANGE , int32_t ic_begin, int32_t ic_end
#else
#define QNNC_IC_RANGE
#endif
QNNC_FN_STORAGE void QNNC_FN(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                             const qnnc_dims *input_dims, const int8_t *input, const qnnc_dims *filter_dims,
                             const int8_t *filter, const int32_t *bias, const qnnc_dims *output_dims,
                             int8_t *output QNNC_IC_RANGE)
{
    const int32_t batches = output_dims->n;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
#if defined(QNNC_DEPTHWISE)
    const int32_t depth_multiplier = params->depth_multiplier;
#endif
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
#if defined(QNNC_DEPTHWISE)
    int32_t b, oh, ow, ic, m, kh, kw;
#else
    const int32_t filter_size = k_h * k_w * in_c;
    int32_t b, oh, ow, oc, kh, kw;
#endif

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
#if defined(QNNC_DEPTHWISE)
                /* Without a scratch accumulator per channel, each output channel sums its
                 * own taps; the tap loads are strided by in_c / out_c. */
                for (ic = ic_begin; ic < ic_end; ++ic) {
                    for (m = 0; m < depth_multiplier; ++m) {
                        const int32_t oc = ic * depth_multiplier + m;
                        int32_t acc = bias != NULL ? bias[oc] : 0;
                        for (kh = kh_first; kh < kh_last; ++kh) {
                            const int8_t *in_row = in_b + (ih0 + kh * params->dilation_h) * in_w * in_c + ic;
                            const QNNC_W_T w_row = QNNC_W_AT(filter, kh * k_w * out_c + oc);
                            for (kw = kw_first; kw < kw_last; ++kw) {
                                const int32_t x = in_row[(iw0 + kw * params->dilation_w) * in_c];
                                acc += QNNC_WEIGHT(filter, w_row, kw * out_c) * (x + input_offset);
                            }
                        }
                        output[oc] = qnnc_output_s8(acc, quant->multiplier[oc], quant->shift[oc], lo, hi, output_offset,
                                                    act_lut, params->rounding);
                    }
                }
                output += out_c;
#else
                for (oc = 0; oc < out_c; ++oc) {
                    const QNNC_W_T w_oc = QNNC_W_AT(filter, oc * filter_size);
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    /* Padding taps are skipped: they would read x == -input_offset. */
                    for (kh = kh_first; kh < kh_last; ++kh) {
                        const int8_t *in_row = in_b + (ih0 + kh * params->dilation_h) * in_w * in_c;
                        const QNNC_W_T w_row = w_oc + kh * k_w * in_c;
                        for (kw = kw_first; kw < kw_last; ++kw) {
                            acc = QNNC_DOT(acc, filter, w_row + kw * in_c,
                                           in_row + (iw0 + kw * params->dilation_w) * in_c, in_c, input_offset);
                        }
                    }
                    *output++ = qnnc_output_s8(acc, quant->multiplier[oc], quant->shift[oc], lo, hi, output_offset,
                                               act_lut, params->rounding);
                }
#endif
            }
        }
    }
}

#undef QNNC_FN
#undef QNNC_FN_STORAGE
#undef QNNC_IC_RANGE
#undef QNNC_W_T
#undef QNNC_W_AT
#undef QNNC_DOT
#undef QNNC_WEIGHT
#undef QNNC_DEPTHWISE
