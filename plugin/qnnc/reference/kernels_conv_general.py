"""Bit-exact numpy reference of ``qnnc_conv_general_s8`` (grouped and transposed convolution) and
``qnnc_batch_matmul_s8`` (int8 x int8 batched matrix product).

Integer sums are exact in float64 here (every product is at most 127 * 255 or 255 * 255 and
every sum far below 2^53), as in kernels.py; the output stage is kernels.py's.
"""
from __future__ import annotations

import numpy as np

from ..kernel_params import BatchMatmulParams, ConvGeneralParams
from . import kernels as K

__all__ = ["conv_general_s8", "conv_general_accumulators", "batch_matmul_s8"]


def conv_general_s8(p: ConvGeneralParams, multiplier, shift, x, filt, bias, out_dims) -> np.ndarray:
    """Grouped (``p.transposed == 0``) or transposed convolution; mirrors ``qnnc_conv_general_s8``.

    ``filt`` is (OC, KH, KW, IC / groups); output channel ``oc`` belongs to group
    ``oc // (OC / groups)``. Then requantize per output channel, add the output offset, clamp,
    optional ``act_lut`` (as ``conv_s8``).
    """
    acc = conv_general_accumulators(p, np.asarray(x, dtype=np.int8), filt, bias, out_dims)
    out = K._activation(acc, np.asarray(multiplier, np.int64), np.asarray(shift, np.int64),
                        p.output_offset, p.act_min, p.act_max, p.act_lut, p.rounding)
    return out.reshape(tuple(int(d) for d in out_dims))


def conv_general_accumulators(p: ConvGeneralParams, x: np.ndarray, filt, bias, out_dims) -> np.ndarray:
    """int64 sums ``[n, oh, ow, oc]`` (bias included)."""
    filt = np.asarray(filt, dtype=np.int8)
    n, oh, ow, oc = (int(d) for d in out_dims)
    _, h, w, ic = x.shape
    o, kh, kw, icg = filt.shape
    groups = int(p.groups)
    if o != oc or icg * groups != ic or oc % groups:
        raise ValueError(f"conv_general shape mismatch: x {x.shape}, filter {filt.shape}, out {out_dims}, "
                         f"groups {groups}")
    ocg = oc // groups
    xo = x.astype(np.float64) + float(p.input_offset)
    acc = np.zeros((n, oh, ow, oc), np.float64)
    if not p.transposed:
        for g in range(groups):
            pg = p  # conv_accumulators reads offsets and geometry only
            a = K.conv_accumulators(pg, x[..., g * icg:(g + 1) * icg], filt[g * ocg:(g + 1) * ocg], None,
                                    (n, oh, ow, ocg))
            acc[..., g * ocg:(g + 1) * ocg] = a.reshape(n, oh, ow, ocg)
    else:
        # Scatter form (the C kernel gathers; integer sums do not depend on the order): input pixel
        # (ih, iw) tap (i, j) lands on output (ih*sh - pad_top + i*dh, iw*sw - pad_left + j*dw).
        sh, sw, dh, dw = p.stride_h, p.stride_w, p.dilation_h, p.dilation_w
        full_h, full_w = (h - 1) * sh + (kh - 1) * dh + 1, (w - 1) * sw + (kw - 1) * dw + 1
        canvas = np.zeros((n, full_h, full_w, oc), np.float64)
        f64 = filt.astype(np.float64)
        for g in range(groups):
            xg = xo[..., g * icg:(g + 1) * icg]
            for i in range(kh):
                for j in range(kw):
                    contrib = xg @ f64[g * ocg:(g + 1) * ocg, i, j, :].T  # (n, h, w, ocg)
                    canvas[:, i * dh:i * dh + (h - 1) * sh + 1:sh, j * dw:j * dw + (w - 1) * sw + 1:sw,
                           g * ocg:(g + 1) * ocg] += contrib
        # Output row r is canvas row r + pad_top (rows past the canvas: output_padding, no taps).
        r0, c0 = p.pad_top, p.pad_left
        rows = max(0, min(oh, full_h - r0))
        cols = max(0, min(ow, full_w - c0))
        acc[:, :rows, :cols, :] = canvas[:, r0:r0 + rows, c0:c0 + cols, :]
    acc = acc.astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64).reshape(1, 1, 1, oc)
    return acc


def batch_matmul_accumulators(p: BatchMatmulParams, a: np.ndarray, b: np.ndarray, bias, out_dims) -> np.ndarray:
    """int64 sums of the batched product of integer ``a`` and ``b`` (int8 or int16) with their offsets,
    plus ``bias`` per output column, broadcast to ``out_dims``. Exact in float64: int16 products are
    at most 2^30 and the quantizer keeps the sums below 2^47."""
    a = a.astype(np.float64) + float(p.input1_offset)
    b = b.astype(np.float64) + float(p.input2_offset)
    if p.adj_x:
        a = np.swapaxes(a, -1, -2)
    if p.adj_y:
        b = np.swapaxes(b, -1, -2)
    acc = np.matmul(a, b).astype(np.int64)
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    return np.broadcast_to(acc, tuple(int(d) for d in out_dims))


def batch_matmul_s8(p: BatchMatmulParams, a, b, bias, out_dims) -> np.ndarray:
    """Mirrors ``qnnc_batch_matmul_s8``: ``a`` and ``b`` 4-D (batch, batch, rows, cols as stored),
    batch dims 1 or the output's; ``acc = sum_k (a + input1_offset) * (b + input2_offset)``,
    plus ``bias[n]`` (None: no bias), requantized once (``output_multiplier``/``output_shift``), plus
    the output offset, clamped."""
    acc = batch_matmul_accumulators(p, np.asarray(a, dtype=np.int8), np.asarray(b, dtype=np.int8), bias, out_dims)
    return K._activation(acc, p.output_multiplier, p.output_shift, p.output_offset, p.act_min, p.act_max, None,
                         p.rounding)


KINDS = ("conv_general", "batch_matmul")


def run_op(op, values, out_shape) -> np.ndarray:
    """The output of a ``conv_general`` or ``batch_matmul`` QOp (the interpreter's dispatch)."""
    c = op.consts
    if op.kind == "conv_general":
        x = values[op.inputs[0]]
        return conv_general_s8(op.params, c["multiplier"], c["shift"], x, c["filter"], c["bias"],
                               (1,) + tuple(out_shape[1:])).reshape(out_shape)
    live = iter(op.inputs)
    a = c["input1"] if "input1" in c else values[next(live)]
    b = c["input2"] if "input2" in c else values[next(live)]
    y = batch_matmul_s8(op.params, np.asarray(a).reshape(op.attrs["input1_dims"]),
                        np.asarray(b).reshape(op.attrs["input2_dims"]), c.get("bias"), op.attrs["output_dims"])
    return y.reshape(out_shape)
