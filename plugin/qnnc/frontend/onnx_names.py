"""Unique, deterministic names for what the front end's rewrites add to an ONNX graph."""
from __future__ import annotations

from typing import Dict, List, Set

import numpy as np
import onnx
from onnx import numpy_helper


class NewTensors:
    """Names for new nodes and tensors, and the initializers made for constants. The owner fills
    ``names`` with every name already taken; ``consts`` holds the known values by name."""

    def __init__(self) -> None:
        self.names: Set[str] = set()
        self.inits: List[onnx.TensorProto] = []
        self.consts: Dict[str, np.ndarray] = {}

    def name(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2`` ... when taken; the name is taken from then on."""
        n, i = base, 1
        while n in self.names:
            n = f"{base}_{i}"
            i += 1
        self.names.add(n)
        return n

    def const(self, base: str, arr: np.ndarray) -> str:
        """A new initializer holding ``arr``; returns its name."""
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        self.consts[name] = np.asarray(arr)
        return name
