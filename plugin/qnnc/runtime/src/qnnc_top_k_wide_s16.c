/*
 * qnnc_top_k_wide_s16 - TopK of int16 values along the middle axis of [outer, n, inner] (n <= 32767):
 * the values and / or their int16 indices (scale 1, zero point 0).
 * Body: qnnc_top_k_impl.h. Reference: qnnc/reference/kernels_reduce.py:top_k.
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_IDX_T int16_t
#define QNNC_FN qnnc_top_k_wide_s16
#include "qnnc_top_k_impl.h"
