/*
 * bench_support.h - semihosting output/exit, region markers and stack painting for the
 * qnnc benchmark firmware. Header-only (static inline), bare metal, no libc needed.
 */
#ifndef QNNC_BENCH_SUPPORT_H
#define QNNC_BENCH_SUPPORT_H

#include <stdint.h>

/* Region markers: instructions a compiler never emits. The TCG plugin records the executed
 * instruction count at each of them (regions nest). Arm: begin = mov r10,r10, end = mov r11,r11;
 * RISC-V: the HINT instructions slti x0,x0,0x7a / slti x0,x0,0x7b. */
#if defined(__riscv)
#define BENCH_BEGIN() __asm volatile("slti x0, x0, 0x7a" ::: "memory")
#define BENCH_END() __asm volatile("slti x0, x0, 0x7b" ::: "memory")
#else
#define BENCH_BEGIN() __asm volatile("mov r10, r10" ::: "memory")
#define BENCH_END() __asm volatile("mov r11, r11" ::: "memory")
#endif

/* Semihosting call: Arm's bkpt 0xab; on RISC-V the uncompressed slli/ebreak/srai sequence of the
 * RISC-V semihosting spec, in startup_riscv.c (QEMU recognizes it only within one page, so it
 * lives at the start of a 16-byte aligned function). */
#if defined(__riscv)
int32_t qnnc_bench_semihost_call(int32_t op, const void *arg);
#endif

static inline int32_t bench_semihost(int32_t op, const void *arg)
{
#if defined(__riscv)
    return qnnc_bench_semihost_call(op, arg);
#else
    register int32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
#endif
}

static inline void bench_puts(const char *s)
{
    bench_semihost(0x04, s); /* SYS_WRITE0 */
}

static inline void bench_put_hex32(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char buf[9];
    int i;
    for (i = 0; i < 8; ++i) {
        buf[i] = digits[(v >> (28 - 4 * i)) & 0xFu];
    }
    buf[8] = 0;
    bench_puts(buf);
}

static inline void bench_put_dec(int32_t v)
{
    char buf[12];
    int i = 11;
    uint32_t u = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u != 0u);
    if (v < 0) {
        buf[--i] = '-';
    }
    bench_puts(buf + i);
}

/* Hex dump of n bytes on one line (no separators). */
static inline void bench_put_bytes(const void *p, int32_t n)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *b = (const uint8_t *)p;
    char buf[65];
    int32_t i = 0;
    while (i < n) {
        int k = 0;
        while (k < 64 && i < n) {
            buf[k++] = digits[b[i] >> 4];
            buf[k++] = digits[b[i] & 0xFu];
            ++i;
        }
        buf[k] = 0;
        bench_puts(buf);
    }
}

static inline __attribute__((noreturn)) void bench_exit(int32_t code)
{
    /* SYS_EXIT_EXTENDED: ADP_Stopped_ApplicationExit with an exit code. */
    const uint32_t block[2] = {0x20026u, (uint32_t)code};
    bench_semihost(0x20, block);
    for (;;) {
    }
}

/* Stack painting: fill [limit, sp - margin) with a pattern; later find the lowest
 * overwritten word. Returns the painted top. */
#define BENCH_PAINT 0xC5C5C5C5u

static inline uint32_t bench_sp(void)
{
    uint32_t sp;
#if defined(__riscv)
    __asm volatile("mv %0, sp" : "=r"(sp));
#else
    __asm volatile("mov %0, sp" : "=r"(sp));
#endif
    return sp;
}

static inline void bench_paint_stack(uint32_t *limit, uint32_t *top)
{
    volatile uint32_t *p = limit;
    while (p < top) {
        *p++ = BENCH_PAINT;
    }
}

/* Lowest address in [limit, top) whose word is no longer the paint pattern (top if none). */
static inline uint32_t bench_stack_low(uint32_t *limit, uint32_t *top)
{
    const volatile uint32_t *p = limit;
    while (p < top && *p == BENCH_PAINT) {
        ++p;
    }
    return (uint32_t)(uintptr_t)p;
}

#endif
