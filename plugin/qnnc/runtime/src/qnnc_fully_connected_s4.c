/*
 * qnnc_fully_connected_s4 - fully connected with int8 activations and packed int4 weights.
 * Reference: qnnc/reference/kernels_s4.py:fully_connected_s4. Body: qnnc_fully_connected_impl.h
 * (shared with qnnc_fully_connected_s8).
 *
 * The weights are [out_features][in_features] like qnnc_fully_connected_s8, flattened and
 * packed two per byte, low nibble first (CMSIS-NN arm_fully_connected_s4): weight i is the low
 * nibble of byte i/2 when i is even, the high nibble when odd; an odd count leaves the last
 * high nibble 0. With an odd in_features every other row starts mid-byte (qnnc_s4_dot
 * handles that). Portable C99 on every target.
 */
#include "qnnc_internal.h"

#define QNNC_FN qnnc_fully_connected_s4
#define QNNC_W_T int32_t
#define QNNC_W_AT(packed, i) (i)
#define QNNC_DOT(acc, packed, w, x, n, off) ((acc) + qnnc_s4_dot(packed, w, x, n, off))
#include "qnnc_fully_connected_impl.h"
