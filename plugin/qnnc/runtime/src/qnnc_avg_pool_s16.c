/*
 * qnnc_avg_pool_s16 - int16 average pooling, NHWC.
 * Reference: qnnc/reference/kernels_s16.py:avg_pool_s16. Body: qnnc_avg_pool_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

#define QNNC_T int16_t
#define QNNC_CLAMP qnnc_clamp_s16
#define QNNC_FN qnnc_avg_pool_s16
#include "qnnc_avg_pool_impl.h"
