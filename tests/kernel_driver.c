/*
 * kernel_driver.c - test driver for the qnnc kernel library (used by tests/test_kernels.py).
 *
 * Usage: kernel_driver CASES_FILE RESULTS_FILE
 *
 * CASES_FILE is a sequence of cases, all integers little-endian int32:
 *     kernel_id, blob_count, then blob_count times { byte_count, bytes }
 * For every case the driver copies each blob into its own exactly-sized heap block (so
 * AddressSanitizer catches any out-of-bounds access; an empty blob becomes NULL), calls
 * the kernel and appends { byte_count, bytes } of the last blob - the output buffer,
 * pre-filled by the caller - to RESULTS_FILE. The blob layout of each kernel is in
 * run_case() and mirrored by the pack_* functions in test_kernels.py.
 *
 * Conv, depthwise and fully connected get a scratch block of exactly the size their
 * get_buffer_size() asks for (ASan sees any overrun), and are run a second time with a
 * scratch buffer one byte too small - the portable fallback (a 3x3 depthwise: its DSP path
 * without the transposed table) - whose output must be the same (else run_case returns 1).
 */
#include "case_driver.h"

/* Half of the conv shapes run qnnc_conv_s8_paired on the channel-pair layout (as generated code
 * does on the DSP cores for the layers plan/paired_conv.py marks): its DSP path where the layer
 * meets its conditions, else, and with the short scratch, its portable path. */
static int conv_paired(const qnnc_dims *in_d, const qnnc_dims *f_d, const qnnc_dims *out_d)
{
    return ((in_d->c + out_d->c + f_d->w + out_d->w) & 1) == 0;
}

/* The channel-pair layout (qnnc/emit/paired_weights.py) of an OHWI filter: per pair of channels
 * and group of 4 taps (K padded with zeros), channel 2p's 4 weights then channel 2p + 1's. */
static int8_t *conv_paired_weights(const int8_t *w, int32_t out_c, int32_t K)
{
    const int32_t kp = (K + 3) & ~3, oc2 = out_c + (out_c & 1);
    int8_t *pw = (int8_t *)calloc((size_t)(oc2 * kp > 0 ? oc2 * kp : 1), 1);
    int32_t o, k;
    if (pw == NULL) {
        fprintf(stderr, "conv case: out of memory for the paired weights\n");
        abort();
    }
    for (o = 0; o < out_c; ++o) {
        for (k = 0; k < K; ++k) {
            pw[(o / 2) * 2 * kp + (k / 4) * 8 + (o % 2) * 4 + k % 4] = w[o * K + k];
        }
    }
    return pw;
}

/* Half of the paired shapes run qnnc_conv_s8_paired_wide (execution.wide_weights) on the same
 * layout in int16, each channel's 4 taps of a group in the order 0, 2, 1, 3
 * (qnnc/emit/wide_weights.py). */
static int conv_paired_wide(const qnnc_dims *in_d, const qnnc_dims *f_d, const qnnc_dims *out_d)
{
    return ((in_d->c + f_d->h + out_d->h) & 1) == 0;
}
static int16_t *conv_paired_wide_weights(const int8_t *pw, int32_t out_c, int32_t K)
{
    static const int32_t lane[4] = {0, 2, 1, 3};
    const int32_t n = (out_c + (out_c & 1)) * ((K + 3) & ~3);
    int16_t *w16 = (int16_t *)calloc((size_t)(n > 0 ? n : 1), sizeof(int16_t));
    int32_t i;
    if (w16 == NULL) {
        fprintf(stderr, "conv case: out of memory for the int16 weights\n");
        abort();
    }
    for (i = 0; i < n; ++i) {
        w16[(i & ~3) + lane[i & 3]] = pw[i];
    }
    return w16;
}

static void conv_call(const blobs *b, const qnnc_buffer *scratch, int depthwise)
{
    qnnc_conv_params p;
    qnnc_per_channel_quant q;
    qnnc_dims in_d = dims_of(b, 4), f_d = dims_of(b, 6), out_d = dims_of(b, 9);
    conv_params_of(b, &p);
    q.multiplier = I32(b, 2);
    q.shift = I32(b, 3);
    if (!depthwise && conv_paired(&in_d, &f_d, &out_d)) {
        int8_t *pw = conv_paired_weights(S8(b, 7), out_d.c, f_d.h * f_d.w * f_d.c);
        if (conv_paired_wide(&in_d, &f_d, &out_d)) {
            int16_t *w16 = conv_paired_wide_weights(pw, out_d.c, f_d.h * f_d.w * f_d.c);
            qnnc_conv_s8_paired_wide(scratch, &p, &q, &in_d, S8(b, 5), &f_d, w16, I32(b, 8), &out_d, OUT8(b, 10));
            free(w16);
        } else {
            qnnc_conv_s8_paired(scratch, &p, &q, &in_d, S8(b, 5), &f_d, pw, I32(b, 8), &out_d, OUT8(b, 10));
        }
        free(pw);
    } else if (!depthwise) {
        qnnc_conv_s8(scratch, &p, &q, &in_d, S8(b, 5), &f_d, S8(b, 7), I32(b, 8), &out_d, OUT8(b, 10));
    } else {
        qnnc_depthwise_conv_s8(scratch, &p, &q, &in_d, S8(b, 5), &f_d, S8(b, 7), I32(b, 8), &out_d,
                               OUT8(b, 10));
    }
}

static void conv_call0(const blobs *b, const qnnc_buffer *scratch) { conv_call(b, scratch, 0); }
static void conv_call1(const blobs *b, const qnnc_buffer *scratch) { conv_call(b, scratch, 1); }

/* The int16 weight layout of execution.wide_weights (qnnc/emit/wide_weights.py): per block of 4
 * rows and group of 4 inputs, row r's w[k0], w[k2], w[k1], w[k3] at [4r, 4r + 4). */
static int16_t *fc_wide_weights(const int8_t *w, int32_t K, int32_t N)
{
    static const int32_t pos[4] = {0, 2, 1, 3};
    int16_t *ww = (int16_t *)malloc(sizeof(int16_t) * (size_t)(K * N > 0 ? K * N : 1));
    int32_t o, k;
    if (ww == NULL) {
        fprintf(stderr, "fc case: out of memory for the int16 weights\n");
        abort();
    }
    for (o = 0; o < N; ++o) {
        for (k = 0; k < K; ++k) {
            ww[(o / 4) * 4 * K + (k / 4) * 16 + (o % 4) * 4 + pos[k % 4]] = w[o * K + k];
        }
    }
    return ww;
}

static void fc_call(const blobs *b, const qnnc_buffer *scratch)
{
    const int32_t *v = I32(b, 0);
    qnnc_fc_params p;
    qnnc_per_channel_quant q;
    int32_t *sums = NULL;
    int16_t *wide = NULL;
    fc_params_of(b, &p);
    q.multiplier = I32(b, 2);
    q.shift = I32(b, 3);
    if (((v[5] + v[6]) & 1) == 0) {
        /* half of the cases pass the weight-row sums, as generated code does on Helium */
        const int8_t *w = S8(b, 5);
        int32_t o, k;
        sums = (int32_t *)malloc(sizeof(int32_t) * (size_t)(v[6] > 0 ? v[6] : 1));
        if (sums == NULL) {
            fprintf(stderr, "fc case: out of memory for the kernel sums\n");
            abort();
        }
        for (o = 0; o < v[6]; ++o) {
            int32_t s = 0;
            for (k = 0; k < v[5]; ++k) {
                s += w[o * v[5] + k];
            }
            sums[o] = s;
        }
        p.kernel_sums = sums;
    }
    if (v[5] % 4 == 0 && v[6] % 4 == 0 && ((v[5] / 4 + v[6] / 4) & 1) == 0) {
        /* half of the shapes the int16 layout covers run the _wide kernel (execution.wide_weights):
         * its DSP path, and its portable path on other builds and with the short scratch */
        wide = fc_wide_weights(S8(b, 5), v[5], v[6]);
        qnnc_fully_connected_s8_wide(scratch, &p, &q, v[4], v[5], S8(b, 4), v[6], wide, I32(b, 6), OUT8(b, 7));
    } else {
        qnnc_fully_connected_s8(scratch, &p, &q, v[4], v[5], S8(b, 4), v[6], S8(b, 5), I32(b, 6), OUT8(b, 7));
    }
    free(sums);
    free(wide);
}

CASE_DRIVER_PREFIX(qnnc_batch_matmul_params, rounding, 10);

static int run_case(int32_t kernel, const blobs *b)
{
    switch (kernel) {
    case 0:   /* conv: params, lut, mult, shift, in_dims, input, f_dims, filter, bias, out_dims, out */
    case 1: { /* depthwise: same layout */
        qnnc_conv_params p;
        qnnc_dims in_d = dims_of(b, 4), f_d = dims_of(b, 6), out_d = dims_of(b, 9);
        int32_t size;
        conv_params_of(b, &p);
        size = kernel == 1                              ? qnnc_depthwise_conv_s8_get_buffer_size(&p, &in_d, &f_d, &out_d)
               : conv_paired(&in_d, &f_d, &out_d) ? qnnc_conv_s8_paired_get_buffer_size(&in_d, &f_d)
                                                  : qnnc_conv_s8_get_buffer_size(&p, &in_d, &f_d, &out_d);
        return run_with_scratch(b, 10, size, kernel == 0 ? conv_call0 : conv_call1);
    }
    case 2: { /* fc: params[in_off, out_off, min, max, rows, K, N, rounding], lut, mult, shift, x, w, bias, out */
        const int32_t *v = I32(b, 0);
        return run_with_scratch(b, 7, qnnc_fully_connected_s8_get_buffer_size(v[5], v[6]), fc_call);
    }
    case 3:   /* max pool: params, in_dims, input, out_dims, out */
    case 4: { /* avg pool */
        qnnc_pool_params p;
        qnnc_dims in_d = dims_of(b, 1), out_d = dims_of(b, 3);
        FIELDS_OF(&p, I32(b, 0), 14);
        if (kernel == 3) {
            qnnc_max_pool_s8(&p, &in_d, S8(b, 2), &out_d, OUT8(b, 4));
        } else {
            qnnc_avg_pool_s8(&p, &in_d, S8(b, 2), &out_d, OUT8(b, 4));
        }
        return 0;
    }
    case 5:   /* add: params[12], d1, x1, d2, x2, out_dims, out */
    case 6: { /* mul: params[7], the same layout */
        qnnc_dims d1 = dims_of(b, 1), d2 = dims_of(b, 3), out_d = dims_of(b, 5);
        if (kernel == 5) {
            qnnc_add_params p;
            FIELDS_OF(&p, I32(b, 0), 12);
            qnnc_add_s8(&p, &d1, S8(b, 2), &d2, S8(b, 4), &out_d, OUT8(b, 6));
        } else {
            qnnc_mul_params p;
            FIELDS_OF(&p, I32(b, 0), 7);
            qnnc_mul_s8(&p, &d1, S8(b, 2), &d2, S8(b, 4), &out_d, OUT8(b, 6));
        }
        return 0;
    }
    case 7: { /* softmax: [rows, cols, inv_output_scale], exp_lut, input, out */
        const int32_t *v = I32(b, 0);
        qnnc_softmax_params p;
        p.inv_output_scale = v[2];
        qnnc_softmax_s8(&p, v[0], v[1], (const uint32_t *)b->data[1], S8(b, 2), OUT8(b, 3));
        return 0;
    }
    case 8: { /* lut: [size], lut, input, out */
        qnnc_lut_s8(I32(b, 0)[0], S8(b, 1), S8(b, 2), OUT8(b, 3));
        return 0;
    }
    case 9: { /* transpose: in_dims, perm, input, out */
        qnnc_dims in_d = dims_of(b, 0);
        qnnc_transpose_s8(&in_d, I32(b, 1), S8(b, 2), OUT8(b, 3));
        return 0;
    }
    case 10: { /* pad: in_dims, pads_before, out_dims, [pad_value], input, out */
        qnnc_dims in_d = dims_of(b, 0), out_d = dims_of(b, 2);
        qnnc_pad_s8(&in_d, I32(b, 1), &out_d, (int8_t)I32(b, 3)[0], S8(b, 4), OUT8(b, 5));
        return 0;
    }
    case 11: { /* concat slice: [has_rescale, in_off, mult, shift, out_off, outer, inner,
                  output_stride, column], input, out (whole output buffer) */
        const int32_t *v = I32(b, 0);
        qnnc_rescale_params r;
        FIELDS_OF(&r, v + 1, 4);
        qnnc_concat_slice_s8(v[0] ? &r : NULL, v[5], v[6], v[7], S8(b, 1), OUT8(b, 2) + v[8]);
        return 0;
    }
    case 12: { /* quantize: [size, zero_point], [scale as float], input floats, out */
        const int32_t *v = I32(b, 0);
        qnnc_quantize_f32_s8(v[0], ((const float *)b->data[1])[0], v[1],
                             (const float *)b->data[2], OUT8(b, 3));
        return 0;
    }
    case 13: { /* dequantize: [size, zero_point], [scale as float], input int8, out floats */
        const int32_t *v = I32(b, 0);
        qnnc_dequantize_s8_f32(v[0], ((const float *)b->data[1])[0], v[1], S8(b, 2),
                               (float *)b->data[3]);
        return 0;
    }
    case 14: { /* embedding: [count, rows, row_size, bits], table (int8 or int16), ids (int16), out */
        const int32_t *v = I32(b, 0);
        if (v[3] == 16) {
            qnnc_embedding_s16(v[0], v[1], v[2], S16(b, 1), S16(b, 2), OUT16(b, 3));
        } else {
            qnnc_embedding_s8(v[0], v[1], v[2], S8(b, 1), S16(b, 2), OUT8(b, 3));
        }
        return 0;
    }
    case 15: { /* batch matmul: params[10], d1, x1, d2, x2, bias (empty: NULL), out_dims, out */
        qnnc_batch_matmul_params p;
        qnnc_dims d1 = dims_of(b, 1), d2 = dims_of(b, 3), out_d = dims_of(b, 6);
        FIELDS_OF(&p, I32(b, 0), 10);
        qnnc_batch_matmul_s8(&p, &d1, S8(b, 2), &d2, S8(b, 4), I32(b, 5), &out_d, OUT8(b, 7));
        return 0;
    }
    default:
        return -1;
    }
}

int main(int argc, char **argv)
{
    return case_driver_main(argc, argv, run_case);
}
