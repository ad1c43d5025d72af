"""PyTorch's nn.EmbeddingBag as torch.onnx.export writes it without dynamo (frontend/index_loops.py).

The export is a Loop over the bags: the bag bounds are shape arithmetic on the ids (Shape,
ReduceProd, Range, Concat, Slice), and each step slices the flattened ids between two bounds,
looks the slice up in the table and reduces it (mean, sum or max). With static input shapes
(a dynamic batch taken as 1, a dynamic length pinned) the loop is unrolled before the ids are
looked at: the input is an index input, each bag one ``embedding`` op and a reduction; the C
(ASan/UBSan) is bit-exact with the reference, which is close to float onnxruntime (bounds in
output LSB below). Bags whose offsets are a model input, and an unpinned dynamic length, are
refused naming the Loop and what it needs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T, helper, numpy_helper

from qnnc.build import build, generate
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver_io
from qnnc.errors import ModelError
from qnnc.frontend.float_runner import float_outputs_all
from qnnc.reference.interpreter import api_input_arrays, dequantize_output, quantize_input, run_all

ROWS, DIM, CLASSES = 30, 6, 3
REDUCE = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax"}


def _i64(name: str, v) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(v, np.int64), name)


def _body(mode: str) -> onnx.GraphProto:
    """One bag: ids_flat[bounds[i]:ends[i]] looked up and reduced over the bag (outer names read)."""
    nodes = [helper.make_node("Gather", ["bounds", "i"], ["start"], name="bag_start", axis=0),
             helper.make_node("Gather", ["ends", "i"], ["end"], name="bag_end", axis=0),
             helper.make_node("Unsqueeze", ["start", "axis0"], ["start1"], name="start_1d"),
             helper.make_node("Unsqueeze", ["end", "axis0"], ["end1"], name="end_1d"),
             helper.make_node("Slice", ["flat", "start1", "end1", "axis0"], ["bag"], name="bag_ids"),
             helper.make_node("Gather", ["weight", "bag"], ["rows"], name="lookup", axis=0)]
    if mode == "sum":  # ReduceSum takes its axes as an input from opset 13 on
        nodes.append(helper.make_node("ReduceSum", ["rows", "axis0"], ["pooled"], name="reduce", keepdims=0))
    else:
        nodes.append(helper.make_node(REDUCE[mode], ["rows"], ["pooled"], name="reduce", axes=[0], keepdims=0))
    nodes.append(helper.make_node("Identity", ["cond"], ["cond_out"], name="keep_going"))
    return helper.make_graph(nodes, "bag_body",
                             [helper.make_tensor_value_info("i", T.INT64, []),
                              helper.make_tensor_value_info("cond", T.BOOL, [])],
                             [helper.make_tensor_value_info("cond_out", T.BOOL, []),
                              helper.make_tensor_value_info("pooled", T.FLOAT, [DIM])])


def embedding_bag(path: Path, mode: str = "mean", shape: Sequence = (1, 6),
                  offsets: Optional[Sequence[int]] = None, offsets_input: bool = False) -> Path:
    """ids ``shape`` -> nn.EmbeddingBag(ROWS, DIM, mode) -> nn.Linear(DIM, CLASSES), as the
    TorchScript exporter writes it: a 2-D input is one bag per row (offsets Range(0, numel, L));
    ``offsets``: a 1-D input's bag starts as a constant, or a model input (``offsets_input``)."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Reshape", ["ids", "minus1"], ["flat"], name="flatten"),
             helper.make_node("Shape", ["flat"], ["flat_shape"], name="flat_shape"),
             helper.make_node("Gather", ["flat_shape", "zero"], ["numel"], name="numel", axis=0),
             helper.make_node("Unsqueeze", ["numel", "axis0"], ["numel1"], name="numel_1d")]
    inits = [_i64("minus1", [-1]), _i64("zero", 0), _i64("one", [1]), _i64("axis0", [0]),
             _i64("big", [np.iinfo(np.int64).max]),
             numpy_helper.from_array(np.array(True), "true"),
             numpy_helper.from_array((rng.standard_normal((ROWS, DIM))).astype(np.float32), "weight"),
             numpy_helper.from_array((rng.standard_normal((CLASSES, DIM)) * 0.5).astype(np.float32), "fc_w"),
             numpy_helper.from_array((rng.standard_normal(CLASSES) * 0.1).astype(np.float32), "fc_b")]
    inputs = [helper.make_tensor_value_info("ids", T.INT64, list(shape))]
    if offsets_input:
        inputs.append(helper.make_tensor_value_info("offsets", T.INT64, [len(offsets)]))
        starts = "offsets"
    elif offsets is not None:
        inits.append(_i64("starts", list(offsets)))
        starts = "starts"
    else:  # one bag per row
        nodes += [helper.make_node("Shape", ["ids"], ["ids_shape"], name="ids_shape"),
                  helper.make_node("Gather", ["ids_shape", "one"], ["length"], name="length", axis=0),
                  helper.make_node("Range", ["zero", "numel", "length"], ["starts"], name="row_starts")]
        starts = "starts"
    nodes += [helper.make_node("Concat", [starts, "numel1"], ["bounds"], name="bounds", axis=0),
              helper.make_node("Slice", ["bounds", "one", "big", "axis0", "one"], ["ends"], name="ends"),
              helper.make_node("Shape", ["ends"], ["ends_shape"], name="ends_shape"),
              helper.make_node("Gather", ["ends_shape", "zero"], ["bags"], name="bag_count", axis=0),
              helper.make_node("Loop", ["bags", "true"], ["pooled_all"], name="bag_loop", body=_body(mode)),
              helper.make_node("Gemm", ["pooled_all", "fc_w", "fc_b"], ["out"], name="fc", transB=1)]
    n_bags = len(offsets) if offsets is not None else (shape[0] if isinstance(shape[0], int) else "batch")
    g = helper.make_graph(nodes, "bag", inputs, [helper.make_tensor_value_info("out", T.FLOAT, [n_bags, CLASSES])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _graph(nodes, name, outputs, inits=()) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(o, T.FLOAT, None) for o in outputs],
                             list(inits))


def embedding_bag_dynamo(path: Path, shape: Sequence = (1, 6), offsets: Sequence[int] = (0,),
                         divisor_from_shape: bool = True) -> Path:
    """ids ``shape`` -> nn.EmbeddingBag(ROWS, DIM, "mean", offsets) -> nn.Linear as the dynamo exporter
    writes it: the rows looked up whole, then a Loop run by its condition (no trip count) whose
    body slices each bag's rows, an If for an empty bag (zeros), another for the last bag (its
    divisor from Shape(ids), dynamic in a dynamic-batch export), and collects the bags in a
    sequence (SequenceEmpty, SequenceInsert, ConcatFromSequence). ``divisor_from_shape`` False: the
    last bag a ReduceMean as the others (mode max / sum: the body reads no ids at all, only the
    bounds the shape of the ids makes)."""
    rng = np.random.default_rng(6)
    n_bags = len(offsets)
    N = helper.make_node
    mean_last = _graph([N("ReduceSum", ["rows_bag", "axis0"], ["sum_last"], keepdims=1),
                        N("Shape", ["flat"], ["numel1"], end=1),
                        N("Sub", ["numel1", "start"], ["count_last"]),
                        N("Cast", ["count_last"], ["count_last_f"], to=T.FLOAT),
                        N("Div", ["sum_last", "count_last_f"], ["mean_last"])], "last", ["mean_last"])
    mean_inner = _graph([N("ReduceMean", ["rows_bag", "axis0"], ["mean_inner"], keepdims=1)], "inner",
                        ["mean_inner"])
    filled = _graph([N("Slice", ["rows", "start", "end"], ["rows_bag"]),
                     N("Sub", ["bags", "one"], ["last_i"]),
                     N("Equal", ["i", "last_i"], ["is_last"]),
                     N("If", ["is_last"], ["bag_mean"], then_branch=mean_last if divisor_from_shape else mean_inner,
                       else_branch=mean_inner)],
                    "filled", ["bag_mean"])
    empty = _graph([], "empty", ["zeros"], [numpy_helper.from_array(np.zeros((1, DIM), np.float32), "zeros")])
    body = helper.make_graph(
        [N("Reshape", ["i", "minus1"], ["at"]), N("Add", ["at", "one"], ["at1"]), N("Add", ["at", "two"], ["at2"]),
         N("Slice", ["bounds", "at", "at1"], ["start"]), N("Slice", ["bounds", "at1", "at2"], ["end"]),
         N("Equal", ["start", "end"], ["is_empty"]),
         N("If", ["is_empty"], ["pooled"], then_branch=empty, else_branch=filled),
         N("SequenceInsert", ["seq", "pooled"], ["seq_out"]),
         N("Add", ["i", "one_s"], ["i_next"]), N("Less", ["i_next", "bags"], ["cond_out"])],
        "bag_body", [helper.make_tensor_value_info("iteration", T.INT64, []),
                     helper.make_tensor_value_info("cond", T.BOOL, []),
                     helper.make_tensor_value_info("i", T.INT64, []),
                     helper.make_tensor_sequence_value_info("seq", T.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", T.BOOL, []), helper.make_tensor_value_info("i_next", T.INT64, []),
         helper.make_tensor_sequence_value_info("seq_out", T.FLOAT, None)])
    nodes = [N("Reshape", ["ids", "minus1"], ["flat"]), N("Gather", ["weight", "flat"], ["rows"], axis=0),
             N("Shape", ["flat"], ["numel"]), N("Concat", ["starts", "numel"], ["bounds"], axis=0),
             N("SequenceEmpty", [], ["seq0"], dtype=T.FLOAT),
             N("Loop", ["", "true", "zero", "seq0"], ["i_end", "seq_end"], name="bag_loop", body=body),
             N("ConcatFromSequence", ["seq_end"], ["pooled_all"], axis=0),
             N("Gemm", ["pooled_all", "fc_w", "fc_b"], ["out"], name="fc", transB=1)]
    inits = [_i64("minus1", [-1]), _i64("one", [1]), _i64("two", [2]), _i64("one_s", 1), _i64("zero", 0),
             _i64("bags", n_bags), _i64("axis0", [0]), _i64("starts", list(offsets)),
             numpy_helper.from_array(np.array(True), "true"),
             numpy_helper.from_array(rng.standard_normal((ROWS, DIM)).astype(np.float32), "weight"),
             numpy_helper.from_array((rng.standard_normal((CLASSES, DIM)) * 0.5).astype(np.float32), "fc_w"),
             numpy_helper.from_array((rng.standard_normal(CLASSES) * 0.1).astype(np.float32), "fc_b")]
    g = helper.make_graph(nodes, "bag", [helper.make_tensor_value_info("ids", T.INT64, list(shape))],
                          [helper.make_tensor_value_info("out", T.FLOAT, [n_bags, CLASSES])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _ids(n: int, length: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, ROWS, (n, 1, length)).astype(np.float32)


def _built(tmp_path: Path, path: Path, length: int, pin: str = ""):
    # enough bags that the test's pooled values stay inside the calibrated ranges
    np.save(tmp_path / "cal.npy", _ids(512, length, 1))
    (tmp_path / "q.yaml").write_text(f"name: bag\n{pin}calibration:\n  data: cal.npy\n")
    return build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "bag",
                 progress=False).compiled.model


def _c_equals_reference_close_to_float(tmp_path: Path, qm, path: Path, test: np.ndarray,
                                       input_shape=None) -> np.ndarray:
    """C (ASan/UBSan) == reference on ``test``; returns |reference - float| in output LSB (the float
    model with the pins ``input_shape``, as calibration runs it)."""
    n = len(test)
    q = quantize_input(qm, {"ids": test})
    ref = run_all(qm, q)
    exe = compile_driver(str(tmp_path / "gen"), "bag", str(tmp_path / "drv"), sanitize=True)
    c = run_driver_io(exe, api_input_arrays(qm, q), [qm.output_tensor.size], "int8")
    assert np.array_equal(c[0], ref[0].reshape(n, -1))
    f = float_outputs_all(str(path), {"ids": test}, input_shape)[0].reshape(n, -1)
    return np.abs(dequantize_output(qm, ref[0]).reshape(n, -1) - f) / qm.output_tensor.scale


@pytest.mark.parametrize("mode,shape,offsets", [("mean", (1, 6), None), ("sum", (1, 6), None),
                                                ("max", (1, 6), None), ("sum", (8,), (0, 3, 5))])
def test_embedding_bag_loop_unrolled_bit_exact_and_close_to_float(tmp_path, mode, shape, offsets):
    """One bag per row of [1, 6] ids (mean, sum, max), and three bags of a flat [8] input at constant
    offsets 0, 3, 5 (bags of 3, 2 and 3 ids)."""
    path = embedding_bag(tmp_path / "bag.onnx", mode, shape, offsets)
    qm = _built(tmp_path, path, shape[-1])
    kinds = [o.kind for o in qm.ops]
    assert qm.index_inputs == {"ids": ROWS}
    assert kinds.count("embedding") == (len(offsets) if offsets else 1)
    err = _c_equals_reference_close_to_float(tmp_path, qm, path, _ids(24, shape[-1], 2))
    print(f"EmbeddingBag {mode} {shape}: max/mean |error| LSB {err.max():.2f} {err.mean():.3f}")
    assert err.max() <= 2.0 and err.mean() <= 0.5  # (measured 0.8-1.5 and 0.26-0.36)


@pytest.mark.parametrize("shape,offsets,divisor_from_shape", [((1, 6), (0,), True), (("batch", 6), (0,), True),
                                                               (("batch", 6), (0,), False), ((8,), (0, 3, 8), True)])
def test_embedding_bag_dynamo_form(tmp_path, shape, offsets, divisor_from_shape):
    """The dynamo exporter's EmbeddingBag (a Loop run by its condition, Ifs of known conditions in
    its body, the bags in a sequence): unrolled, bit-exact and close to float; an empty last bag
    (offset 8 of 8 ids) is zeros. With a dynamic batch the bounds are shape arithmetic on the ids,
    known once the batch is 1 (shape inference of the pinned model), also where the body reads no
    ids (so the loop is unrolled with the composites, not before the ids are looked at)."""
    path = embedding_bag_dynamo(tmp_path / "bag.onnx", shape, offsets, divisor_from_shape)
    qm = _built(tmp_path, path, shape[-1])
    kinds = [o.kind for o in qm.ops]
    assert qm.index_inputs == {"ids": ROWS} and kinds.count("embedding") == 1 and "loop" not in kinds
    pins = {"ids": list(qm.input_tensor.shape)}  # the shape compiled, as calibration runs the float model
    err = _c_equals_reference_close_to_float(tmp_path, qm, path, _ids(24, shape[-1], 2), pins)
    print(f"EmbeddingBag (dynamo) {shape} {offsets}: max/mean |error| LSB {err.max():.2f} {err.mean():.3f}")
    assert err.max() <= 2.0 and err.mean() <= 0.5


def test_embedding_bag_dynamic_dims(tmp_path):
    """A dynamic batch is taken as 1 (one bag); a dynamic length needs its pin, which the unrolling
    reads, and is refused without it, naming the Loop."""
    path = embedding_bag(tmp_path / "dyn.onnx", "mean", ("batch", 5))
    qm = _built(tmp_path, path, 5)
    assert qm.index_inputs == {"ids": ROWS}
    err = _c_equals_reference_close_to_float(tmp_path, qm, path, _ids(16, 5, 3))
    assert err.max() <= 2.0
    path = embedding_bag(tmp_path / "dynlen.onnx", "mean", ("batch", "length"))
    with pytest.raises(ModelError, match="the Loop 'bag_loop' reads it in its body.*pin dynamic dims with "
                                         "input_shape"):
        generate(str(path), load_config(None), "m", runtime=False, progress=False)
    qm = _built(tmp_path, path, 7, pin="input_shape:\n  ids: [1, 7]\n")
    assert qm.index_inputs == {"ids": ROWS} and qm.input_tensor.shape[-1] == 7


@pytest.mark.parametrize("pin", ["[8]", "[1, 8]"])
def test_embedding_bag_of_a_rank_1_input_of_dynamic_length(tmp_path, pin):
    """ids [n] (an unbatched module) at constant offsets 0, 3, 5: pinned as the model declares the
    input or with the batch in front (as the importer takes it), the importer and the calibration's
    float model unroll alike."""
    path = embedding_bag(tmp_path / "bag1d.onnx", "sum", ("n",), (0, 3, 5))
    qm = _built(tmp_path, path, 8, pin=f"input_shape:\n  ids: {pin}\n")
    assert qm.index_inputs == {"ids": ROWS} and [o.kind for o in qm.ops].count("embedding") == 3
    err = _c_equals_reference_close_to_float(tmp_path, qm, path, _ids(16, 8, 4), {"ids": [1, 8]})
    assert err.max() <= 2.0


def test_embedding_bag_pins_and_refusals_name_the_real_cause(tmp_path):
    """A pin that contradicts a dim the model fixes is refused as before (the unrolling fills only
    dynamic dims); ids read by an Add before their lookup are refused naming the Add, not a Loop
    that reads the looked-up rows."""
    path = embedding_bag(tmp_path / "bag.onnx", "mean", (1, 6))
    (tmp_path / "pin.yaml").write_text("input_shape:\n  ids: [1, 7]\n")
    with pytest.raises(ModelError, match=r"input_shape for 'ids' says \[1, 7\], but the model fixes that dim to 6"):
        generate(str(path), load_config(str(tmp_path / "pin.yaml")), "m", runtime=False, progress=False)
    model = onnx.load(str(embedding_bag_dynamo(tmp_path / "dyn.onnx")))
    model.graph.node[0].input[0] = "ids_plus_one"
    model.graph.node.insert(0, helper.make_node("Add", ["ids", "one_s"], ["ids_plus_one"], name="shift_ids"))
    onnx.save(model, str(tmp_path / "shifted.onnx"))
    with pytest.raises(ModelError, match="and Add 'shift_ids' reads it"):
        generate(str(tmp_path / "shifted.onnx"), load_config(None), "m", runtime=False, progress=False)


def test_embedding_bag_offsets_as_an_input_are_refused(tmp_path):
    """The tutorial's model(text, offsets): bag bounds are run-time data, so the ids are no table
    lookups a static program makes; the error names the Loop and the fix."""
    path = embedding_bag(tmp_path / "offsets.onnx", "mean", (8,), (0, 4), offsets_input=True)
    with pytest.raises(ModelError, match="input 'ids' has element type INT64.*the Loop 'bag_loop' reads it in its "
                                         "body.*make the bags' offsets a constant, not a model input"):
        generate(str(path), load_config(None), "m", runtime=False, progress=False)


def test_constant_folding_keeps_what_only_a_loop_body_reads(tmp_path):
    """The shape arithmetic folded before the unrolling (onnx_fold.py) keeps the table and the bag
    bounds, which only the Loop's body reads, and their Constant nodes."""
    from qnnc.frontend.onnx_fold import fold_onnx_constants
    from qnnc.frontend.onnx_names import read_names
    model = onnx.load(str(embedding_bag(tmp_path / "bag.onnx", "mean", (1, 6))))
    folded = fold_onnx_constants(model, 13)
    loop = next(n for n in folded.graph.node if n.op_type == "Loop")
    known = {i.name for i in folded.graph.initializer} | {o for n in folded.graph.node for o in n.output}
    body_reads = read_names(loop.attribute[0].g) - {i.name for i in loop.attribute[0].g.input}
    body_made = {o for n in loop.attribute[0].g.node for o in n.output}
    assert {"weight", "bounds", "ends", "flat", "axis0"} <= body_reads and body_reads - body_made <= known
