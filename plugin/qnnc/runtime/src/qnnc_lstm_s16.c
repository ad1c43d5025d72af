/*
 * qnnc_lstm_s16 - one direction of an ONNX LSTM (batch 1, default activations) with int16 input,
 * hidden state and output (16x8: int8 per-row weights, int64 gate sums, 16x8 requantization to
 * Q3.12). Gates, tables and the int16 cell state are qnnc_lstm_s8's.
 * Reference: qnnc/reference/kernels_s16_recurrent.py (bit-exact).
 * Body: qnnc_lstm_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"
#include "qnnc_recurrent_internal.h"

#define QNNC_T int16_t
#define QNNC_INITIAL_H_PARAM const int16_t *initial_h,
#define QNNC_INITIAL_H initial_h
#define QNNC_ROWS qnnc_rec_rows_s16
#define QNNC_H_OUT(v) (int16_t)qnnc_rec_sat16(v)
#define QNNC_C_OUT(c) (int16_t)qnnc_rec_sat16(qnnc_requantize((c), params->cell_out_multiplier, params->cell_out_shift))
#define QNNC_FN qnnc_lstm_s16
#include "qnnc_lstm_impl.h"
