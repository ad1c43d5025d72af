"""int8 rules of the reductions, LayerNormalization and ArgMax/ArgMin (registered in rules_s8.RULES).

* ReduceSum / ReduceMean: ``sum(x - zp_in)`` in int32, requantized once with multiplier
  ``s_in / (s_out * count)`` (mean; TFLite's int8 Mean folds 1/count the same way) or ``s_in / s_out``
  (sum); the output has its calibrated parameters. ReduceMax / ReduceMin keep the input's.
* LayerNormalization: exact integer mean / variance / reciprocal square root, gamma and beta folded
  into per-element int32 multipliers and biases (reference/kernels_reduce.py documents the arithmetic).
* ArgMax / ArgMin: the index as int8 with scale 1 and zero point 0, so the dequantized output is the
  index itself; over more than 127 entries (up to 32767) an int16 index (``_wide`` kernels), which
  stays int16 as a model output.
* TopK: the values keep the input's scale and zero point (the order of int8 codes is the order of
  the values); the indices as ArgMax's. One op per output read.
"""
from __future__ import annotations

import math
from typing import List, Tuple

import numpy as np

from ..ir import Node
from ..kernel_params import LayerNormParams, ReduceParams
from ..qmodel import QOp
from .fixedpoint import quantize_multiplier, round_half_away
from .lowering import Lowering, dims4

_KIND = {"ReduceSum": 0, "ReduceMean": 0, "ReduceMax": 1, "ReduceMin": 2}
MAX_COUNT = 1 << 23          # sum |x - zp| <= 255 * count stays far inside int32
MAX_NORM = 1 << 16           # LayerNorm: n*d and n*sum d^2 stay inside int64 with room


def reduce_dims(low: Lowering, n: Node, x, max_count: int):
    """(input dims, output dims, count) of the 4-D reduction ``n`` of ``x`` (int8 or int16 rule);
    refused when it sums more than ``max_count`` values."""
    in4 = dims4(x.shape)
    axes4 = [a + 4 - len(x.shape) for a in n.attrs["axes"]]
    out4 = tuple(1 if i in axes4 else in4[i] for i in range(4))
    count = int(np.prod([in4[a] for a in axes4]))
    if count > max_count:
        raise low.err(n, f"the reduction sums {count} values; at most {max_count} are supported")
    return in4, out4, count


def check_reduced(low: Lowering, n: Node, out, out4) -> None:
    """Refuses a reduction whose output tensor does not hold the reduced dims (an internal error)."""
    if int(np.prod(out4)) != out.size:
        raise low.err(n, f"internal: output {list(out.shape)} does not match the reduced dims {list(out4)}")


#: Most entries an int8 index holds; up to WIDE_INDEX_MAX the index is an int16 tensor (wide kernels).
INDEX_MAX, WIDE_INDEX_MAX = 127, 32767


def index_bits(low: Lowering, n: Node, count: int) -> int:
    """8 for an axis of at most 127 entries, 16 up to 32767 (a 1000-class ArgMax); refused beyond."""
    if count > WIDE_INDEX_MAX:
        raise low.err(n, f"{n.op} over an axis of {count} entries: the index is an int16 output at most, so at most "
                         f"{WIDE_INDEX_MAX} entries are supported")
    return 8 if count <= INDEX_MAX else 16


def index_tensor(low: Lowering, name: str, bits: int):
    """The index output ``name`` (scale 1, zero point 0) of ``bits``; an int16 one is kept int16 as a
    model output (Lowering.wide_indices)."""
    if bits == 16:
        low.wide_indices.add(name)
    return low.new_tensor(name, 1.0, 0, bits=bits)


def arg_max_attrs(low: Lowering, n: Node, x) -> dict:
    """The attrs of the ``arg_max`` op ``n`` of ``x`` (int8 or int16 rule); ``index_bits`` 16 when the
    axis has more than 127 entries (refused beyond 32767)."""
    axis = n.attrs["axis"]
    count = x.shape[axis]
    return {"outer": int(np.prod(x.shape[:axis])), "n": int(count), "inner": int(np.prod(x.shape[axis + 1:])),
            "is_min": int(n.op == "ArgMin"), "select_last": int(n.attrs["select_last_index"]),
            "index_bits": index_bits(low, n, int(count))}


def top_k_outputs(low: Lowering, n: Node, x) -> Tuple[dict, List[Tuple[str, str]]]:
    """(attrs, [(want, output tensor)]) of the TopK ``n`` of ``x`` (int8 or int16 rule): one op per
    output something reads, ``want`` "values" or "indices"; refused when K is not in [1, n]; indices
    over more than 127 entries are int16 (``index_bits``)."""
    axis, k = n.attrs["axis"], n.attrs["k"]
    count = x.shape[axis]
    if not 1 <= k <= count:
        raise low.err(n, f"TopK with K = {k} over an axis of {count} entries (K must be 1 to {count})")
    used = []
    for want, name in zip(("values", "indices"), n.outputs):
        if name and (name in low.g.outputs or low.g.consumers(name)):
            used.append((want, name))
    bits = index_bits(low, n, int(count)) if any(want == "indices" for want, _ in used) else 8
    attrs = {"outer": int(np.prod(x.shape[:axis])), "n": int(count), "inner": int(np.prod(x.shape[axis + 1:])),
             "k": int(k), "largest": int(n.attrs["largest"]), "index_bits": bits}
    return attrs, used


def layer_norm_geometry(low: Lowering, n: Node, x, max_norm: int, what: str = "LayerNormalization"):
    """(outer, count, inner, gamma, beta) of the LayerNormalization ``n`` of ``x`` (int8 or int16 rule;
    ``what`` names it in the refusal of more than ``max_norm`` normalized values)."""
    axes = list(n.attrs["axes"])
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise low.err(n, f"LayerNormalization over the axes {axes} of the stored tensor {list(x.shape)}, which are "
                         "not contiguous, is not supported")
    outer = int(np.prod(x.shape[:axes[0]]))
    count = int(np.prod(x.shape[axes[0]:axes[-1] + 1]))
    inner = int(np.prod(x.shape[axes[-1] + 1:]))
    if count > max_norm:
        raise low.err(n, f"{what} over {count} values; at most {max_norm} are supported")
    gamma = low.g.const(n.inputs[1]).astype(np.float64).reshape(-1)
    beta = low.g.const(n.inputs[2]).astype(np.float64).reshape(-1)
    if gamma.size != count or beta.size != count:
        raise low.err(n, f"internal: scale/bias of {gamma.size}/{beta.size} values for {count} normalized values")
    return outer, count, inner, gamma, beta


def layer_norm_constants(low: Lowering, n: Node, gamma, beta, count: int, out):
    """(frac_bits, multiplier, shift, bias) of ``qnnc_layer_norm_s8`` / ``_s16``: gamma and beta folded
    into per-position int32 multipliers (negative for a negative gamma) and biases (plus ``out``'s
    zero point), ``frac_bits`` = 29 - ceil(log4(count)) (kernels_reduce.py's arithmetic)."""
    k = 0
    while (1 << (2 * k)) < count:
        k += 1
    frac = 29 - k
    mult = np.zeros(count, np.int32)
    shift = np.zeros(count, np.int32)
    for i, gv in enumerate(gamma):
        try:
            m, s = quantize_multiplier(abs(gv) / (out.scale * (1 << frac)))
        except ValueError as err:
            raise low.err(n, f"scale value {gv} at position {i}: {err}") from None
        mult[i], shift[i] = (-m if gv < 0 else m), s
    bias = np.clip(round_half_away(beta / out.scale), -(1 << 24), 1 << 24) + out.zero_point
    return frac, mult, shift, bias.astype(np.int32)


def reduce(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    in4, out4, count = reduce_dims(low, n, x, MAX_COUNT)
    kind = _KIND[n.op]
    if kind:
        out = low.new_tensor(n.outputs[0], x.scale, x.zero_point)
        params = ReduceParams(kind)
    else:
        out = low.new_tensor(n.outputs[0], *low.calibrated(n.outputs[0], n))
        real = x.scale / out.scale / (count if n.op == "ReduceMean" else 1)
        try:
            m, s = quantize_multiplier(real)
        except ValueError as e:
            raise low.err(n, str(e)) from None
        params = ReduceParams(0, -x.zero_point, m, s, out.zero_point)
    check_reduced(low, n, out, out4)
    low.ops.append(QOp("reduce", n.name, [x.name], out.name, params, {},
                       {"input_dims": in4, "output_dims": out4}, 0))


def arg_max(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    attrs = arg_max_attrs(low, n, x)
    out = index_tensor(low, n.outputs[0], attrs["index_bits"])
    if attrs["index_bits"] == 16:
        attrs["kernel"] = "qnnc_arg_max_wide_s8"
    low.ops.append(QOp("arg_max", n.name, [x.name], out.name, None, {}, attrs, 0))


def top_k(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    attrs, used = top_k_outputs(low, n, x)
    wide = {"kernel": "qnnc_top_k_wide_s8"} if attrs["index_bits"] == 16 else {}
    for want, name in used:  # the values keep the input's quantization; the index is itself
        out = low.new_tensor(name, x.scale, x.zero_point) if want == "values" else \
            index_tensor(low, name, attrs["index_bits"])
        low.ops.append(QOp("top_k", n.name if want == "values" else f"{n.name}_indices", [x.name], out.name,
                           None, {}, {**attrs, "want": want, **wide}, 0))


def layer_norm(low: Lowering, n: Node) -> None:
    x = low.tensors[n.inputs[0]]
    outer, count, inner, gamma, beta = layer_norm_geometry(low, n, x, MAX_NORM)
    out = low.new_tensor(n.outputs[0], *low.calibrated(n.outputs[0], n))
    eps = float(n.attrs["epsilon"])
    e = count * count * eps / (x.scale * x.scale)
    epsilon = int(min(max(round(e), 1), 1 << 61)) if math.isfinite(e) else 1 << 61
    frac, mult, shift, bias = layer_norm_constants(low, n, gamma, beta, count, out)
    params = LayerNormParams(-x.zero_point, epsilon, frac)
    low.ops.append(QOp("layer_norm", n.name, [x.name], out.name, params,
                       {"multiplier": mult, "shift": shift, "bias": bias},
                       {"outer": outer, "n": count, "inner": inner}, 0))


RULES = {"ReduceMean": reduce, "ReduceSum": reduce, "ReduceMax": reduce, "ReduceMin": reduce,
         "ArgMax": arg_max, "ArgMin": arg_max, "TopK": top_k, "LayerNormalization": layer_norm}
