"""The numpy integer reference: runs a :class:`QModel` op by op.

This defines what the generated C must compute, bit for bit.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from ..quantize.fixedpoint import dequantize_s8, quantize_f32
from ..qmodel import QModel, QOp
from . import kernels as K
from .interpreter_s16 import is_s16, run_op_s16
from . import kernels_s4 as K4
from . import kernels_conv_general as KG
from . import kernels_elementwise as KE
from . import kernels_movement as KM
from . import kernels_reduce as KR
from . import kernels_recurrent as KRC
from .shared_ops import SHARED_KINDS, run_shared

KERNELS_S8 = {"conv": K.conv_s8, "depthwise_conv": K.depthwise_conv_s8, "fully_connected": K.fully_connected_s8,
              "max_pool": K.max_pool_s8, "avg_pool": K.avg_pool_s8, "softmax": K.softmax_s8,
              "transpose": K.transpose_s8}


def _run_op(op: QOp, model: QModel, values: Dict[str, np.ndarray]) -> np.ndarray:
    if is_s16(op):
        return run_op_s16(op, model, values)
    out_shape = model.tensors[op.output].shape
    x = values[op.inputs[0]]
    c = op.consts
    kind = op.kind
    if op.attrs.get("weight_bits") == 4:
        return _run_s4(op, x, out_shape)
    if kind in SHARED_KINDS:
        return run_shared(op, x, out_shape, KERNELS_S8)
    if kind in KG.KINDS:
        return KG.run_op(op, values, out_shape)
    if kind in KM.MOVEMENT_KINDS:
        return KM.run_movement(op, x, out_shape)
    if kind in KR.REDUCE_KINDS:
        return KR.run_reduce(op, x, out_shape)
    if kind in KRC.RECURRENT_KINDS:
        return KRC.run_recurrent(op, x, out_shape)
    if kind in KE.KINDS:
        return KE.run(op, values, out_shape)
    if kind in ("add", "mul"):
        a = x.reshape(op.attrs["input1_dims"])
        b = (c["input2"] if "input2" in c else values[op.inputs[1]]).reshape(op.attrs["input2_dims"])
        fn = K.add_s8 if kind == "add" else K.mul_s8
        return fn(op.params, a, b, op.attrs["output_dims"]).reshape(out_shape)
    if kind == "lut":
        return K.lut_s8(x, c["lut"])
    if kind == "pad":
        return K.pad_s8(x.reshape(op.attrs["input_dims"]), op.attrs["pads_before"], op.attrs["output_dims"],
                        op.attrs["pad_value"]).reshape(out_shape)
    if kind == "patch_segment":
        # Band-wise execution computes exactly the layer-by-layer result.
        for sub in op.attrs["ops"]:
            values[sub.output] = _run_op(sub, model, values)
        return values[op.output]
    if kind == "concat":
        outer = op.attrs["outer"]
        parts = [K.rescale_s8(r, values[i]).reshape(outer, inner)
                 for i, r, inner in zip(op.inputs, op.attrs["rescales"], op.attrs["inners"])]
        return np.concatenate(parts, axis=1).reshape(out_shape)
    raise NotImplementedError(kind)


def _run_s4(op: QOp, x: np.ndarray, out_shape) -> np.ndarray:
    """Conv / depthwise / FC with packed int4 weights (the _s4 kernels)."""
    c = op.consts
    if op.kind == "conv":
        return K4.conv_s4(op.params, c["multiplier"], c["shift"], x, c["filter"], op.attrs["filter_dims"],
                          c["bias"], out_shape)
    if op.kind == "depthwise_conv":
        return K4.depthwise_conv_s4(op.params, c["multiplier"], c["shift"], x, c["filter"],
                                    op.attrs["filter_dims"], c["bias"], out_shape)
    if op.kind == "fully_connected":
        rows, k = op.attrs["rows"], op.attrs["in_features"]
        y = K4.fully_connected_s4(op.params, c["multiplier"], c["shift"], x.reshape(rows, k), c["filter"],
                                  op.attrs["out_features"], c["bias"])
        return y.reshape(out_shape)
    raise NotImplementedError(f"int4 weights for {op.kind}")


def _api_inputs(model: QModel, x) -> Dict[str, np.ndarray]:
    """{input tensor: integer array}: ``x`` is one array (single-input models), or a list in input
    order, or {input name: array}. int16 inputs (see lower_graph.api_input_bits) stay int16."""
    if isinstance(x, dict):
        arrays = [x[name] for name in model.inputs]
    elif isinstance(x, (list, tuple)):
        arrays = list(x)
    else:
        arrays = [x]
    if len(arrays) != len(model.inputs):
        raise ValueError(f"the model has {len(model.inputs)} inputs {model.inputs}, got {len(arrays)} arrays")
    out = {}
    for name, a in zip(model.inputs, arrays):
        t = model.tensors[name]
        out[name] = np.asarray(a, dtype=np.int16 if t.bits == 16 else np.int8).reshape(t.shape)
    return out


def run(model: QModel, x, keep: Optional[List[str]] = None) -> Dict[str, np.ndarray]:
    """Run one sample (an int8 array for a single-input model; a list or {name: array} for several
    inputs, public shapes); returns {tensor: integer array} for every output and ``keep``."""
    values: Dict[str, np.ndarray] = _api_inputs(model, x)
    for op in model.ops:
        values[op.output] = _run_op(op, model, values)
    wanted = set(keep or []) | set(model.outputs)
    return {k: v for k, v in values.items() if k in wanted}


def _sample(xs, i: int):
    return {k: v[i] for k, v in xs.items()} if isinstance(xs, dict) else xs[i]


def _count(xs) -> int:
    return int(next(iter(xs.values())).shape[0]) if isinstance(xs, dict) else int(xs.shape[0])


def run_int8(model: QModel, xs) -> np.ndarray:
    """Int8 outputs for a batch of int8 inputs: (N, *input) -> (N, *output) (the first output)."""
    return np.stack([run(model, _sample(xs, i))[model.output] for i in range(_count(xs))])


def run_all(model: QModel, xs) -> List[np.ndarray]:
    """Every output for a batch: ``xs`` (N, *input) or {input name: (N, ...)} -> [(N, *output), ...]
    in output order."""
    runs = [run(model, _sample(xs, i)) for i in range(_count(xs))]
    return [np.stack([r[name] for r in runs]) for name in model.outputs]


def quantize_f32_s16(x: np.ndarray, scale: float) -> np.ndarray:
    """Float -> int16 (zero point 0) exactly as the generated C does it for an int16 input: like
    quantize_f32 with v clamped to [-65536, 65536] and the result to [-32768, 32767]."""
    x = np.asarray(x, dtype=np.float32)
    v = x / np.float32(scale)
    v = np.where(np.isnan(v), np.float32(0.0), v)
    v = np.clip(v, np.float32(-65536.0), np.float32(65536.0)).astype(np.float32)
    half = np.where(v >= 0, np.float32(0.5), np.float32(-0.5)).astype(np.float32)
    r = np.trunc((v + half).astype(np.float32)).astype(np.int64)
    return np.clip(r, -32768, 32767).astype(np.int16)


def _quantize(t, xs: np.ndarray) -> np.ndarray:
    xs = np.asarray(xs)
    q = quantize_f32_s16(xs, t.scale) if t.bits == 16 else quantize_f32(xs, t.scale, t.zero_point)
    return q.reshape((xs.shape[0],) + tuple(t.shape))


def quantize_input(model: QModel, xs):
    """Float inputs -> int8 (int16 for int16 inputs) exactly as ``<name>_run_f32`` does; ``xs`` is
    (N, *input) or {input name: (N, ...)} (the result has the same form)."""
    if isinstance(xs, dict):
        return {name: _quantize(model.tensors[name], xs[name]) for name in model.inputs}
    return _quantize(model.input_tensor, xs)


def api_input_arrays(model: QModel, q) -> List[np.ndarray]:
    """Quantized inputs ({name: (N, ...)} or one array) as the generated C API takes them, in input
    order: int8 / int16, and for uint8 inputs the bytes (int8 value + 128)."""
    arrays = [q[name] for name in model.inputs] if isinstance(q, dict) else [q]
    return [(a.astype(np.int16) + 128).astype(np.uint8) if name in model.uint8_inputs else a
            for name, a in zip(model.inputs, arrays)]


def dequantize_output(model: QModel, qs: np.ndarray, index: int = 0) -> np.ndarray:
    """int8 output ``index`` (default the first) -> float, as ``<name>_run_f32`` does."""
    t = model.output_tensors[index]
    return dequantize_s8(qs, t.scale, t.zero_point)
