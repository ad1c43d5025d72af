"""Loading calibration and test data (.npz / .npy) safely, with clear errors."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError


@dataclass
class DataRef:
    """A data file named in the config, resolved to an absolute path."""

    path: str
    key: Optional[str] = None
    count: Optional[int] = None
    yaml_key: str = ""
    line: Optional[int] = None


def _load(ref: DataRef, cfg_file: Optional[str]):
    if not os.path.exists(ref.path):
        raise DataError(f"data file '{ref.path}' does not exist", file=cfg_file, key=ref.yaml_key, line=ref.line)
    if not os.path.isfile(ref.path):
        raise DataError(f"'{ref.path}' is not a file; expected an .npz or .npy file", file=cfg_file,
                        key=ref.yaml_key, line=ref.line)
    try:
        return np.load(ref.path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise DataError(f"'{ref.path}' holds Python objects (pickle); qnnc loads plain numeric arrays only",
                            file=cfg_file, key=ref.yaml_key, line=ref.line) from None
        raise DataError(f"'{ref.path}' is not a valid .npy/.npz file ({e})", file=cfg_file, key=ref.yaml_key,
                        line=ref.line) from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"'{ref.path}' cannot be read as .npy/.npz ({type(e).__name__})", file=cfg_file,
                        key=ref.yaml_key, line=ref.line) from None


def load_samples(ref: DataRef, input_name: str, input_shape: Sequence[int],
                 cfg_file: Optional[str]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Return (x, y): x float32 of shape (N, *input_shape[1:]); y int64 labels or None.

    An .npz uses ``ref.key``, else ``x``, else the model input's name; labels come from ``y``.
    """
    obj = _load(ref, cfg_file)
    y = None
    if isinstance(obj, np.lib.npyio.NpzFile):
        keys = list(obj.keys())
        key = ref.key or ("x" if "x" in keys else (input_name if input_name in keys else None))
        if key is None or key not in keys:
            want = f"'{ref.key}'" if ref.key else " or ".join(f"'{k}'" for k in dict.fromkeys(["x", input_name]))
            raise DataError(f"'{ref.path}' has arrays {keys}; expected {want} (set key: in the config)",
                            file=cfg_file, key=ref.yaml_key, line=ref.line)
        try:
            x = obj[key]
            if "y" in keys:
                y = obj["y"]
        except ValueError:
            raise DataError(f"array '{key}' in '{ref.path}' holds Python objects (pickle, refused); qnnc loads "
                            "plain numeric arrays only",
                            file=cfg_file, key=ref.yaml_key, line=ref.line) from None
    else:
        x = obj
    if x.dtype.kind not in "fiu":
        raise DataError(f"'{ref.path}' holds {x.dtype} data; expected numbers (float32)", file=cfg_file,
                        key=ref.yaml_key, line=ref.line)
    want = tuple(input_shape[1:])
    if x.ndim == len(input_shape) - 1 and tuple(x.shape) == want:
        x = x[None]
    if x.ndim != len(input_shape) or tuple(x.shape[1:]) != want:
        raise DataError(f"'{ref.path}' has shape {list(x.shape)}; expected (N, {', '.join(map(str, want))}) "
                        f"for model input '{input_name}' of shape {list(input_shape)}", file=cfg_file,
                        key=ref.yaml_key, line=ref.line)
    if x.shape[0] == 0:
        raise DataError(f"'{ref.path}' holds no samples", file=cfg_file, key=ref.yaml_key, line=ref.line)
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"'{ref.path}' contains NaN or Inf", file=cfg_file, key=ref.yaml_key, line=ref.line)
    if y is not None:
        y = np.asarray(y)
        if y.dtype.kind not in "iu" or y.ndim == 0 or y.shape[0] != x.shape[0] or y.size == 0:
            y = None
        else:
            y = y.astype(np.int64).reshape(x.shape[0], -1)[:, 0] if y.ndim > 1 else y.astype(np.int64)
    if ref.count is not None:
        x = x[:ref.count]
        y = y[:ref.count] if y is not None else None
    return x, y
