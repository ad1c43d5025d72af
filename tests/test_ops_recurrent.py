"""ONNX LSTM and GRU (quantize/rules_recurrent.py, reference/kernels_recurrent.py,
runtime/src/qnnc_{lstm,gru}_s8.c): small models built with onnx.helper in the forms PyTorch and
tf2onnx export (forward / reverse / bidirectional, GRU linear_before_reset 0 and 1, outputs Y / Y_h /
Y_c, zero or constant initial states, sequence lengths 1 to 49), generated C bit-exact with the numpy
reference under ASan/UBSan, and the reference close to float onnxruntime:

* output SQNR >= 25 dB on N(0, 1) inputs for every case (seq length 49 included), and
* mean |error| <= 2 output LSB.

The variants neither the kernels nor the unrolling take are refused with a ModelError naming node,
op and attribute.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List, Optional

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver, run_driver_io
from qnnc.errors import ModelError
from qnnc.frontend.float_runner import float_outputs_all
from qnnc.plan.kernel_scratch import recurrent_scratch_bytes
from qnnc.quantize import rules_recurrent as RR
from qnnc.reference import kernels_recurrent as KRC
from qnnc.reference.interpreter import dequantize_output, quantize_input, run_all

RUNTIME = Path(__file__).resolve().parent.parent / "plugin" / "qnnc" / "runtime"
GATES = {"LSTM": 4, "GRU": 3}


def rnn_model(path: Path, op: str, T: int, D: int, H: int, direction: str = "forward", outputs=("Y",),
              lbr: int = 0, torch_style: bool = False, init: str = "zeros", seed: int = 0, wscale: float = 0.3,
              layout: int = 0, extra_attrs=None, peephole=None, seq_lens=None, batch: int = 1,
              state_input: bool = False, time_major: Optional[List] = None) -> Path:
    """One LSTM/GRU node. ``torch_style``: input [1, T, D] transposed to [T, 1, D] as PyTorch exports,
    the initial states an Expand of zeros, Y squeezed and transposed back. ``outputs`` names the
    graph outputs among Y, Y_h, Y_c (in that order). ``time_major``: the graph input's shape instead
    (``[T, 1, D]``, dims may be names; ``[T, D]`` is Unsqueezed on axis 1), read by the layer
    directly, as PyTorch exports ``batch_first=False``."""
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    G = GATES[op]
    inits = [numpy_helper.from_array((rng.standard_normal((dirs, G * H, D)) * wscale).astype(np.float32), "W"),
             numpy_helper.from_array((rng.standard_normal((dirs, G * H, H)) * wscale).astype(np.float32), "R"),
             numpy_helper.from_array((rng.standard_normal((dirs, 2 * G * H)) * 0.1).astype(np.float32), "B")]
    nodes = []
    # The graph input is [1, T, D] (batch first, as PyTorch and tf2onnx export); layout 0 transposes it.
    x_shape = [1, T * batch, D]
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)]
    xin = "x"
    if time_major is not None:
        graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, time_major)]
        if len(time_major) == 2:  # unbatched: PyTorch Unsqueezes it to [T, 1, D]
            inits.append(numpy_helper.from_array(np.array([1], np.int64), "batch_axis"))
            nodes.append(helper.make_node("Unsqueeze", ["x", "batch_axis"], ["xt"], name="add_batch"))
            xin = "xt"
    elif batch > 1:  # a batch inside the model: [1, T*B, D] -> [T, B, D]
        inits.append(numpy_helper.from_array(np.array([T, batch, D], np.int64), "tbd"))
        nodes.append(helper.make_node("Reshape", ["x", "tbd"], ["xt"], name="to_tbd"))
        xin = "xt"
    elif layout == 0:
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2], name="to_tbd"))
        xin = "xt"
    state_shape = [batch, dirs, H] if layout == 1 else [dirs, batch, H]
    states = []
    for k, s in enumerate(["h0", "c0"][:2 if op == "LSTM" else 1]):
        if state_input:  # a streaming state: h0 (and c0) are graph inputs
            graph_inputs.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, state_shape))
            states.append(s)
        elif init == "zeros" and torch_style:
            inits.append(numpy_helper.from_array(np.zeros((1,), np.float32), f"{s}_zero"))
            inits.append(numpy_helper.from_array(np.array(state_shape, np.int64), f"{s}_shape"))
            nodes.append(helper.make_node("Expand", [f"{s}_zero", f"{s}_shape"], [s], name=f"expand_{s}"))
            states.append(s)
        elif init == "const":
            inits.append(numpy_helper.from_array((rng.standard_normal(state_shape) * 0.5).astype(np.float32), s))
            states.append(s)
        else:
            states.append("")
    seq = ""
    if seq_lens is not None:
        inits.append(numpy_helper.from_array(np.array(seq_lens, np.int32), "seq_lens"))
        seq = "seq_lens"
    ins = [xin, "W", "R", "B", seq] + states
    if peephole is not None:
        inits.append(numpy_helper.from_array(np.full((dirs, 3 * H), peephole, np.float32), "P"))
        ins = ins + [""] * (7 - len(ins)) + ["P"]
    while ins and not ins[-1]:
        ins.pop()
    outs = ["Y", "Y_h", "Y_c"][:3 if op == "LSTM" else 2]
    attrs = dict(hidden_size=H, direction=direction)
    if op == "GRU" and lbr:
        attrs["linear_before_reset"] = 1
    if layout:
        attrs["layout"] = layout
    attrs.update(extra_attrs or {})
    if not torch_style:  # PyTorch names every output; others leave the unused ones empty
        outs = [o if o in outputs else "" for o in outs]
        while not outs[-1]:
            outs.pop()
    nodes.append(helper.make_node(op, ins, outs, name=f"{op.lower()}_node", **attrs))
    graph_outputs = []
    for o in outputs:
        if torch_style and o == "Y":  # Y [T, dirs, 1, H] -> Squeeze(2) -> [T, dirs, H] -> [1, T, dirs*H]
            inits.append(numpy_helper.from_array(np.array([2], np.int64), "sq_axes"))
            nodes.append(helper.make_node("Squeeze", ["Y", "sq_axes"], ["Ysq"], name="squeeze"))
            nodes.append(helper.make_node("Transpose", ["Ysq"], ["Yt"], perm=[1, 0, 2], name="back"))
            inits.append(numpy_helper.from_array(np.array([1, T, dirs * H], np.int64), "flat"))
            nodes.append(helper.make_node("Reshape", ["Yt", "flat"], ["y"], name="flatten"))
            graph_outputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, None))
        else:
            graph_outputs.append(helper.make_tensor_value_info(o, TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "rnn", graph_inputs, graph_outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14 if layout else 13)])
    m = onnx.shape_inference.infer_shapes(m)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def build_and_check(tmp_path: Path, model: Path, x_shape, n_cal: int = 16, n_test: int = 8,
                    quantization: str = "  recurrent_activation_bits: 8\n"):
    """Build with calibration data and the ``quantization`` section given (default: int8 recurrent
    layers, the kernels this file tests); return (qmodel, per-output SQNR dB, mean |err| LSB);
    asserts the C is bit-exact with the reference under sanitizers."""
    rng = np.random.default_rng(7)
    cal = rng.standard_normal((n_cal, *x_shape[1:])).astype(np.float32)
    test = rng.standard_normal((n_test, *x_shape[1:])).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=cal)
    (tmp_path / "q.yaml").write_text("name: rnn\ncalibration:\n  data: cal.npz\n"
                                     + (f"quantization:\n{quantization}" if quantization else ""))
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "rnn", progress=False)
    qm = res.compiled.model
    q_in = quantize_input(qm, test)
    refs = [r.reshape(n_test, -1) for r in run_all(qm, q_in)]
    exe = compile_driver(str(tmp_path / "gen"), "rnn", str(tmp_path / "drv"), sanitize=True)
    if qm.multi_io:
        cs = run_driver_io(exe, [q_in.reshape(n_test, -1)], [t.size for t in qm.output_tensors])
    else:
        cs = [run_driver(exe, q_in.reshape(n_test, -1), qm.output_tensor.size)]
    for k, (c, r) in enumerate(zip(cs, refs)):
        assert np.array_equal(c, r), f"output {k}: the C differs from the reference"
    floats = float_outputs_all(str(model), test)
    stats = []
    for k, (r, f) in enumerate(zip(refs, floats)):
        f = f.reshape(n_test, -1).astype(np.float64)
        deq = dequantize_output(qm, r, k).astype(np.float64)
        sqnr = 10 * np.log10(np.mean(f ** 2) / max(np.mean((deq - f) ** 2), 1e-30))
        lsb = float(np.mean(np.abs(deq - f)) / qm.output_tensors[k].scale)
        stats.append((sqnr, lsb))
    return qm, stats


CASES = {
    # name: (op, T, D, H, direction, outputs, extra kwargs)
    "lstm_fwd_torch_T49": ("LSTM", 49, 40, 64, "forward", ("Y",), dict(torch_style=True)),
    "lstm_rev_Yh_Yc": ("LSTM", 12, 8, 16, "reverse", ("Y_h", "Y_c"), {}),
    "lstm_bidir_Y_T1": ("LSTM", 1, 6, 8, "bidirectional", ("Y",), {}),
    "lstm_bidir_torch_all": ("LSTM", 20, 10, 12, "bidirectional", ("Y", "Y_h", "Y_c"),
                             dict(torch_style=True)),
    "lstm_const_state_big_cell": ("LSTM", 30, 12, 20, "forward", ("Y", "Y_c"), dict(init="const", wscale=0.9)),
    "gru_lbr1_torch_T49": ("GRU", 49, 40, 64, "forward", ("Y",), dict(torch_style=True, lbr=1)),
    "gru_lbr0_rev_Yh": ("GRU", 16, 9, 24, "reverse", ("Y_h",), dict(lbr=0)),
    "gru_lbr0_bidir_const_state": ("GRU", 8, 4, 10, "bidirectional", ("Y", "Y_h"), dict(lbr=0, init="const")),
    "gru_lbr1_T1": ("GRU", 1, 3, 5, "forward", ("Y",), dict(lbr=1)),
    "gru_seq_lens_full": ("GRU", 6, 4, 6, "forward", ("Y",), dict(lbr=1, seq_lens=[6])),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_recurrent_case(case, tmp_path):
    op, T, D, H, direction, outputs, kw = CASES[case]
    model = rnn_model(tmp_path / f"{case}.onnx", op, T, D, H, direction, outputs, **kw)
    # Enough calibration values that N(0, 1) test inputs stay within the input's calibrated range.
    qm, stats = build_and_check(tmp_path, model, [1, T, D], n_cal=min(256, max(16, 2048 // (T * D))))
    kinds = [o.kind for o in qm.ops]
    assert kinds.count(op.lower()) == len(outputs), kinds
    # Several outputs of one node: one copy of the weights (the other ops name the first one's).
    assert sum(1 for o in qm.ops if o.kind == op.lower() and o.consts) == 1
    for k, (sqnr, lsb) in enumerate(stats):
        print(f"{case} output {k}: SQNR {sqnr:.1f} dB, mean |err| {lsb:.2f} LSB")
        assert sqnr >= 25.0, (case, k, sqnr)
        assert lsb <= 2.0, (case, k, lsb)


def test_corpus_like_models_report_cell_shift(tmp_path):
    """The cell-state scale follows the float cell range: big weights -> a coarser power of two."""
    shifts = []
    for wscale in (0.1, 1.5):
        model = rnn_model(tmp_path / f"l{wscale}.onnx", "LSTM", 20, 8, 8, wscale=wscale, outputs=("Y",))
        rng = np.random.default_rng(0)
        np.savez(tmp_path / "cal.npz", x=rng.standard_normal((8, 20, 8)).astype(np.float32))
        (tmp_path / "q.yaml").write_text("name: rnn\ncalibration:\n  data: cal.npz\n")
        res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / f"g{wscale}"), "rnn",
                    progress=False)
        shifts.append(next(o for o in res.compiled.model.ops if o.kind == "lstm").attrs["cell_shift"])
    assert shifts[0] == 15 and shifts[1] < 14, shifts


# -- refusals ------------------------------------------------------------------------------------
# Clip, input_forget, other activations, peepholes and a streaming state are unrolled instead
# (frontend/decompose_recurrent.py, tests/test_recurrent_unrolled.py); these stay refused.
REFUSALS = {
    "batch2": (dict(batch=2), "batch 2"),
    "seq_lens": (dict(seq_lens=[3]), "sequence_lens"),
    "layout1": (dict(layout=1), "layout=1"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals(case, tmp_path):
    kw, words = REFUSALS[case]
    model = rnn_model(tmp_path / f"{case}.onnx", "LSTM", 5, 4, 3, **kw)
    with pytest.raises(ModelError) as e:
        build(str(model), load_config(None), str(tmp_path / "gen"), "rnn", progress=False)
    text = e.value.format()
    assert words in text, text
    assert "lstm_node" in text and "LSTM" in text, text
    assert not (tmp_path / "gen").exists()


@pytest.mark.parametrize("op,direction", [("LSTM", "bidirectional"), ("GRU", "forward")])
def test_time_major_input_keeps_its_sequence(op, direction, tmp_path):
    """A [T, 1, D] input read by a layout-0 layer directly (PyTorch's batch_first=False) is a
    sequence of T steps, not a batch of T: compiled as one [1, T, D] sample (the same values in the
    same order), bit-exact in C and close to onnxruntime running the original model on [T, 1, D]
    (it had been taken as a batch made 1: a one-step model, 10 dB against the real one)."""
    import onnxruntime as ort
    T, D, H = 20, 6, 8
    model = rnn_model(tmp_path / "tm.onnx", op, T, D, H, direction, ("Y_h",), time_major=[T, 1, D])
    qm, stats = build_and_check(tmp_path, model, [1, T, D], n_cal=64)
    assert qm.input_tensor.size == T * D
    # data in the model's own layout, samples of [T, 1, D] stacked, reads as (N, T, D)
    from qnnc.config import DataRef
    from qnnc.frontend.data import load_samples
    stacked = np.random.default_rng(1).standard_normal((5, T, 1, D)).astype(np.float32)
    np.savez(tmp_path / "tm.npz", x=stacked)
    got, _ = load_samples(DataRef(str(tmp_path / "tm.npz")), "x", [1, T, D], None)
    assert np.array_equal(got, stacked.reshape(5, T, D))
    test = np.random.default_rng(7).standard_normal((8, T, D)).astype(np.float32)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ref = np.stack([sess.run(None, {"x": x.reshape(T, 1, D)})[0] for x in test]).reshape(8, -1)
    got = dequantize_output(qm, run_all(qm, quantize_input(qm, test))[0]).reshape(8, -1)
    sqnr = 10 * np.log10(np.mean(ref ** 2) / np.mean((got - ref) ** 2))
    assert sqnr >= 25.0 and stats[0][0] >= 25.0, (sqnr, stats)


@pytest.mark.parametrize("shape,words", [(["T", 1, 4], "of dynamic length; pin it in the config: input_shape: "
                                                        "{x: [<length>, 1, 4]}"),
                                         ([5, 4], "is an unbatched sequence [5, 4]"),
                                         ([5, 2, 4], "whose batch (dim 1) is 2")])
def test_time_major_inputs_that_need_the_user(shape, words, tmp_path):
    """A time-major input of unknown length must be pinned (in the layout the model declares); an
    unbatched [T, D] one has no batch axis to put first, and a batch of 2 is no single sample: each
    is refused by name, with the recurrent node."""
    model = rnn_model(tmp_path / "tm.onnx", "LSTM", 5, 4, 3, time_major=shape)
    with pytest.raises(ModelError) as e:
        build(str(model), load_config(None), str(tmp_path / "gen"), "rnn", progress=False)
    assert words in e.value.format() and "lstm_node" in e.value.format(), e.value.format()
    assert not (tmp_path / "gen").exists()


def test_time_major_input_pinned_in_the_model_layout(tmp_path):
    """A dynamic sequence length pinned as the model declares the input, [20, 1, 6], builds the
    20-step model (its C input is 120 values)."""
    model = rnn_model(tmp_path / "tm.onnx", "GRU", 20, 6, 8, "forward", ("Y_h",), time_major=["T", 1, 6])
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(0).standard_normal((16, 20, 1, 6)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: rnn\ninput_shape:\n  x: [20, 1, 6]\ncalibration:\n  data: cal.npz\n")
    res = build(str(model), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "rnn", progress=False)
    assert res.compiled.model.input_tensor.size == 120


def test_zero_peepholes_are_accepted(tmp_path):
    model = rnn_model(tmp_path / "p0.onnx", "LSTM", 5, 4, 3, peephole=0.0)
    qm, stats = build_and_check(tmp_path, model, [1, 5, 4])
    assert stats[0][0] >= 25.0


# -- arithmetic units ----------------------------------------------------------------------------
def test_activation_tables_are_accurate_and_monotone():
    x = np.arange(-32768, 32768, dtype=np.int64)
    for lut, fn, bound in ((RR.SIGMOID_LUT, RR._sigmoid, 1.5), (RR.TANH_LUT, np.tanh, 4.0)):
        assert lut.shape == (513,) and np.all(np.diff(lut.astype(np.int64)) >= 0)
        y = KRC.act16(lut, x)
        err = np.abs(y - fn(x / 4096.0) * 32768.0)
        assert err.max() <= bound, err.max()  # Q0.15 LSB


@pytest.mark.parametrize("cmax,cs", [(0.3, 15), (0.99, 15), (1.0, 14), (7.9, 12), (8.0, 11), (40.0, 9), (1e9, 0)])
def test_cell_shift(cmax, cs):
    assert RR.cell_shift(cmax) == cs
    if cs:
        assert cmax * 2 ** cs <= 32767 + 2 ** cs * 0.01


def _c_buffer_size(tmp_path: Path, fn: str, h: int) -> int:
    src = tmp_path / "bs.c"
    src.write_text(f'#include <stdio.h>\n#include "qnnc_kernels.h"\nint main(void) {{ printf("%d", (int){fn}({h})); '
                   "return 0; }\n")
    exe = tmp_path / "bs"
    kernel = RUNTIME / "src" / ("qnnc_lstm_s8.c" if "lstm" in fn else "qnnc_gru_s8.c")
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(RUNTIME / "include"), str(src),
                    str(kernel), "-o", str(exe)], check=True)
    return int(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout)


def test_scratch_matches_the_kernels(tmp_path):
    from qnnc.kernel_params import RecurrentParams
    from qnnc.qmodel import QOp
    for kind in ("lstm", "gru"):
        for h in (1, 5, 64):
            p = RecurrentParams(2, 3, h, 0, 0, h, 0, 15, 1 << 30, -20, 0, 0, 0, 0)
            op = QOp(kind, "n", ["x"], "y", None, {}, {"directions": [p]})
            assert recurrent_scratch_bytes(op) == _c_buffer_size(tmp_path, f"qnnc_{kind}_s8_get_buffer_size", h)


# -- random kernel cases: the C kernels against the reference, saturation included ----------------
def _random_case(rng, kind: str):
    from qnnc.kernel_params import RecurrentParams
    T, D, H = int(rng.integers(1, 7)), int(rng.integers(1, 8)), int(rng.integers(1, 10))
    G = 4 if kind == "lstm" else 3
    mode = int(rng.integers(0, 3 if kind == "lstm" else 2))
    i8 = lambda *s: rng.integers(-128, 128, s).astype(np.int8)
    c = {"input_weights": rng.integers(-127, 128, (1, G * H, D)).astype(np.int8),
         "recurrent_weights": rng.integers(-127, 128, (1, G * H, H)).astype(np.int8),
         "input_bias": rng.integers(-(1 << 20), 1 << 20, (1, G * H)).astype(np.int32),
         "recurrent_bias": rng.integers(-(1 << 20), 1 << 20, (1, G * H)).astype(np.int32),
         "input_multiplier": rng.integers(1 << 30, (1 << 31) - 1, (1, G * H)).astype(np.int32),
         "input_shift": rng.integers(-16, 3, (1, G * H)).astype(np.int32),
         "recurrent_multiplier": rng.integers(1 << 30, (1 << 31) - 1, (1, G * H)).astype(np.int32),
         "recurrent_shift": rng.integers(-16, 3, (1, G * H)).astype(np.int32),
         "initial_h": i8(1, H), "initial_c": rng.integers(-32768, 32768, (1, H)).astype(np.int16),
         "sigmoid_lut": RR.SIGMOID_LUT, "tanh_lut": RR.TANH_LUT}
    p = RecurrentParams(T, D, H, int(rng.integers(0, 2)), mode, H, int(rng.integers(-128, 128)),
                        int(rng.integers(0, 16)), int(rng.integers(1 << 30, (1 << 31) - 1)), int(rng.integers(-30, -14)),
                        int(rng.integers(1 << 30, (1 << 31) - 1)), int(rng.integers(-20, 0)), int(rng.integers(-128, 128)),
                        int(rng.integers(0, 2)))
    return p, c, i8(T, D)


def _c_array(name: str, arr: np.ndarray) -> str:
    ctype = {np.int8: "int8_t", np.int16: "int16_t", np.int32: "int32_t"}[arr.dtype.type]
    return f"static const {ctype} {name}[{max(arr.size, 1)}] = {{{', '.join(str(int(v)) for v in arr.reshape(-1))}}};\n"


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_random_kernel_cases_bit_exact(kind, tmp_path):
    from qnnc.kernel_params import struct_fields
    rng = np.random.default_rng(11 if kind == "lstm" else 12)
    src, calls, expected = ['#include <stdio.h>\n#include "qnnc_kernels.h"\n'], [], []
    for i in range(24):
        p, c, x = _random_case(rng, kind)
        for key, arr in c.items():
            if key == "initial_c" and kind == "gru":
                continue
            src.append(_c_array(f"c{i}_{key}", arr[0] if arr.ndim > 1 and key not in ("sigmoid_lut", "tanh_lut")
                                else arr))
        src.append(_c_array(f"c{i}_x", x))
        init = ", ".join(str(int(v)) for _, v in struct_fields(p))
        src.append(f"static const qnnc_recurrent_params c{i}_p = {{{init}}};\n")
        src.append(f"static const qnnc_recurrent_weights c{i}_w = {{c{i}_input_weights, c{i}_recurrent_weights, "
                   f"c{i}_input_bias, c{i}_recurrent_bias, {{c{i}_input_multiplier, c{i}_input_shift}}, "
                   f"{{c{i}_recurrent_multiplier, c{i}_recurrent_shift}}, c{i}_initial_h, "
                   f"{f'c{i}_initial_c' if kind == 'lstm' else 'NULL'}, c{i}_sigmoid_lut, c{i}_tanh_lut}};\n")
        n_out = p.time_steps * p.hidden_size if p.output_mode == 0 else p.hidden_size
        calls.append(f"    {{ int8_t out[{n_out}]; int k; qnnc_{kind}_s8(&c{i}_p, &c{i}_w, c{i}_x, out, scratch);\n"
                     f"      for (k = 0; k < {n_out}; ++k) {{ printf(\"%d \", out[k]); }}\n      printf(\"\\n\"); }}\n")
        op = type("Op", (), {"kind": kind, "attrs": {"directions": [p]}, "consts": c})()
        expected.append(KRC.run_recurrent(op, x, (-1,)).astype(np.int64))
    src.append("int main(void)\n{\n    static int16_t scratch_mem[64];\n    void *scratch = scratch_mem;\n")
    src.extend(calls)
    src.append("    return 0;\n}\n")
    (tmp_path / "k.c").write_text("".join(src))
    exe = tmp_path / "k"
    kernel = RUNTIME / "src" / f"qnnc_{kind}_s8.c"
    subprocess.run(["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", "-I", str(RUNTIME / "include"), str(tmp_path / "k.c"), str(kernel),
                    "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True,
                         env={"ASAN_OPTIONS": "detect_leaks=0"}).stdout.splitlines()
    assert len(out) == len(expected)
    for i, (line, ref) in enumerate(zip(out, expected)):
        got = np.array([int(v) for v in line.split()], np.int64)
        assert np.array_equal(got, ref), f"case {i}: C {got} reference {ref}"
