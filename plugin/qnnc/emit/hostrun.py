"""Compile generated C with the host compiler and run it on many inputs (for validate/tests).

The driver reads int8 (or float32) inputs back to back from a file and writes the outputs
the same way, so one process handles a whole data set.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from typing import Optional, Sequence

import numpy as np

from ..errors import QnncError

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "{name}.h"

/* usage: driver int8|f32|ctx IN OUT */
int main(int argc, char **argv)
{{
    static int8_t qin[{P}_INPUT_SIZE], qout[{P}_OUTPUT_SIZE], qout2[{P}_OUTPUT_SIZE];
    static float fin[{P}_INPUT_SIZE], fout[{P}_OUTPUT_SIZE];
    static int8_t arena1[{P}_ARENA_SIZE] __attribute__((aligned(16)));
    static int8_t arena2[{P}_ARENA_SIZE] __attribute__((aligned(16)));
    {name}_ctx c1, c2;
    FILE *fi, *fo;
    int mode;
    if (argc != 4) return 2;
    mode = argv[1][0] == 'f' ? 1 : (argv[1][0] == 'c' ? 2 : 0);
    fi = fopen(argv[2], "rb");
    fo = fopen(argv[3], "wb");
    if (!fi || !fo) return 2;
    if ({name}_init(&c1, arena1, sizeof arena1) || {name}_init(&c2, arena2, sizeof arena2)) return 3;
    for (;;) {{
        if (mode == 1) {{
            if (fread(fin, sizeof(float), {P}_INPUT_SIZE, fi) != {P}_INPUT_SIZE) break;
#ifdef {P}_HAS_F32_API
            if ({name}_run_f32(fin, fout)) return 4;
#else
            return 6; /* no float API: the model reads its int8 input in place */
#endif
            fwrite(fout, sizeof(float), {P}_OUTPUT_SIZE, fo);
        }} else {{
            if (fread(qin, 1, {P}_INPUT_SIZE, fi) != {P}_INPUT_SIZE) break;
            if (mode == 2) {{
                /* Two contexts interleaved: results must not depend on each other. */
                if ({name}_invoke(&c1, qin, qout) || {name}_invoke(&c2, qin, qout2)) return 4;
                {{ int i; for (i = 0; i < {P}_OUTPUT_SIZE; ++i) if (qout[i] != qout2[i]) return 5; }}
            }} else if ({name}_run(qin, qout)) {{
                return 4;
            }}
            fwrite(qout, 1, {P}_OUTPUT_SIZE, fo);
        }}
    }}
    fclose(fi);
    fclose(fo);
    return 0;
}}
"""

WARN_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def compile_driver(gen_dir: str, name: str, out_path: str, sanitize: bool = False, cc: Optional[str] = None,
                   extra_sources: Sequence[str] = (), opt: str = "-O2") -> str:
    """Build the driver executable from a generated folder (which holds its kernels)."""
    cc = cc or os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise QnncError(f"the host C compiler '{cc}' was not found; install gcc or set CC")
    drv = os.path.join(os.path.dirname(out_path), f"{name}_driver.c")
    io = header_io(gen_dir, name)
    with open(drv, "w", encoding="utf-8") as f:
        f.write(multi_driver(name, *io) if io is not None else DRIVER.format(name=name, P=name.upper()))
    sources = sorted(glob.glob(os.path.join(gen_dir, "*.c"))) + list(extra_sources)
    cmd = [cc, opt, *WARN_FLAGS, *(SANITIZE_FLAGS if sanitize else []), "-I", gen_dir, drv, *sources,
           "-o", out_path]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise QnncError(f"compiling the generated C failed:\n{res.stderr.strip()}")
    return out_path


def run_driver(exe: str, inputs: np.ndarray, out_size: int, mode: str = "int8") -> np.ndarray:
    """Feed all inputs through the driver; returns (N, out_size) int8 or float32."""
    dtype = np.float32 if mode == "f32" else np.int8
    with tempfile.TemporaryDirectory(prefix="qnnc-run-") as tmp:
        fin, fout = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
        np.ascontiguousarray(inputs, dtype=dtype).tofile(fin)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
        res = subprocess.run([exe, mode, fin, fout], capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise QnncError(f"the compiled model failed (exit {res.returncode}): {res.stderr.strip()[:2000]}")
        out = np.fromfile(fout, dtype=dtype)
    return out.reshape(inputs.shape[0], out_size)


# -- models with several inputs or outputs (emit/c_multi_io.py) ------------------------------------
def header_io(gen_dir: str, name: str):
    """(input macro names, output macro names) in graph order from a multi-I/O ``<name>.h``, or None
    for a single-I/O model."""
    import re
    P = name.upper()
    with open(os.path.join(gen_dir, f"{name}.h"), encoding="utf-8") as f:
        text = f.read()
    if f"#define {P}_INPUT_COUNT " not in text:
        return None
    found = {}
    for kind, ident, k in re.findall(rf"#define {P}_(INPUT|OUTPUT)_(\w+)_INDEX (\d+)", text):
        found.setdefault(kind, {})[int(k)] = f"{P}_{kind}_{ident}"
    return ([found["INPUT"][k] for k in sorted(found["INPUT"])], [found["OUTPUT"][k] for k in sorted(found["OUTPUT"])])


def multi_driver(name: str, ins: Sequence[str], outs: Sequence[str]) -> str:
    """A driver reading every input of a sample back to back (graph order; int8/int16 bytes, or
    float32) and writing every output back to back (int8 bytes, or float32)."""
    P = name.upper()
    decl = []
    for k, M in enumerate(ins):
        decl.append(f"    static int16_t qin{k}[{M}_SIZE]; static float fin{k}[{M}_SIZE];")
    for k, M in enumerate(outs):
        decl.append(f"    static int16_t qout{k}[{M}_SIZE], qout{k}b[{M}_SIZE]; static float fout{k}[{M}_SIZE];")
    read_q = "\n".join(f"            if (fread(qin{k}, 1, {M}_BYTES, fi) != {M}_BYTES) break;" for k, M in enumerate(ins))
    read_f = "\n".join(f"            if (fread(fin{k}, sizeof(float), {M}_SIZE, fi) != {M}_SIZE) break;"
                        for k, M in enumerate(ins))
    q_args = ", ".join([f"(const void *)qin{k}" for k in range(len(ins))] +
                       [f"(void *)qout{k}" for k in range(len(outs))])  # int8 or int16 outputs
    q_args_b = ", ".join([f"(const void *)qin{k}" for k in range(len(ins))] +
                         [f"(void *)qout{k}b" for k in range(len(outs))])
    f_args = ", ".join([f"fin{k}" for k in range(len(ins))] + [f"fout{k}" for k in range(len(outs))])
    cmp = "\n".join(f"                if (memcmp(qout{k}, qout{k}b, {M}_BYTES) != 0) return 5;"
                     for k, M in enumerate(outs))
    write_q = "\n".join(f"            fwrite(qout{k}, 1, {M}_BYTES, fo);" for k, M in enumerate(outs))
    write_f = "\n".join(f"            fwrite(fout{k}, sizeof(float), {M}_SIZE, fo);" for k, M in enumerate(outs))
    io_in = "\n".join(f"    io_in[{k}] = qin{k};" for k in range(len(ins)))
    io_out = "\n".join(f"    io_out[{k}] = qout{k};" for k in range(len(outs)))
    return f"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "{name}.h"

/* usage: driver int8|f32|ctx|io IN OUT (several inputs/outputs, back to back per sample) */
int main(int argc, char **argv)
{{
{chr(10).join(decl)}
    static int8_t arena1[{P}_ARENA_SIZE] __attribute__((aligned(16)));
    static int8_t arena2[{P}_ARENA_SIZE] __attribute__((aligned(16)));
    const void *io_in[{P}_INPUT_COUNT];
    void *io_out[{P}_OUTPUT_COUNT];
    {name}_ctx c1, c2;
    FILE *fi, *fo;
    int mode;
    if (argc != 4) return 2;
    mode = argv[1][0] == 'f' ? 1 : (argv[1][0] == 'c' ? 2 : (argv[1][0] == 'i' ? 3 : 0));
    fi = fopen(argv[2], "rb");
    fo = fopen(argv[3], "wb");
    if (!fi || !fo) return 2;
    if ({name}_init(&c1, arena1, sizeof arena1) || {name}_init(&c2, arena2, sizeof arena2)) return 3;
{io_in}
{io_out}
    for (;;) {{
        if (mode == 1) {{
{read_f}
#ifdef {P}_HAS_F32_API
            if ({name}_run_f32({f_args})) return 4;
#else
            return 6; /* no float API: the model reads its inputs in place */
#endif
{write_f}
        }} else {{
{read_q}
            if (mode == 2) {{
                /* Two contexts interleaved: results must not depend on each other. */
                if ({name}_invoke(&c1, {q_args}) || {name}_invoke(&c2, {q_args_b})) return 4;
{cmp}
            }} else if (mode == 3) {{
                if ({name}_invoke_io(&c1, io_in, io_out)) return 4;
            }} else if ({name}_run({q_args})) {{
                return 4;
            }}
{write_q}
        }}
    }}
    fclose(fi);
    fclose(fo);
    return 0;
}}
"""


def run_driver_io(exe: str, inputs: Sequence[np.ndarray], output_sizes: Sequence[int], mode: str = "int8",
                  output_bits: Optional[Sequence[int]] = None) -> list:
    """Multi-I/O form of :func:`run_driver`: ``inputs`` one (N, ...) array per model input (int8 or
    int16; float32 for mode f32); returns one (N, size) array per output (int8, int16 where
    ``output_bits`` says 16, or float32)."""
    f32 = mode == "f32"
    n = int(inputs[0].shape[0])
    flat = [np.ascontiguousarray(a, dtype=np.float32 if f32 else a.dtype).reshape(n, -1) for a in inputs]
    per_sample = [a.view(np.uint8).reshape(n, -1) for a in flat]
    blob = np.concatenate(per_sample, axis=1) if n else np.zeros((0, 0), np.uint8)
    out_dtype = np.float32 if f32 else np.int8
    with tempfile.TemporaryDirectory(prefix="qnnc-run-") as tmp:
        fin, fout = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
        np.ascontiguousarray(blob).tofile(fin)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
        res = subprocess.run([exe, mode, fin, fout], capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise QnncError(f"the compiled model failed (exit {res.returncode}): {res.stderr.strip()[:2000]}")
        if f32:
            out = np.fromfile(fout, dtype=out_dtype).reshape(n, -1)
        else:  # bytes: an int16 output takes two per value
            out = np.fromfile(fout, dtype=np.uint8).reshape(n, -1)
    bits = list(output_bits) if output_bits is not None and not f32 else [8] * len(output_sizes)
    want = sum(size * (1 if f32 else b // 8) for size, b in zip(output_sizes, bits))  # floats, or bytes
    if out.shape[1] != want:  # e.g. an int16 output read without output_bits
        raise QnncError(f"the driver wrote {out.shape[1]} {'values' if f32 else 'bytes'} of outputs per sample "
                        f"where {want} were expected (pass output_bits for int16 outputs)")
    res_list, col = [], 0
    for size, b in zip(output_sizes, bits):
        width = size * (4 if f32 else b // 8)
        block = np.ascontiguousarray(out[:, col:col + (size if f32 else width)])
        res_list.append(block if f32 else block.view(np.int16 if b == 16 else np.int8))
        col += size if f32 else width
    return res_list
