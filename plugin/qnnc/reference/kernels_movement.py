"""Reference kernels of the data-movement ops (quantize/rules_movement.py): ``gather`` and
``resize``, and the ``embedding`` lookup by token ids (quantize/rules_embedding.py). They define
what ``qnnc_gather_s8``, ``qnnc_resize_s8`` / ``qnnc_resize_s16`` and ``qnnc_embedding_s8`` /
``qnnc_embedding_s16`` compute, bit for bit."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..qmodel import QOp

MOVEMENT_KINDS = ("gather", "resize", "embedding")


def gather_s8(x, output_dims: Sequence[int], offsets: Sequence[Optional[np.ndarray]]) -> np.ndarray:
    """``out[n, h, w, c] = x.flat[off_n[n] + off_h[h] + off_w[w] + off_c[c]]``; ``off_c`` None
    means ``c``. Mirrors ``qnnc_gather_s8``."""
    flat = np.asarray(x, dtype=np.int8).reshape(-1)
    on, oh, ow, oc = (np.arange(output_dims[3], dtype=np.int64) if t is None and k == 3 else
                      np.asarray(t, dtype=np.int64) for k, t in enumerate(offsets))
    idx = on[:, None, None, None] + oh[None, :, None, None] + ow[None, None, :, None] + oc[None, None, None, :]
    return flat[idx.reshape(tuple(output_dims))]


def resize_s8(x, input_dims: Sequence[int], output_dims: Sequence[int], table_h, table_w,
              fraction_bits: int) -> np.ndarray:
    """Bilinear interpolation over axes 1 and 2 of [n, h, w, c] (``qnnc_resize_s8``; with int16 ``x``
    ``qnnc_resize_s16``, whose sum needs int64: |acc| <= 2^(2 bits) * 32768).

    ``table_h`` holds per output row ``(offset0, offset1, w1)``: element offsets of the two input
    rows inside one n-block and the Q``fraction_bits`` weight of the second (the first weighs
    ``2^bits - w1``); ``table_w`` the same per output column (offsets of the two input columns).
    ``acc = sum wy * wx * x`` in int32 (|acc| <= 2^(2 bits) * 128); the result is ``acc / 2^(2 bits)``
    rounded half away from zero (a convex combination of int8 values: no clamp needed).
    """
    n, ih, iw, c = (int(v) for v in input_dims)
    on_, oh, ow, oc = (int(v) for v in output_dims)
    one = 1 << fraction_bits
    th = np.asarray(table_h, dtype=np.int64).reshape(oh, 3)
    tw = np.asarray(table_w, dtype=np.int64).reshape(ow, 3)
    x = np.asarray(x)
    dtype = np.int16 if x.dtype == np.int16 else np.int8
    blocks = x.astype(dtype).reshape(n, ih * iw * c).astype(np.int64)
    cs = np.arange(c, dtype=np.int64)

    def at(row_off, col_off):  # [n, oh, ow, c]
        idx = row_off[:, None, None] + col_off[None, :, None] + cs[None, None, :]
        return blocks[:, idx]

    wy1, wx1 = th[:, 2][None, :, None, None], tw[:, 2][None, None, :, None]
    wy0, wx0 = one - wy1, one - wx1
    top = wx0 * at(th[:, 0], tw[:, 0]) + wx1 * at(th[:, 0], tw[:, 1])
    bottom = wx0 * at(th[:, 1], tw[:, 0]) + wx1 * at(th[:, 1], tw[:, 1])
    acc = wy0 * top + wy1 * bottom
    shift = 2 * fraction_bits
    half = np.int64(1) << (shift - 1)
    out = np.where(acc >= 0, (acc + half) >> shift, -((-acc + half) >> shift))
    assert on_ == n and oc == c
    return out.astype(dtype)


def embedding(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Rows of ``table`` [rows, row_size] (int8 or int16) by int16 ``ids``, one row per id in id
    order: an id below 0 counts from the end, then ids are clamped to [0, rows - 1] (an id outside
    the table is undefined in ONNX; the kernel must not read outside it). Mirrors
    ``qnnc_embedding_s8`` / ``qnnc_embedding_s16``."""
    rows = table.shape[0]
    i = np.asarray(ids, dtype=np.int64).reshape(-1)
    i = np.clip(np.where(i < 0, i + rows, i), 0, rows - 1)
    return table[i]


def run_movement(op: QOp, x: np.ndarray, out_shape) -> np.ndarray:
    """The output of a ``gather`` or ``resize`` op."""
    if op.kind == "gather":
        offs = [op.consts.get(f"offset_{a}") for a in "nhwc"]
        if op.attrs.get("element_bytes", 1) == 2:  # int16 values gathered as their bytes
            b = np.ascontiguousarray(np.asarray(x, dtype="<i2")).view(np.int8)
            return np.ascontiguousarray(gather_s8(b, op.attrs["output_dims"], offs)).view("<i2").astype(
                np.int16).reshape(out_shape)
        return gather_s8(x, op.attrs["output_dims"], offs).reshape(out_shape)
    if op.kind == "resize":  # int8 or int16 x (qnnc_resize_s16)
        c = op.consts
        return resize_s8(x, op.attrs["input_dims"], op.attrs["output_dims"], c["table_h"], c["table_w"],
                         op.attrs["fraction_bits"]).reshape(out_shape)
    if op.kind == "embedding":
        return embedding(x, op.consts["table"]).reshape(out_shape)
    raise NotImplementedError(op.kind)
