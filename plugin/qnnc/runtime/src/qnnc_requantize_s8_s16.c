/*
 * qnnc_requantize_s8_s16 - int8 -> int16 re-scaling (model input and int8/int16 boundaries):
 * the entry point, the dispatch and the scalar paths. Reference:
 * qnnc/reference/kernels_s16.py:requantize_s8_s16.
 *
 * Helium (qnnc_requantize_s8_s16_mve.c, M55/M85): four values a step through the exact vector
 * requantization (qnnc_mve_requantize), ~3.5 instructions a value instead of ~66 for the scalar
 * one with its 64-bit products (KWS's 490-value input: ~32K instructions).
 * Elsewhere, from QNNC_S8_S16_TABLE_MIN values on: an int8 input has only 256 values, so their
 * results are computed first (the scalar rescale, so exact by construction) into a 512-byte
 * table on the stack and each value is then one look-up (~5 instructions instead of ~58 on the
 * M4). Shorter inputs keep the direct loop (building the table would cost more than it saves).
 */
#include "qnnc_s16_internal.h"

#define QNNC_S8_S16_TABLE_MIN 320 /* values from which the 256-entry table pays */

void qnnc_requantize_s8_s16(const qnnc_rescale_params *params, int32_t size,
                            const int8_t *input, int16_t *output)
{
#if QNNC_PATH_MVE
    qnnc_requantize_s8_s16_mve(params, size, input, output);
#else
    int32_t i;
    if (size >= QNNC_S8_S16_TABLE_MIN) {
        int16_t table[256]; /* the result of each int8 value, at its byte (two's complement) */
        for (i = 0; i < 256; ++i) {
            table[i] = qnnc_clamp_s16(qnnc_rescale(params, i < 128 ? i : i - 256), -32768, 32767);
        }
        for (i = 0; i < size; ++i) {
            output[i] = table[(uint8_t)input[i]];
        }
        return;
    }
    for (i = 0; i < size; ++i) {
        output[i] = qnnc_clamp_s16(qnnc_rescale(params, input[i]), -32768, 32767);
    }
#endif
}
