/*
 * qnnc_layer_norm_s16 - int16 LayerNorm (16x8 scheme, zero point 0) over the middle axis of
 * [outer, n, inner] in exact integer arithmetic, as qnnc_layer_norm_s8: int64 sums, the variance
 * n*sum(d^2) - sum(d)^2, an integer reciprocal square root (normalization by powers of 4, a bitwise
 * integer square root, one division per row), and gamma / beta folded into per-position
 * multipliers and biases; n <= 2^15 keeps every int64 intermediate below 2^62 with int16 inputs
 * (the variance term <= 2^60, epsilon <= 2^61).
 * Reference (and the arithmetic in full): qnnc/reference/kernels_s16_reduce.py:layer_norm_s16.
 * Body: qnnc_layer_norm_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_OUT(v, bias) qnnc_clamp_s16((int64_t)(v) + (bias), -32768, 32767)
#define QNNC_FN qnnc_layer_norm_s16
#include "qnnc_layer_norm_impl.h"
