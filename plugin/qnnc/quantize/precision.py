"""The precision plan: per layer, weight bits, activation bits and requantization rounding.

It is computed once, as plain data, from the defaults (``quantization.weight_bits``,
``activation_bits``, ``rounding``), the ``quantization.overrides`` entries (a later entry wins,
key by key) and, when asked for, the automatic search (auto_precision.py). The lowering
(lowering.py) reads it and nothing else to decide a layer's precision.

An override's ``match`` is an ONNX node name or an ONNX op type. The passes keep node names but
change op types (Gemm and MatMul become FullyConnected, a lone BatchNormalization a depthwise
Conv), so op types are looked up in the original ONNX file by node name.

Activation bits: a layer computes at its precision; views and data movement (Reshape,
Transpose, MaxPool, AveragePool, Pad) keep their input's precision unless an override names
them. The model API stays int8 (the graph input is an int8 tensor).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, List, Mapping, Optional

from ..errors import ConfigError
from ..ir import Graph, Node
from .fixedpoint import ROUND_TFLITE

WEIGHT_OPS = ("Conv", "FullyConnected")
FOLLOW_INPUT = ("Reshape", "Transpose", "MaxPool", "AveragePool", "Pad")
FOLLOW_INPUT += ("Slice", "Split", "Gather", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth")  # rules_movement


@dataclass
class Override:
    """One ``quantization.overrides`` entry: layers matching ``match`` (an ONNX node name or op
    type) get these bits (None: not set by this entry). ``line`` is its YAML line."""

    match: str
    weight_bits: Optional[int] = None
    activation_bits: Optional[int] = None
    line: Optional[int] = None


@dataclass(frozen=True)
class LayerPrecision:
    """How one layer computes: weight bits (8 | 4), activation bits (8 | 16), rounding
    (fixedpoint.ROUND_*: the conv / fully-connected requantization rounding)."""

    weight_bits: int = 8
    activation_bits: int = 8
    rounding: int = ROUND_TFLITE


@dataclass
class PrecisionPlan:
    """{node name: LayerPrecision} for every node of the passed graph."""

    layers: Dict[str, LayerPrecision] = field(default_factory=dict)

    def of(self, node: str) -> LayerPrecision:
        return self.layers.get(node, LayerPrecision())

    def weight_bits(self) -> Dict[str, int]:
        return {k: v.weight_bits for k, v in self.layers.items()}

    def activation_bits(self) -> Dict[str, int]:
        return {k: v.activation_bits for k, v in self.layers.items()}

    def uses(self, activation_bits: int) -> bool:
        return any(v.activation_bits == activation_bits for v in self.layers.values())


@dataclass
class PrecisionRequest:
    """What the config asks for, before any search: defaults and the override entries.
    ``config_file`` and ``lines`` ({YAML key: line}) let errors name what the user wrote."""

    weight_bits: int = 8
    activation_bits: int = 8
    rounding: int = ROUND_TFLITE
    overrides: List[Override] = field(default_factory=list)
    config_file: Optional[str] = None
    lines: Mapping[str, int] = field(default_factory=dict)


def onnx_op_types(model_path: Optional[str]) -> Dict[str, str]:
    """{node name: ONNX op type} of the model file (empty if it cannot be read again)."""
    if not model_path:
        return {}
    try:
        import onnx
        m = onnx.load(model_path, load_external_data=False)
    except Exception:  # the importer has already read it; names then fall back to the graph's ops
        return {}
    return {n.name: n.op_type for n in m.graph.node if n.name}


def matches(ov: Override, node: Node, op_types: Dict[str, str]) -> bool:
    """Whether an override's ``match`` names this node or its (ONNX or qnnc) op type."""
    return ov.match in (node.name, op_types.get(node.name, node.op), node.op)


def weight_layers(graph: Graph) -> List[Node]:
    """The nodes that carry quantized weights."""
    return [n for n in graph.nodes if n.op in WEIGHT_OPS and not _grouped_conv(graph, n)]


def _grouped_conv(graph: Graph, n: Node) -> bool:
    """A grouped (not depthwise) Conv: qnnc_conv_general_s8 has no int4 variant, it keeps int8 weights."""
    return (n.op == "Conv" and int(n.attrs.get("group", 1)) != 1 and n.inputs[1] in graph.tensors
            and graph.shape(n.inputs[1])[1] != 1)


def _key(i: int) -> str:
    return f"quantization.overrides[{i}].match"


def _no_match(req: PrecisionRequest, i: int, ov: Override, graph: Graph, op_types: Dict[str, str]) -> ConfigError:
    layers = weight_layers(graph)
    kinds = sorted({op_types.get(n.name, n.op) for n in layers})
    names = [n.name for n in layers]
    shown = ", ".join(repr(n) for n in names[:6]) + (f", ... ({len(names)} in all)" if len(names) > 6 else "")
    if ov.match in op_types:
        msg = (f"override match '{ov.match}' names a {op_types[ov.match]} node, which has no weights; "
               f"weight_bits applies to the weight layers: op types {', '.join(kinds)}; nodes {shown}")
    else:
        msg = (f"override match '{ov.match}' matches nothing in the model: it is neither a weight layer's "
               f"ONNX node name nor an op type; op types {', '.join(kinds) or '(none)'}; nodes {shown or '(none)'}")
    line = req.lines.get(_key(i)) or ov.line
    return ConfigError(msg, file=req.config_file, key=_key(i), line=line)


def check_overrides(graph: Graph, req: PrecisionRequest, op_types: Dict[str, str]) -> None:
    """Every override must match something: a weight layer when it sets ``weight_bits``, else any
    node (name or op type) of the ONNX model or of the compiled graph."""
    known = set(op_types) | set(op_types.values()) | {n.name for n in graph.nodes} | {n.op for n in graph.nodes}
    for i, ov in enumerate(req.overrides):
        if ov.weight_bits is not None:
            if not any(matches(ov, n, op_types) for n in weight_layers(graph)):
                raise _no_match(req, i, ov, graph, op_types)
        elif ov.match not in known:
            raise _no_match(req, i, ov, graph, op_types)


def override_bits(graph: Graph, req: PrecisionRequest, key: str, nodes: List[Node],
                  op_types: Dict[str, str]) -> Dict[str, int]:
    """{node name: bits} that the overrides setting ``key`` (weight_bits | activation_bits) give
    ``nodes`` (the last matching entry wins)."""
    bits: Dict[str, int] = {}
    for n in nodes:
        for ov in req.overrides:
            if getattr(ov, key) is not None and matches(ov, n, op_types):
                bits[n.name] = int(getattr(ov, key))
    return bits


def requested_bits(graph: Graph, req: PrecisionRequest, model_path: Optional[str] = None):
    """(weight bits of every weight layer, activation bits the overrides set) as the config asks,
    after checking that every override matches something."""
    op_types = onnx_op_types(model_path or graph.source) if req.overrides else {}
    check_overrides(graph, req, op_types)
    weights = {n.name: int(req.weight_bits) for n in weight_layers(graph)}
    weights.update(override_bits(graph, req, "weight_bits", weight_layers(graph), op_types))
    acts = override_bits(graph, req, "activation_bits", graph.nodes, op_types)
    return weights, acts


def make_plan(graph: Graph, weight_bits: Mapping[str, int], activation_bits: Mapping[str, int],
              default_activation_bits: int, rounding: int) -> PrecisionPlan:
    """The plan for ``graph``: weight layers take ``weight_bits`` (default 8); a node named in
    ``activation_bits`` takes those bits, a view or data-movement node its input's, any other
    node ``default_activation_bits``."""
    tensor_bits = {graph.inputs[0]: 8}  # the API input is int8
    layers = {}
    for n in graph.nodes:
        if n.name in activation_bits:
            bits = int(activation_bits[n.name])
        elif n.op in FOLLOW_INPUT and n.inputs[0] in tensor_bits:
            bits = tensor_bits[n.inputs[0]]
        else:
            bits = int(default_activation_bits)
        for t in n.outputs:
            tensor_bits[t] = bits
        layers[n.name] = LayerPrecision(int(weight_bits.get(n.name, 8)), bits, rounding)
    return PrecisionPlan(layers)


def with_bits(plan: PrecisionPlan, graph: Graph, weight_bits: Optional[Mapping[str, int]] = None,
              activation_bits: Optional[Mapping[str, int]] = None, default_activation_bits: int = 8) -> PrecisionPlan:
    """A copy of ``plan`` with some layers' bits changed (activation bits re-resolved along views)."""
    if activation_bits is None:
        layers = {k: replace(v, weight_bits=int((weight_bits or {}).get(k, v.weight_bits)))
                  for k, v in plan.layers.items()}
        return PrecisionPlan(layers)
    rounding = next(iter(plan.layers.values())).rounding if plan.layers else ROUND_TFLITE
    wb = {**plan.weight_bits(), **(weight_bits or {})}
    return make_plan(graph, wb, activation_bits, default_activation_bits, rounding)
