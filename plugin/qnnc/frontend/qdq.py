"""Already-quantized ONNX models (QDQ and QOperator) -> a float model plus the quantization they fix.

A QDQ model (onnxruntime's ``quantize_static``, tf2onnx of an int8 TFLite model, PyTorch/Brevitas QAT
exports) carries int8/uint8 weights behind ``DequantizeLinear`` and a ``QuantizeLinear`` ->
``DequantizeLinear`` pair on each activation. A QOperator model uses ``QLinearConv``,
``QLinearMatMul`` and onnxruntime's ``com.microsoft`` ``QLinear*`` ops instead; those are first
rewritten into the QDQ form. :func:`strip_quantization` then removes every Q/DQ node:

* constant ``DequantizeLinear`` inputs become float initializers (``(q - zp) * scale`` in float32,
  exactly what onnxruntime computes), and their scales are kept (:class:`WeightQuant`) so the
  quantizer can recover the very same integers;
* each ``QuantizeLinear`` fixes the (scale, zero point) of its input tensor; the ``DequantizeLinear``
  reading it back disappears; int8-domain layout ops between them (Reshape, Transpose, ...) run on
  the float tensor instead;
* int8/uint8 graph inputs and outputs become float, with their quantization recorded, so the
  generated int8 API (``<name>_run``) takes and returns exactly the model's integers.

uint8 tensors are mapped to int8 with ``zero_point - 128`` (same scale, same real values): the int8
value is the uint8 value minus 128.

The result keeps the tensor names of the original model wherever a tensor survives, so the rest of
the pipeline (passes, the calibrated-range lookup by ONNX name) works unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError
from .onnx_names import NewTensors, defined_names

Q_OPS = {"QuantizeLinear", "DequantizeLinear"}
# QOperator ops rewritten into DequantizeLinear -> float op -> QuantizeLinear.
QOPERATOR_OPS = {"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul", "QLinearAveragePool",
                 "QLinearGlobalAveragePool", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax",
                 "QLinearConcat"}
INTEGER_ONLY_OPS = {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"}
# Ops that only move or pick int8 values: valid between a QuantizeLinear and its DequantizeLinear,
# and quantization parameters pass through them (tf2onnx reads a TFLite int8 input through a
# Transpose and one Slice per time step).
LAYOUT_OPS = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity", "MaxPool", "Slice", "Gather",
              "ReverseSequence", "Split", "DepthToSpace", "SpaceToDepth"}
_INT_TYPES = {onnx.TensorProto.INT8: np.int8, onnx.TensorProto.UINT8: np.uint8,
              onnx.TensorProto.INT32: np.int32}


@dataclass
class WeightQuant:
    """The integers behind one dequantized constant: ``float = (q - zero_point) * scale``."""

    scales: np.ndarray        # float32, one per channel along ``axis`` (or a single one)
    zero_points: np.ndarray   # int64, same length
    axis: Optional[int]
    dtype: str                # "int8" | "uint8" | "int32"


@dataclass
class QuantSpec:
    """What a pre-quantized model fixes: activation params by tensor name and weight scales."""

    activations: Dict[str, Tuple[float, int]] = field(default_factory=dict)
    weights: Dict[str, WeightQuant] = field(default_factory=dict)
    source_format: str = "QDQ"
    notes: List[str] = field(default_factory=list)
    # Graph inputs the model takes as integer codes: {name: (scale, zero point in the input's own
    # type, that type: "int8" or "uint8")}, so data given as codes read as the values they stand for.
    integer_inputs: Dict[str, Tuple[float, int, str]] = field(default_factory=dict)

    def weight_scale_candidates(self) -> List[np.ndarray]:
        """The float32 scale vectors of int8 weights (int32 biases excluded)."""
        return [w.scales for w in self.weights.values() if w.dtype != "int32"]


def integer_input_codes(spec: Optional[QuantSpec]) -> Dict[str, Tuple[float, int, str]]:
    """The inputs an already-quantized model takes as integer codes (``QuantSpec.integer_inputs``;
    none for a float model: ``spec`` None)."""
    return dict(spec.integer_inputs) if spec is not None else {}


def _through_layout_ops(name: str, producer: Dict[str, onnx.NodeProto], known: Dict) -> Optional[str]:
    """The tensor of ``known`` that ``name`` is made of through layout ops (their values are the
    same, rearranged) and Concats of tensors of one quantization (TFLite's int8 CONCATENATION has
    the same scale and zero point on every input and the output), or None."""
    while name not in known:
        prod = producer.get(name)
        if prod is not None and prod.op_type == "Concat" and prod.input:
            parts = [_through_layout_ops(i, producer, known) for i in prod.input]
            if any(p is None for p in parts) or any(known[p] != known[parts[0]] for p in parts[1:]):
                return None
            return parts[0]
        if prod is None or prod.op_type not in LAYOUT_OPS or not prod.input:
            return None
        name = prod.input[0]
    return name


def _integer_input_dequantization(model: onnx.ModelProto) -> None:
    """An int8 / uint8 graph input dequantized by ``Cast`` to float, then ``Sub`` of a constant zero
    point (optional) and ``Mul`` by a constant scale (tf2onnx ``--dequantize`` writes a TFLite
    model's integer input so): that chain becomes the DequantizeLinear it computes, in place."""
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consumers: Dict[str, List[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def only_reader(t: str, op: str) -> Optional[onnx.NodeProto]:
        users = consumers.get(t, [])
        return users[0] if len(users) == 1 and users[0].op_type == op and t not in {o.name for o in g.output} \
            else None

    def scalar(n: onnx.NodeProto, t: str) -> Optional[np.ndarray]:
        other = [i for i in n.input if i != t]
        return inits[other[0]] if len(other) == 1 and other[0] in inits and inits[other[0]].size == 1 else None

    new = NewTensors()
    new.names = defined_names(g)
    for inp in g.input:
        dtype = _INT_TYPES.get(inp.type.tensor_type.elem_type)
        if dtype not in (np.int8, np.uint8) or inp.name in inits:
            continue
        cast = only_reader(inp.name, "Cast")
        if cast is None or next((a.i for a in cast.attribute if a.name == "to"), None) != onnx.TensorProto.FLOAT:
            continue
        t, zp, removed = cast.output[0], np.zeros((), dtype), []
        sub = only_reader(t, "Sub")
        zp_const = scalar(sub, t) if sub is not None and sub.input[0] == t else None
        if zp_const is not None:
            v = float(zp_const.reshape(-1)[0])
            info = np.iinfo(dtype)
            if not (v.is_integer() and info.min <= v <= info.max):  # an image mean such as 127.5 is
                continue  # no zero point: left alone, the input then has no scale and is refused by name
            zp = np.asarray(v).astype(dtype).reshape(())
            t, removed = sub.output[0], [sub]
        mul = only_reader(t, "Mul")
        scale = scalar(mul, t) if mul is not None else None
        if scale is None or not float(scale.reshape(-1)[0]) > 0:
            continue
        base = cast.name or inp.name
        params = [new.const(base + "_scale", np.asarray(scale, np.float32).reshape(())),
                  new.const(base + "_zero_point", zp)]
        dq = helper.make_node("DequantizeLinear", [inp.name, *params], [mul.output[0]],
                              name=new.name(base + "_dequantize"))
        at = list(g.node).index(cast)
        for n in removed + [mul, cast]:
            g.node.remove(n)
        g.node.insert(at, dq)
    g.initializer.extend(new.inits)


def is_prequantized(model: onnx.ModelProto) -> bool:
    """True if the model contains Q/DQ, QOperator or integer-only (refused) nodes."""
    ops = Q_OPS | QOPERATOR_OPS | INTEGER_ONLY_OPS
    return any(n.op_type in ops for n in model.graph.node)


def _error(msg: str, path: str, node: Optional[onnx.NodeProto] = None) -> ModelError:
    return ModelError(msg, file=path, node=(node.name or None) if node is not None else None,
                      op=node.op_type if node is not None else None)


def _const_value(name: str, inits: Dict[str, np.ndarray], node: onnx.NodeProto, path: str,
                 what: str) -> np.ndarray:
    if name not in inits:
        raise _error(f"the {what} '{name}' must be a constant (initializer) for qnnc to use the model's "
                     "quantization", path, node)
    return inits[name]


def _int8_zero_point(zp: np.ndarray) -> np.ndarray:
    """uint8 zero points -> the int8 representation (same real values)."""
    return zp.astype(np.int64) - 128 if zp.dtype == np.uint8 else zp.astype(np.int64)


# ------------------------------------------------------------------- QOperator -> QDQ --

def _qoperator_to_qdq(model: onnx.ModelProto, path: str) -> None:
    """Rewrite QLinear* nodes in place as DequantizeLinear -> float op -> QuantizeLinear."""
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    out: List[onnx.NodeProto] = []
    counter = [0]

    def fresh(base: str) -> str:
        counter[0] += 1
        return f"{base}__qnnc_{counter[0]}"

    def dq(x: str, s: str, z: str, axis: Optional[int] = None) -> str:
        y = fresh(x + "_dq")
        kw = {"axis": axis} if axis is not None else {}
        out.append(helper.make_node("DequantizeLinear", [x, s, z], [y], name=fresh("DequantizeLinear"), **kw))
        return y

    def q(x: str, s: str, z: str, y: str) -> None:
        out.append(helper.make_node("QuantizeLinear", [x, s, z], [y], name=fresh("QuantizeLinear")))

    def attrs(n):
        return {a.name: helper.get_attribute_value(a) for a in n.attribute}

    for n in g.node:
        op, i = n.op_type, list(n.input) + [""] * 9
        if op not in QOPERATOR_OPS:
            out.append(n)
            continue
        name = n.name or op
        if op == "QLinearConv":
            x = dq(i[0], i[1], i[2])
            ws = _const_value(i[4], inits, n, path, "weight scale")
            w = dq(i[3], i[4], i[5], axis=0 if np.asarray(ws).size > 1 else None)
            ins = [x, w]
            if i[8]:
                # int32 bias with scale x_scale * w_scale (per output channel).
                xs = _const_value(i[1], inits, n, path, "input scale")
                bs = (np.float32(xs) * np.asarray(ws, dtype=np.float32)).astype(np.float32)
                bs_name, bz_name = fresh(name + "_bias_scale"), fresh(name + "_bias_zp")
                g.initializer.extend([numpy_helper.from_array(bs.reshape(-1) if bs.size > 1 else bs.reshape(()),
                                                              bs_name),
                                      numpy_helper.from_array(np.zeros(bs.shape if bs.size > 1 else (), np.int32),
                                                              bz_name)])
                inits[bs_name] = bs
                ins.append(dq(i[8], bs_name, bz_name, axis=0 if bs.size > 1 else None))
            y = fresh(n.output[0] + "_float")
            out.append(helper.make_node("Conv", ins, [y], name=name, **attrs(n)))
            q(y, i[6], i[7], n.output[0])
        elif op == "QGemm":
            # com.microsoft QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C (int32), y_scale, y_zp.
            a = attrs(n)
            x = dq(i[0], i[1], i[2])
            ws = _const_value(i[4], inits, n, path, "weight scale")
            per_channel = np.asarray(ws).size > 1
            w = dq(i[3], i[4], i[5], axis=(0 if a.get("transB", 0) else 1) if per_channel else None)
            ins = [x, w]
            if i[6]:
                xs = _const_value(i[1], inits, n, path, "input scale")
                bs = (np.float32(xs) * np.asarray(ws, dtype=np.float32)).astype(np.float32).reshape(-1)
                bs_name, bz_name = fresh(name + "_bias_scale"), fresh(name + "_bias_zp")
                shape = bs.shape if per_channel else ()
                g.initializer.extend([numpy_helper.from_array(bs.reshape(shape), bs_name),
                                      numpy_helper.from_array(np.zeros(shape, np.int32), bz_name)])
                inits[bs_name] = bs.reshape(shape)
                ins.append(dq(i[6], bs_name, bz_name, axis=0 if per_channel else None))
            fa = {k: v for k, v in a.items() if k in ("alpha", "transA", "transB")}
            if i[7]:
                y = fresh(n.output[0] + "_float")
                out.append(helper.make_node("Gemm", ins, [y], name=name, **fa))
                q(y, i[7], i[8], n.output[0])
            else:  # float output
                out.append(helper.make_node("Gemm", ins, [n.output[0]], name=name, **fa))
        elif op == "QLinearMatMul":
            a = dq(i[0], i[1], i[2])
            bs = inits.get(i[4])
            b = dq(i[3], i[4], i[5], axis=1 if bs is not None and np.asarray(bs).size > 1 else None)
            y = fresh(n.output[0] + "_float")
            out.append(helper.make_node("MatMul", [a, b], [y], name=name))
            q(y, i[6], i[7], n.output[0])
        elif op in ("QLinearAdd", "QLinearMul"):
            a, b = dq(i[0], i[1], i[2]), dq(i[3], i[4], i[5])
            y = fresh(n.output[0] + "_float")
            out.append(helper.make_node(op[len("QLinear"):], [a, b], [y], name=name))
            q(y, i[6], i[7], n.output[0])
        elif op == "QLinearConcat":
            ys, yz = i[0], i[1]
            rest = list(n.input)[2:]
            xs = [dq(rest[k], rest[k + 1], rest[k + 2]) for k in range(0, len(rest), 3)]
            y = fresh(n.output[0] + "_float")
            out.append(helper.make_node("Concat", xs, [y], name=name, axis=attrs(n)["axis"]))
            q(y, ys, yz, n.output[0])
        else:  # unary: x, x_scale, x_zp, y_scale, y_zp
            a = attrs(n)
            x = dq(i[0], i[1], i[2])
            y = fresh(n.output[0] + "_float")
            if op == "QLinearAveragePool":
                fa = {k: v for k, v in a.items() if k in ("kernel_shape", "strides", "pads", "ceil_mode",
                                                         "count_include_pad", "auto_pad")}
                out.append(helper.make_node("AveragePool", [x], [y], name=name, **fa))
            elif op == "QLinearGlobalAveragePool":
                if a.get("channels_last", 0):
                    raise _error("QLinearGlobalAveragePool with channels_last=1 is not supported", path, n)
                out.append(helper.make_node("GlobalAveragePool", [x], [y], name=name))
            elif op == "QLinearSigmoid":
                out.append(helper.make_node("Sigmoid", [x], [y], name=name))
            elif op == "QLinearLeakyRelu":
                out.append(helper.make_node("LeakyRelu", [x], [y], name=name, alpha=a.get("alpha", 0.01)))
            elif op == "QLinearSoftmax":
                out.append(helper.make_node("Softmax", [x], [y], name=name, axis=a.get("axis", -1)))
            q(y, i[3], i[4], n.output[0])
    del g.node[:]
    g.node.extend(out)
    # The QLinear* ops of com.microsoft are gone; keep only the domains still used.
    used = {n.domain for n in g.node}
    keep = [o for o in model.opset_import if o.domain in ("", "ai.onnx") or o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)


# --------------------------------------------------------------------- QDQ -> float --

def _dequantize_constant(q: np.ndarray, s: np.ndarray, zp: np.ndarray, axis: Optional[int]) -> np.ndarray:
    shape = [1] * q.ndim
    if s.size > 1:
        shape[axis % q.ndim] = s.size
    s32 = np.asarray(s, dtype=np.float32).reshape(shape)
    z = np.asarray(zp).astype(np.int64).reshape(shape if zp.size > 1 else [1] * q.ndim)
    # float32 arithmetic, as DequantizeLinear computes it.
    return ((q.astype(np.int64) - z).astype(np.float32) * s32).astype(np.float32)


def strip_quantization(model: onnx.ModelProto, path: str) -> Tuple[onnx.ModelProto, QuantSpec]:
    """A float copy of a QDQ/QOperator model and the quantization it fixes (see the module doc)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    spec = QuantSpec(source_format="QOperator" if any(n.op_type in QOPERATOR_OPS for n in m.graph.node)
                     else "QDQ")
    for n in m.graph.node:
        if n.op_type in INTEGER_ONLY_OPS:
            raise _error(f"{n.op_type} (integer-only arithmetic without output quantization) is not "
                         "supported; export the model in QDQ form (QuantizeLinear/DequantizeLinear)", path, n)
    _qoperator_to_qdq(m, path)
    _integer_input_dequantization(m)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    graph_inputs = {i.name for i in g.input if i.name not in inits}
    input_types = {i.name: i.type.tensor_type.elem_type for i in g.input}
    alias: Dict[str, str] = {}
    producer = {o: n for n in g.node for o in n.output}
    new_inits: Dict[str, np.ndarray] = {}
    kept: List[onnx.NodeProto] = []

    def resolve(name: str) -> str:
        seen = 0
        while name in alias:
            name = alias[name]
            seen += 1
            if seen > len(alias):
                raise _error(f"Q/DQ nodes around tensor '{name}' form a loop", path)
        return name

    def default_zero_point(n: onnx.NodeProto) -> np.ndarray:
        """A zero point left out: uint8 for QuantizeLinear; DequantizeLinear's has its input's type."""
        if n.op_type == "DequantizeLinear":
            x = n.input[0]
            if x in inits:
                return np.zeros((), inits[x].dtype)
            if input_types.get(x) in _INT_TYPES:
                return np.zeros((), _INT_TYPES[input_types[x]])
            prod = producer.get(x)
            while prod is not None and prod.op_type in LAYOUT_OPS:
                x = prod.input[0]
                prod = producer.get(x)
            if prod is not None and prod.op_type == "QuantizeLinear":
                return qparams(prod)[1]
            if input_types.get(x) in _INT_TYPES:
                return np.zeros((), _INT_TYPES[input_types[x]])
        return np.zeros((), np.uint8)

    def qparams(n: onnx.NodeProto) -> Tuple[np.ndarray, np.ndarray]:
        s = _const_value(n.input[1], inits, n, path, "scale")
        zp = inits.get(n.input[2]) if len(n.input) > 2 and n.input[2] else default_zero_point(n)
        if zp is None:
            raise _error(f"the zero point '{n.input[2]}' must be a constant (initializer)", path, n)
        s = np.asarray(s)
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise _error(f"scale '{n.input[1]}' must be finite and positive, got {s.reshape(-1)[:4]}", path, n)
        return s, np.asarray(zp)

    def act_params(n: onnx.NodeProto) -> Tuple[float, int]:
        s, zp = qparams(n)
        if s.size != 1 or zp.size != 1:
            raise _error("per-channel quantization of activations is not supported (qnnc's int8 activations "
                         "have one scale and zero point per tensor)", path, n)
        if zp.dtype not in (np.int8, np.uint8):
            raise _error(f"activations quantized to {zp.dtype} are not supported; expected int8 or uint8", path, n)
        return float(np.float32(s.reshape(()))), int(_int8_zero_point(zp.reshape(())))

    def fix(tensor: str, p: Tuple[float, int], n: onnx.NodeProto) -> None:
        old = spec.activations.get(tensor)
        if old is not None and old != p:
            # A requantization (TFLite's converter quantizes a Tanh / Logistic output at 1/128 or
            # 1/256 and its readers at another scale): in float it is the same tensor; qnnc keeps
            # the first parameters and requantizes where a layer needs another range.
            spec.notes.append(f"tensor '{tensor}' is quantized with {old} and again with {p} ('{n.name}'); qnnc "
                              f"keeps {old}, so the layers reading it differ from the model's own int8 "
                              "arithmetic there")
            return
        spec.activations[tensor] = p

    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            qv = inits[n.input[0]]
            s, zp = qparams(n)
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            new_inits[n.output[0]] = _dequantize_constant(qv, s, zp, axis if s.size > 1 else None)
            spec.weights[n.output[0]] = WeightQuant(np.asarray(s, np.float32).reshape(-1),
                                                    _int8_zero_point(zp).reshape(-1),
                                                    axis if s.size > 1 else None, str(qv.dtype))
        elif n.op_type == "QuantizeLinear" and n.input[0] in inits:
            # Fake-quantized constant (QAT exports keep float weights behind Q -> DQ): quantize it
            # as QuantizeLinear does (round half to even, saturate); the DequantizeLinear reading
            # it then takes the constant path above.
            s, zp = qparams(n)
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            w = inits[n.input[0]].astype(np.float32)
            shape = [1] * w.ndim
            if s.size > 1:
                shape[axis % w.ndim] = s.size
            q = np.rint(w / np.asarray(s, np.float32).reshape(shape)) + zp.astype(np.int64).reshape(
                shape if zp.size > 1 else [1] * w.ndim)
            info = np.iinfo(zp.dtype)
            inits[n.output[0]] = np.clip(q, info.min, info.max).astype(zp.dtype)
        elif n.op_type == "QuantizeLinear":
            x, y = n.input[0], n.output[0]
            p = act_params(n)
            if x in graph_inputs:
                alias[y] = x          # keep the model's input name
                fix(x, p, n)
            elif x in alias:          # a second QuantizeLinear of the same tensor (dedicated Q/DQ pairs)
                alias[y] = alias[x]
                fix(alias[x], p, n)
            else:
                alias[x] = y          # the float tensor takes the quantized tensor's name
                fix(y, p, n)
        elif n.op_type == "DequantizeLinear":
            y, z = n.input[0], n.output[0]
            alias[z] = y
            p = act_params(n)
            # The integer tensor may come from the graph input through layout ops (Reshape, ...).
            t = y
            while True:
                fix(t, p, n)
                prod = producer.get(t)
                if prod is None or prod.op_type not in LAYOUT_OPS or prod.op_type == "QuantizeLinear":
                    break
                t = prod.input[0]
        else:
            kept.append(n)

    for n in kept:
        for k, i in enumerate(n.input):
            if i:
                n.input[k] = resolve(i)
        for k, o in enumerate(n.output):
            if o:
                n.output[k] = resolve(o)
    spec.activations = {resolve(k): v for k, v in spec.activations.items()}
    for o in g.output:
        o.name = resolve(o.name)
    used = {i for n in kept for i in n.input}
    for o in g.output:
        if o.name in new_inits or o.name in inits:
            raise _error(f"graph output '{o.name}' is a constant", path)
    del g.node[:]
    g.node.extend(kept)
    # Initializers: the dequantized constants replace the integer ones no node reads any more.
    keep_inits = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in sorted(new_inits.items()) if k in used)
    spec.weights = {k: v for k, v in spec.weights.items() if k in used}
    for vi in list(g.input) + list(g.output):
        if vi.type.tensor_type.elem_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            if vi.type.tensor_type.elem_type == onnx.TensorProto.UINT8:
                spec.notes.append(f"'{vi.name}' is uint8 in the model; the generated int8 API takes the value "
                                  "minus 128 (same scale, zero point - 128)")
            uint8 = vi.type.tensor_type.elem_type == onnx.TensorProto.UINT8
            vi.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
            if vi in g.input and vi.name in spec.activations:
                scale, zp = spec.activations[vi.name]
                spec.integer_inputs[vi.name] = (scale, zp + 128, "uint8") if uint8 else (scale, zp, "int8")
            if vi.name not in spec.activations and vi in g.output:
                # an output that layout ops (a Reshape to the output shape) make of a quantized tensor
                source = _through_layout_ops(vi.name, {o: n for n in kept for o in n.output}, spec.activations)
                if source is not None:
                    spec.activations[vi.name] = spec.activations[source]
            if vi.name not in spec.activations:
                raise _error(f"the int8 graph {'input' if vi in g.input else 'output'} '{vi.name}' has no "
                             "DequantizeLinear/QuantizeLinear giving its scale", path)
    # Shapes of the now-float tensors are inferred again by the importer.
    del g.value_info[:]
    asym = [k for k, w in spec.weights.items() if w.dtype != "int32" and np.any(w.zero_points != 0)]
    if asym:
        spec.notes.append(f"{len(asym)} weight tensor(s) use non-zero zero points (asymmetric weights); qnnc's "
                          "weights are symmetric, so those are re-quantized from their dequantized values")
    return m, spec
