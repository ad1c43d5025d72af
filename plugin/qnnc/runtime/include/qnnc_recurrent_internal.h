/*
 * qnnc_recurrent_internal.h - what the LSTM and GRU kernels (_s8 and _s16) share: int16 saturation,
 * TFLite's interpolated 513-entry int16 activation table, the gate rows (an int8 matrix-vector
 * product requantized to int16 Q3.12) and the per-unit cell updates, which do not depend on the
 * activation type. Reference: qnnc/reference/kernels_recurrent.py (bit-exact).
 */
#ifndef QNNC_RECURRENT_INTERNAL_H
#define QNNC_RECURRENT_INTERNAL_H

#include "qnnc_internal.h"
#include "qnnc_dot_s16_dsp.h"
#include "qnnc_dot_s16_mve.h"

static inline int32_t qnnc_rec_sat16(int32_t v)
{
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/* TFLite's int16 LUT: 513 entries, linear interpolation (the tables are non-decreasing). */
static inline int32_t qnnc_rec_act(const int16_t *lut, int32_t v)
{
    const int32_t u = v + 32768; /* [0, 65535] */
    const int32_t idx = u >> 7;
    const int32_t base = lut[idx];
    const int32_t slope = (int32_t)lut[idx + 1] - base;
    return base + ((slope * (u & 127) + 64) >> 7);
}

/* out[r] (+)= sat16(requant(bias[r] + sum_k w[r][k] v[k])) for r < rows, saturating the sum. */
static inline void qnnc_rec_rows(const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                 int32_t rows, int32_t cols, const int8_t *v, int16_t *out, int32_t add)
{
    int32_t r;
    for (r = 0; r < rows; ++r) {
        const int8_t *row = w + (size_t)r * (size_t)cols;
        int32_t acc = bias[r];
        int32_t k;
        int32_t val;
        for (k = 0; k < cols; ++k) {
            acc += (int32_t)row[k] * (int32_t)v[k];
        }
        val = qnnc_rec_sat16(qnnc_requantize(acc, mult[r], shift[r]));
        out[r] = (int16_t)(add ? qnnc_rec_sat16((int32_t)out[r] + val) : val);
    }
}

/* int16 activations (qnnc_lstm_s16 / qnnc_gru_s16): out[r] (+)= sat16(requant_s64(bias[r] + sum_k w[r][k] v[k]))
 * with int64 sums (the quantizer keeps them below 2^47) and the 16x8 requantization. The sums are
 * exact on every path, so the paths agree bit for bit: two rows per pass with SMLALD on DSP cores
 * (qnnc_dot_s16_dsp.h), four with VMLADAVA on Helium (qnnc_dot_s16_mve.h), else one at a time. */
static inline void qnnc_rec_row_out_s16(int64_t acc, int32_t mult, int32_t shift, int16_t *out, int32_t add)
{
    const int64_t q = qnnc_requantize_s64(acc, mult, shift);
    const int32_t val = q < -32768 ? -32768 : (q > 32767 ? 32767 : (int32_t)q);
    *out = (int16_t)(add ? qnnc_rec_sat16((int32_t)*out + val) : val);
}

static inline void qnnc_rec_rows_s16(const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                     int32_t rows, int32_t cols, const int16_t *v, int16_t *out, int32_t add)
{
    int32_t r = 0;
#if QNNC_PATH_DSP
    for (; r + 1 < rows; r += 2) {
        int64_t acc[2];
        acc[0] = bias[r];
        acc[1] = bias[r + 1];
        qnnc_dot2_s16_s8_dsp(v, w + (size_t)r * (size_t)cols, cols, cols, acc);
        qnnc_rec_row_out_s16(acc[0], mult[r], shift[r], out + r, add);
        qnnc_rec_row_out_s16(acc[1], mult[r + 1], shift[r + 1], out + r + 1, add);
    }
#elif QNNC_PATH_MVE
    for (; r + 3 < rows; r += 4) {
        const int8_t *wj[4];
        int64_t acc[4];
        int32_t j;
        for (j = 0; j < 4; ++j) {
            wj[j] = w + (size_t)(r + j) * (size_t)cols;
            acc[j] = bias[r + j];
        }
        qnnc_dot4_s16_s8_mve(v, wj, cols, acc);
        for (j = 0; j < 4; ++j) {
            qnnc_rec_row_out_s16(acc[j], mult[r + j], shift[r + j], out + r + j, add);
        }
    }
#endif
    for (; r < rows; ++r) {
        const int64_t acc = (int64_t)bias[r] + qnnc_dot_s16_s8(v, w + (size_t)r * (size_t)cols, cols, 0);
        qnnc_rec_row_out_s16(acc, mult[r], shift[r], out + r, add);
    }
}

/* One LSTM unit j at one step, from the Q3.12 gate pre-activations (i, o, f, c blocks of H): stores
 * the new int16 cell state (at 2^-cell_shift) in cell[j] and returns requant(o * tanh(c)), the
 * hidden value before its zero point and saturation (o * tanh(c) is Q0.30, below 2^30 in
 * magnitude: the int32 requantization). */
static inline int32_t qnnc_lstm_unit(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights,
                                     const int16_t *gates, int32_t H, int32_t j, int16_t *cell)
{
    const int32_t cs = params->cell_shift;
    const int32_t i_g = qnnc_rec_act(weights->sigmoid_lut, gates[j]);
    const int32_t o_g = qnnc_rec_act(weights->sigmoid_lut, gates[H + j]);
    const int32_t f_g = qnnc_rec_act(weights->sigmoid_lut, gates[2 * H + j]);
    const int32_t g_g = qnnc_rec_act(weights->tanh_lut, gates[3 * H + j]);
    const int32_t c = qnnc_rec_sat16(qnnc_rounding_divide_by_pot(f_g * (int32_t)cell[j], 15) +
                                     qnnc_rounding_divide_by_pot(i_g * g_g, 30 - cs));
    const int32_t tin = cs >= 12 ? qnnc_rounding_divide_by_pot(c, cs - 12) : qnnc_rec_sat16(c * (1 << (12 - cs)));
    cell[j] = (int16_t)c;
    return qnnc_requantize(o_g * qnnc_rec_act(weights->tanh_lut, tin), params->hidden_multiplier,
                           params->hidden_shift);
}

/* One GRU unit j at one step, from the Q3.12 gate pre-activations (z, r, n input side, n recurrent
 * side: blocks of H) and hp, the unit's previous hidden value minus its zero point: returns the new
 * hidden value minus the zero point, before saturation (z * hp and (1 - z) * n are below 2^30 in
 * magnitude: int32). */
static inline int32_t qnnc_gru_unit(const qnnc_recurrent_params *params, const qnnc_recurrent_weights *weights,
                                    const int16_t *gates, int32_t H, int32_t j, int32_t hp)
{
    const int32_t z_g = qnnc_rec_act(weights->sigmoid_lut, gates[j]);
    const int32_t r_g = qnnc_rec_act(weights->sigmoid_lut, gates[H + j]);
    const int32_t hx = (int32_t)gates[3 * H + j];
    const int32_t n_pre = params->linear_before_reset
                              ? qnnc_rec_sat16((int32_t)gates[2 * H + j] + qnnc_rounding_divide_by_pot(r_g * hx, 15))
                              : qnnc_rec_sat16((int32_t)gates[2 * H + j] + hx);
    const int32_t n_g = qnnc_rec_act(weights->tanh_lut, n_pre);
    return qnnc_rounding_divide_by_pot(z_g * hp, 15) +
           qnnc_requantize((32768 - z_g) * n_g, params->hidden_multiplier, params->hidden_shift);
}

#endif
