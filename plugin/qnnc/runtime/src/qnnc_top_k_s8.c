/*
 * qnnc_top_k_s8 - TopK of int8 values along the middle axis of [outer, n, inner] (n <= 127): the k
 * largest (or smallest) values in order and / or their int8 indices. Body: qnnc_top_k_impl.h
 * (shared with qnnc_top_k_s16). Reference: qnnc/reference/kernels_reduce.py:top_k.
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_IDX_T int8_t
#define QNNC_FN qnnc_top_k_s8
#include "qnnc_top_k_impl.h"
