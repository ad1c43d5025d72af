/*
 * qnnc_concat_slice_s16 - writes one int16 input of a concatenation, optionally re-scaled to
 * the output's scale (as qnnc_concat_slice_s8). Body: qnnc_concat_slice_impl.h.
 * Reference: qnnc/reference/kernels_s16_elementwise.py:rescale_s16 (the interpreter concatenates).
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_T_MIN (-32768)
#define QNNC_T_MAX 32767
#define QNNC_FN qnnc_concat_slice_s16
#include "qnnc_concat_slice_impl.h"
