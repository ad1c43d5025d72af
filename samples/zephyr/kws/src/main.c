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
	printk("qnnc: %d/%d correct labels\n", correct, KWS_TEST_COUNT);
	printk("qnnc: %d/%d match reference\n", matched, KWS_TEST_COUNT);
	qnnc_sample_exit(matched == KWS_TEST_COUNT ? 0 : 1);
	return 0;
}
