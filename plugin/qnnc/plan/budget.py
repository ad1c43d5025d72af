"""RAM and flash budgets: fail the build, naming the largest consumers and what would help.

``where`` names the setting the user wrote (a YAML key with file:line, a CLI flag, a Kconfig
symbol or a platformio.ini key); the caller knows which.
"""
from __future__ import annotations

from typing import List, Optional

from ..errors import QnncError
from .memory import MemoryPlan
from ..qmodel import QModel


class BudgetError(QnncError):
    """The model does not fit the configured RAM or flash budget."""


def _peak_step(plan: MemoryPlan) -> int:
    steps = range(-1, max(b.last for b in plan.buffers) + 1)
    return max(steps, key=plan.live_bytes)


def check_ram(model: QModel, plan: MemoryPlan, budget: Optional[int], where: str) -> None:
    """Raise when the arena is larger than ``budget`` bytes."""
    if budget is None or plan.arena_size <= budget:
        return
    step = _peak_step(plan)
    live = sorted((b for b in plan.buffers if b.first <= step <= b.last), key=lambda b: -b.size)
    layer = model.ops[step] if 0 <= step < len(model.ops) else None
    at = f"layer {step} ({layer.kind} '{layer.name}')" if layer else "the model input"
    parts = [f"{b.tensors[-1]} {b.size} B" for b in live[:4]]
    at_bound = plan.arena_size <= plan.lower_bound
    raise BudgetError(
        f"RAM budget exceeded: the arena needs {plan.arena_size} B but {where} allows {budget} B. "
        f"The peak is at {at}, where {', '.join(parts)} are live at once"
        + (" (the arena already equals that lower bound)." if at_bound else
           f" (lower bound {plan.lower_bound} B).")
        + " What would help: fewer channels or a smaller input resolution in the layers around the peak, "
          "an earlier stride or pooling, or splitting the model.")


def check_flash(model: QModel, budget: Optional[int], where: str) -> None:
    """Raise when the constant data (weights, tables) is larger than ``budget`` bytes."""
    total = model.weight_bytes
    if budget is None or total <= budget:
        return
    layers = sorted(enumerate(model.ops), key=lambda io: -io[1].weight_bytes)[:4]
    parts = [f"layer {i} {op.kind} '{op.name}' {op.weight_bytes} B" for i, op in layers if op.weight_bytes]
    per_channel = sum(op.consts[k].nbytes for op in model.ops for k in ("multiplier", "shift") if k in op.consts)
    hints: List[str] = ["pruning or narrowing the largest layers"]
    if per_channel > 8 * len(model.ops):
        hints.append(f"per_tensor weights (quantization.weights) save up to {per_channel} B of per-channel "
                     "requantization tables at some accuracy cost")
    raise BudgetError(
        f"flash budget exceeded: weights and tables need {total} B but {where} allows {budget} B "
        f"(kernel code comes on top). Largest: {'; '.join(parts)}. What would help: " + ", or ".join(hints) + ".")
