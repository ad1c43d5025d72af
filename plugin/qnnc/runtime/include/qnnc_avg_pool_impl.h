/*
 * qnnc_avg_pool_impl.h - the body of qnnc_avg_pool_s8 / _s16, written once for both element types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type),
 * QNNC_CLAMP (qnnc_clamp_s8 / qnnc_clamp_s16) and QNNC_FN (the function name), optionally
 * QNNC_FN_STORAGE (e.g. static, when a SIMD path wraps it), then includes this file, which
 * defines the function and undefines the macros.
 */
#ifndef QNNC_FN_STORAGE
#define QNNC_FN_STORAGE
#endif
QNNC_FN_STORAGE void QNNC_FN(const qnnc_pool_params *params,
             const qnnc_dims *input_dims, const QNNC_T *input,
             const qnnc_dims *output_dims, QNNC_T *output)
{
    const int32_t batches = output_dims->n, in_h = input_dims->h, in_w = input_dims->w;
    const int32_t channels = output_dims->c, out_h = output_dims->h, out_w = output_dims->w;
    const int32_t k_h = params->kernel_h, k_w = params->kernel_w, act_min = params->act_min, act_max = params->act_max;
    const int32_t pad_value = params->pad_value, include_pad = params->count_include_pad;
    int32_t b, oh, ow, kh, kw, c;

    for (b = 0; b < batches; ++b) {
        const QNNC_T *in_b = input + b * in_h * in_w * channels;
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh_first = ih0 < 0 ? -ih0 : 0;
            int32_t kh_last = in_h - ih0 < k_h ? in_h - ih0 : k_h;
            if (kh_last < kh_first) {
                kh_last = kh_first;
            }
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw_first = iw0 < 0 ? -iw0 : 0;
                int32_t kw_last = in_w - iw0 < k_w ? in_w - iw0 : k_w;
                int32_t valid, count, pad_sum;
                if (kw_last < kw_first) {
                    kw_last = kw_first;
                }
                valid = (kh_last - kh_first) * (kw_last - kw_first);
                count = include_pad ? k_h * k_w : valid;
                pad_sum = include_pad ? pad_value * (k_h * k_w - valid) : 0;

                if (count == 0) { /* no valid cell and padding not counted */
                    for (c = 0; c < channels; ++c) {
                        *output++ = QNNC_CLAMP(pad_value, act_min, act_max);
                    }
                    continue;
                }
                /* Per-channel int32 sums would need a scratch buffer to run channels
                 * innermost; summing each channel's taps directly needs none. */
                for (c = 0; c < channels; ++c) {
                    int32_t sum = pad_sum;
                    for (kh = kh_first; kh < kh_last; ++kh) {
                        const QNNC_T *in_row = in_b + (ih0 + kh) * in_w * channels + c;
                        for (kw = kw_first; kw < kw_last; ++kw) {
                            sum += in_row[(iw0 + kw) * channels];
                        }
                    }
                    *output++ = QNNC_CLAMP(qnnc_avg_pool_mean(params, sum, count), act_min, act_max);
                }
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_CLAMP
#undef QNNC_FN
#undef QNNC_FN_STORAGE
