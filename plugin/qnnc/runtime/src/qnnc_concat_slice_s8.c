/*
 * qnnc_concat_slice_s8 - writes one input of a concatenation, optionally re-scaled.
 * Body: qnnc_concat_slice_impl.h (shared with qnnc_concat_slice_s16).
 * Reference: qnnc/reference/kernels.py:rescale_s8 (the interpreter concatenates).
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_T_MIN (-128)
#define QNNC_T_MAX 127
#define QNNC_FN qnnc_concat_slice_s8
#include "qnnc_concat_slice_impl.h"
