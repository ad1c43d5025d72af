/*
 * Unity test for the generated kws model: every test input gives exactly the
 * reference output, through each of the generated entry points.
 * Run with `pio test -e native` (or on a board: `pio test -e <board env>`).
 */
#include <stdint.h>
#include <stdio.h>
#include <unity.h>

#include "kws.h"
#include "kws_test_data.h"

static int8_t output[KWS_OUTPUT_SIZE];
static int32_t arena_words[(KWS_ARENA_SIZE + 3) / 4]; /* 4-byte aligned arena */

void setUp(void) {}
void tearDown(void) {}

static void test_run_matches_reference(void)
{
    char msg[32];
    for (int t = 0; t < KWS_TEST_COUNT; t++) {
        snprintf(msg, sizeof msg, "test input %d", t);
        TEST_ASSERT_EQUAL_INT_MESSAGE(0, kws_run(kws_test_inputs[t], output), msg);
        TEST_ASSERT_EQUAL_INT8_ARRAY_MESSAGE(kws_test_expected[t], output, KWS_OUTPUT_SIZE, msg);
    }
}

static void test_invoke_with_own_arena_matches_reference(void)
{
    kws_ctx ctx;
    char msg[32];
    TEST_ASSERT_EQUAL_INT(0, kws_init(&ctx, arena_words, sizeof arena_words));
    for (int t = KWS_TEST_COUNT - 1; t >= 0; t--) {
        snprintf(msg, sizeof msg, "test input %d", t);
        TEST_ASSERT_EQUAL_INT_MESSAGE(0, kws_invoke(&ctx, kws_test_inputs[t], output), msg);
        TEST_ASSERT_EQUAL_INT8_ARRAY_MESSAGE(kws_test_expected[t], output, KWS_OUTPUT_SIZE, msg);
    }
}

static void test_init_rejects_small_arena(void)
{
    kws_ctx ctx;
    TEST_ASSERT_TRUE(kws_init(&ctx, arena_words, KWS_ARENA_SIZE - 4) != 0);
}

static void test_float_api_matches_reference(void)
{
    static float in_f[KWS_INPUT_SIZE];
    float out_f[KWS_OUTPUT_SIZE];
    for (int t = 0; t < KWS_TEST_COUNT; t++) {
        for (int i = 0; i < KWS_INPUT_SIZE; i++) {
            in_f[i] = ((float)kws_test_inputs[t][i] - (float)KWS_INPUT_ZERO_POINT) * KWS_INPUT_SCALE;
        }
        TEST_ASSERT_EQUAL_INT(0, kws_run_f32(in_f, out_f));
        for (int i = 0; i < KWS_OUTPUT_SIZE; i++) {
            const float want =
                ((float)kws_test_expected[t][i] - (float)KWS_OUTPUT_ZERO_POINT) * KWS_OUTPUT_SCALE;
            TEST_ASSERT_FLOAT_WITHIN(KWS_OUTPUT_SCALE * 0.5f, want, out_f[i]);
        }
    }
}

int runUnityTests(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_run_matches_reference);
    RUN_TEST(test_invoke_with_own_arena_matches_reference);
    RUN_TEST(test_init_rejects_small_arena);
    RUN_TEST(test_float_api_matches_reference);
    return UNITY_END();
}

#if defined(ARDUINO)
/* Arduino: setup()/loop() in test_arduino.cpp call runUnityTests(). */
#elif defined(ESP_PLATFORM)
void app_main(void) { runUnityTests(); } /* ESP-IDF */
#else
int main(void) { return runUnityTests(); }
#endif
