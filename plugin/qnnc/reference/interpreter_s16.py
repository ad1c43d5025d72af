"""Reference execution of int16-activation ops and int8 <-> int16 conversions (16x8 scheme).

Called by :mod:`.interpreter` for ops with ``attrs["activation_bits"] == 16`` and for
``requantize`` ops; the arithmetic is in :mod:`.kernels_s16`.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..qmodel import QModel, QOp
from . import kernels_s16 as K


def is_s16(op: QOp) -> bool:
    """Whether this op runs on int16 activations (or converts between int8 and int16)."""
    return op.kind == "requantize" or op.attrs.get("activation_bits") == 16


def run_op_s16(op: QOp, model: QModel, values: Dict[str, np.ndarray]) -> np.ndarray:
    """The int16 (or converted) output of one op."""
    out_shape = model.tensors[op.output].shape
    x = values[op.inputs[0]]
    c = op.consts
    kind = op.kind
    if kind == "requantize":
        return K.convert(op.attrs["rescale"], x, op.attrs["to_bits"]).reshape(out_shape)
    if kind == "conv":
        return K.conv_s16(op.params, c["multiplier"], c["shift"], x, c["filter"], c["bias"], out_shape)
    if kind == "depthwise_conv":
        return K.depthwise_conv_s16(op.params, c["multiplier"], c["shift"], x, c["filter"], c["bias"], out_shape)
    if kind == "fully_connected":
        rows, k = op.attrs["rows"], op.attrs["in_features"]
        y = K.fully_connected_s16(op.params, c["multiplier"], c["shift"], x.reshape(rows, k), c["filter"], c["bias"])
        return y.reshape(out_shape)
    if kind == "max_pool":
        return K.max_pool_s16(op.params, x, out_shape)
    if kind == "avg_pool":
        return K.avg_pool_s16(op.params, x, out_shape)
    if kind == "add":
        a = x.reshape(op.attrs["input1_dims"])
        b = values[op.inputs[1]].reshape(op.attrs["input2_dims"])
        return K.add_s16(op.params, a, b, op.attrs["output_dims"]).reshape(out_shape)
    if kind == "softmax":
        return K.softmax_s16(x.reshape(op.attrs["rows"], op.attrs["cols"]), c["exp_lut"]).reshape(out_shape)
    if kind == "reshape":
        return x.reshape(out_shape)
    if kind == "transpose":
        return K.transpose_s16(x.reshape(op.attrs["input_dims"]), op.attrs["perm"]).reshape(out_shape)
    raise NotImplementedError(f"int16 {kind}")
