/*
 * qnnc_pad_s8 - constant padding of a 4-D int8 tensor (pads_before >= 0).
 * Body: qnnc_pad_impl.h (shared with qnnc_pad_s16).
 * Reference: qnnc/reference/kernels.py:pad_s8.
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_FN qnnc_pad_s8
#include "qnnc_pad_impl.h"
