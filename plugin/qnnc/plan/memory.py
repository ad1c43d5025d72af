"""Stage 5 - memory plan: tensor lifetimes and one static arena with offset reuse.

Views (reshapes) share their source's buffer; element-wise ops whose input dies at that
op write in place. Buffers are placed greedily by size (largest first, lowest offset that
does not collide with any time-overlapping buffer), which reaches the live-set lower bound
on chain-like networks.

Kernel scratch (the SIMD paths' working memory, see kernel_scratch.py) is placed afterwards,
over the tensor layout above: each layer's scratch goes into the lowest gap free during that
layer, so tensor offsets do not depend on it and the generated code can offer two arena sizes,
``arena_size`` (portable kernels) and ``simd_arena_size`` (targets with DSP/Helium paths). The
portable conv's im2col columns (convs with few input channels) use a gap inside ``arena_size``
where there is one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from .kernel_scratch import op_portable_scratch_bytes, op_scratch_bytes, recurrent_scratch_bytes
from ..qmodel import QModel

ALIGN = 4
# Kernels that may write their output over an input of the same size (they read each
# element before writing the same index).
_IN_PLACE = {"lut", "add", "mul"}


@dataclass
class Buffer:
    """One arena region; several tensors (views, in-place chains) may share it."""

    id: int
    size: int
    first: int  # op index that writes it first (-1 = graph input, copied in before op 0)
    last: int   # op index that reads it last (len(ops) = the copy-out of the output)
    tensors: List[str] = field(default_factory=list)
    offset: int = 0
    external: bool = False  # lives in the caller's memory (the input, when not copied into the arena)


@dataclass
class MemoryPlan:
    """Where every activation tensor lives in the arena."""

    arena_size: int
    lower_bound: int
    buffers: List[Buffer]
    tensor_buffer: Dict[str, int]
    # op index -> (offset, bytes) of its kernel scratch; valid only within simd_arena_size
    kernel_scratch: Dict[int, Tuple[int, int]] = field(default_factory=dict)
    simd_arena_size: int = 0
    # op index -> (offset, bytes) of the kernel scratch of targets without SIMD paths (the
    # portable conv's im2col columns), only where it fits inside arena_size
    portable_scratch: Dict[int, Tuple[int, int]] = field(default_factory=dict)

    def offset(self, tensor: str) -> int:
        return self.buffers[self.tensor_buffer[tensor]].offset

    def live_bytes(self, step: int) -> int:
        return sum(b.size for b in self.buffers if b.first <= step <= b.last and not b.external)

    def is_external(self, tensor: str) -> bool:
        return self.buffers[self.tensor_buffer[tensor]].external

    @property
    def external_input(self) -> bool:
        return any(b.external for b in self.buffers)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(model: QModel, external_input: bool = False) -> MemoryPlan:
    """Assign arena offsets to every activation tensor of the model.

    With ``external_input`` the kernels read the input (and its views) from the caller's buffer,
    so it takes no arena space.
    """
    ops = model.ops
    n_ops = len(ops)
    buf_of: Dict[str, int] = {}
    buffers: List[Buffer] = []

    def new_buffer(tensor: str, step: int) -> None:
        b = Buffer(len(buffers), model.tensors[tensor].nbytes, step, step, [tensor])  # bytes (int16: 2/elem)
        buffers.append(b)
        buf_of[tensor] = b.id

    last_use: Dict[str, int] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            last_use[t] = i
    for t in model.outputs:
        last_use[t] = n_ops

    for t in model.inputs:
        new_buffer(t, -1)
        buffers[-1].external = external_input
    for i, op in enumerate(ops):
        for t in op.inputs:
            b = buffers[buf_of[t]]
            b.last = max(b.last, i)
        if op.kind == "reshape":
            b = buffers[buf_of[op.inputs[0]]]
            b.tensors.append(op.output)
            buf_of[op.output] = b.id
            continue
        reused = False
        if op.kind in _IN_PLACE:
            out_size = model.tensors[op.output].nbytes
            for t in op.inputs:
                b = buffers[buf_of[t]]
                # Safe only when nothing reads this buffer after this op (any alias of it).
                if b.size == out_size and all(last_use.get(x, -1) <= i for x in b.tensors) \
                        and not set(model.outputs) & set(b.tensors) and not set(model.inputs) & set(b.tensors):
                    b.tensors.append(op.output)
                    buf_of[op.output] = b.id
                    reused = True
                    break
        if not reused:
            new_buffer(op.output, i)
        scratch_bytes = op.attrs.get("scratch_bytes") or recurrent_scratch_bytes(op)
        if scratch_bytes:
            # Working memory of this op only (e.g. patch bands): counted in the arena, live at step i.
            scratch = f"{op.output}#scratch"
            buffers.append(Buffer(len(buffers), scratch_bytes, i, i, [scratch]))
            buf_of[scratch] = buffers[-1].id
    for b in buffers:
        for t in b.tensors:
            b.last = max(b.last, last_use.get(t, b.first))
    for t in model.outputs:
        buffers[buf_of[t]].last = n_ops

    steps = range(-1, n_ops + 1)
    internal = [b for b in buffers if not b.external]
    lower_bound = max(sum(b.size for b in internal if b.first <= s <= b.last) for s in steps)

    best = None
    for order in _ORDERS:
        for fit in ("first", "best"):
            offsets = _place(internal, order, fit)
            size = max((_align(offsets[b.id] + b.size) for b in internal), default=0)
            if best is None or size < best[0]:
                best = (size, offsets)
            if best[0] <= lower_bound:
                break
        if best[0] <= lower_bound:
            break
    for b in internal:
        b.offset = best[1][b.id]
    arena = max((_align(b.offset + b.size) for b in internal), default=0)
    kernel_scratch = _place_kernel_scratch(model, internal)
    simd_arena = max([arena] + [_align(o + n) for o, n in kernel_scratch.values()])
    portable = _place_portable_scratch(model, internal, arena)
    return MemoryPlan(arena, lower_bound, buffers, buf_of, kernel_scratch, simd_arena, portable)


def _place_kernel_scratch(model: QModel, placed: List[Buffer]) -> Dict[int, Tuple[int, int]]:
    """(offset, bytes) of each op's kernel scratch: the lowest gap among buffers live at that op."""
    out: Dict[int, Tuple[int, int]] = {}
    for i, op in enumerate(model.ops):
        need = op_scratch_bytes(op, model)
        if need:
            out[i] = (_lowest_gap(placed, i, need), need)
    return out


def _lowest_gap(placed: List[Buffer], i: int, need: int) -> int:
    """The lowest offset with `need` bytes free of the buffers live at op i."""
    busy = sorted((b.offset, b.offset + _align(b.size)) for b in placed if b.first <= i <= b.last)
    cursor = 0
    for lo, hi in busy:
        if lo - cursor >= need:
            break
        cursor = max(cursor, hi)
    return cursor


def _place_portable_scratch(model: QModel, placed: List[Buffer], arena: int) -> Dict[int, Tuple[int, int]]:
    """(offset, bytes) of the scratch portable kernels use (the im2col columns of convs with few
    input channels) where a gap inside the arena holds it: the arena of targets without SIMD paths
    never grows for speed; a layer without such a gap runs the direct portable path."""
    out: Dict[int, Tuple[int, int]] = {}
    for i, op in enumerate(model.ops):
        need = op_portable_scratch_bytes(op, model)
        if need:
            at = _lowest_gap(placed, i, need)
            if at + need <= arena:
                out[i] = (at, need)
    return out


# Orders in which buffers are placed; the best resulting arena wins.
_ORDERS = (
    lambda b: (-b.size, b.first, b.id),                       # greedy by size (TFLite's default)
    lambda b: (-b.size * (b.last - b.first + 1), b.id),       # by area in the time/space plane
    lambda b: (b.first, -b.size, b.id),                       # in execution order
    lambda b: (-(b.last - b.first), -b.size, b.id),           # longest-lived first
)


def _place(buffers: List[Buffer], order, fit: str) -> Dict[int, int]:
    """Offsets for every buffer: each at the lowest (first fit) or tightest (best fit) free gap."""
    offsets: Dict[int, int] = {}
    placed: List[Buffer] = []
    for b in sorted(buffers, key=order):
        conflicts = sorted((offsets[p.id], offsets[p.id] + _align(p.size)) for p in placed
                           if not (p.last < b.first or b.last < p.first))
        gaps = []
        cursor = 0
        for lo, hi in conflicts:
            if lo - cursor >= b.size:
                gaps.append((lo - cursor, cursor))
            cursor = max(cursor, hi)
        gaps.append((float("inf"), cursor))  # above everything
        offsets[b.id] = min(gaps)[1] if fit == "best" else min(g[1] for g in gaps)
        placed.append(b)
    return offsets


def io_bound(model: QModel) -> int:
    """Largest (non-constant inputs + output) bytes over ops: the per-operator bound TFLM reports."""
    best = model.input_tensor.nbytes
    for op in model.ops:
        if op.kind == "reshape":
            continue
        best = max(best, sum(model.tensors[t].nbytes for t in set(op.inputs)) + model.tensors[op.output].nbytes)
    return best


def lifetimes(plan: MemoryPlan) -> List[Tuple[str, int, int, int, int]]:
    """(tensors, offset, size, first, last) per buffer, for reports."""
    return [(",".join(b.tensors), b.offset, b.size, b.first, b.last) for b in plan.buffers]
