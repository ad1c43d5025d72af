"""Loading calibration and test data (.npz / .npy) safely, with clear errors."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

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
    with open(ref.path, "rb") as f:
        magic = f.read(6)
    if not magic.startswith((b"\x93NUMPY", b"PK")):  # neither .npy nor .npz (a zip)
        kind = "Python objects (pickle)" if magic.startswith(b"\x80") else "no NumPy arrays (a CSV or text file?)"
        raise DataError(f"'{ref.path}' holds {kind}; qnnc loads .npy / .npz files of plain numeric arrays "
                        "(numpy.save / numpy.savez)", file=cfg_file, key=ref.yaml_key, line=ref.line)
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


def _without_units(shape: Sequence[int]) -> Tuple[int, ...]:
    return tuple(int(d) for d in shape if d != 1)


def load_samples(ref: DataRef, input_name: str, input_shape: Sequence[int], cfg_file: Optional[str],
                 codes: Optional[Tuple[float, int, str]] = None, mask: bool = False
                 ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Return (x, y): x float32 of shape (N, *input_shape[1:]); y int64 labels or None.

    An .npz uses ``ref.key``, else ``x``, else the model input's name; labels come from ``y``.
    ``codes``: (scale, zero point, "int8" / "uint8") of an input the model takes as integer codes
    (a quantized model's int8 input): integer data are those codes, read as the real values they
    stand for (outside the codes' range: an error).
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
    if x.dtype.kind == "b" and mask:  # a mask input's values (frontend/value_inputs.py): 0 / 1
        x = x.astype(np.float32)
    if x.dtype.kind not in "fiu":
        raise DataError(f"'{ref.path}' holds {x.dtype} data; expected numbers (float32)", file=cfg_file,
                        key=ref.yaml_key, line=ref.line)
    want = tuple(input_shape[1:])
    if x.ndim == len(input_shape) - 1 and tuple(x.shape) == want:
        x = x[None]
    if tuple(x.shape[1:]) != want and x.ndim >= 2 and _without_units(x.shape[1:]) == _without_units(want):
        # the same values in the same order, apart from axes of size 1: samples stacked whole
        # ((N, 1, 20, 12) for [1, 20, 12]), or a time-major [20, 1, 12] input's (N, 20, 1, 12)
        x = x.reshape((x.shape[0],) + want)
    if x.ndim != len(input_shape) or tuple(x.shape[1:]) != want:
        raise DataError(f"'{ref.path}' has shape {list(x.shape)}; expected (N, {', '.join(map(str, want))}) "
                        f"for model input '{input_name}' of shape {list(input_shape)}", file=cfg_file,
                        key=ref.yaml_key, line=ref.line)
    if x.shape[0] == 0:
        raise DataError(f"'{ref.path}' holds no samples", file=cfg_file, key=ref.yaml_key, line=ref.line)
    if codes is not None and x.dtype.kind in "iu":  # the model's integer codes
        info = np.iinfo(codes[2])
        if x.min() < info.min or x.max() > info.max:
            raise DataError(f"'{ref.path}' holds integers in [{x.min()}, {x.max()}] for input '{input_name}', which "
                            f"the model takes as {codes[2]} codes in [{info.min}, {info.max}]", file=cfg_file,
                            key=ref.yaml_key, line=ref.line)
        x = ((x.astype(np.float64) - codes[1]) * codes[0]).astype(np.float32)
    else:
        x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"'{ref.path}' contains NaN or Inf", file=cfg_file, key=ref.yaml_key, line=ref.line)
    if y is not None:
        y = _labels(np.asarray(y), x.shape[0], ref, cfg_file)
    if ref.count is not None:
        x = x[:ref.count]
        y = y[:ref.count] if y is not None else None
    return x, y


def _labels(y: np.ndarray, n: int, ref: DataRef, cfg_file: Optional[str]) -> Optional[np.ndarray]:
    """Class labels (int64, one per sample) from an array 'y': class indices (N,) or (N, 1), also as
    whole floats, or one-hot rows (N, C); None for what is no class label (a regression target).
    A count that differs from the samples' is an error: the set is misassembled."""
    if y.dtype.kind not in "iuf" or y.ndim == 0 or y.size == 0 or y.ndim > 2:
        return None
    if y.shape[0] != n:
        raise DataError(f"'{ref.path}' holds {y.shape[0]} labels ('y') for {n} samples; expected one class index "
                        "per sample", file=cfg_file, key=ref.yaml_key, line=ref.line)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows, else no labels
        one_hot = np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)
        return y.argmax(axis=1).astype(np.int64) if one_hot else None
    y = y.reshape(n)
    if y.dtype.kind == "f" and not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        return None
    return y.astype(np.int64)


# -- several model inputs ------------------------------------------------------------------------
# A sample set is one float32 array (N, ...) for a single-input model, or {input name: (N, ...)}
# (graph order) when the model has several inputs.
Samples = Union[np.ndarray, Dict[str, np.ndarray]]


def sample_shape(shape: Sequence[int]) -> Tuple[int, ...]:
    """The shape :func:`load_samples` reads a set of an input of ``shape`` as: dim 0 is the batch (1)
    and the file holds (N, *shape[1:]); an input whose dim 0 is not 1 (a recurrent state such as
    [2, 1, 128], allowed after the first input) is held whole per sample: (N, *shape)."""
    shape = tuple(int(d) for d in shape)
    return shape if shape and shape[0] == 1 else (1,) + shape


def sample_count(xs: Samples) -> int:
    if isinstance(xs, dict):
        return int(next(iter(xs.values())).shape[0])
    return int(xs.shape[0])


def take(xs: Samples, index) -> Samples:
    """``xs[index]`` for every input (a slice or index array over the sample axis)."""
    if isinstance(xs, dict):
        return {k: v[index] for k, v in xs.items()}
    return xs[index]


def _input_key(keys: Sequence[str], name: str, position: int) -> Optional[str]:
    """The array of an .npz that holds one input: its ONNX name, else ``x<position>``."""
    for k in (name, f"x{position}"):
        if k in keys:
            return k
    return None


def load_input_samples(ref: DataRef, names: Sequence[str], shapes: Sequence[Sequence[int]],
                       cfg_file: Optional[str], codes: Optional[Dict[str, Tuple[float, int, str]]] = None,
                       masks: Sequence[str] = ()) -> Tuple[Samples, Optional[np.ndarray]]:
    """Samples for all model inputs: (x, y) as :func:`load_samples` for one input; for several, x is
    {input name: float32 (N, *shape[1:])}, read from one .npz holding an array per input (named as
    the ONNX input, or ``x0``, ``x1``, ... in input order) and optional labels ``y``, or from a
    folder holding ``<input name>.npy`` (or ``x<i>.npy``) per input. ``codes``: as for
    :func:`load_samples`, by input name; ``masks``: the inputs whose data may be bool (0 / 1)."""
    codes = codes or {}
    if len(names) == 1:
        return load_samples(ref, names[0], shapes[0], cfg_file, codes.get(names[0]), names[0] in masks)
    where = dict(file=cfg_file, key=ref.yaml_key, line=ref.line)
    arrays: Dict[str, DataRef] = {}
    y = None
    if os.path.isdir(ref.path):
        files = sorted(os.listdir(ref.path))
        for k, name in enumerate(names):
            fname = next((f for f in (f"{name}.npy", f"x{k}.npy") if f in files), None)
            if fname is None:
                raise DataError(f"folder '{ref.path}' has no '{name}.npy' (or 'x{k}.npy') for model input '{name}' "
                                f"(it holds {files[:20]})", **where)
            arrays[name] = DataRef(os.path.join(ref.path, fname), None, ref.count, ref.yaml_key, ref.line)
        if "y.npy" in files:
            y = np.load(os.path.join(ref.path, "y.npy"), allow_pickle=False)
    else:
        obj = _load(ref, cfg_file)
        if not isinstance(obj, np.lib.npyio.NpzFile):
            raise DataError(f"'{ref.path}' is one .npy array, but the model has {len(names)} inputs {list(names)}; "
                            "give an .npz with one array per input (named as the input, or x0, x1, ...) or a "
                            "folder of <input name>.npy files", **where)
        keys = list(obj.keys())
        for k, name in enumerate(names):
            key = _input_key(keys, name, k)
            if key is None:
                raise DataError(f"'{ref.path}' has arrays {keys}; expected one per model input: '{name}' (or "
                                f"'x{k}') for input {k}", **where)
            arrays[name] = DataRef(ref.path, key, ref.count, ref.yaml_key, ref.line)
    xs: Dict[str, np.ndarray] = {}
    for name, shape in zip(names, shapes):
        x, labels = load_samples(arrays[name], name, sample_shape(shape), cfg_file, codes.get(name), name in masks)
        xs[name] = x
        y = labels if y is None else y
    counts = {name: v.shape[0] for name, v in xs.items()}
    if len(set(counts.values())) != 1:
        raise DataError(f"'{ref.path}': the inputs hold different numbers of samples {counts}", **where)
    if y is not None:  # (a folder's y.npy as saved; an .npz's already read by load_samples)
        y, n = np.asarray(y), next(iter(counts.values()))
        if ref.count is not None and y.ndim >= 1 and y.shape[0] > n:
            y = y[:n]  # the labels of the first `count` samples
        y = _labels(y, n, ref, cfg_file)
    return xs, y
