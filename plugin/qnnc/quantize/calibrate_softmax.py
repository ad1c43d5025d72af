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
from ..frontend.softmax_inputs import softmax_feeds

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
    their rows' maxima than the rows need (see the module docstring), and for the tensors before
    them that only feed them through views (an Identity, a Reshape: the same values); empty for
    most models. The first ``screen`` samples decide whether a tensor is such (a mask shows in
    every sample that has one); only then does the rest of the set run, for those tensors."""
    runner = FloatRunner(model_path, pins, all_tensors=True)
    feeds = list(softmax_feeds(runner.nodes, runner.model_outputs).values())
    if not feeds:
        return {}
    stats: Dict[str, List[float]] = {}  # softmax input -> [lowest value, highest value, lowest row maximum, depth]
    n = sample_count(xs)

    def measure(outs, chosen) -> None:
        for f in chosen:
            v = outs[f.softmax_input]
            axis = f.axis % max(v.ndim, 1)
            row = int(v.shape[axis]) if v.ndim else 1
            s = stats.setdefault(f.softmax_input, [math.inf, -math.inf, math.inf, negligible_depth(max(row, 2))])
            s[0], s[1] = min(s[0], float(v.min())), max(s[1], float(v.max()))
            s[2] = min(s[2], float(np.max(v, axis=axis).min()) if v.ndim else float(v))

    for outs in runner.iterate(take(xs, slice(0, min(screen, n)))):
        measure(outs, [f for f in feeds if f.softmax_input in outs])
    masked = [f for f in feeds if f.softmax_input in stats and
              _masked(stats[f.softmax_input][0], stats[f.softmax_input][1],
                      stats[f.softmax_input][2] - stats[f.softmax_input][3])]
    if masked and n > screen:
        for outs in runner.iterate(take(xs, slice(screen, n))):
            measure(outs, masked)
    floors: Dict[str, Tuple[float, float]] = {}
    for f in masked:
        lo, hi, low_max, depth = stats[f.softmax_input]
        if _masked(lo, hi, low_max - depth):
            floors.update({t: (low_max - depth, hi) for t in f.tensors})
    return floors


def _masked(lo: float, hi: float, floor: float) -> bool:
    """Whether values reach so far below the floor that it gains the Softmax input at least two
    bits (a mask's fill: -1e4 and beyond); a classifier's spread-out logits keep their range."""
    return floor < hi and hi - lo > _GAIN * (hi - floor)
