"""pytest configuration shared by all tests.

Tiers: a plain ``pytest`` runs everything but tests marked ``slow`` (under 15 minutes on two
cores); ``pytest --all`` (what .ci/run calls) adds the slow tier.
"""
import sys
from pathlib import Path

import pytest

try:  # an installed (or already importable) qnnc wins
    import qnnc  # noqa: F401
except ImportError:  # run from a source checkout: make plugin/ importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugin"))

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", default=False,
                     help="also run the slow tier (full data sets, long emulator runs)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--all") or config.getoption("-m"):
        return
    skip = pytest.mark.skip(reason="slow tier: run with --all")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
