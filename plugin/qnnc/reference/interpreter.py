"""The numpy integer reference: runs a :class:`QModel` op by op.

This defines what the generated C must compute, bit for bit.
"""
from __future__ import annotations

import contextlib
from typing import Dict, List, Optional

import numpy as np

from ..quantize.fixedpoint import dequantize_s8, quantize_f32
from ..qmodel import QModel, QOp
from . import kernels as K
from .interpreter_s16 import is_s16, run_op_s16
from . import kernels_s4 as K4
from . import kernels_conv_general as KG
from . import kernels_elementwise as KE
from . import kernels_movement as KM
from . import kernels_reduce as KR
from . import kernels_recurrent as KRC
from .heap import keep_freed_heap
from .shared_ops import SHARED_KINDS, run_shared

KERNELS_S8 = {"conv": K.conv_s8, "depthwise_conv": K.depthwise_conv_s8, "fully_connected": K.fully_connected_s8,
              "max_pool": K.max_pool_s8, "avg_pool": K.avg_pool_s8, "softmax": K.softmax_s8,
              "transpose": K.transpose_s8}


def _run_op(op: QOp, model: QModel, values: Dict[str, np.ndarray]) -> np.ndarray:
    if op.kind == "embedding":  # int16 ids, an int8 or int16 table
        return KM.run_movement(op, values[op.inputs[0]], model.tensors[op.output].shape)
    if is_s16(op):
        return run_op_s16(op, model, values)
    out_shape = model.tensors[op.output].shape
    x = values[op.inputs[0]]
    c = op.consts
    kind = op.kind
    if op.attrs.get("weight_bits") == 4:
        return _run_s4(op, x, out_shape)
    if kind in SHARED_KINDS:
        return run_shared(op, x, out_shape, KERNELS_S8)
    if kind in KG.KINDS:
        return KG.run_op(op, values, out_shape)
    if kind in KM.MOVEMENT_KINDS:
        return KM.run_movement(op, x, out_shape)
    if kind in KR.REDUCE_KINDS:
        return KR.run_reduce(op, x, out_shape)
    if kind in KRC.RECURRENT_KINDS:
        return KRC.run_recurrent(op, x, out_shape)
    if kind in KE.KINDS:
        return KE.run(op, values, out_shape)
    if kind in ("add", "mul"):
        a = x.reshape(op.attrs["input1_dims"])
        b = (c["input2"] if "input2" in c else values[op.inputs[1]]).reshape(op.attrs["input2_dims"])
        fn = K.add_s8 if kind == "add" else K.mul_s8
        return fn(op.params, a, b, op.attrs["output_dims"]).reshape(out_shape)
    if kind == "lut":
        return K.lut_s8(x, c["lut"])
    if kind == "pad":
        return K.pad_s8(x.reshape(op.attrs["input_dims"]), op.attrs["pads_before"], op.attrs["output_dims"],
                        op.attrs["pad_value"]).reshape(out_shape)
    if kind == "patch_segment":
        # Band-wise execution computes exactly the layer-by-layer result.
        for sub in op.attrs["ops"]:
            values[sub.output] = _run_op(sub, model, values)
        return values[op.output]
    if kind == "concat":
        outer = op.attrs["outer"]
        parts = [K.rescale_s8(r, values[i]).reshape(outer, inner)
                 for i, r, inner in zip(op.inputs, op.attrs["rescales"], op.attrs["inners"])]
        return np.concatenate(parts, axis=1).reshape(out_shape)
    raise NotImplementedError(kind)


def _run_s4(op: QOp, x: np.ndarray, out_shape) -> np.ndarray:
    """Conv / depthwise / FC with packed int4 weights (the _s4 kernels)."""
    c = op.consts
    if op.kind == "conv":
        return K4.conv_s4(op.params, c["multiplier"], c["shift"], x, c["filter"], op.attrs["filter_dims"],
                          c["bias"], out_shape)
    if op.kind == "depthwise_conv":
        return K4.depthwise_conv_s4(op.params, c["multiplier"], c["shift"], x, c["filter"],
                                    op.attrs["filter_dims"], c["bias"], out_shape)
    if op.kind == "fully_connected":
        rows, k = op.attrs["rows"], op.attrs["in_features"]
        y = K4.fully_connected_s4(op.params, c["multiplier"], c["shift"], x.reshape(rows, k), c["filter"],
                                  op.attrs["out_features"], c["bias"])
        return y.reshape(out_shape)
    raise NotImplementedError(f"int4 weights for {op.kind}")


def _api_inputs(model: QModel, x) -> Dict[str, np.ndarray]:
    """{input tensor: integer array}: ``x`` is one array (single-input models), or a list in input
    order, or {input name: array}. int16 inputs (see lower_graph.api_input_bits) stay int16."""
    if isinstance(x, dict):
        arrays = [x[name] for name in model.inputs]
    elif isinstance(x, (list, tuple)):
        arrays = list(x)
    else:
        arrays = [x]
    if len(arrays) != len(model.inputs):
        raise ValueError(f"the model has {len(model.inputs)} inputs {model.inputs}, got {len(arrays)} arrays")
    out = {}
    for name, a in zip(model.inputs, arrays):
        t = model.tensors[name]
        out[name] = np.asarray(a, dtype=np.int16 if t.bits == 16 else np.int8).reshape(t.shape)
    return out


# Samples run together by run_all / run_int8: the batch folds into the kernels' leading axis, so
# numpy's per-call overhead (most of a small model's time) is paid once per chunk, not per sample;
# the chunk bounds the memory of the biggest im2col copy.
BATCH_MAX = 32


def _fold(x: np.ndarray) -> np.ndarray:
    """(B, n, ...) -> (B*n, ...): the batch merged into the tensor's own leading axis."""
    return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])


def _batch_dims(b: int, dims) -> tuple:
    d = tuple(int(v) for v in dims)
    return (b * d[0],) + d[1:]


def _leading_one(*dims) -> bool:
    return all(len(d) == 4 and int(d[0]) == 1 for d in dims)


def _run_op_batch(op: QOp, model: QModel, values: Dict[str, np.ndarray], b: int) -> np.ndarray:
    """``op`` on ``b`` samples at once: ``values`` hold (b, *tensor shape) arrays; returns
    (b, *output shape). Every sample's result is what :func:`_run_op` gives on that sample alone:
    the same kernels run with the batch folded into an axis along which they never mix values
    (the image axis N of NHWC, the rows of fully connected / softmax, an elementwise axis, the
    sequences of LSTM / GRU). Ops without such a form (int16, int4, the other kernel families)
    run sample by sample."""
    out_shape = tuple(model.tensors[op.output].shape)
    kind, c = op.kind, op.consts
    batched = None
    if kind in KRC.RECURRENT_KINDS:  # int8 or int16 activations: the sequences side by side
        batched = KRC.run_recurrent_batch(op, values[op.inputs[0]], b, out_shape, 16 if is_s16(op) else 8)
    elif is_s16(op) or op.attrs.get("weight_bits") == 4:
        batched = None
    elif kind in ("conv", "depthwise_conv", "max_pool", "avg_pool") and len(out_shape) == 4:
        x = _fold(values[op.inputs[0]])
        batched = run_shared(op, x, _batch_dims(b, out_shape), KERNELS_S8)
    elif kind in ("fully_connected", "softmax"):
        cols = op.attrs["in_features"] if kind == "fully_connected" else op.attrs["cols"]
        x = values[op.inputs[0]].reshape(b * op.attrs["rows"], cols)
        if kind == "fully_connected":
            batched = K.fully_connected_s8(op.params, c["multiplier"], c["shift"], x, c["filter"], c["bias"])
        else:
            batched = K.softmax_s8(op.params, x, c["exp_lut"])
    elif kind == "reshape":
        batched = values[op.inputs[0]]
    elif kind == "transpose":
        x = values[op.inputs[0]].reshape((b,) + tuple(op.attrs["input_dims"]))
        batched = K.transpose_s8(x, [0] + [int(p) + 1 for p in op.attrs["perm"]])
    elif kind == "lut":
        batched = K.lut_s8(values[op.inputs[0]], c["lut"])
    elif kind in ("add", "mul") and _leading_one(op.attrs["input1_dims"], op.attrs["input2_dims"],
                                                  op.attrs["output_dims"]):
        a = values[op.inputs[0]].reshape(_batch_dims(b, op.attrs["input1_dims"]))
        if "input2" in c:  # a constant: its leading 1 broadcasts over the batch
            y = c["input2"].reshape(op.attrs["input2_dims"])
        else:
            y = values[op.inputs[1]].reshape(_batch_dims(b, op.attrs["input2_dims"]))
        fn = K.add_s8 if kind == "add" else K.mul_s8
        batched = fn(op.params, a, y, _batch_dims(b, op.attrs["output_dims"]))
    elif kind == "pad" and _leading_one(op.attrs["input_dims"], op.attrs["output_dims"]) \
            and int(op.attrs["pads_before"][0]) == 0:
        x = values[op.inputs[0]].reshape(_batch_dims(b, op.attrs["input_dims"]))
        batched = K.pad_s8(x, op.attrs["pads_before"], _batch_dims(b, op.attrs["output_dims"]),
                           op.attrs["pad_value"])
    elif kind == "patch_segment":
        for sub in op.attrs["ops"]:
            values[sub.output] = _run_op_batch(sub, model, values, b)
        return values[op.output]
    elif kind == "concat":
        outer = op.attrs["outer"]
        parts = [K.rescale_s8(r, values[i]).reshape(b, outer, inner)
                 for i, r, inner in zip(op.inputs, op.attrs["rescales"], op.attrs["inners"])]
        batched = np.concatenate(parts, axis=2)
    if batched is not None:
        return batched.reshape((b,) + out_shape)
    return _per_sample(op, model, values, b)


class _Sample(dict):
    """Sample ``i`` of batched values, sliced on first use (an op reads only its inputs)."""

    def __init__(self, values: Dict[str, np.ndarray], i: int):
        super().__init__()
        self._values, self._i = values, i

    def __missing__(self, key):
        v = self[key] = self._values[key][self._i]
        return v

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self._values

    def get(self, key, default=None):
        return self[key] if key in self else default


def _per_sample(op: QOp, model: QModel, values: Dict[str, np.ndarray], b: int) -> np.ndarray:
    """``op`` run by :func:`_run_op` on each sample; tensors it adds besides its output (a patch
    segment's layers) are stacked into ``values`` too."""
    outs, added = [], {}
    for i in range(b):
        view = _Sample(values, i)
        outs.append(_run_op(op, model, view))
        for k, v in view.items():
            if k not in values:
                added.setdefault(k, []).append(v)
    for k, vs in added.items():
        values[k] = np.stack(vs)
    return np.stack(outs)


def _api_batch(model: QModel, xs) -> Dict[str, np.ndarray]:
    """{input tensor: (B, *shape) integer array} from ``xs`` as :func:`run_all` takes it."""
    arrays = [xs[name] for name in model.inputs] if isinstance(xs, dict) else [xs]
    if len(arrays) != len(model.inputs):
        raise ValueError(f"the model has {len(model.inputs)} inputs {model.inputs}, got {len(arrays)} arrays")
    out = {}
    for name, a in zip(model.inputs, arrays):
        t = model.tensors[name]
        a = np.asarray(a, dtype=np.int16 if t.bits == 16 else np.int8)
        out[name] = a.reshape((a.shape[0],) + tuple(t.shape))
    return out


def run_batch(model: QModel, values: Dict[str, np.ndarray], keep: Optional[List[str]] = None
              ) -> Dict[str, np.ndarray]:
    """Run ``B`` samples at once: ``values`` {input tensor: (B, *shape) integer array} (int8, or
    int16 for int16 inputs); returns {tensor: (B, *shape)} for every output and ``keep``. Sample
    by sample bit-identical to :func:`run` (which is this with B = 1)."""
    keep_freed_heap()
    values = dict(values)
    b = int(next(iter(values.values())).shape[0])
    for op in model.ops:
        values[op.output] = _run_op_batch(op, model, values, b)
    wanted = set(keep or []) | set(model.outputs)
    return {k: v for k, v in values.items() if k in wanted}


def run(model: QModel, x, keep: Optional[List[str]] = None) -> Dict[str, np.ndarray]:
    """Run one sample (an int8 array for a single-input model; a list or {name: array} for several
    inputs, public shapes); returns {tensor: integer array} for every output and ``keep``."""
    inputs = {k: v[np.newaxis] for k, v in _api_inputs(model, x).items()}
    return {k: v[0] for k, v in run_batch(model, inputs, keep).items()}


def _one_blas_thread():
    """numpy's BLAS limited to one thread while a batch runs (threadpoolctl; a no-op without it):
    a batch's products are just big enough for OpenBLAS to split them over threads, which on a
    busy 2-core machine made them up to 20x slower than one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _count(xs) -> int:
    return int(next(iter(xs.values())).shape[0]) if isinstance(xs, dict) else int(xs.shape[0])


def _chunks(model: QModel, xs):
    """The outputs of ``xs`` run in chunks of at most BATCH_MAX samples."""
    n = _count(xs)
    for s in range(0, n, BATCH_MAX):
        part = {k: v[s:s + BATCH_MAX] for k, v in xs.items()} if isinstance(xs, dict) else xs[s:s + BATCH_MAX]
        yield run_batch(model, _api_batch(model, part))


def run_int8(model: QModel, xs) -> np.ndarray:
    """Int8 outputs for a batch of int8 inputs: (N, *input) -> (N, *output) (the first output)."""
    return run_all(model, xs)[0]


def run_all(model: QModel, xs) -> List[np.ndarray]:
    """Every output for a batch: ``xs`` (N, *input) or {input name: (N, ...)} -> [(N, *output), ...]
    in output order."""
    with _one_blas_thread():
        runs = list(_chunks(model, xs))
    return [np.concatenate([r[name] for r in runs]) for name in model.outputs]


def quantize_f32_s16(x: np.ndarray, scale: float) -> np.ndarray:
    """Float -> int16 (zero point 0) exactly as the generated C does it for an int16 input: like
    quantize_f32 with v clamped to [-65536, 65536] and the result to [-32768, 32767]."""
    x = np.asarray(x, dtype=np.float32)
    v = x / np.float32(scale)
    v = np.where(np.isnan(v), np.float32(0.0), v)
    v = np.clip(v, np.float32(-65536.0), np.float32(65536.0)).astype(np.float32)
    half = np.where(v >= 0, np.float32(0.5), np.float32(-0.5)).astype(np.float32)
    r = np.trunc((v + half).astype(np.float32)).astype(np.int64)
    return np.clip(r, -32768, 32767).astype(np.int16)


def _quantize(t, xs: np.ndarray) -> np.ndarray:
    xs = np.asarray(xs)
    q = quantize_f32_s16(xs, t.scale) if t.bits == 16 else quantize_f32(xs, t.scale, t.zero_point)
    return q.reshape((xs.shape[0],) + tuple(t.shape))


def quantize_input(model: QModel, xs):
    """Float inputs -> int8 (int16 for int16 inputs) exactly as ``<name>_run_f32`` does; ``xs`` is
    (N, *input) or {input name: (N, ...)} (the result has the same form)."""
    if isinstance(xs, dict):
        return {name: _quantize(model.tensors[name], xs[name]) for name in model.inputs}
    return _quantize(model.input_tensor, xs)


def api_input_arrays(model: QModel, q) -> List[np.ndarray]:
    """Quantized inputs ({name: (N, ...)} or one array) as the generated C API takes them, in input
    order: int8 / int16, and for uint8 inputs the bytes (int8 value + 128)."""
    arrays = [q[name] for name in model.inputs] if isinstance(q, dict) else [q]
    return [(a.astype(np.int16) + 128).astype(np.uint8) if name in model.uint8_inputs else a
            for name, a in zip(model.inputs, arrays)]


def dequantize_output(model: QModel, qs: np.ndarray, index: int = 0) -> np.ndarray:
    """int8 output ``index`` (default the first) -> float, as ``<name>_run_f32`` does."""
    t = model.output_tensors[index]
    return dequantize_s8(qs, t.scale, t.zero_point)
