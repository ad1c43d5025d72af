"""The qnnc command line: inspect, deps, runtime-path, validate, and the README quickstart."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KWS = REPO / "samples" / "models" / "kws"
DIGITS = REPO / "samples" / "models" / "digits"


def qnnc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qnnc", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_inspect_lists_ops_macs_and_verdict():
    r = qnnc("inspect", DIGITS / "digits.onnx")
    assert r.returncode == 0, r.stderr
    assert "BatchNormalization" in r.stdout and "compiles: yes" in r.stdout
    info = json.loads(qnnc("inspect", DIGITS / "digits.onnx", "--json").stdout)
    assert info["macs"] == 84224  # as stated in the model's SOURCE.txt
    assert info["compiles"] and all(n["supported"] for n in info["nodes"])


def test_inspect_names_unsupported_op(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Erf", ["x"], ["y"], name="the_erf")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    p = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(p))
    r = qnnc("inspect", p)
    assert r.returncode == 2
    assert "the_erf" in r.stdout and "Erf" in r.stdout and "NO" in r.stdout


def test_deps_lists_every_input_file():
    r = qnnc("deps", KWS / "kws.onnx", "--config", KWS / "kws.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(KWS / f) for f in ("kws.onnx", "kws.yaml", "calibration.npz", "test.npz")]


def test_runtime_path_holds_the_kernel_library():
    d = Path(qnnc("runtime-path").stdout.strip())
    assert (d / "include" / "qnnc_kernels.h").is_file()
    assert len(list((d / "src").glob("qnnc_*.c"))) >= 14


def test_validate_json_reports_bit_exact_and_accuracy():
    r = qnnc("validate", DIGITS / "digits.onnx", "--config", DIGITS / "digits.yaml", "--data",
             DIGITS / "test.npz", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["bit_exact"] and res["samples"] == 10 and res["sanitizers"]
    assert res["accuracy_int8"] >= 0.9 and res["float_mean_abs_error_lsb"] < 2.0


def test_build_without_config_notes_the_defaults(tmp_path):
    r = qnnc("build", DIGITS / "digits.onnx", "--output", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "no calibration data" in r.stderr and "digits: 7 ops" in r.stdout
    assert (tmp_path / "out" / "digits.h").is_file()


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_readme_quickstart_host_sample(tmp_path):
    out = tmp_path / "kws"
    r = subprocess.run(["make", "-C", str(REPO / "samples" / "host"), "run", f"OUT={out}",
                        f"QNNC={sys.executable} -m qnnc"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "qnnc: 10/10 match reference" in r.stdout
    assert "accuracy: 10/10" in r.stdout
