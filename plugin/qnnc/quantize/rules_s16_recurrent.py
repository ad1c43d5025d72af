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

The lowering itself is rules_recurrent.lower_recurrent with ``bits=16``. Kernels
``qnnc_lstm_s16`` / ``qnnc_gru_s16``; reference reference/kernels_s16_recurrent.py.
"""
from __future__ import annotations

from ..ir import Node
from . import rules_recurrent as RR
from . import rules_s16 as S16


def scratch_bytes(kind: str, hidden: int) -> int:
    """Arena working memory of ``qnnc_{lstm,gru}_s16``: int16 gates [4H] + int16 h [H] + int16 cell
    (LSTM) or int16 r*h (GRU) [H], i.e. 12 H bytes, rounded up to 4."""
    del kind
    return (12 * hidden + 3) & ~3


def recurrent(low, n: Node) -> None:
    """LSTM / GRU with int16 x and h: one QOp per used output, as rules_recurrent.recurrent."""
    kind = n.op.lower()
    x = S16.input16(low, n)
    if low.plan.of(n.name).weight_bits != 8:
        raise low.err(n, "int4 weights with int16 activations are not supported; use weight_bits: 8 for "
                          "this layer or activation_bits: 8")
    extra = {"kernel": f"qnnc_{kind}_s16", "activation_bits": 16,
             "scratch_bytes": scratch_bytes(kind, int(n.attrs["hidden_size"]))}
    RR.lower_recurrent(low, n, x, 16, extra)


RULES_S16 = {"LSTM": recurrent, "GRU": recurrent}
