/*
 * qnnc_resize_s16 - bilinear resize over h and w of an [n][h][w][c] int16 tensor (linear Resize in
 * an int16-activation plan): the tables and rounding of qnnc_resize_s8, the full sum in int64
 * (|sum| <= 2^(2 bits) * 32768). Reference: qnnc/reference/kernels_movement.py:resize_s8 (int16 x).
 * Body: qnnc_resize_impl.h.
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_ACC_T int64_t
#define QNNC_FN qnnc_resize_s16
#include "qnnc_resize_impl.h"
