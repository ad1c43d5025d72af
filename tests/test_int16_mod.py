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


def _model(path: Path, const: float, divisor: bool, fmod: int, tanh: bool = False) -> Path:
    """Mod(x, c) (or Mod(c, x)); ``tanh``: of Tanh(x), whose int16 scale is 2^-15 exactly, so that
    inputs land on exact multiples of a divisor such as 0.75 (code 24576)."""
    c = numpy_helper.from_array(np.array(const, np.float32), "c")
    src = "t" if tanh else "x"
    ins = [src, "c"] if divisor else ["c", src]
    nodes = [helper.make_node("Tanh", ["x"], ["t"], name="tanh_node")] if tanh else []
    if fmod == 0:  # torch.remainder's export, x - Floor(x / c) * c: one Mod with fmod 0 after the passes
        nodes += [helper.make_node("Div", [src, "c"], ["q"]), helper.make_node("Floor", ["q"], ["f"]),
                  helper.make_node("Mul", ["f", "c"], ["m"]), helper.make_node("Sub", [src, "m"], ["y"], name="mod_node")]
    else:
        nodes.append(helper.make_node("Mod", ins, ["y"], name="mod_node", fmod=fmod))
    g = helper.make_graph(nodes, "mod", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)], [c])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _samples(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, *SHAPE[1:])) * 2.0).astype(np.float32)


def _build(folder: Path, const: float, fmod: int, bits: int, divisor: bool = True, extra: str = "",
           tanh: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    model = _model(folder / "m.onnx", const, divisor, fmod, tanh)
    np.savez(folder / "cal.npz", x=_samples(48, 1))
    (folder / "q.yaml").write_text(f"name: t\ncalibration:\n  data: cal.npz\nquantization:\n"
                                   f"  activation_bits: {bits}\n{extra}")
    return model, build(str(model), load_config(str(folder / "q.yaml")), str(folder / "gen"), "t", progress=False)


# fmod 0 as torch.remainder's four ops (a float Mod with fmod 0 is ONNX's from opset 28, and the
# importer converts newer opsets down to 21, where onnxruntime refuses it)
@pytest.mark.parametrize("d,fmod,tanh", [(1.5, 1, False), (-0.8, 1, False), (0.75, 1, True), (-0.25, 1, True),
                                         (1.5, 0, False), (-0.8, 0, False), (0.75, 0, True), (-0.25, 0, True)])
def test_mod16_exact_quotient(d, fmod, tanh, tmp_path):
    model, res = _build(tmp_path / "b16", d, fmod, 16, tanh=tanh)
    qm = res.compiled.model
    rnd = [op for op in qm.ops if op.kind == "round"]
    sub = [op for op in qm.ops if op.kind == "add"]
    assert len(rnd) == 1 and len(sub) == 1 and rnd[0].kernel == "qnnc_round_s16" and sub[0].kernel == "qnnc_add_s16"
    assert rnd[0].attrs["mode"] == (3 if fmod else (4 if d > 0 else 5))
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
    # the quotient and |d| * k are exact: the output's own rounding (half a code) and that of the
    # float reference's clipping (half a code) only
    print(f"Mod({d}, fmod={fmod}{', of Tanh' if tanh else ''}) int16: dense-sweep max |error| {worst:.2f} output LSB")
    assert worst <= 1.0
    if tanh:  # the exact multiples of the divisor (|d| = 0.75 or 0.25: codes 24576, 8192 apart): 0,
        # to the subtraction's rounding (not |d|, a quotient one off)
        step = int(round(abs(d) * 32768))
        on = np.concatenate([-np.arange(0, 32769, step), np.arange(step, 32768, step)])
        vals = {t_x.name: np.resize(on, t_x.size).astype(np.int16).reshape(t_x.shape)}
        vals[t_m.name] = run_op_s16(rnd[0], qm, vals)
        got = run_op_s16(sub[0], qm, vals).astype(np.int64)
        assert np.abs(got).max() <= 1, f"exact multiples of the divisor: {sorted(set(got.ravel()))} codes"


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


_DRIVER = r"""
#include <stdio.h>
#include "qnnc_kernels.h"
/* Per case from stdin: 5 int32 params of qnnc_round_s16; writes its outputs for all 65536 codes. */
int main(void)
{
    static int16_t in[65536], out[65536];
    int32_t a[5], i;
    for (i = 0; i < 65536; ++i) in[i] = (int16_t)(i - 32768);
    while (fread(a, sizeof(int32_t), 5, stdin) == 5) {
        qnnc_round_s16(a[0], a[1], a[2], a[3], a[4], 65536, in, out);
        fwrite(out, sizeof(int16_t), 65536, stdout);
    }
    return 0;
}
"""


def test_round_s16_mod_modes_c_equals_reference(tmp_path):
    """Modes 3-5 (Mod's nudged quotient toward zero / floor / ceil) on every int16 code: the C kernel
    (ASan/UBSan) equals the reference, for input scales that put codes on exact multiples of the
    divisor (2^-15 / 0.75, 2^-12 / 1.5) and for others."""
    import subprocess
    from c_build import compile_c, include_dir, kernel_sources, sanitizer_env
    from qnnc.quantize.rules_s16_tables import round_constants
    from qnnc.reference import kernels_s16_tables as KT
    drv = tmp_path / "round_driver.c"
    drv.write_text(_DRIVER)
    exe = tmp_path / "round"
    compile_c([drv, *kernel_sources(["qnnc_round_s16"])], [include_dir()], exe, sanitize=True)
    cases = [round_constants(mode, s_in, s_out) for mode in (3, 4, 5)
             for s_in, s_out in ((2.0 ** -15 / 0.75, 1.0 / 5461), (2.0 ** -12 / 1.5, 1.0 / 4095), (0.001 / 1.5, 0.02),
                                 (0.37, 1.0))]
    payload = b"".join(np.array([c["mode"], c["in_mult"], c["in_shift"], c["out_mult"], c["out_shift"]],
                                np.int32).tobytes() for c in cases)
    res = subprocess.run([str(exe)], input=payload, capture_output=True, env=sanitizer_env(), check=True)
    got = np.frombuffer(res.stdout, np.int16).reshape(len(cases), -1)
    x = np.arange(-32768, 32768, dtype=np.int64)
    for c, g in zip(cases, got):
        assert np.array_equal(g, KT.round_s16(c, x)), c
    # on the exact multiples (2^-15 / 0.75: codes +-24576) the quotient is the multiple's, every mode
    for mode in (3, 4, 5):
        c = round_constants(mode, 2.0 ** -15 / 0.75, 1.0)
        assert list(KT.round_s16(c, np.array([-24576, 24576]))) == [-1, 1], mode
