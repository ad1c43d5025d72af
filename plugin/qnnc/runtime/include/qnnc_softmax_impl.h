/*
 * qnnc_softmax_impl.h - the body of qnnc_softmax_s8 / _s16, written once for both element types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (element type), QNNC_T_MIN
 * (its minimum), QNNC_EXP(exp_lut, d) (the table's uint32 exp of d = max - x), QNNC_OUT(e, sum)
 * (the output value of a row entry; e * scale + sum / 2 must not wrap), QNNC_ZERO_SUM (what a
 * row with sum 0 gets: impossible with a valid table, it avoids / 0), QNNC_PARAMS (the leading
 * parameters, with their comma, or nothing), QNNC_LOCALS (declarations QNNC_OUT reads, or nothing)
 * and QNNC_FN (the function name), then includes this file, which defines the function and
 * undefines them.
 */
void QNNC_FN(QNNC_PARAMS int32_t rows, int32_t cols, const uint32_t *exp_lut, const QNNC_T *input, QNNC_T *output)
{
    QNNC_LOCALS
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const QNNC_T *in_row = input + r * cols;
        QNNC_T *out_row = output + r * cols;
        int32_t max = QNNC_T_MIN;
        uint32_t sum = 0u;

        for (i = 0; i < cols; ++i) {
            if (in_row[i] > max) {
                max = in_row[i];
            }
        }
        for (i = 0; i < cols; ++i) {
            sum += QNNC_EXP(exp_lut, max - in_row[i]);
        }
        if (sum == 0u) {
            for (i = 0; i < cols; ++i) {
                out_row[i] = QNNC_ZERO_SUM;
            }
            continue;
        }
        for (i = 0; i < cols; ++i) {
            const uint32_t e = QNNC_EXP(exp_lut, max - in_row[i]);
            out_row[i] = QNNC_OUT(e, sum);
        }
    }
}

#undef QNNC_T
#undef QNNC_T_MIN
#undef QNNC_EXP
#undef QNNC_OUT
#undef QNNC_ZERO_SUM
#undef QNNC_PARAMS
#undef QNNC_LOCALS
#undef QNNC_FN
