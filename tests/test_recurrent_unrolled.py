"""LSTM / GRU nodes with features the fused kernels lack, unrolled into supported ops
(frontend/decompose_recurrent.py): a streaming state (initial_h / initial_c graph inputs, Y_h /
Y_c graph outputs), Keras' HardSigmoid recurrent activation, other activations with their
alpha / beta, cell clipping, coupled input and forget gates, peepholes.

* The unrolled float graph equals onnxruntime's LSTM / GRU on the original model.
* Built with qnnc: no fused recurrent op left, the C bit-exact with the numpy reference under
  ASan/UBSan, every output within a stated SQNR of onnxruntime's float result.
* An exporter's zero initial state built from Shape(x) keeps the fused kernel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import test_ops_recurrent as TR
from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver_io
from qnnc.frontend.decompose import expand_composites
from qnnc.frontend.decompose_recurrent import data_dependent
from qnnc.reference.interpreter import api_input_arrays, dequantize_output, quantize_input, run_all

# name: (op, T, D, H, rnn_model keywords, outputs, SQNR floor dB of every output); measured with the
# default int16 steps: 33.8-36.2 dB (int8 steps: 24.5-32.4 dB)
CASES = {
    "lstm_streaming_state": ("LSTM", 12, 8, 10, dict(state_input=True), ("Y", "Y_h", "Y_c"), 30.0),
    "gru_streaming_state_lbr1": ("GRU", 12, 8, 10, dict(state_input=True, lbr=1), ("Y_h",), 30.0),
    "gru_streaming_state_lbr0_bidir": ("GRU", 10, 6, 8, dict(state_input=True, direction="bidirectional"),
                                       ("Y",), 30.0),
    "lstm_keras_hard_sigmoid": ("LSTM", 20, 8, 12, dict(extra_attrs={
        "activations": ["HardSigmoid", "Tanh", "Tanh"], "activation_alpha": [0.2], "activation_beta": [0.5]}),
        ("Y_h",), 30.0),
    "gru_keras_hard_sigmoid_lbr1": ("GRU", 20, 8, 12, dict(lbr=1, extra_attrs={
        "activations": ["HardSigmoid", "Tanh"], "activation_alpha": [0.2], "activation_beta": [0.5]}),
        ("Y",), 30.0),
    "lstm_peephole_clip": ("LSTM", 16, 6, 8, dict(peephole=0.4, extra_attrs={"clip": 1.5}), ("Y",), 30.0),
    "lstm_input_forget_bidir": ("LSTM", 10, 6, 8, dict(direction="bidirectional", extra_attrs={"input_forget": 1}),
                                ("Y_h", "Y_c"), 30.0),
}

# Float equivalence only: activations with alpha / beta consumed in order, as onnxruntime does.
FLOAT_ONLY = {
    "lstm_leaky_softsign": ("LSTM", 6, 5, 6, dict(extra_attrs={
        "activations": ["HardSigmoid", "LeakyRelu", "Softsign"], "activation_alpha": [0.3, 0.1],
        "activation_beta": [0.4]}), ("Y", "Y_h")),
    "gru_affine_scaledtanh_bidir": ("GRU", 5, 4, 5, dict(direction="bidirectional", extra_attrs={
        "activations": ["Sigmoid", "ScaledTanh", "Affine", "Tanh"], "activation_alpha": [0.9, 0.5],
        "activation_beta": [1.1, 0.2]}), ("Y", "Y_h")),
    "gru_relu_elu_clip": ("GRU", 6, 4, 5, dict(extra_attrs={"activations": ["Sigmoid", "Elu"],
                                                           "activation_alpha": [0.7], "clip": 1.2}), ("Y",)),
}


def _model(tmp_path: Path, case, table):
    op, T, D, H, kw, outputs = table[case][:6]
    return TR.rnn_model(tmp_path / f"{case}.onnx", op, T, D, H, outputs=outputs, **kw), T, D


def _feeds(model: onnx.ModelProto, n: int, seed: int):
    """n samples per graph input, (n, *shape) for every input (the state's dim 0 is directions)."""
    rng = np.random.default_rng(seed)
    return {i.name: (rng.standard_normal([n] + [d.dim_value for d in i.type.tensor_type.shape.dim])
                     * (0.5 if i.name != "x" else 1.0)).astype(np.float32) for i in model.graph.input}


def _data_form(feeds):
    """The data-file form: (N, *shape[1:]) for an input whose dim 0 is 1, else (N, *shape)."""
    return {k: (v[:, 0] if v.shape[1] == 1 else v) for k, v in feeds.items()}


def _ort(path: str, feeds) -> list:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    n = len(next(iter(feeds.values())))
    runs = [sess.run(None, {k: v[i] for k, v in feeds.items()}) for i in range(n)]
    return [np.stack([r[k] for r in runs]) for k in range(len(runs[0]))]


@pytest.mark.parametrize("case", sorted(CASES) + sorted(FLOAT_ONLY))
def test_unrolled_graph_equals_onnxruntime(case, tmp_path):
    path, _, _ = _model(tmp_path, case, {**CASES, **FLOAT_ONLY})
    model = onnx.load(str(path))
    expanded = expand_composites(model, 14, str(path))
    assert not any(n.op_type in ("LSTM", "GRU") for n in expanded.graph.node), "not unrolled"
    onnx.save(expanded, str(tmp_path / "unrolled.onnx"))
    feeds = _feeds(model, 3, 0)
    for k, (a, b) in enumerate(zip(_ort(str(path), feeds), _ort(str(tmp_path / "unrolled.onnx"), feeds))):
        assert a.shape == b.shape, (k, a.shape, b.shape)
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=f"output {k}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_unrolled_build_bit_exact_and_close_to_float(case, tmp_path):
    path, _, _ = _model(tmp_path, case, CASES)
    floor = CASES[case][6]
    model = onnx.load(str(path))
    cal, test = _feeds(model, 64, 1), _feeds(model, 8, 2)
    np.savez(tmp_path / "cal.npz", **_data_form(cal))
    (tmp_path / "q.yaml").write_text("name: rnn\ncalibration:\n  data: cal.npz\n")
    res = build(str(path), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "rnn", progress=False)
    qm = res.compiled.model
    assert not any(o.kind in ("lstm", "gru") for o in qm.ops), "expected the unrolled form"
    xs = _data_form(test)
    q_in = quantize_input(qm, xs) if qm.multi_io else quantize_input(qm, xs["x"])
    refs = [r.reshape(8, -1) for r in run_all(qm, q_in)]
    exe = compile_driver(str(tmp_path / "gen"), "rnn", str(tmp_path / "drv"), sanitize=True)
    arrays = api_input_arrays(qm, q_in)
    cs = run_driver_io(exe, [a.reshape(8, -1) for a in arrays], [t.size for t in qm.output_tensors])
    for k, (c, r) in enumerate(zip(cs, refs)):
        assert np.array_equal(c, r), f"output {k}: the C differs from the reference"
    floats = _ort(str(path), test)
    for k, (r, f) in enumerate(zip(refs, floats)):
        f = f.reshape(8, -1).astype(np.float64)
        deq = dequantize_output(qm, r, k).astype(np.float64)
        db = 10 * np.log10(np.mean(f ** 2) / max(np.mean((deq - f) ** 2), 1e-30))
        print(f"{case} output {k}: SQNR {db:.1f} dB vs onnxruntime")
        assert db >= floor, (case, k, db)


def test_a_zero_state_built_from_the_input_shape_keeps_the_fused_kernel(tmp_path):
    """PyTorch's export: h0 = Expand(0, Shape-derived dims) depends on the input's shape only."""
    path = TR.rnn_model(tmp_path / "t.onnx", "LSTM", 6, 4, 5, torch_style=True, outputs=("Y",))
    model = onnx.load(str(path))
    assert "h0" not in data_dependent(model)
    assert any(n.op_type == "LSTM" for n in expand_composites(model, 14, str(path)).graph.node)


def test_the_input_shape_alone_does_not_make_a_state_data_dependent():
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ConstantOfShape", ["s"], ["z"]),
             helper.make_node("Add", ["x", "z"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    dep = data_dependent(helper.make_model(g))
    assert "z" not in dep and "s" not in dep and "y" in dep


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_the_steps_share_one_range_and_one_copy_of_their_constants(op, tmp_path):
    """Each role's tensors take one range over all steps (Graph.tied_ranges), so every step's
    layers quantize alike and the C defines their weights once: doubling the sequence adds only
    the per-step concat offsets (4 bytes a step), and the constants stay within twice the fused
    kernel's (the unrolled form adds a table per gate activation)."""
    D, H = 8, 16
    sizes = {}
    for tag, T, kw in (("u15", 15, dict(state_input=True)), ("u30", 30, dict(state_input=True)),
                       ("fused", 30, dict(init="const"))):
        path = TR.rnn_model(tmp_path / f"{tag}.onnx", op, T, D, H, outputs=("Y_h",), **kw)
        model = onnx.load(str(path))
        np.savez(tmp_path / f"{tag}.npz", **_data_form(_feeds(model, 32, 3)))
        (tmp_path / f"{tag}.yaml").write_text(f"name: rnn\ncalibration:\n  data: {tag}.npz\n")
        res = build(str(path), load_config(str(tmp_path / f"{tag}.yaml")), str(tmp_path / tag), "rnn",
                    progress=False)
        sizes[tag] = res.report["weight_bytes"]
        if tag == "u30":
            g = res.compiled.graph
            assert g.tied_ranges and max(len(grp) for grp in g.tied_ranges) in (T - 1, T)
            qm = res.compiled.model
            step_h = [t for name, t in qm.tensors.items() if name.endswith("_h") and "_s" in name]
            assert len(step_h) >= T - 1 and len({(t.scale, t.zero_point) for t in step_h}) == 1
            text = (tmp_path / tag / "rnn_weights.c").read_text()
            assert text.count("int8_t rnn_") <= 2 * 4 + 4, "per-step copies of the weights"
    print(sizes)
    assert sizes["u30"] - sizes["u15"] <= 4 * 15, sizes
    assert sizes["u30"] <= 2 * sizes["fused"], sizes


def test_unrolled_steps_follow_the_recurrent_default(tmp_path):
    """The unrolled steps and what follows them take int16 activations like the fused kernels
    (recurrent_precision.py), the API stays int8; recurrent_activation_bits: 8 keeps them int8."""
    path = TR.rnn_model(tmp_path / "s.onnx", "GRU", 10, 6, 8, state_input=True, outputs=("Y_h",))
    model = onnx.load(str(path))
    np.savez(tmp_path / "cal.npz", **_data_form(_feeds(model, 32, 4)))
    bits = {}
    for tag, extra in (("default", ""), ("int8", "quantization:\n  recurrent_activation_bits: 8\n")):
        (tmp_path / f"{tag}.yaml").write_text("name: rnn\ncalibration:\n  data: cal.npz\n" + extra)
        res = build(str(path), load_config(str(tmp_path / f"{tag}.yaml")), str(tmp_path / tag), "rnn",
                    progress=False)
        qm = res.compiled.model
        bits[tag] = {t.bits for name, t in qm.tensors.items() if "_s5_" in name}
        assert all(qm.tensors[i].bits == 8 for i in qm.inputs) and all(t.bits == 8 for t in qm.output_tensors)
        if tag == "default":
            assert any("layers of unrolled LSTM/GRU steps" in n for n in qm.notes), qm.notes
    assert bits == {"default": {16}, "int8": {8}}, bits
