/*
 * qnnc_transpose_s8 - 4-D int8 transpose (output dim i is input dim perm[i]).
 * Reference: qnnc/reference/kernels.py:transpose_s8. Body: qnnc_transpose_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_FN qnnc_transpose_s8
#include "qnnc_transpose_impl.h"
