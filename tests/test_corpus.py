"""Every model of ../shared/models/corpus built with default settings.

A model that compiles must be bit-exact (C under ASan/UBSan against the numpy reference) and
close to float onnxruntime on seeded inputs: output SQNR >= 20 dB, mean error <= 3 output LSB.
A model that is refused must be refused cleanly (one paragraph naming node and op, nothing
written) and be listed in REFUSED with the reason; a listed model that now compiles fails the
test too, so the list only shrinks. The table is printed (``-s``) and by ``python -m benchmarks.corpus``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import corpus as C  # noqa: E402

# Models still refused, with the words their error must contain (what is missing).
REFUSED = {
}


def _models():
    d = C.corpus_dir()
    return C.corpus_models(d) if d is not None else []


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    if C.corpus_dir() is None:
        pytest.skip("model corpus not found: set QNNC_SHARED_MODELS or place it at ../shared/models/corpus")
    return tmp_path_factory.mktemp("corpus")


@pytest.mark.parametrize("model", _models() or ["(no corpus)"])
def test_corpus_model(model, work):
    row = C.measure(C.corpus_dir() / model / "model.onnx", work)
    print("\n" + C.format_table([row]).splitlines()[-3])
    if not row.ok:
        assert model in REFUSED, f"{model} is refused: {row.error}"
        assert REFUSED[model] in row.error, row.error
        assert "node '" in row.error or "input '" in row.error, row.error  # names where
        assert not (work / model).exists(), "a refused build wrote output"
        return
    assert model not in REFUSED, f"{model} compiles now: remove it from REFUSED"
    assert row.bit_exact, "the C differs from the reference"
    assert row.sqnr_db is not None and row.sqnr_db >= 20.0, row
    assert row.mean_err_lsb is not None and row.mean_err_lsb <= 3.0, row
