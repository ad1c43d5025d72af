/*
 * qnnc two-models sample: keyword spotting and digit recognition linked into
 * one application. Both share qnnc's kernel library; each has its own default
 * arena (here in the .noinit.qnnc_arena section, see prj.conf).
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>
#include <zephyr/kernel.h>
#include <zephyr/sys/printk.h>

#include "digits.h"
#include "digits_test_data.h"
#include "kws.h"
#include "kws_test_data.h"
#include "qnnc_sample.h"

static const char *const keywords[KWS_OUTPUT_SIZE] = {
	"Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence", "Unknown",
};

static int8_t kws_scores[KWS_OUTPUT_SIZE];
static int8_t digits_scores[DIGITS_OUTPUT_SIZE];

int main(void)
{
	int matched = 0;
	const int total = KWS_TEST_COUNT + DIGITS_TEST_COUNT;
	const int rounds = MAX(KWS_TEST_COUNT, DIGITS_TEST_COUNT);

	printk("qnnc two models: kws arena %u B, digits arena %u B\n",
	       (unsigned int)KWS_ARENA_SIZE, (unsigned int)DIGITS_ARENA_SIZE);
	for (int i = 0; i < rounds; i++) {
		if (i < KWS_TEST_COUNT) {
			int rc = kws_run(kws_test_inputs[i], kws_scores);
			bool same = rc == 0 && memcmp(kws_scores, kws_test_expected[i],
						      sizeof(kws_scores)) == 0;
			int best = qnnc_sample_argmax(kws_scores, KWS_OUTPUT_SIZE);

			matched += same;
			printk("kws input %d: %s, %s\n", i, keywords[best],
			       same ? "matches reference" : "DIFFERS from reference");
		}
		if (i < DIGITS_TEST_COUNT) {
			int rc = digits_run(digits_test_inputs[i], digits_scores);
			bool same = rc == 0 && memcmp(digits_scores, digits_test_expected[i],
						      sizeof(digits_scores)) == 0;
			int best = qnnc_sample_argmax(digits_scores, DIGITS_OUTPUT_SIZE);

			matched += same;
			printk("digits input %d: %d, %s\n", i, best,
			       same ? "matches reference" : "DIFFERS from reference");
		}
	}
	printk("qnnc: %d/%d match reference\n", matched, total);
	qnnc_sample_exit(matched == total ? 0 : 1);
	return 0;
}
