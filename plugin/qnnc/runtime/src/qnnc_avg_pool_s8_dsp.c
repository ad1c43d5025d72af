/*
 * qnnc_avg_pool_s8_dsp.c - the DSP path of qnnc_avg_pool_s8 (__ARM_FEATURE_DSP and SIMD32:
 * Cortex-M4/M7/M33 and the M55; compiled to nothing elsewhere; the entry point and dispatch are
 * in qnnc_avg_pool_s8.c).
 *
 * 4 channels per word, the window's taps summed in 16-bit lanes by SXTAB16 (exact while the
 * window has at most 256 taps: |sum| <= 256 * 128), for channel counts that are a multiple of
 * 4 (global average pools of the MLPerf models: 7.8 -> ~2.4 instructions per input byte on the
 * M4).
 */
#include "qnnc_internal.h"

#if QNNC_DSP_SIMD
/* The mean (rounded or requantized), clamped: the reference's output stage. fast: a pool with its
 * own output scale whose multiplier and shift qnnc_dsp_fast_ok accepts (the quantizer's: the sum
 * times about 1/count), requantized by qnnc_dsp_rq_fast (~8 instructions instead of ~60; exact:
 * windows of at most 256 taps keep |sum + count * input_offset| below 2^16). */
QNNC_INLINE int8_t qnnc_avg_pool_out(const qnnc_pool_params *params, int fast, int32_t sum, int32_t count,
                                     int32_t act_min, int32_t act_max)
{
    const int32_t v = fast ? qnnc_dsp_rq_fast(sum + count * params->input_offset, params->multiplier, -params->shift) +
                                 params->output_offset
                           : qnnc_avg_pool_mean(params, sum, count);
    return qnnc_clamp_s8(v, act_min, act_max);
}

void qnnc_avg_pool_dsp_s8(const qnnc_pool_params *params, const qnnc_dims *input_dims, const int8_t *input,
                          const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t C = output_dims->c, in_h = input_dims->h, in_w = input_dims->w;
    const int fast = params->multiplier != 0 && qnnc_dsp_fast_ok(params->multiplier, params->shift);
    int32_t b, oh, ow, kh, kw, c;
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * C;
        for (oh = 0; oh < output_dims->h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            for (ow = 0; ow < output_dims->w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kh0, kh1, kw0, kw1, pad_sum;
                const int32_t count = qnnc_avg_pool_window(params, input_dims, ih0, iw0, &kh0, &kh1, &kw0, &kw1,
                                                           &pad_sum);
                if (count == 0) { /* no valid cell and padding not counted */
                    for (c = 0; c < C; ++c) {
                        *output++ = qnnc_clamp_s8(params->pad_value, params->act_min, params->act_max);
                    }
                    continue;
                }
                for (c = 0; c < C; c += 4) {
                    int32_t s02 = 0, s13 = 0; /* int16 lanes: channels (c, c+2), (c+1, c+3) */
                    for (kh = kh0; kh < kh1 && kw0 < kw1; ++kh) {
                        const int8_t *px = in_b + ((ih0 + kh) * in_w + iw0 + kw0) * C + c;
                        for (kw = kw0; kw < kw1; ++kw) {
                            const uint32_t v = qnnc_dsp_rd32(px);
                            s02 = __sxtab16(s02, (int32_t)v);
                            s13 = qnnc_dsp_sxtab16_ror8(s13, v);
                            px += C;
                        }
                    }
                    {
                        /* all four before the first store (an int8 store may alias *params) */
                        const int32_t lo = params->act_min, hi = params->act_max;
                        const int32_t sum0 = pad_sum + (int16_t)(uint16_t)((uint32_t)s02 & 0xFFFFu);
                        const int32_t sum1 = pad_sum + (int16_t)(uint16_t)((uint32_t)s13 & 0xFFFFu);
                        const int8_t o0 = qnnc_avg_pool_out(params, fast, sum0, count, lo, hi);
                        const int8_t o1 = qnnc_avg_pool_out(params, fast, sum1, count, lo, hi);
                        const int8_t o2 = qnnc_avg_pool_out(params, fast, pad_sum + (s02 >> 16), count, lo, hi);
                        const int8_t o3 = qnnc_avg_pool_out(params, fast, pad_sum + (s13 >> 16), count, lo, hi);
                        output[0] = o0;
                        output[1] = o1;
                        output[2] = o2;
                        output[3] = o3;
                    }
                    output += 4;
                }
            }
        }
    }
}
#endif /* QNNC_DSP_SIMD */
