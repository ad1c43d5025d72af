/*
 * kernel_cases_main.c - runs tests/kernel_driver.c's kernel cases on an emulated Cortex-M.
 *
 * The case file written by tests/test_kernels.py (serialize()) is linked in with .incbin
 * (BENCH_CASES_FILE), each case is read by case_driver.h's read_case() and run through
 * kernel_driver.c's run_case() (blob layout shared with the host test), and a FNV-1a hash of
 * every output buffer is printed:
 *     H <case> <hash>
 * The Python side compares the hashes with those of the reference outputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_support.h"

/* The host driver whose run_case() this firmware calls: tests/kernel_driver.c by default; the int4
 * and int16 tests pass -DBENCH_CASES_DRIVER=\"int4_driver.c\" / \"kernel_driver_s16.c\" (same
 * blob layout, same run_case signature). */
#ifndef BENCH_CASES_DRIVER
#define BENCH_CASES_DRIVER "kernel_driver.c"
#endif
#define main qnnc_kernel_driver_host_main
#include BENCH_CASES_DRIVER
#undef main

#define BENCH_STR2(x) #x
#define BENCH_STR(x) BENCH_STR2(x)

__asm__(".section .bench_data,\"a\",%progbits\n"
        ".balign 8\n"
        ".global bench_cases\n"
        "bench_cases:\n"
        ".incbin " BENCH_STR(BENCH_CASES_FILE) "\n"
        ".global bench_cases_end\n"
        "bench_cases_end:\n"
        ".previous\n");
extern const unsigned char bench_cases[];
extern const unsigned char bench_cases_end[];

static uint32_t fnv1a(const void *p, int32_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    uint32_t h = 2166136261u;
    int32_t i;
    for (i = 0; i < n; ++i) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}

int main(void)
{
    const unsigned char *cur = bench_cases;
    const unsigned char *end = bench_cases_end;
    int32_t case_no = 0;
    while (cur < end) {
        int32_t kernel;
        blobs b;
        const char *error = read_case(&cur, end, &kernel, &b);
        if (error != NULL) {
            bench_puts(error);
            bench_puts("\n");
            return 2;
        }
        BENCH_BEGIN();
        if (run_case(kernel, &b) != 0) {
            bench_puts("unknown kernel, or (s8) its scratch fallback gave another output\n");
            return 2;
        }
        BENCH_END();
        bench_puts("H ");
        bench_put_dec(case_no);
        bench_puts(" ");
        bench_put_hex32(fnv1a(b.data[b.count - 1], b.size[b.count - 1]));
        bench_puts("\n");
        free_case(&b);
        ++case_no;
    }
    bench_puts("DONE ");
    bench_put_dec(case_no);
    bench_puts("\n");
    return 0;
}
