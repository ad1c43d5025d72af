/*
 * qnnc_dw_rows_mve.h - the Helium path of qnnc_depthwise_conv_s8 for 3x3 stride 1 "same" layers
 * (pad 1 on every side) whose output is the whole int8 range with zero point -128: one channel
 * at a time, 4 output rows per int32x4 (spatial lanes). The 9 weights are scalars, so a tap is
 * one VMLA (vector by scalar, 4 MACs); a column of 4 input rows is one gather (VLDRB.S32) and
 * serves the 3 output columns it touches, so a sweep along the row holds 3 accumulators. The
 * requantization: VQRDMULH, VRSHL, then VQMOVNB.S32 / VQMOVUNB.S16 clamp to [0, 255] (the
 * output range minus the zero point: negative values need no half-away fix-up, they clamp to
 * 0) and the zero point is added to the low byte. Padding rows: the gather of the lane reads a
 * valid row and its value is replaced by the input zero point (whose product with the
 * weight cancels the offset term folded into the bias). A part of qnnc_depthwise_conv_s8_mve.c
 * kept in its own file (that file's size); included there where QNNC_PATH_MVE is set.
 */
#ifndef QNNC_DW_ROWS_MVE_H
#define QNNC_DW_ROWS_MVE_H

#include "qnnc_internal.h"

#if QNNC_PATH_MVE
/* The layers this path takes; 5 <= h (blocks of 4 rows, the top and bottom ones apart), 2 <= w. */
static int qnnc_dw_rows_ok(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                           const qnnc_dims *input_dims, const qnnc_dims *filter_dims, const qnnc_dims *output_dims)
{
    int32_t c;
    if (filter_dims->h != 3 || filter_dims->w != 3 || params->stride_h != 1 || params->stride_w != 1 ||
        params->dilation_h != 1 || params->dilation_w != 1 || params->pad_top != 1 || params->pad_left != 1 ||
        output_dims->h != input_dims->h || output_dims->w != input_dims->w || input_dims->h < 5 ||
        input_dims->w < 2 || params->rounding != QNNC_ROUND_TFLITE || params->output_offset != -128 ||
        params->act_min != -128 || params->act_max != 127 || params->input_offset < -127 ||
        params->input_offset > 128) {
        return 0;
    }
    for (c = 0; c < input_dims->c; ++c) {
        if (quant->shift[c] > 0 || quant->shift[c] < -31) {
            return 0;
        }
    }
    return 1;
}

/* One channel's constants: weights (row-major taps), the bias with the offset term of all the
 * taps (mid), of the taps of columns 1-2 (first output column) and the last column's
 * difference. */
typedef struct {
    int32_t w[9];
    int32_t b_mid, b_first, b_last_diff, mult, neg_shift, zp;
} qnnc_dw_rows_ch;

/* the input rows of tap row dy at column k (padding lanes replaced by the zero point) */
#define QNNC_DWR_X(dy, k)                                                                                      \
    do {                                                                                                       \
        x = vldrbq_gather_offset_s32((const int8_t *)(uintptr_t)(k), dy == 0 ? a0 : dy == 1 ? a1 : a2);        \
        if (edge == 1 && dy == 0) {                                                                            \
            x = vsetq_lane_s32(zp, x, 0); /* row -1 */                                                         \
        } else if (edge == 2 && dy == 2) {                                                                     \
            x = vsetq_lane_s32(zp, x, 3); /* row h */                                                          \
        }                                                                                                      \
    } while (0)
/* requantize acc in place and store its 4 bytes at k + the store vector */
#define QNNC_DWR_STORE(acc, k)                                                                                 \
    do {                                                                                                       \
        acc = vrshlq_n_s32(vqrdmulhq_n_s32(acc, mult), nsh);                                                   \
        x = vreinterpretq_s32_s16(vqmovnbq_s32(vreinterpretq_s16_s32(x), acc)); /* (x: dead lanes) */          \
        acc = vreinterpretq_s32_u8(vqmovunbq_s16(vreinterpretq_u8_s32(acc), vreinterpretq_s16_s32(x)));        \
        vstrbq_scatter_offset_s32((int8_t *)(uintptr_t)(k), st, vaddq_n_s32(acc, -128)); /* + zero point */    \
    } while (0)
/* input column k: completes `done` (the output column before, stored), adds to `cur`, starts `nxt`;
 * one input vector live at a time */
#define QNNC_DWR_COL(done, cur, nxt)                                                                           \
    do {                                                                                                       \
        k += C;                                                                                                \
        QNNC_DWR_X(0, k);                                                                                      \
        done = vmlaq_n_s32(done, x, w[2]);                                                                     \
        cur = vmlaq_n_s32(cur, x, w[1]);                                                                       \
        nxt = vaddq_n_s32(vmulq_n_s32(x, w[0]), b_mid);                                                        \
        QNNC_DWR_X(1, k);                                                                                      \
        done = vmlaq_n_s32(done, x, w[5]);                                                                     \
        cur = vmlaq_n_s32(cur, x, w[4]);                                                                       \
        nxt = vmlaq_n_s32(nxt, x, w[3]);                                                                       \
        QNNC_DWR_X(2, k);                                                                                      \
        done = vmlaq_n_s32(done, x, w[8]);                                                                     \
        cur = vmlaq_n_s32(cur, x, w[7]);                                                                       \
        nxt = vmlaq_n_s32(nxt, x, w[6]);                                                                       \
        QNNC_DWR_STORE(done, k);                                                                               \
    } while (0)

/* ra += the taps of weight column ja, rb += those of column jb, of input column k */
#define QNNC_DWR_TWO(ra, ja, rb, jb)                                                                           \
    do {                                                                                                       \
        QNNC_DWR_X(0, k);                                                                                      \
        ra = vmlaq_n_s32(ra, x, w[ja]);                                                                        \
        rb = vmlaq_n_s32(rb, x, w[jb]);                                                                        \
        QNNC_DWR_X(1, k);                                                                                      \
        ra = vmlaq_n_s32(ra, x, w[3 + (ja)]);                                                                  \
        rb = vmlaq_n_s32(rb, x, w[3 + (jb)]);                                                                  \
        QNNC_DWR_X(2, k);                                                                                      \
        ra = vmlaq_n_s32(ra, x, w[6 + (ja)]);                                                                  \
        rb = vmlaq_n_s32(rb, x, w[6 + (jb)]);                                                                  \
    } while (0)

/* One block of 4 output rows, every column: a0..a2 the addresses of the input rows of taps row
 * 0..2 at column 0, st the output rows' addresses at column -1, both minus k0 (addresses are
 * k + vector lane, k = k0 + column * C). edge: 1 top block (lane 0's tap row 0 is padding), 2
 * bottom block (lane 3's tap row 2), 0 none. */
QNNC_INLINE void qnnc_dw_rows_block(const qnnc_dw_rows_ch *ch, uint32x4_t a0, uint32x4_t a1, uint32x4_t a2,
                                    uint32x4_t st, uint32_t k0, uint32_t C, int32_t W, int edge)
{
    const int32_t *w = ch->w;
    const int32_t mult = ch->mult, nsh = ch->neg_shift, zp = ch->zp, b_mid = ch->b_mid;
    int32x4_t x, r0, r1, r2;
    uint32_t k = k0;
    int32_t m = (W - 2) % 3;
    /* input column 0: output columns 0 (without the offset term of column -1) and 1 */
    QNNC_DWR_X(0, k);
    r0 = vaddq_n_s32(vmulq_n_s32(x, w[1]), ch->b_first);
    r1 = vaddq_n_s32(vmulq_n_s32(x, w[0]), b_mid);
    QNNC_DWR_X(1, k);
    r0 = vmlaq_n_s32(r0, x, w[4]);
    r1 = vmlaq_n_s32(r1, x, w[3]);
    QNNC_DWR_X(2, k);
    r0 = vmlaq_n_s32(r0, x, w[7]);
    r1 = vmlaq_n_s32(r1, x, w[6]);
    if (m > 0) { /* the (w - 2) % 3 first inner columns, then 3 at a time up to k = 0 */
        QNNC_DWR_COL(r0, r1, r2);
        if (m > 1) {
            QNNC_DWR_COL(r1, r2, r0);
            r1 = r0; /* (r2, r0) -> (r0, r1) */
            r0 = r2;
        } else {
            r0 = r1; /* (r1, r2) -> (r0, r1) */
            r1 = r2;
        }
    }
    while (k != 0u) {
        QNNC_DWR_COL(r0, r1, r2);
        QNNC_DWR_COL(r1, r2, r0);
        QNNC_DWR_COL(r2, r0, r1);
    }
    /* the last input column: completes both */
    k += C;
    QNNC_DWR_TWO(r0, 2, r1, 1);
    r1 = vaddq_n_s32(r1, ch->b_last_diff);
    QNNC_DWR_STORE(r0, k);
    k += C;
    QNNC_DWR_STORE(r1, k);
}

static QNNC_LOOP_ATTR void qnnc_dw_rows_mve(const qnnc_conv_params *params, const qnnc_per_channel_quant *quant,
                                           const qnnc_dims *input_dims, const int8_t *input, const int8_t *filter,
                                           const int32_t *bias, int8_t *output)
{
    const int32_t H = input_dims->h, W = input_dims->w, C = input_dims->c, rs = W * C;
    const int32_t off = params->input_offset;
    /* rows 0..3 of a block at column 0, relative to k0 = -(W - 2) * C (input column j at k0 + j * C, so
     * the last one, W - 1, at C): the lanes' row offsets */
    const uint32x4_t rows = vmulq_n_u32(vidupq_n_u32(0u, 1), (uint32_t)rs);
    const uint32_t k0 = (uint32_t)(-(W - 2) * C), step = (uint32_t)(4 * rs), last = (uint32_t)((H - 4) * rs);
    qnnc_dw_rows_ch ch;
    int32_t c, h0;
    for (c = 0; c < C; ++c) {
        /* the addresses of column 0 minus k0, rows -1, 0 and 1 (taps), 0 (output, at column -1) */
        const uint32_t in_c = (uint32_t)(uintptr_t)(input + c) - k0, out_c = (uint32_t)(uintptr_t)(output + c) - k0;
        uint32x4_t a0 = vaddq_n_u32(rows, in_c - (uint32_t)rs), a1 = vaddq_n_u32(rows, in_c);
        uint32x4_t a2 = vaddq_n_u32(rows, in_c + (uint32_t)rs), st = vaddq_n_u32(rows, out_c - (uint32_t)C);
        const int8_t *f = filter + c;
        int32_t s0, s1, s2;
        ch.w[0] = f[0];
        ch.w[1] = f[C];
        ch.w[2] = f[2 * C];
        ch.w[3] = f[3 * C];
        ch.w[4] = f[4 * C];
        ch.w[5] = f[5 * C];
        ch.w[6] = f[6 * C];
        ch.w[7] = f[7 * C];
        ch.w[8] = f[8 * C];
        s0 = ch.w[0] + ch.w[3] + ch.w[6];
        s1 = ch.w[1] + ch.w[4] + ch.w[7];
        s2 = ch.w[2] + ch.w[5] + ch.w[8];
        ch.b_mid = (bias != NULL ? bias[c] : 0) + off * (s0 + s1 + s2);
        ch.b_first = ch.b_mid - off * s0;
        ch.b_last_diff = -off * s2;
        ch.mult = quant->multiplier[c];
        ch.neg_shift = quant->shift[c];
        ch.zp = -off;
        /* top block: lane 0's tap row 0 reads row 0 (replaced by the zero point) */
        qnnc_dw_rows_block(&ch, vsetq_lane_u32(in_c, a0, 0), a1, a2, st, k0, (uint32_t)C, W, 1);
        for (h0 = 4; h0 < H - 4; h0 += 4) {
            a0 = vaddq_n_u32(a0, step);
            a1 = vaddq_n_u32(a1, step);
            a2 = vaddq_n_u32(a2, step);
            st = vaddq_n_u32(st, step);
            qnnc_dw_rows_block(&ch, a0, a1, a2, st, k0, (uint32_t)C, W, 0);
        }
        /* bottom block: rows h - 4 .. h - 1 (may overlap the one before); lane 3's tap row 2
         * reads row h - 1 (replaced by the zero point) */
        qnnc_dw_rows_block(&ch, vaddq_n_u32(rows, in_c + last - (uint32_t)rs), vaddq_n_u32(rows, in_c + last),
                           vsetq_lane_u32(in_c + last + (uint32_t)(3 * rs), vaddq_n_u32(rows, in_c + last + (uint32_t)rs), 3),
                           vaddq_n_u32(rows, out_c + last - (uint32_t)C), k0, (uint32_t)C, W, 2);
    }
}
#undef QNNC_DWR_X
#undef QNNC_DWR_STORE
#undef QNNC_DWR_COL
#undef QNNC_DWR_TWO
#endif /* QNNC_PATH_MVE */
#endif /* QNNC_DW_ROWS_MVE_H */
