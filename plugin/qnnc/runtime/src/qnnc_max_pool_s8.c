/*
 * qnnc_max_pool_s8 - int8 max pooling, NHWC.
 * Reference: qnnc/reference/kernels.py:max_pool_s8. Body: qnnc_max_pool_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_CLAMP qnnc_clamp_s8
#define QNNC_FN qnnc_max_pool_s8
#include "qnnc_max_pool_impl.h"
