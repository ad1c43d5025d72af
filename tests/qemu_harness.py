"""The Cortex-M benchmark harness (benchmarks/harness.py) for tests: importable from the
repository, or the test is skipped with the reason (no QEMU or no arm-none-eabi-gcc)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def harness():
    """``benchmarks.harness``, or skip the calling test with what is missing."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from benchmarks import harness as H
    missing = H.missing_tools()
    if missing is not None:
        pytest.skip(f"Cortex-M tests need QEMU: {missing}")
    return H
