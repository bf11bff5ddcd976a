"""``run`` skips a stage only while the artefacts it wrote are there with the bytes it wrote: a deleted or changed
artefact reruns its stage and the stages after it, each saying why in one line, and the earlier stages stay
skipped. The tests own a smoke run of stages 01-03 (the propagation to later stages is the same rule: a stage
whose upstream ran again runs)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stanet_lib import cli, pipeline
from stanet_lib.artefacts import file_sha256
from stanet_lib.nets.runtime import device_name

FIRST = ["01_data_prep", "02_coarse_classifiers", "03_coarse_scam"]


def statuses(report) -> dict[str, str]:
    return {s.stage: s.status for s in report.stages}


@pytest.fixture(scope="module")
def run_01_03(tmp_path_factory):
    base = tmp_path_factory.mktemp("artefacts")
    params = {"SMOKE": True, "DATA_ROOT": str(base / "data"), "REPORTS_DIR": str(base / "reports"),
              "OVERRIDES": "train.progress=false"}
    first = pipeline.run("smoke", params, base / "reports", stages=FIRST, log=lambda m: None)
    assert first.ok and statuses(first) == dict.fromkeys(FIRST, "ran"), [s.message for s in first.stages]

    def again() -> tuple[dict[str, str], list[str]]:
        logs: list[str] = []
        report = pipeline.run("smoke", params, base / "reports", stages=FIRST, log=logs.append)
        assert report.ok, [s.message for s in report.stages]
        return statuses(report), logs

    return base, again


@pytest.mark.slow
def test_unchanged_run_is_skipped_and_a_missing_checkpoint_reruns_from_its_stage(run_01_03):
    base, again = run_01_03
    same, logs = again()
    assert same == dict.fromkeys(FIRST, "skipped"), logs
    coarse_maps = base / "data" / "runs" / "smoke" / "maps" / "coarse_val.npz"
    before = coarse_maps.read_bytes()
    best = base / "data" / "runs" / "smoke" / "nets" / "coarse_S" / "best.pt"
    best.unlink()
    status, logs = again()
    assert status == {"01_data_prep": "skipped", "02_coarse_classifiers": "ran", "03_coarse_scam": "ran"}
    assert "[run] 02_coarse_classifiers: runs/smoke/nets/coarse_S/best.pt missing, running" in logs
    assert "[run] 03_coarse_scam: 02_coarse_classifiers ran again, running" in logs
    assert best.is_file()  # retrained from its seed (not "resumed" from last.pt without it) ...
    assert coarse_maps.read_bytes() == before  # ... to the same weights: stage 03's maps are the same bytes


@pytest.mark.slow
def test_a_changed_artefact_reruns_its_stage_and_not_the_earlier_ones(run_01_03):
    base, again = run_01_03
    table = base / "data" / "runs" / "smoke" / "tables" / "coarse_maps.csv"
    original = table.read_bytes()
    table.write_bytes(original.replace(b",", b";", 1))  # other bytes, same size
    status, logs = again()
    assert status == {"01_data_prep": "skipped", "02_coarse_classifiers": "skipped", "03_coarse_scam": "ran"}
    assert "[run] 03_coarse_scam: runs/smoke/tables/coarse_maps.csv changed since the stage wrote it, running" in logs
    assert table.read_bytes() == original  # the stage wrote it again


def test_outputs_problem_names_the_first_missing_or_changed_file(tmp_path: Path):
    roots = {"data": tmp_path / "data", "reports": tmp_path / "reports"}
    f = tmp_path / "data" / "runs" / "demo" / "x.npz"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"abc")
    rec = [{"root": "data", "path": "runs/demo/x.npz", "sha256": file_sha256(f)}]
    assert pipeline.outputs_problem(rec, roots) is None
    f.write_bytes(b"abd")
    assert pipeline.outputs_problem(rec, roots) == "runs/demo/x.npz changed since the stage wrote it"
    f.unlink()
    assert pipeline.outputs_problem(rec, roots) == "runs/demo/x.npz missing"
    rep = [{"root": "reports", "path": "tables/t.csv", "sha256": "0"}]
    assert pipeline.outputs_problem(rep, roots) == "reports/tables/t.csv missing"


def test_every_stage_declares_its_artefacts():
    assert set(pipeline.OUTPUTS) == set(pipeline.STAGES)
    for stage, globs in pipeline.OUTPUTS.items():
        assert globs and all(g.split("}/")[0].strip("{") in ("synth", "cache", "runs", "reports") for g in globs), stage


def test_a_second_run_on_the_same_data_root_refuses_at_once(tmp_path, capsys):
    """A live process holds the data root's lock: ``run`` refuses before any stage and names it."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        data = tmp_path / "data"
        data.mkdir()
        (data / ".stanet.lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                                      "what": "run --profile demo", "started": "now"}))
        rc = cli.main(["run", "--profile", "smoke", "--data-root", str(data), "--reports", str(tmp_path / "rep")])
        err = capsys.readouterr().err
        assert rc == 1 and err.count("\n") == 1
        assert f"pid {holder.pid}" in err and "run --profile demo" in err and "another run uses this data root" in err
        assert not (tmp_path / "rep" / "executed").exists()
    finally:
        holder.kill()
        holder.wait()


def test_relative_roots_are_the_callers_not_the_notebooks(tmp_path, monkeypatch):
    """``run --data-root data/x``: the notebooks execute in notebooks/, so every root reaches them absolute,
    resolved against the directory ``run`` was called from (a relative one once landed in notebooks/data/), and the
    data root's lock and the stage's stamp use the same folders."""
    seen = {}

    def fake_stage(stage, params, reports):
        seen.update(params)
        assert (tmp_path / "data" / "seeds" / "seed1" / ".stanet.lock").exists()  # the lock: the caller's folder
        return 0.0

    monkeypatch.setattr(pipeline, "execute_stage", fake_stage)
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["run", "--profile", "smoke", "--data-root", "data/seeds/seed1", "--ave-root", "ave",
                   "--reports", "rep", "--stages", "01_data_prep"])
    assert rc == 0
    assert seen["DATA_ROOT"] == str(tmp_path / "data" / "seeds" / "seed1")
    assert seen["AVE_ROOT"] == str(tmp_path / "ave") and seen["STAVIS_ROOT"] == ""
    assert seen["REPORTS_DIR"] == str(tmp_path / "rep")
    assert (tmp_path / "rep" / "executed" / "01_data_prep.stamp.json").exists()


def test_the_run_summary_names_the_machine_and_the_thread_cap(tmp_path: Path, monkeypatch):
    """Floating-point results depend on the kind of CPU, so a run's README says which one produced them."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert pipeline.machine_line() == device_name()
    assert device_name().startswith(("cpu: ", "cuda: ")) and device_name().split(": ", 1)[1].strip()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    report = pipeline.RunReport(profile="smoke", commit="abc")
    report.stages.append(pipeline.StageResult("01_data_prep", "ran", 1.0))
    summary = pipeline.write_summary(report, {"OVERRIDES": ""}, tmp_path).read_text()
    assert f"Machine: {device_name()}, OMP_NUM_THREADS=1." in summary
    assert "| 01_data_prep | ran | 1.0 |" in summary
