"""``execution.wide_weights``: which fully connected layers and convolutions carry their weights as
int16 for the Armv7E-M DSP path (Cortex-M4/M7/M33).

The DSP loop then loads weight pairs ready for SMLAD instead of widening int8 weights with
SXTB16 on every call: fully connected, per 4 outputs and 4 inputs 21 instead of 25 cycles on the
M4; convolutions in channel pairs (plan/paired_conv.py), per group of 4 taps of the 2 x 3 block
16 instead of 20 instructions (one LDM instead of an LDRD and four SXTB16) and about 26 instead of
28 cycles. The price is flash: the DSP build carries 2 bytes a weight instead of 1 (other cores
keep the int8 weights; the generated C holds both, each under its own #if). With a flash budget,
fully connected layers are widened first, each where it still fits, then the convs if all of them
fit (choose_wide_layers); the rest keep int8 weights.

``auto`` (the default) widens only where the trade is known to be wanted: the build names a DSP
core (``--target``/``target:`` m4, m7 or m33) and the board's flash (``--flash-size``, which the
Zephyr module takes from CONFIG_FLASH_SIZE and the PlatformIO library from the board's
upload.maximum_size). The constant data then may grow to half the flash (``AUTO_FLASH_SHARE``),
leaving the other half to the application; a tighter ``flash_budget`` still wins.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from ..qmodel import QModel, QOp, dsp_filter_extra, filter_key

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
    out_features multiples of 4, within the DSP path's limits), or a conv with the channel-pair
    layout (plan/paired_conv.py, which marks them first)."""
    if op.kind == "conv":
        return bool(op.attrs.get("paired_weights"))
    if op.kind != "fully_connected" or op.kernel != "qnnc_fully_connected_s8" or "filter" not in op.consts:
        return False
    k, n = int(op.attrs["in_features"]), int(op.attrs["out_features"])
    return k % 4 == 0 and n % 4 == 0 and 4 <= k <= FC_MAX_K and n <= FC_MAX_K


def choose_wide_layers(model: QModel, flash_budget: Optional[int]) -> Tuple[List[QOp], int]:
    """Mark the ops to give int16 weights (``attrs["wide_weights"]``); returns them and the flash
    they add to the DSP build. Fully connected layers come first (about twice the convs' gain per
    byte), in model order, each while the constant data stays within ``flash_budget`` bytes.
    Convs (with the sub-ops of patch segments) are then widened all together or not at all: one
    left int8 would link both instances of the paired kernel, several KB of code more than
    either. Weights shared by several layers (e.g. unrolled steps) count once."""
    chosen: List[QOp] = []
    seen = set()
    total = start = model.weight_bytes

    def extra(op: QOp) -> int:
        """The DSP build's added bytes: the int16 copy doubles its copy (a conv's: the paired one)."""
        return dsp_filter_extra(op, True) - dsp_filter_extra(op, False)

    for op in model.ops:
        if op.kind != "fully_connected" or not eligible(op):
            continue
        add = 0 if filter_key(op) in seen else extra(op)
        if flash_budget is not None and total + add > flash_budget:
            continue
        seen.add(filter_key(op))
        total += add
        op.attrs["wide_weights"] = True
        chosen.append(op)
    convs = [o for op in model.ops for o in [op] + op.sub_ops if o.kind == "conv" and eligible(o)]
    unique = {filter_key(o): extra(o) for o in convs}
    add = sum(unique.values())
    if convs and (flash_budget is None or total + add <= flash_budget):
        for o in convs:
            o.attrs["wide_weights"] = True
        chosen.extend(convs)
        total += add
    return chosen, total - start
