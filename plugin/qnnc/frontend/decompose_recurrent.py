"""LSTM and GRU nodes the fused kernels do not take, unrolled into supported ONNX ops (ONNX -> ONNX).

The fused kernels (quantize/rules_recurrent.py) take the common export: default activations, no
clip, no peepholes, constant initial states. Real models also bring:

* a streaming state: ``initial_h`` / ``initial_c`` are graph inputs (or computed from them), and
  ``Y_h`` / ``Y_c`` graph outputs (a keyword spotter run one window at a time);
* other activations, e.g. Keras' ``hard_sigmoid`` recurrent activation (tf2onnx:
  ``activations=[HardSigmoid, Tanh, Tanh]`` with ``activation_alpha/beta``);
* cell clipping (``clip``), coupled input and forget gates (``input_forget``), peepholes (``P``),
  a batch above 1.

Such a node becomes, per direction: one MatMul of the whole sequence with each gate's input
weights (the input side of every step at once, bias folded in), then per step a Gather of that
step's rows, a Gemm of the previous hidden state with the gate's recurrent weights, an Add, the
optional Clip, the gate's activation and the cell / state update as Mul / Add / Sub (ONNX
semantics, checked against onnxruntime in tests/test_recurrent_unrolled.py). The tensors that play
one role at every step (h, c, each gate) are tied to one calibrated range (``r.tied``; the
importer keeps it as Graph.tied_ranges), as the fused kernels keep one scale for h: every step's
layers then quantize alike and the C holds one copy of their constants.

``layout=1`` and variable ``sequence_lens`` stay refused (canonicalize.recurrent_attrs says why).
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError

_DEFAULT_ACTS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}
# activation -> (ONNX op, default alpha or None, default beta or None); ScaledTanh / Affine are formulas
_ACTS = {"sigmoid": ("Sigmoid", None, None), "tanh": ("Tanh", None, None), "relu": ("Relu", None, None),
         "hardsigmoid": ("HardSigmoid", 0.2, 0.5), "leakyrelu": ("LeakyRelu", 0.01, None),
         "thresholdedrelu": ("ThresholdedRelu", 1.0, None), "elu": ("Elu", 1.0, None),
         "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None),
         "scaledtanh": (None, 1.0, 1.0), "affine": (None, 1.0, 0.0)}
_DIRECTIONS = {"forward": ["forward"], "reverse": ["reverse"], "bidirectional": ["forward", "reverse"]}


def _attr(n: onnx.NodeProto, name: str, default):
    for a in n.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            if isinstance(v, bytes):
                return v.decode()
            if isinstance(v, list):
                return [x.decode() if isinstance(x, bytes) else x for x in v]
            return v
    return default


def data_dependent(model: onnx.ModelProto) -> Set[str]:
    """Tensors whose values depend on a graph input's values (not only on its shape: an exporter's
    zero initial state built from Shape(x) is a constant once folded)."""
    inits = {i.name for i in model.graph.initializer}
    live = {i.name for i in model.graph.input if i.name not in inits}
    for n in model.graph.node:
        if n.op_type not in ("Shape", "Size") and any(i in live for i in n.input if i):
            live.update(o for o in n.output if o)
    return live


def constant_value(model: onnx.ModelProto, name: str) -> Optional[np.ndarray]:
    """The value of an initializer or Constant output ``name`` (None if it is neither)."""
    for i in model.graph.initializer:
        if i.name == name:
            return numpy_helper.to_array(i)
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output and n.output[0] == name and n.attribute \
                and n.attribute[0].type == onnx.AttributeProto.TENSOR:
            return numpy_helper.to_array(n.attribute[0].t)
    return None


def needs_unroll(n: onnx.NodeProto, consts: Iterable[str], live: Set[str],
                 value: Callable[[str], Optional[np.ndarray]] = lambda name: None) -> bool:
    """Whether an LSTM / GRU node must be unrolled: it has a feature the fused kernels lack, and
    nothing unrolling cannot do either (layout=1, variable sequence lengths, computed weights).
    ``value`` gives a constant's array (all-zero peepholes are the fused kernels')."""
    if n.op_type not in _DEFAULT_ACTS or n.domain not in ("", "ai.onnx"):
        return False
    consts = set(consts)
    ins = list(n.input) + [""] * (8 - len(n.input))
    if int(_attr(n, "layout", 0)) != 0 or not ins[0] or any(not ins[k] or ins[k] not in consts for k in (1, 2)):
        return False
    if ins[3] and ins[3] not in consts or ins[4] and ins[4] not in consts:
        return False
    dirs = len(_DIRECTIONS.get(_attr(n, "direction", "forward"), ["forward"]))
    acts = [str(a).lower() for a in _attr(n, "activations", _DEFAULT_ACTS[n.op_type] * dirs)]
    states = (5, 6) if n.op_type == "LSTM" else (5,)
    return (acts != _DEFAULT_ACTS[n.op_type] * dirs or _attr(n, "clip", None) is not None
            or bool(int(_attr(n, "input_forget", 0))) or any(ins[k] in live for k in states if ins[k])
            or (n.op_type == "LSTM" and bool(ins[7]) and _nonzero(value(ins[7]))))


def _nonzero(arr: Optional[np.ndarray]) -> bool:
    return arr is None or bool(np.any(arr != 0))


class _Acts:
    """The node's activations with their alpha / beta, consumed in order as onnxruntime does."""

    def __init__(self, n: onnx.NodeProto, count: int, path: str):
        default = _DEFAULT_ACTS[n.op_type] * (count // len(_DEFAULT_ACTS[n.op_type]))
        names = [str(a).lower() for a in _attr(n, "activations", default)]
        alphas, betas = list(_attr(n, "activation_alpha", [])), list(_attr(n, "activation_beta", []))
        self.acts: List[Tuple[str, Optional[float], Optional[float]]] = []
        for a in names:
            if a not in _ACTS:
                raise ModelError(f"activation {a!r} of {n.op_type} is not an ONNX RNN activation "
                                 f"({', '.join(sorted(_ACTS))})", file=path, node=n.name, op=n.op_type)
            _, da, db = _ACTS[a]
            alpha = (alphas.pop(0) if alphas else da) if da is not None else None
            beta = (betas.pop(0) if betas else db) if db is not None else None
            self.acts.append((a, alpha, beta))
        if len(self.acts) != count:
            raise ModelError(f"{len(self.acts)} activations given; {n.op_type} with this direction needs {count}",
                             file=path, node=n.name, op=n.op_type)

    def apply(self, r, k: int, x: str, base: str) -> str:
        name, alpha, beta = self.acts[k]
        op = _ACTS[name][0]
        if name == "scaledtanh":  # alpha * tanh(beta * x)
            t = r.node("Tanh", [r.node("Mul", [x, r.const(f"{base}_b", np.float32(beta))], f"{base}_in")], f"{base}_t")
            return r.node("Mul", [t, r.const(f"{base}_a", np.float32(alpha))], base)
        if name == "affine":  # alpha * x + beta
            y = r.node("Mul", [x, r.const(f"{base}_a", np.float32(alpha))], f"{base}_ax")
            return r.node("Add", [y, r.const(f"{base}_b", np.float32(beta))], base)
        attrs: Dict[str, float] = {}
        if alpha is not None:
            attrs["alpha"] = float(alpha)
        if beta is not None:
            attrs["beta"] = float(beta)
        return r.node(op, [x], base, **attrs)


class _Node:
    """What the unrolling needs of one LSTM / GRU node, checked."""

    def __init__(self, r, n: onnx.NodeProto, gates: int):
        self.n, self.path = n, r.path
        ins = list(n.input) + [""] * (8 - len(n.input))
        x = ins[0]
        dims = r.static_shape(x, n) if x in r.dims else []
        if len(dims) != 3:
            raise ModelError(f"{n.op_type} needs a 3-D input of static shape to unroll", file=r.path,
                             node=n.name, op=n.op_type)
        self.x, self.steps = x, int(dims[0])
        if self.steps <= 0:
            raise ModelError(f"{n.op_type} needs a static sequence length to unroll", file=r.path, node=n.name,
                             op=n.op_type)
        self.w, self.rec = r.constant_input(n, 1, "W"), r.constant_input(n, 2, "R")
        self.hidden = int(_attr(n, "hidden_size", self.rec.shape[-1]))
        self.dirs = _DIRECTIONS.get(_attr(n, "direction", "forward"))
        if self.dirs is None:
            raise ModelError(f"direction {_attr(n, 'direction', '')!r} is not forward, reverse or bidirectional",
                             file=r.path, node=n.name, op=n.op_type)
        H, D = self.hidden, len(self.dirs)
        if self.w.shape[:2] != (D, gates * H) or self.rec.shape != (D, gates * H, H):
            raise ModelError(f"W {list(self.w.shape)} / R {list(self.rec.shape)} do not match hidden_size {H} and "
                             f"{D} direction(s)", file=r.path, node=n.name, op=n.op_type)
        self.b = (r.constant_input(n, 3, "B").astype(np.float64) if ins[3] else np.zeros((D, 2 * gates * H)))
        if ins[4]:
            lens = r.constant_input(n, 4, "sequence_lens")
            if not np.all(lens == self.steps):
                raise ModelError(f"sequence_lens {lens.tolist()} shorter than the sequence ({self.steps}): only "
                                 "full sequences are supported", file=r.path, node=n.name, op=n.op_type)
        self.h0 = ins[5] or None
        self.c0 = ins[6] or None if n.op_type == "LSTM" else None
        self.p = (r.constant_input(n, 7, "P").astype(np.float64) if n.op_type == "LSTM" and ins[7] else None)
        self.clip = _attr(n, "clip", None)
        self.acts = _Acts(n, (3 if n.op_type == "LSTM" else 2) * D, r.path)
        self.base = n.output[0] if n.output and n.output[0] else (n.name or n.op_type.lower())
        self._consts: Dict[object, str] = {}  # step indices and clip bounds: one constant each

    def _const(self, r, key, base: str, value) -> str:
        if key not in self._consts:
            self._consts[key] = r.const(base, value)
        return self._consts[key]

    def state(self, r, name: Optional[str], d: int, tag: str) -> Optional[str]:
        """Direction d's [batch, hidden] slice of an initial state input."""
        if name is None:
            return None
        return r.node("Gather", [name, r.const(f"{self.base}_{tag}_index{d}", np.array(d, np.int64))],
                      f"{self.base}_{tag}0_{d}", axis=0)

    def input_side(self, r, d: int, g: int, bias: np.ndarray) -> str:
        """x_t W_g^T + bias for every step: [steps, batch, hidden]."""
        H = self.hidden
        wt = r.const(f"{self.base}_W{d}_{g}", self.w[d][g * H:(g + 1) * H].T.astype(np.float32))
        xw = r.node("MatMul", [self.x, wt], f"{self.base}_xw{d}_{g}")
        return r.node("Add", [xw, r.const(f"{self.base}_Wb{d}_{g}", bias.astype(np.float32))], f"{self.base}_xb{d}_{g}")

    def rec_weights(self, r, d: int, gates: int) -> List[str]:
        """R_g^T [hidden, hidden] of each gate, one constant each that every step reads."""
        H = self.hidden
        return [r.const(f"{self.base}_R{d}_{g}", np.ascontiguousarray(self.rec[d][g * H:(g + 1) * H].T, np.float32))
                for g in range(gates)]

    def step(self, r, xs: str, t: int, tag: str) -> str:
        index = self._const(r, ("t", t), f"{self.base}_t{t}", np.array(t, np.int64))
        return r.node("Gather", [xs, index], f"{tag}_x", axis=0)

    def clipped(self, r, x: str, tag: str) -> str:
        if self.clip is None:
            return x
        lo = self._const(r, "lo", f"{self.base}_clip_lo", np.float32(-self.clip))
        hi = self._const(r, "hi", f"{self.base}_clip_hi", np.float32(self.clip))
        return r.node("Clip", [x, lo, hi], f"{tag}_clip")

    def outputs(self, r, seq: List[List[str]], finals: List[List[str]]) -> None:
        """Y [steps, dirs, batch, hidden] and the final states [dirs, batch, hidden] (Y_h, Y_c)."""
        n, H = self.n, self.hidden
        if n.output and n.output[0]:
            step_shape = r.const(f"{self.base}_step_shape", np.array([1, 1, -1, H], np.int64))
            per_dir = []
            for d, hs in enumerate(seq):
                parts = [r.node("Reshape", [h, step_shape], f"{h}_y") for h in hs]
                per_dir.append(r.node("Concat", parts, f"{self.base}_y{d}", axis=0))
            _join(r, per_dir, n.output[0], axis=1)
        last_shape = r.const(f"{self.base}_last_shape", np.array([1, -1, H], np.int64))
        for k, states in enumerate(finals, start=1):
            if len(n.output) > k and n.output[k]:
                parts = [r.node("Reshape", [s, last_shape], f"{s}_last") for s in states]
                _join(r, parts, n.output[k], axis=0)


def _tie_steps(r, base: str, first: int) -> None:
    """Record, for the nodes the rewrite added from ``r.out[first]`` on, the tensors that play the
    same role at every step (``<base>_s<t>_<d>_<role>``): one calibrated range each group."""
    pattern = re.compile(rf"^{re.escape(base)}_s(\d+)_(\d+)_(.+)$")
    groups: Dict[Tuple[str, str], List[str]] = {}
    for node in r.out[first:]:
        for o in node.output:
            m = pattern.match(o)
            if m:
                groups.setdefault((m.group(2), m.group(3)), []).append(o)
    r.tied.extend(g for g in groups.values() if len(g) > 1)


def _join(r, parts: List[str], out: str, axis: int) -> None:
    if len(parts) == 1:
        r.node("Identity", parts, out, out)
    else:
        r.node("Concat", parts, out, out, axis=axis)


def lstm(r, n: onnx.NodeProto) -> None:
    """An LSTM node unrolled (gate order i, o, f, c as in W / R / B; ONNX's equations)."""
    s = _Node(r, n, 4)
    first = len(r.out)
    H, forget = s.hidden, bool(int(_attr(n, "input_forget", 0)))
    seq, last_h, last_c = [], [], []
    for d, name in enumerate(s.dirs):
        bias = s.b[d][:4 * H] + s.b[d][4 * H:]
        xs = [s.input_side(r, d, g, bias[g * H:(g + 1) * H]) for g in range(4)]
        rw = s.rec_weights(r, d, 4)
        peep = ([r.const(f"{s.base}_P{d}_{g}", s.p[d][g * H:(g + 1) * H].astype(np.float32)) for g in range(3)]
                if s.p is not None else None)
        f_act, g_act, h_act = 3 * d, 3 * d + 1, 3 * d + 2
        one = r.const(f"{s.base}_one{d}", np.float32(1.0)) if forget else None
        h, c = s.state(r, s.h0, d, "h"), s.state(r, s.c0, d, "c")
        hs: Dict[int, str] = {}
        for t in (range(s.steps) if name == "forward" else range(s.steps - 1, -1, -1)):
            tag = f"{s.base}_s{t}_{d}"

            def pre(g: int, cell: Optional[str], peep_k: Optional[int]) -> str:
                v = s.step(r, xs[g], t, f"{tag}_{g}")
                if h is not None:
                    v = r.node("Add", [v, r.node("MatMul", [h, rw[g]], f"{tag}_hr{g}")], f"{tag}_pre{g}")
                if peep is not None and peep_k is not None and cell is not None:
                    v = r.node("Add", [v, r.node("Mul", [cell, peep[peep_k]], f"{tag}_p{g}")], f"{tag}_pp{g}")
                return s.clipped(r, v, f"{tag}_{g}")

            i = s.acts.apply(r, f_act, pre(0, c, 0), f"{tag}_i")
            if forget:
                f = r.node("Sub", [one, i], f"{tag}_f")
            else:
                f = s.acts.apply(r, f_act, pre(2, c, 2), f"{tag}_f")
            cand = s.acts.apply(r, g_act, pre(3, None, None), f"{tag}_g")
            new_c = r.node("Mul", [i, cand], f"{tag}_ig")
            if c is not None:
                new_c = r.node("Add", [r.node("Mul", [f, c], f"{tag}_fc"), new_c], f"{tag}_c")
            o = s.acts.apply(r, f_act, pre(1, new_c, 1), f"{tag}_o")
            h = r.node("Mul", [o, s.acts.apply(r, h_act, new_c, f"{tag}_hc")], f"{tag}_h")
            c = new_c
            hs[t] = h
        seq.append([hs[t] for t in range(s.steps)])
        last_h.append(h)
        last_c.append(c)
    s.outputs(r, seq, [last_h, last_c])
    _tie_steps(r, s.base, first)


def gru(r, n: onnx.NodeProto) -> None:
    """A GRU node unrolled (gate order z, r, h as in W / R / B; linear_before_reset 0 or 1)."""
    s = _Node(r, n, 3)
    first = len(r.out)
    H, lbr = s.hidden, bool(int(_attr(n, "linear_before_reset", 0)))
    seq, last_h = [], []
    for d, name in enumerate(s.dirs):
        wb, rb = s.b[d][:3 * H], s.b[d][3 * H:]
        # z, r: both biases on the input side; n: Rb_h too unless it is applied before the reset
        biases = [wb[:H] + rb[:H], wb[H:2 * H] + rb[H:2 * H], wb[2 * H:] + (0 if lbr else rb[2 * H:])]
        xs = [s.input_side(r, d, g, biases[g]) for g in range(3)]
        rt = s.rec_weights(r, d, 3)
        rbh = r.const(f"{s.base}_Rbh{d}", rb[2 * H:].astype(np.float32)) if lbr else None
        f_act, g_act = 2 * d, 2 * d + 1
        h = s.state(r, s.h0, d, "h")
        hs: Dict[int, str] = {}
        for t in (range(s.steps) if name == "forward" else range(s.steps - 1, -1, -1)):
            tag = f"{s.base}_s{t}_{d}"

            def gate(g: int) -> str:
                v = s.step(r, xs[g], t, f"{tag}_{g}")
                if h is not None:
                    v = r.node("Add", [v, r.node("MatMul", [h, rt[g]], f"{tag}_hr{g}")],
                               f"{tag}_pre{g}")
                return s.acts.apply(r, f_act, s.clipped(r, v, f"{tag}_{g}"), f"{tag}_{'zr'[g]}")

            z, rg = gate(0), gate(1)
            v = s.step(r, xs[2], t, f"{tag}_2")
            if lbr:  # r * (h R_h^T + Rb_h)
                rb_h = rbh
                hr = (r.node("Add", [r.node("MatMul", [h, rt[2]], f"{tag}_hr2"), rb_h],
                             f"{tag}_hrb2") if h is not None else rb_h)
                v = r.node("Add", [v, r.node("Mul", [rg, hr], f"{tag}_rh")], f"{tag}_pre2")
            elif h is not None:  # (r * h) R_h^T
                rh = r.node("Mul", [rg, h], f"{tag}_rh")
                v = r.node("Add", [v, r.node("MatMul", [rh, rt[2]], f"{tag}_rhr")],
                           f"{tag}_pre2")
            cand = s.acts.apply(r, g_act, s.clipped(r, v, f"{tag}_2"), f"{tag}_n")
            if h is None:  # h = (1 - z) * n
                h = r.node("Sub", [cand, r.node("Mul", [z, cand], f"{tag}_zn")], f"{tag}_h")
            else:  # h = n + z * (h - n)
                h = r.node("Add", [cand, r.node("Mul", [z, r.node("Sub", [h, cand], f"{tag}_d")], f"{tag}_zd")],
                           f"{tag}_h")
            hs[t] = h
        seq.append([hs[t] for t in range(s.steps)])
        last_h.append(h)
    s.outputs(r, seq, [last_h])
    _tie_steps(r, s.base, first)
