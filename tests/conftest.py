"""pytest configuration shared by all tests."""
import sys
from pathlib import Path

try:  # an installed (or already importable) qnnc wins
    import qnnc  # noqa: F401
except ImportError:  # run from a source checkout: make plugin/ importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugin"))
