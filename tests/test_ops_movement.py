"""Data movement and resampling ops (quantize/rules_movement.py): Slice, Split, Gather, DepthToSpace,
SpaceToDepth, Resize / Upsample. Each case is a small ONNX model: the generated C must equal the
numpy reference bit for bit under ASan/UBSan, and the reference must be close to float onnxruntime
run on the original file (so opset conversions are checked too).

Bounds, in LSB of the output scale (which is the input's: these ops keep the quantization):
ops that only move data reproduce the quantized input, so directly on the model input the error is
the input's rounding, <= 0.5 LSB; linear Resize adds one rounding and the Q11 weights' error
(<= 128 * 2^-11 / 2 per tap pair), <= 1.1 LSB in all. After a Conv the Conv's own error counts too
(mean < 1 LSB, max <= 3 LSB).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.errors import ModelError
from qnnc.reference import kernels_movement as KM
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

RNG = np.random.default_rng(2026)


@pytest.fixture(autouse=True)
def _seed_per_test(request):
    """Each test draws its weights and data from a generator seeded by its own name, so what it
    checks does not depend on which tests ran before it in the same process (pytest-xdist)."""
    global RNG
    RNG = np.random.default_rng(zlib.crc32(request.node.name.encode()))
N = helper.make_node
I64 = np.int64


class G:
    """A small graph: input 'x' of ``shape``; ``op`` adds a node; the last node's output is 'y'."""

    def __init__(self, shape, opset=13):
        self.shape, self.opset = list(shape), opset
        self.nodes, self.inits, self.n = [], [], 0

    def c(self, arr) -> str:
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, n_out=1, **attrs):
        self.n += 1
        outs = [f"t{self.n}_{k}" for k in range(n_out)]
        self.nodes.append(N(op_type, inputs, outs, name=f"{op_type}_{self.n}", **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout):
        w = (RNG.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32)
        return self.op("Conv", [x, self.c(w), self.c((RNG.standard_normal(cout) * 0.1).astype(np.float32))],
                       kernel_shape=[3, 3], pads=[1, 1, 1, 1])

    def save(self, path: Path) -> Path:
        self.nodes[-1].output[0] = "y"
        g = helper.make_graph(self.nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = min(m.ir_version, 9)
        m = onnx.shape_inference.infer_shapes(m)
        onnx.checker.check_model(m)
        onnx.save(m, str(path))
        return path


def compile_and_check(g: G, tmp: Path, name: str, max_lsb: float, mean_lsb: float = 1.0, n_test: int = 16):
    """Build, compare C with the reference (sanitizers) and the reference with onnxruntime."""
    model = g.save(tmp / f"{name}.onnx")
    cal = RNG.uniform(-1, 1, (32, *g.shape[1:])).astype(np.float32)
    cal[0] = 1.0  # the calibrated input range covers every test value
    cal[1] = -1.0
    test = RNG.uniform(-1, 1, (n_test, *g.shape[1:])).astype(np.float32)
    np.savez(tmp / "cal.npz", x=cal)
    (tmp / "q.yaml").write_text("name: mv\ncalibration:\n  data: cal.npz\n")
    res = build(str(model), load_config(str(tmp / "q.yaml")), str(tmp / "gen"), "mv", progress=False)
    qm = res.compiled.model
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(n_test, -1)
    exe = compile_driver(str(tmp / "gen"), "mv", str(tmp / "drv"), sanitize=True)
    c_out = run_driver(exe, q_in.reshape(n_test, -1), qm.output_tensor.size)
    assert np.array_equal(c_out, ref), f"{name}: C differs from the reference"
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    f = np.stack([sess.run(None, {"x": t[None]})[0] for t in test]).reshape(n_test, -1)
    deq = dequantize_output(qm, ref).astype(np.float64)
    err = np.abs(deq - f) / qm.output_tensor.scale
    kinds = [o.kind for o in qm.ops]
    print(f"{name}: ops {kinds}, mean {err.mean():.3f} LSB, max {err.max():.3f} LSB")
    assert err.max() <= max_lsb, (name, err.max())
    assert err.mean() <= mean_lsb, (name, err.mean())
    return qm


# -- cases: (builder, max LSB, mean LSB) --------------------------------------------------------------
def slice_channels_after_conv(g):  # ShuffleNet's split of the channels, as PyTorch exports it
    a = g.conv("x", 3, 8)
    lo = g.op("Slice", [a, g.c(np.array([0], I64)), g.c(np.array([4], I64)), g.c(np.array([1], I64))])
    hi = g.op("Slice", [a, g.c(np.array([4], I64)), g.c(np.array([9223372036854775807], I64)),
                        g.c(np.array([1], I64))])
    return g.op("Concat", [g.op("Relu", [hi]), lo], axis=1)


def slice_negative_steps_clamped(g):  # negative starts/ends/steps, out of range values, several axes
    return g.op("Slice", ["x", g.c(np.array([-1, 1, 100], I64)), g.c(np.array([-100, 4, -7], I64)),
                          g.c(np.array([3, -3, 2], I64)), g.c(np.array([-2, 2, -1], I64))])


def slice_opset9_attributes(g):  # Slice-1 attributes (converted to Slice-13 inputs by the importer)
    g.opset = 9
    return g.op("Slice", ["x"], starts=[1, 0], ends=[3, -1], axes=[1, 3])


def slice_3d_and_2d(g):  # (N, C, L) tensors stay channels-first; rank 2 after a Flatten
    r = g.op("Reshape", ["x", g.c(np.array([1, 6, 21], I64))])
    s = g.op("Slice", [r, g.c(np.array([1, 20], I64)), g.c(np.array([6, 2], I64)), g.c(np.array([1, 2], I64)),
                       g.c(np.array([2, -3], I64))])
    f = g.op("Reshape", [s, g.c(np.array([1, -1], I64))])
    return g.op("Slice", [f, g.c(np.array([3], I64)), g.c(np.array([17], I64)), g.c(np.array([1], I64))])


def split_input_sizes(g):  # opset 13: split sizes as an input; the parts go different ways
    a = g.conv("x", 3, 6)
    p = g.op("Split", [a, g.c(np.array([2, 3, 1], I64))], n_out=3, axis=1)
    return g.op("Concat", [g.op("Sigmoid", [p[1]]), p[0], g.op("Relu", [p[2]])], axis=1)


def split_num_outputs_opset18(g):  # opset 18: num_outputs, uneven (7 = 3 + 3 + 1) along H
    g.opset = 18
    p = g.op("Split", ["x"], n_out=3, axis=2, num_outputs=3)
    return g.op("Concat", [p[2], p[0], p[1]], axis=2)


def split_attribute_opset11(g):  # opset 11: split attribute, last axis, one output unused
    g.opset = 11
    p = g.op("Split", ["x"], n_out=3, axis=-1, split=[2, 3, 1])
    return g.op("Concat", [p[1], p[0]], axis=3)


def gather_scalar_channel(g):  # a scalar index removes the axis: [1, C, H, W] -> [1, H, W]
    a = g.conv("x", 3, 4)
    return g.op("Gather", [a, g.c(np.array(-2, I64))], axis=1)


def gather_indices_w(g):  # 1-D indices with repeats and negatives along W
    return g.op("Gather", ["x", g.c(np.array([0, -1, 2, 2, -6], I64))], axis=3)


def gather_scalar_h(g):  # removing H: the 3-D output [1, C, W] is stored channels-first
    return g.op("Gather", ["x", g.c(np.array(3, I64))], axis=2)


def gather_2d_indices_3d(g):  # (N, C, L) input, 2-D indices: a 4-D output (stored NHWC)
    r = g.op("Reshape", ["x", g.c(np.array([1, 6, 21], I64))])
    return g.op("Gather", [r, g.c(np.array([[3, 0, 1], [5, 2, -1]], I64))], axis=1)


def depth_to_space_dcr_crd(g):
    a = g.conv("x", 3, 8)
    d = g.op("DepthToSpace", [a], blocksize=2)  # DCR, the default
    c = g.op("DepthToSpace", [a], blocksize=2, mode="CRD")
    return g.op("Concat", [d, c], axis=1)


def space_to_depth_roundtrip(g):
    g.shape = [1, 3, 8, 6]
    s = g.op("SpaceToDepth", ["x"], blocksize=2)
    t = g.op("Relu", [s])
    return g.op("Concat", [g.op("DepthToSpace", [t], blocksize=2, mode="CRD"), g.op("Slice", [
        g.op("DepthToSpace", [s], blocksize=2), g.c(np.array([0], I64)), g.c(np.array([2], I64)),
        g.c(np.array([1], I64))])], axis=1)


def _resize(g, x, mode, coord, scales=None, sizes=None, nearest="round_prefer_floor", **extra):
    ins = [x, "", g.c(np.array(scales, np.float32)) if scales is not None else ""]
    if sizes is not None:
        ins.append(g.c(np.array(sizes, I64)))
    return g.op("Resize", ins, mode=mode, coordinate_transformation_mode=coord, nearest_mode=nearest, **extra)


def resize_nearest_asym_floor_x2(g):  # tiny-YOLO / PyTorch Upsample(scale_factor=2, mode="nearest")
    a = g.conv("x", 3, 4)
    return _resize(g, a, "nearest", "asymmetric", scales=[1, 1, 2, 2], nearest="floor")


def resize_nearest_half_pixel_sizes(g):  # opset 11: roi as an empty constant, non-integer ratios
    g.opset = 11
    ins = ["x", g.c(np.zeros(0, np.float32)), g.c(np.zeros(0, np.float32)), g.c(np.array([1, 3, 11, 4], I64))]
    return g.op("Resize", ins, mode="nearest", coordinate_transformation_mode="half_pixel",
                nearest_mode="round_prefer_floor")


def resize_nearest_modes(g):  # align_corners + round_prefer_ceil, tf_half_pixel_for_nn + ceil, pytorch_half_pixel
    a = _resize(g, "x", "nearest", "align_corners", sizes=[1, 3, 5, 9], nearest="round_prefer_ceil")
    b = _resize(g, "x", "nearest", "tf_half_pixel_for_nn", sizes=[1, 3, 5, 9], nearest="ceil")
    c = _resize(g, "x", "nearest", "pytorch_half_pixel", sizes=[1, 3, 5, 9], nearest="round_prefer_floor")
    return g.op("Concat", [a, b, c], axis=1)


def resize_linear_half_pixel_x2(g):  # PyTorch bilinear, align_corners=False (U-Net)
    return _resize(g, "x", "linear", "half_pixel", scales=[1, 1, 2, 2])


def resize_linear_align_corners(g):  # PyTorch bilinear, align_corners=True
    return _resize(g, "x", "linear", "align_corners", sizes=[1, 3, 13, 5])


def resize_linear_down_and_asym(g):  # downscale with pytorch_half_pixel; asymmetric with scale 1.5
    a = _resize(g, "x", "linear", "pytorch_half_pixel", sizes=[1, 3, 3, 1])
    b = _resize(g, "x", "linear", "asymmetric", scales=[1, 1, 1.5, 1.5])
    fa = g.op("Reshape", [a, g.c(np.array([1, -1], I64))])
    fb = g.op("Reshape", [b, g.c(np.array([1, -1], I64))])
    return g.op("Concat", [fa, fb], axis=1)


def resize_linear_3d_axes_opset18(g):  # opset 18: axes attribute, (N, C, L) input, linear over L
    g.opset = 18
    r = g.op("Reshape", ["x", g.c(np.array([1, 3, 42], I64))])
    return g.op("Resize", [r, "", g.c(np.array([1.75], np.float32))], mode="linear", axes=[2],
                coordinate_transformation_mode="half_pixel")


def resize_not_larger_opset18(g):  # opset 18: keep_aspect_ratio_policy with sizes for H, W only
    g.opset = 18
    return g.op("Resize", ["x", "", "", g.c(np.array([14, 14], I64))], mode="nearest", axes=[2, 3],
                keep_aspect_ratio_policy="not_larger", coordinate_transformation_mode="asymmetric",
                nearest_mode="floor")


def resize_opset10(g):  # Resize-10 (asymmetric; nearest rounds down, up when shrinking), converted
    g.opset = 10
    a = g.op("Resize", ["x", g.c(np.array([1, 1, 2, 2], np.float32))], mode="nearest")
    b = g.op("Resize", ["x", g.c(np.array([1, 1, 2, 2], np.float32))], mode="linear")
    c = g.op("Resize", ["x", g.c(np.array([1, 1, 0.6, 0.5], np.float32))], mode="nearest")
    flat = [g.op("Reshape", [t, g.c(np.array([1, -1], I64))]) for t in (g.op("Concat", [a, b], axis=1), c)]
    return g.op("Concat", flat, axis=1)


def upsample_opset9(g):  # Upsample-9 (converted by the importer)
    g.opset = 9
    a = g.op("Upsample", ["x", g.c(np.array([1, 1, 2, 3], np.float32))], mode="nearest")
    b = g.op("Upsample", ["x", g.c(np.array([1, 1, 2, 3], np.float32))], mode="linear")
    return g.op("Concat", [a, b], axis=1)


SHAPE = [1, 3, 7, 6]
CASES = {
    "slice_channels_after_conv": (slice_channels_after_conv, 3.0, 1.0),
    "slice_negative_steps_clamped": (slice_negative_steps_clamped, 0.51, 0.3),
    "slice_opset9_attributes": (slice_opset9_attributes, 0.51, 0.3),
    "slice_3d_and_2d": (slice_3d_and_2d, 0.51, 0.3),
    "split_input_sizes": (split_input_sizes, 3.0, 1.0),
    "split_num_outputs_opset18": (split_num_outputs_opset18, 0.51, 0.3),
    "split_attribute_opset11": (split_attribute_opset11, 0.51, 0.3),
    "gather_scalar_channel": (gather_scalar_channel, 3.0, 1.0),
    "gather_indices_w": (gather_indices_w, 0.51, 0.3),
    "gather_scalar_h": (gather_scalar_h, 0.51, 0.3),
    "gather_2d_indices_3d": (gather_2d_indices_3d, 0.51, 0.3),
    "depth_to_space_dcr_crd": (depth_to_space_dcr_crd, 3.0, 1.0),
    "space_to_depth_roundtrip": (space_to_depth_roundtrip, 1.5, 0.6),
    "resize_nearest_asym_floor_x2": (resize_nearest_asym_floor_x2, 3.0, 1.0),
    "resize_nearest_half_pixel_sizes": (resize_nearest_half_pixel_sizes, 0.51, 0.3),
    "resize_nearest_modes": (resize_nearest_modes, 0.51, 0.3),
    "resize_linear_half_pixel_x2": (resize_linear_half_pixel_x2, 1.1, 0.5),
    "resize_linear_align_corners": (resize_linear_align_corners, 1.1, 0.5),
    "resize_linear_down_and_asym": (resize_linear_down_and_asym, 1.6, 0.6),
    "resize_linear_3d_axes_opset18": (resize_linear_3d_axes_opset18, 1.1, 0.5),
    "resize_not_larger_opset18": (resize_not_larger_opset18, 0.51, 0.3),
    "resize_opset10": (resize_opset10, 1.6, 0.6),
    "upsample_opset9": (upsample_opset9, 1.6, 0.6),
}


def test_model_of_one_view(tmp_path):
    """A model that is one Flatten: its forward function has no layer code and reads no arena,
    and the C still compiles -Wall -Werror (it failed on an unused variable)."""
    g = G(SHAPE)
    g.op("Flatten", ["x"], axis=1)
    qm = compile_and_check(g, tmp_path, "flatten_only", 0.51, 0.3)
    assert [o.kind for o in qm.ops] == ["reshape"]


def test_validate_gather_through_a_temporary(tmp_path):
    """validate's per-layer table on a Gather whose 4-D output the lowering gathers into a
    temporary in ONNX order, then transposes (ConvNeXt's as_strided in the dynamo export): the
    temporary has no float tensor and is left out; validate crashed on it (KeyError)."""
    from qnnc.validate import validate
    g = G(SHAPE)
    gather_2d_indices_3d(g)
    model = g.save(tmp_path / "g.onnx")
    xs = RNG.uniform(-1, 1, (12, *SHAPE[1:])).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=xs)
    np.savez(tmp_path / "test.npz", x=xs[:6])
    (tmp_path / "q.yaml").write_text("name: g\ncalibration:\n  data: cal.npz\n")
    out = validate(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "test.npz"), sanitize=False,
                   progress=False)
    assert out["bit_exact"], out
    ops = {layer["op"]: layer for layer in out["layers"]}
    assert ops["transpose"]["sqnr_db"] >= 40.0, out["layers"]  # the transposed gather, compared
    assert out["float_max_abs_error_lsb"] <= 0.51, out


@pytest.mark.parametrize("case", sorted(CASES))
def test_movement_op(case, tmp_path):
    fn, max_lsb, mean_lsb = CASES[case]
    g = G(SHAPE)
    fn(g)
    qm = compile_and_check(g, tmp_path, case, max_lsb, mean_lsb)
    kinds = {o.kind for o in qm.ops}
    assert kinds & {"gather", "resize"}, kinds  # the op really went through these kernels
    if case.startswith("resize_linear"):
        assert "resize" in kinds


# -- refusals ----------------------------------------------------------------------------------------
def _refused(g: G, tmp: Path, *words):
    model = g.save(tmp / "r.onnx")
    np.savez(tmp / "cal.npz", x=RNG.uniform(-1, 1, (4, *g.shape[1:])).astype(np.float32))
    (tmp / "q.yaml").write_text("name: mv\ncalibration:\n  data: cal.npz\n")
    with pytest.raises(ModelError) as e:
        build(str(model), load_config(str(tmp / "q.yaml")), str(tmp / "gen"), "mv", progress=False)
    msg = str(e.value)
    for w in words:
        assert w in msg, msg
    return msg


REFUSALS = {
    "cubic": (lambda g: _resize(g, "x", "cubic", "half_pixel", scales=[1, 1, 2, 2]),
              ("Resize_1", "Resize", "mode 'cubic' is not supported")),
    "tf_crop_and_resize": (lambda g: g.op("Resize", ["x", g.c(np.array([0, 0, 0, 0, 1, 1, 1, 1], np.float32)),
                                                     g.c(np.array([1, 1, 2, 2], np.float32))], mode="nearest",
                                          coordinate_transformation_mode="tf_crop_and_resize"),
                           ("Resize_1", "tf_crop_and_resize", "not supported")),
    "linear_three_axes": (lambda g: _resize(g, g.op("Reshape", ["x", g.c(np.array([3, 7, 6], I64))]), "linear",
                                            "half_pixel", scales=[2, 2, 2]),
                          ("Resize_2", "linear resize over 3 axes", "at most two")),
    "gather_index_out_of_range": (lambda g: g.op("Gather", ["x", g.c(np.array([0, 7], I64))], axis=1),
                                  ("Gather_1", "idx=7")),
    "antialias_downscale": (lambda g: setattr(g, "opset", 18) or _resize(g, "x", "linear", "half_pixel",
                                                                         sizes=[1, 3, 3, 3], antialias=1),
                            ("Resize_1", "antialias=1 when downscaling is not supported")),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_movement_refusal(case, tmp_path):
    fn, words = REFUSALS[case]
    g = G(SHAPE)
    fn(g)
    _refused(g, tmp_path, *words)


# -- kernels on random cases (reference properties, no model) ------------------------------------------
def test_gather_reference_matches_numpy_indexing():
    x = RNG.integers(-128, 128, (2, 5, 6, 7)).astype(np.int8)
    iy, ix, ic = np.array([4, 0, 2]), np.array([5, 5, 1, 0]), np.array([6, 0, 3])
    st = (5 * 6 * 7, 6 * 7, 7, 1)
    out = KM.gather_s8(x, (2, 3, 4, 3), [np.arange(2) * st[0], iy * st[1], ix * st[2], ic])
    assert np.array_equal(out, x[:, iy][:, :, ix][:, :, :, ic])


def test_resize_reference_rounding_and_bounds():
    # weights 0 / 2048 copy exactly; 1024/1024 between -128 and 127 gives -0.5 -> -1 (half away from zero)
    x = np.array([-128, 127, 3, 4], np.int8).reshape(1, 1, 4, 1)
    th = np.array([0, 0, 0], np.int32)
    tw = np.array([0, 1, 1024, 1, 1, 0, 2, 3, 1024, 0, 0, 0], np.int32)
    out = KM.resize_s8(x, (1, 1, 4, 1), (1, 1, 4, 1), th, tw, 11).reshape(-1)
    assert out.tolist() == [-1, 127, 4, -128]


def _c_array(ctype: str, name: str, arr) -> str:
    vals = ", ".join(str(int(v)) for v in np.asarray(arr).reshape(-1))
    return f"static const {ctype} {name}[{max(np.asarray(arr).size, 1)}] = {{{vals}}};"


def test_kernels_random_cases_c_equals_reference(tmp_path):
    """qnnc_gather_s8, qnnc_resize_s8 and qnnc_resize_s16 on random shapes, tables and extreme values
    (-128/127, -32768/32767, weights 0, 1, 1024, 2047, 2048), compiled with ASan/UBSan, equal the
    numpy reference byte for byte."""
    import subprocess
    from qnnc.runtime import INCLUDE_DIR, kernel_source
    lines = ['#include <stdio.h>', '#include "qnnc_kernels.h"']
    calls, expected = [], []
    for i in range(40):
        shape = tuple(int(v) for v in RNG.integers(1, 7, 4))
        size = int(np.prod(shape))
        x = RNG.integers(-128, 128, size).astype(np.int8)
        if i % 4 == 0:
            x = np.where(RNG.random(size) < 0.5, -128, 127).astype(np.int8)
        lines.append(_c_array("int8_t", f"x{i}", x))
        if i % 2 == 0:  # gather: random in-range offsets per output axis (some runs contiguous)
            od = tuple(int(v) for v in RNG.integers(1, 6, 4))
            budget = size - 1
            tabs = []
            for k, d in enumerate(od):
                share = budget // (4 - k)
                t = RNG.integers(0, share + 1, d)
                budget -= int(t.max())
                tabs.append(t)
            contiguous = i % 6 == 0 and od[3] + int(sum(t.max() for t in tabs[:3])) <= size
            if contiguous:
                tabs[3] = None
            ref = KM.gather_s8(x, od, tabs)
            names = []
            for a, t in zip("nhwc", tabs):
                if t is None:
                    names.append("NULL")
                else:
                    lines.append(_c_array("int32_t", f"g{i}{a}", t))
                    names.append(f"g{i}{a}")
            lines.append(f"static const qnnc_dims go{i} = {{{', '.join(map(str, od))}}};")
            lines.append(f"static int8_t y{i}[{ref.size}];")
            calls.append(f"qnnc_gather_s8(&go{i}, {', '.join(names)}, x{i}, y{i}); fwrite(y{i}, 1, {ref.size}, f);")
        else:  # resize: random taps and weights over h and w; every other one on int16 values
            n, ih, iw, c = shape
            wide = i % 4 == 3
            if wide:
                x = RNG.integers(-32768, 32768, size).astype(np.int16)
                x[RNG.random(size) < 0.3] = -32768
                x[RNG.random(size) < 0.3] = 32767
                lines[-1] = _c_array("int16_t", f"x{i}", x)
            ctype, fn = ("int16_t", "qnnc_resize_s16") if wide else ("int8_t", "qnnc_resize_s8")
            oh, ow = int(RNG.integers(1, 9)), int(RNG.integers(1, 9))
            pick = np.array([0, 1, 1024, 2047, 2048])

            def table(out_len, in_len, step):
                i0 = RNG.integers(0, in_len, out_len)
                i1 = np.minimum(i0 + RNG.integers(0, 2, out_len), in_len - 1)
                wts = np.where(RNG.random(out_len) < 0.5, pick[RNG.integers(0, 5, out_len)],
                               RNG.integers(0, 2049, out_len))
                return np.stack([i0 * step, i1 * step, wts], axis=1).reshape(-1).astype(np.int32)
            th, tw = table(oh, ih, iw * c), table(ow, iw, c)
            ref = KM.resize_s8(x, shape, (n, oh, ow, c), th, tw, 11)
            lines += [_c_array("int32_t", f"th{i}", th), _c_array("int32_t", f"tw{i}", tw),
                      f"static const qnnc_dims ri{i} = {{{', '.join(map(str, shape))}}};",
                      f"static const qnnc_dims ro{i} = {{{n}, {oh}, {ow}, {c}}};",
                      f"static {ctype} y{i}[{ref.size}];"]
            calls.append(f"{fn}(&ri{i}, &ro{i}, th{i}, tw{i}, 11, x{i}, y{i}); "
                         f"fwrite(y{i}, 1, sizeof y{i}, f);")
        expected.append(np.asarray(ref, "<i2" if ref.dtype == np.int16 else np.int8).reshape(-1).tobytes())
    lines.append("int main(int argc, char **argv)\n{\n    FILE *f;\n    if (argc != 2) return 2;\n"
                 "    f = fopen(argv[1], \"wb\");\n    if (f == NULL) return 2;\n    "
                 + "\n    ".join(calls) + "\n    fclose(f);\n    return 0;\n}\n")
    src = tmp_path / "drv.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "drv"
    cmd = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsanitize=address,undefined",
           "-fno-sanitize-recover=all", "-I", INCLUDE_DIR, str(src), kernel_source("qnnc_gather_s8"),
           kernel_source("qnnc_resize_s8"), kernel_source("qnnc_resize_s16"), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    run = subprocess.run([str(exe), str(tmp_path / "out.bin")], capture_output=True, text=True,
                         env={"ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.bin").read_bytes() == b"".join(expected)


def test_int16_activations_move_int16_data(tmp_path):
    """quantization.activation_bits: 16: Slice, Split, Gather and nearest Resize gather the int16 values
    as bytes (no precision lost); linear Resize runs on qnnc_resize_s16. C == reference."""
    g = G(SHAPE)
    a = g.conv("x", 3, 6)
    s = g.op("Slice", [a, g.c(np.array([1], I64)), g.c(np.array([5], I64)), g.c(np.array([1], I64))])
    p = g.op("Split", [s, g.c(np.array([1, 3], I64))], n_out=2, axis=1)
    up = _resize(g, p[1], "nearest", "asymmetric", scales=[1, 1, 2, 2], nearest="floor")
    gt = g.op("Gather", [up, g.c(np.array([0, 2], I64))], axis=1)
    lin = _resize(g, gt, "linear", "half_pixel", scales=[1, 1, 0.5, 0.5])
    g.conv(lin, 2, 3)
    model = g.save(tmp_path / "s16.onnx")
    cal = RNG.uniform(-1, 1, (32, *SHAPE[1:])).astype(np.float32)
    test = RNG.uniform(-1, 1, (8, *SHAPE[1:])).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=cal)
    (tmp_path / "q.yaml").write_text("name: mv\ncalibration:\n  data: cal.npz\nquantization:\n  activation_bits: 16\n")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "mv", progress=False)
    qm = res.compiled.model
    gathers = [o for o in qm.ops if o.kind == "gather"]
    assert len(gathers) == 4 and all(o.attrs["element_bytes"] == 2 for o in gathers)
    assert [qm.tensors[o.output].bits for o in gathers] == [16] * 4
    (lin_op,) = [o for o in qm.ops if o.kind == "resize"]
    assert lin_op.kernel == "qnnc_resize_s16" and qm.tensors[lin_op.output].bits == 16
    assert not any("int8 activations" in note for note in qm.notes)
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp_path / "gen"), "mv", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size), ref)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    f = np.stack([sess.run(None, {"x": t[None]})[0] for t in test]).reshape(len(test), -1)
    err = np.abs(dequantize_output(qm, ref).astype(np.float64) - f) / qm.output_tensor.scale
    print(f"int16 movement: mean {err.mean():.3f} LSB, max {err.max():.3f} LSB")
    assert err.mean() < 1.0 and err.max() <= 3.0


def _all_offsets(tables):
    acc = np.zeros(1, np.int64)
    for t in tables:
        acc = (acc[:, None] + np.asarray(t, np.int64)[None, :]).reshape(-1)
    return acc


def test_gather_tables_normalization_keeps_every_offset():
    """rules_movement.gather_tables (fold length-1 axes, merge contiguous runs, merge down to 4 axes,
    NULL for a 0..c-1 run) reproduces the offsets of the tables it was given, in order."""
    from qnnc.quantize.rules_movement import gather_tables
    for i in range(300):
        rank = int(RNG.integers(1, 7))
        tables = []
        for _ in range(rank):
            d = int(RNG.integers(1, 5))
            kind = RNG.integers(0, 3)
            if kind == 0:  # a contiguous run with a random start
                tables.append(np.arange(d) + int(RNG.integers(0, 9)))
            elif kind == 1:  # a strided run (rows of the run after it when the stride fits)
                tables.append(np.arange(d) * int(RNG.integers(1, 6)) + int(RNG.integers(0, 3)))
            else:
                tables.append(RNG.integers(0, 30, d))
        dims, ts = gather_tables(tables)
        full = [t if t is not None else np.arange(dims[3]) for t in ts]
        assert len(dims) == 4 and [len(t) for t in full] == list(dims)
        assert np.array_equal(_all_offsets(full), _all_offsets(tables)), (i, tables)
