/*
 * qnnc_depthwise_conv_s4_dsp.c - the Armv7E-M DSP path of qnnc_depthwise_conv_s4
 * (__ARM_FEATURE_DSP without Helium: Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry
 * point and dispatch are in qnnc_depthwise_conv_s4.c).
 *
 * No working memory. Depth multiplier 1 and an even channel count (so every tap's weights of a
 * channel group start at an even nibble); the caller runs the portable path otherwise. Per
 * output pixel, four channels at a time: one word of inputs gives (x0, x2) and (x1, x3) plus the
 * offset (SXTAB16), one halfword H of weights gives T = H | H << 8, whose (T << 4) & 0xF0F0F0F0
 * and T & 0xF0F0F0F0 hold nibbles 0, 2 and 1, 3 in the high halves of bytes 0 and 2: SXTB16 makes
 * them 16 * (w0, w2), 16 * (w1, w3), and SMLABB / SMLATT accumulate each channel's
 * 16 * w * (x + offset) (the sum divided by 16 is exact). The last in_c % 4 channels are scalar.
 */
#include "qnnc_internal.h"

#if QNNC_PATH_DSP
/* 16 * the sums of 4 channels over nh x nw taps: x points at the first tap's input (channel
 * c), w at its weights (byte); st: bytes between window rows, columns, weight rows, columns. */
static QNNC_LOOP_ATTR void qnnc_dw4_s4_dsp(const int8_t *x, const int8_t *w, int32_t nh, int32_t nw,
                                           const int32_t *st, int32_t off2, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, kh, kw;
    for (kh = 0; kh < nh; ++kh) {
        const int8_t *xp = x + kh * st[0];
        const int8_t *wp = w + kh * st[2];
        for (kw = 0; kw < nw; ++kw) {
            const uint32_t xv = qnnc_dsp_rd32(xp);
            const int32_t ev = __sxtab16(off2, (int32_t)xv), od = qnnc_dsp_sxtab16_ror8(off2, xv);
            uint16_t h;
            uint32_t t;
            memcpy(&h, wp, 2u);
            t = (uint32_t)h | ((uint32_t)h << 8);
            {
                const int32_t we = __sxtb16((int32_t)((t << 4) & 0xF0F0F0F0u)),
                              wo = __sxtb16((int32_t)(t & 0xF0F0F0F0u));
                a0 = __smlabb(ev, we, a0);
                a2 = __smlatt(ev, we, a2);
                a1 = __smlabb(od, wo, a1);
                a3 = __smlatt(od, wo, a3);
            }
            xp += st[1];
            wp += st[3];
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

int qnnc_dw_dsp_s4(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                   const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                   const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                   const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t off = params->input_offset, output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset, hi = params->act_max - output_offset;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t c4 = in_c & ~3, off2 = qnnc_dsp_pack2(off);
    int32_t b, oh, ow, c, kh, kw;
    (void)scratch; /* the int4 paths need no working memory */
    if (params->depth_multiplier != 1 || (out_c & 1) != 0 || c4 == 0 || k_h * k_w > 4096) {
        return 0;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh0, kh1, st[4];
            qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
            st[0] = dil_h * in_w * in_c; /* bytes between window rows, columns; weight rows, columns */
            st[1] = dil_w * in_c;
            st[2] = k_w * out_c / 2;
            st[3] = out_c / 2;
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw0, kw1;
                /* the input index of the window's first in-range tap (pixel (0, 0) may lie
                 * outside the input: no pointer to it is formed) */
                int32_t first;
                qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
                first = (ih0 + kh0 * dil_h) * in_w * in_c + (iw0 + kw0 * dil_w) * in_c;
                for (c = 0; c < c4; c += 4) {
                    int32_t acc[4] = {0, 0, 0, 0}, j;
                    if (kh1 > kh0 && kw1 > kw0) {
                        qnnc_dw4_s4_dsp(in_b + first + c, filter + kh0 * st[2] + kw0 * st[3] + c / 2, kh1 - kh0,
                                        kw1 - kw0, st, off2, acc);
                    }
                    for (j = 0; j < 4; ++j) {
                        const int32_t v = (acc[j] >> 4) + (bias != NULL ? bias[c + j] : 0);
                        output[c + j] = qnnc_s4_out_dsp(v, quant->multiplier[c + j], quant->shift[c + j], lo, hi,
                                                        output_offset, params->act_lut, params->rounding);
                    }
                }
                for (; c < in_c; ++c) { /* the last in_c % 4 channels */
                    int32_t acc = bias != NULL ? bias[c] : 0;
                    for (kh = kh0; kh < kh1; ++kh) {
                        for (kw = kw0; kw < kw1; ++kw) {
                            const int32_t x = in_b[(ih0 + kh * dil_h) * in_w * in_c + (iw0 + kw * dil_w) * in_c + c];
                            acc += qnnc_s4_weight(filter, (kh * k_w + kw) * out_c + c) * (x + off);
                        }
                    }
                    output[c] = qnnc_s4_out_dsp(acc, quant->multiplier[c], quant->shift[c], lo, hi, output_offset,
                                                params->act_lut, params->rounding);
                }
                output += out_c;
            }
        }
    }
    return 1;
}
#endif /* QNNC_PATH_DSP */
