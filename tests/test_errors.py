"""Bad input gives one clear paragraph, exit code 2, no traceback and no output folder.

Each case builds a broken model, config or data file (models with onnx.helper), runs the real
CLI as a subprocess (``python -m qnnc build ...``) and checks: exit code 2, the key words of
the message (file, node/op, YAML key and line, what was expected), no "Traceback", a single
paragraph, and that the output folder was not created (or, when it existed, not touched).
"""
from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import pytest
from onnx import TensorProto, helper

from onnx_factory import model, run_cli, save, single_op, tensor, tiny_cnn, tiny_mlp, vi

Case = Callable[[Path], Tuple[List[str], List[str]]]
CASES: Dict[str, Case] = {}


def case(fn: Case) -> Case:
    """Register a bad-input case: ``fn(tmp) -> (extra CLI args after 'build', expected words)``."""
    CASES[fn.__name__] = fn
    return fn


def _mlp_with_config(tmp: Path, yaml_text: str, model_fn=tiny_mlp) -> List[str]:
    """Args for building the tiny MLP with a config file holding ``yaml_text``."""
    save(model_fn(), tmp / "m.onnx")
    (tmp / "q.yaml").write_text(yaml_text, encoding="utf-8")
    return [tmp / "m.onnx", "--config", tmp / "q.yaml"]


def _calibration(tmp: Path, fname: str, writer) -> List[str]:
    """Args for the tiny MLP with calibration data written by ``writer(path)``."""
    writer(tmp / fname)
    return _mlp_with_config(tmp, f"name: mlp\ncalibration:\n  data: {fname}\n  method: minmax\n")


# --------------------------------------------------------------------------- ONNX files --


@case
def onnx_truncated(tmp):
    data = tiny_cnn().SerializeToString()
    (tmp / "m.onnx").write_bytes(data[: len(data) // 2])
    return [tmp / "m.onnx"], ["m.onnx", "not a valid ONNX", "truncated"]


@case
def onnx_random_bytes(tmp):
    (tmp / "m.onnx").write_bytes(np.random.default_rng(5).integers(0, 256, 300, dtype=np.uint8).tobytes())
    return [tmp / "m.onnx"], ["m.onnx", "ONNX"]


@case
def onnx_empty_file(tmp):
    (tmp / "m.onnx").write_bytes(b"")
    return [tmp / "m.onnx"], ["m.onnx", "empty"]


@case
def onnx_is_a_text_file(tmp):
    (tmp / "m.onnx").write_text("name: not a model\n")
    return [tmp / "m.onnx"], ["m.onnx", "ONNX"]


@case
def onnx_file_missing(tmp):
    return [tmp / "nope.onnx"], ["nope.onnx", "cannot read"]


@case
def onnx_no_nodes(tmp):
    save(model([], [vi("x", [1, 4])], [vi("x", [1, 4])]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "no graph with nodes"]


@case
def onnx_missing_initializer(tmp):
    m = tiny_mlp()
    del m.graph.initializer[2]  # w2, used by node fc2
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "fc2", "w2", "missing initializer"]


@case
def onnx_cycle(tmp):
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Relu", ["a"], ["y"], name="out")]
    save(model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "add", "cycle"]


@case
def onnx_duplicate_output_names(tmp):
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="r1"),
             helper.make_node("Sigmoid", ["x"], ["h"], name="r2"),
             helper.make_node("Relu", ["h"], ["y"], name="r3")]
    save(model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "'h'", "r2", "duplicate"]


@case
def onnx_duplicate_initializer_names(tmp):
    m = tiny_mlp()
    m.graph.initializer.append(tensor("w1", np.ones((6, 8), np.float32)))
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "w1", "duplicate"]


@case
def onnx_zero_dim(tmp):
    save(single_op("Relu", [1, 0, 4], [1, 0, 4]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "input 'x'", "dim 1 is 0", "positive"]


@case
def onnx_negative_dim(tmp):
    save(single_op("Relu", [1, -3], [1, -3]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "input 'x'", "-3", "positive"]


@case
def onnx_zero_dim_initializer(tmp):
    m = tiny_mlp()
    m.graph.initializer[1].CopyFrom(tensor("b1", np.zeros((0,), np.float32)))
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "b1"]


@case
def onnx_shape_product_overflows(tmp):
    big = 1 << 40
    save(single_op("Relu", [big, big, big], [big, big, big]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "input 'x'", "elements"]


@case
def onnx_initializer_dims_overflow(tmp):
    m = tiny_mlp()
    w = m.graph.initializer[0]
    del w.dims[:]
    w.dims.extend([1 << 40, 1 << 40])
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "w1", "elements"]


@case
def onnx_nan_weights(tmp):
    m = tiny_mlp()
    w = np.ones((6, 8), np.float32)
    w[2, 3] = np.nan
    m.graph.initializer[0].CopyFrom(tensor("w1", w))
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "w1", "NaN", "finite"]


@case
def onnx_inf_in_constant_node(tmp):
    nodes = [helper.make_node("Constant", [], ["c"], name="const_inf",
                              value=tensor("cv", np.array([1.0, np.inf, 0.0, 2.0], np.float32))),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    save(model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "node 'add' (Add)", "constant 'c'", "Inf", "finite"]


@case
def onnx_nan_in_constant_node(tmp):
    nodes = [helper.make_node("Constant", [], ["c"], name="const_nan",
                              value=tensor("cv", np.array([1.0, np.nan, 0.0, 2.0], np.float32))),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    save(model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "const_nan", "Constant", "NaN or Inf"]


@case
def onnx_float_shape_input(tmp):
    # Expand's shape must be int64; a float one (NaN here) is refused by name, not cast
    node = helper.make_node("Expand", ["x", "s"], ["y"], name="the_expand")
    save(model([node], [vi("x", [1, 4])], [vi("y", [2, 4])], [tensor("s", np.array([2, np.nan], np.float32))]),
         tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "the_expand", "Expand", "'shape'", "int64", "float32"]


@case
def onnx_float_unsqueeze_axes_on_a_batch_input(tmp):
    # the time-major check walks Unsqueezes from the first input and skips float (NaN) axes: the
    # static batch of 3 is then refused as such (a fuzz find: the walk had cast NaN to an integer)
    node = helper.make_node("Unsqueeze", ["x", "a"], ["y"], name="the_unsqueeze")
    save(model([node], [vi("x", [3, 4])], [vi("y", [3, 1, 4])], [tensor("a", np.array([np.nan], np.float32))]),
         tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "input 'x'", "dim 0 is the batch"]


@case
def onnx_integer_index_input(tmp):
    # token ids also read as values (a mask cast to float): the INT64 input is named with the rule
    # for index inputs, not as a float to convert
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="embedding"),
             helper.make_node("Cast", ["ids"], ["f"], name="as_float", to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["f", "ax"], ["fu"], name="unsq"),
             helper.make_node("Mul", ["e", "fu"], ["y"], name="scaled")]
    save(model(nodes, [vi("ids", [1, 5], TensorProto.INT64)], [vi("y", [1, 5, 4])],
               [tensor("table", np.ones((10, 4), np.float32)), tensor("ax", np.array([2], np.int64))]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "'ids'", "INT64", "Embedding", "Gathers on axis 0"]


@case
def onnx_op_newer_than_the_declared_opset(tmp):
    # tf2onnx at opset 11 writes Einsum, defined from opset 12: named as such, not as a shape problem,
    # where the model cannot be read at opset 12 (Dropout-12 takes its ratio as an input) and
    # Einsum has no function body
    nodes = [helper.make_node("Dropout", ["x"], ["d"], name="the_dropout", ratio=0.1),
             helper.make_node("Einsum", ["d", "w"], ["y"], name="the_einsum", equation="bi,ij->bj")]
    save(model(nodes, [vi("x", [1, 4])], [vi("y", [1, 3])], [tensor("w", np.ones((4, 3), np.float32))], opset=11),
         tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "the_einsum", "Einsum", "from opset 12", "declares opset 11"]


@case
def tf2onnx_bucketize_with_unsorted_boundaries(tmp):
    # Keras' Discretization as tf2onnx leaves it: TensorFlow's Bucketize needs sorted boundaries
    node = helper.make_node("Bucketize", ["x"], ["b"], name="the_buckets", boundaries=[1.0, -1.0])
    cast = helper.make_node("Cast", ["b"], ["y"], name="as_float", to=TensorProto.FLOAT)
    m = model([node, cast], [vi("x", [1, 4])], [vi("y", [1, 4])])
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "the_buckets", "Bucketize", "sorted boundaries", "[1.0, -1.0]"]


@case
def onnx_attribute_of_the_wrong_type(tmp):
    # perm as one INT instead of INTS: the checker names it before any rewrite reads it
    node = helper.make_node("Transpose", ["x"], ["y"], name="the_transpose")
    node.attribute.extend([helper.make_attribute("perm", 2)])
    save(model([node], [vi("x", [1, 4])], [vi("y", [4, 1])]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "the_transpose", "perm", "INTS"]


@case
def onnx_gemm_features_mismatch(tmp):
    # shape inference does not compare Gemm's weight with its input; the FC lowering does
    node = helper.make_node("Gemm", ["x", "w"], ["y"], name="the_gemm", transB=1)
    save(model([node], [vi("x", [1, 6])], [vi("y", [1, 4])], [tensor("w", np.ones((4, 12), np.float32))],
               opset=11), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "the_gemm", "12 input features", "has 6"]


@case
def onnx_nan_attribute(tmp):
    save(single_op("LeakyRelu", [1, 4], [1, 4], alpha=float("nan")), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "the_leakyrelu", "LeakyRelu", "attribute 'alpha'", "nan", "finite"]


@case
def onnx_gemm_bias_does_not_broadcast(tmp):
    m = tiny_mlp()
    m.graph.initializer[1].CopyFrom(tensor("b1", np.ones((3,), np.float32)))
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "fc1", "Gemm", "[3]", "broadcast", "[1, 6]"]


@case
def onnx_conv_group_mismatch(tmp):
    m = tiny_cnn()
    m.graph.node[0].attribute.append(helper.make_attribute("group", 2))
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "conv", "Conv", "group=2", "channels"]


@case
def onnx_batch_not_one(tmp):
    """A batch of 4 whose samples a Reshape to a literal batch mixes: not single-sample inference."""
    nodes = [helper.make_node("Reshape", ["x", "to"], ["r"], name="view"), helper.make_node("Relu", ["r"], ["y"])]
    save(model(nodes, [vi("x", [4, 8])], [vi("y", [8, 4])], [tensor("to", np.array([8, 4], np.int64))]),
         tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "input 'x'", "[4, 8]", "batch", "must be 1", "one by one"]


@case
def onnx_unsupported_op(tmp):
    save(single_op("Hardmax", [1, 4], [1, 4]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "the_hardmax", "Hardmax", "opset 13", "not supported"]


@case
def onnx_unsupported_domain(tmp):
    node = helper.make_node("FusedGemm", ["x"], ["y"], name="fused", domain="com.microsoft")
    m = model([node], [vi("x", [1, 4])], [vi("y", [1, 4])])
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "fused", "FusedGemm", "com.microsoft", "not supported"]


@case
def onnx_sklearn_zipmap(tmp):
    nodes = [helper.make_node("Softmax", ["x"], ["p"], name="probabilities"),
             helper.make_node("ZipMap", ["p"], ["y"], name="zipmap", domain="ai.onnx.ml", classlabels_int64s=[0, 1, 2, 3])]
    dicts = helper.make_sequence_type_proto(helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(
        TensorProto.FLOAT, [])))
    m = model(nodes, [vi("x", [1, 4])], [helper.make_value_info("y", dicts)])
    m.opset_import.append(helper.make_opsetid("ai.onnx.ml", 1))
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "zipmap", "ZipMap", "ai.onnx.ml", "'zipmap': False"]


@case
def onnx_opset_too_old(tmp):
    """Old opsets are converted; an op the version converter cannot convert is a clear error."""
    save(single_op("Affine", [1, 1, 2, 2], [1, 1, 2, 2], opset=8, alpha=2.0), tmp / "m.onnx")  # removed, no rewrite
    return [tmp / "m.onnx"], ["m.onnx", "opset 8", "11-21", "version_converter", "Affine"]


@case
def onnx_opset_too_new(tmp):
    save(single_op("Relu", [1, 4], [1, 4], opset=99), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "opset 99", "11-21"]


@case
def onnx_int_input(tmp):
    save(single_op("Relu", [1, 4], [1, 4], elem=TensorProto.INT32), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "input 'x'", "INT32", "float32"]


@case
def onnx_int_weights(tmp):
    m = tiny_mlp()
    m.graph.initializer[0].CopyFrom(tensor("w1", np.ones((6, 8), np.int32)))
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "fc1", "type"]


@case
def onnx_dynamic_dim_not_pinned(tmp):
    """A dynamic dim 0 (the batch) is taken as 1; any other dynamic dim must be pinned."""
    save(single_op("Relu", ["batch", "n"], ["batch", "n"]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "input 'x'", "dynamic dim 1", "'n'", "input_shape: {x: [1, <n>]}"]


@case
def onnx_output_is_input(tmp):  # several inputs/outputs compile (tests/test_multi_io.py); this does not
    node = helper.make_node("Add", ["a", "b"], ["y"], name="add")
    save(model([node], [vi("a", [1, 4]), vi("b", [1, 4])], [vi("y", [1, 4]), vi("b", [1, 4])]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "graph output 'b' is the graph input itself"]


@case
def onnx_output_never_produced(tmp):
    m = tiny_mlp()
    m.graph.output[0].name = "ghost"
    save(m, tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "ghost"]


@case
def onnx_softmax_wrong_axis(tmp):  # (up to rank 4 a transpose brings any axis last)
    save(single_op("Softmax", [1, 2, 4, 3, 2], [1, 2, 4, 3, 2], axis=1), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "the_softmax", "Softmax", "axis", "last"]


def _external(tmp: Path, location: str) -> List[str]:
    m = tiny_mlp()
    w = m.graph.initializer[0]
    w.ClearField("raw_data")
    del w.float_data[:]
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    folder = tmp / "model_dir"
    folder.mkdir(exist_ok=True)
    save(m, folder / "m.onnx")
    return [folder / "m.onnx"]


@case
def onnx_external_data_escapes_parent(tmp):
    (tmp / "secret.bin").write_bytes(b"\0" * 192)
    return _external(tmp, "../secret.bin"), ["m.onnx", "w1", "../secret.bin", "outside", "refused"]


@case
def onnx_external_data_absolute(tmp):
    (tmp / "secret.bin").write_bytes(b"\0" * 192)
    return _external(tmp, str(tmp / "secret.bin")), ["m.onnx", "w1", "outside", "refused"]


@case
def onnx_external_data_symlink_escapes(tmp):
    (tmp / "secret.bin").write_bytes(b"\0" * 192)
    args = _external(tmp, "link.bin")
    os.symlink(tmp / "secret.bin", tmp / "model_dir" / "link.bin")
    return args, ["m.onnx", "w1", "link.bin", "outside", "refused"]


@case
def onnx_external_data_missing(tmp):
    return _external(tmp, "weights.bin"), ["m.onnx", "w1", "weights.bin", "missing"]


@case
def onnx_external_data_too_short(tmp):
    args = _external(tmp, "weights.bin")
    (tmp / "model_dir" / "weights.bin").write_bytes(b"\0" * 10)
    return args, ["m.onnx", "w1"]


@case
def onnx_file_too_large(tmp):
    with open(tmp / "m.onnx", "wb") as f:  # sparse: no disk space used
        f.truncate((512 << 20) + 1)
    return [tmp / "m.onnx"], ["m.onnx", "bytes", "up to"]


@case
def onnx_tensor_too_large(tmp):
    save(single_op("Relu", [1, 64, 1024, 1024], [1, 64, 1024, 1024]), tmp / "m.onnx")
    return [tmp / "m.onnx"], ["m.onnx", "input 'x'", "elements", "microcontroller"]


# --------------------------------------------------------------------------- YAML config --


@case
def yaml_syntax_error(tmp):
    args = _mlp_with_config(tmp, "name: mlp\ncalibration:\n  data: [a.npz, b\n  method: minmax\n")
    return args, ["q.yaml:", "invalid YAML", "line"]


@case
def yaml_tab_indentation(tmp):
    args = _mlp_with_config(tmp, "name: mlp\ncalibration:\n\tdata: a.npz\n")
    return args, ["q.yaml:3", "invalid YAML", "tab"]


@case
def yaml_unknown_top_level_key(tmp):
    args = _mlp_with_config(tmp, "name: mlp\nlayuot: nhwc\n")
    return args, ["q.yaml:2", "key 'layuot'", "unknown key", "expected one of", "layout"]


@case
def yaml_unknown_nested_key(tmp):
    args = _mlp_with_config(tmp, "calibration:\n  method: minmax\n  dtaa: cal.npz\n")
    return args, ["q.yaml:3", "key 'calibration.dtaa'", "unknown key", "data"]


@case
def yaml_wrong_type_int(tmp):
    args = _mlp_with_config(tmp, "calibration:\n  data: c.npz\n  max_samples: many\n")
    return args, ["q.yaml:3", "key 'calibration.max_samples'", "expected an integer", "'many'"]


@case
def yaml_wrong_type_name(tmp):
    return _mlp_with_config(tmp, "name: 5\n"), ["q.yaml:1", "key 'name'", "expected a string"]


@case
def yaml_name_not_identifier(tmp):
    return _mlp_with_config(tmp, "name: my model\n"), ["q.yaml:1", "key 'name'", "C identifier"]


@case
def yaml_name_reserved(tmp):
    return _mlp_with_config(tmp, "name: __m\n"), ["q.yaml:1", "key 'name'", "reserved"]


@case
def yaml_wrong_enum(tmp):
    return _mlp_with_config(tmp, "layout: nchw\n"), ["q.yaml:1", "key 'layout'", "'model'", "'nhwc'", "'nchw'"]


@case
def yaml_section_not_mapping(tmp):
    return _mlp_with_config(tmp, "calibration: cal.npz\n"), ["q.yaml:1", "key 'calibration'", "mapping"]


@case
def yaml_top_level_list(tmp):
    return _mlp_with_config(tmp, "- name\n- mlp\n"), ["q.yaml:1", "mapping"]


@case
def yaml_input_shape_negative(tmp):
    args = _mlp_with_config(tmp, "input_shape:\n  x: [1, -8]\n")
    return args, ["q.yaml:2", "key 'input_shape.x'", "positive integers"]


@case
def yaml_input_shape_huge(tmp):
    args = _mlp_with_config(tmp, "input_shape:\n  x: [1, 99999999999999999999999]\n")
    return args, ["q.yaml:2", "key 'input_shape.x'", "positive integers"]


@case
def yaml_input_shape_unknown_input(tmp):
    """The closest thing to 'unknown node names in overrides': qnnc has no per-node overrides yet."""
    args = _mlp_with_config(tmp, "name: mlp\ninput_shape:\n  images: [1, 8]\n")
    return args, ["q.yaml:3", "key 'input_shape.images'", "'images'", "['x']"]


@case
def yaml_input_shape_conflicts(tmp):
    args = _mlp_with_config(tmp, "input_shape:\n  x: [1, 9]\n")
    return args, ["q.yaml:2", "key 'input_shape.x'", "[1, 9]", "8"]


@case
def yaml_duplicate_key(tmp):
    return _mlp_with_config(tmp, "name: a\nname: b\n"), ["q.yaml:2", "duplicate key 'name'"]


@case
def yaml_percentile_out_of_range(tmp):
    args = _mlp_with_config(tmp, "calibration:\n  data: c.npz\n  method: percentile\n  percentile: 101\n")
    return args, ["q.yaml:4", "key 'calibration.percentile'", "(50, 100]"]


@case
def yaml_percentile_nan(tmp):
    args = _mlp_with_config(tmp, "calibration:\n  data: c.npz\n  percentile: .nan\n")
    return args, ["q.yaml:3", "key 'calibration.percentile'", "(50, 100]"]


@case
def yaml_max_samples_zero(tmp):
    args = _mlp_with_config(tmp, "calibration:\n  data: c.npz\n  max_samples: 0\n")
    return args, ["q.yaml:3", "key 'calibration.max_samples'", "positive"]


@case
def yaml_recursive_alias(tmp):
    return _mlp_with_config(tmp, "input_shape: &a\n  x: *a\n"), ["q.yaml", "alias"]


@case
def yaml_billion_laughs(tmp):
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return _mlp_with_config(tmp, "\n".join(lines) + "\n"), ["q.yaml", "alias"]


@case
def yaml_not_utf8(tmp):
    args = _mlp_with_config(tmp, "")
    (tmp / "q.yaml").write_bytes(b"name: caf\xe9\n")
    return args, ["q.yaml", "UTF-8"]


@case
def yaml_config_missing(tmp):
    save(tiny_mlp(), tmp / "m.onnx")
    return [tmp / "m.onnx", "--config", tmp / "none.yaml"], ["none.yaml", "cannot read"]


@case
def yaml_calibration_without_data(tmp):
    return _mlp_with_config(tmp, "calibration:\n  method: minmax\n"), ["q.yaml:1", "key 'calibration'", "'data'"]


# --------------------------------------------------------------------------- data files --


@case
def data_file_missing(tmp):
    args = _mlp_with_config(tmp, "calibration:\n  data: missing.npz\n")
    return args, ["q.yaml:2", "key 'calibration.data'", "missing.npz", "does not exist"]


@case
def data_wrong_shape(tmp):
    args = _calibration(tmp, "c.npz", lambda p: np.savez(p, x=np.zeros((10, 9), np.float32)))
    return args, ["q.yaml:3", "key 'calibration.data'", "[10, 9]", "(N, 8)", "'x'"]


@case
def data_wrong_rank(tmp):
    args = _calibration(tmp, "c.npy", lambda p: np.save(p, np.zeros((10, 2, 8), np.float32)))
    return args, ["q.yaml:3", "key 'calibration.data'", "[10, 2, 8]", "(N, 8)"]


@case
def data_wrong_dtype_strings(tmp):
    args = _calibration(tmp, "c.npy", lambda p: np.save(p, np.array([["a"] * 8] * 3)))
    return args, ["q.yaml:3", "key 'calibration.data'", "<U1", "float32"]


@case
def data_wrong_dtype_complex(tmp):
    args = _calibration(tmp, "c.npy", lambda p: np.save(p, np.zeros((3, 8), np.complex64)))
    return args, ["q.yaml:3", "key 'calibration.data'", "complex64", "float32"]


@case
def data_wrong_dtype_bool(tmp):
    args = _calibration(tmp, "c.npy", lambda p: np.save(p, np.zeros((3, 8), bool)))
    return args, ["q.yaml:3", "key 'calibration.data'", "bool", "float32"]


@case
def data_empty(tmp):
    args = _calibration(tmp, "c.npz", lambda p: np.savez(p, x=np.zeros((0, 8), np.float32)))
    return args, ["q.yaml:3", "key 'calibration.data'", "no samples"]


@case
def data_empty_npz(tmp):
    args = _calibration(tmp, "c.npz", lambda p: np.savez(p))
    return args, ["q.yaml:3", "key 'calibration.data'", "has arrays []", "'x'"]


@case
def data_npz_wrong_key(tmp):
    args = _calibration(tmp, "c.npz", lambda p: np.savez(p, inputs=np.zeros((4, 8), np.float32)))
    return args, ["q.yaml:3", "key 'calibration.data'", "['inputs']", "key:"]


@case
def data_nan(tmp):
    args = _calibration(tmp, "c.npy", lambda p: np.save(p, np.full((4, 8), np.nan, np.float32)))
    return args, ["q.yaml:3", "key 'calibration.data'", "NaN"]


@case
def data_npy_pickle_refused(tmp):
    def write(p):
        np.save(p, np.array([{"evil": 1}] * 3, dtype=object), allow_pickle=True)
    args = _calibration(tmp, "c.npy", write)
    return args, ["q.yaml:3", "key 'calibration.data'", "pickle", "numeric arrays only"]


@case
def data_npz_pickle_refused(tmp):
    def write(p):
        np.savez(p, x=np.array([[1.0] * 8, None], dtype=object))
    args = _calibration(tmp, "c.npz", write)
    return args, ["q.yaml:3", "key 'calibration.data'", "pickle", "numeric arrays only"]


@case
def data_csv_refused(tmp):
    args = _calibration(tmp, "c.csv", lambda p: p.write_text("1.0,2.0,3.0\n4.0,5.0,6.0\n"))
    return args, ["q.yaml:3", "key 'calibration.data'", "c.csv", "CSV or text", "numpy.savez"]


@case
def data_labels_of_another_count(tmp):
    args = _calibration(tmp, "c.npz", lambda p: np.savez(p, x=np.zeros((4, 8), np.float32), y=np.arange(3)))
    return args, ["q.yaml:3", "key 'calibration.data'", "3 labels ('y') for 4 samples"]


def test_labels_in_the_forms_data_sets_hold(tmp_path):
    """Class indices (N,) or (N, 1), whole floats and one-hot rows are labels; a regression target
    (fractional floats) or a matrix that is no one-hot is none (no accuracy, and no error)."""
    from qnnc.config import DataRef
    from qnnc.frontend.data import load_samples

    x, want = np.zeros((4, 8), np.float32), np.array([2, 0, 1, 2])
    for y, expected in [(want, want), (want[:, None], want), (want.astype(np.float32), want),
                        (np.eye(3, dtype=np.int64)[want], want), (np.eye(3, dtype=np.float32)[want], want),
                        (want + 0.5, None), (np.ones((4, 3)), None)]:
        np.savez(tmp_path / "d.npz", x=x, y=y)
        _, got = load_samples(DataRef(str(tmp_path / "d.npz")), "x", [1, 8], None)
        assert (got is None and expected is None) or np.array_equal(got, expected), (y, got)


@case
def data_corrupt_npz(tmp):
    args = _calibration(tmp, "c.npz", lambda p: p.write_bytes(b"PK\x03\x04" + b"\x17" * 200))
    return args, ["q.yaml:3", "key 'calibration.data'", "c.npz", ".npy/.npz"]


@case
def data_truncated_npy(tmp):
    def write(p):
        np.save(p, np.zeros((50, 8), np.float32))
        p.write_bytes(p.read_bytes()[:300])
    args = _calibration(tmp, "c.npy", write)
    return args, ["q.yaml:3", "key 'calibration.data'", "c.npy", ".npy/.npz"]


@case
def data_is_a_directory(tmp):
    args = _calibration(tmp, "c.npz", lambda p: p.mkdir())
    return args, ["q.yaml:3", "key 'calibration.data'", "c.npz", "not a file"]


@case
def data_test_data_wrong_shape(tmp):
    np.savez(tmp / "t.npz", x=np.zeros((3, 7), np.float32))
    args = _mlp_with_config(tmp, "name: mlp\ntest_data:\n  data: t.npz\n  count: 2\n")
    return args, ["q.yaml:3", "key 'test_data.data'", "[3, 7]", "(N, 8)"]


# --------------------------------------------------------------------------- command line --


@case
def cli_bad_name(tmp):
    save(tiny_mlp(), tmp / "m.onnx")
    return [tmp / "m.onnx", "--name", "my-model"], ["--name", "'my-model'", "C identifier"]


@case
def cli_model_is_directory(tmp):
    (tmp / "m.onnx").mkdir()
    return [tmp / "m.onnx"], ["m.onnx", "cannot read"]


# --------------------------------------------------------------------------- the tests --


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("qnnc: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> Dict[str, Tuple[subprocess.CompletedProcess, List[str], Path]]:
    """Run every selected case's CLI process up front, in parallel (each is mostly Python start-up)."""
    wanted = sorted({item.callspec.params["name"] for item in request.session.items
                     if getattr(item, "originalname", "") == "test_bad_input_gives_clean_error"})

    # getbasetemp() empties and creates the worker's base folder on its first call; making that
    # call here, before the threads, keeps two first calls from deleting each other's folders.
    tmp_path_factory.getbasetemp()

    def run(name: str):
        root = tmp_path_factory.mktemp(name)
        args, words = CASES[name](root)
        return name, (run_cli(["build", *args, "--output", root / "out" / "gen", "--quiet"]), words, root)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(run, wanted))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_clean_error(name, outcomes):
    """Exit code 2, one paragraph with the expected words, no traceback, no output folder."""
    r, words, root = outcomes[name]
    print(f"{name}: exit {r.returncode}: {r.stderr.strip()}")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    line = _error_line(r.stderr)
    assert "\n\n" not in r.stderr.strip()
    missing = [w for w in words if w.lower() not in line.lower()]
    assert not missing, f"missing {missing} in: {line}"
    assert not (root / "out").exists()
    assert not [p for p in root.rglob(".qnnc-*")]


def test_existing_output_untouched_on_error(tmp_path):
    """A failing rebuild leaves an existing output folder exactly as it was."""
    save(tiny_mlp(), tmp_path / "m.onnx")
    out = tmp_path / "gen"
    assert run_cli(["build", tmp_path / "m.onnx", "-o", out, "-q"]).returncode == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07garbage")
    r = run_cli(["build", tmp_path / "m.onnx", "-o", out, "-q"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before


def test_output_path_is_a_file(tmp_path):
    """--output naming an existing file is a clean error, and the file is kept."""
    save(tiny_mlp(), tmp_path / "m.onnx")
    (tmp_path / "out").write_text("keep me")
    r = run_cli(["build", tmp_path / "m.onnx", "-o", tmp_path / "out", "-q"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = _error_line(r.stderr)
    assert "out" in line and "not a folder" in line
    assert (tmp_path / "out").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".qnnc-")]


def test_inspect_and_deps_give_clean_errors(tmp_path):
    """The other subcommands report bad input the same way."""
    (tmp_path / "m.onnx").write_bytes(b"\x01\x02\x03")
    (tmp_path / "q.yaml").write_text("calibration:\n  dta: x\n")
    for args in (["inspect", tmp_path / "m.onnx"], ["deps", tmp_path / "m.onnx", "-c", tmp_path / "q.yaml"],
                 ["validate", tmp_path / "m.onnx", "--data", tmp_path / "none.npz"]):
        r = run_cli(args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        _error_line(r.stderr)



def test_edge_inputs_that_are_valid_still_build(tmp_path):
    """The checks do not over-reject: an infinite Pad value, a Transpose without perm (reversing
    the dims) and a file name that is no C identifier build."""
    nodes = [helper.make_node("Pad", ["x", "p", "v"], ["a"], name="pad"),
             helper.make_node("MaxPool", ["a"], ["b"], name="mp", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Transpose", ["b"], ["y"], name="tr")]
    m = model(nodes, [vi("x", [1, 2, 4, 4])], [vi("y", [3, 3, 2, 1])],
              [tensor("p", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), tensor("v", np.array(-np.inf, np.float32))])
    save(m, tmp_path / "2nd model-v1.onnx")
    r = run_cli(["build", tmp_path / "2nd model-v1.onnx", "-o", tmp_path / "gen", "-q"])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "gen" / "m_2nd_model_v1.h").is_file()


def test_float_overflow_during_calibration_is_a_clean_error(tmp_path):
    """Finite but huge weights make the float model produce Inf/NaN on the calibration data."""
    m = tiny_mlp()
    m.graph.initializer[0].CopyFrom(tensor("w1", np.full((6, 8), 3e38, np.float32)))
    save(m, tmp_path / "m.onnx")
    r = run_cli(["build", tmp_path / "m.onnx", "-o", tmp_path / "gen", "-q"])
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "gen").exists()


# ------------------------------------------------- BatchNormalization / constant outputs --


def _bn_model(scale_len: int = 3, var=None):
    """tiny_cnn with a BatchNormalization 'bn' after its Conv (3 channels)."""
    m = tiny_cnn()
    var = np.ones(3, np.float32) if var is None else np.asarray(var, np.float32)
    m.graph.node.insert(1, helper.make_node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["cb"], name="bn"))
    m.graph.node[2].input[0] = "cb"
    m.graph.initializer.extend([tensor("s", np.ones(scale_len, np.float32)), tensor("bb", np.zeros(3, np.float32)),
                                tensor("mu", np.zeros(3, np.float32)), tensor("var", var)])
    return m


def _all_commands_refuse(tmp: Path, words: List[str]) -> None:
    """build, inspect and validate: exit 2, one clear paragraph with ``words``, no warning or traceback."""
    np.savez(tmp / "d.npz", x=np.random.default_rng(0).standard_normal((4, 1, 6, 6)).astype(np.float32))
    runs = {"build": run_cli(["build", tmp / "m.onnx", "-o", tmp / "gen", "-q"]),
            "inspect": run_cli(["inspect", tmp / "m.onnx"]),
            "validate": run_cli(["validate", tmp / "m.onnx", "--data", tmp / "d.npz", "--quiet"])}
    for cmd, r in runs.items():
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        out = r.stderr + r.stdout
        assert "Traceback" not in out and "Warning" not in out and "internal error" not in out, (cmd, out)
        # inspect prints its verdict ("compiles: NO - ...") unless the model does not even import
        text = r.stdout.strip().splitlines()[-1] if cmd == "inspect" and r.stdout.strip() else _error_line(r.stderr)
        missing = [w for w in words if w not in text]
        assert not missing, (cmd, missing, text)
    assert not (tmp / "gen").exists()


def test_batchnorm_parameter_of_wrong_length_is_a_model_error(tmp_path):
    save(_bn_model(scale_len=5), tmp_path / "m.onnx")
    _all_commands_refuse(tmp_path, ["node 'bn'", "BatchNormalization", "scale 's'", "[5]", "expected [3]"])


def test_batchnorm_negative_variance_is_a_model_error(tmp_path):
    save(_bn_model(var=[1.0, -2.0, 1.0]), tmp_path / "m.onnx")
    _all_commands_refuse(tmp_path, ["node 'bn'", "BatchNormalization", "input_var 'var'", "-2.0", "channel 1"])


def test_output_fed_only_by_constants_is_a_model_error(tmp_path):
    """A graph output computed from constants only: refused (clearly) by build, inspect and validate."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Add", ["a", "b"], ["y"], name="const_add")]
    ones = np.ones((1, 4), np.float32)
    save(model(nodes, [vi("x", [1, 1, 6, 6])], [vi("y", [1, 4])], [tensor("a", ones), tensor("b", ones)]),
         tmp_path / "m.onnx")
    _all_commands_refuse(tmp_path, ["node 'const_add'", "graph output 'y'", "does not depend on the input 'x'"])


def test_output_of_the_input_shape_only_is_a_model_error(tmp_path):
    """Shape(x) as a second output: the shape is static once compiled, so it is refused like a
    constant output (it crashed in the lowering once the folding made it a constant)."""
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu"), helper.make_node("Shape", ["x"], ["s"], name="shape")]
    save(model(nodes, [vi("x", [1, 10])], [vi("y", [1, 10]), vi("s", [2], TensorProto.INT64)]), tmp_path / "m.onnx")
    _all_commands_refuse(tmp_path, ["node 'shape'", "graph output 's'", "does not depend on the input 'x'",
                                    "input's shape"])


# --------------------------------------------------------------------------- closed stdout, config locations --


@pytest.mark.parametrize("json_flag", [True, False], ids=["json", "table"])
def test_closed_stdout_ends_quietly(tmp_path, json_flag):
    """`qnnc inspect [--json] | head -1`: the reader has gone; qnnc stops without an internal error
    (exit 3) or a traceback, like Unix tools that SIGPIPE ends (exit 141)."""
    import sys
    save(tiny_cnn(), tmp_path / "m.onnx")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader exited before qnnc wrote anything
    try:
        r = subprocess.run([sys.executable, "-m", "qnnc", "inspect", str(tmp_path / "m.onnx")]
                           + (["--json"] if json_flag else []), stdout=write_end, stderr=subprocess.PIPE,
                           text=True, timeout=300)
    finally:
        os.close(write_end)
    assert r.returncode == 141, r.stderr
    assert r.stderr == "", r.stderr
    # ... and through a real pipeline into head -1
    cmd = f"'{sys.executable}' -m qnnc inspect '{tmp_path / 'm.onnx'}' {'--json' if json_flag else ''} | head -1"
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() and "internal error" not in r.stderr, r.stderr


def test_patch_layers_beyond_the_chain_names_config_file_key_and_line(tmp_path):
    """`execution.patch_layers: 100` on a model whose patchable chain is shorter: the config file,
    key and line, like every other config error."""
    save(tiny_cnn(), tmp_path / "m.onnx")
    (tmp_path / "q.yaml").write_text("name: net\n\nexecution:\n  input_in_arena: true\n  patch_layers: 100\n")
    r = run_cli(["build", tmp_path / "m.onnx", "-c", tmp_path / "q.yaml", "-o", tmp_path / "out", "-q"])
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    line = _error_line(r.stderr)
    assert "q.yaml:5" in line and "execution.patch_layers" in line and "100" in line, line
    assert not (tmp_path / "out").exists()


def test_report_html_into_a_missing_folder_is_a_user_error(tmp_path):
    save(tiny_cnn(), tmp_path / "m.onnx")
    r = run_cli(["report", tmp_path / "m.onnx", "--html", tmp_path / "no" / "such" / "r.html"])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "r.html" in _error_line(r.stderr) and "--html" in r.stderr
