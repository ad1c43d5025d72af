/*
 * qnnc_fully_connected_s4 - fully connected with int8 activations and packed int4 weights.
 * Reference: qnnc/reference/kernels_s4.py:fully_connected_s4. Body: qnnc_fully_connected_impl.h
 * (shared with qnnc_fully_connected_s8).
 *
 * The weights are [out_features][in_features] like qnnc_fully_connected_s8, flattened and
 * packed two per byte, low nibble first (CMSIS-NN arm_fully_connected_s4): weight i is the low
 * nibble of byte i/2 when i is even, the high nibble when odd; an odd count leaves the last
 * high nibble 0. With an odd in_features every other row starts mid-byte (qnnc_s4_dot
 * handles that). The Armv7E-M DSP and Helium paths are in qnnc_fully_connected_s4_dsp.c /
 * _mve.c (both rounding modes, no working memory); the portable C99 path below runs elsewhere.
 */
#include "qnnc_internal.h"

#if !QNNC_PATH_MVE && !QNNC_PATH_DSP /* else a SIMD path takes every layer */
#define QNNC_FN qnnc_fully_connected_s4
#define QNNC_W_T int32_t
#define QNNC_W_AT(packed, i) (i)
#define QNNC_DOT(acc, packed, w, x, n, off) ((acc) + qnnc_s4_dot(packed, w, x, n, off))
#include "qnnc_fully_connected_impl.h"
#elif QNNC_PATH_MVE
void qnnc_fully_connected_s4(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *packed_weights,
                             const int32_t *bias, int8_t *output)
{
    qnnc_fc_mve_s4(params, quant, rows, in_features, input, out_features, packed_weights, bias, output);
}
#else
void qnnc_fully_connected_s4(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *packed_weights,
                             const int32_t *bias, int8_t *output)
{
    qnnc_fc_dsp_s4(params, quant, rows, in_features, input, out_features, packed_weights, bias, output);
}
#endif
