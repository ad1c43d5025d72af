"""The package keeps the shape docs/architecture.md describes: stages as folders, one direction
of imports, no cycles, no stage reading the config, small kernel sources."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Set

import qnnc

PKG = Path(qnnc.__file__).resolve().parent
FOUNDATION = {"qnnc.errors", "qnnc.ir", "qnnc.qmodel", "qnnc.kernel_params", "qnnc"}
# What each stage may import besides the foundation and itself (earlier stages only).
STAGE_DEPENDS = {
    "frontend": set(),
    "passes": set(),
    "quantize": {"frontend"},
    "reference": {"quantize"},
    "plan": set(),
    "emit": {"plan", "reference"},
    "report": {"plan"},
    "runtime": set(),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> Dict[str, Set[str]]:
    """{module: qnnc modules it imports} from the sources (imports inside functions included)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: Dict[str, Set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: List[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    for name in modules:
        graph.setdefault(name, set())
    return dict(graph)


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PKG / parts[1]).is_dir()) else ""


def test_no_import_cycles_between_modules_or_stages():
    graph = import_graph()
    assert _cycles(graph) == []
    stages: Dict[str, Set[str]] = defaultdict(set)
    for a, targets in graph.items():
        for b in targets:
            if _stage(a) and _stage(b) and _stage(a) != _stage(b):
                stages[_stage(a)].add(_stage(b))
    assert _cycles(dict(stages)) == []


def test_stages_import_only_earlier_stages_and_never_the_config():
    bad = []
    for module, targets in import_graph().items():
        stage = _stage(module)
        if not stage:
            continue
        allowed = STAGE_DEPENDS[stage] | {stage}
        for t in targets:
            if t in FOUNDATION:
                continue
            if _stage(t) not in allowed:
                bad.append(f"{module} imports {t}")
    assert bad == []


def test_top_level_holds_at_most_twelve_modules():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 12, top
    for stage in STAGE_DEPENDS:
        assert (PKG / stage / "__init__.py").is_file() or stage == "runtime" and (PKG / stage).is_dir()


def test_kernel_sources_stay_small():
    long = {p.name: n for p in sorted((PKG / "runtime").rglob("*.[ch]"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700}
    assert long == {}


def test_rule_tables_of_each_precision_are_independent():
    """rules_s8 and rules_s16 share helpers, never each other's internals."""
    graph = import_graph()
    assert "qnnc.quantize.rules_s16" not in graph["qnnc.quantize.rules_s8"]
    assert "qnnc.quantize.rules_s8" not in graph["qnnc.quantize.rules_s16"]
