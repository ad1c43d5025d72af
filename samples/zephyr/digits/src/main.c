/*
 * qnnc digits sample: a small CNN on 8x8 handwritten digits, compiled from ONNX
 * to integer C by the build. It uses the re-entrant API with an arena that the
 * application owns (digits_init / digits_invoke) and checks the float API
 * (digits_run_f32) against it.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>
#include <zephyr/kernel.h>
#include <zephyr/sys/printk.h>

#include "digits.h"
#include "digits_test_data.h"
#include "qnnc_sample.h"

/* The application's own arena: could be any RAM, shared with other work. */
static uint8_t arena[DIGITS_ARENA_SIZE] __aligned(16);
static digits_ctx ctx;

static int8_t scores[DIGITS_OUTPUT_SIZE];
static float input_f32[DIGITS_INPUT_SIZE];
static float scores_f32[DIGITS_OUTPUT_SIZE];

static int8_t quantize_output(float v)
{
	float q = v / DIGITS_OUTPUT_SCALE + (float)DIGITS_OUTPUT_ZERO_POINT;
	int r = (int)(q < 0.0f ? q - 0.5f : q + 0.5f);

	return (int8_t)CLAMP(r, -128, 127);
}

/* The 8x8 image (1 channel), darker for larger values. */
static void draw(const int8_t *img)
{
	static const char shades[] = " .:-=+*#%@";

	for (int y = 0; y < 8; y++) {
		char line[9];

		for (int x = 0; x < 8; x++) {
			line[x] = shades[((int)img[y * 8 + x] + 128) * 10 / 256];
		}
		line[8] = '\0';
		printk("  |%s|\n", line);
	}
}

int main(void)
{
	int matched = 0;
	int correct = 0;
	int rc = digits_init(&ctx, arena, sizeof(arena));

	printk("qnnc digits: arena %u B (application-owned), %d test inputs\n",
	       (unsigned int)DIGITS_ARENA_SIZE, DIGITS_TEST_COUNT);
	if (rc != 0) {
		printk("digits_init failed (%d)\n", rc);
		qnnc_sample_exit(1);
		return 0;
	}
	draw(digits_test_inputs[0]);
	for (int i = 0; i < DIGITS_TEST_COUNT; i++) {
		const int8_t *in = digits_test_inputs[i];
		bool same_f32 = true;

		rc = digits_invoke(&ctx, in, scores);
		if (rc != 0) {
			printk("input %d: digits_invoke failed (%d)\n", i, rc);
			continue;
		}
		/* The float API: dequantized input in, float scores out. */
		for (int k = 0; k < DIGITS_INPUT_SIZE; k++) {
			input_f32[k] = (float)(in[k] - DIGITS_INPUT_ZERO_POINT) * DIGITS_INPUT_SCALE;
		}
		rc = digits_run_f32(input_f32, scores_f32);
		for (int k = 0; k < DIGITS_OUTPUT_SIZE; k++) {
			same_f32 = same_f32 && quantize_output(scores_f32[k]) == scores[k];
		}

		int best = qnnc_sample_argmax(scores, DIGITS_OUTPUT_SIZE);
		int label = digits_test_labels[i];
		bool same = memcmp(scores, digits_test_expected[i], sizeof(scores)) == 0;

		matched += same && same_f32 && rc == 0;
		correct += (best == label);
		printk("input %d: digit %d, label %d, %s%s\n", i, best, label,
		       same ? "matches reference" : "DIFFERS from reference",
		       same_f32 && rc == 0 ? "" : " (float API differs)");
	}
	printk("qnnc: %d/%d correct labels\n", correct, DIGITS_TEST_COUNT);
	printk("qnnc: %d/%d match reference\n", matched, DIGITS_TEST_COUNT);
	qnnc_sample_exit(matched == DIGITS_TEST_COUNT ? 0 : 1);
	return 0;
}
