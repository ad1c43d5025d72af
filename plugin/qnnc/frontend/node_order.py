"""Nodes in dependency order (ONNX -> ONNX, in place).

ONNX requires a graph's nodes to be topologically sorted, but hand-built graphs, graph surgery
scripts and some converters write a node before the Constant or the layer that feeds it, and
onnxruntime runs such files anyway. The onnx checker, shape inference and the version converter
do not, so every reader of the model sorts it first. Sorting is stable: a sorted graph keeps its
order, and an unsorted one moves only the nodes that must wait. A cycle is left as it is (the
importer refuses it, naming the nodes on it).
"""
from __future__ import annotations

import heapq
from typing import Dict, List, Set

import onnx


def _subgraph_reads(n: onnx.NodeProto) -> Set[str]:
    """The outer tensor names read inside the node's subgraphs (an If / Loop body reads outer
    tensors by name, which the node then depends on like on its inputs): what a body reads and
    does not define itself (its inputs, initializers and node outputs), at any depth."""
    names: Set[str] = set()
    for a in n.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for g in graphs:
            own = {i.name for i in g.input} | {i.name for i in g.initializer} | {o for m in g.node for o in m.output}
            for m in g.node:
                names.update(x for x in m.input if x and x not in own)
                names.update(x for x in _subgraph_reads(m) if x not in own)
    return names


def sort_nodes(model: onnx.ModelProto) -> bool:
    """Reorder the main graph's nodes so each comes after the producers of what it reads; returns
    whether anything moved. Leaves the order as it is when the graph has a cycle."""
    nodes = list(model.graph.node)
    producer: Dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                producer.setdefault(o, i)
    deps: List[Set[int]] = []
    late = False
    for i, n in enumerate(nodes):
        d = {producer[x] for x in set(n.input) | _subgraph_reads(n) if x in producer and producer[x] != i}
        late = late or any(j > i for j in d)
        deps.append(d)
    if not late:
        return False
    waiting = [len(d) for d in deps]
    readers: List[List[int]] = [[] for _ in nodes]
    for i, d in enumerate(deps):
        for j in d:
            readers[j].append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: List[int] = []
    while ready:
        i = heapq.heappop(ready)  # the earliest node that may run: the file's order where it can
        order.append(i)
        for r in readers[i]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, r)
    if len(order) != len(nodes):
        return False  # a cycle: refused by the importer's structure check
    del model.graph.node[:]
    model.graph.node.extend(nodes[i] for i in order)
    return True
