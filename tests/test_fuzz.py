"""Fuzzing the front door: mutated ONNX bytes, mutated model structure and random YAML.

Every generated input goes through ``qnnc build`` in-process (``qnnc.cli.main``) and the only
acceptable outcomes are success (exit 0, output written) or a clean user error (exit 2, one
``qnnc: error:`` paragraph, no traceback, no output folder). An internal error (exit 3) or an
exception escaping ``main`` fails the test with the input that caused it.

The default tier is derandomized and bounded (a few hundred cases, well under a minute); the
``slow`` tier explores with fresh random seeds in rounds of 40 cases until its time budget is spent
(``QNNC_FUZZ_SECONDS``, default 30 s per test), which bounds the CI run.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import onnx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from onnx_factory import model, tensor, tiny_cnn, tiny_mlp, vi
from qnnc.cli import main

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=40, deadline=None, database=None,  # per round; rounds until the time budget
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW_SECONDS = float(os.environ.get("QNNC_FUZZ_SECONDS", "20"))  # per slow-tier test: bounds the CI run

SEEDS = {"mlp": tiny_mlp().SerializeToString(), "cnn": tiny_cnn().SerializeToString()}
STATS: Dict[str, Counter] = {}


# --------------------------------------------------------------------------- harness --


def run_build(model_bytes: bytes, yaml_text: Optional[str] = None, kind: str = "") -> None:
    """Build ``model_bytes`` (with an optional config) in a fresh folder and check the outcome."""
    with tempfile.TemporaryDirectory(prefix="qnnc-fuzz-") as tmp:
        root = Path(tmp)
        (root / "m.onnx").write_bytes(model_bytes)
        args = ["build", str(root / "m.onnx"), "-o", str(root / "out"), "-q"]
        if yaml_text is not None:
            _data_files(root)
            (root / "q.yaml").write_text(yaml_text, encoding="utf-8")
            args += ["--config", str(root / "q.yaml")]
        rc, err = _call(args)
        STATS.setdefault(kind, Counter())[rc] += 1
        check_outcome(rc, err, root / "out", repr(yaml_text) if yaml_text is not None else "")


def _call(args: List[str]):
    """``qnnc.cli.main(args)`` with stdout/stderr captured; returns (exit code, stderr)."""
    err = io.StringIO()
    env_debug = os.environ.pop("QNNC_DEBUG", None)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(args)
    finally:
        if env_debug is not None:
            os.environ["QNNC_DEBUG"] = env_debug
    return rc, err.getvalue()


def check_outcome(rc: int, err: str, out: Path, context: str = "") -> None:
    """Exit 0 with the output written, or exit 2 with one clean error and no output."""
    assert rc in (0, 2), f"exit {rc}: {err}\ninput: {context}"
    assert "Traceback" not in err, err
    if rc == 2:
        errors = [line for line in err.splitlines() if line.startswith("qnnc: error: ")]
        assert len(errors) == 1, err
        assert not out.exists(), "a failed build left an output folder"
    else:
        assert out.is_dir() and any(p.suffix == ".h" for p in out.iterdir())
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".qnnc-")], "temporary folder left behind"


def _data_files(root: Path) -> None:
    """Calibration files the YAML cases may name: good, wrong shape, pickled, corrupt."""
    rng = np.random.default_rng(0)
    np.savez(root / "cal.npz", x=rng.standard_normal((8, 8)).astype(np.float32))
    np.save(root / "cal.npy", rng.standard_normal((4, 8)).astype(np.float32))
    np.savez(root / "wrong.npz", x=np.zeros((3, 5), np.float32))
    np.save(root / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (root / "corrupt.npz").write_bytes(b"PK\x03\x04not a zip")


def _report(kind: str, started: float) -> None:
    counts = STATS.get(kind, Counter())
    print(f"\nfuzz {kind}: {sum(counts.values())} cases in {time.time() - started:.1f} s, exit codes "
          f"{dict(sorted(counts.items()))}")


# --------------------------------------------------------------------------- byte mutations --


@st.composite
def mutated_bytes(draw) -> bytes:
    """A seed model with 1-8 random byte-level edits (flip, set, insert, delete, duplicate, truncate)."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "dup", "truncate"]))
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))]))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif kind == "dup":
            n = draw(st.integers(1, 32))
            data[pos:pos] = data[pos:pos + n]
        else:
            del data[pos:]
    return bytes(data)


# --------------------------------------------------------------------------- structure --

OPS = ["Conv", "Gemm", "MatMul", "Add", "Mul", "Sub", "Div", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh",
       "Softmax", "MaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
       "Transpose", "Concat", "Pad", "BatchNormalization", "Identity", "Dropout", "Erf", "LSTM", "Resize",
       "TopK", "Gather", "Slice", "ConstantOfShape", "Expand", "Shape", "Cast", "NotAnOp"]
ATTR_NAMES = ["axis", "axes", "kernel_shape", "strides", "pads", "dilations", "group", "alpha", "beta", "perm",
              "transA", "transB", "auto_pad", "epsilon", "ceil_mode", "count_include_pad", "min", "max",
              "mode", "to", "value", "keepdims", "bogus"]
DTYPES = [TensorProto.FLOAT] * 6 + [TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT32, TensorProto.INT64,
                                    TensorProto.INT8, TensorProto.BOOL, TensorProto.UINT8]


def _dim():
    return st.one_of(st.integers(1, 6), st.integers(-2, 0), st.sampled_from([1 << 20, 1 << 40, 7919]),
                     st.sampled_from(["N", "batch", ""]))


def _attr_value():
    small = st.integers(-3, 8)
    return st.one_of(small, st.floats(allow_nan=True, allow_infinity=True, width=32),
                     st.lists(small, min_size=0, max_size=6), st.sampled_from(["SAME_UPPER", "VALID", "x", ""]),
                     st.lists(st.floats(-4, 4, width=32), min_size=1, max_size=3))


@st.composite
def const_tensor(draw, name: str) -> onnx.TensorProto:
    """A random initializer: mostly small float arrays, sometimes ints, NaN/Inf, empty or odd shapes."""
    shape = draw(st.lists(st.integers(1, 5) if draw(st.integers(0, 9)) else st.integers(0, 5), max_size=4))
    kind = draw(st.sampled_from(["float"] * 5 + ["nan", "int64", "int32"]))
    n = int(np.prod(shape)) if shape else 1
    rng = np.random.default_rng(draw(st.integers(0, 1 << 16)))
    if kind == "float":
        arr = rng.standard_normal(n).astype(np.float32)
    elif kind == "nan":
        arr = np.full(n, draw(st.sampled_from([np.nan, np.inf, -np.inf])), np.float32)
    else:
        arr = rng.integers(-3, 6, n).astype(np.int64 if kind == "int64" else np.int32)
    return tensor(name, arr.reshape(shape))


@st.composite
def structured_model(draw) -> bytes:
    """A chain of 1-3 random nodes (op, attributes, constant inputs) on a random input, via onnx.helper."""
    if draw(st.booleans()):  # plausible: [1, C, H, W] or [1, F]
        in_shape = [1] + draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    else:
        rank = draw(st.integers(0, 5))
        in_shape = draw(st.lists(_dim(), min_size=rank, max_size=rank))
    nodes, inits, prev = [], [], "x"
    for i in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(OPS))
        inputs = [prev]
        for j in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
            cname = f"c{i}_{j}"
            inits.append(draw(const_tensor(cname)))
            inputs.append(cname)
        names = draw(st.lists(st.sampled_from(ATTR_NAMES), max_size=draw(st.sampled_from([0, 0, 1, 3])),
                              unique=True))
        attrs = {a: draw(_attr_value()) for a in names}
        try:
            node = helper.make_node(op, inputs, [f"t{i}"], name=f"n{i}", **attrs)
        except (ValueError, TypeError):
            node = helper.make_node(op, inputs, [f"t{i}"], name=f"n{i}")
        nodes.append(node)
        prev = f"t{i}"
    nodes[-1].output[0] = "y"
    out_shape = draw(st.one_of(st.none(), st.none(), st.just(in_shape), st.lists(_dim(), max_size=4)))
    opset = draw(st.sampled_from([13] * 6 + [7, 11, 12, 17, 21, 22, 99]))
    dtype = draw(st.sampled_from(DTYPES))
    m = model(nodes, [vi("x", in_shape, dtype)], [vi("y", out_shape, dtype)], inits, opset=opset)
    return m.SerializeToString()


def _shape_after(nodes, inits, in_shape, opset: int):
    """Static shape of the last node's output by ONNX shape inference, or None if it has none."""
    out = nodes[-1].output[0]
    m = model(nodes, [vi("x", in_shape)], [vi(out, None)], inits, opset=opset)
    try:
        m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    except Exception:
        return None
    for v in list(m.graph.output) + list(m.graph.value_info):
        if v.name == out and v.type.tensor_type.HasField("shape"):
            dims = v.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
                return [d.dim_value for d in dims]
    return None


def _const(name: str, shape, draw, scale: float = 0.5) -> onnx.TensorProto:
    rng = np.random.default_rng(draw(st.integers(0, 1 << 16)))
    return tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))


@st.composite
def plausible_node(draw, shape: List[int], i: int, inits: list):
    """One node that mostly fits ``shape`` (supported ops, attributes in or near their valid range)."""
    rank, x, y = len(shape), f"t{i - 1}" if i else "x", f"t{i}"
    small = st.integers(0, 3)
    op = draw(st.sampled_from(["Conv", "Gemm", "MatMul", "Add", "Mul", "Sub", "Div", "Relu", "Clip", "LeakyRelu",
                               "Sigmoid", "Tanh", "Softmax", "MaxPool", "AveragePool", "GlobalAveragePool",
                               "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Pad",
                               "BatchNormalization", "Identity"]))
    attrs, ins = {}, [x]

    def const(shp, scale=0.5):
        name = f"k{i}_{len(ins)}"
        inits.append(_const(name, shp, draw, scale))
        ins.append(name)

    def ints(name, values):
        inits.append(tensor(f"k{i}_{len(ins)}", np.array(values, np.int64)))
        ins.append(f"k{i}_{len(ins)}")

    if op == "Conv" and rank == 4:
        c = shape[1]
        group = draw(st.sampled_from([1, 1, c, 2]))
        k = draw(st.integers(1, 3))
        m_out = c * draw(st.integers(1, 2)) if group == c else draw(st.integers(1, 4)) * max(group, 1)
        const([m_out, max(c // max(group, 1), 1), k, k])
        if draw(st.booleans()):
            const([m_out], 0.1)
        attrs = dict(kernel_shape=[k, k], strides=[draw(st.integers(1, 2))] * 2, group=group,
                     pads=draw(st.lists(small, min_size=4, max_size=4)), dilations=[draw(st.integers(1, 2))] * 2)
        if draw(st.integers(0, 4)) == 0:
            attrs = {"auto_pad": draw(st.sampled_from(["SAME_UPPER", "SAME_LOWER", "VALID"])),
                     "strides": attrs["strides"]}
    elif op == "Gemm" and rank == 2:
        n, trans = draw(st.integers(1, 5)), draw(st.integers(0, 1))
        const([n, shape[1]] if trans else [shape[1], n])
        if draw(st.booleans()):
            const(draw(st.sampled_from([[n], [1, n], [1]])), 0.1)
        attrs = dict(transB=trans, alpha=draw(st.sampled_from([1.0, 0.5])), beta=draw(st.sampled_from([1.0, 2.0])))
    elif op == "MatMul" and rank >= 2:
        const([shape[-1], draw(st.integers(1, 5))])
    elif op in ("Add", "Mul", "Sub", "Div"):
        how = draw(st.sampled_from(["self", "const", "scalar", "bcast"]))
        if how == "self":
            ins.append(x)
        elif how == "scalar":
            const([], 2.0)
        else:
            shp = list(shape) if how == "const" else [1] * (rank - 1) + shape[-1:]
            const(shp, 2.0)
        if op == "Div" and how != "self":
            inits[-1].CopyFrom(tensor(inits[-1].name, np.abs(numpy_helper_to(inits[-1])) + 0.5))
    elif op == "Clip":
        lo, hi = sorted(draw(st.lists(st.floats(-6, 6, width=32), min_size=2, max_size=2)))
        inits.append(tensor(f"k{i}_lo", np.array(lo, np.float32)))
        inits.append(tensor(f"k{i}_hi", np.array(hi, np.float32)))
        ins += draw(st.sampled_from([[f"k{i}_lo", f"k{i}_hi"], ["", f"k{i}_hi"], [f"k{i}_lo"]]))
    elif op == "LeakyRelu":
        attrs = dict(alpha=draw(st.floats(0, 1, width=32)))
    elif op == "Softmax":
        attrs = dict(axis=draw(st.integers(-rank, rank - 1)))
    elif op in ("MaxPool", "AveragePool") and rank == 4:
        k = draw(st.integers(1, 3))
        attrs = dict(kernel_shape=[k, k], strides=[draw(st.integers(1, 3))] * 2,
                     pads=[min(p, k - 1) for p in draw(st.lists(small, min_size=4, max_size=4))],
                     ceil_mode=draw(st.integers(0, 1)))
        if op == "AveragePool":
            attrs["count_include_pad"] = draw(st.integers(0, 1))
    elif op == "Reshape":
        total = int(np.prod(shape))
        target = draw(st.sampled_from([[1, total], [1, -1], [total], [1, 1, total], [0, -1]]))
        ints(f"k{i}", target)
    elif op == "Flatten":
        attrs = dict(axis=draw(st.integers(0, rank)))
    elif op == "Squeeze":
        ones = [a for a, d in enumerate(shape) if d == 1]
        ints(f"k{i}", draw(st.lists(st.sampled_from(ones), max_size=1, unique=True)) if ones else [0])
    elif op == "Unsqueeze":
        ints(f"k{i}", [draw(st.integers(0, rank))])
    elif op == "Transpose":
        perm = draw(st.permutations(list(range(rank))))
        attrs = dict(perm=list(perm)) if draw(st.integers(0, 3)) else {}
    elif op == "Concat":
        ins.append(x if draw(st.booleans()) else None)
        if ins[-1] is None:
            ins.pop()
            const(list(shape))
        attrs = dict(axis=draw(st.integers(-rank, rank - 1)))
    elif op == "Pad":
        ints(f"k{i}", draw(st.lists(st.integers(0, 2), min_size=2 * rank, max_size=2 * rank)))
        attrs = dict(mode=draw(st.sampled_from(["constant", "constant", "reflect", "edge"])))
    elif op == "BatchNormalization" and rank >= 2:
        for scale in (1.0, 0.5, 0.5):
            const([shape[1]], scale)
        inits.append(tensor(f"k{i}_var", np.abs(numpy_helper_to(inits[-1])) + 0.1))
        ins.append(f"k{i}_var")
    elif op == "GlobalAveragePool" and rank == 4:
        pass
    elif op in ("Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "BatchNormalization", "GlobalAveragePool"):
        op = "Relu"
    return helper.make_node(op, ins, [y], name=f"n{i}_{op.lower()}", **attrs)


def numpy_helper_to(t: onnx.TensorProto) -> np.ndarray:
    return onnx.numpy_helper.to_array(t)


@st.composite
def plausible_model(draw) -> bytes:
    """A chain of 1-4 mostly valid nodes of the supported ops, each fitted to the previous shape."""
    shape = draw(st.sampled_from([[1, draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6))],
                                  [1, draw(st.integers(1, 8))], [1, draw(st.integers(1, 3)), draw(st.integers(1, 5))]]))
    in_shape, nodes, inits = list(shape), [], []
    for i in range(draw(st.integers(1, 4))):
        node = draw(plausible_node(shape, i, inits))
        nxt = _shape_after(nodes + [node], inits, in_shape, 13)
        if nxt is None or not nxt:
            if nodes:
                break
            nodes.append(node)
            break
        nodes.append(node)
        shape = nxt
    used = {n for node in nodes for n in node.input}
    inits = [t for t in inits if t.name in used]
    out_shape = _shape_after(nodes, inits, in_shape, 13)
    nodes[-1].output[0] = "y"
    m = model(nodes, [vi("x", in_shape)], [vi("y", out_shape or [])], inits, opset=13)
    return m.SerializeToString()


@st.composite
def edited_seed(draw) -> bytes:
    """A valid seed model with 1-3 structure-aware edits: attributes, dims, op types, wiring, weights."""
    m = onnx.load_from_string(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    g = m.graph
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["attr", "op", "input", "dims", "weights", "drop", "dup", "swap", "opset"]))
        node = g.node[draw(st.integers(0, len(g.node) - 1))]
        if edit == "attr":
            name = draw(st.sampled_from(ATTR_NAMES))
            value = draw(_attr_value())
            kept = [a for a in node.attribute if a.name != name]
            del node.attribute[:]
            node.attribute.extend(kept)
            try:
                node.attribute.append(helper.make_attribute(name, value))
            except (ValueError, TypeError):
                pass
        elif edit == "op":
            node.op_type = draw(st.sampled_from(OPS))
        elif edit == "input" and node.input:
            k = draw(st.integers(0, len(node.input) - 1))
            node.input[k] = draw(st.sampled_from(["x", "w", "b", "fw", "y", "c", "ghost", ""]))
        elif edit == "dims":
            t = draw(st.sampled_from(list(g.input) + list(g.output)))
            t.type.tensor_type.shape.dim[draw(st.integers(0, len(t.type.tensor_type.shape.dim) - 1))] \
                .dim_value = draw(st.integers(-1, 9))
        elif edit == "weights" and g.initializer:
            k = draw(st.integers(0, len(g.initializer) - 1))
            g.initializer[k].CopyFrom(draw(const_tensor(g.initializer[k].name)))
        elif edit == "drop" and len(g.node) > 1:
            g.node.remove(node)
        elif edit == "dup":
            g.node.append(node)
        elif edit == "swap" and len(g.node) > 1:
            nodes = list(g.node)
            a, b = draw(st.integers(0, len(nodes) - 1)), draw(st.integers(0, len(nodes) - 1))
            nodes[a], nodes[b] = nodes[b], nodes[a]
            del g.node[:]
            g.node.extend(nodes)
        elif edit == "opset":
            m.opset_import[0].version = draw(st.sampled_from([9, 11, 13, 17, 21, 22]))
    return m.SerializeToString()


# --------------------------------------------------------------------------- YAML --

KEYS = {"": ["name", "layout", "input_shape", "calibration", "quantization", "test_data", "ram_budget",
             "flash_budget", "bogus"],
        "calibration": ["data", "key", "method", "percentile", "max_samples", "moving_average", "nope"],
        "quantization": ["weights", "equalization", "bias_correction", "nope"],
        "test_data": ["data", "key", "count"]}
FILES = ["cal.npz", "cal.npy", "wrong.npz", "pickled.npy", "corrupt.npz", "missing.npz", ".", "../cal.npz", ""]


def _scalar():
    return st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.sampled_from([10**30, -1, 0]),
                     st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
                         ["minmax", "percentile", "mse", "kl", "per_channel", "per_tensor", "model", "nhwc", "m",
                          "x", "my model", "20 KiB", "1 MiB", "qnnc", "__x"] + FILES),
                     st.text(max_size=8))


def _value(section: str):
    if section in KEYS:
        return st.one_of(_scalar(), st.dictionaries(st.sampled_from(KEYS[section]), _scalar(), max_size=4))
    if section == "input_shape":
        return st.one_of(_scalar(), st.dictionaries(st.sampled_from(["x", "y", "input"]),
                                                     st.lists(st.one_of(st.integers(-1, 9), _scalar()),
                                                              max_size=4), max_size=2))
    return _scalar()


@st.composite
def config_text(draw) -> str:
    """A config from the schema's own keys (and wrong ones) with values of any type, as YAML text."""
    doc = {}
    for key in draw(st.lists(st.sampled_from(KEYS[""]), max_size=5, unique=True)):
        doc[key] = draw(_value(key))
    return yaml.safe_dump(doc, sort_keys=False)


VALID_CONFIG = {"name": "fuzz", "layout": "model", "input_shape": {"x": [1, 8]},
                "calibration": {"data": "cal.npz", "key": "x", "method": "percentile", "percentile": 99.9,
                                "max_samples": 4},
                "quantization": {"weights": "per_tensor"}, "test_data": {"data": "cal.npy", "count": 2}}


@st.composite
def edited_config(draw) -> str:
    """The valid config with one or two values replaced by random scalars, or keys dropped."""
    doc = {k: dict(v) if isinstance(v, dict) else v for k, v in VALID_CONFIG.items()}
    for _ in range(draw(st.integers(1, 2))):
        key = draw(st.sampled_from(sorted(doc)))
        target, sub = (doc, key)
        if isinstance(doc[key], dict) and doc[key] and draw(st.booleans()):
            target, sub = doc[key], draw(st.sampled_from(sorted(doc[key])))
        if draw(st.integers(0, 3)) == 0:
            del target[sub]
        else:
            target[sub] = draw(_value(sub))
    return yaml.safe_dump(doc, sort_keys=False)


VALID_YAML = ("name: fuzz\nlayout: model\ninput_shape:\n  x: [1, 8]\ncalibration:\n  data: cal.npz\n"
              "  key: x\n  method: percentile\n  percentile: 99.9\n  max_samples: 4\nquantization:\n"
              "  weights: per_tensor\ntest_data:\n  data: cal.npy\n  count: 2\n")
YAML_CHARS = ":-[]{}&*!|>'\"#%@`,?\t\n 0123456789abcxyz.~\\"


@st.composite
def mutated_yaml(draw) -> str:
    """The valid config with 1-6 character-level edits from YAML's special characters."""
    text = list(VALID_YAML)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "comment"]))
        if kind == "comment":  # harmless: a trailing comment or blank line must not break anything
            text.insert(text.index("\n", pos) if "\n" in text[pos:] else len(text), draw(
                st.sampled_from([" # note", "\n", "\n# comment"])))
            continue
        ch = draw(st.sampled_from(YAML_CHARS))
        if kind == "insert":
            text.insert(pos, ch)
        elif text and pos < len(text):
            if kind == "delete":
                del text[pos]
            else:
                text[pos] = ch
    return "".join(text)


# --------------------------------------------------------------------------- tests --


def _fuzz(kind: str, strategy, cfg, with_config: bool = False, budget: Optional[float] = None):
    """Build a hypothesis test that runs every example of ``strategy`` through :func:`run_build`
    (with ``budget``: rounds of fresh random examples until that many seconds are spent)."""
    if with_config:
        @cfg
        @given(strategy)
        def inner(text):
            run_build(SEEDS["mlp"], text, kind)
    else:
        @cfg
        @given(strategy)
        def inner(data):
            run_build(data, None, kind)

    def test():
        started = time.time()
        try:
            inner()
            while budget is not None and time.time() - started < budget:
                inner()
        finally:
            _report(kind, started)
        assert sum(STATS.get(kind, Counter()).values()) > 0, "no example was built"
    return test


test_fuzz_onnx_bytes = _fuzz("onnx-bytes", mutated_bytes(), FAST)
test_fuzz_onnx_structure = _fuzz("onnx-structure", structured_model(), FAST)
test_fuzz_onnx_edits = _fuzz("onnx-edits", edited_seed(), FAST)
test_fuzz_onnx_plausible = _fuzz("onnx-plausible", plausible_model(), FAST)
test_fuzz_yaml_schema = _fuzz("yaml-schema", config_text(), FAST, with_config=True)
test_fuzz_yaml_text = _fuzz("yaml-text", mutated_yaml(), FAST, with_config=True)
test_fuzz_yaml_edits = _fuzz("yaml-edits", edited_config(), FAST, with_config=True)

test_fuzz_onnx_bytes_long = pytest.mark.slow(_fuzz("onnx-bytes-long", mutated_bytes(), SLOW, budget=SLOW_SECONDS))
test_fuzz_onnx_structure_long = pytest.mark.slow(_fuzz("onnx-structure-long", structured_model(), SLOW,
                                                       budget=SLOW_SECONDS))
test_fuzz_onnx_edits_long = pytest.mark.slow(_fuzz("onnx-edits-long", edited_seed(), SLOW, budget=SLOW_SECONDS))
test_fuzz_onnx_plausible_long = pytest.mark.slow(_fuzz("onnx-plausible-long", plausible_model(), SLOW,
                                                       budget=SLOW_SECONDS))
test_fuzz_yaml_schema_long = pytest.mark.slow(_fuzz("yaml-schema-long", config_text(), SLOW, with_config=True,
                                                    budget=SLOW_SECONDS))
test_fuzz_yaml_text_long = pytest.mark.slow(_fuzz("yaml-text-long", mutated_yaml(), SLOW, with_config=True,
                                                  budget=SLOW_SECONDS))
test_fuzz_yaml_edits_long = pytest.mark.slow(_fuzz("yaml-edits-long", edited_config(), SLOW, with_config=True,
                                                   budget=SLOW_SECONDS))


def test_seeds_build():
    """The unmutated seeds build (so the fuzzers start from valid inputs) with the valid config."""
    for name, data in SEEDS.items():
        run_build(data, None, "seed")
    run_build(SEEDS["mlp"], VALID_YAML, "seed")
    assert STATS["seed"] == Counter({0: 3})
