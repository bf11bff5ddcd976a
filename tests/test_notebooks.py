"""Notebooks are thin, paired with jupytext, committed without outputs, and run under papermill."""

import json

import jupytext
import nbformat
import pytest

from stanet_lib import pipeline
from stanet_lib.paths import NOTEBOOKS_DIR

PY_SOURCES = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))


def test_every_stage_has_a_notebook_pair():
    assert PY_SOURCES, "no notebooks"
    for stage in pipeline.STAGES:
        assert (NOTEBOOKS_DIR / f"{stage}.py").exists(), stage
        assert (NOTEBOOKS_DIR / f"{stage}.ipynb").exists(), stage


@pytest.mark.parametrize("src", PY_SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync_without_outputs(src):
    ipynb = src.with_suffix(".ipynb")
    nb = nbformat.read(ipynb, as_version=4)
    py = jupytext.read(src)
    assert [c.source for c in nb.cells] == [c.source for c in py.cells], f"{ipynb.name} out of sync: make notebooks"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{ipynb.name} has outputs"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{ipynb.name}: exactly one cell tagged parameters"
    assert "SMOKE: bool = False" in params[0].source
    assert "PROFILE: str" in params[0].source


@pytest.mark.slow
def test_whole_pipeline_runs_under_papermill_and_skips_when_unchanged(smoke_pipeline):
    from stanet_lib.config import load_profile

    report = smoke_pipeline.report
    assert report.ok, [s.message for s in report.stages if s.status == "failed"]
    assert [s.stage for s in report.stages] == list(pipeline.STAGES)
    reports = smoke_pipeline.reports
    for stage in pipeline.STAGES:
        nb = json.loads((reports / "executed" / f"{stage}.ipynb").read_text())
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert errors == [], stage
        assert (reports / "html" / f"{stage}.html").stat().st_size > 10_000, stage
    assert (smoke_pipeline.data_root / "cache" / "smoke" / "index.csv").exists()
    summary = (reports / "README.md").read_text()
    for stage in pipeline.STAGES:
        assert f"| {stage} | ran |" in summary
    params = {"SMOKE": True, "DATA_ROOT": str(smoke_pipeline.data_root), "REPORTS_DIR": str(reports),
              "OVERRIDES": "train.progress=false"}
    again = pipeline.run("smoke", params, reports, stages=["01_data_prep"], log=lambda m: None)
    assert [s.status for s in again.stages] == ["skipped"]
    assert load_profile("smoke").profile == "smoke"


def test_failure_names_notebook_and_cell(tmp_path, monkeypatch):
    bad = tmp_path / "nb"
    bad.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, bad / "99_bad.ipynb")
    (bad / "99_bad.py").write_text("# %%\nraise ValueError('boom')\n")
    monkeypatch.setattr(pipeline, "NOTEBOOKS_DIR", bad)
    monkeypatch.setattr(pipeline, "STAGES", {"99_bad": ()})
    report = pipeline.run("smoke", {}, tmp_path / "reports", log=lambda m: None)
    assert not report.ok
    msg = report.stages[0].message  # cell 2 of the executed notebook: papermill injects a parameters cell
    assert "99_bad.ipynb" in msg and "cell 2 `raise ValueError('boom')`" in msg and "ValueError: boom" in msg
