/*
 * qnnc_conv_s4 - convolution (group 1) with int8 activations and packed int4 weights.
 * Reference: qnnc/reference/kernels_s4.py:conv_s4. Body: qnnc_conv_impl.h (shared with qnnc_conv_s8).
 *
 * The filter is OHWI like qnnc_conv_s8, flattened and packed two weights per byte, low
 * nibble first (CMSIS-NN arm_convolve_s4): weight i is the low nibble of byte i/2 when i is
 * even, the high nibble when odd; an odd total count leaves the last high nibble 0. An output
 * channel's weights may therefore start in the middle of a byte (qnnc_s4_dot handles the
 * odd start and reads whole bytes otherwise). The arithmetic is that of qnnc_conv_s8 on the unpacked weights.
 * The weights are in [-8, 7]; sums are exact. The Armv7E-M DSP and Helium paths are in
 * qnnc_conv_s4_dsp.c / qnnc_conv_s4_mve.c (both rounding modes; the DSP path's two-pixel
 * columns in the scratch, see qnnc_conv_s4_get_buffer_size). On SIMD targets, a small filter
 * (at most QNNC_CONV_S4_UNPACK_MAX weights) given the scratch is unpacked to int8 there and
 * qnnc_conv_s8 runs on it. The portable C99 path below runs elsewhere and for layers a SIMD path
 * declines.
 */
#include "qnnc_internal.h"
#include "qnnc_s4_internal.h"

#define QNNC_FN qnnc_conv_s4_portable
#define QNNC_FN_STORAGE static QNNC_PATH_ATTR
#define QNNC_W_T int32_t
#define QNNC_W_AT(packed, i) (i)
#define QNNC_DOT(acc, packed, w, x, n, off) ((acc) + qnnc_s4_dot(packed, w, x, n, off))
#include "qnnc_conv_impl.h"

#if QNNC_PATH_MVE || QNNC_PATH_DSP
/* Scratch of the unpacking path (0: not taken): a filter of at most QNNC_CONV_S4_UNPACK_MAX
 * weights unpacked to int8 ahead of what qnnc_conv_s8's SIMD path asks for. */
static int32_t qnnc_conv_s4_unpack_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                        const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t s8 = qnnc_conv_s8_get_buffer_size(params, input_dims, filter_dims, output_dims);
    if (s8 == 0 || K * output_dims->c > QNNC_CONV_S4_UNPACK_MAX) {
        return 0;
    }
    return QNNC_CONV_S4_UNPACKED_SIZE(K, output_dims->c) + s8;
}
#endif

int32_t qnnc_conv_s4_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    const int32_t unpack = qnnc_conv_s4_unpack_size(params, input_dims, filter_dims, output_dims);
    if (unpack == 0) { /* larger filters: the SIMD path's two-pixel columns */
#if QNNC_PATH_DSP
        return qnnc_conv_s4_cols_size(params, input_dims, filter_dims, output_dims);
#else
        return qnnc_conv_s4_mve_cols_size(params, input_dims, filter_dims, output_dims);
#endif
    }
    return unpack;
#else
    (void)params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
#endif
}

void qnnc_conv_s4(const qnnc_buffer *scratch, const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                  const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *packed_filter,
                  const int32_t *bias,
                  const qnnc_dims *output_dims, int8_t *output)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    qnnc_buffer rest;
    const int8_t *filter = qnnc_s4_unpack_scratch(
        scratch, qnnc_conv_s4_unpack_size(params, input_dims, filter_dims, output_dims), packed_filter,
        filter_dims->h * filter_dims->w * input_dims->c * output_dims->c, &rest);
    if (filter != NULL) {
        qnnc_conv_s8(&rest, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
        return;
    }
    if (QNNC_SIMD_PATH(qnnc_conv_mve_s4, qnnc_conv_dsp_s4)(scratch, params, quant, input_dims, input, filter_dims,
                                                           packed_filter, bias, output_dims, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_conv_s4_portable(params, quant, input_dims, input, filter_dims, packed_filter, bias, output_dims, output);
}
