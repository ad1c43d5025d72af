/*
 * int4_driver.c - test driver for the int4-weight kernels (used by tests/test_int4.py).
 *
 * Usage: int4_driver CASES_FILE RESULTS_FILE
 *
 * Same file format as kernel_driver.c: per case, little-endian int32 kernel_id, blob_count,
 * then blob_count times { byte_count, bytes }. Each blob gets its own exactly-sized heap block
 * (AddressSanitizer catches any out-of-bounds access, e.g. reading past the packed weights;
 * an empty blob becomes NULL). The last blob is the pre-filled output buffer, written back as
 * { byte_count, bytes }.
 *   0 conv_s4 / 1 depthwise_conv_s4 (with run_with_scratch, as kernel_driver.c): params[12] (the last
 *                                    is rounding), lut, mult, shift, in_dims, input, f_dims,
 *                                    packed filter, bias, out_dims, out
 *   2 fully_connected_s4: params[in_off, out_off, min, max, rows, K, N, rounding], lut, mult, shift, x,
 *                         packed w, bias, out
 */
#include "case_driver.h"

/* conv_s4 / depthwise_conv_s4 with the given scratch (run_with_scratch: the size they ask for,
 * then one byte less - the paths without it - whose output must be the same). */
static void conv4_call(const blobs *b, const qnnc_buffer *scratch, int depthwise)
{
    qnnc_per_channel_quant q;
    qnnc_conv_params p;
    qnnc_dims in_d = dims_of(b, 4), f_d = dims_of(b, 6), out_d = dims_of(b, 9);
    q.multiplier = I32(b, 2);
    q.shift = I32(b, 3);
    conv_params_of(b, &p);
    if (depthwise) {
        qnnc_depthwise_conv_s4(scratch, &p, &q, &in_d, S8(b, 5), &f_d, S8(b, 7), I32(b, 8), &out_d, OUT8(b, 10));
    } else {
        qnnc_conv_s4(scratch, &p, &q, &in_d, S8(b, 5), &f_d, S8(b, 7), I32(b, 8), &out_d, OUT8(b, 10));
    }
}
static void conv4_call0(const blobs *b, const qnnc_buffer *scratch) { conv4_call(b, scratch, 0); }
static void dw4_call(const blobs *b, const qnnc_buffer *scratch) { conv4_call(b, scratch, 1); }

static int run_case(int32_t kernel, const blobs *b)
{
    qnnc_per_channel_quant q;
    q.multiplier = I32(b, 2);
    q.shift = I32(b, 3);
    if (kernel == 0 || kernel == 1) {
        qnnc_conv_params p;
        qnnc_dims in_d = dims_of(b, 4), f_d = dims_of(b, 6), out_d = dims_of(b, 9);
        conv_params_of(b, &p);
        if (kernel == 0) {
            return run_with_scratch(b, 10, qnnc_conv_s4_get_buffer_size(&p, &in_d, &f_d, &out_d), conv4_call0);
        }
        return run_with_scratch(b, 10, qnnc_depthwise_conv_s4_get_buffer_size(&p, &in_d, &f_d, &out_d), dw4_call);
    }
    if (kernel == 2) {
        const int32_t *v = I32(b, 0);
        qnnc_fc_params p;
        fc_params_of(b, &p);
        qnnc_fully_connected_s4(&p, &q, v[4], v[5], S8(b, 4), v[6], S8(b, 5), I32(b, 6), OUT8(b, 7));
        return 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    return case_driver_main(argc, argv, run_case);
}
