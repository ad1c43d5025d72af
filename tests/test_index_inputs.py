"""Token-id inputs of embedding tables (frontend/index_inputs.py, quantize/rules_embedding.py).

* An int64 input read only by Gathers on axis 0 of constant tables (PyTorch's nn.Embedding), and a
  float input Cast to int32 first (tf2onnx's Keras Embedding), compile: the ids are int16 of scale
  1 in the API (``const int16_t *``), each Gather is one ``embedding`` op.
* The generated C (ASan/UBSan) is bit-exact with the reference on every entry point, with ids
  below 0 (counted from the end) among them; int8 and int16 activations; the reference is close
  to float onnxruntime (bounds in output LSB below). Ids outside the table (undefined in ONNX) are
  clamped to it, by the reference and the C alike, without reading outside the table.
* The forms exporters give: ids of rank 1 (an unbatched module), time-major ids [sequence, 1] into
  an LSTM of layout 0 (PyTorch's batch_first=False), position ids built from Shape(ids) (Hugging
  Face), a table behind an Identity or a Cast, a negative axis, Keras 3's where(ids < 0, ids + rows,
  ids) as tf2onnx writes it (dropped: the Gather wraps itself); other arithmetic is refused.
* Integer inputs read otherwise (as values, also inside an If body), unsigned ids, tables of more
  rows than int16 ids reach, and Gathers on another axis are refused with the rule, naming the reader.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper, numpy_helper

from qnnc.build import build, generate
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver_io
from qnnc.errors import ModelError
from qnnc.frontend.float_runner import float_outputs_all
from qnnc.reference.interpreter import api_input_arrays, dequantize_output, quantize_input, run_all

ROWS, DIM, STEPS = 50, 8, 12


def _c(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def text_cnn(path: Path, keras: bool = False, two_tables: bool = False) -> Path:
    """tokens [1, 12] -> Gather(table [50, 8]) (+ a second table's rows) -> Transpose -> Conv1d ->
    Relu -> GlobalAveragePool -> Flatten -> Gemm -> out [1, 3]. ``keras``: a float input Cast to
    int32 first."""
    rng = np.random.default_rng(7)
    ids = "tokens"
    nodes = []
    if keras:
        nodes.append(helper.make_node("Cast", ["tokens"], ["ids"], name="to_int", to=T.INT32))
        ids = "ids"
    nodes.append(helper.make_node("Gather", ["table", ids], ["e"], name="embed", axis=0))
    inits = [_c("table", rng.standard_normal((ROWS, DIM))),
             _c("w", rng.standard_normal((6, DIM, 3)) * 0.4), _c("cb", rng.standard_normal(6) * 0.1),
             _c("W", rng.standard_normal((3, 6)) * 0.5), _c("b", rng.standard_normal(3) * 0.1)]
    if two_tables:  # a position-like second table of another size, read by the same ids
        nodes += [helper.make_node("Gather", ["table2", ids], ["e2"], name="embed2", axis=0),
                  helper.make_node("Add", ["e", "e2"], ["es"], name="sum")]
        inits.append(_c("table2", rng.standard_normal((ROWS + 9, DIM)) * 0.5))
    nodes += [helper.make_node("Transpose", ["es" if two_tables else "e"], ["t"], name="to_ncw", perm=[0, 2, 1]),
              helper.make_node("Conv", ["t", "w", "cb"], ["c"], name="conv", kernel_shape=[3], pads=[1, 1]),
              helper.make_node("Relu", ["c"], ["r"], name="relu"),
              helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
              helper.make_node("Flatten", ["p"], ["f"], name="flat"),
              helper.make_node("Gemm", ["f", "W", "b"], ["out"], name="fc", transB=1)]
    tokens = helper.make_tensor_value_info("tokens", T.FLOAT if keras else T.INT64, [1, STEPS])
    g = helper.make_graph(nodes, "g", [tokens], [helper.make_tensor_value_info("out", T.FLOAT, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _ids(n: int, seed: int, rows: int = ROWS) -> np.ndarray:
    return np.random.default_rng(seed).integers(-rows, rows, (n, 1, STEPS)).astype(np.float32)


@pytest.mark.parametrize("keras,two_tables,bits", [(False, False, 8), (True, False, 8), (False, True, 8),
                                                   (False, False, 16)])
def test_token_ids_bit_exact_and_close_to_float(tmp_path, keras, two_tables, bits):
    model = text_cnn(tmp_path / "text.onnx", keras, two_tables)
    np.save(tmp_path / "cal.npy", _ids(64, 1))
    (tmp_path / "q.yaml").write_text(f"name: txt\ncalibration:\n  data: cal.npy\nquantization:\n"
                                     f"  activation_bits: {bits}\n")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "txt", progress=False)
    qm = res.compiled.model
    rows = ROWS + 9 if two_tables else ROWS  # the largest table's
    assert qm.index_inputs == {"tokens": rows} and qm.multi_io
    t = qm.tensors["tokens"]
    assert (t.scale, t.zero_point, t.bits) == (1.0, 0, 16)
    kinds = [op.kind for op in qm.ops]
    assert kinds.count("embedding") == (2 if two_tables else 1) and "gather" not in kinds
    kernel = "qnnc_embedding_s16" if bits == 16 else "qnnc_embedding_s8"
    assert all(op.kernel == kernel for op in qm.ops if op.kind == "embedding")
    h = res.files["txt.h"]
    assert "int txt_invoke(txt_ctx *ctx, const int16_t *tokens, int8_t *out);" in h
    assert f"#define TXT_INPUT_TOKENS_TABLE_ROWS {rows}\n" in h and "#define TXT_INPUT_TOKENS_BITS 16\n" in h
    n = 32
    test = _ids(n, 2)
    test[::2, 0, :2] = [-1, -ROWS]  # counted from the end (ids outside a table: the next test)
    q = quantize_input(qm, {"tokens": test})
    assert np.array_equal(q["tokens"].reshape(n, -1), test.reshape(n, -1))  # the ids themselves
    ref = run_all(qm, q)
    exe = compile_driver(str(tmp_path / "gen"), "txt", str(tmp_path / "drv"), sanitize=True)
    api = api_input_arrays(qm, q)
    assert api[0].dtype == np.int16
    for mode in ("int8", "io", "ctx"):
        c = run_driver_io(exe, api, [qm.output_tensor.size], mode)
        assert np.array_equal(c[0], ref[0].reshape(n, -1)), mode
    cf = run_driver_io(exe, [test], [qm.output_tensor.size], "f32")
    assert np.array_equal(cf[0], dequantize_output(qm, ref[0]).reshape(n, -1))
    # the float model's Gathers read the same rows
    f = float_outputs_all(str(model), {"tokens": test})[0].reshape(n, -1)
    err = np.abs(dequantize_output(qm, ref[0]).reshape(n, -1) - f) / qm.output_tensor.scale
    print(f"token ids (keras={keras}, two tables={two_tables}, int{bits}): max/mean |error| LSB",
          err.max(), err.mean())
    assert err.max() <= 2.0 and err.mean() <= 0.5


def test_embedding_kernel_clamps_like_the_reference(tmp_path):
    """Every id from -2 rows to 2 rows: the table row the reference picks, C equal to it."""
    model = text_cnn(tmp_path / "text.onnx")
    (tmp_path / "q.yaml").write_text("name: txt\n")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "txt", progress=False)
    qm = res.compiled.model
    op = next(o for o in qm.ops if o.kind == "embedding")
    from qnnc.reference.kernels_movement import embedding
    ids = np.arange(-2 * ROWS, 2 * ROWS, dtype=np.int16)
    want = np.clip(np.where(ids < 0, ids + ROWS, ids), 0, ROWS - 1)
    assert np.array_equal(embedding(ids, op.consts["table"]), op.consts["table"][want])
    xs = np.resize(ids, (len(ids) // STEPS + 1) * STEPS).reshape(-1, 1, STEPS).astype(np.float32)
    q = quantize_input(qm, {"tokens": xs})
    exe = compile_driver(str(tmp_path / "gen"), "txt", str(tmp_path / "drv"), sanitize=True)
    c = run_driver_io(exe, api_input_arrays(qm, q), [qm.output_tensor.size], "io")
    assert np.array_equal(c[0], run_all(qm, q)[0].reshape(len(xs), -1))


def _int_model(path: Path, nodes, inits, out_shape, in_type=T.INT64) -> Path:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("tokens", in_type, [1, 4])],
                          [helper.make_tensor_value_info("out", T.FLOAT, out_shape)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _c_equals_reference(tmp_path, qm, name, model, input_name, test, mode):
    """The generated C (tmp_path/gen, model ``name``, under ASan/UBSan, API ``mode``) equals the
    reference on the ids ``test``; returns (the reference dequantized, float onnxruntime), one row
    per sample."""
    n = len(test)
    q = quantize_input(qm, {input_name: test})
    ref = run_all(qm, q)
    exe = compile_driver(str(tmp_path / "gen"), name, str(tmp_path / "drv"), sanitize=True)
    c = run_driver_io(exe, api_input_arrays(qm, q), [qm.output_tensor.size], mode)
    assert np.array_equal(c[0], ref[0].reshape(n, -1))
    f = float_outputs_all(str(model), {input_name: test})[0].reshape(n, -1)
    return dequantize_output(qm, ref[0]).reshape(n, -1), f


@pytest.mark.parametrize("padding_op,float_ids", [("Equal", False), ("LessOrEqual", False), ("Equal", True)])
def test_padding_mask_of_the_ids(tmp_path, padding_op, float_ids):
    """Keras' Embedding(mask_zero=True) as tf2onnx writes it: the ids compared with the padding id
    (Not(Equal(ids, 0)), or ids <= 0; Keras' float ids, Cast to int32 for the lookup, compared with
    0.0), the mask moved and read by a Where and a Cast. The comparison becomes a 0/1 table the ids
    index (index_masks.py): the ids stay an index input; C equals the reference; the masked sum and
    the count of real tokens are close to float on padded sequences (the count exact)."""
    rng = np.random.default_rng(11)
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    cast = [helper.make_node("Cast", ["tokens"], ["ids"], name="to_int", to=T.INT32)] if float_ids else []
    nodes = cast + [
             helper.make_node("Gather", ["table", "ids" if float_ids else "tokens"], ["e"], name="embed"),
             helper.make_node(padding_op, ["tokens", "pad"], ["is_pad"], name="padding"),
             helper.make_node("Not", ["is_pad"], ["keep"], name="keep"),
             helper.make_node("Unsqueeze", ["keep", "ax2"], ["keep3"], name="keep3"),
             helper.make_node("Where", ["keep3", "e", "zero"], ["masked"], name="masked"),
             helper.make_node("ReduceSum", ["masked", "ax1"], ["pooled"], name="pool", keepdims=0),
             helper.make_node("Gemm", ["pooled", "W"], ["logits"], name="fc", transB=1),
             helper.make_node("Cast", ["keep"], ["keepf"], name="keepf", to=T.FLOAT),
             helper.make_node("ReduceSum", ["keepf", "ax1"], ["count"], name="count", keepdims=1),
             helper.make_node("Concat", ["logits", "count"], ["out"], name="out", axis=1)]
    inits = [_c("table", rng.standard_normal((ROWS, DIM)) * 0.5), _c("W", rng.standard_normal((3, DIM)) * 0.3),
             _c("zero", 0.0), _c("pad", 0.0) if float_ids else i64("pad", 0), i64("ax1", [1]), i64("ax2", [2])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("tokens", T.FLOAT if float_ids else T.INT64,
                                                                     [1, STEPS])],
                          [helper.make_tensor_value_info("out", T.FLOAT, [1, 4])], inits)
    path = tmp_path / "padded.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    ids = rng.integers(1, ROWS, (96, 1, STEPS)).astype(np.float32)
    for i, length in enumerate(rng.integers(1, STEPS + 1, len(ids))):
        ids[i, 0, length:] = 0  # padding after the sentence
    np.save(tmp_path / "cal.npy", ids[:64])
    (tmp_path / "q.yaml").write_text("name: txt\ncalibration:\n  data: cal.npy\n")
    res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "txt", progress=False)
    qm = res.compiled.model
    assert qm.index_inputs == {"tokens": ROWS}
    assert [op.kind for op in qm.ops].count("embedding") == 2  # the table and the padding test
    test = ids[64:]
    n = len(test)
    got, f = _c_equals_reference(tmp_path, qm, "txt", path, "tokens", test, "int8")
    np.testing.assert_allclose(f[:, 3], (test.reshape(n, -1) > 0).sum(1))  # the float count of real tokens
    err = np.abs(got - f) / qm.output_tensor.scale
    print(f"padding mask ({padding_op}): max/mean |error| LSB {err.max():.2f} {err.mean():.3f}")
    assert err.max() <= 2.0 and err.mean() <= 0.5


@pytest.mark.parametrize("form,embedding", [("one_hot", False), ("equal_arange", False), ("one_hot", True)])
def test_one_hot_categorical_input(tmp_path, form, embedding):
    """PyTorch's F.one_hot(cat, 7).float() of an int64 categorical input: OneHot (TorchScript) or
    Equal(Unsqueeze(cat, -1), arange(7)) and Casts (dynamo). The encoding becomes the lookup of a
    constant table (index_one_hot.py), exact also for ids past the encoded range (all off): the
    input stays an index input; C equals the reference, which is close to float. ``embedding``:
    the ids also index a table of 12 rows, which the encoding's table (padded) does not clamp."""
    rng = np.random.default_rng(16)
    depth, steps = 7, 5
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    if form == "one_hot":
        encode = [helper.make_node("OneHot", ["cat", "depth", "values"], ["oh"], name="one_hot", axis=-1),
                  helper.make_node("Cast", ["oh"], ["ohf"], name="as_float", to=T.FLOAT)]
        inits = [i64("depth", depth), i64("values", [0, 1])]
    else:
        encode = [helper.make_node("Unsqueeze", ["cat", "last"], ["cu"], name="unsq"),
                  helper.make_node("Equal", ["cu", "arange"], ["eq"], name="eq"),
                  helper.make_node("Cast", ["eq"], ["oh"], name="as_int", to=T.INT64),
                  helper.make_node("Cast", ["oh"], ["ohf"], name="as_float", to=T.FLOAT)]
        inits = [i64("last", [-1]), i64("arange", np.arange(depth))]
    rows, width = (12, depth + 2) if embedding else (depth, depth)
    if embedding:
        encode += [helper.make_node("Gather", ["table", "cat"], ["e"], name="embed"),
                   helper.make_node("Concat", ["oh_f", "e"], ["ohf"], name="join", axis=-1)]
        encode[-3].output[0] = "oh_f"  # the Cast to float feeds the Concat
        inits.append(_c("table", rng.standard_normal((rows, 2))))
    nodes = encode + [helper.make_node("Flatten", ["ohf"], ["flat"], name="flat"),
                      helper.make_node("Gemm", ["flat", "W"], ["out"], name="fc", transB=1)]
    inits.append(_c("W", rng.standard_normal((4, steps * width)) * 0.4))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("cat", T.INT64, [1, steps])],
                          [helper.make_tensor_value_info("out", T.FLOAT, [1, 4])], inits)
    path = tmp_path / f"{form}.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    cats = rng.integers(0, rows, (80, 1, steps)).astype(np.float32)
    np.save(tmp_path / "cal.npy", cats[:64])
    (tmp_path / "q.yaml").write_text("name: cat\ncalibration:\n  data: cal.npy\n")
    qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "cat",
               progress=False).compiled.model
    # rows of the largest table: the encoding's depth + 1 (its row of all off), or the embedding's
    assert qm.index_inputs == {"cat": rows if embedding else depth + 1}
    assert [o.kind for o in qm.ops].count("embedding") == 1 + embedding
    test = cats[64:]
    test[::3, 0, 0] = rows - 1 if embedding else depth + 2  # past the encoding: all off, as ONNX's OneHot
    got, f = _c_equals_reference(tmp_path, qm, "cat", path, "cat", test, "int8")
    err = np.abs(got - f) / qm.output_tensor.scale
    print(f"one-hot ({form}, embedding {embedding}): max/mean |error| LSB {err.max():.2f} {err.mean():.3f}")
    assert err.max() <= 2.0 and err.mean() <= 0.5


def _built_on_ids(tmp_path, g, name: str, cal: np.ndarray):
    """Graph ``g`` (input 'ids') saved at opset 13 and built as ``name``, calibrated on the ids
    ``cal``; (its path, the quantized model)."""
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    np.save(tmp_path / "cal.npy", cal)
    (tmp_path / "q.yaml").write_text(f"name: {name}\ncalibration:\n  data: cal.npy\n")
    qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), name,
               progress=False).compiled.model
    return path, qm


def _onnxruntime_on_ids(path, ids: np.ndarray) -> np.ndarray:
    """onnxruntime's output of the model as it is (int64 ids), one row per sample."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"ids": x.astype(np.int64)})[0] for x in ids]).reshape(len(ids), -1)


def test_id_comparison_keeps_the_broadcast_rank(tmp_path):
    """One token Squeezed to rank 0, compared with a [1] constant: the comparison is [1] (ONNX
    broadcasting), as the lookup that replaces it is, so the Concat after it still fits."""
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("Squeeze", ["ids", "ax0"], ["s"], name="one"),
             helper.make_node("Gather", ["table", "s"], ["e"], name="embed"),
             helper.make_node("Equal", ["s", "pad"], ["m"], name="is_pad"),
             helper.make_node("Cast", ["m"], ["mf"], name="as_float", to=T.FLOAT),
             helper.make_node("Concat", ["e", "mf"], ["out"], name="join", axis=0)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", T.INT64, [1])],
                          [helper.make_tensor_value_info("out", T.FLOAT, [4])],
                          [_c("table", np.random.default_rng(15).standard_normal((9, 3))), i64("pad", [0]),
                           i64("ax0", [0])])
    ids = np.arange(48, dtype=np.float32).reshape(48, 1) % 9
    path, qm = _built_on_ids(tmp_path, g, "r0", ids[:32])
    got, f = _c_equals_reference(tmp_path, qm, "r0", path, "ids", ids[32:], "int8")
    assert np.abs(got - f).max() <= qm.output_tensor.scale and np.array_equal(f[:, 3], ids[32:, 0] == 0)


def test_one_hot_and_padding_mask_without_embedding(tmp_path):
    """F.one_hot(ids, 6) @ W, times the padding mask Not(ids == 0): no embedding table but the
    encoding's, which the comparison's table joins (one-hot encodings become lookups first)."""
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("OneHot", ["ids", "depth", "values"], ["oh"], name="one_hot", axis=-1),
             helper.make_node("MatMul", ["oh", "W"], ["h"], name="project"),
             helper.make_node("Equal", ["ids", "zero"], ["pad"], name="is_pad"),
             helper.make_node("Not", ["pad"], ["keep"], name="keep"),
             helper.make_node("Cast", ["keep"], ["kf"], name="as_float", to=T.FLOAT),
             helper.make_node("Unsqueeze", ["kf", "last"], ["ku"], name="unsq"),
             helper.make_node("Mul", ["h", "ku"], ["out"], name="masked")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", T.INT64, [1, 5])],
                          [helper.make_tensor_value_info("out", T.FLOAT, [1, 5, 4])],
                          [i64("depth", 6), _c("values", [0, 1]), i64("zero", 0), i64("last", [-1]),
                           _c("W", np.random.default_rng(2).standard_normal((6, 4)))])
    ids = np.random.default_rng(3).integers(0, 6, (48, 1, 5)).astype(np.float32)
    path, qm = _built_on_ids(tmp_path, g, "ohp", ids[:32])
    assert set(qm.index_inputs) == {"ids"}
    got, _ = _c_equals_reference(tmp_path, qm, "ohp", path, "ids", ids[32:], "int8")
    f = _onnxruntime_on_ids(path, ids[32:])
    err = np.abs(got - f) / qm.output_tensor.scale
    assert err.max() <= 2.0 and np.all(got[f == 0] == 0)  # (int8 weights: 1.65 LSB measured; padding exact)


def test_one_hot_encodings_of_two_depths(tmp_path):
    """F.one_hot(ids, 3) and F.one_hot(ids, 10) of the same ids, no embedding: two tables of 4 and 11
    rows; an id of 3..9 is all off in the first, so each table clamps the ids for itself (the float
    model too): the reference equals onnxruntime on the model as it was."""
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("OneHot", ["ids", "d3", "values"], ["a"], name="oh3", axis=-1),
             helper.make_node("OneHot", ["ids", "d10", "values"], ["b"], name="oh10", axis=-1),
             helper.make_node("Concat", ["a", "b"], ["out"], name="join", axis=-1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", T.INT64, [1, 4])],
                          [helper.make_tensor_value_info("out", T.FLOAT, [1, 4, 13])],
                          [i64("d3", 3), i64("d10", 10), _c("values", [0, 1])])
    ids = np.random.default_rng(6).integers(0, 10, (48, 1, 4)).astype(np.float32)
    path, qm = _built_on_ids(tmp_path, g, "oh", ids[:32])
    assert qm.index_inputs == {"ids": 11}
    got, _ = _c_equals_reference(tmp_path, qm, "oh", path, "ids", ids[32:], "int8")
    f = _onnxruntime_on_ids(path, ids[32:])
    assert np.abs(got - f).max() <= qm.output_tensor.scale  # 0 / 1 values: at most one step off


def test_categorical_columns_picked_before_their_lookups(tmp_path):
    """A tabular model's int64 input of categorical columns, each looked up in its own table:
    emb0(cat[:, 0]) (a Gather of the ids, 10 categories) and emb1(cat[:, 1:2]) (a Slice, 6). The
    picks move after the lookups (index_picks.py): the input stays an index input of the largest
    table's rows, each table clamping the ids it is given; C equals the reference, which is close
    to onnxruntime on the model as it was, over each column's whole range of ids."""
    rng = np.random.default_rng(17)
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("Gather", ["cat", "zero"], ["c0"], name="column0", axis=1),
             helper.make_node("Gather", ["table0", "c0"], ["e0"], name="emb0"),
             helper.make_node("Slice", ["cat", "one", "two", "one"], ["c1"], name="column1"),
             helper.make_node("Gather", ["table1", "c1"], ["e1"], name="emb1"),
             helper.make_node("Flatten", ["e1"], ["f1"], name="flat1"),
             helper.make_node("Concat", ["e0", "f1", "num"], ["x"], name="join", axis=1),
             helper.make_node("Gemm", ["x", "W"], ["out"], name="fc", transB=1)]
    inits = [i64("zero", 0), i64("one", [1]), i64("two", [2]), _c("table0", rng.standard_normal((10, 4))),
             _c("table1", rng.standard_normal((6, 3))), _c("W", rng.standard_normal((2, 4 + 3 + 5)) * 0.4)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("cat", T.INT64, [1, 2]),
                                       helper.make_tensor_value_info("num", T.FLOAT, [1, 5])],
                          [helper.make_tensor_value_info("out", T.FLOAT, [1, 2])], inits)
    path = tmp_path / "tabular.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    cats = np.stack([rng.integers(0, 10, (80, 1)), rng.integers(0, 6, (80, 1))], -1).astype(np.float32)
    nums = rng.standard_normal((80, 1, 5)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", cat=cats[:64], num=nums[:64])
    (tmp_path / "q.yaml").write_text("name: tab\ncalibration:\n  data: cal.npz\n")
    qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "tab",
               progress=False).compiled.model
    assert qm.index_inputs == {"cat": 10} and [o.kind for o in qm.ops].count("embedding") == 2
    test = {"cat": cats[64:], "num": nums[64:]}
    q = quantize_input(qm, test)
    ref = run_all(qm, q)
    exe = compile_driver(str(tmp_path / "gen"), "tab", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver_io(exe, api_input_arrays(qm, q), [qm.output_tensor.size], "int8")[0],
                          ref[0].reshape(16, -1))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    f = np.concatenate([sess.run(None, {"cat": c.astype(np.int64), "num": x})[0] for c, x in zip(cats[64:], nums[64:])])
    err = np.abs(dequantize_output(qm, ref[0]).reshape(16, -1) - f) / qm.output_tensor.scale
    print(f"categorical columns: max/mean |error| LSB {err.max():.2f} {err.mean():.3f}")
    assert err.max() <= 2.0 and err.mean() <= 0.5


def test_token_id_refusals(tmp_path):
    cfg = load_config(None)
    table = _c("table", np.ones((10, 4)))
    # an integer input also read as a value (a mask cast to float)
    p = _int_model(tmp_path / "mask.onnx", [helper.make_node("Gather", ["table", "tokens"], ["e"], name="embed"),
                                            helper.make_node("Cast", ["tokens"], ["m"], name="mask", to=T.FLOAT),
                                            helper.make_node("Unsqueeze", ["m", "ax"], ["mu"], name="unsq"),
                                            helper.make_node("Mul", ["e", "mu"], ["out"], name="masked")],
                   [table, numpy_helper.from_array(np.array([2], np.int64), "ax")], [1, 4, 4])
    with pytest.raises(ModelError, match="input 'tokens' has element type INT64.*only as the indices of Gathers.*"
                                         "and Cast 'mask' reads it"):
        generate(str(p), cfg, "m", runtime=False, progress=False)
    # a Gather on axis 1 of the table
    p = _int_model(tmp_path / "axis1.onnx", [helper.make_node("Gather", ["table", "tokens"], ["out"], name="g",
                                                              axis=1)], [table], [10, 1, 4])
    with pytest.raises(ModelError, match="element type INT64"):
        generate(str(p), cfg, "m", runtime=False, progress=False)
    # more rows than int16 ids reach
    big = numpy_helper.from_array(np.zeros((40000, 2), np.float32), "table")
    p = _int_model(tmp_path / "big.onnx", [helper.make_node("Gather", ["table", "tokens"], ["out"], name="g")],
                   [big], [1, 4, 2])
    with pytest.raises(ModelError, match="table of 40000 rows; qnnc takes ids as int16"):
        generate(str(p), cfg, "m", runtime=False, progress=False)


def _variant(kind: str, path: Path) -> Path:
    """Exporter forms of a token model (see the module docstring); ids of 20 rows, output y."""
    rng = np.random.default_rng(11)
    table = _c("weight", rng.standard_normal((20, 4)))
    inits = [table, _c("W", rng.standard_normal((4, 3)) * 0.5)]
    shape, out_shape = [1, 6], [1, 6, 3]
    nodes = [helper.make_node("Gather", ["weight", "ids"], ["e"], name="emb"),
             helper.make_node("MatMul", ["e", "W"], ["y"], name="mm")]
    if kind == "rank1":
        shape, out_shape = [6], [6, 3]
    elif kind == "identity_table":
        nodes[0].input[0] = "table"
        nodes.insert(0, helper.make_node("Identity", ["weight"], ["table"], name="dedup"))
    elif kind == "negative_axis":
        nodes[0].attribute.extend([helper.make_attribute("axis", -2)])
    elif kind == "positions":  # Shape(ids) -> Range -> a position table, added
        inits += [_c("pos", rng.standard_normal((8, 4))), numpy_helper.from_array(np.array(1, np.int64), "one"),
                  numpy_helper.from_array(np.array(0, np.int64), "zero"),
                  numpy_helper.from_array(np.array([1], np.int64), "idx1")]
        nodes = [nodes[0],
                 helper.make_node("Shape", ["ids"], ["sh"], name="shape"),
                 helper.make_node("Gather", ["sh", "one"], ["len"], name="seq_len"),
                 helper.make_node("Range", ["zero", "len", "one"], ["positions"], name="range"),
                 helper.make_node("Gather", ["pos", "positions"], ["p"], name="pos_emb"),
                 helper.make_node("Add", ["e", "p"], ["ep"], name="add_pos"),
                 helper.make_node("MatMul", ["ep", "W"], ["y"], name="mm")]
    elif kind in ("keras_wrap", "shifted"):  # tf2onnx's Keras 3 Embedding: where(ids < 0, ids + 20, ids)
        inits += [numpy_helper.from_array(np.array(20 if kind == "keras_wrap" else 1, np.int64), "rows"),
                  _c("fzero", np.float32(0.0))]
        nodes = [helper.make_node("Cast", ["ids"], ["idf"], name="as_float", to=T.FLOAT),
                 helper.make_node("Add", ["ids", "rows"], ["wrapped"], name="add"),
                 helper.make_node("Less", ["idf", "fzero"], ["neg"], name="less"),
                 helper.make_node("Not", ["neg"], ["pos"], name="not"),
                 helper.make_node("Cast", ["pos"], ["posi"], name="pos_int", to=T.INT64),
                 helper.make_node("Mul", ["ids", "posi"], ["keep"], name="keep"),
                 helper.make_node("Cast", ["neg"], ["negi"], name="neg_int", to=T.INT64),
                 helper.make_node("Mul", ["negi", "wrapped"], ["moved"], name="moved"),
                 helper.make_node("Add", ["moved", "keep"], ["index"], name="select"),
                 helper.make_node("Gather", ["weight", "index"], ["e"], name="emb"), nodes[1]]
        if kind == "shifted":  # ids + 1 for every id: not the Gather's own wrap
            nodes = [helper.make_node("Add", ["ids", "rows"], ["index"], name="shift"), nodes[-2], nodes[-1]]
    elif kind == "modulo":  # ids % 20: the Gather's own wrap on [-20, 20), not for 25 (row 5; the kernel: 19)
        inits.append(numpy_helper.from_array(np.array(20, np.int64), "rows"))
        nodes = [helper.make_node("Mod", ["ids", "rows"], ["index"], name="modulo"),
                 helper.make_node("Gather", ["weight", "index"], ["e"], name="emb"), nodes[1]]
    elif kind == "time_major":  # ids [6, 1] -> [6, 1, 4] -> LSTM layout 0 -> last hidden state
        shape, out_shape = [6, 1], [1, 1, 5]
        inits += [_c("Wx", rng.standard_normal((1, 20, 4)) * 0.4), _c("R", rng.standard_normal((1, 20, 5)) * 0.4)]
        nodes = [nodes[0], helper.make_node("LSTM", ["e", "Wx", "R"], ["", "y"], name="lstm", hidden_size=5)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", T.INT64, shape)],
                          [helper.make_tensor_value_info("y", T.FLOAT, out_shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("kind", ["rank1", "identity_table", "negative_axis", "positions", "time_major", "keras_wrap"])
def test_exporter_forms_of_token_ids(tmp_path, kind):
    model = _variant(kind, tmp_path / f"{kind}.onnx")
    ids_shape = {"rank1": (6,), "time_major": (6, 1)}.get(kind, (1, 6))
    rng = np.random.default_rng(5)
    np.save(tmp_path / "cal.npy", rng.integers(0, 20, (48,) + ids_shape).astype(np.int64))
    (tmp_path / "q.yaml").write_text("name: v\ncalibration:\n  data: cal.npy\n")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "v", progress=False)
    qm = res.compiled.model
    assert qm.index_inputs == {"ids": 20}
    assert [op.kind for op in qm.ops].count("embedding") == 1 and "gather" not in [op.kind for op in qm.ops]
    test = rng.integers(-20, 20, (24,) + ids_shape).astype(np.float32)
    got, f = _c_equals_reference(tmp_path, qm, "v", model, "ids", test, "io")
    err = np.abs(got - f) / qm.output_tensor.scale
    print(f"{kind}: max/mean |error| LSB", err.max(), err.mean())
    assert err.max() <= 2.0 and err.mean() <= 0.5


def test_ids_read_inside_an_if_body_or_unsigned_are_refused(tmp_path):
    cfg = load_config(None)
    table = _c("table", np.ones((10, 4)))
    then = helper.make_graph([helper.make_node("Cast", ["tokens"], ["v"], name="as_value", to=T.FLOAT)], "then", [],
                             [helper.make_tensor_value_info("v", T.FLOAT, [1, 4])])
    other = helper.make_graph([helper.make_node("Constant", [], ["z"], name="zeros",
                                                value=numpy_helper.from_array(np.zeros((1, 4), np.float32)))],
                              "else", [], [helper.make_tensor_value_info("z", T.FLOAT, [1, 4])])
    nodes = [helper.make_node("Gather", ["table", "tokens"], ["e"], name="embed"),
             helper.make_node("If", ["flag"], ["w"], name="branch", then_branch=then, else_branch=other),
             helper.make_node("Unsqueeze", ["w", "ax"], ["wu"], name="unsq"),
             helper.make_node("Mul", ["e", "wu"], ["out"], name="weighted")]
    p = _int_model(tmp_path / "if.onnx", nodes, [table, numpy_helper.from_array(np.array(True), "flag"),
                                                 numpy_helper.from_array(np.array([2], np.int64), "ax")], [1, 4, 4])
    with pytest.raises(ModelError, match="If 'branch' reads it"):
        generate(str(p), cfg, "m", runtime=False, progress=False)
    p = _int_model(tmp_path / "u32.onnx", [helper.make_node("Gather", ["table", "tokens"], ["out"], name="g")],
                   [table], [1, 4, 4], in_type=T.UINT32)
    with pytest.raises(ModelError, match="UINT32.*ONNX Gather takes int32 or int64 indices"):
        generate(str(p), cfg, "m", runtime=False, progress=False)


# -------------------------------------------------------------- attention masks (value inputs) --

def masked_attention(path: Path, fill: str) -> Path:
    """tokens [1, 8] int64 and mask [1, 8] int64 -> one attention head over the embedded tokens,
    the mask applied as PyTorch exports it: ``additive``: (1 - mask[:, None, :].float()) * -10000
    added to the scores; ``where``: masked_fill(mask == 0, -inf) through a Reshape -> mean -> fc."""
    rng = np.random.default_rng(13)
    d = 8
    inits = [_c("table", rng.standard_normal((30, d))), _c("Wq", rng.standard_normal((d, d)) * 0.4),
             _c("Wk", rng.standard_normal((d, d)) * 0.4), _c("W", rng.standard_normal((d, 3)) * 0.5),
             numpy_helper.from_array(np.array([1], np.int64), "ax1"), _c("one", np.float32(1.0)),
             _c("big", np.float32(-10000.0)), _c("inv", np.float32(1 / np.sqrt(d))),
             numpy_helper.from_array(np.array([1], np.int64), "mean_axes")]
    nodes = [helper.make_node("Gather", ["table", "tokens"], ["e"], name="embed"),
             helper.make_node("MatMul", ["e", "Wq"], ["q"], name="q"),
             helper.make_node("MatMul", ["e", "Wk"], ["k"], name="k"),
             helper.make_node("Transpose", ["k"], ["kt"], name="kt", perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s0"], name="scores"),
             helper.make_node("Mul", ["s0", "inv"], ["s"], name="scale")]
    if fill == "additive":
        nodes += [helper.make_node("Unsqueeze", ["mask", "ax1"], ["mu"], name="unsq"),
                  helper.make_node("Cast", ["mu"], ["mf"], name="to_float", to=T.FLOAT),
                  helper.make_node("Sub", ["one", "mf"], ["inv_mask"], name="flip"),
                  helper.make_node("Mul", ["inv_mask", "big"], ["ext"], name="extend")]
    else:  # ``where``: an int64 mask compared with 0; ``bool``: a bool padding mask (True: padded)
        inits += [numpy_helper.from_array(np.array(0, np.int64), "zero"), _c("ninf", np.float32(-np.inf)),
                  _c("zf", np.float32(0.0)), numpy_helper.from_array(np.array([1, 1, 8], np.int64), "shape3")]
        nodes += [helper.make_node("Equal", ["mask", "zero"], ["pad"], name="is_pad") if fill == "where" else
                  helper.make_node("Identity", ["mask"], ["pad"], name="pad"),
                  helper.make_node("Where", ["pad", "ninf", "zf"], ["fill"], name="fill"),
                  helper.make_node("Reshape", ["fill", "shape3"], ["ext"], name="to_heads")]
    nodes += [helper.make_node("Add", ["s", "ext"], ["sm"], name="masked"),
              helper.make_node("Softmax", ["sm"], ["a"], name="softmax", axis=-1),
              helper.make_node("MatMul", ["a", "e"], ["ctx0"], name="context")]
    if fill == "bool":  # the unpadded positions alone: ctx * Cast(Not(pad))[..., None]
        inits.append(numpy_helper.from_array(np.array([2], np.int64), "ax2"))
        nodes += [helper.make_node("Not", ["mask"], ["keep"], name="keep"),
                  helper.make_node("Unsqueeze", ["keep", "ax2"], ["keep3"], name="keep3"),
                  helper.make_node("Cast", ["keep3"], ["keepf"], name="keep_float", to=T.FLOAT),
                  helper.make_node("Mul", ["ctx0", "keepf"], ["ctx"], name="kept")]
    else:
        nodes.append(helper.make_node("Identity", ["ctx0"], ["ctx"], name="ctx"))
    nodes += [helper.make_node("ReduceMean", ["ctx"], ["m"], name="mean", axes=[1], keepdims=0),
              helper.make_node("MatMul", ["m", "W"], ["out"], name="fc")]
    ins = [helper.make_tensor_value_info("tokens", T.INT64, [1, 8]),
           helper.make_tensor_value_info("mask", T.BOOL if fill == "bool" else T.INT64, [1, 8])]
    g = helper.make_graph(nodes, "g", ins, [helper.make_tensor_value_info("out", T.FLOAT, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _masks(n: int, rng) -> np.ndarray:
    """Padding masks: 1 for the first 1..8 positions, 0 after."""
    lengths = rng.integers(1, 9, n)
    return (np.arange(8)[None, :] < lengths[:, None]).astype(np.float32).reshape(n, 1, 8)


@pytest.mark.parametrize("fill", ["additive", "where", "bool"])
def test_attention_mask_input(tmp_path, fill):
    """An int64 mask read through views by a Cast to float or by a comparison with a constant, or a
    bool padding mask read as a Where's condition and through Not, is an int8 input of scale 1,
    zero point 0 (the 0 / 1 themselves); C bit-exact, and the reference close to onnxruntime
    running the original model."""
    import onnxruntime as ort
    model = masked_attention(tmp_path / f"{fill}.onnx", fill)
    rng = np.random.default_rng(21)
    n = 32
    test = {"tokens": rng.integers(0, 30, (n, 1, 8)).astype(np.float32), "mask": _masks(n, rng)}
    if fill == "bool":  # True where padded
        test["mask"] = 1 - test["mask"]
    # calibrated on the test rows too: a row whose only unmasked score is below every calibration
    # row's maximum would see its masked scores (clamped at the Softmax input's floor) weigh in
    cal = {k: np.concatenate([rng.integers(0, 30, (64, 1, 8)).astype(np.float32) if k == "tokens"
                              else (1 - _masks(64, rng) if fill == "bool" else _masks(64, rng)), v])
           for k, v in test.items()}
    np.savez(tmp_path / "cal.npz", **{k: v.astype(bool) if k == "mask" and fill == "bool" else v
                                      for k, v in cal.items()})  # a bool mask's data as bool
    (tmp_path / "q.yaml").write_text("name: att\ncalibration:\n  data: cal.npz\n")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "att", progress=False)
    qm = res.compiled.model
    assert res.compiled.graph.value_inputs == ["mask"] and qm.index_inputs == {"tokens": 30}
    mask = qm.tensors["mask"]
    assert (mask.scale, mask.zero_point, mask.bits) == (1.0, 0, 8)
    assert "int att_invoke(att_ctx *ctx, const int16_t *tokens, const int8_t *mask, int8_t *out);" in res.files["att.h"]
    q = quantize_input(qm, test)
    assert np.array_equal(q["mask"].reshape(n, -1), test["mask"].reshape(n, -1))  # the 0 / 1 themselves
    ref = run_all(qm, q)
    exe = compile_driver(str(tmp_path / "gen"), "att", str(tmp_path / "drv"), sanitize=True)
    c = run_driver_io(exe, api_input_arrays(qm, q), [qm.output_tensor.size], "io")
    assert np.array_equal(c[0], ref[0].reshape(n, -1))
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    types = {"tokens": np.int64, "mask": bool if fill == "bool" else np.int64}
    f = np.concatenate([sess.run(None, {k: v[i].astype(types[k]) for k, v in test.items()})[0] for i in range(n)])
    err = np.abs(dequantize_output(qm, ref[0]).reshape(n, -1) - f.reshape(n, -1)) / qm.output_tensor.scale
    print(f"attention mask ({fill}): max/mean |error| LSB", err.max(), err.mean())
    assert err.max() <= 3.0 and err.mean() <= 0.6


@pytest.mark.parametrize("op,c", [("Equal", 1.0), ("Greater", 0.5), ("GreaterOrEqual", 1.0), ("Less", 1.5)])
def test_mask_comparison_calibrated_without_padding(tmp_path, op, c):
    """x where the int64 mask compares true with a constant, else 0, calibrated on masks without
    any padding (every comparison true: the selected x have a calibrated range): the comparison's difference
    gets a symmetric range and its Sign the exact -1 / 0 / 1, so padded masks later select
    exactly what onnxruntime selects (Equal read every padded position as unmasked: 39.7 LSB
    off). C bit-exact; the selected values within one output step of float, the others exactly 0."""
    import onnxruntime as ort
    nodes = [helper.make_node("Cast", ["mask"], ["mf"], name="to_float", to=T.FLOAT),
             helper.make_node(op, ["mf", "c"], ["keep"], name="compare"),
             helper.make_node("Where", ["keep", "x", "zero"], ["y"], name="select")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, [1, 8]),
                                       helper.make_tensor_value_info("mask", T.INT64, [1, 8])],
                          [helper.make_tensor_value_info("y", T.FLOAT, [1, 8])],
                          [_c("c", np.array(c)), _c("zero", np.array(0.0))])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    rng = np.random.default_rng(8)
    x = np.clip(rng.standard_normal((64, 1, 8)), -2.5, 2.5).astype(np.float32)
    x[:, 0, 0] = [-3.0, 3.0] * 32  # the calibrated range: the test values lie inside it
    np.savez(tmp_path / "cal.npz", x=x, mask=np.ones((64, 1, 8), np.int64))
    (tmp_path / "q.yaml").write_text("name: mk\ncalibration:\n  data: cal.npz\n")
    qm = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "mk",
               progress=False).compiled.model
    n = 16
    test = {"x": np.clip(rng.standard_normal((n, 1, 8)), -2.5, 2.5).astype(np.float32),
            "mask": (np.arange(8)[None, :] < rng.integers(1, 9, n)[:, None]).astype(np.float32).reshape(n, 1, 8)}
    q = quantize_input(qm, test)
    ref = run_all(qm, q)[0].reshape(n, -1)
    exe = compile_driver(str(tmp_path / "gen"), "mk", str(tmp_path / "drv"), sanitize=True)
    assert np.array_equal(run_driver_io(exe, api_input_arrays(qm, q), [qm.output_tensor.size], "io")[0], ref)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    f = np.concatenate([sess.run(None, {"x": test["x"][i], "mask": test["mask"][i].astype(np.int64)})[0]
                        for i in range(n)])
    y = dequantize_output(qm, ref).reshape(n, -1)
    assert np.all(y[f == 0] == 0) and np.abs(y - f).max() <= qm.output_tensor.scale


def test_integer_input_used_in_integer_arithmetic_is_refused(tmp_path):
    nodes = [helper.make_node("Add", ["tokens", "one"], ["t1"], name="shift_ids"),
             helper.make_node("Cast", ["t1"], ["out"], name="to_float", to=T.FLOAT)]
    p = _int_model(tmp_path / "arith.onnx", nodes, [numpy_helper.from_array(np.array(1, np.int64), "one")], [1, 4])
    with pytest.raises(ModelError, match="INT64.*Add 'shift_ids' reads it"):
        generate(str(p), load_config(None), "m", runtime=False, progress=False)


def _mask_only(path: Path, reader: str) -> Path:
    """x [1, 8] float, mask [1, 8] int64 -> x * Relu(Cast(mask)) (``relu``) or x * Cast(mask) +
    Cast(mask * 2) (``int_mul``: integer arithmetic on the mask) -> fc."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Cast", ["mask"], ["mf"], name="to_float", to=T.FLOAT)]
    if reader == "relu":
        nodes += [helper.make_node("Relu", ["mf"], ["mr"], name="relu"),
                  helper.make_node("Mul", ["x", "mr"], ["h"], name="apply")]
    else:
        nodes += [helper.make_node("Mul", ["mask", "two"], ["m2"], name="int_mul"),
                  helper.make_node("Cast", ["m2"], ["m2f"], name="to_float2", to=T.FLOAT),
                  helper.make_node("Mul", ["x", "mf"], ["h0"], name="apply"),
                  helper.make_node("Add", ["h0", "m2f"], ["h"], name="add")]
    nodes.append(helper.make_node("MatMul", ["h", "W"], ["out"], name="fc"))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, [1, 8]),
                                       helper.make_tensor_value_info("mask", T.INT64, [1, 8])],
                          [helper.make_tensor_value_info("out", T.FLOAT, [1, 4])],
                          [_c("W", rng.standard_normal((8, 4))), numpy_helper.from_array(np.array(2, np.int64), "two")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_value_input_rules(tmp_path):
    """A mask read only by a Relu keeps scale 1 (the lowering's Relu-only range cut spares it); the
    header says the int8 is the value itself; calibration data beyond -128..127 is refused; integer
    arithmetic on the mask is refused naming the node."""
    from qnnc.errors import ConfigError
    model = _mask_only(tmp_path / "relu.onnx", "relu")
    res = build(str(model), load_config(None), str(tmp_path / "gen"), "rm", progress=False)
    t = res.compiled.model.tensors["mask"]
    assert (t.scale, t.zero_point, t.bits) == (1.0, 0, 8)
    assert "'mask' [1, 8], int8, the integer value itself" in res.files["rm.h"]
    assert any("input 'mask' is an integer" in n for n in res.compiled.notes)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "big.npz", x=rng.standard_normal((8, 1, 8)).astype(np.float32),
             mask=rng.integers(0, 300, (8, 1, 8)).astype(np.int64))
    (tmp_path / "big.yaml").write_text("calibration:\n  data: big.npz\n")
    with pytest.raises(ConfigError, match=r"input 'mask' .* int8 value -128..127, but calibration.data holds "
                                          r"values from \d+ to 2\d\d;"):
        generate(str(model), load_config(str(tmp_path / "big.yaml")), "rm", runtime=False, progress=False)
    with pytest.raises(ModelError, match="INT64.*Mul 'int_mul' reads it"):
        generate(str(_mask_only(tmp_path / "arith.onnx", "int_mul")), load_config(None), "m", runtime=False,
                 progress=False)


@pytest.mark.parametrize("kind,node", [("shifted", "Add 'shift'"), ("modulo", "Mod 'modulo'")])
def test_index_arithmetic_other_than_the_wrap_is_refused(tmp_path, kind, node):
    """ids + 1, or ids % rows (equal to the Gather's wrap on [-rows, rows) but not for larger ids,
    which the kernel clamps), before the lookup: the input is refused, naming the node."""
    with pytest.raises(ModelError, match=f"INT64.*{node} reads it"):
        generate(str(_variant(kind, tmp_path / f"{kind}.onnx")), load_config(None), "m", runtime=False,
                 progress=False)


def test_bool_mask_data_other_than_0_1_is_refused(tmp_path):
    """The float model reads a bool mask's 2 as true, its int8 input as 2: such data is refused."""
    from qnnc.errors import ConfigError
    model = masked_attention(tmp_path / "bool.onnx", "bool")
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "cal.npz", tokens=rng.integers(0, 30, (8, 1, 8)).astype(np.float32),
             mask=2 * _masks(8, rng))
    (tmp_path / "q.yaml").write_text("calibration:\n  data: cal.npz\n")
    with pytest.raises(ConfigError, match="input 'mask' is a bool mask, but calibration.data holds values other "
                                          "than 0 and 1"):
        generate(str(model), load_config(str(tmp_path / "q.yaml")), "m", runtime=False, progress=False)
