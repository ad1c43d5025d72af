/*
 * qnnc_embedding_s8 - an embedding lookup by token ids: one row of an int8 table per id.
 * Body: qnnc_embedding_impl.h. Reference: qnnc/reference/kernels_movement.py:embedding.
 */
#include "qnnc_internal.h"

#define QNNC_T int8_t
#define QNNC_FN qnnc_embedding_s8
#include "qnnc_embedding_impl.h"
