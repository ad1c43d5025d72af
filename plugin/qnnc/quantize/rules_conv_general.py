"""int8 rules of the convolutions ``qnnc_conv_s8`` / ``qnnc_depthwise_conv_s8`` do not cover and of
matrix products of two activations (lower_graph.py merges :data:`RULES` over rules_s8.RULES).

- Grouped Conv (1 < group, not depthwise): ``conv_general`` op, filter OHWI per group, int8 weights
  per output channel exactly as Conv (layer_weights, quant_bias, check_accumulator of rules_s8).
- ConvTranspose (2-D, any group, strides, dilations, pads / auto_pad / output_shape,
  output_padding): the same kernel in gather form, the ONNX weights (Cin, Cout/group, kH, kW)
  rearranged to (Cout, kH, kW, Cin/group) so requantization stays per output channel.
- MatMul of two activations (and Gemm that is not a fully connected layer: transA, a computed B):
  ``batch_matmul`` (TFLite BATCH_MATMUL int8: both zero points, int32 sums, one per-tensor
  requantization; alpha folds into it, a constant C becomes an int32 bias per output column).
  A constant operand is quantized like an activation (per tensor, asymmetric).
"""
from __future__ import annotations

import numpy as np

from ..ir import Node
from ..kernel_params import BatchMatmulParams, ConvGeneralParams
from ..qmodel import QOp
from .bias_correction import conv_mean_shift
from .fixedpoint import quantize_multiplier
from .lowering import Lowering, dims4
from .qparams import INT32_MAX
from . import rules_s8 as S8

def is_general_conv(low: Lowering, n: Node) -> bool:
    """A Conv that qnnc_conv_s8 / qnnc_depthwise_conv_s8 do not compute (1 < group, not depthwise)."""
    group = int(n.attrs.get("group", 1))
    cin = low.tensors[n.inputs[0]].shape[-1]
    cin_g = low.g.shape(n.inputs[1])[1]
    return group != 1 and not (group == cin and cin_g == 1)


def _general_layer(low: Lowering, n: Node, W: np.ndarray, b: np.ndarray, geometry: dict, transposed: int,
                   shift_of) -> None:
    """The conv_general op for OIHW-per-group weights ``W`` (Cout, Cin/group, kh, kw)."""
    x = low.tensors[n.inputs[0]]
    if len(x.shape) != 4:
        raise low.err(n, f"only 2-D {n.op} over a 4-D input is supported; this input has shape {list(x.shape)}")
    if low.plan.of(n.name).weight_bits == 4:
        raise low.err(n, f"int4 weights are not supported for a {'transposed' if transposed else 'grouped'} "
                         "convolution (no _s4 kernel); keep this layer at 8-bit weights")
    cout, cin_g, kh, kw = W.shape
    groups = x.shape[3] // cin_g
    out, act_min, act_max, lut, target = S8.output_with_activation(low, n)
    wq, ws = S8.layer_weights(low, n, W, b, x.scale)
    mult, shift = low.requant(n, x.scale, ws, target.scale)
    b = low.corrected_bias(n, W, b, wq, ws, shift_of)
    bq = S8.quant_bias(low, b, x.scale, ws)
    S8.check_accumulator(low, n, wq, bq, x)
    params = ConvGeneralParams(input_offset=-x.zero_point, output_offset=target.zero_point, groups=groups,
                               transposed=transposed, act_min=act_min, act_max=act_max, act_lut=lut,
                               rounding=low.plan.of(n.name).rounding, **geometry)
    filt = np.ascontiguousarray(wq.transpose(0, 2, 3, 1))  # (Cout, Cin/g, kh, kw) -> (Cout, kh, kw, Cin/g)
    if transposed:  # every input pixel meets every tap once
        macs = x.shape[1] * x.shape[2] * cout * kh * kw * cin_g
    else:
        macs = out.shape[1] * out.shape[2] * cout * kh * kw * cin_g
    low.ops.append(QOp("conv_general", n.name, [x.name], out.name, params,
                       {"filter": filt, "bias": bq.astype(np.int32), "multiplier": mult, "shift": shift},
                       {"filter_dims": tuple(filt.shape)}, int(macs)))


def grouped_weights(low: Lowering, n: Node):
    """What the int8 and int16 grouped Conv rules share: (OIHW float weights, float bias, geometry of
    ``ConvGeneralParams``, bias-correction function) of a grouped Conv."""
    a = n.attrs
    W, b = low.g.const(n.inputs[1]), low.g.const(n.inputs[2])
    geometry = dict(stride_h=a["strides"][0], stride_w=a["strides"][1], pad_top=a["pads"][0],
                    pad_left=a["pads"][1], dilation_h=a["dilations"][0], dilation_w=a["dilations"][1])
    out_hw = tuple(low.g.shape(n.outputs[0])[1:3])
    cin_g, cout, group = W.shape[1], W.shape[0], int(a["group"])
    ocg = cout // group

    def shift_of(m, eps):  # bias correction: each group is a group-1 convolution
        one = dict(a, group=1)
        return np.concatenate([conv_mean_shift(m[..., g * cin_g:(g + 1) * cin_g], eps[g * ocg:(g + 1) * ocg], one,
                                               out_hw) for g in range(group)])

    return W, b, geometry, shift_of


def conv(low: Lowering, n: Node) -> None:
    """Conv: rules_s8's for group 1 and depthwise, else a grouped conv_general."""
    if not is_general_conv(low, n):
        return S8.conv(low, n)
    W, b, geometry, shift_of = grouped_weights(low, n)
    _general_layer(low, n, W, b, geometry, 0, shift_of)


# ------------------------------------------------------------------ ConvTranspose --


def transpose_geometry(n: Node, in_hw, out_hw, kernel):
    """(strides, dilations, [pad_top, pad_left]) of an ONNX ConvTranspose; the output size is known
    (shape inference), so only the leading pads matter (output_padding and trailing pads follow)."""
    a = n.attrs

    def pair(key, default):  # a 1-D op lifted to height 1 may carry one value (its width's)
        v = [int(x) for x in a.get(key, [default, default])]
        return [default] * (2 - len(v)) + v[-2:]

    strides, dil, out_pad = pair("strides", 1), pair("dilations", 1), pair("output_padding", 0)
    auto_pad = a.get("auto_pad", "NOTSET")
    if "output_shape" in a or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if "output_shape" in a:
            target = ([in_hw[0]] + [int(v) for v in a["output_shape"]])[-2:] if len(a["output_shape"]) == 1 \
                else [int(v) for v in a["output_shape"]][-2:]
        else:
            target = [in_hw[d] * strides[d] for d in range(2)]
        lead = []
        for d in range(2):
            total = strides[d] * (in_hw[d] - 1) + out_pad[d] + (kernel[d] - 1) * dil[d] + 1 - target[d]
            # ONNX: SAME_UPPER puts the smaller half first, anything else (SAME_LOWER, NOTSET with
            # output_shape) the larger half.
            lead.append(total // 2 if auto_pad == "SAME_UPPER" else total - total // 2)
        pads = lead
    elif auto_pad == "VALID":
        pads = [0, 0]
    else:
        p = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
        pads = [p[0], p[1]] if len(p) == 4 else [0, p[0]]
    del out_hw
    return strides, dil, pads


def transposed_weights(low: Lowering, n: Node):
    """What the int8 and int16 ConvTranspose rules share: (OIHW-per-group float weights, float bias,
    geometry of ``ConvGeneralParams``, bias-correction function) of a 2-D ConvTranspose."""
    x = low.tensors[n.inputs[0]]
    if len(x.shape) != 4:
        raise low.err(n, f"only 2-D ConvTranspose over a 4-D NCHW input is supported; this input has shape "
                         f"{list(x.shape)}")
    if not low.g.is_const(n.inputs[1]):
        raise low.err(n, "the weights must be a constant initializer")
    Wo = low.g.const(n.inputs[1]).astype(np.float32)  # (Cin, Cout/group, kh, kw)
    group = int(n.attrs.get("group", 1))
    cin, cout_g, kh, kw = Wo.shape
    if len(n.inputs) > 2 and n.inputs[2]:
        if not low.g.is_const(n.inputs[2]):
            raise low.err(n, "the bias must be a constant")
        b = low.g.const(n.inputs[2]).astype(np.float32).reshape(-1)
    else:
        b = np.zeros(cout_g * group, np.float32)
    cin_g = cin // group
    W = Wo.reshape(group, cin_g, cout_g, kh, kw).transpose(0, 2, 1, 3, 4).reshape(group * cout_g, cin_g, kh, kw)
    W = np.ascontiguousarray(W)
    out_hw = tuple(low.g.shape(n.outputs[0])[1:3])
    strides, dil, pads = transpose_geometry(n, x.shape[1:3], out_hw, (kh, kw))
    if any(p < 0 for p in pads) or any(s < 1 for s in strides) or any(d < 1 for d in dil):
        raise low.err(n, f"pads {pads}, strides {strides}, dilations {dil} are not supported (pads >= 0, "
                         "strides and dilations >= 1)")
    geometry = dict(stride_h=strides[0], stride_w=strides[1], pad_top=pads[0], pad_left=pads[1],
                    dilation_h=dil[0], dilation_w=dil[1])

    def shift_of(m, eps):  # bias correction: the transposed convolution of the mean input, averaged
        return transposed_conv_mean(m.reshape(m.shape[-3:]), eps, geometry, group, out_hw)

    return W, b, geometry, shift_of


def conv_transpose(low: Lowering, n: Node) -> None:
    W, b, geometry, shift_of = transposed_weights(low, n)
    _general_layer(low, n, W, b, geometry, 1, shift_of)


def transposed_conv_mean(x: np.ndarray, eps: np.ndarray, geo: dict, group: int, out_hw) -> np.ndarray:
    """Mean over the output pixels, per output channel, of the float transposed convolution of one
    (H, W, C) input with (Cout, Cin/group, kh, kw) weights ``eps`` (bias correction)."""
    h, w, _ = x.shape
    cout, cin_g, kh, kw = eps.shape
    ocg = cout // group
    sh, sw, dh, dw = geo["stride_h"], geo["stride_w"], geo["dilation_h"], geo["dilation_w"]
    oh, ow = out_hw
    acc = np.zeros(cout)
    for i in range(kh):
        for j in range(kw):
            rows = np.arange(h) * sh - geo["pad_top"] + i * dh
            cols = np.arange(w) * sw - geo["pad_left"] + j * dw
            xs = x[np.ix_((rows >= 0) & (rows < oh), (cols >= 0) & (cols < ow))].sum(axis=(0, 1))
            for g in range(group):
                acc[g * ocg:(g + 1) * ocg] += eps[g * ocg:(g + 1) * ocg, :, i, j] @ xs[g * cin_g:(g + 1) * cin_g]
    return acc / float(oh * ow)


# ------------------------------------------------------------------------- MatMul --


def _operand(low: Lowering, n: Node, name: str):
    """(QTensor, constant int8 array or None) of a MatMul operand."""
    if low.g.is_const(name):
        q, t = S8.const_operand(low, name)
        return t, q
    return low.tensors[name], None


def matmul_shapes(low: Lowering, n: Node, a, b, qa, qb):
    """What the int8 and int16 MatMul rules share before quantizing: checks of the two operands
    (QTensors ``a``, ``b``; ``qa``/``qb`` their constant values or None) and
    (shape of a, shape of b (rank >= 2), m, k, n, batch dims)."""
    if qa is not None and qb is not None:
        raise low.err(n, "both operands are constants (nothing to compute at run time)")
    trans_a, trans_b = int(n.attrs.get("transA", 0)), int(n.attrs.get("transB", 0))
    sa, sb = list(a.shape), list(b.shape)
    if not (1 <= len(sa) <= 4 and 1 <= len(sb) <= 4):
        raise low.err(n, f"MatMul of rank {len(sa)} x {len(sb)} is not supported (ranks 1 to 4)")
    sa = [1] + sa if len(sa) == 1 else sa
    sb = sb + [1] if len(sb) == 1 else sb
    out_shape = list(low.g.shape(n.outputs[0]))
    m_, k_ = (sa[-1], sa[-2]) if trans_a else (sa[-2], sa[-1])
    k2, n_ = (sb[-1], sb[-2]) if trans_b else (sb[-2], sb[-1])
    batch = [int(v) for v in np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))]
    if k_ != k2 or len(batch) > 2 or int(np.prod(out_shape)) != int(np.prod(batch)) * m_ * n_:
        raise low.err(n, f"operand shapes {list(a.shape)} x {list(b.shape)} (transA={trans_a}, transB={trans_b}) "
                         f"with output {out_shape} are not supported (at most 2 batch dims)")
    if float(n.attrs.get("alpha", 1.0)) <= 0:
        raise low.err(n, f"alpha={n.attrs.get('alpha')} is not supported (alpha must be > 0)")
    return sa, sb, m_, k_, n_, batch


def matmul_c_row(low: Lowering, n: Node, m_: int, n_: int):
    """The float row ``beta * C`` added to every output row of a Gemm (None without C)."""
    if len(n.inputs) <= 2 or not n.inputs[2]:
        return None
    if not low.g.is_const(n.inputs[2]):
        raise low.err(n, "a computed C operand is not supported; C must be a constant")
    c2 = np.broadcast_to(low.g.const(n.inputs[2]).astype(np.float64) * float(n.attrs.get("beta", 1.0)), (m_, n_))
    if not np.all(c2 == c2[0:1]):
        raise low.err(n, "a C operand that differs per row is not supported")
    return c2[0]


def append_batch_matmul(low: Lowering, n: Node, params, operands, bias, shapes, out_name: str, attrs: dict) -> None:
    """Append the ``batch_matmul`` QOp: ``operands`` ((QTensor, constant or None) of A and B),
    ``bias`` (integer array or None), ``shapes`` (matmul_shapes' result), extra ``attrs``."""
    sa, sb, m_, k_, n_, batch = shapes
    consts = {key: np.ascontiguousarray(q) for key, (_, q) in zip(("input1", "input2"), operands) if q is not None}
    if bias is not None:
        consts["bias"] = bias
    inputs = [t.name for t, q in operands if q is None]
    b4 = [1] * (2 - len(batch)) + batch
    low.ops.append(QOp("batch_matmul", n.name, inputs, out_name, params, consts,
                       {"input1_dims": dims4(sa), "input2_dims": dims4(sb), "output_dims": tuple(b4) + (m_, n_),
                        **attrs}, int(np.prod(batch)) * m_ * n_ * k_))


def matmul(low: Lowering, n: Node) -> None:
    """MatMul (or a Gemm the passes left as MatMul with transA / transB / alpha / beta) -> batch_matmul."""
    a, qa = _operand(low, n, n.inputs[0])
    b, qb = _operand(low, n, n.inputs[1])
    shapes = matmul_shapes(low, n, a, b, qa, qb)
    _, _, m_, k_, n_, _ = shapes
    span_a = max(127 - a.zero_point, a.zero_point + 128)
    span_b = max(127 - b.zero_point, b.zero_point + 128)
    out = low.new_tensor(n.outputs[0], *low.calibrated(n.outputs[0], n))
    act_min, act_max = S8.act_bounds(n.attrs.get("activation"), out)
    acc_scale = a.scale * b.scale * float(n.attrs.get("alpha", 1.0))
    c_row = matmul_c_row(low, n, m_, n_)
    bias = None if c_row is None else np.floor(np.abs(c_row) / acc_scale + 0.5) * np.sign(c_row)
    worst = k_ * span_a * span_b + (int(np.abs(bias).max()) if bias is not None else 0)
    if worst > INT32_MAX:
        raise low.err(n, f"the int32 accumulator could overflow: {k_} products of up to {span_a} x {span_b} "
                         f"(zero points {a.zero_point}, {b.zero_point}){' plus the bias' if bias is not None else ''}"
                         f" reach {worst} > 2^31 - 1; at most {INT32_MAX // (span_a * span_b)} terms fit")
    try:
        mult, shift = quantize_multiplier(acc_scale / out.scale)
    except ValueError as e:
        raise low.err(n, str(e)) from None
    params = BatchMatmulParams(input1_offset=-a.zero_point, input2_offset=-b.zero_point, output_multiplier=mult,
                               output_shift=shift, output_offset=out.zero_point, act_min=act_min, act_max=act_max,
                               adj_x=int(n.attrs.get("transA", 0)), adj_y=int(n.attrs.get("transB", 0)),
                               rounding=low.plan.of(n.name).rounding)
    append_batch_matmul(low, n, params, [(a, qa), (b, qb)], None if bias is None else bias.astype(np.int32), shapes,
                        out.name, {})


RULES = {"Conv": conv, "ConvTranspose": conv_transpose, "MatMul": matmul}
