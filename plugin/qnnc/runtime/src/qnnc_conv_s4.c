/*
 * qnnc_conv_s4 - convolution (group 1) with int8 activations and packed int4 weights.
 * Reference: qnnc/reference/kernels_s4.py:conv_s4. Body: qnnc_conv_impl.h (shared with qnnc_conv_s8).
 *
 * The filter is OHWI like qnnc_conv_s8, flattened and packed two weights per byte, low
 * nibble first (CMSIS-NN arm_convolve_s4): weight i is the low nibble of byte i/2 when i is
 * even, the high nibble when odd; an odd total count leaves the last high nibble 0. An output
 * channel's weights may therefore start in the middle of a byte (qnnc_s4_dot handles the
 * odd start and reads whole bytes otherwise). The arithmetic is that of qnnc_conv_s8 on the unpacked weights.
 * Portable C99 on every target (the weights are in [-8, 7]; sums are exact).
 */
#include "qnnc_internal.h"

#define QNNC_FN qnnc_conv_s4
#define QNNC_W_T int32_t
#define QNNC_W_AT(packed, i) (i)
#define QNNC_DOT(acc, packed, w, x, n, off) ((acc) + qnnc_s4_dot(packed, w, x, n, off))
#include "qnnc_conv_impl.h"
