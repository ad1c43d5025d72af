/*
 * kernel_driver_s16.c - test driver for the int16-activation kernels (tests/test_int16.py).
 *
 * Usage: kernel_driver_s16 CASES_FILE RESULTS_FILE
 *
 * Same protocol as kernel_driver.c: each case is kernel_id, blob_count, then blob_count times
 * { byte_count, bytes } (little-endian int32). Every blob gets its own exactly-sized heap block
 * (ASan catches any out-of-bounds access; an empty blob becomes NULL); the last blob is the
 * pre-filled output buffer, appended as { byte_count, bytes } to RESULTS_FILE after the call.
 */
#include "case_driver.h"

/* FIELDS_OF below copies these leading int32 fields (cases 40, 41 / 42). */
CASE_DRIVER_PREFIX(qnnc_conv_general_params, act_max, 12);
CASE_DRIVER_PREFIX(qnnc_recurrent_params, linear_before_reset, 14);

/* Cases 0 / 1: params[11], mult, shift, in dims, in, filt dims, filt, bias, out dims, out. */
static void conv16_params_of(const blobs *b, qnnc_conv_params *p, qnnc_per_channel_quant *q)
{
    memset(p, 0, sizeof *p); /* fields the s16 kernels do not read stay defined (act_lut NULL) */
    FIELDS_OF(p, I32(b, 0), 11);
    q->multiplier = I32(b, 1);
    q->shift = I32(b, 2);
}

/* conv_s16 with the given scratch (run_with_scratch: the size it asks for, then one byte less -
 * the path without it - whose output must be the same). */
static void conv16_call(const blobs *b, const qnnc_buffer *scratch)
{
    qnnc_conv_params p;
    qnnc_per_channel_quant q;
    qnnc_dims in_d = dims_of(b, 3), f_d = dims_of(b, 5), out_d = dims_of(b, 8);
    conv16_params_of(b, &p, &q);
    qnnc_conv_s16(scratch, &p, &q, &in_d, S16(b, 4), &f_d, S8(b, 6), I64(b, 7), &out_d, (int16_t *)b->data[9]);
}

static int run_case(int32_t kernel, const blobs *b)
{
    switch (kernel) {
    case 0:
    case 1: {
        qnnc_conv_params p;
        qnnc_per_channel_quant q;
        qnnc_dims in_d = dims_of(b, 3), f_d = dims_of(b, 5), out_d = dims_of(b, 8);
        conv16_params_of(b, &p, &q);
        if (kernel == 0) {
            return run_with_scratch(b, 9, qnnc_conv_s16_get_buffer_size(&p, &in_d, &f_d, &out_d), conv16_call);
        } else {
            qnnc_depthwise_conv_s16(&p, &q, &in_d, S16(b, 4), &f_d, S8(b, 6), I64(b, 7), &out_d,
                                    (int16_t *)b->data[9]);
        }
        return 0;
    }
    case 2: { /* fc: [in_off, out_off, act_min, act_max, rows, k, n], mult, shift, x, w, bias, out */
        const int32_t *v = I32(b, 0);
        qnnc_fc_params p;
        qnnc_per_channel_quant q;
        memset(&p, 0, sizeof p); /* fields the s16 kernels do not read stay defined (act_lut NULL) */
        FIELDS_OF(&p, v, 4);
        q.multiplier = I32(b, 1);
        q.shift = I32(b, 2);
        qnnc_fully_connected_s16(&p, &q, v[4], v[5], S16(b, 3), v[6], S8(b, 4), I64(b, 5),
                                 (int16_t *)b->data[6]);
        return 0;
    }
    case 3:
    case 4: { /* max / avg pool: params[14], in dims, in, out dims, out */
        qnnc_pool_params p;
        qnnc_dims in_d = dims_of(b, 1), out_d = dims_of(b, 3);
        FIELDS_OF(&p, I32(b, 0), 14);
        if (kernel == 3) {
            qnnc_max_pool_s16(&p, &in_d, S16(b, 2), &out_d, (int16_t *)b->data[4]);
        } else {
            qnnc_avg_pool_s16(&p, &in_d, S16(b, 2), &out_d, (int16_t *)b->data[4]);
        }
        return 0;
    }
    case 5: { /* add: params[12], dims1, in1, dims2, in2, out dims, out */
        qnnc_add_params p;
        qnnc_dims d1 = dims_of(b, 1), d2 = dims_of(b, 3), od = dims_of(b, 5);
        FIELDS_OF(&p, I32(b, 0), 12);
        qnnc_add_s16(&p, &d1, S16(b, 2), &d2, S16(b, 4), &od, (int16_t *)b->data[6]);
        return 0;
    }
    case 6: { /* softmax: [rows, cols], exp_lut (512 uint32), in, out */
        const int32_t *v = I32(b, 0);
        qnnc_softmax_s16(v[0], v[1], (const uint32_t *)b->data[1], S16(b, 2), (int16_t *)b->data[3]);
        return 0;
    }
    case 7: { /* transpose: in dims, perm[4], in, out */
        qnnc_dims in_d = dims_of(b, 0);
        qnnc_transpose_s16(&in_d, I32(b, 1), S16(b, 2), (int16_t *)b->data[3]);
        return 0;
    }
    case 8:
    case 9: { /* requantize s8->s16 / s16->s8: [in_off, mult, shift, out_off, size], in, out */
        const int32_t *v = I32(b, 0);
        qnnc_rescale_params p;
        FIELDS_OF(&p, v, 4);
        if (kernel == 8) {
            qnnc_requantize_s8_s16(&p, v[4], S8(b, 1), (int16_t *)b->data[2]);
        } else {
            qnnc_requantize_s16_s8(&p, v[4], S16(b, 1), (int8_t *)b->data[2]);
        }
        return 0;
    }
    case 40: { /* conv_general (tests/test_int16_conv_general.py): params[12] (the int32 fields of
                * qnnc_conv_general_params up to act_max), mult, shift, in dims, in, filt dims, filt, bias,
                * out dims, out */
        qnnc_conv_general_params p;
        qnnc_per_channel_quant q;
        qnnc_dims in_d = dims_of(b, 3), f_d = dims_of(b, 5), out_d = dims_of(b, 8);
        memset(&p, 0, sizeof p); /* act_lut NULL */
        FIELDS_OF(&p, I32(b, 0), 12);
        q.multiplier = I32(b, 1);
        q.shift = I32(b, 2);
        qnnc_conv_general_s16(&p, &q, &in_d, S16(b, 4), &f_d, S8(b, 6), I64(b, 7), &out_d, (int16_t *)b->data[9]);
        return 0;
    }
    case 60:
    case 61: { /* mul / minmax (tests/test_int16_elementwise.py): params[7 / 10], dims1, in1, dims2, in2, out dims, out */
        qnnc_dims d1 = dims_of(b, 1), d2 = dims_of(b, 3), od = dims_of(b, 5);
        if (kernel == 60) {
            qnnc_mul_params p;
            FIELDS_OF(&p, I32(b, 0), 7);
            qnnc_mul_s16(&p, &d1, S16(b, 2), &d2, S16(b, 4), &od, (int16_t *)b->data[6]);
        } else {
            qnnc_minmax_params p;
            FIELDS_OF(&p, I32(b, 0), 10);
            qnnc_minmax_s16(&p, &d1, S16(b, 2), &d2, S16(b, 4), &od, (int16_t *)b->data[6]);
        }
        return 0;
    }
    case 80: /* lut (tests/test_int16_tables.py): [size], lut (513), in, out */
        qnnc_lut_s16(I32(b, 0)[0], S16(b, 1), S16(b, 2), (int16_t *)b->data[3]);
        return 0;
    case 81: { /* round: [mode, in_mult, in_shift, out_mult, out_shift, size], in, out */
        const int32_t *v = I32(b, 0);
        qnnc_round_s16(v[0], v[1], v[2], v[3], v[4], v[5], S16(b, 1), (int16_t *)b->data[2]);
        return 0;
    }
    case 62: { /* prelu: params[4], [outer, channels, inner], alpha, multiplier, shift, in, out */
        const int32_t *v = I32(b, 1);
        qnnc_prelu_params p;
        qnnc_per_channel_quant q;
        FIELDS_OF(&p, I32(b, 0), 4);
        q.multiplier = I32(b, 3);
        q.shift = I32(b, 4);
        qnnc_prelu_s16(&p, &q, S8(b, 2), v[0], v[1], v[2], S16(b, 5), (int16_t *)b->data[6]);
        return 0;
    }
    case 63: { /* pad: in dims, pads_before[4], out dims, [value], in, out */
        qnnc_dims in_d = dims_of(b, 0), out_d = dims_of(b, 2);
        qnnc_pad_s16(&in_d, I32(b, 1), &out_d, (int16_t)I32(b, 3)[0], S16(b, 4), (int16_t *)b->data[5]);
        return 0;
    }
    case 64: { /* concat slice: rescale params[4] (empty: NULL), [outer, inner, output_stride], in, out */
        const int32_t *v = I32(b, 1);
        qnnc_rescale_params p;
        if (b->data[0] != NULL) {
            FIELDS_OF(&p, I32(b, 0), 4);
        }
        qnnc_concat_slice_s16(b->data[0] != NULL ? &p : NULL, v[0], v[1], v[2], S16(b, 2), (int16_t *)b->data[3]);
        return 0;
    }
    case 41:
    case 42: { /* lstm / gru s16 (tests/test_int16_conv_general.py): params[14], W, R, W bias, R bias, W mult,
                * W shift, R mult, R shift, initial_c (empty: NULL), sigmoid lut, tanh lut, initial_h, in,
                * scratch, out */
        qnnc_recurrent_params p;
        qnnc_recurrent_weights w;
        FIELDS_OF(&p, I32(b, 0), 14);
        w.input_weights = S8(b, 1);
        w.recurrent_weights = S8(b, 2);
        w.input_bias = I32(b, 3);
        w.recurrent_bias = I32(b, 4);
        w.input_quant.multiplier = I32(b, 5);
        w.input_quant.shift = I32(b, 6);
        w.recurrent_quant.multiplier = I32(b, 7);
        w.recurrent_quant.shift = I32(b, 8);
        w.initial_h = NULL;
        w.initial_c = S16(b, 9);
        w.sigmoid_lut = S16(b, 10);
        w.tanh_lut = S16(b, 11);
        if (kernel == 41) {
            qnnc_lstm_s16(&p, &w, S16(b, 12), S16(b, 13), (int16_t *)b->data[15], b->data[14]);
        } else {
            qnnc_gru_s16(&p, &w, S16(b, 12), S16(b, 13), (int16_t *)b->data[15], b->data[14]);
        }
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
