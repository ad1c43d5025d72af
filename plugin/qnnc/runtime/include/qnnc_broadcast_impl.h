/*
 * qnnc_broadcast_impl.h - the broadcasting loops of the two-input element-wise kernels
 * (qnnc_add_s8 / _s16, qnnc_mul_s8 / _s16, qnnc_minmax_s8 / _s16), written once for every
 * operation and element type.
 *
 * Internal to the kernel library: a kernel source defines QNNC_FN (the function name),
 * QNNC_PARAMS (its params type), QNNC_T (the element type), QNNC_ONE(params, lo, hi, x1, x2) (one
 * output value from two inputs, lo / hi the activation bounds minus the output offset),
 * optionally QNNC_FLAT(params, lo, hi, size, x1, x2, output) (1 when it computed a same-shape
 * layer itself) and QNNC_FN_STORAGE (e.g. static, when the public function wraps it), then
 * includes this file, which defines the function and undefines them.
 */
#ifndef QNNC_FN_STORAGE
#define QNNC_FN_STORAGE
#endif
QNNC_FN_STORAGE void QNNC_FN(const QNNC_PARAMS *params, const qnnc_dims *input1_dims, const QNNC_T *input1,
                             const qnnc_dims *input2_dims, const QNNC_T *input2, const qnnc_dims *output_dims,
                             QNNC_T *output)
{
    const int32_t on = output_dims->n, oh = output_dims->h, ow = output_dims->w, oc = output_dims->c;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - params->output_offset;
    const int32_t hi = params->act_max - params->output_offset;
    /* Element strides of each input; 0 along a broadcast (size-1) dimension. */
    const int32_t s1c = input1_dims->c == 1 ? 0 : 1;
    const int32_t s1w = input1_dims->w == 1 ? 0 : input1_dims->c;
    const int32_t s1h = input1_dims->h == 1 ? 0 : input1_dims->w * input1_dims->c;
    const int32_t s1n = input1_dims->n == 1 ? 0 : input1_dims->h * input1_dims->w * input1_dims->c;
    const int32_t s2c = input2_dims->c == 1 ? 0 : 1;
    const int32_t s2w = input2_dims->w == 1 ? 0 : input2_dims->c;
    const int32_t s2h = input2_dims->h == 1 ? 0 : input2_dims->w * input2_dims->c;
    const int32_t s2n = input2_dims->n == 1 ? 0 : input2_dims->h * input2_dims->w * input2_dims->c;
    int32_t n, h, w, c;

    if (input1_dims->n == on && input1_dims->h == oh && input1_dims->w == ow && input1_dims->c == oc &&
        input2_dims->n == on && input2_dims->h == oh && input2_dims->w == ow && input2_dims->c == oc) {
        const int32_t size = on * oh * ow * oc; /* no broadcasting: one flat loop */
        int32_t i;
#if defined(QNNC_FLAT)
        if (QNNC_FLAT(params, lo, hi, size, input1, input2, output)) {
            return;
        }
#endif
        for (i = 0; i < size; ++i) {
            output[i] = QNNC_ONE(params, lo, hi, input1[i], input2[i]);
        }
        return;
    }
    for (n = 0; n < on; ++n) {
        for (h = 0; h < oh; ++h) {
            for (w = 0; w < ow; ++w) {
                const QNNC_T *x1 = input1 + n * s1n + h * s1h + w * s1w;
                const QNNC_T *x2 = input2 + n * s2n + h * s2h + w * s2w;
                for (c = 0; c < oc; ++c) {
                    *output++ = QNNC_ONE(params, lo, hi, x1[c * s1c], x2[c * s2c]);
                }
            }
        }
    }
}

#undef QNNC_FN
#undef QNNC_PARAMS
#undef QNNC_ONE
#undef QNNC_FLAT
#undef QNNC_T
#undef QNNC_FN_STORAGE
