/*
 * qnnc_conv_im2col_dsp.h - the Armv7E-M DSP conv paths' im2col: each output pixel's window widened
 * once into a q15 column with the input offset added (SXTAB16) and padding taps zero, in the lane
 * order SXTB16 gives the int8 weights, groups of 4 taps of several columns interleaved. Shared by
 * qnnc_conv_s8_dsp.c (two columns: OHWI weights) and qnnc_conv_s8_paired_dsp.c (three columns:
 * weights in channel pairs), each of which defines QNNC_IM2COL_STRIDE, the words from one group of
 * a column to its next (4 or 6), before including it: a constant the stores' addressing takes.
 * Layers with in_c % 4 != 0 (first layers) stage a window as int8 first; the windows inside the
 * input take a word-at-a-time gather without per-row tests (qnnc_conv_inside_body), the callers
 * sending them there directly (qnnc_conv_inside_at).
 */
#ifndef QNNC_CONV_IM2COL_DSP_H
#define QNNC_CONV_IM2COL_DSP_H
#include "qnnc_internal.h"

#if QNNC_PATH_DSP
#if !defined(QNNC_IM2COL_STRIDE)
#error "define QNNC_IM2COL_STRIDE (words per group of the interleaved columns) before including qnnc_conv_im2col_dsp.h"
#endif
/* n input bytes (n % 4 == 0) from px widened with the offset into consecutive groups of one
 * column of the interleaved set (dst: the column's words of the first group; groups
 * QNNC_IM2COL_STRIDE words apart); returns the column's words of the group after them. */
QNNC_INLINE uint32_t *qnnc_conv_widen_run(uint32_t *dst, const int8_t *px, int32_t n, int32_t off2)
{
    const int8_t *const px_end = px + n;
    if ((n & 4) != 0) {
        const uint32_t v = qnnc_dsp_rd32(px);
        dst[0] = (uint32_t)__sxtab16(off2, (int32_t)v);
        dst[1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v);
        dst += QNNC_IM2COL_STRIDE;
        px += 4;
    }
#if defined(QNNC_DSP_ASM)
    if (px != px_end) { /* two groups an iteration: each group's two words by one STRD */
        uint32_t v0, v1, a, b;
        __asm volatile("1:\n\t"
                       "ldr %[v0], [%[px]], #4\n\t"
                       "ldr %[v1], [%[px]], #4\n\t"
                       "sxtab16 %[a], %[o2], %[v0]\n\t"
                       "sxtab16 %[b], %[o2], %[v0], ror #8\n\t"
                       "strd %[a], %[b], [%[d]], %[step]\n\t"
                       "sxtab16 %[a], %[o2], %[v1]\n\t"
                       "sxtab16 %[b], %[o2], %[v1], ror #8\n\t"
                       "strd %[a], %[b], [%[d]], %[step]\n\t"
                       "cmp %[px], %[end]\n\t"
                       "bne 1b\n\t"
                       : [px] "+r"(px), [d] "+r"(dst), [v0] "=&r"(v0), [v1] "=&r"(v1), [a] "=&r"(a), [b] "=&r"(b)
                       : [o2] "r"(off2), [end] "r"(px_end), [step] "i"(4 * QNNC_IM2COL_STRIDE)
                       : "cc", "memory");
    }
#else
    while (px != px_end) { /* two groups per iteration (loop overhead halved) */
        const uint32_t v0 = qnnc_dsp_rd32(px), v1 = qnnc_dsp_rd32(px + 4);
        dst[0] = (uint32_t)__sxtab16(off2, (int32_t)v0);
        dst[1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v0);
        dst[QNNC_IM2COL_STRIDE] = (uint32_t)__sxtab16(off2, (int32_t)v1);
        dst[QNNC_IM2COL_STRIDE + 1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v1);
        dst += 2 * QNNC_IM2COL_STRIDE;
        px += 8;
    }
#endif
    return dst;
}

/* The same for n padding taps (x + offset = 0). */
QNNC_INLINE uint32_t *qnnc_conv_zero_run(uint32_t *dst, int32_t n)
{
    int32_t c;
    for (c = 0; c < n; c += 4) {
        dst[0] = 0u;
        dst[1] = 0u;
        dst += QNNC_IM2COL_STRIDE;
    }
    return dst;
}

/* rows runs of run bytes, row_step bytes apart in src, copied back to back to dst (a function of
 * its own: inlined into the im2col below, GCC reloaded the pointers from the stack per word). */
static QNNC_UNUSED __attribute__((noinline)) void qnnc_conv_window_rows(int8_t *dst, const int8_t *src, int32_t row_step,
                                                            int32_t rows, int32_t run)
{
    const int32_t words = run >> 2, rest = run & 3;
    int32_t i, c;
    for (i = 0; i < rows; ++i) {
        const int8_t *s = src;
        for (c = 0; c < words; ++c) {
            const uint32_t v = qnnc_dsp_rd32(s);
            memcpy(dst, &v, 4u);
            dst += 4;
            s += 4;
        }
        for (c = 0; c < rest; ++c) {
            *dst++ = s[c];
        }
        src += row_step;
    }
}

/* The k_h rows of a window of n = 1-4 words a row, each row's loads before its stores (pipelined). */
#define QNNC_INSIDE_ROWS(n)                                                                      \
    for (i = 0; i < k_h; ++i) {                                                                  \
        uint32_t v_[4];                                                                          \
        for (c = 0; c < (n); ++c) {                                                              \
            v_[c] = qnnc_dsp_rd32(src + 4 * c);                                                  \
        }                                                                                        \
        for (c = 0; c < (n); ++c) {                                                              \
            memcpy(r + 4 * c, &v_[c], 4u);                                                       \
        }                                                                                        \
        r += run;                                                                                \
        src += row_step;                                                                         \
    }

/* A window of a layer with in_c % 4 != 0 that lies inside the input (dilation 1): its k_h runs of
 * run bytes, row_step apart from src, gathered back to back into raw a word at a time (a run's
 * last word may read up to 3 bytes past it, which the next run's copy overwrites; the caller has
 * checked that the last run's are inside the input: qnnc_conv_inside_at), the kp - K taps past
 * K in the last word set to the zero point (zpw: the zero point in every byte lane those taps
 * take, keep: the lanes of the taps before K kept; all ones when K % 4 == 0), and the whole
 * widened into the column at dst. */
QNNC_INLINE void qnnc_conv_inside_body(uint32_t *dst, const int8_t *src, int32_t row_step, int32_t k_h, int32_t run,
                                       int8_t *raw, int32_t off2, uint32_t keep, uint32_t zpw)
{
    const int32_t words = (run + 3) >> 2, kp = (k_h * run + 3) & ~3;
    int8_t *r = raw;
    int32_t i, c;
    /* the common run lengths straight-line (first layers: 3x3x3 is 3 words a row), all loads of a
     * row before its stores (pipelined) */
    switch (words) {
    case 1:
        QNNC_INSIDE_ROWS(1);
        break;
    case 2:
        QNNC_INSIDE_ROWS(2);
        break;
    case 3:
        QNNC_INSIDE_ROWS(3);
        break;
    case 4:
        QNNC_INSIDE_ROWS(4);
        break;
    default:
        for (i = 0; i < k_h; ++i) {
            for (c = 0; c < 4 * words; c += 4) {
                const uint32_t v = qnnc_dsp_rd32(src + c);
                memcpy(r + c, &v, 4u);
            }
            r += run;
            src += row_step;
        }
        break;
    }
    if (keep != 0xFFFFFFFFu) {
        uint32_t v;
        memcpy(&v, raw + kp - 4, 4u);
        v = (v & keep) | zpw;
        memcpy(raw + kp - 4, &v, 4u);
    }
    (void)qnnc_conv_widen_run(dst, raw, kp, off2);
}

/* keep and zpw of qnnc_conv_inside_body for a window of K taps and the input zero point zp. */
QNNC_INLINE void qnnc_conv_inside_masks(int32_t K, int8_t zp, uint32_t *keep, uint32_t *zpw)
{
    *keep = (K & 3) != 0 ? (1u << (8 * (K & 3))) - 1u : 0xFFFFFFFFu;
    *zpw = ((uint32_t)(uint8_t)zp * 0x01010101u) & ~*keep;
}

/* qnnc_conv_inside_body for one window (a function: the generic im2col below paid a call and its
 * per-row tests at every pixel, about 4x these cycles). */
static QNNC_UNUSED __attribute__((noinline)) void qnnc_conv_inside_q15(uint32_t *dst, const int8_t *src,
                                                                    int32_t row_step, int32_t k_h, int32_t run,
                                                                    int8_t *raw, int32_t off2, int8_t zp)
{
    uint32_t keep, zpw;
    qnnc_conv_inside_masks(k_h * run, zp, &keep, &zpw);
    qnnc_conv_inside_body(dst, src, row_step, k_h, run, raw, off2, keep, zpw);
}

/* The window at (ih0, iw0) of a layer with in_c % 4 != 0: its first byte's offset in the image
 * if qnnc_conv_inside_q15 can gather it (dilation 1, every tap inside the input, and the last
 * run's word read too), else -1. */
QNNC_INLINE int32_t qnnc_conv_inside_at(const qnnc_conv_params *params, int32_t in_h, int32_t in_w, int32_t in_c,
                                        int32_t k_h, int32_t k_w, int32_t ih0, int32_t iw0)
{
    const int32_t at = (ih0 * in_w + iw0) * in_c;
    if (params->dilation_w != 1 || params->dilation_h != 1 || ih0 < 0 || ih0 + k_h > in_h || iw0 < 0 ||
        iw0 + k_w > in_w || at + (k_h - 1) * in_w * in_c + ((k_w * in_c + 3) & ~3) > in_h * in_w * in_c) {
        return -1;
    }
    return at;
}

/* One q15 im2col column (K values + offset, padding taps 0) for the window at (ih0, iw0).
 * Column j of the interleaved set: group g occupies words [S * g + 2j, S * g + 2j + 1]
 * (S = QNNC_IM2COL_STRIDE). tail (K % 4 != 0, may be NULL): taps [kq, K) as int16. */
static QNNC_UNUSED void qnnc_conv_im2col_q15(const qnnc_conv_params *params, const int8_t *in_b, int32_t in_h,
                                             int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w, int32_t ih0,
                                             int32_t iw0, int32_t kq, uint32_t *cols, int32_t j, int16_t *tail,
                                             int8_t *raw)
{
    const int32_t off = params->input_offset;
    int32_t kh, kw, c;
    if ((in_c & 3) == 0) {
        const int32_t off2 = qnnc_dsp_pack2(off);
        uint32_t *dst = cols + 2 * j;
        /* every tap of a kernel row in range along w (dilation 1): the row's k_w * in_c bytes
         * are contiguous and fill consecutive groups, one run per row (no per-tap tests) */
        const int32_t run = params->dilation_w == 1 && iw0 >= 0 && iw0 + k_w <= in_w ? k_w * in_c : 0;
        for (kh = 0; kh < k_h; ++kh) {
            const int32_t ih = ih0 + kh * params->dilation_h;
            if (run != 0) {
                if (ih >= 0 && ih < in_h) {
                    dst = qnnc_conv_widen_run(dst, in_b + (ih * in_w + iw0) * in_c, run, off2);
                } else {
                    dst = qnnc_conv_zero_run(dst, run);
                }
                continue;
            }
            for (kw = 0; kw < k_w; ++kw) {
                const int32_t iw = iw0 + kw * params->dilation_w;
                if (ih >= 0 && ih < in_h && iw >= 0 && iw < in_w) {
                    dst = qnnc_conv_widen_run(dst, in_b + (ih * in_w + iw) * in_c, in_c, off2);
                } else {
                    dst = qnnc_conv_zero_run(dst, in_c);
                }
            }
        }
    } else {
        /* in_c % 4 != 0 (first layers): gather the window as int8 first (padding taps = the
         * zero point, so x + offset == 0 there), then widen it 4 values at a time. */
        /* raw: K + 4 bytes of the scratch buffer */
        const int8_t zp = (int8_t)(-off);
        const int32_t run = k_w * in_c;
        const int32_t off2 = qnnc_dsp_pack2(off);
        uint32_t *dst = cols + 2 * j;
        int8_t *r = raw;
        int32_t k, kw0, kw1;
        /* the in-range taps along w, the same for every kernel row */
        qnnc_tap_range(iw0, in_w, k_w, 1, &kw0, &kw1);
        kh = 0;
        if (params->dilation_w == 1 && params->dilation_h == 1 && kw0 == 0 && kw1 == k_w && ih0 >= 0 &&
            ih0 + k_h <= in_h) {
            /* the whole window inside the input (most pixels): k_h runs of k_w * in_c bytes, one
             * input row apart, without the per-row tests below */
            qnnc_conv_window_rows(r, in_b + (ih0 * in_w + iw0) * in_c, in_w * in_c, k_h, run);
            r += k_h * run;
            kh = k_h;
        }
        for (; kh < k_h; ++kh) {
            const int32_t ih = ih0 + kh * params->dilation_h;
            const int row_ok = ih >= 0 && ih < in_h;
            if (!row_ok) {
                for (c = 0; c < run; ++c) {
                    r[c] = zp;
                }
            } else if (params->dilation_w == 1 && kw0 == 0 && kw1 == k_w) {
                /* the whole kernel row in range: a word at a time */
                qnnc_copy_s8(r, in_b + (ih * in_w + iw0) * in_c, run);
            } else if (params->dilation_w == 1) {
                /* padding taps, the in-range run, padding taps: no per-tap test */
                const int8_t *row = in_b + ih * in_w * in_c;
                const int32_t base = iw0 * in_c;
                int32_t e;
                for (c = 0, e = kw0 * in_c; c < e; ++c) {
                    r[c] = zp;
                }
                for (e = kw1 * in_c; c < e; ++c) {
                    r[c] = row[base + c];
                }
                for (; c < run; ++c) {
                    r[c] = zp;
                }
            } else {
                for (kw = 0; kw < k_w; ++kw) {
                    const int32_t iw = iw0 + kw * params->dilation_w;
                    const int8_t *src = in_b + (ih * in_w + iw) * in_c;
                    const int inside = row_ok && iw >= 0 && iw < in_w;
                    for (c = 0; c < in_c; ++c) {
                        r[kw * in_c + c] = inside ? src[c] : zp;
                    }
                }
            }
            r += run;
        }
        for (k = kq; tail != NULL && k < k_h * run; ++k) {
            tail[k - kq] = (int16_t)(raw[k] + off);
        }
        /* K % 4 != 0: the last group's taps past K are padding (x + offset = 0; raw has K + 4
         * bytes, cols one group more than kq / 4): the fast loops run K rounded up to 4 taps */
        for (k = k_h * run; (k & 3) != 0; ++k) {
            raw[k] = zp;
        }
        for (k = 0; k < k_h * run; k += 4) {
            const uint32_t v = qnnc_dsp_rd32(raw + k);
            dst[0] = (uint32_t)__sxtab16(off2, (int32_t)v);
            dst[1] = (uint32_t)qnnc_dsp_sxtab16_ror8(off2, v);
            dst += QNNC_IM2COL_STRIDE;
        }
    }
}
#endif /* QNNC_PATH_DSP */
#endif /* QNNC_CONV_IM2COL_DSP_H */
