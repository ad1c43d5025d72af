/*
 * qnnc_softmax_s8 - int8 softmax over the last axis through an exp look-up table, output scale
 * 1 / params->inv_output_scale (an integer M >= 256; 256 is TFLite's 1/256), zero point -128.
 * Reference: qnnc/reference/kernels.py:softmax_s8. Body: qnnc_softmax_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"

/* max - x is in [0, 255]. The generator (quantize/rules_s8.py:softmax_constants) keeps the entries
 * <= 2^bits with bits = min(23 - k, 31 - ceil(log2(cols + 1))), k = max(0, ceil(log2(M)) - 8): then
 * e * M <= 2^31 and sum <= cols * 2^bits < 2^31, so neither the sum nor e * M + sum / 2 wraps, and
 * (e * M + sum / 2) / sum <= M (e <= sum) fits int32. */
QNNC_INLINE int8_t qnnc_softmax_s8_out(uint32_t e, uint32_t sum, uint32_t m)
{
    const int32_t q = (int32_t)((e * m + sum / 2u) / sum) - 128;
    return (int8_t)(q > 127 ? 127 : q);
}

#define QNNC_T int8_t
#define QNNC_T_MIN (-128)
#define QNNC_EXP(exp_lut, d) (exp_lut)[d]
#define QNNC_OUT(e, sum) qnnc_softmax_s8_out((e), (sum), m)
#define QNNC_ZERO_SUM (-128) /* (exp_lut[0] > 0) */
#define QNNC_PARAMS const qnnc_softmax_params *params,
#define QNNC_LOCALS const uint32_t m = (uint32_t)params->inv_output_scale;
#define QNNC_FN qnnc_softmax_s8
#include "qnnc_softmax_impl.h"
