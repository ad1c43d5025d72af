/*
 * qnnc_round_s16 - Floor / Ceil / Round (half to even) on int16 activations, and the quotient of Mod
 * by a constant (modes 3-5), exactly: a table with
 * interpolation (qnnc_lut_s16) would blur their steps. Input and output may be the same buffer.
 * Reference: qnnc/reference/kernels_s16_tables.py:round_s16 (bit-exact).
 */
#include "qnnc_internal.h"

/* floor(p / 2^sh) for 0 <= sh <= 62, without right-shifting a negative value. */
static int64_t qnnc_floor_pot_s64(int64_t p, int32_t sh)
{
    return p >= 0 ? p >> sh : -((-p - 1) >> sh) - 1;
}

void qnnc_round_s16(int32_t mode, int32_t in_mult, int32_t in_shift, int32_t out_mult, int32_t out_shift,
                    int32_t size, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int64_t p = (int64_t)input[i] * in_mult; /* |p| < 2^46 */
        int64_t k;
        int32_t y;
        if (mode == 0) {
            k = qnnc_floor_pot_s64(p, in_shift);
        } else if (mode == 1) {
            k = -qnnc_floor_pot_s64(-p, in_shift);
        } else if (mode >= 3) {
            /* Mod's quotient (qnnc/quantize/rules_s16_mod.py): toward zero (3), floor (4), ceil (5) of
             * x * s_in nudged by 2^-8 of one code (|p| < 2^46: no overflow), so that an exact
             * multiple of the divisor stays one although in_mult is rounded (its error is at most
             * 2^-16 of a code) */
            const int64_t b = (int64_t)(in_mult >> 8);
            if (mode == 3) {
                k = p >= 0 ? qnnc_floor_pot_s64(p + b, in_shift) : -qnnc_floor_pot_s64(-p + b, in_shift);
            } else if (mode == 4) {
                k = qnnc_floor_pot_s64(p + b, in_shift);
            } else {
                k = -qnnc_floor_pot_s64(-p + b, in_shift);
            }
        } else {
            /* ONNX Round: half to even. in_shift >= 16 (the quantizer's bound). */
            const int64_t half = (int64_t)1 << (in_shift - 1);
            const int64_t mask = ((int64_t)1 << in_shift) - 1;
            k = qnnc_floor_pot_s64(p + half, in_shift);
            if (((p + half) & mask) == 0 && (k & 1) != 0) {
                k -= 1;
            }
        }
        /* |k| <= 32768 * input scale + 1 < 2^31 (the quantizer refuses scales >= 2^15) */
        y = qnnc_requantize((int32_t)k, out_mult, out_shift);
        output[i] = (int16_t)(y < -32768 ? -32768 : (y > 32767 ? 32767 : y));
    }
}
