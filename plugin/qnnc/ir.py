"""The float graph IR that the importer produces and the passes transform.

A :class:`Graph` is a topologically sorted list of :class:`Node` over named :class:`Tensor`
values. Constants are tensors with ``data``. Passes are functions ``Graph -> Graph``; they
never mutate their input (use :meth:`Graph.copy` then edit the copy).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np


def element_count(shape) -> int:
    """Number of elements of a tensor of this shape (1 for a scalar)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


# Ops whose output holds token ids in the input's memory order (a Transpose only where it moves
# axes of size 1 alone, which the front end checks): frontend/index_inputs.py, passes/index_views.py.
ID_VIEW_OPS = frozenset({"Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Transpose"})

@dataclass
class Tensor:
    """A value in the graph; ``data`` is set for constants."""

    name: str
    shape: Tuple[int, ...]
    data: Optional[np.ndarray] = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return element_count(self.shape)


@dataclass
class Node:
    """One operation. ``inputs`` may contain '' for an omitted optional input."""

    name: str
    op: str
    inputs: List[str]
    outputs: List[str]
    attrs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A model: tensors by name, nodes in execution order, graph inputs and outputs."""

    name: str
    tensors: Dict[str, Tensor]
    nodes: List[Node]
    inputs: List[str]
    outputs: List[str]
    source: str = ""
    opset: int = 13
    # Storage layout of 4-D activations: "NCHW" as imported, "NHWC" after the layout pass.
    layout: str = "NCHW"
    # Layout of the public API tensors (the model's own unless the config asks for NHWC).
    io_layout: str = "NCHW"
    # Tensors a pass introduced that hold the same values as an original (calibrated) tensor,
    # possibly rearranged: {new name: original name}. Calibration ranges follow these.
    aliases: Dict[str, str] = field(default_factory=dict)
    # For an already-quantized (QDQ / QOperator) model: the qdq.QuantSpec its Q/DQ nodes fixed.
    quant: Optional[Any] = None
    # BatchNormalization statistics the passes folded away: {ONNX name of the BN output (the
    # pre-activation tensor): (beta, |gamma|) per channel}, for data-free ranges (quantize/calibrate_batchnorm.py).
    bn_stats: Dict[str, Any] = field(default_factory=dict)
    # Groups of ONNX tensor names that take one calibrated range (the union of their ranges): the
    # steps of an unrolled LSTM / GRU (frontend/decompose_recurrent.py).
    tied_ranges: List[List[str]] = field(default_factory=list)
    # The ONNX names of the outputs, in order: the API's, also where a pass made two outputs one
    # tensor (an output that is the Identity of another).
    output_names: List[str] = field(default_factory=list)
    # Index inputs (frontend/index_inputs.py): {input: rows of the largest table it indexes}; the
    # token ids an embedding is looked up with, int16 ids of scale 1 in the compiled model.
    index_inputs: Dict[str, int] = field(default_factory=dict)
    # Integer value inputs (frontend/value_inputs.py: an attention mask cast to float): int8 of
    # scale 1, zero point 0 in the compiled model.
    value_inputs: List[str] = field(default_factory=list)

    def copy(self) -> "Graph":
        """A copy whose lists, dicts and nodes can be edited; constant arrays are shared."""
        return Graph(
            name=self.name,
            tensors={k: Tensor(t.name, tuple(t.shape), t.data) for k, t in self.tensors.items()},
            nodes=[Node(n.name, n.op, list(n.inputs), list(n.outputs), copy.deepcopy(n.attrs))
                   for n in self.nodes],
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            source=self.source,
            opset=self.opset,
            layout=self.layout,
            io_layout=self.io_layout,
            aliases=dict(self.aliases),
            quant=self.quant,
            bn_stats=dict(self.bn_stats),
            tied_ranges=[list(g) for g in self.tied_ranges],
            output_names=list(self.output_names),
            index_inputs=dict(self.index_inputs),
            value_inputs=list(self.value_inputs),
        )

    # -- queries -------------------------------------------------------------
    def producer(self, tensor: str) -> Optional[Node]:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> List[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def reader_map(self) -> Dict[str, List[Node]]:
        """{tensor: the nodes reading it}: consumers() for every tensor at once."""
        out: Dict[str, List[Node]] = {}
        for node in self.nodes:
            for t in set(node.inputs):
                out.setdefault(t, []).append(node)
        return out

    def is_const(self, tensor: str) -> bool:
        t = self.tensors.get(tensor)
        return t is not None and t.is_const

    def const(self, tensor: str) -> np.ndarray:
        return self.tensors[tensor].data

    def shape(self, tensor: str) -> Tuple[int, ...]:
        return self.tensors[tensor].shape

    # -- editing helpers -------------------------------------------------------
    def original_name(self, tensor: str) -> str:
        """The calibrated tensor whose values ``tensor`` holds (itself unless aliased)."""
        while tensor in self.aliases:
            tensor = self.aliases[tensor]
        return tensor

    def unique_name(self, base: str) -> str:
        """A tensor/node name not used yet, derived from ``base``."""
        names = set(self.tensors) | {n.name for n in self.nodes}
        if base not in names:
            return base
        i = 1
        while f"{base}_{i}" in names:
            i += 1
        return f"{base}_{i}"

    def add_const(self, base: str, data: np.ndarray) -> str:
        name = self.unique_name(base)
        self.tensors[name] = Tensor(name, tuple(data.shape), data)
        return name

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer (and the graph outputs) read ``new`` instead of ``old``."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def remove_unused(self) -> None:
        """Drop nodes whose outputs nobody reads and tensors no node references."""
        changed = True
        while changed:
            changed = False
            used = set(self.outputs)
            for n in self.nodes:
                used.update(i for i in n.inputs if i)
            keep = [n for n in self.nodes if any(o in used for o in n.outputs)]
            if len(keep) != len(self.nodes):
                self.nodes = keep
                changed = True
        referenced = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            referenced.update(n.inputs)
            referenced.update(n.outputs)
        self.tensors = {k: v for k, v in self.tensors.items() if k in referenced}

    def activation_inputs(self, node: Node) -> List[str]:
        """The non-constant inputs of a node."""
        return [i for i in node.inputs if i and not self.is_const(i)]
