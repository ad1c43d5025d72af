"""Float execution of the original ONNX model (onnxruntime, else onnx.reference).

Used for calibration (all intermediate tensors) and for validation (float outputs).
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional

import numpy as np
import onnx
from onnx import shape_inference

from ..errors import ModelError
from .data import Samples, sample_count, take
from .decompose import expand_composites
from .importer import batch_error, convert_opset, single_sample
from .ort_session import onnxruntime_session
from .qdq import is_prequantized, strip_quantization
from .qdq_float import clamped_to_quantized_ranges
from .samples_apart import samples_mixed_once
from .sequence_input import batch_first_sequence
from .id_rewrites import rewrite_id_reads
from .index_clamps import clamp_smaller_tables
from .index_inputs import index_inputs, integer_ids
from .uint8_inputs import uint8_input_names
from .value_inputs import bool_input_names, float_value_inputs, integer_values
from .unbatched_inputs import batch_unbatched_inputs


def _with_all_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the model whose graph outputs include every float intermediate tensor."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m = shape_inference.infer_shapes(m)
    have = {o.name for o in m.graph.output}
    # value_info may describe tensors no node produces (PyTorch's dynamo exporter leaves entries of
    # nodes its optimizer removed); onnxruntime refuses such outputs
    # (Constant nodes' values are constants to the importer, not activations to measure)
    produced = {o for n in m.graph.node if n.op_type != "Constant" for o in n.output if o}
    for vi in m.graph.value_info:
        if vi.name not in produced:
            continue
        dims = vi.type.tensor_type.shape.dim
        if any(d.HasField("dim_value") and d.dim_value == 0 for d in dims):
            continue  # an empty tensor (an omitted Resize roi / scales) has no range to measure
        if vi.name not in have and vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            m.graph.output.append(vi)
            have.add(vi.name)
    return m


def _rebatched_inputs(before: onnx.ModelProto, after: onnx.ModelProto) -> List[str]:
    """The inputs whose dim 0 single_sample changed (the first, and further ones of its batch)."""
    def dim0(i):
        d = i.type.tensor_type.shape.dim
        return d[0].dim_value if d and d[0].HasField("dim_value") else None
    return [a.name for a, b in zip(before.graph.input, after.graph.input) if dim0(a) != dim0(b)]


class FloatRunner:
    """Runs a float ONNX model one sample at a time."""

    def __init__(self, path: str, input_shape: Optional[Dict[str, List[int]]] = None, all_tensors: bool = False,
                 derived: bool = False):
        """``derived``: a model qnnc made from the user's (batchnorm calibration's cut model, some
        tensors turned into batch-1 inputs): its first input alone is the batch, unchecked (the
        user's file was checked when it was read)."""
        # The model qnnc compiles: an opset outside 11-21 converted as the importer converts it.
        model, opset = convert_opset(onnx.load(path), path)
        spec = None
        if is_prequantized(model):
            # The float model behind the Q/DQ nodes (dequantized weights, float activations).
            model, spec = strip_quantization(model, path)
        model = rewrite_id_reads(model, opset, path, input_shape)  # as the importer does before finding token ids
        # token ids (index_inputs.py), found as the importer finds them: {input: (table rows, its type)}
        types = {i.name: onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type) for i in model.graph.input
                 if i.type.HasField("tensor_type")}
        ids = index_inputs(model)
        self.index_inputs = {k: (rows, types[k]) for k, rows in ids.items()}
        # an attention mask (value_inputs.py): a float input as the importer makes it, fed whole numbers
        self.bool_inputs = set(bool_input_names(model))  # (a bool mask: 0 / 1)
        self.value_inputs = float_value_inputs(model, ids)
        # A time-major sequence input as the importer takes it; ``input_shape`` is the compiled
        # model's (a sequence input already batch-first), so it applies after this.
        batch_first_sequence(model, path, dynamic_length_ok=True)
        batch_unbatched_inputs(model)  # an input [N] as the importer takes it: [1, N]
        batched = onnx.ModelProto()
        batched.CopyFrom(model)
        # a static batch N as the importer takes it: one sample per run
        rebatched = single_sample(model, None if derived else path)
        # (the importer's shape checks pass graphs that mix the samples and keep every shape)
        if rebatched and not derived and samples_mixed_once(path, batched, model, _rebatched_inputs(batched, model)):
            batch_error(*rebatched, path)
        for inp in model.graph.input:
            if input_shape and inp.name in input_shape:
                for d, v in zip(inp.type.tensor_type.shape.dim, input_shape[inp.name]):
                    d.Clear()
                    d.dim_value = v
        model = expand_composites(model, opset, path)  # the importer's nodes, so every tensor is measured
        if spec is not None:  # (after the rewrites, which name their tensors after what they replace)
            model = clamped_to_quantized_ranges(model, spec)  # as the model's QuantizeLinears clamp them
        clamp_smaller_tables(model, ids)  # ids fed within the largest table; each table clamps as the kernel
        n_outputs = len(model.graph.output)
        self.nodes = list(model.graph.node)  # the nodes it runs (for the callers that read the graph)
        if all_tensors:
            model = _with_all_outputs(model)
        # Files saved by a newer onnx package carry an IR version older runtimes refuse;
        # opsets 11-21 need no more than IR 10, so declare that for the float run.
        model.ir_version = min(model.ir_version, 10)
        inits = {i.name for i in model.graph.initializer}
        self.input_names = [i.name for i in model.graph.input if i.name not in inits]
        self.input_name = self.input_names[0]
        self.uint8_inputs = uint8_input_names(model)
        dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
        self.input_shapes = {k: v for k, v in dims.items() if k in self.input_names and v and all(d > 0 for d in v)}
        self.output_names = [o.name for o in model.graph.output]
        self.model_outputs = self.output_names[:n_outputs]  # the graph's own outputs, in order
        self.path = path
        # what shape inference says (0 = unknown): the importer plans with these, so a run that
        # disagrees is refused rather than calibrated
        self.static_shapes = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim]
                              for o in model.graph.output if o.type.tensor_type.HasField("shape")}
        self.backend = "onnxruntime"
        try:
            self._sess = onnxruntime_session(model)
            self._run = lambda feed: self._sess.run(self.output_names, feed)
        except ImportError:
            from onnx.reference import ReferenceEvaluator

            self.backend = "onnx.reference"
            self._sess = ReferenceEvaluator(model)
            self._run = lambda feed: self._sess.run(self.output_names, feed)

    def feed(self, x: Samples) -> Dict[str, np.ndarray]:
        """{input name: float32 array} from one array (the first input) or a dict by input name
        (uint8 inputs: the values rounded and clamped to 0..255, as uint8; token ids: rounded and
        clamped to the table, of the input's type; integer values: rounded and clamped to -128..127)."""
        if isinstance(x, dict):  # a state input whose dim 0 is not 1 comes as (1, *shape): reshape it
            out = {k: np.ascontiguousarray(x[k], dtype=np.float32).reshape(self.input_shapes[k])
                   if self.input_shapes.get(k) and np.size(x[k]) == int(np.prod(self.input_shapes[k]))
                   else np.ascontiguousarray(x[k], dtype=np.float32) for k in self.input_names}
        elif len(self.input_names) != 1:
            raise ValueError(f"the model has {len(self.input_names)} inputs {self.input_names}: pass a dict")
        else:
            out = {self.input_name: np.ascontiguousarray(x, dtype=np.float32)}
        for k in self.uint8_inputs:
            out[k] = np.clip(np.rint(out[k]), 0, 255).astype(np.uint8)
        for k, (rows, dtype) in self.index_inputs.items():
            out[k] = integer_ids(out[k], rows, dtype)
        for k in self.value_inputs:
            out[k] = integer_values(out[k], np.float32, k in self.bool_inputs)
        return out

    def run(self, x: Samples) -> Dict[str, np.ndarray]:
        """Outputs (and intermediates, if requested) for one sample with batch dim; ``x`` is an array
        (single-input models) or {input name: array}."""
        outs = dict(zip(self.output_names, self._run(self.feed(x))))
        for name, v in outs.items():
            want = self.static_shapes.get(name)
            # dim 0 aside: batched runs (validate.FloatBatches) feed several samples at once
            if want is not None and (len(want) != np.ndim(v) or
                                     any(w > 0 and w != d for w, d in zip(want[1:], np.shape(v)[1:]))):
                raise ModelError(f"tensor '{name}' has shape {list(np.shape(v))} when the model runs, but shape "
                                 f"inference gives {want}: the model's shapes are inconsistent (e.g. a ceil_mode "
                                 "pool whose last window starts past the input), so qnnc cannot plan it",
                                 file=self.path)
        return outs

    def iterate(self, xs: Samples) -> Iterator[Dict[str, np.ndarray]]:
        for i in range(sample_count(xs)):
            yield self.run(take(xs, slice(i, i + 1)))


def float_outputs(path: str, xs: Samples, input_shape=None) -> np.ndarray:
    """The model output for every sample, stacked: shape (N, *output_shape[1:])."""
    return float_outputs_all(path, xs, input_shape)[0]


def float_outputs_all(path: str, xs: Samples, input_shape=None) -> List[np.ndarray]:
    """Every graph output (in graph order) for every sample, stacked: [(N, *output_shape[1:]), ...]."""
    r = FloatRunner(path, input_shape)
    runs = list(r.iterate(xs))
    # a rank-0 output (a scalar the model computes, x.sum()) has no batch axis: one value per sample
    return [np.stack([o[name] for o in runs]) if np.ndim(runs[0][name]) == 0 else
            np.concatenate([o[name] for o in runs], axis=0) for name in r.model_outputs] if runs else []
