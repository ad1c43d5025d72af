"""Per-layer precision: which Conv/depthwise/FC layers get int4 weights.

``quantization.weight_bits`` sets the default for every weight layer; ``quantization.overrides``
entries then apply in order (a later entry wins, key by key). An entry's ``match`` is an ONNX
node name or an ONNX op type. The passes keep node names but change op types (Gemm and MatMul
become FullyConnected, a lone BatchNormalization a depthwise Conv), so op types are looked up
in the original ONNX file by node name.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from .config import Config, Override
from .errors import ConfigError
from .ir import Graph, Node

WEIGHT_OPS = ("Conv", "FullyConnected")


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
    return [n for n in graph.nodes if n.op in WEIGHT_OPS]


def _key(cfg: Config, i: int) -> str:
    return f"quantization.overrides[{i}].match"


def _no_match(cfg: Config, i: int, ov: Override, graph: Graph, op_types: Dict[str, str]) -> ConfigError:
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
    line = cfg.lines.get(_key(cfg, i)) or ov.line
    return ConfigError(msg, file=cfg.source, key=_key(cfg, i), line=line)


def check_overrides(graph: Graph, cfg: Config, op_types: Dict[str, str]) -> None:
    """Every override must match something: a weight layer when it sets ``weight_bits``, else any
    node (name or op type) of the ONNX model or of the compiled graph."""
    known = set(op_types) | set(op_types.values()) | {n.name for n in graph.nodes} | {n.op for n in graph.nodes}
    for i, ov in enumerate(cfg.overrides):
        if ov.weight_bits is not None:
            if not any(matches(ov, n, op_types) for n in weight_layers(graph)):
                raise _no_match(cfg, i, ov, graph, op_types)
        elif ov.match not in known:
            raise _no_match(cfg, i, ov, graph, op_types)


def layer_weight_bits(graph: Graph, cfg: Config, model_path: Optional[str] = None) -> Dict[str, int]:
    """{node name: 8 or 4} for every weight layer of the passed graph."""
    op_types = onnx_op_types(model_path or graph.source) if cfg.overrides else {}
    check_overrides(graph, cfg, op_types)
    bits = {}
    for n in weight_layers(graph):
        b = cfg.weight_bits
        for ov in cfg.overrides:
            if ov.weight_bits is not None and matches(ov, n, op_types):
                b = ov.weight_bits
        bits[n.name] = int(b)
    return bits
