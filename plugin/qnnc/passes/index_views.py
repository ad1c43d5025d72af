"""Gathers by token ids read the ids input itself (frontend/index_inputs.py).

On the way from an index input to its Gathers a model may hold views: a Reshape, Unsqueeze,
Squeeze or Flatten, or a Transpose that moves only axes of size 1 (qnnc's own rewrites of a rank-1
or time-major input add such). They keep the ids in the same memory order, and the embedding op
reads the ids as one flat run, so each such Gather reads the input directly; the views no other
node reads are dropped. The Gather's output keeps its shape.
"""
from __future__ import annotations

from typing import Optional

from ..ir import ID_VIEW_OPS, Graph


def _source(g: Graph, name: str) -> Optional[str]:
    """The index input ``name`` is a view of, or None."""
    for _ in range(64):  # a chain of views, never a cycle in a valid graph
        if name in g.index_inputs:
            return name
        n = g.producer(name)
        if n is None or n.op not in ID_VIEW_OPS or not n.inputs:
            return None
        name = n.inputs[0]
    return None


def gather_ids_directly(graph: Graph) -> Graph:
    """Each Gather of a constant table by a view of an index input reads the input itself."""
    if not graph.index_inputs:
        return graph
    g = graph.copy()
    for n in g.nodes:
        if n.op == "Gather" and len(n.inputs) > 1 and g.is_const(n.inputs[0]) and n.inputs[1] not in g.index_inputs:
            src = _source(g, n.inputs[1])
            if src is not None:
                n.inputs = [n.inputs[0], src] + n.inputs[2:]
    g.remove_unused()
    return g
