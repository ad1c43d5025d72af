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
 *   0 conv_s4 / 1 depthwise_conv_s4: params[12] (the last is rounding), lut, mult, shift, in_dims, input, f_dims,
 *                                    packed filter, bias, out_dims, out
 *   2 fully_connected_s4: params[in_off, out_off, min, max, rows, K, N, rounding], lut, mult, shift, x,
 *                         packed w, bias, out
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qnnc_kernels.h"

#define MAX_BLOBS 16

typedef struct {
    void *data[MAX_BLOBS];
    int32_t size[MAX_BLOBS];
    int32_t count;
} blobs;

static const int32_t *I32(const blobs *b, int32_t k) { return (const int32_t *)b->data[k]; }
static const int8_t *S8(const blobs *b, int32_t k) { return (const int8_t *)b->data[k]; }
static int8_t *OUT8(const blobs *b, int32_t k) { return (int8_t *)b->data[k]; }

static qnnc_dims dims_of(const blobs *b, int32_t k)
{
    const int32_t *d = I32(b, k);
    qnnc_dims r;
    r.n = d[0];
    r.h = d[1];
    r.w = d[2];
    r.c = d[3];
    return r;
}

static int run_case(int32_t kernel, const blobs *b)
{
    qnnc_per_channel_quant q;
    q.multiplier = I32(b, 2);
    q.shift = I32(b, 3);
    if (kernel == 0 || kernel == 1) {
        const int32_t *v = I32(b, 0);
        qnnc_conv_params p;
        qnnc_dims in_d = dims_of(b, 4), f_d = dims_of(b, 6), out_d = dims_of(b, 9);
        p.input_offset = v[0];
        p.output_offset = v[1];
        p.stride_h = v[2];
        p.stride_w = v[3];
        p.pad_top = v[4];
        p.pad_left = v[5];
        p.dilation_h = v[6];
        p.dilation_w = v[7];
        p.depth_multiplier = v[8];
        p.act_min = v[9];
        p.act_max = v[10];
        p.rounding = v[11];
        p.act_lut = S8(b, 1);
        if (kernel == 0) {
            qnnc_conv_s4(&p, &q, &in_d, S8(b, 5), &f_d, S8(b, 7), I32(b, 8), &out_d, OUT8(b, 10));
        } else {
            qnnc_depthwise_conv_s4(&p, &q, &in_d, S8(b, 5), &f_d, S8(b, 7), I32(b, 8), &out_d,
                                   OUT8(b, 10));
        }
        return 0;
    }
    if (kernel == 2) {
        const int32_t *v = I32(b, 0);
        qnnc_fc_params p;
        p.input_offset = v[0];
        p.output_offset = v[1];
        p.act_min = v[2];
        p.act_max = v[3];
        p.rounding = v[7];
        p.act_lut = S8(b, 1);
        qnnc_fully_connected_s4(&p, &q, v[4], v[5], S8(b, 4), v[6], S8(b, 5), I32(b, 6), OUT8(b, 7));
        return 0;
    }
    return -1;
}

static int read_i32(const unsigned char **cur, const unsigned char *end, int32_t *out)
{
    if ((size_t)(end - *cur) < 4u) {
        return -1;
    }
    memcpy(out, *cur, 4u);
    *cur += 4;
    return 0;
}

int main(int argc, char **argv)
{
    FILE *f, *out;
    long len;
    unsigned char *buf;
    const unsigned char *cur, *end;
    int32_t case_no = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: %s CASES_FILE RESULTS_FILE\n", argv[0]);
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    buf = (unsigned char *)malloc((size_t)len + 1u);
    if (buf == NULL || fread(buf, 1u, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(f);
    out = fopen(argv[2], "wb");
    if (out == NULL) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 2;
    }
    cur = buf;
    end = buf + len;
    while (cur < end) {
        int32_t kernel, count, k;
        blobs b;
        if (read_i32(&cur, end, &kernel) || read_i32(&cur, end, &count) || count < 1 || count > MAX_BLOBS) {
            fprintf(stderr, "case %d: bad header\n", (int)case_no);
            return 2;
        }
        b.count = count;
        for (k = 0; k < count; ++k) {
            int32_t size;
            if (read_i32(&cur, end, &size) || size < 0 || (size_t)(end - cur) < (size_t)size) {
                fprintf(stderr, "case %d: bad blob %d\n", (int)case_no, (int)k);
                return 2;
            }
            b.size[k] = size;
            b.data[k] = NULL;
            if (size > 0) {
                b.data[k] = malloc((size_t)size);
                if (b.data[k] == NULL) {
                    fprintf(stderr, "out of memory\n");
                    return 2;
                }
                memcpy(b.data[k], cur, (size_t)size);
            }
            cur += size;
        }
        if (run_case(kernel, &b) != 0) {
            fprintf(stderr, "case %d: unknown kernel %d\n", (int)case_no, (int)kernel);
            return 2;
        }
        if (fwrite(&b.size[count - 1], 4u, 1u, out) != 1u ||
            (b.size[count - 1] > 0 &&
             fwrite(b.data[count - 1], (size_t)b.size[count - 1], 1u, out) != 1u)) {
            fprintf(stderr, "write error\n");
            return 2;
        }
        for (k = 0; k < count; ++k) {
            free(b.data[k]);
        }
        ++case_no;
    }
    free(buf);
    return fclose(out) == 0 ? 0 : 2;
}
