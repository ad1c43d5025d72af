/*
 * qnnc_lstm_s8 - one direction of an ONNX LSTM (batch 1, default activations), int8 in and out.
 * int16 Q3.12 gate pre-activations, 513-entry int16 sigmoid/tanh tables (Q0.15 out), int16 cell
 * state at 2^-cell_shift. Reference: qnnc/reference/kernels_recurrent.py (bit-exact).
 * Body: qnnc_lstm_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"
#include "qnnc_recurrent_internal.h"

int32_t qnnc_lstm_s8_get_buffer_size(int32_t hidden_size)
{
    return (11 * hidden_size + 3) & ~3;
}

#define QNNC_T int8_t
#define QNNC_INITIAL_H_PARAM
#define QNNC_INITIAL_H weights->initial_h
#define QNNC_ROWS qnnc_rec_rows
#define QNNC_H_OUT(v) qnnc_clamp_s8((v) + params->hidden_offset, -128, 127)
#define QNNC_C_OUT(c) \
    qnnc_clamp_s8(qnnc_requantize((c), params->cell_out_multiplier, params->cell_out_shift) + params->cell_out_offset, \
                  -128, 127)
#define QNNC_FN qnnc_lstm_s8
#include "qnnc_lstm_impl.h"
