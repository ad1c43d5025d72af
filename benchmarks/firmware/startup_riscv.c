/*
 * startup_riscv.c - minimal bare-metal start-up for the qnnc benchmark firmware on RISC-V
 * (QEMU virt, rv32, machine mode).
 *
 * _start sets the stack pointer and the trap vector; the reset code copies .data, zeroes .bss and
 * runs main; a trap reports mcause/mepc over semihosting and exits 99.
 */
#include <stdint.h>

#include "bench_support.h"

extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __bss_start__, __bss_end__;

int main(void);
void qnnc_bench_reset(void);
void qnnc_bench_trap(void);

__attribute__((naked, section(".text.start"), used)) void _start(void)
{
    __asm volatile(
        "la sp, __stack_top__\n\t"
        "la t0, qnnc_bench_trap\n\t"
        ".option push\n\t.option arch, +zicsr\n\t" /* binutils >= 2.38 wants Zicsr named */
        "csrw mtvec, t0\n\t"
        ".option pop\n\t"
        "j qnnc_bench_reset");
}

/* a0 = operation, a1 = argument block; the result comes back in a0. */
__attribute__((naked, aligned(16), noinline, used)) int32_t qnnc_bench_semihost_call(int32_t op, const void *arg)
{
    (void)op;
    (void)arg;
    __asm volatile(
        ".option push\n\t.option norvc\n\t"
        "slli x0, x0, 0x1f\n\t"
        "ebreak\n\t"
        "srai x0, x0, 7\n\t"
        ".option pop\n\t"
        "ret");
}

__attribute__((noreturn, used)) void qnnc_bench_reset(void)
{
    uint32_t *src, *dst;
    for (src = &__data_load__, dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
    bench_exit(main());
}

/* mtvec needs a 4-byte aligned handler; a fault ends the run with the cause. */
__attribute__((noreturn, used, aligned(4))) void qnnc_bench_trap(void)
{
    uint32_t cause, epc;
    __asm volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mcause\n\t.option pop" : "=r"(cause));
    __asm volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mepc\n\t.option pop" : "=r"(epc));
    bench_puts("FAULT mcause=");
    bench_put_hex32(cause);
    bench_puts(" mepc=");
    bench_put_hex32(epc);
    bench_puts("\n");
    bench_exit(99);
}
