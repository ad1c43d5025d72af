"""Reference execution of int16-activation ops and int8 <-> int16 conversions (16x8 scheme).

Called by :mod:`.interpreter` for ops with ``attrs["activation_bits"] == 16`` and for
``requantize`` ops; the arithmetic is in :mod:`.kernels_s16`.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..qmodel import QModel, QOp
from . import kernels_s16 as K
from . import kernels_s16_elementwise as KE16
from . import kernels_s16_conv_general as KCG16
from . import kernels_s16_recurrent as KRC16
from . import kernels_s16_tables as KT16
from . import kernels_s16_reduce as KR16
from . import kernels_s16_matmul as KMM16
from .kernels_movement import run_movement
from .shared_ops import SHARED_KINDS, run_shared

KERNELS_S16 = {"conv": K.conv_s16, "depthwise_conv": K.depthwise_conv_s16, "fully_connected": K.fully_connected_s16,
               "max_pool": K.max_pool_s16, "avg_pool": K.avg_pool_s16, "softmax": K.softmax_s16,
               "transpose": K.transpose_s16}


def is_s16(op: QOp) -> bool:
    """Whether this op runs on int16 activations (or converts between int8 and int16)."""
    return op.kind == "requantize" or op.attrs.get("activation_bits") == 16


def run_op_s16(op: QOp, model: QModel, values: Dict[str, np.ndarray]) -> np.ndarray:
    """The int16 (or converted) output of one op."""
    out_shape = model.tensors[op.output].shape
    x = values[op.inputs[0]]
    kind = op.kind
    if kind == "requantize":
        return K.convert(op.attrs["rescale"], x, op.attrs["to_bits"]).reshape(out_shape)
    if kind in KRC16.KINDS:  # LSTM, GRU
        return KRC16.run_op(op, x, out_shape)
    if op.attrs.get("kernel") in KMM16.KERNELS:  # MatMul / Gemm of two activations (batch_matmul)
        return KMM16.run_op(op, values, out_shape)
    if op.attrs.get("kernel") in KCG16.KERNELS:  # grouped Conv, ConvTranspose (conv_general)
        return KCG16.run_op(op, values, out_shape)
    if kind in SHARED_KINDS:
        return run_shared(op, x, out_shape, KERNELS_S16)
    if kind == "resize":  # linear Resize (qnnc_resize_s16)
        return run_movement(op, np.asarray(x, np.int16), out_shape)
    if kind in KE16.KINDS:  # add (also with a constant operand), mul, minmax, prelu, pad, concat
        return KE16.run(op, values, out_shape)
    if kind in KT16.KINDS:  # unary tables (lut), Floor/Ceil/Round (round)
        return KT16.run(op, x, out_shape)
    if kind in KR16.KINDS:  # reduce, arg_max (int8 index out), log_softmax, layer_norm
        return KR16.run(op, x, out_shape)
    raise NotImplementedError(f"int16 {kind}")
