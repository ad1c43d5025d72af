"""Stage 3, quantize: passed float Graph -> :class:`~qnnc.qmodel.QModel`.

Input: the passed, NHWC :class:`~qnnc.ir.Graph`, calibrated ranges (``calibrate.collect``: float
runs of the ONNX model on the calibration data) and a :class:`~.precision.PrecisionPlan` (per
layer: weight bits, activation bits, rounding; ``precision.make_plan``, optionally refined by
``auto_precision``). Output: a QModel, integer ops with their constants and kernel parameters.

Modules: calibrate (ranges), precision (the plan), auto_precision (the search), lowering (one
lowering that reads the plan), rules_s8 / rules_s16 (per-precision rules), int4 / weights /
bias_correction / qparams / fixedpoint (the arithmetic the rules share).
"""
from .lower_graph import quantize
from .precision import LayerPrecision, PrecisionPlan

__all__ = ["quantize", "LayerPrecision", "PrecisionPlan"]
