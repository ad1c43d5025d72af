"""Stage 4, memory plan: :class:`~qnnc.qmodel.QModel` -> :class:`~.memory.MemoryPlan`.

Input: the QModel (optionally rewritten by ``patches.apply_patches`` to run its first layers band
by band). Output: the MemoryPlan: every activation buffer's offset in one arena, its lifetime,
the kernels' SIMD scratch (kernel_scratch), and the arena's lower bound. ``budget`` checks the
result against the RAM and flash budgets.
"""
from .memory import Buffer, MemoryPlan, plan_memory

__all__ = ["Buffer", "MemoryPlan", "plan_memory"]
