"""ONNX ``Loop`` nodes unrolled (frontend/unroll_loops.py): tf2onnx writes one for the while loop of a
Keras 3 SimpleRNN / LSTM / GRU (a counter and a ``time`` value carried, the weights carried through
unchanged, the step outputs as a scan output), TorchScript one for a loop over a fixed range.

The unrolled float graph must equal onnxruntime's Loop, the C must be bit-exact with the reference
under sanitizers and close to float, the steps' tensors must share one range (so their constants
are emitted once), and loops whose steps depend on the data are refused by name."""
from __future__ import annotations


import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_factory import save
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.errors import ModelError
from qnnc.frontend.decompose import expand_composites
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_int8

T, F, H = 12, 6, 10  # steps, features, units


def _t(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def keras_rnn_loop(rng, cond_from_data: bool = False, nested: str = "") -> onnx.ModelProto:
    """tf2onnx's SimpleRNN: x (1, T, F) -> Transpose to (T, 1, F); Loop(M=T, cond=Less(0, T) and
    itself; carried: time, h, W, b, R); body: Gather x[time], Gemm(x_t, W, b), Gemm(h, R, that)
    (a computed C), Tanh; cond = counter < T and time + 1 < T; scan output: h per step. Then the
    last step (Slice + Squeeze) -> Dense."""
    W = (rng.standard_normal((F, H)) * 0.4).astype(np.float32)
    R = (rng.standard_normal((H, H)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(H) * 0.1).astype(np.float32)
    D = (rng.standard_normal((H, 3)) * 0.5).astype(np.float32)
    N = helper.make_node
    body_nodes = [
        N("Add", ["time_in", "one"], ["time_out"], name="time_next"),
        N("Gather", ["xt", "time_in"], ["x_step"], name="read_step"),
        N("Gemm", ["x_step", "W_in", "b_in"], ["xw"], name="input_gemm"),
        N("Gemm", ["h_in", "R_in", "xw"], ["pre"], name="state_gemm"),
        N("Tanh", ["pre"], ["h_out"], name="tanh"),
        N("Identity", ["h_out"], ["h_scan"], name="scan_copy"),
        N("Cast", ["time_out"], ["time_f"], name="time_float", to=TensorProto.FLOAT),
        N("Cast", ["counter"], ["counter_f"], name="counter_float", to=TensorProto.FLOAT),
        N("Less", ["counter_f", "limit_f"], ["c1"], name="counter_less"),
        N("Less", ["time_f", "limit_f"], ["c2"], name="time_less"),
        N("And", ["c1", "c2"], ["cond_out"], name="both"),
    ]
    if cond_from_data:  # the condition reads the state: unknown when the model is built
        body_nodes[-1] = N("Less", ["h_sum", "limit_f"], ["cond_out"], name="data_cond")
        body_nodes.insert(-1, N("ReduceSum", ["h_out"], ["h_sum"], name="h_sum", keepdims=0))
    if nested == "data_if":  # an If whose condition reads the state (an If of a known one is its branch)
        inner = helper.make_graph([N("Identity", ["h_out"], ["inner_y"])], "inner", [],
                                  [helper.make_tensor_value_info("inner_y", TensorProto.FLOAT, None)])
        body_nodes += [N("ReduceSum", ["h_out"], ["h_total"], name="h_total", keepdims=0),
                       N("Less", ["h_total", "limit_f"], ["data_c"], name="data_if_cond"),
                       N("If", ["data_c"], ["branch"], name="nested_if", then_branch=inner, else_branch=inner)]
    elif nested == "loop":  # a Loop in the body
        inner = helper.make_graph([N("Identity", ["inner_c"], ["inner_c_out"]), N("Identity", ["h_out"], ["inner_y"])],
                                  "inner", [helper.make_tensor_value_info("inner_i", TensorProto.INT64, []),
                                            helper.make_tensor_value_info("inner_c", TensorProto.BOOL, [])],
                                  [helper.make_tensor_value_info("inner_c_out", TensorProto.BOOL, []),
                                   helper.make_tensor_value_info("inner_y", TensorProto.FLOAT, None)])
        body_nodes.append(N("Loop", ["one", ""], ["inner_scan"], name="nested_loop", body=inner))
    vi = helper.make_tensor_value_info
    body = helper.make_graph(
        body_nodes, "body",
        [vi("counter", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []),
         vi("time_in", TensorProto.INT64, []), vi("h_in", TensorProto.FLOAT, [1, H]),
         vi("W_in", TensorProto.FLOAT, [F, H]), vi("b_in", TensorProto.FLOAT, [H]), vi("R_in", TensorProto.FLOAT, [H, H])],
        [vi("cond_out", TensorProto.BOOL, []), vi("time_out", TensorProto.INT64, []), vi("h_out", TensorProto.FLOAT, [1, H]),
         vi("W_in", TensorProto.FLOAT, [F, H]), vi("b_in", TensorProto.FLOAT, [H]), vi("R_in", TensorProto.FLOAT, [H, H]),
         vi("h_scan", TensorProto.FLOAT, [1, H])],
        [_t("one", np.array(1, np.int64)), _t("limit_f", np.array(float(T), np.float32))])
    nodes = [
        N("Transpose", ["x"], ["xt"], name="to_time_major", perm=[1, 0, 2]),
        N("Less", ["zero", "trip"], ["start_ok"], name="start_less"),
        N("And", ["start_ok", "start_ok"], ["start"], name="start_and"),
        N("Loop", ["trip", "start", "zero", "h0", "W", "b", "R"],
          ["time_end", "h_end", "W_end", "b_end", "R_end", "hs"], name="while_loop", body=body),
        N("Slice", ["hs", "last", "end", "axis0"], ["h_last3"], name="last_step"),
        N("Squeeze", ["h_last3", "axis0"], ["h_last"], name="squeeze"),
        N("MatMul", ["h_last", "D"], ["y"], name="dense"),
    ]
    inits = [_t("trip", np.array(T, np.int64)), _t("zero", np.array(0, np.int64)), _t("h0", np.zeros((1, H), np.float32)),
             _t("W", W), _t("b", b), _t("R", R), _t("D", D), _t("last", np.array([-1], np.int64)),
             _t("end", np.array([T], np.int64)), _t("axis0", np.array([0], np.int64))]
    g = helper.make_graph(nodes, "keras_rnn", [vi("x", TensorProto.FLOAT, [1, T, F])], [vi("y", TensorProto.FLOAT, [1, 3])],
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def torch_range_loop(rng) -> onnx.ModelProto:
    """TorchScript ``for i in range(4): y = relu(y @ A + x)``: M given, cond a constant true, one
    carried value, no scan output."""
    A = (rng.standard_normal((8, 8)) * 0.3).astype(np.float32)
    N = helper.make_node
    vi = helper.make_tensor_value_info
    body = helper.make_graph(
        [N("MatMul", ["y_in", "A"], ["ya"], name="mm"), N("Add", ["ya", "x"], ["s"], name="add"),
         N("Relu", ["s"], ["y_out"], name="relu"), N("Identity", ["cond_in"], ["cond_out"], name="keep_going")],
        "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("y_in", TensorProto.FLOAT, [1, 8])],
        [vi("cond_out", TensorProto.BOOL, []), vi("y_out", TensorProto.FLOAT, [1, 8])])
    g = helper.make_graph([N("Loop", ["four", "true", "x"], ["y"], name="range_loop", body=body)], "torch_loop",
                          [vi("x", TensorProto.FLOAT, [1, 8])], [vi("y", TensorProto.FLOAT, [1, 8])],
                          [_t("four", np.array(4, np.int64)), _t("true", np.array(True)), _t("A", A)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize("make,shape", [(keras_rnn_loop, [1, T, F]), (torch_range_loop, [1, 8])])
def test_unrolled_loop_equals_onnxruntime_and_builds_bit_exact(make, shape, tmp_path):
    rng = np.random.default_rng(5)
    m = make(rng)
    xs = rng.standard_normal((16, *shape[1:])).astype(np.float32)
    unrolled = expand_composites(m, 13, "m.onnx")
    assert not any(n.op_type == "Loop" for n in unrolled.graph.node)
    np.testing.assert_allclose(_ort(unrolled, xs), _ort(m, xs), rtol=1e-5, atol=1e-5)

    path = save(m, tmp_path / "m.onnx")
    # enough calibration samples that the test inputs stay inside the calibrated ranges
    np.savez(tmp_path / "cal.npz", x=rng.standard_normal((256, *shape[1:])).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
    res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m", progress=False)
    qm = res.compiled.model
    q_in = quantize_input(qm, xs)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    exe = compile_driver(str(tmp_path / "gen"), "m", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver(exe, q_in.reshape(len(xs), -1), qm.output_tensor.size), ref)
    f = _ort(m, xs).reshape(len(xs), -1).astype(np.float64)
    deq = dequantize_output(qm, ref).astype(np.float64)
    sqnr = 10 * np.log10(np.sum(f ** 2) / np.sum((deq - f) ** 2))
    assert sqnr >= 25.0, sqnr


def test_steps_share_ranges_and_constants(tmp_path):
    """Every step's tensor of one role is tied to one range (the step-0 product of the zero state
    folds away), so the steps' fully connected layers requantize alike and their arrays are
    emitted once: 12 steps cost what 6 do, plus the per-step constants of the unrolled controls."""
    sizes = {}
    for steps in (6, 12):
        global T
        old, T = T, steps
        try:
            m = keras_rnn_loop(np.random.default_rng(5))
        finally:
            T = old
        unrolled = expand_composites(m, 13, "m.onnx")
        tied = [p.value for p in unrolled.metadata_props if p.key == "qnnc.tied_ranges"]
        assert tied and "h_out__step1" in tied[0] and "h_out__step5" in tied[0], tied
        path = save(m, tmp_path / f"m{steps}.onnx")
        np.savez(tmp_path / "cal.npz", x=np.random.default_rng(1).standard_normal((16, steps, F)).astype(np.float32))
        (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
        res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / f"gen{steps}"), "m", progress=False)
        sizes[steps] = res.compiled.model.weight_bytes
    assert sizes[12] <= sizes[6] + 64, sizes


@pytest.mark.parametrize("kind,words", [
    ("data_condition", "condition depends on the input data"),
    ("data_if", "condition of the If 'nested_if' in the Loop body depends on the input data"),
    ("loop", "holds a subgraph (node 'nested_loop', Loop)"),
])
def test_loops_that_cannot_be_unrolled_are_refused_by_name(kind, words, tmp_path):
    m = keras_rnn_loop(np.random.default_rng(5), cond_from_data=kind == "data_condition",
                       nested=kind if kind != "data_condition" else "")
    path = save(m, tmp_path / "m.onnx")
    with pytest.raises(ModelError) as e:
        build(str(path), load_config(None), str(tmp_path / "gen"), "m", progress=False)
    text = e.value.format()
    assert "while_loop" in text and "Loop" in text and words in text, text
    assert not (tmp_path / "gen").exists()
