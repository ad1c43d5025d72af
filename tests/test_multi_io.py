"""Models with several inputs and outputs.

* 2-3 inputs (one a rank-3 recurrent state [2, 1, 16] whose dim 0 is not a batch) and 2-3 outputs
  (one an intermediate tensor other ops also read, two aliasing one tensor): the generated C is
  bit-exact with the reference for every output under ASan/UBSan (positional, context and array
  entry points), the float entry point equals quantize -> reference -> dequantize, and the reference
  is close to float onnxruntime (bounds in output LSB below).
* The generated header names each tensor after its (sanitized) ONNX name; int16 inputs when the
  layers reading them run with int16 activations; NCHW 4-D inputs/outputs; inputs read in place.
* Data files (.npz per input name or x0/x1..., a folder of .npy), random calibration per input,
  validate and inspect, clean refusals.
* Single-I/O models produce the same C as before multi-I/O support (digests taken from the tree
  before the change).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T, helper, numpy_helper

from onnx_factory import save, tiny_cnn, tiny_mlp
from qnnc.build import build, generate
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver_io
from qnnc.errors import ConfigError, DataError, ModelError
from qnnc.frontend.float_runner import float_outputs_all
from qnnc.inspect_model import format_inspection, inspect_model
from qnnc.reference.interpreter import api_input_arrays, dequantize_output, quantize_input, run_all
from qnnc.validate import validate

def _c(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def _vi(name, shape):
    return helper.make_tensor_value_info(name, T.FLOAT, shape)


def _save(nodes, inputs, outputs, inits, path: Path) -> Path:
    g = helper.make_graph(nodes, "g", [_vi(*i) for i in inputs], [_vi(*o) for o in outputs], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def rnn_like(path: Path) -> Path:
    """x [1, 8], state [2, 1, 16], x2 [1, 16] -> y = sigmoid(fc(x)) (also read by two ops),
    new_state = tanh(state + y) (rank 3), z = x2 * y."""
    RNG = np.random.default_rng(len(path.stem))  # the weights do not depend on the test order
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="fc", transB=1),
             helper.make_node("Sigmoid", ["h"], ["y"], name="sig"),
             helper.make_node("Add", ["state", "y"], ["s1"], name="add"),
             helper.make_node("Tanh", ["s1"], ["new_state"], name="tanh"),
             helper.make_node("Mul", ["x2", "y"], ["z"], name="mul")]
    return _save(nodes, [("x", [1, 8]), ("state", [2, 1, 16]), ("x2", [1, 16])],
                 [("y", [1, 16]), ("new_state", [2, 1, 16]), ("z", [1, 16])],
                 [_c("W", RNG.standard_normal((16, 8)) * 0.4), _c("b", RNG.standard_normal(16) * 0.1)], path)


def state_fc(path: Path) -> Path:
    """int16-friendly (FC, Add, Reshape only): x [1, 8], state [2, 1, 16] -> h, new_state."""
    RNG = np.random.default_rng(len(path.stem))  # the weights do not depend on the test order
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="fc", transB=1),
             helper.make_node("Add", ["state", "h"], ["new_state"], name="add"),
             helper.make_node("Reshape", ["new_state", "shp"], ["flat"], name="flat"),
             helper.make_node("Gemm", ["flat", "W2", "b2"], ["logits"], name="fc2", transB=1)]
    inits = [_c("W", RNG.standard_normal((16, 8)) * 0.4), _c("b", RNG.standard_normal(16) * 0.1),
             _c("W2", RNG.standard_normal((4, 32)) * 0.3), _c("b2", RNG.standard_normal(4) * 0.1),
             numpy_helper.from_array(np.array([1, 32], np.int64), "shp")]
    return _save(nodes, [("x", [1, 8]), ("state", [2, 1, 16])], [("logits", [1, 4]), ("new_state", [2, 1, 16])],
                 inits, path)


def two_images(path: Path) -> Path:
    """a [1, 3, 4, 4], b [1, 4, 4, 4] (NCHW) -> c = conv(a) (4-D output, also read), out = relu(c + b)."""
    RNG = np.random.default_rng(len(path.stem))  # the weights do not depend on the test order
    nodes = [helper.make_node("Conv", ["a", "w", "cb"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "b"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["out"], name="relu")]
    return _save(nodes, [("a", [1, 3, 4, 4]), ("b", [1, 4, 4, 4])], [("c", [1, 4, 4, 4]), ("out", [1, 4, 4, 4])],
                 [_c("w", RNG.standard_normal((4, 3, 3, 3)) * 0.3), _c("cb", RNG.standard_normal(4) * 0.1)], path)


def odd_names(path: Path) -> Path:
    """Names that are no C identifiers, and two outputs aliasing one tensor (through Identity)."""
    nodes = [helper.make_node("Add", ["input.1", "1st-state"], ["sum:0"], name="add"),
             helper.make_node("Relu", ["sum:0"], ["out"], name="relu"),
             helper.make_node("Identity", ["out"], ["out copy"], name="id")]
    return _save(nodes, [("input.1", [1, 6]), ("1st-state", [1, 6])], [("out", [1, 6]), ("out copy", [1, 6])],
                 [], path)


def conv_twice(path: Path) -> Path:
    """One image input, one 4-D tensor returned twice (PyTorch's ``return y, y``: an Identity)."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Conv", ["a", "w", "cb"], ["y"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Identity", ["y"], ["y_again"], name="same")]
    return _save(nodes, [("a", [1, 3, 4, 4])], [("y", [1, 4, 4, 4]), ("y_again", [1, 4, 4, 4])],
                 [_c("w", rng.standard_normal((4, 3, 3, 3)) * 0.3), _c("cb", rng.standard_normal(4) * 0.1)], path)


def views_only(path: Path) -> Path:
    """Two inputs, each output a view of one (Reshape, Flatten): no layer code reads the arena (a
    node named 'arena' only shows in the C's comments)."""
    nodes = [helper.make_node("Reshape", ["a", "shape"], ["ya"], name="arena"),
             helper.make_node("Flatten", ["b"], ["yb"], name="flatten", axis=1)]
    return _save(nodes, [("a", [1, 2, 3]), ("b", [1, 2, 2])], [("ya", [1, 6]), ("yb", [1, 4])],
                 [helper.make_tensor("shape", T.INT64, [2], [1, 6])], path)


def _samples(model_path: Path, n: int, seed: int):
    """Uniform data in [-1, 1] per input of the ONNX model (batch dim replaced by N, or prepended)."""
    rng = np.random.default_rng(seed)
    m = onnx.load(str(model_path))
    xs = {}
    for i in m.graph.input:
        shape = [d.dim_value for d in i.type.tensor_type.shape.dim]
        per = shape[1:] if shape and shape[0] == 1 else shape
        xs[i.name] = rng.uniform(-1, 1, (n, *per)).astype(np.float32)
        xs[i.name][0] = 1.0  # the calibration set spans the test data's range
        xs[i.name][1] = -1.0
    return xs


def _build(tmp: Path, model: Path, name: str, extra: str = "", n_cal: int = 64):
    # Calibrated on data that includes the test samples (_check_c_and_float's seed 2): the float
    # comparison then measures the integer arithmetic, not the clipping of an intermediate tensor
    # whose test values exceed its calibrated range.
    cal, test = _samples(model, n_cal, 1), _samples(model, 24, 2)
    np.savez(tmp / "cal.npz", **{k: np.concatenate([cal[k], test[k]]) for k in cal})
    (tmp / "q.yaml").write_text(f"name: {name}\ncalibration:\n  data: cal.npz\n{extra}")
    cfg = load_config(str(tmp / "q.yaml"))
    return build(str(model), cfg, str(tmp / "gen"), name, progress=False), cfg


def _check_c_and_float(tmp: Path, model: Path, name: str, res, max_lsb: float, mean_lsb: float, n: int = 24,
                       modes=("int8", "ctx", "io"), f32: bool = True):
    qm = res.compiled.model
    test = _samples(model, n, 2)
    q = quantize_input(qm, test)
    ref = run_all(qm, q)
    exe = compile_driver(str(tmp / "gen"), name, str(tmp / "drv"), sanitize=True)
    sizes = [t.size for t in qm.output_tensors]
    for mode in modes:
        c = run_driver_io(exe, [q[k] for k in qm.inputs], sizes, mode)
        for k, out in enumerate(qm.outputs):
            assert np.array_equal(c[k], ref[k].reshape(n, -1)), f"{mode}: output {out} differs from the reference"
    floats = float_outputs_all(str(model), test)
    errors = {}
    for k, out in enumerate(qm.outputs):
        deq = dequantize_output(qm, ref[k], k).reshape(n, -1).astype(np.float64)
        t = qm.output_tensors[k]
        # against float clipped to the output's int8 range (test values beyond the calibrated range
        # saturate by design; that is not arithmetic error)
        f = np.clip(floats[k].reshape(n, -1), (-128 - t.zero_point) * t.scale, (127 - t.zero_point) * t.scale)
        err = np.abs(deq - f) / t.scale
        errors[out] = (float(err.max()), float(err.mean()))
        assert err.max() <= max_lsb and err.mean() <= mean_lsb, (out, errors[out])
    if f32:
        cf = run_driver_io(exe, [test[k] for k in qm.inputs], sizes, "f32")
        for k in range(len(qm.outputs)):
            assert np.array_equal(cf[k], dequantize_output(qm, ref[k], k).reshape(n, -1))
    print(name, "max/mean |error| LSB per output:", errors)
    return qm, errors


def test_three_inputs_three_outputs(tmp_path):
    model = rnn_like(tmp_path / "rnn.onnx")
    res, _ = _build(tmp_path, model, "mio")
    qm = res.compiled.model
    assert qm.inputs == ["x", "state", "x2"] and qm.outputs == ["y", "new_state", "z"]
    assert qm.input == "x" and qm.output == "y" and qm.multi_io
    assert [t.shape for t in qm.input_tensors] == [(1, 8), (2, 1, 16), (1, 16)]
    # 'y' is an output and read by two later ops: its buffer lives to the end of the run
    plan = res.plan
    assert plan.buffers[plan.tensor_buffer["y"]].last == len(qm.ops)
    _check_c_and_float(tmp_path, model, "mio", res, max_lsb=4.0, mean_lsb=1.0)
    rep = res.report
    assert [t["name"] for t in rep["inputs"]] == ["x", "state", "x2"]
    assert [t["shape"] for t in rep["outputs"]] == [[1, 16], [2, 1, 16], [1, 16]]
    assert "input `state` [2, 1, 16] int8" in res.files["mio_report.md"]


def test_header_names_each_tensor(tmp_path):
    model = rnn_like(tmp_path / "rnn.onnx")
    res, _ = _build(tmp_path, model, "mio")
    h = res.files["mio.h"]
    qm = res.compiled.model
    assert "#define MIO_INPUT_COUNT 3\n" in h and "#define MIO_OUTPUT_COUNT 3\n" in h
    assert ("int mio_invoke(mio_ctx *ctx, const int8_t *x, const int8_t *state, const int8_t *x2, int8_t *y, "
            "int8_t *new_state, int8_t *z);") in h
    assert ("int mio_run_f32(const float *x, const float *state, const float *x2, float *y, float *new_state, "
            "float *z);") in h
    assert "int mio_invoke_io(mio_ctx *ctx, const void *const *inputs, void *const *outputs);" in h
    st = qm.tensors["state"]
    assert "#define MIO_INPUT_STATE_INDEX 1\n" in h
    assert "#define MIO_INPUT_STATE_SIZE 32\n" in h and "#define MIO_INPUT_STATE_BYTES 32\n" in h
    assert "#define MIO_INPUT_STATE_RANK 3\n" in h and "#define MIO_INPUT_STATE_SHAPE {2, 1, 16}\n" in h
    assert f"#define MIO_INPUT_STATE_ZERO_POINT ({st.zero_point})\n" in h
    m = re.search(r"#define MIO_INPUT_STATE_SCALE (\S+)f\n", h)
    assert m and abs(float(m.group(1)) - st.scale) <= 1e-6 * st.scale
    assert "#define MIO_OUTPUT_NEW_STATE_INDEX 1\n" in h and "#define MIO_OUTPUT_Z_SHAPE {1, 16}\n" in h
    # the single-I/O names are not defined (their run signature would not fit)
    assert "#define MIO_INPUT_SIZE " not in h and "#define MIO_OUTPUT_SIZE " not in h


def test_sanitized_names_and_aliased_outputs(tmp_path):
    model = odd_names(tmp_path / "odd.onnx")
    res, _ = _build(tmp_path, model, "odd")
    qm = res.compiled.model
    assert qm.outputs[0] == qm.outputs[1]  # Identity removed: both outputs are one tensor
    h = res.files["odd.h"]
    # the second output keeps its ONNX name ('out copy'), though it is the first's tensor
    assert ("int odd_invoke(odd_ctx *ctx, const int8_t *input_1, const int8_t *t1st_state, int8_t *out, "
            "int8_t *out_copy);") in h
    assert "#define ODD_INPUT_T1ST_STATE_INDEX 1\n" in h and "#define ODD_OUTPUT_OUT_COPY_INDEX 1\n" in h
    assert "/* output 1: 'out copy' [1, 6], int8 */" in h
    assert "/* input 0: 'input.1' [1, 6], int8 */" in h
    _check_c_and_float(tmp_path, model, "odd", res, max_lsb=1.5, mean_lsb=0.6)


def test_one_4d_tensor_returned_twice(tmp_path):
    """Both outputs are the NCHW values of one tensor: the layout pass transposes it back once (it
    had added a transpose per listing, composing them into a wrong perm: -3 dB against float),
    the C matches the reference, and validate checks a one-input, two-output model."""
    model = conv_twice(tmp_path / "twice.onnx")
    res, cfg = _build(tmp_path, model, "twice")
    qm = res.compiled.model
    assert qm.outputs[0] == qm.outputs[1]
    _check_c_and_float(tmp_path, model, "twice", res, max_lsb=2.0, mean_lsb=0.6)
    np.savez(tmp_path / "test.npz", **_samples(model, 8, 9))
    out = validate(str(model), cfg, str(tmp_path / "test.npz"), sanitize=False, progress=False)
    assert out["bit_exact"] and len(out["outputs"]) == 2
    assert all(o["float_max_abs_error_lsb"] <= 2.0 for o in out["outputs"])
    assert [o["name"] for o in out["outputs"]] == ["y", "y_again"]


def test_views_only(tmp_path):
    """A graph whose outputs are views of its inputs compiles -Werror clean (its forward function
    reads no arena) and returns the inputs' codes."""
    model = views_only(tmp_path / "views.onnx")
    res, _ = _build(tmp_path, model, "views")
    assert [o.kind for o in res.compiled.model.ops] == ["reshape", "reshape"]
    _check_c_and_float(tmp_path, model, "views", res, max_lsb=0.51, mean_lsb=0.3)


def test_int16_state_input(tmp_path):
    model = state_fc(tmp_path / "s16.onnx")
    res, _ = _build(tmp_path, model, "s16", "quantization:\n  activation_bits: 16\n")
    qm = res.compiled.model
    bits = {t.name: t.bits for t in qm.input_tensors}
    assert bits == {"x": 16, "state": 16}, bits  # every reader runs at int16: no conversion op
    assert all(op.kind != "requantize" or op.inputs[0] not in qm.inputs for op in qm.ops)
    h = res.files["s16.h"]
    assert "int s16_invoke(s16_ctx *ctx, const int16_t *x, const int16_t *state, int8_t *logits, " \
           "int8_t *new_state);" in h
    assert "#define S16_INPUT_STATE_BITS 16\n" in h and "#define S16_INPUT_STATE_BYTES 64\n" in h
    assert "#define S16_INPUT_STATE_ZERO_POINT (0)\n" in h
    _check_c_and_float(tmp_path, model, "s16", res, max_lsb=1.5, mean_lsb=0.6)


def test_int8_build_of_the_same_model_keeps_int8_inputs(tmp_path):
    model = state_fc(tmp_path / "s8.onnx")
    res, _ = _build(tmp_path, model, "s8")
    assert [t.bits for t in res.compiled.model.input_tensors] == [8, 8]
    _check_c_and_float(tmp_path, model, "s8", res, max_lsb=3.0, mean_lsb=1.0, modes=("int8",))


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_4d_inputs_and_outputs(tmp_path, layout):
    model = two_images(tmp_path / "img.onnx")
    extra = "layout: nhwc\n" if layout == "nhwc" else ""
    res, _ = _build(tmp_path, model, "img", extra)
    qm = res.compiled.model
    assert [t.shape for t in qm.input_tensors] == ([(1, 3, 4, 4), (1, 4, 4, 4)] if layout == "nchw"
                                                   else [(1, 4, 4, 3), (1, 4, 4, 4)])
    if layout == "nchw":
        _check_c_and_float(tmp_path, model, "img", res, max_lsb=2.5, mean_lsb=0.6)
    else:  # the API is NHWC: compare C with the reference only
        test = {k: np.ascontiguousarray(v.transpose(0, 2, 3, 1)) for k, v in _samples(model, 8, 3).items()}
        q = quantize_input(qm, test)
        ref = run_all(qm, q)
        exe = compile_driver(str(tmp_path / "gen"), "img", str(tmp_path / "drv"), sanitize=True)
        c = run_driver_io(exe, [q[k] for k in qm.inputs], [t.size for t in qm.output_tensors])
        assert all(np.array_equal(a, b.reshape(8, -1)) for a, b in zip(c, ref))


def test_inputs_read_in_place(tmp_path):
    """execution.input_in_arena: false: the kernels read every input from the caller's buffers."""
    model = two_images(tmp_path / "img.onnx")
    res, _ = _build(tmp_path, model, "ext", "execution:\n  input_in_arena: false\n")
    assert "EXT_HAS_F32_API" not in res.files["ext.h"]
    assert "inputs[1] + 0" in res.files["ext.c"]  # the Add reads input 'b' in place
    assert all(res.plan.is_external(t) for t in res.compiled.model.inputs)
    _check_c_and_float(tmp_path, model, "ext", res, max_lsb=2.5, mean_lsb=0.6, f32=False)


def test_data_files_per_input(tmp_path):
    model = rnn_like(tmp_path / "rnn.onnx")
    xs = _samples(model, 20, 5)
    np.savez(tmp_path / "named.npz", **xs)
    np.savez(tmp_path / "positional.npz", x0=xs["x"], x1=xs["state"], x2=xs["x2"])
    (tmp_path / "folder").mkdir()
    for k, v in xs.items():
        np.save(tmp_path / "folder" / f"{k}.npy", v)
    files = {}
    for data in ("named.npz", "positional.npz", "folder"):
        (tmp_path / "q.yaml").write_text(f"name: d\ncalibration:\n  data: {data}\n")
        r = generate(str(model), load_config(str(tmp_path / "q.yaml")), "d", runtime=False, progress=False)
        assert r.compiled.calibration_samples == 20
        files[data] = {k: v for k, v in r.files.items() if k in ("d.h", "d_weights.c")}
    ref = files["named.npz"]
    strip = lambda t: [l for l in t.splitlines() if "sha256" not in l and "BUILD_ID" not in l]  # noqa: E731
    assert all(strip(f[k]) == strip(ref[k]) for f in files.values() for k in ref)


def test_random_calibration_per_input(tmp_path):
    model = rnn_like(tmp_path / "rnn.onnx")
    r = generate(str(model), _empty_cfg(tmp_path), "rc", runtime=False,
                 progress=False)
    assert r.compiled.calibration_samples == 16
    assert any("random" in n for n in r.compiled.notes)
    st = r.compiled.model.tensors["state"]
    assert 0.01 < st.scale < 0.05  # N(0, 1) data: about +-4 over 255 steps


def _empty_cfg(tmp: Path):
    (tmp / "e.yaml").write_text("name: rc\n")
    return load_config(str(tmp / "e.yaml"))


def test_validate_and_inspect(tmp_path):
    model = rnn_like(tmp_path / "rnn.onnx")
    _build(tmp_path, model, "val")
    np.savez(tmp_path / "test.npz", **_samples(model, 12, 9))
    res = validate(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "test.npz"), sanitize=False,
                   progress=False)
    assert res["bit_exact"] and res["samples"] == 12
    assert [o["name"] for o in res["outputs"]] == ["y", "new_state", "z"]
    assert all(o["bit_exact"] and o["float_max_abs_error_lsb"] <= 4.0 for o in res["outputs"])
    info = inspect_model(str(model), None)
    assert [t["name"] for t in info["inputs"]] == ["x", "state", "x2"]
    assert "inputs x [1, 8], state [2, 1, 16], x2 [1, 16], outputs y [1, 16]" in format_inspection(info)
    assert info["compiles"]


def test_refusals(tmp_path):
    model = rnn_like(tmp_path / "rnn.onnx")
    xs = _samples(model, 8, 5)
    # one .npy for a model with three inputs
    np.save(tmp_path / "one.npy", xs["x"])
    (tmp_path / "q.yaml").write_text("name: r\ncalibration:\n  data: one.npy\n")
    with pytest.raises(DataError, match="one .npy array, but the model has 3 inputs"):
        generate(str(model), load_config(str(tmp_path / "q.yaml")), "r", runtime=False, progress=False)
    # an .npz missing one input
    np.savez(tmp_path / "part.npz", x=xs["x"], state=xs["state"])
    (tmp_path / "q.yaml").write_text("name: r\ncalibration:\n  data: part.npz\n")
    with pytest.raises(DataError, match="'x2' \\(or 'x2'\\) for input 2"):
        generate(str(model), load_config(str(tmp_path / "q.yaml")), "r", runtime=False, progress=False)
    # a state with the wrong shape
    np.savez(tmp_path / "bad.npz", x=xs["x"], state=xs["state"][:, :1], x2=xs["x2"])
    (tmp_path / "q.yaml").write_text("name: r\ncalibration:\n  data: bad.npz\n")
    with pytest.raises(DataError, match="model input 'state'"):
        generate(str(model), load_config(str(tmp_path / "q.yaml")), "r", runtime=False, progress=False)
    # the test-data self-test is single-I/O only
    np.savez(tmp_path / "all.npz", **xs)
    (tmp_path / "q.yaml").write_text("name: r\ncalibration:\n  data: all.npz\ntest_data:\n  data: all.npz\n")
    with pytest.raises(ConfigError, match="test_data .* 3 inputs and 3 outputs"):
        generate(str(model), load_config(str(tmp_path / "q.yaml")), "r", runtime=False, progress=False)
    # inputs traced with a batch of 2 whose graph mixes the samples (a Reshape to the literal batch)
    bad = _save([helper.make_node("Add", ["a", "b"], ["c"], name="add"),
                 helper.make_node("Reshape", ["c", "shp"], ["d"], name="mix")], [("a", [2, 4]), ("b", [2, 4])],
                [("d", [4, 2])], [numpy_helper.from_array(np.array([4, 2], np.int64), "shp")], tmp_path / "batch.onnx")
    with pytest.raises(ModelError, match="input 'a' has shape \\[2, 4\\]: dim 0 is the batch"):
        generate(str(bad), _empty_cfg(tmp_path), "b", runtime=False, progress=False)
    # an output that is an input
    passthru = _save([helper.make_node("Relu", ["a"], ["c"], name="relu")], [("a", [1, 4]), ("b", [1, 4])],
                     [("c", [1, 4]), ("b", [1, 4])], [], tmp_path / "pass.onnx")
    with pytest.raises(ModelError, match="graph output 'b' is the graph input itself"):
        generate(str(passthru), _empty_cfg(tmp_path), "p", runtime=False, progress=False)


def _with_batch(model: Path, n: int, path: Path) -> Path:
    """The model as traced with a batch of n examples: every input's and output's dim 0 is n."""
    m = onnx.load(str(model))
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = n
    onnx.save(m, str(path))
    return path


def test_inputs_traced_with_a_batch(tmp_path):
    """Both inputs of a two-input model traced with a batch of 3 example pairs (PyTorch exports
    with a batch of examples) compile for one pair per call: the same inputs and outputs as the
    batch-1 export, bit-exact with the reference, close to float onnxruntime per sample; and
    onnxruntime's batch-3 run of the traced model gives, row by row, what the batch-1 model gives."""
    one = two_images(tmp_path / "img.onnx")
    batched = _with_batch(one, 3, tmp_path / "img3.onnx")
    cal, test = _samples(one, 64, 1), _samples(one, 24, 2)
    np.savez(tmp_path / "cal.npz", **{k: np.concatenate([cal[k], test[k]]) for k in cal})
    (tmp_path / "q.yaml").write_text("name: img\ncalibration:\n  data: cal.npz\n")
    res = build(str(batched), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "img", progress=False)
    qm = res.compiled.model
    assert [t.shape for t in qm.input_tensors] == [(1, 3, 4, 4), (1, 4, 4, 4)]
    assert [t.shape for t in qm.output_tensors] == [(1, 4, 4, 4), (1, 4, 4, 4)]
    _check_c_and_float(tmp_path, one, "img", res, max_lsb=2.5, mean_lsb=0.6)
    import onnxruntime as ort
    rows = {k: v[:3] for k, v in test.items()}
    whole = ort.InferenceSession(str(batched), providers=["CPUExecutionProvider"]).run(None, rows)
    each = float_outputs_all(str(one), rows)
    for a, b in zip(whole, each):
        assert np.allclose(a.reshape(3, -1), b.reshape(3, -1), atol=1e-5)


def test_further_input_of_the_batch_size_by_chance_keeps_its_dim_0(tmp_path):
    """Inputs whose dim 0 equals the first input's batch only by chance are not that batch: a weight
    matrix given as an input (x [3, 3] @ w [3, 4]: at batch 1 the product no longer fits) and a set
    of prototypes (distances of each x row to both rows of p [2, 4]: at batch 1 the shapes fit, but
    onnxruntime's batched run differs from single samples). Both keep their shape: the first input
    alone is the batch, as before further inputs could be."""
    N = helper.make_node
    ax = {k: numpy_helper.from_array(np.array([k], np.int64), f"ax{k}") for k in (0, 1, 2)}
    weights = _save([N("MatMul", ["x", "w"], ["y"], name="mm")], [("x", [3, 3]), ("w", [3, 4])], [("y", [3, 4])], [],
                    tmp_path / "weights.onnx")
    protos = _save([N("Unsqueeze", ["x", "ax1"], ["xu"], name="row"), N("Unsqueeze", ["p", "ax0"], ["pu"], name="set"),
                    N("Sub", ["xu", "pu"], ["d"], name="diff"), N("Mul", ["d", "d"], ["d2"], name="square"),
                    N("ReduceSum", ["d2", "ax2"], ["y"], name="distance", keepdims=0)],
                   [("x", [2, 4]), ("p", [2, 4])], [("y", [2, 2])], list(ax.values()), tmp_path / "protos.onnx")
    for path, shapes in ((weights, [(1, 3), (3, 4)]), (protos, [(1, 4), (2, 4)])):
        res = generate(str(path), _empty_cfg(tmp_path), "m", runtime=False, progress=False)
        assert [t.shape for t in res.compiled.model.input_tensors] == shapes, path.name


def test_recurrent_state_inputs_are_no_batch_candidates():
    """A graph input a recurrent op's initial state is computed from by value (a per-layer Slice,
    as PyTorch exports a multi-layer LSTM's h0) counts layers in dim 0: no candidate for the
    batch; an input the state only takes its shape from (a zero h0 from Shape(seq)) is one."""
    from qnnc.frontend.importer import _further_batch_inputs
    N = helper.make_node
    nodes = [N("Relu", ["x"], ["x_out"], name="relu"),
             N("Slice", ["h", "s0", "s1", "ax"], ["h0"], name="layer0"),
             N("LSTM", ["seq", "W", "R", "", "", "h0"], ["y"], name="lstm", hidden_size=8),
             N("Shape", ["z"], ["z_shape"], name="z_shape"),
             N("ConstantOfShape", ["z_shape"], ["zeros"], name="zeros"),
             N("GRU", ["seq", "Wg", "Rg", "", "", "zeros"], ["yg"], name="gru", hidden_size=5)]
    g = helper.make_graph(nodes, "g", [_vi("x", [2, 6]), _vi("seq", [3, 2, 6]), _vi("h", [2, 2, 8]), _vi("z", [2, 2, 5])],
                          [_vi("x_out", [2, 6]), _vi("y", [3, 1, 2, 8]), _vi("yg", [3, 1, 2, 5])],
                          [_c("W", np.zeros((1, 32, 6))), _c("R", np.zeros((1, 32, 8))),
                           _c("Wg", np.zeros((1, 15, 6))), _c("Rg", np.zeros((1, 15, 5))),
                           numpy_helper.from_array(np.array([0], np.int64), "s0"),
                           numpy_helper.from_array(np.array([1], np.int64), "s1"),
                           numpy_helper.from_array(np.array([0], np.int64), "ax")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    assert _further_batch_inputs(m, 2) == ["z"]


def test_scalar_input(tmp_path):
    """A scalar input (a gain the application sets per call) is one value per sample: the firmware's
    input is [1], the data files hold one value per sample, bit-exact and close to onnxruntime."""
    RNG = np.random.default_rng(7)
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="fc", transB=1),
             helper.make_node("Mul", ["h", "gain"], ["hs"], name="gain"),
             helper.make_node("Tanh", ["hs"], ["y"], name="tanh")]
    model = _save(nodes, [("x", [1, 4]), ("gain", [])], [("y", [1, 6])],
                  [_c("W", RNG.standard_normal((6, 4)) * 0.5), _c("b", RNG.standard_normal(6) * 0.1)],
                  tmp_path / "gain.onnx")
    res, _ = _build(tmp_path, model, "gain")
    assert [t.shape for t in res.compiled.model.input_tensors] == [(1, 4), (1,)]
    _check_c_and_float(tmp_path, model, "gain", res, max_lsb=3.0, mean_lsb=1.0)


# Digests of <name>.h / .c / _weights.c (build-id and provenance lines left out) of two single-I/O
# models, generated by the tree before multi-I/O support: the single-I/O output must not change.
# (cnn.c since: qnnc_pool_params gained the average pool's output requantization fields; mlp.*:
# qnnc_softmax_s8 takes a qnnc_softmax_params, and the output of this Softmax, calibrated on random
# inputs to about 0.75, gets the scale 1/339 and a 22-bit exp table; cnn.* again: its conv's kernel
# scratch 68 -> 236 bytes, arena 212 -> 380, the Helium outer-product path's weights and constants;
# cnn.c / cnn_weights.c again: the conv's channel-pair weight copy for the DSP builds and its call.)
_SINGLE_IO_DIGESTS = {
    "mlp": {"mlp.c": "a7124cdb4344f6fb", "mlp.h": "40e9d950aa7012a8", "mlp_weights.c": "56b5d4bb6c2e844c"},
    "cnn": {"cnn.c": "9937036d20d2fcf0", "cnn.h": "946e5b5ba9e4aae3", "cnn_weights.c": "23f5966406d1f8f5"},
}


def _digest(text: str) -> str:
    keep = [l for l in text.splitlines() if "BUILD_ID" not in l and "inputs sha256" not in l]
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(_SINGLE_IO_DIGESTS))
def test_single_io_output_unchanged(tmp_path, name):
    model = save((tiny_mlp if name == "mlp" else tiny_cnn)(0), tmp_path / f"{name}.onnx")
    (tmp_path / "q.yaml").write_text(f"name: {name}\n")
    r = generate(str(model), load_config(str(tmp_path / "q.yaml")), name, runtime=False, progress=False)
    got = {k: _digest(v) for k, v in r.files.items() if k in _SINGLE_IO_DIGESTS[name]}
    assert got == _SINGLE_IO_DIGESTS[name]
    assert not r.compiled.model.multi_io and "inputs" not in r.report


def uint8_image(path: Path, second_input: bool) -> Path:
    """img uint8 [1, 1, 4, 4] -> Cast -> /255 -> Conv -> Relu (-> + fc(v) with a second float input)."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Cast", ["img"], ["f"], name="cast", to=T.FLOAT),
             helper.make_node("Div", ["f", "k255"], ["n"], name="scale"),
             helper.make_node("Conv", ["n", "w", "cb"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["out"], name="flat")]
    inits = [_c("k255", np.float32(255.0)), _c("w", rng.standard_normal((2, 1, 3, 3)) * 0.5),
             _c("cb", rng.standard_normal(2) * 0.1)]
    inputs = [helper.make_tensor_value_info("img", T.UINT8, [1, 1, 4, 4])]
    if second_input:
        nodes[-1].output[0] = "flat"
        nodes += [helper.make_node("Gemm", ["v", "W", "b"], ["h"], name="fc", transB=1),
                  helper.make_node("Add", ["flat", "h"], ["out"], name="add")]
        inits += [_c("W", rng.standard_normal((32, 6)) * 0.3), _c("b", rng.standard_normal(32) * 0.1)]
        inputs.append(_vi("v", [1, 6]))
    g = helper.make_graph(nodes, "g", inputs, [_vi("out", [1, 32])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("second_input", [False, True])
def test_uint8_image_input(tmp_path, second_input):
    """A uint8 input Cast to float: the API takes the bytes (const uint8_t *), int8 = byte - 128."""
    model = uint8_image(tmp_path / "u8.onnx", second_input)
    rng = np.random.default_rng(4)
    data = {"img": rng.integers(0, 256, (40, 1, 4, 4)).astype(np.float32)}
    if second_input:
        data["v"] = rng.uniform(-1, 1, (40, 6)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", **data)
    (tmp_path / "q.yaml").write_text("name: u8\ncalibration:\n  data: cal.npz\n")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "u8", progress=False)
    qm = res.compiled.model
    assert qm.uint8_inputs == ["img"] and qm.multi_io
    img = qm.tensors["img"]
    assert (img.scale, img.zero_point, img.bits) == (1.0, -128, 8)
    h = res.files["u8.h"]
    assert "#define U8_INPUT_IMG_UINT8 1\n" in h and "#define U8_INPUT_IMG_ZERO_POINT (0)\n" in h
    assert "#define U8_INPUT_IMG_SCALE 1.0f\n" in h or "#define U8_INPUT_IMG_SCALE 1f\n" in h \
        or re.search(r"#define U8_INPUT_IMG_SCALE 1(\.0*)?f\n", h)
    sig = "const uint8_t *img, const int8_t *v, int8_t *out" if second_input else "const uint8_t *img, int8_t *out"
    assert f"int u8_invoke(u8_ctx *ctx, {sig});" in h
    n = 24
    test = {k: v[:n] for k, v in data.items()}
    q = quantize_input(qm, test)
    assert np.array_equal(q["img"].reshape(n, -1).astype(np.int32) + 128, test["img"].reshape(n, -1))  # exact
    ref = run_all(qm, q)
    exe = compile_driver(str(tmp_path / "gen"), "u8", str(tmp_path / "drv"), sanitize=True)
    api = api_input_arrays(qm, q)
    assert api[0].dtype == np.uint8 and np.array_equal(api[0].reshape(n, -1), test["img"].reshape(n, -1))
    for mode in ("int8", "io", "ctx"):
        c = run_driver_io(exe, api, [qm.output_tensor.size], mode)
        assert np.array_equal(c[0], ref[0].reshape(n, -1)), mode
    cf = run_driver_io(exe, [test[k] for k in qm.inputs], [qm.output_tensor.size], "f32")
    assert np.array_equal(cf[0], dequantize_output(qm, ref[0]).reshape(n, -1))
    f = float_outputs_all(str(model), test)[0].reshape(n, -1)
    t = qm.output_tensor
    err = np.abs(dequantize_output(qm, ref[0]).reshape(n, -1) - f) / t.scale
    print("uint8 input: max/mean |error| LSB", err.max(), err.mean())
    assert err.max() <= 2.0 and err.mean() <= 0.6


def test_uint8_input_refusals(tmp_path):
    g = helper.make_graph([helper.make_node("Cast", ["img"], ["i32"], name="to_int", to=T.INT32),
                           helper.make_node("Cast", ["i32"], ["out"], name="to_float", to=T.FLOAT)], "g",
                          [helper.make_tensor_value_info("img", T.UINT8, [1, 8])], [_vi("out", [1, 8])])
    p = tmp_path / "bad_u8.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(p))
    with pytest.raises(ModelError, match="uint8 input 'img' is read by Cast to INT32"):
        generate(str(p), _empty_cfg(tmp_path), "b", runtime=False, progress=False)
    model = uint8_image(tmp_path / "u8.onnx", False)
    (tmp_path / "q.yaml").write_text("name: u8\nexecution:\n  input_in_arena: false\n")
    with pytest.raises(ConfigError, match="uint8 input 'img' .* cannot be read in place"):
        generate(str(model), load_config(str(tmp_path / "q.yaml")), "u8", runtime=False, progress=False)
