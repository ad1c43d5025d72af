/*
 * qnnc_avg_pool_s16_mve.c - the Helium path of qnnc_avg_pool_s16 (__ARM_FEATURE_MVE: Cortex-M55/M85;
 * compiled to nothing elsewhere; the entry point and dispatch are in qnnc_avg_pool_s16.c).
 *
 * Eight channels a pass, their window sums in two int32 vectors (VLDRH.S32 widens four int16
 * channels of a tap, VADD; the last channels predicated): ~0.75 instructions per input value
 * instead of ~6 for the portable loops, whose per-channel tap walk has no SIMD. The sums are
 * the portable path's (int32, exact for windows of at most 65535 taps, which the dispatch
 * checks); each output's mean or requantization is qnnc_avg_pool_mean, as in the portable path.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_MVE
void qnnc_avg_pool_mve_s16(const qnnc_pool_params *params, const qnnc_dims *input_dims, const int16_t *input,
                           const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t C = output_dims->c, in_h = input_dims->h, in_w = input_dims->w;
    int32_t b, oh, ow, kh, kw, c, j;
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * C;
        for (oh = 0; oh < output_dims->h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            for (ow = 0; ow < output_dims->w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kh0, kh1, kw0, kw1, pad_sum;
                const int32_t count = qnnc_avg_pool_window(params, input_dims, ih0, iw0, &kh0, &kh1, &kw0, &kw1,
                                                           &pad_sum);
                if (count == 0) { /* no valid cell and padding not counted */
                    for (c = 0; c < C; ++c) {
                        *output++ = qnnc_clamp_s16(params->pad_value, params->act_min, params->act_max);
                    }
                    continue;
                }
                for (c = 0; c < C; c += 8) {
                    const int32_t n = C - c < 8 ? C - c : 8;
                    const mve_pred16_t p0 = vctp32q((uint32_t)n), p1 = vctp32q((uint32_t)(n > 4 ? n - 4 : 0));
                    const int32_t hi = n > 4 ? 4 : 0; /* the second four channels (none: the same address, no lane read) */
                    int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
                    int32_t sums[8];
                    for (kh = kh0; kh < kh1 && kw0 < kw1; ++kh) {
                        const int16_t *px = in_b + ((ih0 + kh) * in_w + iw0 + kw0) * C + c;
                        for (kw = kw0; kw < kw1; ++kw) {
                            s0 = vaddq_s32(s0, vldrhq_z_s32(px, p0));
                            s1 = vaddq_s32(s1, vldrhq_z_s32(px + hi, p1));
                            px += C;
                        }
                    }
                    vstrwq_s32(sums, s0);
                    vstrwq_s32(sums + 4, s1);
                    for (j = 0; j < n; ++j) {
                        *output++ = qnnc_clamp_s16(qnnc_avg_pool_mean(params, pad_sum + sums[j], count),
                                                   params->act_min, params->act_max);
                    }
                }
            }
        }
    }
}
#endif /* QNNC_PATH_MVE */
