/*
 * qnnc_fully_connected_s8_mve.c - the Helium path of qnnc_fully_connected_s8 (__ARM_FEATURE_MVE:
 * Cortex-M55/M85; compiled to nothing elsewhere; the entry point and dispatch are in
 * qnnc_fully_connected_s8.c).
 *
 * VMLADAVA dot products of 16 int8 lanes, 4 output features at a time; the input offset is
 * folded in as offset * sum(w), from the generator's kernel_sums or summed in the same loop
 * (VADDVA). No scratch. Both rounding modes: TFLite's (the exact vector requantization) and
 * half-even (qnnc_mve_rq_he_neg, lane by lane where a shift is not negative).
 */
#include "qnnc_internal.h"

#if QNNC_PATH_MVE
/* *a += x . w over 16 lanes and (with_sums, a constant) *s += sum(w). */
QNNC_INLINE void qnnc_fc_mve_mac(int32_t *a, int32_t *s, int8x16_t vx, int8x16_t vw, int with_sums)
{
    *a = vmladavaq_s8(*a, vx, vw);
    if (with_sums) {
        *s = vaddvaq_s8(*s, vw);
    }
}

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
        qnnc_fc_mve_mac(&a0, &s0, vx, vldrbq_s8(w), with_sums);
        qnnc_fc_mve_mac(&a1, &s1, vx, vldrbq_s8(w1), with_sums);
        qnnc_fc_mve_mac(&a2, &s2, vx, vldrbq_s8(w2), with_sums);
        qnnc_fc_mve_mac(&a3, &s3, vx, vldrbq_s8(w3), with_sums);
        x += 16;
        w += 16;
        w1 += 16;
        w2 += 16;
        w3 += 16;
    }
    if (K & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(K & 15));
        const int8x16_t vx = vldrbq_z_s8(x, p);
        qnnc_fc_mve_mac(&a0, &s0, vx, vldrbq_z_s8(w, p), with_sums);
        qnnc_fc_mve_mac(&a1, &s1, vx, vldrbq_z_s8(w1, p), with_sums);
        qnnc_fc_mve_mac(&a2, &s2, vx, vldrbq_z_s8(w2, p), with_sums);
        qnnc_fc_mve_mac(&a3, &s3, vx, vldrbq_z_s8(w3, p), with_sums);
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

static QNNC_LOOP_ATTR void qnnc_fc_dot4_mve(const int8_t *x, int32_t K, const int8_t *w, int32_t wstride,
                                               int32_t *acc, int32_t *wsum)
{
    qnnc_fc_dot4_body(x, K, w, wstride, acc, wsum, 1);
}

static QNNC_LOOP_ATTR void qnnc_fc_dot4_nosum_mve(const int8_t *x, int32_t K, const int8_t *w,
                                                     int32_t wstride, int32_t *acc)
{
    qnnc_fc_dot4_body(x, K, w, wstride, acc, NULL, 0);
}

/* Half-even requantization of 4 accumulators lane by lane (qnnc_requantize_half_even): lanes
 * with a shift >= 0 (raw parameters; the quantizer's are negative). */
static QNNC_PATH_ATTR int32x4_t qnnc_fc_mve_half_even_lanes(int32x4_t acc, int32x4_t mult, int32x4_t shift)
{
    int32_t a[4], m[4], sh[4], i;
    vst1q_s32(a, acc);
    vst1q_s32(m, mult);
    vst1q_s32(sh, shift);
    for (i = 0; i < 4; ++i) {
        a[i] = qnnc_requantize_half_even(a[i], m[i], sh[i]);
    }
    return vld1q_s32(a);
}

/* The requantization of 4 accumulators in the layer's rounding: TFLite's exact vector one, or
 * half-even by qnnc_mve_rq_he_neg when every lane's shift is negative, else lane by lane. Lanes
 * past the last output feature hold shift 0 and are not stored. */
QNNC_INLINE int32x4_t qnnc_fc_mve_rq(int32x4_t v, int32x4_t mult, int32x4_t shift, int half_even)
{
    if (half_even) {
        if (vmaxvq_s32(INT32_MIN, shift) <= -1) {
            /* s = min(-1 - shift, 30) (qnnc_rq_he_s), lim = 2^s */
            const int32x4_t s = vminq_s32(vsubq_s32(vdupq_n_s32(-1), shift), vdupq_n_s32(30));
            return qnnc_mve_rq_he_neg(v, mult, vnegq_s32(s), vshlq_s32(vdupq_n_s32(1), s));
        }
        return qnnc_fc_mve_half_even_lanes(v, mult, shift);
    }
    v = vqrdmulhq_s32(vqshlq_s32(v, vmaxq_s32(shift, vdupq_n_s32(0))), mult);
    /* minus the right shift, at most 31 */
    return qnnc_mve_round_shift(v, vmaxq_s32(vminq_s32(shift, vdupq_n_s32(0)), vdupq_n_s32(-31)));
}

#if defined(__GNUC__) && defined(__OPTIMIZE__)
/* (x . w_i) for the 4 rows w_i = *w + i * K, K a multiple of 16 and >= 16, as one vector; *w
 * moves on to the next 4 rows. The 16-lane loop of qnnc_fc_dot4_body in inline assembly, the 4
 * sums moved into the lanes with two VMOVs: GCC 12 spends ~20 instructions per call setting up
 * its own loop and goes through the stack for the vector (for a 128-input layer as much as the
 * loop itself). "Te": the even registers VMLADAVA takes. */
QNNC_INLINE int32x4_t qnnc_fc_mve_dot4_asm(const int8_t *x, int32_t K, const int8_t **w)
{
    int32_t a0, a1, a2, a3;
    const int8_t *w0 = *w, *w1, *w2, *w3;
    int32x4_t v;
    __asm volatile("add %[w1], %[w0], %[K]\n\t"
                   "add %[w2], %[w1], %[K]\n\t"
                   "add %[w3], %[w2], %[K]\n\t"
                   "movs %[a0], #0\n\t"
                   "movs %[a1], #0\n\t"
                   "movs %[a2], #0\n\t"
                   "movs %[a3], #0\n\t"
                   "asrs lr, %[K], #4\n\t"
                   "dls lr, lr\n"
                   "1:\n\t"
                   "vldrb.8 q0, [%[x]], #16\n\t"
                   "vldrb.8 q1, [%[w0]], #16\n\t"
                   "vmladava.s8 %[a0], q0, q1\n\t"
                   "vldrb.8 q1, [%[w1]], #16\n\t"
                   "vmladava.s8 %[a1], q0, q1\n\t"
                   "vldrb.8 q1, [%[w2]], #16\n\t"
                   "vmladava.s8 %[a2], q0, q1\n\t"
                   "vldrb.8 q1, [%[w3]], #16\n\t"
                   "vmladava.s8 %[a3], q0, q1\n\t"
                   "le lr, 1b\n\t"
                   "vmov %q[v][2], %q[v][0], %[a0], %[a2]\n\t"
                   "vmov %q[v][3], %q[v][1], %[a1], %[a3]\n\t"
                   : [v] "=w"(v), [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3),
                     [x] "+r"(x), [w0] "+r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)
                   : [K] "r"(K)
                   : "lr", "d0", "d1", "d2", "d3", "memory", "cc");
    *w = w3; /* row 3 ends where the next block's row 0 starts */
    return v;
}
#else
/* The same in C (other compilers, builds without optimization). */
QNNC_INLINE int32x4_t qnnc_fc_mve_dot4_asm(const int8_t *x, int32_t K, const int8_t **w)
{
    int32_t acc[4];
    qnnc_fc_dot4_body(x, K, *w, K, acc, NULL, 0);
    *w += 4 * K;
    return vld1q_s32(acc);
}
#endif

/* The loop of qnnc_fc_mve_blocks; mode (a constant): 0 TFLite rounding with every shift in
 * [-31, 0] (no left shift, no clamp of the right one), 1 half-even rounding, 2 either rounding
 * and any shift (qnnc_fc_mve_rq with half_even). use_asm (a constant): qnnc_fc_mve_dot4_asm,
 * else qnnc_fc_dot4_body. */
QNNC_INLINE void qnnc_fc_mve_blocks_body(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                                         const int8_t *x, int32_t K, int32_t out_features, const int8_t *weights,
                                         const int32_t *bias, int8_t *output, int mode, int half_even, int use_asm)
{
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    const int32x4_t lo = vdupq_n_s32(params->act_min - output_offset);
    const int32x4_t hi = vdupq_n_s32(params->act_max - output_offset);
    const int32_t *sums = params->kernel_sums, *mult = quant->multiplier, *shift = quant->shift;
    int8_t *const end = output + (out_features & ~3);
    while (output != end) {
        int32x4_t v;
        if (use_asm) {
            v = qnnc_fc_mve_dot4_asm(x, K, &weights);
        } else {
            int32_t acc[4];
            qnnc_fc_dot4_body(x, K, weights, K, acc, NULL, 0);
            weights += 4 * K;
            v = vld1q_s32(acc);
        }
        v = vmlaq_n_s32(v, vld1q_s32(sums), input_offset);
        if (bias != NULL) {
            v = vaddq_s32(v, vld1q_s32(bias));
            bias += 4;
        }
        if (mode == 0) {
            v = qnnc_mve_round_shift(vqrdmulhq_s32(v, vld1q_s32(mult)), vld1q_s32(shift));
        } else {
            v = qnnc_fc_mve_rq(v, vld1q_s32(mult), vld1q_s32(shift), mode == 1 || half_even);
        }
        vstrbq_s32(output, qnnc_mve_clamp_offset(v, lo, hi, output_offset));
        sums += 4;
        mult += 4;
        shift += 4;
        output += 4;
    }
}

/* The full blocks of 4 output features of one input row when the generator gives the weight
 * sums: the output stage on 4 lanes without predicates, the dot products inlined
 * (qnnc_fc_mve_dot4_asm where K is a multiple of 16), loops specialized for the rounding mode
 * (TFLite's when the shifts need neither a left shift nor a clamp, a scan of the layer's shifts:
 * 4 vector instructions fewer per block). Returns the outputs written, out_features & ~3. */
static QNNC_LOOP_ATTR int32_t qnnc_fc_mve_blocks(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                                                 const int8_t *x, int32_t K, int32_t out_features,
                                                 const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const int half_even = params->rounding == QNNC_ROUND_HALF_EVEN;
    if (K >= 16 && (K & 15) == 0) {
        if (half_even) {
            qnnc_fc_mve_blocks_body(params, quant, x, K, out_features, weights, bias, output, 1, 1, 1);
        } else {
            int32_t o;
            int32_t smin = 0, smax = -31;
            for (o = 0; o + 4 <= out_features; o += 4) {
                const int32x4_t sh = vld1q_s32(quant->shift + o);
                smin = vminvq_s32(smin, sh);
                smax = vmaxvq_s32(smax, sh);
            }
            if (smin >= -31 && smax <= 0) {
                qnnc_fc_mve_blocks_body(params, quant, x, K, out_features, weights, bias, output, 0, 0, 1);
            } else {
                qnnc_fc_mve_blocks_body(params, quant, x, K, out_features, weights, bias, output, 2, 0, 1);
            }
        }
    } else {
        qnnc_fc_mve_blocks_body(params, quant, x, K, out_features, weights, bias, output, 2, half_even, 0);
    }
    return out_features & ~3;
}

QNNC_PATH_ATTR void qnnc_fc_mve_s8(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                                   int32_t in_features, const int8_t *input, int32_t out_features,
                                   const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const int32_t K = in_features;
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    const int32x4_t lo = vdupq_n_s32(params->act_min - output_offset);
    const int32x4_t hi = vdupq_n_s32(params->act_max - output_offset);
    const int8_t *act_lut = params->act_lut;
    const int32_t *sums = params->kernel_sums; /* NULL: summed here */
    const int half_even = params->rounding == QNNC_ROUND_HALF_EVEN;
    int32_t r, o, i;
    for (r = 0; r < rows; ++r) {
        const int8_t *x = input + r * K;
        o = sums != NULL ? qnnc_fc_mve_blocks(params, quant, x, K, out_features, weights, bias, output) : 0;
        for (; o < out_features; o += 4) {
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
            v = qnnc_fc_mve_rq(v, vldrwq_z_s32(quant->multiplier + o, p), shift, half_even);
            v = qnnc_mve_clamp_offset(v, lo, hi, output_offset);
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
#endif /* QNNC_PATH_MVE */
