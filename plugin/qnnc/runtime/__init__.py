"""The C kernel library shipped with qnnc (one public header, one source file per kernel function
plus the ``_dsp`` / ``_mve`` files of its SIMD paths).

The Zephyr module, the PlatformIO library and ``qnnc build`` all use these same files.
"""
from __future__ import annotations

import os
import re
from typing import Dict, Iterable, List, Tuple

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
INCLUDE_DIR = os.path.join(RUNTIME_DIR, "include")
SRC_DIR = os.path.join(RUNTIME_DIR, "src")
HEADER = "qnnc_kernels.h"
# Always needed by the generated <name>_invoke_f32 entry point.
BOUNDARY_KERNELS = ("qnnc_quantize_f32_s8", "qnnc_dequantize_s8_f32")
# Kernels that call another public kernel (the int4 depthwise, and the int4 conv on Helium, run
# the int8 one on their unpacked filter) or share its SIMD file: that kernel's files are needed too.
KERNEL_CALLS: Dict[str, Tuple[str, ...]] = {"qnnc_depthwise_conv_s4": ("qnnc_depthwise_conv_s8",),
                                            "qnnc_conv_s4": ("qnnc_conv_s8",),
                                            # its DSP path is the int16 instance in qnnc_conv_s8_paired_dsp.c
                                            "qnnc_conv_s8_paired_wide": ("qnnc_conv_s8_paired",)}
# The files of a kernel's SIMD paths, next to runtime/src/<function>.c (CMSIS-NN style).
PATH_SUFFIXES = ("_dsp", "_mve")
_LOCAL_INCLUDE = re.compile(r'^#include "(qnnc_\w+\.h)"', re.M)


def kernel_source(function: str) -> str:
    """Path of the C file that defines a kernel function (its entry point and portable path)."""
    return os.path.join(SRC_DIR, function + ".c")


def kernel_sources(function: str) -> List[str]:
    """Every C file of a kernel function: ``<function>.c``, then ``<function>_dsp.c`` and
    ``<function>_mve.c`` where the function has those SIMD paths."""
    paths = [kernel_source(function)]
    for suffix in PATH_SUFFIXES:
        path = os.path.join(SRC_DIR, function + suffix + ".c")
        if os.path.isfile(path):
            paths.append(path)
    return paths


def _read(path: str) -> str:
    with open(path, "r", encoding="utf-8") as f:
        return f.read()


def runtime_files(functions: Iterable[str]) -> Dict[str, str]:
    """{file name: text} of the header plus the sources of the given kernels.

    Each kernel brings its ``_dsp`` / ``_mve`` sources and the kernels it calls (``KERNEL_CALLS``),
    and every internal header a copied file
    includes (``qnnc_internal.h``, the ``qnnc_<kernel>_impl.h`` bodies an _s8/_s16 or _s4/_s8
    pair shares, and what those include) is copied with it.
    """
    names = set(functions) | set(BOUNDARY_KERNELS)
    names = sorted(names | {callee for fn in names for callee in KERNEL_CALLS.get(fn, ())})
    files = {HEADER: _read(os.path.join(INCLUDE_DIR, HEADER))}
    pending = [files[HEADER]]  # the public header's own parts (qnnc_weight_layouts.h)
    for fn in names:
        for path in kernel_sources(fn):
            files[os.path.basename(path)] = _read(path)
            pending.append(files[os.path.basename(path)])
    while pending:
        for header in _LOCAL_INCLUDE.findall(pending.pop()):
            if header not in files:
                files[header] = _read(os.path.join(INCLUDE_DIR, header))
                pending.append(files[header])
    return files
