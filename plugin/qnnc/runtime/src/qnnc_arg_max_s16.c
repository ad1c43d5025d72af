/*
 * qnnc_arg_max_s16 - ArgMax / ArgMin of int16 values along the middle axis of [outer, n, inner]
 * (n <= 127). The index output stays int8 (scale 1, zero point 0) as for qnnc_arg_max_s8: it is an
 * integer, so an int16 output would add nothing. Body: qnnc_arg_max_impl.h.
 * Reference: qnnc/reference/kernels_s16_reduce.py:arg_max_s16.
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_IDX_T int8_t
#define QNNC_FN qnnc_arg_max_s16
#include "qnnc_arg_max_impl.h"
