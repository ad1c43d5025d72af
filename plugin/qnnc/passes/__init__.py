"""Stage 2 - graph passes. Each pass is a function ``Graph -> Graph``.

:func:`run_passes` applies them in order; the result uses only the ops in
:data:`SUPPORTED_OPS`, with 4-D activations stored NHWC.
"""
from __future__ import annotations

from typing import Callable, List

from ..errors import ModelError
from ..ir import Graph
from .canonicalize import (avg_pool_include_pad, clip_attrs, conv_attrs, fold_batchnorm, fold_bias_add, fold_scale_mul,
                           fully_connected, fuse_pad_conv, global_pool, pad_attrs, sub_div)
from .canonicalize import elementwise_ops
from .canonicalize import recurrent_attrs
from .cleanup import fold_constants, hoist_activations_over_views, merge_reshapes, normalize_views, remove_identity
from .fuse_activation import fuse_activations
from .index_views import gather_ids_directly
from .layout import simplify_transposes, to_nhwc
from .rank3 import fuse_layer_norm, rank3_to_rank4, reduce_attrs
from .remainders import remainders
from .slice_concat import slice_through_concat

Pass = Callable[[Graph], Graph]

PIPELINE: List[Pass] = [
    remove_identity,
    gather_ids_directly,
    fold_constants,
    slice_through_concat,
    normalize_views,
    merge_reshapes,
    recurrent_attrs,
    fuse_layer_norm,
    reduce_attrs,
    clip_attrs,
    pad_attrs,
    remainders,
    sub_div,
    elementwise_ops,
    hoist_activations_over_views,
    merge_reshapes,
    rank3_to_rank4,
    global_pool,
    conv_attrs,
    fuse_pad_conv,
    avg_pool_include_pad,
    fully_connected,
    fold_batchnorm,
    fold_scale_mul,
    fold_bias_add,
    fuse_activations,
    to_nhwc,
    simplify_transposes,
    merge_reshapes,
    simplify_transposes,  # transposes that only the removed reshapes kept apart
    merge_reshapes,
]

# What the quantizer can lower, and why anything else is refused.
SUPPORTED_OPS = {
    "Conv", "FullyConnected", "Add", "Mul", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
    "MaxPool", "AveragePool", "Reshape", "Transpose", "Concat", "Pad",
}
SUPPORTED_OPS |= {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ArgMax", "ArgMin", "TopK", "LayerNormalization"}
# Element-wise ops: unary ones are 256-entry tables (quantize/unary_functions.py).
SUPPORTED_OPS |= {"Sub", "PRelu", "Max", "Min", "LogSoftmax", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
                  "Softplus", "Softsign", "Erf", "Gelu", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Pow",
                  "Mod", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign", "ThresholdedRelu", "Shrink", "Tan", "Atan", "Asin",
                  "Acos", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"}
SUPPORTED_OPS |= {"Slice", "Split", "Gather", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth"}  # rules_movement
SUPPORTED_OPS |= {"LSTM", "GRU"}  # int8 x/h, int16 gates and cell (quantize/rules_recurrent.py)
SUPPORTED_OPS |= {"MatMul", "ConvTranspose"}  # MatMul left by fully_connected: of two activations (batch_matmul)


def _unsupported(graph: Graph, n, consts=None) -> ModelError:
    """The refusal of node ``n``: what it is, why it cannot stay, what qnnc supports."""
    live = [i for i in n.inputs if i and consts is not None and i not in consts]
    why = (f"; it cannot be folded away either, because its input '{live[0]}' is computed from the model "
           "input (only ops whose inputs are all constants are folded)" if live else "")
    return ModelError(
        f"this operator is not supported by qnnc: there is no integer kernel for {n.op}{why} (supported: Conv, "
        "Gemm, MatMul (also of two activations), ConvTranspose, Add, Sub, Mul, Div, Relu, Clip, LeakyRelu, Sigmoid, Tanh, Softmax, "
        "MaxPool, AveragePool, GlobalAveragePool, BatchNormalization, Reshape, Flatten, Squeeze, Unsqueeze, "
        "Transpose, Concat, Pad, Slice, Split, Gather (constant indices, or token ids into a constant table), Resize/Upsample (nearest, linear), "
        "DepthToSpace, SpaceToDepth, Identity, Dropout, PRelu, Max, Min, Sum, Mean, LogSoftmax, HardSigmoid, HardSwish, "
        "Elu, Selu, Celu, Softplus, Softsign, Erf, Gelu, Exp, Log, Sqrt, Reciprocal, Neg, Abs, Pow (constant "
        "scalar exponent or base), Mod (constant scalar divisor or dividend), Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, Floor, Ceil, Round, Sign, "
        "ThresholdedRelu, Shrink, ReduceMean, ReduceSum, ReduceMax, ReduceMin, ArgMax, ArgMin, TopK, "
        "LSTM and GRU (batch 1, default activations), LayerNormalization (also decomposed: ReduceMean, Sub, Pow, Sqrt, Div), 1-D Conv/pools on (N, C, L), "
        "InstanceNormalization, GroupNormalization, LpNormalization, ReduceL1/L2/SumSquare/LogSum/LogSumExp, Mish, LRN, "
        "Expand and Tile (constant shape/repeats), Where (constant condition), RNN (unrolled), ScatterND and "
        "GatherElements / GatherND (constant indices), CumSum, Trilu, DFT, STFT, and any op on constants only)",
        file=graph.source, node=n.name, op=f"{n.op}, opset {graph.opset}")


def check_supported(graph: Graph) -> Graph:
    """Fail with node name, op type, opset and reason for anything the quantizer cannot lower."""
    for n in graph.nodes:
        if n.op not in SUPPORTED_OPS:
            raise _unsupported(graph, n)
    return graph


def run_passes(graph: Graph, io_layout: str = "NCHW") -> Graph:
    """Apply the whole pass pipeline; ``io_layout`` is the layout of the public API tensors."""
    g = graph.copy()
    g.io_layout = io_layout
    g = check_early(g)
    for p in PIPELINE:
        g = p(g)
    return check_supported(g)


_FOLDABLE_ONLY = {"Shape", "Gather", "Cast", "ConstantOfShape", "Range", "Slice", "Expand", "Size", "Sqrt",
                  "Equal", "Where", "ReduceProd", "NonZero", "Floor", "Ceil"}
_ACCEPTED = SUPPORTED_OPS | {"Gemm", "MatMul", "Sub", "Div", "GlobalAveragePool", "GlobalMaxPool",
                             "BatchNormalization", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
_ACCEPTED |= {"Sum", "Mean"}  # chained into Add / Max / Min (canonicalize.elementwise_ops)
_ACCEPTED |= {"Pow", "Sqrt", "Reciprocal"}  # parts of a decomposed LayerNorm (rank3.fuse_layer_norm)


def check_early(graph: Graph) -> Graph:
    """Refuse unsupported ops before any work, unless all their inputs are constants (folded)."""
    consts = {k for k, t in graph.tensors.items() if t.is_const}
    for n in graph.nodes:
        if n.op in _ACCEPTED:
            if all((not i) or i in consts for i in n.inputs) and n.op not in ("Identity",):
                consts.update(n.outputs)
            continue
        if n.inputs and all((not i) or i in consts for i in n.inputs):
            consts.update(n.outputs)
            continue
        if n.op == "Shape":
            consts.update(n.outputs)
            continue
        raise _unsupported(graph, n, consts)
    return graph
