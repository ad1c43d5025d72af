/*
 * qnnc_gru_s16 - one direction of an ONNX GRU (batch 1, default activations, linear_before_reset
 * 0 or 1) with int16 input, hidden state and output (16x8: int8 per-row weights, int64 gate sums,
 * 16x8 requantization to Q3.12). Gates and tables are qnnc_gru_s8's.
 * Reference: qnnc/reference/kernels_s16_recurrent.py (bit-exact).
 * Body: qnnc_gru_impl.h (shared by _s8 and _s16; zero point 0 here).
 */
#include "qnnc_internal.h"
#include "qnnc_recurrent_internal.h"

#define QNNC_T int16_t
#define QNNC_INITIAL_H_PARAM const int16_t *initial_h,
#define QNNC_INITIAL_H initial_h
#define QNNC_ROWS qnnc_rec_rows_s16
#define QNNC_ZH 0
#define QNNC_H_SAT(v) (int16_t)qnnc_rec_sat16(v)
#define QNNC_FN qnnc_gru_s16
#include "qnnc_gru_impl.h"
