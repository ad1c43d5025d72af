"""Patch-based execution (MCUNetV2-style) of the memory-heavy first layers.

A chain of spatial layers at the start of the network (conv, depthwise, pooling, tables)
is replaced by one ``patch_segment`` op that computes the chain's output in horizontal
bands: for each band, every layer runs only on the rows that band needs (overlapping
halos are recomputed), through two small ping-pong scratch buffers. The full-size
intermediate tensors never exist, so peak RAM drops below the layer-by-layer bound; the
result is bit-identical because every output element is computed from the same inputs.

Stage position: quantize -> (patches) -> plan -> emit; QModel -> QModel.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import List, Optional, Sequence, Tuple

from ..errors import ConfigError
from ..qmodel import QModel, QOp

_SPATIAL = {"conv", "depthwise_conv", "max_pool", "avg_pool", "lut"}


def _geometry(op: QOp) -> Tuple[int, int, int, int]:
    """(kernel_h_effective, stride_h, pad_top) of a spatial op; lut is 1, 1, 0."""
    p = op.params
    if op.kind in ("conv", "depthwise_conv"):
        kh = op.attrs["filter_dims"][1]
        return (kh - 1) * p.dilation_h + 1, p.stride_h, p.pad_top
    if op.kind in ("max_pool", "avg_pool"):
        return p.kernel_h, p.stride_h, p.pad_top
    return 1, 1, 0


def _chain(model: QModel) -> List[int]:
    """Indices of the longest patchable chain of ops starting at the model input."""
    consumers = {}
    for i, op in enumerate(model.ops):
        for t in op.inputs:
            consumers.setdefault(t, []).append(i)
    start_tensor = model.input
    i = 0
    # Leading views of the input (e.g. NCHW -> NHWC with one channel) alias the input buffer.
    while i < len(model.ops) and model.ops[i].kind == "reshape" and model.ops[i].inputs == [start_tensor]:
        start_tensor = model.ops[i].output
        i += 1
    chain: List[int] = []
    t = start_tensor
    while i < len(model.ops):
        op = model.ops[i]
        shape = model.tensors[op.output].shape
        if op.kind not in _SPATIAL or op.inputs != [t] or len(shape) != 4 or len(model.tensors[t].shape) != 4:
            break
        if op.kind == "avg_pool" and op.params.count_include_pad:
            break
        if len(consumers.get(t, [])) != 1 and chain:
            break
        chain.append(i)
        if len(consumers.get(op.output, [])) != 1 or op.output in model.outputs:
            break
        t = op.output
        i += 1
    return chain


def _bands(out_h: int, n: int) -> List[Tuple[int, int]]:
    n = max(1, min(n, out_h))
    edges = [round(k * out_h / n) for k in range(n + 1)]
    return [(edges[k], edges[k + 1]) for k in range(n)]


def band_rows(model: QModel, ops: Sequence[QOp], rows: Tuple[int, int]) -> List[Tuple[Tuple[int, int], Tuple[int, int]]]:
    """For one band of the last op's output rows: per op, (input rows, output rows)."""
    out = []
    o0, o1 = rows
    for op in reversed(ops):
        h_in = model.tensors[op.inputs[0]].shape[1]
        k, s, p = _geometry(op)
        i0 = max(0, o0 * s - p)
        i1 = min(h_in, (o1 - 1) * s - p + k)
        out.append(((i0, i1), (o0, o1)))
        o0, o1 = i0, i1
    return list(reversed(out))


def _row_bytes(model: QModel, tensor: str) -> int:
    _, _, w, c = model.tensors[tensor].shape
    return w * c


def patch_segment(model: QModel, chain: List[int], n_bands: int) -> QModel:
    """Replace ops[chain] by one patch_segment op computed in ``n_bands`` bands."""
    subs = [model.ops[i] for i in chain]
    last = subs[-1]
    bands = _bands(model.tensors[last.output].shape[1], n_bands)
    plans = [band_rows(model, subs, b) for b in bands]
    scratch = 0
    macs = 0
    for plan in plans:
        for j, (op, (_, (o0, o1))) in enumerate(zip(subs, plan)):
            rows = o1 - o0
            if j < len(subs) - 1:
                scratch = max(scratch, rows * _row_bytes(model, op.output))
            full_h = model.tensors[op.output].shape[1]
            macs += op.macs * rows // full_h
    seg = QOp("patch_segment", f"patches({subs[0].name} .. {last.name})", [subs[0].inputs[0]], last.output,
              None, {}, {"ops": subs, "bands": plans, "scratch_bytes": 2 * ((scratch + 3) // 4 * 4),
                         "band_scratch": (scratch + 3) // 4 * 4, "macs_executed": macs},
              sum(op.macs for op in subs))
    new = copy.copy(model)
    new.ops = model.ops[:chain[0]] + [seg] + model.ops[chain[-1] + 1:]
    return new


def _band_counts(model: QModel, chain: List[int], n_bands: Optional[int]) -> List[int]:
    if n_bands is not None:
        return [n_bands]
    h = model.tensors[model.ops[chain[-1]].output].shape[1]
    return sorted({n for n in (2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, h) if n <= h})


def apply_patches(model: QModel, patch_layers, n_bands: Optional[int], plan_fn, source: Optional[str] = None,
                  line: Optional[int] = None) -> Tuple[QModel, Optional[str]]:
    """Patch the first ``patch_layers`` chain ops (``"auto"``: the count with the smallest arena).

    ``n_bands`` None searches the band count too. ``plan_fn(model) -> MemoryPlan`` is the memory
    planner (passed in to keep stages decoupled). ``source``/``line``: the config file and the line
    of its ``execution.patch_layers`` key, for errors. Returns the model and a note for the report.
    """
    where = dict(file=source, key="execution.patch_layers", line=line)
    chain = _chain(model)
    if len(chain) < 2:
        if patch_layers == "auto":
            return model, "patch-based execution: no chain of 2+ spatial layers at the input; not applied"
        raise ConfigError(f"the model starts with {len(chain)} patchable spatial layer(s); patch-based "
                          "execution needs a chain of at least 2 (conv, depthwise, pooling)", **where)
    base = plan_fn(model).arena_size
    if patch_layers == "auto":
        best = (base, None)
        for n in range(2, len(chain) + 1):
            for bands in _band_counts(model, chain[:n], n_bands):
                cand = patch_segment(model, chain[:n], bands)
                a = plan_fn(cand).arena_size
                if a < best[0]:
                    best = (a, cand)
        if best[1] is None:
            return model, f"patch-based execution: no saving over the layer-by-layer arena ({base} B); not applied"
        patched = best[1]
    else:
        if patch_layers > len(chain):
            raise ConfigError(f"patch_layers is {patch_layers}, but only the first {len(chain)} layers of the model "
                              "form a patchable chain (conv, depthwise, pooling, element-wise tables); use at most "
                              f"{len(chain)}, or auto", **where)
        counts = _band_counts(model, chain[:patch_layers], n_bands)
        patched = min((patch_segment(model, chain[:patch_layers], b) for b in counts),
                      key=lambda m: plan_fn(m).arena_size)
    seg = next(op for op in patched.ops if op.kind == "patch_segment")
    arena = plan_fn(patched).arena_size
    overhead = seg.attrs["macs_executed"] / max(1, seg.macs) - 1
    note = (f"patch-based execution of the first {len(seg.attrs['ops'])} layers in {len(seg.attrs['bands'])} "
            f"bands: arena {arena} B instead of {base} B; {seg.attrs['macs_executed'] - seg.macs} extra MACs "
            f"(+{overhead:.1%} in those layers) for recomputed halos")
    patched.notes = list(model.notes) + [note]
    return patched, note


def band_op(op: QOp, in_rows: Tuple[int, int], out_rows: Tuple[int, int], model: QModel):
    """(params, input shape, output shape) of ``op`` restricted to one band."""
    _, s, p = _geometry(op)
    in_shape = list(model.tensors[op.inputs[0]].shape)
    out_shape = list(model.tensors[op.output].shape)
    in_shape[1] = in_rows[1] - in_rows[0]
    out_shape[1] = out_rows[1] - out_rows[0]
    params = op.params
    if op.kind != "lut":
        params = replace(params, pad_top=in_rows[0] - out_rows[0] * s + p)
    return params, tuple(in_shape), tuple(out_shape)
