/*
 * qnnc_max_pool_s16 - int16 max pooling, NHWC.
 * Reference: qnnc/reference/kernels_s16.py:max_pool_s16. Body: qnnc_max_pool_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_CLAMP qnnc_clamp_s16
#define QNNC_FN qnnc_max_pool_s16
#include "qnnc_max_pool_impl.h"
