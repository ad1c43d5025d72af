/*
 * qnnc_prelu_s8 - int8 PRelu with a per-channel slope (TFLite's int8 PRELU arithmetic: two
 * requantizations, the identity one for x >= 0 and the alpha one of (x - zero point) * alpha[c]).
 * Body: qnnc_prelu_impl.h (shared with qnnc_prelu_s16).
 * Reference: qnnc/reference/kernels_elementwise.py:prelu_s8.
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_T_MIN (-128)
#define QNNC_T_MAX 127
#define QNNC_FN qnnc_prelu_s8
#include "qnnc_prelu_impl.h"
