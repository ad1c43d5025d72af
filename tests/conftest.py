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


# The files with the longest total run time in a CI run (every tier), longest first. With
# ``--dist loadfile`` xdist hands whole files to the workers in collection order (see
# pytest_configure), so these start first and none of them is left to run alone at the end while
# the other worker idles (the Zephyr file alone takes about a third of a run).
LONG_FILES_FIRST = (
    "test_zephyr.py",
    "test_cortex_m.py",
    "test_int16.py",
    "test_ops_elementwise.py",
    "test_int4.py",
    "test_errors.py",
    "test_generated_code_safety.py",
    "test_models.py",
    "test_ops_composite.py",
    "test_fuzz.py",
    "test_platformio.py",
    "test_ops_reduce.py",
    "test_calibration.py",
)


def pytest_configure(config):
    # xdist's default for loadfile/loadscope reorders files by their number of tests, which
    # says little about their run time; keep the order of LONG_FILES_FIRST instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
    if config.getoption("--all") or config.getoption("-m"):
        return
    skip = pytest.mark.skip(reason="slow tier: run with --all")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
