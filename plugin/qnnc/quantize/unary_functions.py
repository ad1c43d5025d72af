"""Float definitions of the element-wise ops qnnc lowers to tables, and the constants of the
element-wise kernels (PRelu's per-channel alpha, LogSoftmax's tables).

Every unary op becomes a 256-entry int8 look-up table (``lut`` kind, ``qnnc_lut_s8``): the table
holds ``f(dequantized input)`` quantized to the output parameters, so any float function is exact
up to the output rounding. :data:`FUNCTIONS` maps an op type (after the passes) to a builder
``attrs -> numpy function``; :data:`FIXED_OUTPUT` gives the ops with a known output range a fixed
scale (as TFLite does for Sigmoid and Tanh); the others use the calibrated output range.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Tuple

import numpy as np

Fn = Callable[[np.ndarray], np.ndarray]

_SELU_ALPHA = 1.67326319217681884765625
_SELU_GAMMA = 1.05070102214813232421875
_TINY = 1e-30

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _clip(a) -> Fn:
    return lambda x: np.clip(x, a["min"], a["max"])


def _leaky(a) -> Fn:
    alpha = float(a.get("alpha", 0.01))
    return lambda x: np.where(x >= 0, x, alpha * x)


def _hard_sigmoid(a) -> Fn:
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    return lambda x: np.clip(alpha * x + beta, 0.0, 1.0)


def _hard_swish(a) -> Fn:
    """x * HardSigmoid(x): ONNX HardSwish (alpha 1/6, beta 0.5), or the x * HardSigmoid(x, alpha, beta)
    of opset-13 exports (fused by passes/canonicalize.elementwise_ops)."""
    alpha, beta = float(a.get("alpha", 1.0 / 6.0)), float(a.get("beta", 0.5))
    return lambda x: x * np.clip(alpha * x + beta, 0.0, 1.0)


def _elu(a) -> Fn:
    alpha = float(a.get("alpha", 1.0))
    return lambda x: np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _selu(a) -> Fn:
    alpha, gamma = float(a.get("alpha", _SELU_ALPHA)), float(a.get("gamma", _SELU_GAMMA))
    return lambda x: gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _celu(a) -> Fn:
    alpha = float(a.get("alpha", 1.0))
    return lambda x: np.maximum(x, 0.0) + np.minimum(0.0, alpha * np.expm1(np.minimum(x, 0.0) / alpha))


def _gelu(a) -> Fn:
    if a.get("approximate", "none") == "tanh":
        k = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + np.tanh(k * (x + 0.044715 * x ** 3)))
    return lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _pow(a) -> Fn:
    """Pow with a constant scalar exponent (``exponent``) or a constant scalar base (``base``)."""
    if "base" in a:
        base = float(a["base"])
        return lambda x: np.power(base, x)
    e = float(a["exponent"])
    if e == int(e):
        return lambda x: np.power(x, int(e)) if e >= 0 else 1.0 / np.power(x, -int(e))
    return lambda x: np.power(np.maximum(x, 0.0), e)  # outside the real domain: 0 (not NaN)


def _mod(a) -> Fn:
    """Mod with a constant scalar divisor (``divisor``) or dividend (``dividend``): fmod 1 the C
    remainder (the dividend's sign, torch.fmod), fmod 0 the floored one (the divisor's sign)."""
    f = np.fmod if int(a.get("fmod", 0)) else np.mod
    if "dividend" in a:
        c = float(a["dividend"])
        return lambda x: f(c, x)  # x == 0: NaN, which float_fn turns into 0
    d = float(a["divisor"])
    return lambda x: f(x, d)


def _reciprocal(a) -> Fn:
    """1/x, or numerator/x (Div of a constant scalar by an activation)."""
    num = float(a.get("numerator", 1.0))
    return lambda x: num / np.where(x == 0, _TINY, x)


def _thresholded_relu(a) -> Fn:
    alpha = float(a.get("alpha", 1.0))
    return lambda x: np.where(x > alpha, x, 0.0)


def _shrink(a) -> Fn:
    lambd, bias = float(a.get("lambd", 0.5)), float(a.get("bias", 0.0))
    return lambda x: np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0.0))


FUNCTIONS: Dict[str, Callable[[dict], Fn]] = {
    "Relu": lambda a: (lambda x: np.maximum(x, 0.0)),
    "Clip": _clip,
    "LeakyRelu": _leaky,
    "Sigmoid": lambda a: (lambda x: 1.0 / (1.0 + np.exp(-x))),
    "Tanh": lambda a: np.tanh,
    "HardSigmoid": _hard_sigmoid,
    "HardSwish": _hard_swish,
    "Elu": _elu,
    "Selu": _selu,
    "Celu": _celu,
    "Softplus": lambda a: (lambda x: np.logaddexp(0.0, x)),
    "Softsign": lambda a: (lambda x: x / (1.0 + np.abs(x))),
    "Erf": lambda a: _erf,
    "Gelu": _gelu,
    "Exp": lambda a: np.exp,
    "Log": lambda a: (lambda x: np.log(np.maximum(x, _TINY))),  # log(x <= 0): the most negative value
    "Sqrt": lambda a: (lambda x: np.sqrt(np.maximum(x, 0.0))),  # sqrt(x < 0): 0 (not NaN)
    "Reciprocal": _reciprocal,
    "Neg": lambda a: np.negative,
    "Abs": lambda a: np.abs,
    "Pow": _pow,
    "Mod": _mod,
    "Sin": lambda a: np.sin,
    "Cos": lambda a: np.cos,
    "Floor": lambda a: np.floor,
    "Ceil": lambda a: np.ceil,
    "Round": lambda a: np.round,  # ONNX Round: half to even, as numpy
    "Sign": lambda a: np.sign,
    "ThresholdedRelu": _thresholded_relu,
    "Shrink": _shrink,
    "Tan": lambda a: np.tan,
    "Atan": lambda a: np.arctan,
    "Asin": lambda a: (lambda x: np.arcsin(np.clip(x, -1.0, 1.0))),  # outside [-1, 1]: the nearest end
    "Acos": lambda a: (lambda x: np.arccos(np.clip(x, -1.0, 1.0))),
    "Sinh": lambda a: np.sinh,
    "Cosh": lambda a: np.cosh,
    "Asinh": lambda a: np.arcsinh,
    "Acosh": lambda a: (lambda x: np.arccosh(np.maximum(x, 1.0))),  # x < 1: 0 (not NaN)
    "Atanh": lambda a: (lambda x: np.arctanh(np.clip(x, -1.0 + 1e-7, 1.0 - 1e-7))),  # |x| >= 1: +-large
}

# Ops whose output range is known: a fixed output scale and zero point (int8).
SIGMOID_Q = (1.0 / 256.0, -128)   # [0, 1)
TANH_Q = (1.0 / 128.0, 0)         # [-1, 1)
FIXED_OUTPUT: Dict[str, Tuple[float, int]] = {
    "Sigmoid": SIGMOID_Q, "Tanh": TANH_Q, "HardSigmoid": SIGMOID_Q, "Softsign": TANH_Q, "Erf": TANH_Q,
}


def float_fn(op: str, attrs: dict) -> Fn:
    """The numpy function of a unary op (KeyError for ops that are not unary tables). Non-finite
    results (1/0, log 0, exp overflow) become +-1e30, which the table clamps to its ends."""
    fn = FUNCTIONS[op](attrs)

    def safe(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            y = np.asarray(fn(np.asarray(x, dtype=np.float64)), dtype=np.float64)
        return np.nan_to_num(y, nan=0.0, posinf=1e30, neginf=-1e30)
    return safe


def table_range(fn: Fn, scale: float, zero_point: int, lo: float, hi: float) -> Tuple[float, float]:
    """Range of ``fn`` over the int8 codes of an input (scale, zero point) whose values lie in the
    input's range [lo, hi] (half a step of slack): the output range of a table whose output was
    not calibrated (a tensor a pass made, e.g. the Reciprocal of a decomposed Div). Results of
    magnitude >= 1e30 (1/0) are left out."""
    x = (np.arange(-128, 128, dtype=np.float64) - zero_point) * scale
    x = x[(x >= lo - scale / 2) & (x <= hi + scale / 2)]
    if x.size == 0:
        x = np.array([lo, hi], np.float64)
    y = fn(x)
    y = y[np.abs(y) < 1e30]
    if y.size == 0:
        return 0.0, 0.0
    return float(y.min()), float(y.max())


def derived_range(kind: str, input_ranges, fn: Fn = None, input_q=None) -> Tuple[float, float]:
    """Float range of a tensor a pass made (no calibration range): ``kind`` says how it follows from
    the inputs' ranges: "sum" (partial sums of a decomposed Sum/Mean), "max"/"min" (partial
    results of a variadic Max/Min), "table" (``fn`` over the input's codes, see :func:`table_range`)."""
    if kind == "sum":
        return sum(r[0] for r in input_ranges), sum(r[1] for r in input_ranges)
    if kind == "max":
        return max(r[0] for r in input_ranges), max(r[1] for r in input_ranges)
    if kind == "min":
        return min(r[0] for r in input_ranges), min(r[1] for r in input_ranges)
    if kind == "table":
        (lo, hi), (scale, zp) = input_ranges[0], input_q
        return table_range(fn, scale, zp, lo, hi)
    raise ValueError(kind)


# -- PRelu ---------------------------------------------------------------------------------------

def prelu_alpha(slope: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel symmetric int8 quantization of PRelu's slope (TFLite quantizes alpha as a
    weight): (alpha_q, alpha_scale); a channel with slope 0 gets scale 1 and alpha_q 0."""
    s = np.asarray(slope, np.float64).reshape(-1)
    scale = np.where(s == 0, 1.0, np.abs(s) / 127.0)
    q = np.clip(np.sign(s) * np.floor(np.abs(s) / scale + 0.5), -127, 127).astype(np.int8)
    return q, scale


# -- LogSoftmax ----------------------------------------------------------------------------------

LOG_SOFTMAX_SCALE, LOG_SOFTMAX_ZP = 16.0 / 256.0, 127   # TFLite's int8 LogSoftmax output
LOG2_FRAC_BITS = 16
LOG2_TABLE_BITS = 8


def log2_table() -> np.ndarray:
    """log2(1 + (j + 0.5) / 256) in Q16 for the top 8 fraction bits j of a normalized sum (the
    middle of each bucket); the same numbers are a constant table in qnnc_log_softmax_s8.c."""
    j = np.arange(1 << LOG2_TABLE_BITS, dtype=np.float64)
    v = np.log2(1.0 + (j + 0.5) / (1 << LOG2_TABLE_BITS)) * (1 << LOG2_FRAC_BITS)
    return np.floor(v + 0.5).astype(np.uint16)


def log_softmax_constants(input_scale: float, cols: int, out_scale: float = LOG_SOFTMAX_SCALE):
    """(exp_bits, exp_lut, diff_multiplier, log_multiplier) of ``qnnc_log_softmax_s8``:
    exp_lut[d] = round(exp(-input_scale * d) * 2^exp_bits) (as Softmax; the row sum < 2^31),
    diff_multiplier = round(input_scale / out_scale * 2^16) (clamped to 2^30, where every d >= 1
    is far below the output range anyway), log_multiplier = round(ln 2 / out_scale * 2^16)."""
    bits = min(23, 31 - max(1, math.ceil(math.log2(cols + 1))))
    d = np.arange(256, dtype=np.float64)
    lut = np.floor(np.exp(-input_scale * d) * (1 << bits) + 0.5).astype(np.uint32)
    diff = int(min(math.floor(input_scale / out_scale * (1 << LOG2_FRAC_BITS) + 0.5), 1 << 30))
    logm = int(math.floor(math.log(2.0) / out_scale * (1 << LOG2_FRAC_BITS) + 0.5))
    return bits, lut, diff, logm


def node_derived_range(low, n) -> Tuple[float, float]:
    """The float range of node ``n``'s output, a tensor a pass made (``n.attrs["derived_range"]``
    says how, see :func:`derived_range`), from its inputs' ranges in the lowering ``low``."""
    ranges, first = [], None
    for i in n.inputs:
        if not i:
            continue
        if low.g.is_const(i):
            c = low.g.const(i).astype(np.float64)
            ranges.append((float(c.min()), float(c.max())))
        else:
            t = low.tensors[i]
            first = first or t
            ranges.append(low.value_range(t))
    kind = n.attrs["derived_range"]
    if kind == "table":
        return derived_range(kind, ranges, float_fn(n.op, n.attrs), (first.scale, first.zero_point))
    return derived_range(kind, ranges)
