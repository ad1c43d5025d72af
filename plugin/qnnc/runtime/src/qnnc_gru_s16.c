/*
 * qnnc_gru_s16 - one direction of an ONNX GRU (batch 1, default activations, linear_before_reset
 * 0 or 1) with int16 input, hidden state and output (16x8: int8 per-row weights, int64 gate sums,
 * 16x8 requantization to Q3.12). Gates and tables are qnnc_gru_s8's.
 * Reference: qnnc/reference/kernels_s16_recurrent.py (bit-exact).
 */
#include "qnnc_internal.h"
#include "qnnc_recurrent_internal.h"

void qnnc_gru_s16(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights,
                  const int16_t *initial_h, const int16_t *input, int16_t *output, void *scratch)
{
    const int32_t T = params->time_steps;
    const int32_t D = params->input_size;
    const int32_t H = params->hidden_size;
    const int32_t *rm = weights->recurrent_quant.multiplier;
    const int32_t *rs = weights->recurrent_quant.shift;
    const int8_t *rw = weights->recurrent_weights;
    const int32_t *rb = weights->recurrent_bias;
    const int8_t *rw_n = rw + (size_t)2 * (size_t)H * (size_t)H;
    int16_t *gates = (int16_t *)scratch; /* [4H]: z, r, n (input side), n (recurrent side) */
    int16_t *h = gates + 4 * H;          /* [H] */
    int16_t *rh = h + H;                 /* [H]: r * h (linear_before_reset 0) */
    int32_t s;
    int32_t j;

    for (j = 0; j < H; ++j) {
        h[j] = initial_h[j];
    }
    for (s = 0; s < T; ++s) {
        const int32_t t = params->reverse ? T - 1 - s : s;
        qnnc_rec_rows_s16(weights->input_weights, weights->input_bias, weights->input_quant.multiplier,
                          weights->input_quant.shift, 3 * H, D, input + (size_t)t * (size_t)D, gates, 0);
        qnnc_rec_rows_s16(rw, rb, rm, rs, 2 * H, H, h, gates, 1);
        if (params->linear_before_reset) {
            qnnc_rec_rows_s16(rw_n, rb + 2 * H, rm + 2 * H, rs + 2 * H, H, H, h, gates + 3 * H, 0);
        } else {
            for (j = 0; j < H; ++j) {
                const int32_t r_g = qnnc_rec_act(weights->sigmoid_lut, gates[H + j]);
                rh[j] = (int16_t)qnnc_rec_sat16(qnnc_rounding_divide_by_pot(r_g * (int32_t)h[j], 15));
            }
            qnnc_rec_rows_s16(rw_n, rb + 2 * H, rm + 2 * H, rs + 2 * H, H, H, rh, gates + 3 * H, 0);
        }
        for (j = 0; j < H; ++j) {
            const int32_t z_g = qnnc_rec_act(weights->sigmoid_lut, gates[j]);
            const int32_t r_g = qnnc_rec_act(weights->sigmoid_lut, gates[H + j]);
            const int32_t hx = (int32_t)gates[3 * H + j];
            const int32_t n_pre = params->linear_before_reset
                                      ? qnnc_rec_sat16((int32_t)gates[2 * H + j] + qnnc_rounding_divide_by_pot(r_g * hx, 15))
                                      : qnnc_rec_sat16((int32_t)gates[2 * H + j] + hx);
            const int32_t n_g = qnnc_rec_act(weights->tanh_lut, n_pre);
            /* z * h and (1 - z) * n are below 2^30 in magnitude: int32 */
            const int32_t hv = qnnc_rounding_divide_by_pot(z_g * (int32_t)h[j], 15) +
                               qnnc_requantize((32768 - z_g) * n_g, params->hidden_multiplier, params->hidden_shift);
            h[j] = (int16_t)qnnc_rec_sat16(hv);
            if (params->output_mode == 0) {
                output[(size_t)t * (size_t)params->output_stride + (size_t)j] = h[j];
            }
        }
    }
    if (params->output_mode != 0) {
        for (j = 0; j < H; ++j) {
            output[j] = h[j];
        }
    }
}
