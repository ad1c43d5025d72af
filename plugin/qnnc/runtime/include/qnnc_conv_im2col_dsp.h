/*
 * qnnc_conv_im2col_dsp.h - the Armv7E-M DSP conv paths' im2col: each output pixel's window widened
 * once into a q15 column with the input offset added (SXTAB16) and padding taps zero, in the lane
 * order SXTB16 gives the int8 weights, groups of 4 taps of several columns interleaved. Shared by
 * qnnc_conv_s8_dsp.c (two columns: OHWI weights) and qnnc_conv_s8_paired_dsp.c (three columns:
 * weights in channel pairs), each of which defines QNNC_IM2COL_STRIDE, the words from one group of
 * a column to its next (4 or 6), before including it: a constant the stores' addressing takes.
 * Layers with in_c % 4 != 0 (first layers) stage a window as int8 first; the windows inside the
 * input take a word-at-a-time gather without per-row tests (qnnc_conv_inside_layer), the callers
 * sending them there directly (qnnc_conv_inside_start).
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

/* n = 1-4 words from s to r, the loads before the stores (pipelined). */
QNNC_INLINE void qnnc_copy_words(int8_t *r, const int8_t *s, const int n)
{
    const uint32_t v0 = qnnc_dsp_rd32(s), v1 = n > 1 ? qnnc_dsp_rd32(s + 4) : 0u;
    const uint32_t v2 = n > 2 ? qnnc_dsp_rd32(s + 8) : 0u, v3 = n > 3 ? qnnc_dsp_rd32(s + 12) : 0u;
    memcpy(r, &v0, 4u);
    if (n > 1) {
        memcpy(r + 4, &v1, 4u);
    }
    if (n > 2) {
        memcpy(r + 8, &v2, 4u);
    }
    if (n > 3) {
        memcpy(r + 12, &v3, 4u);
    }
}

/* The gather of a first layer's windows (in_c % 4 != 0, dilation 1): which output pixels' windows
 * it takes (rows [oy0, oy1] and columns [ox0, ox1] put the window inside the input and the pixel
 * inside the output, which may crop the input; at_max: the last window start whose last row's word
 * read stays inside the input), and what it needs. Other layers: oy0 > oy1, no pixel. A window's
 * k_h runs of run bytes (row_step apart) are copied back to back into an int8 window a word at a
 * time (a run's last word may read up to 3 bytes past it, which the next run's copy overwrites),
 * the taps past K in the last word set to the zero point (zpw: the zero point in the lanes those
 * taps take, keep: the lanes before K; all ones when K % 4 == 0), then the window is widened. */
typedef struct {
    int8_t *raw; /* the int8 windows, rs bytes apart (the channel-pair path uses three) */
    int32_t rs, row_step, k_h, run, off2;
    uint32_t keep, zpw;
    int32_t out_w, sh, sw, pt, pl, in_c, oy0, oy1, ox0, ox1, at_max;
} qnnc_conv_inside_layer;

/* The int8 window w's last word (of kp bytes) with the taps past K set to the zero point (keep,
 * zpw: qnnc_conv_inside_layer's; callers test keep != all ones). */
QNNC_INLINE void qnnc_conv_inside_mask(int8_t *w, int32_t kp, uint32_t keep, uint32_t zpw)
{
    uint32_t v;
    memcpy(&v, w + kp - 4, 4u);
    v = (v & keep) | zpw;
    memcpy(w + kp - 4, &v, 4u);
}

/* The k_h rows of a window of n = 1-4 words a row into raw. */
#define QNNC_INSIDE_ROWS(n)                                                                      \
    for (i = 0; i < k_h; ++i) {                                                                  \
        qnnc_copy_words(r, src, (n));                                                            \
        r += run;                                                                                \
        src += row_step;                                                                         \
    }

/* One window (src: its first byte; qnnc_conv_inside_start) gathered into the first int8 window
 * and widened into the column at dst (a function: the generic im2col below paid a call and its
 * per-row tests at every pixel, about 4x these cycles). */
static QNNC_UNUSED __attribute__((noinline)) void qnnc_conv_inside_q15(uint32_t *dst, const int8_t *src,
                                                                    const qnnc_conv_inside_layer *l)
{
    const int32_t row_step = l->row_step, k_h = l->k_h, run = l->run;
    const int32_t words = (run + 3) >> 2, kp = (k_h * run + 3) & ~3;
    int8_t *r = l->raw;
    int32_t i, c;
    /* the common run lengths straight-line (first layers: 3x3x3 is 3 words a row) */
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
    if (l->keep != 0xFFFFFFFFu) {
        qnnc_conv_inside_mask(l->raw, kp, l->keep, l->zpw);
    }
    (void)qnnc_conv_widen_run(dst, l->raw, kp, l->off2);
}

/* The window of output pixel q: its first byte's offset in the image if the gather takes it, else
 * -1 (callers test oy0 <= oy1 first: other layers pay no division). */
QNNC_INLINE int32_t qnnc_conv_inside_start(const qnnc_conv_inside_layer *l, int32_t q)
{
    const int32_t oy = q / l->out_w, ox = q - oy * l->out_w;
    int32_t at;
    if (oy < l->oy0 || oy > l->oy1 || ox < l->ox0 || ox > l->ox1) {
        return -1;
    }
    at = (oy * l->sh - l->pt) * l->row_step + (ox * l->sw - l->pl) * l->in_c;
    return at <= l->at_max ? at : -1;
}

/* qnnc_conv_inside_layer of a layer (raw: its int8 windows; the pixel ranges empty unless
 * in_c % 4 != 0 and dilation 1). */
static QNNC_UNUSED void qnnc_conv_inside_setup(qnnc_conv_inside_layer *l, const qnnc_conv_params *params,
                                               const qnnc_dims *input_dims, int32_t k_h, int32_t k_w,
                                               const qnnc_dims *output_dims, int8_t *raw)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c, K = k_h * k_w * in_c;
    const int32_t sh = params->stride_h, sw = params->stride_w;
    l->raw = raw;
    l->rs = (K + 7) & ~3;
    l->row_step = in_w * in_c;
    l->k_h = k_h;
    l->run = k_w * in_c;
    l->off2 = qnnc_dsp_pack2(params->input_offset);
    l->keep = (K & 3) != 0 ? (1u << (8 * (K & 3))) - 1u : 0xFFFFFFFFu;
    l->zpw = ((uint32_t)(uint8_t)(-params->input_offset) * 0x01010101u) & ~l->keep;
    l->out_w = output_dims->w;
    l->sh = sh;
    l->sw = sw;
    l->pt = params->pad_top;
    l->pl = params->pad_left;
    l->in_c = in_c;
    /* oy * sh - pad_top >= 0 and + k_h <= in_h, oy < out_h; the same along w */
    l->oy0 = (params->pad_top + sh - 1) / sh;
    l->oy1 = in_h - k_h + params->pad_top >= 0 ? (in_h - k_h + params->pad_top) / sh : -1;
    l->oy1 = l->oy1 < output_dims->h - 1 ? l->oy1 : output_dims->h - 1;
    l->ox0 = (params->pad_left + sw - 1) / sw;
    l->ox1 = in_w - k_w + params->pad_left >= 0 ? (in_w - k_w + params->pad_left) / sw : -1;
    l->ox1 = l->ox1 < output_dims->w - 1 ? l->ox1 : output_dims->w - 1;
    l->at_max = in_h * in_w * in_c - (k_h - 1) * in_w * in_c - ((k_w * in_c + 3) & ~3);
    if ((in_c & 3) == 0 || params->dilation_h != 1 || params->dilation_w != 1) {
        l->oy0 = 1;
        l->oy1 = 0;
    }
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
