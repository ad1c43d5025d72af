/*
 * qnnc_dot_s16_mve.h - the Helium dot product of the 16x8 kernels: int16 inputs against four rows
 * of int8 weights (qnnc_fully_connected_s16's Helium path, the LSTM / GRU gate rows). 8 int16
 * inputs (VLDRH) against 8 weights of each row widened by the load (VLDRB.S16), VMLADAVA into int32
 * sums of at most QNNC_DOT16_CHUNK = 256 products (each at most 2^22 in magnitude: below 2^30),
 * added to the int64 accumulators after every chunk: exact for any length. Included only where
 * QNNC_PATH_MVE is set.
 */
#ifndef QNNC_DOT_S16_MVE_H
#define QNNC_DOT_S16_MVE_H

#include "qnnc_internal.h"

#if QNNC_PATH_MVE
#define QNNC_DOT16_CHUNK 256 /* products per int32 partial sum: 256 * 2^22 = 2^30 */

/* acc[j] += sum x[i] * wj[j][i] over i < n, j < 4 (int64, exact). */
static QNNC_LOOP_ATTR QNNC_UNUSED void qnnc_dot4_s16_s8_mve(const int16_t *x, const int8_t *const *wj, int32_t n, int64_t *acc)
{
    const int8_t *w = wj[0], *w1 = wj[1], *w2 = wj[2], *w3 = wj[3];
    while (n > 0) {
        const int32_t m = n < QNNC_DOT16_CHUNK ? n : QNNC_DOT16_CHUNK;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int32_t i;
        for (i = m >> 3; i > 0; --i) {
            const int16x8_t xv = vldrhq_s16(x);
            s0 = vmladavaq_s16(s0, xv, vldrbq_s16(w));
            s1 = vmladavaq_s16(s1, xv, vldrbq_s16(w1));
            s2 = vmladavaq_s16(s2, xv, vldrbq_s16(w2));
            s3 = vmladavaq_s16(s3, xv, vldrbq_s16(w3));
            x += 8;
            w += 8;
            w1 += 8;
            w2 += 8;
            w3 += 8;
        }
        if (m & 7) {
            const mve_pred16_t p = vctp16q((uint32_t)(m & 7));
            const int16x8_t xv = vldrhq_z_s16(x, p); /* zero lanes contribute nothing */
            s0 = vmladavaq_s16(s0, xv, vldrbq_z_s16(w, p));
            s1 = vmladavaq_s16(s1, xv, vldrbq_z_s16(w1, p));
            s2 = vmladavaq_s16(s2, xv, vldrbq_z_s16(w2, p));
            s3 = vmladavaq_s16(s3, xv, vldrbq_z_s16(w3, p));
            x += m & 7;
            w += m & 7;
            w1 += m & 7;
            w2 += m & 7;
            w3 += m & 7;
        }
        acc[0] += s0;
        acc[1] += s1;
        acc[2] += s2;
        acc[3] += s3;
        n -= m;
    }
}
#endif

#endif
