"""Rewrite ONNX ops into the smaller set the quantizer lowers.

After these passes: Gemm and MatMul(+Add) are ``FullyConnected`` (W as [N, K], bias [N]),
GlobalAveragePool is ``AveragePool``, Sub/Div by a constant are Add/Mul, Clip carries its
bounds as attributes, Conv carries explicit pads and a bias input, BatchNormalization is
folded into its producer (or becomes Mul + Add).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelError
from ..ir import Graph, Node, Tensor


def _single_consumer(g: Graph, tensor: str) -> bool:
    return len(g.consumers(tensor)) == 1 and tensor not in g.outputs


def _fail(g: Graph, n: Node, msg: str) -> ModelError:
    return ModelError(msg, file=g.source, node=n.name, op=f"{n.op}, opset {g.opset}")


def conv_attrs(graph: Graph) -> Graph:
    """Give Conv/pools explicit kernel, stride, dilation and [top, left, bottom, right] pads."""
    g = graph.copy()
    for n in g.nodes:
        if n.op not in ("Conv", "MaxPool", "AveragePool") or "kernel" in n.attrs:
            continue  # not a windowed op, or already canonical
        x_shape = g.shape(n.inputs[0])
        if len(x_shape) != 4:
            raise _fail(g, n, f"only 2-D {n.op} over a 4-D NCHW input is supported; this input has shape "
                              f"{list(x_shape)} ({len(x_shape) - 2}-D {n.op})")
        if n.op == "Conv":
            w = g.tensors[n.inputs[1]]
            if not w.is_const:
                raise _fail(g, n, "the weights must be a constant initializer")
            kernel = list(w.shape[2:])
        else:
            kernel = list(n.attrs["kernel_shape"])
        strides = list(n.attrs.get("strides", [1, 1]))
        dil = list(n.attrs.get("dilations", [1, 1]))
        out_hw = g.shape(n.outputs[0])[2:]
        auto_pad = n.attrs.get("auto_pad", "NOTSET")
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for d in range(2):
                eff = (kernel[d] - 1) * dil[d] + 1
                total = max((out_hw[d] - 1) * strides[d] + eff - x_shape[2 + d], 0)
                small, big = total // 2, total - total // 2
                pads.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
            pads = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
        elif auto_pad == "VALID":
            pads = [0, 0, 0, 0]
        else:
            pads = list(n.attrs.get("pads", [0, 0, 0, 0]))
        if any(p < 0 for p in pads):
            raise _fail(g, n, f"negative pads {pads} are not supported")
        attrs = {"kernel": kernel, "strides": strides, "dilations": dil, "pads": pads}
        if n.op == "Conv":
            attrs["group"] = int(n.attrs.get("group", 1))
            if len(n.inputs) < 3 or not n.inputs[2]:
                cout = g.shape(n.inputs[1])[0]
                n.inputs = [n.inputs[0], n.inputs[1], g.add_const(n.name + "_bias", np.zeros(cout, np.float32))]
        elif n.op == "AveragePool":
            attrs["count_include_pad"] = int(n.attrs.get("count_include_pad", 0))
        if n.op == "MaxPool" and len(n.outputs) > 1 and n.outputs[1]:
            raise _fail(g, n, "the Indices output of MaxPool is not supported")
        n.attrs = attrs
    return g


def global_pool(graph: Graph) -> Graph:
    """GlobalAveragePool/GlobalMaxPool -> AveragePool/MaxPool over the whole plane."""
    g = graph.copy()
    for n in g.nodes:
        if n.op in ("GlobalAveragePool", "GlobalMaxPool"):
            shape = g.shape(n.inputs[0])
            if len(shape) != 4:
                raise _fail(g, n, f"only 2-D global pooling over a 4-D NCHW input is supported; this input has "
                                  f"shape {list(shape)} ({len(shape) - 2}-D pooling)")
            n.op = "AveragePool" if n.op == "GlobalAveragePool" else "MaxPool"
            n.attrs = {"kernel": [shape[2], shape[3]], "strides": [1, 1], "dilations": [1, 1],
                       "pads": [0, 0, 0, 0], "count_include_pad": 0}
    return g


def sub_div(graph: Graph) -> Graph:
    """x - c -> x + (-c); x / c -> x * (1/c) for constant c."""
    g = graph.copy()
    for n in g.nodes:
        if n.op == "Sub" and g.is_const(n.inputs[1]):
            n.op = "Add"
            n.inputs[1] = g.add_const(n.inputs[1] + "_neg", (-g.const(n.inputs[1])).astype(np.float32))
        elif n.op == "Div" and g.is_const(n.inputs[1]):
            c = g.const(n.inputs[1])
            if np.any(c == 0):
                raise _fail(g, n, "division by a constant that contains zero")
            n.op = "Mul"
            n.inputs[1] = g.add_const(n.inputs[1] + "_inv", (1.0 / c).astype(np.float32))
        elif n.op in ("Add", "Mul") and g.is_const(n.inputs[0]) and not g.is_const(n.inputs[1]):
            n.inputs = [n.inputs[1], n.inputs[0]]
    return g


def _check_features(g: Graph, n: Node, a: str, k: int) -> None:
    """The weight's input features ``k`` equal the last dim of the FC input ``a`` (shape inference
    does not check it for Gemm)."""
    have = g.shape(a)[-1] if g.shape(a) else None
    if have != k:
        raise _fail(g, n, f"the weights take {k} input features but the input '{a}' has {have} "
                          f"(shape {list(g.shape(a))})")


def clip_attrs(graph: Graph) -> Graph:
    """Clip(min, max inputs) -> Clip with float ``min``/``max`` attributes; Relu6 included."""
    g = graph.copy()
    for n in g.nodes:
        if n.op != "Clip":
            continue
        limits = {"min": n.attrs.get("min", -np.inf), "max": n.attrs.get("max", np.inf)}
        for i, what in ((1, "min"), (2, "max")):  # opset >= 11: inputs instead of attributes
            if len(n.inputs) > i and n.inputs[i]:
                if not g.is_const(n.inputs[i]):
                    raise _fail(g, n, f"Clip {what} must be a constant")
                limits[what] = _scalar(g, n.inputs[i])
                if limits[what] is None:  # the spec makes it a scalar; one element is accepted
                    raise _fail(g, n, f"Clip {what} must be a scalar, got shape {list(g.const(n.inputs[i]).shape)}")
        n.inputs = [n.inputs[0]]
        n.attrs = {"min": float(limits["min"]), "max": float(limits["max"])}
    g.remove_unused()
    return g


def fully_connected(graph: Graph) -> Graph:
    """Gemm and 2-D/3-D MatMul with constant weights -> FullyConnected(x, W[N,K], b[N]); other MatMul
    (two activations, batched) and Gemm (transA, computed B) stay / become MatMul."""
    g = graph.copy()
    for n in g.nodes:
        if n.op == "Gemm":
            a, w = n.inputs[0], n.inputs[1]
            if n.attrs.get("transA", 0) or not g.is_const(w) or g.is_const(a):
                # Not a fully connected layer: a MatMul with Gemm's attributes (batch_matmul,
                # quantize/rules_conv_general.py).
                n.op = "MatMul"
                n.attrs = {k: n.attrs[k] for k in ("transA", "transB", "alpha", "beta") if k in n.attrs}
                continue
            W = g.const(w).astype(np.float32)
            if not n.attrs.get("transB", 0):
                W = W.T
            W = W * np.float32(n.attrs.get("alpha", 1.0))
            N = W.shape[0]
            _check_features(g, n, a, W.shape[1])
            if len(n.inputs) > 2 and n.inputs[2]:
                if not g.is_const(n.inputs[2]):
                    raise _fail(g, n, "the C operand must be a constant")
                c = g.const(n.inputs[2]).astype(np.float32) * np.float32(n.attrs.get("beta", 1.0))
                rows = g.shape(n.outputs[0])[0]
                c = np.broadcast_to(c, (rows, N))
                if rows > 1 and not np.all(c == c[0:1]):
                    raise _fail(g, n, "a C operand that differs per row is not supported")
                b = np.ascontiguousarray(c[0])
            else:
                b = np.zeros(N, np.float32)
            n.op = "FullyConnected"
            n.inputs = [a, g.add_const(n.name + "_W", np.ascontiguousarray(W)), g.add_const(n.name + "_b", b)]
            n.attrs = {}
        elif n.op == "MatMul":
            a, w = n.inputs
            if not g.is_const(w) or g.is_const(a) or g.const(w).ndim != 2 or len(g.shape(a)) not in (2, 3):
                continue  # of two activations, or batched: stays MatMul (batch_matmul)
            W = g.const(w)
            _check_features(g, n, a, W.shape[0])
            n.op = "FullyConnected"
            n.inputs = [a, g.add_const(n.name + "_W", np.ascontiguousarray(W.T.astype(np.float32))),
                        g.add_const(n.name + "_b", np.zeros(W.shape[1], np.float32))]
            n.attrs = {}
    g.remove_unused()
    return g


def _per_channel(c: np.ndarray, channels: int, axis_from_end: int) -> np.ndarray:
    """A constant that broadcasts along one channel axis, as a [channels] vector, else None."""
    if c.size == 1:
        return np.full(channels, float(c.reshape(-1)[0]), np.float32)
    shape = list(c.shape)
    if len(shape) < axis_from_end:
        return None
    if shape[-axis_from_end] != channels or any(s != 1 for i, s in enumerate(shape)
                                                if i != len(shape) - axis_from_end):
        return None
    return c.reshape(-1).astype(np.float32)


def _layer_and_channel_constant(g: Graph, n: Node, op: str):
    """(the Conv/FullyConnected whose only reader is ``n``, n's constant operand as one value per
    output channel) when ``n`` is an ``op`` of that layer's output and a per-channel constant;
    else None."""
    if n.op != op or len(n.inputs) != 2 or not g.is_const(n.inputs[1]):
        return None
    prod = g.producer(n.inputs[0])
    if prod is None or prod.op not in ("Conv", "FullyConnected") or not _single_consumer(g, n.inputs[0]):
        return None
    c = g.const(n.inputs[1])
    vec = _per_channel(c, g.shape(prod.inputs[1])[0], 3 if prod.op == "Conv" else 1)
    if vec is None or len(c.shape) > len(g.shape(n.outputs[0])) or not np.all(np.isfinite(vec)):
        return None
    return prod, vec


def _fold_channel_constants(graph: Graph, op: str, fold) -> Graph:
    """Every ``op`` by a per-channel constant after a Conv/FullyConnected folded into that layer
    by ``fold(g, layer, values)``; the layer then writes the op's output."""
    g = graph.copy()
    for n in list(g.nodes):
        found = _layer_and_channel_constant(g, n, op)
        if found is None:
            continue
        prod, vec = found
        fold(g, prod, vec)
        prod.outputs = [n.outputs[0]]
        g.nodes.remove(n)
    g.remove_unused()
    return g


def _add_to_bias(g: Graph, prod: Node, vec: np.ndarray) -> None:
    bias = g.const(prod.inputs[2]) + vec
    prod.inputs[2] = g.add_const(prod.name + "_bias", bias.astype(np.float32))


def _scale_layer(g: Graph, prod: Node, vec: np.ndarray) -> None:
    W = g.const(prod.inputs[1]).astype(np.float64)
    W = W * vec.astype(np.float64).reshape((-1,) + (1,) * (W.ndim - 1))  # dim 0: the output channel
    b = g.const(prod.inputs[2]).astype(np.float64) * vec
    prod.inputs[1] = g.add_const(prod.name + "_W_scaled", W.astype(np.float32))
    prod.inputs[2] = g.add_const(prod.name + "_bias_scaled", b.astype(np.float32))


def fold_bias_add(graph: Graph) -> Graph:
    """Conv/FullyConnected followed by Add(per-channel constant) -> folded into the bias."""
    return _fold_channel_constants(graph, "Add", _add_to_bias)


def fold_scale_mul(graph: Graph) -> Graph:
    """Conv/FullyConnected followed by Mul(per-channel constant) -> folded into the weights and
    bias (tf2onnx leaves the BatchNormalization scale of a Keras depthwise conv as such a Mul:
    without this it costs a layer and a tensor in the arena)."""
    return _fold_channel_constants(graph, "Mul", _scale_layer)


def fuse_pad_conv(graph: Graph) -> Graph:
    """Pad(zeros, H/W only) followed by a Conv that alone reads it -> the Conv's own padding
    (Keras' ZeroPadding2D before a strided conv, as tf2onnx exports it): one layer and one arena
    tensor less. The conv pads with the input's zero point, which is the float 0 padded."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op != "Pad" or float(n.attrs.get("value", 0.0)) != 0.0 or len(g.shape(n.inputs[0])) != 4:
            continue
        pads = list(n.attrs.get("pads", []))
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)):
            continue  # batch or channel padding
        users = g.consumers(n.outputs[0])
        if len(users) != 1 or users[0].op != "Conv" or users[0].inputs[0] != n.outputs[0] or n.outputs[0] in g.outputs:
            continue
        conv = users[0]
        top, left, bottom, right = conv.attrs["pads"]
        conv.attrs["pads"] = [top + pads[2], left + pads[3], bottom + pads[6], right + pads[7]]
        conv.inputs[0] = n.inputs[0]
        g.nodes.remove(n)
    g.remove_unused()
    return g


def _check_batchnorm_params(g: Graph, n: Node, eps: float) -> None:
    """scale, B, mean and var hold one value per channel (input dim 1); var + epsilon > 0."""
    x_shape = g.shape(n.inputs[0])
    if len(x_shape) < 2:
        raise _fail(g, n, f"the input has shape {list(x_shape)}; BatchNormalization needs a channel dim (dim 1)")
    channels = x_shape[1]
    for what, t in zip(("scale", "B (bias)", "input_mean", "input_var"), n.inputs[1:5]):
        shape = list(g.shape(t))
        if g.const(t).size != channels or len(shape) != 1:
            raise _fail(g, n, f"parameter {what} '{t}' has shape {shape}; expected [{channels}], one value per "
                              f"channel of the input {list(x_shape)}")
    var = g.const(n.inputs[4]).astype(np.float64)
    bad = np.flatnonzero(~(var + eps > 0))
    if bad.size:
        c = int(bad[0])
        raise _fail(g, n, f"parameter input_var '{n.inputs[4]}' is {float(var[c])!r} at channel {c} (epsilon "
                          f"{eps!r}): a variance must be >= 0 (var + epsilon > 0); {bad.size} channel(s) are "
                          "invalid, the model's statistics are corrupt")


def fold_batchnorm(graph: Graph) -> Graph:
    """Fold BatchNormalization into the preceding Conv/FullyConnected; else make it Mul + Add."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op != "BatchNormalization":
            continue
        if len([o for o in n.outputs if o]) > 1:
            raise _fail(g, n, "training-mode BatchNormalization (extra outputs) is not supported")
        x, scale, bias, mean, var = n.inputs[:5]
        for t in (scale, bias, mean, var):
            if not g.is_const(t):
                raise _fail(g, n, f"'{t}' must be a constant")
        eps = float(n.attrs.get("epsilon", 1e-5))
        _check_batchnorm_params(g, n, eps)
        # Trained statistics make the output per channel ~ mean beta, std |gamma| (data-free ranges).
        g.bn_stats[g.original_name(n.outputs[0])] = (g.const(bias).astype(np.float64).reshape(-1),
                                                     np.abs(g.const(scale).astype(np.float64)).reshape(-1))
        s = (g.const(scale) / np.sqrt(g.const(var).astype(np.float64) + eps)).astype(np.float64)
        b = g.const(bias).astype(np.float64) - g.const(mean).astype(np.float64) * s
        prod = g.producer(x)
        if prod is not None and prod.op in ("Conv", "FullyConnected") and _single_consumer(g, x):
            W = g.const(prod.inputs[1]).astype(np.float64)
            W = W * s.reshape((-1,) + (1,) * (W.ndim - 1))
            b0 = g.const(prod.inputs[2]).astype(np.float64)
            prod.inputs[1] = g.add_const(prod.name + "_W_bn", W.astype(np.float32))
            prod.inputs[2] = g.add_const(prod.name + "_bias_bn", (b0 * s + b).astype(np.float32))
            prod.outputs = [n.outputs[0]]
            g.nodes.remove(n)
        else:
            # A standalone BatchNormalization is a per-channel affine map: a depthwise 1x1 Conv,
            # on a 4-D view (N, C, rest, 1) of another rank (BatchNorm1d after a Linear's ReLU).
            shape = list(g.shape(x))
            c = shape[1]
            n.op = "Conv"
            n.inputs = [x, g.add_const(n.name + "_W", s.astype(np.float32).reshape(c, 1, 1, 1)),
                        g.add_const(n.name + "_bias", b.astype(np.float32))]
            n.outputs = [n.outputs[0]]
            n.attrs = {"kernel": [1, 1], "strides": [1, 1], "dilations": [1, 1], "pads": [0, 0, 0, 0],
                       "group": c}
            if len(shape) != 4:
                _as_4d_view(g, n, shape)
    g.remove_unused()
    return g


def _as_4d_view(g: Graph, n: Node, shape: list) -> None:
    """Run node ``n`` (one input, one output of the same ``shape``, channels on dim 1) on 4-D views
    (N, C, rest, 1) made and undone by Reshapes; the views alias the tensors' calibrated ranges."""
    view = (shape[0], shape[1], int(np.prod(shape[2:], dtype=np.int64)), 1)
    x, out = n.inputs[0], n.outputs[0]
    x4, o4 = g.unique_name(x + "_4d"), g.unique_name(out + "_4d")
    for t, src in ((x4, x), (o4, out)):
        g.tensors[t] = Tensor(t, view)
        g.aliases[t] = src
    at = g.nodes.index(n)
    g.nodes.insert(at, Node(g.unique_name(x + "_to_4d"), "Reshape", [x], [x4], {"shape": list(view)}))
    g.nodes.insert(at + 2, Node(g.unique_name(out + "_from_4d"), "Reshape", [o4], [out], {"shape": list(shape)}))
    n.inputs[0], n.outputs = x4, [o4]


def pad_attrs(graph: Graph) -> Graph:
    """Pad with constant pads/value inputs -> ``pads``/``value`` attributes."""
    g = graph.copy()
    for n in g.nodes:
        if n.op != "Pad":
            continue
        if n.attrs.get("mode", "constant") != "constant":
            raise ModelError(f"Pad mode '{n.attrs.get('mode')}' is not supported (only 'constant')",
                             file=g.source, node=n.name, op="Pad")
        if len(n.inputs) > 1 and n.inputs[1]:
            if not g.is_const(n.inputs[1]):
                raise ModelError("the pads input must be constant", file=g.source, node=n.name, op="Pad")
            pads = [int(p) for p in g.const(n.inputs[1])]
        else:
            pads = list(n.attrs.get("pads", []))
        value = 0.0
        if len(n.inputs) > 2 and n.inputs[2]:
            # a scalar in ONNX; some writers give it as [1], which onnxruntime reads alike
            fill = np.asarray(g.const(n.inputs[2])) if g.is_const(n.inputs[2]) else None
            if fill is None or fill.size != 1:
                raise ModelError("the constant_value input must be a constant scalar (one element)",
                                 file=g.source, node=n.name, op="Pad")
            value = float(fill.reshape(-1)[0])
        if len(n.inputs) > 3 and n.inputs[3]:
            raise ModelError("Pad with axes is not supported", file=g.source, node=n.name, op="Pad")
        if any(p < 0 for p in pads):
            raise ModelError("negative pads (cropping) are not supported", file=g.source, node=n.name, op="Pad")
        n.inputs = [n.inputs[0]]
        n.attrs = {"pads": pads, "value": value}
    g.remove_unused()
    return g


def avg_pool_include_pad(graph: Graph) -> Graph:
    """AveragePool with count_include_pad=1 -> Pad(0) + AveragePool without padding.

    ONNX divides by the window cells inside the *padded* input (so in ceil mode a window
    that runs past the padding counts fewer cells); an explicit Pad gives exactly that.
    """
    from ..ir import Tensor
    g = graph.copy()
    for n in list(g.nodes):
        if n.op != "AveragePool" or not n.attrs.get("count_include_pad") or not any(n.attrs["pads"]):
            continue
        t, l, b, r = n.attrs["pads"]
        x = n.inputs[0]
        s = g.shape(x)
        padded = g.unique_name(x + "_padded")
        g.tensors[padded] = Tensor(padded, (s[0], s[1], s[2] + t + b, s[3] + l + r))
        pad = Node(g.unique_name(n.name + "_pad"), "Pad", [x], [padded],
                   {"pads": [0, 0, t, l, 0, 0, b, r], "value": 0.0})
        g.nodes.insert(g.nodes.index(n), pad)
        n.inputs = [padded]
        n.attrs = dict(n.attrs, pads=[0, 0, 0, 0], count_include_pad=0)
    return g


def _scalar(g: Graph, name: str):
    """The float value of a constant holding one element, else None."""
    if not name or not g.is_const(name) or g.const(name).size != 1:
        return None
    return float(g.const(name).reshape(-1)[0])


def _new_tensor(g: Graph, base: str, like: str) -> str:
    """A new activation tensor with the shape of ``like``."""
    from ..ir import Tensor
    name = g.unique_name(base)
    g.tensors[name] = Tensor(name, tuple(g.shape(like)))
    return name


def _chain(g: Graph, n: Node, op: str, acts, derived: str, out: str):
    """``op`` applied pairwise left to right over ``acts``, the last result named ``out``; the
    partial results are new tensors whose ranges follow from their inputs (``derived``)."""
    nodes, cur = [], acts[0]
    for k, t in enumerate(acts[1:]):
        last = k == len(acts) - 2
        dst = out if last else _new_tensor(g, f"{n.outputs[0]}_part{k}", n.outputs[0])
        nodes.append(Node(g.unique_name(f"{n.name}_{op.lower()}{k}"), op, [cur, t], [dst],
                          {} if last else {"derived_range": derived}))
        cur = dst
    return nodes


def elementwise_ops(graph: Graph) -> Graph:
    """Element-wise ops into the forms the int8 rules lower (after ``sub_div``):

    - Div(a, b) by an activation -> Mul(a, Reciprocal(b)) (the Reciprocal a table whose range
      follows from b's); Div(c, b) with a scalar constant c -> one table c / b;
    - Sub(c, x) of a constant minus an activation -> Sub(x, c) with ``reversed`` (the add kernel
      negates the other input);
    - variadic Sum / Mean / Max / Min -> chains of two-input Add / Max / Min (Mean: a Mul by 1/n
      at the end), constants combined into one; Max / Min with a scalar constant -> Clip;
    - Pow with a constant scalar exponent (or base) -> a unary Pow with ``exponent`` (``base``);
    - Mod with a constant scalar divisor (or dividend) -> a unary Mod with ``divisor``
      (``dividend``) and ``fmod`` (torch.fmod);
    - PRelu with a single slope -> LeakyRelu (a table, fusable into Conv).
    """
    g = _fuse_hard_swish(graph.copy())
    out_nodes = []
    for n in g.nodes:
        if n.op == "Div" and not g.is_const(n.inputs[1]):
            a, b = n.inputs
            num = _scalar(g, a)
            if num is not None:
                out_nodes.append(Node(n.name, "Reciprocal", [b], list(n.outputs), {"numerator": num}))
                continue
            r = _new_tensor(g, f"{b}_reciprocal", b)
            out_nodes.append(Node(g.unique_name(f"{n.name}_reciprocal"), "Reciprocal", [b], [r],
                                  {"derived_range": "table"}))
            ins = [r, a] if g.is_const(a) else [a, r]
            out_nodes.append(Node(n.name, "Mul", ins, list(n.outputs), {}))
            continue
        if n.op == "Sub" and g.is_const(n.inputs[0]) and not g.is_const(n.inputs[1]):
            n.inputs = [n.inputs[1], n.inputs[0]]
            n.attrs = {"reversed": 1}
        elif n.op in ("Sum", "Mean", "Max", "Min"):
            out_nodes.extend(_variadic(g, n))
            continue
        elif n.op == "Pow":
            e, b = _scalar(g, n.inputs[1]), _scalar(g, n.inputs[0])
            if not g.is_const(n.inputs[0]) and e is not None:
                n.attrs = {"exponent": e}
                n.inputs = [n.inputs[0]]
            elif b is not None and not g.is_const(n.inputs[1]):
                n.attrs = {"base": b}
                n.inputs = [n.inputs[1]]
            else:
                raise _fail(g, n, "Pow needs a constant scalar exponent (or a constant scalar base); a "
                                  "computed or per-element exponent is not supported")
        elif n.op == "Mod":
            d, c = _scalar(g, n.inputs[1]), _scalar(g, n.inputs[0])
            fmod = int(n.attrs.get("fmod", 0))
            if not g.is_const(n.inputs[0]) and d is not None and d != 0.0 and math.isfinite(d):
                n.attrs = {"divisor": d, "fmod": fmod}
                n.inputs = [n.inputs[0]]
            elif c is not None and math.isfinite(c) and not g.is_const(n.inputs[1]):
                n.attrs = {"dividend": c, "fmod": fmod}
                n.inputs = [n.inputs[1]]
            else:
                raise _fail(g, n, "Mod needs a constant non-zero finite scalar divisor (or a constant finite scalar "
                                  "dividend); a computed or per-element divisor is not supported")
        elif n.op == "PRelu" and _scalar(g, n.inputs[1]) is not None:
            n.op, n.attrs, n.inputs = "LeakyRelu", {"alpha": _scalar(g, n.inputs[1])}, [n.inputs[0]]
        out_nodes.append(n)
    g.nodes = out_nodes
    g.remove_unused()
    return g


def _fuse_hard_swish(g: Graph) -> Graph:
    """Mul(x, HardSigmoid(x)) (PyTorch's Hardswish at opset < 14) -> one HardSwish table with the
    HardSigmoid's alpha and beta (one rounding instead of two, no Mul kernel)."""
    for n in list(g.nodes):
        if n.op != "Mul" or len(n.inputs) != 2:
            continue
        for k in (0, 1):
            hs = g.producer(n.inputs[k])
            x = n.inputs[1 - k]
            if (hs is not None and hs.op == "HardSigmoid" and hs.inputs[0] == x and not g.is_const(x)
                    and _single_consumer(g, n.inputs[k])):
                n.op, n.inputs = "HardSwish", [x]
                n.attrs = {"alpha": float(hs.attrs.get("alpha", 0.2)), "beta": float(hs.attrs.get("beta", 0.5))}
                g.nodes.remove(hs)
                break
    g.remove_unused()
    return g


def _variadic(g: Graph, n: Node):
    """The nodes replacing a Sum / Mean / Max / Min (see :func:`elementwise_ops`)."""
    acts = [i for i in n.inputs if i and not g.is_const(i)]
    consts = [g.const(i).astype(np.float64) for i in n.inputs if i and g.is_const(i)]
    out = n.outputs[0]
    if n.op in ("Sum", "Mean"):
        c = sum(consts) if consts else None
        count = len([i for i in n.inputs if i])
        scale = 1.0 / count if n.op == "Mean" and count > 1 else None
        tail = []  # ops after the chain: + constant, * 1/n
        if c is not None:
            tail.append(("Add", c))
        if scale is not None:
            tail.append(("Mul", np.float32(scale)))
        op, derived = "Add", "sum"
    else:
        c = None
        if consts:
            c = consts[0]
            for k in consts[1:]:
                c = np.maximum(c, k) if n.op == "Max" else np.minimum(c, k)
        tail = [(n.op, c)] if c is not None else []
        op, derived = n.op, n.op.lower()
    if len(acts) == 1 and not tail:
        return [Node(n.name, "Reshape", [acts[0]], [out], {"shape": list(g.shape(out))})]
    steps = len(acts) - 1 + len(tail)
    nodes, cur = [], acts[0]
    if len(acts) > 1:
        dst = out if not tail else _new_tensor(g, f"{out}_{op.lower()}", out)
        nodes = _chain(g, n, op, acts, derived, dst)
        if tail:
            nodes[-1].attrs = {"derived_range": derived}
        cur = dst
    for k, (top, value) in enumerate(tail):
        last = k == len(tail) - 1
        dst = out if last else _new_tensor(g, f"{out}_{top.lower()}", out)
        name = n.name if last else g.unique_name(f"{n.name}_{top.lower()}")
        v = np.asarray(value)
        if top in ("Max", "Min") and v.size == 1:
            bound = float(v.reshape(-1)[0])
            nodes.append(Node(name, "Clip", [cur], [dst], {"min": bound, "max": float("inf")} if top == "Max"
                              else {"min": float("-inf"), "max": bound}))
        else:
            cname = g.add_const(f"{n.name}_{top.lower()}_const", v.astype(np.float32))
            attrs = {} if last else {"derived_range": "sum"}  # only an Add precedes another tail op
            nodes.append(Node(name, top, [cur, cname], [dst], attrs))
        cur = dst
    assert steps == len(nodes)
    return nodes


# -- LSTM / GRU (quantize/rules_recurrent.py lowers them) ------------------------------------------
_RNN_GATES = {"LSTM": 4, "GRU": 3}
_RNN_DEFAULT_ACTS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}
_RNN_DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}


def recurrent_attrs(graph: Graph) -> Graph:
    """Check LSTM/GRU nodes and normalize them for rules_recurrent.py.

    Attributes become {hidden_size, direction, linear_before_reset}; the 4-D output Y [T, dirs, 1, H]
    is produced as a 3-D [T, dirs, H] tensor (same bytes at batch 1) followed by a Reshape, so the
    NHWC layout pass leaves it alone. Refused (naming node, op, attribute): batch > 1, layout=1,
    clip, input_forget, non-default activations, nonzero peepholes, sequence_lens other than the
    full length, non-constant W/R/B/initial states.
    """
    g = graph.copy()
    nodes = []
    for n in g.nodes:
        nodes.append(n)
        if n.op not in _RNN_GATES:
            continue
        a, gates = n.attrs, _RNN_GATES[n.op]
        layout = int(a.get("layout", 0))
        direction = a.get("direction", "forward")
        if direction not in _RNN_DIRECTIONS:
            raise _fail(g, n, f"attribute direction='{direction}' is not supported (forward, reverse, bidirectional)")
        dirs = _RNN_DIRECTIONS[direction]
        if a.get("clip") is not None:
            raise _fail(g, n, f"attribute clip={a['clip']} (cell clipping) is not supported; export without clip")
        if int(a.get("input_forget", 0)):
            raise _fail(g, n, "attribute input_forget=1 (coupled input and forget gates) is not supported")
        acts = [str(s).lower() for s in a.get("activations", _RNN_DEFAULT_ACTS[n.op] * dirs)]
        if acts != _RNN_DEFAULT_ACTS[n.op] * dirs:
            raise _fail(g, n, f"attribute activations={a.get('activations')} is not supported; only the default "
                              f"{[s.capitalize() for s in _RNN_DEFAULT_ACTS[n.op]]} per direction")
        if layout != 0:
            raise _fail(g, n, f"attribute layout={layout} (batch-major) is not supported: onnxruntime, which runs the "
                              "float model for calibration, cannot run it either; export with layout=0")
        ins = list(n.inputs) + [""] * (8 - len(n.inputs))
        x = ins[0]
        if not x or g.is_const(x) or len(g.shape(x)) != 3:
            raise _fail(g, n, "the input X must be a 3-D activation [seq_length, batch, input_size]")
        T, B, D = g.shape(x)
        if B != 1:
            raise _fail(g, n, f"batch {B} (input X {list(g.shape(x))}) is not supported; only batch 1")
        H = int(a.get("hidden_size", 0) or 0)
        for k, what, shape in ((1, "W", (dirs, gates * H, D)), (2, "R", (dirs, gates * H, H)),
                               (3, "B", (dirs, 2 * gates * H))):
            if k == 3 and not ins[k]:
                continue
            if not ins[k] or not g.is_const(ins[k]):
                raise _fail(g, n, f"input {what} must be a constant initializer")
            if H <= 0 or tuple(g.shape(ins[k])) != shape:
                raise _fail(g, n, f"input {what} has shape {list(g.shape(ins[k]))}; expected {list(shape)} "
                                  f"(hidden_size={a.get('hidden_size')}, direction={direction})")
        if ins[4]:
            sl = g.const(ins[4]) if g.is_const(ins[4]) else None
            if sl is None or sl.size != 1 or int(sl.reshape(-1)[0]) != T:
                raise _fail(g, n, "input sequence_lens is supported only as a constant equal to the sequence length "
                                  f"{T} (variable lengths are not)")
        state_ins = (5, 6) if n.op == "LSTM" else (5,)
        for k in state_ins:
            if ins[k] and not g.is_const(ins[k]):
                raise _fail(g, n, f"input {'initial_h' if k == 5 else 'initial_c'} is computed from the model input; "
                                  "only constant initial states are supported (streaming state is not)")
        if n.op == "LSTM" and ins[7]:
            if not g.is_const(ins[7]) or np.any(g.const(ins[7]) != 0):
                raise _fail(g, n, "input P (peephole weights) is not supported (only absent or all zero)")
        n.inputs = [i if k in (0, 1, 2, 3) + state_ins else "" for k, i in enumerate(ins[:7])]
        while n.inputs and not n.inputs[-1]:
            n.inputs.pop()
        n.attrs = {"hidden_size": H, "direction": direction,
                   "linear_before_reset": int(a.get("linear_before_reset", 0)) if n.op == "GRU" else 0}
        y = n.outputs[0] if n.outputs else ""
        if y and len(g.shape(y)) == 4:
            seq = g.unique_name(y + "_seq")
            g.tensors[seq] = Tensor(seq, (T, dirs, H))
            g.aliases[seq] = y
            n.outputs[0] = seq
            nodes.append(Node(g.unique_name(n.name + "_y"), "Reshape", [seq], [y], {"shape": list(g.shape(y))}))
    g.nodes = nodes
    return g
