"""Bit-exact numpy reference of the int4-weight kernels (``runtime/src/qnnc_*_s4.c``).

The weights arrive packed exactly as the C kernels read them (two per byte, low nibble first,
see :mod:`qnnc.int4`); :func:`unpack_s4` recovers the int8 values and the arithmetic is then
that of the int8 kernels in :mod:`qnnc.reference.kernels`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import kernels as K


def unpack_s4(packed: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` sign-extended int4 values of a packed int8/uint8 array."""
    b = np.ascontiguousarray(packed).reshape(-1)
    b = b.view(np.uint8) if b.dtype == np.int8 else b.astype(np.uint8)
    if b.size * 2 < count:
        raise ValueError(f"{b.size} packed bytes hold fewer than {count} int4 values")
    nib = np.empty(b.size * 2, dtype=np.int16)
    nib[0::2] = b & 0x0F
    nib[1::2] = b >> 4
    return ((nib[:count] ^ 8) - 8).astype(np.int8)


def _unpacked(packed, shape: Sequence[int]) -> np.ndarray:
    shape = tuple(int(d) for d in shape)
    return unpack_s4(packed, int(np.prod(shape))).reshape(shape)


def conv_s4(p, multiplier, shift, x, packed, filter_dims, bias, out_dims) -> np.ndarray:
    """Mirrors ``qnnc_conv_s4``: :func:`kernels.conv_s8` on the unpacked OHWI filter."""
    return K.conv_s8(p, multiplier, shift, x, _unpacked(packed, filter_dims), bias, out_dims)


def depthwise_conv_s4(p, multiplier, shift, x, packed, filter_dims, bias, out_dims) -> np.ndarray:
    """Mirrors ``qnnc_depthwise_conv_s4``: filter (1, KH, KW, OC) packed."""
    return K.depthwise_conv_s8(p, multiplier, shift, x, _unpacked(packed, filter_dims), bias, out_dims)


def fully_connected_s4(p, multiplier, shift, x, packed, out_features: int, bias) -> np.ndarray:
    """Mirrors ``qnnc_fully_connected_s4``: weights [out_features, in_features] packed."""
    x = np.asarray(x, dtype=np.int8)
    w = _unpacked(packed, (int(out_features), x.shape[1]))
    return K.fully_connected_s8(p, multiplier, shift, x, w, bias)
