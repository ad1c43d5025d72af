/*
 * qnnc_conv_s8_dsp.c - the Armv7E-M DSP path of qnnc_conv_s8 (__ARM_FEATURE_DSP: Cortex-M4/M7/M33;
 * compiled to nothing elsewhere; the entry point and dispatch are in qnnc_conv_s8.c).
 *
 * Two output pixels at a time are widened once into q15 columns with the offset added
 * (SXTAB16) and padding taps zero, in the lane order SXTB16 produces, then SMLAD over 2
 * channels x 2 pixels (inline assembly, see QNNC_DSP_ASM in qnnc_internal.h), the weights
 * widened on the fly with SXTB16 (no reordering needed), the four results requantized in
 * registers (TFLite rounding: qnnc_dsp_rq_fast where exact, else the reference; half-even:
 * qnnc_rq_he_neg for shifts < 0, else the reference). K % 4 != 0 (first layers): the columns'
 * last group is zero-padded, so every channel but the last runs the same loops. The columns
 * live in the caller's scratch buffer (QNNC_CONV_DSP_BUFFER_SIZE).
 */
#define QNNC_IM2COL_STRIDE 4 /* two interleaved columns */
#include "qnnc_conv_im2col_dsp.h"
#include "qnnc_dsp_mm2x2.h"
#include "qnnc_dsp_rq_asm.h"

#if QNNC_PATH_DSP
/* Requantization modes of the block loop (checked once per layer). */
#define QNNC_CONV_RQ_REF 0  /* some channel needs the reference requantization */
#define QNNC_CONV_RQ_FAST 1 /* every channel fast, clamp to [act_min, act_max] */
#define QNNC_CONV_RQ_SSAT 2 /* every channel fast, act range the whole int8 range: SSAT */
#define QNNC_CONV_RQ_HE 3   /* QNNC_ROUND_HALF_EVEN (qnnc_rq_he_neg where shift < 0) */

/* What the per-pixel-pair channel loop needs (columns and outputs of the current pair). */
typedef struct {
    const uint32_t *cols, *c_end; /* c_end: kq / 4 groups */
    const uint32_t *c_pad;        /* the end of (K + 3) / 4 groups (the last one zero-padded) */
    const int16_t *tail0, *tail1;
    int8_t *out0, *out1;
    const int8_t *filter;
    const int32_t *bias, *mult, *shift;
    int32_t K, kq, lo, hi, off, mode;
} qnnc_conv_dsp_job;

/* Output stage of a channel that cannot take the fast requantization. */
static __attribute__((noinline)) int32_t qnnc_conv_rq_ref(int32_t acc, int32_t mult, int32_t shift,
                                                          int32_t rounding)
{
    return qnnc_requantize_mode(acc, mult, shift, rounding);
}

/* Requantize, clamp and offset one accumulator (the general modes). */
QNNC_INLINE int32_t qnnc_conv_dsp_out(const qnnc_conv_dsp_job *j, int32_t acc, int32_t m, int32_t sh)
{
    int32_t v = j->mode == QNNC_CONV_RQ_FAST || qnnc_dsp_fast_ok(m, sh) ? qnnc_dsp_rq_fast(acc, m, -sh)
                                                                          : qnnc_conv_rq_ref(acc, m, sh, QNNC_ROUND_TFLITE);
    v = v < j->lo ? j->lo : v;
    v = v > j->hi ? j->hi : v;
    return v + j->off;
}

/* The half-even output stage of one channel's two accumulators a, b (returns a's, *rb = b's):
 * the channel's constants once for both; shifts >= 0 (scales >= 0.5) take the reference. */
QNNC_INLINE int32_t qnnc_conv_dsp_he(const qnnc_conv_dsp_job *j, int32_t a, int32_t b, int32_t m, int32_t sh,
                                     int32_t *rb)
{
    int32_t va, vb;
    if (sh < 0) {
        const int32_t s = qnnc_rq_he_s(sh);
        const int64_t hm1 = qnnc_rq_he_hm1(s);
        va = qnnc_rq_he_neg(a, m, s, hm1);
        vb = qnnc_rq_he_neg(b, m, s, hm1);
    } else {
        va = qnnc_conv_rq_ref(a, m, sh, QNNC_ROUND_HALF_EVEN);
        vb = qnnc_conv_rq_ref(b, m, sh, QNNC_ROUND_HALF_EVEN);
    }
    va = va < j->lo ? j->lo : (va > j->hi ? j->hi : va);
    vb = vb < j->lo ? j->lo : (vb > j->hi ? j->hi : vb);
    *rb = vb + j->off;
    return va + j->off;
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
    qnnc_conv_mm2x2(j->cols, j->c_end, w0, w1, &acc, 0);
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
        r00 = qnnc_dsp_ssat8(qnnc_dsp_rq_fast(acc.a00, m0, -s0) + off);
        r01 = qnnc_dsp_ssat8(qnnc_dsp_rq_fast(acc.a01, m0, -s0) + off);
        r10 = qnnc_dsp_ssat8(qnnc_dsp_rq_fast(acc.a10, m1, -s1) + off);
        r11 = qnnc_dsp_ssat8(qnnc_dsp_rq_fast(acc.a11, m1, -s1) + off);
    } else if (j->mode == QNNC_CONV_RQ_HE) {
        r00 = qnnc_conv_dsp_he(j, acc.a00, acc.a01, m0, s0, &r01);
        r10 = qnnc_conv_dsp_he(j, acc.a10, acc.a11, m1, s1, &r11);
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

/* Output channels [oc0, out_c) of the current pixel pair, two at a time. */
static QNNC_LOOP_ATTR void qnnc_conv_dsp_pair(const qnnc_conv_dsp_job *j, int32_t oc0, int32_t out_c)
{
    int32_t oc;
    for (oc = oc0; oc < out_c; oc += 2) {
        qnnc_conv_dsp_block(j, oc, oc + 1 < out_c ? oc + 1 : oc);
    }
}

#if defined(QNNC_DSP_ASM)
/* Both channels' results stored: pixel 1 at o + d1 (d1 = 0 for an odd pixel count's last
 * column, the same values), o advanced by 2. */
#define QNNC_CONV_STORE2X2                                                                     \
    "strb %[a01], [%[o], %[d1]]\n\t"                                                             \
    "strb %[a00], [%[o]], #1\n\t"                                                               \
    "strb %[a11], [%[o], %[d1]]\n\t"                                                             \
    "strb %[a10], [%[o]], #1\n\t"
#define QNNC_CONV_RQ_OUTPUTS                                                                   \
    [a00] "+r"(acc.a00), [a01] "+r"(acc.a01), [a10] "+r"(acc.a10), [a11] "+r"(acc.a11), [mp] "+r"(mult), \
        [sp] "+r"(shift), [o] "+r"(o), [m] "=&r"(m_), [t] "=&r"(t_)
#endif

/* The common layers: every channel's requantization fast (TFLite rounding: qnnc_dsp_rq_fast,
 * SSAT when the activation range is the whole int8 range; half-even: every shift < 0,
 * qnnc_rq_he_neg) and a bias. Channels [0, n) in pairs (n even), over (K + 3) / 4 groups of
 * zero-padded columns (a row read past K reads the next row's weights, times 0): no per-block
 * mode or tail tests and one index for the channel arrays (`mode`, a constant: the
 * QNNC_CONV_RQ_* of the layer). */
QNNC_INLINE void qnnc_conv_dsp_fast_body(const qnnc_conv_dsp_job *j, int32_t n, int mode)
{
    const int32_t K = j->K, off = j->off;
    const int8_t *w = j->filter;
    const int8_t *const w_end = w + n * K;
    const int32_t *bias = j->bias, *mult = j->mult, *shift = j->shift;
    int8_t *o = j->out0;
    const int32_t d1 = (int32_t)(j->out1 - j->out0); /* odd pixel count: 0, the same values */
    const int32_t off2p1 = 2 * off + 1;                /* QNNC_DSP_RQ2's rounding term */
    const uint32_t *const cols = j->cols, *const c_pad = j->c_pad;
    const uint32_t lead = (uint32_t)((uintptr_t)c_pad - (uintptr_t)cols) & 48u;
    const int32_t amin = j->lo + off, amax = j->hi + off; /* the activation range */
    (void)off2p1;
    (void)amin;
    (void)amax;
    while (w != w_end) {
        qnnc_conv_acc2x2 acc;
        int32_t m, s, r00, r01, r10, r11;
        acc.a00 = bias[0];
        acc.a01 = acc.a00;
        acc.a10 = bias[1];
        acc.a11 = acc.a10;
        qnnc_conv_mm2x2_u4(cols, c_pad, lead, w, w + K, &acc);
#if defined(QNNC_DSP_ASM)
        {
            /* both channels' output stage in one block (GCC spilled the rounding terms) */
            int32_t m_, t_;
            if (mode == QNNC_CONV_RQ_SSAT) {
                __asm volatile(QNNC_DSP_RQ2("a00", "a01", QNNC_DSP_CLAMP_SSAT)
                                   QNNC_DSP_RQ2("a10", "a11", QNNC_DSP_CLAMP_SSAT) QNNC_CONV_STORE2X2
                               : QNNC_CONV_RQ_OUTPUTS
                               : [o2] "r"(off2p1), [d1] "r"(d1)
                               : "memory");
            } else if (mode == QNNC_CONV_RQ_FAST) {
                __asm volatile(QNNC_DSP_RQ2("a00", "a01", QNNC_DSP_CLAMP_LOHI)
                                   QNNC_DSP_RQ2("a10", "a11", QNNC_DSP_CLAMP_LOHI) QNNC_CONV_STORE2X2
                               : QNNC_CONV_RQ_OUTPUTS
                               : [o2] "r"(off2p1), [d1] "r"(d1), [lo] "r"(amin), [hi] "r"(amax)
                               : "cc", "memory");
            }
            if (mode != QNNC_CONV_RQ_HE) {
                w += 2 * K;
                bias += 2;
                continue;
            }
        }
#endif
        if (mode == QNNC_CONV_RQ_SSAT) {
            m = mult[0];
            s = -shift[0];
            r00 = qnnc_dsp_ssat8(qnnc_dsp_rq_fast(acc.a00, m, s) + off);
            r01 = qnnc_dsp_ssat8(qnnc_dsp_rq_fast(acc.a01, m, s) + off);
            m = mult[1];
            s = -shift[1];
            r10 = qnnc_dsp_ssat8(qnnc_dsp_rq_fast(acc.a10, m, s) + off);
            r11 = qnnc_dsp_ssat8(qnnc_dsp_rq_fast(acc.a11, m, s) + off);
        } else if (mode == QNNC_CONV_RQ_HE) {
            r00 = qnnc_conv_dsp_he(j, acc.a00, acc.a01, mult[0], shift[0], &r01);
            r10 = qnnc_conv_dsp_he(j, acc.a10, acc.a11, mult[1], shift[1], &r11);
        } else {
            r00 = qnnc_conv_dsp_out(j, acc.a00, mult[0], shift[0]);
            r01 = qnnc_conv_dsp_out(j, acc.a01, mult[0], shift[0]);
            r10 = qnnc_conv_dsp_out(j, acc.a10, mult[1], shift[1]);
            r11 = qnnc_conv_dsp_out(j, acc.a11, mult[1], shift[1]);
        }
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
}

/* The fast loop per requantization mode (one instance each). */
static QNNC_LOOP_ATTR void qnnc_conv_dsp_fast_ssat(const qnnc_conv_dsp_job *j, int32_t n)
{
    qnnc_conv_dsp_fast_body(j, n, QNNC_CONV_RQ_SSAT);
}
static QNNC_LOOP_ATTR void qnnc_conv_dsp_fast_clamp(const qnnc_conv_dsp_job *j, int32_t n)
{
    qnnc_conv_dsp_fast_body(j, n, QNNC_CONV_RQ_FAST);
}
static QNNC_LOOP_ATTR void qnnc_conv_dsp_fast_he(const qnnc_conv_dsp_job *j, int32_t n)
{
    qnnc_conv_dsp_fast_body(j, n, QNNC_CONV_RQ_HE);
}

/* Column j of the pair for output pixel q: a window the first layers' gather takes (l: most of a
 * first layer's pixels) straight to it, others by the generic im2col; tail: taps [kq, K) as
 * int16. */
QNNC_INLINE void qnnc_conv_dsp_column(const qnnc_conv_params *params, const int8_t *in_b, const qnnc_dims *input_dims,
                                      int32_t k_h, int32_t k_w, int32_t q, int32_t kq, uint32_t *cols, int32_t j,
                                      int16_t *tail, const qnnc_conv_inside_layer *l)
{
    const int32_t at = l->oy0 <= l->oy1 ? qnnc_conv_inside_start(l, q) : -1;
    int32_t k;
    if (at < 0) {
        qnnc_conv_im2col_q15(params, in_b, input_dims->h, input_dims->w, input_dims->c, k_h, k_w,
                             (q / l->out_w) * params->stride_h - params->pad_top,
                             (q % l->out_w) * params->stride_w - params->pad_left, kq, cols, j, tail, l->raw);
        return;
    }
    qnnc_conv_inside_q15(cols + 2 * j, in_b + at, l);
    for (k = kq; k < k_h * l->run; ++k) {
        tail[k - kq] = (int16_t)(l->raw[k] + params->input_offset);
    }
}

QNNC_PATH_ATTR int qnnc_conv_dsp_s8(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                                    const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                                    const int8_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                                    const int32_t *bias, const qnnc_dims *output_dims, int8_t *output)
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
    int32_t b, p, n_fast;
    uint32_t *cols;  /* two interleaved q15 columns (2 * K halfwords): 4 * kq + 16 bytes */
    int8_t *raw;     /* in_c % 4 != 0: the int8 window, K + 4 bytes */
    qnnc_conv_inside_layer inside; /* in_c % 4 != 0: the windows inside the input */
    qnnc_conv_dsp_job last; /* K % 4 != 0, out_c even: the last channel pair from a padded copy */
    int has_last;
    int16_t tail0[4], tail1[4];

    if (K > QNNC_CONV_MAX_K || K < 4 || out_c > QNNC_CONV_MAX_K || scratch == NULL || scratch->buf == NULL) {
        return 0;
    }
    /* the scratch buffer, 4-byte aligned (LDRD); too small: portable path */
    if (!qnnc_scratch_fits(scratch, 4u, QNNC_CONV_DSP_BUFFER_SIZE(K, in_c, out_c))) {
        return 0;
    }
    cols = (uint32_t *)qnnc_scratch_align(scratch, 4u);
    raw = (int8_t *)(cols + kq + 4);
    qnnc_conv_inside_setup(&inside, params, input_dims, k_h, k_w, output_dims, raw);
    job.mode = params->act_min == -128 && params->act_max == 127 ? QNNC_CONV_RQ_SSAT : QNNC_CONV_RQ_FAST;
    if (!qnnc_dsp_rq_asm_ok(quant->multiplier, quant->shift, out_c)) {
        /* a channel needs the reference requantization, or has no right shift (the fast loops'
         * output stage, qnnc_dsp_rq_asm.h, needs one) */
        job.mode = QNNC_CONV_RQ_REF;
    }
    if (params->rounding == QNNC_ROUND_HALF_EVEN) {
        job.mode = QNNC_CONV_RQ_HE;
    }
    /* the fast loops: pairs whose padded reads stay inside the filter (K % 4 != 0: not the last
     * channel) */
    n_fast = bias != NULL && job.mode != QNNC_CONV_RQ_REF ? (out_c - (kq != K ? 1 : 0)) & ~1 : 0;
    job.cols = cols;
    job.c_end = cols + kq; /* kq / 4 groups of 4 words */
    job.c_pad = cols + ((K + 3) & ~3);
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
    /* K % 4 != 0: the fast loops read up to 3 bytes past a filter row, so the last pair's rows
     * (whose reads would pass the filter's end) run from a zero-padded copy in the scratch */
    has_last = bias != NULL && job.mode != QNNC_CONV_RQ_REF && kq != K && (out_c & 1) == 0;
    if (has_last) {
        int8_t *rows = raw + ((K + 7) & ~3);
        int32_t k;
        qnnc_copy_s8(rows, filter + n_fast * K, 2 * K);
        for (k = 2 * K; k < ((2 * K + 7) & ~3); ++k) {
            rows[k] = 0;
        }
        last = job;
        last.filter = rows;
        last.bias = bias + n_fast;
        last.mult = quant->multiplier + n_fast;
        last.shift = quant->shift + n_fast;
    }
    for (b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        int8_t *out_b = output + b * n_pix * out_c;
        for (p = 0; p < n_pix; p += 2) {
            const int32_t p1 = p + 1 < n_pix ? p + 1 : p; /* odd count: last column twice */
            qnnc_conv_dsp_column(params, in_b, input_dims, k_h, k_w, p, kq, cols, 0, tail0, &inside);
            qnnc_conv_dsp_column(params, in_b, input_dims, k_h, k_w, p1, kq, cols, 1, tail1, &inside);
            job.out0 = out_b + p * out_c;
            job.out1 = out_b + p1 * out_c;
            if (n_fast > 0) {
                if (job.mode == QNNC_CONV_RQ_SSAT) {
                    qnnc_conv_dsp_fast_ssat(&job, n_fast);
                } else if (job.mode == QNNC_CONV_RQ_HE) {
                    qnnc_conv_dsp_fast_he(&job, n_fast);
                } else {
                    qnnc_conv_dsp_fast_clamp(&job, n_fast);
                }
            }
            if (has_last) {
                last.out0 = job.out0 + n_fast;
                last.out1 = job.out1 + n_fast;
                if (job.mode == QNNC_CONV_RQ_SSAT) {
                    qnnc_conv_dsp_fast_ssat(&last, 2);
                } else if (job.mode == QNNC_CONV_RQ_HE) {
                    qnnc_conv_dsp_fast_he(&last, 2);
                } else {
                    qnnc_conv_dsp_fast_clamp(&last, 2);
                }
            } else if (n_fast < out_c) {
                qnnc_conv_dsp_pair(&job, n_fast, out_c);
            }
        }
    }
    qnnc_apply_lut(params->act_lut, output, output_dims->n * n_pix * out_c);
    return 1;
}
#endif /* QNNC_PATH_DSP */
