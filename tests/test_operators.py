"""The operator list (passes/operators.py) is what the passes accept and what the README shows:
no op documented that the front end refuses, none accepted without a line, none without a
quantizer rule, and the README's table is `qnnc ops --markdown` byte for byte."""
from __future__ import annotations

from pathlib import Path

from onnx_factory import run_cli
from qnnc.frontend.decompose import COMPOSITES, LEGACY_OPS, TF2ONNX_LEFTOVERS
from qnnc.frontend.dynamic_quant import DYNAMIC_OPS
from qnnc.frontend.index_one_hot import ONE_HOT_OPS
from qnnc.frontend.newer_opsets import INLINED_OPS, NEWER_OPS
from qnnc.passes import _ACCEPTED
from qnnc.passes.operators import OPERATORS, markdown_table
from qnnc.quantize.lower_graph import RULES

REPO = Path(__file__).resolve().parent.parent
REMOVED = {"Identity"}  # canonical ops the passes delete


def test_every_accepted_onnx_op_is_documented_and_nothing_more():
    canonical = {c for c, _ in OPERATORS.values()}
    # composites, removed legacy ops and ops of opsets after 21 are rewritten before the passes see
    # them (frontend/decompose.py, frontend/newer_opsets.py)
    rewritten = set(COMPOSITES) | set(LEGACY_OPS) | set(NEWER_OPS) | set(INLINED_OPS) | set(TF2ONNX_LEFTOVERS) | \
        set(DYNAMIC_OPS) | set(ONE_HOT_OPS)
    assert rewritten <= set(OPERATORS)
    assert set(OPERATORS) <= _ACCEPTED | rewritten, sorted(set(OPERATORS) - _ACCEPTED - rewritten)
    undocumented = _ACCEPTED - set(OPERATORS) - canonical
    assert not undocumented, f"accepted but not in passes/operators.py: {sorted(undocumented)}"


def test_every_documented_op_has_an_int8_rule():
    missing = {op for op, (c, _) in OPERATORS.items() if c not in RULES[8] and c not in REMOVED}
    assert not missing, sorted(missing)


def test_readme_table_is_generated_from_the_list():
    r = run_cli(["ops", "--markdown"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == markdown_table(frozenset(RULES[16]))
    readme = (REPO / "README.md").read_text()
    assert r.stdout in readme, "README's operator table is stale: paste `qnnc ops --markdown` into it"
    assert "| Conv | yes |" in r.stdout and "| LSTM |" in r.stdout
