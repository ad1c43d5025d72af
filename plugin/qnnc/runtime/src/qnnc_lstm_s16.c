/*
 * qnnc_lstm_s16 - one direction of an ONNX LSTM (batch 1, default activations) with int16 input,
 * hidden state and output (16x8: int8 per-row weights, int64 gate sums, 16x8 requantization to
 * Q3.12). Gates, tables and the int16 cell state are qnnc_lstm_s8's.
 * Reference: qnnc/reference/kernels_s16_recurrent.py (bit-exact).
 */
#include "qnnc_internal.h"
#include "qnnc_recurrent_internal.h"

void qnnc_lstm_s16(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights,
                   const int16_t *initial_h, const int16_t *input, int16_t *output, void *scratch)
{
    const int32_t T = params->time_steps;
    const int32_t D = params->input_size;
    const int32_t H = params->hidden_size;
    const int32_t cs = params->cell_shift;
    int16_t *gates = (int16_t *)scratch; /* [4H]: i, o, f, c */
    int16_t *cell = gates + 4 * H;       /* [H] */
    int16_t *h = cell + H;               /* [H] */
    int32_t s;
    int32_t j;

    for (j = 0; j < H; ++j) {
        h[j] = initial_h[j];
        cell[j] = weights->initial_c != NULL ? weights->initial_c[j] : 0;
    }
    for (s = 0; s < T; ++s) {
        const int32_t t = params->reverse ? T - 1 - s : s;
        qnnc_rec_rows_s16(weights->input_weights, weights->input_bias, weights->input_quant.multiplier,
                          weights->input_quant.shift, 4 * H, D, input + (size_t)t * (size_t)D, gates, 0);
        qnnc_rec_rows_s16(weights->recurrent_weights, weights->recurrent_bias, weights->recurrent_quant.multiplier,
                          weights->recurrent_quant.shift, 4 * H, H, h, gates, 1);
        for (j = 0; j < H; ++j) {
            const int32_t i_g = qnnc_rec_act(weights->sigmoid_lut, gates[j]);
            const int32_t o_g = qnnc_rec_act(weights->sigmoid_lut, gates[H + j]);
            const int32_t f_g = qnnc_rec_act(weights->sigmoid_lut, gates[2 * H + j]);
            const int32_t g_g = qnnc_rec_act(weights->tanh_lut, gates[3 * H + j]);
            const int32_t c = qnnc_rec_sat16(qnnc_rounding_divide_by_pot(f_g * (int32_t)cell[j], 15) +
                                             qnnc_rounding_divide_by_pot(i_g * g_g, 30 - cs));
            const int32_t tin = cs >= 12 ? qnnc_rounding_divide_by_pot(c, cs - 12)
                                         : qnnc_rec_sat16(c * (1 << (12 - cs)));
            /* o * tanh(c) is Q0.30 (below 2^30 in magnitude): the int32 requantization to h */
            const int32_t hv = qnnc_requantize(o_g * qnnc_rec_act(weights->tanh_lut, tin), params->hidden_multiplier,
                                               params->hidden_shift);
            cell[j] = (int16_t)c;
            h[j] = (int16_t)qnnc_rec_sat16(hv);
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
            output[j] = (int16_t)qnnc_rec_sat16(
                qnnc_requantize(cell[j], params->cell_out_multiplier, params->cell_out_shift));
        }
    }
}
