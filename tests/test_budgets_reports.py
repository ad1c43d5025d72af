"""RAM/flash budgets fail the build with the largest consumers; reports are written beside the code."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KWS = REPO / "samples" / "models" / "kws"


def qnnc(*args):
    return subprocess.run([sys.executable, "-m", "qnnc", *map(str, args)], capture_output=True, text=True)


def test_ram_budget_on_command_line_fails_and_writes_nothing(tmp_path):
    r = qnnc("build", KWS / "kws.onnx", "-c", KWS / "kws.yaml", "-o", tmp_path / "out", "--ram-budget", "12KiB", "-q")
    assert r.returncode == 2
    assert "RAM budget exceeded: the arena needs 16000 B but --ram-budget allows 12288 B" in r.stderr
    assert "Relu__5:0 8000 B" in r.stderr and "What would help" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()


def test_flash_budget_in_yaml_names_key_and_line(tmp_path):
    cfg = tmp_path / "kws.yaml"
    cfg.write_text(f"name: kws\ncalibration:\n  data: {KWS / 'calibration.npz'}\nflash_budget: 20 KiB\n")
    r = qnnc("build", KWS / "kws.onnx", "-c", cfg, "-o", tmp_path / "out", "-q")
    assert r.returncode == 2
    assert "flash budget exceeded: weights and tables need 29840 B but flash_budget in kws.yaml:4 allows 20480 B" \
        in r.stderr
    assert "Largest: layer" in r.stderr and not (tmp_path / "out").exists()


def test_budgets_that_fit_pass_and_bad_sizes_are_errors(tmp_path):
    cfg = tmp_path / "kws.yaml"
    cfg.write_text(f"calibration:\n  data: {KWS / 'calibration.npz'}\nram_budget: 16000\nflash_budget: 1 MiB\n")
    assert qnnc("build", KWS / "kws.onnx", "-c", cfg, "-o", tmp_path / "ok", "-q").returncode == 0
    cfg.write_text("ram_budget: lots\n")
    r = qnnc("build", KWS / "kws.onnx", "-c", cfg, "-o", tmp_path / "bad", "-q")
    assert r.returncode == 2 and "kws.yaml:1" in r.stderr and "ram_budget" in r.stderr


def test_reports_written_beside_the_code(tmp_path):
    out = tmp_path / "out"
    assert qnnc("build", KWS / "kws.onnx", "-c", KWS / "kws.yaml", "-o", out, "-q").returncode == 0
    md = (out / "kws_report.md").read_text()
    assert "arena **16,000 B**" in md
    assert len(re.findall(r"^\| \d+ \|", md, re.M)) == 14  # one row per layer
    page = (out / "kws_report.html").read_text()
    assert page.count("<svg") == 1 and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    # One timeline box per arena buffer, each with a tooltip naming its tensors.
    import json
    report = json.loads((out / "kws_report.json").read_text())
    assert page.count("<title>") == len(report["buffers"]) + 1


def test_report_command_prints_markdown_and_writes_html(tmp_path):
    r = qnnc("report", KWS / "kws.onnx", "-c", KWS / "kws.yaml", "--html", tmp_path / "r.html")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# qnnc report: kws") and (tmp_path / "r.html").stat().st_size > 2000
