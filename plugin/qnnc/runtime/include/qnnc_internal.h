/*
 * qnnc_internal.h - what the kernel sources share and firmware does not need: which path the
 * compiler's macros select, the requantization and output stages, the Armv7E-M DSP and Helium
 * helpers, and the internal functions one kernel family's files call across (CMSIS-NN keeps the
 * same in arm_nnsupportfunctions.h). Internal names start with qnnc_ (two models link into one
 * firmware next to user code) but never with a public function's name.
 *
 * Each kernel family with SIMD paths is three files: qnnc_<fn>.c (the public entry point, the
 * portable C99 path and the dispatch), qnnc_<fn>_dsp.c and qnnc_<fn>_mve.c (compiled to nothing
 * unless that path is selected). The dispatch calls a path once per layer; everything a path
 * runs per pixel stays in its own file or is static inline here, so nothing hot crosses files.
 */
#ifndef QNNC_INTERNAL_H
#define QNNC_INTERNAL_H

/* Every kernel source includes this header before any code: the kernels stay at -O2 when the
 * firmware is built for size (-Os, Zephyr's default). Define QNNC_NO_FORCE_O2 to opt out. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE_SIZE__) && !defined(QNNC_NO_FORCE_O2)
#pragma GCC optimize("O2") /* kernels stay at -O2 when the firmware is built for size */
#endif

#include <string.h> /* memcpy: unaligned word loads */

#include "qnnc_kernels.h"

/* ------------------------------------------------------------------ paths -- */
/* Which code the compiler's own macros select. Each QNNC_PATH_* / QNNC_DSP_SIMD is 1 or 0 and
 * tested with #if: always defined, so tools that try #ifdef combinations (cppcheck) do not
 * check a path in a configuration no compiler produces (a DSP path without the DSP macros). */

/* The Armv7E-M SIMD instructions (SXTB16, SMLAD, ...): the M4/M7/M33 and the Helium cores. */
#if !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define QNNC_DSP_SIMD 1
#else
#define QNNC_DSP_SIMD 0
#endif

/* The path of conv, depthwise conv, fully connected and add: Helium where the core has it, else
 * DSP (add needs only the scalar DSP instructions: QNNC_PATH_DSP_SCALAR). Average pooling uses
 * QNNC_DSP_SIMD, on Helium cores too. */
#if !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define QNNC_PATH_MVE 1
#define QNNC_PATH_DSP_SCALAR 0
#include <arm_mve.h>
#elif !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_DSP)
#define QNNC_PATH_MVE 0
#define QNNC_PATH_DSP_SCALAR 1
#else
#define QNNC_PATH_MVE 0
#define QNNC_PATH_DSP_SCALAR 0
#endif
#define QNNC_PATH_DSP (QNNC_PATH_DSP_SCALAR && QNNC_DSP_SIMD)
#if QNNC_DSP_SIMD || QNNC_PATH_DSP_SCALAR
#include <arm_acle.h>
#endif

/* Hot inner loops: never inlined, and without pre-register-allocation scheduling, which
 * otherwise raises register pressure past the 14 usable registers (spills in the loop). */
#if defined(__GNUC__) && !defined(__clang__)
#define QNNC_LOOP_ATTR __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define QNNC_LOOP_ATTR __attribute__((noinline))
#else
#define QNNC_LOOP_ATTR
#endif

/* A file-local helper defined in a shared header: not every file that includes it calls it. */
#if defined(__GNUC__)
#define QNNC_UNUSED __attribute__((unused))
#else
#define QNNC_UNUSED
#endif

/* Each path is its own function, so the stack high-water is the deepest path's, not their sum. */
#if defined(__GNUC__)
#define QNNC_PATH_ATTR __attribute__((noinline))
#else
#define QNNC_PATH_ATTR
#endif

/* Helpers the kernels always inlined are QNNC_INLINE (always_inline); those GCC used to inline
 * by its own choice, as file-local functions, are plain static inline: forcing them changes
 * GCC's early inlining and with it the code of the loops around them. */

/* -------------------------------------------------------- requantization -- */
/* TFLite / CMSIS-NN convention; qnnc/reference/kernels.py defines the arithmetic. */

/** Saturating rounding doubling high multiply (gemmlowp). */
QNNC_INLINE int32_t qnnc_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    {
        const int64_t ab = (int64_t)a * (int64_t)b;
        const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
        return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
    }
}

/** Divide by 2^exponent, rounding half away from zero. */
QNNC_INLINE int32_t qnnc_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** acc * multiplier * 2^(shift-31), TFLite rounding; the left shift saturates. */
QNNC_INLINE int32_t qnnc_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int64_t shifted = (int64_t)acc * ((int64_t)1 << left);
    if (shifted > INT32_MAX) {
        shifted = INT32_MAX;
    } else if (shifted < INT32_MIN) {
        shifted = INT32_MIN;
    }
    if (right > 31) {
        right = 31;
    }
    return qnnc_rounding_divide_by_pot(qnnc_srdhm((int32_t)shifted, multiplier), right);
}

/** An average pool's output before the clamp: the mean of a window's sum of count raw values,
 * rounded half away from zero (C division truncates toward zero), or, for a pool with its own
 * output scale (multiplier != 0), the requantized sum. */
QNNC_INLINE int32_t qnnc_avg_pool_mean(const qnnc_pool_params *params, int32_t sum, int32_t count)
{
    if (params->multiplier != 0) {
        return qnnc_requantize(sum + count * params->input_offset, params->multiplier, params->shift) +
               params->output_offset;
    }
    return sum >= 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/** acc * multiplier * 2^(shift-31) rounded once, ties to even (QNNC_ROUND_HALF_EVEN). With
 * multiplier * 2^(shift-31) equal to a float32 scale this is onnxruntime's nearbyint(acc * scale),
 * in integers. */
QNNC_INLINE int32_t qnnc_requantize_half_even(int32_t acc, int32_t multiplier, int32_t shift)
{
    /* The quantizer's shifts are in [-31, 30]; others clamp there (as qnnc_requantize's right shift) */
    const int32_t total = 31 - (shift < -31 ? -31 : (shift > 30 ? 30 : shift)); /* in [1, 62] */
    const int64_t prod = (int64_t)acc * (int64_t)multiplier; /* |prod| < 2^62 */
    /* Ties-to-even is symmetric: round the magnitude (no shifts of negative values). */
    const uint64_t mag = prod < 0 ? (uint64_t)(-prod) : (uint64_t)prod;
    const uint64_t half = (uint64_t)1 << (total - 1);
    const uint64_t rem = mag & ((half << 1) - 1u);
    uint64_t q = mag >> total;
    int64_t r;
    if (rem > half || (rem == half && (q & 1u))) {
        ++q;
    }
    r = prod < 0 ? -(int64_t)q : (int64_t)q;
    return r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : (int32_t)r);
}

/** Requantize with the layer's rounding mode. */
QNNC_INLINE int32_t qnnc_requantize_mode(int32_t acc, int32_t multiplier, int32_t shift, int32_t rounding)
{
    return rounding == QNNC_ROUND_HALF_EVEN ? qnnc_requantize_half_even(acc, multiplier, shift)
                                            : qnnc_requantize(acc, multiplier, shift);
}

/** Requantize, clamp to [lo, hi] (the activation bounds minus the output offset, so a saturated
 * value cannot overflow the add), add the output offset, then the optional LUT: the output stage
 * of every conv / depthwise / fully-connected kernel (qnnc/reference/kernels.py:_activation). */
QNNC_INLINE int8_t qnnc_output_s8(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi,
                                  int32_t output_offset, const int8_t *act_lut, int32_t rounding)
{
    int32_t v = qnnc_requantize_mode(acc, mult, shift, rounding);
    v = v < lo ? lo : (v > hi ? hi : v);
    v += output_offset;
    if (act_lut != NULL) {
        v = act_lut[v + 128];
    }
    return (int8_t)v;
}

#if defined(QNNC_REQUANTIZE_CALL) /* a kernel source that uses qnnc_rq_out defines it (before this
                                    * header) as a name of its own for the function below */
/** qnnc_requantize_mode out of line: the rare cases of qnnc_rq_out (keeps its callers small). */
static QNNC_PATH_ATTR int32_t QNNC_REQUANTIZE_CALL(int32_t acc, int32_t multiplier, int32_t shift, int32_t rounding)
{
    return qnnc_requantize_mode(acc, multiplier, shift, rounding);
}

/** One output channel's requantization, set up once per channel (qnnc_rq_setup) and applied to
 *  many accumulators (qnnc_rq_out): the same values as qnnc_output_s8. For TFLite rounding,
 *  shift <= 0 (no left shift) and acc != INT32_MIN, SRDHM(acc, m) is floor((acc * m + 2^30) /
 *  2^31) (its two nudges and its division rounding toward zero give exactly that): one 64-bit
 *  multiply-add and a shift, then qnnc_rounding_divide_by_pot with its mask precomputed. Other
 *  cases call qnnc_requantize_mode. */
typedef struct {
    int32_t mult, shift; /* the channel's constants */
    int32_t right, mask, half; /* the right shift (fast case), 2^right - 1, mask / 2 */
    int32_t fast;
} qnnc_rq;

QNNC_INLINE void qnnc_rq_setup(qnnc_rq *q, int32_t mult, int32_t shift, int32_t rounding)
{
    q->mult = mult;
    q->shift = shift;
    q->fast = rounding == QNNC_ROUND_TFLITE && shift <= 0;
    q->right = shift < -31 ? 31 : (shift > 0 ? 0 : -shift);
    q->mask = (int32_t)(((int64_t)1 << q->right) - 1);
    q->half = q->mask >> 1;
}

/** The int8 output of acc: requantized, clamped to [lo, hi], plus output_offset, then the LUT. */
QNNC_INLINE int8_t qnnc_rq_out(const qnnc_rq *q, int32_t acc, int32_t lo, int32_t hi, int32_t output_offset,
                               const int8_t *act_lut, int32_t rounding)
{
    int32_t v;
    if (q->fast && acc != INT32_MIN) {
        const int32_t x = (int32_t)(((int64_t)acc * (int64_t)q->mult + ((int64_t)1 << 30)) >> 31);
        v = (x >> q->right) + ((x & q->mask) > q->half + (x < 0 ? 1 : 0) ? 1 : 0);
    } else {
        v = QNNC_REQUANTIZE_CALL(acc, q->mult, q->shift, rounding);
    }
    v = v < lo ? lo : (v > hi ? hi : v);
    v += output_offset;
    if (act_lut != NULL) {
        v = act_lut[v + 128];
    }
    return (int8_t)v;
}

/** qnnc_output_s8 (the same value) for a single accumulator of a channel. */
QNNC_INLINE int8_t qnnc_output_s8_fast(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi,
                                       int32_t output_offset, const int8_t *act_lut, int32_t rounding)
{
    qnnc_rq q;
    qnnc_rq_setup(&q, mult, shift, rounding);
    return qnnc_rq_out(&q, acc, lo, hi, output_offset, act_lut, rounding);
}
#endif

QNNC_INLINE int8_t qnnc_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/** requant(x + input_offset) + output_offset: one value re-scaled (rescale_params; the caller clamps). */
QNNC_INLINE int32_t qnnc_rescale(const qnnc_rescale_params *p, int32_t x)
{
    return qnnc_requantize(x + p->input_offset, p->multiplier, p->shift) + p->output_offset;
}

/** The activation LUT as a separate pass over finished outputs (keeps the SIMD paths' hot loops
 *  free of the per-value test; the same values as applying it per output). */
QNNC_INLINE void qnnc_apply_lut(const int8_t *act_lut, int8_t *output, int32_t n)
{
    if (act_lut != NULL) {
        int32_t i;
        for (i = 0; i < n; ++i) {
            output[i] = act_lut[output[i] + 128];
        }
    }
}

/** Taps k in [*first, *last) of a dilated window starting at `start` land inside [0, size):
 * the in-range part of a convolution / pooling window along one axis; always
 * 0 <= first <= last <= kernel (an empty range for a window entirely outside). */
QNNC_INLINE void qnnc_tap_range(int32_t start, int32_t size, int32_t kernel, int32_t dilation,
                                int32_t *first, int32_t *last)
{
    int32_t lo = 0;
    int32_t hi = kernel;
    if (start < 0) {
        lo = (-start + dilation - 1) / dilation; /* ceil(-start / dilation) */
        lo = lo > kernel ? kernel : lo;          /* a window entirely before the input */
    }
    if (start + (kernel - 1) * dilation >= size) {
        hi = size > start ? (size - start + dilation - 1) / dilation : 0;
    }
    *first = lo;
    *last = hi > lo ? hi : lo;
}

/** The window of an average pool's output pixel whose first input cell is (ih0, iw0): the valid
 * taps [*kh0, *kh1) x [*kw0, *kw1), the padding cells' sum in *pad_sum when they count, and the
 * divisor as the return value (0: no valid cell and padding not counted). */
QNNC_INLINE int32_t qnnc_avg_pool_window(const qnnc_pool_params *params, const qnnc_dims *input_dims, int32_t ih0,
                                         int32_t iw0, int32_t *kh0, int32_t *kh1, int32_t *kw0, int32_t *kw1,
                                         int32_t *pad_sum)
{
    const int32_t taps = params->kernel_h * params->kernel_w;
    int32_t valid;
    qnnc_tap_range(ih0, input_dims->h, params->kernel_h, 1, kh0, kh1);
    qnnc_tap_range(iw0, input_dims->w, params->kernel_w, 1, kw0, kw1);
    valid = *kh0 < *kh1 && *kw0 < *kw1 ? (*kh1 - *kh0) * (*kw1 - *kw0) : 0;
    *pad_sum = params->count_include_pad ? params->pad_value * (taps - valid) : 0;
    return params->count_include_pad ? taps : valid;
}

/** A SIMD path's scratch: buf rounded up to `align` (a power of two) bytes. */
QNNC_INLINE uintptr_t qnnc_scratch_align(const qnnc_buffer *scratch, uintptr_t align)
{
    return ((uintptr_t)scratch->buf + (align - 1u)) & ~(align - 1u);
}

/** 1 when at least `need` bytes remain after that rounding (else the caller runs portable). */
QNNC_INLINE int qnnc_scratch_fits(const qnnc_buffer *scratch, uintptr_t align, int32_t need)
{
    return scratch->size - (int32_t)(qnnc_scratch_align(scratch, align) - (uintptr_t)scratch->buf) >= need;
}

/* --------------------------------------------------- int4 weights (packed) -- */

/** Weight i of a packed int4 array (two per byte, low nibble first), sign-extended. */
QNNC_INLINE int32_t qnnc_s4_weight(const int8_t *packed, int32_t i)
{
    const int32_t byte = (int32_t)(uint8_t)packed[i >> 1];
    const int32_t nibble = (i & 1) != 0 ? byte >> 4 : byte & 0x0F;
    return (nibble ^ 8) - 8;
}

/** The int4 kernels that run an int8 kernel: with at least `need` bytes of scratch (need > 0),
 *  the first n packed weights unpacked to int8 at its start (rounded up to 4 bytes), *rest the
 *  scratch after them, and that filter returned; else NULL (the caller's own paths run). */
QNNC_INLINE int8_t *qnnc_s4_unpack_scratch(const qnnc_buffer *scratch, int32_t need, const int8_t *packed,
                                           int32_t n, qnnc_buffer *rest)
{
    int8_t *filter;
    int32_t i;
    if (need <= 0 || scratch == NULL || scratch->buf == NULL || scratch->size < need) {
        return NULL;
    }
    filter = (int8_t *)scratch->buf;
    for (i = 0; i < n; ++i) {
        filter[i] = (int8_t)qnnc_s4_weight(packed, i);
    }
    rest->buf = filter + QNNC_CONV_S4_UNPACKED_SIZE(n, 1);
    rest->size = scratch->size - QNNC_CONV_S4_UNPACKED_SIZE(n, 1);
    return filter;
}

/** sum over k < n of weight (start + k) * (x[k] + input_offset): whole bytes two weights at a time. */
QNNC_INLINE int32_t qnnc_s4_dot(const int8_t *packed, int32_t start, const int8_t *x, int32_t n,
                                int32_t input_offset)
{
    int32_t acc = 0;
    int32_t k = 0;
    if ((start & 1) != 0 && n > 0) { /* starts in a high nibble */
        acc += qnnc_s4_weight(packed, start) * ((int32_t)x[0] + input_offset);
        k = 1;
    }
    {
        const int8_t *p = packed + ((start + k) >> 1);
        for (; k + 1 < n; k += 2) {
            const int32_t byte = (int32_t)(uint8_t)*p++;
            acc += (((byte & 0x0F) ^ 8) - 8) * ((int32_t)x[k] + input_offset);
            acc += (((byte >> 4) ^ 8) - 8) * ((int32_t)x[k + 1] + input_offset);
        }
    }
    if (k < n) {
        acc += qnnc_s4_weight(packed, start + k) * ((int32_t)x[k] + input_offset);
    }
    return acc;
}

/** acc + sum over k < n of w[k] * (x[k] + input_offset): the int8 form of qnnc_s4_dot (the sum
 *  continues acc, so the loop accumulates in one register). */
QNNC_INLINE int32_t qnnc_s8_dot(int32_t acc, const int8_t *w, const int8_t *x, int32_t n, int32_t input_offset)
{
    int32_t k;
    for (k = 0; k < n; ++k) {
        acc += (int32_t)w[k] * ((int32_t)x[k] + input_offset);
    }
    return acc;
}

/* ----------------------------------------------------- int16 activations -- */

/** int64 accumulator * multiplier * 2^(shift-31) with the multiplier reduced to 16 bits as in
 *  TFLite's 16x8 kernels: (acc * round(multiplier / 2^16)) / 2^(15 - shift), rounded half away
 *  from zero. The quantizer keeps |acc| < 2^47 and shift in [-46, 14], so nothing overflows. */
QNNC_INLINE int64_t qnnc_requantize_s64(int64_t acc, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int32_t total = 15 - shift;
    const int64_t prod = acc * reduced;
    const int64_t mag = prod < 0 ? -prod : prod;
    const int64_t q = (mag + ((int64_t)1 << (total - 1))) >> total;
    return prod < 0 ? -q : q;
}

QNNC_INLINE int16_t qnnc_clamp_s16(int64_t v, int32_t lo, int32_t hi)
{
    return (int16_t)(v < lo ? lo : (v > hi ? hi : v));
}

/** The output stage of the 16x8 kernels: requantized, offset, clamped to [act_min, act_max]. */
QNNC_INLINE int16_t qnnc_output_s16(int64_t acc, int32_t mult, int32_t shift, int32_t output_offset,
                                    int32_t act_min, int32_t act_max)
{
    return qnnc_clamp_s16(qnnc_requantize_s64(acc, mult, shift) + output_offset, act_min, act_max);
}

/** sum (x[i] + off) * w[i] over n values: int32 partial sums over at most 256 products
 *  (|x + off| <= 65535, |w| <= 128, so they stay below 2^31), widened to int64. */
static inline int64_t qnnc_dot_s16_s8(const int16_t *x, const int8_t *w, int32_t n, int32_t off)
{
    int64_t acc = 0;
    int32_t i0, i;
    for (i0 = 0; i0 < n; i0 += 256) {
        const int32_t end = n - i0 < 256 ? n : i0 + 256;
        int32_t part = 0;
        for (i = i0; i < end; ++i) {
            part += ((int32_t)x[i] + off) * (int32_t)w[i];
        }
        acc += part;
    }
    return acc;
}

/** The depthwise layers of the DSP channel-rows path (QNNC_DW_DSP_ROWS_BUFFER_SIZE): 3x3, stride 1, dilation 1. */
#define QNNC_DW_DSP_ROWS_LAYER(params, filter_dims)                                                          \
    ((filter_dims)->h == 3 && (filter_dims)->w == 3 && (params)->stride_h == 1 && (params)->stride_w == 1 &&    \
     (params)->dilation_h == 1 && (params)->dilation_w == 1)

/* ---------------------------------------------------- Armv7E-M DSP helpers -- */

/** Both int16 halves of a word set to v (SXTAB16 adds it to two lanes at once). */
QNNC_INLINE int32_t qnnc_dsp_pack2(int32_t v)
{
    return (int32_t)(((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16));
}

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
/** Four int8 as one word: one (unaligned-capable) LDR. */
QNNC_INLINE uint32_t qnnc_dsp_rd32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4u);
    return v;
}

/* One-instruction asm helpers: SMMULR (the rounded high word of a * b) has no ACLE intrinsic;
 * SXTB16 / SXTAB16 of the rotated operand (bytes 1 and 3): ACLE has no rotate form and GCC 12
 * does not fold a rotate into them; SSAT #8 / #16 (v clamped to int8 / int16): GCC 12's __ssat
 * returns unsigned. */
#define QNNC_ASM1(insn, ...) /* the body of such a helper: r_ = insn(operands) */                         \
    int32_t r_;                                                                                        \
    __asm(insn : "=r"(r_) : __VA_ARGS__);                                                              \
    return r_
QNNC_INLINE int32_t qnnc_dsp_smmulr(int32_t a, int32_t b) { QNNC_ASM1("smmulr %0, %1, %2", "r"(a), "r"(b)); }
/* acc + SMMULR(a, b), exactly (SMMLAR adds acc * 2^32 before rounding: a rounding term rides in it) */
QNNC_INLINE int32_t qnnc_dsp_smmlar(int32_t a, int32_t b, int32_t c)
{
    QNNC_ASM1("smmlar %0, %1, %2, %3", "r"(a), "r"(b), "r"(c));
}
QNNC_INLINE int32_t qnnc_dsp_sxtb16_ror8(uint32_t v) { QNNC_ASM1("sxtb16 %0, %1, ror #8", "r"(v)); }
QNNC_INLINE int32_t qnnc_dsp_sxtab16_ror8(int32_t a, uint32_t v)
{
    QNNC_ASM1("sxtab16 %0, %1, %2, ror #8", "r"(a), "r"(v));
}
QNNC_INLINE int32_t qnnc_dsp_ssat8(int32_t v) { QNNC_ASM1("ssat %0, #8, %1", "r"(v)); }
QNNC_INLINE int32_t qnnc_dsp_ssat16(int32_t v) { QNNC_ASM1("ssat %0, #16, %1", "r"(v)); }
/* PKHBT / PKHTB of two words of int16 pairs (a0, a1), (b0, b1): (a0, b0) and (a1, b1) (no ACLE
 * intrinsic; GCC 12 does not always form them from C). */
QNNC_INLINE int32_t qnnc_dsp_pkhbt(uint32_t a, uint32_t b) { QNNC_ASM1("pkhbt %0, %1, %2, lsl #16", "r"(a), "r"(b)); }
QNNC_INLINE int32_t qnnc_dsp_pkhtb(uint32_t a, uint32_t b) { QNNC_ASM1("pkhtb %0, %1, %2, asr #16", "r"(b), "r"(a)); }
#undef QNNC_ASM1

/* The hot SMLAD loops of conv and fully connected are inline assembly where GCC-compatible
 * inline assembly is available and optimization is on: they need 13 registers (the channel-pair
 * conv's 14), which GCC 12's allocator does not find from C (it spills and loads the q15 words
 * one by one). ACLE has no intrinsic for LDRD or for a register assignment. -DQNNC_NO_INLINE_ASM
 * selects the C loops (same results). A build that reserves r9 (-ffixed-r9, -msingle-pic-base)
 * defines QNNC_DSP_ASM_13 for the channel-pair conv (the PlatformIO library does it from the
 * build's flags; its file never keeps a frame pointer); one that both reserves r9 and keeps a
 * frame pointer has 12 registers left for the other loops and needs QNNC_NO_INLINE_ASM. The loops read weight rows with LDR at any byte offset, so they
 * are compiled only where unaligned access is allowed (__ARM_FEATURE_UNALIGNED: firmware that
 * traps unaligned accesses, CCR.UNALIGN_TRP, builds with -mno-unaligned-access and gets the C
 * loops). */
#if defined(__OPTIMIZE__) && defined(__thumb2__) && defined(__ARM_FEATURE_UNALIGNED) && \
    !defined(QNNC_NO_INLINE_ASM)
#define QNNC_DSP_ASM 1
/** Run `group` (an asm string advancing the pointer operand `ptr`) once when `odd`, then
 *  twice per iteration while `ptr` differs from `end_var` (kept in memory; the register
 *  operand `tmp`, dead between groups, reads it). */
#define QNNC_DSP_ASM_LOOP2(odd, group, operands, ptr, tmp, ptr_var, end_var)                    \
    do {                                                                                       \
        if (odd) {                                                                             \
            __asm volatile(group : operands : : "memory");                                     \
        }                                                                                      \
        if ((ptr_var) != (end_var)) {                                                          \
            __asm volatile("1:\n\t" group group "ldr %[" tmp "], %[end]\n\t"                  \
                           "cmp %[" ptr "], %[" tmp "]\n\t"                                    \
                           "bne 1b\n\t"                                                        \
                           : operands                                                          \
                           : [end] "m"(end_var)                                                \
                           : "cc", "memory");                                                  \
        }                                                                                      \
    } while (0)
#endif
#endif /* __ARM_FEATURE_DSP && __GNUC__ */

#if QNNC_DSP_SIMD
/* Fast requantization of the conv and fully-connected DSP paths, exact for multiplier 0 or in
 * [2^30, 2^31) and shift in [-20, 0] (what the quantizer produces for those layers; the
 * depthwise path has its own variant). SRDHM(acc, m) is SMMULR(2 * acc, m) when 2 * acc does
 * not overflow; when it does (|acc| >= 2^30) the saturated doubling still gives
 * |result| >= 2^29 >> 20 > 255, which clamps identically. The rounding right shift by s (half
 * away from zero) is (x - (x < 0 && s > 0) + 2^(s-1)) >> s. */
QNNC_INLINE int qnnc_dsp_fast_ok(int32_t mult, int32_t shift)
{
    return (mult == 0 || mult >= (1 << 30)) && shift <= 0 && shift >= -20;
}

/** The fast requantization by a right shift s = -shift >= 0. */
QNNC_INLINE int32_t qnnc_dsp_rq_fast(int32_t acc, int32_t mult, int32_t s)
{
    int32_t x = qnnc_dsp_smmulr(__qadd(acc, acc), mult);
    x += (x & -s) >> 31;
    return (x + ((1 << s) >> 1)) >> s;
}
#endif

/* --------------------------------------------------------- Helium helpers -- */

#if QNNC_PATH_MVE
/** x * 2^neg_right (neg_right <= 0: minus a right shift) rounded half away from zero: VRSHL
 *  rounds half up, so negative lanes first lose 1 where the shift is not 0. */
QNNC_INLINE int32x4_t qnnc_mve_round_shift(int32x4_t x, int32x4_t neg_right)
{
    return vrshlq_s32(vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, neg_right), 31)), neg_right);
}

/** The exact vector requantization: VQSHL = the saturating left shift, VQRDMULH = SRDHM, then
 *  the rounding right shift. */
QNNC_INLINE int32x4_t qnnc_mve_requantize(int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t neg_right)
{
    return qnnc_mve_round_shift(vqrdmulhq_s32(vqshlq_s32(acc, left), mult), neg_right);
}

/** Clamped to [lo, hi] (activation bounds minus the offset), plus the output offset. */
QNNC_INLINE int32x4_t qnnc_mve_clamp_offset(int32x4_t v, int32x4_t lo, int32x4_t hi, int32_t output_offset)
{
    return vaddq_n_s32(vminq_s32(vmaxq_s32(v, lo), hi), output_offset);
}
#endif

/** 1x1 without padding, every window inside the input: the Helium conv path reads the input
 *  pixels in place (no im2col column; also what its scratch size depends on). */
static inline int qnnc_conv_direct(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                   const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    return filter_dims->h == 1 && filter_dims->w == 1 && params->pad_top == 0 && params->pad_left == 0 &&
           (output_dims->h - 1) * params->stride_h < input_dims->h &&
           (output_dims->w - 1) * params->stride_w < input_dims->w;
}

/** [*lo, *hi): the output positions whose window [o * stride - pad, + k) lies inside [0, n_in)
 *  (the depthwise SIMD paths' block of windows without padding taps). */
static inline void qnnc_dw_inside(int32_t n_out, int32_t n_in, int32_t k, int32_t stride, int32_t pad,
                                  int32_t *lo, int32_t *hi)
{
    int32_t a = 0, b = n_out;
    while (a < n_out && a * stride - pad < 0) {
        ++a;
    }
    while (b > a && (b - 1) * stride - pad + k > n_in) {
        --b;
    }
    *lo = a;
    *hi = b < a ? a : b;
}

/* ------------------------------------- internal functions across a family's files -- */
/* The SIMD paths return 0 when they do not take the layer (limits, scratch too small); the
 * caller then runs the portable path. Arguments as for the public function. */

/** A SIMD path of conv or depthwise conv (the public function's arguments). */
typedef int qnnc_conv_path(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                           const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                           const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const qnnc_dims *output_dims, int8_t *output);
qnnc_conv_path qnnc_conv_dsp_s8, qnnc_conv_mve_s8, qnnc_dw_dsp_s8, qnnc_dw_mve_s8, qnnc_conv_paired_dsp_s8,
    qnnc_conv_paired_dsp_s8_wide; /* the last: the filter in qnnc_conv_s8_paired_wide's int16 layout */
/** Scratch bytes qnnc_conv_mve_s8 wants (its columns or its column strip; qnnc_conv_s8_mve.c). */
int32_t qnnc_conv_mve_s8_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims);

/* The path compiled in of a kernel with both: its Helium or its DSP function, else NULL (a
 * function that is not compiled in is never named, so a build without optimization links). */
#if QNNC_PATH_MVE
#define QNNC_SIMD_PATH(mve, dsp) (mve)
#elif QNNC_PATH_DSP
#define QNNC_SIMD_PATH(mve, dsp) (dsp)
#else
#define QNNC_SIMD_PATH(mve, dsp) NULL
#endif

/** The dispatch of conv and depthwise conv: 1 when `path` (QNNC_SIMD_PATH) took the layer;
 *  the SIMD paths implement TFLite rounding, and the limits and the scratch size are theirs to
 *  check. 0: the caller runs the portable path. */
QNNC_INLINE int qnnc_conv_simd(qnnc_conv_path *path, const qnnc_buffer *scratch, const qnnc_conv_params *params,
                               const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims,
                               const int8_t *input, const qnnc_dims *filter_dims, const int8_t *filter,
                               const int32_t *bias, const qnnc_dims *output_dims, int8_t *output)
{
    return path != NULL && params->rounding == QNNC_ROUND_TFLITE &&
           path(scratch, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
}
#if QNNC_PATH_DSP
/** The portable depthwise conv of input channels [ic_begin, ic_end) (the DSP path's last in_c % 4
 *  channels; file-local elsewhere, where GCC specializes it for the whole range). */
void qnnc_dw_portable_s8(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                         const qnnc_dims *input_dims, const int8_t *input, const qnnc_dims *filter_dims,
                         const int8_t *filter, const int32_t *bias, const qnnc_dims *output_dims,
                         int8_t *output, int32_t ic_begin, int32_t ic_end);
#endif
int qnnc_fc_dsp_s8(const qnnc_buffer *scratch, const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                   int32_t rows, int32_t in_features, const int8_t *input, int32_t out_features,
                   const int8_t *weights, const int32_t *bias, int8_t *output);
int qnnc_fc_wide_dsp_s8(const qnnc_buffer *scratch, const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                        int32_t rows, int32_t in_features, const int8_t *input, int32_t out_features,
                        const int16_t *weights, const int32_t *bias, int8_t *output);
void qnnc_fc_mve_s8(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows,
                    int32_t in_features, const int8_t *input, int32_t out_features, const int8_t *weights,
                    const int32_t *bias, int8_t *output);
/** Same-shape add, every shift <= 0 and left_shift in [0, 20] (checked by the caller). */
void qnnc_add_mve_s8(const qnnc_add_params *params, int32_t size, const int8_t *input1, const int8_t *input2,
                     int8_t *output);
/** The DSP add's per-layer constants (qnnc_add_dsp_setup in qnnc_add_s8.c; right shifts s in
 *  [0, 31]): p = 2^(left_shift + 1), o = offset * p, m multiplier, s, n = -s, h = 2^s >> 1 for
 *  input 1, input 2 and the output. */
typedef struct {
    int32_t p, o1, o2, m1, m2, mo, s1, s2, so, n1, n2, no, h1, h2, ho;
} qnnc_add_dsp_k;
/** Same-shape add with the constants k, the output clamped to [lo, hi] before adding off. */
void qnnc_add_dsp_s8(const qnnc_add_dsp_k *k, int32_t lo, int32_t hi, int32_t off, int32_t size,
                     const int8_t *input1, const int8_t *input2, int8_t *output);
/** Average pooling of C % 4 == 0 channels, windows of at most 256 taps (checked by the caller). */
void qnnc_avg_pool_dsp_s8(const qnnc_pool_params *params, const qnnc_dims *input_dims, const int8_t *input,
                          const qnnc_dims *output_dims, int8_t *output);

/* ------------------------------------------- int4 weights: SIMD paths -- */
/* qnnc_*_s4 (both rounding modes; no working memory: scratch is unused). The dot products (static,
 * in qnnc_s4_internal.h):
 * acc[c] += sum over k < n of packed weight (s[c] + k), resp. (s + c * stride + k), times x[k] + off. */
qnnc_conv_path qnnc_conv_dsp_s4, qnnc_conv_mve_s4, qnnc_dw_dsp_s4, qnnc_dw_mve_s4;
void qnnc_fc_dsp_s4(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows, int32_t in_features,
                    const int8_t *input, int32_t out_features, const int8_t *packed, const int32_t *bias, int8_t *output);
void qnnc_fc_mve_s4(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant, int32_t rows, int32_t in_features,
                    const int8_t *input, int32_t out_features, const int8_t *packed, const int32_t *bias, int8_t *output);
#if QNNC_PATH_DSP
/** qnnc_output_s8 (the same values) with qnnc_dsp_rq_fast where TFLite rounding and
 *  qnnc_dsp_fast_ok allow it. */
QNNC_INLINE int8_t qnnc_s4_out_dsp(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi,
                                   int32_t output_offset, const int8_t *act_lut, int32_t rounding)
{
    int32_t v;
    if (rounding == QNNC_ROUND_TFLITE && qnnc_dsp_fast_ok(mult, shift)) {
        v = qnnc_dsp_rq_fast(acc, mult, -shift);
    } else {
        v = qnnc_requantize_mode(acc, mult, shift, rounding);
    }
    v = v < lo ? lo : (v > hi ? hi : v);
    v += output_offset;
    return (int8_t)(act_lut != NULL ? act_lut[v + 128] : v);
}
#endif

/* ------------------------------------------- half-even requantization, fast -- */
/** qnnc_requantize_half_even for shift <= -1 as s = qnnc_rq_he_s(shift), hm1 = qnnc_rq_he_hm1(s)
 *  = 2^(31 + s) - 1: prod / 2^(32 + s) rounded half to even is floor((prod + hm1 + odd) /
 *  2^(32 + s)), odd = bit 32 + s of prod; |result| <= 2^30 (no saturation). */
QNNC_INLINE int32_t qnnc_rq_he_neg(int32_t acc, int32_t mult, int32_t s, int64_t hm1)
{
    const int64_t prod = (int64_t)acc * (int64_t)mult;
    const int32_t odd = ((int32_t)(prod >> 32) >> s) & 1;
    return (int32_t)((prod + hm1 + odd) >> 32) >> s;
}
QNNC_INLINE int32_t qnnc_rq_he_s(int32_t shift) { return shift < -31 ? 30 : -1 - shift; }
QNNC_INLINE int64_t qnnc_rq_he_hm1(int32_t s) { return ((int64_t)1 << (31 + s)) - 1; }

#if QNNC_PATH_MVE
/** qnnc_rq_he_neg on 4 lanes (neg_s = -s, lim = 2^s): hi = VMULH (floor(prod / 2^32)), lo = VMUL;
 *  q = hi >> s, h2 = the remainder's bits from 31 up, x = (bits below 31 set) | (q odd): up when
 *  h2 + x > 2^s (as a sign, no predicates: GCC 12 fails on a VCMP version). */
QNNC_INLINE int32x4_t qnnc_mve_rq_he_neg(int32x4_t acc, int32x4_t mult, int32x4_t neg_s, int32x4_t lim)
{
    const int32x4_t hi = vmulhq_s32(acc, mult);
    const uint32x4_t lo = vreinterpretq_u32_s32(vmulq_s32(acc, mult));
    const int32x4_t q = vshlq_s32(hi, neg_s);
    const int32x4_t h2 = vaddq_s32(vshlq_n_s32(vandq_s32(hi, vsubq_n_s32(lim, 1)), 1),
                                   vreinterpretq_s32_u32(vshrq_n_u32(lo, 31)));
    const int32x4_t x = vreinterpretq_s32_u32(vorrq_u32(vreinterpretq_u32_s32(vandq_s32(q, vdupq_n_s32(1))),
                                                        vminq_u32(vshlq_n_u32(lo, 1), vdupq_n_u32(1u))));
    return vsubq_s32(q, vshrq_n_s32(vsubq_s32(vsubq_s32(lim, x), h2), 31));
}
#endif

#endif /* QNNC_INTERNAL_H */
