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
    with open(drv, "w", encoding="utf-8") as f:
        f.write(DRIVER.format(name=name, P=name.upper()))
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
