"""Models of opsets newer than qnnc reads (22 and later), restated at the newest opset it reads.

``onnx.version_converter`` has no down-conversion adapter for some ops whose newer versions only
widened their types (GlobalMaxPool-22 -> 1: "No Adapter From Version 22"), so a model of a newer
opset that uses them was refused though nothing in it means anything new. Here:

- ops added after the target opset that are exact compositions of older ops are rewritten first:
  Swish-24 as x * Sigmoid(alpha * x), and RMSNormalization-23 (PyTorch's nn.RMSNorm from opset 23)
  as the formula PyTorch exports at older opsets, x * Reciprocal(Sqrt(ReduceMean(x^2) + epsilon)) *
  scale, so both readings build alike; any other such op whose ONNX schema defines it by a function
  body is inlined as that body (onnx.inliner): Attention-23, which PyTorch exports for
  scaled_dot_product_attention / nn.MultiheadAttention from opset 23 on;
- then, when every node's op allows it, the model is relabelled to the target opset without the
  converter: an op allows it when its schema at the model's opset has the same inputs, outputs and
  attributes (names, types, defaults) as at the target (the later versions only added element
  types: bfloat16 at 22, the float4 / float8 / 2-bit types at 23-25), or when it added attributes
  (SpaceToDepth's mode, Cast's round_mode, QuantizeLinear's precision) that the node leaves at
  their defaults, which keep the older meaning.

Anything else (an op new after the target with no rewrite here, a new attribute set) is left to
the converter, whose error names it.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import defs, inliner, shape_inference

from ..errors import ModelError
from .cast_like import cast_likes_as_casts
from .decompose import _attr, _Rewriter, rewritten_copy
from .onnx_names import all_graphs

#: Ops added after opset 21 that :func:`inline_function_ops` inlines and the tests build (any other
#: such op with a function body is inlined too, and builds where its body's ops do).
INLINED_OPS = frozenset({"Attention"})


def _swish(r: _Rewriter, n: onnx.NodeProto, ranks: Dict[str, int]) -> None:
    """Swish(x; alpha) = x * Sigmoid(alpha * x) (alpha 1: PyTorch's SiLU)."""
    x, y = n.input[0], n.output[0]
    alpha = float(_attr(n, "alpha", 1.0))
    z = x if alpha == 1.0 else r.node("Mul", [x, r.const(f"{y}_alpha", np.array(alpha, np.float32))], f"{y}_ax")
    r.node("Mul", [x, r.node("Sigmoid", [z], f"{y}_sigmoid")], y, y)


def _rms_normalization(r: _Rewriter, n: onnx.NodeProto, ranks: Dict[str, int]) -> None:
    """RMSNormalization(x, scale; axis, epsilon) over the axes from ``axis`` on."""
    x, y = n.input[0], n.output[0]
    axis = int(_attr(n, "axis", -1))
    if axis >= 0:
        if x not in ranks:
            raise ModelError(f"shape inference gives no rank for '{x}', which RMSNormalization needs",
                             file=r.path, node=n.name, op=n.op_type)
        axis -= ranks[x]
    eps = float(_attr(n, "epsilon", 1e-5))
    sq = r.node("Pow", [x, r.const(f"{y}_two", np.array(2.0, np.float32))], f"{y}_sq")
    ms = r.reduce("ReduceMean", sq, list(range(axis, 0)), 1, f"{y}_ms")
    rms = r.node("Sqrt", [r.node("Add", [ms, r.const(f"{y}_eps", np.array(eps, np.float32))], f"{y}_mse")],
                 f"{y}_rms")
    normed = r.node("Mul", [x, r.node("Reciprocal", [rms], f"{y}_inv")], f"{y}_normed")
    r.node("Mul", [normed, n.input[1]], y, y)


#: The rewrites of :func:`expand_newer_ops` (each also given the tensors' ranks).
_NEWER_REWRITES = {"Swish": _swish, "RMSNormalization": _rms_normalization}
#: Ops added after opset 21 that :func:`expand_newer_ops` rewrites.
NEWER_OPS = frozenset(_NEWER_REWRITES)


def _inferred_types(model: onnx.ModelProto) -> Dict[str, onnx.TypeProto]:
    """Tensor name -> type from ONNX shape inference, initializers included (without the inferred
    ones if inference fails: the importer reports such a model)."""
    try:
        g = shape_inference.infer_shapes(model).graph
        types = {v.name: v.type for v in list(g.input) + list(g.value_info) + list(g.output)}
    except Exception:
        types = {}
    for init in model.graph.initializer:
        types[init.name] = onnx.helper.make_tensor_type_proto(init.data_type, list(init.dims))
    return types


def _added_after(n: onnx.NodeProto, target: int) -> bool:
    """Whether n is a default-domain op that opset ``target`` does not have."""
    if n.domain not in ("", "ai.onnx"):
        return False
    try:
        defs.get_schema(n.op_type, target, "")
        return False
    except defs.SchemaError:
        return True


def expand_newer_ops(model: onnx.ModelProto, path: str, target: int) -> onnx.ModelProto:
    """The model with the ops of :data:`NEWER_OPS` rewritten as ops of opset ``target`` (in the main
    graph); the model itself when it has none."""
    if not any(n.op_type in NEWER_OPS for n in model.graph.node):
        return model
    types = _inferred_types(model) if any(n.op_type == "RMSNormalization" for n in model.graph.node) else {}
    ranks = {k: len(t.tensor_type.shape.dim) for k, t in types.items() if t.tensor_type.HasField("shape")}
    return rewritten_copy(model, path, target,
                          {op: (lambda r, n, f=f: f(r, n, ranks)) for op, f in _NEWER_REWRITES.items()})


_FUNCTION_DOMAIN = "qnnc.function_body"  # the private domain the bodies are inlined from


def _function_body(n: onnx.NodeProto, version: int, types: Dict[str, onnx.TypeProto]) -> Optional[onnx.FunctionProto]:
    """The body ONNX's schema of n's op at opset ``version`` defines it by (context-dependent
    bodies, such as Attention's, are built for n's attributes and input types), or None."""
    body = onnx.FunctionProto()
    try:
        schema = defs.get_schema(n.op_type, version, "")
        if schema.has_function:
            body.ParseFromString(schema.get_function_with_opset_version(version))
        elif schema.has_context_dependent_function:
            if any(i and i not in types for i in n.input):
                return None
            body.ParseFromString(schema.get_context_dependent_function_with_opset_version(
                version, n.SerializeToString(),
                [types[i].SerializeToString() if i else onnx.TypeProto().SerializeToString() for i in n.input]))
        else:
            return None
    except Exception:  # no such op, or a body onnx cannot build for these attributes: left to the
        return None    # converter's error, which names the op
    return body if len(body.node) else None


def inline_function_ops(model: onnx.ModelProto, version: int, target: int,
                        body_at_target: bool = False) -> onnx.ModelProto:
    """The model with the main graph's ops that opset ``target`` lacks and whose schema at
    ``version`` has a function body inlined as that body (:data:`NEWER_OPS` are rewritten before);
    the model itself when there are none. ``body_at_target``: the model stays at opset ``target``
    (it declares it), so a body is inlined only where each of its ops exists there, read at
    ``target``."""
    if not any(_added_after(n, target) for n in model.graph.node):
        return model
    types = _inferred_types(model)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    bodies = []
    for n in m.graph.node:
        body = _function_body(n, version, types) if _added_after(n, target) else None
        if body is not None and body_at_target:
            body = _relabelled_body(body, version, target)
        if body is None:
            continue
        body.name, body.domain = f"{n.op_type}_{len(bodies)}", _FUNCTION_DOMAIN  # one per node: its own body
        n.op_type, n.domain = body.name, _FUNCTION_DOMAIN
        bodies.append(body)
    if not bodies:
        return model
    m.functions.extend(bodies)
    m.opset_import.append(onnx.helper.make_opsetid(_FUNCTION_DOMAIN, 1))
    out = inliner.inline_local_functions(m)
    del out.functions[:]
    kept = [o for o in out.opset_import if o.domain != _FUNCTION_DOMAIN]
    del out.opset_import[:]
    out.opset_import.extend(kept)
    cast_likes_as_casts(out)
    return out


def _relabelled_body(body: onnx.FunctionProto, version: int, target: int) -> Optional[onnx.FunctionProto]:
    """``body`` (of opset ``version``) importing the default domain at opset ``target``, or None
    when one of its ops does not exist there or means something else (:func:`_same_meaning`)."""
    if not all(_same_meaning(b, version, target) for b in body.node if b.domain in ("", "ai.onnx")):
        return None
    for o in body.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = target
    return body


def _signature(s: defs.OpSchema):
    attrs = sorted((a.name, int(a.type), a.required, a.default_value.SerializeToString())
                   for a in s.attributes.values())
    return (attrs, [(i.name, int(i.option)) for i in s.inputs], [(o.name, int(o.option)) for o in s.outputs],
            s.min_input, s.max_input, s.min_output, s.max_output)


#: Ops whose newer version added an attribute whose default is not the older meaning (RoiAlign-16:
#: coordinate_transformation_mode half_pixel, where RoiAlign-10 computed output_half_pixel).
_DEFAULT_CHANGED = frozenset({"RoiAlign"})


def _same_meaning(n: onnx.NodeProto, version: int, target: int) -> bool:
    """Whether node n of a model at opset ``version`` means the same read as opset ``target``."""
    if _added_after(n, target) or _added_after(n, version):
        return False
    old, new = defs.get_schema(n.op_type, target, ""), defs.get_schema(n.op_type, version, "")
    if old.since_version == new.since_version:
        return True
    if old.deprecated or new.deprecated or n.op_type in _DEFAULT_CHANGED:
        return False
    a_old, *io_old = _signature(old)
    a_new, *io_new = _signature(new)
    if io_old != io_new:
        return False
    if a_old == a_new:
        return True
    # attributes added since: the node must leave them at their defaults (the older meaning);
    # those both versions have must agree
    kept = {a[0] for a in a_old}
    return ({a for a in a_new if a[0] in kept} == set(a_old) and
            all(a.name in kept for a in n.attribute))


def _stamped(model: onnx.ModelProto, version: int) -> onnx.ModelProto:
    """A copy of ``model`` importing the default domain at opset ``version``."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for imp in m.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = version
    return m


def stamped_up(model: onnx.ModelProto, version: int, newer: Dict[str, int]) -> Optional[onnx.ModelProto]:
    """A copy of ``model`` (default-domain opset ``version``) holding ops first defined after it
    (``newer``: op -> the opset that added it) stamped with the newest of those opsets when every
    node in every graph reads the same there: each other node as at ``version``, each newer op as
    at its first opset (:func:`_same_meaning`); else None. An op without a schema at ``version``
    (a removed one: expand_legacy rewrites it before the opset conversion) stops it."""
    newest = max(newer.values())
    for n in (n for g in all_graphs(model.graph) for n in g.node if n.domain in ("", "ai.onnx")):
        if not _same_meaning(n, newest, newer.get(n.op_type, version)):
            return None
    return _stamped(model, newest)


def relabel_to(model: onnx.ModelProto, version: int, target: int) -> Optional[onnx.ModelProto]:
    """A copy of ``model`` (default-domain opset ``version`` > ``target``) stamped with opset
    ``target`` when every node in every graph reads the same there (:func:`_same_meaning`), else None."""
    nodes: List[onnx.NodeProto] = [n for g in all_graphs(model.graph) for n in g.node if n.domain in ("", "ai.onnx")]
    if not all(_same_meaning(n, version, target) for n in nodes):
        return None
    return _stamped(model, target)
