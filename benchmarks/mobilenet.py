"""MobileNetV1-0.25 at 96x96x3 (the MLPerf Tiny visual wake words architecture), built with
``onnx.helper`` from seeded random weights: the depthwise-heavy whole model of issue 7's goals.

No trained VWW model is among the shared models; the instruction counts of a convolutional
network do not depend on its weight values (the kernels have no data-dependent branches but
the activation clamps), so the architecture with random weights measures what the trained model
would. Layers as in the reference (TF "same" padding: stride 2 pads bottom/right only), Relu6,
global average pool, a 256->2 classifier, softmax.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np

INPUT_HW = 96
ALPHA_CHANNELS = 8  # 32 * 0.25
# (depthwise stride, pointwise output channels) of the 13 separable blocks at alpha 0.25
BLOCKS: List[Tuple[int, int]] = [(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128), (1, 128), (1, 128),
                                 (1, 128), (1, 128), (1, 128), (2, 256), (1, 256)]
CLASSES = 2


def build_onnx(out: Path, seed: int = 0) -> Tuple[Path, np.ndarray]:
    """Write ``out``/model.onnx; returns (path, calibration floats)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    counter = [0]

    def conv(x: str, cin: int, cout: int, k: int, stride: int, group: int) -> str:
        i = counter[0]
        counter[0] += 1
        fan_in = (cin // group) * k * k
        w = (rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.05).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")])
        # TF "same": stride 1 pads k//2 all round; stride 2 on an even size pads bottom/right
        pads = [k // 2] * 4 if stride == 1 else [0, 0, k // 2, k // 2]
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=pads, group=group))
        nodes.append(helper.make_node("Clip", [f"c{i}", "zero", "six"], [f"r{i}"]))
        return f"r{i}"

    inits += [numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
              numpy_helper.from_array(np.array(6.0, np.float32), "six")]
    x = conv("input", 3, ALPHA_CHANNELS, 3, 2, 1)
    c = ALPHA_CHANNELS
    for stride, cout in BLOCKS:
        x = conv(x, c, c, 3, stride, c)      # depthwise
        x = conv(x, c, cout, 1, 1, 1)        # pointwise
        c = cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"]))
    wf = (rng.standard_normal((CLASSES, c)) / np.sqrt(c)).astype(np.float32)
    inits += [numpy_helper.from_array(wf, "wf"), numpy_helper.from_array(np.zeros(CLASSES, np.float32), "bf")]
    nodes.append(helper.make_node("Gemm", ["flat", "wf", "bf"], ["logits"], transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["output"], axis=1))
    graph = helper.make_graph(
        nodes, "mobilenet_v1_025_96",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, INPUT_HW, INPUT_HW])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.onnx"
    onnx.save(model, str(path))
    cal = rng.uniform(-1.0, 1.0, (32, 3, INPUT_HW, INPUT_HW)).astype(np.float32)
    return path, cal


def test_inputs(count: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (count, 3, INPUT_HW, INPUT_HW)).astype(np.float32)
