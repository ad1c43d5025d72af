/* bench_hooks.h - maps the generated code's per-layer hooks onto the benchmark region markers. */
#ifndef QNNC_BENCH_HOOKS_H
#define QNNC_BENCH_HOOKS_H
#include "bench_support.h"
#define QNNC_LAYER_BEGIN(model, index) BENCH_BEGIN()
#define QNNC_LAYER_END(model, index) BENCH_END()
#endif
