"""The generated C API of models with several inputs or outputs.

Single-I/O models keep ``<name>_invoke(ctx, input, output)`` (c_emitter.py, unchanged). A model with
more than one input or output gets, in graph order, one pointer per input and one per output, named
after the ONNX tensors (made into C identifiers), per-tensor macros
``<NAME>_INPUT_<T>_{INDEX,SIZE,BYTES,BITS,SCALE,ZERO_POINT,RANK,SHAPE}`` (and ``_OUTPUT_``), and
``<name>_invoke_io`` taking the pointers in two arrays. An input is int8, or int16 (zero point 0)
when every layer reading it runs with int16 activations; outputs are int8, except an ArgMax / TopK
index over more than 127 entries, which is int16 (the index itself).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

from ..qmodel import QModel, QTensor
from .c_format import c_float, unused_arena_line

# ``e`` below is c_emitter's _Emitter (not imported: c_emitter imports this module).

_C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "bool",
    "true", "false", "NULL", "asm", "class", "new", "delete", "this", "template", "namespace", "operator",
}
# Names the generated function bodies use themselves.
_RESERVED = {"ctx", "arena", "inputs", "outputs", "user", "size", "io_in", "io_out", "scratch", "int8_t", "int16_t",
             "int32_t", "uint8_t", "uint32_t", "size_t", "uintptr_t", "main"}


def c_identifier(name: str) -> str:
    """An ONNX tensor name as a C identifier: other characters become '_', a leading digit gets 't'."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    ident = re.sub(r"_+", "_", ident).strip("_") or "t"
    if ident[0].isdigit():
        ident = "t" + ident
    return ident[:48]


def api_names(model: QModel) -> Tuple[List[str], List[str]]:
    """C parameter names of the inputs and the outputs (graph order), unique and not reserved.
    Macros use the same names upper-cased (``<NAME>_INPUT_<T>_SIZE``), also unique."""
    taken: Dict[str, int] = {}

    def unique(base: str) -> str:
        cand = base
        k = 1
        while cand.lower() in taken or cand.lower() in _RESERVED or cand in _C_KEYWORDS:
            k += 1
            cand = f"{base}_{k}"
        taken[cand.lower()] = 1
        return cand

    ins = [unique(c_identifier(t)) for t in model.inputs]
    outs = [unique(c_identifier(t)) for t in model.api_output_names]  # one parameter list: names unique across both
    return ins, outs


def _ctype(t: QTensor, uint8: bool = False) -> str:
    return "uint8_t" if uint8 else ("int16_t" if t.bits == 16 else "int8_t")


def _shape(shape) -> str:
    return "{" + ", ".join(str(int(d)) for d in shape) + "}"


def _tensor_macros(P: str, kind: str, k: int, onnx_name: str, ident: str, t: QTensor, uint8: bool = False,
                   rows: int = 0, values: bool = False) -> str:
    """The macros of one API tensor; ``rows``: the tensor is token ids of tables of at most that many rows;
    ``values``: an integer value input (a mask), its int8 the value itself."""
    M = f"{P}_{kind}_{ident.upper()}"
    what = "int16 (zero point 0)" if t.bits == 16 else "int8"
    if uint8:  # the caller's bytes; the int8 value inside is byte - 128
        what = "uint8 (bytes as the ONNX model takes them; the int8 value is byte - 128)"
    if values:  # frontend/value_inputs.py
        what = "int8, the integer value itself (a mask's 0 / 1; the model's values beyond -128..127 clamped)"
    if rows:  # frontend/index_inputs.py
        what = (f"int16 token ids, the id itself (0..{rows - 1} for the largest table; below 0 counts from "
                "the end, outside a table clamped to it)")
    return (f"/* {kind.lower()} {k}: '{_safe(onnx_name)}' {list(t.shape)}, {what} */\n"
            + (f"#define {M}_UINT8 1\n" if uint8 else "")
            + (f"#define {M}_TABLE_ROWS {rows}\n" if rows else "") +
            f"#define {M}_INDEX {k}\n"
            f"#define {M}_SIZE {t.size}\n"
            f"#define {M}_BYTES {t.nbytes}\n"
            f"#define {M}_BITS {t.bits}\n"
            f"#define {M}_SCALE {c_float(t.scale)}\n"
            f"#define {M}_ZERO_POINT ({t.zero_point + (128 if uint8 else 0)})\n"
            f"#define {M}_RANK {len(t.shape)}\n"
            f"#define {M}_SHAPE {_shape(t.shape)}\n")


def _safe(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text).replace("*/", "* /").replace("/*", "/ *")


def _params(e: Any, float_api: bool) -> str:
    m = e.m
    ins, outs = api_names(m)
    args = [f"const {'float' if float_api else _ctype(t, name in m.uint8_inputs)} *{n}"
            for n, t, name in zip(ins, m.input_tensors, m.inputs)]
    args += [f"{'float' if float_api else _ctype(t)} *{n}" for n, t in zip(outs, m.output_tensors)]
    return ", ".join(args)


def header(e: Any, banner: str) -> str:
    """``<name>.h``; ``banner`` is c_emitter's generated-file comment."""
    m, p, P = e.m, e.p, e.P
    ins, outs = api_names(m)
    ext = e.plan.external_input
    macros = "\n".join(
        [_tensor_macros(P, "INPUT", k, name, ident, m.tensors[name], name in m.uint8_inputs,
                        m.index_inputs.get(name, 0), name in m.value_inputs)
         for k, (name, ident) in enumerate(zip(m.inputs, ins))]
        + [_tensor_macros(P, "OUTPUT", k, name, ident, t) for k, (name, ident, t) in
           enumerate(zip(m.api_output_names, outs, m.output_tensors))])
    in_note = ("\n * The inputs are read in place (execution.input_in_arena: false): keep them unchanged until "
               "this returns.") if ext else ""
    f32 = "" if ext else (
        f"/* Same on float tensors, quantizing the inputs and dequantizing the outputs. */\n"
        f"#define {P}_HAS_F32_API 1\n"
        f"int {p}_invoke_f32({p}_ctx *ctx, {_params(e, True)});\n")
    run_f32 = "" if ext else f"int {p}_run_f32({_params(e, True)});\n"
    guard = f"{P}_H"
    return f"""{banner}#ifndef {guard}
#define {guard}

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* {len(m.inputs)} input(s) and {len(m.outputs)} output(s), in graph order, in the model's own layout; each
 * named after its ONNX tensor. SIZE counts elements, BYTES bytes; value = (q - ZERO_POINT) * SCALE. */
#define {P}_INPUT_COUNT {len(m.inputs)}
#define {P}_OUTPUT_COUNT {len(m.outputs)}

{macros}
{e.context_declarations()}/* Run on quantized inputs; writes every output ({P}_OUTPUT_<name>_SIZE values each, of its _BITS). Inputs, then
 * outputs, in graph order. Returns 0, or -1 on bad arguments (a NULL pointer).{in_note} */
int {p}_invoke({p}_ctx *ctx, {_params(e, False)});
/* The same with the pointers in arrays indexed by {P}_INPUT_<name>_INDEX / {P}_OUTPUT_<name>_INDEX
 * (int8_t, int16_t or uint8_t data as {P}_INPUT_<name>_BITS / _UINT8 say; outputs int8_t, or int16_t
 * where {P}_OUTPUT_<name>_BITS is 16). */
int {p}_invoke_io({p}_ctx *ctx, const void *const *inputs, void *const *outputs);
{f32}
/* Convenience forms using a static arena (not re-entrant). Define QNNC_NO_DEFAULT_ARENA or
 * {P}_NO_DEFAULT_ARENA to leave it out; define QNNC_ARENA_SECTION to place it in a section. */
int {p}_run({_params(e, False)});
{run_f32}
#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""


def external_index(e: Any, tensor: str) -> int:
    """Which input's caller buffer holds ``tensor`` (an input, or a view of one)."""
    buf = e.plan.tensor_buffer[tensor]
    return next(k for k, name in enumerate(e.m.inputs) if e.plan.tensor_buffer[name] == buf)


def forward_signature(e: Any) -> str:
    return f"static void {e.p}_forward(const {e.p}_ctx *ctx, const int8_t *const *inputs)"


def source_api(e: Any) -> str:
    """Everything of ``<name>.c`` after ``<name>_forward`` (init, invoke forms, run forms)."""
    m, p, P = e.m, e.p, e.P
    ins, outs = api_names(m)
    ext = e.plan.external_input
    n_in, n_out = len(m.inputs), len(m.outputs)
    nulls = " || ".join([f"{n} == NULL" for n in ins + outs])
    in_offs = [e.plan.offset(t) for t in m.inputs]
    out_offs = [e.plan.offset(t) for t in m.outputs]
    M_in = [f"{P}_INPUT_{n.upper()}" for n in ins]
    M_out = [f"{P}_OUTPUT_{n.upper()}" for n in outs]

    copy_in = "" if ext else "".join(
        f"    {p}_copy_u8(arena + {off}, (const uint8_t *)inputs[{k}], {M}_SIZE);\n" if name in m.uint8_inputs else
        f"    qnnc_copy_s8(arena + {off}, (const int8_t *)inputs[{k}], {M}_BYTES);\n"
        for k, (off, M, name) in enumerate(zip(in_offs, M_in, m.inputs)))
    copy_out = "".join(f"    qnnc_copy_s8((int8_t *)outputs[{k}], arena + {off}, {M}_BYTES);\n"
                       for k, (off, M) in enumerate(zip(out_offs, M_out)))
    in_ptrs = "\n".join(f"    in[{k}] = (const int8_t *)inputs[{k}];" for k in range(n_in))
    io_nulls = " || ".join([f"inputs[{k}] == NULL" for k in range(n_in)] +
                           [f"outputs[{k}] == NULL" for k in range(n_out)])
    arrays = (f"    const void *io_in[{n_in}];\n    void *io_out[{n_out}];\n"
              + "".join(f"    io_in[{k}] = {n};\n" for k, n in enumerate(ins))
              + "".join(f"    io_out[{k}] = {n};\n" for k, n in enumerate(outs)))
    call_args = ", ".join(ins + outs)

    quant_in = []
    for off, M, t, name in zip(in_offs, M_in, m.input_tensors, m.inputs):
        if name in m.uint8_inputs:  # float 0..255 -> int8: the macros describe the bytes (zero point + 128)
            quant_in.append(f"    qnnc_quantize_f32_s8({M}_SIZE, {M}_SCALE, {M}_ZERO_POINT - 128, {{in}}, arena + {off});")
        elif t.bits == 16:
            quant_in.append(f"    {p}_quantize_f32_s16({M}_SIZE, {M}_SCALE, {{in}}, (int16_t *)(void *)(arena + {off}));")
        else:
            quant_in.append(f"    qnnc_quantize_f32_s8({M}_SIZE, {M}_SCALE, {M}_ZERO_POINT, {{in}}, arena + {off});")
    quant_in = "\n".join(q.format(**{"in": n}) for q, n in zip(quant_in, ins))
    deq_out = "\n".join(
        f"    {p}_dequantize_s16_f32({M}_SIZE, {M}_SCALE, (const int16_t *)(const void *)(arena + {off}), {n});"
        if t.bits == 16 else f"    qnnc_dequantize_s8_f32({M}_SIZE, {M}_SCALE, {M}_ZERO_POINT, arena + {off}, {n});"
        for n, off, M, t in zip(outs, out_offs, M_out, m.output_tensors))
    s16_out_helper = "" if ext or not any(t.bits == 16 for t in m.output_tensors) else f"""
/* int16 (zero point 0) -> float: an int16 output (a wide ArgMax / TopK index). */
static void {p}_dequantize_s16_f32(int32_t size, float scale, const int16_t *input, float *output)
{{
    int32_t i;
    for (i = 0; i < size; ++i) {{
        output[i] = (float)input[i] * scale;
    }}
}}
"""
    s16_helper = "" if ext or not any(t.bits == 16 for t in m.input_tensors) else f"""
/* float -> int16 (zero point 0), rounding half away from zero, saturating (no libm). */
static void {p}_quantize_f32_s16(int32_t size, float scale, const float *input, int16_t *output)
{{
    int32_t i;
    for (i = 0; i < size; ++i) {{
        float v = input[i] / scale;
        int32_t r;
        if (v != v) {{
            v = 0.0f;
        }}
        v = v < -65536.0f ? -65536.0f : (v > 65536.0f ? 65536.0f : v);
        r = (int32_t)(v + (v >= 0.0f ? 0.5f : -0.5f));
        output[i] = (int16_t)(r < -32768 ? -32768 : (r > 32767 ? 32767 : r));
    }}
}}
"""
    f32 = "" if ext else f"""{s16_helper}{s16_out_helper}
int {p}_invoke_f32({p}_ctx *ctx, {_params(e, True)})
{{
    int8_t *arena;
    if (ctx == NULL || ctx->arena == NULL || {nulls}) {{
        return -1;
    }}
    arena = ctx->arena;
{quant_in}
    {p}_forward(ctx, NULL);
{deq_out}
    return 0;
}}
"""
    run_f32 = "" if ext else f"""
int {p}_run_f32({_params(e, True)})
{{
    {p}_ctx ctx;
    (void){p}_init(&ctx, {p}_arena, sizeof {p}_arena);
    return {p}_invoke_f32(&ctx, {call_args});
}}
"""
    u8_helper = "" if not m.uint8_inputs else f"""
/* uint8 bytes -> the int8 values the kernels read (scale 1, zero point -128: byte - 128). */
static void {p}_copy_u8(int8_t *dst, const uint8_t *src, int32_t size)
{{
    int32_t i;
    for (i = 0; i < size; ++i) {{
        dst[i] = (int8_t)((int32_t)src[i] - 128);
    }}
}}
"""
    return f"""{u8_helper}
{e.init_definition()}
int {p}_invoke_io({p}_ctx *ctx, const void *const *inputs, void *const *outputs)
{{
    int8_t *arena;
    const int8_t *in[{n_in}];
    if (ctx == NULL || ctx->arena == NULL || inputs == NULL || outputs == NULL) {{
        return -1;
    }}
    if ({io_nulls}) {{
        return -1;
    }}
    arena = ctx->arena;
{in_ptrs}
{copy_in}    {p}_forward(ctx, in);
{copy_out}    return 0;
}}

int {p}_invoke({p}_ctx *ctx, {_params(e, False)})
{{
{arrays}    return {p}_invoke_io(ctx, io_in, io_out);
}}
{f32}
#if !defined(QNNC_NO_DEFAULT_ARENA) && !defined({P}_NO_DEFAULT_ARENA)
static int8_t {p}_arena[{P}_ARENA_SIZE] QNNC_ARENA_ATTR;

int {p}_run({_params(e, False)})
{{
    {p}_ctx ctx;
    (void){p}_init(&ctx, {p}_arena, sizeof {p}_arena);
    return {p}_invoke(&ctx, {call_args});
}}
{run_f32}#endif
"""


def source(e: Any, banner: str) -> str:
    """``<name>.c`` of a multi-I/O model: as the single-I/O file, with the API of :func:`source_api`."""
    p = e.p
    ext = e.plan.external_input
    externs = "\n".join(e.externs)
    statics = "\n".join(e.statics)
    body = "\n".join(e.body)
    scratch = e.scratch_declaration()
    return f"""{banner}#include "{p}.h"

#include "qnnc_kernels.h"

/* Per-layer hooks for profiling and tracing, e.g. on Zephyr:
 *   #define QNNC_LAYER_END(model, index) my_record(model, index, k_cycle_get_32())
 * Define them on the compiler command line; by default they compile to nothing. */
#ifndef QNNC_LAYER_BEGIN
#define QNNC_LAYER_BEGIN(model, index) ((void)0)
#endif
#ifndef QNNC_LAYER_END
#define QNNC_LAYER_END(model, index) ((void)0)
#endif

/* Constant data, defined in {p}_weights.c (flash). */
{externs}

/* Kernel parameters: compile-time constants, in flash. */
{statics}
{e.scratch_define()}
{forward_signature(e)}
{{
    int8_t *arena = ctx->arena;
{scratch}
{"    (void)inputs; /* the inputs were copied into the arena */" if not ext else ""}{unused_arena_line(scratch + body)}
{body}
}}
{source_api(e)}"""
