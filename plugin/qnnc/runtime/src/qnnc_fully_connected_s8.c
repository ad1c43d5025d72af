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
 *   - Portable C99 otherwise: four output features per pass over the input row
 *     (qnnc_fc_dot4_s8 below).
 * Every path takes both rounding modes (TFLite's and half-even): only the requantization of
 * each output differs.
 * Exact integer sums: every path gives the reference's output bit for bit.
 */
#define QNNC_REQUANTIZE_CALL qnnc_fc_s8_requantize /* qnnc_rq_out's rare cases (qnnc_internal.h) */
#include "qnnc_internal.h"

#if !QNNC_PATH_MVE /* the Helium path takes every layer */
/* The portable path: four output features per pass over the input row, so each input value
 * is loaded and offset once for four multiply-accumulates (four weight rows read in step, int32
 * accumulators, the k loop unrolled by four); the last out_features % 4 one at a time. The
 * requantization is qnnc_output_s8's (qnnc_output_s8_fast: the same values). */
static QNNC_LOOP_ATTR void qnnc_fc_dot4_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t input_offset,
                                           int32_t *acc)
{
    const int8_t *w0 = w, *w1 = w + n, *w2 = w1 + n, *w3 = w2 + n;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t k;
#define QNNC_FC_STEP(i)                                                                            \
    do {                                                                                       \
        const int32_t xi = (int32_t)x[i] + input_offset;                                       \
        a0 += (int32_t)w0[i] * xi;                                                             \
        a1 += (int32_t)w1[i] * xi;                                                             \
        a2 += (int32_t)w2[i] * xi;                                                             \
        a3 += (int32_t)w3[i] * xi;                                                             \
    } while (0)
    for (k = n >> 2; k > 0; --k) {
        QNNC_FC_STEP(0);
        QNNC_FC_STEP(1);
        QNNC_FC_STEP(2);
        QNNC_FC_STEP(3);
        x += 4;
        w0 += 4;
        w1 += 4;
        w2 += 4;
        w3 += 4;
    }
    for (k = n & 3; k > 0; --k) {
        QNNC_FC_STEP(0);
        x += 1;
        w0 += 1;
        w1 += 1;
        w2 += 1;
        w3 += 1;
    }
#undef QNNC_FC_STEP
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static QNNC_PATH_ATTR void qnnc_fc_portable_s8(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                                               int32_t rows, int32_t in_features, const int8_t *input,
                                               int32_t out_features, const int8_t *weights, const int32_t *bias,
                                               int8_t *output)
{
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
    const int32_t rounding = params->rounding;
    int32_t r, o, j;

    for (r = 0; r < rows; ++r) {
        const int8_t *in_row = input + r * in_features;
        for (o = 0; o + 4 <= out_features; o += 4) {
            int32_t acc[4];
            for (j = 0; j < 4; ++j) {
                acc[j] = bias != NULL ? bias[o + j] : 0;
            }
            qnnc_fc_dot4_s8(in_row, weights + o * in_features, in_features, input_offset, acc);
            for (j = 0; j < 4; ++j) {
                *output++ = qnnc_output_s8_fast(acc[j], quant->multiplier[o + j], quant->shift[o + j], lo, hi,
                                                output_offset, act_lut, rounding);
            }
        }
        for (; o < out_features; ++o) {
            int32_t acc = bias != NULL ? bias[o] : 0;
            acc = qnnc_s8_dot(acc, weights + o * in_features, in_row, in_features, input_offset);
            *output++ = qnnc_output_s8_fast(acc, quant->multiplier[o], quant->shift[o], lo, hi, output_offset,
                                            act_lut, rounding);
        }
    }
}

#endif /* !QNNC_PATH_MVE */

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
