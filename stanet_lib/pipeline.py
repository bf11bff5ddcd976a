"""``python -m stanet_lib run --profile P``: execute the stage notebooks in order with papermill.

Each stage is a notebook in ``notebooks/`` (the jupytext ``.py`` is the reviewed source; the ``.ipynb`` pair is
what papermill runs). Executed copies go to ``<reports>/executed/<stage>.ipynb`` with an HTML export in
``<reports>/html/``. A stage is skipped when its key (notebook source, parameters, library source, upstream keys)
matches the stamp of its last successful run. The first failure stops the run and names the notebook and cell.
A one-page ``<reports>/README.md`` records what ran, with which config and commit, and how long each stage took.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artefacts import digest, git_commit, write_json, write_text
from .config import PROFILES, load_profile, parse_overrides
from .paths import NOTEBOOKS_DIR, PROJ_ROOT, REPORTS_DIR

# Stage notebooks in execution order, with the stages whose artefacts each one reads (DESIGN.md "Stages").
STAGES: dict[str, tuple[str, ...]] = {
    "01_data_prep": (),
    "02_coarse_classifiers": ("01_data_prep",),
    "03_coarse_scam": ("02_coarse_classifiers",),
    "04_fine_pseudo_fixations": ("03_coarse_scam",),
    "05_sta_training": ("04_fine_pseudo_fixations",),
    "06_metric_tables": ("05_sta_training",),
    "07_fixation_viewer": ("05_sta_training",),
}


class StageFailed(RuntimeError):
    """A notebook failed; the message names the notebook and the cell."""


@dataclass
class StageResult:
    stage: str
    status: str  # "ran" | "skipped" | "failed"
    seconds: float = 0.0
    message: str = ""


@dataclass
class RunReport:
    profile: str
    commit: str
    stages: list[StageResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" for s in self.stages)


def library_digest() -> str:
    """Digest of the library sources: a code change re-runs the stages (code is an input too)."""
    files = sorted((PROJ_ROOT / "stanet_lib").rglob("*.py"))
    return digest({str(p.relative_to(PROJ_ROOT)): p.read_text() for p in files})


def stage_key(stage: str, params: dict[str, Any], upstream_keys: list[str]) -> str:
    src = NOTEBOOKS_DIR / f"{stage}.py"
    return digest({"source": src.read_text(), "params": params, "lib": library_digest(), "up": upstream_keys})


def _failure_message(stage: str, exc: Exception) -> str:
    cell = getattr(exc, "cell_index", None)
    count = getattr(exc, "exec_count", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    src = (getattr(exc, "source", "") or "").strip().splitlines()
    first = f" `{src[0][:80]}`" if src else ""
    where = f"cell {cell}{first} (execution count {count})" if cell is not None else "start-up"
    return f"notebook {stage}.ipynb failed at {where}: {ename}: {evalue}"


def execute_stage(stage: str, params: dict[str, Any], reports: Path) -> float:
    """Run one notebook with papermill; export HTML. Returns wall seconds. Raises StageFailed."""
    import papermill as pm

    out_nb = reports / "executed" / f"{stage}.ipynb"
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(NOTEBOOKS_DIR / f"{stage}.ipynb"), str(out_nb), parameters=params,
            cwd=str(NOTEBOOKS_DIR), kernel_name="python3", progress_bar=False, log_output=False,
        )
    except Exception as exc:  # papermill wraps cell errors in PapermillExecutionError
        raise StageFailed(_failure_message(stage, exc)) from exc
    seconds = time.perf_counter() - t0
    export_html(out_nb, reports / "html" / f"{stage}.html")
    return seconds


def export_html(nb_path: Path, html_path: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_path, as_version=4))
    write_text(html_path, body)


def run(profile: str = "demo", params: dict[str, Any] | None = None, reports: Path = REPORTS_DIR,
        stages: list[str] | None = None, force: bool = False, log=print) -> RunReport:
    """Execute the stages in order (all, or ``stages``), skipping up-to-date ones; stop at the first failure."""
    reports = Path(reports)
    params = {"PROFILE": profile, **(params or {})}
    selected = stages or list(STAGES)
    unknown = [s for s in selected if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
    report = RunReport(profile=profile, commit=git_commit())
    keys: dict[str, str] = {}
    for stage in STAGES:
        keys[stage] = stage_key(stage, params, [keys[u] for u in STAGES[stage]])
        if stage not in selected:
            continue
        stamp = reports / "executed" / f"{stage}.stamp.json"
        done = (reports / "executed" / f"{stage}.ipynb").exists() and stamp.exists()
        if not force and done and json.loads(stamp.read_text()).get("key") == keys[stage]:
            report.stages.append(StageResult(stage, "skipped", message="inputs and config unchanged"))
            log(f"[run] {stage}: up to date, skipped")
            continue
        log(f"[run] {stage}: running")
        try:
            seconds = execute_stage(stage, params, reports)
        except StageFailed as exc:
            report.stages.append(StageResult(stage, "failed", message=str(exc)))
            log(f"[run] {exc}")
            break
        write_json(stamp, {"key": keys[stage], "seconds": seconds, "params": params})
        report.stages.append(StageResult(stage, "ran", seconds))
        log(f"[run] {stage}: done in {seconds:.1f} s")
    write_summary(report, params, reports)
    return report


def write_summary(report: RunReport, params: dict[str, Any], reports: Path) -> Path:
    """The one-page ``reports/README.md``: what ran, config, commit, durations, headline table."""
    cfg = load_profile(report.profile, **parse_overrides(params.get("OVERRIDES", "").split()))
    lines = [
        "# Pipeline report",
        "",
        f"Profile `{report.profile}`, commit `{report.commit}`, written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Parameters: `{json.dumps(params, sort_keys=True)}`. Config digest `{digest(cfg.to_dict())}`.",
        "",
        "| stage | status | seconds | executed notebook | note |",
        "|---|---|---|---|---|",
    ]
    for s in report.stages:
        link = f"[ipynb](executed/{s.stage}.ipynb), [html](html/{s.stage}.html)" if s.status != "failed" else ""
        lines.append(f"| {s.stage} | {s.status} | {s.seconds:.1f} | {link} | {s.message} |")
    headline = reports / "tables" / "table4.md"
    if headline.exists():
        lines += ["", "## Headline table (STA net vs baselines, synthetic test sets)", "", headline.read_text()]
    lines += ["", "The synthetic world shows that the mechanics work; it is not a claim about real data.", "",
              "## What is in this folder", "",
              "| folder | what |", "|---|---|",
              "| `executed/`, `html/` | the executed notebooks of this run and their HTML (git-ignored) |",
              "| `tables/` | metric tables as CSV, Markdown and LaTeX (notebook 06) |",
              "| `figures/` | PNG figures of the notebooks (git-ignored) |",
              "| `benchmarks/` | JSON of `python -m stanet_lib bench <target>`: device, commit, measures |"]
    return write_text(reports / "README.md", "\n".join(lines) + "\n")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=PROFILES, default="demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default="", help="root for synthetic/, cache/, runs/ (default: data/)")
    p.add_argument("--ave-root", default="", help="real AVE root (paper profile); empty: the synthetic world")
    p.add_argument("--stavis-root", default="", help="real STAViS data root; empty: the synthetic world")
    p.add_argument("--reports", type=Path, default=REPORTS_DIR, help="where executed notebooks and tables go")
    p.add_argument("--stages", default="", help="comma-separated subset of stages (default: all)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    p.add_argument("--force", action="store_true", help="re-run stages even if up to date")


def run_cli(args: argparse.Namespace) -> int:
    params = {"SEED": args.seed, "DATA_ROOT": args.data_root, "AVE_ROOT": args.ave_root,
              "STAVIS_ROOT": args.stavis_root, "REPORTS_DIR": str(Path(args.reports).resolve()),
              "OVERRIDES": " ".join(args.overrides)}
    stages = [s for s in args.stages.split(",") if s] or None
    report = run(args.profile, params, Path(args.reports), stages, args.force)
    return 0 if report.ok else 1
