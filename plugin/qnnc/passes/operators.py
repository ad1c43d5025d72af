"""The ONNX operators qnnc compiles, in words: the one list behind the README's operator table,
``qnnc ops`` and the refusal message (tests/test_operators.py keeps it equal to what the passes
accept).

Each entry: ONNX op -> (the op it becomes after the passes, which picks its quantizer rule; what
is supported). Ops whose inputs are all constants are folded whatever they are.
"""
from __future__ import annotations

from typing import Dict, Tuple

#: ONNX op -> (canonical op after the passes, notes)
OPERATORS: Dict[str, Tuple[str, str]] = {
    # weighted layers
    "Conv": ("Conv", "1-D and 2-D; groups (depthwise with any multiplier, grouped), strides, pads, dilation; 3-D "
             "(Conv3d) as one 2-D conv per output depth plane over a channel slice of the planes it reads, all "
             "reading one copy of the weight; a bias computed from the input is an Add"),
    "ConvTranspose": ("ConvTranspose", "2-D; strides, pads/auto_pad/output_shape, output_padding, dilation, groups; "
                      "a bias computed from the input is an Add"),
    "Gemm": ("FullyConnected", "constant B: fully connected; two activations: a matrix product (transA/transB, "
             "alpha); a constant C is the bias, a computed one an Add"),
    "MatMul": ("FullyConnected", "constant weights: fully connected; two activations: batched product (rank <= 4, "
               "broadcast batch dims)"),
    "BatchNormalization": ("Conv", "folded into the Conv/Gemm before it, else a depthwise 1x1 conv"),
    "LSTM": ("LSTM", "batch 1, forward/reverse/bidirectional; default activations and constant initial states: "
             "fused kernel (int16 gates and cell); a state input, other activations, clip, input_forget or "
             "peepholes: unrolled into fully connected layers and tables"),
    "GRU": ("GRU", "batch 1, linear_before_reset 0/1, forward/reverse/bidirectional; default activations and a "
            "constant initial state: fused kernel; a state input, other activations (HardSigmoid) or clip: "
            "unrolled"),
    # element-wise
    "Add": ("Add", "broadcasting (rank 5 when axes that broadcast alike merge to 4); two activations or a "
            "constant (an attention mask's entries below -1e4, -inf included, where only a Softmax reads the sum: "
            "-1e4)"),
    "Sub": ("Sub", "broadcasting; two activations or a constant"),
    "Mul": ("Mul", "broadcasting; two activations or a constant"),
    "Div": ("Mul", "by a constant (a Mul), or by an activation (Mul with its reciprocal table)"),
    "Max": ("Max", "two or more inputs, broadcasting"),
    "Min": ("Min", "two or more inputs, broadcasting"),
    "Sum": ("Add", "chained Adds"),
    "Mean": ("Add", "chained Adds, scaled"),
    "PRelu": ("PRelu", "slope per channel or scalar"),
    "Pow": ("Pow", "constant scalar exponent (a table); x^2 of LayerNorm"),
    "Mod": ("Mod", "fmod 1 (torch.fmod) with a constant scalar divisor or dividend: a table (int16: the divisor's "
                   "exact quotient and a subtraction); an input within its quantization step of a wrap point can "
                   "land on the other side of it. A float Mod with fmod 0 is opset 28's: the import's conversion "
                   "to opset 21 cannot keep it; torch.remainder's x - Floor(x / c) * c (and TF's FloorMod) is "
                   "that Mod, one table"),
    # activations and unary functions: 256-entry tables computed at build time
    "Relu": ("Relu", "fused into the layer before"),
    "Clip": ("Clip", "Relu6 and any constant bounds; fused into the layer before; bounds computed from the input "
             "(torch.clamp with tensor bounds) as Min / Max"),
    "LeakyRelu": ("LeakyRelu", "fused into the layer before"),
    "Sigmoid": ("Sigmoid", "table"), "Tanh": ("Tanh", "table"), "HardSigmoid": ("HardSigmoid", "table"),
    "HardSwish": ("HardSwish", "table"), "Elu": ("Elu", "table"), "Selu": ("Selu", "table"),
    "Celu": ("Celu", "table"), "Softplus": ("Softplus", "table"), "Softsign": ("Softsign", "table"),
    "Erf": ("Erf", "table"), "Gelu": ("Gelu", "table (exact and tanh approximations)"),
    "Exp": ("Exp", "table"), "Log": ("Log", "table"), "Sqrt": ("Sqrt", "table"),
    "Reciprocal": ("Reciprocal", "table"), "Neg": ("Neg", "table"), "Abs": ("Abs", "table"),
    "Sin": ("Sin", "table"), "Cos": ("Cos", "table"), "Floor": ("Floor", "table"), "Ceil": ("Ceil", "table"),
    "Round": ("Round", "table"), "Sign": ("Sign", "table; output -1 / 0 / 1 exactly (scale 1/127)"),
    "ThresholdedRelu": ("ThresholdedRelu", "table"), "Shrink": ("Shrink", "table"),
    "Tan": ("Tan", "table"), "Atan": ("Atan", "table"), "Sinh": ("Sinh", "table"), "Cosh": ("Cosh", "table"),
    "Asinh": ("Asinh", "table"),
    "Asin": ("Asin", "table (inputs outside [-1, 1] clamped)"), "Acos": ("Acos", "table (inputs outside [-1, 1] clamped)"),
    "Acosh": ("Acosh", "table (inputs below 1 clamped)"), "Atanh": ("Atanh", "table (|x| >= 1 clamped)"),
    # normalization and reductions
    "Softmax": ("Softmax", "last axis (up to rank 4 others through a transpose); before opset 13 over the dims "
                           "from the axis on"),
    "LogSoftmax": ("LogSoftmax", "last axis (up to rank 4 others through a transpose); before opset 13 over the "
                                 "dims from the axis on"),
    "LayerNormalization": ("LayerNormalization", "also its decomposed form (ReduceMean, Sub, Pow, Sqrt, Div)"),
    "ReduceMean": ("ReduceMean", "any axes, keepdims 0/1"),
    "ReduceSum": ("ReduceSum", "any axes, keepdims 0/1"),
    "ReduceMax": ("ReduceMax", "any axes, keepdims 0/1"),
    "ReduceMin": ("ReduceMin", "any axes, keepdims 0/1"),
    "ArgMax": ("ArgMax", "the index is the output value: int8 up to 127 entries, an int16 output up to 32767 (a "
               "1000-class classifier)"),
    "TopK": ("TopK", "constant K, largest or smallest, rank <= 4; values in order (equal values by index) keep "
             "the input's quantization; indices as ArgMax's"),
    "ArgMin": ("ArgMin", "as ArgMax"),
    # pooling
    "MaxPool": ("MaxPool", "1-D and 2-D, pads, strides, ceil_mode; 3-D as the 2-D pool of each plane, then the "
                "Max of the planes of each depth window"),
    "AveragePool": ("AveragePool", "1-D and 2-D, count_include_pad; 3-D as the 2-D pool of each plane, then the "
                    "Mean (or Sum / depth, with count_include_pad) of the planes of each depth window"),
    "GlobalAveragePool": ("AveragePool", "1-D, 2-D and 3-D (a mean over the merged spatial axes)"),
    "GlobalMaxPool": ("MaxPool", "1-D, 2-D and 3-D (a max over the merged spatial axes)"),
    # data movement (views are free: no copy)
    "Reshape": ("Reshape", "view"), "Flatten": ("Reshape", "view"), "Squeeze": ("Reshape", "view"),
    "Unsqueeze": ("Reshape", "view"),
    "Transpose": ("Transpose", "rank <= 4 once neighbouring axes merge; more (Swin's q/k/v split, PixelShuffle at "
                  "opset 9): a Gather and a smaller Transpose per index of its shortest output axis, split until "
                  "at most 4 axes remain"),
    "Concat": ("Concat", "any axis; inputs rescaled to the output's range; constant inputs before or after the "
               "computed ones (a class token): a Pad and an Add"),
    "Pad": ("Pad", "constant mode: 1-D and 2-D; reflect, edge and wrap modes (constant pads): Slices and a Concat"),
    "Slice": ("Slice", "constant starts/ends/axes/steps, negative steps"),
    "Split": ("Slice", "sizes as attribute or input, num_outputs"),
    "OneHot": ("Gather", "of token ids (an int64/int32 model input, F.one_hot of a categorical input) with constant "
                         "depth and values, on the last axis: a lookup of a constant [depth + 1, depth] table (the "
                         "last row all off, for ids past the encoding); dynamo's Equal(Unsqueeze(ids, -1), arange) "
                         "likewise"),
    "Gather": ("Gather", "constant indices on any axis; indices that are a model input (token ids: int64/int32, or "
                         "float Cast to an integer type) into a constant table on axis 0: an embedding lookup, the "
                         "ids int16 in the API (at most 32768 rows); a column picked from the ids first (a Gather or "
                         "Slice with constant operands: a tabular model's emb_k(cat[:, k])) is picked after the lookup"),
    "Resize": ("Resize", "nearest (every nearest_mode) and linear over up to two axes; every coordinate mode "
               "but tf_crop_and_resize; no cubic"),
    "Upsample": ("Resize", "nearest and linear"),
    "DepthToSpace": ("DepthToSpace", "DCR and CRD"),
    "SpaceToDepth": ("SpaceToDepth", ""),
    "Identity": ("Identity", "removed"), "Dropout": ("Identity", "removed"),
    # composites, rewritten as the ops above before import (frontend/decompose.py)
    "InstanceNormalization": ("LayerNormalization", "1-D and 2-D: a LayerNormalization over the spatial axes, "
                              "then the per-channel scale and bias"),
    "GroupNormalization": ("LayerNormalization", "opset 18 (per-group scale) and 21: a reshape to groups and a "
                           "LayerNormalization"),
    "LpNormalization": ("Mul", "p = 1 or 2: x times the reciprocal of its norm (a reduction and tables)"),
    "ReduceL1": ("ReduceSum", "ReduceSum of Abs"), "ReduceL2": ("ReduceSum", "Sqrt of the ReduceSum of x * x"),
    "ReduceSumSquare": ("ReduceSum", "ReduceSum of x * x"), "ReduceLogSum": ("ReduceSum", "Log of a ReduceSum"),
    "ReduceLogSumExp": ("ReduceSum", "Log of the ReduceSum of Exp"),
    "Mish": ("Mul", "x * Tanh(Softplus(x)): two tables and a product"),
    "LpPool": ("AveragePool", "2-D or 1-D, no dilation: the window's size times AveragePool(Abs(x)^p) under the p-th "
               "root (p = 2: a square and Sqrt; p = 1: Abs; others: Pow tables)"),
    "GlobalLpPool": ("AveragePool", "as LpPool over the whole map"),
    "LRN": ("Conv", "the channel-window sum of squares as a 1x1 conv, a power table and a product"),
    "Expand": ("Add", "constant shape: an Add of zeros that broadcasts"),
    "Tile": ("Concat", "constant repeats: copies concatenated"),
    "Where": ("Add", "constant condition: c * a + (1 - c) * b; a comparison condition: b + mask * (a - b); a "
                     "constant below -1e4 or -inf (attention mask) only where a Softmax reads the result: -1e4"),
    "Greater": ("Sign", "with a constant, as a Where condition or cast to float (also once reshaped, transposed or "
                        "gathered: a masked Keras RNN's step mask): the mask Relu(Sign(x - c))"),
    "Less": ("Sign", "with a constant, as a Where condition or cast to float: the mask Relu(Sign(c - x))"),
    "GreaterOrEqual": ("Sign", "with a constant, as a Where condition or cast to float: 1 minus the Less mask"),
    "LessOrEqual": ("Sign", "with a constant, as a Where condition or cast to float: 1 minus the Greater mask"),
    "Equal": ("Sign", "with a constant, as a Where condition or cast to float: the mask 1 - Abs(Sign(x - c)) "
              "(exact where the quantized x holds c exactly, e.g. 0 after a Relu)"),
    "Not": ("Sub", "of such a comparison's mask: 1 minus the mask"),
    "And": ("Min", "of two such masks: their minimum"),
    "Or": ("Max", "of two such masks: their maximum"),
    "Xor": ("Abs", "of two such masks: the absolute difference"),
    "IsNaN": ("Identity", "of a computed tensor: false everywhere (an integer tensor holds no NaN), so the Where it "
              "feeds keeps its other branch (torch.nan_to_num, isfinite checks)"),
    "IsInf": ("Identity", "of a computed tensor: false everywhere (the integer model saturates where float "
              "overflows); an And with it is false, an Or with it its other operand"),
    "Cast": ("Identity", "to float, of such a comparison: its mask"),
    "CastLike": ("Identity", "a constant CastLike a tensor (function bodies, onnxscript graphs): that constant in "
                 "the tensor's type; float to float: nothing"),
    "Einsum": ("FullyConnected", "one or two operands, no ellipsis or repeated index within an operand: a "
               "batched MatMul between Transposes and Reshapes (a constant operand: fully connected)"),
    "ImageScaler": ("Mul", "opsets < 10 (a removed experimental op): scale * x + bias per channel"),
    "ConstantFill": ("Identity", "opsets < 10 (a removed experimental op; PyTorch's RNN initial state at "
                     "opsets 7-8): with its shape as its input, the ConstantOfShape it computes, a constant once folded"),
    "Swish": ("Mul", "opset 24: x * Sigmoid(alpha * x), as PyTorch's SiLU"),
    "Attention": ("MatMul", "opset 23 (PyTorch's scaled_dot_product_attention from opset 23): inlined as its ONNX "
                  "function body, two batched products and a Softmax; no mask, is_causal, a boolean or an additive "
                  "constant mask (-inf fills as for Add)"),
    "RMSNormalization": ("Mul", "opset 23: x * Reciprocal(Sqrt(ReduceMean(x^2) + epsilon)) * scale, as PyTorch "
                         "exports nn.RMSNorm before opset 23 (tables and products)"),
    "Scale": ("Mul", "opsets < 10 (a removed experimental op): scale * x"),
    "DynamicQuantizeLinear": ("Identity", "onnxruntime's quantize_dynamic: its input, as float (activations are "
                              "quantized from calibration)"),
    "MatMulInteger": ("FullyConnected", "of a DynamicQuantizeLinear's output (quantize_dynamic): a MatMul of the float "
                      "input with the constant weight minus its zero point; of two such outputs, the float MatMul"),
    "ConvInteger": ("Conv", "of a DynamicQuantizeLinear's output (quantize_dynamic): a Conv of the float input with "
                    "the constant weight minus its zero point"),
    "DynamicQuantizeLSTM": ("LSTM", "com.microsoft (quantize_dynamic): an LSTM with the dequantized, transposed "
                            "weights"),
    "Erfc": ("Erf", "tf2onnx's unconverted op (Keras 3's exact gelu; no ONNX schema): 1 - Erf(x)"),
    "TFL_GELU": ("Erf", "tf2onnx's unconverted TFLite GELU (no ONNX schema): x / 2 * (1 + Erf(x / sqrt 2)), or the "
                 "tanh form with approximate"),
    "Log1p": ("Log", "tf2onnx's unconverted tf.math.log1p (no ONNX schema): Log(1 + x)"),
    "Expm1": ("Exp", "tf2onnx's unconverted tf.math.expm1 (no ONNX schema): Exp(x) - 1"),
    "Bucketize": ("Sign", "tf2onnx's unconverted TensorFlow Bucketize (Keras' Discretization; no ONNX schema): the "
                  "number of boundaries <= x, a sum of comparison masks"),
    "If": ("Identity", "a condition known at build time (TorchScript's if on a size, tf.cond on a static shape): "
           "the branch taken, inlined"),
    "Loop": ("Identity", "a trip count and condition known at build time (tf2onnx's Keras 3 LSTM/GRU/SimpleRNN, "
             "TorchScript loops, EmbeddingBag's loop over the bags): unrolled, at most 1024 steps, the steps' tensors of one role on one range; "
             "Ifs of known conditions and sequences of the steps' results in the body, no other subgraphs"),
    "ReverseSequence": ("Slice", "every sequence the whole time axis (tf2onnx's backward RNN direction): a Slice "
                        "with step -1"),
    "ScatterND": ("Concat", "constant indices, no reduction (PyTorch's in-place slice assignment): indices covering "
                  "a box (a range per indexed axis) as Slices of the data and a Concat around the updates; others "
                  "as a Gather over the flattened data and updates"),
    "GatherElements": ("Gather", "constant indices (torch.gather): the same indices along the axis at every other "
                       "position as a Gather on that axis; others as a Gather over the flattened data"),
    "GatherND": ("Gather", "constant indices, any batch_dims (the dynamo exporter's decompositions): a Gather of "
                 "the addressed blocks"),
    "DFT": ("FullyConnected", "real or complex input, constant dft_length and axis (not the batch), inverse, "
            "onesided: a product with the constant cos / sin matrix"),
    "STFT": ("FullyConnected", "torch.stft: the frames gathered, then a product with the windowed DFT matrix; "
             "constant frame_step, window, frame_length"),
    "CumSum": ("FullyConnected", "constant axis (not the batch), exclusive / reverse: a product with a constant 0/1 "
               "triangular matrix over that axis (weights of 1 are exact in int8)"),
    "Trilu": ("Mul", "constant k, upper or lower: a product with the constant 0/1 triangle of the last two axes"),
    "RNN": ("FullyConnected", "unrolled over its static sequence (per step two fully connected layers, an Add and "
            "the activation table); Tanh/Relu/Sigmoid, forward/reverse/bidirectional, layout 0/1, initial_h"),
}


#: Canonical ops the passes always remove (they never reach a kernel, at any precision).
NO_KERNEL = frozenset({"Identity"})


def markdown_table(int16_ops=frozenset()) -> str:
    """The README's operator table; ``int16_ops`` are the canonical ops with int16 kernels."""
    rows = ["| ONNX op | int16 kernel | notes |", "|---|---|---|"]
    for op in sorted(OPERATORS):
        canonical, notes = OPERATORS[op]
        int16 = "yes" if canonical in int16_ops else "no kernel" if canonical in NO_KERNEL else "int8 inside"
        rows.append(f"| {op} | {int16} | {notes} |")
    return "\n".join(rows) + "\n"
