/*
 * qnnc_conv_s8 - int8 convolution (group 1), NHWC input, OHWI filter.
 * Reference: qnnc/reference/kernels.py:conv_s8.
 *
 * Paths, chosen at compile time from the compiler's own macros:
 *   - Helium (__ARM_FEATURE_MVE, Cortex-M55/M85): per output pixel an int8 im2col column with
 *     padding taps holding the input zero point (so every tap contributes w * (x + offset) and
 *     the offset term folds into the bias: bias + offset * sum(w), computed once per layer),
 *     then VMLADAVA dot products of 16 int8 lanes, 2 pixels x 3 output channels at a time.
 *     1x1 convolutions read the input pixels directly (plain GEMM, no copy).
 *   - Armv7E-M DSP (__ARM_FEATURE_DSP, Cortex-M4/M7/M33): two output pixels at a time are
 *     widened once into q15 columns with the offset added (SXTAB16) and padding taps zero,
 *     in the lane order SXTB16 produces, then SMLAD over 2 channels x 2 pixels (inline
 *     assembly, see QNNC_DSP_ASM), the weights widened on the fly with SXTB16 (no reordering
 *     needed), the four results requantized in registers.
 *   - Portable C99 otherwise, and for layers outside the SIMD paths' limits.
 * The SIMD paths' columns (and the Helium path's folded bias and accumulators, in blocks of
 * QNNC_CONV_OC_BLOCK output channels) live in the caller's scratch buffer (sizes:
 * QNNC_CONV_{DSP,MVE}_BUFFER_SIZE in qnnc_kernels.h); a NULL or too small buffer selects the
 * portable path.
 * Integer sums are exact, so every path gives the reference's int8 output bit for bit.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE_SIZE__) && !defined(QNNC_NO_FORCE_O2)
#pragma GCC optimize("O2") /* kernels stay at -O2 when the firmware is built for size */
#endif

#include "qnnc_kernels.h"

#if !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define QNNC_CONV_MVE 1
#include <arm_mve.h>
#elif !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define QNNC_CONV_DSP 1
#include <arm_acle.h>
#include <string.h>
#endif

/* Hot inner loops: never inlined, and without pre-register-allocation scheduling, which
 * otherwise raises register pressure past the 14 usable registers (spills in the loop). */
#if defined(__GNUC__) && !defined(__clang__)
#define QNNC_CONV_LOOP_ATTR __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define QNNC_CONV_LOOP_ATTR __attribute__((noinline))
#else
#define QNNC_CONV_LOOP_ATTR
#endif

/* Each path is its own function, so the stack high-water is the deepest path's, not their sum. */
#if defined(__GNUC__)
#define QNNC_CONV_PATH_ATTR __attribute__((noinline))
#else
#define QNNC_CONV_PATH_ATTR
#endif

#if defined(QNNC_CONV_MVE)
/* 1x1 without padding, every window inside the input: the Helium path reads pixels in place. */
static int qnnc_conv_direct(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                            const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    return filter_dims->h == 1 && filter_dims->w == 1 && params->pad_top == 0 && params->pad_left == 0 &&
           (output_dims->h - 1) * params->stride_h < input_dims->h &&
           (output_dims->w - 1) * params->stride_w < input_dims->w;
}
#endif

static QNNC_CONV_PATH_ATTR void qnnc_conv_s8_portable(const qnnc_conv_params *params,
                                                      const qnnc_per_channel_quant *quant,
                                                      const qnnc_dims *input_dims, const int8_t *input,
                                                      const qnnc_dims *filter_dims, const int8_t *filter,
                                                      const int32_t *bias,
                                                      const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t batches = output_dims->n;
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
    const int32_t filter_size = k_h * k_w * in_c;
    int32_t b, oh, ow, oc, kh, kw, ic;

    for (b = 0; b < batches; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        for (oh = 0; oh < out_h; ++oh) {
            const int32_t ih0 = oh * params->stride_h - params->pad_top;
            int32_t kh_first, kh_last;
            qnnc_tap_range(ih0, in_h, k_h, params->dilation_h, &kh_first, &kh_last);
            for (ow = 0; ow < out_w; ++ow) {
                const int32_t iw0 = ow * params->stride_w - params->pad_left;
                int32_t kw_first, kw_last;
                qnnc_tap_range(iw0, in_w, k_w, params->dilation_w, &kw_first, &kw_last);
                for (oc = 0; oc < out_c; ++oc) {
                    const int8_t *filt_oc = filter + oc * filter_size;
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    /* Padding taps are skipped: they would read x == -input_offset. */
                    for (kh = kh_first; kh < kh_last; ++kh) {
                        const int8_t *in_row = in_b + (ih0 + kh * params->dilation_h) * in_w * in_c;
                        const int8_t *filt_row = filt_oc + kh * k_w * in_c;
                        for (kw = kw_first; kw < kw_last; ++kw) {
                            const int8_t *in_px = in_row + (iw0 + kw * params->dilation_w) * in_c;
                            const int8_t *filt_px = filt_row + kw * in_c;
                            for (ic = 0; ic < in_c; ++ic) {
                                acc += (int32_t)filt_px[ic] * ((int32_t)in_px[ic] + input_offset);
                            }
                        }
                    }
                    *output++ = qnnc_output_s8(acc, quant->multiplier[oc], quant->shift[oc], lo, hi,
                                              output_offset, act_lut, params->rounding);
                }
            }
        }
    }
}

#if defined(QNNC_CONV_DSP) || defined(QNNC_CONV_MVE)
/* The activation LUT as a separate pass over the finished output (keeps the hot loops free
 * of the per-value test; same values as applying it per output). */
static void qnnc_conv_apply_lut(const int8_t *act_lut, int8_t *output, int32_t n)
{
    int32_t i;
    if (act_lut != NULL) {
        for (i = 0; i < n; ++i) {
            output[i] = act_lut[output[i] + 128];
        }
    }
}
#endif

#if defined(QNNC_CONV_DSP)
/* ------------------------------------------------------------ Armv7E-M DSP path -- */

/* Accumulators of a 2 output channels x 2 pixels block. */
typedef struct {
    int32_t a00, a01, a10, a11; /* a<channel><pixel> */
} qnnc_conv_acc2x2;

#if defined(QNNC_DSP_ASM)
/* One group of 4 taps: weights of both channels (post-increment), the two words of column 0,
 * then of column 1 (LDRD, post-increment), SXTB16 in the lane order of the columns. */
#define QNNC_CONV_MM2X2_GROUP                                                                  \
    "ldr %[wa], [%[w0]], #4\n\t"                                                               \
    "ldr %[wb], [%[w1]], #4\n\t"                                                               \
    "ldrd %[x0], %[x1], [%[c]], #8\n\t"                                                        \
    "sxtb16 %[wa13], %[wa], ror #8\n\t"                                                        \
    "sxtb16 %[wa], %[wa]\n\t"                                                                  \
    "sxtb16 %[wb13], %[wb], ror #8\n\t"                                                        \
    "sxtb16 %[wb], %[wb]\n\t"                                                                  \
    "smlad %[a00], %[wa], %[x0], %[a00]\n\t"                                                   \
    "smlad %[a10], %[wb], %[x0], %[a10]\n\t"                                                   \
    "smlad %[a00], %[wa13], %[x1], %[a00]\n\t"                                                 \
    "smlad %[a10], %[wb13], %[x1], %[a10]\n\t"                                                 \
    "ldrd %[x0], %[x1], [%[c]], #8\n\t"                                                        \
    "smlad %[a01], %[wa], %[x0], %[a01]\n\t"                                                   \
    "smlad %[a11], %[wb], %[x0], %[a11]\n\t"                                                   \
    "smlad %[a01], %[wa13], %[x1], %[a01]\n\t"                                                 \
    "smlad %[a11], %[wb13], %[x1], %[a11]\n\t"
#define QNNC_CONV_MM2X2_OPERANDS                                                               \
    [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [c] "+r"(c),           \
    [w0] "+r"(w0), [w1] "+r"(w1), [wa] "=&r"(wa), [wb] "=&r"(wb), [wa13] "=&r"(wa13),          \
    [wb13] "=&r"(wb13), [x0] "=&r"(x0), [x1] "=&r"(x1)
#endif

/* acc += (col0, col1) x (w0, w1) over the interleaved q15 column pair [c, c_end) (group g of
 * 4 taps: col0 in words 4g, 4g+1; col1 in 4g+2, 4g+3). Per group: two LDR of weights, two
 * LDRD of columns, four SXTB16, eight SMLAD. */
QNNC_INLINE void qnnc_conv_mm2x2(const uint32_t *c, const uint32_t *c_end, const int8_t *w0,
                                 const int8_t *w1, qnnc_conv_acc2x2 *acc)
{
    int32_t a00 = acc->a00, a01 = acc->a01, a10 = acc->a10, a11 = acc->a11;
#if defined(QNNC_DSP_ASM)
    uint32_t wa, wb, wa13, wb13, x0, x1;
    QNNC_DSP_ASM_LOOP2((((uintptr_t)c_end - (uintptr_t)c) & 16u) != 0u, QNNC_CONV_MM2X2_GROUP,
                       QNNC_CONV_MM2X2_OPERANDS, "c", "wa", c, c_end);
#else
    for (; c != c_end; c += 4) {
        const uint32_t wa = qnnc_dsp_rd32(w0);
        const uint32_t wb = qnnc_dsp_rd32(w1);
        const int32_t wa13 = qnnc_dsp_sxtb16_ror8(wa), wa02 = __sxtb16((int32_t)wa);
        const int32_t wb13 = qnnc_dsp_sxtb16_ror8(wb), wb02 = __sxtb16((int32_t)wb);
        w0 += 4;
        w1 += 4;
        a00 = __smlad(wa02, (int32_t)c[0], a00);
        a10 = __smlad(wb02, (int32_t)c[0], a10);
        a00 = __smlad(wa13, (int32_t)c[1], a00);
        a10 = __smlad(wb13, (int32_t)c[1], a10);
        a01 = __smlad(wa02, (int32_t)c[2], a01);
        a11 = __smlad(wb02, (int32_t)c[2], a11);
        a01 = __smlad(wa13, (int32_t)c[3], a01);
        a11 = __smlad(wb13, (int32_t)c[3], a11);
    }
#endif
    acc->a00 = a00;
    acc->a01 = a01;
    acc->a10 = a10;
    acc->a11 = a11;
}

/* Fast requantization, exact for multiplier 0 or in [2^30, 2^31) and shift in [-20, 0]
 * (what the quantizer produces for conv layers); see qnnc_conv_fast_ok. SRDHM(acc, m) is
 * SMMULR(2 * acc, m) when 2 * acc does not overflow; when it does (|acc| >= 2^30) the
 * saturated doubling still gives |result| >= 2^29 >> 20 > 255, which clamps identically.
 * The rounding right shift by s (half away from zero) is (x - (x < 0 && s > 0) + 2^(s-1)) >> s. */
QNNC_INLINE int32_t qnnc_conv_rq_fast(int32_t acc, int32_t mult, int32_t s)
{
    int32_t x = qnnc_dsp_smmulr(__qadd(acc, acc), mult);
    x += (x & -s) >> 31;
    return (x + ((1 << s) >> 1)) >> s;
}

QNNC_INLINE int qnnc_conv_fast_ok(int32_t mult, int32_t shift)
{
    return (mult == 0 || mult >= (1 << 30)) && shift <= 0 && shift >= -20;
}

/* One q15 im2col column (K values + offset, padding taps 0) for the window at (ih0, iw0).
 * Column j of a pair is interleaved: group g occupies words [4g + 2j, 4g + 2j + 1]. */
static void qnnc_conv_im2col_q15(const qnnc_conv_params *params, const int8_t *in_b, int32_t in_h,
                                 int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w, int32_t ih0,
                                 int32_t iw0, int32_t kq, uint32_t *cols, int32_t j, int16_t *tail,
                                 int8_t *raw)
{
    const int32_t off = params->input_offset;
    int32_t kh, kw, c;
    if ((in_c & 3) == 0) {
        const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
        uint32_t *dst = cols + 2 * j;
        for (kh = 0; kh < k_h; ++kh) {
            const int32_t ih = ih0 + kh * params->dilation_h;
            for (kw = 0; kw < k_w; ++kw) {
                const int32_t iw = iw0 + kw * params->dilation_w;
                if (ih >= 0 && ih < in_h && iw >= 0 && iw < in_w) {
                    const int8_t *px = in_b + (ih * in_w + iw) * in_c;
                    const int8_t *px_end = px + in_c;
                    if ((in_c & 4) != 0) {
                        const uint32_t v = qnnc_dsp_rd32(px);
                        dst[0] = (uint32_t)__sxtab16(off2, (int32_t)v);
                        dst[1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v);
                        dst += 4;
                        px += 4;
                    }
                    while (px != px_end) { /* two groups per iteration (loop overhead halved) */
                        const uint32_t v0 = qnnc_dsp_rd32(px), v1 = qnnc_dsp_rd32(px + 4);
                        dst[0] = (uint32_t)__sxtab16(off2, (int32_t)v0);
                        dst[1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v0);
                        dst[4] = (uint32_t)__sxtab16(off2, (int32_t)v1);
                        dst[5] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v1);
                        dst += 8;
                        px += 8;
                    }
                } else {
                    for (c = 0; c < in_c; c += 4) {
                        dst[0] = 0u;
                        dst[1] = 0u;
                        dst += 4;
                    }
                }
            }
        }
    } else {
        /* in_c % 4 != 0 (first layers): gather the window as int8 first (padding taps = the
         * zero point, so x + offset == 0 there), then widen it 4 values at a time. */
        /* raw: K + 4 bytes of the scratch buffer */
        const int8_t zp = (int8_t)(-off);
        const int32_t run = k_w * in_c;
        const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
        uint32_t *dst = cols + 2 * j;
        int8_t *r = raw;
        int32_t k, kw0, kw1;
        /* the in-range taps along w, the same for every kernel row */
        qnnc_tap_range(iw0, in_w, k_w, 1, &kw0, &kw1);
        for (kh = 0; kh < k_h; ++kh) {
            const int32_t ih = ih0 + kh * params->dilation_h;
            const int row_ok = ih >= 0 && ih < in_h;
            if (!row_ok) {
                for (c = 0; c < run; ++c) {
                    r[c] = zp;
                }
            } else if (params->dilation_w == 1 && kw0 == 0 && kw1 == k_w) {
                /* the whole kernel row in range: a word at a time */
                qnnc_copy_s8(r, in_b + (ih * in_w + iw0) * in_c, run);
            } else if (params->dilation_w == 1) {
                /* padding taps, the in-range run, padding taps: no per-tap test */
                const int8_t *row = in_b + ih * in_w * in_c;
                const int32_t base = iw0 * in_c;
                int32_t e;
                for (c = 0, e = kw0 * in_c; c < e; ++c) {
                    r[c] = zp;
                }
                for (e = kw1 * in_c; c < e; ++c) {
                    r[c] = row[base + c];
                }
                for (; c < run; ++c) {
                    r[c] = zp;
                }
            } else {
                for (kw = 0; kw < k_w; ++kw) {
                    const int32_t iw = iw0 + kw * params->dilation_w;
                    const int8_t *src = in_b + (ih * in_w + iw) * in_c;
                    const int inside = row_ok && iw >= 0 && iw < in_w;
                    for (c = 0; c < in_c; ++c) {
                        r[kw * in_c + c] = inside ? src[c] : zp;
                    }
                }
            }
            r += run;
        }
        for (k = 0; k < kq; k += 4) {
            const uint32_t v = qnnc_dsp_rd32(raw + k);
            dst[0] = (uint32_t)__sxtab16(off2, (int32_t)v);
            dst[1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v);
            dst += 4;
        }
        for (; k < k_h * run; ++k) {
            tail[k - kq] = (int16_t)(raw[k] + off);
        }
    }
}

/* Requantization modes of the block loop (checked once per layer). */
#define QNNC_CONV_RQ_REF 0  /* some channel needs the reference requantization */
#define QNNC_CONV_RQ_FAST 1 /* every channel fast, clamp to [act_min, act_max] */
#define QNNC_CONV_RQ_SSAT 2 /* every channel fast, act range the whole int8 range: SSAT */

/* What the per-pixel-pair channel loop needs (columns and outputs of the current pair). */
typedef struct {
    const uint32_t *cols, *c_end;
    const int16_t *tail0, *tail1;
    int8_t *out0, *out1;
    const int8_t *filter;
    const int32_t *bias, *mult, *shift;
    int32_t K, kq, lo, hi, off, mode;
} qnnc_conv_dsp_job;

/* Output stage of a channel that cannot take the fast requantization. */
static __attribute__((noinline)) int32_t qnnc_conv_rq_ref(int32_t acc, int32_t mult, int32_t shift)
{
    return qnnc_requantize(acc, mult, shift);
}

/* Requantize, clamp and offset one accumulator (the general modes). */
QNNC_INLINE int32_t qnnc_conv_dsp_out(const qnnc_conv_dsp_job *j, int32_t acc, int32_t m, int32_t sh)
{
    int32_t v = j->mode == QNNC_CONV_RQ_FAST || qnnc_conv_fast_ok(m, sh) ? qnnc_conv_rq_fast(acc, m, -sh)
                                                                          : qnnc_conv_rq_ref(acc, m, sh);
    v = v < j->lo ? j->lo : v;
    v = v > j->hi ? j->hi : v;
    return v + j->off;
}

/* Output channels oc and oc1 of the current pixel pair: dot products (+ bias) of the two
 * columns with both filter rows, requantized and stored (one multiplier/shift load serves
 * both pixels). A call per block keeps the caller's loop state out of the 14 registers. */
QNNC_INLINE void qnnc_conv_dsp_block(const qnnc_conv_dsp_job *j, int32_t oc, int32_t oc1)
{
    const int8_t *w0 = j->filter + oc * j->K;
    const int8_t *w1 = j->filter + oc1 * j->K;
    qnnc_conv_acc2x2 acc;
    int32_t m0, s0, m1, s1, r00, r01, r10, r11;
    int8_t *out0, *out1;
    acc.a00 = j->bias != NULL ? j->bias[oc] : 0;
    acc.a01 = acc.a00;
    acc.a10 = j->bias != NULL ? j->bias[oc1] : 0;
    acc.a11 = acc.a10;
    qnnc_conv_mm2x2(j->cols, j->c_end, w0, w1, &acc);
    if (j->kq != j->K) {
        const int16_t *t0 = j->tail0, *t1 = j->tail1;
        int32_t t;
        for (t = j->kq; t < j->K; ++t) {
            acc.a00 += (int32_t)w0[t] * t0[t - j->kq];
            acc.a01 += (int32_t)w0[t] * t1[t - j->kq];
            acc.a10 += (int32_t)w1[t] * t0[t - j->kq];
            acc.a11 += (int32_t)w1[t] * t1[t - j->kq];
        }
    }
    /* every result is computed before the first byte store (int8 stores alias everything) */
    m0 = j->mult[oc];
    s0 = j->shift[oc];
    m1 = j->mult[oc1];
    s1 = j->shift[oc1];
    if (j->mode == QNNC_CONV_RQ_SSAT) {
        const int32_t off = j->off;
        r00 = qnnc_dsp_ssat8(qnnc_conv_rq_fast(acc.a00, m0, -s0) + off);
        r01 = qnnc_dsp_ssat8(qnnc_conv_rq_fast(acc.a01, m0, -s0) + off);
        r10 = qnnc_dsp_ssat8(qnnc_conv_rq_fast(acc.a10, m1, -s1) + off);
        r11 = qnnc_dsp_ssat8(qnnc_conv_rq_fast(acc.a11, m1, -s1) + off);
    } else {
        r00 = qnnc_conv_dsp_out(j, acc.a00, m0, s0);
        r01 = qnnc_conv_dsp_out(j, acc.a01, m0, s0);
        r10 = qnnc_conv_dsp_out(j, acc.a10, m1, s1);
        r11 = qnnc_conv_dsp_out(j, acc.a11, m1, s1);
    }
    out0 = j->out0;
    out1 = j->out1;
    out0[oc] = (int8_t)r00;
    out1[oc] = (int8_t)r01;
    out0[oc1] = (int8_t)r10; /* odd out_c: oc1 == oc, the same values */
    out1[oc1] = (int8_t)r11;
}

/* Every output channel of the current pixel pair, two at a time. */
static QNNC_CONV_LOOP_ATTR void qnnc_conv_dsp_pair(const qnnc_conv_dsp_job *j, int32_t out_c)
{
    int32_t oc;
    for (oc = 0; oc < out_c; oc += 2) {
        qnnc_conv_dsp_block(j, oc, oc + 1 < out_c ? oc + 1 : oc);
    }
}

/* The same for the common layer (SSAT mode, K % 4 == 0, a bias): running pointers instead of
 * indices and no per-block mode or tail tests (about 30 fewer instructions a block). */
static QNNC_CONV_LOOP_ATTR void qnnc_conv_dsp_pair_sat(const qnnc_conv_dsp_job *j, int32_t out_c)
{
    const int32_t K = j->K, off = j->off;
    const int8_t *w = j->filter;
    const int8_t *const w_end = w + (out_c & ~1) * K;
    const int32_t *bias = j->bias, *mult = j->mult, *shift = j->shift;
    int8_t *o = j->out0;
    const int32_t d1 = (int32_t)(j->out1 - j->out0);
    while (w != w_end) {
        qnnc_conv_acc2x2 acc;
        int32_t m, s, r00, r01, r10, r11;
        acc.a00 = bias[0];
        acc.a01 = acc.a00;
        acc.a10 = bias[1];
        acc.a11 = acc.a10;
        qnnc_conv_mm2x2(j->cols, j->c_end, w, w + K, &acc);
        m = mult[0];
        s = -shift[0];
        r00 = qnnc_dsp_ssat8(qnnc_conv_rq_fast(acc.a00, m, s) + off);
        r01 = qnnc_dsp_ssat8(qnnc_conv_rq_fast(acc.a01, m, s) + off);
        m = mult[1];
        s = -shift[1];
        r10 = qnnc_dsp_ssat8(qnnc_conv_rq_fast(acc.a10, m, s) + off);
        r11 = qnnc_dsp_ssat8(qnnc_conv_rq_fast(acc.a11, m, s) + off);
        o[0] = (int8_t)r00;
        o[d1] = (int8_t)r01;
        o[1] = (int8_t)r10;
        o[d1 + 1] = (int8_t)r11;
        w += 2 * K;
        bias += 2;
        mult += 2;
        shift += 2;
        o += 2;
    }
    if (out_c & 1) {
        qnnc_conv_dsp_block(j, out_c - 1, out_c - 1);
    }
}

static QNNC_CONV_PATH_ATTR int qnnc_conv_s8_dsp(const qnnc_buffer *scratch,
                            const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                            const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias,
                            const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t K = k_h * k_w * in_c;
    const int32_t n_pix = output_dims->h * out_w;
    const int32_t kq = K & ~3;
    qnnc_conv_dsp_job job;
    int sat;
    int32_t b, p, oc;
    uint32_t *cols;  /* two interleaved q15 columns (2 * K halfwords): 4 * kq + 16 bytes */
    int8_t *raw;     /* in_c % 4 != 0: the int8 window, K + 4 bytes */
    int16_t tail0[4], tail1[4];

    if (K > QNNC_CONV_MAX_K || K < 4 || out_c > QNNC_CONV_MAX_K || scratch == NULL || scratch->buf == NULL) {
        return 0;
    }
    {
        /* carve the (4-byte aligned: LDRD) scratch buffer; too small: portable path */
        const uintptr_t a = ((uintptr_t)scratch->buf + 3u) & ~(uintptr_t)3u;
        const int32_t lost = (int32_t)(a - (uintptr_t)scratch->buf);
        if (scratch->size - lost < QNNC_CONV_DSP_BUFFER_SIZE(K, in_c, out_c)) {
            return 0;
        }
        cols = (uint32_t *)a;
        raw = (int8_t *)(cols + kq + 4);
    }
    job.mode = params->act_min == -128 && params->act_max == 127 ? QNNC_CONV_RQ_SSAT : QNNC_CONV_RQ_FAST;
    for (oc = 0; oc < out_c; ++oc) {
        if (!qnnc_conv_fast_ok(quant->multiplier[oc], quant->shift[oc])) {
            job.mode = QNNC_CONV_RQ_REF;
        }
    }
    sat = job.mode == QNNC_CONV_RQ_SSAT && kq == K && bias != NULL;
    job.cols = cols;
    job.c_end = cols + kq; /* kq / 4 groups of 4 words */
    job.tail0 = tail0;
    job.tail1 = tail1;
    job.filter = filter;
    job.bias = bias;
    job.mult = quant->multiplier;
    job.shift = quant->shift;
    job.K = K;
    job.kq = kq;
    job.off = params->output_offset;
    job.lo = params->act_min - params->output_offset;
    job.hi = params->act_max - params->output_offset;
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        int8_t *out_b = output + b * n_pix * out_c;
        for (p = 0; p < n_pix; p += 2) {
            const int32_t p1 = p + 1 < n_pix ? p + 1 : p; /* odd count: last column twice */
            qnnc_conv_im2col_q15(params, in_b, in_h, in_w, in_c, k_h, k_w,
                                 (p / out_w) * params->stride_h - params->pad_top,
                                 (p % out_w) * params->stride_w - params->pad_left, kq, cols, 0, tail0, raw);
            qnnc_conv_im2col_q15(params, in_b, in_h, in_w, in_c, k_h, k_w,
                                 (p1 / out_w) * params->stride_h - params->pad_top,
                                 (p1 % out_w) * params->stride_w - params->pad_left, kq, cols, 1, tail1, raw);
            job.out0 = out_b + p * out_c;
            job.out1 = out_b + p1 * out_c;
            if (sat) {
                qnnc_conv_dsp_pair_sat(&job, out_c);
            } else {
                qnnc_conv_dsp_pair(&job, out_c);
            }
        }
    }
    qnnc_conv_apply_lut(params->act_lut, output, output_dims->n * n_pix * out_c);
    return 1;
}
#endif /* QNNC_CONV_DSP */

#if defined(QNNC_CONV_MVE)
/* ------------------------------------------------------------- Helium MVE path -- */

/* n bytes from src to dst, 16 at a time, the last vector predicated. */
QNNC_INLINE void qnnc_conv_copy_mve(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 16; n -= 16) {
        vstrbq_s8(dst, vldrbq_s8(src));
        src += 16;
        dst += 16;
    }
    if (n > 0) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
    }
}

/* n bytes of dst set to v, 16 at a time, the last vector predicated. */
QNNC_INLINE void qnnc_conv_fill_mve(int8_t *dst, int8x16_t v, int32_t n)
{
    for (; n > 0; n -= 16) {
        vstrbq_p_s8(dst, v, vctp8q((uint32_t)n));
        dst += 16;
    }
}

/* The im2col column of a window entirely inside the input (no dilation along w): k_h runs of
 * `run` bytes, `step` bytes apart (most windows of a 3x3 layer; no range logic at all). */
static void qnnc_conv_im2col_inside_s8(const int8_t *src, int32_t step, int32_t run, int32_t k_h, int8_t *col)
{
    int32_t kh;
    for (kh = 0; kh < k_h; ++kh) {
        qnnc_conv_copy_mve(col, src, run);
        src += step;
        col += run;
    }
}

/* The im2col column of a first layer (a kernel row of k_w * in_c <= 16 bytes, no dilation along
 * w): per kernel row one vector load of the in-range taps, the padding merged in by VPSEL, one
 * store (KWS's 10x4 kernel on one channel: 10 loads instead of 10 calls of the run loops). */
static void qnnc_conv_im2col_short_s8(const qnnc_conv_params *params, const int8_t *in_b, int32_t in_h,
                                      int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w, int32_t ih0,
                                      int32_t iw0, int8_t *col)
{
    const int8x16_t pad = vdupq_n_s8((int8_t)(-params->input_offset));
    const int32_t run = k_w * in_c;
    const int32_t dil_h = params->dilation_h;
    const mve_pred16_t row_p = vctp8q((uint32_t)run);
    int32_t kw0, kw1, kh;
    mve_pred16_t in_p;
    qnnc_tap_range(iw0, in_w, k_w, 1, &kw0, &kw1);
    /* lanes [kw0 * in_c, kw1 * in_c) hold input taps */
    in_p = (mve_pred16_t)(vctp8q((uint32_t)(kw1 * in_c)) & ~vctp8q((uint32_t)(kw0 * in_c)));
    for (kh = 0; kh < k_h; ++kh, col += run) {
        const int32_t ih = ih0 + kh * dil_h;
        int8x16_t v = pad;
        if (ih >= 0 && ih < in_h && kw1 > kw0) {
            /* the load starts at the window's first tap (kw0 > 0: before the row, those lanes
             * are not read; the address is computed as an integer, since a pointer before the
             * input would be undefined in C) */
            const int8_t *src = (const int8_t *)((uintptr_t)(in_b + (ih * in_w + iw0 + kw0) * in_c) -
                                                 (uintptr_t)(kw0 * in_c));
            v = vpselq_s8(vldrbq_z_s8(src, in_p), pad, in_p);
        }
        vstrbq_p_s8(col, v, row_p);
    }
}

/* int8 im2col column with padding taps = the input zero point (so x + offset == 0 there).
 * The in-range taps of the window are found once (qnnc_tap_range), so without dilation along
 * w each kernel row is at most padding / one contiguous run / padding (first layers with 1-3
 * input channels: the per-tap loops cost 8x more). */
static void qnnc_conv_im2col_s8(const qnnc_conv_params *params, const int8_t *in_b, int32_t in_h,
                                int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w, int32_t ih0,
                                int32_t iw0, int8_t *col)
{
    const int8x16_t pad = vdupq_n_s8((int8_t)(-params->input_offset));
    const int32_t run = k_w * in_c;
    int32_t kh0, kh1, kw0, kw1, kh, kw;
    qnnc_tap_range(ih0, in_h, k_h, params->dilation_h, &kh0, &kh1);
    qnnc_tap_range(iw0, in_w, k_w, params->dilation_w, &kw0, &kw1);
    if (kw0 == kw1 || kh0 == kh1) {
        qnnc_conv_fill_mve(col, pad, k_h * run); /* no tap in range */
        return;
    }
    if (kh0 > 0) {
        qnnc_conv_fill_mve(col, pad, kh0 * run);
    }
    {
        const int32_t dil_w = params->dilation_w;
        const int32_t row_step = params->dilation_h * in_w * in_c;
        const int32_t m = (kw1 - kw0) * in_c; /* in-range bytes of a row (dilation 1) */
        const int partial = kw0 > 0 || kw1 < k_w;
        /* offset of the window's row start (iw0 may be < 0: only in-range taps form pointers) */
        int32_t at = ((ih0 + kh0 * params->dilation_h) * in_w + iw0) * in_c;
        int8_t *dst = col + kh0 * run;
        for (kh = kh0; kh < kh1; ++kh) {
            if (dil_w == 1) {
                if (partial) {
                    qnnc_conv_fill_mve(dst, pad, run);
                }
                if (m >= 16) {
                    qnnc_conv_copy_mve(dst + kw0 * in_c, in_b + at + kw0 * in_c, m);
                } else {
                    qnnc_copy_s8(dst + kw0 * in_c, in_b + at + kw0 * in_c, m); /* first layers: a few words */
                }
            } else {
                for (kw = 0; kw < k_w; ++kw) {
                    if (kw >= kw0 && kw < kw1) {
                        qnnc_conv_copy_mve(dst + kw * in_c, in_b + at + kw * dil_w * in_c, in_c);
                    } else {
                        qnnc_conv_fill_mve(dst + kw * in_c, pad, in_c);
                    }
                }
            }
            at += row_step;
            dst += run;
        }
    }
    if (kh1 < k_h) {
        qnnc_conv_fill_mve(col + kh1 * run, pad, (k_h - kh1) * run);
    }
}

/* The input geometry an im2col column needs (constant over a layer). */
typedef struct {
    const qnnc_conv_params *params;
    int32_t in_h, in_w, in_c, k_h, k_w;
    int32_t step;   /* bytes between the kernel rows of a window */
    int32_t span_h; /* (k_h - 1) * dilation_h */
    int short_rows; /* kernel rows of at most one vector, no dilation along w: the first-layer gather */
} qnnc_conv_mve_geo_t;

/* The int8 im2col column of the window at (ih, iw): inside the input, a first layer's short
 * rows, or the general run-based gather. */
static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_column(const qnnc_conv_mve_geo_t *g, const int8_t *in_b, int32_t ih,
                                                     int32_t iw, int8_t *col)
{
    const qnnc_conv_params *params = g->params;
    if (g->short_rows) {
        qnnc_conv_im2col_short_s8(params, in_b, g->in_h, g->in_w, g->in_c, g->k_h, g->k_w, ih, iw, col);
    } else if (params->dilation_w == 1 && ih >= 0 && ih + g->span_h < g->in_h && iw >= 0 && iw + g->k_w <= g->in_w) {
        qnnc_conv_im2col_inside_s8(in_b + (ih * g->in_w + iw) * g->in_c, g->step, g->k_w * g->in_c, g->k_h, col);
    } else {
        qnnc_conv_im2col_s8(params, in_b, g->in_h, g->in_w, g->in_c, g->k_h, g->k_w, ih, iw, col);
    }
}

/* Requantization constants shared by every output of a layer. */
typedef struct {
    int32x4_t lo, hi;
    int32_t output_offset;
} qnnc_conv_rq_mve_t;

/* One 16-lane step of `ch` (2 or 3, a constant) channels x 2 pixels: a[2c + p] += x_p . w_c;
 * full (a constant): whole vectors, else the loads predicated by pr. */
QNNC_INLINE void qnnc_conv_mve_step(int32_t *a, const int8_t *xa, const int8_t *xb, const int8_t *w0,
                                    const int8_t *w1, const int8_t *w2, int ch, mve_pred16_t pr, int full)
{
    const int8x16_t va = full ? vldrbq_s8(xa) : vldrbq_z_s8(xa, pr);
    const int8x16_t vb = full ? vldrbq_s8(xb) : vldrbq_z_s8(xb, pr);
    int8x16_t w = full ? vldrbq_s8(w0) : vldrbq_z_s8(w0, pr);
    a[0] = vmladavaq_s8(a[0], va, w);
    a[1] = vmladavaq_s8(a[1], vb, w);
    w = full ? vldrbq_s8(w1) : vldrbq_z_s8(w1, pr);
    a[2] = vmladavaq_s8(a[2], va, w);
    a[3] = vmladavaq_s8(a[3], vb, w);
    if (ch == 3) {
        w = full ? vldrbq_s8(w2) : vldrbq_z_s8(w2, pr);
        a[4] = vmladavaq_s8(a[4], va, w);
        a[5] = vmladavaq_s8(a[5], vb, w);
    }
}

/* a[2c + p] = x_p . w_c for `ch` (2 or 3, a constant) filter rows w0, w1 (, w2): `full` whole
 * steps, then (has_rest, a constant) one step predicated by pr. */
QNNC_INLINE void qnnc_conv_mve_rows(int32_t *a, const int8_t *xa, const int8_t *xb, const int8_t *w0,
                                    const int8_t *w1, const int8_t *w2, int32_t full, int ch, mve_pred16_t pr,
                                    int has_rest)
{
    int32_t n;
    for (n = full; n > 0; --n) {
        qnnc_conv_mve_step(a, xa, xb, w0, w1, w2, ch, pr, 1);
        xa += 16;
        xb += 16;
        w0 += 16;
        w1 += 16;
        if (ch == 3) {
            w2 += 16;
        }
    }
    if (has_rest) {
        qnnc_conv_mve_step(a, xa, xb, w0, w1, w2, ch, pr, 0);
    }
}

/* Dot products of two int8 columns (x0, x1; K values) with every filter row:
 * acc0[oc] = x0 . w_oc, acc1[oc] = x1 . w_oc. Three output channels at a time (6 scalar
 * accumulators, 5 pointers and the loop counter fit the registers: 5 loads + 6 VMLADAVA per
 * 96 MACs), the last 1-2 channels two at a time; `full` unpredicated 16-byte steps. has_rest
 * (a constant in the callers below): a predicated last step of K % 16 bytes; without it the
 * block loop keeps everything in registers. */
QNNC_INLINE void qnnc_conv_mve_pair_body(const int8_t *restrict x0, const int8_t *restrict x1, int32_t K,
                                         int32_t full, const int8_t *restrict filter, int32_t out_c,
                                         int32_t *restrict acc0, int32_t *restrict acc1, int has_rest)
{
    const mve_pred16_t pr = has_rest ? vctp8q((uint32_t)(K & 15)) : (mve_pred16_t)0xFFFF;
    const int8_t *wb = filter;
    /* out_c % 3 == 1: one triple fewer, so the rest is two pairs, not a pair computing one
     * channel twice */
    const int32_t triples = out_c / 3 - (out_c % 3 == 1 && out_c > 3 ? 1 : 0);
    int32_t n3, pairs;
    for (n3 = triples; n3 > 0; --n3) {
        int32_t a[6] = {0, 0, 0, 0, 0, 0};
        qnnc_conv_mve_rows(a, x0, x1, wb, wb + K, wb + 2 * K, full, 3, pr, has_rest);
        acc0[0] = a[0];
        acc0[1] = a[2];
        acc0[2] = a[4];
        acc1[0] = a[1];
        acc1[1] = a[3];
        acc1[2] = a[5];
        acc0 += 3;
        acc1 += 3;
        wb += 3 * K;
    }
    out_c -= 3 * triples;
    for (pairs = (out_c + 1) >> 1; pairs > 0; --pairs) {
        /* an odd last channel is computed twice (w1 = w0) and stored to the same slot */
        const int odd_last = pairs == 1 && (out_c & 1);
        int32_t a[4] = {0, 0, 0, 0};
        qnnc_conv_mve_rows(a, x0, x1, wb, odd_last ? wb : wb + K, NULL, full, 2, pr, has_rest);
        acc0[0] = a[0];
        acc1[0] = a[1];
        if (!odd_last) {
            acc0[1] = a[2];
            acc1[1] = a[3];
        }
        acc0 += 2;
        acc1 += 2;
        wb += 2 * K;
    }
}

static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_pair(const int8_t *restrict x0, const int8_t *restrict x1,
                                                   int32_t K, const int8_t *restrict filter, int32_t out_c,
                                                   int32_t *restrict acc0, int32_t *restrict acc1)
{
    qnnc_conv_mve_pair_body(x0, x1, K, K >> 4, filter, out_c, acc0, acc1, 1);
}

/* K % 16 == 0 (every layer but the first ones). */
static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_pair16(const int8_t *restrict x0, const int8_t *restrict x1,
                                                     int32_t K, const int8_t *restrict filter, int32_t out_c,
                                                     int32_t *restrict acc0, int32_t *restrict acc1)
{
    qnnc_conv_mve_pair_body(x0, x1, K, K >> 4, filter, out_c, acc0, acc1, 0);
}

/* Columns zero-padded to `steps` * 16 bytes: the weights read past a row's end are the next
 * row's, times zero (the caller keeps the reads inside the filter). */
static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_pair_padded(const int8_t *restrict x0, const int8_t *restrict x1,
                                                          int32_t K, int32_t steps, const int8_t *restrict filter,
                                                          int32_t out_c, int32_t *restrict acc0,
                                                          int32_t *restrict acc1)
{
    qnnc_conv_mve_pair_body(x0, x1, K, steps, filter, out_c, acc0, acc1, 0);
}

/* Requantizes one vector of 4 channels for both pixels (exact gemmlowp arithmetic: VQSHL = the
 * saturating left shift, VQRDMULH = SRDHM, VRSHL by minus the right shift after the negative
 * fix-up = rounding half away from zero) and stores 4 int8 per pixel, predicated by p. */
QNNC_INLINE void qnnc_conv_mve_rq4(int32x4_t v0, int32x4_t v1, int32x4_t fb, int32x4_t mult, int32x4_t shift,
                                   int32x4_t lo, int32x4_t hi, int32_t output_offset, int8_t *out0, int8_t *out1,
                                   mve_pred16_t p, int no_left)
{
    const int32x4_t nr = no_left ? vmaxq_s32(shift, vdupq_n_s32(-31))
                                 : vmaxq_s32(vminq_s32(shift, vdupq_n_s32(0)), vdupq_n_s32(-31));
    v0 = vaddq_s32(v0, fb);
    v1 = vaddq_s32(v1, fb);
    if (!no_left) {
        const int32x4_t left = vmaxq_s32(shift, vdupq_n_s32(0));
        v0 = vqshlq_s32(v0, left);
        v1 = vqshlq_s32(v1, left);
    }
    v0 = vqrdmulhq_s32(v0, mult);
    v1 = vqrdmulhq_s32(v1, mult);
    v0 = vrshlq_s32(vqaddq_s32(v0, vshrq_n_s32(vandq_s32(v0, nr), 31)), nr);
    v1 = vrshlq_s32(vqaddq_s32(v1, vshrq_n_s32(vandq_s32(v1, nr), 31)), nr);
    v0 = vaddq_n_s32(vminq_s32(vmaxq_s32(v0, lo), hi), output_offset);
    v1 = vaddq_n_s32(vminq_s32(vmaxq_s32(v1, lo), hi), output_offset);
    /* out1 == out0 for an odd last pixel: the same values */
    if (p == 0xFFFF) {
        vstrbq_s32(out0, v0);
        vstrbq_s32(out1, v1);
    } else {
        vstrbq_p_s32(out0, v0, p);
        vstrbq_p_s32(out1, v1, p);
    }
}

/* out0[oc], out1[oc] = requantized acc0[oc] / acc1[oc] + fbias[oc], 4 channels per vector,
 * the two pixels sharing each load of the channel parameters: whole vectors in a loop of
 * post-incremented loads, the last 1-3 channels predicated. no_left (every shift <= 0, a
 * constant in the callers below): no left shift, and the negated right shift is
 * max(shift, -31). */
QNNC_INLINE void qnnc_conv_mve_requant_body(const int32_t *acc0, const int32_t *acc1, const int32_t *fbias,
                                            const qnnc_per_channel_quant *quant, const qnnc_conv_rq_mve_t *rq,
                                            int32_t out_c, int8_t *out0, int8_t *out1, int no_left)
{
    const int32_t *mult = quant->multiplier, *shift = quant->shift;
    const int32_t tail = out_c & 3;
    const int32x4_t lo = rq->lo, hi = rq->hi; /* in registers: the stores could alias *rq */
    const int32_t output_offset = rq->output_offset;
    int32_t n;
    for (n = out_c >> 2; n > 0; --n) {
        qnnc_conv_mve_rq4(vldrwq_s32(acc0), vldrwq_s32(acc1), vldrwq_s32(fbias), vldrwq_s32(mult),
                          vldrwq_s32(shift), lo, hi, output_offset, out0, out1, 0xFFFF, no_left);
        acc0 += 4;
        acc1 += 4;
        fbias += 4;
        mult += 4;
        shift += 4;
        out0 += 4;
        out1 += 4;
    }
    if (tail) {
        const mve_pred16_t p = vctp32q((uint32_t)tail);
        qnnc_conv_mve_rq4(vldrwq_z_s32(acc0, p), vldrwq_z_s32(acc1, p), vldrwq_z_s32(fbias, p),
                          vldrwq_z_s32(mult, p), vldrwq_z_s32(shift, p), lo, hi, output_offset, out0, out1, p,
                          no_left);
    }
}

/* weights of step j of a row: predicated on the last step of a `pred` loop */
#define QNNC_CONV_RES_LD(ptr, j) ((pred && (j) == steps - 1) ? vldrbq_z_s8((ptr), pl) : vldrbq_s8(ptr))

/* Columns of 1-3 vectors (`steps`, a constant in the callers below): both columns stay in Q
 * registers for the whole channel loop, which then loads only weights (per 2 channels: 2 *
 * steps loads, 4 * steps VMLADAV, 2 STRD). The first layers and small 1x1 convs (K = 16, 27,
 * 32, 40), where the blocked loop's per-block work exceeded its dot products. Columns padded
 * past K with zeros read the next weight row there (the caller keeps the reads inside). */
QNNC_INLINE void qnnc_conv_mve_resident_body(const int8_t *restrict x0, const int8_t *restrict x1, int32_t K,
                                             const int8_t *restrict filter, int32_t out_c, int32_t *restrict acc0,
                                             int32_t *restrict acc1, int steps, int pred)
{
    /* pred (a constant): the last step reads only the row's own K - 16 * (steps - 1) weights
     * (the last channels of a layer, whose padded read would leave the filter) */
    const mve_pred16_t pl = pred ? vctp8q((uint32_t)(K - 16 * (steps - 1))) : (mve_pred16_t)0xFFFF;
    /* (pred: the columns' last step predicated too, for columns read in place) */
    const int8x16_t a0 = QNNC_CONV_RES_LD(x0, 0), b0 = QNNC_CONV_RES_LD(x1, 0);
    const int8x16_t a1 = steps > 1 ? QNNC_CONV_RES_LD(x0 + 16, 1) : a0;
    const int8x16_t b1 = steps > 1 ? QNNC_CONV_RES_LD(x1 + 16, 1) : b0;
    const int8x16_t a2 = steps > 2 ? QNNC_CONV_RES_LD(x0 + 32, 2) : a0;
    const int8x16_t b2 = steps > 2 ? QNNC_CONV_RES_LD(x1 + 32, 2) : b0;
    const int8_t *w = filter;
    int32_t n;
    for (n = out_c >> 1; n > 0; --n) {
        const int8_t *u = w + K;
        int8x16_t v = QNNC_CONV_RES_LD(w, 0), t = QNNC_CONV_RES_LD(u, 0);
        int32_t s00 = vmladavq_s8(a0, v), s01 = vmladavq_s8(b0, v);
        int32_t s10 = vmladavq_s8(a0, t), s11 = vmladavq_s8(b0, t);
        if (steps > 1) {
            v = QNNC_CONV_RES_LD(w + 16, 1);
            t = QNNC_CONV_RES_LD(u + 16, 1);
            s00 = vmladavaq_s8(s00, a1, v);
            s01 = vmladavaq_s8(s01, b1, v);
            s10 = vmladavaq_s8(s10, a1, t);
            s11 = vmladavaq_s8(s11, b1, t);
        }
        if (steps > 2) {
            v = QNNC_CONV_RES_LD(w + 32, 2);
            t = QNNC_CONV_RES_LD(u + 32, 2);
            s00 = vmladavaq_s8(s00, a2, v);
            s01 = vmladavaq_s8(s01, b2, v);
            s10 = vmladavaq_s8(s10, a2, t);
            s11 = vmladavaq_s8(s11, b2, t);
        }
        acc0[0] = s00;
        acc0[1] = s10;
        acc1[0] = s01;
        acc1[1] = s11;
        acc0 += 2;
        acc1 += 2;
        w = u + K;
    }
    if (out_c & 1) {
        const int8x16_t v = QNNC_CONV_RES_LD(w, 0);
        int32_t s00 = vmladavq_s8(a0, v), s01 = vmladavq_s8(b0, v);
        if (steps > 1) {
            const int8x16_t v1 = QNNC_CONV_RES_LD(w + 16, 1);
            s00 = vmladavaq_s8(s00, a1, v1);
            s01 = vmladavaq_s8(s01, b1, v1);
        }
        if (steps > 2) {
            const int8x16_t v2 = QNNC_CONV_RES_LD(w + 32, 2);
            s00 = vmladavaq_s8(s00, a2, v2);
            s01 = vmladavaq_s8(s01, b2, v2);
        }
        acc0[0] = s00;
        acc1[0] = s01;
    }
}

#undef QNNC_CONV_RES_LD

static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_resident1(const int8_t *restrict x0, const int8_t *restrict x1,
                                                        int32_t K, const int8_t *restrict filter, int32_t out_c,
                                                        int32_t *restrict acc0, int32_t *restrict acc1)
{
    qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 1, 0);
}

static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_resident2(const int8_t *restrict x0, const int8_t *restrict x1,
                                                        int32_t K, const int8_t *restrict filter, int32_t out_c,
                                                        int32_t *restrict acc0, int32_t *restrict acc1)
{
    qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 2, 0);
}

static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_resident3(const int8_t *restrict x0, const int8_t *restrict x1,
                                                        int32_t K, const int8_t *restrict filter, int32_t out_c,
                                                        int32_t *restrict acc0, int32_t *restrict acc1)
{
    qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 3, 0);
}

/* What the channel-block loop of a pixel pair needs (constant over the layer). */
typedef struct {
    qnnc_conv_rq_mve_t rq;
    const int8_t *filter;
    const int32_t *fbias, *mult, *shift;
    int32_t *accs;
    int32_t K, out_c, blk;
    int32_t steps;  /* zero-padded columns: 16-byte steps of a column */
    int32_t tail_c; /* zero-padded columns: the last channels whose padded read would leave the filter */
    int mode;       /* QNNC_CONV_MVE_K16, _PRED or _PADDED */
    int no_left;    /* no channel shifts left */
} qnnc_conv_mve_job_t;

#define QNNC_CONV_MVE_K16 0    /* K % 16 == 0 */
#define QNNC_CONV_MVE_PRED 1   /* a predicated last step (1x1 read in place) */
#define QNNC_CONV_MVE_PADDED 2 /* im2col columns zero-padded to whole vectors */

/* The resident-column loop with the last step's reads predicated to K bytes: a layer's last
 * channels (whose padded weight read would leave the filter) and 1x1 convs reading columns in
 * place with K % 16 != 0. */
static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_resident_tail(int32_t steps, const int8_t *restrict x0,
                                                            const int8_t *restrict x1, int32_t K,
                                                            const int8_t *restrict filter, int32_t out_c,
                                                            int32_t *restrict acc0, int32_t *restrict acc1)
{
    if (steps == 1) {
        qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 1, 1);
    } else if (steps == 2) {
        qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 2, 1);
    } else {
        qnnc_conv_mve_resident_body(x0, x1, K, filter, out_c, acc0, acc1, 3, 1);
    }
}

/* The resident-column loop for 1, 2 or 3 vectors a column. */
QNNC_INLINE void qnnc_conv_mve_resident(int32_t steps, const int8_t *x0, const int8_t *x1, int32_t K,
                                        const int8_t *w, int32_t n, int32_t *acc0, int32_t *acc1)
{
    if (steps == 1) {
        qnnc_conv_mve_resident1(x0, x1, K, w, n, acc0, acc1);
    } else if (steps == 2) {
        qnnc_conv_mve_resident2(x0, x1, K, w, n, acc0, acc1);
    } else {
        qnnc_conv_mve_resident3(x0, x1, K, w, n, acc0, acc1);
    }
}

/* out0 / out1 (every channel) of the pixel pair whose columns are x0 / x1: per channel block
 * the dot products, then their requantization. */
static QNNC_CONV_LOOP_ATTR void qnnc_conv_mve_pixels(const qnnc_conv_mve_job_t *job, const int8_t *x0,
                                                     const int8_t *x1, int8_t *out0, int8_t *out1)
{
    const int32_t K = job->K, out_c = job->out_c, blk = job->blk;
    int32_t *accs = job->accs;
    int32_t oc;
    for (oc = 0; oc < out_c; oc += blk) {
        const int32_t n = out_c - oc < blk ? out_c - oc : blk;
        const int8_t *w = job->filter + oc * K;
        qnnc_per_channel_quant qb;
        qb.multiplier = job->mult + oc;
        qb.shift = job->shift + oc;
        if (job->mode == QNNC_CONV_MVE_K16) {
            if (job->steps > 3) {
                qnnc_conv_mve_pair16(x0, x1, K, w, n, accs, accs + n);
            } else {
                qnnc_conv_mve_resident(job->steps, x0, x1, K, w, n, accs, accs + n);
            }
        } else if (job->mode == QNNC_CONV_MVE_PRED) {
            if (job->steps > 3) {
                qnnc_conv_mve_pair(x0, x1, K, w, n, accs, accs + n);
            } else {
                qnnc_conv_mve_resident_tail(job->steps, x0, x1, K, w, n, accs, accs + n);
            }
        } else {
            /* full steps for every channel whose padded read stays inside the filter */
            int32_t n_fast = out_c - job->tail_c - oc;
            n_fast = n_fast < 0 ? 0 : (n_fast > n ? n : n_fast);
            if (n_fast > 0) {
                if (job->steps > 3) {
                    qnnc_conv_mve_pair_padded(x0, x1, K, job->steps, w, n_fast, accs, accs + n);
                } else {
                    qnnc_conv_mve_resident(job->steps, x0, x1, K, w, n_fast, accs, accs + n);
                }
            }
            if (n_fast < n) {
                if (job->steps > 3) {
                    qnnc_conv_mve_pair(x0, x1, K, w + n_fast * K, n - n_fast, accs + n_fast, accs + n + n_fast);
                } else {
                    qnnc_conv_mve_resident_tail(job->steps, x0, x1, K, w + n_fast * K, n - n_fast, accs + n_fast,
                                                accs + n + n_fast);
                }
            }
        }
        if (job->no_left) {
            qnnc_conv_mve_requant_body(accs, accs + n, job->fbias + oc, &qb, &job->rq, n, out0 + oc, out1 + oc, 1);
        } else {
            qnnc_conv_mve_requant_body(accs, accs + n, job->fbias + oc, &qb, &job->rq, n, out0 + oc, out1 + oc, 0);
        }
    }
}

static QNNC_CONV_PATH_ATTR int qnnc_conv_s8_mve(const qnnc_buffer *scratch,
                            const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                            const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias,
                            const qnnc_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t K = k_h * k_w * in_c;
    const int32_t n_pix = output_dims->h * out_w;
    const int32_t output_offset = params->output_offset;
    const int32_t input_offset = params->input_offset;
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int8_t *act_lut = params->act_lut;
    /* 1x1, no padding: the input pixel itself is the column */
    const int direct = qnnc_conv_direct(params, input_dims, filter_dims, output_dims);
    qnnc_conv_mve_geo_t geo;
    const int32_t blk = out_c < QNNC_CONV_OC_BLOCK ? out_c : QNNC_CONV_OC_BLOCK;
    int32_t b, p, oc;
    qnnc_conv_mve_job_t job;
    int32_t *fbias; /* bias + input_offset * sum(w): the offset folded in (out_c) */
    int32_t *accs;  /* the dot products of a pixel pair, one channel block (2 * blk) */
    int8_t *cols;   /* two int8 columns of (K + 15) & ~15 bytes, unless direct */

    if (K > QNNC_CONV_MAX_K || out_c > QNNC_CONV_MAX_K || scratch == NULL || scratch->buf == NULL) {
        return 0;
    }
    {
        /* carve the (4-byte aligned) scratch buffer; too small: portable path */
        const uintptr_t a = ((uintptr_t)scratch->buf + 3u) & ~(uintptr_t)3u;
        const int32_t lost = (int32_t)(a - (uintptr_t)scratch->buf);
        if (scratch->size - lost < QNNC_CONV_MVE_BUFFER_SIZE(K, out_c, direct)) {
            return 0;
        }
        fbias = (int32_t *)a;
        accs = fbias + out_c;
        cols = (int8_t *)(accs + 2 * blk);
    }
    job.rq.lo = vdupq_n_s32(lo);
    job.rq.hi = vdupq_n_s32(hi);
    job.rq.output_offset = output_offset;
    job.no_left = 1;
    for (oc = 0; oc < out_c; ++oc) {
        if (quant->shift[oc] > 0) {
            job.no_left = 0;
        }
    }
    {
        const int32_t colsz = (K + 15) & ~15;
        job.filter = filter;
        job.fbias = fbias;
        job.mult = quant->multiplier;
        job.shift = quant->shift;
        job.accs = accs;
        job.K = K;
        job.out_c = out_c;
        job.blk = blk;
        job.steps = colsz >> 4;
        job.tail_c = (colsz + K - 1) / K;
        job.mode = (K & 15) == 0 ? QNNC_CONV_MVE_K16 : (direct ? QNNC_CONV_MVE_PRED : QNNC_CONV_MVE_PADDED);
        geo.params = params;
        geo.in_h = in_h;
        geo.in_w = in_w;
        geo.in_c = in_c;
        geo.k_h = k_h;
        geo.k_w = k_w;
        geo.step = params->dilation_h * in_w * in_c;
        geo.span_h = (k_h - 1) * params->dilation_h;
        geo.short_rows = k_w * in_c <= 16 && params->dilation_w == 1;
        if (!direct) {
            /* the columns' bytes past K stay zero (im2col writes only K bytes) */
            int32_t k;
            for (k = K; k < colsz; ++k) {
                cols[k] = 0;
                cols[colsz + k] = 0;
            }
        }
        for (oc = 0; oc < out_c; ++oc) {
            const int8_t *w = filter + oc * K;
            int32_t s = 0, k;
            for (k = 0; k < K; k += 16) {
                s = vaddvaq_p_s8(s, vldrbq_z_s8(w + k, vctp8q((uint32_t)(K - k))), vctp8q((uint32_t)(K - k)));
            }
            fbias[oc] = (bias != NULL ? bias[oc] : 0) + input_offset * s;
        }
        for (b = 0; b < output_dims->n; ++b) {
            const int8_t *in_b = input + b * in_h * in_w * in_c;
            int8_t *out_b = output + b * n_pix * out_c;
            for (p = 0; p < n_pix; p += 2) {
                const int32_t p1 = p + 1 < n_pix ? p + 1 : p;
                const int32_t oh0 = p / out_w, ow0 = p % out_w, oh1 = p1 / out_w, ow1 = p1 % out_w;
                int8_t *out0 = out_b + p * out_c;
                int8_t *out1 = out_b + p1 * out_c;
                const int32_t ih0 = oh0 * params->stride_h - params->pad_top;
                const int32_t iw0 = ow0 * params->stride_w - params->pad_left;
                const int32_t ih1 = oh1 * params->stride_h - params->pad_top;
                const int32_t iw1 = ow1 * params->stride_w - params->pad_left;
                const int8_t *x0, *x1;
                if (direct) {
                    x0 = in_b + ((oh0 * params->stride_h) * in_w + ow0 * params->stride_w) * in_c;
                    x1 = in_b + ((oh1 * params->stride_h) * in_w + ow1 * params->stride_w) * in_c;
                } else {
                    qnnc_conv_mve_column(&geo, in_b, ih0, iw0, cols);
                    qnnc_conv_mve_column(&geo, in_b, ih1, iw1, cols + colsz);
                    x0 = cols;
                    x1 = cols + colsz;
                }
                qnnc_conv_mve_pixels(&job, x0, x1, out0, out1);
            }
        }
    }
    qnnc_conv_apply_lut(act_lut, output, output_dims->n * n_pix * out_c);
    return 1;
}
#endif /* QNNC_CONV_MVE */

int32_t qnnc_conv_s8_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    const int32_t K = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t out_c = output_dims->c;
#if defined(QNNC_CONV_MVE)
    if (K > QNNC_CONV_MAX_K || out_c > QNNC_CONV_MAX_K) {
        return 0;
    }
    return QNNC_CONV_MVE_BUFFER_SIZE(K, out_c, qnnc_conv_direct(params, input_dims, filter_dims, output_dims));
#elif defined(QNNC_CONV_DSP)
    (void)params;
    if (K > QNNC_CONV_MAX_K || K < 4 || out_c > QNNC_CONV_MAX_K) {
        return 0;
    }
    return QNNC_CONV_DSP_BUFFER_SIZE(K, input_dims->c, out_c);
#else
    (void)params;
    (void)K;
    (void)out_c;
    return 0;
#endif
}

void qnnc_conv_s8(const qnnc_buffer *scratch,
                  const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                  const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *filter,
                  const int32_t *bias,
                  const qnnc_dims *output_dims, int8_t *output)
{
#if defined(QNNC_CONV_MVE)
    /* The SIMD paths implement TFLite rounding; other modes take the portable path. */
    if (params->rounding == QNNC_ROUND_TFLITE &&
        qnnc_conv_s8_mve(scratch, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output)) {
        return;
    }
#elif defined(QNNC_CONV_DSP)
    if (params->rounding == QNNC_ROUND_TFLITE &&
        qnnc_conv_s8_dsp(scratch, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_conv_s8_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
}
