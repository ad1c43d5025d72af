"""``execution.wide_weights``: which fully connected layers carry their weights as int16 for the
Armv7E-M DSP path (Cortex-M4/M7/M33).

The DSP loop then loads weight pairs ready for SMLAD instead of widening int8 weights with
SXTB16 on every call: per 4 outputs and 4 inputs 21 instead of 25 cycles on the M4. The price is
flash: the DSP build carries 2 bytes a weight instead of 1 (other cores keep the int8 weights;
the generated C holds both, each under its own #if). With a flash budget, layers are widened in
model order while the budget holds; the rest keep int8 weights.

``auto`` (the default) widens only where the trade is known to be wanted: the build names a DSP
core (``--target``/``target:`` m4, m7 or m33) and the board's flash (``--flash-size``, which the
Zephyr module takes from CONFIG_FLASH_SIZE and the PlatformIO library from the board's
upload.maximum_size). The constant data then may grow to half the flash (``AUTO_FLASH_SHARE``),
leaving the other half to the application; a tighter ``flash_budget`` still wins.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from ..qmodel import QModel, QOp

FC_MAX_K = 4096  # QNNC_FC_MAX_K: the DSP path's limit on in_features and out_features
DSP_CORES = ("m4", "m7", "m33")  # the cores whose builds link the int16 copy (Armv7E-M / Armv8-M DSP)
AUTO_FLASH_SHARE = 0.5  # auto: the share of the board's flash the constant data may take


def auto_budget(target: Optional[str], flash_size: Optional[int],
                flash_budget: Optional[int]) -> Tuple[Optional[int], str]:
    """``wide_weights: auto``: the flash budget to widen within, or (None, why not; "" where the
    target core never links the int16 copy, so there is nothing to say)."""
    if target is not None and target not in DSP_CORES:
        return None, ""
    if target is None:
        return None, "no target core named (--target or target:)"
    if flash_size is None:
        return None, ("the board's flash size is not known (--flash-size; the Zephyr module and the PlatformIO "
                      "library pass it for cores built with the DSP extension)")
    share = int(flash_size * AUTO_FLASH_SHARE)
    return (share if flash_budget is None else min(share, flash_budget)), ""


def eligible(op: QOp) -> bool:
    """An int8 fully connected layer whose shape the int16 layout covers (in_features and
    out_features multiples of 4, within the DSP path's limits)."""
    if op.kind != "fully_connected" or op.kernel != "qnnc_fully_connected_s8" or "filter" not in op.consts:
        return False
    k, n = int(op.attrs["in_features"]), int(op.attrs["out_features"])
    return k % 4 == 0 and n % 4 == 0 and 4 <= k <= FC_MAX_K and n <= FC_MAX_K


def choose_wide_layers(model: QModel, flash_budget: Optional[int]) -> Tuple[List[int], int]:
    """Mark the ops to give int16 weights (``attrs["wide_weights"]``); returns their indices and
    the flash they add to the DSP build. A layer that would take the constant data past
    ``flash_budget`` bytes is left int8 (weights shared by several layers, e.g. unrolled steps,
    count once)."""
    chosen: List[int] = []
    seen = set()
    total = start = model.weight_bytes
    for i, op in enumerate(model.ops):
        if not eligible(op):
            continue
        key = op.consts["filter"].tobytes()
        extra = 0 if key in seen else int(op.consts["filter"].nbytes)
        if flash_budget is not None and total + extra > flash_budget:
            continue
        seen.add(key)
        total += extra
        op.attrs["wide_weights"] = True
        chosen.append(i)
    return chosen, total - start
