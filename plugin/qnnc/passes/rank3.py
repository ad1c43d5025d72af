"""Passes for 1-D networks, reductions, LayerNormalization, ArgMax/ArgMin and TopK.

* :func:`rank3_to_rank4`: Conv / ConvTranspose / pools / BatchNormalization / Pad on 3-D ``(N, C, L)``
  tensors (PyTorch's Conv1d, ConvTranspose1d, MaxPool1d, AdaptiveAvgPool1d ...) run as the 2-D ops on ``(N, C, 1, L)``: each such tensor gets
  a 4-D twin made by a Reshape (a view, no copy), element-wise ops between lifted ops are lifted too,
  and a Reshape back to 3-D is kept only where something still reads the 3-D tensor.
* :func:`fuse_layer_norm`: the decomposed LayerNorm of older exports (ReduceMean -> Sub -> Pow 2 or
  Mul self -> ReduceMean -> Add eps -> Sqrt -> Div -> [Mul gamma] -> [Add beta]) and of tf2onnx's
  Keras LayerNormalization (x * m + (beta - mean * m), m = gamma / Sqrt(var + eps)) -> one
  ``LayerNormalization``.
* :func:`reduce_attrs`: ReduceMean/Sum/Max/Min, ArgMax/ArgMin and LayerNormalization get explicit,
  positive ``axes`` (from the attribute or, at opset 18+, the constant input), ``keepdims`` and the
  other defaults; a ReduceMean over H and/or W of a 4-D tensor becomes an ``AveragePool`` (the
  global average pool kernel); LayerNormalization's scale and bias become constants of the
  normalized shape.
* :func:`to_nhwc_node`: the layout pass's rule for these ops (axes remapped to NHWC, a Transpose
  after a ``keepdims=0`` result whose remaining axes come out in another order).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import ModelError
from ..ir import Graph, Node, Tensor

REDUCE_OPS = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin")
ARG_OPS = ("ArgMax", "ArgMin")
# Ops of this file that the layout pass hands to :func:`to_nhwc_node`.
NHWC_OPS = REDUCE_OPS + ARG_OPS + ("TopK", "LayerNormalization")

_WINDOWED = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
             "BatchNormalization", "Pad"}
_UNARY = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus",
          "Softsign", "Exp", "Log", "Abs", "Neg", "Erf", "Gelu", "Mish", "Sqrt", "Reciprocal", "Identity",
          "Dropout", "Celu", "ThresholdedRelu", "Sign", "Shrink", "Tan", "Atan", "Asin", "Acos", "Sinh", "Cosh",
          "Asinh", "Acosh", "Atanh", "Mod"}
_BINARY = {"Add", "Mul", "Sub", "Div", "PRelu", "Max", "Min"}


def _fail(g: Graph, n: Node, msg: str) -> ModelError:
    return ModelError(msg, file=g.source, node=n.name, op=f"{n.op}, opset {g.opset}")


# ----------------------------------------------------------------------------- rank 3 -> 4 --

def _lift_const(c: np.ndarray) -> np.ndarray:
    """A constant broadcasting against (N, C, L) -> the same against (N, C, 1, L)."""
    c3 = c.reshape((1,) * (3 - c.ndim) + c.shape)
    return np.ascontiguousarray(c3.reshape(c3.shape[0], c3.shape[1], 1, c3.shape[2]))


def _lift_attrs(n: Node) -> None:
    """Attributes of a 1-D windowed op as those of the 2-D op over a height-1 plane."""
    a = n.attrs
    if n.op in ("Conv", "MaxPool", "AveragePool", "ConvTranspose"):
        for key in ("kernel_shape", "strides", "dilations"):
            if key in a:
                a[key] = [1] + list(a[key])
        if "pads" in a:
            p = list(a["pads"])
            a["pads"] = [0, p[0], 0, p[1]]
        if "output_padding" in a:  # ConvTranspose's extra cells at the end of each axis
            a["output_padding"] = [0] + list(a["output_padding"])
        if "output_shape" in a:
            a["output_shape"] = [1] + list(a["output_shape"])[-1:]
    elif n.op == "Pad":
        p = list(a["pads"])
        a["pads"] = [p[0], p[1], 0, p[2], p[3], p[4], 0, p[5]]


def rank3_to_rank4(graph: Graph) -> Graph:
    """Run 1-D windowed ops on 3-D (N, C, L) tensors as 2-D ops on (N, C, 1, L) views."""
    g = graph.copy()
    act3 = {k for k, t in g.tensors.items() if not t.is_const and len(t.shape) == 3}
    if not act3:
        return g
    twin: Dict[str, str] = {}
    nodes: List[Node] = []

    def up(name: str) -> str:  # the 4-D twin of a 3-D activation (a Reshape view made on first use)
        if name not in twin:
            s = g.shape(name)
            t4 = g.unique_name(name + "_4d")
            g.tensors[t4] = Tensor(t4, (s[0], s[1], 1, s[2]))
            g.aliases[t4] = name
            nodes.append(Node(g.unique_name(name + "_to_4d"), "Reshape", [name], [t4], {"shape": list(g.shape(t4))}))
            twin[name] = t4
        return twin[name]

    for n in g.nodes:
        acts = [i for i in n.inputs if i and not g.is_const(i)]
        outs = [o for o in n.outputs if o]
        lift = False
        if n.op in _WINDOWED and n.inputs and n.inputs[0] in act3:
            lift = len(outs) == 1 and outs[0] in act3
            if n.op == "Pad" and "pads" not in n.attrs:
                lift = False  # not in attribute form (a non-constant pads input): refused later
        elif (n.op in _UNARY or n.op in _BINARY or n.op == "Concat") and acts and len(outs) == 1:
            lift = all(i in twin for i in acts) and outs[0] in act3
        if not lift and n.op in REDUCE_OPS + ("LayerNormalization",) and n.inputs[0] in twin and "axes" in n.attrs:
            nodes.extend(_lift_reduction(g, n, twin))  # a reduction of a lifted tensor reads its 4-D twin
            continue
        if not lift:
            nodes.append(n)
            continue
        new_inputs = []
        for k, i in enumerate(n.inputs):
            if not i:
                new_inputs.append(i)
            elif i in act3:
                new_inputs.append(up(i))
            elif g.is_const(i) and n.op in ("Conv", "ConvTranspose") and k == 1:
                w = g.const(i)
                new_inputs.append(g.add_const(i + "_4d", w.reshape(w.shape[0], w.shape[1], 1, w.shape[2])))
            elif g.is_const(i) and (n.op in _BINARY or n.op in _UNARY) and g.const(i).ndim >= 2:
                new_inputs.append(g.add_const(i + "_4d", _lift_const(g.const(i))))
            elif g.is_const(i) and n.op == "Concat":
                new_inputs.append(g.add_const(i + "_4d", _lift_const(g.const(i))))
            else:
                new_inputs.append(i)
        n.inputs = new_inputs
        if n.op == "Concat":
            n.attrs = dict(n.attrs, axis=(0, 1, 3)[int(n.attrs.get("axis", 0)) % 3])
        else:
            _lift_attrs(n)
        out = outs[0]
        s = g.shape(out)
        o4 = g.unique_name(out + "_4d")
        g.tensors[o4] = Tensor(o4, (s[0], s[1], 1, s[2]))
        g.aliases[o4] = out
        n.outputs = [o4 if o == out else o for o in n.outputs]
        nodes.append(n)
        twin[out] = o4
        nodes.append(Node(g.unique_name(out + "_to_3d"), "Reshape", [o4], [out], {"shape": list(s)}))
    g.nodes = nodes
    g.remove_unused()
    return g


def _lift_reduction(g: Graph, n: Node, twin: Dict[str, str]) -> List[Node]:
    """A Reduce* / LayerNormalization (canonical attrs) of a 3-D tensor that has a 4-D twin: run it on
    the twin, axes (0, 1, 2) -> (0, 1, 3); the unit axis 2 is reduced too when the result drops axes
    (keepdims=0) or lies inside the normalized block. Its output is rewired likewise."""
    x4 = twin[n.inputs[0]]
    out = n.outputs[0]
    axes = [(0, 1, 3)[a] for a in n.attrs["axes"]]
    if n.op == "LayerNormalization" or not n.attrs["keepdims"]:
        if n.op != "LayerNormalization" or axes[0] < 2:
            axes = sorted(set(axes) | {2})
    n.inputs = [x4] + n.inputs[1:]
    if n.op == "LayerNormalization":
        s4 = g.shape(x4)
        for k in (1, 2):
            c = g.const(n.inputs[k])
            n.inputs[k] = g.add_const(n.inputs[k] + "_4d", c.reshape(s4[axes[0]:]))
        n.attrs = dict(n.attrs, axes=axes)
    else:
        n.attrs = dict(n.attrs, axes=axes)
    if n.op != "LayerNormalization" and not n.attrs["keepdims"]:
        if n.op == "ReduceMean" and set(axes) <= {2, 3}:
            return _mean_as_avg_pool(g, n)
        return [n]
    s = g.shape(out)
    o4 = g.unique_name(out + "_4d")
    g.tensors[o4] = Tensor(o4, (s[0], s[1], 1, s[2]))
    g.aliases[o4] = out
    n.outputs = [o4]
    twin[out] = o4
    back = Node(g.unique_name(out + "_to_3d"), "Reshape", [o4], [out], {"shape": list(s)})
    if n.op == "ReduceMean" and set(axes) <= {2, 3}:
        return _mean_as_avg_pool(g, n) + [back]
    return [n, back]


# ------------------------------------------------------------------------- LayerNorm fusion --

def _axes_of(g: Graph, n: Node) -> Optional[List[int]]:
    """Positive sorted axes of a Reduce node (attribute or constant input), None if unknown."""
    r = len(g.shape(n.inputs[0]))
    if len(n.inputs) > 1 and n.inputs[1]:
        if not g.is_const(n.inputs[1]):
            return None
        axes = [int(a) for a in np.asarray(g.const(n.inputs[1])).reshape(-1)]
    else:
        axes = list(n.attrs.get("axes", []) or [])
    if not axes:
        if n.attrs.get("noop_with_empty_axes", 0):
            return []
        axes = list(range(r))
    return sorted({int(a) % r for a in axes})


def _scalar(g: Graph, name: str) -> Optional[float]:
    if name and g.is_const(name) and g.const(name).size == 1:
        return float(np.asarray(g.const(name)).reshape(-1)[0])
    return None


def fuse_layer_norm(graph: Graph) -> Graph:
    """Recognize decomposed LayerNorm subgraphs and replace each by one LayerNormalization."""
    g = graph.copy()
    prod = {o: n for n in g.nodes for o in n.outputs if o}
    cons: Dict[str, List[Node]] = {}
    for n in g.nodes:
        for i in n.inputs:
            cons.setdefault(i, []).append(n)

    def only(t: str, k: int = 1) -> bool:  # read by exactly k nodes (Mul(d, d) is one reader)
        return len({id(n) for n in cons.get(t, [])}) == k and t not in g.outputs

    def other(n: Node, t: str) -> str:
        return n.inputs[1] if n.inputs[0] == t else n.inputs[0]

    for div in list(g.nodes):
        if not any(div is n for n in g.nodes):
            continue
        try:
            fused = (_match_layer_norm(g, div, prod, cons, only, other)
                     or _match_tf_layer_norm(g, div, prod, cons, only, other))
        except (KeyError, IndexError, ValueError):
            fused = None
        if fused is None:
            continue
        ln, first = fused
        g.nodes.insert(g.nodes.index(first), ln)
        g.remove_unused()
        prod = {o: n for n in g.nodes for o in n.outputs if o}
        cons = {}
        for n in g.nodes:
            for i in n.inputs:
                cons.setdefault(i, []).append(n)
    return g


def _match_layer_norm(g: Graph, div: Node, prod, cons, only, other):
    """(LayerNormalization node, node to insert it before) if ``div`` is the normalizing Div (or
    Mul by a Reciprocal) of a decomposed LayerNorm, else None."""
    if div.op == "Div":
        d, s = div.inputs
    elif div.op == "Mul" and any(prod.get(i) is not None and prod[i].op == "Reciprocal" for i in div.inputs):
        rec_out = next(i for i in div.inputs if prod.get(i) is not None and prod[i].op == "Reciprocal")
        d = other(div, rec_out)
        if not only(rec_out):
            return None
        s = prod[rec_out].inputs[0]
    else:
        return None
    sub, sqrt = prod.get(d), prod.get(s)
    if sub is None or sqrt is None or sub.op != "Sub" or sqrt.op != "Sqrt" or not only(s):
        return None
    x, mean = sub.inputs
    rm1 = prod.get(mean)
    if rm1 is None or rm1.op != "ReduceMean" or rm1.inputs[0] != x or not only(mean):
        return None
    add_eps = prod.get(sqrt.inputs[0])
    if add_eps is None or add_eps.op != "Add" or not only(sqrt.inputs[0]):
        return None
    var = next((i for i in add_eps.inputs if not g.is_const(i)), None)
    eps = next((_scalar(g, i) for i in add_eps.inputs if g.is_const(i)), None)
    rm2 = prod.get(var)
    if eps is None or rm2 is None or rm2.op != "ReduceMean" or not only(var):
        return None
    sq = prod.get(rm2.inputs[0])
    if sq is None or not only(rm2.inputs[0]):
        return None
    if sq.op == "Pow":
        if sq.inputs[0] != d or _scalar(g, sq.inputs[1]) != 2.0:
            return None
    elif sq.op == "Mul":
        if sq.inputs != [d, d]:
            return None
    else:
        return None
    if not only(d, 2):
        return None
    r = len(g.shape(x))
    ax1, ax2 = _axes_of(g, rm1), _axes_of(g, rm2)
    if not ax1 or ax1 != ax2 or ax1 != list(range(ax1[0], r)):
        return None
    if not rm1.attrs.get("keepdims", 1) or not rm2.attrs.get("keepdims", 1) or g.shape(div.outputs[0]) != g.shape(x):
        return None
    axis = ax1[0]
    norm_shape = tuple(g.shape(x)[axis:])
    out, last = div.outputs[0], div
    gamma = np.ones(norm_shape, np.float32)
    beta = np.zeros(norm_shape, np.float32)

    def per_element(c: np.ndarray) -> Optional[np.ndarray]:
        return _per_element(g, c, x, axis)

    nxt = cons.get(out, [])
    if len(nxt) == 1 and out not in g.outputs and nxt[0].op == "Mul" and g.is_const(other(nxt[0], out)):
        v = per_element(g.const(other(nxt[0], out)))
        if v is not None and g.shape(nxt[0].outputs[0]) == g.shape(x):
            gamma, out, last = v, nxt[0].outputs[0], nxt[0]
            nxt = cons.get(out, [])
    if len(nxt) == 1 and out not in g.outputs and nxt[0].op == "Add" and g.is_const(other(nxt[0], out)):
        v = per_element(g.const(other(nxt[0], out)))
        if v is not None and g.shape(nxt[0].outputs[0]) == g.shape(x):
            beta, out, last = v, nxt[0].outputs[0], nxt[0]
    name = g.unique_name((last.name or "ln") + "_layernorm")
    ln = Node(name, "LayerNormalization",
              [x, g.add_const(name + "_scale", gamma), g.add_const(name + "_bias", beta)], [out],
              {"axis": axis, "epsilon": float(eps)})
    last.outputs = [g.unique_name(out + "_unfused")]  # the old chain is dead now
    g.tensors[last.outputs[0]] = Tensor(last.outputs[0], g.shape(out))
    return ln, rm1


def _per_element(g: Graph, c: np.ndarray, x: str, axis: int) -> Optional[np.ndarray]:
    """A constant that varies only along x's axes from ``axis`` on, as an array of those axes'
    shape (a LayerNorm's scale or bias); else None."""
    if c.ndim > len(g.shape(x)):
        return None
    try:
        full = np.broadcast_to(c, g.shape(x))
    except ValueError:
        return None
    first = full[(0,) * axis]
    return first.astype(np.float32) if np.all(full == first) else None


def _mean_axes(g: Graph, n: Node) -> Optional[List[int]]:
    """The axes a keepdims mean reduces: a ReduceMean's, or a GlobalAveragePool's (every axis
    after the channels: tf2onnx's mean over the last axis of a 3-D tensor); else None."""
    if n.op == "ReduceMean" and n.attrs.get("keepdims", 1):
        return _axes_of(g, n)
    if n.op == "GlobalAveragePool":
        return list(range(2, len(g.shape(n.inputs[0]))))
    return None


def _match_tf_layer_norm(g: Graph, fin: Node, prod, cons, only, other):
    """(LayerNormalization node, node to insert it before) if ``fin`` is the last Add of tf2onnx's
    Keras LayerNormalization, else None:
    mean = M(x); var = M((x - mean) * (x - mean)); m = gamma / Sqrt(var + eps);
    out = x * m + (beta + Neg(mean) * m), M a mean over the last axes."""
    if fin.op != "Add" or any(g.is_const(i) for i in fin.inputs):
        return None

    def neg_of(n: Optional[Node]) -> Optional[Node]:  # the Neg(mean) a Mul reads, if any
        if n is None or n.op != "Mul":
            return None
        return next((prod[i] for i in n.inputs if prod.get(i) is not None and prod[i].op == "Neg"), None)
    b2 = next((prod[i] for i in fin.inputs if prod.get(i) is not None and prod[i].op == "Add"), None)
    beta_name = None
    if b2 is not None:  # beta + Neg(mean) * m
        if not only(b2.outputs[0]):
            return None
        beta_name = next((i for i in b2.inputs if g.is_const(i)), None)
        y2 = prod.get(other(b2, beta_name)) if beta_name else None
        y1 = prod.get(other(fin, b2.outputs[0]))
    else:  # no beta (TFLite drops a zero one): Neg(mean) * m alone
        y2 = next((prod[i] for i in fin.inputs if neg_of(prod.get(i)) is not None), None)
        y1 = prod.get(other(fin, y2.outputs[0])) if y2 is not None else None
    if y1 is None or y2 is None or y1.op != "Mul" or y2.op != "Mul" or not only(y1.outputs[0]) or not only(y2.outputs[0]):
        return None
    neg = neg_of(y2)
    if neg is None or not only(neg.outputs[0]):
        return None
    m_name = other(y2, neg.outputs[0])
    if m_name not in y1.inputs or not only(m_name, 2):
        return None
    x = other(y1, m_name)
    mul_g = prod.get(m_name)
    if mul_g is None or mul_g.op != "Mul":
        return None
    gamma_name = next((i for i in mul_g.inputs if g.is_const(i)), None)
    rec = prod.get(other(mul_g, gamma_name)) if gamma_name else None
    if rec is None or rec.op != "Reciprocal" or not only(rec.outputs[0]):
        return None
    sqrt = prod.get(rec.inputs[0])
    if sqrt is None or sqrt.op != "Sqrt" or not only(sqrt.outputs[0]):
        return None
    add_eps = prod.get(sqrt.inputs[0])
    if add_eps is None or add_eps.op != "Add" or not only(add_eps.outputs[0]):
        return None
    eps = next((_scalar(g, i) for i in add_eps.inputs if g.is_const(i)), None)
    m2 = prod.get(next((i for i in add_eps.inputs if not g.is_const(i)), ""))
    if eps is None or m2 is None or not only(m2.outputs[0]):
        return None
    sq = prod.get(m2.inputs[0])
    if sq is None or sq.op != "Mul" or sq.inputs[0] != sq.inputs[1] or not only(sq.outputs[0]):
        return None
    sub = prod.get(sq.inputs[0])
    if sub is None or sub.op != "Sub" or sub.inputs[0] != x or not only(sub.outputs[0], 1):
        return None
    mean = sub.inputs[1]
    m1 = prod.get(mean)
    if m1 is None or m1.inputs[0] != x or neg.inputs[0] != mean or not only(mean, 2):
        return None
    r = len(g.shape(x))
    ax1, ax2 = _mean_axes(g, m1), _mean_axes(g, m2)
    if not ax1 or ax1 != ax2 or ax1 != list(range(ax1[0], r)) or g.shape(fin.outputs[0]) != g.shape(x):
        return None
    axis = ax1[0]
    gamma = _per_element(g, g.const(gamma_name), x, axis)
    beta = _per_element(g, g.const(beta_name), x, axis) if beta_name else np.zeros(g.shape(x)[axis:], np.float32)
    if gamma is None or beta is None:
        return None
    name = g.unique_name((fin.name or "ln") + "_layernorm")
    out = fin.outputs[0]
    ln = Node(name, "LayerNormalization", [x, g.add_const(name + "_scale", gamma), g.add_const(name + "_bias", beta)],
              [out], {"axis": axis, "epsilon": float(eps)})
    fin.outputs = [g.unique_name(out + "_unfused")]  # the old chain is dead now
    g.tensors[fin.outputs[0]] = Tensor(fin.outputs[0], g.shape(out))
    return ln, m1


# --------------------------------------------------------------------- attribute defaults --

def reduce_attrs(graph: Graph) -> Graph:
    """Explicit axes/keepdims for reductions, ArgMax/ArgMin and LayerNormalization; 3-D global
    pools become reductions over their spatial axes."""
    g = graph.copy()
    nodes: List[Node] = []
    for n in g.nodes:
        if n.op in ("GlobalAveragePool", "GlobalMaxPool") and len(g.shape(n.inputs[0])) == 5:
            # 3-D global pooling (video / volumetric networks): the reduction over the three
            # spatial axes, merged into one below
            n.op = "ReduceMean" if n.op == "GlobalAveragePool" else "ReduceMax"
            n.attrs = {"axes": [2, 3, 4], "keepdims": 1}
        if n.op in REDUCE_OPS:
            x = n.inputs[0]
            r = len(g.shape(x))
            if len(n.inputs) > 1 and n.inputs[1] and not g.is_const(n.inputs[1]):
                raise _fail(g, n, "the axes input must be a constant")
            axes = _axes_of(g, n)
            keep = int(n.attrs.get("keepdims", 1))
            n.inputs = [x]
            if not axes:  # noop_with_empty_axes=1 and no axes: the identity
                n.op, n.attrs = "Reshape", {"shape": list(g.shape(n.outputs[0]))}
                nodes.append(n)
                continue
            after: List[Node] = []
            if r > 4:  # e.g. torch.stack(...).mean(1): the same reduction over merged axes
                x, axes, after = _merge_reduced_axes(g, n, axes, keep, nodes)
                r, keep = len(g.shape(x)), 1
            n.attrs = {"axes": axes, "keepdims": keep}
            if n.op == "ReduceMean" and r == 4 and set(axes) <= {2, 3}:
                nodes.extend(_mean_as_avg_pool(g, n) + after)
                continue
            nodes.append(n)
            nodes.extend(after)
            continue
        elif n.op in ARG_OPS:
            r = len(g.shape(n.inputs[0]))
            if r > 4:
                raise _fail(g, n, f"the input has rank {r}; {n.op} over tensors of rank <= 4 is supported")
            n.attrs = {"axis": int(n.attrs.get("axis", 0)) % r, "keepdims": int(n.attrs.get("keepdims", 1)),
                       "select_last_index": int(n.attrs.get("select_last_index", 0))}
        elif n.op == "TopK":
            _top_k_attrs(g, n)
        elif n.op == "LayerNormalization":
            _layer_norm_attrs(g, n)
        nodes.append(n)
    g.nodes = nodes
    g.remove_unused()
    return g


def _top_k_attrs(g: Graph, n: Node) -> None:
    """TopK's K (an input from opset 10, an attribute before) as the attribute ``k``; axis made
    non-negative; sorted or not, the kernel gives the sorted order (a valid unsorted one)."""
    r = len(g.shape(n.inputs[0]))
    if r > 4:
        raise _fail(g, n, f"the input has rank {r}; TopK over tensors of rank <= 4 is supported")
    if len(n.inputs) > 1 and n.inputs[1]:
        if not g.is_const(n.inputs[1]):
            raise _fail(g, n, "K must be a constant (an initializer or a folded constant subgraph)")
        ks = g.const(n.inputs[1]).reshape(-1)
        if ks.size != 1:
            raise _fail(g, n, f"K must be one value, got {ks.tolist()}")
        k = int(ks[0])
    elif "k" in n.attrs:
        k = int(n.attrs["k"])
    else:
        raise _fail(g, n, "TopK without K")
    n.inputs = [n.inputs[0]]
    n.attrs = {"axis": int(n.attrs.get("axis", -1)) % r, "k": k, "largest": int(n.attrs.get("largest", 1))}


def _merge_reduced_axes(g: Graph, n: Node, axes: List[int], keep: int, nodes: List[Node]):
    """A reduction of a rank > 4 tensor as the same reduction of a view whose runs of adjacent
    reduced (or kept) axes are merged into one, when that view has rank <= 4: a Reshape to the view
    is appended to ``nodes``, ``n`` reads it with keepdims=1, and the Reshape to ``n``'s output
    shape is returned. Returns (view, its reduced axes, [that Reshape])."""
    x, out = n.inputs[0], n.outputs[0]
    s = g.shape(x)
    dims: List[int] = []
    reduced: List[bool] = []
    for i, d in enumerate(s):
        red = i in axes
        if d == 1 and len(s) > 1:  # size-1 axes reshape away whichever side they are on
            continue
        if reduced and reduced[-1] == red:
            dims[-1] *= d
        else:
            dims.append(d)
            reduced.append(red)
    if not any(reduced):  # only size-1 axes reduced: a view
        dims.append(1)
        reduced.append(True)
    if len(dims) > 4:
        raise _fail(g, n, f"the input has rank {len(s)} with {len(dims)} separate runs of reduced and kept axes; "
                          "reductions of tensors of rank <= 4 are supported")
    view = g.unique_name(x + "_merged")
    g.tensors[view] = Tensor(view, tuple(dims))
    g.aliases[view] = x  # views: the values (and calibrated ranges) of x and of the output
    nodes.append(Node(g.unique_name(n.name + "_merge"), "Reshape", [x], [view], {"shape": list(dims)}))
    red_out = g.unique_name(out + "_merged")
    g.tensors[red_out] = Tensor(red_out, tuple(1 if r else d for d, r in zip(dims, reduced)))
    g.aliases[red_out] = out
    n.inputs, n.outputs = [view], [red_out]
    back = Node(g.unique_name(out + "_unmerge"), "Reshape", [red_out], [out], {"shape": list(g.shape(out))})
    return view, [i for i, r in enumerate(reduced) if r], [back]


def _mean_as_avg_pool(g: Graph, n: Node) -> List[Node]:
    """ReduceMean over H and/or W of a 4-D NCHW tensor -> AveragePool (+ Reshape for keepdims=0)."""
    s = g.shape(n.inputs[0])
    kernel = [s[2] if 2 in n.attrs["axes"] else 1, s[3] if 3 in n.attrs["axes"] else 1]
    keep = n.attrs["keepdims"]
    out = n.outputs[0]
    n.op = "AveragePool"
    n.attrs = {"kernel": kernel, "strides": [1, 1], "dilations": [1, 1], "pads": [0, 0, 0, 0],
               "count_include_pad": 0}
    if keep:
        return [n]
    o4 = g.unique_name(out + "_4d")
    g.tensors[o4] = Tensor(o4, (s[0], s[1], s[2] // kernel[0], s[3] // kernel[1]))
    g.aliases[o4] = out
    n.outputs = [o4]
    return [n, Node(g.unique_name(out + "_squeeze"), "Reshape", [o4], [out], {"shape": list(g.shape(out))})]


def _layer_norm_attrs(g: Graph, n: Node) -> None:
    x = n.inputs[0]
    shape = g.shape(x)
    r = len(shape)
    if r > 4:
        raise _fail(g, n, f"the input has rank {r}; LayerNormalization of tensors of rank <= 4 is supported")
    if "axes" in n.attrs:
        return  # already canonical
    extra = [o for o in n.outputs[1:] if o and (g.consumers(o) or o in g.outputs)]
    if extra:
        raise _fail(g, n, "the Mean / InvStdDev outputs of LayerNormalization are not supported")
    axis = int(n.attrs.get("axis", -1)) % r
    norm_shape = tuple(shape[axis:])
    params = []
    for k, what in ((1, "scale"), (2, "bias")):
        t = n.inputs[k] if len(n.inputs) > k else ""
        if not t:
            params.append(np.full(norm_shape, 1.0 if k == 1 else 0.0, np.float32))
            continue
        if not g.is_const(t):
            raise _fail(g, n, f"the {what} input '{t}' must be a constant")
        try:
            params.append(np.ascontiguousarray(np.broadcast_to(g.const(t), norm_shape).astype(np.float32)))
        except ValueError:
            raise _fail(g, n, f"the {what} input '{t}' has shape {list(g.shape(t))}, which does not broadcast to "
                              f"the normalized shape {list(norm_shape)}") from None
    n.inputs = [x, g.add_const(n.name + "_scale", params[0]), g.add_const(n.name + "_bias", params[1])]
    n.outputs = n.outputs[:1]
    n.attrs = {"axes": list(range(axis, r)), "epsilon": float(n.attrs.get("epsilon", 1e-5))}


# ----------------------------------------------------------------------------------- layout --

def to_nhwc_node(g: Graph, n: Node, four_d: set, nchw_shape: Dict[str, tuple],
                 to_nhwc: Sequence[int]) -> List[Node]:
    """Rewrite one reduction / ArgMax / LayerNormalization node whose input is stored NHWC.
    ``to_nhwc[i]`` is the NCHW axis that NHWC axis i holds. Returns the nodes to emit."""
    if n.op == "LayerNormalization":
        axes = list(n.attrs["axes"])
        new_axes = sorted(to_nhwc.index(a) for a in axes)
        perm = [axes.index(to_nhwc[p]) for p in new_axes]
        for k in (1, 2):
            c = g.const(n.inputs[k])
            n.inputs[k] = g.add_const(n.inputs[k] + "_nhwc", np.ascontiguousarray(c.transpose(perm)))
        n.attrs = dict(n.attrs, axes=new_axes)
        return [n]
    if n.op == "TopK":  # both outputs keep every axis: the axis moves with the layout
        n.attrs = dict(n.attrs, axis=to_nhwc.index(n.attrs["axis"]))
        return [n]
    if n.op in ARG_OPS:
        axes, keep = [n.attrs["axis"]], n.attrs["keepdims"]
        n.attrs = dict(n.attrs, axis=to_nhwc.index(n.attrs["axis"]))
    else:
        axes, keep = list(n.attrs["axes"]), n.attrs["keepdims"]
        n.attrs = dict(n.attrs, axes=sorted(to_nhwc.index(a) for a in axes))
    if keep:
        return [n]
    kept = [a for a in range(4) if a not in axes]                  # the ONNX result's axes (NCHW order)
    kept_nhwc = [to_nhwc[i] for i in range(4) if to_nhwc[i] not in axes]  # as the NHWC data holds them
    if kept == kept_nhwc:
        return [n]
    out = n.outputs[0]
    src = nchw_shape[n.inputs[0]]
    tmp = g.unique_name(out + "_nhwc")
    g.tensors[tmp] = Tensor(tmp, tuple(src[a] for a in kept_nhwc))
    g.aliases[tmp] = out
    n.outputs = [tmp]
    perm = [kept_nhwc.index(a) for a in kept]
    return [n, Node(g.unique_name(out + "_to_nchw"), "Transpose", [tmp], [out], {"perm": perm})]
