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
 * qnnc_conv_s4_dsp.c / qnnc_conv_s4_mve.c (both rounding modes, no working memory); the
 * portable C99 path below runs elsewhere and for layers a SIMD path declines.
 */
#include "qnnc_internal.h"

#define QNNC_FN qnnc_conv_s4_portable
#define QNNC_FN_STORAGE static QNNC_PATH_ATTR
#define QNNC_W_T int32_t
#define QNNC_W_AT(packed, i) (i)
#define QNNC_DOT(acc, packed, w, x, n, off) ((acc) + qnnc_s4_dot(packed, w, x, n, off))
#include "qnnc_conv_impl.h"

void qnnc_conv_s4(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                  const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *packed_filter,
                  const int32_t *bias,
                  const qnnc_dims *output_dims, int8_t *output)
{
#if QNNC_PATH_MVE || QNNC_PATH_DSP
    if (QNNC_SIMD_PATH(qnnc_conv_mve_s4, qnnc_conv_dsp_s4)(NULL, params, quant, input_dims, input, filter_dims,
                                                           packed_filter, bias, output_dims, output)) {
        return;
    }
#endif
    qnnc_conv_s4_portable(params, quant, input_dims, input, filter_dims, packed_filter, bias, output_dims, output);
}
