/*
 * Shared helpers of the qnnc samples: ending the program and printing scores.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef QNNC_SAMPLE_H
#define QNNC_SAMPLE_H

#include <stdint.h>
#include <zephyr/kernel.h>
#include <zephyr/sys/printk.h>

#if defined(CONFIG_ARCH_POSIX)
#include <posix_board_if.h>
#elif defined(CONFIG_QNNC_SAMPLE_SEMIHOST_EXIT)
#include <zephyr/arch/common/semihost.h>
#endif

/* Ends the program where that means something (native_sim, QEMU); elsewhere
 * (real boards) returns and the sample idles. status 0 = success. Under twister
 * (CONFIG_QNNC_SAMPLE_IDLE_ON_SUCCESS) QEMU keeps running after a success: twister
 * stops it once its console harness matched, and counts an exiting QEMU as a failure. */
static inline void qnnc_sample_exit(int status)
{
#if defined(CONFIG_ARCH_POSIX)
	posix_exit(status);
#elif defined(CONFIG_QNNC_SAMPLE_SEMIHOST_EXIT)
	if (IS_ENABLED(CONFIG_QNNC_SAMPLE_IDLE_ON_SUCCESS) && status == 0) {
		return;
	}
	/* SYS_EXIT (0x18); on AArch32 and RV32 the argument is the reason code itself:
	 * ADP_Stopped_ApplicationExit (QEMU exits 0) or ADP_Stopped_RunTimeErrorUnknown (1). */
	semihost_exec((enum semihost_instr)0x18,
		      (void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
#else
	ARG_UNUSED(status);
#endif
}

/* Index of the largest value. */
static inline int qnnc_sample_argmax(const int8_t *v, int n)
{
	int best = 0;

	for (int i = 1; i < n; i++) {
		if (v[i] > v[best]) {
			best = i;
		}
	}
	return best;
}

/* A quantized score as a whole percentage: (q - zero_point) * scale * 100, rounded. */
static inline int qnnc_sample_percent(int8_t q, float scale, int zero_point)
{
	float p = (float)(q - zero_point) * scale * 100.0f;

	return (int)(p < 0.0f ? p - 0.5f : p + 0.5f);
}

/* Elapsed time of a run, printed on targets whose clock follows the code
 * (native_sim's simulated clock does not advance while code runs). */
static inline uint32_t qnnc_sample_us(uint32_t cycles)
{
	return (uint32_t)k_cyc_to_us_floor64(cycles);
}

#endif /* QNNC_SAMPLE_H */
