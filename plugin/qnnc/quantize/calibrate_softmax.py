"""The low end of a Softmax input's range: attention masks.

Exporters mask attention scores before the Softmax by adding -1e4, -1e9 or the float32 minimum
(or by a Where with such a fill). Min-max calibration then spans the fill value, so the int8
input of the Softmax has a step of tens or more and every real score lands on one or two codes:
the output is near-uniform. A Softmax input more than D below its row's maximum contributes
less than e^-D of that maximum's term, so with D = ln(512 * N) for a row of N values everything
below ``row max - D`` adds under half an output step (1/256) together. The range of a tensor
that only Softmaxes read therefore needs to reach no lower than the smallest row maximum seen in
calibration minus D; the masked values clamp to that floor, which is as good as -inf for the
Softmax. Only ranges at least four times wider than that are floored: a mask's fill is orders
of magnitude beyond, while a classifier's logits keep the range they have. The floors are fixed
ranges for every calibration method (the automatic search judges its candidates with them).
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np

from ..frontend.data import Samples, sample_count, take
from ..frontend.float_runner import FloatRunner

#: The output step a Softmax's int8 result keeps (TFLite's 1/256) and the share of it all the
#: values below the floor may add together.
_OUTPUT_STEP = 1.0 / 256
_BUDGET = 0.5
#: How many times wider than the floored range the calibrated one must be to be floored.
_GAIN = 4.0


def negligible_depth(row: int) -> float:
    """D: how far below its row's maximum a Softmax input adds under half an output step, for
    ``row`` values in the row all that low."""
    return math.log(row / (_BUDGET * _OUTPUT_STEP))


def softmax_floors(model_path: str, xs: Samples, pins, screen: int = 8) -> Dict[str, Tuple[float, float]]:
    """{ONNX tensor: (low end, high end)} for the Softmax inputs whose values reach further below
    their rows' maxima than the rows need (see the module docstring); empty for most models. The
    first ``screen`` samples decide whether a tensor is such (a mask shows in every sample that
    has one); only then does the rest of the set run, for those tensors."""
    runner = FloatRunner(model_path, pins, all_tensors=True)
    candidates = _softmax_inputs(runner)
    if not candidates:
        return {}
    stats: Dict[str, List[float]] = {}  # tensor -> [lowest value, highest value, lowest row maximum, depth]
    n = sample_count(xs)

    def measure(outs, names) -> None:
        for name in names:
            v = outs[name]
            axis = candidates[name] % max(v.ndim, 1)
            row = int(v.shape[axis]) if v.ndim else 1
            s = stats.setdefault(name, [math.inf, -math.inf, math.inf, negligible_depth(max(row, 2))])
            s[0], s[1] = min(s[0], float(v.min())), max(s[1], float(v.max()))
            s[2] = min(s[2], float(np.max(v, axis=axis).min()) if v.ndim else float(v))

    for outs in runner.iterate(take(xs, slice(0, min(screen, n)))):
        measure(outs, [c for c in candidates if c in outs])
    masked = [k for k, (lo, hi, low_max, depth) in stats.items() if _masked(lo, hi, low_max - depth)]
    if masked and n > screen:
        for outs in runner.iterate(take(xs, slice(screen, n))):
            measure(outs, masked)
    floors = {k: (stats[k][2] - stats[k][3], stats[k][1]) for k in masked}
    return {k: r for k, r in floors.items() if _masked(stats[k][0], r[1], r[0])}


def _masked(lo: float, hi: float, floor: float) -> bool:
    """Whether values reach so far below the floor that it gains the Softmax input at least two
    bits (a mask's fill: -1e4 and beyond); a classifier's spread-out logits keep their range."""
    return floor < hi and hi - lo > _GAIN * (hi - floor)


def _softmax_inputs(runner: FloatRunner) -> Dict[str, int]:
    """{tensor: Softmax axis} of the tensors only Softmaxes read (not a graph output)."""
    readers: Dict[str, List] = {}
    for n in runner.nodes:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    out = {}
    for name, ns in readers.items():
        if name in runner.model_outputs or not all(n.op_type == "Softmax" and n.domain in ("", "ai.onnx") for n in ns):
            continue
        # (-1: opset 13's default; before 13 the default 1 is the last axis of the 2-D inputs the
        # rewrite of frontend/decompose.py leaves)
        axes = {next((a.i for a in n.attribute if a.name == "axis"), -1) for n in ns}
        if len(axes) == 1:
            out[name] = axes.pop()
    return out
