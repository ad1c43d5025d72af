/*
 * qnnc_kernels.h - the qnnc int8 kernel library (one header, CMSIS-NN style naming).
 *
 * All activation tensors are int8, NHWC, batch 1. Weights are int8, biases int32.
 * Every kernel is bit-exact with the numpy reference in qnnc/reference/kernels.py,
 * which defines the arithmetic. Kernels never allocate, never touch globals and
 * need no libm; they are re-entrant.
 *
 * Requantization (TFLite / CMSIS-NN convention): see qnnc_requantize().
 */
#ifndef QNNC_KERNELS_H
#define QNNC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

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

/* Kernel paths. The portable C99 path is the default everywhere. Defining QNNC_ENABLE_SIMD
 * selects, from the compiler's own macros, the Armv7E-M DSP path (__ARM_FEATURE_DSP: Cortex-M4/
 * M7/M33) or the Helium path (__ARM_FEATURE_MVE: Cortex-M55/M85) of conv, depthwise conv and
 * fully connected. Those paths keep working buffers on the stack (variable-length arrays
 * proportional to the layer's channels or input features, up to a few KB), so give the
 * inferring thread that much more stack. Every path is bit-exact with the reference.
 * QNNC_PORTABLE_ONLY forces the portable path of every kernel (add included). */

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
} qnnc_conv_params;

/** Fully connected: output[r][o] = act(requant(bias[o] + sum_k w[o][k]*(in[r][k]+input_offset))). */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    const int8_t *act_lut;
} qnnc_fc_params;

/** Max and average pooling (input and output share scale and zero point). */
typedef struct {
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t count_include_pad; /**< average pool: padded cells count and hold pad_value */
    int32_t pad_value;         /**< the zero point */
    int32_t act_min, act_max;
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

/* -------------------------------------------------------- requantization -- */

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

QNNC_INLINE int8_t qnnc_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* --------------------------------------------------------------- kernels -- */

/** Convolution, group 1. filter is OHWI: dims n=out_ch, h=kh, w=kw, c=in_ch. bias may be NULL. */
void qnnc_conv_s8(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                  const qnnc_dims *input_dims, const int8_t *input,
                  const qnnc_dims *filter_dims, const int8_t *filter,
                  const int32_t *bias,
                  const qnnc_dims *output_dims, int8_t *output);

/** Depthwise convolution. filter is [kh][kw][out_ch] (dims n=1, h=kh, w=kw, c=out_ch),
 *  out_ch = in_ch * depth_multiplier, output channel oc reads input channel oc / depth_multiplier. */
void qnnc_depthwise_conv_s8(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                            const qnnc_dims *input_dims, const int8_t *input,
                            const qnnc_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias,
                            const qnnc_dims *output_dims, int8_t *output);

/** Fully connected on `rows` input vectors of in_features; weights [out_features][in_features]. */
void qnnc_fully_connected_s8(const qnnc_fc_params *params, const qnnc_per_channel_quant *quant,
                             int32_t rows, int32_t in_features, const int8_t *input,
                             int32_t out_features, const int8_t *weights,
                             const int32_t *bias, int8_t *output);

/** Max pooling; padded cells are ignored. */
void qnnc_max_pool_s8(const qnnc_pool_params *params,
                      const qnnc_dims *input_dims, const int8_t *input,
                      const qnnc_dims *output_dims, int8_t *output);

/** Average pooling: sum of raw values / count, rounded half away from zero.
 *  count = valid cells, or kernel_h*kernel_w with count_include_pad (padded cells = pad_value). */
void qnnc_avg_pool_s8(const qnnc_pool_params *params,
                      const qnnc_dims *input_dims, const int8_t *input,
                      const qnnc_dims *output_dims, int8_t *output);

/** Broadcasting add; each input dim equals the output dim or 1. */
void qnnc_add_s8(const qnnc_add_params *params,
                 const qnnc_dims *input1_dims, const int8_t *input1,
                 const qnnc_dims *input2_dims, const int8_t *input2,
                 const qnnc_dims *output_dims, int8_t *output);

/** Broadcasting multiply; each input dim equals the output dim or 1. */
void qnnc_mul_s8(const qnnc_mul_params *params,
                 const qnnc_dims *input1_dims, const int8_t *input1,
                 const qnnc_dims *input2_dims, const int8_t *input2,
                 const qnnc_dims *output_dims, int8_t *output);

/** Softmax over the last axis of [rows][cols]; output scale 1/256, zero point -128.
 *  exp_lut[d] = round(exp(-input_scale * d) * 2^lut_bits) for d = max - x in 0..255.
 *  out = clamp((e * 256 + sum / 2) / sum - 128) with unsigned 32-bit arithmetic. */
void qnnc_softmax_s8(int32_t rows, int32_t cols, const uint32_t *exp_lut,
                     const int8_t *input, int8_t *output);

/** Table look-up: output[i] = lut[input[i] + 128] (Sigmoid, Tanh, LeakyRelu, ...). */
void qnnc_lut_s8(int32_t size, const int8_t *lut, const int8_t *input, int8_t *output);

/** 4-D transpose: output dim i is input dim perm[i] (dims as n,h,w,c = d0..d3). */
void qnnc_transpose_s8(const qnnc_dims *input_dims, const int32_t perm[4],
                       const int8_t *input, int8_t *output);

/** Constant padding: pads_before[d] cells before each of the 4 dims, rest after. */
void qnnc_pad_s8(const qnnc_dims *input_dims, const int32_t pads_before[4],
                 const qnnc_dims *output_dims, int8_t pad_value,
                 const int8_t *input, int8_t *output);

/** One input of a concatenation: `outer` blocks of `inner` values, written every
 *  `output_stride` values. rescale NULL copies; else out = clamp(requant(x + in_off) + out_off). */
void qnnc_concat_slice_s8(const qnnc_rescale_params *rescale,
                          int32_t outer, int32_t inner, int32_t output_stride,
                          const int8_t *input, int8_t *output);

/** Float -> int8: v = x / scale (float); NaN -> 0; clamp to [-256, 256];
 *  round half away from zero (v +/- 0.5f, truncate); + zero_point; clamp to int8. */
void qnnc_quantize_f32_s8(int32_t size, float scale, int32_t zero_point,
                          const float *input, int8_t *output);

/** int8 -> float: (float)(q - zero_point) * scale. */
void qnnc_dequantize_s8_f32(int32_t size, float scale, int32_t zero_point,
                            const int8_t *input, float *output);

#ifdef __cplusplus
}
#endif

#endif /* QNNC_KERNELS_H */
