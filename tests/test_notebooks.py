"""Notebooks are thin, paired with jupytext, committed without outputs, and run under papermill.

Thin means a parameters cell, calls, figures and text: every piece of logic lives in the library. Checked on the
code cells of each jupytext source (``notebooks/NN_*.py``) with :func:`thin_violations`: no ``def``, ``async
def``, ``class`` or ``lambda``, no ``while`` loop, and no loop over data: a ``for`` loop or a comprehension may
only iterate over a literal tuple / list / set of constants written in the cell (``for n in ("S", "ST")``: a
fixed set of names, not data). Iterating over anything computed (``world.test_sets()``, ``d.items()``, a
variable) is a loop over data, also when its body only draws a figure: a figure per test set is one library
call. ``if`` on a parameter is allowed.
"""

import ast
import json
import shutil
import subprocess

import jupytext
import nbformat
import pandas as pd
import papermill as pm
import pytest

from stanet_lib import pipeline
from stanet_lib.config import PIPELINE_PARAMETERS
from stanet_lib.paths import NOTEBOOKS_DIR

PY_SOURCES = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))

_DEFINITIONS = {ast.FunctionDef: "def", ast.AsyncFunctionDef: "async def", ast.ClassDef: "class",
                ast.Lambda: "lambda", ast.While: "while loop"}
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _is_literal(node: ast.expr) -> bool:
    """A tuple / list / set display of constants, written out in the cell."""
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(isinstance(e, ast.Constant) for e in node.elts)


def thin_violations(py_source: str) -> list[str]:
    """``"line N: what"`` for every construct of a jupytext percent source's code cells that a thin notebook may
    not hold (module docstring); N is the line in ``py_source``."""
    nb = jupytext.reads(py_source, fmt="py:percent")
    out = []
    searched = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        start = py_source.index(cell.source, searched)  # cells appear verbatim, in order
        searched = start + len(cell.source)
        first_line = py_source.count("\n", 0, start) + 1
        for node in ast.walk(ast.parse(cell.source)):
            line = first_line + getattr(node, "lineno", 1) - 1
            if type(node) in _DEFINITIONS:
                name = getattr(node, "name", "")
                out.append(f"line {line}: {_DEFINITIONS[type(node)]} {name}".rstrip())
            elif isinstance(node, (ast.For, ast.AsyncFor)) and not _is_literal(node.iter):
                out.append(f"line {line}: for loop over data `{ast.unparse(node.iter)}`")
            elif isinstance(node, _COMPREHENSIONS):
                for gen in node.generators:
                    if not _is_literal(gen.iter):
                        out.append(f"line {line}: comprehension over data `{ast.unparse(gen.iter)}`")
    return out


def test_the_thin_rule_itself():
    header = "# %% [markdown]\n# # A notebook\n\n# %%\nfrom x import figures\n\n"
    assert thin_violations(header + "# %%\ndef helper(a):\n    return a + 1\n") == ["line 8: def helper"]
    bad = {"class C:\n    pass\n": "class C", "f = lambda a: a\n": "lambda",
           "async def g():\n    pass\n": "async def g", "while True:\n    break\n": "while loop",
           "for s in world.test_sets():\n    figures.save(s)\n": "for loop over data `world.test_sets()`",
           "for k in KEYS:\n    figures.save(k)\n": "for loop over data `KEYS`",
           "x = [v for k, v in d.items()]\n": "comprehension over data `d.items()`",
           "x = {n: len(f) for n, f in sets.items()}\n": "comprehension over data `sets.items()`",
           "x = sum(a for a in range(3))\n": "comprehension over data `range(3)`"}
    for src, what in bad.items():
        assert thin_violations(header + "# %%\n" + src) == [f"line 8: {what}"], src
    ok = ("# %% tags=[\"parameters\"]\nPROFILE: str = \"demo\"\nFPS: float = 0.0\n\n"
          "# %%\nif FPS:\n    cfg = figures.load(fps=FPS)\n"
          "curves = figures.curves({n: f\"coarse_{n}\" for n in (\"S\", \"ST\", \"SA\")})\n"
          "for name in (\"a\", \"b\"):\n    figures.save(name)\n"
          "figures.save(f\"{PROFILE}.png\", [x * 2 for x in [1, 2]]);\n")
    assert thin_violations(header + ok) == []


@pytest.mark.parametrize("src", PY_SOURCES, ids=lambda p: p.stem)
def test_notebook_is_thin(src):
    violations = thin_violations(src.read_text())
    assert violations == [], f"{src.relative_to(NOTEBOOKS_DIR.parent)}: " + "; ".join(violations)


def _git(*args: str, cwd=NOTEBOOKS_DIR.parent) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_every_stage_has_a_notebook_and_git_tracks_only_its_source():
    assert PY_SOURCES, "no notebooks"
    for stage in pipeline.STAGES:
        assert (NOTEBOOKS_DIR / f"{stage}.py").exists(), stage
    tracked = _git("ls-files", "notebooks").split()
    assert [t for t in tracked if t.endswith(".ipynb")] == [], "an .ipynb is tracked: git rm --cached it"
    assert _git("check-ignore", "notebooks/01_data_prep.ipynb").strip() == "notebooks/01_data_prep.ipynb"


@pytest.mark.parametrize("src", PY_SOURCES, ids=lambda p: p.stem)
def test_parameters_cell(src):
    params = [c for c in jupytext.read(src).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{src.name}: exactly one cell tagged parameters"
    assert "SMOKE: bool = False" in params[0].source
    assert "PROFILE: str" in params[0].source


def test_saving_in_jupyterlab_writes_the_same_source(tmp_path):
    """JupyterLab saves through jupytext's contents manager (the jupytext server extension, jupytext.toml):
    saving a notebook with outputs rewrites its .py byte for byte and puts the outputs only into the .ipynb."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(NOTEBOOKS_DIR.parent / "jupytext.toml", tmp_path / "jupytext.toml")
    for src in PY_SOURCES:
        shutil.copy(src, tmp_path / "notebooks" / src.name)
    cm = jupytext.TextFileContentsManager(root_dir=str(tmp_path))
    for src in PY_SOURCES:
        model = cm.get(f"notebooks/{src.name}", content=True, type="notebook")
        code = next(c for c in model["content"].cells if c.cell_type == "code")
        code.outputs = [nbformat.v4.new_output("stream", text="ran\n")]
        code.execution_count = 1
        cm.save(model, f"notebooks/{src.name}")
        assert (tmp_path / "notebooks" / src.name).read_bytes() == src.read_bytes(), src.name
        paired = nbformat.read(tmp_path / "notebooks" / f"{src.stem}.ipynb", as_version=4)
        assert any(c.get("outputs") for c in paired.cells), "the outputs go to the ignored .ipynb"
        cm.save(cm.get(f"notebooks/{src.stem}.ipynb", content=True, type="notebook"), f"notebooks/{src.stem}.ipynb")
        assert (tmp_path / "notebooks" / src.name).read_bytes() == src.read_bytes(), f"{src.stem}.ipynb saved"


def _parameters_cell_and_next(src):
    cells = [c for c in jupytext.read(src).cells if c.cell_type == "code"]
    i = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    return cells[i], cells[i + 1]


@pytest.mark.parametrize("src", PY_SOURCES, ids=lambda p: p.stem)
def test_notebook_declares_the_pipeline_parameters_and_checks_them_first(src):
    params, first = _parameters_cell_and_next(src)
    declared = [n.target.id for n in ast.parse(params.source).body if isinstance(n, ast.AnnAssign)]
    assert set(PIPELINE_PARAMETERS) <= set(declared), set(PIPELINE_PARAMETERS) - set(declared)
    assert len(declared) == len(ast.parse(params.source).body), "every parameter is an annotated literal"
    assert first.source.startswith("check_parameters(globals())"), first.source[:80]


@pytest.mark.parametrize("src", PY_SOURCES, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(src, tmp_path):
    """``papermill --help-notebook`` and its "unknown parameter" warning use papermill's own reading of the
    parameters cell, which skips a line it cannot parse (a comment with a quote or a semicolon did): every declared
    parameter must be among the names it reads."""
    params, _ = _parameters_cell_and_next(src)
    declared = [n.target.id for n in ast.parse(params.source).body if isinstance(n, ast.AnnAssign)]
    path = tmp_path / f"{src.stem}.ipynb"
    nbformat.write(jupytext.read(src), path)
    assert sorted(pm.inspect_notebook(str(path))) == sorted(declared)


@pytest.mark.slow
@pytest.mark.parametrize("src", PY_SOURCES, ids=lambda p: p.stem)
def test_notebook_rejects_an_unknown_parameter(src, tmp_path):
    """papermill only warns on a parameter the notebook lacks; the notebook's first cell stops the run."""
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as failed:
        pm.execute_notebook(jupytext.read(src), str(out), parameters={"profile": "smoke", "SMOKE": True},
                            cwd=str(tmp_path), kernel_name="python3", progress_bar=False)
    assert failed.value.ename == "ParameterError"
    assert "unknown parameter 'profile' (did you mean PROFILE?)" in failed.value.evalue
    assert "check_parameters(globals())" in failed.value.source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ipynb"]  # stopped before writing anything


def test_pipeline_refuses_a_parameter_no_notebook_has(tmp_path):
    with pytest.raises(ValueError, match=r"unknown notebook parameter\(s\) \['EPOCHS'\]"):
        pipeline.run("smoke", {"EPOCHS": 3}, tmp_path, log=lambda m: None)
    assert not (tmp_path / "executed").exists()


@pytest.mark.slow
def test_whole_pipeline_runs_under_papermill_and_skips_when_unchanged(smoke_pipeline):
    report = smoke_pipeline.report
    assert report.ok, [s.message for s in report.stages if s.status == "failed"]
    assert [s.stage for s in report.stages] == list(pipeline.STAGES)
    assert [s.status for s in report.stages] == ["ran"] * len(pipeline.STAGES)
    reports = smoke_pipeline.reports
    for stage in pipeline.STAGES:
        nb = json.loads((reports / "executed" / f"{stage}.ipynb").read_text())
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert errors == [], stage
        stderr = [o["text"] for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stderr"]
        assert stderr == [], (stage, stderr)  # progress goes to stdout as one line per loop, no stderr boxes
    for stage, line in (("01_data_prep", "prep: "), ("03_coarse_scam", "coarse CAMs, SCAM, boxes: "),
                        ("03_coarse_scam", "coarse maps, STAViS metrics: "),
                        ("04_fine_pseudo_fixations", "fine CAMs, SCAM, pseudo-fixations: ")):
        nb = json.loads((reports / "executed" / f"{stage}.ipynb").read_text())
        stdout = "".join("".join(o["text"]) for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stdout")
        assert any(ln.startswith(line) and ln.endswith(" s") for ln in stdout.splitlines()), (stage, line)
        assert (reports / "html" / f"{stage}.html").stat().st_size > 10_000, stage
    assert (smoke_pipeline.data_root / "cache" / "smoke" / "index.csv").exists()
    summary = (reports / "README.md").read_text()
    for stage in pipeline.STAGES:
        assert f"| {stage} | ran |" in summary
    targets = pd.read_csv(reports / "tables" / "targets.csv")  # the smoke run's own targets, judged (not met: 1 epoch)
    assert len(targets) >= 20 and targets["holds"].dtype == bool and targets["reference"].notna().all()
    assert f"{int(targets['holds'].sum())} of {len(targets)} targets hold in this run" in summary
    params = {"SMOKE": True, "DATA_ROOT": str(smoke_pipeline.data_root), "REPORTS_DIR": str(reports),
              "OVERRIDES": "train.progress=false"}
    again = pipeline.run("smoke", params, reports, stages=["01_data_prep"], log=lambda m: None)
    assert [s.status for s in again.stages] == ["skipped"]


def _notebook(folder, stage: str, code: str) -> None:
    """A stage notebook pair: a parameters cell, then ``code``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("PROFILE = 'demo'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / f"{stage}.ipynb")
    (folder / f"{stage}.py").write_text(f"# %% tags=[\"parameters\"]\nPROFILE = 'demo'\n\n# %%\n{code}\n")


def test_failure_names_notebook_and_cell(tmp_path, monkeypatch):
    """A failing cell stops the run: the message names the notebook, the cell (papermill's injected parameters
    cell counts) and the exception; the stages after it do not run."""
    bad = tmp_path / "nb"
    bad.mkdir()
    marker = tmp_path / "after_ran"
    _notebook(bad, "99_bad", "raise ValueError('boom')")
    _notebook(bad, "99_after", f"open({str(marker)!r}, 'w').close()")
    monkeypatch.setattr(pipeline, "NOTEBOOKS_DIR", bad)
    monkeypatch.setattr(pipeline, "STAGES", {"99_bad": (), "99_after": ("99_bad",)})
    with pytest.raises(pipeline.StageFailed) as failed:
        pipeline.execute_stage("99_bad", {"PROFILE": "smoke"}, tmp_path / "direct")
    msg = str(failed.value)
    assert "99_bad.ipynb" in msg and "cell 2 `raise ValueError('boom')`" in msg and "ValueError: boom" in msg
    report = pipeline.run("smoke", {}, tmp_path / "reports", log=lambda m: None)
    assert not report.ok and [(s.stage, s.status) for s in report.stages] == [("99_bad", "failed")]
    assert report.stages[0].message == msg  # the same message through the run
    assert not marker.exists()  # the first failure stops the run
    assert "| 99_bad | failed |" in (tmp_path / "reports" / "README.md").read_text()
