/*
 * qnnc_embedding_impl.h - the body of qnnc_embedding_s8 / _s16 (an embedding lookup: one table
 * row per token id), written once for both element types.
 *
 * Internal to the kernel library: a kernel source defines QNNC_T (table and output element type)
 * and QNNC_FN (the function name), then includes this file, which defines the function and
 * undefines them.
 */
void QNNC_FN(int32_t count, int32_t rows, int32_t row_size, const QNNC_T *table, const int16_t *ids,
             QNNC_T *output)
{
    int32_t i, j;
    for (i = 0; i < count; ++i) {
        int32_t id = ids[i];
        if (id < 0) {
            id += rows; /* ONNX Gather: an index below 0 counts from the end */
        }
        /* ONNX leaves an index outside the table undefined: clamped, never read outside it */
        id = id < 0 ? 0 : (id >= rows ? rows - 1 : id);
        for (j = 0; j < row_size; ++j) {
            output[j] = table[id * row_size + j];
        }
        output += row_size;
    }
}

#undef QNNC_T
#undef QNNC_FN
