/*
 * qnnc_fully_connected_s8_mve.c - the Helium path of qnnc_fully_connected_s8 (__ARM_FEATURE_MVE:
 * Cortex-M55/M85; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_fully_connected_s8.c).
 *
 * VMLADAVA dot products of 16 int8 lanes, 4 output features at a time; the input offset is
 * folded in as offset * sum(w), from the generator's kernel_sums or summed in the same loop
 * (VADDVA). No scratch.
 */
#include "qnnc_internal.h"

#if QNNC_PATH_MVE
/* *a += x . w over 16 lanes and (with_sums, a constant) *s += sum(w). */
QNNC_INLINE void qnnc_fc_mve_mac(int32_t *a, int32_t *s, int8x16_t vx, int8x16_t vw, int with_sums)
{
    *a = vmladavaq_s8(*a, vx, vw);
    if (with_sums) {
        *s = vaddvaq_s8(*s, vw);
    }
}

/* acc[i] = x . w_i and (with_sums, a constant in the callers below) wsum[i] = sum(w_i) for the
 * 4 rows w_i = w + i * wstride: one load of x feeds 4 VMLADAVA. Without the sums (the
 * generator's kernel_sums) the loop needs 10 registers, not 14 (GCC spilled two). */
QNNC_INLINE void qnnc_fc_dot4_body(const int8_t *x, int32_t K, const int8_t *w, int32_t wstride, int32_t *acc,
                                   int32_t *wsum, int with_sums)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const int8_t *w1 = w + wstride, *w2 = w + 2 * wstride, *w3 = w + 3 * wstride;
    int32_t n = K >> 4;
    for (; n > 0; --n) {
        const int8x16_t vx = vldrbq_s8(x);
        qnnc_fc_mve_mac(&a0, &s0, vx, vldrbq_s8(w), with_sums);
        qnnc_fc_mve_mac(&a1, &s1, vx, vldrbq_s8(w1), with_sums);
        qnnc_fc_mve_mac(&a2, &s2, vx, vldrbq_s8(w2), with_sums);
        qnnc_fc_mve_mac(&a3, &s3, vx, vldrbq_s8(w3), with_sums);
        x += 16;
        w += 16;
        w1 += 16;
        w2 += 16;
        w3 += 16;
    }
    if (K & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(K & 15));
        const int8x16_t vx = vldrbq_z_s8(x, p);
        qnnc_fc_mve_mac(&a0, &s0, vx, vldrbq_z_s8(w, p), with_sums);
        qnnc_fc_mve_mac(&a1, &s1, vx, vldrbq_z_s8(w1, p), with_sums);
        qnnc_fc_mve_mac(&a2, &s2, vx, vldrbq_z_s8(w2, p), with_sums);
        qnnc_fc_mve_mac(&a3, &s3, vx, vldrbq_z_s8(w3, p), with_sums);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    if (with_sums) {
        wsum[0] = s0;
        wsum[1] = s1;
        wsum[2] = s2;
        wsum[3] = s3;
    }
}

static QNNC_LOOP_ATTR void qnnc_fc_dot4_mve(const int8_t *x, int32_t K, const int8_t *w, int32_t wstride,
                                               int32_t *acc, int32_t *wsum)
{
    qnnc_fc_dot4_body(x, K, w, wstride, acc, wsum, 1);
}

static QNNC_LOOP_ATTR void qnnc_fc_dot4_nosum_mve(const int8_t *x, int32_t K, const int8_t *w,
                                                     int32_t wstride, int32_t *acc)
{
    qnnc_fc_dot4_body(x, K, w, wstride, acc, NULL, 0);
}

QNNC_PATH_ATTR void qnnc_fc_mve_s8(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                                   int32_t in_features, const int8_t *input, int32_t out_features,
                                   const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const int32_t K = in_features;
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    const int32x4_t lo = vdupq_n_s32(params->act_min - output_offset);
    const int32x4_t hi = vdupq_n_s32(params->act_max - output_offset);
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t min_right = vdupq_n_s32(-31);
    const int8_t *act_lut = params->act_lut;
    const int32_t *sums = params->kernel_sums; /* NULL: summed here */
    int32_t r, o, i;
    for (r = 0; r < rows; ++r) {
        const int8_t *x = input + r * K;
        for (o = 0; o < out_features; o += 4) {
            const int32_t n = out_features - o < 4 ? out_features - o : 4;
            const mve_pred16_t p = vctp32q((uint32_t)n);
            int32_t acc[4], wsum[4];
            int32x4_t v, ws, shift;
            if (sums != NULL) {
                if (n == 4) {
                    qnnc_fc_dot4_nosum_mve(x, K, weights + o * K, K, acc);
                } else {
                    for (i = 0; i < n; ++i) { /* the last 1..3 rows one at a time */
                        int32_t a1[4];
                        qnnc_fc_dot4_nosum_mve(x, K, weights + (o + i) * K, 0, a1);
                        acc[i] = a1[0];
                    }
                }
                ws = vldrwq_z_s32(sums + o, p);
            } else {
                if (n == 4) {
                    qnnc_fc_dot4_mve(x, K, weights + o * K, K, acc, wsum);
                } else {
                    for (i = 0; i < n; ++i) {
                        int32_t a1[4], s1[4];
                        qnnc_fc_dot4_mve(x, K, weights + (o + i) * K, 0, a1, s1);
                        acc[i] = a1[0];
                        wsum[i] = s1[0];
                    }
                }
                ws = vldrwq_z_s32(wsum, p);
            }
            /* acc + bias + input_offset * sum(w), then the exact vector requantization */
            v = vmlaq_n_s32(vldrwq_z_s32(acc, p), ws, input_offset);
            if (bias != NULL) {
                v = vaddq_s32(v, vldrwq_z_s32(bias + o, p));
            }
            shift = vldrwq_z_s32(quant->shift + o, p);
            v = vqrdmulhq_s32(vqshlq_s32(v, vmaxq_s32(shift, zero)), vldrwq_z_s32(quant->multiplier + o, p));
            shift = vmaxq_s32(vminq_s32(shift, zero), min_right); /* minus the right shift */
            v = qnnc_mve_clamp_offset(qnnc_mve_round_shift(v, shift), lo, hi, output_offset);
            vstrbq_p_s32(output + o, v, p);
        }
        if (act_lut != NULL) {
            for (i = 0; i < out_features; ++i) {
                output[i] = act_lut[output[i] + 128];
            }
        }
        output += out_features;
    }
}
#endif /* QNNC_PATH_MVE */
