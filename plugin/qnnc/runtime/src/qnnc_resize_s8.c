/*
 * qnnc_resize_s8 - bilinear resize over h and w of an [n][h][w][c] int8 tensor (linear Resize).
 * Per output row table_h holds (offset0, offset1, w1): the element offsets, inside one n block,
 * of the two input rows and the weight of the second in Q(fraction_bits) (the first weighs
 * 2^bits - w1); table_w the same per output column. The output keeps the input's scale and zero
 * point: out = (sum wy * wx * in) / 2^(2 bits), rounded half away from zero; |sum| <= 2^(2 bits) * 128
 * fits int32 for bits <= 12. Reference: qnnc/reference/kernels_movement.py:resize_s8.
 * Body: qnnc_resize_impl.h (shared with qnnc_resize_s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_ACC_T int32_t
#define QNNC_FN qnnc_resize_s8
#include "qnnc_resize_impl.h"
