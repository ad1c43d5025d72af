"""Composite ONNX operators rewritten as the operators qnnc has kernels for (ONNX -> ONNX).

Exporters emit some layers as one ONNX node that is a short formula over supported ops:
InstanceNormalization and GroupNormalization (audio and style networks), LpNormalization and the
ReduceL1/L2/SumSquare/LogSum/LogSumExp reductions (embedding heads), Mish (YOLOv4-style backbones),
LRN (older image networks), Expand and Tile of an activation, Where with a constant condition, Pad
in reflect / edge / wrap mode (Slices and a Concat), comparisons of an activation with a constant
used as a Where's condition or cast to float (a 0/1 mask from a Sign table; the Not, And, Or and
Xor of such masks too), Einsum of one or two
operands (a batched MatMul between Transposes and Reshapes), and
the simple RNN (unrolled over its static sequence: per step two fully connected layers, an Add and
the activation table), and Softmax / LogSoftmax over a non-last axis (before opset 13 their 2-D
coercion: Reshape, the op over the last axis, Reshape back; from 13 on, of an input of rank 4 at
most, between Transposes). ScatterND, GatherElements and GatherND with constant indices, CumSum
and Trilu are rewritten by :mod:`decompose_index`, DFT and STFT by :mod:`decompose_spectral`.

:func:`expand_composites` replaces each by that formula as plain ONNX nodes. It runs on the model
both the importer and the float runner see (after the opset conversion), so calibration measures
every intermediate tensor of the formula like any other tensor of the model, and the passes and
quantizer rules need nothing new. Names are derived from the node's output, so the rewrite is
deterministic (the importer and the float runner agree on every tensor name). :func:`expand_legacy`
does the same, before the opset conversion, for the experimental ops of old opsets that ONNX
removed (ImageScaler, Scale).
"""
from __future__ import annotations

import json
from typing import Callable, Dict, List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError
from . import decompose_index, decompose_recurrent, decompose_spectral, decompose_volume
from .cast_like import cast_likes_as_casts
from .finite_masks import finite_masks
from .inline_ifs import inline_ifs
from .nan_tests import NON_FINITE_TESTS, nan_tests_false
from .onnx_fold import fold_onnx_constants, fold_or_none
from .onnx_names import NewTensors, drop_dead_nodes, static_dims
from .onnx_names import attr as _attr
from .unroll_loops import unroll_loops


#: Model metadata key of the tied-range groups (JSON list of lists of tensor names); the importer
#: reads it into Graph.tied_ranges.
TIED_RANGES_KEY = "qnnc.tied_ranges"


class _Rewriter(NewTensors):
    """Builds the replacement nodes of one model; keeps names unique and deterministic."""

    def __init__(self, model: onnx.ModelProto, opset: int, path: str, infer: bool = True,
                 folded: Optional[onnx.ModelProto] = None):
        super().__init__()
        self.opset = opset
        self.path = path
        self.names = {i.name for i in model.graph.initializer} | {i.name for i in model.graph.input}
        for n in model.graph.node:
            self.names.update(n.output)
            self.names.add(n.name)
        self.consts: Dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        for n in model.graph.node:
            if n.op_type == "Constant" and n.attribute and n.attribute[0].type == onnx.AttributeProto.TENSOR:
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        # static dims by tensor name (0 = unknown), from shape inference and the constants
        self.dims: Dict[str, List[int]] = {}
        # With the shape arithmetic folded first (a copy, or ``folded`` when the caller has it):
        # PyTorch's chunk slices at ends computed from Shape are static only after folding.
        inferred = folded if folded is not None else fold_onnx_constants(model, opset) if infer else model
        self.dims.update(static_dims(inferred))
        # the values the folding found (a ReverseSequence's lengths built from Shape), read
        # where a rewrite needs a constant operand
        self.folded: Dict[str, onnx.TensorProto] = {}
        for init in inferred.graph.initializer:
            self.dims.setdefault(init.name, list(init.dims))
            if init.name not in self.consts:
                self.folded[init.name] = init
        for name, arr in self.consts.items():
            self.dims[name] = list(arr.shape)
        self.out: List[onnx.NodeProto] = []
        self.masks: Dict[str, str] = {}  # comparison output (bool) -> its float 0/1 mask
        self.readers: Dict[str, List[onnx.NodeProto]] = {}
        for n in model.graph.node:
            for i in n.input:
                self.readers.setdefault(i, []).append(n)
        self.graph_outputs = {o.name for o in model.graph.output}
        self.retyped: List[str] = []  # outputs a rewrite gives another element type (their value_info goes)
        # groups of tensors that take one calibrated range (an unrolled recurrence's steps), so
        # their layers quantize alike and share their constants
        self.tied: List[List[str]] = []

    def node(self, op: str, inputs: List[str], base: str, out: Optional[str] = None, **attrs) -> str:
        out = out or self.name(base)
        self.out.append(helper.make_node(op, inputs, [out], name=self.name(f"{base}_node"), **attrs))
        return out

    def float_readers_only(self, tensor: str) -> bool:
        """Whether every reader of ``tensor`` is a Cast to float (and it is no graph output)."""
        users = self.readers.get(tensor, [])
        return bool(users) and tensor not in self.graph_outputs and all(
            u.op_type == "Cast" and int(_attr(u, "to", 0)) == onnx.TensorProto.FLOAT for u in users)

    def reduce(self, op: str, x: str, axes: List[int], keepdims: int, base: str, out: Optional[str] = None) -> str:
        """A Reduce* node: axes as an attribute (ReduceMean/Max/Min before opset 18) or an input."""
        if op == "ReduceSum" and self.opset >= 13 or self.opset >= 18:
            ax = self.const(f"{base}_axes", np.array(axes, np.int64))
            return self.node(op, [x, ax], base, out, keepdims=keepdims)
        return self.node(op, [x], base, out, axes=axes, keepdims=keepdims)

    def rank(self, tensor: str, n: onnx.NodeProto) -> int:
        if tensor not in self.dims:
            raise ModelError(f"shape inference gives no rank for '{tensor}', which {n.op_type} needs",
                             file=self.path, node=n.name, op=n.op_type)
        return len(self.dims[tensor])

    def static_shape(self, tensor: str, n: onnx.NodeProto) -> List[int]:
        dims = self.dims.get(tensor)
        if not dims or any(d <= 0 for d in dims[1:]):
            raise ModelError(f"{n.op_type} needs a static shape for '{tensor}' (batch aside)", file=self.path,
                             node=n.name, op=n.op_type)
        return dims

    def constant_input(self, n: onnx.NodeProto, i: int, what: str) -> np.ndarray:
        if len(n.input) > i and n.input[i] in self.folded:
            return numpy_helper.to_array(self.folded[n.input[i]])
        if len(n.input) <= i or n.input[i] not in self.consts:
            raise ModelError(f"{n.op_type} needs a constant {what} (an initializer or a folded constant "
                             "subgraph); this one is computed from the model input", file=self.path,
                             node=n.name, op=n.op_type)
        return self.consts[n.input[i]]

    def integer_scalar(self, n: onnx.NodeProto, i: int, what: str) -> Optional[int]:
        """Optional constant integer input ``i`` holding one value (an axis, k, a length); None when
        the input is absent; several values are refused by name."""
        if len(n.input) <= i or not n.input[i]:
            return None
        v = self.integer_input(n, i, what)
        if v.size != 1:
            raise ModelError(f"{n.op_type} {what} must be one value, got {v.tolist()}", file=self.path, node=n.name,
                             op=n.op_type)
        return int(v[0])

    def integer_input(self, n: onnx.NodeProto, i: int, what: str) -> np.ndarray:
        """A constant input the ONNX spec types as int64 (shape, repeats, pads, axes), flattened;
        any other element type is refused by name rather than cast (a float NaN has no integer)."""
        v = self.constant_input(n, i, what)
        if not np.issubdtype(v.dtype, np.integer):
            raise ModelError(f"{n.op_type} input '{what}' must be an int64 tensor, got {v.dtype}", file=self.path,
                             node=n.name, op=n.op_type)
        return v.astype(np.int64).reshape(-1)


def _normalize(r: _Rewriter, x: str, axes: List[int], eps: float, base: str) -> str:
    """(x - mean) / sqrt(var + eps) over axes (the mean and variance kept for broadcasting)."""
    mean = r.reduce("ReduceMean", x, axes, 1, f"{base}_mean")
    d = r.node("Sub", [x, mean], f"{base}_centered")
    var = r.reduce("ReduceMean", r.node("Mul", [d, d], f"{base}_squared"), axes, 1, f"{base}_var")
    sd = r.node("Sqrt", [r.node("Add", [var, r.const(f"{base}_eps", np.array(eps, np.float32))], f"{base}_var_eps")],
                f"{base}_std")
    return r.node("Div", [d, sd], f"{base}_normalized")


def _channel_affine(r: _Rewriter, y: str, scale: np.ndarray, bias: np.ndarray, rank: int, base: str,
                    out: Optional[str]) -> str:
    """y * scale + bias with one value per index of axis 1."""
    shape = (-1,) + (1,) * (rank - 2)
    y = r.node("Mul", [y, r.const(f"{base}_scale", scale.astype(np.float32).reshape(shape))], f"{base}_scaled")
    return r.node("Add", [y, r.const(f"{base}_bias", bias.astype(np.float32).reshape(shape))], f"{base}_shifted", out)


def _instance_norm(r: _Rewriter, n: onnx.NodeProto) -> None:
    x, out = n.input[0], n.output[0]
    rank = r.rank(x, n)
    y = _normalize(r, x, list(range(2, rank)), float(_attr(n, "epsilon", 1e-5)), out)
    _channel_affine(r, y, r.constant_input(n, 1, "scale"), r.constant_input(n, 2, "bias"), rank, out, out)


def _group_norm(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Opset 18 takes one scale and bias per group, opset 21 one per channel."""
    x, out = n.input[0], n.output[0]
    dims = r.static_shape(x, n)
    groups = int(_attr(n, "num_groups", 1))
    scale, bias = r.constant_input(n, 1, "scale"), r.constant_input(n, 2, "bias")
    grouped = r.node("Reshape", [x, r.const(f"{out}_groups_shape", np.array([0, groups, -1], np.int64))],
                     f"{out}_grouped")
    y = _normalize(r, grouped, [2], float(_attr(n, "epsilon", 1e-5)), out)
    back = r.const(f"{out}_shape", np.array([0] + dims[1:], np.int64))
    if r.opset < 21:
        y = _channel_affine(r, y, scale, bias, 3, out, None)
        r.node("Reshape", [y, back], f"{out}_ungrouped", out)
        return
    y = r.node("Reshape", [y, back], f"{out}_ungrouped")
    _channel_affine(r, y, scale, bias, len(dims), out, out)


def _reduce_axes(r: _Rewriter, n: onnx.NodeProto) -> Optional[List[int]]:
    """The axes of a Reduce* node (attribute or constant input); None = all axes."""
    if len(n.input) > 1 and n.input[1]:
        return [int(a) for a in r.integer_input(n, 1, "axes")]
    axes = _attr(n, "axes", None)
    return None if axes is None else [int(a) for a in axes]


def _reduce_composite(r: _Rewriter, n: onnx.NodeProto) -> None:
    x, out = n.input[0], n.output[0]
    keep = int(_attr(n, "keepdims", 1))
    axes = _reduce_axes(r, n)
    if axes is None:
        axes = list(range(r.rank(x, n)))
    if n.op_type == "ReduceL1":
        r.reduce("ReduceSum", r.node("Abs", [x], f"{out}_abs"), axes, keep, out, out)
    elif n.op_type == "ReduceSumSquare":
        r.reduce("ReduceSum", r.node("Mul", [x, x], f"{out}_squared"), axes, keep, out, out)
    elif n.op_type == "ReduceL2":
        s = r.reduce("ReduceSum", r.node("Mul", [x, x], f"{out}_squared"), axes, keep, f"{out}_sum")
        r.node("Sqrt", [s], out, out)
    elif n.op_type == "ReduceLogSum":
        r.node("Log", [r.reduce("ReduceSum", x, axes, keep, f"{out}_sum")], out, out)
    else:  # ReduceLogSumExp
        s = r.reduce("ReduceSum", r.node("Exp", [x], f"{out}_exp"), axes, keep, f"{out}_sum")
        r.node("Log", [s], out, out)


def _lp_norm(r: _Rewriter, n: onnx.NodeProto) -> None:
    x, out = n.input[0], n.output[0]
    axis = int(_attr(n, "axis", -1))
    p = int(_attr(n, "p", 2))
    if p not in (1, 2):
        raise ModelError(f"LpNormalization with p={p}: ONNX defines p = 1 or 2", file=r.path, node=n.name,
                         op=n.op_type)
    axis = axis % r.rank(x, n)
    if p == 2:
        s = r.reduce("ReduceSum", r.node("Mul", [x, x], f"{out}_squared"), [axis], 1, f"{out}_sum")
        norm = r.node("Sqrt", [s], f"{out}_norm")
    else:
        norm = r.reduce("ReduceSum", r.node("Abs", [x], f"{out}_abs"), [axis], 1, f"{out}_norm")
    r.node("Div", [x, norm], out, out)


def _lp_pool(r: _Rewriter, n: onnx.NodeProto) -> None:
    """LpPool / GlobalLpPool: (sum over the window of |x|^p)^(1/p) as k * AveragePool(|x|^p) (zero
    padding counted: a pad adds nothing to the sum) under the p-th root, k the window's size; p = 1
    and 2 as Abs and a square, another p as Pow tables."""
    x, out = n.input[0], n.output[0]
    p = int(_attr(n, "p", 2))
    if p < 1:
        raise ModelError(f"{n.op_type} with p={p}: expected p >= 1", file=r.path, node=n.name, op=n.op_type)
    if any(d != 1 for d in _attr(n, "dilations", [])):
        raise ModelError("dilated pooling is not supported", file=r.path, node=n.name, op=n.op_type)
    if p == 2:
        powered = r.node("Mul", [x, x], f"{out}_squared")
    else:
        powered = r.node("Abs", [x], f"{out}_abs")
        if p > 2:
            powered = r.node("Pow", [powered, r.const(f"{out}_p", np.array(p, np.float32))], f"{out}_powered")
    if n.op_type == "GlobalLpPool":
        window = int(np.prod(r.static_shape(x, n)[2:]))
        mean = r.node("GlobalAveragePool", [powered], f"{out}_mean")
    else:
        kernel = [int(k) for k in _attr(n, "kernel_shape", [])]
        window = int(np.prod(kernel))
        attrs = {k: _attr(n, k, None) for k in ("strides", "pads", "auto_pad", "ceil_mode")}
        mean = r.node("AveragePool", [powered], f"{out}_mean", kernel_shape=kernel, count_include_pad=1,
                      **{k: v for k, v in attrs.items() if v is not None})
    total = r.node("Mul", [mean, r.const(f"{out}_window", np.array(window, np.float32))],
                   f"{out}_sum" if p > 1 else out, None if p > 1 else out)
    if p == 2:
        r.node("Sqrt", [total], out, out)
    elif p > 2:
        r.node("Pow", [total, r.const(f"{out}_root", np.array(1.0 / p, np.float32))], out, out)


def _mish(r: _Rewriter, n: onnx.NodeProto) -> None:
    x, out = n.input[0], n.output[0]
    t = r.node("Tanh", [r.node("Softplus", [x], f"{out}_softplus")], f"{out}_tanh")
    r.node("Mul", [x, t], out, out)


def _lrn(r: _Rewriter, n: onnx.NodeProto) -> None:
    x, out = n.input[0], n.output[0]
    size = int(_attr(n, "size", 1))
    alpha, beta, bias = float(_attr(n, "alpha", 1e-4)), float(_attr(n, "beta", 0.75)), float(_attr(n, "bias", 1.0))
    if r.rank(x, n) != 4:
        raise ModelError("LRN over a tensor of rank other than 4 (N, C, H, W)", file=r.path, node=n.name,
                         op=n.op_type)
    channels = r.static_shape(x, n)[1]
    # square_sum[c] = sum of x^2 over channels c - floor((size-1)/2) .. c + ceil((size-1)/2)
    w = np.zeros((channels, channels, 1, 1), np.float32)
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    for c in range(channels):
        w[c, max(0, c - lo):min(channels, c + hi + 1), 0, 0] = alpha / size
    sq = r.node("Mul", [x, x], f"{out}_squared")
    s = r.node("Conv", [sq, r.const(f"{out}_window", w), r.const(f"{out}_bias", np.full(channels, bias, np.float32))],
               f"{out}_window_sum", kernel_shape=[1, 1])
    d = r.node("Pow", [s, r.const(f"{out}_exponent", np.array(-beta, np.float32))], f"{out}_scale")
    r.node("Mul", [x, d], out, out)


def _expand(r: _Rewriter, n: onnx.NodeProto) -> None:
    shape = r.integer_input(n, 1, "shape")
    dims = r.dims.get(n.input[0])
    if dims and all(d > 0 for d in dims) and len(shape) <= len(dims) and \
            all(s in (1, d) for s, d in zip(shape[::-1], dims[::-1])):
        # an Expand to the shape x has (ONNX's Attention body expands K and V by one group):
        # no Add of zeros, whose int8 layer would cost a requantization
        r.node("Identity", [n.input[0]], n.output[0], n.output[0])
        return
    zeros = r.const(f"{n.output[0]}_zeros", np.zeros(tuple(int(max(d, 1)) for d in shape), np.float32))
    r.node("Add", [n.input[0], zeros], n.output[0], n.output[0])


def _tile(r: _Rewriter, n: onnx.NodeProto) -> None:
    repeats = r.integer_input(n, 1, "repeats")
    x, out = n.input[0], n.output[0]
    axes = [a for a, k in enumerate(repeats) if k != 1]
    if not axes:
        r.node("Identity", [x], out, out)
        return
    for i, a in enumerate(axes):
        x = r.node("Concat", [x] * int(repeats[a]), f"{out}_tiled{a}", out if i == len(axes) - 1 else None, axis=a)


#: a Where's constant branch at least this large (in magnitude) is a fill (attention masks:
#: -1e4, finfo.min; -inf is -1e4 by then, finite_masks.py), no value to quantize with the other
_LARGE_FILL = 1e3


def _where(r: _Rewriter, n: onnx.NodeProto) -> None:
    """A comparison's mask m (:func:`_compare`): b + m * (a - b), or a + (1 - m) * (b - a) when b
    alone is a large constant (a fill); a constant condition c: a * c + b * (1 - c)."""
    a, b, out = n.input[1], n.input[2], n.output[0]
    if n.input[0] in r.masks:
        m = r.masks[n.input[0]]
        if b in r.consts and a not in r.consts and np.max(np.abs(r.consts[b])) >= _LARGE_FILL:
            # an attention fill (-1e4) as the false branch: the live branch is added at its own
            # range; inside a - b it would be quantized on the fill's scale (a step of ~40). (1 - m)
            # is calibrated, so the fill reaches the positions masked in the calibration data: a
            # smaller constant (masked_fill(x, 0)) keeps the form that needs no such positions
            m = r.node("Sub", [r.const(f"{out}_one", np.array(1.0, np.float32)), m], f"{out}_unselected")
            a, b = b, a
        diff = r.node("Sub", [a, b], f"{out}_difference")
        r.node("Add", [b, r.node("Mul", [m, diff], f"{out}_selected")], out, out)
        return
    c = r.constant_input(n, 0, "condition").astype(np.float32)
    # a condition the same everywhere picks one branch (ONNX's Attention body guards the rows a mask
    # covers entirely, of which a causal mask has none): that branch, where it has the output's shape
    picked = a if np.all(c == 1) else b if np.all(c == 0) else None
    if picked is not None and r.dims.get(picked) and r.dims.get(picked) == r.dims.get(out):
        r.node("Identity", [picked], out, out)
        return
    for branch in (a, b):
        if branch in r.consts and not np.all(np.isfinite(r.consts[branch])):
            raise ModelError(f"Where selects a non-finite constant ('{branch}', e.g. a -inf attention mask): "
                             "an int8 tensor cannot hold it; use a large finite value (e.g. -1e4) in the "
                             "exported model", file=r.path, node=n.name, op=n.op_type)
    ta = r.node("Mul", [a, r.const(f"{out}_when_true", c)], f"{out}_true")
    tb = r.node("Mul", [b, r.const(f"{out}_when_false", 1.0 - c)], f"{out}_false")
    r.node("Add", [ta, tb], out, out)


def _rnn(r: _Rewriter, n: onnx.NodeProto) -> None:
    """A simple RNN unrolled over its (static) sequence: per step and direction
    h = f(x_t W^T + Wb + Rb + h R^T) as Gather, two Gemms, Add and the activation table; Y and Y_h
    concatenated from the steps' h in the layout the node states."""
    x = n.input[0]
    dims = r.dims.get(x, [])
    layout = int(_attr(n, "layout", 0))
    steps = dims[layout] if len(dims) == 3 else 0  # layout 1: (batch, sequence, input)
    if steps <= 0:
        raise ModelError("RNN needs a static sequence length to unroll (a fixed-length input)", file=r.path,
                         node=n.name, op=n.op_type)
    w, rec = r.constant_input(n, 1, "W"), r.constant_input(n, 2, "R")
    hidden = int(_attr(n, "hidden_size", w.shape[1]))
    b = r.constant_input(n, 3, "B") if len(n.input) > 3 and n.input[3] else np.zeros((w.shape[0], 2 * hidden),
                                                                                         np.float32)
    if len(n.input) > 4 and n.input[4]:
        lens = r.constant_input(n, 4, "sequence_lens")
        if not np.all(lens == steps):
            raise ModelError(f"RNN with sequence_lens {lens.tolist()} shorter than the sequence ({steps}): "
                             "only full sequences are supported", file=r.path, node=n.name, op=n.op_type)
    if _attr(n, "clip", None) is not None:
        raise ModelError("RNN with 'clip' is not supported (export without cell clipping)", file=r.path,
                         node=n.name, op=n.op_type)
    direction = _attr(n, "direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    dirs = ["forward", "reverse"] if direction == "bidirectional" else [direction]
    acts = [a.decode() if isinstance(a, bytes) else a for a in _attr(n, "activations", [b"Tanh"] * len(dirs))]
    for a in acts:
        if a not in ("Tanh", "Relu", "Sigmoid"):
            raise ModelError(f"RNN activation {a}: qnnc unrolls Tanh, Relu and Sigmoid", file=r.path, node=n.name,
                             op=n.op_type)
    h0 = n.input[5] if len(n.input) > 5 and n.input[5] else None
    base = n.output[0] or (n.output[1] if len(n.output) > 1 else n.name)
    seq_y: List[List[str]] = []   # per direction, h in time order
    last: List[str] = []
    for d, name in enumerate(dirs):
        wd = r.const(f"{base}_W{d}", w[d].astype(np.float32))
        rd = r.const(f"{base}_R{d}", rec[d].astype(np.float32))
        bd = r.const(f"{base}_B{d}", (b[d][:hidden] + b[d][hidden:]).astype(np.float32))
        h = None
        if h0 is not None:
            start = r.const(f"{base}_h0_index{d}", np.array(d, np.int64))
            h = r.node("Gather", [h0, start], f"{base}_h0_{d}", axis=1 if layout else 0)
        order = range(steps) if name == "forward" else range(steps - 1, -1, -1)
        hs = {}
        for t in order:
            xt = r.node("Gather", [x, r.const(f"{base}_t{t}", np.array(t, np.int64))], f"{base}_x{t}_{d}",
                        axis=1 if layout else 0)
            pre = r.node("Gemm", [xt, wd, bd], f"{base}_xw{t}_{d}", transB=1)
            if h is not None:
                pre = r.node("Add", [pre, r.node("Gemm", [h, rd], f"{base}_hr{t}_{d}", transB=1)],
                             f"{base}_pre{t}_{d}")
            h = r.node(acts[d % len(acts)], [pre], f"{base}_h{t}_{d}")
            hs[t] = h
        seq_y.append([hs[t] for t in range(steps)])
        last.append(h)
    if n.output[0]:  # -1: the batch, symbolic until the importer pins it
        shape = [-1, 1, 1, hidden] if layout else [1, 1, -1, hidden]
        shape_c = r.const(f"{base}_step_shape", np.array(shape, np.int64))
        per_dir = []
        for d, hs_d in enumerate(seq_y):
            parts = [r.node("Reshape", [h, shape_c], f"{h}_y") for h in hs_d]
            per_dir.append(r.node("Concat", parts, f"{base}_y{d}", axis=1 if layout else 0))
        if len(per_dir) == 1:
            r.node("Identity", per_dir, n.output[0], n.output[0])
        else:
            r.node("Concat", per_dir, n.output[0], n.output[0], axis=2 if layout else 1)
    if len(n.output) > 1 and n.output[1]:
        shape_c = r.const(f"{base}_last_shape", np.array([-1, 1, hidden] if layout else [1, -1, hidden], np.int64))
        parts = [r.node("Reshape", [h, shape_c], f"{h}_last") for h in last]
        if len(parts) == 1:
            r.node("Identity", parts, n.output[1], n.output[1])
        else:
            r.node("Concat", parts, n.output[1], n.output[1], axis=1 if layout else 0)


def _pad_mode(n: onnx.NodeProto) -> str:
    mode = _attr(n, "mode", b"constant")
    return mode.decode() if isinstance(mode, bytes) else mode


def _pad(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Pad in reflect / edge / wrap mode (PyTorch's ReflectionPad / ReplicationPad / circular):
    per padded axis, Concat of the borders (Slices, reversed by a step of -1 for reflect) and x."""
    x, out = n.input[0], n.output[0]
    dims = r.static_shape(x, n)
    rank = len(dims)
    pads = r.integer_input(n, 1, "pads")
    axes = list(range(rank))
    if len(n.input) > 3 and n.input[3]:
        axes = [int(a) % rank for a in r.integer_input(n, 3, "axes")]
    mode = _pad_mode(n)
    if pads.size != 2 * len(axes) or np.any(pads < 0):
        raise ModelError(f"Pad ({mode}) needs non-negative pads, two per axis (got {pads.tolist()})", file=r.path,
                         node=n.name, op=n.op_type)
    todo = [(a, int(pads[i]), int(pads[i + len(axes)])) for i, a in enumerate(axes)
            if pads[i] or pads[i + len(axes)]]
    if not todo:
        r.node("Identity", [x], out, out)
        return

    def piece(src: str, a: int, start: int, end: int, step: int, tag: str) -> str:
        c = [r.const(f"{out}_{tag}_{k}", np.array([v], np.int64)) for k, v in
             (("start", start), ("end", end), ("axis", a), ("step", step))]
        return r.node("Slice", [src] + c, f"{out}_{tag}")

    for i, (a, lo, hi) in enumerate(todo):
        size = dims[a]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise ModelError(f"Pad (reflect) of {max(lo, hi)} on an axis of {size}: ONNX needs pads smaller "
                             "than the axis", file=r.path, node=n.name, op=n.op_type)
        if mode == "wrap" and (lo > size or hi > size):
            raise ModelError(f"Pad (wrap) of {max(lo, hi)} on an axis of {size}", file=r.path, node=n.name,
                             op=n.op_type)
        parts = []
        if lo:
            parts += ([piece(x, a, lo, 0, -1, f"a{a}_left")] if mode == "reflect" else
                      [piece(x, a, 0, 1, 1, f"a{a}_left")] * lo if mode == "edge" else
                      [piece(x, a, size - lo, size, 1, f"a{a}_left")])
        parts.append(x)
        if hi:
            # reflect's right border runs down to index size - 1 - hi; an end of -1 would mean the
            # last index (ONNX counts negative ends from the back), so a pad of size - 1 ends at
            # -size - 1, which Slice clamps to "before index 0"
            r_end = size - 2 - hi if size - 2 - hi >= 0 else -size - 1
            parts += ([piece(x, a, size - 2, r_end, -1, f"a{a}_right")] if mode == "reflect" else
                      [piece(x, a, size - 1, size, 1, f"a{a}_right")] * hi if mode == "edge" else
                      [piece(x, a, 0, hi, 1, f"a{a}_right")])
        x = r.node("Concat", parts, f"{out}_a{a}", out if i == len(todo) - 1 else None, axis=a)
        dims = dims[:a] + [size + lo + hi] + dims[a + 1:]


_COMPARE = ("Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal")


#: Boolean ops of masks that give a mask: Not and Cast to bool of one, And / Or / Xor of two.
_MASK_LOGIC = ("Not", "And", "Or", "Xor")
#: Ops that move a mask's values (their first input) without computing on them: a mask too.
#: tf2onnx's masked Keras RNN (a Masking layer, mask_zero) reshapes the per-step mask to time-major
#: and a step of the unrolled loop Gathers its own.
_MASK_MOVES = ("Unsqueeze", "Squeeze", "Reshape", "Transpose", "Gather", "Slice", "Identity", "Flatten")


def _moves_mask(n: onnx.NodeProto, masks) -> bool:
    return n.op_type in _MASK_MOVES and bool(n.input) and n.input[0] in masks and \
        not any(i in masks for i in n.input[1:])


def _mask_conditions(model: onnx.ModelProto, consts, dependent) -> set:
    """Outputs of comparisons of an activation (in ``dependent``: computed from the input values)
    with a float constant, and of the Casts to bool, Nots, Ands, Ors and Xors of those
    (``(x > 0) & (x < 1)``), when every use of each is a Where's condition, a Cast to float or
    another of them: those become 0/1 float masks (:func:`_compare`). Comparisons with integer
    constants are exporters' shape arithmetic (PyTorch's Reshape targets: Where(Equal(shape, 0),
    ...)), and those of values computed from constants (Attention's guard of rows its constant mask
    hides), which fold."""
    uses: Dict[str, List[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            uses.setdefault(i, []).append(n)
    graph_outputs = {o.name for o in model.graph.output}
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}
    float_consts = {i.name for i in model.graph.initializer if i.data_type in floats}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and (n.attribute[0].name in ("value_float", "value_floats") or
                                                        n.attribute[0].type == onnx.AttributeProto.TENSOR
                                                        and n.attribute[0].t.data_type in floats):
            float_consts.update(n.output)
    default = [n for n in model.graph.node if n.domain in ("", "ai.onnx")]
    masks = set()
    for n in default:
        if n.op_type not in _COMPARE or len(n.input) != 2:
            continue
        if sum(i in consts for i in n.input) == 1 and any(i in float_consts for i in n.input) \
                and any(i in dependent for i in n.input):
            masks.add(n.output[0])
    logic = [n for n in default if n.op_type in _MASK_LOGIC and n.input or _to_bool(n)]
    moves = [n for n in default if n.op_type in _MASK_MOVES and n.input]
    grown = True
    while grown:  # the mask logic over masks and the moves of masks, in any order
        grown = False
        for n in logic:
            if n.output[0] not in masks and all(i in masks for i in n.input):
                masks.add(n.output[0])
                grown = True
        for n in moves:
            if n.output[0] not in masks and _moves_mask(n, masks):
                masks.add(n.output[0])
                grown = True
    pruned = True
    while pruned:  # each kept only if all its uses read it as a mask; logic only over masks
        pruned = False
        for name in sorted(masks):
            users = uses.get(name, [])
            ok = bool(users) and name not in graph_outputs and all(
                u.op_type == "Where" and u.input[0] == name and name not in u.input[1:]
                or u.op_type == "Cast" and int(_attr(u, "to", 0)) == onnx.TensorProto.FLOAT
                or u.output[0] in masks and (u.op_type in _MASK_LOGIC or _to_bool(u) or _moves_mask(u, masks))
                for u in users)
            producer_ok = all(all(i in masks for i in n.input) for n in logic if n.output[0] == name) and \
                all(_moves_mask(n, masks) for n in moves if n.output[0] == name)
            if not ok or not producer_ok:
                masks.discard(name)
                pruned = True
    return masks


def _to_bool(n: onnx.NodeProto) -> bool:
    return n.op_type == "Cast" and int(_attr(n, "to", 0)) == onnx.TensorProto.BOOL


def _compare(r: _Rewriter, n: onnx.NodeProto) -> None:
    """x > c as the float mask Relu(Sign(x - c)) (1 where true, else 0); >= as 1 minus the mask of
    the opposite strict comparison; x == c as 1 - Abs(Sign(x - c)) (exact where c is a value the
    quantized x holds exactly, e.g. 0 after a Relu). The mask replaces the bool in its Where /
    Cast / Not users."""
    a, b = n.input
    op = n.op_type
    if a in r.consts:  # c ? x: the same comparison turned around
        a, b = b, a
        op = {"Greater": "Less", "Less": "Greater", "GreaterOrEqual": "LessOrEqual", "LessOrEqual": "GreaterOrEqual",
              "Equal": "Equal"}[op]
    out = n.output[0]
    if op == "Equal":
        differs = r.node("Abs", [r.node("Sign", [r.node("Sub", [a, b], f"{out}_difference")], f"{out}_sign")],
                         f"{out}_differs")
        r.masks[out] = r.node("Sub", [r.const(f"{out}_one", np.array(1.0, np.float32)), differs], f"{out}_mask")
        return
    strict = {"Greater": "Greater", "Less": "Less", "GreaterOrEqual": "Less", "LessOrEqual": "Greater"}[op]
    d = r.node("Sub", [a, b] if strict == "Greater" else [b, a], f"{out}_difference")
    m = r.node("Relu", [r.node("Sign", [d], f"{out}_sign")], f"{out}_strict")
    if op in ("GreaterOrEqual", "LessOrEqual"):
        m = r.node("Sub", [r.const(f"{out}_one", np.array(1.0, np.float32)), m], f"{out}_mask")
    r.masks[out] = m


def _not_mask(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Not of a comparison's mask m: the mask 1 - m."""
    out = n.output[0]
    r.masks[out] = r.node("Sub", [r.const(f"{out}_one", np.array(1.0, np.float32)), r.masks[n.input[0]]],
                          f"{out}_mask")


def _mask_move(r: _Rewriter, n: onnx.NodeProto) -> None:
    """A move (:data:`_MASK_MOVES`) of a mask: the same op over its float mask."""
    out = n.output[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
    r.masks[out] = r.node(n.op_type, [r.masks[n.input[0]]] + list(n.input[1:]), f"{out}_mask", **attrs)


def _transpose(r: _Rewriter, n: onnx.NodeProto) -> None:
    if n.input[0] in r.masks:
        _mask_move(r, n)
    else:
        _transpose_high_rank(r, n)


def _logic_mask(r: _Rewriter, n: onnx.NodeProto) -> None:
    """And / Or / Xor of two masks: their Min / Max / Abs of their difference (exact on 0 / 1)."""
    a, b = (r.masks[i] for i in n.input)
    out = n.output[0]
    if n.op_type == "Xor":
        r.masks[out] = r.node("Abs", [r.node("Sub", [a, b], f"{out}_difference")], f"{out}_mask")
    else:
        r.masks[out] = r.node("Min" if n.op_type == "And" else "Max", [a, b], f"{out}_mask")


def _clip_computed_bounds(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Clip with a bound computed from the input (``torch.clamp(x, min=t)``): Max with the lower
    bound, then Min with the upper one (ONNX: Min(max, Max(input, min)), so where min > max the
    result is max)."""
    y, out = n.input[0], n.output[0]
    rank = r.rank(y, n)

    def bound(i: int, what: str) -> Optional[str]:
        if len(n.input) <= i or not n.input[i]:
            return None
        b = n.input[i]
        dims = r.dims.get(b)
        if dims is not None and len(dims) < rank and all(d > 0 for d in dims):  # a scalar bound: rank of x
            shape = np.array([1] * (rank - len(dims)) + list(dims), np.int64)
            b = r.node("Reshape", [b, r.const(f"{out}_{what}_shape", shape)], f"{out}_{what}")
        return b
    lo, hi = bound(1, "min"), bound(2, "max")
    if lo is not None:
        y = r.node("Max", [y, lo], f"{out}_above_min", None if hi is not None else out)
    if hi is not None:
        r.node("Min", [y, hi], out, out)


def _cast_mask(r: _Rewriter, n: onnx.NodeProto) -> None:
    if int(_attr(n, "to", 0)) == onnx.TensorProto.BOOL:  # the same condition: its users read the mask
        r.masks[n.output[0]] = r.masks[n.input[0]]
        return
    r.node("Identity", [r.masks[n.input[0]]], n.output[0], n.output[0])


def _einsum(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Einsum of two operands (no ellipsis, no index repeated within an operand) as one batched
    MatMul: each operand transposed to (batch, free, contracted) / (batch, contracted, free) and
    reshaped to 3-D, the product reshaped and transposed to the output's order; indices of one
    operand only that the output drops are summed first. One operand: a Transpose and ReduceSum."""
    eq = _attr(n, "equation", b"")
    eq = (eq.decode() if isinstance(eq, bytes) else eq).replace(" ", "")
    if "->" not in eq or "." in eq:
        raise ModelError(f"Einsum '{eq}': qnnc needs an explicit output ('->') and no ellipsis", file=r.path,
                         node=n.name, op=n.op_type)
    lhs, res = eq.split("->")
    terms = lhs.split(",")
    if len(terms) != len(n.input) or len(terms) > 2 or any(len(set(t)) != len(t) for t in terms) \
            or len(set(res)) != len(res) or not set(res) <= set("".join(terms)):
        raise ModelError(f"Einsum '{eq}': qnnc rewrites one or two operands without repeated indices",
                         file=r.path, node=n.name, op=n.op_type)
    out = n.output[0]
    dims = {}
    for t, x in zip(terms, n.input):
        for c, d in zip(t, r.static_shape(x, n) if x not in r.consts else r.consts[x].shape):
            dims[c] = int(d)

    def reduce_only(x: str, t: str, keep: set, tag: str):
        drop = [i for i, c in enumerate(t) if c not in keep]
        if not drop:
            return x, t
        return r.reduce("ReduceSum", x, drop, 0, f"{out}_{tag}_sum"), "".join(c for c in t if c in keep)

    def transpose(x: str, t: str, order: str, tag: str) -> str:
        perm = [t.index(c) for c in order]
        return x if perm == list(range(len(t))) else r.node("Transpose", [x], f"{out}_{tag}_t", perm=perm)

    def reshape(x: str, shape, tag: str, dst=None) -> str:
        return r.node("Reshape", [x, r.const(f"{out}_{tag}_shape", np.array(shape, np.int64))], f"{out}_{tag}", dst)

    if len(terms) == 1:
        x, t = reduce_only(n.input[0], terms[0], set(res), "a")
        y = transpose(x, t, res, "a")
        r.node("Identity", [y], out, out)
        return
    (ta, tb), (xa, xb) = terms, n.input
    xa, ta = reduce_only(xa, ta, set(res) | set(tb), "a")
    xb, tb = reduce_only(xb, tb, set(res) | set(ta), "b")
    batch = [c for c in res if c in ta and c in tb]
    contract = [c for c in ta if c in tb and c not in res]
    free_a = [c for c in ta if c not in tb]
    free_b = [c for c in tb if c not in ta]

    def size(cs) -> int:
        return int(np.prod([dims[c] for c in cs])) if cs else 1
    a3 = reshape(transpose(xa, ta, "".join(batch + free_a + contract), "a"),
                 [size(batch), size(free_a), size(contract)], "a3")
    b3 = reshape(transpose(xb, tb, "".join(batch + contract + free_b), "b"),
                 [size(batch), size(contract), size(free_b)], "b3")
    prod = r.node("MatMul", [a3, b3], f"{out}_product")
    order = batch + free_a + free_b
    y = reshape(prod, [dims[c] for c in order] or [1], "full")
    perm = [order.index(c) for c in res]
    if perm == list(range(len(order))):
        r.node("Identity", [y], out, out)
    else:
        r.node("Transpose", [y], out, out, perm=perm)


def _gemm_computed_c(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Gemm(A, B, C) with C computed (tf2onnx fuses MatMul + Add of two branches into one Gemm):
    the Gemm without C, then an Add of beta * C, so the product has a range of its own."""
    out = n.output[0]
    attrs = {k: _attr(n, k, d) for k, d in (("alpha", 1.0), ("transA", 0), ("transB", 0))}
    prod = r.node("Gemm", list(n.input[:2]), f"{out}_product", **attrs)
    c = n.input[2]
    beta = float(_attr(n, "beta", 1.0))
    if beta != 1.0:
        c = r.node("Mul", [c, r.const(f"{out}_beta", np.array(beta, np.float32))], f"{out}_c")
    r.node("Add", [prod, c], out, out)


def _computed_bias(n: onnx.NodeProto, dependent) -> bool:
    """A Conv whose bias B is computed from the model input (tf2onnx reads Add(Conv(x), y) with y of
    shape [1, C, 1, 1], a residual branch once the maps are 1x1, as a bias and feeds B = Squeeze(y))."""
    return len(n.input) > 2 and bool(n.input[2]) and n.input[2] in dependent


def _conv(r: _Rewriter, n: onnx.NodeProto) -> None:
    """A Conv with a 3-D kernel: per-plane 2-D Convs (decompose_volume.py). A 1-D / 2-D Conv or a
    ConvTranspose with a computed bias: the op without it, then an Add of the bias reshaped to
    [1, C, 1, ...], so the product has a range of its own (as a Gemm's computed C)."""
    if decompose_volume.is_volume_op(n, {k: len(v.shape) for k, v in r.consts.items()}):
        if len(n.input) > 2 and n.input[2] and n.input[2] not in r.consts and n.input[2] not in r.folded:
            raise ModelError("a 3-D Conv whose bias is computed from the model input is not supported; only a "
                             "constant bias", file=r.path, node=n.name, op=n.op_type)
        decompose_volume.conv3d(r, n)
        return
    out = n.output[0]
    spatial = r.rank(n.input[1], n) - 2  # the weight's [M, C/g, k...]
    prod = r.node(n.op_type, list(n.input[:2]), f"{out}_product",
                  **{a.name: helper.get_attribute_value(a) for a in n.attribute})
    shape = r.const(f"{out}_bias_shape", np.array([1, -1] + [1] * spatial, np.int64))
    bias = r.node("Reshape", [n.input[2], shape], f"{out}_bias")
    r.node("Add", [prod, bias], out, out)


def _reverse_sequence(r: _Rewriter, n: onnx.NodeProto) -> None:
    """ReverseSequence whose lengths are all the whole time axis (tf2onnx's backward direction of
    a Bidirectional RNN with batch 1): a Slice with step -1 along that axis."""
    lens = r.constant_input(n, 1, "sequence_lens")
    time_axis = int(_attr(n, "time_axis", 0))
    dims = r.static_shape(n.input[0], n)
    if time_axis == 0 and dims[0] <= 0 or np.any(lens != dims[time_axis]):
        raise ModelError(f"ReverseSequence with sequence_lens {lens.tolist()} shorter than the time axis "
                         f"({dims[time_axis]} steps) is not supported; only whole sequences are reversed",
                         file=r.path, node=n.name, op=n.op_type)
    big = np.iinfo(np.int64).max
    r.node("Slice", [n.input[0], r.const(f"{n.output[0]}_starts", np.array([-1], np.int64)),
                     r.const(f"{n.output[0]}_ends", np.array([-big], np.int64)),
                     r.const(f"{n.output[0]}_axes", np.array([time_axis], np.int64)),
                     r.const(f"{n.output[0]}_steps", np.array([-1], np.int64))], n.output[0], n.output[0])


def _concat_constant_ends(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Concat whose constant inputs come first and/or last (a ViT / keyword transformer's class
    token before the patch embeddings): the activations' Concat zero-padded along the axis, plus
    one constant holding the constant inputs in their slots and zeros elsewhere."""
    ins = list(n.input)
    value = {i: (r.consts[i] if i in r.consts else numpy_helper.to_array(r.folded[i])) for i in ins
             if i in r.consts or i in r.folded}
    live = [k for k, i in enumerate(ins) if i not in value]
    first, last = live[0], live[-1]
    if any(ins[k] in value for k in range(first, last + 1)):
        raise ModelError("Concat with a constant input between computed ones is not supported (only constants "
                         "before or after all of them)", file=r.path, node=n.name, op=n.op_type)
    out = n.output[0]
    shape = r.static_shape(out, n)
    axis = int(_attr(n, "axis", 0)) % len(shape)
    consts = {k: np.asarray(value[ins[k]], np.float32) for k in range(len(ins)) if k < first or k > last}
    pre = sum(consts[k].shape[axis] for k in range(first))
    post = sum(consts[k].shape[axis] for k in range(last + 1, len(ins)))
    mid = ins[first] if first == last else r.node("Concat", ins[first:last + 1], f"{out}_computed", axis=axis)
    pads = [0] * (2 * len(shape))
    pads[axis], pads[len(shape) + axis] = pre, post
    padded = r.node("Pad", [mid, r.const(f"{out}_pads", np.array(pads, np.int64))], f"{out}_padded")  # zeros
    full = np.zeros([1 if d <= 0 else d for d in shape], np.float32)
    at = 0
    for k in range(len(ins)):
        size = consts[k].shape[axis] if k in consts else (shape[axis] - pre - post if k == first else 0)
        if k in consts:
            idx = [slice(None)] * len(shape)
            idx[axis] = slice(at, at + size)
            full[tuple(idx)] = consts[k]
        at += size
    r.node("Add", [padded, r.const(f"{out}_constants", full)], out, out)


def _transpose_runs(shape: List[int], perm: List[int]) -> int:
    """How many axes a transpose has once size-1 axes are dropped and axes that stay neighbours
    are merged (the rank the int8 / int16 transpose kernels see)."""
    kept = [a for a in range(len(shape)) if shape[a] != 1]
    runs, last = 0, None
    for a in (a for a in perm if shape[a] != 1):
        if last is None or kept.index(a) != kept.index(last) + 1:
            runs += 1
        last = a
    return runs


def _transpose_high_rank(r: _Rewriter, n: onnx.NodeProto) -> None:
    """A Transpose of rank 5 or more that keeps more than 4 axes once neighbouring axes merge (the
    q / k / v split of a Swin / ViT attention, (B, N, 3, heads, d) -> (3, B, heads, N, d); PyTorch's
    PixelShuffle at opset 9, (1, C, r, r, H, W) -> (1, C, H, r, W, r)): per index of its shortest
    output axis (above 1), a Gather of that index and the Transpose of the rest (split again while
    it keeps more than 4 axes), stacked again on that axis by a Concat."""
    x, out = n.input[0], n.output[0]
    shape = list(r.static_shape(x, n))
    perm = [int(p) for p in _attr(n, "perm", list(reversed(range(len(shape)))))]
    _transpose_split(r, x, shape, perm, out, out)


def _transpose_split(r: _Rewriter, x: str, shape: List[int], perm: List[int], out: str, base: str) -> None:
    """``out`` = Transpose(``x`` of ``shape``, ``perm``) built from transposes of at most 4 merged axes."""
    if _transpose_runs(shape, perm) <= 4:
        r.node("Transpose", [x], out, out, perm=perm)
        return
    # the fewest parts: PixelShuffle's (1, 64, 2, 2, H, W) splits in 2 on an r axis, not in 64
    j = min((j for j in range(len(perm)) if shape[perm[j]] > 1), key=lambda j: shape[perm[j]])
    a = perm[j]
    rest = [p - (p > a) for p in perm if p != a]
    axis = r.const(f"{base}_axis", np.array([j], np.int64)) if r.opset >= 13 else None
    parts = []
    for k in range(shape[a]):
        g = r.node("Gather", [x, r.const(f"{base}_index{k}", np.array(k, np.int64))], f"{base}_part{k}", axis=a)
        t = f"{base}_part{k}_transposed"
        _transpose_split(r, g, shape[:a] + shape[a + 1:], rest, t, t)
        parts.append(r.node("Unsqueeze", [t, axis], f"{base}_item{k}") if axis is not None
                     else r.node("Unsqueeze", [t], f"{base}_item{k}", axes=[j]))
    r.node("Concat", parts, out, out, axis=j)


#: Ops that normalize rows along ``axis``, which the kernels take as the last one. Before opset 13
#: they coerce their input to 2-D at the axis (default 1): over all the dims from the axis on, not
#: over the axis alone (Hardmax has no kernel).
_ROW_OPS = ("Softmax", "LogSoftmax")


def _over_last_axis(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Softmax / LogSoftmax over a non-last axis. Before opset 13 (a Softmax over the channels
    of a 4-D map at opset 11 normalizes over C x H x W): the input reshaped to [outer, inner], the
    op over the last axis, the result reshaped back. From 13 on, of an input of rank 4 at most
    (but a 4-D one's channels, the last axis in NHWC: passes/layout.py): that axis transposed to
    the end and back."""
    x, out = n.input[0], n.output[0]
    shape = list(r.static_shape(x, n))
    if r.opset >= 13:
        axis = int(_attr(n, "axis", -1)) % len(shape)
        perm = [a for a in range(len(shape)) if a != axis] + [axis]
        moved = r.node("Transpose", [x], f"{out}_axis_last", perm=perm)
        y = r.node(n.op_type, [moved], f"{out}_axis_last_{n.op_type.lower()}", axis=-1)
        r.node("Transpose", [y], out, out, perm=[int(p) for p in np.argsort(perm)])
        return
    axis = int(_attr(n, "axis", 1)) % len(shape)
    inner = int(np.prod(shape[axis:]))
    flat = r.node("Reshape", [x, r.const(f"{out}_rows_shape", np.array([-1, inner], np.int64))], f"{out}_rows")
    rows = r.node(n.op_type, [flat], f"{out}_rows_{n.op_type.lower()}", axis=1)
    r.node("Reshape", [rows, r.const(f"{out}_shape", np.array([-1] + shape[1:], np.int64))], out, out)


_REWRITES: Dict[str, Callable[[_Rewriter, onnx.NodeProto], None]] = {
    "InstanceNormalization": _instance_norm, "GroupNormalization": _group_norm, "LpNormalization": _lp_norm,
    "ReduceL1": _reduce_composite, "ReduceL2": _reduce_composite, "ReduceSumSquare": _reduce_composite,
    "ReduceLogSum": _reduce_composite, "ReduceLogSumExp": _reduce_composite, "Mish": _mish, "LRN": _lrn,
    "LpPool": _lp_pool, "GlobalLpPool": _lp_pool,
    "Expand": _expand, "Tile": _tile, "Where": _where, "RNN": _rnn, "Pad": _pad,
    **{op: _compare for op in _COMPARE}, "Cast": _cast_mask, "Not": _not_mask, "Einsum": _einsum,
    "And": _logic_mask, "Or": _logic_mask, "Xor": _logic_mask, "Clip": _clip_computed_bounds,
    "LSTM": decompose_recurrent.lstm, "GRU": decompose_recurrent.gru,
    "Gemm": _gemm_computed_c, "ReverseSequence": _reverse_sequence, "Concat": _concat_constant_ends,
    **{op: _mask_move for op in _MASK_MOVES}, "Transpose": _transpose, **{op: _over_last_axis for op in _ROW_OPS},
    "ScatterND": decompose_index.scatter_nd, "GatherElements": decompose_index.gather_elements,
    "GatherND": decompose_index.gather_nd, "DFT": decompose_spectral.dft, "STFT": decompose_spectral.stft,
    "CumSum": decompose_index.cumsum, "Trilu": decompose_index.trilu,
    "Conv": _conv, "ConvTranspose": _conv, "MaxPool": decompose_volume.pool3d, "AveragePool": decompose_volume.pool3d,
}

#: Ops rewritten only when the inputs after the first are constants (also once folded): indices,
#: axis, k (decompose_index.py).
_CONSTANT_OPERANDS = {"ScatterND": (1,), "GatherElements": (1,), "GatherND": (1,), "CumSum": (1,), "Trilu": (1,),
                      "DFT": (1, 2), "STFT": (1, 2, 3)}

#: The ops rewritten here (passes/operators.py documents what each becomes); Pad only in its
#: non-constant modes, comparisons, Not and Cast only as a Where's condition (and the moves of
#: those, :data:`_MASK_MOVES`, as masks). LSTM and GRU have kernels of their own and are unrolled
#: only with features those lack (decompose_recurrent.py); a Gemm is split only when its C is
#: computed, a Concat only when some inputs are constants, a Transpose only of rank 5+ that
#: merging axes does not bring to rank 4, Conv / MaxPool / AveragePool only with a 3-D kernel
#: (decompose_volume.py), a Conv / ConvTranspose also with a bias computed from the input, Clip
#: only with a bound computed from the input. Loops are unrolled (unroll_loops.py), Ifs inlined
#: (inline_ifs.py), CastLikes read as Constants or Casts (cast_like.py), IsNaN / IsInf of computed
#: tensors read as false (nan_tests.py).
COMPOSITES = frozenset(_REWRITES) - {"Pad", "LSTM", "GRU", "Gemm", "Concat", "Conv", "ConvTranspose",
                                     "MaxPool", "AveragePool", "Clip", *_ROW_OPS, *_MASK_MOVES} | \
    {"Loop", "If", "CastLike", *NON_FINITE_TESTS}


def _rewritten_pad(n: onnx.NodeProto) -> bool:
    """A Pad the rewrite makes of Slices and a Concat: a mode other than constant, pads an input."""
    return _pad_mode(n) in ("reflect", "edge", "wrap") and len(n.input) > 1 and bool(n.input[1])


def _needs_rewrite(n: onnx.NodeProto, consts, masks=frozenset(), dependent=frozenset(),
                   value=lambda name: None, shapes=None, opset: int = 13, not_float=frozenset(),
                   ranks: Optional[Dict[str, int]] = None) -> bool:
    """A composite whose activation inputs are not all constants (those are folded as they are)
    (``opset``: the model's, for the ops whose meaning changed with opset 13);
    ``masks``: the comparisons :func:`_mask_conditions` turns into masks; ``dependent``: the
    tensors that depend on the input values (an LSTM / GRU state computed from them is unrolled);
    ``value``: a constant's array; ``shapes``: a tensor's static dims (None if unknown);
    ``not_float``: the tensors shape inference types other than float (a bool mask's Expand is no
    Add of zeros: left for the importer to name); ``ranks``: the constants' ranks (a 5-D Conv weight)."""
    if n.op_type not in _REWRITES or n.domain not in ("", "ai.onnx"):
        return False
    if n.op_type in ("LSTM", "GRU"):
        return decompose_recurrent.needs_unroll(n, consts, dependent, value)
    live = [i for i in n.input if i and i not in consts]
    if n.op_type in _COMPARE or n.op_type in ("And", "Or", "Xor"):
        return n.output[0] in masks
    if n.op_type in ("Cast", "Not"):
        return bool(n.input) and n.input[0] in masks
    if n.op_type in _MASK_MOVES and (n.output[0] in masks or n.op_type != "Transpose"):
        return n.output[0] in masks  # (a Transpose of rank 5+ is rewritten below)
    if n.op_type == "Where":  # a condition computed otherwise has no formula over supported ops
        # (a constant condition also once folded: computed from a mask with static shapes)
        return bool(live) and (n.input[0] in consts or n.input[0] in masks or value(n.input[0]) is not None)
    if n.op_type in ("Expand", "Tile"):  # shape / repeats also once folded (TorchScript's repeat:
        # Expand to a ConstantOfShape of ones, then Tile)
        return n.input[0] not in consts and n.input[0] not in not_float and len(n.input) > 1 and \
            value(n.input[1]) is not None
    if n.op_type == "Concat":  # a kernel of its own, unless some inputs are float constants (not shapes)
        values = [value(i) for i in n.input if i]  # constants also once folded (an Expand of a class token)
        fixed = [v for v in values if v is not None]
        return 0 < len(fixed) < len(values) and all(np.asarray(v).dtype.kind == "f" for v in fixed)
    if n.op_type == "Transpose":  # rank 5+ that merging neighbouring axes leaves above rank 4
        dims = shapes(n.input[0]) if shapes is not None and live else None
        perm = [int(p) for p in _attr(n, "perm", list(reversed(range(len(dims or [])))))]  # default: reversed
        return dims is not None and len(dims) >= 5 and all(d > 0 for d in dims) and len(perm) == len(dims) \
            and _transpose_runs(dims, perm) > 4
    if n.op_type in _ROW_OPS:  # over a non-last axis: before opset 13, or of rank 4 at most
        dims = shapes(n.input[0]) if shapes is not None and live else None
        if not dims:
            return False
        axis = int(_attr(n, "axis", 1 if opset < 13 else -1)) % len(dims)
        # (a 4-D input's channel axis is the last in NHWC: passes/layout.py; axis 0 is the batch,
        # which the compiled model takes one sample at a time: refused by the lowering)
        return axis not in (0, len(dims) - 1) and (opset < 13 or len(dims) <= 3 or len(dims) == 4 and axis != 1)
    if n.op_type == "Clip":  # constant bounds are the Clip kernel's; computed ones (not only folded) Min / Max
        return n.input[0] not in consts and any(len(n.input) > i and n.input[i] and n.input[i] in dependent
                                                for i in (1, 2))
    if n.op_type in ("Conv", "ConvTranspose") and _computed_bias(n, dependent):
        return True
    if n.op_type == "ConvTranspose":  # otherwise a kernel of its own
        return False
    if n.op_type in ("Conv", "MaxPool", "AveragePool"):  # only 3-D ones (2-D: kernels of their own)
        return bool(live) and decompose_volume.is_volume_op(n, ranks or {})
    if n.op_type in _CONSTANT_OPERANDS:  # index / axis operands known at build time, float activation data
        if n.input[0] in not_float:  # integer data (shape arithmetic not folded): left for the importer
            return False
        fixed = all(len(n.input) <= i or not n.input[i] or value(n.input[i]) is not None
                    for i in _CONSTANT_OPERANDS[n.op_type])
        return fixed and any(i in live for k, i in enumerate(n.input) if k not in _CONSTANT_OPERANDS[n.op_type])
    if n.op_type == "Gemm":  # only a computed C is split off
        return len(n.input) > 2 and bool(n.input[2]) and n.input[2] not in consts
    if n.op_type == "Pad":  # constant mode is a kernel of its own; pads also once folded (PyTorch
        # computes them from a Concat / Slice / Transpose subgraph from opset 11 on)
        return n.input[0] not in consts and _rewritten_pad(n) and value(n.input[1]) is not None
    return bool(live)


def expand_composites(model: onnx.ModelProto, opset: int, path: str) -> onnx.ModelProto:
    """The model with every composite op (:data:`COMPOSITES`) on activations replaced by its
    formula, Ifs with a condition known at build time inlined (inline_ifs.py) and Loops with a
    static trip count unrolled first (unroll_loops.py); the model itself when it has none."""
    if any(n.op_type == "CastLike" for n in model.graph.node):
        cast_likes_as_casts(model)  # first: a constant CastLike a tensor is the rewrites' constant
    model = finite_masks(model)  # attention-mask fills below -1e4 (-inf): -1e4 where only a Softmax reads them
    model = nan_tests_false(model, opset)  # first: the Wheres they feed then have constant conditions
    model = inline_ifs(model, opset, path)  # first: a taken branch may hold a Loop or composites
    model, loop_ties = unroll_loops(model, opset, path)
    if any(n.op_type == "CastLike" for n in model.graph.node):
        cast_likes_as_casts(model)  # those of the branches and loop bodies just inlined
    if loop_ties:
        add_tied_ranges(model, loop_ties)
    consts = {i.name for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts.update(n.output)
    dependent = decompose_recurrent.data_dependent(model)
    masks = _mask_conditions(model, consts, dependent)

    # The shape arithmetic folded (a copy), once, when a decision or a rewrite needs it: the
    # constants a Concat reads, a rank-5+ Transpose's dims, computed pads, the rewriter's shapes.
    need_fold = any(n.op_type == "Concat" or n.op_type == "Transpose" and len(_attr(n, "perm", [0] * 5)) >= 5
                    or n.op_type == "Pad" and _rewritten_pad(n) and n.input[1] not in consts
                    or n.op_type in ("Expand", "Tile") and len(n.input) > 1 and n.input[1] not in consts
                    or n.op_type == "Where" and n.input[0] not in consts
                    or n.op_type in _CONSTANT_OPERANDS  # (also for the element types: not_float)
                    or n.op_type in _ROW_OPS and (opset < 13 or _attr(n, "axis", -1) != -1)
                    for n in model.graph.node)
    folded_model = fold_or_none(model, opset) if need_fold else None
    folded = {} if folded_model is None else {i.name: numpy_helper.to_array(i) for i in folded_model.graph.initializer}
    shapes = static_dims(folded_model).get if folded_model is not None else {}.get
    not_float = set() if folded_model is None else {
        vi.name for vi in list(folded_model.graph.input) + list(folded_model.graph.value_info)
        if vi.type.tensor_type.elem_type not in (0, onnx.TensorProto.FLOAT)}

    def value(name: str):
        v = decompose_recurrent.constant_value(model, name)
        return folded.get(name) if v is None else v
    ranks = {i.name: len(i.dims) for i in model.graph.initializer}
    ranks.update((n.output[0], len(n.attribute[0].t.dims)) for n in model.graph.node if n.op_type == "Constant"
                 and n.attribute and n.attribute[0].type == onnx.AttributeProto.TENSOR)
    if not any(_needs_rewrite(n, consts, masks, dependent, value, shapes, opset, not_float, ranks)
               for n in model.graph.node):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    try:
        r = _Rewriter(m, opset, path, folded=folded_model)
    except Exception as e:  # shape inference of a malformed model: the importer's checks say more
        raise ModelError(f"shape inference fails before the composite ops can be rewritten: {e}".splitlines()[0],
                         file=path) from None
    _rewrite(m, r, lambda n: _needs_rewrite(n, consts, masks, dependent, value, shapes, opset, not_float, ranks),
             _REWRITES)
    drop_dead_nodes(m.graph)  # e.g. the Expand of a class token a Concat rewrite read as a constant
    _drop_unused_initializers(m)  # e.g. an unrolled LSTM's W / R / B, now read per gate
    r.tied.extend(_rewritten_ties(m, loop_ties))
    if r.tied:
        add_tied_ranges(m, r.tied)
    stale = [vi for vi in m.graph.value_info if vi.name in masks]  # the bools the masks replaced
    for vi in stale:
        m.graph.value_info.remove(vi)
    return m


def _rewritten_ties(m: onnx.ModelProto, groups: List[List[str]]) -> List[List[str]]:
    """The tensors a rewrite made from tied ones (an unrolled loop's steps): the rewrites name
    what they make after the output they replace (``<out>_product``), so the same suffix on
    every member of a tied group is one role too."""
    made = {o for n in m.graph.node for o in n.output if o}
    out = []
    for group in groups:
        first = group[0]
        for name in sorted(made):
            if name.startswith(first + "_"):
                suffix = name[len(first):]
                if all(g + suffix in made for g in group[1:]):
                    out.append([g + suffix for g in group])
    return out


def add_tied_ranges(m: onnx.ModelProto, groups: List[List[str]]) -> None:
    """Record groups of tensors that take one calibrated range in the model's metadata (the
    importer reads them into Graph.tied_ranges), after any recorded before."""
    props = {p.key: p.value for p in m.metadata_props}
    old = json.loads(props.get(TIED_RANGES_KEY, "[]"))
    helper.set_model_props(m, {**props, TIED_RANGES_KEY: json.dumps(old + groups)})


def _drop_unused_initializers(m: onnx.ModelProto) -> None:
    """Remove initializers no node reads (those also listed as graph inputs stay: inputs with defaults)."""
    used = {i for n in m.graph.node for i in n.input} | {o.name for o in m.graph.output}
    used |= {i.name for i in m.graph.input}
    keep = [i for i in m.graph.initializer if i.name in used]
    if len(keep) != len(m.graph.initializer):
        del m.graph.initializer[:]
        m.graph.initializer.extend(keep)


def _rewrite(m: onnx.ModelProto, r: _Rewriter, wanted: Callable[[onnx.NodeProto], bool],
             rewrites: Dict[str, Callable[[_Rewriter, onnx.NodeProto], None]]) -> None:
    """Replace, in place, every node of m that ``wanted`` picks by what its rewrite builds in r."""
    for n in m.graph.node:
        if not wanted(n):
            r.out.append(n)
            continue
        try:
            rewrites[n.op_type](r, n)
        except ModelError:
            raise
        except Exception as e:  # malformed attributes or constants (wrong ranks, types)
            raise ModelError(f"cannot rewrite this {n.op_type} as supported ops: {e}".splitlines()[0], file=r.path,
                             node=n.name, op=n.op_type) from None
    del m.graph.node[:]
    m.graph.node.extend(r.out)
    m.graph.initializer.extend(r.inits)


#: Removed experimental ops of old opsets that :func:`expand_legacy` rewrites (ConstantFill after the
#: opset conversion: :func:`restore_legacy_fills`).
LEGACY_OPS = frozenset({"ImageScaler", "Scale", "ConstantFill"})


def _image_scaler(r: _Rewriter, n: onnx.NodeProto) -> None:
    y = n.output[0]
    scaled = r.node("Mul", [n.input[0], r.const(f"{y}_scale", np.array(float(_attr(n, "scale", 1.0)), np.float32))],
                    f"{y}_scaled", y if n.op_type == "Scale" else None)
    if n.op_type == "ImageScaler":
        bias = np.asarray(_attr(n, "bias", []), np.float32).reshape(1, -1, 1, 1)
        r.node("Add", [scaled, r.const(f"{y}_bias", bias)], y, y)


def expand_legacy(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """Experimental ops of opsets < 10 that ONNX removed, so its version converter cannot convert a
    model using them (the model zoo's older image networks, e.g. Tiny YOLOv2's ImageScaler):
    ImageScaler(x) = scale * x + bias[c] and Scale(x) = scale * x as Mul / Add with constants;
    ConstantFill (PyTorch's zero initial state of an RNN at opsets 7-8) is set aside in a private
    domain the converter passes over (:func:`restore_legacy_fills` makes it a ConstantOfShape once
    converted). Runs before the opset conversion; the model itself when it has none."""
    model = rewritten_copy(model, path, 0, {"ImageScaler": _image_scaler, "Scale": _image_scaler})
    fills = [n for n in model.graph.node if n.op_type == "ConstantFill" and n.domain in ("", "ai.onnx")]
    if not fills:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in m.graph.node:
        if n.op_type != "ConstantFill" or n.domain not in ("", "ai.onnx"):
            continue
        if len(n.input) != 1 or not int(_attr(n, "input_as_shape", 0)) or _attr(n, "extra_shape", None) is not None:
            raise ModelError("ConstantFill is read only with its shape as its one input (input_as_shape=1, no "
                             "extra_shape), as PyTorch exports an RNN's initial state", file=path, node=n.name,
                             op=n.op_type)
        n.domain = _LEGACY_DOMAIN
    m.opset_import.append(helper.make_opsetid(_LEGACY_DOMAIN, 1))
    return m


_LEGACY_DOMAIN = "qnnc.legacy"  # removed ops kept aside through the opset conversion


def restore_legacy_fills(model: onnx.ModelProto) -> None:
    """The ConstantFills :func:`expand_legacy` set aside as the ConstantOfShape (opset 9 on) each
    computes: its value of its dtype (default float) in the shape its input holds; in place."""
    for n in model.graph.node:
        if n.op_type != "ConstantFill" or n.domain != _LEGACY_DOMAIN:
            continue
        dtype = int(_attr(n, "dtype", onnx.TensorProto.FLOAT))
        if dtype in (onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16):
            dtype = onnx.TensorProto.FLOAT  # the model's other float tensors are float32 by now (float32.py)
        value = helper.make_tensor("value", dtype, [1], [float(_attr(n, "value", 0.0))] if dtype ==
                                   onnx.TensorProto.FLOAT else [int(_attr(n, "value", 0))])
        n.op_type, n.domain = "ConstantOfShape", ""
        del n.attribute[:]
        n.attribute.extend([helper.make_attribute("value", value)])
    kept = [o for o in model.opset_import if o.domain != _LEGACY_DOMAIN]
    del model.opset_import[:]
    model.opset_import.extend(kept)


#: Ops tf2onnx writes unconverted into the default domain when it has no conversion for them (no
#: ONNX schema, TensorFlow's meaning): Keras 3's exact gelu lowers to Erfc, TFLite's to TFL_GELU;
#: tf.math.log1p / expm1 and Keras' Discretization layer (Bucketize) stay as they are.
TF2ONNX_LEFTOVERS = frozenset({"Erfc", "TFL_GELU", "Log1p", "Expm1", "Bucketize"})


def _bucketize(r: _Rewriter, n: onnx.NodeProto) -> None:
    """TensorFlow's Bucketize(x, boundaries): the number of boundaries <= x, a sum of the masks
    x >= b (float; an int32 Cast of it where a reader is no Cast to float, as the op's type)."""
    x, y = n.input[0], n.output[0]
    bounds = [float(b) for b in _attr(n, "boundaries", [])]
    if not bounds or any(a > b for a, b in zip(bounds, bounds[1:])):
        raise ModelError(f"Bucketize needs sorted boundaries (as TensorFlow does), got {bounds}", file=r.path,
                         node=n.name, op=n.op_type)
    total = None
    for k, b in enumerate(bounds):
        at = r.node("GreaterOrEqual", [x, r.const(f"{y}_bound{k}", np.array(b, np.float32))], f"{y}_above{k}")
        mask = r.node("Cast", [at], f"{y}_mask{k}", to=onnx.TensorProto.FLOAT)
        total = mask if total is None else r.node("Add", [total, mask], f"{y}_count{k}")
    if r.float_readers_only(y):
        r.node("Identity", [total], y, y)
        r.retyped.append(y)
    else:
        r.node("Cast", [total], y, y, to=onnx.TensorProto.INT32)


def _tf2onnx_leftover(r: _Rewriter, n: onnx.NodeProto) -> None:
    """Erfc(x) = 1 - Erf(x); Log1p(x) = Log(1 + x); Expm1(x) = Exp(x) - 1; Bucketize
    (:func:`_bucketize`); TFL_GELU(x) = x / 2 * (1 + Erf(x / sqrt(2))), or with ``approximate``
    x / 2 * (1 + Tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))."""
    x, y = n.input[0], n.output[0]
    one = r.const(f"{y}_one", np.array(1.0, np.float32))
    if n.op_type == "Erfc":
        r.node("Sub", [one, r.node("Erf", [x], f"{y}_erf")], y, y)
        return
    if n.op_type == "Log1p":
        r.node("Log", [r.node("Add", [x, one], f"{y}_plus_one")], y, y)
        return
    if n.op_type == "Expm1":
        r.node("Sub", [r.node("Exp", [x], f"{y}_exp"), one], y, y)
        return
    if n.op_type == "Bucketize":
        _bucketize(r, n)
        return
    if int(_attr(n, "approximate", 0)):
        cube = r.node("Mul", [r.node("Mul", [x, x], f"{y}_square"), x], f"{y}_cube")
        inner = r.node("Add", [x, r.node("Mul", [cube, r.const(f"{y}_c", np.array(0.044715, np.float32))],
                                         f"{y}_cubic")], f"{y}_inner")
        arg = r.node("Mul", [inner, r.const(f"{y}_k", np.array(np.sqrt(2 / np.pi), np.float32))], f"{y}_arg")
        curve = r.node("Tanh", [arg], f"{y}_tanh")
    else:
        arg = r.node("Mul", [x, r.const(f"{y}_k", np.array(1 / np.sqrt(2), np.float32))], f"{y}_arg")
        curve = r.node("Erf", [arg], f"{y}_erf")
    half = r.node("Mul", [x, r.const(f"{y}_half", np.array(0.5, np.float32))], f"{y}_half_x")
    r.node("Mul", [half, r.node("Add", [one, curve], f"{y}_gate")], y, y)


def expand_tf2onnx_leftovers(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """The model with tf2onnx's unconverted :data:`TF2ONNX_LEFTOVERS` written as ONNX ops (the
    file itself fails ONNX's checker and onnxruntime); the model itself when it has none."""
    return rewritten_copy(model, path, 0, {op: _tf2onnx_leftover for op in TF2ONNX_LEFTOVERS})


def rewritten_copy(model: onnx.ModelProto, path: str, opset: int,
                   rewrites: Dict[str, Callable[[_Rewriter, onnx.NodeProto], None]]) -> onnx.ModelProto:
    """A copy of ``model`` whose default-domain nodes of the ops in ``rewrites`` (in the main graph)
    are replaced by what their rewrite builds for ``opset``, without shape inference (before the
    opset conversion); the model itself when it has none."""
    def wanted(n: onnx.NodeProto) -> bool:
        return n.op_type in rewrites and n.domain in ("", "ai.onnx")
    if not any(wanted(n) for n in model.graph.node):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    # IR 3 (opset 7/8 files) lists every initializer as a graph input; the rewrites' constants are
    # not, which IR 4 allows (the opset conversion checks the IR's rule)
    m.ir_version = max(m.ir_version, 4)
    r = _Rewriter(m, opset, path, infer=False)
    _rewrite(m, r, wanted, rewrites)
    stale = [vi for vi in m.graph.value_info if vi.name in r.retyped]
    for vi in stale:
        m.graph.value_info.remove(vi)
    return m
