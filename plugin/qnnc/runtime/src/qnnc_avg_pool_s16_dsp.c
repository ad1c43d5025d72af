/*
 * qnnc_avg_pool_s16_dsp.c - the DSP path of qnnc_avg_pool_s16 (__ARM_FEATURE_DSP and SIMD32:
 * Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_avg_pool_s16.c).
 *
 * Four channels a pass, two per word: per tap two word loads and four adds (SXTAH for the low
 * halves, ADD with ASR #16 for the high ones), ~1.5 instructions per input value instead of ~6
 * for the portable loops' per-channel tap walk; the last C % 4 channels one by one. The sums are
 * the portable path's (int32, exact for windows of at most 65535 taps, which the dispatch
 * checks); each output's mean or requantization is qnnc_avg_pool_mean, as in the portable path.
 */
#include "qnnc_s16_internal.h"

#if QNNC_PATH_DSP
void qnnc_avg_pool_dsp_s16(const qnnc_pool_params *params, const qnnc_dims *input_dims, const int16_t *input,
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
                for (c = 0; c < C; c += 4) {
                    int32_t s[4] = {0, 0, 0, 0};
                    const int32_t n = C - c < 4 ? C - c : 4;
                    for (kh = kh0; kh < kh1 && kw0 < kw1; ++kh) {
                        const int16_t *px = in_b + ((ih0 + kh) * in_w + iw0 + kw0) * C + c;
                        if (n == 4) {
                            int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
                            for (kw = kw0; kw < kw1; ++kw) {
                                uint32_t v01, v23;
                                memcpy(&v01, px, 4u); /* channels c, c + 1 (LDR: unaligned is fine) */
                                memcpy(&v23, px + 2, 4u);
                                s0 += (int16_t)(uint16_t)(v01 & 0xFFFFu); /* SXTAH */
                                s1 += (int32_t)v01 >> 16;                 /* ADD .., ASR #16 */
                                s2 += (int16_t)(uint16_t)(v23 & 0xFFFFu);
                                s3 += (int32_t)v23 >> 16;
                                px += C;
                            }
                            s[0] = s0;
                            s[1] = s1;
                            s[2] = s2;
                            s[3] = s3;
                            continue;
                        }
                        for (kw = kw0; kw < kw1; ++kw) {
                            for (j = 0; j < n; ++j) {
                                s[j] += px[j];
                            }
                            px += C;
                        }
                    }
                    for (j = 0; j < n; ++j) {
                        *output++ = qnnc_clamp_s16(qnnc_avg_pool_mean(params, pad_sum + s[j], count),
                                                   params->act_min, params->act_max);
                    }
                }
            }
        }
    }
}
#endif /* QNNC_PATH_DSP */
