"""x - floor(x / c) * c (how PyTorch exports torch.remainder and the % of tensors, and tf2onnx TF's
FloorMod) -> one Mod with ``fmod`` 0: at int8 one table, exact per input code, where the four ops
round three times and run four kernels; at int16 the exact quotient (quantize/rules_s16_mod.py)."""
from __future__ import annotations

from typing import Optional, Tuple

from ..ir import Graph, Node
from .canonicalize import _scalar, _single_consumer

_SAME = 1e-6  # relative: the two constants of one remainder (c, and 1/c when the Div became a Mul)


def _close(a: Optional[float], b: Optional[float]) -> bool:
    return a is not None and b is not None and b != 0.0 and abs(a - b) <= _SAME * abs(b)


def _only_from(g: Graph, tensor: str, op: str) -> Optional[Node]:
    """The producer of ``tensor`` if it is an ``op`` whose output only the next op reads."""
    p = g.producer(tensor)
    return p if p is not None and p.op == op and _single_consumer(g, tensor) else None


def _divisor(g: Graph, n: Node) -> Optional[Tuple[str, str]]:
    """(x, c) if Sub node ``n`` is x - Floor(x / c) * c (x / c a Div, or a Mul by 1 / c)."""
    x, m = n.inputs
    mul = _only_from(g, m, "Mul")
    if mul is None or g.is_const(x):
        return None
    for k in (0, 1):
        c, floor = _scalar(g, mul.inputs[1 - k]), _only_from(g, mul.inputs[k], "Floor")
        if c is None or c == 0.0 or floor is None:
            continue
        q = g.producer(floor.inputs[0])
        if q is None or not _single_consumer(g, floor.inputs[0]) or q.inputs[0] != x:
            continue
        if (q.op == "Div" and _close(_scalar(g, q.inputs[1]), c)) or \
                (q.op == "Mul" and _close(_scalar(g, q.inputs[1]), 1.0 / c)):
            return x, mul.inputs[1 - k]
    return None


def remainders(graph: Graph) -> Graph:
    """Each x - Floor(x / c) * c of a constant scalar c as Mod(x, c) with fmod 0 (then a unary Mod,
    canonicalize.elementwise_ops)."""
    g = graph.copy()
    for n in g.nodes:
        found = _divisor(g, n) if n.op == "Sub" and len(n.inputs) == 2 else None
        if found is not None:
            n.op, n.inputs, n.attrs = "Mod", list(found), {"fmod": 0}
    g.remove_unused()  # the Div / Floor / Mul nobody reads any more
    return g
