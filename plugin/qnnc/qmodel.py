"""The quantized, lowered model: what the quantizer produces and reference/plan/emit consume.

Every :class:`QOp` maps to one kernel call (or a view); every number the kernel needs is
resolved here (integer weights, biases, multipliers, tables), so later stages only read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .ir import element_count


def paired_filter_bytes(filter_dims) -> int:
    """Bytes of the channel-pair copy of an OHWI conv filter of dims (out_c, kh, kw, in_c)
    (plan/paired_conv.py): out_c rounded up to even, rows padded to a multiple of 4 taps."""
    out_c, kh, kw, in_c = (int(d) for d in filter_dims)
    return ((out_c + 1) // 2) * 2 * ((kh * kw * in_c + 3) & ~3)


def dsp_filter_extra(op: "QOp", wide: Optional[bool] = None) -> int:
    """Bytes the DSP build's own filter copy adds over the int8 filter in ``op.consts``: the paired
    copy (plan/paired_conv.py) in its place, int16 copies (``wide``, default ``attrs["wide_weights"]``:
    plan/wide_weights.py) twice as large; 0 for ops without such a copy."""
    wide = bool(op.attrs.get("wide_weights")) if wide is None else wide
    filt = int(op.consts["filter"].nbytes) if "filter" in op.consts else 0
    if op.attrs.get("paired_weights"):
        return (2 if wide else 1) * paired_filter_bytes(op.attrs["filter_dims"]) - filt
    return filt if wide else 0


def filter_key(op: "QOp") -> Tuple:
    """What makes two ops' filters one array (the emitter defines equal arrays once)."""
    return op.consts["filter"].tobytes(), tuple(op.attrs.get("filter_dims", ()))


# Op kinds and the kernel function each calls (None: a view, no code).
KERNELS = {
    "conv": "qnnc_conv_s8",
    "depthwise_conv": "qnnc_depthwise_conv_s8",
    "fully_connected": "qnnc_fully_connected_s8",
    "max_pool": "qnnc_max_pool_s8",
    "avg_pool": "qnnc_avg_pool_s8",
    "add": "qnnc_add_s8",
    "mul": "qnnc_mul_s8",
    "softmax": "qnnc_softmax_s8",
    "lut": "qnnc_lut_s8",
    "prelu": "qnnc_prelu_s8",
    "minmax": "qnnc_minmax_s8",
    "log_softmax": "qnnc_log_softmax_s8",
    "transpose": "qnnc_transpose_s8",
    "pad": "qnnc_pad_s8",
    "concat": "qnnc_concat_slice_s8",
    "gather": "qnnc_gather_s8",  # Slice, Split, Gather, nearest Resize, DepthToSpace, SpaceToDepth
    "embedding": "qnnc_embedding_s8",  # Gather of table rows by token ids
    "resize": "qnnc_resize_s8",  # linear Resize
    "conv_general": "qnnc_conv_general_s8",  # grouped and transposed convolution
    "batch_matmul": "qnnc_batch_matmul_s8",
    "reduce": "qnnc_reduce_s8",  # ReduceMean/Sum/Max/Min
    "layer_norm": "qnnc_layer_norm_s8",
    "arg_max": "qnnc_arg_max_s8",  # ArgMax and ArgMin
    "top_k": "qnnc_top_k_s8",  # TopK (one op per output used: values or indices)
    "lstm": "qnnc_lstm_s8",  # one call per direction runs every time step
    "gru": "qnnc_gru_s8",
    "requantize": "qnnc_requantize_s8_s16",  # int8 <-> int16 boundary; attrs["kernel"] names the direction
    "reshape": None,
    "patch_segment": None,  # calls the kernels of its sub-ops, band by band
}


@dataclass
class QTensor:
    """An int8 (or, with ``bits`` 16, int16) activation tensor (shape as stored: NHWC for 4-D internals)."""

    name: str
    shape: Tuple[int, ...]
    scale: float
    zero_point: int
    bits: int = 8

    @property
    def nbytes(self) -> int:
        """Bytes the tensor takes in the arena (2 per element for int16)."""
        return self.size * (self.bits // 8)

    @property
    def size(self) -> int:
        return element_count(self.shape)


@dataclass
class QOp:
    """One lowered operation.

    ``params`` is a kernel_params dataclass (or None); ``consts`` holds the constant arrays
    (``filter``, ``bias``, ``multiplier``, ``shift``, ``lut``, ``exp_lut``, ``input2``);
    ``attrs`` holds shapes and small integers (perm, pads, axis, ...).
    """

    kind: str
    name: str
    inputs: List[str]
    output: str
    params: Any = None
    consts: Dict[str, np.ndarray] = field(default_factory=dict)
    attrs: Dict[str, Any] = field(default_factory=dict)
    macs: int = 0

    @property
    def kernel(self) -> Optional[str]:
        # int16-activation ops (and int8/int16 boundaries) name their kernel in attrs.
        return self.attrs["kernel"] if "kernel" in self.attrs else KERNELS[self.kind]

    @property
    def weight_bytes(self) -> int:
        """Bytes of constant data, as the largest target build carries them: with int16 weights
        (``attrs["wide_weights"]``, the DSP path's) the filter counts twice."""
        own = int(sum(a.nbytes for a in self.consts.values())) + dsp_filter_extra(self)
        return own + sum(op.weight_bytes for op in self.sub_ops)

    @property
    def sub_ops(self) -> List["QOp"]:
        """Ops executed inside this one (patch segments), else empty."""
        return list(self.attrs.get("ops", [])) if self.kind == "patch_segment" else []


@dataclass
class QModel:
    """A quantized model ready for the reference, the planner and the emitter."""

    name: str
    tensors: Dict[str, QTensor]
    ops: List[QOp]
    # The public API tensors in graph order. An output may also be read by later ops, and two
    # outputs may name the same tensor; an input may feed several ops.
    inputs: List[str]
    outputs: List[str]
    source: str = ""
    notes: List[str] = field(default_factory=list)
    # ONNX names of the outputs (an int16 result converted to int8 has another tensor name).
    output_names: List[str] = field(default_factory=list)
    # Inputs the API takes as uint8 bytes (an ONNX uint8 input; int8 = byte - 128, see
    # frontend/uint8_inputs.py).
    uint8_inputs: List[str] = field(default_factory=list)
    # Inputs that are token ids (frontend/index_inputs.py): {input: rows of its largest table};
    # int16 of scale 1, the API takes the ids as int16_t.
    index_inputs: Dict[str, int] = field(default_factory=dict)
    # Integer value inputs (frontend/value_inputs.py: a mask): int8 of scale 1, zero point 0.
    value_inputs: List[str] = field(default_factory=list)

    @property
    def api_output_names(self) -> List[str]:
        return list(self.output_names) if self.output_names else list(self.outputs)

    @property
    def input(self) -> str:
        """The first input (single-input code paths)."""
        return self.inputs[0]

    @property
    def output(self) -> str:
        """The first output (single-output code paths)."""
        return self.outputs[0]

    @property
    def input_tensor(self) -> QTensor:
        return self.tensors[self.input]

    @property
    def output_tensor(self) -> QTensor:
        return self.tensors[self.output]

    @property
    def input_tensors(self) -> List[QTensor]:
        return [self.tensors[t] for t in self.inputs]

    @property
    def output_tensors(self) -> List[QTensor]:
        return [self.tensors[t] for t in self.outputs]

    @property
    def multi_io(self) -> bool:
        """More than one input or output, a uint8 input or token ids: the generated API names each tensor."""
        return len(self.inputs) != 1 or len(self.outputs) != 1 or bool(self.uint8_inputs) or bool(self.index_inputs) \
            or any(t.bits == 16 for t in self.output_tensors)  # an int16 index (ArgMax over > 127 entries)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def weight_bytes(self) -> int:
        """Bytes of constant data; arrays with the same type and values count once (the emitter
        defines them once). Int16 weights (``attrs["wide_weights"]``) count as the DSP build
        carries them, in place of the int8 filter, and so do paired conv weights (``attrs["paired_weights"]``):
        the largest of the targets' figures."""
        seen = set()
        total = 0
        for op in [o for op in self.ops for o in [op] + op.sub_ops]:
            extra = dsp_filter_extra(op)  # the DSP build's paired / int16 copy
            if extra:
                key = (filter_key(op), bool(op.attrs.get("paired_weights")), bool(op.attrs.get("wide_weights")))
                if key not in seen:
                    seen.add(key)
                    total += extra
            for a in op.consts.values():
                a = np.ascontiguousarray(a)
                key = (a.dtype.str, a.tobytes())
                if key not in seen:
                    seen.add(key)
                    total += a.nbytes
        return total

    def kernels_used(self) -> List[str]:
        """Sorted kernel function names the model calls."""
        ops = [o for op in self.ops for o in [op] + op.sub_ops]
        wide = {"qnnc_fully_connected_s8_wide" for op in ops
                if op.attrs.get("wide_weights") and not op.attrs.get("paired_weights")}
        paired = {"qnnc_conv_s8_paired_wide" if op.attrs.get("wide_weights") else "qnnc_conv_s8_paired"
                  for op in ops if op.attrs.get("paired_weights")}
        return sorted({op.kernel for op in ops if op.kernel} | wide | paired)
