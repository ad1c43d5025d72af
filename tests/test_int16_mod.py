"""Mod by a constant with int16 activations (quantize/rules_s16_mod.py): the quotient exactly by
``qnnc_round_s16`` (toward zero for fmod 1, floor / ceil for fmod 0 by the divisor's sign), the
remainder by ``qnnc_add_s16``; a constant dividend is an error naming the override that keeps the
node at 8 bits, which then builds. Dense sweep of the int16 codes against float, and the generated
C bit-exact (ASan/UBSan)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qnnc.build import build
from qnnc.config import load_config
from qnnc.emit.hostrun import compile_driver, run_driver_io
from qnnc.errors import ModelError
from qnnc.quantize import unary_functions as UF
from qnnc.reference.interpreter import quantize_input, run_all
from qnnc.reference.interpreter_s16 import run_op_s16

SHAPE = [1, 256]


def _model(path: Path, const: float, divisor: bool, fmod: int) -> Path:
    c = numpy_helper.from_array(np.array(const, np.float32), "c")
    ins = ["x", "c"] if divisor else ["c", "x"]
    node = helper.make_node("Mod", ins, ["y"], name="mod_node", fmod=fmod)
    g = helper.make_graph([node], "mod", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)], [c])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _samples(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, *SHAPE[1:])) * 2.0).astype(np.float32)


def _build(folder: Path, const: float, fmod: int, bits: int, divisor: bool = True, extra: str = ""):
    folder.mkdir(parents=True, exist_ok=True)
    model = _model(folder / "m.onnx", const, divisor, fmod)
    np.savez(folder / "cal.npz", x=_samples(48, 1))
    (folder / "q.yaml").write_text(f"name: t\ncalibration:\n  data: cal.npz\nquantization:\n"
                                   f"  activation_bits: {bits}\n{extra}")
    return model, build(str(model), load_config(str(folder / "q.yaml")), str(folder / "gen"), "t", progress=False)


# fmod 1 only: a float Mod with fmod 0 is ONNX's from opset 28, and the importer converts newer
# opsets down to 21, where onnxruntime refuses it (the floor / ceil quotients are the same kernel's
# modes 0 and 1, which Floor and Ceil test)
@pytest.mark.parametrize("d,fmod", [(1.5, 1), (-0.8, 1)])
def test_mod16_exact_quotient(d, fmod, tmp_path):
    model, res = _build(tmp_path / "b16", d, fmod, 16)
    qm = res.compiled.model
    rnd = [op for op in qm.ops if op.kind == "round"]
    sub = [op for op in qm.ops if op.kind == "add"]
    assert len(rnd) == 1 and len(sub) == 1 and rnd[0].kernel == "qnnc_round_s16" and sub[0].kernel == "qnnc_add_s16"
    assert rnd[0].attrs["mode"] == (3 if fmod else (0 if d > 0 else 1))
    t_x, t_m, t_y = qm.tensors[rnd[0].inputs[0]], qm.tensors[rnd[0].output], qm.tensors[sub[0].output]
    assert t_x.bits == t_m.bits == t_y.bits == 16 and sub[0].inputs == [t_x.name, t_m.name]

    # every int16 input code: the reference against float, in output codes
    fn = UF.float_fn("Mod", {"divisor": d, "fmod": fmod})
    worst = 0.0
    for chunk in np.arange(-32768, 32768, dtype=np.int64).reshape(-1, SHAPE[1]):
        vals = {t_x.name: chunk.astype(np.int16).reshape(t_x.shape)}
        vals[t_m.name] = run_op_s16(rnd[0], qm, vals)
        y = run_op_s16(sub[0], qm, vals).astype(np.int64).ravel()
        f = np.clip(fn(chunk * t_x.scale) / t_y.scale, -32768, 32767)
        worst = max(worst, float(np.abs(y - f).max()))
    # the quotient is exact; |d| * k is held at about the input's step (a tensor spanning x's reach),
    # then one rounding into the output: at most half of each, in output codes
    bound = 0.5 + 0.5 * t_m.scale / t_y.scale + 0.5
    print(f"Mod({d}, fmod={fmod}) int16: dense-sweep max |error| {worst:.2f} output LSB (bound {bound:.2f})")
    assert worst <= bound


def test_mod16_generated_c_bit_exact(tmp_path):
    _, res = _build(tmp_path, -0.8, 1, 16)
    qm = res.compiled.model
    xs = np.concatenate([_samples(12, 2), 3.0 * _samples(4, 3)])  # beyond the calibrated range too
    q = quantize_input(qm, {"x": xs})
    ref = run_all(qm, q)
    exe = compile_driver(str(tmp_path / "gen"), "t", str(tmp_path / "drv"), sanitize=True)
    c = run_driver_io(exe, [q[k] for k in qm.inputs], [t.size for t in qm.output_tensors], "int8")
    assert np.array_equal(c[0], ref[0].reshape(len(xs), -1))


def test_mod16_constant_dividend_names_the_override(tmp_path):
    with pytest.raises(ModelError) as e:
        _build(tmp_path / "a", 2.5, 1, 16, divisor=False)
    text = str(e.value)
    assert "mod_node" in text and "activation_bits: 8" in text and "match: 'mod_node'" in text, text
    assert not (tmp_path / "a" / "gen").exists()
    _, res = _build(tmp_path / "b", 2.5, 1, 16, divisor=False,
                    extra="  overrides:\n    - match: mod_node\n      activation_bits: 8\n")
    lut = [op for op in res.compiled.model.ops if op.kind == "lut"]
    assert len(lut) == 1 and res.compiled.model.tensors[lut[0].output].bits == 8
