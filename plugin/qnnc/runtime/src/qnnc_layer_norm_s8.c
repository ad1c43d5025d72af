/*
 * qnnc_layer_norm_s8 - LayerNorm over the middle axis of [outer, n, inner] in exact integer
 * arithmetic: int64 sums, the variance n*sum(d^2) - sum(d)^2, an integer reciprocal square root
 * (normalization by powers of 4, a bitwise integer square root, one division per row), and
 * gamma / beta folded into per-position multipliers and biases (n <= 65536).
 * Reference (and the arithmetic in full): qnnc/reference/kernels_reduce.py:layer_norm_s8.
 * Body: qnnc_layer_norm_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_OUT(v, bias) qnnc_clamp_s8((v) + (bias), -128, 127)
#define QNNC_FN qnnc_layer_norm_s8
#include "qnnc_layer_norm_impl.h"
