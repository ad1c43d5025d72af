/*
 * qnnc_transpose_s16 - 4-D int16 transpose (output dim i is input dim perm[i]).
 * Reference: qnnc/reference/kernels_s16.py:transpose_s16. Body: qnnc_transpose_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_FN qnnc_transpose_s16
#include "qnnc_transpose_impl.h"
