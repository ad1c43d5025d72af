"""Deterministic C text helpers: array literals, float literals, struct initializers."""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np

_CTYPE = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t", np.dtype(np.uint32): "uint32_t",
          np.dtype(np.float32): "float", np.dtype(np.int64): "int64_t"}  # int64: 16x8 biases
_CTYPE[np.dtype(np.int16)] = "int16_t"  # LSTM/GRU activation tables and initial cell states


def c_type(arr: np.ndarray) -> str:
    return _CTYPE[arr.dtype]


def c_float(v: float) -> str:
    """A float literal that parses back to exactly np.float32(v)."""
    f = np.float32(v)
    text = format(float(f), ".9g")
    if "e" not in text and "." not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return text + "f"


def c_int(v: int, ctype: str = "int32_t") -> str:
    v = int(v)
    if ctype == "uint32_t":
        return f"{v}u"
    if v == -(1 << 31):
        return "INT32_MIN"
    return str(v)


def array_body(arr: np.ndarray, per_line: int = 16) -> str:
    """Comma-separated values, ``per_line`` per line, indented 4 spaces."""
    ctype = c_type(arr)
    vals = [c_int(v, ctype) for v in arr.reshape(-1).tolist()]
    lines = []
    for i in range(0, len(vals), per_line):
        lines.append("    " + ", ".join(vals[i:i + per_line]) + ",")
    return "\n".join(lines)


def array_definition(name: str, arr: np.ndarray, static: bool = False, align: int = 4) -> str:
    qual = "static const" if static else "const"
    return (f"{qual} {c_type(arr)} {name}[{arr.size}] QNNC_ALIGNED({align}) = {{\n"
            f"{array_body(arr)}\n}};\n")


def brace(values: Iterable) -> str:
    return "{" + ", ".join(str(v) for v in values) + "}"


def unused_arena_line(forward_body: str) -> str:
    """The line that marks the forward function's ``arena`` as used when no statement of
    ``forward_body`` reads it (a graph of views only: Flatten, Reshape, a Transpose of size-1
    axes), so the generated C stays -Wall -Werror clean, after a line break; else nothing (the
    C of every other model is unchanged)."""
    code = re.sub(r"/\*.*?\*/", "", forward_body, flags=re.S)  # not the comments, which quote node names
    if re.search(r"\barena\b", code):
        return ""
    return "\n    (void)arena; /* every layer is a view of the input: no code reads the arena */"
