/*
 * qnnc_mul_s8 - broadcasting int8 multiply with TFLite MUL arithmetic.
 * Reference: qnnc/reference/kernels.py:mul_s8. Body: qnnc_broadcast_impl.h (shared with qnnc_add_s8).
 *
 * On cores with the DSP instructions a layer whose multiplier and shift allow it
 * (qnnc_dsp_fast_ok: what the quantizer produces) requantizes by qnnc_dsp_rq_fast, the same
 * values in a few instructions: the product of two factors in [-255, 255] is far from the
 * doubling's saturation. The general requantization (64-bit shifts) stays for the others; each
 * loop is its own instance with the element function inlined (a call per element had cost about
 * 85 M4 instructions, most of a squeeze-and-excitation block's scaling).
 */
#include "qnnc_internal.h"

QNNC_INLINE int8_t qnnc_mul_one(const qnnc_mul_params *p, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    /* both factors are in [-255, 255]: the product fits int32 */
    const int32_t prod = (x1 + p->input1_offset) * (x2 + p->input2_offset);
    int32_t v = qnnc_requantize(prod, p->output_multiplier, p->output_shift);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)(v + p->output_offset);
}

#define QNNC_FN qnnc_mul_s8_any
#define QNNC_FN_STORAGE static
#define QNNC_PARAMS qnnc_mul_params
#define QNNC_ONE qnnc_mul_one
#define QNNC_T int8_t
#include "qnnc_broadcast_impl.h"

#if QNNC_DSP_SIMD
/* The fast form's constants: the input offsets, the multiplier, the right shift s and -s (the
 * half-away fix-up's mask), the rounding term with the output offset folded in
 * (2^(s-1) + output_offset * 2^s: adding a multiple of 2^s commutes with the floor shift, and
 * |x| < 2^17 here), the activation range. */
typedef struct {
    int32_t act_min, act_max, output_offset; /* (qnnc_broadcast_impl.h reads them by name) */
    int32_t o1, o2, m, s, ns, h;
} qnnc_mul_fast_k;

/* qnnc_mul_one's value: |product| <= 255 * 255, so doubling it for SRDHM never saturates. */
QNNC_INLINE int8_t qnnc_mul_fast1(const qnnc_mul_fast_k *k, int32_t x1, int32_t x2)
{
    const int32_t prod = (x1 + k->o1) * (x2 + k->o2);
    int32_t x = qnnc_dsp_smmulr(prod + prod, k->m);
    x = (x + ((x & k->ns) >> 31) + k->h) >> k->s;
    x = x < k->act_min ? k->act_min : x;
    return (int8_t)(x > k->act_max ? k->act_max : x);
}

/* Same shapes: one flat loop. */
static QNNC_LOOP_ATTR void qnnc_mul_fast_flat(const qnnc_mul_fast_k *kp, int32_t n, const int8_t *a, const int8_t *b,
                                              int8_t *out)
{
    const qnnc_mul_fast_k k = *kp;
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = qnnc_mul_fast1(&k, a[i], b[i]);
    }
}

/* a: pixels x C, b: C values (one per channel, the same for every pixel: a squeeze-and-excitation
 * scale); k's o1 is a's offset. */
static QNNC_LOOP_ATTR void qnnc_mul_fast_channels(const qnnc_mul_fast_k *kp, int32_t pixels, int32_t C, const int8_t *a,
                                                  const int8_t *b, int8_t *out)
{
    const qnnc_mul_fast_k k = *kp;
    int32_t p, c;
    for (p = 0; p < pixels; ++p) {
        for (c = 0; c < C; ++c) {
            out[c] = qnnc_mul_fast1(&k, a[c], b[c]);
        }
        a += C;
        out += C;
    }
}

QNNC_INLINE int qnnc_mul_same_dims(const qnnc_dims *a, const qnnc_dims *b)
{
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

/* 1 when x is one value per channel of the single-image output o. */
QNNC_INLINE int qnnc_mul_per_channel(const qnnc_dims *x, const qnnc_dims *o)
{
    return o->n == 1 && x->n == 1 && x->h == 1 && x->w == 1 && x->c == o->c;
}

/* qnnc_mul_fast1 in qnnc_broadcast_impl.h's element form (the output offset is in k->h, the
 * range in k: lo and hi are not needed). */
QNNC_INLINE int8_t qnnc_mul_one_fast(const qnnc_mul_fast_k *k, int32_t lo, int32_t hi, int32_t x1, int32_t x2)
{
    (void)lo;
    (void)hi;
    return qnnc_mul_fast1(k, x1, x2);
}

/* Other broadcasts. */
#define QNNC_FN qnnc_mul_s8_fast
#define QNNC_FN_STORAGE static
#define QNNC_PARAMS qnnc_mul_fast_k
#define QNNC_ONE qnnc_mul_one_fast
#define QNNC_T int8_t
#include "qnnc_broadcast_impl.h"

/* The DSP layers qnnc_dsp_fast_ok allows: the two common shapes by their own loops. */
static void qnnc_mul_dsp_s8(const qnnc_mul_params *params, const qnnc_dims *d1, const int8_t *input1,
                            const qnnc_dims *d2, const int8_t *input2, const qnnc_dims *dout, int8_t *output)
{
    qnnc_mul_fast_k k;
    const int32_t s = -params->output_shift;
    k.o1 = params->input1_offset;
    k.o2 = params->input2_offset;
    k.m = params->output_multiplier;
    k.s = s;
    k.ns = -s;
    k.h = ((1 << s) >> 1) + params->output_offset * (1 << s); /* s <= 20: no overflow */
    k.act_min = params->act_min;
    k.act_max = params->act_max;
    k.output_offset = params->output_offset;
    if (qnnc_mul_same_dims(d1, dout) && qnnc_mul_same_dims(d2, dout)) {
        qnnc_mul_fast_flat(&k, dout->n * dout->h * dout->w * dout->c, input1, input2, output);
    } else if (qnnc_mul_same_dims(d1, dout) && qnnc_mul_per_channel(d2, dout)) {
        qnnc_mul_fast_channels(&k, dout->h * dout->w, dout->c, input1, input2, output);
    } else if (qnnc_mul_same_dims(d2, dout) && qnnc_mul_per_channel(d1, dout)) {
        k.o1 = params->input2_offset; /* the product is symmetric: input2 is the full one */
        k.o2 = params->input1_offset;
        qnnc_mul_fast_channels(&k, dout->h * dout->w, dout->c, input2, input1, output);
    } else {
        qnnc_mul_s8_fast(&k, d1, input1, d2, input2, dout, output);
    }
}
#endif

void qnnc_mul_s8(const qnnc_mul_params *params, const qnnc_dims *input1_dims, const int8_t *input1,
                 const qnnc_dims *input2_dims, const int8_t *input2, const qnnc_dims *output_dims, int8_t *output)
{
    /* a copy the output's stores cannot alias: its fields stay in registers */
    const qnnc_mul_params k = *params;
#if QNNC_DSP_SIMD
    if (qnnc_dsp_fast_ok(k.output_multiplier, k.output_shift)) {
        qnnc_mul_dsp_s8(&k, input1_dims, input1, input2_dims, input2, output_dims, output);
        return;
    }
#endif
    qnnc_mul_s8_any(&k, input1_dims, input1, input2_dims, input2, output_dims, output);
}
