/*
 * qnnc_arg_max_wide_s8 - ArgMax / ArgMin of int8 values along the middle axis of [outer, n, inner]
 * (n <= 32767, a 1000-class classifier): the index is the int16 output (scale 1, zero point 0).
 * Body: qnnc_arg_max_impl.h. Reference: qnnc/reference/kernels_reduce.py:arg_max.
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_IDX_T int16_t
#define QNNC_FN qnnc_arg_max_wide_s8
#include "qnnc_arg_max_impl.h"
