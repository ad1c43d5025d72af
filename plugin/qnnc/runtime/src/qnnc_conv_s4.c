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
 * columns in the scratch, see qnnc_conv_s4_get_buffer_size); the portable C99 path below runs
 * elsewhere and for layers a SIMD path declines.
 */
#include "qnnc_internal.h"

#define QNNC_FN qnnc_conv_s4_portable
#define QNNC_FN_STORAGE static QNNC_PATH_ATTR
#define QNNC_W_T int32_t
#define QNNC_W_AT(packed, i) (i)
#define QNNC_DOT(acc, packed, w, x, n, off) ((acc) + qnnc_s4_dot(packed, w, x, n, off))
#include "qnnc_conv_impl.h"

int32_t qnnc_conv_s4_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
#if QNNC_PATH_DSP
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c, K8 = (K + 7) & ~7;
    /* the zero point fills padding taps as int8; a realigned filter (K % 8 != 0) only when small */
    if (K > QNNC_CONV_MAX_K || output_dims->c > QNNC_CONV_MAX_K || params->input_offset < -127 ||
        params->input_offset > 128 || (K != K8 && output_dims->c * (K8 / 2) > QNNC_CONV_S4_REALIGN_MAX)) {
        return 0;
    }
    return QNNC_CONV_S4_DSP_BUFFER_SIZE(K, input_dims->c, output_dims->c);
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
    if (QNNC_SIMD_PATH(qnnc_conv_mve_s4, qnnc_conv_dsp_s4)(scratch, params, quant, input_dims, input, filter_dims,
                                                           packed_filter, bias, output_dims, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_conv_s4_portable(params, quant, input_dims, input, filter_dims, packed_filter, bias, output_dims, output);
}
