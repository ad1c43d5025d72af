"""Spectral ops rewritten as a product with a constant matrix (ONNX -> ONNX), the rewrites of
:mod:`decompose` for DFT and STFT (an audio model's in-graph spectrogram: ``torch.stft``,
``torch.fft.rfft``).

A DFT of N points is linear: with the input's real and imaginary parts interleaved along one axis
([..., n, 2] read as [..., 2n]), the output's interleaved real and imaginary parts are one MatMul
with the constant [2n, 2 * bins] matrix of cos / sin terms (``inverse``: the conjugate, divided by
N). ``dft_length`` shorter than the axis drops the samples after it, longer pads zeros: both are
rows of the matrix. A real input ([..., n, 1]) takes the even rows only. The inverse of a one-sided
spectrum (IRFFT) is one product too, with a real output ([..., dft_length, 1]). STFT is that DFT of the
signal's frames: a constant Gather of the frames, and the window folded into the matrix's rows.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import onnx

from ..errors import ModelError
from .onnx_names import attr as _attr


def dft_matrix(n_in: int, length: int, bins: int, complex_in: bool, inverse: bool,
               window: Optional[np.ndarray] = None) -> np.ndarray:
    """[(2 if complex_in else 1) * n_in, 2 * bins]: row (n, part) and column (k, part) of the DFT of
    ``length`` points (samples n >= length dropped, missing ones zero), optionally windowed."""
    n = np.arange(n_in)[:, None].astype(np.float64)
    k = np.arange(bins)[None, :].astype(np.float64)
    theta = 2.0 * np.pi * ((n * k) % length) / length
    cos, sin = np.cos(theta), np.sin(theta)
    if inverse:  # exp(+i theta) / N
        sin = -sin
    scale = (1.0 / length) if inverse else 1.0
    keep = (np.arange(n_in) < length).astype(np.float64)[:, None]
    if window is not None:
        keep = keep * np.asarray(window, np.float64).reshape(-1, 1)
    cos, sin = cos * keep * scale, sin * keep * scale
    # (xr + i xi)(cos - i sin) = xr cos + xi sin + i (xi cos - xr sin)
    rows_re = np.stack([cos, -sin], axis=-1).reshape(n_in, 2 * bins)   # from xr
    if not complex_in:
        return rows_re.astype(np.float32)
    rows_im = np.stack([sin, cos], axis=-1).reshape(n_in, 2 * bins)    # from xi
    return np.stack([rows_re, rows_im], axis=1).reshape(2 * n_in, 2 * bins).astype(np.float32)


def irfft_matrix(n_in: int, length: int) -> np.ndarray:
    """[2 * n_in, length]: row (k, part) of a one-sided spectrum, column t of its real inverse DFT of
    ``length`` points (as numpy's irfft: bins past length // 2 dropped, missing ones zero)."""
    k = np.arange(n_in)[:, None].astype(np.float64)
    t = np.arange(length)[None, :].astype(np.float64)
    theta = 2.0 * np.pi * ((k * t) % length) / length
    weight = np.where((k == 0) | (2 * k == length), 1.0, 2.0) * (k <= length // 2) / length
    rows = np.stack([weight * np.cos(theta), -weight * np.sin(theta)], axis=1)  # from Re X_k, Im X_k
    return rows.reshape(2 * n_in, length).astype(np.float32)


def _product(r, x: str, lead: list, width: int, matrix: np.ndarray, bins: int, base: str, out: str,
             parts: int = 2) -> str:
    """``x`` (leading dims ``lead``, last ``width``) times ``matrix``, reshaped to [*lead, bins, parts]."""
    flat = r.node("Reshape", [x, r.const(f"{base}_rows_shape", np.array(lead + [width], np.int64))], f"{base}_rows")
    prod = r.node("MatMul", [flat, r.const(f"{base}_dft", matrix)], f"{base}_product")
    return r.node("Reshape", [prod, r.const(f"{base}_shape", np.array(lead + [bins, parts], np.int64))],
                  f"{base}_complex", out)


def dft(r, n: onnx.NodeProto) -> None:
    """DFT (opset 17: axis attribute, opset 20: axis input) of a real or complex input."""
    x, out = n.input[0], n.output[0]
    dims = list(r.static_shape(x, n))
    rank = len(dims)
    if dims[-1] not in (1, 2):
        raise ModelError(f"DFT input's last axis must be 1 (real) or 2 (complex), got {dims[-1]}", file=r.path,
                         node=n.name, op=n.op_type)
    axis = r.integer_scalar(n, 2, "axis") if r.opset >= 20 else None
    axis = int(_attr(n, "axis", 1 if r.opset < 20 else -2)) if axis is None else axis
    axis %= rank
    if axis in (0, rank - 1):
        raise ModelError(f"DFT over axis {axis} (the batch or the complex axis) is not supported", file=r.path,
                         node=n.name, op=n.op_type)
    inverse, onesided = int(_attr(n, "inverse", 0)), int(_attr(n, "onesided", 0))
    complex_in = dims[-1] == 2
    n_in = dims[axis]
    length = r.integer_scalar(n, 1, "dft_length")
    if length is not None and length < 1:
        raise ModelError(f"DFT dft_length must be positive, got {length}", file=r.path, node=n.name, op=n.op_type)
    if onesided and not inverse and complex_in:
        raise ModelError("a one-sided DFT takes a real input (last axis 1); this one is complex", file=r.path,
                         node=n.name, op=n.op_type)
    if inverse and onesided:  # IRFFT: a one-sided complex spectrum to a real signal
        if not complex_in:
            raise ModelError("an inverse one-sided DFT takes a complex half spectrum (last axis 2)", file=r.path,
                             node=n.name, op=n.op_type)
        length = length or 2 * (n_in - 1)
        matrix, bins, parts = irfft_matrix(n_in, length), length, 1
    else:
        length = length or n_in
        bins = length // 2 + 1 if onesided else length
        matrix, parts = dft_matrix(n_in, length, bins, complex_in, bool(inverse)), 2
    if axis == rank - 2:
        _product(r, x, [d if d > 0 else 1 for d in dims[:-2]], n_in * dims[-1], matrix, bins, out, out, parts)
        return
    perm = [a for a in range(rank - 1) if a != axis] + [axis, rank - 1]  # the axis before the complex one
    moved = r.node("Transpose", [x], f"{out}_axis_moved", perm=perm)
    lead = [dims[a] if dims[a] > 0 else 1 for a in perm[:-2]]
    y = _product(r, moved, lead, n_in * dims[-1], matrix, bins, f"{out}_moved", None, parts)
    back = list(np.argsort(perm))
    r.node("Transpose", [y], out, out, perm=[int(p) for p in back])


def stft(r, n: onnx.NodeProto) -> None:
    """STFT(signal [batch, length, 1|2] (or [batch, length]), frame_step, window, frame_length):
    [batch, frames, bins, 2]."""
    x, out = n.input[0], n.output[0]
    dims = list(r.static_shape(x, n))
    if len(dims) == 2:  # [batch, length]: real (PyTorch's exporter writes it so; onnxruntime runs it)
        dims = dims + [1]
    if len(dims) != 3 or dims[2] not in (1, 2):
        raise ModelError(f"STFT signal must be [batch, length, 1 or 2], got {dims}", file=r.path, node=n.name,
                         op=n.op_type)
    step = r.integer_scalar(n, 1, "frame_step")
    window = np.asarray(r.constant_input(n, 2, "window"), np.float64).reshape(-1) \
        if len(n.input) > 2 and n.input[2] else None
    length = r.integer_scalar(n, 3, "frame_length") or (window.size if window is not None else None)
    if not step or step < 1 or not length:
        raise ModelError("STFT needs a positive frame_step and a frame_length or window", file=r.path,
                         node=n.name, op=n.op_type)
    if window is not None and window.size != length:
        raise ModelError(f"STFT window of {window.size} values for frames of {length}", file=r.path, node=n.name,
                         op=n.op_type)
    frames = (dims[1] - length) // step + 1
    if frames < 1:
        raise ModelError(f"STFT frames of {length} over a signal of {dims[1]}: no frame", file=r.path, node=n.name,
                         op=n.op_type)
    onesided = int(_attr(n, "onesided", 1))
    bins = length // 2 + 1 if onesided else length
    parts = dims[2]
    batch = dims[0] if dims[0] > 0 else 1
    # the frames' samples (each with its 1 or 2 parts) gathered from the flattened signal
    idx = (np.arange(frames)[:, None] * step + np.arange(length)[None, :])[:, :, None] * parts + np.arange(parts)
    flat = r.node("Reshape", [x, r.const(f"{out}_signal_shape", np.array([batch, dims[1] * parts], np.int64))],
                  f"{out}_signal")
    picked = r.node("Gather", [flat, r.const(f"{out}_frame_index", idx.reshape(-1).astype(np.int64))],
                    f"{out}_frame_samples", axis=1)
    matrix = dft_matrix(length, length, bins, parts == 2, False, window)
    _product(r, picked, [batch, frames], length * parts, matrix, bins, out, out)
