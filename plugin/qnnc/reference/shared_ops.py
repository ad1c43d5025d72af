"""The ops whose reference call has the same shape at every activation precision (conv,
depthwise, fully connected, pools, softmax, reshape, transpose): one dispatch for the int8 and
the int16 interpreters, each passing its kernels by op kind."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from ..qmodel import QOp

SHARED_KINDS = ("conv", "depthwise_conv", "fully_connected", "max_pool", "avg_pool", "softmax", "reshape",
                "transpose")


def run_shared(op: QOp, x: np.ndarray, out_shape, kernels: Dict[str, Callable]) -> Optional[np.ndarray]:
    """The output of ``op`` on input ``x`` with the given kernels, or None for other kinds."""
    kind, c = op.kind, op.consts
    if kind in ("conv", "depthwise_conv"):
        return kernels[kind](op.params, c["multiplier"], c["shift"], x, c["filter"], c["bias"], out_shape)
    if kind == "fully_connected":
        rows, k = op.attrs["rows"], op.attrs["in_features"]
        return kernels[kind](op.params, c["multiplier"], c["shift"], x.reshape(rows, k), c["filter"],
                             c["bias"]).reshape(out_shape)
    if kind in ("max_pool", "avg_pool"):
        return kernels[kind](op.params, x, out_shape)
    if kind == "softmax":  # int8: a params struct first (softmax_s8); int16: none
        params = () if op.params is None else (op.params,)
        return kernels[kind](*params, x.reshape(op.attrs["rows"], op.attrs["cols"]), c["exp_lut"]).reshape(out_shape)
    if kind == "reshape":
        return x.reshape(out_shape)
    if kind == "transpose":
        return kernels[kind](x.reshape(op.attrs["input_dims"]), op.attrs["perm"]).reshape(out_shape)
    return None
