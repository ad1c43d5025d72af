"""NCHW -> NHWC: store every 4-D activation channels-last, as the kernels expect.

Shapes of 4-D activations become NHWC and axis attributes are remapped. Where a tensor
crosses into NCHW semantics (a Reshape, or the public API when the config keeps the
model's layout) an explicit Transpose is inserted; :func:`simplify_transposes` then turns
the ones that do not move any byte into views and folds others into FC weights.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from ..errors import ModelError
from ..ir import Graph, Node, Tensor
from . import rank3

TO_NHWC = (0, 2, 3, 1)  # nhwc axis i holds nchw axis TO_NHWC[i]
TO_NCHW = (0, 3, 1, 2)
_LAYOUT_FREE = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Conv", "MaxPool", "AveragePool"}
_LAYOUT_FREE |= {"ConvTranspose"}  # NHWC kernel (qnnc_conv_general_s8)
# Their rules (quantize/rules_movement.py) read NHWC-stored 4-D tensors and map the ONNX axes themselves.
_LAYOUT_FREE |= {"Slice", "Split", "Gather", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth"}
_LAYOUT_FREE |= {"HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Erf", "Gelu", "Exp",
                 "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Pow", "Mod", "Sin", "Cos", "Floor", "Ceil", "Round",
                 "Sign", "ThresholdedRelu", "Shrink", "Tan", "Atan", "Asin", "Acos", "Sinh", "Cosh", "Asinh", "Acosh",
                 "Atanh"}  # tables


def _compose(p: Sequence[int], q: Sequence[int]) -> List[int]:
    """Permutation of x.transpose(p).transpose(q)."""
    return [p[j] for j in q]


def _nhwc(shape):
    return tuple(shape[i] for i in TO_NHWC)


def _insert_transpose(g: Graph, src: str, perm: Sequence[int], name: str, out_shape):
    out = g.unique_name(name)
    g.tensors[out] = Tensor(out, tuple(out_shape))
    return out, Node(g.unique_name(name + "_op"), "Transpose", [src], [out], {"perm": list(perm)})


def to_nhwc(graph: Graph) -> Graph:
    """Rewrite the graph so 4-D activations are stored NHWC."""
    g = graph.copy()
    four_d = {name for name, t in g.tensors.items() if not t.is_const and len(t.shape) == 4}
    nchw_shape = {name: g.tensors[name].shape for name in four_d}
    for name in four_d:
        g.tensors[name].shape = _nhwc(g.tensors[name].shape)
    io_nhwc = g.io_layout == "NHWC"
    nodes: List[Node] = []

    # Graph input: the API keeps NCHW unless the config asks for NHWC.
    for i, inp in enumerate(g.inputs):
        if inp in four_d and not io_nhwc:
            internal = g.unique_name(inp + "_nhwc")
            g.tensors[internal] = Tensor(internal, g.tensors[inp].shape)
            g.tensors[inp].shape = nchw_shape[inp]
            for n in g.nodes:
                n.inputs = [internal if x == inp else x for x in n.inputs]
            four_d.discard(inp)
            four_d.add(internal)
            nchw_shape[internal] = nchw_shape[inp]
            nodes.append(Node(g.unique_name(inp + "_to_nhwc"), "Transpose", [inp], [internal],
                              {"perm": list(TO_NHWC)}))

    for n in g.nodes:
        x4 = [i for i in n.inputs if i in four_d]
        if n.op == "Reshape":
            src = n.inputs[0]
            if src in four_d:
                t, node = _insert_transpose(g, src, TO_NCHW, src + "_nchw", nchw_shape[src])
                nodes.append(node)
                n.inputs = [t]
            out = n.outputs[0]
            if out in four_d:
                tmp = g.unique_name(out + "_nchw")
                g.tensors[tmp] = Tensor(tmp, nchw_shape[out])
                n.outputs = [tmp]
                n.attrs = {"shape": list(nchw_shape[out])}
                nodes.append(n)
                nodes.append(Node(g.unique_name(out + "_to_nhwc"), "Transpose", [tmp], [out],
                                  {"perm": list(TO_NHWC)}))
                continue
        elif n.op == "Transpose" and x4:
            perm = list(n.attrs.get("perm", [3, 2, 1, 0]))
            n.attrs = {"perm": _compose(_compose(TO_NCHW, perm), TO_NHWC)}
        elif n.op == "Concat" and x4:
            axis = n.attrs.get("axis", 0) % 4
            n.attrs = {"axis": TO_NHWC.index(axis)}
        elif n.op in ("Softmax", "LogSoftmax") and x4 and n.attrs.get("axis", -1) % 4 == 3:  # attention: over
            nodes.extend(_compute_in_nchw(g, n, four_d, nchw_shape))  # W, the last axis in NCHW, not in NHWC
            continue
        elif n.op in ("Softmax", "LogSoftmax") and x4:  # (other axes than C and W: frontend/decompose.py)
            axis = n.attrs.get("axis", -1) % 4
            n.attrs = {"axis": TO_NHWC.index(axis)}
        elif n.op == "Pad" and x4:
            pads = n.attrs["pads"]
            n.attrs = dict(n.attrs, pads=[pads[i] for i in TO_NHWC] + [pads[4 + i] for i in TO_NHWC])
        elif n.op in ("Add", "Mul", "Sub", "Max", "Min", "PRelu") and x4:
            for k, inp in enumerate(n.inputs):
                if g.is_const(inp):
                    c = g.const(inp)
                    if c.ndim > 4:
                        raise ModelError(f"constant '{inp}' has rank {c.ndim}", file=g.source, node=n.name, op=n.op)
                    c4 = c.reshape((1,) * (4 - c.ndim) + c.shape).transpose(TO_NHWC)
                    n.inputs[k] = g.add_const(inp + "_nhwc", np.ascontiguousarray(c4))
                elif inp not in four_d:
                    raise ModelError(f"broadcasting the {len(g.shape(inp))}-D activation '{inp}' against a 4-D "
                                     "tensor is not supported", file=g.source, node=n.name, op=n.op)
        elif n.op == "MatMul" and x4:
            nodes.extend(_compute_in_nchw(g, n, four_d, nchw_shape))
            continue
        elif n.op in rank3.NHWC_OPS and x4:
            nodes.extend(rank3.to_nhwc_node(g, n, four_d, nchw_shape, TO_NHWC))
            continue
        elif x4 and n.op not in _LAYOUT_FREE:
            raise ModelError(f"{n.op} on 4-D tensors is not supported by the layout conversion",
                             file=g.source, node=n.name, op=n.op)
        nodes.append(n)

    for out in dict.fromkeys(g.outputs):  # once per tensor: a model may return one tensor twice
        if out in four_d and not io_nhwc:
            internal = g.unique_name(out + "_nhwc")
            g.tensors[internal] = Tensor(internal, g.tensors[out].shape)
            g.tensors[out].shape = nchw_shape[out]
            g.aliases[internal] = out
            for n in nodes:
                n.outputs = [internal if o == out else o for o in n.outputs]
                n.inputs = [internal if i == out else i for i in n.inputs]
            nodes.append(Node(g.unique_name(out + "_to_nchw"), "Transpose", [internal], [out],
                              {"perm": list(TO_NCHW)}))
    g.nodes = nodes
    g.layout = "NHWC"
    return g


def _compute_in_nchw(g: Graph, n: Node, four_d: set, nchw_shape) -> List[Node]:
    """An op computed over the ONNX dims (MatMul on 4-D tensors, a Softmax over W): its 4-D inputs
    are transposed back to NCHW and its 4-D output to NHWC (simplify_transposes then merges these
    with their neighbours)."""
    nodes = []
    for k, inp in enumerate(n.inputs):
        if inp in four_d:
            t, node = _insert_transpose(g, inp, TO_NCHW, inp + "_nchw", nchw_shape[inp])
            nodes.append(node)
            n.inputs[k] = t
    out = n.outputs[0]
    if out not in four_d:
        return nodes + [n]
    tmp = g.unique_name(out + "_nchw")
    g.tensors[tmp] = Tensor(tmp, nchw_shape[out])
    g.aliases[tmp] = out  # the same values: the output's calibrated range
    n.outputs = [tmp]
    return nodes + [n, Node(g.unique_name(out + "_to_nhwc"), "Transpose", [tmp], [out], {"perm": list(TO_NHWC)})]


def _moves_no_data(shape: Sequence[int], perm: Sequence[int]) -> bool:
    """True when transposing ``shape`` by ``perm`` keeps the bytes in the same order."""
    kept = [p for p in perm if shape[p] != 1]
    return kept == sorted(kept)


def simplify_transposes(graph: Graph) -> Graph:
    """Remove transposes that move no data, merge chains, fold into FC weights."""
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for n in list(g.nodes):
            if n.op != "Transpose":
                continue
            src = n.inputs[0]
            prod = g.producer(src)
            if prod is not None and prod.op == "Transpose" and len(g.consumers(src)) == 1 and src not in g.outputs:
                n.attrs = {"perm": _compose(prod.attrs["perm"], n.attrs["perm"])}
                n.inputs = [prod.inputs[0]]
                g.nodes.remove(prod)
                changed = True
                break
            if _moves_no_data(g.shape(src), n.attrs["perm"]):
                n.op = "Reshape"
                n.attrs = {"shape": list(g.shape(n.outputs[0]))}
                changed = True
                break
            if _fold_into_fc(g, n):
                changed = True
                break
    g.remove_unused()
    return g


def _fold_into_fc(g: Graph, t: Node) -> bool:
    """Transpose -> Reshape([1, K]) -> FullyConnected(s): permute the weight columns instead."""
    out = t.outputs[0]
    users = g.consumers(out)
    if len(users) != 1 or users[0].op != "Reshape" or out in g.outputs:
        return False
    r = users[0]
    fcs = g.consumers(r.outputs[0])
    if r.outputs[0] in g.outputs or not fcs or any(f.op != "FullyConnected" or f.inputs[0] != r.outputs[0]
                                                     for f in fcs):
        return False
    if len(g.shape(r.outputs[0])) != 2 or g.shape(r.outputs[0])[0] != 1:
        return False
    src_shape = g.shape(t.inputs[0])
    n = int(np.prod(src_shape))
    idx = np.arange(n).reshape(src_shape).transpose(t.attrs["perm"]).ravel()
    for f in fcs:
        W = g.const(f.inputs[1])
        Wp = np.empty_like(W)
        Wp[:, idx] = W
        f.inputs[1] = g.add_const(f.inputs[1] + "_perm", Wp)
    r.inputs = [t.inputs[0]]
    g.nodes.remove(t)
    return True
