/*
 * qnnc PlatformIO sample: run the keyword-spotting model on the test inputs that
 * qnnc generated from the config's test_data (kws_test_data.h) and compare every
 * output with the reference output computed by qnnc's bit-exact Python reference.
 *
 * Prints one line per input and finally "qnnc: N/N match reference".
 * Exit status (where there is one): 0 when every output matches.
 */
#include <stdint.h>
#include <stdio.h>

#include "kws.h"           /* generated: KWS_* sizes and quantization, kws_run() ... */
#include "kws_test_data.h" /* generated: kws_test_inputs/expected/labels */

static const char *const kws_classes[KWS_OUTPUT_SIZE] = {
    "Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence", "Unknown",
};

static int argmax(const int8_t *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (v[i] > v[best]) best = i;
    }
    return best;
}

/* Probability in per mille from a quantized softmax output, without float printf. */
static int per_mille(int8_t q)
{
    float p = ((float)q - (float)KWS_OUTPUT_ZERO_POINT) * KWS_OUTPUT_SCALE;
    return (int)(p * 1000.0f + 0.5f);
}

int kws_demo(void)
{
    static int8_t output[KWS_OUTPUT_SIZE];
    int matches = 0, labelled = 0, correct = 0;

    printf("qnnc kws sample: %d int8 inputs -> %d classes, arena %d bytes\n", KWS_INPUT_SIZE,
           KWS_OUTPUT_SIZE, KWS_ARENA_SIZE);
    for (int t = 0; t < KWS_TEST_COUNT; t++) {
        if (kws_run(kws_test_inputs[t], output) != 0) {
            printf("test %d: kws_run failed\n", t);
            continue;
        }
        int same = 1;
        for (int i = 0; i < KWS_OUTPUT_SIZE; i++) {
            if (output[i] != kws_test_expected[t][i]) same = 0;
        }
        matches += same;
        const int best = argmax(output, KWS_OUTPUT_SIZE);
        const int32_t label = kws_test_labels[t];
        if (label >= 0) {
            labelled++;
            correct += (best == label);
        }
        printf("test %d: predicted %-7s (p=0.%03d)  label %-7s  %s\n", t, kws_classes[best],
               per_mille(output[best]), label >= 0 ? kws_classes[label] : "?",
               same ? "matches reference" : "DIFFERS from reference");
    }
    if (labelled > 0) printf("qnnc: %d/%d predictions equal the label\n", correct, labelled);
    printf("qnnc: %d/%d match reference\n", matches, KWS_TEST_COUNT);
    return KWS_TEST_COUNT - matches;
}

#if defined(ARDUINO)
/* Arduino: setup()/loop() in arduino_main.cpp call kws_demo(). */
#elif defined(ESP_PLATFORM)
void app_main(void) { kws_demo(); } /* ESP-IDF */
#else
int main(void) { return kws_demo() == 0 ? 0 : 1; }
#endif
