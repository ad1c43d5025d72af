"""Per-layer output checksums for on-target validation.

h = sum_i (2*i + 1) * (uint8(out[i]) + 1)  mod 2^32 — position-weighted, so a changed or
moved byte changes it; the generated ``<name>_selftest`` computes the same in C.
"""
from __future__ import annotations

from typing import List

import numpy as np

from ..qmodel import QModel
from .interpreter import run


def layer_checksum(out: np.ndarray) -> int:
    """Checksum of one int8 tensor (in storage order)."""
    b = np.ascontiguousarray(out).reshape(-1).view(np.uint8).astype(np.uint64) + 1
    w = 2 * np.arange(b.size, dtype=np.uint64) + 1
    return int(np.sum((w * b) & 0xFFFFFFFF) & 0xFFFFFFFF)


def layer_checksums(model: QModel, q_inputs: np.ndarray) -> np.ndarray:
    """(N, layers) uint32: the checksum of every layer's output for every input (0 for views)."""
    names: List[str] = [op.output for op in model.ops]
    out = np.zeros((q_inputs.shape[0], len(model.ops)), np.uint32)
    for n in range(q_inputs.shape[0]):
        vals = run(model, q_inputs[n], keep=names)
        for i, op in enumerate(model.ops):
            if op.kind != "reshape":
                out[n, i] = layer_checksum(vals[op.output])
    return out
