/*
 * qnnc_layer_norm_impl.h - the body of qnnc_layer_norm_s8 / _s16, written once for both element
 * types: int64 sums, the variance n*sum(d^2) - sum(d)^2, an integer reciprocal square root
 * (normalization by powers of 4, a bitwise integer square root, one division per row), and
 * gamma / beta folded into per-position multipliers and biases.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type),
 * QNNC_OUT(v, bias) (the saturated output of the clamped normalized value v plus bias, both int32)
 * and QNNC_FN (the function name), then includes this file, which defines the function and
 * undefines them. The caller bounds n (int8: n <= 65536, int16: n <= 2^15) so that
 * n^2 * (variance + eps) / s_in^2 stays below 2^62 with epsilon <= 2^61.
 */
#define QNNC_LN_BIAS_CLAMP (1 << 24)

/** floor(sqrt(v)) of a 64-bit value (bit by bit, no division). */
static uint32_t qnnc_isqrt_u64(uint64_t v)
{
    uint64_t res = 0u;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit != 0u) {
        if (v >= res + bit) {
            v -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
}

static int32_t qnnc_bit_length_u64(uint64_t v)
{
    int32_t b = 0;
    while (v != 0u) {
        ++b;
        v >>= 1;
    }
    return b;
}

void QNNC_FN(const qnnc_layer_norm_params *params, int32_t outer, int32_t n, int32_t inner,
             const int32_t *multiplier, const int32_t *shift, const int32_t *bias,
             const QNNC_T *input, QNNC_T *output)
{
    const int32_t off = params->input_offset;
    int32_t o, i, k;
    for (o = 0; o < outer; ++o) {
        const QNNC_T *in = input + o * n * inner;
        QNNC_T *out = output + o * n * inner;
        for (i = 0; i < inner; ++i) {
            int64_t sum = 0;
            int64_t sum_sq = 0;
            uint64_t d_total;
            int32_t s, r_shift;
            uint32_t root;
            int64_t inv;
            for (k = 0; k < n; ++k) {
                const int64_t d = (int64_t)in[k * inner + i] + off;
                sum += d;
                sum_sq += d * d;
            }
            /* n^2 * (variance + eps) / s_in^2: >= 1 and < 2^62 (the bound on n above) */
            d_total = (uint64_t)((int64_t)n * sum_sq - sum * sum + params->epsilon);
            s = (62 - qnnc_bit_length_u64(d_total)) / 2;
            root = qnnc_isqrt_u64(d_total << (2 * s)); /* in [2^30, 2^31) */
            inv = (int64_t)((((uint64_t)1 << 61) + (root >> 1)) / root);
            r_shift = 61 - s - params->frac_bits; /* in [2, 61] */
            for (k = 0; k < n; ++k) {
                const int64_t c = (int64_t)n * ((int64_t)in[k * inner + i] + off) - sum;
                const int64_t prod = c * inv; /* |c| < 2^31, inv <= 2^31 */
                const uint64_t mag = ((uint64_t)(prod < 0 ? -prod : prod) + ((uint64_t)1 << (r_shift - 1))) >> r_shift;
                const int32_t t = prod < 0 ? -(int32_t)mag : (int32_t)mag;
                int32_t v = qnnc_requantize(t, multiplier[k], shift[k]);
                v = v < -QNNC_LN_BIAS_CLAMP ? -QNNC_LN_BIAS_CLAMP : (v > QNNC_LN_BIAS_CLAMP ? QNNC_LN_BIAS_CLAMP : v);
                out[k * inner + i] = QNNC_OUT(v, bias[k]);
            }
        }
    }
}

#undef QNNC_LN_BIAS_CLAMP
#undef QNNC_T
#undef QNNC_OUT
#undef QNNC_FN
