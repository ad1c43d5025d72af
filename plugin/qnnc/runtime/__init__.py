"""The C kernel library shipped with qnnc (one header, one source file per kernel).

The Zephyr module, the PlatformIO library and ``qnnc build`` all use these same files.
"""
from __future__ import annotations

import os
import re
from typing import Dict, Iterable

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
INCLUDE_DIR = os.path.join(RUNTIME_DIR, "include")
SRC_DIR = os.path.join(RUNTIME_DIR, "src")
HEADER = "qnnc_kernels.h"
# Always needed by the generated <name>_invoke_f32 entry point.
BOUNDARY_KERNELS = ("qnnc_quantize_f32_s8", "qnnc_dequantize_s8_f32")
_IMPL_INCLUDE = re.compile(r'^#include "(qnnc_\w+_impl\.h)"', re.M)


def kernel_source(function: str) -> str:
    """Path of the C file that defines a kernel function (one file per function)."""
    return os.path.join(SRC_DIR, function + ".c")


def runtime_files(functions: Iterable[str]) -> Dict[str, str]:
    """{file name: text} of the header plus the sources of the given kernels.

    A source may include an internal ``qnnc_<kernel>_impl.h`` (the body its _s8 and _s16
    versions share); that header is copied with it.
    """
    names = sorted(set(functions) | set(BOUNDARY_KERNELS))
    files = {}
    with open(os.path.join(INCLUDE_DIR, HEADER), "r", encoding="utf-8") as f:
        files[HEADER] = f.read()
    for fn in names:
        with open(kernel_source(fn), "r", encoding="utf-8") as f:
            files[fn + ".c"] = f.read()
        for header in _IMPL_INCLUDE.findall(files[fn + ".c"]):
            with open(os.path.join(INCLUDE_DIR, header), "r", encoding="utf-8") as f:
                files[header] = f.read()
    return files
