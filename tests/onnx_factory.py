"""Small ONNX models built with onnx.helper, valid and deliberately broken, for error and fuzz tests.

Every builder returns an ``onnx.ModelProto``; :func:`save` writes it without running the
checker (broken models must reach qnnc as they are).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def tensor(name: str, arr: np.ndarray) -> onnx.TensorProto:
    """An initializer from a numpy array."""
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes, inputs, outputs, initializers=(), opset: int = OPSET, ir_version: int = 8) -> onnx.ModelProto:
    """A model from parts, with the default-domain opset ``opset`` and no checker run."""
    g = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), initializer=list(initializers))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="qnnc-tests")
    m.ir_version = ir_version
    return m


def vi(name: str, shape: Optional[Sequence], elem=TensorProto.FLOAT) -> onnx.ValueInfoProto:
    """A tensor value info; ``shape`` items may be ints (any sign) or strings (symbolic dims)."""
    return helper.make_tensor_value_info(name, elem, None if shape is None else list(shape))


def tiny_mlp(seed: int = 0, in_features: int = 8, hidden: int = 6, classes: int = 4) -> onnx.ModelProto:
    """A valid Gemm -> Relu -> Gemm -> Softmax model, input [1, in_features]."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((hidden, in_features)).astype(np.float32) * 0.5
    b1 = rng.standard_normal(hidden).astype(np.float32) * 0.1
    w2 = rng.standard_normal((classes, hidden)).astype(np.float32) * 0.5
    b2 = rng.standard_normal(classes).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="relu1"),
        helper.make_node("Gemm", ["hr", "w2", "b2"], ["z"], name="fc2", transB=1),
        helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=-1),
    ]
    return model(nodes, [vi("x", [1, in_features])], [vi("y", [1, classes])],
                 [tensor("w1", w1), tensor("b1", b1), tensor("w2", w2), tensor("b2", b2)])


def tiny_cnn(seed: int = 0) -> onnx.ModelProto:
    """A valid Conv -> Relu -> MaxPool -> Flatten -> Gemm model, input [1, 1, 6, 6]."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32) * 0.5
    b = rng.standard_normal(3).astype(np.float32) * 0.1
    fw = rng.standard_normal((4, 12)).astype(np.float32) * 0.3
    fb = np.zeros(4, np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[3, 3], strides=[3, 3]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    return model(nodes, [vi("x", [1, 1, 6, 6])], [vi("y", [1, 4])],
                 [tensor("w", w), tensor("b", b), tensor("fw", fw), tensor("fb", fb)])


def single_op(op: str, in_shape: List[int], out_shape: Optional[List[int]] = None, opset: int = OPSET,
              elem=TensorProto.FLOAT, **attrs) -> onnx.ModelProto:
    """One unary node ``op`` on input ``x`` (shape ``in_shape``) producing ``y``."""
    node = helper.make_node(op, ["x"], ["y"], name=f"the_{op.lower()}", **attrs)
    return model([node], [vi("x", in_shape, elem)], [vi("y", out_shape, elem)], opset=opset)


def save(m: onnx.ModelProto, path: Path) -> Path:
    """Serialize ``m`` to ``path`` as it is (no checker, no external data conversion)."""
    Path(path).write_bytes(m.SerializeToString())
    return Path(path)


def run_cli(args: Sequence[str], cwd: Optional[Path] = None, env=None, timeout: float = 300
            ) -> subprocess.CompletedProcess:
    """Run ``python -m qnnc ARGS`` as a subprocess; returns the completed process (text mode)."""
    return subprocess.run([sys.executable, "-m", "qnnc", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


class GraphBuilder:
    """A tiny ONNX graph builder for op tests: one float input 'x' of ``shape``; the last node
    made becomes the output 'y' (of ``out_type``; shape from onnx shape inference unless
    ``out_shape`` is set)."""

    def __init__(self, shape, opset: int = 13, out_type=TensorProto.FLOAT):
        self.shape, self.opset, self.out_type = list(shape), opset, out_type
        self.nodes, self.inits, self.n = [], [], 0
        self.out_shape = None

    def const(self, arr) -> str:
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type: str, inputs, **attrs) -> str:
        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{op_type}_{self.n}", **attrs))
        return out

    def finish(self, path: Path, check: bool = True) -> Path:
        """Name the last node's output 'y', check the model (unless ``check`` is False: an op the
        installed onnx checker calls deprecated) and save it to ``path``."""
        self.nodes[-1].output[0] = "y"
        g = helper.make_graph(self.nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
                              [helper.make_tensor_value_info("y", self.out_type, self.out_shape)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)])
        m = onnx.shape_inference.infer_shapes(m)
        if check:
            onnx.checker.check_model(m)
        onnx.save(m, str(path))
        return Path(path)
