"""Whether a model traced with a static batch N > 1 keeps its samples apart.

The importer compiles such a model for one sample per call (importer.single_sample). Shape
inference refuses most graphs that mix the samples (a Reshape to the literal batch, a Concat over
dim 0), but not those whose mixing keeps every shape: a reduction or a normalization over dim 0
with keepdims, a MatMul of the batch against itself. This check runs the model both ways in
onnxruntime, once: N random samples in one batched run against N single-sample runs of the model
as qnnc reads it. Rows that differ mean the graph mixes its samples, and the build is refused.
The importer also asks it whether further inputs of the same dim 0 are that batch too (a
two-input model traced with a batch of example pairs), and rebatches them only if so.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx

from .index_inputs import index_inputs
from .ort_session import onnxruntime_session

# float32 rounding differs between one batched kernel call and N single ones (GEMM blocking):
# a difference beyond this, relative to the output's largest value, is a real dependence
_RELATIVE_TOLERANCE = 1e-3
# a model traced with a large batch of big samples is not run batched (memory, time): unchecked
_MAX_VALUES = 1 << 22


def _random_feed(model: onnx.ModelProto, seed: int) -> Optional[Dict[str, np.ndarray]]:
    """Random values for every real input of static shape, or None if a shape is not static."""
    rng = np.random.default_rng(seed)
    inits = {i.name for i in model.graph.initializer}
    ids = index_inputs(model)
    feed = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in inp.type.tensor_type.shape.dim]
        if any(d <= 0 for d in dims):
            return None
        if inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8:
            feed[inp.name] = rng.integers(0, 256, dims).astype(np.uint8)
        elif inp.name in ids:  # token ids of a table
            feed[inp.name] = rng.integers(0, ids[inp.name], dims).astype(
                onnx.helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type))
        else:
            feed[inp.name] = rng.standard_normal(dims).astype(np.float32)
    return feed


def _differ(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two outputs of one shape differ beyond float rounding: non-finite values where the
    other has none or another one, or finite ones further apart than the tolerance relative to
    the largest finite value."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb) or not np.array_equal(np.where(fa, 0, np.nan_to_num(a, nan=1.0)),
                                                        np.where(fb, 0, np.nan_to_num(b, nan=1.0))):
        return True
    if not fa.any():
        return False
    scale = max(float(np.abs(a[fa]).max()), 1e-30)
    return bool(np.abs(a[fa] - b[fb]).max() > _RELATIVE_TOLERANCE * scale)


def samples_mixed(batched: onnx.ModelProto, single: onnx.ModelProto, sliced: List[str],
                  unknown: bool = False) -> bool:
    """True if ``batched`` (the inputs ``sliced`` of batch N) computes, for some sample, another
    output than ``single`` (the same model with those inputs of batch 1) computes for that sample
    alone; False when they agree. ``unknown`` when the check cannot run or compare: onnxruntime
    missing or refusing the model, a dynamic dim, more than _MAX_VALUES input values, an output
    whose batch is not on dim 0."""
    feed = _random_feed(batched, 5)
    if feed is None or sum(v.size for v in feed.values()) > _MAX_VALUES:
        return unknown
    try:
        whole = [np.asarray(o, np.float64) for o in onnxruntime_session(batched).run(None, feed)]
        sess = onnxruntime_session(single)
        n = feed[sliced[0]].shape[0]
        rows = [[np.asarray(o, np.float64) for o in sess.run(None, {**feed, **{k: feed[k][i:i + 1] for k in sliced}})]
                for i in range(n)]
    except Exception:  # ImportError, onnxruntime refusing, an output that is no tensor: nothing to compare
        return unknown
    for k, out in enumerate(whole):
        each = [r[k] for r in rows]
        if out.ndim >= 1 and out.shape[0] == n and all(e.shape == (1,) + out.shape[1:] for e in each):
            if _differ(out, np.concatenate(each, axis=0)):
                return True
        elif all(e.shape == out.shape for e in each):
            # an output without the batch (a reduction over it, keepdims or not): every sample
            # alone must give what the whole batch gives
            if any(_differ(out, e) for e in each):
                return True
        else:  # the batch on another axis (an Unsqueeze before it): rows not comparable
            return unknown
    return False


# (path, mtime, size, the inputs sliced) -> verdict: a build reads the float model several times
_VERDICTS: Dict[Tuple[str, float, int, Tuple[str, ...]], bool] = {}


def samples_mixed_once(path: str, batched: onnx.ModelProto, single: onnx.ModelProto, sliced: List[str],
                       unknown: bool = False) -> bool:
    """:func:`samples_mixed` of models derived from the file at ``path`` (always the same ones for
    the same inputs sliced), computed once per file version."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime, st.st_size, tuple(sliced))
    if key not in _VERDICTS:
        _VERDICTS[key] = samples_mixed(batched, single, sliced, unknown)
    return _VERDICTS[key]
