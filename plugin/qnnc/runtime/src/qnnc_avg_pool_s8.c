/*
 * qnnc_avg_pool_s8 - int8 average pooling, NHWC.
 * Reference: qnnc/reference/kernels.py:avg_pool_s8. Body: qnnc_avg_pool_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_kernels.h"

#define QNNC_T int8_t
#define QNNC_CLAMP qnnc_clamp_s8
#define QNNC_FN qnnc_avg_pool_s8
#include "qnnc_avg_pool_impl.h"
