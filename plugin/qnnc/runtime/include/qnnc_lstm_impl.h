/*
 * qnnc_lstm_impl.h - the body of qnnc_lstm_s8 / _s16, written once for both activation types: one
 * direction of an ONNX LSTM (batch 1, default activations); the gate rows, tables and the int16
 * cell state are in qnnc_recurrent_internal.h.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (activation type),
 * QNNC_INITIAL_H_PARAM (extra parameters before input, e.g. `const int16_t *initial_h,`, or
 * nothing), QNNC_INITIAL_H (the initial hidden state), QNNC_ROWS (qnnc_rec_rows or
 * qnnc_rec_rows_s16), QNNC_H_OUT(v) (the hidden value of requant(o * tanh(c))), QNNC_C_OUT(c)
 * (output mode 2: the output value of a cell state) and QNNC_FN (the function name), then
 * includes this file, which defines the function and undefines them.
 */
void QNNC_FN(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights, QNNC_INITIAL_H_PARAM
             const QNNC_T *input, QNNC_T *output, void *scratch)
{
    const int32_t T = params->time_steps;
    const int32_t D = params->input_size;
    const int32_t H = params->hidden_size;
    int16_t *gates = (int16_t *)scratch; /* [4H]: i, o, f, c */
    int16_t *cell = gates + 4 * H;       /* [H] */
    QNNC_T *h = (QNNC_T *)(cell + H);    /* [H] */
    int32_t s;
    int32_t j;

    for (j = 0; j < H; ++j) {
        h[j] = QNNC_INITIAL_H[j];
        cell[j] = weights->initial_c != NULL ? weights->initial_c[j] : 0;
    }
    for (s = 0; s < T; ++s) {
        const int32_t t = params->reverse ? T - 1 - s : s;
        QNNC_ROWS(weights->input_weights, weights->input_bias, weights->input_quant.multiplier,
                  weights->input_quant.shift, 4 * H, D, input + (size_t)t * (size_t)D, gates, 0);
        QNNC_ROWS(weights->recurrent_weights, weights->recurrent_bias, weights->recurrent_quant.multiplier,
                  weights->recurrent_quant.shift, 4 * H, H, h, gates, 1);
        for (j = 0; j < H; ++j) {
            h[j] = QNNC_H_OUT(qnnc_lstm_unit(params, weights, gates, H, j, cell));
            if (params->output_mode == 0) {
                output[(size_t)t * (size_t)params->output_stride + (size_t)j] = h[j];
            }
        }
    }
    if (params->output_mode == 1) {
        for (j = 0; j < H; ++j) {
            output[j] = h[j];
        }
    } else if (params->output_mode == 2) {
        for (j = 0; j < H; ++j) {
            output[j] = QNNC_C_OUT(cell[j]);
        }
    }
}

#undef QNNC_T
#undef QNNC_INITIAL_H_PARAM
#undef QNNC_INITIAL_H
#undef QNNC_ROWS
#undef QNNC_H_OUT
#undef QNNC_C_OUT
#undef QNNC_FN
