"""int16-activation (16x8) rules of the convolutions in rules_conv_general.py: grouped Conv and
ConvTranspose.

A grouped Conv (1 < group, not depthwise) and a ConvTranspose (2-D; every group, stride,
dilation, pads / auto_pad / output_shape and output_padding the int8 rule takes) lower to a
``conv_general`` op whose kernel is ``qnnc_conv_general_s16``: int16 input and output (symmetric,
zero point 0), int8 weights per output channel laid out as in the int8 rules, int64 bias and
accumulator, and the 16x8 requantization of rules_s16 (:func:`rules_s16.requant16`,
:func:`rules_s16.bias64`, :func:`rules_s16.check_acc64`). A fused Relu/Clip clamps in int16; a
fused LeakyRelu or table activation runs as its own int16 op after the layer
(rules_s16_tables.with_fused_activation wraps these rules).
"""
from __future__ import annotations

import numpy as np

from ..ir import Node
from ..kernel_params import ConvGeneralParams
from ..qmodel import QOp
from .lowering import Lowering
from . import rules_conv_general as CG
from . import rules_s16 as S16


def _general_layer16(low: Lowering, n: Node, W: np.ndarray, b: np.ndarray, geometry: dict, transposed: int,
                     shift_of) -> None:
    """The int16 conv_general op for OIHW-per-group weights ``W`` (Cout, Cin/group, kh, kw)."""
    x = S16.input16(low, n)
    if len(x.shape) != 4:
        raise low.err(n, f"only 2-D {n.op} over a 4-D input is supported; this input has shape {list(x.shape)}")
    cout, cin_g, kh, kw = W.shape
    groups = x.shape[3] // cin_g
    out, act_min, act_max = S16.output16(low, n)
    wq, ws = S16.int8_weights(low, n, W, b, x.scale)
    mult, shift = S16.requant16(low, n, x.scale, ws, out.scale)
    b = low.corrected_bias(n, W, b, wq, ws, shift_of)
    bq = S16.bias64(low, b, x.scale, ws)
    S16.check_acc64(low, n, wq, bq)
    params = ConvGeneralParams(input_offset=0, output_offset=0, groups=groups, transposed=transposed,
                               act_min=act_min, act_max=act_max, act_lut=None, rounding=low.plan.of(n.name).rounding,
                               **geometry)
    filt = np.ascontiguousarray(wq.transpose(0, 2, 3, 1))  # (Cout, Cin/g, kh, kw) -> (Cout, kh, kw, Cin/g)
    pixels = x.shape[1] * x.shape[2] if transposed else out.shape[1] * out.shape[2]  # transposed: per input pixel
    low.ops.append(QOp("conv_general", n.name, [x.name], out.name, params,
                       {"filter": filt, "bias": bq, "multiplier": mult, "shift": shift},
                       {"filter_dims": tuple(filt.shape), "kernel": "qnnc_conv_general_s16",
                        "activation_bits": 16}, int(pixels * cout * kh * kw * cin_g)))


def conv(low: Lowering, n: Node) -> None:
    """Conv with int16 activations: rules_s16's for group 1 and depthwise, else a grouped conv_general."""
    if not CG.is_general_conv(low, n):
        return S16.conv(low, n)
    W, b, geometry, shift_of = CG.grouped_weights(low, n)
    _general_layer16(low, n, W, b, geometry, 0, shift_of)


def conv_transpose(low: Lowering, n: Node) -> None:
    """ConvTranspose with int16 activations: ``conv_general`` (transposed) on ``qnnc_conv_general_s16``."""
    W, b, geometry, shift_of = CG.transposed_weights(low, n)
    _general_layer16(low, n, W, b, geometry, 1, shift_of)


RULES_S16 = {"Conv": conv, "ConvTranspose": conv_transpose}
