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


def run(model: QModel, x: np.ndarray, keep: Optional[List[str]] = None) -> Dict[str, np.ndarray]:
    """Run one int8 input (public shape); returns {tensor: int8 array} for the output and ``keep``."""
    values: Dict[str, np.ndarray] = {model.input: np.asarray(x, dtype=np.int8).reshape(model.input_tensor.shape)}
    for op in model.ops:
        values[op.output] = _run_op(op, model, values)
    wanted = set(keep or []) | {model.output}
    return {k: v for k, v in values.items() if k in wanted}


def run_int8(model: QModel, xs: np.ndarray) -> np.ndarray:
    """Int8 outputs for a batch of int8 inputs: (N, *input) -> (N, *output)."""
    return np.stack([run(model, xs[i])[model.output] for i in range(xs.shape[0])])


def quantize_input(model: QModel, xs: np.ndarray) -> np.ndarray:
    """Float inputs -> int8 exactly as ``<name>_run_f32`` does."""
    t = model.input_tensor
    return quantize_f32(xs, t.scale, t.zero_point).reshape((xs.shape[0],) + tuple(t.shape))


def dequantize_output(model: QModel, qs: np.ndarray) -> np.ndarray:
    t = model.output_tensor
    return dequantize_s8(qs, t.scale, t.zero_point)
