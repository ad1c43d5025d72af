/*
 * qnnc_log_softmax_s8 - int8 LogSoftmax over the last axis in integer arithmetic (output scale
 * 16/256, zero point 127, as TFLite's int8 LOG_SOFTMAX): max subtraction, the exp table's sum in
 * fixed point, log2 of the sum from its leading bit and a 256-entry table of the next 8 bits, times
 * ln 2 / output scale. Reference: qnnc/reference/kernels_elementwise.py:log_softmax_s8.
 */
#include "qnnc_internal.h"

/* log2(1 + (j + 0.5) / 256) in Q16 (qnnc/quantize/unary_functions.py:log2_table). */
static const uint16_t qnnc_log2_q16[256] = {
    184u, 552u, 919u, 1284u, 1648u, 2010u, 2371u, 2730u, 3088u, 3445u, 3801u, 4155u,
    4507u, 4859u, 5209u, 5558u, 5906u, 6252u, 6597u, 6941u, 7283u, 7625u, 7965u, 8304u,
    8641u, 8978u, 9313u, 9647u, 9980u, 10312u, 10642u, 10972u, 11300u, 11627u, 11953u, 12278u,
    12602u, 12925u, 13246u, 13567u, 13886u, 14205u, 14522u, 14838u, 15153u, 15467u, 15781u, 16093u,
    16404u, 16714u, 17023u, 17331u, 17637u, 17943u, 18248u, 18552u, 18856u, 19158u, 19459u, 19759u,
    20058u, 20356u, 20654u, 20950u, 21245u, 21540u, 21834u, 22126u, 22418u, 22709u, 22999u, 23288u,
    23577u, 23864u, 24150u, 24436u, 24721u, 25005u, 25288u, 25570u, 25852u, 26132u, 26412u, 26691u,
    26969u, 27246u, 27523u, 27798u, 28073u, 28347u, 28620u, 28893u, 29164u, 29435u, 29706u, 29975u,
    30244u, 30511u, 30778u, 31045u, 31310u, 31575u, 31839u, 32103u, 32365u, 32627u, 32888u, 33149u,
    33409u, 33668u, 33926u, 34184u, 34441u, 34697u, 34952u, 35207u, 35461u, 35715u, 35968u, 36220u,
    36471u, 36722u, 36972u, 37222u, 37470u, 37719u, 37966u, 38213u, 38459u, 38705u, 38950u, 39194u,
    39438u, 39681u, 39923u, 40165u, 40406u, 40647u, 40887u, 41126u, 41365u, 41603u, 41841u, 42077u,
    42314u, 42550u, 42785u, 43019u, 43253u, 43487u, 43720u, 43952u, 44184u, 44415u, 44646u, 44876u,
    45105u, 45334u, 45562u, 45790u, 46018u, 46244u, 46471u, 46696u, 46921u, 47146u, 47370u, 47593u,
    47816u, 48039u, 48261u, 48482u, 48703u, 48924u, 49143u, 49363u, 49582u, 49800u, 50018u, 50235u,
    50452u, 50668u, 50884u, 51100u, 51315u, 51529u, 51743u, 51956u, 52169u, 52382u, 52594u, 52805u,
    53016u, 53227u, 53437u, 53647u, 53856u, 54064u, 54273u, 54481u, 54688u, 54895u, 55101u, 55307u,
    55513u, 55718u, 55922u, 56127u, 56330u, 56534u, 56737u, 56939u, 57141u, 57343u, 57544u, 57745u,
    57945u, 58145u, 58344u, 58543u, 58742u, 58940u, 59138u, 59335u, 59532u, 59729u, 59925u, 60121u,
    60316u, 60511u, 60706u, 60900u, 61094u, 61287u, 61480u, 61672u, 61865u, 62056u, 62248u, 62439u,
    62629u, 62820u, 63010u, 63199u, 63388u, 63577u, 63765u, 63953u, 64141u, 64328u, 64515u, 64701u,
    64887u, 65073u, 65259u, 65444u,
};

/* Position of the highest set bit of s > 0. */
static int32_t qnnc_leading_bit(uint32_t s)
{
    int32_t k = 0;
    while (s > 1u) {
        s >>= 1;
        ++k;
    }
    return k;
}

void qnnc_log_softmax_s8(const qnnc_log_softmax_params *params, int32_t rows, int32_t cols,
                         const uint32_t *exp_lut, const int8_t *input, int8_t *output)
{
    const int64_t diff_mult = params->diff_multiplier, log_mult = params->log_multiplier;
    const int64_t half = (int64_t)1 << 15;
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const int8_t *in_row = input + r * cols;
        int8_t *out_row = output + r * cols;
        int32_t max = -128, k, idx;
        uint32_t sum = 0u;
        int64_t l_q16, log_term;

        for (i = 0; i < cols; ++i) {
            if (in_row[i] > max) {
                max = in_row[i];
            }
        }
        for (i = 0; i < cols; ++i) {
            sum += exp_lut[max - in_row[i]]; /* cols * 2^exp_bits < 2^31: no wrap */
        }
        if (sum == 0u) {
            sum = 1u; /* impossible with a valid table (exp_lut[0] = 2^exp_bits) */
        }
        k = qnnc_leading_bit(sum);
        idx = (int32_t)((k >= 8 ? (sum >> (k - 8)) : (sum << (8 - k))) & 255u);
        l_q16 = (int64_t)(k - params->exp_bits) * 65536 + qnnc_log2_q16[idx];
        if (l_q16 < 0) {
            l_q16 = 0;
        }
        log_term = (l_q16 * log_mult + half) >> 16; /* non-negative: the shift is exact floor */
        for (i = 0; i < cols; ++i) {
            const int64_t t = (int64_t)(max - in_row[i]) * diff_mult + log_term;
            const int64_t q = (int64_t)params->output_offset - ((t + half) >> 16);
            out_row[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
        }
    }
}
