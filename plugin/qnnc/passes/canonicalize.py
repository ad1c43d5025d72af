"""Rewrite ONNX ops into the smaller set the quantizer lowers.

After these passes: Gemm and MatMul(+Add) are ``FullyConnected`` (W as [N, K], bias [N]),
GlobalAveragePool is ``AveragePool``, Sub/Div by a constant are Add/Mul, Clip carries its
bounds as attributes, Conv carries explicit pads and a bias input, BatchNormalization is
folded into its producer (or becomes Mul + Add).
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import Graph, Node


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


def clip_attrs(graph: Graph) -> Graph:
    """Clip(min, max inputs) -> Clip with float ``min``/``max`` attributes; Relu6 included."""
    g = graph.copy()
    for n in g.nodes:
        if n.op != "Clip":
            continue
        lo = n.attrs.get("min", -np.inf)
        hi = n.attrs.get("max", np.inf)
        if len(n.inputs) > 1 and n.inputs[1]:
            if not g.is_const(n.inputs[1]):
                raise _fail(g, n, "Clip min must be a constant")
            lo = float(g.const(n.inputs[1]))
        if len(n.inputs) > 2 and n.inputs[2]:
            if not g.is_const(n.inputs[2]):
                raise _fail(g, n, "Clip max must be a constant")
            hi = float(g.const(n.inputs[2]))
        n.inputs = [n.inputs[0]]
        n.attrs = {"min": float(lo), "max": float(hi)}
    g.remove_unused()
    return g


def fully_connected(graph: Graph) -> Graph:
    """Gemm and 2-D MatMul with constant weights -> FullyConnected(x, W[N,K], b[N])."""
    g = graph.copy()
    for n in g.nodes:
        if n.op == "Gemm":
            a, w = n.inputs[0], n.inputs[1]
            if n.attrs.get("transA", 0):
                raise _fail(g, n, "transA=1 is not supported (the activation must be the left operand)")
            if not g.is_const(w):
                raise _fail(g, n, "the B operand must be a constant initializer")
            W = g.const(w).astype(np.float32)
            if not n.attrs.get("transB", 0):
                W = W.T
            W = W * np.float32(n.attrs.get("alpha", 1.0))
            N = W.shape[0]
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
            if not g.is_const(w):
                raise _fail(g, n, "MatMul of two activations is not supported; the right operand must be a "
                                  "constant")
            W = g.const(w)
            if W.ndim != 2 or len(g.shape(a)) != 2:
                raise _fail(g, n, f"only 2-D MatMul is supported (got {list(g.shape(a))} x {list(W.shape)})")
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


def fold_bias_add(graph: Graph) -> Graph:
    """Conv/FullyConnected followed by Add(per-channel constant) -> folded into the bias."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op != "Add" or not g.is_const(n.inputs[1]):
            continue
        prod = g.producer(n.inputs[0])
        if prod is None or prod.op not in ("Conv", "FullyConnected") or not _single_consumer(g, n.inputs[0]):
            continue
        cout = g.shape(prod.inputs[1])[0]
        c = g.const(n.inputs[1])
        vec = _per_channel(c, cout, 3 if prod.op == "Conv" else 1)
        if vec is None or (len(c.shape) > len(g.shape(n.outputs[0]))):
            continue
        bias = g.const(prod.inputs[2]) + vec
        prod.inputs[2] = g.add_const(prod.name + "_bias", bias.astype(np.float32))
        prod.outputs = [n.outputs[0]]
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
        elif len(g.shape(x)) == 4:
            # A standalone BatchNormalization is a per-channel affine map: a depthwise 1x1 Conv.
            c = g.shape(x)[1]
            n.op = "Conv"
            n.inputs = [x, g.add_const(n.name + "_W", s.astype(np.float32).reshape(c, 1, 1, 1)),
                        g.add_const(n.name + "_bias", b.astype(np.float32))]
            n.outputs = [n.outputs[0]]
            n.attrs = {"kernel": [1, 1], "strides": [1, 1], "dilations": [1, 1], "pads": [0, 0, 0, 0],
                       "group": c}
        else:
            raise _fail(g, n, f"a BatchNormalization on a {len(g.shape(x))}-D tensor that does not follow a "
                              "Conv or Gemm is not supported")
    g.remove_unused()
    return g


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
            value = float(g.const(n.inputs[2]))
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
