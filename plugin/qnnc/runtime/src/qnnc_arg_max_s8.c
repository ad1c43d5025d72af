/*
 * qnnc_arg_max_s8 - ArgMax / ArgMin along the middle axis of [outer, n, inner] (n <= 127): the index
 * is the int8 output (scale 1, zero point 0). Body: qnnc_arg_max_impl.h (shared with qnnc_arg_max_s16).
 * Reference: qnnc/reference/kernels_reduce.py:arg_max_s8.
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_IDX_T int8_t
#define QNNC_FN qnnc_arg_max_s8
#include "qnnc_arg_max_impl.h"
