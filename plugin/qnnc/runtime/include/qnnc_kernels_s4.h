/*
 * qnnc_kernels_s4.h - the int4-weight kernels (int8 activations): part of qnnc_kernels.h, which
 * includes it inside its extern "C" block after the types it uses; include qnnc_kernels.h.
 */
#ifndef QNNC_KERNELS_S4_H
#define QNNC_KERNELS_S4_H

/* ------------------------------------------- int4 weights (int8 activations) -- */

/* Packed int4 weights: two per byte, low nibble first (CMSIS-NN arm_*_s4 convention): weight i
 * is the low nibble of byte i/2 when i is even, the high nibble when odd; an odd count leaves
 * the last high nibble 0. Values are two's complement nibbles in [-8, 7] (qnnc emits [-7, 7]).
 * The kernels' arithmetic (rounding mode included) is that of the _s8 kernels on the unpacked
 * weights. Armv7E-M DSP (_dsp.c) and Helium (_mve.c) paths unpack the nibbles on the fly, the
 * portable C99 path runs elsewhere. Given their get_buffer_size bytes, the DSP conv keeps two
 * output pixels' q15 columns there; the depthwise (SIMD targets) and a small Helium conv unpack
 * the filter there and run the _s8 kernel; with less (or NULL) they run without. */

/** conv int4 DSP, K8 = K rounded up to 8: two q15 columns, the int8 window if in_c % 8, the
 *  filter realigned to K8 nibbles a channel if K % 8 (up to REALIGN_MAX bytes). */
#define QNNC_CONV_S4_K8_(K) (((K) + 7) & ~7)
#define QNNC_CONV_S4_DSP_BUFFER_SIZE(K, in_c, out_c) (4 * QNNC_CONV_S4_K8_(K) + \
    (((in_c) & 7) ? QNNC_CONV_S4_K8_(K) : 0) + (((K) & 7) ? (out_c) * (QNNC_CONV_S4_K8_(K) / 2) : 0))
#define QNNC_CONV_S4_REALIGN_MAX 2048
#define QNNC_CONV_S4_MVE_BUFFER_SIZE(K, out_c) (4 * (out_c) + 2 * (((K) + 31) & ~31)) /* sums, 2 columns */
/** Unpacked int4 filters (int8, 4-byte aligned) ahead of the _s8 kernel's scratch: depthwise, and
 *  conv up to QNNC_CONV_S4_UNPACK_MAX weights. */
#define QNNC_CONV_S4_UNPACK_MAX 4096
#define QNNC_CONV_S4_UNPACKED_SIZE(K, out_c) ((((K) * (out_c)) + 3) & ~3)

/** qnnc_conv_s8 with the OHWI filter packed as int4 (dims as for qnnc_conv_s8). */
void qnnc_conv_s4(const qnnc_buffer *scratch,
                  const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                  const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *packed_filter,
                  const int32_t *bias, const qnnc_dims *output_dims, int8_t *output);

/** Scratch bytes qnnc_conv_s4 wants for this layer on the path compiled in (0: none). */
int32_t qnnc_conv_s4_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims);

/** qnnc_depthwise_conv_s8 with the [kh][kw][out_ch] filter packed as int4. */
void qnnc_depthwise_conv_s4(const qnnc_buffer *scratch,
                            const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                            const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *packed_filter,
                            const int32_t *bias, const qnnc_dims *output_dims, int8_t *output);

/** Scratch bytes qnnc_depthwise_conv_s4 wants (0: none): the unpacked filter and the int8 kernel's. */
int32_t qnnc_depthwise_conv_s4_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                               const qnnc_dims *filter_dims, const qnnc_dims *output_dims);

/** qnnc_fully_connected_s8 with the [out_features][in_features] weights packed as int4. */
void qnnc_fully_connected_s4(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *packed_weights,
                             const int32_t *bias, int8_t *output);

#endif /* QNNC_KERNELS_S4_H */
