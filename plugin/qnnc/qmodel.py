"""The quantized, lowered model: what the quantizer produces and reference/plan/emit consume.

Every :class:`QOp` maps to one kernel call (or a view); every number the kernel needs is
resolved here (integer weights, biases, multipliers, tables), so later stages only read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .ir import element_count

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
    "transpose": "qnnc_transpose_s8",
    "pad": "qnnc_pad_s8",
    "concat": "qnnc_concat_slice_s8",
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
        own = int(sum(a.nbytes for a in self.consts.values()))
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
    input: str
    output: str
    source: str = ""
    notes: List[str] = field(default_factory=list)

    @property
    def input_tensor(self) -> QTensor:
        return self.tensors[self.input]

    @property
    def output_tensor(self) -> QTensor:
        return self.tensors[self.output]

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_bytes for op in self.ops)

    def kernels_used(self) -> List[str]:
        """Sorted kernel function names the model calls."""
        ops = [o for op in self.ops for o in [op] + op.sub_ops]
        return sorted({op.kernel for op in ops if op.kernel})
