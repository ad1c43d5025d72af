"""Bit-exact numpy reference of the reduction kernels: ``qnnc_reduce_s8`` (ReduceMean / Sum / Max /
Min), ``qnnc_layer_norm_s8`` (LayerNormalization), ``qnnc_arg_max_s8`` (ArgMax / ArgMin) and
``qnnc_top_k_s8`` (TopK), plus
the C call each op kind emits (:func:`emit_call`, used by emit/c_emitter.py).

LayerNorm arithmetic (all integer; ``d = x + input_offset``, one row = the ``n`` normalized values):

* ``S = sum d``, ``Q = sum d^2`` (int64), ``V = n*Q - S^2`` (= n^2 * variance / s_in^2, exact),
  ``D = V + epsilon`` (epsilon = n^2 * eps / s_in^2 as an integer >= 1, so ``D >= 1``).
* ``s = (62 - bitlength(D)) // 2`` puts ``D * 4^s`` in [2^60, 2^62); ``r = isqrt(D * 4^s)`` (floor, in
  [2^30, 2^31)); ``inv = (2^61 + r // 2) // r``: ``1 / sqrt(D) ~= inv * 2^(s - 61)``.
* ``c = n*d - S`` (= n * (x - mean) / s_in), normalized value ``y = c / sqrt(D)``, kept as
  ``t = round_half_away(c * inv / 2^R)`` with ``R = 61 - s - frac_bits`` (so ``t = y * 2^frac_bits``,
  ``|t| < 2^30``).
* ``out = clamp(clamp(requantize(t, multiplier[i], shift[i]), -2^24, 2^24) + bias[i], -128, 127)``,
  where ``multiplier[i] * 2^(shift[i] - 31) = gamma[i] / (s_out * 2^frac_bits)`` (negative for a
  negative gamma) and ``bias[i] = round(beta[i] / s_out) + zero_point_out``; ``i`` is the position
  in the normalized block. Requantization is TFLite's (quantize/fixedpoint.py).
"""
from __future__ import annotations

import math

import numpy as np

from ..kernel_params import LayerNormParams, ReduceParams, struct_fields
from ..quantize.fixedpoint import requantize

REDUCE_KINDS = ("reduce", "layer_norm", "arg_max", "top_k")
REDUCE_SUM, REDUCE_MAX, REDUCE_MIN = 0, 1, 2
BIAS_CLAMP = 1 << 24


def reduce_extreme(kind: int, x: np.ndarray, axes):
    """Max / min of ``x`` over ``axes`` (keepdims) for ``kind`` REDUCE_MAX / REDUCE_MIN, the raw values
    of any element type; None for REDUCE_SUM (its arithmetic depends on the precision)."""
    if kind == REDUCE_MAX:
        return x.max(axis=axes, keepdims=True) if axes else x.copy()
    if kind == REDUCE_MIN:
        return x.min(axis=axes, keepdims=True) if axes else x.copy()
    return None


def reduced_axes(input_dims, output_dims):
    """The axes of a 4-D reduction: those where ``output_dims`` is 1 and ``input_dims`` is not."""
    return tuple(i for i in range(4) if int(output_dims[i]) != int(input_dims[i]))


def reduce_s8(p: ReduceParams, x, input_dims, output_dims) -> np.ndarray:
    """Reduction of a 4-D int8 tensor over the axes where ``output_dims`` is 1 and ``input_dims``
    is not; mirrors ``qnnc_reduce_s8``. Returns int8 shaped ``output_dims``."""
    x = np.asarray(x, dtype=np.int8).reshape(tuple(input_dims))
    axes = reduced_axes(input_dims, output_dims)
    extreme = reduce_extreme(p.kind, x, axes)
    if extreme is not None:
        return extreme
    acc = (x.astype(np.int64) + int(p.input_offset)).sum(axis=axes, keepdims=True)
    out = requantize(acc, p.multiplier, p.shift) + int(p.output_offset)
    return np.clip(out, -128, 127).astype(np.int8)


def rsqrt_parts(D: np.ndarray):
    """(s, inv) of the integer reciprocal square root: ``1/sqrt(D) ~= inv * 2^(s - 61)`` (D >= 1, < 2^62)."""
    D = np.asarray(D, dtype=np.int64).reshape(-1)
    s = np.empty(D.shape, np.int64)
    inv = np.empty(D.shape, np.int64)
    for i, v in enumerate(D.tolist()):
        si = (62 - int(v).bit_length()) // 2
        r = math.isqrt(int(v) << (2 * si))
        s[i] = si
        inv[i] = ((1 << 61) + (r >> 1)) // r
    return s, inv


def layer_norm(p: LayerNormParams, x, outer: int, n: int, inner: int, multiplier, shift, bias,
               dtype=np.int8) -> np.ndarray:
    """LayerNorm over the middle axis of ``[outer, n, inner]`` of ``dtype`` (int8 or int16) values,
    clamped to ``dtype``; mirrors ``qnnc_layer_norm_s8`` / ``qnnc_layer_norm_s16`` (one arithmetic,
    the module docstring's)."""
    d = np.asarray(x, dtype=dtype).reshape(outer, n, inner).astype(np.int64) + int(p.input_offset)
    S = d.sum(axis=1, keepdims=True)
    Q = (d * d).sum(axis=1, keepdims=True)
    D = n * Q - S * S + int(p.epsilon)
    s, inv = rsqrt_parts(D)
    s = s.reshape(S.shape)
    inv = inv.reshape(S.shape)
    c = n * d - S                                    # int8: |c| < 2^25; int16 (n <= 2^15): < 2^31
    prod = c * inv                                   # inv <= 2^31: int8 fits int64, int16 < 2^62
    R = 61 - s - int(p.frac_bits)                    # in [2, 61]
    mag = (np.abs(prod) + (np.int64(1) << (R - 1))) >> R
    t = np.where(prod < 0, -mag, mag)
    m = np.asarray(multiplier, np.int64).reshape(1, n, 1)
    sh = np.asarray(shift, np.int64).reshape(1, n, 1)
    v = np.clip(requantize(t, m, sh), -BIAS_CLAMP, BIAS_CLAMP) + np.asarray(bias, np.int64).reshape(1, n, 1)
    info = np.iinfo(dtype)
    return np.clip(v, int(info.min), int(info.max)).astype(dtype)


def layer_norm_s8(p: LayerNormParams, x, outer: int, n: int, inner: int, multiplier, shift, bias) -> np.ndarray:
    """LayerNorm over the middle axis of ``[outer, n, inner]``; mirrors ``qnnc_layer_norm_s8``."""
    return layer_norm(p, x, outer, n, inner, multiplier, shift, bias, np.int8)


def arg_max(x, outer: int, n: int, inner: int, is_min: int, select_last: int, dtype=np.int8,
            index_dtype=np.int8) -> np.ndarray:
    """Index of the largest (``is_min``: smallest) ``dtype`` value along the middle axis of
    ``[outer, n, inner]``, the first one (``select_last``: the last one) among equals, as int8 (for
    int16 inputs too; ``index_dtype`` int16: the ``_wide`` kernels); mirrors ``qnnc_arg_max_s8`` /
    ``qnnc_arg_max_s16``."""
    v = np.asarray(x, dtype=dtype).reshape(outer, n, inner).astype(np.int32)
    if is_min:
        v = -v
    if select_last:
        idx = n - 1 - np.argmax(v[:, ::-1, :], axis=1)
    else:
        idx = np.argmax(v, axis=1)
    return idx.astype(index_dtype)


def top_k(x, outer: int, n: int, inner: int, k: int, largest: int, want: str, dtype=np.int8,
          index_dtype=np.int8) -> np.ndarray:
    """The k largest (``largest`` 0: smallest) ``dtype`` values along the middle axis of
    ``[outer, n, inner]`` in order, equal values by increasing index (``want`` "values"), or their
    indices as int8 (``want`` "indices"); mirrors ``qnnc_top_k_s8`` / ``qnnc_top_k_s16``."""
    v = np.asarray(x, dtype=dtype).reshape(outer, n, inner).astype(np.int32)
    order = np.argsort(-v if largest else v, axis=1, kind="stable")[:, :k, :]  # stable: lower index first
    if want == "indices":
        return order.astype(index_dtype)
    return np.take_along_axis(v, order, axis=1).astype(dtype)


def arg_max_s8(x, outer: int, n: int, inner: int, is_min: int, select_last: int) -> np.ndarray:
    """:func:`arg_max` of int8 values; mirrors ``qnnc_arg_max_s8``."""
    return arg_max(x, outer, n, inner, is_min, select_last, np.int8)


def run_reduce(op, x: np.ndarray, out_shape, dtype=np.int8, reduce_fn=reduce_s8) -> np.ndarray:
    """The reference output of a ``reduce`` / ``layer_norm`` / ``arg_max`` QOp with ``dtype`` (int8, or
    int16 with ``reduce_fn`` = kernels_s16_reduce.reduce_s16) input."""
    a, c = op.attrs, op.consts
    if op.kind == "reduce":
        return reduce_fn(op.params, x, a["input_dims"], a["output_dims"]).reshape(out_shape)
    if op.kind == "layer_norm":
        return layer_norm(op.params, x, a["outer"], a["n"], a["inner"], c["multiplier"], c["shift"],
                          c["bias"], dtype).reshape(out_shape)
    index = np.int16 if a.get("index_bits") == 16 else np.int8
    if op.kind == "arg_max":
        return arg_max(x, a["outer"], a["n"], a["inner"], a["is_min"], a["select_last"], dtype,
                       index).reshape(out_shape)
    if op.kind == "top_k":
        return top_k(x, a["outer"], a["n"], a["inner"], a["k"], a["largest"], a["want"], dtype,
                     index).reshape(out_shape)
    raise NotImplementedError(op.kind)


def _init(params) -> str:
    return "{" + ", ".join(str(int(v)) for _, v in struct_fields(params)) + "}"


def emit_call(e, k: str, op, x: str, out: str) -> None:
    """Append the kernel call of ``op`` (kinds in REDUCE_KINDS) to the C emitter ``e``'s body; the
    function is ``op.kernel`` (``_s8``, or the ``_s16`` one an int16 op names: the same arguments)."""
    a = op.attrs
    if op.kind == "reduce":
        p = e.static("qnnc_reduce_params", f"{k}_params", _init(op.params))
        din = e.dims(f"{k}_input_dims", a["input_dims"])
        dout = e.dims(f"{k}_output_dims", a["output_dims"])
        e.body.append(f"    {op.kernel}({p}, {din}, {x}, {dout}, {out});")
    elif op.kind == "layer_norm":
        p = e.static("qnnc_layer_norm_params", f"{k}_params", _init(op.params))
        mult = e.const_array(f"{k}_multiplier", op.consts["multiplier"])
        shift = e.const_array(f"{k}_shift", op.consts["shift"])
        bias = e.const_array(f"{k}_bias", op.consts["bias"])
        e.body.append(f"    {op.kernel}({p}, {a['outer']}, {a['n']}, {a['inner']}, {mult}, {shift}, {bias}, "
                      f"{x}, {out});")
    elif op.kind == "arg_max":
        e.body.append(f"    {op.kernel}({a['outer']}, {a['n']}, {a['inner']}, {a['is_min']}, {a['select_last']}, "
                      f"{x}, {out});")
    elif op.kind == "top_k":  # one call per output used (the other pointer NULL)
        values, indices = (out, "NULL") if a["want"] == "values" else ("NULL", out)
        e.body.append(f"    {op.kernel}({a['outer']}, {a['n']}, {a['inner']}, {a['k']}, {a['largest']}, {x}, "
                      f"{values}, {indices});")
    else:
        raise NotImplementedError(op.kind)
