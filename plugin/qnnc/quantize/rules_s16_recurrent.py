"""int16-activation (16x8) rules of ONNX LSTM and GRU (batch 1, the variants rules_recurrent.py takes).

What changes from the int8 scheme of rules_recurrent.py (read its module doc first):

* input ``x``, hidden state ``h`` and every output (Y, Y_h, Y_c): int16 symmetric, zero point 0
  (``h``: the same merged range as the int8 rule, scale ``amax / 32767``; Y_c its calibrated range).
* weights W and R: int8 per row as in the int8 rule; biases int32 in units of ``s_x * s_W[row]``
  (``s_h * s_R[row]``), kept within 2^30 by the weight-scale floor; the gate accumulators are int64
  (``|bias| + sum |w| * 32768 < 2^47``, checked) and go to Q3.12 with the 16x8 requantization
  (TFLite's 16-bit reduced multiplier, rules_s16.requant16's shift range [-46, 14]).
* gates, tables, the LSTM cell state (int16 at 2^-cs) and its update are the int8 kernels'
  (they are already int16 inside); ``h`` is requantized from the Q0.30 product to int16
  (multiplier ``2^-30 / s_h``) and the GRU's ``r * h`` / ``z * h`` are formed on int16 values.

Kernels ``qnnc_lstm_s16`` / ``qnnc_gru_s16``; reference reference/kernels_s16_recurrent.py.
"""
from __future__ import annotations

import numpy as np

from ..ir import Node
from ..kernel_params import RecurrentParams
from ..qmodel import QOp
from .fixedpoint import quantize_multiplier, quantize_multipliers, round_half_away
from .qparams import INT32_MAX
from .weights import apply_scale_floor, bias_scale_floor
from . import rules_recurrent as RR
from . import rules_s16 as S16


def scratch_bytes(kind: str, hidden: int) -> int:
    """Arena working memory of ``qnnc_{lstm,gru}_s16``: int16 gates [4H] + int16 h [H] + int16 cell
    (LSTM) or int16 r*h (GRU) [H], i.e. 12 H bytes, rounded up to 4."""
    del kind
    return (12 * hidden + 3) & ~3


def _side16(low, n: Node, w: np.ndarray, b: np.ndarray, scale: float, what: str):
    """int8 per-row weights, int32 bias (zero point 0: nothing folded) and the 16x8 Q3.12
    multipliers of one side."""
    wq, ws = low.weights(w)
    wq, ws = apply_scale_floor(w, wq, ws, bias_scale_floor(b, scale, RR.BIAS_MAX), 127)
    wq = wq.astype(np.int64).reshape(w.shape)
    bias = (np.sign(b) * np.floor(np.abs(b.astype(np.float64)) / (scale * ws) + 0.5)).astype(np.int64)
    worst = np.abs(wq).sum(axis=1) * 32768 + np.abs(bias)
    if worst.max() >= S16.ACC_LIMIT or np.abs(bias).max(initial=0) > INT32_MAX:
        row = int(np.argmax(worst))
        raise low.err(n, f"{what} row {row}: the int64 accumulator could exceed 2^47, the limit of the 16x8 "
                         f"requantization (|bias| {abs(int(bias[row]))} + sum |w| x 32768 = {int(worst[row])})")
    try:
        mult, shift = quantize_multipliers(scale * ws * (1 << RR.GATE_FRAC))
    except ValueError as e:
        raise low.err(n, f"{what}: {e}") from None
    tiny = shift < -46  # the product rounds to 0 anyway
    mult, shift = np.where(tiny, 0, mult).astype(np.int32), np.where(tiny, 0, shift).astype(np.int32)
    if shift.max(initial=0) > 14:
        raise low.err(n, f"{what}: gate multiplier too large for the 16x8 scheme (2^{int(shift.max())})")
    return wq.astype(np.int8), bias.astype(np.int32), mult, shift


def _symmetric(lo: float, hi: float) -> float:
    amax = max(abs(lo), abs(hi))
    return amax / S16.S16_MAX if amax > 1e-30 else 1.0


def recurrent(low, n: Node) -> None:
    """LSTM / GRU with int16 x and h: one QOp per used output, as rules_recurrent.recurrent."""
    kind = n.op.lower()
    G = RR.GATES[n.op]
    x = S16.input16(low, n)
    if low.plan.of(n.name).weight_bits != 8:
        raise low.err(n, "int4 weights with int16 activations are not supported; use weight_bits: 8 for "
                          "this layer or activation_bits: 8")
    H, direction = int(n.attrs["hidden_size"]), n.attrs["direction"]
    lbr = int(n.attrs.get("linear_before_reset", 0))
    W = low.g.const(n.inputs[1]).astype(np.float64)
    R = low.g.const(n.inputs[2]).astype(np.float64)
    dirs, D = W.shape[0], W.shape[2]
    T = x.size // D
    B = (low.g.const(n.inputs[3]).astype(np.float64) if len(n.inputs) > 3 and n.inputs[3]
         else np.zeros((dirs, 2 * G * H)))
    h0 = RR._state(low, n, 5, dirs, H)
    c0 = RR._state(low, n, 6, dirs, H) if n.op == "LSTM" else np.zeros((dirs, H))
    reverse = [0] if direction == "forward" else [1] if direction == "reverse" else [0, 1]

    # The ranges of h and of the cell state: the int8 rule's float simulation and merge.
    seqs, _ = RR._input_sequences(low, n, T, D)
    hlo = hhi = 0.0
    cmax = float(np.abs(c0).max(initial=0.0))
    for s in seqs:
        for d in range(dirs):
            Wb, Rb = B[d, :G * H], B[d, G * H:]
            if n.op == "LSTM":
                hs, cs_ = RR.float_lstm(s, W[d], R[d], Wb, Rb, h0[d], c0[d], bool(reverse[d]))
                cmax = max(cmax, float(np.abs(cs_).max()))
            else:
                hs = RR.float_gru(s, W[d], R[d], Wb, Rb, h0[d], lbr, bool(reverse[d]))
            hlo, hhi = min(hlo, float(hs.min())), max(hhi, float(hs.max()))
    outs = list(n.outputs) + [""] * 3
    for name in (outs[0], outs[1]):
        r = RR._range(low, name)
        if r is not None:
            hlo, hhi = min(hlo, r[0]), max(hhi, r[1])
    hlo, hhi = min(hlo, float(h0.min())), max(hhi, float(h0.max()))
    s_h = _symmetric(hlo, hhi)
    cs = RR.cell_shift(cmax)

    consts = {key: [] for key in ("input_weights", "recurrent_weights", "input_bias", "recurrent_bias",
                                  "input_multiplier", "input_shift", "recurrent_multiplier", "recurrent_shift",
                                  "initial_h", "initial_c")}
    for d in range(dirs):
        for key, val in zip(("input_weights", "input_bias", "input_multiplier", "input_shift"),
                            _side16(low, n, W[d], B[d, :G * H], x.scale, "W")):
            consts[key].append(val)
        for key, val in zip(("recurrent_weights", "recurrent_bias", "recurrent_multiplier", "recurrent_shift"),
                            _side16(low, n, R[d], B[d, G * H:], s_h, "R")):
            consts[key].append(val)
        consts["initial_h"].append(np.clip(round_half_away(h0[d] / s_h), -32768, 32767).astype(np.int16))
        consts["initial_c"].append(np.clip(round_half_away(c0[d] * (1 << cs)), -32768, 32767).astype(np.int16))
    consts = {k: np.stack(v) for k, v in consts.items()}
    consts["sigmoid_lut"], consts["tanh_lut"] = RR.SIGMOID_LUT, RR.TANH_LUT
    hm, hs_ = quantize_multiplier(2.0 ** -(2 * RR.ACT_FRAC) / s_h)

    wanted = [(0, outs[0]), (1, outs[1])] + ([(2, outs[2])] if n.op == "LSTM" else [])
    macs = T * dirs * G * H * (D + H)
    first = None  # the node's first op holds the constants; the others name it (emitted once)
    for mode, name in wanted:
        if not RR._used(low, name):
            continue
        cm = csh = 0
        if mode == 2:
            lo, hi = RR._range(low, name) or (-cmax, cmax)
            s_c = _symmetric(lo, hi)
            cm, csh = quantize_multiplier(2.0 ** -cs / s_c)
            out = S16.new16(low, name, s_c)
        else:
            out = S16.new16(low, name, s_h)
        params = [RecurrentParams(T, D, H, reverse[d], mode, dirs * H, 0, cs, hm, hs_, cm, csh, 0, lbr)
                  for d in range(dirs)]
        attrs = {"directions": params, "cell_shift": cs, "kernel": f"qnnc_{kind}_s16", "activation_bits": 16,
                 "scratch_bytes": scratch_bytes(kind, H)}
        if first is not None:
            attrs["weights_of"] = first
        op = QOp(kind, n.name if mode == 0 else f"{n.name}:{['Y', 'Y_h', 'Y_c'][mode]}", [x.name], out.name, None,
                 consts if first is None else {}, attrs, macs)
        first = first or op
        low.ops.append(op)


RULES_S16 = {"LSTM": recurrent, "GRU": recurrent}
