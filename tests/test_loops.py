"""ONNX ``Loop`` nodes unrolled (frontend/unroll_loops.py): tf2onnx writes one for the while loop of a
Keras 3 SimpleRNN / LSTM / GRU (a counter and a ``time`` value carried, the weights carried through
unchanged, the step outputs as a scan output), TorchScript one for a loop over a fixed range.

The unrolled float graph must equal onnxruntime's Loop, the C must be bit-exact with the reference
under sanitizers and close to float, the steps' tensors must share one range (so their constants
are emitted once), and loops whose steps depend on the data are refused by name."""
from __future__ import annotations


from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_factory import save
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver, run_driver_io
from qnnc.errors import ModelError
from qnnc.frontend.decompose import expand_composites
from qnnc.reference.interpreter import api_input_arrays, dequantize_output, quantize_input, run_all, run_int8

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


def _sequence_loop_model(path: Path) -> Path:
    """x [1, 4]; a 3-step Loop collecting a = x * (i + 1) in a sequence, then -a inserted before it
    (position -1), and on step 1 only (an If) a second copy appended, the other steps passing the
    sequence on through an Identity; the two branches both name their product 't' (sibling
    subgraphs may reuse names) at very different scales. After the loop: the items stacked on a new
    axis 1, and the item at SequenceLength - 2."""
    N = helper.make_node
    vi = helper.make_tensor_value_info
    seq_vi = helper.make_tensor_sequence_value_info
    big = helper.make_graph([N("Mul", ["a", "hundred"], ["t"]), N("SequenceInsert", ["s2", "t"], ["s_then"])], "then",
                            [], [seq_vi("s_then", TensorProto.FLOAT, None)])
    small = helper.make_graph([N("Mul", ["a", "hundredth"], ["t"]), N("Identity", ["s2"], ["s_else"])], "else",
                              [], [seq_vi("s_else", TensorProto.FLOAT, None)])
    body = helper.make_graph([
        N("Cast", ["it"], ["itf"], to=TensorProto.FLOAT), N("Add", ["itf", "onef"], ["k"]), N("Mul", ["x", "k"], ["a"]),
        N("Neg", ["a"], ["b"]), N("SequenceInsert", ["seq", "a"], ["s1"]),
        N("SequenceInsert", ["s1", "b", "minus1"], ["s2"]), N("Equal", ["it", "one"], ["is_one"]),
        N("If", ["is_one"], ["s3"], then_branch=big, else_branch=small), N("Identity", ["cond"], ["cond_out"])],
        "body", [vi("it", TensorProto.INT64, []), vi("cond", TensorProto.BOOL, []), seq_vi("seq", TensorProto.FLOAT, None)],
        [vi("cond_out", TensorProto.BOOL, []), seq_vi("s3", TensorProto.FLOAT, None)],
        [_t("onef", np.array(1.0, np.float32)), _t("minus1", np.array(-1, np.int64)), _t("one", np.array(1, np.int64)),
         _t("hundred", np.array(100.0, np.float32)), _t("hundredth", np.array(0.01, np.float32))])
    g = helper.make_graph([N("SequenceEmpty", [], ["seq0"], dtype=TensorProto.FLOAT),
                           N("Loop", ["trip", "", "seq0"], ["seq_end"], name="collect", body=body),
                           N("ConcatFromSequence", ["seq_end"], ["stacked"], axis=1, new_axis=1),
                           N("SequenceLength", ["seq_end"], ["count"]), N("Sub", ["count", "two"], ["at"]),
                           N("SequenceAt", ["seq_end", "at"], ["item"])], "g",
                          [vi("x", TensorProto.FLOAT, [1, 4])],
                          [vi("stacked", TensorProto.FLOAT, [1, 7, 4]), vi("item", TensorProto.FLOAT, [1, 4])],
                          [_t("trip", np.array(3, np.int64)), _t("two", np.array(2, np.int64))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m, full_check=True)
    return save(m, path)


def test_loop_collecting_a_sequence_with_ifs(tmp_path):
    """The sequence ops and Ifs of :func:`_sequence_loop_model` unroll to what onnxruntime computes
    on the model as it is (a negative insert position counts from the back; each branch's 't' its
    own range); C bit-exact."""
    path = _sequence_loop_model(tmp_path / "seq.onnx")
    rng = np.random.default_rng(12)
    cal = np.clip(rng.standard_normal((64, 1, 4)), -2.5, 2.5).astype(np.float32)
    cal[:2] = [[[2.5] * 4], [[-2.5] * 4]]  # the calibrated ranges hold the test values (x in [-2, 2])
    np.savez(tmp_path / "cal.npz", x=cal)
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n  method: minmax\n")
    qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m", progress=False).compiled.model
    test = np.clip(rng.standard_normal((12, 1, 4)), -2.0, 2.0).astype(np.float32)
    q = quantize_input(qm, {"x": test})
    ref = run_all(qm, q)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = [np.stack([sess.run(None, {"x": t})[k] for t in test]) for k in range(2)]
    for k in range(2):
        got = dequantize_output(qm, ref[k], k).reshape(want[k].shape)
        assert np.abs(got - want[k]).max() <= 2 * qm.output_tensors[k].scale, k
    exe = compile_driver(str(tmp_path / "gen"), "m", str(tmp_path / "drv"), sanitize=True)
    c = run_driver_io(exe, api_input_arrays(qm, q), [t.size for t in qm.output_tensors], "int8")
    assert all(np.array_equal(c[k], ref[k].reshape(len(test), -1)) for k in range(2))


def test_a_sequence_read_otherwise_is_refused_by_name(tmp_path):
    """A sequence the Loop builds, read by an op the unrolling does not carry out (SequenceErase)."""
    path = _sequence_loop_model(tmp_path / "seq.onnx")
    m = onnx.load(str(path))
    at = next(n for n in m.graph.node if n.op_type == "SequenceAt")
    m.graph.node.insert(list(m.graph.node).index(at), helper.make_node("SequenceErase", ["seq_end"], ["fewer"],
                                                                       name="drop_last"))
    at.input[0] = "fewer"
    save(m, path)
    with pytest.raises(ModelError, match="drop_last.*reads the sequence 'seq_end'"):
        build(str(path), load_config(None), str(tmp_path / "gen"), "m", progress=False)
