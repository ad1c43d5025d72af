/*
 * qnnc keyword-spotting sample: the MLPerf Tiny DS-CNN, compiled from ONNX to
 * integer C by the build, classifies the MFCC features of ten recorded words.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>
#include <zephyr/kernel.h>
#include <zephyr/sys/printk.h>

#include "kws.h"
#include "kws_test_data.h"
#include "qnnc_sample.h"

static const char *const keywords[KWS_OUTPUT_SIZE] = {
	"Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence", "Unknown",
};

static int8_t scores[KWS_OUTPUT_SIZE];

/* A second, application-owned arena for the re-entrant API (self-test and profile). */
static int8_t arena[KWS_ARENA_SIZE] __aligned(4);
static uint32_t layer_cycles[KWS_LAYER_COUNT];
static bool layer_ran[KWS_LAYER_COUNT]; /* views (reshapes) run no code and get no callback */
static uint32_t last_cycles;

/* Called by the generated code after every layer: cycles spent since the previous one. */
static void profile_layer(void *user, int32_t layer, const int8_t *output, int32_t size)
{
	uint32_t now = k_cycle_get_32();

	ARG_UNUSED(user);
	ARG_UNUSED(output);
	ARG_UNUSED(size);
	layer_cycles[layer] += now - last_cycles;
	layer_ran[layer] = true;
	last_cycles = now;
}

/* Layer-by-layer check against the reference checksums, then a per-layer profile. */
static int selftest_and_profile(void)
{
	kws_ctx ctx;
	int32_t bad_test, bad_layer;
	int failures;

	if (kws_init(&ctx, arena, sizeof(arena)) != 0) {
		return -1;
	}
	failures = kws_selftest(&ctx, &bad_test, &bad_layer);
	if (failures == 0) {
		printk("qnnc: selftest passed: every layer of every test input matches\n");
	} else {
		printk("qnnc: selftest: %d inputs differ, first: input %d at layer %d\n", failures,
		       (int)bad_test, (int)bad_layer);
	}
	ctx.on_layer = profile_layer;
	uint32_t start = k_cycle_get_32();

	last_cycles = start;
	(void)kws_invoke(&ctx, kws_test_inputs[0], scores);
	if (k_cycle_get_32() == start) {
		/* native_sim: the simulated clock stands still while code runs, so every
		 * figure would be 0; say so rather than print zeros. */
		printk("per-layer profile: no cycle counter on this board "
		       "(its clock does not advance while code runs)\n");
		return failures;
	}
	printk("per-layer profile (k_cycle_get_32 cycles, input 0):\n");
	for (int i = 0; i < KWS_LAYER_COUNT; i++) {
		if (layer_ran[i]) {
			printk("  layer %2d: %u\n", i, layer_cycles[i]);
		}
	}
	return failures;
}

int main(void)
{
	int matched = 0;
	int correct = 0;

	printk("qnnc kws: DS-CNN, arena %u B, %d test inputs\n", (unsigned int)KWS_ARENA_SIZE,
	       KWS_TEST_COUNT);
	for (int i = 0; i < KWS_TEST_COUNT; i++) {
		uint32_t start = k_cycle_get_32();
		int rc = kws_run(kws_test_inputs[i], scores);
		uint32_t cycles = k_cycle_get_32() - start;

		if (rc != 0) {
			printk("input %d: kws_run failed (%d)\n", i, rc);
			continue;
		}
		int best = qnnc_sample_argmax(scores, KWS_OUTPUT_SIZE);
		int label = kws_test_labels[i];
		bool same = memcmp(scores, kws_test_expected[i], sizeof(scores)) == 0;

		matched += same;
		correct += (best == label);
		printk("input %d: %s (%d%%), label %s, %s", i, keywords[best],
		       qnnc_sample_percent(scores[best], KWS_OUTPUT_SCALE, KWS_OUTPUT_ZERO_POINT),
		       label >= 0 ? keywords[label] : "?",
		       same ? "matches reference" : "DIFFERS from reference");
		if (!IS_ENABLED(CONFIG_ARCH_POSIX)) {
			printk(", %u us", qnnc_sample_us(cycles));
		}
		printk("\n");
	}
	int failures = selftest_and_profile();

	printk("qnnc: %d/%d correct labels\n", correct, KWS_TEST_COUNT);
	printk("qnnc: %d/%d match reference\n", matched, KWS_TEST_COUNT);
	qnnc_sample_exit(matched == KWS_TEST_COUNT && failures == 0 ? 0 : 1);
	return 0;
}
