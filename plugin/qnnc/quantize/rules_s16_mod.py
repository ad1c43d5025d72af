"""int16 rule of Mod with a constant scalar divisor (torch.fmod; passes/canonicalize.py makes the
unary Mod): exact, where an interpolated table (``qnnc_lut_s16``) would blur every wrap point over a
whole 128-code segment.

``x mod d = x - |d| * k`` with ``k`` the rounding of ``x / |d|`` that gives the remainder its sign:
toward zero for fmod 1 (the dividend's sign), down for fmod 0 and d > 0, up for fmod 0 and d < 0
(the divisor's sign). ``qnnc_round_s16`` computes ``k`` from the int16 input (modes 3-5: the
quotient nudged by 2^-8 of an input code, so that an input on an exact multiple of the divisor
gives 0, not |d|, whichever way its 31-bit multiplier rounded) and stores ``|d| * k`` exactly, as
``k * N`` codes of a scale |d| / N (N the most that keeps ``|k| * N`` in int16); the add kernel
subtracts it from ``x`` into the output's calibrated scale, the remainder's only rounding. An input
within half a code of a wrap point lands where its code does, as at int8.

A constant dividend (``c mod x``) has no such form: it is an error that names the override keeping
the node at 8 bits (a 256-entry table, exact per int8 code).
"""
from __future__ import annotations

from ..ir import Node
from ..kernel_params import AddParams
from ..qmodel import QOp, QTensor
from . import unary_functions as UF
from .fixedpoint import add_multipliers
from .lowering import Lowering
from .rules_s16 import ADD16_LEFT_SHIFT, S16_MAX, S16_MIN, input16, keep_at_8_bits, new16
from .rules_s16_elementwise import broadcast_op
from .rules_s16_tables import output_scale16, round_constants

TRUNC, FLOOR, CEIL = 3, 4, 5  # qnnc_round_s16's modes for Mod's quotient


def mod(low: Lowering, n: Node) -> None:
    """Mod(x, d) on int16 activations: ``qnnc_round_s16`` for ``|d| * k``, ``qnnc_add_s16`` for x minus it."""
    if "divisor" not in n.attrs:
        raise low.err(n, "no int16 lowering for Mod of a constant by an activation (quantization.activation_bits: "
                         f"16); {keep_at_8_bits(n)}")
    x = low.convert(input16(low, n), 16)
    d, fmod = float(n.attrs["divisor"]), int(n.attrs.get("fmod", 0))
    out = new16(low, n.outputs[0], output_scale16(low, n, UF.float_fn(n.op, n.attrs), x))
    mode = TRUNC if fmod else (FLOOR if d > 0 else CEIL)
    k_max = int((S16_MAX + 1) * x.scale / abs(d)) + 1  # the largest |k| an int16 input gives
    if k_max > S16_MAX:
        raise low.err(n, f"divisor {abs(d):g} (in magnitude) is below the input's int16 step ({x.scale:g}): "
                         f"at most one code a period; {keep_at_8_bits(n)}")
    multiple = QTensor(f"{n.outputs[0]}__multiple", x.shape, abs(d) / (S16_MAX // k_max), 0, bits=16)
    low.tensors[multiple.name] = multiple
    consts = round_constants(mode, x.scale / abs(d), multiple.scale / abs(d))
    low.ops.append(QOp("round", f"{n.name}_multiple", [x.name], multiple.name, None, {},
                       {"size": x.size, "activation_bits": 16, **consts, "kernel": "qnnc_round_s16"}, 0))
    try:
        m1, s1, m2, s2, mo, so = add_multipliers(x.scale, multiple.scale, out.scale, ADD16_LEFT_SHIFT)
    except ValueError as e:
        raise low.err(n, str(e)) from None
    params = AddParams(0, 0, m1, s1, -m2, s2, ADD16_LEFT_SHIFT, mo, so, 0, S16_MIN, S16_MAX)
    broadcast_op(low, n, "add", params, x, multiple, out, {}, "qnnc_add_s16")


RULES = {"Mod": mod}
