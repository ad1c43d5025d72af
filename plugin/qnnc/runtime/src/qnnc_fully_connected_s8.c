/*
 * qnnc_fully_connected_s8 - int8 fully connected layer, weights [out_features][in_features]: the
 * entry point, the dispatch and the portable path (body: qnnc_fully_connected_impl.h, shared
 * with qnnc_fully_connected_s4). Reference: qnnc/reference/kernels.py:fully_connected_s8.
 *
 * Paths, chosen at compile time from the compiler's own macros (qnnc_internal.h):
 *   - Helium (__ARM_FEATURE_MVE): qnnc_fully_connected_s8_mve.c, VMLADAVA dot products of 16
 *     int8 lanes, 4 output features at a time; the input offset folded in as offset * sum(w).
 *   - Armv7E-M DSP (__ARM_FEATURE_DSP): qnnc_fully_connected_s8_dsp.c, the input row widened
 *     once into q15 (the only scratch), then SMLAD over 4 output features (inline assembly).
 *   - Portable C99 otherwise, and for rounding modes other than TFLite's (every target).
 * Exact integer sums: every path gives the reference's output bit for bit.
 */
#include "qnnc_internal.h"

#define QNNC_FN qnnc_fc_portable_s8
#define QNNC_FN_STORAGE static QNNC_PATH_ATTR
#define QNNC_W_T const int8_t *
#define QNNC_W_AT(weights, i) ((weights) + (i))
#define QNNC_DOT(acc, weights, w, x, n, off) qnnc_s8_dot(acc, w, x, n, off)
#include "qnnc_fully_connected_impl.h"

int32_t qnnc_fully_connected_s8_get_buffer_size(int32_t in_features, int32_t out_features)
{
#if QNNC_PATH_DSP
    if (in_features > QNNC_FC_MAX_K || in_features < 4 || out_features > QNNC_FC_MAX_K) {
        return 0;
    }
    return QNNC_FC_DSP_BUFFER_SIZE(in_features, out_features);
#else
    (void)in_features; /* Helium and portable paths need no scratch */
    (void)out_features;
    return 0;
#endif
}

void qnnc_fully_connected_s8(const qnnc_buffer *scratch,
                             const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *weights,
                             const int32_t *bias, int8_t *output)
{
    if (params->rounding != QNNC_ROUND_TFLITE) {
        (void)scratch;
        qnnc_fc_portable_s8(params, quant, rows, in_features, input, out_features, weights, bias, output);
        return;
    }
#if QNNC_PATH_MVE
    (void)scratch;
    qnnc_fc_mve_s8(params, quant, rows, in_features, input, out_features, weights, bias, output);
#else
#if QNNC_PATH_DSP
    if (qnnc_fc_dsp_s8(scratch, params, quant, rows, in_features, input, out_features, weights, bias, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_fc_portable_s8(params, quant, rows, in_features, input, out_features, weights, bias, output);
#endif
}
