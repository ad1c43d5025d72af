/*
 * qnnc_fully_connected_s8_dsp.c - the Armv7E-M DSP path of qnnc_fully_connected_s8
 * (__ARM_FEATURE_DSP: Cortex-M4/M7/M33; compiled to nothing elsewhere; the entry point and
 * dispatch are in qnnc_fully_connected_s8.c).
 *
 * The input row is widened once per row into q15 with the offset added (SXTAB16, lane order of
 * SXTB16; the only scratch, QNNC_FC_DSP_BUFFER_SIZE), then SMLAD over 4 output features (inline
 * assembly, see QNNC_DSP_ASM in qnnc_internal.h), weights widened on the fly with SXTB16, the
 * four results requantized in registers (TFLite rounding: qnnc_dsp_rq_fast where exact, else the
 * reference; half-even rounding: qnnc_rq_he_neg, one 64-bit add, where the shift is negative).
 */
#include "qnnc_fc_dsp.h"

#if QNNC_PATH_DSP
/* The 4-row SMLAD loop in assembly (see QNNC_DSP_ASM in qnnc_internal.h): LDRD of the row;
 * rows 0, 1 at w01 and w01 + K, rows 2, 3 at w23 and w23 + K, each pair's two words loaded
 * back to back (the second load pipelines: 3 cycles on the M4 instead of 4). */
#if defined(QNNC_DSP_ASM)
#define QNNC_FC_ROW_PAIR(a, b, w)                                                              \
    "ldr %[v], [%[" w "], %[K]]\n\t"                                                             \
    "ldr %[t], [%[" w "]], #4\n\t"                                                              \
    "sxtb16 %[u], %[t]\n\t"                                                                     \
    "sxtb16 %[t], %[t], ror #8\n\t"                                                             \
    "smlad %[" a "], %[u], %[xa], %[" a "]\n\t"                                                  \
    "smlad %[" a "], %[t], %[xb], %[" a "]\n\t"                                                  \
    "sxtb16 %[u], %[v]\n\t"                                                                     \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                             \
    "smlad %[" b "], %[u], %[xa], %[" b "]\n\t"                                                  \
    "smlad %[" b "], %[v], %[xb], %[" b "]\n\t"
#define QNNC_FC_DOT4_GROUP                                                                     \
    "ldrd %[xa], %[xb], [%[x]], #8\n\t" QNNC_FC_ROW_PAIR("a0", "a1", "w01") QNNC_FC_ROW_PAIR("a2", "a3", "w23")
#define QNNC_FC_DOT4_OPERANDS                                                                  \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w01] "+r"(w01),  \
        [w23] "+r"(w23), [xa] "=&r"(xa), [xb] "=&r"(xb), [v] "=&r"(v), [t] "=&r"(t), [u] "=&r"(u)
#endif

/* acc[0..3] += x . w_i for the 4 weight rows w, w + K, w + 2K, w + 3K over `groups` groups of 4;
 * x is the widened row: words (x0, x2), (x1, x3) per group. Per group: one LDRD of x, and per
 * row LDR + 2 SXTB16 + 2 SMLAD. The rows one at a time (the last 1..3 rows): K = 0, every
 * row pointer the same. */
QNNC_INLINE void qnnc_fc_dot4(const uint32_t *x, int32_t groups, const int8_t *w, int32_t K, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if defined(QNNC_DSP_ASM)
    const int8_t *w01 = w, *w23 = w + 2 * K;
    const uint32_t *x_end = x + 2 * groups;
    uint32_t xa, xb, v, t, u;
    if ((groups & 1) != 0) {
        __asm volatile(QNNC_FC_DOT4_GROUP : QNNC_FC_DOT4_OPERANDS : [K] "r"(K) : "memory");
    }
    if ((groups & 2) != 0) {
        __asm volatile(QNNC_FC_DOT4_GROUP QNNC_FC_DOT4_GROUP : QNNC_FC_DOT4_OPERANDS : [K] "r"(K) : "memory");
    }
    if (x != x_end) { /* 4 groups an iteration (the loop test costs 3 of 87 instructions) */
        __asm volatile("1:\n\t" QNNC_FC_DOT4_GROUP QNNC_FC_DOT4_GROUP QNNC_FC_DOT4_GROUP QNNC_FC_DOT4_GROUP
                       "ldr %[v], %[end]\n\t"
                       "cmp %[x], %[v]\n\t"
                       "bne 1b\n\t"
                       : QNNC_FC_DOT4_OPERANDS
                       : [K] "r"(K), [end] "m"(x_end)
                       : "cc", "memory");
    }
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

/* The out-of-line copy for the general path (one inlined copy serves the common layer). */
static QNNC_LOOP_ATTR void qnnc_fc_dot4_call(const uint32_t *x, int32_t groups, const int8_t *w, int32_t K,
                                                int32_t *acc)
{
    qnnc_fc_dot4(x, groups, w, K, acc);
}

/* One input row against every weight row: 4 outputs at a time (dot4, the K % 4 tail, the
 * output stage), the last 1..3 one at a time; the accumulators stay in registers. */
static QNNC_LOOP_ATTR void qnnc_fc_row_dsp(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
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
    const int32_t rounding = params->rounding;
    int32_t o = 0, t, i;
    (void)mode; /* (C loops: the general path only) */
#if defined(QNNC_DSP_ASM)
    if (mode != 0 && bias != NULL && kq == K) {
        /* every channel fast with a right shift: the output stage of 4 in one assembly block */
        const int8_t *w = weights;
        const int32_t *b = bias, *mp = mults, *sp = shifts;
        const int32_t o2 = 2 * output_offset + 1, amin = params->act_min, amax = params->act_max;
        int8_t *out = output;
        int8_t *const out_end = output + (out_features & ~3);
        while (out != out_end) {
            int32_t acc[4];
            acc[0] = b[0];
            acc[1] = b[1];
            acc[2] = b[2];
            acc[3] = b[3];
            qnnc_fc_dot4(xw, kq / 4, w, K, acc);
            qnnc_fc_store4_asm(acc, &mp, &sp, o2, amin, amax, mode, out);
            w += 4 * K;
            b += 4;
            out += 4;
        }
        o = out_features & ~3;
    }
#endif
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
            output[o + i] = qnnc_fc_out_dsp(acc[i], mults[o + i], shifts[o + i], lo, hi, output_offset,
                                             rounding);
        }
    }
}

QNNC_PATH_ATTR int qnnc_fc_dsp_s8(const qnnc_buffer *scratch, const qnnc_fc_params *params,
                                  const qnnc_per_channel_quant *quant, int32_t rows, int32_t in_features,
                                  const int8_t *input, int32_t out_features, const int8_t *weights,
                                  const int32_t *bias, int8_t *output)
{
    const int32_t K = in_features;
    const int32_t kq = K & ~3;
    const int32_t off = params->input_offset;
    const int32_t off2 = qnnc_dsp_pack2(off);
    int32_t r, k;
    uint32_t *xw; /* the widened row: K / 4 groups of two words (scratch) */
    if (K > QNNC_FC_MAX_K || K < 4 || out_features > QNNC_FC_MAX_K || scratch == NULL || scratch->buf == NULL) {
        return 0;
    }
    if (!qnnc_scratch_fits(scratch, 4u, QNNC_FC_DSP_BUFFER_SIZE(K, out_features))) {
        return 0; /* too small: portable path */
    }
    xw = (uint32_t *)qnnc_scratch_align(scratch, 4u);
    {
        int16_t xtail[4];
        const int mode = qnnc_fc_asm_mode(params, quant, out_features);
        for (r = 0; r < rows; ++r) {
            const int8_t *x = input + r * K;
            qnnc_fc_widen_row(xw, x, kq, off2);
            for (k = kq; k < K; ++k) {
                xtail[k - kq] = (int16_t)(x[k] + off);
            }
            qnnc_fc_row_dsp(params, quant, K, xw, xtail, out_features, weights, bias, mode,
                            output + r * out_features);
        }
    }
    qnnc_apply_lut(params->act_lut, output, rows * out_features);
    return 1;
}
#endif /* QNNC_PATH_DSP */
