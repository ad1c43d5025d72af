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
    g = helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"], name="the_hardmax")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    p = tmp_path / "hardmax.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(p))
    r = qnnc("inspect", p)
    assert r.returncode == 2
    assert "the_hardmax" in r.stdout and "Hardmax" in r.stdout and "NO" in r.stdout


def test_deps_lists_every_input_file():
    r = qnnc("deps", KWS / "kws.onnx", "--config", KWS / "kws.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(KWS / f) for f in ("kws.onnx", "kws.yaml", "calibration.npz", "test.npz")]


def test_deps_lists_the_external_data_of_the_model(tmp_path):
    """A model saved with its weights in another file (ONNX external data): that file is a
    dependency too (a build system must rebuild when only the weights change), and it enters the
    inputs' hash of the provenance."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from qnnc.build import provenance
    from qnnc.config import load_config

    w = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], [w])
    onnx.save_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "m.onnx"),
                    save_as_external_data=True, location="weights.bin", size_threshold=0)
    (tmp_path / "q.yaml").write_text("name: m\n")
    r = qnnc("deps", tmp_path / "m.onnx", "--config", tmp_path / "q.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(tmp_path / f) for f in ("m.onnx", "weights.bin", "q.yaml")]
    assert "weights.bin" in provenance(str(tmp_path / "m.onnx"), load_config(str(tmp_path / "q.yaml")))["files"]
    (tmp_path / "weights.bin").unlink()  # missing: qnnc's message, not the build tool's "no rule"
    r = qnnc("deps", tmp_path / "m.onnx", "--config", tmp_path / "q.yaml")
    assert r.returncode == 2 and "weights.bin" in r.stderr and "external data" in r.stderr, r.stderr


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


def test_validate_compares_a_relu_read_tensor_after_the_relu(tmp_path):
    """A tensor whose range starts at 0 because only Relus read it (here the transposed input) is
    compared with its float value clipped at 0, what the Relu sees, and the table says so: its
    negative values are dropped on purpose, not lost."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1], name="tr"),
             helper.make_node("Relu", ["t"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w"], ["y"], name="fc")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3])],
                          initializer=[numpy_helper.from_array(rng.standard_normal((6, 3)).astype(np.float32), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "m.onnx"))
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((32, 6, 4)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("calibration:\n  data: d.npz\n  method: minmax\n")
    r = qnnc("validate", tmp_path / "m.onnx", "-c", tmp_path / "q.yaml", "--data", tmp_path / "d.npz", "--json")
    assert r.returncode == 0, r.stderr
    layers = {l["op"]: l for l in json.loads(r.stdout)["layers"]}
    assert layers["transpose"]["relu_read"] and not layers["fully_connected"]["relu_read"]
    assert layers["transpose"]["sqnr_db"] > 35  # against the unclipped float input: about 3 dB
    text = qnnc("validate", tmp_path / "m.onnx", "-c", tmp_path / "q.yaml", "--data", tmp_path / "d.npz").stdout
    assert "only Relus read it" in text


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


# --------------------------------------------------------------------------- help, tables, progress --


def test_every_subcommand_and_argument_has_help():
    """`qnnc <command> --help` explains the command and every argument."""
    import argparse
    from qnnc.cli import make_parser
    sub = next(a for a in make_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, parser in sub.choices.items():
        if not parser.description:
            missing.append(f"{name}: description")
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing
    r = qnnc("report", "--help")
    assert r.returncode == 0 and "float ONNX model" in r.stdout and "YAML" in r.stdout


def test_validate_help_and_readme_document_limit():
    r = qnnc("validate", "--help")
    assert r.returncode == 0 and "--limit N" in r.stdout and "first N samples" in " ".join(r.stdout.split())
    readme = (REPO / "README.md").read_text()
    assert "--limit" in readme


def test_verbose_table_says_what_the_live_range_is(tmp_path):
    """The per-layer table shows buffer lifetimes as op spans ('input .. op 1'), with a legend,
    not as '-1..1' (which reads like a value range)."""
    r = qnnc("build", KWS / "kws.onnx", "--config", KWS / "kws.yaml", "-o", tmp_path / "out", "-q", "-v")
    assert r.returncode == 0, r.stderr
    assert "buffer live" in r.stdout and "input .. op 1" in r.stdout and ".. output" in r.stdout
    assert "-1.." not in r.stdout
    assert "copied in before op 0" in r.stdout


def _progress_build(tmp_path, *extra):
    from onnx_factory import save, tiny_cnn
    import numpy as np
    save(tiny_cnn(), tmp_path / "m.onnx")
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(0).standard_normal((600, 1, 6, 6)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("calibration:\n  data: cal.npz\n  method: percentile\n")
    return qnnc("build", tmp_path / "m.onnx", "-c", tmp_path / "q.yaml", "-o", tmp_path / "out", *extra)


def test_progress_into_a_log_file_is_plain_lines(tmp_path):
    """stderr not a terminal: a few plain lines with percentages, never a carriage return."""
    r = _progress_build(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("qnnc: calibrating")]
    assert 2 <= len(lines) <= 12, r.stderr
    assert lines[-1].startswith("qnnc: calibrating 600/600 (100 %), done in")
    assert any(l.startswith("qnnc: histograms 600/600") for l in r.stderr.splitlines())
    quiet = _progress_build(tmp_path, "--quiet")
    assert quiet.returncode == 0 and "calibrating" not in quiet.stderr and "histograms" not in quiet.stderr


def test_progress_on_a_terminal_is_a_tqdm_bar():
    """On a terminal: tqdm's bar with the count, rate and ETA; the plain reporter otherwise."""
    import io
    pytest.importorskip("tqdm")
    from qnnc.quantize.calibrate import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    p = Progress(1000, "calibrating", stream=tty)
    for i in range(0, 1001, 50):
        p.update_to(i)
    p.close()
    assert p.bar is None and "qnnc: calibrating" in tty.getvalue() and "1000/1000" in tty.getvalue()
    assert "sample/s" in tty.getvalue() and "\r" in tty.getvalue()  # a bar redrawn in place
    log = io.StringIO()
    p = Progress(1000, "calibrating", stream=log)
    for i in range(1, 1001):
        p.update_to(i)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in log.getvalue()
    assert lines[0].startswith("qnnc: calibrating 100/1000 (10 %)") and "left" in lines[0]


def test_batched_validation_equals_one_sample_at_a_time(monkeypatch):
    """The batched comparison (onnxruntime batches, per-layer values read as batches) gives the
    per-sample results: same outputs, same per-layer SQNR."""
    import numpy as np
    import qnnc.validate as V
    from qnnc.build import generate
    from qnnc.config import load_config
    from qnnc.reference.interpreter import quantize_input
    cfg = load_config(str(KWS / "kws.yaml"))
    res = generate(str(KWS / "kws.onnx"), cfg, "kws", runtime=False, progress=False)
    graph, model = res.compiled.graph, res.compiled.model
    xs = np.repeat(np.load(KWS / "test.npz")["x"], 3, axis=0)[:25]
    q = quantize_input(model, xs)
    shape = {graph.inputs[0]: list(graph.shape(graph.inputs[0]))}
    monkeypatch.setattr(V, "BATCH", 8)
    f8, r8, l8 = V.float_and_layers(str(KWS / "kws.onnx"), graph, model, xs, q, shape)
    monkeypatch.setattr(V, "BATCH", 1)
    f1, r1, l1 = V.float_and_layers(str(KWS / "kws.onnx"), graph, model, xs, q, shape)
    assert np.array_equal(r8, r1) and np.allclose(f8, f1, rtol=1e-5, atol=1e-6)
    assert [l["name"] for l in l8] == [l["name"] for l in l1] and len(l1) >= 10
    for a, b in zip(l8, l1):
        assert (a["sqnr_db"] is None) == (b["sqnr_db"] is None)
        assert a["sqnr_db"] is None or abs(a["sqnr_db"] - b["sqnr_db"]) < 1e-6, (a, b)


def test_float_batches_only_where_the_model_allows(tmp_path, capfd):
    """A model with a batch-generic graph runs in batches; one reshaping to a fixed batch of 1 (like
    MNIST-8's Reshape to [1, 256]) falls back to one sample per call, silently."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
    from qnnc.validate import FloatBatches

    def make(shape):
        nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "s"], ["y"])]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])],
                              [onnx.numpy_helper.from_array(np.array(shape, np.int64), "s")])
        path = tmp_path / f"m{len(shape)}{shape[0]}.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
        return str(path)

    xs = np.random.default_rng(0).standard_normal((10, 2, 3)).astype(np.float32)
    for shape, batched in (([-1, 6], True), ([1, 6], False)):
        fb = FloatBatches(make(shape), {"x": [1, 2, 3]}, xs, batch=4)
        assert (fb.multi is not None) == batched
        got = np.concatenate([fb.run(xs[i:i + 4])["y"] for i in range(0, 10, 4)])
        assert np.array_equal(got, np.maximum(xs, 0).reshape(10, 6))
    assert "Reshape" not in capfd.readouterr().err  # onnxruntime's own log of the failed probe is muted


def test_ci_runs_the_readme_test_command():
    """.ci/run calls the README's test command (the second quickstart command), with -ra and
    --durations added (the summary lists skip reasons and where the CI time goes)."""
    import re
    readme = (REPO / "README.md").read_text()
    block = re.search(r"# 2\. run the tests[^\n]*\n(python -m pytest[^\n]*)\n", readme)
    assert block, "README quickstart lost its test command"
    ci = (REPO / ".ci" / "run").read_text()
    ci_cmd = [line for line in ci.splitlines() if "-m pytest" in line and not line.lstrip().startswith("#")]
    assert len(ci_cmd) == 1
    bare = re.sub(r" --durations=\d+", "", ci_cmd[0].replace("python3", "python").replace(" -ra", ""))
    assert bare == block.group(1)
