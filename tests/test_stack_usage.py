"""Stack use of generated code and kernels on Cortex-M4, from gcc -fcallgraph-info=su (static, worst case).

The kernels' SIMD working memory is planned in the arena (a qnnc_buffer argument), so every frame
is static and the deepest call chain of an inference stays small with or without the DSP paths.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from qnnc.build import build
from qnnc.config import load_config

REPO = Path(__file__).resolve().parent.parent
KWS = REPO / "samples" / "models" / "kws"
FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2", "-std=c99",
         "-fcallgraph-info=su", "-c"]
LIBGCC_FRAME = 64  # allowance for a libgcc helper (e.g. __aeabi_ldivmod) at the end of a chain


def _call_graph(gen: Path, tmp: Path, defines) -> tuple:
    """({function: frame bytes}, {function: callees}) of every generated and kernel source."""
    frames, calls = {}, {}
    for src in sorted(gen.glob("*.c")):
        obj = tmp / (src.stem + ".o")
        subprocess.run(["arm-none-eabi-gcc", *FLAGS, *defines, "-I", str(gen), str(src), "-o", str(obj)],
                       check=True, capture_output=True, text=True)
        text = obj.with_suffix(".ci").read_text()
        for title, label in re.findall(r'node: \{ title: "([^"]+)" label: "([^"]*)"', text):
            m = re.search(r"(\d+) bytes \((\w+)\)", label)
            if m is None:  # an external function (libgcc helper, or a kernel defined in another file)
                continue
            assert m.group(2) == "static", f"dynamic or unbounded stack: {label}"
            frames[title.split(":")[-1]] = int(m.group(1))
        for a, b in re.findall(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', text):
            calls.setdefault(a.split(":")[-1], set()).add(b.split(":")[-1])
    return frames, calls


def _deepest(fn: str, frames, calls, path=()) -> tuple:
    """(bytes, chain) of the deepest call chain from fn (no recursion in qnnc)."""
    assert fn not in path, f"recursion: {path + (fn,)}"
    if fn not in frames:
        return LIBGCC_FRAME, (fn,)
    best = (0, ())
    for c in sorted(calls.get(fn, ())):
        best = max(best, _deepest(c, frames, calls, path + (fn,)))
    return frames[fn] + best[0], (fn,) + best[1]


@pytest.mark.parametrize("defines,limit", [((), 960), (("-DQNNC_PORTABLE_ONLY",), 928)],
                         ids=["dsp_default", "portable_only"])
def test_worst_case_stack_of_an_inference_is_small(tmp_path, defines, limit):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi)")
    gen = tmp_path / "gen"
    build(str(KWS / "kws.onnx"), load_config(str(KWS / "kws.yaml")), str(gen), "kws", progress=False)
    frames, calls = _call_graph(gen, tmp_path, defines)
    total, chain = _deepest("kws_run", frames, calls)
    print(f"kws on Cortex-M4 -O2 {' '.join(defines) or '(DSP paths)'}: worst-case stack {total} B via "
          + " -> ".join(f"{f} {frames.get(f, LIBGCC_FRAME)}" for f in chain))
    # measured 924 B (DSP paths; the deepest chain is the depthwise DSP path's portable tail, whose
    # 344 B frame holds a channel group's constants and the layer's row and column segments) and
    # 904 B (portable: the 2x2 register-blocked conv/depthwise loops keep more live values than the
    # old 344 B ones, and the forward frame holds the qnnc_buffer of the im2col columns), GCC 12.2
    assert total <= limit
