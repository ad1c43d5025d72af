/*
 * qnnc_max_pool_impl.h - the body of qnnc_max_pool_s8 / _s16, written once for both element types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type),
 * QNNC_CLAMP (qnnc_clamp_s8 / qnnc_clamp_s16) and QNNC_FN (the function name), then includes
 * this file, which defines the function and undefines the three macros.
 */
void QNNC_FN(const qnnc_pool_params *params,
             const qnnc_dims *input_dims, const QNNC_T *input,
             const qnnc_dims *output_dims, QNNC_T *output)
{
    const int32_t batches = output_dims->n, in_h = input_dims->h, in_w = input_dims->w;
    const int32_t channels = output_dims->c, out_h = output_dims->h, out_w = output_dims->w;
    const int32_t k_h = params->kernel_h, k_w = params->kernel_w, act_min = params->act_min, act_max = params->act_max;
    const QNNC_T empty = QNNC_CLAMP(params->pad_value, act_min, act_max);
    int32_t b, oh, ow, kh, kw, c;

    for (b = 0; b < batches; ++b) {
        const QNNC_T *in_b = input + b * in_h * in_w * channels;
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            /* valid rows: ih0 + kh in [0, in_h) */
            const int32_t kh_first = ih0 < 0 ? -ih0 : 0;
            const int32_t kh_last = in_h - ih0 < k_h ? in_h - ih0 : k_h;
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                const int32_t kw_first = iw0 < 0 ? -iw0 : 0;
                const int32_t kw_last = in_w - iw0 < k_w ? in_w - iw0 : k_w;
                int first_tap = 1;

                if (kh_first >= kh_last || kw_first >= kw_last) {
                    for (c = 0; c < channels; ++c) {
                        output[c] = empty;
                    }
                    output += channels;
                    continue;
                }
                /* The output pixel doubles as the running maximum so the inner loop runs
                 * over contiguous channels (no scratch buffer). */
                for (kh = kh_first; kh < kh_last; ++kh) {
                    const QNNC_T *in_row = in_b + (ih0 + kh) * in_w * channels;
                    for (kw = kw_first; kw < kw_last; ++kw) {
                        const QNNC_T *in_px = in_row + (iw0 + kw) * channels;
                        if (first_tap) {
                            for (c = 0; c < channels; ++c) {
                                output[c] = in_px[c];
                            }
                            first_tap = 0;
                        } else {
                            for (c = 0; c < channels; ++c) {
                                if (in_px[c] > output[c]) {
                                    output[c] = in_px[c];
                                }
                            }
                        }
                    }
                }
                for (c = 0; c < channels; ++c) {
                    output[c] = QNNC_CLAMP(output[c], act_min, act_max);
                }
                output += channels;
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_CLAMP
#undef QNNC_FN
