/*
 * qnnc_kernels.h - the qnnc int8 kernel library (one header, CMSIS-NN style naming).
 *
 * All activation tensors are int8, NHWC, batch 1. Weights are int8, biases int32. Every kernel is
 * bit-exact with the numpy reference in qnnc/reference/kernels.py, which defines the arithmetic.
 * Kernels never allocate, never touch globals and need no libm; they are re-entrant.
 *
 * Requantization follows TFLite / CMSIS-NN (params->rounding selects the mode). The helpers
 * the kernel sources share are in qnnc_internal.h, which firmware need not include.
 */
#ifndef QNNC_KERNELS_H
#define QNNC_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memcpy: qnnc_copy_s8's word copies */

#ifdef __cplusplus
extern "C" {
#endif

#define QNNC_KERNELS_VERSION 1

#if defined(__GNUC__) || defined(__clang__)
#define QNNC_ALIGNED(n) __attribute__((aligned(n)))
#define QNNC_INLINE static inline __attribute__((always_inline))
#else
#define QNNC_ALIGNED(n)
#define QNNC_INLINE static inline
#endif

/* Kernel paths, chosen at compile time from the compiler's own macros: the Armv7E-M DSP path
 * (__ARM_FEATURE_DSP: Cortex-M4/M7/M33) or the Helium path (__ARM_FEATURE_MVE: Cortex-M55/M85)
 * of conv, depthwise conv, fully connected and add, else the portable C99 path. Every path is
 * bit-exact with the reference. QNNC_PORTABLE_ONLY forces the portable path of every kernel;
 * QNNC_NO_INLINE_ASM the C loops instead of the DSP inline assembly (see qnnc_internal.h).
 * Sources: qnnc_<kernel>.c (entry point, portable path), qnnc_<kernel>_dsp.c and _mve.c.
 *
 * Scratch memory (CMSIS-NN style): conv, depthwise conv and fully connected take a qnnc_buffer with
 * the working memory of their SIMD path; nothing is on the stack.
 * qnnc_<kernel>_s8_get_buffer_size() returns the bytes the path compiled in needs for a layer (on
 * the portable path: the im2col columns of a conv with few input channels, else 0; 0 for layers
 * outside the SIMD paths' limits). With a NULL or too small buffer the kernel runs the (direct)
 * portable path: slower, but the same output, never an overflow. The QNNC_*_BUFFER_SIZE macros
 * below are the per-path formulas; the generator (qnnc/plan/kernel_scratch.py, the same formulas)
 * reserves max(DSP, Helium) bytes per layer in the arena for the unknown target, placed over
 * tensors dead during that layer, and the generated header sizes the arena with QNNC_SIMD_SCRATCH
 * (below): targets without SIMD paths get the smaller arena, whose only scratch is the portable
 * im2col columns where a gap inside it holds them. */
#if !defined(QNNC_PORTABLE_ONLY) && \
    ((defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)) || \
     (defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)))
#define QNNC_SIMD_SCRATCH 1 /* some kernel path compiled in here wants scratch memory */
#else
#define QNNC_SIMD_SCRATCH 0
#endif

/* Section for the default arena; a firmware may define it (e.g. ".noinit" or a
 * linker section in fast SRAM) before including a generated model header. */
#ifndef QNNC_ARENA_SECTION
#define QNNC_ARENA_ATTR QNNC_ALIGNED(16)
#else
#define QNNC_ARENA_ATTR QNNC_ALIGNED(16) __attribute__((section(QNNC_ARENA_SECTION)))
#endif

/* ---------------------------------------------------------------- types -- */

/** Tensor dimensions, NHWC (n is 1; for a filter n is the output channels). */
typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} qnnc_dims;

/** Per-output-channel requantization: out_ch entries each. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
} qnnc_per_channel_quant;

/** Working memory of a kernel's SIMD path (CMSIS-NN's cmsis_nn_context): buf NULL or size too small for the layer
 *  selects the portable path. Any alignment works (kernels round buf up to 4 bytes, 8 for Helium, inside size). */
typedef struct {
    void *buf;
    int32_t size;
} qnnc_buffer;

/** Convolution (regular and depthwise). */
typedef struct {
    int32_t input_offset;  /**< minus the input zero point */
    int32_t output_offset; /**< the output zero point */
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left; /**< bottom/right padding follows from the output dims */
    int32_t dilation_h, dilation_w;
    int32_t depth_multiplier; /**< depthwise only: output channels per input channel */
    int32_t act_min, act_max; /**< clamp after requantization (fused Relu/Clip) */
    const int8_t *act_lut;    /**< NULL, or 256 entries indexed by value+128, applied last */
    int32_t rounding;         /**< QNNC_ROUND_TFLITE or QNNC_ROUND_HALF_EVEN (see qnnc_requantize_mode) */
} qnnc_conv_params;

/** Fully connected: output[r][o] = act(requant(bias[o] + sum_k w[o][k]*(in[r][k]+input_offset))). */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    const int8_t *act_lut;
    int32_t rounding;         /**< QNNC_ROUND_TFLITE or QNNC_ROUND_HALF_EVEN */
    const int32_t *kernel_sums;  /**< NULL, or sum_k w[o][k] per output (Helium: QNNC_FC_KERNEL_SUMS) */
} qnnc_fc_params;

#include "qnnc_weight_layouts.h" /* which weight copies each target's kernel paths read */

/** Max and average pooling: input and output share scale and zero point, except an average pool
 *  with multiplier != 0 (every window full): out = requantize(sum + count * input_offset) + output_offset. */
typedef struct {
    int32_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
    int32_t count_include_pad; /**< average pool: padded cells count and hold pad_value */
    int32_t pad_value;         /**< the zero point */
    int32_t act_min, act_max;
    int32_t multiplier, shift, input_offset, output_offset; /**< average pool's own output scale, or 0 */
} qnnc_pool_params;

/** Element-wise add of two int8 tensors with different scales (TFLite ADD). */
typedef struct {
    int32_t input1_offset, input2_offset; /**< minus the zero points */
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t left_shift; /**< 20 as in TFLite */
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} qnnc_add_params;

/** Element-wise multiply (TFLite MUL). */
typedef struct {
    int32_t input1_offset, input2_offset;
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} qnnc_mul_params;

/** Re-scaling of one tensor to other quantization parameters. */
typedef struct {
    int32_t input_offset;
    int32_t multiplier, shift;
    int32_t output_offset;
} qnnc_rescale_params;

/* ----------------------------------------------------------------- helpers -- */

/* Rounding modes of conv / fully-connected requantization (params->rounding). */
#define QNNC_ROUND_TFLITE 0    /* TFLite Micro / CMSIS-NN double rounding (SRDHM, then a rounding shift) */
#define QNNC_ROUND_HALF_EVEN 1 /* one rounding of the exact product, ties to even (onnxruntime) */

/** Copy n int8 values a word at a time (memcpy of 4 bytes: one LDR/STR pair where the core
 *  has unaligned access, byte moves elsewhere); the model's input/output copies. */
QNNC_INLINE void qnnc_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        uint32_t w;
        memcpy(&w, src + i, 4u);
        memcpy(dst + i, &w, 4u);
    }
    for (; i < n; ++i) {
        dst[i] = src[i];
    }
}

/* --------------------------------------------------------------- kernels -- */

/* Scratch bytes of each SIMD path (used by the get_buffer_size functions; mirrored by qnnc/plan/kernel_scratch.py).
 * K = kh*kw*in_c (conv) or in_features (fc); conv processes output channels in blocks of QNNC_CONV_OC_BLOCK, so its
 * accumulators stay small. Layers past the limits below (or depthwise with depth_multiplier != 1) run portable and
 * need 0 bytes. */
#ifndef QNNC_CONV_MAX_K
#define QNNC_CONV_MAX_K 2048 /* conv SIMD paths: K and out_c up to this */
#endif
#ifndef QNNC_DW_MAX_TAPS
#define QNNC_DW_MAX_TAPS 64 /* depthwise SIMD paths: kh*kw up to this */
#endif
#ifndef QNNC_FC_MAX_K
#define QNNC_FC_MAX_K 4096 /* fc DSP path: K and out_features up to this */
#endif
/* Helium conv accumulator block: 32 costs KWS 256 B of arena and 2.2 % more instructions than unblocked; 16: 128 B,
 * 5.9 %; 64: 512 B, 0.4 %. Change it only together with CONV_OC_BLOCK in qnnc/plan/kernel_scratch.py (else the
 * planned scratch is too small: portable path). */
#define QNNC_CONV_OC_BLOCK 32
#define QNNC_MIN_(a, b) ((a) < (b) ? (a) : (b))
/** conv DSP: two q15 columns, int8 window if in_c%4, if K%4 and out_c even the last 2 rows padded. */
#define QNNC_CONV_DSP_BUFFER_SIZE(K, in_c, out_c)                                                            \
    (4 * ((K) & ~3) + 16 + (((in_c) & 3) != 0 ? (((K) + 7) & ~3) : 0) +                                      \
     (((K) & 3) != 0 && ((out_c) & 1) == 0 ? ((2 * (K) + 7) & ~3) : 0))
/** conv over weights in channel pairs, DSP: three q15 columns of K rounded up to 4, three int8 windows if in_c%4. */
#define QNNC_CONV_PAIRED_DSP_BUFFER_SIZE(K, in_c) (6 * (((K) + 3) & ~3) + (((in_c) & 3) != 0 ? 3 * (((K) + 7) & ~3) : 0))
/** conv portable im2col path (few input channels): two int16 columns of K, aligned (+4), < DSP. */
#define QNNC_CONV_COLS_BUFFER_SIZE(K) (4 * (K) + 4)
/** conv Helium: folded bias, 2 x block accumulators, two int8 columns unless direct (1x1 read in place); OUTER
 *  layers (sums along the channels) also the weights tap-major and 3 words of constants a channel, out_c to 8s;
 *  STRIP (no dilation; qnnc_conv_mve_s8_buffer_size): instead of the columns, `groups` kernel-row groups of G bytes. */
#define QNNC_CONV_MVE_OUTER(K, out_c) ((out_c) <= 16 && (((out_c) + 7) >> 3) * (K) <= 32)
#define QNNC_CONV_MVE_BUFFER_SIZE(K, out_c, direct)                                                          \
    (4 * (out_c) + 8 * QNNC_MIN_((out_c), QNNC_CONV_OC_BLOCK) + ((direct) ? 0 : 2 * (((K) + 15) & ~15)) +   \
     (QNNC_CONV_MVE_OUTER(K, out_c) ? ((K) + 12) * (((out_c) + 7) & ~7) : 0))
#define QNNC_CONV_MVE_STRIP_SIZE(out_c, groups, G) (4 * (out_c) + 8 * QNNC_MIN_((out_c), QNNC_CONV_OC_BLOCK) + (groups) * (G))
/** depthwise DSP: widened weights of 4 channels, 2 words a tap; 3x3: twice (also transposed). */
#define QNNC_DW_DSP_BUFFER_SIZE(taps) ((taps) == 9 ? 16 * (taps) : 8 * (taps))
/** depthwise DSP 3x3 s1 (channel rows): 4 channels x LINES int16 rows of round4(longer side) + 4, 24 words, +4. */
#define QNNC_DW_DSP_ROWS_LINES(oh, ow) ((oh) <= 8 && (ow) <= 8 ? QNNC_MIN_((oh), (ow)) + 2 : 4)
#define QNNC_DW_DSP_ROWS_BUFFER_SIZE(oh, ow) (8 * QNNC_DW_DSP_ROWS_LINES(oh, ow) * ((((oh) > (ow) ? (oh) : (ow)) + 7) & ~3) + 100)
/** depthwise Helium: one int32x4 of weights a tap, 8-byte aligned (+4). */
#define QNNC_DW_MVE_BUFFER_SIZE(taps) (16 * (taps) + 4)
/** fully connected DSP: the widened input row (Helium needs none; out_features: unused). */
#define QNNC_FC_DSP_BUFFER_SIZE(K, out_features) (4 * ((K) / 2 + 2) + 0 * (out_features))

/** Convolution, group 1. filter is OHWI: dims n=out_ch, h=kh, w=kw, c=in_ch. bias may be NULL. */
void qnnc_conv_s8(const qnnc_buffer *scratch,
                  const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                  const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *filter,
                  const int32_t *bias, const qnnc_dims *output_dims, int8_t *output);

/** Scratch bytes qnnc_conv_s8 wants for this layer on the path compiled in (0: none). */
int32_t qnnc_conv_s8_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                     const qnnc_dims *filter_dims, const qnnc_dims *output_dims);

/** qnnc_conv_s8 with the filter in channel pairs (the DSP builds' layout, QNNC_CONV_S8_PAIRED_CALL): pair p, group g
 *  of 4 taps (OHWI order, K padded with zeros to a multiple of 4): 8 bytes at (p * ((K + 3) / 4) + g) * 8, channel
 *  2p's 4 weights then channel 2p + 1's (an odd out_c's last pair: zeros). 4-byte aligned. _wide: the same in int16,
 *  a channel's 4 in the order 0, 2, 1, 3 (execution.wide_weights, QNNC_CONV_S8_PAIRED_WIDE_CALL): no SXTB16. */
void qnnc_conv_s8_paired(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                         const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                         const qnnc_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                         const qnnc_dims *output_dims, int8_t *output);
void qnnc_conv_s8_paired_wide(const qnnc_buffer *scratch, const qnnc_conv_params *params,
                              const qnnc_per_channel_quant *quant, const qnnc_dims *input_dims, const int8_t *input,
                              const qnnc_dims *filter_dims, const int16_t *filter, const int32_t *bias,
                              const qnnc_dims *output_dims, int8_t *output);
/** Scratch bytes qnnc_conv_s8_paired(_wide) wants on the path compiled in (0: none). */
int32_t qnnc_conv_s8_paired_get_buffer_size(const qnnc_dims *input_dims, const qnnc_dims *filter_dims);

/** Depthwise convolution. filter is [kh][kw][out_ch] (dims n=1, h=kh, w=kw, c=out_ch),
 *  out_ch = in_ch * depth_multiplier, output channel oc reads input channel oc / depth_multiplier. */
void qnnc_depthwise_conv_s8(const qnnc_buffer *scratch,
                            const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                            const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias, const qnnc_dims *output_dims, int8_t *output);

/** Scratch bytes qnnc_depthwise_conv_s8 wants for this layer on the path compiled in (0: none). */
int32_t qnnc_depthwise_conv_s8_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                               const qnnc_dims *filter_dims, const qnnc_dims *output_dims);

/** Fully connected on `rows` input vectors of in_features; weights [out_features][in_features]. */
void qnnc_fully_connected_s8(const qnnc_buffer *scratch,
                             const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *weights,
                             const int32_t *bias, int8_t *output);

/** Scratch bytes qnnc_fully_connected_s8 wants on the path compiled in (0: none). */
int32_t qnnc_fully_connected_s8_get_buffer_size(int32_t in_features, int32_t out_features);

/** qnnc_fully_connected_s8 with int16 weights (layout: qnnc/emit/wide_weights.py; 4-byte aligned; in/out
 *  features multiples of 4): the DSP path's loop needs no SXTB16. Same scratch, same results. */
void qnnc_fully_connected_s8_wide(const qnnc_buffer *scratch, const qnnc_fc_params *params,
                                  const qnnc_per_channel_quant *quant, int32_t rows, int32_t in_features,
                                  const int8_t *input, int32_t out_features, const int16_t *weights,
                                  const int32_t *bias, int8_t *output);

/** Max pooling; padded cells are ignored. */
void qnnc_max_pool_s8(const qnnc_pool_params *params,
                      const qnnc_dims *input_dims, const int8_t *input,
                      const qnnc_dims *output_dims, int8_t *output);

/** Average pooling: sum of raw values / count, rounded half away from zero (or requantized, see
 *  qnnc_pool_params). count = valid cells, or kernel_h*kernel_w with count_include_pad (padded cells = pad_value). */
void qnnc_avg_pool_s8(const qnnc_pool_params *params,
                      const qnnc_dims *input_dims, const int8_t *input,
                      const qnnc_dims *output_dims, int8_t *output);

/** Broadcasting add; each input dim equals the output dim or 1. */
void qnnc_add_s8(const qnnc_add_params *params,
                 const qnnc_dims *input1_dims, const int8_t *input1,
                 const qnnc_dims *input2_dims, const int8_t *input2,
                 const qnnc_dims *output_dims, int8_t *output);

/** Broadcasting multiply; each input dim equals the output dim or 1. */
void qnnc_mul_s8(const qnnc_mul_params *params, const qnnc_dims *input1_dims, const int8_t *input1,
                 const qnnc_dims *input2_dims, const int8_t *input2, const qnnc_dims *output_dims, int8_t *output);

/** Softmax over the last axis of [rows][cols]; output scale 1/M (M = inv_output_scale >= 256; 256 is TFLite's), zero
 *  point -128. exp_lut[d] = round(exp(-input_scale * d) * 2^lut_bits) for d = max - x in 0..255, lut_bits such that
 *  e * M + sum / 2 < 2^32; out = clamp((e * M + sum / 2) / sum - 128) in unsigned 32-bit arithmetic. */
typedef struct { int32_t inv_output_scale; } qnnc_softmax_params;
void qnnc_softmax_s8(const qnnc_softmax_params *params, int32_t rows, int32_t cols, const uint32_t *exp_lut,
                     const int8_t *input, int8_t *output);

/** Table look-up: output[i] = lut[input[i] + 128] (Sigmoid, Tanh, LeakyRelu, ...). */
void qnnc_lut_s8(int32_t size, const int8_t *lut, const int8_t *input, int8_t *output);

/** 4-D transpose: output dim i is input dim perm[i] (dims as n,h,w,c = d0..d3). */
void qnnc_transpose_s8(const qnnc_dims *input_dims, const int32_t perm[4], const int8_t *input, int8_t *output);

/** Constant padding: pads_before[d] cells before each of the 4 dims, rest after. */
void qnnc_pad_s8(const qnnc_dims *input_dims, const int32_t pads_before[4],
                 const qnnc_dims *output_dims, int8_t pad_value,
                 const int8_t *input, int8_t *output);

/* Reductions (ReduceMean/Sum/Max/Min), LayerNorm, ArgMax/ArgMin: reference/kernels_reduce.py. */
#define QNNC_REDUCE_SUM 0 /**< and mean: 1/count is folded into the multiplier */
#define QNNC_REDUCE_MAX 1
#define QNNC_REDUCE_MIN 2
typedef struct {
    int32_t kind;          /**< QNNC_REDUCE_SUM, _MAX or _MIN */
    int32_t input_offset;  /**< sum: minus the input zero point */
    int32_t multiplier;    /**< sum: requantization of the int32 sum */
    int32_t shift;
    int32_t output_offset; /**< sum: the output zero point */
} qnnc_reduce_params;

/** Reduce a 4-D tensor over every axis where output_dims is 1 and input_dims is not (any set of axes, one pass, no
 *  scratch): sum -> clamp(requant(sum(x + input_offset)) + output_offset); max / min -> the extreme raw value. */
void qnnc_reduce_s8(const qnnc_reduce_params *params, const qnnc_dims *input_dims, const int8_t *input,
                    const qnnc_dims *output_dims, int8_t *output);

typedef struct {
    int32_t input_offset; /**< minus the input zero point */
    int64_t epsilon;      /**< n^2 * eps / input_scale^2 as an integer in [1, 2^61] */
    int32_t frac_bits;    /**< fraction bits of the normalized value (29 - ceil(log4 n)) */
} qnnc_layer_norm_params;

/** LayerNorm over the middle axis of [outer, n, inner] (n <= 65536), exact integer mean, variance
 *  and reciprocal square root; per position i of the normalized block: out = clamp(clamp(requant(
 *  y * 2^frac_bits, multiplier[i], shift[i]), -2^24, 2^24) + bias[i]) (multiplier < 0 for gamma < 0). */
void qnnc_layer_norm_s8(const qnnc_layer_norm_params *params, int32_t outer, int32_t n, int32_t inner,
                        const int32_t *multiplier, const int32_t *shift, const int32_t *bias,
                        const int8_t *input, int8_t *output);

/** Index (as int8; n <= 127) of the largest value (is_min: the smallest) along the middle axis of
 *  [outer, n, inner]; the first of equal values, or the last with select_last. */
void qnnc_arg_max_s8(int32_t outer, int32_t n, int32_t inner, int32_t is_min, int32_t select_last,
                     const int8_t *input, int8_t *output);

/** TopK along the middle axis of [outer, n, inner] (n <= 127): the k largest values (largest = 0: the
 *  smallest) in order, equal values by increasing index, into values [outer, k, inner] and their int8
 *  indices into indices; either may be NULL. */
void qnnc_top_k_s8(int32_t outer, int32_t n, int32_t inner, int32_t k, int32_t largest, const int8_t *input,
                   int8_t *values, int8_t *indices);
/** As qnnc_arg_max_s8 / qnnc_top_k_s8 over up to 32767 entries: the indices are int16 outputs. */
void qnnc_arg_max_wide_s8(int32_t outer, int32_t n, int32_t inner, int32_t is_min, int32_t select_last,
                          const int8_t *input, int16_t *output);
void qnnc_top_k_wide_s8(int32_t outer, int32_t n, int32_t inner, int32_t k, int32_t largest, const int8_t *input,
                        int8_t *values, int16_t *indices);

/** One input of a concatenation: `outer` blocks of `inner` values, written every
 *  `output_stride` values. rescale NULL copies; else out = clamp(requant(x + in_off) + out_off). */
void qnnc_concat_slice_s8(const qnnc_rescale_params *rescale,
                          int32_t outer, int32_t inner, int32_t output_stride,
                          const int8_t *input, int8_t *output);

/** Data movement by per-axis tables of input element offsets (Slice, Split, Gather, nearest
 *  Resize, DepthToSpace, SpaceToDepth): out[n][h][w][c] = input[offset_n[n] + offset_h[h] +
 *  offset_w[w] + offset_c[c]]; offset_c NULL means offset_c[c] = c. */
void qnnc_gather_s8(const qnnc_dims *output_dims, const int32_t *offset_n, const int32_t *offset_h,
                    const int32_t *offset_w, const int32_t *offset_c,
                    const int8_t *input, int8_t *output);

/** Embedding lookup (Gather of a constant table by token ids): output row i = table row ids[i] (below 0:
 *  from the end; clamped to the table), `count` rows of `row_size`; the table at the output's quantization. */
void qnnc_embedding_s8(int32_t count, int32_t rows, int32_t row_size, const int8_t *table,
                       const int16_t *ids, int8_t *output);

/** Bilinear resize over h and w (linear Resize); the output keeps the input's quantization.
 *  table_h: per output row (offset0, offset1, w1), the two input rows' element offsets in an n block
 *  and the second's weight in Q(fraction_bits); table_w: the same per output column.
 *  out = sum(wy * wx * in) / 2^(2 * fraction_bits), rounded half away from zero (fraction_bits <= 12). */
void qnnc_resize_s8(const qnnc_dims *input_dims, const qnnc_dims *output_dims,
                    const int32_t *table_h, const int32_t *table_w, int32_t fraction_bits,
                    const int8_t *input, int8_t *output);

/** Float -> int8: v = x / scale (float); NaN -> 0; clamp to [-256, 256];
 *  round half away from zero (v +/- 0.5f, truncate); + zero_point; clamp to int8. */
void qnnc_quantize_f32_s8(int32_t size, float scale, int32_t zero_point, const float *input, int8_t *output);

/** int8 -> float: (float)(q - zero_point) * scale. */
void qnnc_dequantize_s8_f32(int32_t size, float scale, int32_t zero_point, const int8_t *input, float *output);

/* ------------------------------ grouped / transposed conv, batched matmul -- */

/** Grouped (1 < groups) or transposed convolution (qnnc_conv_general_s8). The filter is OHWI per
 *  group: dims n=out_ch, h=kh, w=kw, c=in_ch/groups; output channel oc belongs to group
 *  oc / (out_ch/groups) and reads that group's input channels. transposed = 1: ONNX ConvTranspose
 *  in gather form: output (oh, ow) sums the taps (kh, kw) whose input row
 *  ih = (oh + pad_top - kh*dilation_h) / stride_h is an exact quotient inside the input (columns
 *  likewise); pads and output_padding follow from pad_top/pad_left and the output dims. */
typedef struct {
    int32_t input_offset;  /**< minus the input zero point */
    int32_t output_offset; /**< the output zero point */
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t dilation_h, dilation_w;
    int32_t groups;     /**< in_ch / filter c */
    int32_t transposed; /**< 0: convolution, 1: transposed convolution */
    int32_t act_min, act_max;
    const int8_t *act_lut;
    int32_t rounding; /**< QNNC_ROUND_TFLITE or QNNC_ROUND_HALF_EVEN */
} qnnc_conv_general_params;

void qnnc_conv_general_s8(const qnnc_conv_general_params *params, const qnnc_per_channel_quant *quant,
                          const qnnc_dims *input_dims, const int8_t *input,
                          const qnnc_dims *filter_dims, const int8_t *filter,
                          const int32_t *bias, const qnnc_dims *output_dims, int8_t *output);

/** Batched matrix product of two int8 tensors (TFLite BATCH_MATMUL int8): dims n, h are batch
 *  dims (an input's is 1 or the output's: broadcast), w x c the matrices as stored; input1 is
 *  [M][K] ([K][M] with adj_x), input2 [K][N] ([N][K] with adj_y), output [M][N].
 *  out = clamp(requant(bias[n] + sum_k (a + input1_offset) * (b + input2_offset)) + output_offset);
 *  bias (one per output column, Gemm's C) may be NULL. */
typedef struct {
    int32_t input1_offset, input2_offset; /**< minus the zero points */
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t adj_x, adj_y;
    int32_t rounding; /**< QNNC_ROUND_TFLITE or QNNC_ROUND_HALF_EVEN */
} qnnc_batch_matmul_params;

void qnnc_batch_matmul_s8(const qnnc_batch_matmul_params *params,
                          const qnnc_dims *input1_dims, const int8_t *input1,
                          const qnnc_dims *input2_dims, const int8_t *input2,
                          const int32_t *bias, const qnnc_dims *output_dims, int8_t *output);

/* ------------------------------------- element-wise: PRelu, Max/Min, LogSoftmax -- */

/** PRelu (TFLite int8 PRELU): v = x + input_offset; v >= 0: requant(v, identity_multiplier,
 *  identity_shift), else requant(v * alpha[c], alpha_quant->multiplier[c], ->shift[c]); + output_offset,
 *  clamped to int8. The tensor is `outer` blocks of `channels` x `inner` values, channel c of
 *  element i is (i / inner) % channels (NHWC per-channel: inner = 1). Reference:
 *  qnnc/reference/kernels_elementwise.py:prelu_s8. */
typedef struct {
    int32_t input_offset;  /**< minus the input zero point */
    int32_t output_offset; /**< the output zero point */
    int32_t identity_multiplier, identity_shift;
} qnnc_prelu_params;

void qnnc_prelu_s8(const qnnc_prelu_params *params, const qnnc_per_channel_quant *alpha_quant,
                   const int8_t *alpha, int32_t outer, int32_t channels, int32_t inner,
                   const int8_t *input, int8_t *output);

/** Broadcasting Max (is_max 1) / Min of two int8 tensors: each input rescaled to the output scale,
 *  r = requant(x + input_offset, multiplier, shift); out = clamp(max/min(r1, r2), act_min - output_offset,
 *  act_max - output_offset) + output_offset. Each input dim equals the output dim or 1. */
typedef struct {
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t is_max;
} qnnc_minmax_params;

void qnnc_minmax_s8(const qnnc_minmax_params *params,
                    const qnnc_dims *input1_dims, const int8_t *input1,
                    const qnnc_dims *input2_dims, const int8_t *input2,
                    const qnnc_dims *output_dims, int8_t *output);

/** LogSoftmax over the last axis of [rows][cols] (output scale 16/256, zero point 127 as TFLite).
 *  Per row: d = max - x, sum = sum exp_lut[d] (exp_lut[d] = round(exp(-input_scale * d) * 2^exp_bits)),
 *  L = log2(sum / 2^exp_bits) in Q16 (leading bit + a 256-entry table of the next 8 bits),
 *  t = d * diff_multiplier + (L * log_multiplier + 2^15) >> 16 (int64, Q16 output steps),
 *  out = max(output_offset - ((t + 2^15) >> 16), -128). */
typedef struct {
    int32_t exp_bits;        /**< exp_lut entries are Q(exp_bits); cols * 2^exp_bits < 2^31 */
    int32_t diff_multiplier; /**< input_scale / output_scale in Q16 */
    int32_t log_multiplier;  /**< ln(2) / output_scale in Q16 */
    int32_t output_offset;
} qnnc_log_softmax_params;

void qnnc_log_softmax_s8(const qnnc_log_softmax_params *params, int32_t rows, int32_t cols,
                         const uint32_t *exp_lut, const int8_t *input, int8_t *output);

/* ------------------------------------------------------ LSTM / GRU (int8) -- */
/* ONNX LSTM / GRU, batch 1, one call per direction runs every time step (TFLite / CMSIS-NN integer
 * LSTM scheme): int8 x and h, int8 per-row weights, int16 Q3.12 gate pre-activations, sigmoid/tanh
 * by 513-entry int16 tables (Q3.12 -> Q0.15, linear interpolation), LSTM cell state int16 at
 * 2^-cell_shift. Reference and exact arithmetic: qnnc/reference/kernels_recurrent.py. */
typedef struct {
    int32_t time_steps, input_size, hidden_size;
    int32_t reverse;             /**< 1: steps t = time_steps-1 .. 0 */
    int32_t output_mode;         /**< 0: h of step t at output + t*output_stride; 1: the last h; 2: the last c (int8) */
    int32_t output_stride;       /**< mode 0: elements between steps (directions * hidden_size) */
    int32_t hidden_offset;       /**< zero point of h */
    int32_t cell_shift;          /**< LSTM: cell state int16 with scale 2^-cell_shift, in [0, 15] */
    int32_t hidden_multiplier;   /**< Q0.30 product -> h */
    int32_t hidden_shift;
    int32_t cell_out_multiplier; /**< mode 2: cell state -> int8 output */
    int32_t cell_out_shift;
    int32_t cell_out_offset;
    int32_t linear_before_reset; /**< GRU */
} qnnc_recurrent_params;

/** The constants of one direction (gate blocks of hidden_size rows in ONNX order: LSTM i, o, f, c; GRU z, r, h).
 *  Biases have the input / hidden zero points folded in; the quant entries take each side's sums to Q3.12 per row. */
typedef struct {
    const int8_t *input_weights;     /**< [gates * hidden_size][input_size] */
    const int8_t *recurrent_weights; /**< [gates * hidden_size][hidden_size] */
    const int32_t *input_bias;       /**< [gates * hidden_size] */
    const int32_t *recurrent_bias;   /**< [gates * hidden_size] */
    qnnc_per_channel_quant input_quant;
    qnnc_per_channel_quant recurrent_quant;
    const int8_t *initial_h;         /**< [hidden_size] */
    const int16_t *initial_c;        /**< [hidden_size] at 2^-cell_shift (LSTM), NULL for a GRU */
    const int16_t *sigmoid_lut;      /**< 513 entries */
    const int16_t *tanh_lut;         /**< 513 entries */
} qnnc_recurrent_weights;

/** Bytes of working memory (arena) qnnc_lstm_s8 needs: 11 * hidden_size rounded up to 4. */
int32_t qnnc_lstm_s8_get_buffer_size(int32_t hidden_size);
/** One direction of an LSTM over input [time_steps][input_size]; scratch: get_buffer_size bytes, 2-byte aligned. */
void qnnc_lstm_s8(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights,
                  const int8_t *input, int8_t *output, void *scratch);

/** int16 activations (16x8): qnnc_lstm_s8 / qnnc_gru_s8 with int16 input, h and output (zero point 0),
 *  int64 gate sums requantized to Q3.12 by qnnc_requantize_s64; weights->initial_h is unused (NULL):
 *  initial_h [hidden_size] int16. Scratch: 12 * hidden_size bytes rounded up to 4, 2-byte aligned. */
void qnnc_lstm_s16(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights,
                   const int16_t *initial_h, const int16_t *input, int16_t *output, void *scratch);
void qnnc_gru_s16(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights,
                  const int16_t *initial_h, const int16_t *input, int16_t *output, void *scratch);

/** Bytes of working memory (arena) qnnc_gru_s8 needs: 10 * hidden_size rounded up to 4. */
int32_t qnnc_gru_s8_get_buffer_size(int32_t hidden_size);
/** One direction of a GRU over input [time_steps][input_size]; scratch: get_buffer_size bytes, 2-byte aligned. */
void qnnc_gru_s8(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights,
                 const int8_t *input, int8_t *output, void *scratch);

#include "qnnc_kernels_s4.h" /* int4 weights (int8 activations) */

/* ------------------------------------------- int16 activations (16x8) -- */
/* TFLite's 16x8 scheme (CMSIS-NN arm_*_s16): int16 activations (symmetric, zero point 0),
 * int8 per-channel weights, int64 biases and accumulators. Reference:
 * qnnc/reference/kernels_s16.py. The params structs are those of the int8 kernels
 * (act_lut must be NULL; act_min/act_max are int16 bounds). */

/** conv 16x8 (K % 4 == 0, K <= 511, input offset 0): DSP 2 repacked columns + a window; Helium 2 windows. */
#define QNNC_CONV_S16_DSP_BUFFER_SIZE(K) (6 * (K))
#define QNNC_CONV_S16_MVE_BUFFER_SIZE(K) (4 * (K))

/** Convolution, group 1, int16 activations; as qnnc_conv_s8 otherwise (scratch: see below). */
void qnnc_conv_s16(const qnnc_buffer *scratch, const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                   const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                   const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims, int16_t *output);
/** Scratch bytes qnnc_conv_s16 wants for this layer on the path compiled in (0: none). */
int32_t qnnc_conv_s16_get_buffer_size(const qnnc_conv_params *params, const qnnc_dims *input_dims,
                                      const qnnc_dims *filter_dims, const qnnc_dims *output_dims);

/** Depthwise convolution, int16 activations; as qnnc_depthwise_conv_s8 otherwise. */
void qnnc_depthwise_conv_s16(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                             const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                             const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims, int16_t *output);

/** Grouped or transposed convolution (ONNX ConvTranspose, any groups), int16 activations: as
 *  qnnc_conv_general_s8 (act_lut NULL, rounding unused: 16x8 requantization). */
void qnnc_conv_general_s16(const qnnc_conv_general_params *params, const qnnc_per_channel_quant *quant,
                           const qnnc_dims *input_dims, const int16_t *input, const qnnc_dims *filter_dims,
                           const int8_t *filter, const int64_t *bias, const qnnc_dims *output_dims, int16_t *output);

/** qnnc_embedding_s8 with an int16 table and output. */
void qnnc_embedding_s16(int32_t count, int32_t rows, int32_t row_size, const int16_t *table,
                        const int16_t *ids, int16_t *output);

/** Bilinear resize, int16 activations: as qnnc_resize_s8 (the full sum in int64). */
void qnnc_resize_s16(const qnnc_dims *input_dims, const qnnc_dims *output_dims,
                     const int32_t *table_h, const int32_t *table_w, int32_t fraction_bits,
                     const int16_t *input, int16_t *output);

/** Fully connected, int16 activations; as qnnc_fully_connected_s8 otherwise. */
void qnnc_fully_connected_s16(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                              int32_t rows, int32_t in_features, const int16_t *input,
                              int32_t out_features, const int8_t *weights,
                              const int64_t *bias, int16_t *output);

/** Max pooling, int16; padded cells are ignored. */
void qnnc_max_pool_s16(const qnnc_pool_params *params,
                       const qnnc_dims *input_dims, const int16_t *input,
                       const qnnc_dims *output_dims, int16_t *output);

/** Average pooling, int16 (int32 sums: the quantizer keeps kernel_h*kernel_w <= 65535). */
void qnnc_avg_pool_s16(const qnnc_pool_params *params,
                       const qnnc_dims *input_dims, const int16_t *input,
                       const qnnc_dims *output_dims, int16_t *output);

/** Broadcasting add, int16 (TFLite int16 ADD: left_shift 15, zero points 0). */
void qnnc_add_s16(const qnnc_add_params *params,
                  const qnnc_dims *input1_dims, const int16_t *input1,
                  const qnnc_dims *input2_dims, const int16_t *input2,
                  const qnnc_dims *output_dims, int16_t *output);

/* int16 element-wise and movement kernels (qnnc/reference/kernels_s16_elementwise.py): the int8
 * kernels' arithmetic on int16 values (zero offsets), clamped to act_min/act_max or int16. */
void qnnc_mul_s16(const qnnc_mul_params *params, const qnnc_dims *input1_dims, const int16_t *input1,
                  const qnnc_dims *input2_dims, const int16_t *input2, const qnnc_dims *output_dims, int16_t *output);
void qnnc_minmax_s16(const qnnc_minmax_params *params, const qnnc_dims *input1_dims, const int16_t *input1,
                     const qnnc_dims *input2_dims, const int16_t *input2, const qnnc_dims *output_dims,
                     int16_t *output);
void qnnc_prelu_s16(const qnnc_prelu_params *params, const qnnc_per_channel_quant *alpha_quant,
                    const int8_t *alpha, int32_t outer, int32_t channels, int32_t inner,
                    const int16_t *input, int16_t *output);
void qnnc_pad_s16(const qnnc_dims *input_dims, const int32_t pads_before[4], const qnnc_dims *output_dims,
                  int16_t pad_value, const int16_t *input, int16_t *output);
void qnnc_concat_slice_s16(const qnnc_rescale_params *rescale, int32_t outer, int32_t inner,
                           int32_t output_stride, const int16_t *input, int16_t *output);

/** Softmax over the last axis of [rows][cols]; output scale 1/32768, zero point 0.
 *  d = max - x in [0, 65535]; e = (exp_lut[d & 255] * exp_lut[256 + (d >> 8)] + 2^14) >> 15 with
 *  exp_lut[i] = round(exp(-input_scale * i) * 2^15), exp_lut[256 + j] = round(exp(-input_scale * 256 * j) * 2^15);
 *  out = min((e * 32768 + sum / 2) / sum, 32767) in unsigned 32-bit arithmetic (cols < 2^16). */
void qnnc_softmax_s16(int32_t rows, int32_t cols, const uint32_t *exp_lut, const int16_t *input, int16_t *output);

/** 4-D transpose of int16 values (see qnnc_transpose_s8). */
void qnnc_transpose_s16(const qnnc_dims *input_dims, const int32_t perm[4], const int16_t *input, int16_t *output);

/** int16 unary function (Sigmoid, Tanh, Exp, ...): 513-entry table, u = x + 32768, i = u >> 7,
 *  out = lut[i] + (((lut[i + 1] - lut[i]) * (u & 127) + 64) >> 7). In place allowed. */
void qnnc_lut_s16(int32_t size, const int16_t *lut, const int16_t *input, int16_t *output);

/** int16 Floor (mode 0) / Ceil (1) / Round half to even (2) of v = x * in_mult / 2^in_shift, or
 *  Mod's quotient toward zero (3) / floor (4) / ceil (5) of v nudged by in_mult / 2^(in_shift + 8):
 *  k = mode(v),
 *  out = sat16(requant(k, out_mult, out_shift)); in_shift in [16, 62]. In place allowed. */
void qnnc_round_s16(int32_t mode, int32_t in_mult, int32_t in_shift, int32_t out_mult, int32_t out_shift,
                    int32_t size, const int16_t *input, int16_t *output);

/** int8 -> int16 re-scaling (model input, int8/int16 boundaries):
 *  out = clamp(requant(x + input_offset) + output_offset) to int16. */
void qnnc_requantize_s8_s16(const qnnc_rescale_params *params, int32_t size, const int8_t *input, int16_t *output);

/** int16 -> int8 re-scaling (model output, int16/int8 boundaries):
 *  out = clamp(requant(x + input_offset) + output_offset) to int8. */
void qnnc_requantize_s16_s8(const qnnc_rescale_params *params, int32_t size, const int16_t *input, int8_t *output);

/* int16 reductions, ArgMax/ArgMin, LogSoftmax, LayerNorm: reference/kernels_s16_reduce.py. */
/** As qnnc_reduce_s8 on int16 (zero points 0): sum in int64 -> sat16(qnnc_requantize_s64(sum)). */
void qnnc_reduce_s16(const qnnc_reduce_params *params, const qnnc_dims *input_dims, const int16_t *input,
                     const qnnc_dims *output_dims, int16_t *output);
/** As qnnc_arg_max_s8 on an int16 input; the index output stays int8 (n <= 127). */
void qnnc_arg_max_s16(int32_t outer, int32_t n, int32_t inner, int32_t is_min, int32_t select_last,
                      const int16_t *input, int8_t *output);
/** As qnnc_top_k_s8 on int16 values; the index output stays int8 (n <= 127). */
void qnnc_top_k_s16(int32_t outer, int32_t n, int32_t inner, int32_t k, int32_t largest, const int16_t *input,
                    int16_t *values, int8_t *indices);
/** As qnnc_arg_max_s16 / qnnc_top_k_s16 over up to 32767 entries: the indices are int16 outputs. */
void qnnc_arg_max_wide_s16(int32_t outer, int32_t n, int32_t inner, int32_t is_min, int32_t select_last,
                           const int16_t *input, int16_t *output);
void qnnc_top_k_wide_s16(int32_t outer, int32_t n, int32_t inner, int32_t k, int32_t largest,
                         const int16_t *input, int16_t *values, int16_t *indices);
/** LogSoftmax over the last axis of [rows][cols] (cols < 2^16), output scale 1/1024, zero point 0:
 *  Q30 two-level exp table, log2 of the row sum in Q20, t = d * diff_multiplier + L * log_multiplier
 *  in Q32 output steps, out = -min((t + 2^31) >> 32, 32768). */
void qnnc_log_softmax_s16(int32_t rows, int32_t cols, int64_t diff_multiplier, int32_t log_multiplier,
                          const uint32_t *exp_lut, const int16_t *input, int16_t *output);
/** As qnnc_layer_norm_s8 on int16 (n <= 2^15), output clamped to int16. */
void qnnc_layer_norm_s16(const qnnc_layer_norm_params *params, int32_t outer, int32_t n, int32_t inner,
                         const int32_t *multiplier, const int32_t *shift, const int32_t *bias,
                         const int16_t *input, int16_t *output);

/* int16 MatMul / Gemm of two activations (reference/kernels_s16_matmul.py): as qnnc_batch_matmul_s8
 * with int16 operands (offsets 0), an int64 sum and bias, the 16x8 requantization (qnnc_requantize_s64). */
void qnnc_batch_matmul_s16(const qnnc_batch_matmul_params *params,
                           const qnnc_dims *input1_dims, const int16_t *input1,
                           const qnnc_dims *input2_dims, const int16_t *input2,
                           const int64_t *bias,
                           const qnnc_dims *output_dims, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* QNNC_KERNELS_H */
