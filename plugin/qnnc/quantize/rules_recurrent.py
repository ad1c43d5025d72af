"""int8 rules of ONNX LSTM and GRU: the TFLite / CMSIS-NN integer LSTM scheme (8x8_16).

Tensors and formats (one kernel call per direction runs every time step; reference/kernels_recurrent.py
defines the arithmetic bit for bit, runtime/src/qnnc_{lstm,gru}_s8.c implement it):

* input ``x`` and hidden state ``h``: int8 asymmetric per tensor. ``h``'s range is the calibrated
  range of the float output Y (onnxruntime runs the float model during calibration), merged with
  Y_h's and with the range a float numpy LSTM/GRU (below) produces on the calibration inputs.
  Every output that holds ``h`` (Y, Y_h) uses that one scale and zero point.
* weights W and R: int8 symmetric per output row (per gate channel), ``[-127, 127]``; biases int32
  in units of ``s_x * s_W[row]`` (W side) and ``s_h * s_R[row]`` (R side), with the input / hidden
  zero points folded in (``bias - zp * sum_k w[row, k]``), so the kernels sum raw int8 values.
* gate pre-activations: each side's int32 accumulator is requantized (multiplier + shift per row) to
  int16 in Q3.12 (scale 2^-12, range [-8, 8)), saturated, and the two sides added with saturation.
* sigmoid / tanh: int16 Q3.12 in, Q0.15 out (scale 2^-15), by a 513-entry int16 table with linear
  interpolation between entries (TFLite's int16 LUT); the tables are computed here in float64 and
  rounded. Interpolation error: about 0.5 LSB (sigmoid) and 3 LSB (tanh) of Q0.15.
* LSTM cell state: int16 with a power-of-two scale ``2^-cs``, ``cs = 15 - max(0, floor(log2(cmax)) + 1)``
  clipped to [0, 15], where ``cmax`` is the largest ``|c|`` a float numpy LSTM reaches on the
  calibration inputs (onnxruntime does not expose the cell state of every step). Updates
  ``c = f*c + i*g`` and ``h = o*tanh(c)`` in int32 with rounding shifts (see the reference); ``c``
  is brought to Q3.12 for the tanh (beyond +-8 tanh is saturated anyway).
* ``h`` is requantized from the Q0.30 product ``o * tanh(c)`` (GRU: ``(1 - z) * n``) with one
  multiplier ``2^-30 / s_h``. Y_c (the last cell state) is requantized to int8 at its calibrated scale.
* GRU: gates z, r as above; ``linear_before_reset=1`` keeps ``R_n h + Rb_n`` in Q3.12 and scales it by
  r; ``linear_before_reset=0`` forms ``r * h`` as int8 at h's scale and multiplies it by R_n.

Each used output (Y, Y_h, Y_c) becomes one QOp (``lstm`` / ``gru``) computing the whole sequence
and writing that output; the first holds the constants, the others name it in ``attrs["weights_of"]``
(one copy in flash). Using several outputs of one node thus recomputes the recurrence per output.

The int16-activation rule (rules_s16_recurrent.py) is :func:`lower_recurrent` with ``bits=16``.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..ir import Node
from ..kernel_params import RecurrentParams
from ..qmodel import QOp, QTensor
from .fixedpoint import quantize_multiplier, quantize_multipliers, round_half_away
from .qparams import INT32_MAX, act_qparams
from .weights import apply_scale_floor, bias_scale_floor
from . import rules_s16 as S16

GATE_FRAC = 12          # gate pre-activations: Q3.12
ACT_FRAC = 15           # sigmoid / tanh outputs: Q0.15
LUT_SIZE = 513
BIAS_MAX = 1 << 30
MAX_SIM_SAMPLES = 64    # calibration sequences the float LSTM/GRU runs for the cell range
GATES = {"LSTM": 4, "GRU": 3}
_SIM_CACHE: Dict[tuple, list] = {}


def activation_lut(fn) -> np.ndarray:
    """513 int16 entries: ``fn`` at Q3.12 inputs -8 + k/32 (k = 0..512), as Q0.15 (saturated)."""
    xs = (np.arange(LUT_SIZE, dtype=np.float64) * 128.0 - 32768.0) / (1 << GATE_FRAC)
    y = fn(xs) * (1 << ACT_FRAC)
    return np.clip(np.sign(y) * np.floor(np.abs(y) + 0.5), -32768, 32767).astype(np.int16)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


SIGMOID_LUT = activation_lut(_sigmoid)
TANH_LUT = activation_lut(np.tanh)


# -- float models (ONNX semantics, default activations) ------------------------------------------
def float_lstm(x, W, R, Wb, Rb, h0, c0, reverse: bool):
    """x [T, D] -> (h [T, H], c [T, H]) for one direction (gate order i, o, f, c)."""
    H = R.shape[1]
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    hs, cs = np.zeros((len(x), H)), np.zeros((len(x), H))
    for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
        g = W @ x[t] + R @ h + Wb + Rb
        i, o, f, gg = _sigmoid(g[:H]), _sigmoid(g[H:2 * H]), _sigmoid(g[2 * H:3 * H]), np.tanh(g[3 * H:])
        c = f * c + i * gg
        h = o * np.tanh(c)
        hs[t], cs[t] = h, c
    return hs, cs


def float_gru(x, W, R, Wb, Rb, h0, lbr: int, reverse: bool):
    """x [T, D] -> h [T, H] for one direction (gate order z, r, h)."""
    H = R.shape[1]
    h = h0.astype(np.float64)
    hs = np.zeros((len(x), H))
    for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
        a = W @ x[t] + Wb
        z = _sigmoid(a[:H] + R[:H] @ h + Rb[:H])
        r = _sigmoid(a[H:2 * H] + R[H:2 * H] @ h + Rb[H:2 * H])
        if lbr:
            n = np.tanh(a[2 * H:] + r * (R[2 * H:] @ h + Rb[2 * H:]))
        else:
            n = np.tanh(a[2 * H:] + R[2 * H:] @ (r * h) + Rb[2 * H:])
        h = (1 - z) * n + z * h
        hs[t] = h
    return hs


def _stamp(path: str):
    import os
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return None


def _digest(xs) -> str:
    import hashlib
    h = hashlib.sha1()
    for k in sorted(xs) if isinstance(xs, dict) else [None]:
        v = np.ascontiguousarray(xs[k] if k is not None else xs)
        h.update(repr((k, v.shape, str(v.dtype))).encode())
        h.update(v.tobytes())
    return h.hexdigest()


def _input_sequences(low, n: Node, T: int, D: int) -> Tuple[List[np.ndarray], Optional[tuple]]:
    """Float values of the node's input X on the calibration inputs ([T, D] each), and the key they
    are cached under when they are the real ones (``low.calibration_inputs`` set by the pipeline);
    None with a stand-in (uniform over X's calibrated range) when the lowering runs without
    calibration inputs."""
    cal = getattr(low, "calibration_inputs", None)
    xname = low.g.original_name(n.inputs[0])
    if cal is not None:
        xs, pins = cal
        key = (low.g.source, _stamp(low.g.source), _digest(xs), xname)
        if key not in _SIM_CACHE:
            from ..frontend.data import sample_count, take
            from ..frontend.float_runner import FloatRunner
            runner = FloatRunner(low.g.source, pins, all_tensors=True)
            seqs = []
            for i in range(min(sample_count(xs), MAX_SIM_SAMPLES)):
                sample = take(xs, slice(i, i + 1))
                outs = runner.run(sample)
                v = outs.get(xname)
                if v is None:
                    v = runner.feed(sample).get(xname)
                if v is None or v.size != T * D:
                    seqs = None
                    break
                seqs.append(np.asarray(v, np.float64).reshape(T, D))
            _SIM_CACHE.clear()  # one model at a time
            _SIM_CACHE[key] = seqs
        if _SIM_CACHE[key] is not None:
            return _SIM_CACHE[key], key
    lo, hi = low.value_range(low.tensors[n.inputs[0]])
    rng = np.random.default_rng(0)
    return [rng.uniform(lo, hi, (T, D)) for _ in range(16)], None


_RANGE_CACHE: Dict[tuple, Tuple[float, float, float]] = {}
_RANGE_CACHE_SIZE = 16


def _simulated_ranges(seqs, key, op: str, W, R, B, h0, c0, lbr: int, reverse) -> Tuple[float, float, float]:
    """(min h, max h, max |c|) of the float recurrence over the sequences, every direction. The same
    node on the same real inputs gives the same figures, so they are kept (``key``: the inputs'
    cache key) for the lowerings that follow (calibration.method auto quantizes a model several
    times; the simulation dominated its build time on recurrent models)."""
    G = GATES[op]
    H = R.shape[2]
    full = None if key is None else (key, op, lbr, tuple(reverse),
                                     _digest({"W": W, "R": R, "B": B, "h0": h0, "c0": c0}))
    if full is not None and full in _RANGE_CACHE:
        return _RANGE_CACHE[full]
    hlo = hhi = 0.0
    cmax = float(np.abs(c0).max(initial=0.0))
    for s in seqs:
        for d in range(W.shape[0]):
            Wb, Rb = B[d, :G * H], B[d, G * H:]
            if op == "LSTM":
                hs, cs = float_lstm(s, W[d], R[d], Wb, Rb, h0[d], c0[d], bool(reverse[d]))
                cmax = max(cmax, float(np.abs(cs).max()))
            else:
                hs = float_gru(s, W[d], R[d], Wb, Rb, h0[d], lbr, bool(reverse[d]))
            hlo, hhi = min(hlo, float(hs.min())), max(hhi, float(hs.max()))
    if full is not None:
        if len(_RANGE_CACHE) >= _RANGE_CACHE_SIZE:
            _RANGE_CACHE.pop(next(iter(_RANGE_CACHE)))
        _RANGE_CACHE[full] = (hlo, hhi, cmax)
    return hlo, hhi, cmax


# -- the rules ------------------------------------------------------------------------------------
def _used(low, name: str) -> bool:
    return bool(name) and (bool(low.g.consumers(name)) or name in low.g.outputs)


def _range(low, name: str) -> Optional[Tuple[float, float]]:
    if not name:
        return None
    r = low.ranges.get(low.g.original_name(name))
    return (float(r[0]), float(r[1])) if r is not None and all(map(math.isfinite, r)) else None


def _state(low, n: Node, k: int, dirs: int, H: int) -> np.ndarray:
    if len(n.inputs) > k and n.inputs[k]:
        return low.g.const(n.inputs[k]).astype(np.float64).reshape(dirs, H)
    return np.zeros((dirs, H))


def _side(low, n: Node, w: np.ndarray, b: np.ndarray, scale: float, zp: int, what: str, bits: int = 8):
    """int8 per-row weights, int32 bias (zero point folded in) and Q3.12 multipliers of one side.
    ``bits=16`` (int16 inputs, zero point 0): the accumulator is int64 (checked against the 16x8
    requantization's 2^47) and the multipliers are the 16x8 scheme's (shift range [-46, 14])."""
    wq, ws = low.weights(w)
    wq, ws = apply_scale_floor(w, wq, ws, bias_scale_floor(b, scale, BIAS_MAX), 127)
    wq = wq.astype(np.int64).reshape(w.shape)
    bq = np.sign(b) * np.floor(np.abs(b.astype(np.float64)) / (scale * ws) + 0.5)
    bias = bq.astype(np.int64) - zp * wq.sum(axis=1)
    if bits == 16:
        worst = np.abs(wq).sum(axis=1) * 32768 + np.abs(bias)
        if worst.max() >= S16.ACC_LIMIT or np.abs(bias).max(initial=0) > INT32_MAX:
            row = int(np.argmax(worst))
            raise low.err(n, f"{what} row {row}: the int64 accumulator could exceed 2^47, the limit of the 16x8 "
                             f"requantization (|bias| {abs(int(bias[row]))} + sum |w| x 32768 = {int(worst[row])})")
    else:
        worst = np.abs(wq).sum(axis=1) * 128 + np.abs(bias)
        if worst.max() > INT32_MAX:
            row = int(np.argmax(worst))
            raise low.err(n, f"{what} row {row}: the int32 accumulator could overflow (|bias| {abs(int(bias[row]))} + "
                             f"sum |w| x 128 = {int(worst[row])} > 2^31 - 1)")
    try:
        mult, shift = quantize_multipliers(scale * ws * (1 << GATE_FRAC))
    except ValueError as e:
        raise low.err(n, f"{what}: {e}") from None
    if bits == 16:
        tiny = shift < -46  # the product rounds to 0 anyway
        mult, shift = np.where(tiny, 0, mult).astype(np.int32), np.where(tiny, 0, shift).astype(np.int32)
        if shift.max(initial=0) > 14:
            raise low.err(n, f"{what}: gate multiplier too large for the 16x8 scheme (2^{int(shift.max())})")
    return wq.astype(np.int8), bias.astype(np.int32), mult, shift


def _qparams(lo: float, hi: float, bits: int) -> Tuple[float, int]:
    """Scale and zero point of h / Y_c over [lo, hi]: int8 asymmetric, int16 symmetric (zero point 0)."""
    if bits == 8:
        return act_qparams(lo, hi)
    amax = max(abs(lo), abs(hi))
    return (amax / S16.S16_MAX if amax > 1e-30 else 1.0), 0


def cell_shift(cmax: float) -> int:
    """``cs`` of the int16 cell state (scale 2^-cs) that holds +-cmax."""
    if not cmax > 0 or not math.isfinite(cmax):
        return 15
    return int(min(15, max(0, 15 - max(0, math.floor(math.log2(cmax)) + 1))))


def recurrent(low, n: Node) -> None:
    """LSTM / GRU: one QOp per used output (Y, Y_h, Y_c), see the module doc."""
    x = low.tensors[n.inputs[0]]
    if x.bits != 8:
        raise low.err(n, f"no int16 lowering for {n.op}; keep its activations at 8 bits")
    lower_recurrent(low, n, x, 8, {})


def lower_recurrent(low, n: Node, x: QTensor, bits: int, extra_attrs: dict) -> None:
    """The QOps of LSTM / GRU node ``n`` with ``bits``-bit input ``x``, hidden state and outputs
    (8: the module doc's scheme; 16: rules_s16_recurrent.py's); ``extra_attrs`` go into every op's
    attrs (the int16 kernel name and scratch)."""
    kind = n.op.lower()
    G = GATES[n.op]
    H, direction = int(n.attrs["hidden_size"]), n.attrs["direction"]
    lbr = int(n.attrs.get("linear_before_reset", 0))
    W = low.g.const(n.inputs[1]).astype(np.float64)
    R = low.g.const(n.inputs[2]).astype(np.float64)
    dirs, D = W.shape[0], W.shape[2]
    T = x.size // D
    B = (low.g.const(n.inputs[3]).astype(np.float64) if len(n.inputs) > 3 and n.inputs[3]
         else np.zeros((dirs, 2 * G * H)))
    h0 = _state(low, n, 5, dirs, H)
    c0 = _state(low, n, 6, dirs, H) if n.op == "LSTM" else np.zeros((dirs, H))
    reverse = [0] if direction == "forward" else [1] if direction == "reverse" else [0, 1]

    # Float simulation on the calibration inputs: the cell state's range (and h's, merged below).
    seqs, key = _input_sequences(low, n, T, D)
    hlo, hhi, cmax = _simulated_ranges(seqs, key, n.op, W, R, B, h0, c0, lbr, reverse)
    outs = list(n.outputs) + [""] * 3
    for name in (outs[0], outs[1]):
        r = _range(low, name)
        if r is not None:
            hlo, hhi = min(hlo, r[0]), max(hhi, r[1])
    hlo, hhi = min(hlo, float(h0.min())), max(hhi, float(h0.max()))
    s_h, z_h = _qparams(hlo, hhi, bits)
    cs = cell_shift(cmax)
    hmax = (1 << (bits - 1)) - 1

    consts = {key: [] for key in ("input_weights", "recurrent_weights", "input_bias", "recurrent_bias",
                                  "input_multiplier", "input_shift", "recurrent_multiplier", "recurrent_shift",
                                  "initial_h", "initial_c")}
    for d in range(dirs):
        for key, val in zip(("input_weights", "input_bias", "input_multiplier", "input_shift"),
                            _side(low, n, W[d], B[d, :G * H], x.scale, x.zero_point, "W", bits)):
            consts[key].append(val)
        for key, val in zip(("recurrent_weights", "recurrent_bias", "recurrent_multiplier", "recurrent_shift"),
                            _side(low, n, R[d], B[d, G * H:], s_h, z_h, "R", bits)):
            consts[key].append(val)
        consts["initial_h"].append(np.clip(round_half_away(h0[d] / s_h) + z_h, -hmax - 1, hmax)
                                   .astype(np.int16 if bits == 16 else np.int8))
        consts["initial_c"].append(np.clip(round_half_away(c0[d] * (1 << cs)), -32768, 32767).astype(np.int16))
    consts = {k: np.stack(v) for k, v in consts.items()}
    consts["sigmoid_lut"], consts["tanh_lut"] = SIGMOID_LUT, TANH_LUT
    hm, hs_ = quantize_multiplier(2.0 ** -(2 * ACT_FRAC) / s_h)

    wanted = [(0, outs[0]), (1, outs[1])] + ([(2, outs[2])] if n.op == "LSTM" else [])
    macs = T * dirs * G * H * (D + H)
    first = None  # the node's first op holds the constants; the others name it (counted and emitted once)
    for mode, name in wanted:
        if not _used(low, name):
            continue
        cm = csh = cz = 0
        if mode == 2:
            lo, hi = _range(low, name) or (-cmax, cmax)
            s_c, cz = _qparams(lo, hi, bits)
            cm, csh = quantize_multiplier(2.0 ** -cs / s_c)
            out = low.new_tensor(name, s_c, cz, bits)
        else:
            out = low.new_tensor(name, s_h, z_h, bits)
        params = [RecurrentParams(T, D, H, reverse[d], mode, dirs * H, z_h, cs, hm, hs_, cm, csh, cz, lbr)
                  for d in range(dirs)]
        attrs = {"directions": params, "cell_shift": cs, **extra_attrs}
        if first is not None:
            attrs["weights_of"] = first
        op = QOp(kind, n.name if mode == 0 else f"{n.name}:{['Y', 'Y_h', 'Y_c'][mode]}", [x.name], out.name, None,
                 consts if first is None else {}, attrs, macs)
        first = first or op
        low.ops.append(op)


RULES = {"LSTM": recurrent, "GRU": recurrent}
