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
                        JOBS, memory_report, run, west, west_build)

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
        # On-target self-check of every layer, and a per-layer profile through the on_layer callback.
        assert "qnnc: selftest passed: every layer of every test input matches" in out, out[-4000:]
        assert len(re.findall(r"^  layer +\d+: \d+$", out, re.M)) == 12, out[-4000:]
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


def test_kconfig_ram_budget_fails_west_build_with_the_message(tmp_path):
    """CONFIG_QNNC_RAM_BUDGET below the model's arena stops `west build` with qnnc's budget error."""
    board = _native_board()
    app, _ = _make_app(tmp_path)
    r = west("build", "-p", "always", "-b", board, "-d", str(tmp_path / "build"), str(app), f"-o=-j{JOBS}",
             "--", f"-DZEPHYR_EXTRA_MODULES={MODULE_DIR}", "-DCONFIG_QNNC_RAM_BUDGET=12000", board=board)
    assert r.returncode != 0
    flat = " ".join(r.stdout.split())  # CMake wraps long messages
    assert "RAM budget exceeded: the arena needs 16000 B but --ram-budget allows 12000 B" in flat, r.stdout[-4000:]


# ------------------------------------------------------------------------------ twister --

@pytest.mark.slow
def test_twister_native_sim():
    _require("native_sim")
    out_dir = build_root() / "twister-out"
    env = board_env("native_sim")
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = os.environ.get("QNNC_ZEPHYR_JOBS", "2")
    cmd = [sys.executable, str(TREE / "scripts" / "twister"), "-T", str(SAMPLES_DIR),
           "-p", "native_sim", "-O", str(out_dir), "-j", "1", "--inline-logs"]
    if (out_dir / "twister.json").exists():
        cmd.append("--no-clean")  # incremental
    r = subprocess.run(cmd, env=env, cwd=TREE.parent, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-6000:]
    report = json.loads((out_dir / "twister.json").read_text())
    statuses = {s["name"]: s.get("status") for s in report["testsuites"]}
    expected = {f"sample.qnnc.{s}" for s in SAMPLES}
    passed = {name.rsplit("/", 1)[-1] for name, st in statuses.items() if st == "passed"}
    assert expected <= passed, statuses


# -------------------------------------------------------- module files, no tree needed --

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
