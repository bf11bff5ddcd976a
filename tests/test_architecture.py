"""The package's architecture, read from its own source: imports flow one way between the subpackages
(``data -> nets, eval -> train -> stages -> report, viz -> bench, pipeline, predict -> cli``), there is no cycle, no
package import inside a function, no ``_private`` name used across modules, and every subpackage declares its
public names. The same import graph drives the pipeline's change detection (:func:`stanet_lib.pipeline.reachable`).
"""

from __future__ import annotations

import ast
import importlib
import shutil

import pytest

from stanet_lib import pipeline
from stanet_lib.paths import PROJ_ROOT

PKG = PROJ_ROOT / "stanet_lib"

# Rank of each part of the package: a module may import only parts of a lower rank (or its own part).
RANKS = {
    "stanet_lib": 0, "config": 0, "paths": 0, "progress": 0, "scam": 0,
    "artefacts": 1,
    "data": 2,
    "nets": 3, "eval": 3,
    "train": 4,
    "stages": 5,
    "report": 6, "viz": 6,
    "bench": 7, "pipeline": 7, "predict": 7,
    "cli": 8,
    "__main__": 9,
}  # fmt: skip
# Imports between two parts of the same rank that are part of the design: the report's figures draw with viz.render.
SIDEWAYS = {("report", "viz")}


def part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def find_cycle(graph: dict[str, dict[str, bool]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules, or None."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        colour[m] = 1
        stack.append(m)
        for n in graph.get(m, {}):
            if colour.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n in graph and not colour.get(n):
                found = visit(n)
                if found:
                    return found
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(graph):
        if not colour.get(m):
            found = visit(m)
            if found:
                return found
    return None


def order_violations(graph: dict[str, dict[str, bool]]) -> list[str]:
    bad = []
    for a, edges in graph.items():
        for b in edges:
            pa, pb = part(a), part(b)
            if pa == pb or (pa, pb) in SIDEWAYS:
                continue
            if RANKS[pb] >= RANKS[pa]:
                bad.append(f"{a} imports {b} ({pa} rank {RANKS[pa]} -> {pb} rank {RANKS[pb]})")
    return bad


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, bool]]:
    return pipeline.import_graph(PKG)


def test_every_part_has_a_rank(graph):
    assert {part(m) for m in graph} <= set(RANKS), sorted({part(m) for m in graph} - set(RANKS))


def test_no_import_cycle(graph):
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_imports_flow_one_way(graph):
    assert order_violations(graph) == []


def test_no_package_import_inside_a_function(graph):
    inner = sorted(f"{a} -> {b}" for a, edges in graph.items() for b, is_inner in edges.items() if is_inner)
    assert inner == []


def test_no_private_name_crosses_a_module():
    """No ``from .x import _name`` and no ``module._name`` on an imported package module."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text())
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("stanet_lib")):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{path.relative_to(PROJ_ROOT)}: imports {a.name}")
                    aliases.add(a.asname or a.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{path.relative_to(PROJ_ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert bad == []


def test_subpackages_declare_their_public_names():
    subpackages = sorted(p.parent.name for p in PKG.glob("*/__init__.py"))
    assert subpackages == ["bench", "data", "eval", "nets", "report", "stages", "train", "viz"]
    for name in subpackages:
        mod = importlib.import_module(f"stanet_lib.{name}")
        assert 3 <= len(mod.__all__) <= 8, (name, mod.__all__)
        for public in mod.__all__:
            assert hasattr(mod, public), (name, public)
        assert mod.__doc__ and len(mod.__doc__) > 80, name


def test_the_top_level_is_small_and_named_after_concepts():
    top = sorted(p.stem for p in PKG.glob("*.py"))
    assert len(top) <= 10, top
    everywhere = [p.stem for p in PKG.rglob("*.py")]
    assert not [s for s in everywhere if s.startswith("speed") or s == "train_bench"], everywhere


def test_the_checker_finds_a_cycle_an_inner_import_and_a_wrong_way_import(tmp_path):
    """The rules above are tested on a package built to break each of them."""
    pkg = tmp_path / "stanet_lib"
    (pkg / "data").mkdir(parents=True)
    (pkg / "stages").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "stages" / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("from . import b\n")
    (pkg / "data" / "b.py").write_text("def f():\n    from . import a\n")
    (pkg / "data" / "c.py").write_text("from ..stages import world\n")
    (pkg / "stages" / "world.py").write_text("from ..data import c\n")
    g = pipeline.import_graph(pkg)
    assert g["stanet_lib.data.b"] == {"stanet_lib.data.a": True}  # inside a function
    assert set(find_cycle(g)) >= {"stanet_lib.data.a", "stanet_lib.data.b"}
    assert order_violations(g) == ["stanet_lib.data.c imports stanet_lib.stages.world (data rank 2 -> stages rank 5)"]


def test_stage_keys_hash_only_the_modules_a_stage_reaches(tmp_path, monkeypatch):
    """Editing a benchmark reruns no stage; editing stage 04's module reruns 04 and what imports it."""
    graph = pipeline.import_graph(PKG)
    for stage in pipeline.STAGES:
        mods = pipeline.reachable(pipeline.notebook_imports(stage), graph)
        assert not [m for m in mods if m.startswith("stanet_lib.bench")], stage
    assert "stanet_lib.stages.fine" in pipeline.reachable(pipeline.notebook_imports("04_fine_pseudo_fixations"), graph)
    copy = tmp_path / "proj"
    shutil.copytree(PKG, copy / "stanet_lib", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(pipeline, "PACKAGE_ROOT", copy)  # the library code is the imported package's
    before = {s: pipeline.library_digest(s) for s in pipeline.STAGES}
    with open(copy / "stanet_lib" / "bench" / "perf.py", "a") as f:
        f.write("\n# an edited benchmark\n")
    assert {s: pipeline.library_digest(s) for s in pipeline.STAGES} == before
    with open(copy / "stanet_lib" / "stages" / "fine.py", "a") as f:
        f.write("\n# an edited stage 04\n")
    after = {s: pipeline.library_digest(s) for s in pipeline.STAGES}
    assert after["04_fine_pseudo_fixations"] != before["04_fine_pseudo_fixations"]
    assert after["01_data_prep"] == before["01_data_prep"]  # the data stage cannot reach stage 04's code


def test_lint_target_exists():
    """``make lint`` (ruff with the rules of pyproject.toml) is what ``make test`` runs first."""
    makefile = (PROJ_ROOT / "Makefile").read_text()
    assert "\nlint:" in makefile and "ruff check" in makefile
    assert "test: $(STAMP) browser lint" in makefile
    assert "PLC0415" in (PROJ_ROOT / "pyproject.toml").read_text()
