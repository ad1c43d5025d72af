"""The state of one lowering and what every precision's rules share (lower_graph.py drives it).

It keeps the tensor table and the op list, converts tensors between int8 and int16 (one
``requantize`` op per tensor and precision, shared by all readers), and offers the rules: calibrated ranges, weight quantization, the
requantization multipliers and bias correction (``quantization.bias_correction``: each Conv/FC
bias is lowered by the mean output error its quantized weights cause, ``(dequantized(Wq) - W)``
applied to the layer's mean float input on the calibration data; Nagel et al. 2019, empirical
variant).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from ..errors import ModelError
from ..ir import Graph, Node
from ..kernel_params import ConvParams, RescaleParams
from ..qmodel import QOp, QTensor
from .calibrate import Ranges
from .fixedpoint import ROUND_HALF_EVEN, quantize_multiplier, quantize_multipliers
from .precision import PrecisionPlan
from .qparams import SOFTMAX_ZP, act_qparams, s16_scale
from .weights import fixed_weight_quantization, quantize_weights

SOFTMAX_TOP = 0.5  # a Softmax output's int8 range reaches at least this far (softmax_inv_output_scale)
SOFTMAX_VIEWS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity")


def dims4(shape) -> tuple:
    """A shape of rank <= 4 as 4 dims, leading ones added (the kernels' broadcasting layout)."""
    return (1,) * (4 - len(shape)) + tuple(shape)


def broadcast_dims4(a_shape, b_shape, out_shape):
    """The kernels' 4-D dims of two broadcasting operands and their output, or None. Above rank 4
    (a Swin attention mask added to (1, windows, heads, N, N) scores) the output's size-1 axes go
    and neighbouring axes along which both operands broadcast alike merge."""
    r = len(out_shape)
    if r <= 4:
        return dims4(a_shape), dims4(b_shape), dims4(out_shape)
    a = (1,) * (r - len(a_shape)) + tuple(a_shape)
    b = (1,) * (r - len(b_shape)) + tuple(b_shape)
    groups = []  # [whether a is full, whether b is full, a dim, b dim, output dim]
    for da, db, do in zip(a, b, out_shape):
        if do == 1:
            continue
        kind = (da == do, db == do)
        if groups and tuple(groups[-1][:2]) == kind:
            groups[-1][2:] = [groups[-1][2] * da, groups[-1][3] * db, groups[-1][4] * do]
        else:
            groups.append([kind[0], kind[1], da, db, do])
    if len(groups) > 4:
        return None
    return (dims4([g[2] for g in groups]), dims4([g[3] for g in groups]), dims4([g[4] for g in groups]))


def requantize_op(name: str, src: QTensor, dst: QTensor) -> QOp:
    """An int8 <-> int16 conversion from ``src`` to ``dst`` (one kernel call)."""
    m, s = quantize_multiplier(src.scale / dst.scale)
    params = RescaleParams(-src.zero_point, m, s, dst.zero_point)
    kernel = "qnnc_requantize_s8_s16" if dst.bits == 16 else "qnnc_requantize_s16_s8"
    return QOp("requantize", name, [src.name], dst.name, None, {},
               {"kernel": kernel, "rescale": params, "size": src.size, "to_bits": dst.bits}, 0)


def clamps_at_zero(n: Node) -> bool:
    """A Relu, or a Clip whose lower bound is 0 (ReLU6): on the positive side the identity."""
    return n.op == "Relu" or (n.op == "Clip" and float(n.attrs.get("min", -math.inf)) == 0.0
                              and float(n.attrs.get("max", math.inf)) > 0.0)


def softmax_inv_scale(hi: float, exact: bool = False) -> int:
    """M of a Softmax model output's scale 1/M for its calibrated maximum ``hi``
    (Lowering.softmax_inv_output_scale): 256 unless M is 10 % finer, or any finer when ``exact``."""
    if not math.isfinite(hi):
        return 256
    m = int(math.floor(254.5 / max(hi, SOFTMAX_TOP)))
    return m if (exact and m > 256) or 0.9 * m > 256 else 256


class Lowering:
    """State of one lowering: the graph, its ranges, the plan, the QTensor table and the op list."""

    def __init__(self, g: Graph, ranges: Ranges, plan: PrecisionPlan, per_channel: bool = True,
                 float_mean: Optional[Callable[[str], Optional[np.ndarray]]] = None, int4_clipping: str = "mse"):
        self.g = g
        self.ranges = ranges
        self.plan = plan
        self.per_channel = per_channel
        self.float_mean = float_mean
        self.int4_clipping = int4_clipping
        self.exact_output_scale = False  # softmax_inv_output_scale without its 10 % margin (quantize())
        self.tensors: Dict[str, QTensor] = {}
        self.ops = []
        self.converted: Dict[tuple, QTensor] = {}
        # int16 indices of ArgMax / TopK over more than 127 entries: a model output stays int16
        self.wide_indices: set = set()
        self._readers: Optional[Dict[str, list]] = None  # readers(): Graph.consumers indexed once
        self._tied: Optional[set] = None  # the tensors of the graph's tied range groups

    # -- tensors ----------------------------------------------------------------------
    def err(self, n: Node, msg: str) -> ModelError:
        return ModelError(msg, file=self.g.source, node=n.name, op=f"{n.op}, opset {self.g.opset}")

    def calibrated(self, name: str, n: Node = None) -> Tuple[float, int]:
        """int8 scale and zero point of a tensor: the model's own (QDQ import) or from its range."""
        concat = self.sole_concat_reader(name, n)
        if concat is not None:
            return self.calibrated(concat.outputs[0], concat)
        graph_name, name = name, self.g.original_name(name)
        if self.g.quant is not None and name in self.g.quant.activations:
            return self.g.quant.activations[name]  # fixed by the model's QuantizeLinear
        if name not in self.ranges and n is not None and n.attrs.get("derived_range") and name in n.outputs:
            from .unary_functions import node_derived_range  # a tensor a pass made (Div, Sum, Max ... chains)
            return act_qparams(*node_derived_range(self, n))
        if name not in self.ranges:
            raise ModelError(f"no calibration range for tensor '{name}' (internal: a pass renamed a tensor "
                             "without a passthrough rule)", file=self.g.source, node=n.name if n else None)
        lo, hi = self.ranges[name]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ModelError(f"the float model produces non-finite values (range [{lo}, {hi}]) in tensor '{name}' "
                             "on the calibration data; check the model and the data's scaling",
                             file=self.g.source, node=n.name if n else None, op=n.op if n else None)
        if lo < 0.0 < hi and self.g.quant is None and graph_name not in self.g.value_inputs \
                and self.only_relu_readers(graph_name):  # (a value input keeps scale 1: the value itself)
            lo = 0.0  # the negative values all become 0 (only_relu_readers)
        if self.g.quant is None and graph_name not in self.g.outputs and self.only_sign_readers(graph_name):
            # A comparison's difference (frontend/decompose.py: x > c is Relu(Sign(x - c))): only its
            # sign counts, and clipping keeps the sign, so the range is made symmetric and never
            # empty. A mask compared with 1 on calibration data without padding (the difference
            # always 0) read every padded position as unmasked (39.7 LSB off), and a side the
            # calibration never showed flipped to 0.
            m = max(abs(lo), abs(hi)) or 1.0
            return act_qparams(-m, m)
        return act_qparams(lo, hi)

    def only_sign_readers(self, name: str) -> bool:
        """Whether graph tensor ``name`` is read, and only by Sign nodes."""
        readers = self.readers(name)
        return bool(readers) and all(r.op == "Sign" for r in readers)

    def only_relu_readers(self, name: str) -> bool:
        """Whether every value of graph tensor ``name`` reaches only Relus (see :func:`only_relu_readers`)."""
        return only_relu_readers(self.g, name, self.readers)

    def readers(self, name: str) -> list:
        """The nodes reading graph tensor ``name`` (Graph.consumers, indexed once per lowering:
        calibrated() asks for every tensor)."""
        if self._readers is None:
            self._readers = self.g.reader_map()
        return self._readers.get(name, [])

    def sole_concat_reader(self, name: str, n: Optional[Node]) -> Optional[Node]:
        """The int8 Concat that is the only reader of ``n``'s output ``name``, if any (float models).

        Such an output is computed straight at the Concat's scale and zero point (the rule that
        makes it requantizes anyway), so the Concat copies it instead of rounding it a second time
        onto its own grid: e.g. the corpus Tiny-YOLO's two Sigmoid tables, whose outputs were
        rounded at their own scale and then at the concatenated output's."""
        if n is None or name not in n.outputs or self.g.quant is not None or name in self.g.outputs:
            return None
        if self._tied is None:
            self._tied = {t for group in self.g.tied_ranges for t in group}
        readers = self.readers(name)
        if len(readers) != 1 or readers[0].op != "Concat" or self.g.original_name(name) in self._tied:
            return None
        c = readers[0]
        if self.plan.of(c.name).activation_bits != 8 or any(self.g.is_const(i) for i in c.inputs):
            return None
        return c

    def new_tensor(self, name: str, scale: float, zp: int, bits: int = 8) -> QTensor:
        t = QTensor(name, tuple(self.g.shape(name)), float(scale), int(zp), bits=bits)
        self.tensors[name] = t
        return t

    def value_range(self, t: QTensor):
        """Calibrated float range of a tensor; for tensors without one (those passes made, such as
        a layout transpose's output) the range its quantization can represent."""
        name = self.g.original_name(t.name)
        if name in self.ranges:
            lo, hi = self.ranges[name]
            return float(lo), float(hi)
        if t.bits == 8:
            return (-128 - t.zero_point) * t.scale, (127 - t.zero_point) * t.scale
        return -32767 * t.scale, 32767 * t.scale

    def softmax_inv_output_scale(self, name: str) -> int:
        """M of the int8 output scale 1/M (zero point -128; 256 is TFLite's fixed 1/256) of the Softmax
        output ``name`` (graph tensor): the int8 Softmax's, or the int8 model output an int16 Softmax's is
        converted to (api_output_qparams).

        A float model's Softmax whose output is a model output (through views): as for the other bounded
        table functions (table_output_qparams), the fixed 1/256 stays unless the calibrated range is at
        least 10 % finer (any finer with ``exact_output_scale``, calibration method auto's choice:
        pipeline.exact_output_scale); then M = floor(254.5 / max(hi, 0.5)) for the calibrated maximum
        hi (corpus micro speech, whose outputs stay below 0.343: M = 509, output SQNR 47.0 -> 52.6 dB). The range never
        ends below ``SOFTMAX_TOP`` = 0.5 (M <= 509): an output saturates only at p >= 254.5 / M >= 0.5,
        so at most one class per row does and saturation never ties a classifier's top classes,
        whatever data the calibration saw (without the floor, micro speech's unseen inputs saturate:
        43.9 dB averaged over 16 sets of 8, 44.3 at 1/256, 47.7 with it). A Softmax inside the model
        (attention) keeps 1/256: there a probability beyond the calibrated range, saturated, weighs most
        in the next MatMul (tests' attention chain on unseen inputs: softmax 27.4 -> 26.9 dB with a
        calibrated scale). QDQ models keep 1/256."""
        if self.g.quant is not None or self.g.original_name(name) not in self.ranges \
                or not self.model_output_through_views(name):
            return 256
        return softmax_inv_scale(float(self.ranges[self.g.original_name(name)][1]), self.exact_output_scale)

    def views_of(self, name: str) -> list:
        """Graph tensor ``name`` and what views read by nothing else (SOFTMAX_VIEWS) show it as, in
        order, up to a model output (at most 16)."""
        chain = [name]
        while len(chain) < 16 and name not in self.g.outputs:
            readers = self.readers(name)
            if len(readers) != 1 or readers[0].op not in SOFTMAX_VIEWS or len(readers[0].outputs) != 1:
                break
            name = readers[0].outputs[0]
            chain.append(name)
        return chain

    def model_output_through_views(self, name: str) -> bool:
        """Whether graph tensor ``name`` is a model output itself, or reaches one through views
        (SOFTMAX_VIEWS) read by nothing else."""
        return self.views_of(name)[-1] in self.g.outputs

    def qdq_params_through_views(self, name: str) -> Optional[Tuple[float, int]]:
        """The (scale, zero point) a QDQ model's QuantizeLinear fixes for graph tensor ``name`` or,
        through views read by nothing else (SOFTMAX_VIEWS), for the tensor they show it as; None
        for float models and where the model leaves it unquantized."""
        if self.g.quant is None:
            return None
        return next((self.g.quant.activations[o] for o in map(self.g.original_name, self.views_of(name))
                     if o in self.g.quant.activations), None)

    def log_softmax_output_scale(self, name: str, fixed: float, steps: int) -> float:
        """Output scale of the LogSoftmax output ``name`` (graph tensor), whose quantized range is
        ``steps`` steps below 0: the fixed ``fixed`` (TFLite's 16/256 for int8: [-16, 0]), unless the
        output is a model output (through views) whose calibrated minimum lies further down. Then the
        scale covers the calibrated range: a classifier's log-probabilities of the unlikely classes
        (-30 and below for a trained digits CNN) are the float model's rather than all -16 (the
        digits CNN's output SQNR 17.9 -> 44.6 dB, top-1 unchanged). A LogSoftmax only other layers
        read keeps the fixed scale: the next layer sees the likely classes finely (one that is a
        model output and also read further takes the output's scale, for both)."""
        original = self.g.original_name(name)
        if original not in self.ranges or not self.model_output_through_views(name):
            return fixed
        lo = float(self.ranges[original][0])
        if not math.isfinite(lo) or -lo <= fixed * steps:
            return fixed
        return -lo / steps

    def api_output_qparams(self, outp: str, value_range: Tuple[float, float]) -> Tuple[float, int]:
        """int8 scale and zero point for a tensor converted from int16 (e.g. the model output): those
        of an int8 model's softmax output after a Softmax (through views; softmax_inv_output_scale),
        else ``value_range``'s."""
        producer = next((op for op in reversed(self.ops) if op.output == outp), None)
        while producer is not None and producer.kind == "reshape":  # a view: look at what it shows
            producer = next((op for op in self.ops if op.output == producer.inputs[0]), None)
        if producer is not None and producer.kind == "softmax":
            return 1.0 / self.softmax_inv_output_scale(producer.output), SOFTMAX_ZP
        return act_qparams(*value_range)

    def convert(self, t: QTensor, bits: int) -> QTensor:
        """``t`` at ``bits`` (itself, or a converted copy made once)."""
        if t.bits == bits:
            return t
        key = (t.name, bits)
        if key not in self.converted:
            lo, hi = self.value_range(t)
            if bits == 16:
                dst = QTensor(f"{t.name}__s16", t.shape, s16_scale(lo, hi), 0, bits=16)
            else:
                q = self.api_output_qparams(t.name, (lo, hi))
                dst = QTensor(f"{t.name}__s8", t.shape, *q)
            self.tensors[dst.name] = dst
            self.ops.append(requantize_op(f"{t.name} int{t.bits} -> int{bits}", t, dst))
            self.converted[key] = dst
        return self.converted[key]

    # -- weights and requantization -----------------------------------------------------
    def weights(self, W: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """int8 weights and per-output-channel scales: the model's own for a QDQ import, else computed."""
        if self.g.quant is not None:
            fixed = fixed_weight_quantization(W, self.g.quant.weight_scale_candidates())
            if fixed is not None:
                return fixed
        return quantize_weights(W, self.per_channel)

    def requant(self, n: Node, s_in: float, w_scales: np.ndarray, s_out: float):
        """Per-channel (multiplier, shift) of ``s_in * w_scales / s_out`` in the layer's rounding."""
        if self.plan.of(n.name).rounding == ROUND_HALF_EVEN:
            # onnxruntime's scale, in float32 (QLinearConv / QLinearMatMul compute it so); the
            # multiplier + shift then represent it exactly.
            real = ((np.float32(s_in) * np.asarray(w_scales, np.float32)).astype(np.float32)
                    / np.float32(s_out)).astype(np.float32).astype(np.float64)
        else:
            real = s_in * w_scales / s_out
        try:
            return quantize_multipliers(real)
        except ValueError as e:
            raise self.err(n, str(e)) from None

    def corrected_bias(self, n: Node, W: np.ndarray, b: np.ndarray, wq: np.ndarray, ws: np.ndarray,
                       shift_of) -> np.ndarray:
        """Bias correction: subtract the mean output shift the quantized weights introduce.

        ``shift_of(mean_input, eps)`` is the mean (per output channel) of the layer applied with
        weights ``eps = dequantized(wq) - W`` to the mean float input measured on the calibration
        data. Without bias correction (or without a mean for the input) ``b`` is returned as is.
        """
        if self.float_mean is None:
            return b
        m = self.float_mean(n.inputs[0])
        if m is None:
            return b
        w64 = W.astype(np.float64)
        deq = wq.astype(np.float64) * ws.reshape((-1,) + (1,) * (W.ndim - 1))
        shift = shift_of(m.astype(np.float64), deq - w64)
        return b.astype(np.float64) - shift

    def conv_layout(self, n: Node, wq: np.ndarray, x: QTensor, out: QTensor, **params):
        """(kind, ConvParams, filter in the kernel's layout, filter dims, MACs) of a Conv node:
        ``conv`` for group 1 (OHWI filter), ``depthwise_conv`` for group == input channels
        ([1, kh, kw, out] filter). ``params`` are the precision's offsets and activation bounds."""
        cout, cin_g, kh, kw = wq.shape
        cin, group, a = x.shape[3], n.attrs["group"], n.attrs
        geometry = dict(stride_h=a["strides"][0], stride_w=a["strides"][1], pad_top=a["pads"][0],
                        pad_left=a["pads"][1], dilation_h=a["dilations"][0], dilation_w=a["dilations"][1])
        oh, ow = out.shape[1], out.shape[2]
        if group == 1:
            filt = np.ascontiguousarray(wq.transpose(0, 2, 3, 1))  # OIHW -> OHWI
            return ("conv", ConvParams(depth_multiplier=1, **geometry, **params), filt, tuple(filt.shape),
                    oh * ow * cout * kh * kw * cin)
        if group == cin and cin_g == 1 and cout % cin == 0:
            filt = np.ascontiguousarray(wq.reshape(cout, kh, kw).transpose(1, 2, 0)[None])  # [1,kh,kw,cout]
            return ("depthwise_conv", ConvParams(depth_multiplier=cout // cin, **geometry, **params), filt,
                    (1, kh, kw, cout), oh * ow * cout * kh * kw)
        raise self.err(n, f"grouped convolution with group={group} (input channels {cin}) is not supported with "
                          "int16 activations (only group=1 and depthwise are); int8 activations support it")


def only_relu_readers(g: Graph, name: str, readers: Callable[[str], list]) -> bool:
    """Whether every value of graph tensor ``name`` reaches only Relus (or Clips at 0), through
    views (Reshape, Transpose) read by nothing else, and it is no model output. Its range can
    then start at 0: a negative value and 0 give the same Relu output, so the int8 grid spends
    all its codes on the values that matter. The corpus micro speech model's input, which a Relu
    reads: its step halves (onnxruntime leaves that Relu in float and quantizes after it).
    ``readers(t)`` gives the nodes reading tensor ``t``."""
    frontier = [name]
    seen = 0
    while frontier:
        t = frontier.pop()
        nodes = readers(t)
        if not nodes or t in g.outputs or seen > 64:
            return False
        for r in nodes:
            seen += 1
            if r.op in ("Reshape", "Transpose") and len(r.outputs) == 1:
                frontier.append(r.outputs[0])
            elif not clamps_at_zero(r):
                return False
    return True
