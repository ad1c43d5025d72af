"""Cross-layer equalization (Nagel et al., "Data-Free Quantization Through Weight Equalization and
Bias Correction", ICCV 2019), enabled by ``quantization.equalization: true``.

For two consecutive linear layers ``y = W2 f(W1 x + b1) + b2`` with ``f`` positively homogeneous
(identity or ReLU: ``f(x / s) = f(x) / s`` for ``s > 0``), scaling output channel ``i`` of the
first layer by ``1 / s_i`` and the matching input channel of the second by ``s_i`` leaves the
function unchanged. With ``s_i = sqrt(r1_i / r2_i)`` (``r1_i``: largest |weight| of output channel
``i`` of W1, ``r2_i``: of input channel ``i`` of W2) both become ``sqrt(r1_i * r2_i)``: the weight
ranges of the channels match, which is what per-tensor (and, for depthwise layers, per-channel)
int8 weights need. Pairs are swept until the scales converge.

Pairs found: Conv (incl. depthwise) or FullyConnected, fused activation none or ReLU (not ReLU6:
clipping at 6 is not homogeneous), followed through MaxPool / AveragePool / Pad(0) and a
flattening Reshape by a Conv (group 1 or depthwise) or FullyConnected that is the only reader.

The tensors between the two layers then hold the original values times a per-channel factor;
each such node records it as ``attrs["eq_factor"]`` (one factor per channel of the last axis, in
the graph's storage layout) so calibration, bias correction and validation compare like with like
(see :func:`float_transforms`).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from ..ir import Graph, Node

_BETWEEN = {"MaxPool", "AveragePool", "Pad", "Reshape"}


def _homogeneous(n: Node) -> bool:
    act = n.attrs.get("activation")
    return not act or (act["kind"] == "clip" and act["min"] == 0.0 and act["max"] == float("inf"))


def _is_layer(g: Graph, n: Node) -> bool:
    if n.op == "FullyConnected":
        return len(g.shape(n.inputs[0])) == 2
    if n.op != "Conv":
        return False
    cout, cin_g = g.shape(n.inputs[1])[:2]
    cin = g.shape(n.inputs[0])[-1]
    return n.attrs["group"] == 1 or (n.attrs["group"] == cin and cin_g == 1 and cout % cin == 0)


def _only_reader(g: Graph, t: str) -> Optional[Node]:
    users = g.consumers(t)
    if len(users) != 1 or t in g.outputs or users[0].inputs[0] != t:
        return None
    return users[0]


class _Pair:
    """Layer 1 -> (pools, pads, flatten) -> layer 2, with how channels map onto layer 2's inputs."""

    def __init__(self, first: Node, between: List[Node], second: Node, channels: int, col_channel: np.ndarray):
        self.first = first
        self.between = between
        self.second = second
        self.channels = channels
        self.col_channel = col_channel  # for each input column/channel of layer 2: the channel of layer 1
        # Column i reads channel i (the common case): no gather or scatter needed.
        self.identity = len(col_channel) == channels and bool(np.array_equal(col_channel, np.arange(channels)))


def _find_pair(g: Graph, first: Node) -> Optional[_Pair]:
    if not _is_layer(g, first) or not _homogeneous(first):
        return None
    C = g.shape(first.inputs[1])[0]
    t = first.outputs[0]
    between: List[Node] = []
    flat: Optional[Tuple[int, ...]] = None
    while True:
        nxt = _only_reader(g, t)
        if nxt is None:
            return None
        if nxt.op in _BETWEEN:
            if nxt.op == "Pad" and float(nxt.attrs.get("value", 0.0)) != 0.0:
                return None
            if nxt.op == "Pad" and nxt.attrs.get("mode", "constant") not in ("constant", b"constant"):
                return None
            if nxt.op == "Reshape":
                src, dst = g.shape(nxt.inputs[0]), g.shape(nxt.outputs[0])
                # Only a flatten of a channels-last tensor keeps "channel = index % C".
                if flat is not None or src[-1] != C or len(dst) != 2 or dst[0] != src[0]:
                    return None
                flat = tuple(dst)
            elif flat is not None:
                return None
            between.append(nxt)
            t = nxt.outputs[0]
            continue
        if not _is_layer(g, nxt):
            return None
        if nxt.op == "FullyConnected":
            K = g.shape(nxt.inputs[1])[1]
            if K % C:
                return None
            return _Pair(first, between, nxt, C, np.arange(K) % C)
        if flat is not None:
            return None
        cout, cin_g = g.shape(nxt.inputs[1])[:2]
        if nxt.attrs["group"] == 1:
            return _Pair(first, between, nxt, C, np.arange(cin_g))
        return _Pair(first, between, nxt, C, np.arange(cout) // (cout // C))


def _out_range(W: np.ndarray) -> np.ndarray:
    return np.abs(W.reshape(W.shape[0], -1)).max(axis=1)


def _in_range(W: np.ndarray, p: _Pair) -> np.ndarray:
    """Largest |weight| of layer 2 that reads each channel of layer 1."""
    if p.second.op == "FullyConnected":
        per_col = np.abs(W).max(axis=0)
    elif p.second.attrs["group"] == 1:
        per_col = np.abs(W).max(axis=(0, 2, 3))
    else:
        per_col = _out_range(W)
    if p.identity:
        return per_col
    r = np.zeros(p.channels)
    np.maximum.at(r, p.col_channel, per_col)
    return r


def _scale_in(W: np.ndarray, p: _Pair, s: np.ndarray) -> np.ndarray:
    f = s if p.identity else s[p.col_channel]
    if p.second.op == "FullyConnected":
        return W * f[None, :]
    if p.second.attrs["group"] == 1:
        return W * f[None, :, None, None]
    return W * f[:, None, None, None]


_DEAD = 1e-6  # a channel whose largest |weight| is below this fraction of the layer's largest is left alone


def equalize(graph: Graph, iterations: int = 100, tol: float = 1e-4) -> Graph:
    """Equalize the weight ranges of every eligible layer pair (function-preserving)."""
    g = graph.copy()
    pairs = [p for p in (_find_pair(g, n) for n in g.nodes) if p is not None]
    if not pairs:
        return g
    W: Dict[str, np.ndarray] = {}
    B: Dict[str, np.ndarray] = {}
    for p in pairs:
        for n in (p.first, p.second):
            W[n.name] = g.const(n.inputs[1]).astype(np.float64)
            B[n.name] = g.const(n.inputs[2]).astype(np.float64)
    factor = {p.first.name: np.ones(p.channels) for p in pairs}
    for _ in range(iterations):
        worst = 0.0
        for p in pairs:
            r1 = _out_range(W[p.first.name])
            r2 = _in_range(W[p.second.name], p)
            # Dead channels (weights ~0 next to the layer's others, e.g. 1e-30) keep s = 1: scaling
            # by sqrt(1e-30 / r2) would blow their constant output (the bias) up by ~1e15.
            ok = (r1 > _DEAD * r1.max(initial=0.0)) & (r2 > _DEAD * r2.max(initial=0.0))
            s = np.divide(r1, r2, out=np.ones(p.channels), where=ok)
            np.sqrt(s, out=s, where=ok)
            W[p.first.name] = W[p.first.name] / s.reshape((-1,) + (1,) * (W[p.first.name].ndim - 1))
            B[p.first.name] = B[p.first.name] / s
            W[p.second.name] = _scale_in(W[p.second.name], p, s)
            factor[p.first.name] = factor[p.first.name] / s
            worst = max(worst, float(np.abs(np.log(s)).max()))
        if worst < tol:
            break
    for p in pairs:
        for n in (p.first, p.second):
            if n.name in W:
                dt = g.const(n.inputs[1]).dtype
                n.inputs[1] = g.add_const(n.inputs[1] + "_cle", W[n.name].astype(dt))
                n.inputs[2] = g.add_const(n.inputs[2] + "_cle", B[n.name].astype(g.const(n.inputs[2]).dtype))
                del W[n.name]
        f = factor[p.first.name]
        for n in [p.first] + p.between:
            if n.op == "Reshape":
                continue  # a view: its value follows from its input
            n.attrs["eq_factor"] = f * n.attrs.get("eq_factor", 1.0)
    g.remove_unused()
    return g


def float_transforms(graph: Graph) -> Dict[str, Tuple[int, np.ndarray]]:
    """{ONNX tensor name: (axis, factor)} for the tensors equalization rescaled (see quantize/calibrate.py).

    A node's ``eq_factor`` runs along its output's last axis in the storage layout, which is axis 1
    (channels) of a 4-D ONNX tensor and the last axis otherwise.
    """
    out: Dict[str, Tuple[int, np.ndarray]] = {}
    for n in graph.nodes:
        if "eq_factor" in n.attrs:
            t = n.outputs[0]
            out[graph.original_name(t)] = (1 if len(graph.shape(t)) == 4 else -1, np.asarray(n.attrs["eq_factor"]))
    return out
