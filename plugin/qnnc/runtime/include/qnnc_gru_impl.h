/*
 * qnnc_gru_impl.h - the body of qnnc_gru_s8 / _s16, written once for both activation types: one
 * direction of an ONNX GRU (batch 1, default activations, linear_before_reset 0 or 1); the gate
 * rows, tables and the per-unit update are in qnnc_recurrent_internal.h.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (activation type),
 * QNNC_INITIAL_H_PARAM (extra parameters before input, e.g. `const int16_t *initial_h,`, or
 * nothing), QNNC_INITIAL_H (the initial hidden state), QNNC_ROWS (qnnc_rec_rows or
 * qnnc_rec_rows_s16), QNNC_ZH (the hidden zero point), QNNC_H_SAT(v) (v saturated to QNNC_T) and
 * QNNC_FN (the function name), then includes this file, which defines the function and undefines
 * them.
 */
void QNNC_FN(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights, QNNC_INITIAL_H_PARAM
             const QNNC_T *input, QNNC_T *output, void *scratch)
{
    const int32_t T = params->time_steps;
    const int32_t D = params->input_size;
    const int32_t H = params->hidden_size;
    const int32_t zh = QNNC_ZH;
    const int32_t *rm = weights->recurrent_quant.multiplier;
    const int32_t *rs = weights->recurrent_quant.shift;
    const int8_t *rw = weights->recurrent_weights;
    const int32_t *rb = weights->recurrent_bias;
    const int8_t *rw_n = rw + (size_t)2 * (size_t)H * (size_t)H;
    int16_t *gates = (int16_t *)scratch;     /* [4H]: z, r, n (input side), n (recurrent side) */
    QNNC_T *h = (QNNC_T *)(gates + 4 * H);   /* [H] */
    QNNC_T *rh = h + H;                      /* [H]: r * h (linear_before_reset 0) */
    int32_t s;
    int32_t j;

    for (j = 0; j < H; ++j) {
        h[j] = QNNC_INITIAL_H[j];
    }
    for (s = 0; s < T; ++s) {
        const int32_t t = params->reverse ? T - 1 - s : s;
        QNNC_ROWS(weights->input_weights, weights->input_bias, weights->input_quant.multiplier,
                  weights->input_quant.shift, 3 * H, D, input + (size_t)t * (size_t)D, gates, 0);
        QNNC_ROWS(rw, rb, rm, rs, 2 * H, H, h, gates, 1);
        if (params->linear_before_reset) {
            QNNC_ROWS(rw_n, rb + 2 * H, rm + 2 * H, rs + 2 * H, H, H, h, gates + 3 * H, 0);
        } else {
            for (j = 0; j < H; ++j) {
                const int32_t r_g = qnnc_rec_act(weights->sigmoid_lut, gates[H + j]);
                rh[j] = QNNC_H_SAT(qnnc_rounding_divide_by_pot(r_g * ((int32_t)h[j] - zh), 15) + zh);
            }
            QNNC_ROWS(rw_n, rb + 2 * H, rm + 2 * H, rs + 2 * H, H, H, rh, gates + 3 * H, 0);
        }
        for (j = 0; j < H; ++j) {
            h[j] = QNNC_H_SAT(zh + qnnc_gru_unit(params, weights, gates, H, j, (int32_t)h[j] - zh));
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

#undef QNNC_T
#undef QNNC_INITIAL_H_PARAM
#undef QNNC_INITIAL_H
#undef QNNC_ROWS
#undef QNNC_ZH
#undef QNNC_H_SAT
#undef QNNC_FN
