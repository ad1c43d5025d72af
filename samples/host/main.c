/*
 * Host sample: runs a qnnc-generated model on the test inputs embedded at generation
 * time, prints each prediction, the accuracy against the labels, and whether the C
 * output equals the qnnc reference bit for bit.
 *
 * Build with -DMODEL=kws -DMODEL_UPPER=KWS -DMODEL_HEADER='"kws.h"' -DTEST_HEADER='"kws_test_data.h"'
 * (the Makefile does this).
 */
#include <stdio.h>
#include <string.h>

#include MODEL_HEADER
#include TEST_HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define SYM(s) CAT(MODEL, s)

static int argmax(const int8_t *v, int n)
{
    int i, best = 0;
    for (i = 1; i < n; ++i) {
        if (v[i] > v[best]) {
            best = i;
        }
    }
    return best;
}

int main(void)
{
    static int8_t output[sizeof SYM(_test_expected)[0]];
    int i, correct = 0, labelled = 0, exact = 0;
    const int count = (int)(sizeof SYM(_test_labels) / sizeof SYM(_test_labels)[0]);

    for (i = 0; i < count; ++i) {
        int pred, label = (int)SYM(_test_labels)[i];
        if (SYM(_run)(SYM(_test_inputs)[i], output) != 0) {
            printf("run failed\n");
            return 1;
        }
        pred = argmax(output, (int)sizeof output);
        exact += memcmp(output, SYM(_test_expected)[i], sizeof output) == 0;
        if (label >= 0) {
            labelled++;
            correct += pred == label;
        }
        printf("input %2d: predicted class %2d, label %2d%s\n", i, pred, label,
               label >= 0 && pred != label ? "  (wrong)" : "");
    }
    if (labelled > 0) {
        printf("accuracy: %d/%d = %.3f\n", correct, labelled, (double)correct / labelled);
    }
    printf("qnnc: %d/%d match reference\n", exact, count);
    {
        /* Layer by layer against the reference checksums embedded at generation time. */
        static int8_t arena[CAT(MODEL_UPPER, _ARENA_SIZE)] __attribute__((aligned(4)));
        SYM(_ctx) ctx;
        int32_t bad_test, bad_layer;
        int failures;
        if (SYM(_init)(&ctx, arena, sizeof arena) != 0) {
            return 1;
        }
        failures = SYM(_selftest)(&ctx, &bad_test, &bad_layer);
        if (failures == 0) {
            printf("qnnc: selftest passed, every layer of every test input matches\n");
        } else {
            printf("qnnc: selftest: %d inputs differ, first: input %d at layer %d\n", failures, (int)bad_test,
                   (int)bad_layer);
            return 1;
        }
    }
    return exact == count ? 0 : 1;
}
