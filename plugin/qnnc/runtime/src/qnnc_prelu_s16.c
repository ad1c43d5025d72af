/*
 * qnnc_prelu_s16 - int16 PRelu / LeakyRelu with a per-channel int8 slope (TFLite's PRELU
 * arithmetic on int16 values: the identity requantization for x >= 0, the alpha one of
 * x * alpha[c] otherwise). Body: qnnc_prelu_impl.h (shared with qnnc_prelu_s8).
 * Reference: qnnc/reference/kernels_s16_elementwise.py:prelu_s16.
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_T_MIN (-32768)
#define QNNC_T_MAX 32767
#define QNNC_FN qnnc_prelu_s16
#include "qnnc_prelu_impl.h"
