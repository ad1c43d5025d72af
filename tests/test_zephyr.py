"""The Zephyr module: `west build` compiles the models, the samples run on native_sim and QEMU.

Needs a Zephyr tree in a west workspace (ZEPHYR_BASE, else ~/zephyrproject/zephyr); without one every
test that builds skips with the reason. ARM boards also need arm-none-eabi-gcc (gnuarmemb) or the
Zephyr SDK, qemu-system-arm and the CMSIS module. Build directories persist (see
zephyr_env.build_root(), or set QNNC_ZEPHYR_BUILD_DIR) so that re-runs are incremental.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zephyr_env import (KWS_CLASSES, MODELS_DIR, MODULE_DIR, NATIVE_BOARDS, QEMU_BOARDS, REPO,
                        SAMPLES, SAMPLES_DIR, TREE, board_env, board_reason, build_root,
                        JOBS, memory_report, run, werror_link_args, west, west_build)

pytestmark = pytest.mark.zephyr

GENERATING = "qnnc: generating C for model"


def _require(board: str) -> None:
    reason = board_reason(board)
    if reason:
        pytest.skip(reason)


def _record(entry: dict) -> None:
    """Build times and memory figures, for the record (build_root()/results.jsonl)."""
    root = build_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "results.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


# native_sim is the default tier; the 64-bit host board and the emulated Cortex-M boards are
# the slow tier (pytest --all), which keeps a plain pytest run under 15 minutes.
BOARD_PARAMS = [pytest.param(b, id=b, marks=() if b == "native_sim" else pytest.mark.slow)
                for b in NATIVE_BOARDS] + \
               [pytest.param(b, id=b, marks=[pytest.mark.qemu, pytest.mark.slow]) for b in QEMU_BOARDS]


@pytest.mark.parametrize("board", BOARD_PARAMS)
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_sample_builds_and_runs(sample, board):
    _require(board)
    build = west_build(SAMPLES_DIR / sample, board, build_root() / board / sample)
    assert "warning:" not in build.output, build.output[-4000:]
    rc, out = run(build)
    line_re, count, final = SAMPLES[sample]
    lines = out.splitlines()
    results = [m for m in (re.match(line_re, ln.strip()) for ln in lines) if m]
    assert final in [ln.strip() for ln in lines], out[-4000:]
    assert len(results) == count, out[-4000:]
    assert rc == 0, f"exit {rc}:\n{out[-4000:]}"
    if sample == "kws":
        assert all(m.group(1) in KWS_CLASSES for m in results), out
        assert all(m.group(2) in KWS_CLASSES for m in results), out  # the test labels are known
        # On-target self-check of every layer, and a per-layer profile through the on_layer callback:
        # cycles where the cycle counter advances while code runs, else a plain statement (no zeros).
        assert "qnnc: selftest passed: every layer of every test input matches" in out, out[-4000:]
        cycles = [int(c) for c in re.findall(r"^  layer +\d+: (\d+)$", out, re.M)]
        if board in NATIVE_BOARDS:
            assert "per-layer profile: no cycle counter on this board" in out, out[-4000:]
            assert cycles == [], out[-4000:]
        else:
            assert len(cycles) == 12 and sum(cycles) > 0, out[-4000:]
    mem = memory_report(build.output)
    _record({"sample": sample, "board": board, "build_s": round(build.seconds, 1),
             "memory": {k: v[0] for k, v in mem.items()}, "time": time.time()})


# ------------------------------------------------------------------ incremental builds --

def _native_board() -> str:
    for board in NATIVE_BOARDS:
        if not board_reason(board):
            return board
    pytest.skip(board_reason(NATIVE_BOARDS[0]))


def _make_app(root: Path) -> tuple[Path, Path]:
    """A user's app outside the repository: its own copy of the kws model, the module given with
    -DZEPHYR_EXTRA_MODULES (the README's way) rather than the samples' automatic lookup."""
    model_dir = root / "model"
    shutil.copytree(MODELS_DIR / "kws", model_dir)
    app = root / "app"
    (app / "src").mkdir(parents=True)
    shutil.copy(SAMPLES_DIR / "kws" / "src" / "main.c", app / "src" / "main.c")
    shutil.copy(SAMPLES_DIR / "kws" / "prj.conf", app / "prj.conf")
    (app / "CMakeLists.txt").write_text(f"""\
cmake_minimum_required(VERSION 3.20.0)
find_package(Zephyr REQUIRED HINTS $ENV{{ZEPHYR_BASE}})
project(qnnc_user_app)
target_sources(app PRIVATE src/main.c)
target_include_directories(app PRIVATE {(SAMPLES_DIR / 'common').as_posix()})
qnnc_add_model(TARGET app MODEL ../model/kws.onnx CONFIG ../model/kws.yaml NAME kws)
""")
    return app, model_dir


def _mtimes(paths):
    return {p.name: p.stat().st_mtime_ns for p in paths}


def test_noop_rebuild_runs_no_generator_and_inputs_regenerate(tmp_path):
    board = _native_board()
    app, model_dir = _make_app(tmp_path)
    build_dir = tmp_path / "build"
    gen_dir = build_dir / "qnnc" / "kws"

    first = west_build(app, board, build_dir, cmake_args=[f"-DZEPHYR_EXTRA_MODULES={MODULE_DIR}"])
    assert GENERATING + " kws" in first.output
    generated = sorted(p for p in gen_dir.iterdir() if p.suffix in (".c", ".h"))
    assert {p.name for p in generated} >= {"kws.h", "kws.c", "kws_weights.c", "kws_test_data.h",
                                           "kws_test_data.c"}
    before = _mtimes(generated)

    # A second build with no change runs no generator and rewrites nothing.
    again = west_build(app, board, build_dir)
    assert GENERATING not in again.output, again.output
    assert "Building C object" not in again.output, again.output
    assert _mtimes(generated) == before

    # Touching the model runs the generator; identical C is not rewritten, so nothing recompiles.
    os.utime(model_dir / "kws.onnx")
    touched = west_build(app, board, build_dir)
    assert GENERATING + " kws" in touched.output, touched.output
    assert _mtimes(generated) == before
    assert "kws.c.obj" not in touched.output, touched.output

    # ... and the build after that is a no-op again.
    assert GENERATING not in west_build(app, board, build_dir).output

    # The calibration and test data are inputs too (from `qnnc deps`).
    for data in ("calibration.npz", "test.npz"):
        os.utime(model_dir / data)
        assert GENERATING + " kws" in west_build(app, board, build_dir).output, data

    # Editing the config re-runs CMake (the list of inputs may change) and the generator.
    cfg = model_dir / "kws.yaml"
    cfg.write_text(cfg.read_text() + "# edited\n")
    edited = west_build(app, board, build_dir)
    assert GENERATING + " kws" in edited.output, edited.output

    rc, out = run(edited)
    assert rc == 0 and "qnnc: 10/10 match reference" in out, out[-3000:]


def west_build_cmake_only(app, board, build_dir, cmake_args):
    return west("build", "--cmake-only", "-p", "always", "-b", board, "-d", str(build_dir),
                str(app), "--", *cmake_args, board=board)


def test_repository_root_is_a_module(tmp_path):
    """As a west project the repository root is the module (zephyr/module.yml -> zephyr_module/);
    west hands such projects to CMake as ZEPHYR_MODULES, which is what this configures with."""
    board = _native_board()
    app, _ = _make_app(tmp_path)
    r = west_build_cmake_only(app, board, tmp_path / "build", [f"-DZEPHYR_MODULES={REPO}"])
    assert r.returncode == 0, r.stdout[-6000:]
    assert "qnnc: generator from" in r.stdout, r.stdout[-3000:]
    assert "CONFIG_QNNC=y" in (tmp_path / "build" / "zephyr" / ".config").read_text()


@pytest.mark.parametrize("symbol, value, message", [
    ("CONFIG_QNNC_RAM_BUDGET", 12000,
     "RAM budget exceeded: the arena needs 16000 B but CONFIG_QNNC_RAM_BUDGET allows 12000 B"),
    pytest.param("CONFIG_QNNC_FLASH_BUDGET", 20000,
                 "flash budget exceeded: weights and tables need 30096 B but CONFIG_QNNC_FLASH_BUDGET "
                 "allows 20000 B", marks=pytest.mark.slow),
], ids=["ram", "flash"])
def test_kconfig_budget_fails_west_build_naming_the_symbol(tmp_path, symbol, value, message):
    """A Kconfig budget below the model's needs stops `west build` with qnnc's budget error, which
    names the Kconfig symbol the user set (not the generator's --ram-budget/--flash-budget)."""
    board = _native_board()
    app, _ = _make_app(tmp_path)
    # only the generation target: the error comes from it, no need to compile the application
    r = west("build", "-p", "always", "-b", board, "-d", str(tmp_path / "build"), str(app), f"-o=-j{JOBS}",
             "-t", "qnnc_model_kws", "--", f"-DZEPHYR_EXTRA_MODULES={MODULE_DIR}", f"-D{symbol}={value}",
             board=board)
    assert r.returncode != 0
    flat = " ".join(r.stdout.split())  # CMake wraps long messages
    assert message in flat, r.stdout[-4000:]
    assert "--ram-budget" not in flat and "--flash-budget" not in flat, r.stdout[-4000:]


def test_missing_data_file_fails_with_qnncs_message(tmp_path):
    """A calibration file named in the YAML that does not exist stops the configuration with qnnc's
    message (config file:line and key), not with ninja's "missing and no known rule to make it"."""
    board = _native_board()
    app, model_dir = _make_app(tmp_path)
    cfg = model_dir / "kws.yaml"
    text = cfg.read_text()
    line = text.splitlines().index("  data: calibration.npz") + 1
    cfg.write_text(text.replace("data: calibration.npz", "data: no-such-file.npz"))
    r = west("build", "-p", "always", "-b", board, "-d", str(tmp_path / "build"), str(app), f"-o=-j{JOBS}",
             "--", f"-DZEPHYR_EXTRA_MODULES={MODULE_DIR}", board=board)
    assert r.returncode != 0
    flat = " ".join(r.stdout.split())
    assert (f"{cfg}:{line}, key 'calibration.data': data file '{model_dir / 'no-such-file.npz'}' "
            "does not exist") in flat, r.stdout[-4000:]
    assert "no known rule" not in flat, r.stdout[-4000:]


def test_config_without_calibration_data_fails_the_generation(tmp_path):
    """A firmware build never ships a model calibrated on random inputs by accident: the module
    passes --require-calibration, so a config without calibration.data stops the generation."""
    board = _native_board()
    app, model_dir = _make_app(tmp_path)
    cfg = model_dir / "kws.yaml"
    cfg.write_text(cfg.read_text().replace("calibration:\n  data: calibration.npz\n  method: minmax\n", ""))
    assert "calibration" not in cfg.read_text()
    r = west("build", "-p", "always", "-b", board, "-d", str(tmp_path / "build"), str(app), f"-o=-j{JOBS}",
             "-t", "qnnc_model_kws", "--", f"-DZEPHYR_EXTRA_MODULES={MODULE_DIR}", board=board)
    assert r.returncode != 0
    flat = " ".join(r.stdout.split())
    assert f"qnnc: error: {cfg}, key 'calibration.data': no calibration data" in flat, r.stdout[-4000:]


def test_reserved_name_is_reported_as_the_name_argument(tmp_path):
    """The generator's rules for the C name are checked by qnnc_add_model(), so the message names
    its NAME argument rather than the generator's --name flag."""
    board = _native_board()
    app, _ = _make_app(tmp_path)
    lists = app / "CMakeLists.txt"
    lists.write_text(lists.read_text().replace("NAME kws)", "NAME qnnc_kws)"))
    r = west_build_cmake_only(app, board, tmp_path / "build", [f"-DZEPHYR_EXTRA_MODULES={MODULE_DIR}"])
    assert r.returncode != 0
    flat = " ".join(r.stdout.split())
    assert "qnnc_add_model: NAME 'qnnc_kws' is reserved: names starting with 'qnnc'" in flat, r.stdout[-4000:]
    assert "--name" not in flat


# ------------------------------------------------------------------------------ twister --

# Every sample's console harness on native_sim, and the QEMU harness (QEMU kept alive after a
# success) on one Arm board, in one twister run with two jobs: that bounds the time. Every sample
# runs on every board in test_sample_builds_and_runs, so more twister instances would only repeat
# those builds. The RISC-V board takes another toolchain, so another run.
TWISTER_PLANS = {
    "arm": [("native_sim", s) for s in sorted(SAMPLES)] + [("mps2_an521", "two_models")],
    "riscv": [("qemu_riscv32", "two_models")],
}


@pytest.mark.slow
@pytest.mark.parametrize("toolchain", sorted(TWISTER_PLANS))
def test_twister_native_sim_and_qemu_boards(toolchain, tmp_path):
    """twister with the samples' sample.yaml (console harness): every instance passes. Under QEMU
    the samples stay alive after a success (twister counts an exiting QEMU as "unexpected eof")."""
    wanted = TWISTER_PLANS[toolchain]
    plan = [(board, sample) for board, sample in wanted if not board_reason(board)]
    if not plan:
        pytest.skip(board_reason(wanted[0][0]))
    skipped = sorted({board for board, _ in wanted} - {board for board, _ in plan})
    out_dir = build_root() / f"twister-{toolchain}"
    env = board_env(next((b for b, _ in plan if b in QEMU_BOARDS), plan[0][0]))
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = "1"  # twister's -j runs two builds (or a build and a QEMU) at once
    tests = tmp_path / "plan.json"
    tests.write_text(json.dumps({"testsuites": [{"name": f"{s}/sample.qnnc.{s}", "platform": b}
                                                for b, s in plan]}))
    cmd = [sys.executable, str(TREE / "scripts" / "twister"), "-T", str(SAMPLES_DIR), "--load-tests",
           str(tests), "-O", str(out_dir), "-j", JOBS, "--inline-logs",
           "-x", f"ZEPHYR_EXTRA_MODULES={MODULE_DIR}"]
    for arg in werror_link_args(plan[0][0]):  # twister builds with warnings as errors
        cmd += ["-x", arg]
    if (out_dir / "twister.json").exists():
        cmd.append("--no-clean")  # incremental
    r = subprocess.run(cmd, env=env, cwd=TREE.parent, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-6000:]
    report = json.loads((out_dir / "twister.json").read_text())
    statuses = {(s["platform"], s["name"].rsplit("/", 1)[-1]): s.get("status") for s in report["testsuites"]}
    assert statuses == {(b, f"sample.qnnc.{s}"): "passed" for b, s in plan}, statuses
    assert "unexpected eof" not in r.stdout, r.stdout[-6000:]
    if skipped:
        pytest.skip(f"twister passed on {sorted({b for b, _ in plan})}; not run on {skipped}: "
                    + "; ".join(board_reason(b) for b in skipped))


# -------------------------------------------------------- module files, no tree needed --

def test_sample_yaml_allows_every_qemu_board_and_keeps_qemu_alive():
    import yaml

    for sample in SAMPLES:
        spec = yaml.safe_load((SAMPLES_DIR / sample / "sample.yaml").read_text())
        common = spec["common"]
        assert set(common["platform_allow"].split()) == set(NATIVE_BOARDS) | set(QEMU_BOARDS), sample
        assert common["harness"] == "console", sample
        for name, test in spec["tests"].items():
            assert "CONFIG_QNNC_SAMPLE_IDLE_ON_SUCCESS=y" in test["extra_configs"], (sample, name)


def test_docs_state_the_test_data_arrays_and_how_a_run_ends(tmp_path):
    """docs/zephyr.md shows the declarations of <name>_test_data.h as the generator writes them, and
    how an application ends a native_sim / QEMU run, also under twister."""
    doc = " ".join((REPO / "docs" / "zephyr.md").read_text().split())
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugin")}
    kws = MODELS_DIR / "kws"
    subprocess.run([sys.executable, "-m", "qnnc", "build", str(kws / "kws.onnx"), "-c", str(kws / "kws.yaml"),
                    "-o", str(tmp_path / "kws"), "--runtime", "none", "-q"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    header = (tmp_path / "kws" / "kws_test_data.h").read_text()
    decls = re.findall(r"^(?:extern const [^;]+;|int kws_selftest\([^;]+;|#define KWS_TEST_COUNT \d+)", header, re.M)
    assert len(decls) == 6, header
    for decl in decls:
        assert " ".join(decl.split()) in doc, decl
    sample_yaml = (SAMPLES_DIR / "kws" / "sample.yaml").read_text()
    for needle in ("posix_exit(status)", "<posix_board_if.h>", "CONFIG_SEMIHOST=y", "SYS_EXIT",
                   "unexpected eof", "harness: console", "- CONFIG_QNNC_SAMPLE_IDLE_ON_SUCCESS=y"):
        assert needle in doc, needle
    assert "- CONFIG_QNNC_SAMPLE_IDLE_ON_SUCCESS=y" in sample_yaml

def test_module_yml_files():
    import yaml

    root = yaml.safe_load((REPO / "zephyr" / "module.yml").read_text())
    assert root["name"] == "qnnc"
    assert (REPO / root["build"]["cmake"] / "CMakeLists.txt").is_file()
    assert (REPO / root["build"]["kconfig"]).is_file()
    inner = yaml.safe_load((MODULE_DIR / "zephyr" / "module.yml").read_text())
    assert inner["name"] == "qnnc"
    assert (MODULE_DIR / inner["build"]["cmake"] / "CMakeLists.txt").is_file()
    assert (MODULE_DIR / inner["build"]["kconfig"]).is_file()
    for sample in SAMPLES:
        for f in ("CMakeLists.txt", "prj.conf", "sample.yaml", "README.rst", "src/main.c"):
            assert (SAMPLES_DIR / sample / f).is_file(), (sample, f)


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_missing_python_packages_fail_with_one_pip_command(tmp_path):
    """A Python without numpy/onnx/pyyaml (and without qnnc): one message naming the pip install."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    script = tmp_path / "probe.cmake"
    script.write_text(f"""\
set(PYTHON_EXECUTABLE "{python.as_posix()}")
set(CMAKE_BINARY_DIR "{tmp_path.as_posix()}")
include("{(MODULE_DIR / 'cmake' / 'qnnc.cmake').as_posix()}")
qnnc_setup_python()
""")
    r = subprocess.run(["cmake", "-P", str(script)], capture_output=True, text=True, cwd=tmp_path,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert r.returncode != 0
    msg = r.stderr
    assert "numpy onnx pyyaml" in msg and "-m pip install numpy onnx pyyaml" in msg, msg
    assert "onnxruntime" in msg, msg
    assert msg.count("CMake Error") == 1, msg
