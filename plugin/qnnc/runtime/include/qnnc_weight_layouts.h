/*
 * qnnc_weight_layouts.h - which copy of a layer's weights each target's kernel path reads (part
 * of qnnc_kernels.h). The generated C defines target-specific copies under these tests, so each
 * firmware carries the flash of its own path only, and calls the kernel through the macros.
 */
#ifndef QNNC_WEIGHT_LAYOUTS_H
#define QNNC_WEIGHT_LAYOUTS_H

/* Weight-row sums are emitted only for builds whose FC path reads them (Helium), int16 weights
 * (execution.wide_weights) only for the DSP path, whose layers then call
 * qnnc_fully_connected_s8_wide: each target carries the flash of its own path only. */
#if !defined(QNNC_PORTABLE_ONLY) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define QNNC_FC_WANT_KERNEL_SUMS 1
#define QNNC_FC_KERNEL_SUMS(sums) (sums)
#else
#define QNNC_FC_KERNEL_SUMS(sums) NULL
#endif
/* Conv weights in channel pairs (qnnc_conv_s8_paired) feed the DSP path's 2 x 3 block; the
 * generator gives that layout to the layers the path takes (qnnc/plan/paired_conv.py), as int16
 * (qnnc_conv_s8_paired_wide) to those execution.wide_weights widens. Other targets call
 * qnnc_conv_s8 on the OHWI weights. */
#if !defined(QNNC_PORTABLE_ONLY) && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)) && \
    defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define QNNC_FC_WANT_WIDE_WEIGHTS 1
#define QNNC_FC_S8_WIDE_CALL(s, p, q, r, k, x, n, w8, w16, b, y) \
    qnnc_fully_connected_s8_wide(s, p, q, r, k, x, n, w16, b, y)
#define QNNC_CONV_WANT_PAIRED_WEIGHTS 1
#define QNNC_CONV_S8_PAIRED_CALL(s, p, q, di, x, df, ohwi, paired, b, dout, y) \
    qnnc_conv_s8_paired(s, p, q, di, x, df, paired, b, dout, y)
#define QNNC_CONV_S8_PAIRED_WIDE_CALL(s, p, q, di, x, df, ohwi, wide, b, dout, y) \
    qnnc_conv_s8_paired_wide(s, p, q, di, x, df, wide, b, dout, y)
#else
#define QNNC_FC_S8_WIDE_CALL(s, p, q, r, k, x, n, w8, w16, b, y) qnnc_fully_connected_s8(s, p, q, r, k, x, n, w8, b, y)
#define QNNC_CONV_S8_PAIRED_CALL(s, p, q, di, x, df, ohwi, paired, b, dout, y) \
    qnnc_conv_s8(s, p, q, di, x, df, ohwi, b, dout, y)
#define QNNC_CONV_S8_PAIRED_WIDE_CALL(s, p, q, di, x, df, ohwi, wide, b, dout, y) \
    qnnc_conv_s8(s, p, q, di, x, df, ohwi, b, dout, y)
#endif
#endif /* QNNC_WEIGHT_LAYOUTS_H */
