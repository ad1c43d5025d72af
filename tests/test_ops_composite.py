"""Composite ONNX ops rewritten into supported ones before import (frontend/decompose.py):
InstanceNormalization, GroupNormalization, LpNormalization, ReduceL1/L2/SumSquare/LogSum/LogSumExp,
Mish, LRN, LpPool / GlobalLpPool, Expand, Tile, Where with a constant condition, Pad in reflect / edge / wrap mode, the
simple RNN (unrolled), ScatterND, GatherElements and GatherND with constant indices, CumSum and Trilu, 3-D
Conv / MaxPool / AveragePool, DFT and STFT.

Each case: the rewritten float model computes what the original does (onnxruntime on both, within
float rounding), the generated C equals the numpy reference bit for bit under ASan/UBSan, and the
reference is close to float onnxruntime (bounds per case). Refusals name the node and the reason.
"""
from __future__ import annotations

import zlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx.reference import ReferenceEvaluator

from onnx_factory import GraphBuilder
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.errors import ModelError
from qnnc.frontend.decompose import COMPOSITES, expand_composites
from qnnc.frontend.float_runner import float_outputs
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

CAL, TEST = 64, 32
CASES = {}


def case(shape, opset=13, sqnr=25.0, check=True):
    def deco(fn):
        CASES[fn.__name__[5:]] = (shape, opset, fn, sqnr, check)
        return fn
    return deco


def conv(m, rng, x, cin, cout):
    return m.op("Conv", [x, m.const((rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32)),
                         m.const((rng.standard_normal(cout) * 0.1).astype(np.float32))], pads=[1, 1, 1, 1])


def per_channel(m, rng, c, mean):
    return m.const((mean + rng.standard_normal(c) * 0.2).astype(np.float32))


@case([1, 3, 8, 8], sqnr=20.0)
def case_instance_norm(m, rng):                       # PyTorch nn.InstanceNorm2d(affine=True)
    c = conv(m, rng, "x", 3, 8)
    return m.op("InstanceNormalization", [c, per_channel(m, rng, 8, 1.0), per_channel(m, rng, 8, 0.0)])


@case([1, 4, 16], sqnr=20.0)
def case_instance_norm_1d(m, rng):                    # nn.InstanceNorm1d on (N, C, L)
    c = m.op("Conv", ["x", m.const((rng.standard_normal((6, 4, 3)) * 0.3).astype(np.float32))], pads=[1, 1])
    return m.op("InstanceNormalization", [c, per_channel(m, rng, 6, 1.0), per_channel(m, rng, 6, 0.0)],
                epsilon=1e-3)


@case([1, 3, 8, 8], opset=18, sqnr=20.0, check=False)  # onnx 1.17+ calls GroupNormalization-18 deprecated
def case_group_norm_opset18_per_group(m, rng):       # scale and bias per group (onnxruntime runs it)
    c = conv(m, rng, "x", 3, 8)
    m.out_shape = [1, 8, 8, 8]  # onnx's shape inference does not know GroupNormalization
    return m.op("GroupNormalization", [c, per_channel(m, rng, 4, 1.0), per_channel(m, rng, 4, 0.0)], num_groups=4)


@case([1, 3, 8, 8], opset=21, sqnr=20.0)
def case_group_norm_opset21_per_channel(m, rng):     # PyTorch nn.GroupNorm(2, 8)
    c = conv(m, rng, "x", 3, 8)
    m.out_shape = [1, 8, 8, 8]
    return m.op("GroupNormalization", [c, per_channel(m, rng, 8, 1.0), per_channel(m, rng, 8, 0.0)], num_groups=2)


@case([1, 3, 4, 4], sqnr=25.0)
def case_l2_normalize_embedding(m, rng):              # F.normalize(Linear(x)): LpNormalization p=2
    f = m.op("Flatten", ["x"])
    e = m.op("Gemm", [f, m.const((rng.standard_normal((16, 48)) * 0.3).astype(np.float32))], transB=1)
    return m.op("LpNormalization", [e], axis=1, p=2)


@case([1, 3, 8, 8], sqnr=25.0)
def case_reduce_l2_spatial(m, rng):
    return m.op("ReduceL2", [conv(m, rng, "x", 3, 8)], axes=[2, 3], keepdims=1)


@case([1, 3, 8, 8], opset=18, sqnr=25.0)
def case_reduce_l1_sumsquare_axes_input(m, rng):      # opset 18: axes as inputs
    c = conv(m, rng, "x", 3, 8)
    a = m.op("ReduceL1", [c, m.const(np.array([3], np.int64))], keepdims=1)
    b = m.op("ReduceSumSquare", [c, m.const(np.array([3], np.int64))], keepdims=1)
    return m.op("Add", [a, b])


@case([1, 3, 8, 8], sqnr=20.0)
def case_reduce_logsumexp_keepdims0(m, rng):
    return m.op("ReduceLogSumExp", [m.op("Sigmoid", [conv(m, rng, "x", 3, 8)])], axes=[1], keepdims=0)


@case([1, 3, 8, 8], opset=18, sqnr=25.0)
def case_mish(m, rng):                                # YOLOv4-style backbone activation
    return m.op("Mish", [conv(m, rng, "x", 3, 8)])


@case([1, 3, 8, 8], sqnr=25.0)
def case_lrn(m, rng):                                 # AlexNet / GoogLeNet style
    return m.op("LRN", [m.op("Relu", [conv(m, rng, "x", 3, 8)])], size=5, alpha=1e-2, beta=0.75, bias=1.0)


@case([1, 3, 8, 8], sqnr=20.0)
def case_lp_pool_p2_strided_padded(m, rng):          # nn.LPPool2d(2, 3, stride=2), ONNX pads added
    return m.op("LpPool", [conv(m, rng, "x", 3, 8)], p=2, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])


@case([1, 3, 8, 8], opset=18, sqnr=20.0)
def case_lp_pool_p1_and_p3(m, rng):                  # p = 1 (Abs) and p = 3 (Pow tables), a same-padded window
    c = conv(m, rng, "x", 3, 8)
    a = m.op("LpPool", [c], p=1, kernel_shape=[2, 2], auto_pad="SAME_UPPER")
    b = m.op("LpPool", [c], p=3, kernel_shape=[2, 2], auto_pad="SAME_UPPER")
    return m.op("Add", [a, b])


@case([1, 4, 16], sqnr=20.0)
def case_global_lp_pool_1d(m, rng):                  # GlobalLpPool over (N, C, L)
    c = m.op("Conv", ["x", m.const((rng.standard_normal((6, 4, 3)) * 0.3).astype(np.float32))], pads=[1, 1])
    return m.op("GlobalLpPool", [c], p=2)


@case([1, 3, 8, 8], sqnr=20.0)
def case_expand_pooled(m, rng):                       # a pooled context broadcast back over the map
    # (the pooled means of this random conv alone measure 23.7 dB: the Expand adds no error)
    p = m.op("GlobalAveragePool", [conv(m, rng, "x", 3, 8)])
    return m.op("Expand", [p, m.const(np.array([1, 8, 4, 4], np.int64))])


@case([1, 3, 8, 8], sqnr=25.0)
def case_tile_two_axes(m, rng):
    return m.op("Tile", [conv(m, rng, "x", 3, 4), m.const(np.array([1, 2, 1, 2], np.int64))])


@case([1, 3, 8, 8], sqnr=25.0)
def case_repeat_torchscript(m, rng):                  # x.repeat(1, 1, 2, 1) as TorchScript exports it
    # Expand to a ConstantOfShape of ones (a shape known only once folded), then Tile
    ones = m.op("ConstantOfShape", [m.const(np.array([4], np.int64))],
                value=onnx.numpy_helper.from_array(np.array([1], np.int64)))
    e = m.op("Expand", [conv(m, rng, "x", 3, 4), ones])
    return m.op("Tile", [e, m.const(np.array([1, 1, 2, 1], np.int64))])


@case([1, 3, 8, 8], sqnr=25.0)
def case_where_constant_mask(m, rng):                 # a fixed mask selecting between two activations
    c = conv(m, rng, "x", 3, 8)
    mask = m.const(rng.random((1, 8, 8, 8)) > 0.5)
    return m.op("Where", [mask, c, m.op("Sigmoid", [c])])


@case([1, 3, 8, 8], opset=13, sqnr=30.0)
def case_pad_reflect_2d(m, rng):                      # PyTorch nn.ReflectionPad2d((1, 2, 1, 0)) -> Conv
    p = m.op("Pad", ["x", m.const(np.array([0, 0, 1, 1, 0, 0, 0, 2], np.int64))], mode="reflect")
    return m.op("Conv", [p, m.const((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32))])


@case([1, 3, 3, 4], opset=13, sqnr=30.0)
def case_pad_reflect_widest(m, rng):                  # reflect pads of size - 1 (the widest ONNX allows)
    # the right border then runs down to index 0 (a Slice end of -1 would have been the last index)
    p = m.op("Pad", ["x", m.const(np.array([0, 0, 2, 3, 0, 0, 2, 3], np.int64))], mode="reflect")
    return m.op("Conv", [p, m.const((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32))])


@case([1, 4, 10], opset=13, sqnr=30.0)
def case_pad_edge_1d(m, rng):                         # nn.ReplicationPad1d(2) on (N, C, L)
    c = m.op("Conv", ["x", m.const((rng.standard_normal((6, 4, 3)) * 0.3).astype(np.float32))], pads=[1, 1])
    return m.op("Pad", [c, m.const(np.array([0, 0, 2, 0, 0, 3], np.int64))], mode="edge")


@case([1, 3, 8, 8], opset=13, sqnr=30.0)
def case_pad_reflect_computed_pads(m, rng):           # nn.ReflectionPad2d((1, 2, 1, 0)), PyTorch's opset 11+ export
    # the pads come from a subgraph: the last-axis-first pairs reversed and transposed into ONNX order
    pairs = m.op("Concat", [m.const(np.array([1, 2, 1, 0], np.int64)), m.const(np.zeros(4, np.int64))], axis=0)
    rev = m.op("Slice", [m.op("Reshape", [pairs, m.const(np.array([-1, 2], np.int64))]),
                         m.const(np.array([-1], np.int64)), m.const(np.array([-9], np.int64)),
                         m.const(np.array([0], np.int64)), m.const(np.array([-1], np.int64))])
    pads = m.op("Reshape", [m.op("Transpose", [rev], perm=[1, 0]), m.const(np.array([-1], np.int64))])
    p = m.op("Pad", ["x", pads], mode="reflect")
    return m.op("Conv", [p, m.const((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32))])


@case([1, 3, 6, 6], opset=19, sqnr=30.0)
def case_pad_wrap_axes_input(m, rng):                 # circular padding, opset 19 with an axes input
    c = conv(m, rng, "x", 3, 4)
    return m.op("Pad", [c, m.const(np.array([1, 2, 2, 1], np.int64)), "", m.const(np.array([2, 3], np.int64))],
                mode="wrap")


@case([1, 3, 8, 8], sqnr=25.0)
def case_where_greater_leaky(m, rng):                 # torch.where(x > 0, x, 0.2 * x)
    c = conv(m, rng, "x", 3, 8)
    cond = m.op("Greater", [c, m.const(np.array(0.0, np.float32))])
    return m.op("Where", [cond, c, m.op("Mul", [c, m.const(np.array(0.2, np.float32))])])


@case([1, 3, 8, 8], sqnr=25.0)
def case_where_equal_zero(m, rng):                   # torch.where(r == 0, 0.1 * x, r), r = relu(x): exact at 0
    c = conv(m, rng, "x", 3, 8)
    r = m.op("Relu", [c])
    return m.op("Where", [m.op("Equal", [r, m.const(np.array(0.0, np.float32))]),
                          m.op("Mul", [c, m.const(np.array(0.1, np.float32))]), r])


@case([1, 16], sqnr=25.0)
def case_not_mask_fill(m, rng):                      # h.masked_fill(~(h > -0.5), -0.5): a Not of the condition
    h = m.op("Gemm", ["x", m.const((rng.standard_normal((8, 16)) * 0.3).astype(np.float32))], transB=1)
    keep = m.op("Greater", [h, m.const(np.array(-0.5, np.float32))])
    return m.op("Where", [m.op("Not", [keep]), m.const(np.array(-0.5, np.float32)), h])


def branch(name, nodes, out, inits=()):
    """An If branch graph: ``nodes`` (reading outer tensors), one float output ``out``."""
    return onnx.helper.make_graph(nodes, name, [], [onnx.helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT,
                                                                                        None)], list(inits))


def size_condition(m, t, axis, op, bound):
    """op(t.size(axis), bound): TorchScript's condition on a static size."""
    size = m.op("Gather", [m.op("Shape", [t]), m.const(np.array(axis, np.int64))])
    return m.op(op, [size, m.const(np.array(bound, np.int64))])


@case([1, 3, 8, 8], sqnr=25.0)
def case_if_on_a_size(m, rng):                       # if c.size(1) > 4: relu(c) * 0.5 else: sigmoid(c)
    c = conv(m, rng, "x", 3, 8)
    scale = onnx.numpy_helper.from_array(np.array(0.5, np.float32), "scale")  # a branch initializer
    then = branch("then", [onnx.helper.make_node("Relu", [c], ["relu_out"]),
                           onnx.helper.make_node("Mul", ["relu_out", "scale"], ["then_out"])], "then_out", [scale])
    other = branch("else", [onnx.helper.make_node("Sigmoid", [c], ["else_out"])], "else_out")
    return m.op("If", [size_condition(m, c, 1, "Greater", 4)], then_branch=then, else_branch=other)


@case([1, 3, 8, 8], sqnr=25.0)
def case_if_nested(m, rng):                          # if c.size(2) < 4: ... else: (tanh(c) if c.size(1) == 8 else c)
    c = conv(m, rng, "x", 3, 8)
    inner = onnx.helper.make_node(
        "If", [size_condition(m, c, 1, "Equal", 8)], ["inner_out"],
        then_branch=branch("inner_then", [onnx.helper.make_node("Tanh", [c], ["tanh_out"])], "tanh_out"),
        else_branch=branch("inner_else", [onnx.helper.make_node("Identity", [c], ["same"])], "same"))
    then = branch("then", [onnx.helper.make_node("Relu", [c], ["relu_out"])], "relu_out")
    other = branch("else", [inner], "inner_out")
    return m.op("If", [size_condition(m, c, 2, "Less", 4)], then_branch=then, else_branch=other)


@case([1, 3, 8, 8], sqnr=25.0)
def case_masked_fill_bool_cast(m, rng):              # PyTorch y.masked_fill(y > 1, 1): the condition cast to bool
    c = conv(m, rng, "x", 3, 8)
    cond = m.op("Cast", [m.op("Greater", [c, m.const(np.array(1.0, np.float32))])], to=onnx.TensorProto.BOOL)
    return m.op("Where", [cond, m.const(np.array(1.0, np.float32)), c])


@case([1, 4, 6, 6], opset=13, sqnr=25.0)
def case_chunk_then_einsum(m, rng):                  # PyTorch x.chunk(2, 1): slice ends computed from Shape
    c = conv(m, rng, "x", 4, 8)
    half = m.op("Div", [m.op("Gather", [m.op("Shape", [c]), m.const(np.array([1], np.int64))]),
                        m.const(np.array([2], np.int64))])
    second = m.op("Slice", [c, half, m.op("Mul", [half, m.const(np.array([2], np.int64))]),
                            m.const(np.array([1], np.int64))])
    return m.op("Einsum", [second, m.const((rng.standard_normal((4, 3)) * 0.3).astype(np.float32))],
                equation="bchw,cd->bdhw")


@case([1, 6, 8], opset=13, sqnr=25.0)
def case_class_token_concat(m, rng):                # ViT / KWT: cat([cls.expand(batch, -1, -1), proj(x)], 1) + pos
    proj = m.op("MatMul", ["x", m.const((rng.standard_normal((8, 8)) * 0.3).astype(np.float32))])
    batch = m.op("Gather", [m.op("Shape", ["x"]), m.const(np.array([0], np.int64))])
    shape = m.op("Concat", [batch, m.const(np.array([1, 8], np.int64))], axis=0)
    cls = m.op("Expand", [m.const((rng.standard_normal((1, 1, 8)) * 0.5).astype(np.float32)), shape])
    end = m.const((rng.standard_normal((1, 2, 8)) * 0.5).astype(np.float32))  # and two trailing tokens
    tokens = m.op("Concat", [cls, proj, end], axis=1)
    return m.op("Add", [tokens, m.const((rng.standard_normal((1, 9, 8)) * 0.1).astype(np.float32))])


@case([1, 16, 4, 4], opset=11, sqnr=30.0)
def case_pixel_shuffle_rank6_transpose(m, rng):      # PyTorch PixelShuffle(2) exported at opset 9 (no DepthToSpace)
    c = m.op("Conv", ["x", m.const((rng.standard_normal((16, 16, 1, 1)) * 0.3).astype(np.float32))])
    v = m.op("Reshape", [c, m.const(np.array([1, 4, 2, 2, 4, 4], np.int64))])
    t = m.op("Transpose", [v], perm=[0, 1, 4, 2, 5, 3])              # 5 axes left once the batch drops
    return m.op("Reshape", [t, m.const(np.array([1, 4, 8, 8], np.int64))])


@case([1, 3, 12, 12], opset=13, sqnr=30.0)
def case_dilated_conv_as_space_to_batch(m, rng):     # TFLite's Conv2D(dilation_rate=2) through tf2onnx
    # SpaceToBatchND / BatchToSpaceND as tf2onnx writes them: the 2x2 block phases become a batch of 4
    # (SpaceToDepth on channels moved to axis 0), an undilated conv runs on it, and the way back
    c = conv(m, rng, "x", 3, 4)
    phases = m.op("Transpose", [m.op("SpaceToDepth", [m.op("Transpose", [c], perm=[1, 0, 2, 3])], blocksize=2)],
                  perm=[1, 0, 2, 3])                                      # [4 phases, 4, 6, 6]
    y = m.op("Relu", [conv(m, rng, phases, 4, 6)])                        # batch 4
    back = m.op("DepthToSpace", [m.op("Transpose", [y], perm=[1, 0, 2, 3])], blocksize=2)
    return m.op("Transpose", [back], perm=[1, 0, 2, 3])                   # [1, 6, 12, 12]


@case([1, 48], opset=13, sqnr=30.0)
def case_rank5_transpose_default_perm(m, rng):       # no perm attribute: the axes reversed
    h = m.op("Gemm", ["x", m.const((rng.standard_normal((48, 48)) * 0.2).astype(np.float32))], transB=1)
    t = m.op("Transpose", [m.op("Reshape", [h, m.const(np.array([2, 3, 2, 2, 2], np.int64))])])
    return m.op("Reshape", [t, m.const(np.array([1, 48], np.int64))])


@case([1, 48], opset=13, sqnr=30.0)
def case_rank5_transpose_and_mask_add(m, rng):     # Swin: (B, N, 3, heads, d) -> (3, B, heads, N, d), + a mask
    h = m.op("Gemm", ["x", m.const((rng.standard_normal((48, 48)) * 0.2).astype(np.float32))], transB=1)
    qkv = m.op("Reshape", [h, m.const(np.array([2, 3, 2, 2, 2], np.int64))])
    t = m.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])                # no two axes stay neighbours
    masked = m.op("Add", [t, m.const((rng.standard_normal((1, 2, 1, 3, 2)) * 0.5).astype(np.float32))])
    return m.op("Reshape", [masked, m.const(np.array([1, 48], np.int64))])


@case([1, 16], sqnr=20.0)
def case_less_equal_mask_cast(m, rng):               # (0.5 >= h).float() * h: a mask as a factor
    h = m.op("Gemm", ["x", m.const((rng.standard_normal((8, 16)) * 0.3).astype(np.float32))], transB=1)
    mask = m.op("Cast", [m.op("GreaterOrEqual", [m.const(np.array(0.5, np.float32)), h])], to=1)
    return m.op("Mul", [mask, h])


@case([1, 6, 8], opset=13, sqnr=30.0)
def case_einsum_linear_constant(m, rng):             # einsum("bld,dk->blk", x, W): a Linear
    return m.op("Einsum", ["x", m.const((rng.standard_normal((8, 5)) * 0.3).astype(np.float32))],
                equation="bld,dk->blk")


@case([1, 2, 6, 4], opset=13, sqnr=25.0)
def case_einsum_attention_scores(m, rng):            # einsum("bhqd,bhkd->bhqk", q, k) of two activations
    q = m.op("Relu", ["x"])
    k = m.op("Sigmoid", ["x"])
    return m.op("Einsum", [q, k], equation="bhqd,bhkd->bhqk")


@case([1, 4, 6], opset=13, sqnr=30.0)
def case_einsum_transpose_sum(m, rng):               # one operand: sum over one index, then transpose
    return m.op("Einsum", [m.op("Relu", ["x"])], equation="bij->jb")


def box_indices(shape, ranges):
    """ScatterND indices of every point of the box ``ranges`` (one range per leading axis of
    ``shape`` it indexes), in row-major order: shape [*box, len(ranges)]."""
    grid = np.meshgrid(*[np.arange(lo, hi) for lo, hi in ranges], indexing="ij")
    return np.stack(grid, -1).astype(np.int64)


@case([1, 3, 4, 4], sqnr=25.0)
def case_scatter_nd_inplace_head(m, rng):            # YOLO head: y[:, 0:2] = sigmoid(y[:, 0:2]) * 2; y[:, 4:] = s * s
    y = conv(m, rng, "x", 3, 8)
    xy = m.op("Mul", [m.op("Sigmoid", [m.op("Slice", [y, *(m.const(np.array([v], np.int64)) for v in (0, 2, 1))])]),
                      m.const(np.array(2.0, np.float32))])
    y = m.op("ScatterND", [y, m.const(box_indices([1, 8, 4, 4], [(0, 1), (0, 2), (0, 4), (0, 4)])), xy])
    s = m.op("Sigmoid", [m.op("Slice", [y, *(m.const(np.array([v], np.int64)) for v in (4, 8, 1))])])
    wh = m.op("Mul", [s, s])
    return m.op("ScatterND", [y, m.const(box_indices([1, 8, 4, 4], [(0, 1), (4, 8)])), wh])  # q = 2 < rank


@case([1, 3, 4, 4], sqnr=30.0)
def case_scatter_nd_yolo_head_reads_back(m, rng):    # YOLOv5 Detect (inplace): y = sigmoid(p); y[..., 0:2] =
    y = m.op("Sigmoid", [m.op("Reshape", [conv(m, rng, "x", 3, 14),  # (y[..., 0:2] * 2 + grid) * 32;
                                          m.const(np.array([1, 2, 7, 4, 4], np.int64))])])  # then
    y = m.op("Transpose", [y], perm=[0, 1, 3, 4, 2])  # y[..., 2:4] = (y[..., 2:4] * 2) ** 2 * anchor reads y back
    sl = [m.const(np.array([v], np.int64)) for v in (0, 2, 4, -1)]
    grid = m.const(rng.uniform(0, 4, (1, 2, 4, 4, 2)).astype(np.float32))
    xy = m.op("Mul", [m.op("Add", [m.op("Mul", [m.op("Slice", [y, sl[0], sl[1], sl[3]]), m.const(np.array(2.0, np.float32))]),
                                   grid]), m.const(np.array(32.0, np.float32))])
    box = [(0, 1), (0, 2), (0, 4), (0, 4)]
    idx = np.concatenate([box_indices([1, 2, 4, 4], box)[..., None, :].repeat(2, axis=-2),
                          np.broadcast_to(np.arange(2).reshape(2, 1), (1, 2, 4, 4, 2, 1))], -1)
    y = m.op("ScatterND", [y, m.const(idx), xy])
    wh = m.op("Mul", [m.op("Pow", [m.op("Mul", [m.op("Slice", [y, sl[1], sl[2], sl[3]]),
                                                m.const(np.array(2.0, np.float32))]), m.const(np.array(2.0, np.float32))]),
                      m.const(rng.uniform(10, 60, (1, 2, 1, 1, 2)).astype(np.float32))])
    return m.op("ScatterND", [y, m.const(idx + np.array([0, 0, 0, 0, 2])), wh])


@case([1, 3, 4, 4], sqnr=25.0)
def case_scatter_nd_box_inside_two_axes(m, rng):     # y[:, 2:5, 1:3] = relu(...): a Concat on each of two axes
    y = conv(m, rng, "x", 3, 6)
    upd = m.op("Relu", [m.op("Slice", [conv(m, rng, "x", 3, 6), m.const(np.array([0, 0], np.int64)),
                                       m.const(np.array([3, 2], np.int64)), m.const(np.array([1, 2], np.int64))])])
    return m.op("ScatterND", [y, m.const(box_indices([1, 6, 4, 4], [(0, 1), (2, 5), (1, 3)])), upd])


@case([1, 3, 4, 4], sqnr=25.0)
def case_scatter_nd_strided_and_repeated(m, rng):    # y[:, ::2] = ...: no box (a Gather over both, flattened);
    y = conv(m, rng, "x", 3, 6)                       # the repeated index takes the later update
    idx = np.array([[[0, 0]], [[0, 2]], [[0, 4]], [[0, 2]]], np.int64).reshape(4, 2)
    upd = m.op("Tanh", [m.op("Reshape", [conv(m, rng, "x", 3, 4), m.const(np.array([4, 4, 4], np.int64))])])
    return m.op("ScatterND", [y, m.const(idx), upd])


@case([1, 3, 4, 4], sqnr=25.0)
def case_scatter_nd_into_constant_zeros(m, rng):     # updates written into zeros: Pad, no Add
    upd = m.op("Relu", [conv(m, rng, "x", 3, 2)])
    return m.op("ScatterND", [m.const(np.zeros((1, 5, 4, 4), np.float32)),
                              m.const(box_indices([1, 5], [(0, 1), (1, 3)])), upd])


@case([1, 3, 4, 4], sqnr=25.0)
def case_gather_elements_along_axis(m, rng):         # torch.gather(y, 2, arange(0, 16, 2).expand(...)), fewer channels
    y = m.op("Reshape", [conv(m, rng, "x", 3, 6), m.const(np.array([1, 6, 16], np.int64))])
    idx = np.broadcast_to(np.array([14, 0, 2, 2, 9], np.int64), (1, 4, 5)).copy()
    return m.op("GatherElements", [y, m.const(idx)], axis=2)


@case([1, 3, 4, 4], sqnr=25.0)
def case_gather_elements_any_indices(m, rng):        # indices that differ per position, a negative one
    y = conv(m, rng, "x", 3, 6)
    idx = rng.integers(0, 6, (1, 6, 3, 4)).astype(np.int64)
    idx[0, 0, 0, 0] = -1
    return m.op("GatherElements", [y, m.const(idx)], axis=1)


@case([1, 3, 4, 4], sqnr=25.0)
def case_gather_nd_blocks(m, rng):                   # rows (c, h) picked from y[0]: blocks of W values
    y = m.op("Squeeze", [conv(m, rng, "x", 3, 6), m.const(np.array([0], np.int64))])
    idx = np.array([[[5, 0], [0, 3]], [[2, -1], [4, 2]], [[1, 1], [5, 0]]], np.int64)  # [3, 2, k = 2]
    return m.op("GatherND", [y, m.const(idx)])


@case([1, 3, 4, 4], sqnr=25.0)
def case_gather_nd_batch_dims1(m, rng):              # batch_dims 1: per channel, single elements (h, w)
    y = m.op("Squeeze", [conv(m, rng, "x", 3, 4), m.const(np.array([0], np.int64))])
    idx = rng.integers(0, 4, (4, 5, 2)).astype(np.int64)
    return m.op("GatherND", [y, m.const(idx)], batch_dims=1)


@case([1, 4, 16], opset=17, sqnr=30.0)
def case_dft_real_onesided_padded(m, rng):          # torch.fft.rfft(y, n=20) over the last axis of a Conv1d
    y = m.op("Conv", ["x", m.const((rng.standard_normal((3, 4, 3)) * 0.3).astype(np.float32))], pads=[1, 1])
    y = m.op("Unsqueeze", [y, m.const(np.array([-1], np.int64))])                    # [1, 3, 16, 1]
    return m.op("DFT", [y, m.const(np.array(20, np.int64))], axis=2, onesided=1)


@case([1, 6, 8], opset=20, sqnr=30.0)
def case_dft20_complex_inverse_axis1_truncated(m, rng):  # complex input, inverse over axis 1, 5 of 6 points
    y = m.op("Reshape", [m.op("Tanh", ["x"]), m.const(np.array([1, 6, 4, 2], np.int64))])
    return m.op("DFT", [y, m.const(np.array(5, np.int64)), m.const(np.array(1, np.int64))], inverse=1)


@case([1, 5, 8], opset=17, sqnr=30.0)
def case_dft_irfft_default_length(m, rng):            # torch.fft.irfft over axis 1: 5 bins -> 8 real samples
    y = m.op("Reshape", [m.op("Tanh", ["x"]), m.const(np.array([1, 5, 4, 2], np.int64))])
    return m.op("DFT", [y], axis=1, inverse=1, onesided=1)


@case([1, 200], opset=17, sqnr=30.0)
def case_stft_hann_onesided(m, rng):                 # torch.stft(x, 32, hop_length=16, window=hann, center=False)
    sig = m.op("Reshape", [m.op("Tanh", ["x"]), m.const(np.array([1, 200, 1], np.int64))])
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(32) / 32)).astype(np.float32)
    return m.op("STFT", [sig, m.const(np.array(16, np.int64)), m.const(window), m.const(np.array(32, np.int64))],
                onesided=1)  # stated: onnx's shape inference reads a missing onesided as 0 (onnxruntime as 1)


@case([1, 3, 6, 6], sqnr=25.0)
def case_clip_computed_bounds(m, rng):               # torch.clamp(y, min=y.mean(), max=per-channel max / 2)
    y = conv(m, rng, "x", 3, 5)
    lo = m.op("ReduceMean", [y], keepdims=0)
    hi = m.op("Mul", [m.op("ReduceMax", [y], axes=[2, 3], keepdims=1), m.const(np.array(0.5, np.float32))])
    return m.op("Clip", [y, lo, hi])


@case([1, 3, 6, 6], sqnr=25.0)
def case_clip_crossed_bounds(m, rng):                 # min > max: every value becomes max (ONNX, torch.clamp)
    y = conv(m, rng, "x", 3, 5)
    lo = m.op("ReduceMax", [y], axes=[2, 3], keepdims=1)
    hi = m.op("ReduceMin", [y], axes=[2, 3], keepdims=1)
    return m.op("Add", [m.op("Clip", [y, lo, hi]), m.op("Mul", [y, m.const(np.array(0.25, np.float32))])])


@case([1, 3, 4, 6], sqnr=25.0)
def case_cumsum_last_axis(m, rng):                   # torch.cumsum(y, -1)
    return m.op("CumSum", [conv(m, rng, "x", 3, 4), m.const(np.array(-1, np.int64))])


@case([1, 3, 4, 4], sqnr=25.0)
def case_cumsum_channels_exclusive_reversed(m, rng):
    return m.op("CumSum", [conv(m, rng, "x", 3, 6), m.const(np.array([1], np.int32))], exclusive=1, reverse=1)


@case([1, 6, 6], opset=14, sqnr=25.0)
def case_trilu_upper_k1_and_lower(m, rng):          # torch.triu(s, 1) + torch.tril(s)
    s = m.op("MatMul", ["x", m.const((rng.standard_normal((6, 6)) * 0.4).astype(np.float32))])
    upper = m.op("Trilu", [s, m.const(np.array(1, np.int64))])
    return m.op("Add", [upper, m.op("Trilu", [s], upper=0)])


@case([1, 3, 8, 8], sqnr=18.0)
def case_mask_logic_and_or_xor(m, rng):              # (y > .5) & ~(y < -.5), |, ^ of two comparisons
    y = conv(m, rng, "x", 3, 4)
    hi = m.op("Greater", [y, m.const(np.array(0.5, np.float32))])
    lo = m.op("Less", [y, m.const(np.array(-0.5, np.float32))])
    keep = m.op("And", [hi, m.op("Not", [lo])])
    a = m.op("Where", [keep, y, m.const(np.array(0.0, np.float32))])
    b = m.op("Where", [m.op("Or", [hi, lo]), m.const(np.array(0.5, np.float32)), m.const(np.array(0.0, np.float32))])
    c = m.op("Cast", [m.op("Xor", [m.op("Cast", [hi], to=onnx.TensorProto.BOOL), lo])], to=onnx.TensorProto.FLOAT)
    return m.op("Add", [m.op("Add", [a, b]), c])


@case([1, 3, 8, 8], sqnr=25.0)
def case_nan_to_num(m, rng):                         # torch.nan_to_num(y / (|y| + 1)): the tests are false
    y = conv(m, rng, "x", 3, 4)
    d = m.op("Div", [y, m.op("Add", [m.op("Abs", [y]), m.const(np.array(1.0, np.float32))])])
    a = m.op("Where", [m.op("IsNaN", [d]), m.const(np.array(0.0, np.float32)), d])
    big = np.finfo(np.float32).max
    pos = m.op("And", [m.op("IsInf", [a]), m.op("Greater", [a, m.const(np.array(0.0, np.float32))])])
    b = m.op("Where", [pos, m.const(np.array(big, np.float32)), a])
    neg = m.op("And", [m.op("IsInf", [b]), m.op("Less", [b, m.const(np.array(0.0, np.float32))])])
    return m.op("Where", [neg, m.const(np.array(-big, np.float32)), b])


def conv3(m, rng, x, cin, cout, k=(3, 3, 3), group=1, **attrs):
    w = (rng.standard_normal((cout, cin // group, *k)) * 0.3).astype(np.float32)
    return m.op("Conv", [x, m.const(w), m.const((rng.standard_normal(cout) * 0.1).astype(np.float32))],
                group=group, **attrs)


@case([1, 3, 5, 8, 8], sqnr=25.0)
def case_conv3d_clip_classifier(m, rng):             # C3D-style: Conv3d + BN + ReLU, MaxPool3d (1,2,2), (2,2,2)
    y = conv3(m, rng, "x", 3, 6, pads=[1, 1, 1, 1, 1, 1])
    y = m.op("BatchNormalization", [y, per_channel(m, rng, 6, 1.0), per_channel(m, rng, 6, 0.0),
                                    per_channel(m, rng, 6, 0.0), m.const(np.full(6, 1.5, np.float32))])
    y = m.op("MaxPool", [m.op("Relu", [y])], kernel_shape=[1, 2, 2], strides=[1, 2, 2])
    y = conv3(m, rng, y, 6, 8, k=(3, 1, 1), strides=[2, 1, 1], pads=[1, 0, 0, 1, 0, 0])
    y = m.op("MaxPool", [y], kernel_shape=[2, 2, 2], strides=[2, 2, 2], ceil_mode=1)
    return m.op("GlobalAveragePool", [y])


@case([1, 4, 6, 6, 6], sqnr=25.0)
def case_conv3d_grouped_dilated_avg_pool(m, rng):    # X3D-style depthwise 3-D, dilation in depth, AvgPool3d
    y = conv3(m, rng, "x", 4, 4, group=4, pads=[1, 1, 1, 1, 1, 1], strides=[1, 2, 1])
    y = conv3(m, rng, m.op("Relu", [y]), 4, 6, group=2, pads=[2, 1, 1, 2, 1, 1], dilations=[2, 1, 1])
    a = m.op("AveragePool", [y], kernel_shape=[3, 2, 2], pads=[1, 0, 0, 1, 1, 1], count_include_pad=1)
    b = m.op("AveragePool", [y], kernel_shape=[3, 2, 2], pads=[1, 0, 0, 1, 1, 1])
    return m.op("Concat", [a, b], axis=1)


@case([1, 2, 5, 4, 4], sqnr=25.0)
def case_avg_pool3d_ceil_include_pad(m, rng):         # PyTorch AvgPool3d(2, ceil_mode=True) on an odd depth:
    y = m.op("Relu", [conv3(m, rng, "x", 2, 3, pads=[1, 1, 1, 1, 1, 1])])  # the last window counts 1 plane
    return m.op("AveragePool", [y], kernel_shape=[2, 2, 2], strides=[2, 2, 2], ceil_mode=1, count_include_pad=1)


@case([1, 3, 8, 8], sqnr=18.0)
def case_isfinite_and_comparison(m, rng):            # torch.where(torch.isfinite(y) & (y > 0.3), y, 0.5)
    y = conv(m, rng, "x", 3, 4)
    finite = m.op("Not", [m.op("Or", [m.op("IsNaN", [y]), m.op("IsInf", [y])])])
    keep = m.op("And", [finite, m.op("Greater", [y, m.const(np.array(0.3, np.float32))])])
    return m.op("Where", [keep, y, m.const(np.array(0.5, np.float32))])


def rnn(m, rng, x, inp, hidden, outputs=("y", "h"), directions=1, extra=(), **attrs):
    """An RNN node of m (its outputs named by `outputs`, '' for an omitted one)."""
    w = m.const((rng.standard_normal((directions, hidden, inp)) * 0.4).astype(np.float32))
    r = m.const((rng.standard_normal((directions, hidden, hidden)) * 0.3).astype(np.float32))
    b = m.const((rng.standard_normal((directions, 2 * hidden)) * 0.1).astype(np.float32))
    m.n += 1
    names = [f"{o}{m.n}" if o else "" for o in outputs]
    m.nodes.append(onnx.helper.make_node("RNN", [x, w, r, b, *extra], names, name=f"RNN_{m.n}",
                                         hidden_size=hidden, **attrs))
    return names


@case([1, 12, 6], sqnr=25.0)
def case_rnn_last_state_classifier(m, rng):         # PyTorch nn.RNN(6, 10, batch_first=True) -> h_n -> Linear
    seq = m.op("Transpose", ["x"], perm=[1, 0, 2])
    _, h = rnn(m, rng, seq, 6, 10, outputs=("", "h"))
    f = m.op("Reshape", [h, m.const(np.array([1, 10], np.int64))])
    return m.op("Gemm", [f, m.const((rng.standard_normal((4, 10)) * 0.3).astype(np.float32))], transB=1)


@case([1, 8, 5], sqnr=25.0)
def case_rnn_bidirectional_sequence_initial_state(m, rng):  # Y of both directions, a given h0
    h0 = m.const((rng.standard_normal((2, 1, 7)) * 0.5).astype(np.float32))
    seq = m.op("Transpose", ["x"], perm=[1, 0, 2])
    y, _ = rnn(m, rng, seq, 5, 7, outputs=("y", ""), directions=2, direction="bidirectional",
               extra=("", h0))
    return m.op("Reshape", [y, m.const(np.array([1, -1], np.int64))])


@case([1, 10, 4], sqnr=20.0)
def case_rnn_reverse_relu(m, rng):                   # unbounded Relu state: the error grows over the steps
    y, h = rnn(m, rng, m.op("Transpose", ["x"], perm=[1, 0, 2]), 4, 6, direction="reverse", activations=["Relu"])
    return m.op("Add", [m.op("ReduceMean", [y], axes=[0], keepdims=0), h])


@case([1, 10, 4], opset=14, sqnr=25.0)
def case_rnn_layout1_batch_first(m, rng):            # layout 1: (batch, sequence, input), no transposes
    y, h = rnn(m, rng, "x", 4, 6, layout=1)
    return m.op("Add", [m.op("ReduceMean", [y], axes=[1], keepdims=0), h])


def _build(tmp_path, name, rng, extra=""):
    shape, opset, builder, _, check = CASES[name]
    m = GraphBuilder(shape, opset)
    builder(m, rng)
    model = m.finish(tmp_path / f"{name}.onnx", check=check)
    np.savez(tmp_path / "cal.npz", x=rng.standard_normal((CAL, *shape[1:])).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n" + extra)
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False)
    return model, res.compiled.model


def _c_equals_reference_sqnr(tmp_path, model, qm, test) -> float:
    """The generated C (in tmp_path/gen, under ASan/UBSan) equals the reference on ``test``; returns
    the reference's SQNR (dB) against float onnxruntime on the model."""
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size), ref)
    f = float_outputs(str(model), test).reshape(len(test), -1).astype(np.float64)
    deq = dequantize_output(qm, ref).astype(np.float64)
    return 10 * np.log10(np.mean(f ** 2) / max(np.mean((deq - f) ** 2), 1e-30))


@pytest.mark.parametrize("name", sorted(CASES))
def test_composite_case(name, tmp_path):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    shape, opset, _, min_sqnr, _ = CASES[name]
    model, qm = _build(tmp_path, name, rng)
    test = rng.standard_normal((TEST, *shape[1:])).astype(np.float32)
    # the rewrite computes what the original does
    original = onnx.load(str(model))
    expanded = expand_composites(original, opset, str(model))
    assert not any(n.op_type in COMPOSITES or n.op_type == "Pad" and n.attribute for n in expanded.graph.node)
    try:
        a = ort.InferenceSession(original.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"x": test[:1]})[0]
    except ort.capi.onnxruntime_pybind11_state.Fail:  # e.g. RNN layout 1, which onnxruntime lacks
        a = ReferenceEvaluator(original).run(None, {"x": test[:1]})[0]
    b = ort.InferenceSession(expanded.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": test[:1]})[0]
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * float(np.abs(a).max()))
    sqnr = _c_equals_reference_sqnr(tmp_path, model, qm, test)
    print(f"{name}: ops {[o.kind for o in qm.ops]}, SQNR {sqnr:.1f} dB")
    assert sqnr >= min_sqnr


@pytest.mark.parametrize("name", ["conv3d_grouped_dilated_avg_pool", "scatter_nd_box_inside_two_axes"])
def test_composite_case_int16_bit_exact(name, tmp_path):
    """The rank-5 views of the 3-D rewrites (and the rewrites' Slices / Concats) at 16-bit activations:
    the C equals the reference."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    shape = CASES[name][0]
    _, qm = _build(tmp_path, name, rng, "quantization:\n  activation_bits: 16\n")
    assert any(o.attrs.get("activation_bits") == 16 for o in qm.ops)
    test = rng.standard_normal((TEST, *shape[1:])).astype(np.float32)
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size), ref)


def _refusal(tmp_path, builder, opset=13):
    m = GraphBuilder([1, 3, 8, 8], opset)
    builder(m)
    model = m.finish(tmp_path / "bad.onnx")
    with pytest.raises(ModelError) as e:
        build(str(model), load_config(None), str(tmp_path / "gen"), "bad", progress=False)
    return str(e.value)


def test_where_with_an_infinite_constant_is_refused_by_name(tmp_path):
    rng = np.random.default_rng(1)
    msg = _refusal(tmp_path, lambda m: m.op("Where", [m.const(rng.random((1, 8, 8, 8)) > 0.5),
                                                      conv(m, rng, "x", 3, 8),
                                                      m.const(np.array(-np.inf, np.float32))]))
    assert "Where_" in msg and "non-finite" in msg and "-1e4" in msg
    assert not (tmp_path / "gen").exists() or not list((tmp_path / "gen").glob("*.c"))


def test_if_on_the_input_data_is_refused_by_name(tmp_path):
    rng = np.random.default_rng(3)

    def build_model(m):
        c = conv(m, rng, "x", 3, 8)
        cond = m.op("Greater", [m.op("ReduceMax", [c], keepdims=0), m.const(np.array(0.0, np.float32))])
        return m.op("If", [cond], then_branch=branch("then", [onnx.helper.make_node("Relu", [c], ["r"])], "r"),
                    else_branch=branch("else", [onnx.helper.make_node("Neg", [c], ["n"])], "n"))
    msg = _refusal(tmp_path, build_model)
    assert "node 'If_" in msg and "depends on the input data" in msg and "known when the model is built" in msg


def test_where_with_a_computed_condition_is_refused_by_name(tmp_path):
    rng = np.random.default_rng(2)

    def builder(m):  # a comparison of two activations: no mask formula
        c = conv(m, rng, "x", 3, 8)
        cond = m.op("Greater", [c, m.op("Sigmoid", [c])])
        return m.op("Where", [cond, c, m.const(np.array(0.5, np.float32))])
    msg = _refusal(tmp_path, builder)
    assert "Greater" in msg and "not supported" in msg


def test_expand_of_a_comparison_of_activations_is_refused_by_name(tmp_path):
    """A bool tensor expanded to a shape Shape computes (expand_as) is not rewritten as a float Add of
    zeros: the refusal names the comparison, not a node the rewrite made."""
    rng = np.random.default_rng(3)

    def builder(m):
        c = conv(m, rng, "x", 3, 8)
        pooled = m.op("GlobalAveragePool", [c])
        mask = m.op("Greater", [pooled, m.op("Sigmoid", [pooled])])
        wide = m.op("Expand", [mask, m.op("Shape", [c])])
        return m.op("Mul", [m.op("Cast", [wide], to=onnx.TensorProto.FLOAT), c])
    msg = _refusal(tmp_path, builder)
    assert "Greater" in msg and "not supported" in msg, msg


def test_rnn_with_clip_is_refused_by_name(tmp_path):
    rng = np.random.default_rng(3)

    def builder(m):
        _, h = rnn(m, rng, m.op("Transpose", ["x"], perm=[1, 0, 2]), 8, 4, outputs=("", "h"), clip=1.0)
        return m.op("Relu", [h])
    m = GraphBuilder([1, 8, 8], 13)
    builder(m)
    with pytest.raises(ModelError) as e:
        build(str(m.finish(tmp_path / "clip.onnx")), load_config(None), str(tmp_path / "gen"), "bad", progress=False)
    assert "RNN_" in str(e.value) and "clip" in str(e.value)


def _bit_exact_build(tmp_path, model, rng):
    """(quantized model, test inputs, reference outputs) of ``model`` (input x [1, 3, 8, 8]) built
    with calibration data; the C equals the reference under ASan/UBSan."""
    np.savez(tmp_path / "cal.npz", x=rng.standard_normal((CAL, 3, 8, 8)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n")
    qm = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op",
               progress=False).compiled.model
    test = rng.standard_normal((TEST, 3, 8, 8)).astype(np.float32)
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp_path / "gen"), "op", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size), ref)
    return qm, test, ref


def _as_ir3(path):
    """The model saved as the IR-3 files of opsets 7-8 are: every initializer also a graph input."""
    m = onnx.load(str(path))
    m.ir_version = 3
    m.graph.input.extend(onnx.helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in m.graph.initializer)
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("ir", [8, 3])
def test_opset8_image_scaler_and_scale(tmp_path, ir):
    """The model zoo's older image networks (Tiny YOLOv2: ImageScaler at opset 8, IR 3 files among
    them): the removed experimental ops are rewritten before the opset conversion (whose constants
    IR 3 would have listed as inputs: the copy is IR 4); the build is bit-exact and close to
    onnxruntime on the original model."""
    rng = np.random.default_rng(8)
    m = GraphBuilder([1, 3, 8, 8], 8)
    s = m.op("ImageScaler", ["x"], scale=0.5, bias=[0.1, -0.2, 0.3])
    c = conv(m, rng, s, 3, 8)
    m.op("Scale", [m.op("Relu", [c])], scale=2.0)
    model = m.finish(tmp_path / "zoo8.onnx", check=False)  # onnx >= 1.x has no schema for them
    if ir == 3:
        model = _as_ir3(model)
    qm, test, ref = _bit_exact_build(tmp_path, model, rng)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    f = np.concatenate([sess.run(None, {"x": t[None]})[0] for t in test]).reshape(len(test), -1)
    deq = dequantize_output(qm, ref).astype(np.float64)
    sqnr = 10 * np.log10(np.mean(f ** 2) / np.mean((deq - f) ** 2))
    print(f"opset 8 ImageScaler/Scale: ops {[o.kind for o in qm.ops]}, SQNR {sqnr:.1f} dB")
    assert sqnr >= 30.0


def _first_node_float64(model, test):
    """onnxruntime's output of the model's first node alone (a Conv) on each test sample, as float64."""
    first = onnx.load(str(model))
    del first.graph.node[1:]
    first.graph.output[0].name = first.graph.node[0].output[0]
    sess = ort.InferenceSession(first.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": t[None]})[0] for t in test]).astype(np.float64)


def test_opset8_rnn_initial_state_constant_fill(tmp_path):
    """PyTorch at opsets 7-8 writes an RNN's zero initial state as ConstantFill (removed from ONNX)
    of a shape built from Shape(x): it becomes ConstantOfShape after the opset conversion. The float
    reading and the int8 build equal those of the same model with a zero initializer."""
    from qnnc.frontend.float_runner import float_outputs as floats
    rng = np.random.default_rng(14)
    steps, inputs, hidden = 6, 3, 4
    w = (rng.standard_normal((1, 3 * hidden, inputs)) * 0.5).astype(np.float32)
    rw = (rng.standard_normal((1, 3 * hidden, hidden)) * 0.4).astype(np.float32)

    def gru(fill: bool):
        m = GraphBuilder([1, steps, inputs], 8)
        seq = m.op("Transpose", ["x"], perm=[1, 0, 2])  # batch_first=True
        if fill:
            batch = m.op("Unsqueeze", [m.op("Gather", [m.op("Shape", ["x"]), m.const(np.array(0, np.int64))],
                                            axis=0)], axes=[0])
            shape = m.op("Concat", [m.const(np.array([1], np.int64)), batch, m.const(np.array([hidden], np.int64))],
                         axis=0)
            h0 = m.op("ConstantFill", [shape], input_as_shape=1, value=0.0, dtype=1)
        else:
            h0 = m.const(np.zeros((1, 1, hidden), np.float32))
        m.op("Squeeze", [m.op("GRU", [seq, m.const(w), m.const(rw), "", "", h0], hidden_size=hidden)], axes=[1])
        m.out_shape = [steps, 1, hidden]
        return m.finish(tmp_path / f"gru_{'fill' if fill else 'zeros'}.onnx", check=False)
    fill, zeros = gru(True), gru(False)
    xs = rng.standard_normal((32, steps, inputs)).astype(np.float32)
    np.testing.assert_array_equal(floats(str(fill), xs), floats(str(zeros), xs))
    np.savez(tmp_path / "cal.npz", x=xs)
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n")
    outs = []
    for path in (fill, zeros):
        qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op",
                   progress=False).compiled.model
        outs.append(run_int8(qm, quantize_input(qm, xs)))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_constant_fill_of_a_float64_model(tmp_path):
    """A float64 opset-8 model (IR 3) adding ConstantFill(dtype=DOUBLE) of its input's shape: read
    as float32 like the rest of the model, bit-exact and equal to x + 0.5 within int8 error."""
    m = GraphBuilder([1, 3, 8, 8], 8)
    fill = m.op("ConstantFill", [m.op("Shape", ["x"])], input_as_shape=1, value=0.5, dtype=onnx.TensorProto.DOUBLE)
    m.op("Add", ["x", fill])
    m.out_shape = [1, 3, 8, 8]
    path = m.finish(tmp_path / "fill64.onnx", check=False)
    model = onnx.load(str(path))
    for v in list(model.graph.input) + list(model.graph.output):
        v.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    del model.graph.value_info[:]
    onnx.save(model, str(path))
    rng = np.random.default_rng(21)
    qm, test, ref = _bit_exact_build(tmp_path, _as_ir3(path), rng)
    err = np.abs(dequantize_output(qm, ref).reshape(test.shape) - (test + 0.5)) / qm.output_tensor.scale
    print(f"float64 ConstantFill: max |error| {err.max():.2f} LSB")
    assert err.max() <= 1.0


def test_tf2onnx_leftover_erfc_and_tfl_gelu(tmp_path):
    """tf2onnx writes Keras 3's exact gelu as Erfc and TFLite's as TFL_GELU, ops with no ONNX schema
    (the file fails the checker and onnxruntime): both are rewritten as ONNX ops on reading; the
    build is bit-exact and close to the formulas in float64."""
    from math import erf
    rng = np.random.default_rng(9)
    m = GraphBuilder([1, 3, 8, 8], 13)
    c = conv(m, rng, "x", 3, 4)
    e = m.op("Erfc", [c])
    g = m.op("TFL_GELU", [c], approximate=0)
    t = m.op("TFL_GELU", [c], approximate=1)
    m.op("Add", [m.op("Add", [e, g]), t])
    m.out_shape = [1, 4, 8, 8]
    model = m.finish(tmp_path / "keras3.onnx", check=False)
    qm, test, ref = _bit_exact_build(tmp_path, model, rng)
    # the formulas in float64 on the conv output
    y = _first_node_float64(model, test)
    verf = np.vectorize(erf)
    tanh_gelu = 0.5 * y * (1 + np.tanh(np.sqrt(2 / np.pi) * (y + 0.044715 * y ** 3)))
    f = ((1 - verf(y)) + 0.5 * y * (1 + verf(y / np.sqrt(2))) + tanh_gelu).reshape(len(test), -1)
    deq = dequantize_output(qm, ref).astype(np.float64)
    sqnr = 10 * np.log10(np.mean(f ** 2) / np.mean((deq - f) ** 2))
    print(f"tf2onnx Erfc / TFL_GELU: ops {[o.kind for o in qm.ops]}, SQNR {sqnr:.1f} dB")
    assert sqnr >= 30.0


def test_tf2onnx_leftover_log1p_expm1_and_bucketize(tmp_path):
    """tf.math.log1p / expm1 and Keras' Discretization (Bucketize, an int32 Cast to float after it)
    stay unconverted in tf2onnx's output: rewritten as ONNX ops (Bucketize as a sum of comparison
    masks); the build is bit-exact and close to the formulas in float64."""
    rng = np.random.default_rng(13)
    m = GraphBuilder([1, 3, 8, 8], 13)
    c = conv(m, rng, "x", 3, 4)
    r = m.op("Relu", [c])
    lp = m.op("Log1p", [r])
    em = m.op("Expm1", [m.op("Neg", [r])])
    bucket = m.op("Cast", [m.op("Bucketize", [c], boundaries=[-0.5, 0.0, 0.5])], to=onnx.TensorProto.FLOAT)
    m.op("Add", [m.op("Add", [lp, em]), m.op("Mul", [bucket, m.const(np.array(0.25, np.float32))])])
    m.out_shape = [1, 4, 8, 8]
    model = m.finish(tmp_path / "tf_math.onnx", check=False)
    qm, test, ref = _bit_exact_build(tmp_path, model, rng)
    y = _first_node_float64(model, test)
    ry = np.maximum(y, 0)
    f = (np.log1p(ry) + np.expm1(-ry) + 0.25 * (y[..., None] >= np.array([-0.5, 0.0, 0.5])).sum(-1)).reshape(len(test), -1)
    deq = dequantize_output(qm, ref).astype(np.float64)
    sqnr = 10 * np.log10(np.mean(f ** 2) / np.mean((deq - f) ** 2))
    print(f"tf2onnx Log1p / Expm1 / Bucketize: ops {[o.kind for o in qm.ops]}, SQNR {sqnr:.1f} dB")
    # (a value within a quantization step of a boundary may land in the next bucket: 0.25 off)
    assert sqnr >= 20.0


def test_hardswish_in_an_opset_13_model(tmp_path):
    """tf2onnx converts a TFLite HARD_SWISH to HardSwish (defined from opset 14) in the opset-13
    model it writes, which onnxruntime refuses: the op is read as its ONNX function body
    (HardSigmoid, Mul: ops of opset 13); the build is bit-exact and close to x * relu6(x + 3) / 6
    in float64."""
    rng = np.random.default_rng(10)
    m = GraphBuilder([1, 3, 8, 8], 13)
    c = conv(m, rng, "x", 3, 4)
    m.op("HardSwish", [c])
    m.out_shape = [1, 4, 8, 8]
    model = m.finish(tmp_path / "tfl_hardswish.onnx", check=False)
    qm, test, ref = _bit_exact_build(tmp_path, model, rng)
    y = _first_node_float64(model, test)
    f = (y * np.clip(y + 3, 0, 6) / 6).reshape(len(test), -1)
    deq = dequantize_output(qm, ref).astype(np.float64)
    sqnr = 10 * np.log10(np.mean(f ** 2) / np.mean((deq - f) ** 2))
    print(f"HardSwish in an opset-13 model: ops {[o.kind for o in qm.ops]}, SQNR {sqnr:.1f} dB")
    assert sqnr >= 30.0


def _masked_recurrence(m, rng, steps: int, features: int, hidden: int):
    """tf2onnx's Keras Masking + SimpleRNN, unrolled: a step whose features are all 0 (padding) is
    masked (Equal, Not, Cast, ReduceSum, Greater), the step mask moved to time-major (Unsqueeze,
    Transpose) and Gathered by each step, whose state update it selects (Where) or weights (Cast)."""
    f = m.op("Cast", [m.op("Not", [m.op("Equal", ["x", m.const(np.array(0.0, np.float32))])])], to=onnx.TensorProto.FLOAT)
    keep = m.op("Greater", [m.op("ReduceSum", [f, m.const(np.array([2], np.int64))], keepdims=0),
                            m.const(np.array(0.0, np.float32))])
    mask = m.op("Transpose", [m.op("Unsqueeze", [keep, m.const(np.array([2], np.int64))])], perm=[1, 0, 2])
    w = m.const((rng.standard_normal((features, hidden)) * 0.5).astype(np.float32))
    u = m.const((rng.standard_normal((hidden, hidden)) * 0.3).astype(np.float32))
    h = m.const(np.zeros((1, hidden), np.float32))
    for t in range(steps):
        x_t = m.op("Gather", ["x", m.const(np.array(t, np.int64))], axis=1)
        new = m.op("Tanh", [m.op("Add", [m.op("MatMul", [x_t, w]), m.op("MatMul", [h, u])])])
        m_t = m.op("Gather", [mask, m.const(np.array(t, np.int64))], axis=0)
        if t % 2:
            h = m.op("Where", [m_t, new, h])
        else:  # new * m + h * (1 - m), the form tf2onnx writes a SelectV2 in
            kept = m.op("Cast", [m_t], to=onnx.TensorProto.FLOAT)
            dropped = m.op("Cast", [m.op("Not", [m_t])], to=onnx.TensorProto.FLOAT)
            h = m.op("Add", [m.op("Mul", [new, kept]), m.op("Mul", [h, dropped])])
    return h


def test_mask_moved_to_time_major_selects_the_steps(tmp_path):
    """A masked recurrence (:func:`_masked_recurrence`) on inputs padded with zero steps: the
    rewrite computes what the original does (onnxruntime), C equals the reference, and the reference
    is close to float, the padded steps leaving the state as it was."""
    rng = np.random.default_rng(12)
    steps, features = 6, 4
    m = GraphBuilder([1, steps, features])
    _masked_recurrence(m, rng, steps, features, 5)
    model = m.finish(tmp_path / "masked_rnn.onnx")
    xs = rng.standard_normal((96, steps, features)).astype(np.float32)
    for i, length in enumerate(rng.integers(2, steps + 1, len(xs))):
        xs[i, length:] = 0.0  # padding
    xs[::7, 1] = 0.0  # and a masked step inside
    original = onnx.load(str(model))
    expanded = expand_composites(original, 13, str(model))
    assert not any(n.op_type in ("Equal", "Greater", "Not", "Where") for n in expanded.graph.node)
    for t in xs[:8]:
        a = ort.InferenceSession(original.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": t[None]})[0]
        b = ort.InferenceSession(expanded.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": t[None]})[0]
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.savez(tmp_path / "cal.npz", x=xs[:64])
    (tmp_path / "q.yaml").write_text("name: op\ncalibration:\n  data: cal.npz\n")
    qm = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "op", progress=False).compiled.model
    sqnr = _c_equals_reference_sqnr(tmp_path, model, qm, xs[64:])
    print(f"masked recurrence: ops {sorted({o.kind for o in qm.ops})}, SQNR {sqnr:.1f} dB")
    assert sqnr >= 25.0


def test_concat_with_a_constant_between_computed_inputs_is_refused_by_name(tmp_path):
    def builder(m):
        a = m.op("Relu", ["x"])
        return m.op("Concat", [a, m.const(np.ones((1, 2, 8, 8), np.float32)), m.op("Sigmoid", ["x"])], axis=1)
    msg = _refusal(tmp_path, builder)
    assert "Concat_" in msg and "between computed ones" in msg, msg


def test_einsum_with_ellipsis_is_refused_by_name(tmp_path):
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((8, 4)) * 0.3).astype(np.float32)
    msg = _refusal(tmp_path, lambda m: m.op("Einsum", [m.op("Relu", ["x"]), m.const(w)], equation="...ij,jk->...ik"))
    assert "Einsum_" in msg and "ellipsis" in msg


def test_scatter_nd_with_a_reduction_is_refused_by_name(tmp_path):
    idx = box_indices([1, 8], [(0, 1), (0, 2)])
    msg = _refusal(tmp_path, lambda m: m.op("ScatterND", [m.op("Relu", ["x"]), m.const(idx),
                                                          m.op("Slice", ["x", *(m.const(np.array([v], np.int64))
                                                                                for v in (0, 2, 1))])],
                                            reduction="add"), opset=16)
    assert "ScatterND_" in msg and "reduction 'add'" in msg, msg


def test_gather_elements_with_computed_indices_is_refused_by_name(tmp_path):
    def builder(m):
        idx = m.op("ArgMax", ["x"], axis=1, keepdims=1)  # torch.gather(y, 1, x.argmax(1, keepdim=True))
        return m.op("GatherElements", [m.op("Sigmoid", ["x"]), idx], axis=1)
    msg = _refusal(tmp_path, builder)
    assert "GatherElements_" in msg and "computed from the model input" in msg, msg


def test_cumsum_axis_out_of_range_is_refused_by_name(tmp_path):
    msg = _refusal(tmp_path, lambda m: m.op("CumSum", [m.op("Relu", ["x"]), m.const(np.array(4, np.int64))]),
                   opset=14)
    assert "CumSum_" in msg and "axis 4 is out of range" in msg, msg
