"""``execution.wide_weights``: int16 fully connected weights for the Armv7E-M DSP path.

* the generator's int16 layout (qnnc/emit/wide_weights.py) is the kernels' (the formula of
  tests/kernel_driver.c, which runs the kernel itself on every random FC case);
* which layers are widened: eligible shapes only, within the flash budget, reported in the notes
  and in weight_bytes (the DSP build's flash); ``auto`` (the default) only for a named DSP core
  and a known board flash, within half of it, through the API and the CLI's --flash-size;
* the generated C builds on the host (the int8 branch of its #if) under ASan/UBSan and on QEMU
  M3/M4/M7/M55, bit-exact with the reference, the DSP cores linking the int16 copy and the
  _wide kernel, the others the int8 ones.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import onnx_factory as F  # noqa: E402
from qnnc.emit.wide_weights import wide_fc_weights  # noqa: E402

# Gemm 64 -> 32 + Relu (op 0, eligible), Gemm 32 -> 10 (op 1, 10 outputs: stays int8), Softmax
IN, HIDDEN, CLASSES = 64, 32, 10


def _build(tmp_path: Path, execution: str = "  wide_weights: true\n", extra: str = ""):
    from benchmarks import modelbench as MB
    tmp_path.mkdir(parents=True, exist_ok=True)
    onnx_path = F.save(F.tiny_mlp(3, IN, HIDDEN, CLASSES), tmp_path / "mlp.onnx")
    cal = np.random.default_rng(5).standard_normal((64, IN)).astype(np.float32)
    res = MB.generate(onnx_path, tmp_path / "out", cal, extra_config=f"execution:\n{execution}{extra}")
    return res, np.random.default_rng(6).standard_normal((6, IN)).astype(np.float32)


def test_layout_is_the_kernels():
    w = np.random.default_rng(0).integers(-128, 128, (8, 12)).astype(np.int8)
    got = wide_fc_weights(w)
    pos = [0, 2, 1, 3]  # input k % 4 -> its place in a row's group (kernel_driver.c, the portable path)
    want = np.zeros(w.size, np.int16)
    for o in range(8):
        for k in range(12):
            want[(o // 4) * 4 * 12 + (k // 4) * 16 + (o % 4) * 4 + pos[k % 4]] = w[o, k]
    assert got.dtype == np.int16 and np.array_equal(got, want)
    with pytest.raises(ValueError, match="multiples of 4"):
        wide_fc_weights(w[:6])


def test_eligible_layers_widened_and_counted(tmp_path):
    res, _ = _build(tmp_path)
    ops = [op for op in res.compiled.model.ops if op.kind == "fully_connected"]
    assert [bool(op.attrs.get("wide_weights")) for op in ops] == [True, False]
    int8_bytes = sum(int(a.nbytes) for op in res.compiled.model.ops for a in op.consts.values())
    assert res.report["weight_bytes"] == int8_bytes + IN * HIDDEN  # the DSP build's int16 copy
    assert any("1 fully connected layer(s) with int16 weights" in n and f"+{IN * HIDDEN} B" in n
               for n in res.compiled.model.notes), res.compiled.model.notes  # what the CLI prints
    c = res.files["m.c"] + res.files["m_weights.c"]
    assert "QNNC_FC_S8_WIDE_CALL(" in c and c.count("QNNC_FC_S8_WIDE_CALL(") == 1
    assert f"const int16_t m_op0_filter_s16[{IN * HIDDEN}]" in c
    assert "qnnc_fully_connected_s8_wide.c" in res.files and "qnnc_fully_connected_s8_wide_dsp.c" in res.files


def test_flash_budget_keeps_int8(tmp_path):
    plain, _ = _build(tmp_path / "plain", "  wide_weights: false\n")
    assert "qnnc_fully_connected_s8_wide.c" not in plain.files
    budget = plain.report["weight_bytes"] + IN * HIDDEN - 1  # one byte short of the int16 copy
    res, _ = _build(tmp_path / "tight", extra=f"flash_budget: {budget}\n")
    assert not any(op.attrs.get("wide_weights") for op in res.compiled.model.ops)
    assert res.report["weight_bytes"] == plain.report["weight_bytes"]
    assert any("no layer takes int16 weights" in n for n in res.compiled.model.notes)
    assert "WIDE" not in res.files["m.c"] + res.files["m_weights.c"]  # the plain int8 code


def _mlp_files(tmp_path: Path, extra: str = ""):
    """The MLP, 64 calibration samples and a config naming them (plus ``extra``) in ``tmp_path``:
    (model path, config path)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    onnx_path = F.save(F.tiny_mlp(3, IN, HIDDEN, CLASSES), tmp_path / "mlp.onnx")
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(5).standard_normal((64, IN)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("calibration:\n  data: cal.npz\n" + extra)
    return onnx_path, tmp_path / "q.yaml"


def _generate_auto(tmp_path: Path, target, flash_size, extra: str = ""):
    """The MLP built with the default (``wide_weights: auto``) for ``target`` and board flash."""
    from qnnc.build import generate
    from qnnc.config import load_config
    onnx_path, cfg_path = _mlp_files(tmp_path, extra)
    cfg = load_config(str(cfg_path))
    assert cfg.wide_weights == "auto"
    cfg.target = target
    return generate(str(onnx_path), cfg, "m", progress=False, flash_size=flash_size)


def _wide_ops(res):
    return [bool(op.attrs.get("wide_weights")) for op in res.compiled.model.ops if op.kind == "fully_connected"]


@pytest.mark.parametrize("target", ["m4", "m7", "m33"])
def test_auto_widens_for_a_dsp_core_with_known_flash(tmp_path, target):
    res = _generate_auto(tmp_path, target, 64 << 10)
    assert _wide_ops(res) == [True, False]
    assert any(f"+{IN * HIDDEN} B of flash" in n for n in res.compiled.model.notes), res.compiled.model.notes


@pytest.mark.parametrize("target,flash,why", [
    (None, 1 << 20, "no target core named"),
    ("m3", 1 << 20, None),  # cores that never link the int16 copy: nothing to say
    ("m55", 1 << 20, None),
    ("m4", None, "flash size is not known"),
])
def test_auto_keeps_int8_without_a_dsp_core_and_flash(tmp_path, target, flash, why):
    res = _generate_auto(tmp_path, target, flash)
    assert _wide_ops(res) == [False, False]
    notes = [n for n in res.compiled.model.notes if "wide_weights" in n]
    assert (notes == []) if why is None else (len(notes) == 1 and why in notes[0]), res.compiled.model.notes
    assert "WIDE" not in res.files["m.c"] + res.files["m_weights.c"]


def test_auto_stays_within_half_the_flash_and_the_budget(tmp_path):
    plain = _generate_auto(tmp_path / "plain", None, None)
    widened = plain.report["weight_bytes"] + IN * HIDDEN  # the DSP build's constant data when widened
    assert _wide_ops(_generate_auto(tmp_path / "fits", "m4", 2 * widened)) == [True, False]
    short = _generate_auto(tmp_path / "short", "m4", 2 * widened - 2)  # half of it one byte short
    assert _wide_ops(short) == [False, False]
    assert any("within half of the board's" in n for n in short.compiled.model.notes), short.compiled.model.notes
    budget = _generate_auto(tmp_path / "budget", "m4", 1 << 20, extra=f"flash_budget: {widened - 1}\n")
    assert _wide_ops(budget) == [False, False]  # a tighter flash_budget wins over half the flash


def test_cli_flash_size_and_target_reach_auto(tmp_path):
    import subprocess
    onnx_path, _ = _mlp_files(tmp_path)

    def build(*extra):
        r = subprocess.run([sys.executable, "-m", "qnnc", "build", str(onnx_path), "-c", str(tmp_path / "q.yaml"),
                            "-o", str(tmp_path / f"out{len(extra)}"), "--name", "m", *extra],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stderr, (tmp_path / f"out{len(extra)}" / "m_weights.c").read_text()

    err, weights = build("--target", "m4", "--flash-size", "1024KiB")  # as the Zephyr module passes it
    assert "1 fully connected layer(s) with int16 weights" in err and "m_op0_filter_s16" in weights
    err, weights = build("--target", "m4")
    assert "auto keeps int8" in err and "--flash-size" in err and "m_op0_filter_s16" not in weights
    r = subprocess.run([sys.executable, "-m", "qnnc", "build", str(onnx_path), "-o", str(tmp_path / "bad"),
                        "--flash-size", "lots"], capture_output=True, text=True)
    assert r.returncode != 0 and "--flash-size expects a size in bytes" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("target,flash_kib,wide", [("m4", 2048, True), ("m4", "", False), ("m3", 2048, False)])
def test_zephyr_generate_step_passes_the_flash_size(tmp_path, target, flash_kib, wide):
    """The Zephyr module's build-time step (qnnc_generate.cmake) hands CONFIG_FLASH_SIZE (KiB) to
    the generator; qnnc.cmake passes it only for cores built with the DSP extension. This runs the
    step itself (no Zephyr tree needed); the Zephyr boards at hand have no DSP M4/M7/M33 to run it on."""
    import shutil
    import subprocess
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not found (apt-get install cmake)")
    onnx_path, _ = _mlp_files(tmp_path)
    out = tmp_path / "gen"
    r = subprocess.run([cmake, f"-DQNNC_PYTHON={sys.executable}", f"-DQNNC_PYTHONPATH={REPO / 'plugin'}",
                        f"-DQNNC_MODEL={onnx_path}", f"-DQNNC_CONFIG={tmp_path / 'q.yaml'}", "-DQNNC_NAME=m",
                        f"-DQNNC_OUTPUT_DIR={out}", "-DQNNC_REPORT=OFF", f"-DQNNC_EXPECT={out / 'm.c'}",
                        f"-DQNNC_STAMP={tmp_path / 'stamp'}", f"-DQNNC_TARGET={target}",
                        f"-DQNNC_FLASH_SIZE={flash_kib}", "-P",
                        str(REPO / "zephyr_module" / "cmake" / "qnnc_generate.cmake")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("m_op0_filter_s16" in (out / "m_weights.c").read_text()) == wide
    assert ("1 fully connected layer(s) with int16 weights" in r.stdout + r.stderr) == wide


def test_bad_value_names_the_key(tmp_path):
    from qnnc.config import load_config
    from qnnc.errors import ConfigError
    cfg = tmp_path / "q.yaml"
    cfg.write_text("execution:\n  wide_weights: sometimes\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(cfg))
    assert "execution.wide_weights" in str(e.value) and ":2" in str(e.value)
    assert "expected true, false or 'auto'" in str(e.value)


def test_host_build_bit_exact_under_sanitizers(tmp_path):
    from qnnc.emit.hostrun import compile_driver, run_driver
    from qnnc.reference.interpreter import quantize_input, run_int8
    res, xs = _build(tmp_path)
    model = res.compiled.model
    gen = tmp_path / "out" / "gen"
    exe = compile_driver(str(gen), "m", str(tmp_path / "m_host"), sanitize=True)
    q = quantize_input(model, xs)
    got = run_driver(exe, q.reshape(len(xs), -1), model.output_tensor.size)
    assert np.array_equal(got, run_int8(model, q).reshape(len(xs), -1))


@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m4", "m7", "m55", "m3"])
def test_cortex_m_bit_exact_and_linked_per_path(core, tmp_path):
    from qemu_model import run_bit_exact
    res, xs = _build(tmp_path)
    r, names = run_bit_exact(res, tmp_path / "out" / "gen", xs, core, tmp_path / core, "mlp")
    dsp = core in ("m4", "m7")
    assert ("m_op0_filter_s16" in names) == dsp and ("m_op0_filter" in names) == (not dsp)
    assert ("qnnc_fc_wide_dsp_s8" in names) == dsp
    assert "m_op1_filter" in names  # the 10-output layer keeps int8 weights everywhere
    if core == "m4":  # the report's expected instructions follow the path (plan/cost_model.py)
        from qnnc.plan.cost_model import layer_instructions
        want = layer_instructions(res.compiled.model, "m4")[0]
        got = next(lr.instructions for lr in r.layers if lr.index == 0)
        assert abs(want - got) <= 0.15 * got, (want, got)
