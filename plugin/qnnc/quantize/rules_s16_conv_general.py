"""int16-activation (16x8) rules of the convolutions in rules_conv_general.py: ConvTranspose.

ConvTranspose (2-D; every group, stride, dilation, pads / auto_pad / output_shape and
output_padding the int8 rule takes) lowers to a ``conv_general`` op with ``transposed = 1`` whose
kernel is ``qnnc_conv_transpose_s16``: int16 input and output (symmetric, zero point 0), int8
weights per output channel rearranged as in the int8 rule, int64 bias and accumulator, and the
16x8 requantization of rules_s16 (:func:`rules_s16.requant16`, :func:`rules_s16.bias64`,
:func:`rules_s16.check_acc64`). A fused Relu/Clip clamps in int16; a fused LeakyRelu or table
activation has no 16x8 output stage, so such a layer runs on int8 between conversions (noted).
"""
from __future__ import annotations

import numpy as np

from ..ir import Node
from ..kernel_params import ConvGeneralParams
from ..qmodel import QOp
from .lowering import Lowering
from . import rules_conv_general as CG
from . import rules_s16 as S16


def _int8_fallback(low: Lowering, n: Node, why: str) -> None:
    """Run the int8 rule on an int8 copy of the input (lower_graph.lower_node does the same for
    ops without an int16 rule), with a build note."""
    name = n.inputs[0]
    t = low.tensors[name]
    low.tensors[name] = low.convert(t, 8)
    notes = getattr(low, "notes", None)
    if notes is not None:
        notes.append(f"{n.op} '{n.name}' ({why}) runs with int8 activations inside the int16 plan (no int16 "
                     "kernel for it); its output precision is int8's")
    try:
        CG.conv_transpose(low, n)
    finally:
        low.tensors[name] = t


def conv_transpose(low: Lowering, n: Node) -> None:
    """ConvTranspose with int16 activations: ``conv_general`` (transposed) on ``qnnc_conv_transpose_s16``."""
    act = n.attrs.get("activation")
    if act and act["kind"] != "clip":
        return _int8_fallback(low, n, f"fused {act['kind']}")
    x = S16.input16(low, n)
    W, b, geometry, shift_of = CG.transposed_weights(low, n)
    cout, cin_g, kh, kw = W.shape
    groups = x.shape[3] // cin_g
    out, act_min, act_max = S16.output16(low, n)
    wq, ws = S16.int8_weights(low, n, W, b, x.scale)
    mult, shift = S16.requant16(low, n, x.scale, ws, out.scale)
    b = low.corrected_bias(n, W, b, wq, ws, shift_of)
    bq = S16.bias64(low, b, x.scale, ws)
    S16.check_acc64(low, n, wq, bq)
    params = ConvGeneralParams(input_offset=0, output_offset=0, groups=groups, transposed=1, act_min=act_min,
                               act_max=act_max, act_lut=None, rounding=low.plan.of(n.name).rounding, **geometry)
    filt = np.ascontiguousarray(wq.transpose(0, 2, 3, 1))  # (Cout, Cin/g, kh, kw) -> (Cout, kh, kw, Cin/g)
    macs = x.shape[1] * x.shape[2] * cout * kh * kw * cin_g  # every input pixel meets every tap once
    low.ops.append(QOp("conv_general", n.name, [x.name], out.name, params,
                       {"filter": filt, "bias": bq, "multiplier": mult, "shift": shift},
                       {"filter_dims": tuple(filt.shape), "kernel": "qnnc_conv_transpose_s16",
                        "activation_bits": 16}, int(macs)))


RULES_S16 = {"ConvTranspose": conv_transpose}
