"""The default precision of recurrent layers: int16 activations for LSTM / GRU and what they feed.

An int8 LSTM or GRU (the TFLite 8x8_16 scheme) feeds its hidden state back at 8 bits at every
time step, and the rounding error of that state accumulates along the sequence. With int16
``x`` / ``h`` (the 16x8 scheme, rules_s16_recurrent.py) the error stays small; on the corpus'
keyword-spotting LSTM and GRU the output SQNR goes from 37.0 / 33.9 dB to 38.7 / 37.3 dB
for about 6 % more instructions and twice their activation bytes. The layers after a recurrent
layer take int16 too: requantizing ``h`` to int8 for the next layer gives the gain back (an
int16 LSTM followed by an int8 Gemm measured below the all-int8 model).

So unless the config says otherwise (``quantization.recurrent_activation_bits: 8``, or an
explicit ``activation_bits`` / override for a layer), every LSTM / GRU node, every layer of an
unrolled one (frontend/decompose_recurrent.py: the nodes whose outputs are tied across steps)
and every node reachable from them computes with int16 activations, except:

* nodes without an int16 rule, and weight layers with int4 weights (the 16x8 kernels take int8
  weights): they stay int8, their inputs are converted;
* pre-quantized (QDQ / QOperator) models and ``rounding: half_even``, which the 16x8 kernels do
  not support: nothing changes.

The layers before the recurrent ones keep int8, and the model API stays int8.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Set

from ..ir import Graph

RECURRENT_OPS = ("LSTM", "GRU")


def downstream_nodes(graph: Graph, start: Iterable[str]) -> Set[str]:
    """Names of the nodes ``start`` names and of every node reachable from their outputs."""
    names = set(start)
    produced = {t for n in graph.nodes if n.name in names for t in n.outputs}
    for n in graph.nodes:  # graph.nodes is in topological order
        if n.name not in names and any(t in produced for t in n.inputs):
            names.add(n.name)
            produced.update(n.outputs)
    return names


def recurrent_nodes(graph: Graph) -> List[str]:
    """The LSTM / GRU nodes, and the nodes of unrolled ones: those whose output is tied to the
    same tensor of the other steps (Graph.tied_ranges, frontend/decompose_recurrent.py)."""
    tied = {t for group in graph.tied_ranges for t in group}
    return [n.name for n in graph.nodes
            if n.op in RECURRENT_OPS or any(graph.original_name(o) in tied for o in n.outputs)]


def recurrent_int16(graph: Graph, weight_bits: Mapping[str, int], int16_ops: Iterable[str]) -> Dict[str, int]:
    """{node name: 16} for the recurrent layers of ``graph`` and the nodes downstream of them that
    can compute with int16 activations (an op in ``int16_ops``, int8 weights); empty when the
    graph has no LSTM / GRU."""
    rec = recurrent_nodes(graph)
    if not rec:
        return {}
    ops = set(int16_ops)
    chosen = downstream_nodes(graph, rec)
    return {n.name: 16 for n in graph.nodes
            if n.name in chosen and n.op in ops and int(weight_bits.get(n.name, 8)) == 8}
