/*
 * qnnc_fully_connected_s8 - int8 fully connected layer, weights [out_features][in_features].
 * Reference: qnnc/reference/kernels.py:fully_connected_s8.
 *
 * Paths, chosen at compile time from the compiler's own macros:
 *   - Helium (__ARM_FEATURE_MVE): VMLADAVA dot products of 16 int8 lanes, 4 output features
 *     at a time; the input offset is folded in as offset * sum(w) (VADDVA in the same loop).
 *   - Armv7E-M DSP (__ARM_FEATURE_DSP): the input row is widened once per row into q15 with
 *     the offset added (SXTAB16, lane order of SXTB16; the only scratch), then SMLAD over 4
 *     output features (inline assembly, see QNNC_DSP_ASM), weights widened on the fly with
 *     SXTB16, the four results requantized in registers.
 *   - Portable C99 otherwise.
 * Exact integer sums: every path gives the reference's output bit for bit.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE_SIZE__) && !defined(QNNC_NO_FORCE_O2)
#pragma GCC optimize("O2") /* kernels stay at -O2 when the firmware is built for size */
#endif

#include "qnnc_kernels.h"

#if !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define QNNC_FC_MVE 1
#include <arm_mve.h>
#elif !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define QNNC_FC_DSP 1
#include <arm_acle.h>
#include <string.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define QNNC_FC_LOOP_ATTR __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define QNNC_FC_LOOP_ATTR __attribute__((noinline))
#else
#define QNNC_FC_LOOP_ATTR
#endif

/* Each path is its own function, so the stack high-water is the deepest path's, not their sum. */
#if defined(__GNUC__)
#define QNNC_FC_PATH_ATTR __attribute__((noinline))
#else
#define QNNC_FC_PATH_ATTR
#endif

/* The portable path: every target, and every rounding mode (the SIMD paths do TFLite rounding). */
static QNNC_FC_PATH_ATTR void qnnc_fc_portable(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *weights,
                             const int32_t *bias, int8_t *output)
{
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    /* clamp(v + offset, min, max) == clamp(v, min - offset, max - offset) + offset; clamping
     * first keeps the offset add from overflowing when requantization saturates. */
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    int32_t r, o, k;

    for (r = 0; r < rows; ++r) {
        const int8_t *in_row = input + r * in_features;
        for (o = 0; o < out_features; ++o) {
            const int8_t *w_row = weights + o * in_features;
            int32_t acc = bias != NULL ? bias[o] : 0;
            for (k = 0; k < in_features; ++k) {
                acc += (int32_t)w_row[k] * ((int32_t)in_row[k] + input_offset);
            }
            *output++ = qnnc_output_s8(acc, quant->multiplier[o], quant->shift[o], lo, hi, output_offset,
                                    params->act_lut, params->rounding);
        }
    }
}

#if defined(QNNC_FC_DSP)
/* ------------------------------------------------------------ Armv7E-M DSP path -- */

/* Output stage; the fast requantization (exact for multiplier 0 or in [2^30, 2^31) and shift
 * in [-20, 0], see qnnc_conv_s8.c for the argument) or the reference one. */
QNNC_INLINE int qnnc_fc_fast_ok(int32_t mult, int32_t shift)
{
    return (mult == 0 || mult >= (1 << 30)) && shift <= 0 && shift >= -20;
}

/* The fast requantization by a right shift s = -shift >= 0. */
QNNC_INLINE int32_t qnnc_fc_rq_fast(int32_t acc, int32_t mult, int32_t s)
{
    int32_t v = qnnc_dsp_smmulr(__qadd(acc, acc), mult);
    v += (v & -s) >> 31;
    return (v + ((1 << s) >> 1)) >> s;
}

QNNC_INLINE int8_t qnnc_fc_out_dsp(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi,
                                   int32_t output_offset)
{
    int32_t v;
    if (qnnc_fc_fast_ok(mult, shift)) {
        v = qnnc_fc_rq_fast(acc, mult, -shift);
    } else {
        v = qnnc_requantize(acc, mult, shift);
    }
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + output_offset);
}

/* The 4-row SMLAD loop in assembly (see QNNC_DSP_ASM in qnnc_kernels.h): LDRD of the row,
 * one post-incremented pointer per weight row. */
#if defined(QNNC_DSP_ASM)
#define QNNC_FC_ROW_STEP(a, w)                                                                 \
    "ldr %[v], [%[" w "]], #4\n\t"                                                             \
    "sxtb16 %[t], %[v]\n\t"                                                                    \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                            \
    "smlad %[" a "], %[t], %[xa], %[" a "]\n\t"                                                \
    "smlad %[" a "], %[v], %[xb], %[" a "]\n\t"
#define QNNC_FC_DOT4_GROUP                                                                     \
    "ldrd %[xa], %[xb], [%[x]], #8\n\t" QNNC_FC_ROW_STEP("a0", "w0") QNNC_FC_ROW_STEP("a1", "w1") \
        QNNC_FC_ROW_STEP("a2", "w2") QNNC_FC_ROW_STEP("a3", "w3")
#define QNNC_FC_DOT4_OPERANDS                                                                  \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w0] "+r"(w0),    \
    [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [xa] "=&r"(xa), [xb] "=&r"(xb), [v] "=&r"(v),  \
    [t] "=&r"(t)
#endif

/* acc[0..3] += x . w_i for the 4 weight rows w, w + K, w + 2K, w + 3K over `groups` groups of 4;
 * x is the widened row: words (x0, x2), (x1, x3) per group. Per group: one LDRD of x, and per
 * row LDR + 2 SXTB16 + 2 SMLAD. */
QNNC_INLINE void qnnc_fc_dot4(const uint32_t *x, int32_t groups, const int8_t *w, int32_t K, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if defined(QNNC_DSP_ASM)
    const int8_t *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
    const uint32_t *x_end = x + 2 * groups;
    uint32_t xa, xb, v, t;
    QNNC_DSP_ASM_LOOP2((groups & 1) != 0, QNNC_FC_DOT4_GROUP, QNNC_FC_DOT4_OPERANDS, "x", "v", x, x_end);
#else
    const int8_t *w_end = w + 4 * groups;
    while (w < w_end) { /* (unrolling makes GCC 12 spill) */
        uint64_t xx;
        int32_t xa, xb;
        uint32_t v;
        memcpy(&xx, x, 8u);
        xa = (int32_t)(uint32_t)xx;
        xb = (int32_t)(uint32_t)(xx >> 32);
        v = qnnc_dsp_rd32(w);
        a0 = __smlad(__sxtb16((int32_t)v), xa, a0);
        a0 = __smlad(qnnc_dsp_sxtb16_ror8(v), xb, a0);
        v = qnnc_dsp_rd32(w + K);
        a1 = __smlad(__sxtb16((int32_t)v), xa, a1);
        a1 = __smlad(qnnc_dsp_sxtb16_ror8(v), xb, a1);
        v = qnnc_dsp_rd32(w + 2 * K);
        a2 = __smlad(__sxtb16((int32_t)v), xa, a2);
        a2 = __smlad(qnnc_dsp_sxtb16_ror8(v), xb, a2);
        v = qnnc_dsp_rd32(w + 3 * K);
        a3 = __smlad(__sxtb16((int32_t)v), xa, a3);
        a3 = __smlad(qnnc_dsp_sxtb16_ror8(v), xb, a3);
        x += 2;
        w += 4;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One input row against every weight row: 4 outputs at a time (dot4, the K % 4 tail, the
 * output stage), the last 1..3 one at a time; the accumulators stay in registers.
 * mode 2: the activation range is the whole int8 range (SSAT as the clamp). */
/* The out-of-line copy for the general path (one inlined copy serves the common layer). */
static QNNC_FC_LOOP_ATTR void qnnc_fc_dot4_call(const uint32_t *x, int32_t groups, const int8_t *w, int32_t K,
                                                int32_t *acc)
{
    qnnc_fc_dot4(x, groups, w, K, acc);
}

static QNNC_FC_LOOP_ATTR void qnnc_fc_row_dsp(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                                              int32_t K, const uint32_t *xw, const int16_t *xtail,
                                              int32_t out_features, const int8_t *weights,
                                              const int32_t *bias, int mode, int8_t *restrict output)
{
    const int32_t kq = K & ~3;
    const int32_t output_offset = params->output_offset;
    const int32_t lo = params->act_min - output_offset;
    const int32_t hi = params->act_max - output_offset;
    const int32_t *mults = quant->multiplier;
    const int32_t *shifts = quant->shift;
    int32_t o = 0, t, i;
    if (mode == 2 && bias != NULL && kq == K) {
        /* the common layer: running pointers, the dot products inlined (accumulators in
         * registers), each block's channels checked for the fast requantization as they come */
        const int8_t *w = weights;
        const int32_t *b = bias, *m = mults, *sh = shifts;
        int8_t *out = output;
        int8_t *const out_end = output + (out_features & ~3);
        while (out != out_end) {
            int32_t acc[4];
            acc[0] = b[0];
            acc[1] = b[1];
            acc[2] = b[2];
            acc[3] = b[3];
            qnnc_fc_dot4(xw, kq / 4, w, K, acc);
            if (qnnc_fc_fast_ok(m[0], sh[0]) && qnnc_fc_fast_ok(m[1], sh[1]) && qnnc_fc_fast_ok(m[2], sh[2]) &&
                qnnc_fc_fast_ok(m[3], sh[3])) {
                const int32_t r0 = qnnc_dsp_ssat8(qnnc_fc_rq_fast(acc[0], m[0], -sh[0]) + output_offset);
                const int32_t r1 = qnnc_dsp_ssat8(qnnc_fc_rq_fast(acc[1], m[1], -sh[1]) + output_offset);
                const int32_t r2 = qnnc_dsp_ssat8(qnnc_fc_rq_fast(acc[2], m[2], -sh[2]) + output_offset);
                const int32_t r3 = qnnc_dsp_ssat8(qnnc_fc_rq_fast(acc[3], m[3], -sh[3]) + output_offset);
                out[0] = (int8_t)r0;
                out[1] = (int8_t)r1;
                out[2] = (int8_t)r2;
                out[3] = (int8_t)r3;
            } else {
                for (i = 0; i < 4; ++i) {
                    out[i] = qnnc_fc_out_dsp(acc[i], m[i], sh[i], lo, hi, output_offset);
                }
            }
            w += 4 * K;
            b += 4;
            m += 4;
            sh += 4;
            out += 4;
        }
        o = out_features & ~3;
    }
    for (; o < out_features; o += 4) {
        const int32_t n = out_features - o < 4 ? out_features - o : 4;
        const int8_t *w = weights + o * K;
        int32_t acc[4] = {0, 0, 0, 0};
        if (n == 4) {
            if (bias != NULL) {
                acc[0] = bias[o];
                acc[1] = bias[o + 1];
                acc[2] = bias[o + 2];
                acc[3] = bias[o + 3];
            }
            qnnc_fc_dot4_call(xw, kq / 4, w, K, acc);
        } else {
            for (i = 0; i < n; ++i) { /* the last rows one at a time (the 4 rows alias) */
                int32_t one[4] = {0, 0, 0, 0};
                one[0] = bias != NULL ? bias[o + i] : 0;
                qnnc_fc_dot4_call(xw, kq / 4, w + i * K, 0, one);
                acc[i] = one[0];
            }
        }
        for (i = 0; i < n && kq < K; ++i) {
            for (t = kq; t < K; ++t) {
                acc[i] += (int32_t)w[i * K + t] * xtail[t - kq];
            }
        }
        for (i = 0; i < n; ++i) {
            output[o + i] = qnnc_fc_out_dsp(acc[i], mults[o + i], shifts[o + i], lo, hi, output_offset);
        }
    }
}

static QNNC_FC_PATH_ATTR int qnnc_fc_dsp(const qnnc_buffer *scratch,
                       const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                       int32_t rows, int32_t in_features, const int8_t *input,
                       int32_t out_features, const int8_t *weights,
                       const int32_t *bias, int8_t *output)
{
    const int32_t K = in_features;
    const int32_t kq = K & ~3;
    const int32_t off = params->input_offset;
    const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
    int32_t r, k;
    uint32_t *xw; /* the widened row: K / 4 groups of two words (scratch) */
    if (K > QNNC_FC_MAX_K || K < 4 || out_features > QNNC_FC_MAX_K || scratch == NULL || scratch->buf == NULL) {
        return 0;
    }
    {
        const uintptr_t a = ((uintptr_t)scratch->buf + 3u) & ~(uintptr_t)3u;
        if (scratch->size - (int32_t)(a - (uintptr_t)scratch->buf) < QNNC_FC_DSP_BUFFER_SIZE(K, out_features)) {
            return 0; /* too small: portable path */
        }
        xw = (uint32_t *)a;
    }
    {
        int16_t xtail[4];
        /* 2: the activation range is the whole int8 range (SSAT); the fast requantization is
         * checked per channel where it is used (no scan of the layer's channels per call) */
        const int mode = params->act_min == -128 && params->act_max == 127 ? 2 : 0;
        for (r = 0; r < rows; ++r) {
            const int8_t *x = input + r * K;
            for (k = 0; k < kq; k += 4) {
                const uint32_t v = qnnc_dsp_rd32(x + k);
                xw[k / 2] = (uint32_t)__sxtab16(off2, (int32_t)v);
                xw[k / 2 + 1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v);
            }
            for (k = kq; k < K; ++k) {
                xtail[k - kq] = (int16_t)(x[k] + off);
            }
            qnnc_fc_row_dsp(params, quant, K, xw, xtail, out_features, weights, bias, mode,
                            output + r * out_features);
        }
    }
    if (params->act_lut != NULL) {
        for (k = 0; k < rows * out_features; ++k) {
            output[k] = params->act_lut[output[k] + 128];
        }
    }
    return 1;
}
#endif /* QNNC_FC_DSP */

#if defined(QNNC_FC_MVE)
/* ------------------------------------------------------------- Helium MVE path -- */

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
        int8x16_t vw = vldrbq_s8(w);
        a0 = vmladavaq_s8(a0, vx, vw);
        if (with_sums) {
            s0 = vaddvaq_s8(s0, vw);
        }
        vw = vldrbq_s8(w1);
        a1 = vmladavaq_s8(a1, vx, vw);
        if (with_sums) {
            s1 = vaddvaq_s8(s1, vw);
        }
        vw = vldrbq_s8(w2);
        a2 = vmladavaq_s8(a2, vx, vw);
        if (with_sums) {
            s2 = vaddvaq_s8(s2, vw);
        }
        vw = vldrbq_s8(w3);
        a3 = vmladavaq_s8(a3, vx, vw);
        if (with_sums) {
            s3 = vaddvaq_s8(s3, vw);
        }
        x += 16;
        w += 16;
        w1 += 16;
        w2 += 16;
        w3 += 16;
    }
    if (K & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(K & 15));
        const int8x16_t vx = vldrbq_z_s8(x, p);
        int8x16_t vw = vldrbq_z_s8(w, p);
        a0 = vmladavaq_s8(a0, vx, vw);
        if (with_sums) {
            s0 = vaddvaq_s8(s0, vw);
        }
        vw = vldrbq_z_s8(w1, p);
        a1 = vmladavaq_s8(a1, vx, vw);
        if (with_sums) {
            s1 = vaddvaq_s8(s1, vw);
        }
        vw = vldrbq_z_s8(w2, p);
        a2 = vmladavaq_s8(a2, vx, vw);
        if (with_sums) {
            s2 = vaddvaq_s8(s2, vw);
        }
        vw = vldrbq_z_s8(w3, p);
        a3 = vmladavaq_s8(a3, vx, vw);
        if (with_sums) {
            s3 = vaddvaq_s8(s3, vw);
        }
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

static QNNC_FC_LOOP_ATTR void qnnc_fc_dot4_mve(const int8_t *x, int32_t K, const int8_t *w, int32_t wstride,
                                               int32_t *acc, int32_t *wsum)
{
    qnnc_fc_dot4_body(x, K, w, wstride, acc, wsum, 1);
}

static QNNC_FC_LOOP_ATTR void qnnc_fc_dot4_nosum_mve(const int8_t *x, int32_t K, const int8_t *w,
                                                     int32_t wstride, int32_t *acc)
{
    qnnc_fc_dot4_body(x, K, w, wstride, acc, NULL, 0);
}

static QNNC_FC_PATH_ATTR void qnnc_fc_mve(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                        int32_t rows, int32_t in_features, const int8_t *input,
                        int32_t out_features, const int8_t *weights,
                        const int32_t *bias, int8_t *output)
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
            v = vrshlq_s32(vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, shift), 31)), shift);
            v = vaddq_n_s32(vminq_s32(vmaxq_s32(v, lo), hi), output_offset);
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
#endif /* QNNC_FC_MVE */

int32_t qnnc_fully_connected_s8_get_buffer_size(int32_t in_features, int32_t out_features)
{
#if defined(QNNC_FC_DSP)
    if (in_features > QNNC_FC_MAX_K || in_features < 4 || out_features > QNNC_FC_MAX_K) {
        return 0;
    }
    return QNNC_FC_DSP_BUFFER_SIZE(in_features, out_features);
#else
    (void)in_features; /* Helium and portable paths need no scratch */
    (void)out_features;
    return 0;
#endif
}

void qnnc_fully_connected_s8(const qnnc_buffer *scratch,
                             const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *weights,
                             const int32_t *bias, int8_t *output)
{
    if (params->rounding != QNNC_ROUND_TFLITE) {
        (void)scratch;
        qnnc_fc_portable(params, quant, rows, in_features, input, out_features, weights, bias, output);
        return;
    }
#if defined(QNNC_FC_MVE)
    (void)scratch;
    qnnc_fc_mve(params, quant, rows, in_features, input, out_features, weights, bias, output);
#else
#if defined(QNNC_FC_DSP)
    if (qnnc_fc_dsp(scratch, params, quant, rows, in_features, input, out_features, weights, bias, output)) {
        return;
    }
#else
    (void)scratch;
#endif
    qnnc_fc_portable(params, quant, rows, in_features, input, out_features, weights, bias, output);
#endif
}
