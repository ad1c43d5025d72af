"""Float execution of the original ONNX model (onnxruntime, else onnx.reference).

Used for calibration (all intermediate tensors) and for validation (float outputs).
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional

import numpy as np
import onnx
from onnx import shape_inference

from .importer import convert_opset
from .qdq import is_prequantized, strip_quantization


def _with_all_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the model whose graph outputs include every float intermediate tensor."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m = shape_inference.infer_shapes(m)
    have = {o.name for o in m.graph.output}
    for vi in m.graph.value_info:
        if vi.name not in have and vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            m.graph.output.append(vi)
            have.add(vi.name)
    return m


class FloatRunner:
    """Runs a float ONNX model one sample at a time."""

    def __init__(self, path: str, input_shape: Optional[Dict[str, List[int]]] = None, all_tensors: bool = False):
        # The model qnnc compiles: an opset outside 11-21 converted as the importer converts it.
        model, _ = convert_opset(onnx.load(path), path)
        if is_prequantized(model):
            # The float model behind the Q/DQ nodes (dequantized weights, float activations).
            model, _ = strip_quantization(model, path)
        for inp in model.graph.input:
            if input_shape and inp.name in input_shape:
                for d, v in zip(inp.type.tensor_type.shape.dim, input_shape[inp.name]):
                    d.Clear()
                    d.dim_value = v
        if all_tensors:
            model = _with_all_outputs(model)
        # Files saved by a newer onnx package carry an IR version older runtimes refuse;
        # opsets 11-21 need no more than IR 10, so declare that for the float run.
        model.ir_version = min(model.ir_version, 10)
        inits = {i.name for i in model.graph.initializer}
        self.input_name = next(i.name for i in model.graph.input if i.name not in inits)
        self.output_names = [o.name for o in model.graph.output]
        self.backend = "onnxruntime"
        try:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            opts.intra_op_num_threads = 1
            opts.log_severity_level = 3
            self._sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            self._run = lambda x: self._sess.run(self.output_names, {self.input_name: x})
        except ImportError:
            from onnx.reference import ReferenceEvaluator

            self.backend = "onnx.reference"
            self._sess = ReferenceEvaluator(model)
            self._run = lambda x: self._sess.run(self.output_names, {self.input_name: x})

    def run(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """Outputs (and intermediates, if requested) for one sample with batch dim."""
        return dict(zip(self.output_names, self._run(np.ascontiguousarray(x, dtype=np.float32))))

    def iterate(self, xs: np.ndarray) -> Iterator[Dict[str, np.ndarray]]:
        for i in range(xs.shape[0]):
            yield self.run(xs[i:i + 1])


def float_outputs(path: str, xs: np.ndarray, input_shape=None) -> np.ndarray:
    """The model output for every sample, stacked: shape (N, *output_shape[1:])."""
    r = FloatRunner(path, input_shape)
    name = r.output_names[0]
    return np.concatenate([o[name] for o in r.iterate(xs)], axis=0)
