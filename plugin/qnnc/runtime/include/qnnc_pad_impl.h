/*
 * qnnc_pad_impl.h - the body of qnnc_pad_s8 / _s16 (constant padding of a 4-D tensor,
 * pads_before >= 0), written once for both element types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type) and QNNC_FN
 * (the function name), then includes this file, which defines the function and undefines them.
 */
void QNNC_FN(const qnnc_dims *input_dims, const int32_t pads_before[4], const qnnc_dims *output_dims,
             QNNC_T pad_value, const QNNC_T *input, QNNC_T *output)
{
    const int32_t in_c = input_dims->c;
    const int32_t pad_c_after = output_dims->c - in_c - pads_before[3];
    int32_t n, h, w, c;

    /* Every output element is written exactly once, one output row (fixed n, h, w) at a time. */
    for (n = 0; n < output_dims->n; ++n) {
        const int32_t in_n = n - pads_before[0];
        for (h = 0; h < output_dims->h; ++h) {
            const int32_t in_h = h - pads_before[1];
            for (w = 0; w < output_dims->w; ++w) {
                const int32_t in_w = w - pads_before[2];
                const QNNC_T *src;
                if (in_n < 0 || in_n >= input_dims->n || in_h < 0 || in_h >= input_dims->h ||
                    in_w < 0 || in_w >= input_dims->w) {
                    for (c = 0; c < output_dims->c; ++c) {
                        *output++ = pad_value;
                    }
                    continue;
                }
                src = input + ((in_n * input_dims->h + in_h) * input_dims->w + in_w) * in_c;
                for (c = 0; c < pads_before[3]; ++c) {
                    *output++ = pad_value;
                }
                for (c = 0; c < in_c; ++c) {
                    *output++ = src[c];
                }
                for (c = 0; c < pad_c_after; ++c) {
                    *output++ = pad_value;
                }
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_FN
