/*
 * qnnc_gru_s8 - one direction of an ONNX GRU (batch 1, default activations, linear_before_reset 0
 * or 1), int8 in and out. int16 Q3.12 gate pre-activations, 513-entry int16 sigmoid/tanh tables
 * (Q0.15 out). Reference: qnnc/reference/kernels_recurrent.py (bit-exact).
 * Body: qnnc_gru_impl.h (shared by _s8 and _s16).
 */
#include "qnnc_internal.h"
#include "qnnc_recurrent_internal.h"

int32_t qnnc_gru_s8_get_buffer_size(int32_t hidden_size)
{
    return (10 * hidden_size + 3) & ~3;
}

#define QNNC_T int8_t
#define QNNC_INITIAL_H_PARAM
#define QNNC_INITIAL_H weights->initial_h
#define QNNC_ROWS qnnc_rec_rows
#define QNNC_ZH params->hidden_offset
#define QNNC_H_SAT(v) qnnc_clamp_s8((v), -128, 127)
#define QNNC_FN qnnc_gru_s8
#include "qnnc_gru_impl.h"
