"""Stack use of generated code and kernels on Cortex-M4, from gcc -fstack-usage (static, worst case)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from qnnc.build import build
from qnnc.config import load_config

REPO = Path(__file__).resolve().parent.parent
KWS = REPO / "samples" / "models" / "kws"
FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2", "-std=c99",
         "-fstack-usage", "-c"]


def _frames(gen: Path, tmp: Path) -> dict:
    frames = {}
    for src in sorted(gen.glob("*.c")):
        obj = tmp / (src.stem + ".o")
        subprocess.run(["arm-none-eabi-gcc", *FLAGS, "-I", str(gen), str(src), "-o", str(obj)], check=True,
                       capture_output=True, text=True)
        for line in obj.with_suffix(".su").read_text().splitlines():
            m = re.match(r".*:([\w.]+)\t(\d+)\t(\w+)", line)
            assert m and m.group(3) == "static", f"dynamic or unbounded stack: {line}"
            frames[m.group(1).split(".")[0]] = int(m.group(2))  # kws_forward.constprop -> kws_forward
    return frames


def test_worst_case_stack_of_an_inference_is_small(tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi)")
    gen = tmp_path / "gen"
    build(str(KWS / "kws.onnx"), load_config(str(KWS / "kws.yaml")), str(gen), "kws", progress=False)
    frames = _frames(gen, tmp_path)
    kernels = {k: v for k, v in frames.items() if k.startswith("qnnc_")}
    # Call depth is fixed: kws_run -> kws_invoke -> kws_forward -> one kernel (a leaf).
    chain = frames["kws_run"] + frames["kws_invoke"] + frames.get("kws_forward", 0) + max(kernels.values())
    print(f"kws on Cortex-M4 -O2: worst-case stack {chain} B "
          f"(run {frames['kws_run']}, invoke {frames['kws_invoke']}, forward {frames.get('kws_forward', 0)}"
          f" [may be inlined], deepest kernel {max(kernels, key=kernels.get)} {max(kernels.values())})")
    assert chain <= 384  # measured 304 B with the portable kernels (GCC 12.2)
