"""Rule of an embedding lookup: a Gather on axis 0 of a constant table whose indices are an index
input (token ids, frontend/index_inputs.py), int8 or int16 by the plan.

The table is quantized once, at the output's scale and zero point (the table's whole range, with
the calibrated one: rows calibration never looked up must not clip), and the op copies one row
per id::

    out[i, :] = table_q[clamp(id_i < 0 ? id_i + rows : id_i, 0, rows - 1), :]

(``qnnc_embedding_s8`` / ``qnnc_embedding_s16``; reference/kernels_movement.py:embedding). The ids
are the input's int16 values: scale 1, zero point 0, never requantized.
"""
from __future__ import annotations

import numpy as np

from ..ir import Node, element_count
from ..qmodel import QOp
from .fixedpoint import round_half_away
from .qparams import act_qparams, s16_scale
from .rules_movement import RULES as MOVEMENT_RULES, _perm, onnx_shape
from .rules_s16 import S16_MAX, S16_MIN


def embedding(low, n: Node) -> None:
    """Lower Gather(table, ids) to one ``embedding`` op."""
    ids = n.inputs[1]
    table = np.asarray(low.g.const(n.inputs[0]), dtype=np.float64)
    if table.ndim < 2 or int(n.attrs.get("axis", 0)) not in (0, -table.ndim):
        raise low.err(n, "token ids index a table on axis 0 only (a table of rank >= 2)")
    out_name = n.outputs[0]
    if list(_perm(low, out_name)) != sorted(_perm(low, out_name)):
        raise low.err(n, f"the looked-up rows form a 4-D tensor {list(onnx_shape(low, out_name))}, which qnnc "
                         "stores channels-last; an embedding output of rank 4 is not supported")
    if not np.all(np.isfinite(table)):
        raise low.err(n, f"the table '{n.inputs[0]}' holds non-finite values")
    low.calibrated(out_name, n)  # the clear errors of a missing or non-finite range
    # The table's whole range (with the calibrated one): calibration text covers part of a
    # vocabulary, and the rows it missed (rare tokens) must not clip.
    cal_lo, cal_hi = low.ranges[low.g.original_name(out_name)]
    lo, hi = min(float(cal_lo), float(table.min())), max(float(cal_hi), float(table.max()))
    bits = low.plan.of(n.name).activation_bits
    rows, row = table.shape[0], element_count(table.shape[1:])
    if bits == 16:
        scale, zp = s16_scale(lo, hi), 0
        q = np.clip(round_half_away(table / scale), S16_MIN, S16_MAX).astype(np.int16)
    else:
        scale, zp = act_qparams(lo, hi)
        q = np.clip(round_half_away(table / scale) + zp, -128, 127).astype(np.int8)
    out = low.new_tensor(out_name, scale, zp, bits=bits)
    count = element_count(low.g.shape(ids))
    attrs = {"rows": rows, "row_size": row, "count": count}
    if bits == 16:
        attrs["kernel"] = "qnnc_embedding_s16"
    low.ops.append(QOp("embedding", n.name, [ids], out.name, None, {"table": q.reshape(rows, row)}, attrs, 0))


def is_embedding(low, n: Node) -> bool:
    """Whether Gather ``n`` looks rows of a constant table up by an index input."""
    return (len(n.inputs) > 1 and low.g.is_const(n.inputs[0]) and n.inputs[1] in low.g.index_inputs)


def gather(low, n: Node) -> None:
    """Gather: an embedding lookup by token ids, else data movement (rules_movement)."""
    (embedding if is_embedding(low, n) else MOVEMENT_RULES["Gather"])(low, n)


RULES = {"Gather": gather}  # merged over rules_movement.RULES at both precisions (lower_graph.py)
