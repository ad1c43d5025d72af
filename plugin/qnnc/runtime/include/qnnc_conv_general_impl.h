/*
 * qnnc_conv_general_impl.h - the body of qnnc_conv_general_s8 (grouped or transposed) and
 * qnnc_conv_general_s16, written once for both activation types: NHWC, filter OHWI per group
 * (n=out_ch, h=kh, w=kw, c=in_ch/groups), per-output-channel requantization. Portable C99, no
 * working memory: the taps of each axis that read an input position form an arithmetic
 * progression computed per output row / column.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (activation type), QNNC_ACC_T
 * and QNNC_BIAS_T (accumulator and bias types), QNNC_TRANSPOSED(params) (nonzero: transposed
 * convolution), QNNC_TAP(acc, x, w, n, input_offset) (a statement adding the sum over k < n of
 * w[k] * (x[k] + input_offset) to acc: a statement rather than a function returning the sum
 * keeps the int8 loop accumulating in acc), QNNC_OUT(acc, mult, shift, lo, hi, output_offset,
 * params) (the output value of an accumulator with its channel's requantization; lo and hi are
 * the activation bounds minus output_offset, computed once here) and QNNC_FN (the function
 * name), then includes this file, which defines the function and undefines them.
 */

/* The taps k = first, first + step, ... < last of one axis that read an input position, and the
 * position of tap `first` (pos) and its change per step (delta). */
typedef struct {
    int32_t first, last, step, pos, delta;
} qnnc_axis_taps;

static int32_t qnnc_gcd(int32_t a, int32_t b)
{
    while (b != 0) {
        const int32_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* Convolution: tap k of output o reads o*stride - pad + k*dilation (inside [0, size)).
 * Transposed: tap k of output o reads (o + pad - k*dilation) / stride where that is an exact
 * quotient in [0, size): k <= (o + pad) / dilation, k >= (o + pad - (size-1)*stride) / dilation
 * rounded up, and k in one residue class modulo stride / gcd(dilation, stride). */
static void qnnc_axis_taps_of(int32_t o, int32_t transposed, int32_t stride, int32_t pad, int32_t size,
                              int32_t kernel, int32_t dilation, qnnc_axis_taps *t)
{
    if (!transposed) {
        const int32_t i0 = o * stride - pad;
        qnnc_tap_range(i0, size, kernel, dilation, &t->first, &t->last);
        t->step = 1;
        t->pos = i0 + t->first * dilation;
        t->delta = dilation;
    } else {
        const int32_t t0 = o + pad; /* >= 0 */
        const int32_t over = t0 - (size - 1) * stride;
        const int32_t kmin = over <= 0 ? 0 : (over + dilation - 1) / dilation;
        int32_t last = t0 / dilation + 1;
        int32_t k;
        last = last < kernel ? last : kernel;
        t->step = stride / qnnc_gcd(dilation, stride);
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
}

void QNNC_FN(const qnnc_conv_general_params *params, const qnnc_per_channel_quant *quant,
             const qnnc_dims *input_dims, const QNNC_T *input,
             const qnnc_dims *filter_dims, const int8_t *filter,
             const QNNC_BIAS_T *bias,
             const qnnc_dims *output_dims, QNNC_T *output)
{
    const int32_t batches = output_dims->n;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, icg = filter_dims->c;
    const int32_t groups = params->groups > 0 ? params->groups : 1;
    const int32_t ocg = out_c / groups;
    const int32_t transposed = QNNC_TRANSPOSED(params);
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset) == clamp(v, min - offset, max - offset) + offset (no overflow). */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    int32_t b, oh, ow, oc;

    if (ocg <= 0) {
        return;
    }
    for (b = 0; b < batches; ++b) {
        const QNNC_T *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            qnnc_axis_taps th;
            qnnc_axis_taps_of(oh, transposed, params->stride_h, params->pad_top, in_h, k_h, params->dilation_h, &th);
            for (ow = 0; ow < out_w; ++ow) {
                qnnc_axis_taps tw;
                qnnc_axis_taps_of(ow, transposed, params->stride_w, params->pad_left, in_w, k_w, params->dilation_w,
                                  &tw);
                for (oc = 0; oc < out_c; ++oc) {
                    const int32_t ic0 = (oc / ocg) * icg;
                    const int8_t *w_oc = filter + oc * k_h * k_w * icg;
                    QNNC_ACC_T acc = bias != NULL ? bias[oc] : 0;
                    int32_t kh, ih, kw, iw;
                    for (kh = th.first, ih = th.pos; kh < th.last; kh += th.step, ih += th.delta) {
                        const QNNC_T *in_row = in_b + ih * in_w * in_c + ic0;
                        const int8_t *w_row = w_oc + kh * k_w * icg;
                        for (kw = tw.first, iw = tw.pos; kw < tw.last; kw += tw.step, iw += tw.delta) {
                            QNNC_TAP(acc, in_row + iw * in_c, w_row + kw * icg, icg, input_offset);
                        }
                    }
                    output[oc] = QNNC_OUT(acc, quant->multiplier[oc], quant->shift[oc], lo, hi, output_offset, params);
                }
                output += out_c;
            }
        }
    }
}

#undef QNNC_T
#undef QNNC_ACC_T
#undef QNNC_BIAS_T
#undef QNNC_TRANSPOSED
#undef QNNC_TAP
#undef QNNC_OUT
#undef QNNC_FN
