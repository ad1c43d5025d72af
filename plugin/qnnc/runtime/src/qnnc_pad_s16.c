/*
 * qnnc_pad_s16 - constant padding of a 4-D int16 tensor (pads_before >= 0), as qnnc_pad_s8.
 * Body: qnnc_pad_impl.h (shared with qnnc_pad_s8).
 * Reference: qnnc/reference/kernels_s16_elementwise.py:pad_s16.
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_FN qnnc_pad_s16
#include "qnnc_pad_impl.h"
