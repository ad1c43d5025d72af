/*
 * qnnc_s16_internal.h - what the int16-activation (16x8) kernel sources share beyond
 * qnnc_internal.h: the output stage of their DSP and Helium paths (the same values as
 * qnnc_output_s16) and the internal functions the portable files dispatch to.
 */
#ifndef QNNC_S16_INTERNAL_H
#define QNNC_S16_INTERNAL_H

#include "qnnc_internal.h"

/** The 16-bit multiplier qnnc_output_s16_fast rounds a channel's multiplier to. */
QNNC_INLINE int32_t qnnc_s16_reduced(int32_t mult)
{
    return mult < 0x7FFF0000 ? (mult + (1 << 15)) >> 16 : 0x7FFF;
}

/** The 32-bit branch of qnnc_output_s16_fast (an int32 sum, shift <= -2): u = the product by the
 *  16-bit multiplier r, shifted by k = min(-2 - shift, 31), before the final rounding. acc =
 *  A * 2^16 + B (|A| <= 2^15, 0 <= B < 2^16), so A * r and B * r fit int32 and
 *  u = (A * r + ((B * r - neg) >> 16)) >> (t - 1 - 16) (t - 1 >= 16; shifts past 31 give the same
 *  floor, |sum| < 2^31); neg is the sign of acc * r (set or not for a zero product: both give 0). */
QNNC_INLINE int32_t qnnc_s16_scale32(int32_t acc, int32_t r, int32_t k)
{
    const int32_t neg = (int32_t)(((uint32_t)acc ^ (uint32_t)r) >> 31);
    const int32_t c = (acc >> 16) * r + (((acc & 0xFFFF) * r - neg) >> 16);
    return c >> k;
}

/** qnnc_output_s16 (the same value) in fewer instructions, for the SIMD paths of the 16x8
 *  kernels, when |output_offset| <= 2^29 (the paths check it). Rounding half away from zero by
 *  2^t (t = 15 - shift >= 1) is floor((prod + 2^(t-1) - (prod < 0)) / 2^t) = floor((u + 1) / 2)
 *  with u = (prod - (prod < 0)) >> (t - 1): no magnitude, no negation. u saturates to int32:
 *  a saturated u gives |q| >= 2^30, which clamps as the exact q does (|offset| <= 2^29), so the
 *  offset and the clamp are 32-bit. */
QNNC_INLINE int16_t qnnc_output_s16_fast(int64_t acc, int32_t mult, int32_t shift, int32_t output_offset,
                                         int32_t act_min, int32_t act_max)
{
    const int32_t reduced = qnnc_s16_reduced(mult);
    const int32_t a32 = (int32_t)acc; /* GCC: modulo 2^32; used when equal to acc */
    int32_t u32, v;
    if ((int64_t)a32 == acc && shift <= -2) { /* 32-bit only (qnnc_s16_scale32) */
        u32 = qnnc_s16_scale32(a32, reduced, -2 - shift < 31 ? -2 - shift : 31);
    } else {
        const int64_t prod = acc * reduced;
        const int64_t u = (prod - (prod < 0 ? 1 : 0)) >> (14 - shift);
        u32 = u > INT32_MAX ? INT32_MAX : u < INT32_MIN ? INT32_MIN : (int32_t)u;
    }
    v = (u32 >> 1) + (u32 & 1) + output_offset;
    return (int16_t)(v < act_min ? act_min : (v > act_max ? act_max : v));
}

#if QNNC_PATH_DSP
/** qnnc_output_s16_fast of an int32 sum for shift <= -2, with r = qnnc_s16_reduced(mult) and
 *  k = min(-2 - shift, 31) prepared once per channel, and the clamp after an SSAT to int16 (the
 *  activation bounds lie inside it). */
QNNC_INLINE int16_t qnnc_dsp_output_s16_rk(int32_t acc, int32_t r, int32_t k, int32_t off, int32_t lo, int32_t hi)
{
    const int32_t u = qnnc_s16_scale32(acc, r, k);
    int32_t v = qnnc_dsp_ssat16((u >> 1) + (u & 1) + off);
    v = v < lo ? lo : v;
    return (int16_t)(v > hi ? hi : v);
}
#endif

/** The K = kh * kw * in_c taps of the window at (ih0, iw0) of an int16 NHWC input in natural
 *  order: in place when they are one run of the input (1x1, or a 1xK row inside it), else copied
 *  into win with zeros for padding taps (the 16x8 SIMD paths run with input offset 0). */
QNNC_INLINE const int16_t *qnnc_s16_window(const qnnc_conv_params *params, const int16_t *in_b,
                                           const qnnc_dims *input_dims, const qnnc_dims *filter_dims, int32_t ih0,
                                           int32_t iw0, int16_t *win)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, dil_h = params->dilation_h, dil_w = params->dilation_w;
    int32_t kh0, kh1, kw0, kw1, kh, kw;
    qnnc_tap_range(ih0, in_h, k_h, dil_h, &kh0, &kh1);
    qnnc_tap_range(iw0, in_w, k_w, dil_w, &kw0, &kw1);
    if (kh0 == 0 && kh1 == k_h && kw0 == 0 && kw1 == k_w && k_h == 1 && (k_w == 1 || dil_w == 1)) {
        return in_b + (ih0 * in_w + iw0) * in_c;
    }
    if (kh0 != 0 || kh1 != k_h || kw0 != 0 || kw1 != k_w) {
        memset(win, 0, (size_t)(k_h * k_w * in_c) * sizeof(int16_t));
    }
    for (kh = kh0; kh < kh1; ++kh) {
        const int16_t *row = in_b + (ih0 + kh * dil_h) * in_w * in_c;
        if (dil_w == 1) { /* the row's valid taps are one run */
            memcpy(win + (kh * k_w + kw0) * in_c, row + (iw0 + kw0) * in_c,
                   (size_t)((kw1 - kw0) * in_c) * sizeof(int16_t));
            continue;
        }
        for (kw = kw0; kw < kw1; ++kw) {
            memcpy(win + (kh * k_w + kw) * in_c, row + (iw0 + kw * dil_w) * in_c, (size_t)in_c * sizeof(int16_t));
        }
    }
    return win;
}

/** The output offsets qnnc_output_s16_fast and qnnc_mve_output_s16_vec take (the quantizer's is 0). */
#define QNNC_S16_FAST_OFFSET_OK(off) ((off) >= -(1 << 20) && (off) <= (1 << 20))

/** 1 when every sum of n products of int16 by int8 (each at most 2^22 in magnitude) plus any
 *  bias of the channels fits int32: n <= 511 and every |bias| <= 2^31 - 1 - n * 2^22 (or there
 *  is none). The SIMD paths then keep the whole accumulation in int32. */
QNNC_INLINE int qnnc_s16_sums_fit(const int64_t *bias, int32_t channels, int32_t n)
{
    int64_t room;
    int32_t i;
    if (n > 511) {
        return 0;
    }
    room = (int64_t)INT32_MAX - ((int64_t)n << 22);
    for (i = 0; bias != NULL && i < channels; ++i) {
        if (bias[i] < -room || bias[i] > room) {
            return 0;
        }
    }
    return 1;
}

/** The int32 bias of channel c (0 without biases), for layers qnnc_s16_sums_fit takes. */
QNNC_INLINE int32_t qnnc_s16_bias32(const int64_t *bias, int32_t c)
{
    return bias != NULL ? (int32_t)bias[c] : 0;
}

#if QNNC_PATH_MVE
/** The rounding of qnnc_output_s16 of four int32 accumulators (channel multipliers and shifts in
 *  lanes, every shift <= 13), before the output offset and the clamp. With t = 15 - shift, r the
 *  16-bit multiplier, acc = A * 2^16 + B (|A| <= 2^15, 0 <= B < 2^16: A * r and B * r fit int32) and
 *  neg = prod < 0 (set or not when prod is 0: both give 0), the result is
 *  q = floor((prod - neg + 2^(t-1)) / 2^t) (qnnc_output_s16_fast). For t >= 17 that is the
 *  rounding shift (VRSHL, exact in any range) of C = A * r + ((B * r - neg) >> 16) by t - 16
 *  (at most 32: C is below 2^31 in magnitude, so any larger shift gives 0 too); for t <= 16 it
 *  is the rounding shift by 1 of A * r * 2^(16 - (t - 1)) + ((B * r - neg) >> (t - 1)),
 *  saturating: a saturated sum has |q| >= 2^29 and, the offset added (|offset| <= 2^20), clamps
 *  as the exact one. */
QNNC_INLINE int32x4_t qnnc_mve_requant_s16(int32x4_t acc, int32x4_t mult, int32x4_t shift)
{
    const int32x4_t r = vminq_s32(vshrq_n_s32(vqaddq_n_s32(mult, 1 << 15), 16), vdupq_n_s32(0x7FFF));
    const int32x4_t neg = vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(veorq_s32(acc, r)), 31));
    const int32x4_t a = vshrq_n_s32(acc, 16);
    const int32x4_t ar = vmulq_s32(a, r);
    const int32x4_t bm = vsubq_s32(vmulq_s32(vsubq_s32(acc, vshlq_n_s32(a, 16)), r), neg);
    const int32x4_t sh1 = vaddq_n_s32(shift, 1); /* 16 - t */
    const int32x4_t q_big = vrshlq_s32(vaddq_s32(ar, vshrq_n_s32(bm, 16)), vmaxq_s32(sh1, vdupq_n_s32(-32)));
    const int32x4_t q_small = vrshrq_n_s32(vqaddq_s32(vqshlq_s32(ar, vaddq_n_s32(sh1, 1)),
                                                      vshlq_s32(bm, vsubq_n_s32(shift, 14))), 1);
    return vpselq_s32(q_big, q_small, vcmpltq_n_s32(sh1, 0));
}

/** qnnc_mve_requant_s16 (the same value) in fewer instructions when shift <= -2 and mult >= 0 in
 *  every lane (qnnc_mve_s16_vec gives 2), with r16 = qnnc_mve_r16(mult) and rsh =
 *  qnnc_mve_rsh(shift) prepared once per four channels. With r >= 0 the 16-bit multiplier and
 *  t = 15 - shift >= 17, the reference's q = sign(acc) * floor((|acc| * r + 2^(t-1)) / 2^t) is
 *  sign(acc) * floor((floor(|acc| * r / 2^16) + 2^(t-17)) / 2^(t-16)): VMULH.U32 of |acc| (VABS,
 *  read unsigned: 2^31 for INT32_MIN) by r * 2^16 is the inner floor (below 2^30), VRSHL the
 *  rounding shift by t - 16 (up to 45: VRSHL rounds in full precision, so past 31 it gives 0 as
 *  the exact shift does; a lane with r = 0 gives 0 with any shift). The sign goes back as
 *  (m ^ s) - s (s = -1 for acc < 0), which GCC compiles better than a predicated VNEG. */
QNNC_INLINE int32x4_t qnnc_mve_requant_s16_hi(int32x4_t acc, int32x4_t r16, int32x4_t rsh)
{
    const uint32x4_t h = vmulhq_u32(vreinterpretq_u32_s32(vabsq_s32(acc)), vreinterpretq_u32_s32(r16));
    const int32x4_t m = vrshlq_s32(vreinterpretq_s32_u32(h), rsh);
    const int32x4_t neg = vshrq_n_s32(acc, 31); /* -1 where acc < 0 */
    return vsubq_s32(veorq_s32(m, neg), neg);   /* the sign back, without predicates */
}

/** r * 2^16 for qnnc_mve_requant_s16_hi (mult >= 0): mult + 2^15, saturated, with its low half
 *  cleared (qnnc_s16_reduced in the high half: at and above 0x7FFF0000 - 2^15 the sum has
 *  0x7FFF there, as the 0x7FFF cap gives), by shifts (no constant vector). */
QNNC_INLINE int32x4_t qnnc_mve_r16(int32x4_t mult)
{
    return vshlq_n_s32(vshrq_n_s32(vqaddq_n_s32(mult, 1 << 15), 16), 16);
}

/** The VRSHL amount of qnnc_mve_requant_s16_hi: -(t - 16) = shift + 1. */
QNNC_INLINE int32x4_t qnnc_mve_rsh(int32x4_t shift)
{
    return vaddq_n_s32(shift, 1);
}

/** How the SIMD paths requantize the n channels' int32 sums, decided once per layer: 2 when
 *  every multiplier >= 0 and every shift <= -2 or multiplier 0 (qnnc_mve_requant_s16_hi, what
 *  the quantizer produces for most layers: r = 0 gives 0 with any shift), 1 when every
 *  shift <= 13 (qnnc_mve_requant_s16), else 0 (scalar). */
QNNC_INLINE int qnnc_mve_s16_vec(const qnnc_per_channel_quant *quant, int32_t n)
{
    int vec = 2;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t m = quant->multiplier[i], s = quant->shift[i];
        if (s > 13) {
            return 0;
        }
        if (m < 0 || (s > -2 && m != 0)) {
            vec = 1;
        }
    }
    return vec;
}

/** The channel operands of qnnc_mve_requant_s16_vec from the multipliers and shifts: as they
 *  are (vec 1), or r * 2^16 and the rounding shift (vec 2). */
QNNC_INLINE void qnnc_mve_prep_s16(int vec, int32x4_t *mult, int32x4_t *shift)
{
    if (vec == 2) {
        *mult = qnnc_mve_r16(*mult);
        *shift = qnnc_mve_rsh(*shift);
    }
}

/* qnnc_mve_requant_s16 as one function per file: the layers the quantizer produces take the
 * short form, and the general one, inlined at every output stage, would cost flash for little. */
#if defined(__GNUC__)
static QNNC_UNUSED __attribute__((noinline)) int32x4_t qnnc_mve_requant_s16_call(int32x4_t acc, int32x4_t mult,
                                                                                int32x4_t shift)
#else
static QNNC_UNUSED int32x4_t qnnc_mve_requant_s16_call(int32x4_t acc, int32x4_t mult, int32x4_t shift)
#endif
{
    return qnnc_mve_requant_s16(acc, mult, shift);
}

/** qnnc_mve_requant_s16_hi (vec 2) or qnnc_mve_requant_s16 (vec 1) of operands from
 *  qnnc_mve_prep_s16. */
QNNC_INLINE int32x4_t qnnc_mve_requant_s16_vec(int vec, int32x4_t acc, int32x4_t m, int32x4_t s)
{
    return vec == 2 ? qnnc_mve_requant_s16_hi(acc, m, s) : qnnc_mve_requant_s16_call(acc, m, s);
}

/** qnnc_output_s16 of four int32 accumulators: qnnc_mve_requant_s16_vec, the output offset
 *  (|offset| <= 2^20) and the clamp. */
QNNC_INLINE int32x4_t qnnc_mve_output_s16_vec(int vec, int32x4_t acc, int32x4_t m, int32x4_t s,
                                              int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32x4_t q = vaddq_n_s32(qnnc_mve_requant_s16_vec(vec, acc, m, s), output_offset);
    return vminq_s32(vmaxq_s32(q, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

/** Biases c .. c + n - 1 (n <= 4, each within int32) as a vector, 0 in the other lanes. */
QNNC_INLINE int32x4_t qnnc_mve_bias4_s16(const int64_t *bias, int32_t c, int32_t n)
{
    int32_t b[4] = {0, 0, 0, 0};
    int32_t j;
    for (j = 0; bias != NULL && j < n; ++j) {
        b[j] = (int32_t)bias[c + j];
    }
    return vld1q_s32(b);
}

/** out[0 .. n) (n <= 4) from int64 accumulators of channels c .. c + n - 1: in one vector when
 *  they all fit int32 and vec (qnnc_mve_s16_vec) is set, else one by one. */
QNNC_INLINE void qnnc_mve_out4_s16(const int64_t *acc, int32_t n, int vec, const qnnc_per_channel_quant *quant,
                                   int32_t c, int32_t output_offset, int32_t act_min, int32_t act_max, int16_t *out)
{
    int32_t a[4];
    int32_t j;
    int fits = vec;
    for (j = 0; j < n; ++j) {
        a[j] = (int32_t)acc[j]; /* GCC: modulo 2^32; checked below */
        fits = fits && (int64_t)a[j] == acc[j];
    }
    if (fits) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        int32x4_t m = vldrwq_z_s32(quant->multiplier + c, p), s = vldrwq_z_s32(quant->shift + c, p);
        qnnc_mve_prep_s16(vec, &m, &s);
        vstrhq_p_s32(out, qnnc_mve_output_s16_vec(vec, vldrwq_z_s32(a, p), m, s, output_offset, act_min, act_max), p);
        return;
    }
    for (j = 0; j < n; ++j) {
        out[j] = qnnc_output_s16_fast(acc[j], quant->multiplier[c + j], quant->shift[c + j], output_offset, act_min,
                                      act_max);
    }
}
#endif

/* int16 activations (16x8): the SIMD paths of the _s16 kernels, arguments as for the public
 * function; 0 when the path does not take the layer (the caller runs the portable path). */
typedef int qnnc_conv16_path(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                             const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                             const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims,
                             int16_t *output);
qnnc_conv16_path qnnc_dw_dsp_s16, qnnc_dw_mve_s16;
/* The conv paths also take the kernel scratch (only the DSP one uses it). */
int qnnc_conv_dsp_s16(const qnnc_buffer *scratch, const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                      const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                      const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims, int16_t *output);
/** Average pooling, windows of at most 65535 taps (checked by the caller): the Helium and DSP
 *  paths of qnnc_avg_pool_s16. */
void qnnc_avg_pool_mve_s16(const qnnc_pool_params *params, const qnnc_dims *input_dims, const int16_t *input,
                           const qnnc_dims *output_dims, int16_t *output);
void qnnc_avg_pool_dsp_s16(const qnnc_pool_params *params, const qnnc_dims *input_dims, const int16_t *input,
                           const qnnc_dims *output_dims, int16_t *output);
int qnnc_conv_mve_s16(const qnnc_buffer *scratch, const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                      const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                      const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims, int16_t *output);
typedef int qnnc_fc16_path(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                           int32_t in_features, const int16_t *input, int32_t out_features,
                           const int8_t *weights, const int64_t *bias, int16_t *output);
qnnc_fc16_path qnnc_fc_dsp_s16, qnnc_fc_mve_s16;
/** The Helium path of qnnc_requantize_s8_s16 (arguments as for it). */
void qnnc_requantize_s8_s16_mve(const qnnc_rescale_params *params, int32_t size, const int8_t *input,
                                int16_t *output);
/** Same-shape int16 add, every shift <= 0 (checked by the caller). */
void qnnc_add_mve_s16(const qnnc_add_params *params, int32_t size, const int16_t *input1, const int16_t *input2,
                      int16_t *output);

#endif /* QNNC_S16_INTERNAL_H */
