"""What users bring: old opsets, exporter shape arithmetic, empty optional inputs, dead channels,
and `inspect` giving build's verdict. Models are built with onnx.helper; every model that builds
is checked bit-exact (generated C under sanitizers vs the numpy reference)."""
from __future__ import annotations

import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_factory import model, run_cli, save, tensor, vi
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver
from qnnc.errors import ModelError
from qnnc.frontend.float_runner import float_outputs
from qnnc.frontend.importer import import_onnx
from qnnc.inspect_model import inspect_model
from qnnc.reference import kernels as K
from qnnc.reference import kernels_s16 as K16
from qnnc.quantize.fixedpoint import dequantize_s8
from qnnc.reference.interpreter import dequantize_output, quantize_input, run, run_int8

RNG = np.random.default_rng(77)


@pytest.fixture(autouse=True)
def _rng_per_test(request):
    """Each test draws from its own seeded stream (the module's RNG, reseeded by the test's name):
    its weights and data do not depend on which tests ran before it in the process."""
    global RNG
    RNG = np.random.default_rng(zlib.crc32(request.node.name.encode()))


def w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def build_bit_exact(path: Path, tmp: Path, input_shape, extra_yaml: str = "", float_check: bool = True):
    """Build ``path`` with random calibration data, check C == reference on fresh inputs, and the
    reference near float onnxruntime. Returns (build result, int8 test inputs, reference outputs)."""
    cal = RNG.standard_normal((32, *input_shape[1:])).astype(np.float32)
    test = RNG.standard_normal((24, *input_shape[1:])).astype(np.float32)
    np.savez(tmp / "cal.npz", x=cal)
    (tmp / "q.yaml").write_text(f"name: m\ncalibration:\n  data: cal.npz\n{extra_yaml}")
    res = build(str(path), load_config(str(tmp / "q.yaml")), str(tmp / "gen"), "m", progress=False)
    qm = res.compiled.model
    q_in = quantize_input(qm, test)
    ref = run_int8(qm, q_in).reshape(len(test), -1)
    exe = compile_driver(str(tmp / "gen"), "m", str(tmp / "drv"), sanitize=True)
    c_out = run_driver(exe, q_in.reshape(len(test), -1), qm.output_tensor.size)
    assert np.array_equal(c_out, ref), "C differs from the reference"
    if float_check:
        f = float_outputs(str(path), test).reshape(len(test), -1)
        err = np.abs(dequantize_output(qm, ref).astype(np.float64) - f) / qm.output_tensor.scale
        assert err.mean() < 3.0, err.mean()
    return res, q_in, ref


# ------------------------------------------------------------------------ 1. old opsets --

def old_opset_model(opset: int) -> onnx.ModelProto:
    """Conv -> BatchNormalization -> Clip(attrs) -> MaxPool -> Dropout -> Reshape -> Gemm -> Softmax,
    written the way exporters of that opset did (Clip bounds as attributes, BatchNormalization's
    ``spatial`` before opset 9, IR 3 with the initializers listed as graph inputs for opsets 7/8)."""
    C = 4
    inits = [tensor("w", w(C, 3, 3, 3)), tensor("b", w(C, scale=0.1)), tensor("sc", w(C) + 1),
             tensor("bb", w(C, scale=0.1)), tensor("mu", w(C, scale=0.1)),
             tensor("var", np.abs(w(C)) + 0.5), tensor("shp", np.array([1, -1], np.int64)),
             tensor("fw", w(5, C * 2 * 2)), tensor("fb", w(5, scale=0.1))]
    bn = {"epsilon": 1e-5, **({"spatial": 1} if opset < 9 else {})}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "sc", "bb", "mu", "var"], ["n"], name="bn", **bn),
             helper.make_node("Clip", ["n"], ["r"], name="relu6", min=0.0, max=6.0),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Dropout", ["p"], ["d"], name="drop"),
             helper.make_node("Reshape", ["d", "shp"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["g"], name="fc", transB=1),
             helper.make_node("Softmax", ["g"], ["y"], name="softmax")]
    inputs = [vi("x", [1, 3, 4, 4])]
    ir = {7: 3, 8: 3, 9: 4, 10: 5}[opset]
    if ir == 3:
        inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    return model(nodes, inputs, [vi("y", [1, 5])], inits, opset=opset, ir_version=ir)


@pytest.mark.parametrize("opset", [7, 8, 9, 10])
def test_old_opset_is_converted_and_bit_exact(opset, tmp_path):
    m = old_opset_model(opset)
    onnx.checker.check_model(m)
    path = save(m, tmp_path / f"old{opset}.onnx")
    g = import_onnx(str(path))
    assert g.opset == 13 and [n.name for n in g.nodes][:2] == ["conv", "bn"]
    res, _, _ = build_bit_exact(path, tmp_path, [1, 3, 4, 4])
    assert [op.kind for op in res.compiled.model.ops].count("conv") == 1


@pytest.mark.parametrize("opset", [7, 9])
def test_old_pad_attribute_in_an_ir3_file(opset, tmp_path):
    """Pad-2's pads attribute becomes an initializer of Pad-11 that is no graph input: the
    converted model takes the IR version of its new opset, so the checker accepts it."""
    inits = [tensor("w", w(4, 3, 3, 3)), tensor("b", w(4, scale=0.1))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Pad", ["c"], ["y"], name="pad", pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="constant")]
    inputs = [vi("x", [1, 3, 6, 6])] + [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
                                         for i in inits]
    m = model(nodes, inputs, [vi("y", [1, 4, 6, 6])], inits, opset=opset, ir_version=3)
    onnx.checker.check_model(m)
    path = save(m, tmp_path / f"pad{opset}.onnx")
    assert [n.op for n in import_onnx(str(path)).nodes] == ["Conv", "Pad"]
    res, _, _ = build_bit_exact(path, tmp_path, [1, 3, 6, 6])
    assert [op.kind for op in res.compiled.model.ops].count("pad") == 1


def pre7_model(opset: int, C: int = 4):
    """The ONNX model zoo's oldest layout (mnist-1, emotion-ferplus-2): the input normalized by a
    Sub / Div of scalars, a SAME_UPPER Conv whose bias is a separate Add of B [C] at axis 1 with
    ``broadcast=1``, BatchNormalization, Relu, MaxPool, a Sub, PRelu with a slope [C] (per channel:
    on the 4 x 4 map numpy would read it along the width), Dropout, Reshape (its shape an attribute
    before opset 5), Gemm with ``broadcast=1`` and a Mul of B [5] at axis 1, Softmax; IR 3 (the
    initializers listed as graph inputs), the old ops' attributes (``consumed_inputs``, ``is_test``)
    where their opsets had them. At opset 13 (``opset=13``) the same model written the numpy way."""
    r = np.random.default_rng(5)
    old = opset < 7
    inits = [tensor("mean", np.array([0.5] if old else 0.5, np.float32)), tensor("std", np.array([2.0] if old else 2.0, np.float32)),
             tensor("w", (r.standard_normal((C, 1, 3, 3)) * 0.5).astype(np.float32)),
             tensor("b", (r.standard_normal((C,) if old else (C, 1, 1)) * 0.2).astype(np.float32)),
             tensor("sc", (r.random(C) + 0.5).astype(np.float32)), tensor("bb", (r.standard_normal(C) * 0.1).astype(np.float32)),
             tensor("mu", (r.standard_normal(C) * 0.1).astype(np.float32)), tensor("var", (r.random(C) + 0.5).astype(np.float32)),
             tensor("fw", (r.standard_normal((5, C * 4 * 4)) * 0.2).astype(np.float32)),
             tensor("fb", (r.standard_normal(5) * 0.1).astype(np.float32)), tensor("g", (r.random(5) + 0.5).astype(np.float32)),
             tensor("slope", (r.random((C,) if old else (C, 1, 1)) * 0.5).astype(np.float32))]
    bc = {"broadcast": 1} if old else {}
    axis1 = {"broadcast": 1, "axis": 1} if old else {}
    bn = ({"is_test": 1, "epsilon": 1e-5, **({"consumed_inputs": [0, 0, 0, 1, 1]} if opset < 6 else {"spatial": 1})}
          if old else {"epsilon": 1e-5})
    N = helper.make_node
    nodes = [N("Sub", ["x", "mean"], ["xs"], name="sub", **bc), N("Div", ["xs", "std"], ["xn"], name="div", **bc),
             N("Conv", ["xn", "w"], ["c"], name="conv", kernel_shape=[3, 3], auto_pad="SAME_UPPER"),
             N("Add", ["c", "b"], ["cb"], name="bias", **axis1),
             N("BatchNormalization", ["cb", "sc", "bb", "mu", "var"], ["n"], name="bn", **bn),
             N("Relu", ["n"], ["rl"], name="relu"),
             N("MaxPool", ["rl"], ["pm"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             N("Sub", ["pm", "mean"], ["pc"], name="center", **bc),
             N("PRelu", ["pc", "slope"], ["p"], name="prelu"),
             N("Dropout", ["p"], ["d"], name="drop", **({"is_test": 1, "ratio": 0.5} if old else {}))]
    if opset < 5:
        nodes.append(N("Reshape", ["d"], ["f"], name="flat", shape=[1, C * 16]))
    else:
        inits.append(tensor("shape", np.array([1, C * 16], np.int64)))
        nodes.append(N("Reshape", ["d", "shape"], ["f"], name="flat"))
    nodes += [N("Gemm", ["f", "fw", "fb"], ["gm"], name="fc", transB=1, **bc),
              N("Mul", ["gm", "g"], ["gs"], name="gain", **axis1), N("Softmax", ["gs"], ["y"], name="softmax")]
    inputs = [vi("x", [1, 1, 8, 8])] + [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    return model(nodes, inputs, [vi("y", [1, 5])], inits, opset=opset, ir_version=3 if old else 7)


@pytest.mark.parametrize("opset", [1, 5, 6])
def test_opsets_before_7_broadcast_as_they_meant(opset, tmp_path):
    """Opsets 1-6 (onnxruntime runs none of them): converted through opset 6, where each
    ``broadcast=1`` + ``axis`` input is aligned the numpy way (old_broadcasts.py; onnx's converter
    alone gives the bias [C] one trailing dim too many and a [C, C, H, W] sum). The float run equals
    onnxruntime on the same model written at opset 13, and the build is bit-exact."""
    path = save(pre7_model(opset), tmp_path / f"old{opset}.onnx")
    same = save(pre7_model(13), tmp_path / "new.onnx")
    xs = RNG.standard_normal((8, 1, 1, 8, 8)).astype(np.float32)
    assert np.allclose(float_outputs(str(path), xs[:, 0]), float_outputs(str(same), xs[:, 0]), atol=1e-5)
    g = import_onnx(str(path))
    assert g.opset == 13 and g.shape("y") == (1, 5)
    build_bit_exact(path, tmp_path, [1, 1, 8, 8])


def test_old_opset_with_another_domain_imported(tmp_path):
    """An old model that also imports a non-default domain (com.microsoft): the IR version the
    conversion sets comes from the default domain's opset alone (onnx has no table for others)."""
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    m = model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])], opset=9, ir_version=4)
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    path = save(m, tmp_path / "m.onnx")
    assert [n.op for n in import_onnx(str(path)).nodes] == ["Relu"]


def test_mnist8_style_model(tmp_path):
    """The ONNX zoo's mnist-8 layout: opset 8, IR 3, initializers listed as inputs, SAME_UPPER convs,
    per-channel biases added by Add ([C, 1, 1]), the FC weights reshaped at run time (folded) and a
    MatMul + Add classifier."""
    N = helper.make_node
    nodes = [N("Conv", ["Input3", "P5"], ["c1"], name="Convolution28", kernel_shape=[5, 5], auto_pad="SAME_UPPER"),
             N("Add", ["c1", "P6"], ["a1"], name="Plus30"),
             N("Relu", ["a1"], ["r1"], name="ReLU32"),
             N("MaxPool", ["r1"], ["p1"], name="Pooling66", kernel_shape=[2, 2], strides=[2, 2]),
             N("Conv", ["p1", "P87"], ["c2"], name="Convolution110", kernel_shape=[5, 5], auto_pad="SAME_UPPER"),
             N("Add", ["c2", "P88"], ["a2"], name="Plus112"),
             N("Relu", ["a2"], ["r2"], name="ReLU114"),
             N("MaxPool", ["r2"], ["p2"], name="Pooling160", kernel_shape=[3, 3], strides=[3, 3]),
             N("Reshape", ["p2", "S1"], ["f"], name="Times212_reshape0"),
             N("Reshape", ["P193", "S2"], ["wr"], name="Times212_reshape1"),
             N("MatMul", ["f", "wr"], ["mm"], name="Times212"),
             N("Add", ["mm", "P194"], ["Plus214_Output_0"], name="Plus214")]
    inits = [tensor("P5", w(4, 1, 5, 5)), tensor("P6", w(4, 1, 1, scale=0.1)), tensor("P87", w(6, 4, 5, 5, scale=0.1)),
             tensor("P88", w(6, 1, 1, scale=0.1)), tensor("S1", np.array([1, 24], np.int64)),
             tensor("P193", w(6, 2, 2, 10)), tensor("S2", np.array([24, 10], np.int64)),
             tensor("P194", w(1, 10, scale=0.1))]
    ins = [vi("Input3", [1, 1, 12, 12])] + [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
                                            for i in inits]
    path = save(model(nodes, ins, [vi("Plus214_Output_0", [1, 10])], inits, opset=8, ir_version=3),
                tmp_path / "mnist_style.onnx")
    g = import_onnx(str(path))
    assert g.inputs == ["Input3"] and "Times212_reshape1" not in [n.name for n in g.nodes]
    res, _, _ = build_bit_exact(path, tmp_path, [1, 1, 12, 12])
    assert [op.kind for op in res.compiled.model.ops].count("fully_connected") == 1


def test_opset_the_converter_cannot_handle_is_a_clear_error(tmp_path):
    node = helper.make_node("Affine", ["x"], ["y"], name="affine", alpha=2.0)  # removed, no rewrite
    save(model([node], [vi("x", [1, 1, 2, 2])], [vi("y", [1, 1, 2, 2])], opset=8, ir_version=3), tmp_path / "m.onnx")
    with pytest.raises(ModelError) as e:
        import_onnx(str(tmp_path / "m.onnx"))
    text = str(e.value)
    assert "opset 8" in text and "version_converter" in text and "Affine" in text and "%s" not in text


def test_newer_opset_is_converted_down(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "fw", "fb"], ["h"], name="fc", transB=1),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    path = save(model(nodes, [vi("x", [1, 6])], [vi("y", [1, 3])], [tensor("fw", w(3, 6)), tensor("fb", w(3))],
                      opset=22, ir_version=10), tmp_path / "m.onnx")
    assert import_onnx(str(path)).opset == 21
    build_bit_exact(path, tmp_path, [1, 6])


# ------------------------------------------------- 2. static-shape subgraphs fold away --

FOLDED_OPS = {"Shape", "Gather", "Unsqueeze", "Concat", "ConstantOfShape", "Expand", "Slice", "Squeeze",
              "Range", "Equal", "Where", "Cast", "Constant"}


def shape_chain_model() -> onnx.ModelProto:
    """PyTorch-style shape arithmetic on a [1, 3, 4, 4] input:
    - a per-channel scale [1, 2, 1] built by Shape -> Slice -> Squeeze -> Range -> Equal -> Where ->
      Cast -> Unsqueeze;
    - a Reshape target [batch, -1] computed by Shape -> Gather -> Unsqueeze -> Concat;
    - an additive term made by ConstantOfShape and broadcast by Expand to the Reshape's shape."""
    consts = []

    def k(*v):
        consts.append(tensor(f"k{len(consts)}", np.array(v, np.int64)))
        return consts[-1].name

    def scalar(v):
        consts.append(tensor(f"k{len(consts)}", np.array(v, np.int64)))
        return consts[-1].name

    def kf(v):
        consts.append(tensor(f"k{len(consts)}", np.array(v, np.float32)))
        return consts[-1].name

    N = helper.make_node
    nodes = [
        N("Shape", ["x"], ["s"], name="shape"),
        N("Slice", ["s", k(1), k(2)], ["s_c"], name="slice"),
        N("Squeeze", ["s_c", k(0)], ["c"], name="squeeze"),
        N("Range", [scalar(0), "c", scalar(1)], ["idx"], name="range"),
        N("Equal", ["idx", scalar(1)], ["is1"], name="equal"),
        N("Where", ["is1", scalar(2), scalar(1)], ["sel"], name="where"),
        N("Cast", ["sel"], ["self"], name="cast", to=TensorProto.FLOAT),
        N("Unsqueeze", ["self", k(0, 2, 3)], ["scale"], name="unsq_scale"),
        N("Mul", ["x", "scale"], ["xs"], name="mul"),
        N("Relu", ["xs"], ["r"], name="relu"),
        N("Shape", ["r"], ["s2"], name="shape2"),
        N("Gather", ["s2", scalar(0)], ["batch"], name="gather", axis=0),
        N("Unsqueeze", ["batch", k(0)], ["batch1"], name="unsq"),
        N("Concat", ["batch1", k(-1)], ["target"], name="concat", axis=0),
        N("Reshape", ["r", "target"], ["flat"], name="reshape"),
        N("ConstantOfShape", [k(1, 48)], ["fill"], name="cos",
          value=numpy_helper.from_array(np.array([0.25], np.float32))),
        N("Shape", ["flat"], ["s3"], name="shape3"),
        N("Expand", ["fill", "s3"], ["term"], name="expand"),
        N("Add", ["flat", "term"], ["h"], name="add"),
        N("Gemm", ["h", kf(w(6, 48)), kf(w(6, scale=0.1))], ["g"], name="fc", transB=1),
        N("Softmax", ["g"], ["y"], name="softmax", axis=1),
    ]
    return model(nodes, [vi("x", [1, 3, 4, 4])], [vi("y", [1, 6])], consts)


def test_shape_arithmetic_folds_before_the_op_checks(tmp_path):
    path = save(shape_chain_model(), tmp_path / "m.onnx")
    g = import_onnx(str(path))
    assert [n.op for n in g.nodes] == ["Mul", "Relu", "Reshape", "Add", "Gemm", "Softmax"]
    scale = g.const(g.nodes[0].inputs[1])
    assert scale.shape == (1, 3, 1, 1) and scale.reshape(-1).tolist() == [1.0, 2.0, 1.0]
    assert g.const(g.nodes[2].inputs[1]).tolist() == [1, -1]
    assert np.all(g.const(g.nodes[3].inputs[1]) == 0.25) and g.shape(g.nodes[3].inputs[1]) == (1, 48)
    build_bit_exact(path, tmp_path, [1, 3, 4, 4])


def test_ops_that_pass_their_input_on_are_dropped(tmp_path):
    """A Slice of the whole axis, Mul / Div by ones and Add of zeros (either side) pass x on and
    leave the graph; Sub(0, r) (a negation) and a Slice with step -1 (a flip) stay. Bit-exact and
    close to float."""
    big = np.iinfo(np.int64).max
    i64 = lambda name, v: tensor(name, np.array(v, np.int64))  # noqa: E731
    nodes = [helper.make_node("Slice", ["x", "zero", "big", "one"], ["whole"], name="whole"),
             helper.make_node("Mul", ["whole", "ones"], ["m"], name="times_one"),
             helper.make_node("Add", ["zeros", "m"], ["a"], name="plus_zero"),
             helper.make_node("Div", ["a", "ones"], ["d"], name="over_one"),
             helper.make_node("Relu", ["d"], ["r"], name="relu"),
             helper.make_node("Sub", ["zeros", "r"], ["neg"], name="negate"),
             helper.make_node("Slice", ["neg", "minus1", "minus_big", "two", "minus1"], ["y"], name="flip")]
    inits = [i64("zero", [0]), i64("big", [big]), i64("one", [1]), i64("two", [2]), i64("minus1", [-1]),
             i64("minus_big", [-big]), tensor("ones", np.ones(1, np.float32)), tensor("zeros", np.zeros(6, np.float32))]
    path = save(model(nodes, [vi("x", [1, 4, 6])], [vi("y", [1, 4, 6])], inits), tmp_path / "m.onnx")
    from qnnc.passes import run_passes
    assert [n.op for n in run_passes(import_onnx(str(path))).nodes] == ["Relu", "Sub", "Slice"]
    build_bit_exact(path, tmp_path, [1, 4, 6])


def test_initializers_listed_as_inputs_stay_consistent_after_folding(tmp_path):
    """IR 3 models list initializers as graph inputs: folding one away must drop that entry too."""
    nodes = [helper.make_node("Reshape", ["wt", "ws"], ["w2"], name="reshape_w"),
             helper.make_node("Gemm", ["x", "w2", "b"], ["y"], name="fc", transB=1)]
    inits = [tensor("wt", w(12)), tensor("ws", np.array([3, 4], np.int64)), tensor("b", w(3))]
    ins = [vi("x", [1, 4])] + [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    path = save(model(nodes, ins, [vi("y", [1, 3])], inits, opset=8, ir_version=3), tmp_path / "m.onnx")
    g = import_onnx(str(path))
    assert g.inputs == ["x"] and [n.op for n in g.nodes] == ["Gemm"]
    build_bit_exact(path, tmp_path, [1, 4])


@pytest.mark.parametrize("batch", ["unk__7", -1], ids=["symbolic", "minus_one"])
def test_dynamic_batch_dim_is_taken_as_one(batch, tmp_path):
    """tf2onnx exports leave the batch dynamic ('unk__N'), some converters write -1 (onnxruntime
    reads both as dynamic): qnnc compiles batch 1."""
    nodes = [helper.make_node("MatMul", ["x", "fw"], ["h"], name="mm"),
             helper.make_node("Add", ["h", "fb"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    path = save(model(nodes, [vi("x", [batch, 5])], [vi("y", [batch, 3])],
                      [tensor("fw", w(5, 3)), tensor("fb", w(3))]), tmp_path / "m.onnx")
    g = import_onnx(str(path))
    assert g.shape("x") == (1, 5) and g.shape("y") == (1, 3)
    build_bit_exact(path, tmp_path, [1, 5])


@pytest.mark.parametrize("elem, dtype", [(onnx.TensorProto.FLOAT16, np.float16), (onnx.TensorProto.DOUBLE, np.float64)],
                         ids=["float16", "float64"])
def test_float16_and_float64_models_are_read_as_float32(elem, dtype, tmp_path):
    """A model.half() export (float16 weights, input and output, a Cast inside) or a float64 one:
    its float tensors are read as float32 (frontend/float32.py); bit-exact, and within 2 LSB on
    average of onnxruntime running the model in its own type (float16: onnxruntime's CPU kernels
    have no float64 Conv)."""
    import onnxruntime as ort

    inits = [tensor("w", w(4, 3, 3, 3).astype(dtype)), tensor("b", w(4, scale=0.1).astype(dtype)),
             tensor("fw", w(5, 4 * 4 * 4).astype(dtype)), tensor("fb", w(5, scale=0.1).astype(dtype)),
             tensor("shape", np.array([1, -1], np.int64))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Cast", ["r"], ["rc"], name="cast", to=elem),
             helper.make_node("Reshape", ["rc", "shape"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    path = save(model(nodes, [vi("x", [1, 3, 4, 4], elem)], [vi("y", [1, 5], elem)], inits), tmp_path / "m.onnx")
    res, q_in, ref = build_bit_exact(path, tmp_path, [1, 3, 4, 4])
    if dtype != np.float16:
        return
    qm = res.compiled.model
    x = dequantize_s8(q_in, qm.input_tensor.scale, qm.input_tensor.zero_point).reshape(-1, 1, 3, 4, 4)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    f = np.concatenate([sess.run(None, {"x": v.astype(dtype)})[0] for v in x]).astype(np.float64)
    err = np.abs(dequantize_output(qm, ref).astype(np.float64) - f.reshape(len(x), -1)) / qm.output_tensor.scale
    assert err.mean() < 2.0, err.mean()


def unsorted_model():
    """Conv -> Relu -> Pad (constant_value given as [1], as hand-written graphs do) -> If on a
    constant condition whose branches read the Pad's output from the outer graph -> Reshape ->
    Gemm, in this order."""
    inits = [tensor("w", w(4, 3, 3, 3)), tensor("b", w(4, scale=0.1)), tensor("fw", w(5, 4 * 4 * 6)),
             tensor("fb", w(5, scale=0.1)), tensor("two", np.array(2.0, np.float32))]
    then_g = helper.make_graph([helper.make_node("Mul", ["p", "two"], ["t"], name="double")], "then", [],
                               [vi("t", [1, 4, 4, 6])])
    else_g = helper.make_graph([helper.make_node("Identity", ["p"], ["e"], name="same")], "else", [],
                               [vi("e", [1, 4, 4, 6])])
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Constant", [], ["pads"], name="pads_const",
                              value=tensor("pads", np.array([0, 0, 0, 1, 0, 0, 0, 1], np.int64))),
             helper.make_node("Constant", [], ["fill"], name="fill_const", value=tensor("fill", np.array([0.25], np.float32))),
             helper.make_node("Pad", ["r", "pads", "fill"], ["p"], name="pad"),
             helper.make_node("Constant", [], ["cond"], name="cond_const", value=tensor("cond", np.array(True))),
             helper.make_node("If", ["cond"], ["i"], name="branch", then_branch=then_g, else_branch=else_g),
             helper.make_node("Constant", [], ["shape"], name="shape_const", value=tensor("shape", np.array([1, -1], np.int64))),
             helper.make_node("Reshape", ["i", "shape"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    return model(nodes, [vi("x", [1, 3, 4, 4])], [vi("y", [1, 5])], inits)


def test_nodes_written_before_what_feeds_them_are_sorted(tmp_path):
    """Nodes written before the Constants and layers that feed them (hand-built graphs, graph
    surgery; onnxruntime runs them) are sorted on reading (frontend/node_order.py), the If whose
    branch reads an outer tensor after that tensor's producer: the build is bit-exact and its C
    byte-identical to the sorted model's. A graph with a cycle is still refused by name."""
    np.savez(tmp_path / "cal.npz", x=RNG.standard_normal((16, 3, 4, 4)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  data: cal.npz\n")
    code = []
    m = unsorted_model()
    for k, order in enumerate([range(10), [9, 8, 6, 4, 1, 0, 7, 2, 3, 5]]):
        (tmp_path / str(k)).mkdir()
        nodes = list(m.graph.node)
        del m.graph.node[:]
        m.graph.node.extend(nodes[i] for i in order)
        path = save(m, tmp_path / str(k) / "m.onnx")
        build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / str(k) / "gen"), "m", progress=False)
        code.append([line for f in ("m.c", "m.h") for line in (tmp_path / str(k) / "gen" / f).read_text().splitlines()
                     if "sha256" not in line and "BUILD_ID" not in line])  # (the file's hash)
    assert code[0] == code[1]
    build_bit_exact(path, tmp_path, [1, 3, 4, 4])
    nodes = [helper.make_node("Add", ["x", "b2"], ["a"], name="add"), helper.make_node("Relu", ["a"], ["b2"], name="relu"),
             helper.make_node("Relu", ["a"], ["y"], name="out")]
    cyclic = save(model(nodes[::-1], [vi("x", [1, 4])], [vi("y", [1, 4])]), tmp_path / "cycle.onnx")
    with pytest.raises(ModelError, match="the graph has a cycle"):
        import_onnx(str(cyclic))


def test_sorting_ignores_names_a_loop_body_defines_itself(tmp_path):
    """A Loop body's own input named like a later outer tensor ('cond') is no read of it: the
    unsorted graph (its Constant written last) still sorts, and the float run equals onnxruntime's
    on the file as written."""
    import onnxruntime as ort

    N = helper.make_node
    body = helper.make_graph([N("Add", ["acc", "one"], ["acc2"]), N("Identity", ["cond"], ["c_out"])], "body",
                             [vi("it", [], TensorProto.INT64), vi("cond", [], TensorProto.BOOL), vi("acc", [1, 4])],
                             [vi("c_out", [], TensorProto.BOOL), vi("acc2", [1, 4])])
    nodes = [N("Loop", ["trip", "", "x"], ["l"], body=body, name="loop"),
             N("ReduceSum", ["l"], ["s"], keepdims=0, name="sum"),
             N("Greater", ["s", "zero"], ["cond"], name="gt"),
             N("Where", ["cond", "l", "x"], ["y"], name="where"),
             N("Constant", [], ["one"], value=tensor("one", np.ones((1, 4), np.float32)), name="one_c")]
    inits = [tensor("trip", np.array(2, np.int64)), tensor("zero", np.array(0.0, np.float32))]
    path = save(model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])], inits), tmp_path / "m.onnx")
    xs = RNG.standard_normal((6, 4)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = np.concatenate([sess.run(None, {"x": x[None]})[0] for x in xs])
    assert np.allclose(float_outputs(str(path), xs).reshape(expected.shape), expected, atol=1e-6)
    assert import_onnx(str(path)).nodes


def test_static_batch_is_compiled_one_sample_per_call(tmp_path):
    """A model traced with a batch of 3 (PyTorch's example batch, the ONNX backend test models)
    whose samples stay apart is compiled for one sample per call; each row of onnxruntime's
    batch-3 output is what the C computes for that sample. Flatten keeps the batch apart, so its
    output has batch 1 too."""
    N = helper.make_node
    nodes = [N("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             N("Relu", ["c"], ["r"], name="relu"), N("Flatten", ["r"], ["f"], name="flatten"),
             N("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    inits = [tensor("w", w(4, 2, 3, 3)), tensor("b", w(4)), tensor("fw", w(5, 64, scale=0.1)), tensor("fb", w(5))]
    path = save(model(nodes, [vi("x", [3, 2, 4, 4])], [vi("y", [3, 5])], inits), tmp_path / "m.onnx")
    g = import_onnx(str(path))
    assert g.shape("x") == (1, 2, 4, 4) and g.shape("y") == (1, 5)
    res, _, _ = build_bit_exact(path, tmp_path, [1, 2, 4, 4])
    qm = res.compiled.model
    xs = RNG.standard_normal((3, 2, 4, 4)).astype(np.float32)
    import onnxruntime as ort
    batch = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": xs})[0]
    deq = dequantize_output(qm, run_int8(qm, quantize_input(qm, xs))).reshape(3, 5)
    assert np.abs(deq - batch).max() <= 3 * qm.output_tensor.scale


def test_cast_like_bodies_build(tmp_path):
    """CastLike as ONNX function bodies (expanded LeakyRelu / Elu / Selu) and onnxscript-built
    graphs write it: constants CastLike an activation (the 0 of the comparison, the slope) become
    float constants, so the Where over the comparison is the rewrites' mask; a computed float
    CastLike a float tensor is an Identity. The model builds bit-exact, without Cast nodes, and
    matches onnxruntime."""
    N = helper.make_node
    nodes = [N("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             N("Constant", [], ["alpha"], name="alpha", value_float=0.1),
             N("CastLike", ["alpha", "c"], ["alpha_cast"], name="alpha_cast"),
             N("Constant", [], ["zero"], name="zero", value=tensor("zero_v", np.array(0, np.int64))),
             N("CastLike", ["zero", "c"], ["zero_cast"], name="zero_cast"),
             N("Less", ["c", "zero_cast"], ["negative"], name="less"),
             N("Mul", ["alpha_cast", "c"], ["scaled"], name="mul"),
             N("Where", ["negative", "scaled", "c"], ["leaky"], name="where"),
             N("CastLike", ["leaky", "x"], ["y"], name="out_cast")]
    inits = [tensor("w", w(4, 3, 3, 3)), tensor("b", w(4, scale=0.1))]
    path = save(model(nodes, [vi("x", [1, 3, 6, 6])], [vi("y", [1, 4, 6, 6])], inits, opset=18), tmp_path / "m.onnx")
    assert not [n.op for n in import_onnx(str(path)).nodes if n.op in ("Cast", "CastLike")]
    res, _, _ = build_bit_exact(path, tmp_path, [1, 3, 6, 6])
    assert "Identity" not in [n.op for n in res.compiled.graph.nodes]


def test_cast_like_in_a_branch_taken_at_build_time(tmp_path):
    """A CastLike inside an If branch whose condition is a constant: once the branch is inlined,
    its constant CastLike the activation is a float constant like one of the main graph."""
    N = helper.make_node
    then_g = helper.make_graph([N("Constant", [], ["alpha"], name="alpha", value_float=0.5),
                                N("CastLike", ["alpha", "r"], ["alpha_cast"], name="alpha_cast"),
                                N("Mul", ["alpha_cast", "r"], ["t_out"], name="scale")], "then", [],
                               [vi("t_out", [1, 8])])
    else_g = helper.make_graph([N("Identity", ["r"], ["e_out"], name="same")], "else", [], [vi("e_out", [1, 8])])
    nodes = [N("Gemm", ["x", "w"], ["h"], name="fc", transB=1), N("Relu", ["h"], ["r"], name="relu"),
             N("If", ["cond"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)]
    inits = [tensor("w", w(8, 4)), numpy_helper.from_array(np.array(True), "cond")]
    path = save(model(nodes, [vi("x", [1, 4])], [vi("y", [1, 8])], inits, opset=18), tmp_path / "m.onnx")
    build_bit_exact(path, tmp_path, [1, 4])


def _lsb_vs_original(path: Path, res, q_in, ref, sample_shape):
    """(max, mean) of |reference - onnxruntime| in output LSB, onnxruntime running the original file one
    sample of ``sample_shape`` at a time (the float runner reads the model as the importer does, so
    only this comparison sees a rewrite of the model that changes what it computes)."""
    import onnxruntime as ort
    qm = res.compiled.model
    xs = dequantize_s8(q_in, qm.input_tensor.scale, qm.input_tensor.zero_point).reshape(-1, *sample_shape)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    f = np.stack([sess.run(None, {name: v})[0].reshape(-1) for v in xs]).astype(np.float64)
    deq = dequantize_output(qm, ref).astype(np.float64).reshape(len(xs), -1)
    err = np.abs(deq - f) / qm.output_tensor.scale
    return float(err.max()), float(err.mean())


def unbatched_mlp(n_in) -> onnx.ModelProto:
    """A PyTorch MLP traced with one unbatched sample (``torch.randn(10)``): input [n_in], MatMul /
    Add / Relu / MatMul / Softmax over rank-1 tensors, output [4]."""
    N = helper.make_node
    nodes = [N("MatMul", ["x", "w1"], ["h"], name="fc1"), N("Add", ["h", "b1"], ["hb"], name="bias1"),
             N("Relu", ["hb"], ["r"], name="relu"), N("MatMul", ["r", "w2"], ["o"], name="fc2"),
             N("Softmax", ["o"], ["y"], name="softmax", axis=-1)]
    inits = [tensor("w1", w(10, 16)), tensor("b1", w(16, scale=0.1)), tensor("w2", w(16, 4))]
    return model(nodes, [vi("x", [n_in])], [vi("y", [4])], inits)


def test_unbatched_input_gets_a_batch_dim(tmp_path):
    """An input [10] is one sample without a batch dimension: the firmware's input is [1, 10], the
    data files hold rows of 10 values, and the C is bit-exact and close to onnxruntime's run of the
    original model (build_bit_exact)."""
    path = save(unbatched_mlp(10), tmp_path / "m.onnx")
    res, q_in, ref = build_bit_exact(path, tmp_path, [1, 10])
    qm = res.compiled.model
    assert qm.input_tensor.shape == (1, 10) and qm.output_tensor.shape == (4,)
    # the mean (the maximum is a test value beyond the calibrated range, clipped by design)
    assert _lsb_vs_original(path, res, q_in, ref, (10,))[1] < 3.0  # (as build_bit_exact bounds it)


@pytest.mark.parametrize("pin", [[10], [1, 10]])
def test_unbatched_dynamic_input_pinned(tmp_path, pin):
    """A dynamic rank-1 input ['n'] pinned in the config as the model declares it ([10]) or with
    the batch dimension qnnc gives it ([1, 10]) builds the same model."""
    path = save(unbatched_mlp("n"), tmp_path / "m.onnx")
    res, _, _ = build_bit_exact(path, tmp_path, [1, 10], extra_yaml=f"input_shape:\n  x: {pin}\n")
    assert res.compiled.model.input_tensor.shape == (1, 10)


def test_unbatched_input_shadowed_in_a_loop_body(tmp_path):
    """An input [4] read by the main graph while a Loop body has an input of the same name (its
    loop-carried value): the main graph's reader takes the batched input, the body keeps its own."""
    N = helper.make_node
    body = helper.make_graph([N("Identity", ["cond"], ["cond_out"], name="keep_going"),
                              N("Add", ["x", "one"], ["x_next"], name="step")], "body",
                             [vi("i", [], TensorProto.INT64), vi("cond", [], TensorProto.BOOL), vi("x", [4])],
                             [vi("cond_out", [], TensorProto.BOOL), vi("x_next", [4])])
    nodes = [N("Relu", ["x"], ["r"], name="relu"),
             N("Loop", ["trip", "go", "start"], ["counted"], name="loop", body=body),
             N("Add", ["r", "counted"], ["y"], name="add")]
    inits = [tensor("one", np.ones(4, np.float32)), numpy_helper.from_array(np.array(2, np.int64), "trip"),
             numpy_helper.from_array(np.array(True), "go"), tensor("start", np.zeros(4, np.float32))]
    path = save(model(nodes, [vi("x", [4])], [vi("y", [4])], inits), tmp_path / "m.onnx")
    res, q_in, ref = build_bit_exact(path, tmp_path, [1, 4])
    assert res.compiled.model.input_tensor.shape == (1, 4)
    assert _lsb_vs_original(path, res, q_in, ref, (4,))[0] <= 1.5


@pytest.mark.parametrize("mix", ["batch_mean", "minus_batch_mean"])
def test_static_batch_whose_samples_mix_is_refused(tmp_path, mix):
    """A model traced with a batch of 3 whose output for one sample depends on the others while
    every shape stays consistent with batch 1 (a mean over the batch with keepdims, a batch
    centering): shape inference passes it, the run of the batched graph against single samples in
    onnxruntime does not, and the build is refused by the batch rule instead of compiling a model
    that computes something else per call."""
    N = helper.make_node
    nodes = [N("MatMul", ["x", "w"], ["h"], name="fc"),
             N("ReduceMean", ["h"], ["y" if mix == "batch_mean" else "m"], name="mean", axes=[0], keepdims=1)]
    if mix == "minus_batch_mean":
        nodes.append(N("Sub", ["h", "m"], ["y"], name="centre"))
    out = [1, 6] if mix == "batch_mean" else [3, 6]
    path = save(model(nodes, [vi("x", [3, 4])], [vi("y", out)], [tensor("w", w(4, 6))]), tmp_path / "m.onnx")
    with pytest.raises(ModelError, match="input 'x' has shape \\[3, 4\\]: dim 0 is the batch"):
        build_bit_exact(path, tmp_path, [1, 4])


def test_static_batch_calibrated_from_batchnorm_statistics(tmp_path):
    """A CNN traced with a batch of 4 and calibrated data-free from its BatchNormalization
    statistics: the calibration's cut model (BN outputs turned into batch-1 inputs) is qnnc's own,
    not checked as the user's model is, and the build succeeds."""
    N = helper.make_node
    bn = [tensor(f"bn_{k}", v) for k, v in zip("sbmv", (np.abs(w(8)) + 0.5, w(8), w(8), np.abs(w(8)) + 0.5))]
    nodes = [N("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             N("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["n1"], name="bn1"),
             N("Relu", ["n1"], ["r1"], name="relu1"), N("GlobalAveragePool", ["r1"], ["g"], name="pool"),
             N("Flatten", ["g"], ["f"], name="flat"), N("Gemm", ["f", "wf"], ["y"], name="fc", transB=1)]
    path = save(model(nodes, [vi("x", [4, 3, 8, 8])], [vi("y", [4, 5])], [tensor("w1", w(8, 3, 3, 3)),
                tensor("wf", w(5, 8))] + bn), tmp_path / "m.onnx")
    (tmp_path / "q.yaml").write_text("name: m\ncalibration:\n  method: batchnorm\n")
    res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m", progress=False)
    assert res.compiled.model.input_tensor.shape == (1, 3, 8, 8)


def test_samples_apart_comparison():
    """The comparison of a batched run with single samples: NaN and infinities must match in place
    (a Log of negative random inputs), finite values within 1e-3 of the largest finite one."""
    from qnnc.frontend.samples_apart import _differ
    a = np.array([[np.nan, 1.0, -np.inf], [2.0, 100.0, 3.0]])
    assert not _differ(a, a.copy())
    assert not _differ(a, a + np.array([[0, 0.05, 0], [0, 0, 0]]))
    assert _differ(a, a + np.array([[0, 0.5, 0], [0, 0, 0]]))
    b = a.copy()
    b[0, 0] = 0.0
    assert _differ(a, b)
    b = a.copy()
    b[0, 2] = np.inf
    assert _differ(a, b)


def test_static_batch_on_another_axis_of_a_dynamic_output(tmp_path):
    """An output whose declared dims are dynamic and whose batch is on axis 1 (an Unsqueeze before
    it): the batched and single-sample rows cannot be compared, so the check does not refuse it,
    and it builds as before the check existed."""
    N = helper.make_node
    nodes = [N("MatMul", ["x", "w"], ["z"], name="fc"), N("Unsqueeze", ["z", "ax"], ["y"], name="lift")]
    inits = [tensor("w", w(8, 3)), tensor("ax", np.array([0], np.int64))]
    path = save(model(nodes, [vi("x", [4, 8])], [vi("y", ["a", "b", "c"])], inits), tmp_path / "m.onnx")
    res, _, _ = build_bit_exact(path, tmp_path, [1, 8])
    assert res.compiled.model.input_tensor.shape == (1, 8)


# ---------------------------------------------------------- 3. empty optional inputs --

def test_empty_optional_inputs_build(tmp_path):
    """'' names for omitted inputs: Conv without bias, Clip with only a max, Pad without a value."""
    N = helper.make_node
    nodes = [N("Conv", ["x", "w", ""], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             N("Clip", ["c", "", "hi"], ["cl"], name="clip"),
             N("Pad", ["cl", "pads", ""], ["p"], name="pad"),
             N("MaxPool", ["p"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2])]
    inits = [tensor("w", w(4, 3, 3, 3)), tensor("hi", np.array(1.5, np.float32)),
             tensor("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))]
    path = save(model(nodes, [vi("x", [1, 3, 4, 4])], [vi("y", [1, 4, 3, 3])], inits), tmp_path / "m.onnx")
    build_bit_exact(path, tmp_path, [1, 3, 4, 4])


def resize_model(roi: str) -> onnx.ModelProto:
    """A Conv then a Resize whose roi is an empty initializer ("initializer"), omitted ('') or, as
    PyTorch writes at opset 11, roi and scales both empty Constant nodes ("constant"); sizes given."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[1, 1])]
    inits = [tensor("w", w(2, 3, 1, 1)), tensor("b", w(2)), tensor("sizes", np.array([1, 2, 8, 8], np.int64))]
    ins = ["c", "", "", "sizes"]
    if roi == "initializer":
        inits.append(tensor("roi", np.zeros((0,), np.float32)))
        ins[1] = "roi"
    elif roi == "constant":
        for k in ("roi", "scales"):
            nodes.append(helper.make_node("Constant", [], [k], name=f"{k}_const",
                                          value=tensor(k, np.zeros((0,), np.float32))))
        ins[1:3] = ["roi", "scales"]
    nodes.append(helper.make_node("Resize", ins, ["y"], name="up", mode="nearest"))
    opset = {"opset": 11} if roi == "constant" else {}  # roi may be '' from opset 13 on
    return model(nodes, [vi("x", [1, 3, 4, 4])], [vi("y", [1, 2, 8, 8])], inits, **opset)


@pytest.mark.parametrize("roi", ["initializer", "omitted", "constant"])
def test_empty_roi_reaches_the_op_check(roi, tmp_path):
    """An empty roi / scales is 'not given': the importer and the passes accept it, and the Resize
    compiles (nearest, sizes given: quantize/rules_movement.py), bit-exact. An empty Constant node
    is no activation to calibrate either."""
    path = save(resize_model(roi), tmp_path / "m.onnx")
    g = import_onnx(str(path))
    up = g.nodes[-1]
    assert up.op == "Resize" and up.inputs[:3] == ["c", "", ""]
    res, _, _ = build_bit_exact(path, tmp_path, [1, 3, 4, 4])
    assert "gather" in [op.kind for op in res.compiled.model.ops]


def test_value_info_of_a_removed_initializer_is_not_calibrated(tmp_path):
    """PyTorch's dynamo exporter writes value_info for initializers too (an InstanceNormalization's
    scale); when qnnc's decomposition replaces the node, that initializer goes and the calibration
    run must not ask onnxruntime for it (it refuses a graph output no node or initializer makes)."""
    N = helper.make_node
    nodes = [N("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             N("InstanceNormalization", ["c", "s", "t"], ["y"], name="norm")]
    inits = [tensor("w", w(4, 3, 3, 3)), tensor("b", w(4)), tensor("s", w(4) + 1.0), tensor("t", w(4))]
    m = model(nodes, [vi("x", [1, 3, 4, 4])], [vi("y", [1, 4, 4, 4])], inits)
    m.graph.value_info.extend([vi("s", [4]), vi("t", [4]), vi("c", [1, 4, 4, 4])])
    path = save(m, tmp_path / "m.onnx")
    build_bit_exact(path, tmp_path, [1, 3, 4, 4])


# ----------------------------------------------------------- 4. dead output channels --

def dead_channel_model(op: str) -> onnx.ModelProto:
    """A Conv or Gemm whose output channel 2 is dead: weights 1e-30, bias 0.5 (as in trained models
    that pruned a channel); its output is the model output."""
    if op == "Conv":
        W, b = w(5, 3, 3, 3), w(5, scale=0.1)
        W[2], b[2] = 1e-30, 0.5
        node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="dead_conv", kernel_shape=[3, 3],
                                pads=[1, 1, 1, 1])
        return model([node], [vi("x", [1, 3, 4, 4])], [vi("y", [1, 5, 4, 4])], [tensor("w", W), tensor("b", b)])
    W, b = w(5, 64), w(5, scale=0.1)
    W[2], b[2] = 1e-30, 0.5
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="dead_fc", transB=1)
    return model([node], [vi("x", [1, 64])], [vi("y", [1, 5])], [tensor("w", W), tensor("b", b)])


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("op", ["Conv", "Gemm"])
def test_dead_channel_outputs_its_requantized_bias(op, bits, tmp_path):
    m = dead_channel_model(op)
    shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    path = save(m, tmp_path / "m.onnx")
    extra = f"quantization:\n  activation_bits: {bits}\n" if bits == 16 else ""
    res, q_in, ref = build_bit_exact(path, tmp_path, shape, extra)
    qm = res.compiled.model
    layer = next(o for o in qm.ops if o.kind in ("conv", "fully_connected"))
    filt, bias = layer.consts["filter"], layer.consts["bias"]
    dead = filt[2]  # [out, in] or OHWI: the output channel comes first
    assert not np.any(dead), "a dead channel's weights quantize to 0"
    assert np.count_nonzero(filt) > 0.9 * (filt.size - dead.size)  # the live channels keep their weights
    p, m_, s_ = layer.params, layer.consts["multiplier"][2], layer.consts["shift"][2]
    acc = np.array([[int(bias[2])]], np.int64)
    if bits == 8:
        want = int(K._activation(acc, [m_], [s_], p.output_offset, p.act_min, p.act_max, p.act_lut, p.rounding)[0, 0])
    else:
        want = int(K16._out_s16(acc, [m_], [s_], p.output_offset, p.act_min, p.act_max)[0, 0])
    out_t = qm.tensors[layer.output]
    assert abs((want - out_t.zero_point) * out_t.scale - 0.5) <= out_t.scale  # it is the float bias
    for i in range(3):
        got = run(qm, q_in[i], keep=[layer.output])[layer.output]
        assert np.all(got[..., 2] == want), "the dead channel outputs its requantized bias everywhere"


def test_real_accumulator_overflow_names_the_channel(tmp_path):
    """140000 inputs of equal weight overflow int32 for real (channel 1; channels 0 and 2 read only
    10 inputs): refused, naming layer and channel."""
    K_in = 140000
    W = np.zeros((3, K_in), np.float32)
    W[1] = 0.01
    W[[0, 2], :10] = 0.01
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="wide_fc", transB=1)
    path = save(model([node], [vi("x", [1, K_in])], [vi("y", [1, 3])],
                      [tensor("w", W), tensor("b", np.zeros(3, np.float32))]), tmp_path / "m.onnx")
    r = run_cli(["build", path, "-o", tmp_path / "gen", "-q"])
    assert r.returncode == 2 and "Traceback" not in r.stderr and not (tmp_path / "gen").exists()
    assert "node 'wide_fc'" in r.stderr and "output channel 1:" in r.stderr and "int32 accumulator" in r.stderr
    # inspect gives build's verdict, word for word
    i = run_cli(["inspect", path])
    assert i.returncode == 2
    build_line = next(x for x in r.stderr.splitlines() if x.startswith("qnnc: error: "))[len("qnnc: error: "):]
    assert f"compiles: NO - {build_line}" in i.stdout


def test_int16_accumulator_check_names_the_channel():
    from qnnc.quantize import rules_s16

    low = SimpleNamespace(err=lambda n, msg: ModelError(msg, node=n.name, op=n.op))
    n = SimpleNamespace(name="layer", op="Conv")
    wq = np.full((3, 8), 127, np.int8)
    rules_s16.check_acc64(low, n, wq, np.array([0, 5, 0], np.int64))  # fine
    with pytest.raises(ModelError, match="output channel 1: the int64 bias"):
        rules_s16.check_acc64(low, n, wq, np.array([0, 1 << 41, 0], np.int64))


# ------------------------------------------------- 5. tf2onnx's Keras graphs, as compact as TFLite's --

def keras_dw_block_model() -> onnx.ModelProto:
    """tf2onnx's Keras MobileNet block: ZeroPadding2D as a Pad, a stride-2 depthwise Conv whose
    BatchNormalization scale stays a Mul, ReLU6 as a Clip."""
    N = helper.make_node
    nodes = [N("Pad", ["x", "pads"], ["p"], name="zero_padding", mode="constant"),
             N("Conv", ["p", "w", "b"], ["c"], name="depthwise", group=4, kernel_shape=[3, 3], strides=[2, 2]),
             N("Mul", ["c", "bn_scale"], ["m"], name="bn_scale"),
             N("Clip", ["m", "lo", "hi"], ["y"], name="relu6")]
    inits = [tensor("pads", np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64)), tensor("w", w(4, 1, 3, 3)),
             tensor("b", w(4)), tensor("bn_scale", (np.abs(w(4, 1, 1)) + 0.5).astype(np.float32)),
             tensor("lo", np.array(0.0, np.float32)), tensor("hi", np.array(6.0, np.float32))]
    return model(nodes, [vi("x", [1, 4, 8, 8])], [vi("y", [1, 4, 4, 4])], inits)


def keras_conv1d_model() -> onnx.ModelProto:
    """tf2onnx's Keras Conv1D: Unsqueeze, a 1xK Conv, Squeeze, then the ReLU on the 3-D tensor and
    an Unsqueeze back for the pool."""
    N = helper.make_node
    nodes = [N("Unsqueeze", ["x", "ax2"], ["x4"], name="expand_dims"),
             N("Conv", ["x4", "w", "b"], ["c4"], name="conv1d", kernel_shape=[1, 3], pads=[0, 1, 0, 1]),
             N("Squeeze", ["c4", "ax2"], ["c3"], name="squeeze"),
             N("Relu", ["c3"], ["r3"], name="relu"),
             N("Unsqueeze", ["r3", "ax2"], ["r4"], name="expand_again"),
             N("MaxPool", ["r4"], ["y"], name="pool", kernel_shape=[1, 2], strides=[1, 2])]
    inits = [tensor("ax2", np.array([2], np.int64)), tensor("w", w(6, 3, 1, 3)), tensor("b", w(6))]
    return model(nodes, [vi("x", [1, 3, 16])], [vi("y", [1, 6, 1, 8])], inits)


@pytest.mark.parametrize("make,shape,kinds", [
    (keras_dw_block_model, [1, 4, 8, 8], ["transpose", "depthwise_conv", "transpose"]),
    (keras_conv1d_model, [1, 3, 16], ["transpose", "conv", "max_pool", "transpose"]),
])
def test_keras_patterns_fold_into_the_layer(make, shape, kinds, tmp_path):
    """The Pad becomes the conv's padding, the Mul folds into its weights, the ReLU moves before
    the Squeeze and fuses: the layers TFLite's converter would have made, bit-exact."""
    path = save(make(), tmp_path / "m.onnx")
    res, _, _ = build_bit_exact(path, tmp_path, shape)
    got = [op.kind for op in res.compiled.model.ops if op.kind != "reshape"]
    assert got == kinds, got


# ------------------------------------------------------ 6. inspect shares build's check --

@pytest.mark.parametrize("case", ["softmax_axis", "gemm_c_per_row"])
def test_inspect_verdict_is_builds(case, tmp_path):
    """Models build refuses in the quantizer (a Softmax over a non-last axis) or in the passes (a
    Gemm whose C differs per row) are 'compiles: NO' in inspect with build's message, word for word."""
    if case == "softmax_axis":
        nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"),
                 helper.make_node("Softmax", ["a"], ["y"], name="sm", axis=1)]
        save(model(nodes, [vi("x", [1, 2, 3, 4, 5])], [vi("y", [1, 2, 3, 4, 5])]), tmp_path / "m.onnx")
    else:
        nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"], name="rows"),
                 helper.make_node("Relu", ["r"], ["a"], name="relu"),
                 helper.make_node("Gemm", ["a", "B", "C"], ["y"], name="gemm_c")]
        inits = [numpy_helper.from_array(np.array([2, 3], np.int64), "shape"),
                 numpy_helper.from_array(np.ones((3, 2), np.float32), "B"),
                 numpy_helper.from_array(np.arange(4, dtype=np.float32).reshape(2, 2), "C")]
        save(model(nodes, [vi("x", [1, 6])], [vi("y", [2, 2])], inits), tmp_path / "m.onnx")
    info = inspect_model(str(tmp_path / "m.onnx"))
    r = run_cli(["build", tmp_path / "m.onnx", "-o", tmp_path / "gen", "-q"])
    assert not info["compiles"] and r.returncode == 2
    assert f"qnnc: error: {info['error']}" in r.stderr.splitlines()
    assert ("'sm'" in info["error"]) if case == "softmax_axis" else ("differs per row" in info["error"])


def test_inspect_says_yes_for_a_dead_channel_model(tmp_path):
    save(dead_channel_model("Conv"), tmp_path / "dead.onnx")
    info = inspect_model(str(tmp_path / "dead.onnx"))
    assert info["compiles"] and info["error"] is None


def test_float_outputs_of_a_scalar_output(tmp_path):
    """A model output of rank 0 (PyTorch's ``linear(x).sum()``) comes back as one value per sample
    (it has no batch axis to concatenate on)."""
    from qnnc.frontend.float_runner import float_outputs_all
    node = helper.make_node("ReduceSum", ["x", "axes"], ["s"], name="total", keepdims=0)
    path = save(model([node], [vi("x", [1, 4])], [vi("s", [])], [tensor("axes", np.array([0, 1], np.int64))]),
                tmp_path / "sum.onnx")
    xs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    got = float_outputs_all(str(path), xs)
    assert len(got) == 1 and got[0].shape == (5,)
    np.testing.assert_allclose(got[0], xs.sum(axis=1), rtol=1e-5)


def test_dropped_ops_keep_the_tied_ranges_of_unrolled_steps():
    """In an unrolled loop's steps (tied ranges), an Add of zeros at step 0 stays (its place in the
    group keeps the steps' layers on one scale, so their arrays are shared); a dropped Identity's
    place in a group goes to the tensor it passed on."""
    from qnnc.ir import Graph, Node, Tensor
    from qnnc.passes.cleanup import remove_identity
    t = {n: Tensor(n, (1, 4)) for n in ("x", "a0", "a1", "y0", "i0", "out")}
    t["zeros"] = Tensor("zeros", (4,), np.zeros(4, np.float32))
    nodes = [Node("add0", "Add", ["x", "zeros"], ["a0"]), Node("add1", "Add", ["a0", "x"], ["a1"]),
             Node("relu", "Relu", ["a1"], ["y0"]), Node("copy", "Identity", ["y0"], ["i0"]),
             Node("last", "Add", ["i0", "a0"], ["out"])]
    g = Graph("g", t, nodes, ["x"], ["out"], tied_ranges=[["a0", "a1"], ["i0", "out"]])
    out = remove_identity(g)
    assert [n.op for n in out.nodes] == ["Add", "Add", "Relu", "Add"]
    assert out.tied_ranges == [["a0", "a1"], ["y0", "out"]]


def test_a_comparisons_difference_with_zero_stays():
    """x > 0 is Relu(Sign(x - 0)) (frontend/decompose.py): the difference, read only by Sign, gets
    a symmetric range in the lowering, so a side the calibration never saw still compares right;
    the x - 0 is no no-op to drop there, but is one where another op reads it."""
    from qnnc.ir import Graph, Node, Tensor
    from qnnc.passes.cleanup import remove_identity
    t = {n: Tensor(n, (1, 4)) for n in ("x", "d", "s", "m", "d2", "out")}
    t["zero"] = Tensor("zero", (), np.zeros((), np.float32))
    nodes = [Node("diff", "Sub", ["x", "zero"], ["d"]), Node("sign", "Sign", ["d"], ["s"]),
             Node("mask", "Relu", ["s"], ["m"]), Node("plain", "Sub", ["m", "zero"], ["d2"]),
             Node("use", "Mul", ["d2", "x"], ["out"])]
    out = remove_identity(Graph("g", t, nodes, ["x"], ["out"]))
    assert [n.name for n in out.nodes] == ["diff", "sign", "mask", "use"]
