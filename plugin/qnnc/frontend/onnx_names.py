"""Unique, deterministic names for what the front end's rewrites add to an ONNX graph, and the names
a graph (with its subgraphs) defines and reads."""
from __future__ import annotations

from typing import Dict, Iterator, List, Set

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

    @classmethod
    def of_model(cls, model: onnx.ModelProto) -> "NewTensors":
        """Names for new nodes and tensors of ``model``'s main graph, with every name it has taken."""
        made = cls()
        g = model.graph
        made.names = {i.name for i in g.initializer} | {i.name for i in g.input} | \
            {o for n in g.node for o in n.output} | {n.name for n in g.node}
        return made

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


def attr(n: onnx.NodeProto, name: str, default):
    """The value of attribute ``name`` of ``n`` (bytes for strings), or ``default`` when absent."""
    for a in n.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def static_dims(model: onnx.ModelProto) -> Dict[str, List[int]]:
    """Every tensor's dims in a shape-inferred model (0: unknown)."""
    return {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
            for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output)
            if vi.type.tensor_type.HasField("shape")}


def replace_nodes(g: onnx.GraphProto, replaced: Dict[int, List[onnx.NodeProto]]) -> None:
    """Put, in place, the nodes ``replaced[id(n)]`` where each node ``n`` of ``g`` it names stands."""
    nodes = [m for n in g.node for m in replaced.get(id(n), [n])]
    del g.node[:]
    g.node.extend(nodes)


def subgraphs(n: onnx.NodeProto) -> List[onnx.GraphProto]:
    return [g for a in n.attribute for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs))]


def all_graphs(g: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """g and every subgraph (If / Loop / Scan bodies) inside it, depth first."""
    yield g
    for n in g.node:
        for sub in subgraphs(n):
            yield from all_graphs(sub)


def defined_names(g: onnx.GraphProto) -> Set[str]:
    """Every name ``g`` and its subgraphs define: initializers, inputs, node outputs, node names."""
    names = {i.name for i in g.initializer} | {i.name for i in g.input}
    for n in g.node:
        names.update(o for o in n.output if o)
        names.add(n.name)
        for sub in subgraphs(n):
            names |= defined_names(sub)
    return names


def read_names(g: onnx.GraphProto) -> Set[str]:
    """Every name a node of ``g`` or of its subgraphs reads, and the subgraphs' outputs."""
    names: Set[str] = set()
    for n in g.node:
        names.update(i for i in n.input if i)
        for sub in subgraphs(n):
            names |= read_names(sub) | {o.name for o in sub.output}
    return names


def drop_dead_nodes(g: onnx.GraphProto) -> None:
    """Remove the nodes none of whose outputs is read (by a node, a subgraph or as a graph output),
    to a fixed point."""
    outputs = {o.name for o in g.output}
    while True:
        used = read_names(g) | outputs
        live = [n for n in g.node if any(o and o in used for o in n.output)]
        if len(live) == len(g.node):
            return
        del g.node[:]
        g.node.extend(live)
