/*
 * qnnc_s4_internal.h - the packed-int4 dot products (and, on Helium, the four-channel output
 * stage) shared by the DSP / Helium paths of qnnc_conv_s4 and qnnc_fully_connected_s4. Included by
 * the int4 kernels' files only; every function is static so that each kernel's files link on
 * their own (a model with int4 FC layers only does not need the conv sources). See
 * qnnc_conv_s4_dsp.c / qnnc_conv_s4_mve.c for the weight unpacking.
 */
#ifndef QNNC_S4_INTERNAL_H
#define QNNC_S4_INTERNAL_H

#include "qnnc_internal.h"

#if QNNC_PATH_DSP
/* Scratch of the DSP conv's two-pixel column path (0: not taken): QNNC_CONV_S4_DSP_BUFFER_SIZE
 * where the zero point fits int8 (it fills padding taps) and, for K % 8 != 0, the realigned
 * filter stays within QNNC_CONV_S4_REALIGN_MAX. */
static QNNC_UNUSED int32_t qnnc_conv_s4_cols_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                                  const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c, K8 = (K + 7) & ~7;
    if (K > QNNC_CONV_MAX_K || output_dims->c > QNNC_CONV_MAX_K || params->input_offset < -127 ||
        params->input_offset > 128 || (K != K8 && output_dims->c * (K8 / 2) > QNNC_CONV_S4_REALIGN_MAX)) {
        return 0;
    }
    return QNNC_CONV_S4_DSP_BUFFER_SIZE(K, input_dims->c, output_dims->c);
}


/* Eight inputs x[0..7] (plus the offset, off2 in both halves) times eight weights of each of two
 * channels (the words at p0, p1), 16 * the products added to *a0, *a1. */
QNNC_INLINE void qnnc_s4_step8_dsp(const int8_t *x, const int8_t *p0, const int8_t *p1, int32_t off2, int32_t *a0,
                                   int32_t *a1)
{
    const uint32_t x0 = qnnc_dsp_rd32(x), x1 = qnnc_dsp_rd32(x + 4);
    const int32_t e0 = __sxtab16(off2, (int32_t)x0), e1 = __sxtab16(off2, (int32_t)x1);
    const int32_t o0 = qnnc_dsp_sxtab16_ror8(off2, x0), o1 = qnnc_dsp_sxtab16_ror8(off2, x1);
    const int32_t x04 = qnnc_dsp_pkhbt((uint32_t)e0, (uint32_t)e1), x26 = qnnc_dsp_pkhtb((uint32_t)e0, (uint32_t)e1);
    const int32_t x15 = qnnc_dsp_pkhbt((uint32_t)o0, (uint32_t)o1), x37 = qnnc_dsp_pkhtb((uint32_t)o0, (uint32_t)o1);
    uint32_t w = qnnc_dsp_rd32(p0), lo = (w << 4) & 0xF0F0F0F0u, hi = w & 0xF0F0F0F0u;
    int32_t a = *a0;
    a = __smlad(__sxtb16((int32_t)lo), x04, a);
    a = __smlad(qnnc_dsp_sxtb16_ror8(lo), x26, a);
    a = __smlad(__sxtb16((int32_t)hi), x15, a);
    *a0 = __smlad(qnnc_dsp_sxtb16_ror8(hi), x37, a);
    w = qnnc_dsp_rd32(p1);
    lo = (w << 4) & 0xF0F0F0F0u;
    hi = w & 0xF0F0F0F0u;
    a = *a1;
    a = __smlad(__sxtb16((int32_t)lo), x04, a);
    a = __smlad(qnnc_dsp_sxtb16_ror8(lo), x26, a);
    a = __smlad(__sxtb16((int32_t)hi), x15, a);
    *a1 = __smlad(qnnc_dsp_sxtb16_ror8(hi), x37, a);
}

/* The 16 * sum over k < n of w(k) * (x[k] + off) for the weights of two channels, packed from
 * byte p0 and byte p1 (even nibbles), n a multiple of 8; off2 = off in both halves. */
static QNNC_LOOP_ATTR QNNC_UNUSED void qnnc_s4_dot2x8_dsp(const int8_t *x, const int8_t *p0, const int8_t *p1, int32_t n,
                                              int32_t off2, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1];
    const int8_t *end = x + n;
    while (x != end) {
        qnnc_s4_step8_dsp(x, p0, p1, off2, &a0, &a1);
        x += 8;
        p0 += 4;
        p1 += 4;
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* acc[c] += sum over k < n of weight (s[c] + k) * (x[k] + off) for c < two (1 or 2 channels). */
static QNNC_PATH_ATTR QNNC_UNUSED void qnnc_s4_dot_dsp(const int8_t *packed, const int32_t *s, int32_t two, const int8_t *x,
                                     int32_t n, int32_t off, int32_t *acc)
{
    int32_t c, k = 0;
    if (two == 2 && ((s[0] ^ s[1]) & 1) != 0) { /* the two runs' nibble phases differ */
        qnnc_s4_dot_dsp(packed, s, 1, x, n, off, acc);
        qnnc_s4_dot_dsp(packed, s + 1, 1, x, n, off, acc + 1);
        return;
    }
    if ((s[0] & 1) != 0 && n > 0) { /* start in a high nibble */
        for (c = 0; c < two; ++c) {
            acc[c] += qnnc_s4_weight(packed, s[c]) * ((int32_t)x[0] + off);
        }
        k = 1;
    }
    while (n - k >= 8) { /* chunks of at most 2^15 keep 16 * |sum| below 2^31 */
        int32_t a[2] = {0, 0};
        const int32_t m = n - k > 32768 ? 32768 : (n - k) & ~7;
        const int8_t *p0 = packed + ((s[0] + k) >> 1);
        /* one channel: the second stream repeats the first (same loads, result unused) */
        qnnc_s4_dot2x8_dsp(x + k, p0, two == 2 ? packed + ((s[1] + k) >> 1) : p0, m, qnnc_dsp_pack2(off), a);
        for (c = 0; c < two; ++c) {
            acc[c] += a[c] >> 4; /* exact: every term is a multiple of 16 */
        }
        k += m;
    }
    for (; k < n; ++k) {
        for (c = 0; c < two; ++c) {
            acc[c] += qnnc_s4_weight(packed, s[c] + k) * ((int32_t)x[k] + off);
        }
    }
}
#endif /* QNNC_PATH_DSP */

#if QNNC_PATH_MVE
/* Scratch of the Helium conv's column path (0: not taken): the weight sums (4 * out_c) and two
 * int8 columns of K rounded up to 32 (QNNC_CONV_S4_MVE_BUFFER_SIZE), for an even K (every
 * channel's weights start on a byte) and a zero point that fits int8. */
static QNNC_UNUSED int32_t qnnc_conv_s4_mve_cols_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                                      const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    if ((K & 1) != 0 || K > QNNC_CONV_MAX_K || output_dims->c > QNNC_CONV_MAX_K || params->input_offset < -127 ||
        params->input_offset > 128) {
        return 0;
    }
    return QNNC_CONV_S4_MVE_BUFFER_SIZE(K, output_dims->c);
}

/* The 16 weights of 8 packed bytes b (zero-extended to 16-bit lanes), in order. */
QNNC_INLINE int8x16_t qnnc_s4_unpack_mve(uint16x8_t b)
{
    return vshrq_n_s8(vreinterpretq_s8_u16(vsliq_n_u16(vshlq_n_u16(b, 4), b, 8)), 4);
}
QNNC_INLINE int8x16_t qnnc_s4_w16_mve(const uint8_t *p)
{
    return qnnc_s4_unpack_mve(vldrbq_u16(p));
}

/* The same, lanes past the predicate's bytes 0. */
QNNC_INLINE int8x16_t qnnc_s4_w16z_mve(const uint8_t *p, mve_pred16_t pr)
{
    return qnnc_s4_unpack_mve(vldrbq_z_u16(p, pr));
}

/* acc[c] += sum over k < n of w * (x[k] + off), for c < 4 channels whose weights start at byte
 * p + c * stride (even nibbles). */
static QNNC_LOOP_ATTR QNNC_UNUSED void qnnc_s4_dot4_mve(const int8_t *x, const uint8_t *p, int32_t stride, int32_t n,
                                            int32_t off, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int8x16_t w;
    for (; n >= 16; n -= 16) {
        const int8x16_t xv = vldrbq_s8(x);
        w = qnnc_s4_w16_mve(p);
        a0 = vmladavaq_s8(a0, w, xv);
        s0 = vaddvaq_s8(s0, w);
        w = qnnc_s4_w16_mve(p + stride);
        a1 = vmladavaq_s8(a1, w, xv);
        s1 = vaddvaq_s8(s1, w);
        w = qnnc_s4_w16_mve(p + 2 * stride);
        a2 = vmladavaq_s8(a2, w, xv);
        s2 = vaddvaq_s8(s2, w);
        w = qnnc_s4_w16_mve(p + 3 * stride);
        a3 = vmladavaq_s8(a3, w, xv);
        s3 = vaddvaq_s8(s3, w);
        x += 16;
        p += 8;
    }
    if (n > 0) {
        const mve_pred16_t p8 = vctp8q((uint32_t)n), p16 = vctp16q((uint32_t)(n + 1) >> 1);
        const int8x16_t xv = vldrbq_z_s8(x, p8);
        /* a last odd nibble's byte also holds the next weight: lanes >= n are masked */
        w = qnnc_s4_w16z_mve(p, p16);
        a0 = vmladavaq_p_s8(a0, w, xv, p8);
        s0 = vaddvaq_p_s8(s0, w, p8);
        w = qnnc_s4_w16z_mve(p + stride, p16);
        a1 = vmladavaq_p_s8(a1, w, xv, p8);
        s1 = vaddvaq_p_s8(s1, w, p8);
        w = qnnc_s4_w16z_mve(p + 2 * stride, p16);
        a2 = vmladavaq_p_s8(a2, w, xv, p8);
        s2 = vaddvaq_p_s8(s2, w, p8);
        w = qnnc_s4_w16z_mve(p + 3 * stride, p16);
        a3 = vmladavaq_p_s8(a3, w, xv, p8);
        s3 = vaddvaq_p_s8(s3, w, p8);
    }
    acc[0] += a0 + off * s0;
    acc[1] += a1 + off * s1;
    acc[2] += a2 + off * s2;
    acc[3] += a3 + off * s3;
}

/* The same for one channel. */
static QNNC_LOOP_ATTR QNNC_UNUSED void qnnc_s4_dot1_mve(const int8_t *x, const uint8_t *p, int32_t n, int32_t off,
                                            int32_t *acc)
{
    int32_t a = 0, s = 0;
    for (; n >= 16; n -= 16) {
        const int8x16_t w = qnnc_s4_w16_mve(p);
        a = vmladavaq_s8(a, w, vldrbq_s8(x));
        s = vaddvaq_s8(s, w);
        x += 16;
        p += 8;
    }
    if (n > 0) {
        const mve_pred16_t p8 = vctp8q((uint32_t)n);
        const int8x16_t w = qnnc_s4_w16z_mve(p, vctp16q((uint32_t)(n + 1) >> 1));
        a = vmladavaq_p_s8(a, w, vldrbq_z_s8(x, p8), p8);
        s = vaddvaq_p_s8(s, w, p8);
    }
    *acc += a + off * s;
}

/* acc[c] += sum over k < n of weight (s + c * stride + k) * (x[k] + off) for c < nch <= 4
 * channels (stride: nibbles between their weight rows). */
static QNNC_PATH_ATTR QNNC_UNUSED void qnnc_s4_dot_mve(const int8_t *packed, int32_t s, int32_t stride, int32_t nch, const int8_t *x,
                                     int32_t n, int32_t off, int32_t *acc)
{
    int32_t c;
    if (n <= 0) {
        return;
    }
    if (nch == 4 && (stride & 1) == 0) {
        if ((s & 1) != 0) { /* every channel starts in a high nibble */
            for (c = 0; c < 4; ++c) {
                acc[c] += qnnc_s4_weight(packed, s + c * stride) * ((int32_t)x[0] + off);
            }
            ++s;
            ++x;
            --n;
        }
        qnnc_s4_dot4_mve(x, (const uint8_t *)packed + (s >> 1), stride >> 1, n, off, acc);
        return;
    }
    for (c = 0; c < nch; ++c) {
        const int32_t sc = s + c * stride;
        const int32_t k = sc & 1;
        if (k != 0) {
            acc[c] += qnnc_s4_weight(packed, sc) * ((int32_t)x[0] + off);
        }
        qnnc_s4_dot1_mve(x + k, (const uint8_t *)packed + ((sc + k) >> 1), n - k, off, acc + c);
    }
}

/* Four (or the last nch < 4) outputs from their accumulators (inlined in the conv pixel loop;
 * qnnc_s4_out4_mve for the other files). */
QNNC_INLINE void qnnc_s4_out4_in(const int32_t *acc, int32_t oc, int32_t nch, const qnnc_per_channel_quant *quant,
                                 int32_t lo, int32_t hi, int32_t output_offset, const int8_t *act_lut,
                                  int32_t rounding, int8_t *out)
{
    if (rounding == QNNC_ROUND_TFLITE) {
        const mve_pred16_t pr = vctp32q((uint32_t)nch);
        const int32x4_t shift = vldrwq_z_s32(quant->shift + oc, pr);
        const int32x4_t left = vmaxq_s32(shift, vdupq_n_s32(0));
        const int32x4_t neg_right = vmaxq_s32(vminq_s32(shift, vdupq_n_s32(0)), vdupq_n_s32(-31));
        const int32x4_t v = qnnc_mve_requantize(vldrwq_z_s32(acc, pr), vldrwq_z_s32(quant->multiplier + oc, pr),
                                                left, neg_right);
        vstrbq_p_s32(out, qnnc_mve_clamp_offset(v, vdupq_n_s32(lo), vdupq_n_s32(hi), output_offset), pr);
        qnnc_apply_lut(act_lut, out, nch);
    } else {
        int32_t c;
        for (c = 0; c < nch; ++c) {
            out[c] = qnnc_output_s8(acc[c], quant->multiplier[oc + c], quant->shift[oc + c], lo, hi, output_offset,
                                    act_lut, rounding);
        }
    }
}

static QNNC_PATH_ATTR QNNC_UNUSED void qnnc_s4_out4_mve(const int32_t *acc, int32_t oc, int32_t nch, const qnnc_per_channel_quant *quant,
                                     int32_t lo, int32_t hi, int32_t output_offset, const int8_t *act_lut,
                                      int32_t rounding, int8_t *out)
{
    qnnc_s4_out4_in(acc, oc, nch, quant, lo, hi, output_offset, act_lut, rounding, out);
}
#endif /* QNNC_PATH_MVE */

#endif /* QNNC_S4_INTERNAL_H */
