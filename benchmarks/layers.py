"""The layer suite: single-layer ONNX models matching the reference layers of measuring.md, and
the MobileNetV1-0.25 (VWW) architecture as a whole model.

Built with ``onnx.helper`` from seeded random weights; calibrated on seeded random inputs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np

# name -> (description, builder args)
LAYERS: Dict[str, dict] = {
    "conv3x3": dict(desc="conv 3x3, 16->32 ch, 32x32, pad 1", kind="conv", cin=16, cout=32, hw=32, k=3, pad=1),
    "dwconv3x3": dict(desc="depthwise 3x3, 64 ch, 32x32, pad 1", kind="dw", cin=64, cout=64, hw=32, k=3, pad=1),
    "fc": dict(desc="fully connected 256->64", kind="fc", cin=256, cout=64),
    "conv1x1": dict(desc="conv 1x1 (pointwise), 64->64 ch, 16x16", kind="conv", cin=64, cout=64, hw=16, k=1, pad=0),
    # KWS DS-CNN's first layer: one input channel, a 10x4 kernel, stride 2 (no im2col-friendly shape)
    "conv_first": dict(desc="first-layer conv 10x4 /2, 1->64 ch, 49x10 (KWS)", kind="conv", cin=1, cout=64,
                       hw=(49, 10), k=(10, 4), pad=(4, 1, 5, 1), stride=2),
    # an RGB image's first layer (MobileNetV1-0.25's, VWW): K = 27, no multiple of 4
    "conv_rgb": dict(desc="first-layer conv 3x3 /2, 3->8 ch, 96x96 (VWW)", kind="conv", cin=3, cout=8,
                     hw=96, k=3, pad=(0, 0, 1, 1), stride=2),
    # a whole model: MobileNetV1-0.25 at 96x96x3, the VWW architecture (benchmarks/mobilenet.py)
    "mobilenet_v1_025": dict(desc="MobileNetV1-0.25 96x96x3 (VWW architecture, random weights)",
                             kind="mobilenet"),
}

# Reference figures from ../shared/docs/measuring.md: (MACs, CMSIS-NN M4 instr, CMSIS-NN M55 instr,
# naive C M4 instr/MAC). None where measuring.md has no figure.
REFERENCE: Dict[str, Tuple[int, int, int, float]] = {
    "conv3x3": (4_718_592, 10_080_649, 1_576_839, 7.71),
    "dwconv3x3": (589_824, 4_769_354, 1_373_209, 25.87),
    "fc": (16_384, 34_029, 8_636, 6.23),
}


def _pair(v) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _spatial(spec: dict):
    """(input h, w), (kernel h, w), ONNX pads (top, left, bottom, right), stride of a conv layer."""
    pad = spec["pad"]
    pads = (pad,) * 4 if isinstance(pad, int) else tuple(pad)
    return _pair(spec["hw"]), _pair(spec["k"]), pads, spec.get("stride", 1)


def build_onnx(name: str, out: Path, seed: int = 0) -> Tuple[Path, np.ndarray]:
    """Write ``out``/model.onnx for one suite layer; returns (path, calibration floats)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = LAYERS[name]
    if spec["kind"] == "mobilenet":
        from . import mobilenet
        return mobilenet.build_onnx(out, seed)
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cin, cout = spec["cin"], spec["cout"]
    if spec["kind"] == "fc":
        in_shape, out_shape = [1, cin], [1, cout]
        w = (rng.standard_normal((cout, cin)) / np.sqrt(cin)).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        node = helper.make_node("Gemm", ["input", "W", "B"], ["output"], transB=1)
    else:
        (h, wd), (kh, kw), pads, stride = _spatial(spec)
        group = cin if spec["kind"] == "dw" else 1
        in_shape = [1, cin, h, wd]
        out_shape = [1, cout, (h + pads[0] + pads[2] - kh) // stride + 1, (wd + pads[1] + pads[3] - kw) // stride + 1]
        fan_in = (cin // group) * kh * kw
        w = (rng.standard_normal((cout, cin // group, kh, kw)) / np.sqrt(fan_in)).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        node = helper.make_node("Conv", ["input", "W", "B"], ["output"], kernel_shape=[kh, kw],
                                pads=list(pads), strides=[stride, stride], group=group)
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = out / "model.onnx"
    onnx.save(model, str(path))
    cal = rng.standard_normal((32, *in_shape[1:])).astype(np.float32)
    return path, cal


def test_inputs(name: str, count: int, seed: int = 7) -> np.ndarray:
    spec = LAYERS[name]
    if spec["kind"] == "mobilenet":
        from . import mobilenet
        return mobilenet.test_inputs(count, seed)
    rng = np.random.default_rng(seed)
    if spec["kind"] == "fc":
        shape = (count, spec["cin"])
    else:
        shape = (count, spec["cin"], *_pair(spec["hw"]))
    return rng.standard_normal(shape).astype(np.float32)
