/*
 * qnnc_conv_transpose_s16 - transposed convolution (ONNX ConvTranspose, any groups) with int16
 * activations and int8 weights (16x8 scheme), NHWC, in gather form as qnnc_conv_general_s8.
 * Reference: qnnc/reference/kernels_s16_conv_general.py:conv_transpose_s16.
 *
 * The filter is OHWI per group (n=out_ch, h=kh, w=kw, c=in_ch/groups), so the requantization is
 * per output channel (qnnc_output_s16 on the int64 accumulator, TFLite's 16-bit reduced
 * multiplier). Portable C99, no working memory: the taps of each axis that read an input
 * position form an arithmetic progression computed per output row / column.
 */
#include "qnnc_internal.h"

/* The taps k = first, first + step, ... < last of one axis that read an input position, the
 * input position of tap `first` (pos) and its change per step (delta). */
typedef struct {
    int32_t first, last, step, pos, delta;
} qnnc_tconv_taps;

static int32_t qnnc_tconv_gcd(int32_t a, int32_t b)
{
    while (b != 0) {
        const int32_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* Tap k of output o reads input (o + pad - k*dilation) / stride where that is an exact quotient
 * in [0, size): k <= (o + pad) / dilation, k >= (o + pad - (size-1)*stride) / dilation rounded
 * up, and k in one residue class modulo stride / gcd(dilation, stride) (as qnnc_conv_general_s8). */
static void qnnc_tconv_taps_of(int32_t o, int32_t stride, int32_t pad, int32_t size, int32_t kernel,
                               int32_t dilation, qnnc_tconv_taps *t)
{
    const int32_t t0 = o + pad; /* >= 0 */
    const int32_t over = t0 - (size - 1) * stride;
    const int32_t kmin = over <= 0 ? 0 : (over + dilation - 1) / dilation;
    int32_t last = t0 / dilation + 1;
    int32_t k;
    last = last < kernel ? last : kernel;
    t->step = stride / qnnc_tconv_gcd(dilation, stride);
    t->first = last;
    for (k = kmin; k < last && k < kmin + stride; ++k) {
        if ((t0 - k * dilation) % stride == 0) {
            t->first = k;
            break;
        }
    }
    t->last = last > t->first ? last : t->first;
    t->pos = (t0 - t->first * dilation) / stride;
    t->delta = -(t->step * dilation) / stride;
}

void qnnc_conv_transpose_s16(const qnnc_conv_general_params *params, const qnnc_per_channel_quant *quant,
                             const qnnc_dims *input_dims, const int16_t *input,
                             const qnnc_dims *filter_dims, const int8_t *filter,
                             const int64_t *bias,
                             const qnnc_dims *output_dims, int16_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, icg = filter_dims->c;
    const int32_t groups = params->groups > 0 ? params->groups : 1;
    const int32_t ocg = out_c / groups;
    int32_t b, oh, ow, oc;

    if (ocg <= 0) {
        return;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int16_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            qnnc_tconv_taps th;
            qnnc_tconv_taps_of(oh, params->stride_h, params->pad_top, in_h, k_h, params->dilation_h, &th);
            for (ow = 0; ow < out_w; ++ow) {
                qnnc_tconv_taps tw;
                qnnc_tconv_taps_of(ow, params->stride_w, params->pad_left, in_w, k_w, params->dilation_w, &tw);
                for (oc = 0; oc < out_c; ++oc) {
                    const int32_t ic0 = (oc / ocg) * icg;
                    const int8_t *w_oc = filter + oc * k_h * k_w * icg;
                    int64_t acc = bias != NULL ? bias[oc] : 0;
                    int32_t kh, ih, kw, iw;
                    for (kh = th.first, ih = th.pos; kh < th.last; kh += th.step, ih += th.delta) {
                        const int16_t *in_row = in_b + ih * in_w * in_c + ic0;
                        const int8_t *w_row = w_oc + kh * k_w * icg;
                        for (kw = tw.first, iw = tw.pos; kw < tw.last; kw += tw.step, iw += tw.delta) {
                            /* one tap: int32 partial sums, widened (qnnc_dot_s16_s8) */
                            acc += qnnc_dot_s16_s8(in_row + iw * in_c, w_row + kw * icg, icg,
                                                   params->input_offset);
                        }
                    }
                    output[oc] = qnnc_output_s16(acc, quant->multiplier[oc], quant->shift[oc], params->output_offset,
                                                 params->act_min, params->act_max);
                }
                output += out_c;
            }
        }
    }
}
