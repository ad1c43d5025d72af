/*
 * case_driver.h - the case-file loop shared by the kernel test drivers (kernel_driver.c,
 * kernel_driver_s16.c, int4_driver.c).
 *
 * A cases file is a sequence of cases, all integers little-endian int32:
 *     kernel_id, blob_count, then blob_count times { byte_count, bytes }
 * For every case each blob is copied into its own exactly-sized heap block (AddressSanitizer
 * catches any out-of-bounds access; an empty blob becomes NULL), the driver's run_case() is
 * called, and { byte_count, bytes } of the last blob - the output buffer, pre-filled by the
 * caller - is appended to the results file.
 */
#ifndef QNNC_TEST_CASE_DRIVER_H
#define QNNC_TEST_CASE_DRIVER_H

#include <stddef.h>
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

/* Typed views of blob k. */
static inline const int32_t *I32(const blobs *b, int32_t k) { return (const int32_t *)b->data[k]; }
static inline const int64_t *I64(const blobs *b, int32_t k) { return (const int64_t *)b->data[k]; }
static inline const int16_t *S16(const blobs *b, int32_t k) { return (const int16_t *)b->data[k]; }
static inline const int8_t *S8(const blobs *b, int32_t k) { return (const int8_t *)b->data[k]; }
static inline int8_t *OUT8(const blobs *b, int32_t k) { return (int8_t *)b->data[k]; }
static inline int16_t *OUT16(const blobs *b, int32_t k) { return (int16_t *)b->data[k]; }

/* Blob k holds four int32: n, h, w, c. */
static inline qnnc_dims dims_of(const blobs *b, int32_t k)
{
    const int32_t *d = I32(b, k);
    qnnc_dims r;
    r.n = d[0];
    r.h = d[1];
    r.w = d[2];
    r.c = d[3];
    return r;
}

/* A params blob holds a params struct's leading int32 fields in their qnnc_kernels.h order (the
 * pack_* functions of the tests write them so), so n of them are one copy. The typedefs below
 * fail to compile if a struct's int32 prefix ever gets padding. */
#define FIELDS_OF(p, v, n) memcpy((p), (v), (size_t)(n) * sizeof(int32_t))
#define CASE_DRIVER_PREFIX(type, last, n) \
    typedef char case_driver_##type##_prefix[offsetof(type, last) == ((n) - 1) * sizeof(int32_t) ? 1 : -1]
CASE_DRIVER_PREFIX(qnnc_conv_params, act_max, 11);
CASE_DRIVER_PREFIX(qnnc_fc_params, act_max, 4);
CASE_DRIVER_PREFIX(qnnc_pool_params, output_offset, 14);
CASE_DRIVER_PREFIX(qnnc_add_params, act_max, 12);
CASE_DRIVER_PREFIX(qnnc_mul_params, act_max, 7);
CASE_DRIVER_PREFIX(qnnc_rescale_params, output_offset, 4);

/* Blob 0 = conv params [in_off, out_off, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w,
 * depth_multiplier, act_min, act_max, rounding], blob 1 = the LUT (or empty). */
static inline void conv_params_of(const blobs *b, qnnc_conv_params *p)
{
    FIELDS_OF(p, I32(b, 0), 11);
    p->rounding = I32(b, 0)[11];
    p->act_lut = S8(b, 1);
}

/* Blob 0 = fc params [in_off, out_off, act_min, act_max, rows, K, N, rounding], blob 1 = the LUT. */
static inline void fc_params_of(const blobs *b, qnnc_fc_params *p)
{
    FIELDS_OF(p, I32(b, 0), 4);
    p->rounding = I32(b, 0)[7];
    p->act_lut = S8(b, 1);
    p->kernel_sums = NULL;
}

/* The output of a kernel call with `size` bytes of scratch (exactly sized heap block). */
typedef void (*scratch_call)(const blobs *b, const qnnc_buffer *scratch);

/* Runs `call` with the requested scratch, then with one byte less (the fallback path) into a
 * copy of the pre-filled output; 0 when both outputs agree. */
static inline int run_with_scratch(const blobs *b, int32_t out_blob, int32_t size, scratch_call call)
{
    qnnc_buffer s;
    blobs b2 = *b;
    int8_t *first = NULL;
    int same = 1;
    const size_t n = (size_t)b->size[out_blob];
    if (n > 0u) {
        first = (int8_t *)malloc(n);
        if (first == NULL) {
            return 1;
        }
        memcpy(first, b->data[out_blob], n); /* the canary pre-fill */
    }
    s.size = size;
    s.buf = size > 0 ? malloc((size_t)size) : NULL;
    call(b, &s);
    free(s.buf);
    if (size > 0) { /* the fallback (portable) path must give the same output */
        s.size = size - 1;
        s.buf = size > 1 ? malloc((size_t)(size - 1)) : NULL;
        b2.data[out_blob] = first;
        call(&b2, &s);
        free(s.buf);
        same = n == 0u || memcmp(first, b->data[out_blob], n) == 0;
    }
    free(first);
    return same ? 0 : 1;
}

static inline int read_i32(const unsigned char **cur, const unsigned char *end, int32_t *out)
{
    if ((size_t)(end - *cur) < 4u) {
        return -1;
    }
    memcpy(out, *cur, 4u);
    *cur += 4;
    return 0;
}

/* Reads the case at *cur (advancing it): its kernel id, and each blob copied into its own
 * exactly-sized heap block. NULL, or what is wrong with the case (free_case then frees the
 * blobs read so far). */
static inline const char *read_case(const unsigned char **cur, const unsigned char *end, int32_t *kernel,
                                    blobs *b)
{
    int32_t count, k;
    b->count = 0;
    if (read_i32(cur, end, kernel) || read_i32(cur, end, &count) || count < 1 || count > MAX_BLOBS) {
        return "bad case header";
    }
    for (k = 0; k < count; ++k) {
        int32_t size;
        if (read_i32(cur, end, &size) || size < 0 || (size_t)(end - *cur) < (size_t)size) {
            return "bad blob";
        }
        b->size[k] = size;
        b->data[k] = NULL;
        b->count = k + 1;
        if (size > 0) {
            b->data[k] = malloc((size_t)size);
            if (b->data[k] == NULL) {
                return "out of memory";
            }
            memcpy(b->data[k], *cur, (size_t)size);
        }
        *cur += size;
    }
    return NULL;
}

static inline void free_case(blobs *b)
{
    int32_t k;
    for (k = 0; k < b->count; ++k) {
        free(b->data[k]);
    }
}

/* Runs every case of argv[1] through run_case (0 = done, else the case failed) into argv[2];
 * returns the process exit code (0, or 2 with a message on stderr). */
static inline int case_driver_main(int argc, char **argv, int (*run_case)(int32_t kernel, const blobs *b))
{
    FILE *f;
    FILE *out;
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
        int32_t kernel;
        blobs b;
        const char *error = read_case(&cur, end, &kernel, &b);
        if (error != NULL) {
            fprintf(stderr, "case %d: %s\n", (int)case_no, error);
            return 2;
        }
        if (run_case(kernel, &b) != 0) {
            fprintf(stderr, "case %d: kernel %d unknown, or the driver's check of it failed\n", (int)case_no,
                    (int)kernel);
            return 2;
        }
        if (fwrite(&b.size[b.count - 1], 4u, 1u, out) != 1u ||
            (b.size[b.count - 1] > 0 &&
             fwrite(b.data[b.count - 1], (size_t)b.size[b.count - 1], 1u, out) != 1u)) {
            fprintf(stderr, "write error\n");
            return 2;
        }
        free_case(&b);
        ++case_no;
    }
    free(buf);
    return fclose(out) == 0 ? 0 : 2;
}

#endif /* QNNC_TEST_CASE_DRIVER_H */
