/*
 * startup.c - minimal bare-metal start-up for the qnnc benchmark firmware (QEMU mps2/mps3).
 *
 * Vector table, reset handler (.data copy, .bss zero, FPU/MVE enable through CPACR),
 * fault handlers that report over semihosting and exit, and a tiny _sbrk for newlib.
 */
#include <stddef.h>
#include <stdint.h>

#include "bench_support.h"

extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __stack_top__, __stack_limit__, __heap_start__;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);

typedef void (*vector_fn)(void);

__attribute__((section(".vectors"), used)) const vector_fn qnnc_bench_vectors[16] = {
    (vector_fn)(uintptr_t)&__stack_top__,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    Fault_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Default_Handler, /* SVC */
    Default_Handler, /* DebugMon */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
};

__attribute__((noreturn, used)) void Reset_Handler(void)
{
    uint32_t *src, *dst;
#if defined(__ARM_ARCH_6M__)
    /* ARMv6-M code on a v7-M model: trap unaligned accesses (CCR.UNALIGN_TRP), as an M0 does. */
    *(volatile uint32_t *)0xE000ED14u |= 1u << 3;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CP10/CP11 full access: the FPU and (Armv8.1-M) MVE share these bits. */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    for (src = &__data_load__, dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
    bench_exit(main());
}

__attribute__((noreturn)) void Fault_Handler(void)
{
    uint32_t cfsr = *(volatile uint32_t *)0xE000ED28u;
    uint32_t hfsr = *(volatile uint32_t *)0xE000ED2Cu;
    bench_puts("FAULT cfsr=");
    bench_put_hex32(cfsr);
    bench_puts(" hfsr=");
    bench_put_hex32(hfsr);
    bench_puts("\n");
    bench_exit(99);
}

__attribute__((noreturn)) void Default_Handler(void)
{
    bench_puts("FAULT unexpected exception\n");
    bench_exit(98);
}

/* newlib's malloc (used by the kernel-test driver only) grows the heap up to the stack. */
void *_sbrk(ptrdiff_t incr)
{
    static uint8_t *brk = 0;
    uint8_t *prev;
    if (brk == 0) {
        brk = (uint8_t *)&__heap_start__;
    }
    prev = brk;
    if (brk + incr > (uint8_t *)&__stack_limit__) {
        return (void *)-1;
    }
    brk += incr;
    return prev;
}
