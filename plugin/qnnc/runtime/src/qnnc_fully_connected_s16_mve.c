/*
 * qnnc_fully_connected_s16_mve.c - the Helium path of qnnc_fully_connected_s16
 * (__ARM_FEATURE_MVE: Cortex-M55/M85; compiled to nothing elsewhere; the entry point and
 * dispatch are in qnnc_fully_connected_s16.c). Model: CMSIS-NN arm_fully_connected_s16 (MVE).
 *
 * Four output features per pass over the input row: 8 int16 inputs (VLDRH) against 8 weights of
 * each feature widened by the load (VLDRB.S16), VMLADAVA into int32 sums of at most
 * QNNC_FC16_CHUNK = 256 products (each at most 2^22 in magnitude: below 2^30), added to the int64
 * accumulators after every chunk: exact for any length. No scratch.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
#define QNNC_FC16_CHUNK 256 /* products per int32 partial sum: 256 * 2^22 = 2^30 */

/* acc[j] += sum x[i] * wj[j][i] over i < n, j < 4 (int64, exact). */
static QNNC_LOOP_ATTR void qnnc_fc16_dot4_mve(const int16_t *x, const int8_t *const *wj, int32_t n, int64_t *acc)
{
    const int8_t *w = wj[0], *w1 = wj[1], *w2 = wj[2], *w3 = wj[3];
    while (n > 0) {
        const int32_t m = n < QNNC_FC16_CHUNK ? n : QNNC_FC16_CHUNK;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int32_t i;
        for (i = m >> 3; i > 0; --i) {
            const int16x8_t xv = vldrhq_s16(x);
            s0 = vmladavaq_s16(s0, xv, vldrbq_s16(w));
            s1 = vmladavaq_s16(s1, xv, vldrbq_s16(w1));
            s2 = vmladavaq_s16(s2, xv, vldrbq_s16(w2));
            s3 = vmladavaq_s16(s3, xv, vldrbq_s16(w3));
            x += 8;
            w += 8;
            w1 += 8;
            w2 += 8;
            w3 += 8;
        }
        if (m & 7) {
            const mve_pred16_t p = vctp16q((uint32_t)(m & 7));
            const int16x8_t xv = vldrhq_z_s16(x, p); /* zero lanes contribute nothing */
            s0 = vmladavaq_s16(s0, xv, vldrbq_z_s16(w, p));
            s1 = vmladavaq_s16(s1, xv, vldrbq_z_s16(w1, p));
            s2 = vmladavaq_s16(s2, xv, vldrbq_z_s16(w2, p));
            s3 = vmladavaq_s16(s3, xv, vldrbq_z_s16(w3, p));
            x += m & 7;
            w += m & 7;
            w1 += m & 7;
            w2 += m & 7;
            w3 += m & 7;
        }
        acc[0] += s0;
        acc[1] += s1;
        acc[2] += s2;
        acc[3] += s3;
        n -= m;
    }
}

/** The Helium fully connected (input offset 0, else 0 is returned: the caller runs portable). */
QNNC_PATH_ATTR int qnnc_fc_mve_s16(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                                   int32_t in_features, const int16_t *input, int32_t out_features,
                                   const int8_t *weights, const int64_t *bias, int16_t *output)
{
    int32_t r, o, j;
    int vec;
    if (params->input_offset != 0 || !QNNC_S16_FAST_OFFSET_OK(params->output_offset)) {
        return 0;
    }
    vec = qnnc_mve_s16_shifts_ok(quant->shift, out_features);
    for (r = 0; r < rows; ++r) {
        const int16_t *x = input + r * in_features;
        for (o = 0; o < out_features; o += 4) {
            const int8_t *wj[4];
            int64_t acc[4];
            for (j = 0; j < 4; ++j) {
                /* fewer than 4 features left: the last one is computed again in the spare lanes */
                const int32_t f = o + j < out_features ? o + j : out_features - 1;
                wj[j] = weights + f * in_features;
                acc[j] = bias != NULL ? bias[f] : 0;
            }
            qnnc_fc16_dot4_mve(x, wj, in_features, acc);
            qnnc_mve_out4_s16(acc, out_features - o < 4 ? out_features - o : 4, vec, quant, o, params->output_offset,
                              params->act_min, params->act_max, output + o);
        }
        output += out_features;
    }
    return 1;
}
#endif
