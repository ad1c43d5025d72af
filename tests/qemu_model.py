"""Run a generated model on an emulated Cortex-M core (QEMU, benchmarks/harness.py) and read which
symbols its firmware links: what the tests of per-target weight copies check."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Set, Tuple

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run_on_core(res, gen: Path, xs: np.ndarray, core: str, work: Path, name: str) -> Tuple[object, Set[str]]:
    """(benchmark result, names the ELF defines) of ``res`` (a BuildResult written to ``gen``) run on
    ``core`` with the float inputs ``xs`` (model layout); skips without QEMU."""
    from benchmarks import harness as H
    from benchmarks import modelbench as MB
    missing = H.missing_tools()
    if missing:
        pytest.skip(f"Cortex-M tests need QEMU: {missing}")
    r = MB.bench_generated(res, Path(gen), MB.quantized_inputs(res, xs), H.MACHINES[core], work, name, hist=False)
    elf = next(Path(work).glob("*.elf"))
    syms = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return r, {line.split()[-1] for line in syms.splitlines() if line.strip()}


def run_bit_exact(res, gen: Path, xs: np.ndarray, core: str, work: Path, name: str) -> Tuple[object, Set[str]]:
    """``run_on_core``, asserting that every output matches the reference: (result, names)."""
    r, names = run_on_core(res, gen, xs, core, work, name)
    assert r.bit_exact, f"{r.mismatches} of {r.n_inputs} outputs differ from the reference on {core}"
    return r, names
