"""``python -m stanet_lib run --profile P``: execute the stage notebooks in order with papermill.

Each stage is a notebook in ``notebooks/``: the jupytext ``.py`` is the source, and it is what papermill runs (read
with jupytext, so the git-ignored ``.ipynb`` pair that JupyterLab saves is never an input). Executed copies go to ``<reports>/executed/<stage>.ipynb`` with an HTML export in
``<reports>/html/``. A stage is skipped when its key (notebook source, parameters, library source, upstream keys)
matches the stamp of its last successful run **and** every artefact the stage declares (:data:`OUTPUTS`) is still
there with the content digest recorded when the stage wrote it; otherwise the stage runs again, and so do the
stages after it, each saying why in one line. The library source in a key is that of the modules the stage's
notebook can reach through the package's import graph (:func:`import_graph`, :func:`reachable`): editing a
benchmark reruns no stage. The first failure stops the run and names the notebook and cell. A one-page
``<reports>/README.md`` records what ran, with which config and commit, and how long each stage took.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pandas as pd
import papermill as pm
from nbconvert import HTMLExporter

from . import progress
from .artefacts import DataRootLock, digest, file_sha256, git_commit, write_json, write_text
from .config import PIPELINE_PARAMETERS, PROFILES, load_profile, parse_overrides
from .nets.runtime import device_name
from .paths import DATA_DIR, NOTEBOOKS_DIR, PACKAGE_ROOT, REPORTS_DIR, profile_dirs, run_reports
from .report.spread import (
    headline,
    run_targets,
    targets_long,
    write_paired_targets,
    write_seed_targets,
    write_spread,
)
from .report.targets import targets_summary

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


# What each stage writes: globs under the profile's data folders (``{synth}``, ``{cache}``, ``{runs}``) or the
# reports folder (``{reports}``). After a stage ran, the files they match are recorded with their sha256 in the
# stage's stamp; a stage is skipped only while every recorded file exists with those bytes.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "01_data_prep": ("{cache}/index.csv", "{cache}/manifest.json", "{cache}/ave/*.npz", "{cache}/stavis/*/*.npz"),
    "02_coarse_classifiers": ("{runs}/switch.npz", "{runs}/stage02.manifest.json", "{runs}/nets/tagger/*/best.pt",
                              "{runs}/nets/switch/best.pt", "{runs}/nets/coarse_*/best.pt"),
    "03_coarse_scam": ("{runs}/maps/coarse_*.npz", "{runs}/stage03.manifest.json", "{runs}/tables/coarse_maps*.csv"),
    "04_fine_pseudo_fixations": ("{runs}/nets/fine_*/best.pt", "{runs}/maps/fine_*.npz", "{runs}/stage04.manifest.json",
                                 "{runs}/tables/fine_maps*.csv"),
    "05_sta_training": ("{runs}/nets/sta*/best.pt", "{runs}/maps/sta_*.npz", "{runs}/stage05.manifest.json",
                        "{runs}/tables/sta_*.csv", "{runs}/predictions/**/*.jpg"),
    "06_metric_tables": ("{reports}/tables/*.csv",),
    "07_fixation_viewer": ("{reports}/figures/07_viewer_grid.png",),
}


class StageFailed(RuntimeError):
    """A notebook failed; the message names the notebook and the cell."""


@dataclass
class StageResult:
    """What happened to one stage in a run: ``status`` "ran" | "skipped" | "failed", seconds, why."""
    stage: str
    status: str  # "ran" | "skipped" | "failed"
    seconds: float = 0.0
    message: str = ""


@dataclass
class RunReport:
    """The stages of one ``run`` in order; ``ok`` when none failed."""
    profile: str
    commit: str
    stages: list[StageResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" for s in self.stages)


# ------------------------------------------------------------------------------------------ import graph

PACKAGE = "stanet_lib"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> list[tuple[str, bool]]:
    """(imported package module, inside a function?) for every import statement of a parsed module."""
    top = set(map(id, getattr(tree, "body", [])))
    base = module if is_package else module.rpartition(".")[0]
    out: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                mod = f"{pkg}.{node.module}" if node.module else pkg
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                targets.append(sub if sub in known else mod)
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for t in targets:
            if t == PACKAGE or t.startswith(PACKAGE + "."):
                out.append((t, id(node) not in top))
    return out


def import_graph(root: Path = PACKAGE_ROOT / PACKAGE) -> dict[str, dict[str, bool]]:
    """The package's import graph from its source (AST, no import is run): module -> {imported module: the
    import sits inside a function}. Every ``import`` statement counts, function-level ones included, and so do
    the ``"stanet_lib.x:fn"`` / ``"stanet_lib.x"`` strings of the command and benchmark registries (what
    ``importlib`` loads lazily)."""
    files = sorted(Path(root).rglob("*.py"))
    known = {_module_name(p, Path(root)) for p in files}
    graph: dict[str, dict[str, bool]] = {}
    for path in files:
        name = _module_name(path, Path(root))
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = graph.setdefault(name, {})
        for target, inner in _imports_of(tree, name, path.name == "__init__.py", known):
            if target != name:
                edges[target] = edges.get(target, False) or inner
        for node in ast.walk(tree):  # lazy registries: "stanet_lib.bench.data:bench_data"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                target = node.value.split(":")[0]
                if target in known and target != name and target.startswith(PACKAGE + "."):
                    edges.setdefault(target, False)
    return graph


def reachable(modules: list[str], graph: dict[str, dict[str, bool]]) -> set[str]:
    """Every module that importing ``modules`` runs: their imports, transitively, and the ``__init__`` of every
    package on the way (Python runs a package's ``__init__`` before any of its modules)."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        m = todo.pop()
        if m in seen or m not in graph:
            continue
        seen.add(m)
        todo.extend(graph[m])
        parts = m.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    return seen


def notebook_imports(stage: str, graph: dict[str, dict[str, bool]] | None = None) -> list[str]:
    """The package modules a stage notebook imports (its jupytext source)."""
    tree = ast.parse((NOTEBOOKS_DIR / f"{stage}.py").read_text())
    known = set(graph if graph is not None else import_graph())
    return [m for m, _ in _imports_of(tree, "__notebook__", False, known)]


def library_digest(stage: str, graph: dict[str, dict[str, bool]] | None = None) -> str:
    """Digest of the library sources the stage's notebook can reach (code is an input too); ``graph``: the
    package's :func:`import_graph` when the caller has it already (``run`` parses the package once)."""
    root = PACKAGE_ROOT / PACKAGE
    graph = import_graph(root) if graph is None else graph
    mods = reachable(notebook_imports(stage, graph), graph)
    files = sorted(p for p in root.rglob("*.py") if _module_name(p, root) in mods)
    return digest({str(p.relative_to(PACKAGE_ROOT)): p.read_text() for p in files})


def stage_key(stage: str, params: dict[str, Any], upstream_keys: list[str],
              graph: dict[str, dict[str, bool]] | None = None) -> str:
    """Identity of a stage's run: notebook source, parameters (the data root and reports folder included: the
    cache records its input roots as absolute paths), reachable library code, upstream stages' keys."""
    src = NOTEBOOKS_DIR / f"{stage}.py"
    return digest({"source": src.read_text(), "params": params, "lib": library_digest(stage, graph),
                   "up": upstream_keys})


# --------------------------------------------------------------------------------------------- artefacts


def _roots(profile: str, params: dict[str, Any], reports: Path) -> dict[str, Path]:
    data = Path(params.get("DATA_ROOT") or DATA_DIR)
    dirs = profile_dirs(profile, data)
    return {"synth": dirs["synth"], "cache": dirs["cache"], "runs": dirs["runs"], "reports": Path(reports),
            "data": data}


def stage_outputs(stage: str, roots: dict[str, Path]) -> list[dict[str, str]]:
    """The files a stage's :data:`OUTPUTS` globs match now, each with its sha256 and its path relative to the data
    root (``root: "data"``) or the reports folder (``root: "reports"``)."""
    out = []
    for pattern in OUTPUTS.get(stage, ()):
        key, _, rel = pattern.partition("}/")
        key = key.strip("{")
        base = roots[key]
        root = "reports" if key == "reports" else "data"  # recorded relative to the data root or the reports
        for path in sorted(base.glob(rel)):
            if path.is_file():
                out.append({"root": root, "path": path.relative_to(roots[root]).as_posix(),
                            "sha256": file_sha256(path)})
    return out


def outputs_problem(recorded: list[dict[str, str]], roots: dict[str, Path]) -> str | None:
    """None when every recorded artefact exists with its recorded bytes, else what is wrong with the first that
    is not (``"runs/demo/nets/coarse_S/best.pt missing"``)."""
    for item in recorded:
        shown = item["path"] if item["root"] == "data" else f"reports/{item['path']}"
        path = roots[item["root"]] / item["path"]
        if not path.is_file():
            return f"{shown} missing"
        if file_sha256(path) != item["sha256"]:
            return f"{shown} changed since the stage wrote it"
    return None


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
    out_nb = reports / "executed" / f"{stage}.ipynb"
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        with progress.logged():  # the kernel's progress bars become one line each in the executed notebook
            pm.execute_notebook(
                jupytext.read(NOTEBOOKS_DIR / f"{stage}.py"), str(out_nb), parameters=params,
                cwd=str(NOTEBOOKS_DIR), kernel_name="python3", language="python", progress_bar=False,
                log_output=False,
            )
    except Exception as exc:  # papermill wraps cell errors in PapermillExecutionError
        raise StageFailed(_failure_message(stage, exc)) from exc
    seconds = time.perf_counter() - t0
    export_html(out_nb, reports / "html" / f"{stage}.html")
    return seconds


def export_html(nb_path: Path, html_path: Path) -> None:
    """The executed notebook as one HTML page."""
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_path, as_version=4))
    write_text(html_path, body)


def run(profile: str = "demo", params: dict[str, Any] | None = None, reports: Path | None = None,
        stages: list[str] | None = None, force: bool = False, log=print) -> RunReport:
    """Execute the stages in order (all, or ``stages``), skipping up-to-date ones; stop at the first failure.
    ``reports`` defaults to ``reports/<profile>/`` (:func:`stanet_lib.paths.run_reports`)."""
    reports = run_reports("smoke" if (params or {}).get("SMOKE") else profile, reports or "").resolve()
    params = {"PROFILE": profile, **(params or {})}
    # The notebooks execute in notebooks/: a relative root means the caller's working directory, so every root
    # reaches them, the data root's lock, the stage keys and the artefact checks absolute.
    for key in ("DATA_ROOT", "AVE_ROOT", "STAVIS_ROOT", "REPORTS_DIR"):
        if params.get(key):
            params[key] = str(Path(params[key]).resolve())
    params.setdefault("REPORTS_DIR", str(reports))
    extra = sorted(set(params) - set(PIPELINE_PARAMETERS))
    if extra:  # every notebook would stop on them (config.check_parameters): say so before running any
        raise ValueError(f"unknown notebook parameter(s) {extra}; every stage takes {list(PIPELINE_PARAMETERS)}")
    selected = stages or list(STAGES)
    unknown = [s for s in selected if s not in STAGES]
    if unknown:
        raise ValueError(f"--stages: unknown stage(s) {', '.join(unknown)}; the stages are {', '.join(STAGES)}")
    # The config is checked before any stage runs (a bad --set is one line here, not a failure in notebook 02).
    load_profile("smoke" if params.get("SMOKE") else profile, **parse_overrides(params.get("OVERRIDES", "")))
    report = RunReport(profile=profile, commit=git_commit())
    roots = _roots("smoke" if params.get("SMOKE") else profile, params, reports)
    with DataRootLock(roots["data"], f"run --profile {profile}"):  # one run per data root; refuses at once
        _run_stages(report, selected, params, reports, roots, force, log)
    write_summary(report, params, reports)
    return report


def _run_stages(report: RunReport, selected: list[str], params: dict[str, Any], reports: Path,
                roots: dict[str, Path], force: bool, log) -> None:
    """The stage loop of :func:`run` (under the data root's lock): run or skip each selected stage, in order."""
    keys: dict[str, str] = {}
    ran: set[str] = set()
    graph = import_graph(PACKAGE_ROOT / PACKAGE)
    for stage in STAGES:
        keys[stage] = stage_key(stage, params, [keys[u] for u in STAGES[stage]], graph)
        if stage not in selected:
            continue
        why = _why_run(stage, keys[stage], reports, roots, ran, force)
        if why is None:
            report.stages.append(StageResult(stage, "skipped", message="inputs, config and artefacts unchanged"))
            log(f"[run] {stage}: reused (notebook, parameters, code and upstream unchanged; its artefacts are "
                "as it wrote them), skipped")
            continue
        log(f"[run] {stage}: {why}, running")
        try:
            seconds = execute_stage(stage, params, reports)
        except StageFailed as exc:
            report.stages.append(StageResult(stage, "failed", message=str(exc)))
            log(f"[run] {exc}")
            break
        ran.add(stage)
        write_json(reports / "executed" / f"{stage}.stamp.json",
                   {"key": keys[stage], "seconds": seconds, "params": params,
                    "outputs": stage_outputs(stage, roots)})
        report.stages.append(StageResult(stage, "ran", seconds, message=why))
        log(f"[run] {stage}: done in {seconds:.1f} s")


def _why_run(stage: str, key: str, reports: Path, roots: dict[str, Path], ran: set[str], force: bool) -> str | None:
    """Why ``stage`` must run (one phrase), or None when it is up to date."""
    stamp = reports / "executed" / f"{stage}.stamp.json"
    if force:
        return "--force"
    if not (reports / "executed" / f"{stage}.ipynb").exists() or not stamp.exists():
        return "no earlier run"
    upstream = [u for u in STAGES[stage] if u in ran]
    if upstream:
        return f"{upstream[0]} ran again"
    try:
        old = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return f"{stamp.name} unreadable"
    if old.get("key") != key:
        return "notebook, parameters, code or an upstream stage changed"
    if "outputs" not in old:
        return "no record of its artefacts"
    return outputs_problem(old["outputs"], roots)


def machine_line() -> str:
    """The machine a run's numbers come from (:func:`~stanet_lib.nets.runtime.device_name`), with the thread cap
    ``OMP_NUM_THREADS`` when it is set (the notebooks' kernels inherit it)."""
    threads = os.environ.get("OMP_NUM_THREADS")
    return device_name() + (f", OMP_NUM_THREADS={threads}" if threads else "")


def write_summary(report: RunReport, params: dict[str, Any], reports: Path) -> Path:
    """The one-page ``README.md`` of a run's reports folder: what ran, config, commit, durations, headline table."""
    cfg = load_profile(report.profile, **parse_overrides(params.get("OVERRIDES", "")))
    lines = [
        "# Pipeline report",
        "",
        f"Profile `{report.profile}`, commit `{report.commit}`, written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Parameters: `{json.dumps(params, sort_keys=True)}`. Config digest `{digest(cfg.to_dict())}`.",
        f"Machine: {machine_line()}. The same commit, config and seed give the same digits only on the same "
        "kind of machine: another CPU's kernels round differently (README, \"Measured\").",
        "",
        "| stage | status | seconds | executed notebook | note |",
        "|---|---|---|---|---|",
    ]
    for s in report.stages:
        link = f"[ipynb](executed/{s.stage}.ipynb), [html](html/{s.stage}.html)" if s.status != "failed" else ""
        seconds = f"{s.seconds:.1f}" if s.status != "skipped" else "– (reused)"
        lines.append(f"| {s.stage} | {s.status} | {seconds} | {link} | {s.message} |")
    headline = reports / "tables" / "table4.md"
    if headline.exists():
        lines += ["", "## Headline table (STA net vs baselines, synthetic test sets)", "", headline.read_text()]
    targets = reports / "tables" / "targets.csv"
    if targets.exists():
        lines += ["", "## The demo's targets (`tables/targets.csv`)", "", targets_summary(pd.read_csv(targets))]
    lines += ["", "The synthetic world shows that the mechanics work; it is not a claim about real data.", "",
              "## What is in this folder", "",
              "| folder | what |", "|---|---|",
              "| `executed/`, `html/` | the executed notebooks of this run and their HTML |",
              "| `tables/` | metric tables as CSV, Markdown and LaTeX (notebook 06) |",
              "| `figures/` | PNG figures of the notebooks |"]
    return write_text(reports / "README.md", "\n".join(lines) + "\n")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib run``."""
    p.add_argument("--profile", choices=PROFILES, default="demo",
                   help="smoke: tiny, every stage in about a minute (tests); demo: the synthetic world on the CPU; "
                        "paper: the paper's sizes, real data (--ave-root, --stavis-root), a GPU")
    p.add_argument("--seed", type=int, default=0,
                   help="every notebook's SEED: the synthetic world (01), the initialisation and data order of "
                        "every net (02-05)")
    p.add_argument("--data-root", default="", help="root for synthetic/, cache/, runs/ (default: data/)")
    p.add_argument("--ave-root", default="", help="real AVE root (paper profile); empty: the synthetic world")
    p.add_argument("--stavis-root", default="", help="real STAViS data root; empty: the synthetic world")
    p.add_argument("--reports", type=Path, default=None,
                   help="where executed notebooks and tables go (default: reports/<profile>/)")
    p.add_argument("--stages", default="",
                   help=f"comma-separated subset of the stages {', '.join(STAGES)} (default: all, in that order)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set train.epochs=8; repeatable; values are JSON and may "
                        "contain spaces when quoted")
    p.add_argument("--force", action="store_true", help="re-run stages even if up to date")


def notebook_overrides(items: list[str]) -> str:
    """``--set`` items as the notebooks' ``OVERRIDES`` string: each value re-written as compact JSON, so that a
    value with spaces (a JSON object, a path) survives :func:`stanet_lib.config.split_overrides`."""
    parsed = parse_overrides(items)
    return " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in parsed.items())


def run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib run``: the stage notebooks in order; exit code 1 when a stage failed."""
    reports = run_reports(args.profile, args.reports or "").resolve()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] or None
    params = {"SEED": args.seed, "DATA_ROOT": args.data_root, "AVE_ROOT": args.ave_root,
              "STAVIS_ROOT": args.stavis_root, "REPORTS_DIR": str(reports),
              "OVERRIDES": notebook_overrides(args.overrides)}
    report = run(args.profile, params, reports, stages, args.force)
    return 0 if report.ok else 1


def spread_add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib spread`` (the pipeline for several seeds)."""
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    p.add_argument("--profile", default="demo", choices=("smoke", "demo"))
    p.add_argument("--main-seed", type=int, default=None,
                   help="this seed's run is the main one in data/ and reports/ (reused, not run again)")
    p.add_argument("--no-run", action="store_true", help="only collect the runs that exist")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "tables", help="where seed_spread.csv/.md go")
    p.add_argument("--pair-with", default="", metavar="CSV[,CSV]",
                   help="seed_targets.csv files of the same seeds run elsewhere (another machine): also write "
                        "seed_targets_paired.csv/.md, case by case, with those as run a and these runs as run b")
    p.add_argument("--labels", default="the other runs,these runs", metavar="A,B",
                   help="names of run a and run b in seed_targets_paired.md")


def spread_run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib spread``: run (or reuse) the demo pipeline of each seed in ``data/seeds/seed<N>/`` and
    ``reports/seeds/seed<N>/`` and write the spread of its headline numbers (:mod:`stanet_lib.report.spread`); exit
    code 1 when a seed's run failed or is missing."""
    other = []  # read first: a wrong name fails before any seed runs
    for name in (x.strip() for x in args.pair_with.split(",") if x.strip()):
        try:
            other.append(targets_long(pd.read_csv(name)))
        except (OSError, KeyError, ValueError, pd.errors.ParserError) as exc:
            raise ValueError(f"{name}: not a readable seed_targets.csv table ({exc})") from exc
    per_seed, per_seed_targets, failed = {}, {}, []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        if seed == args.main_seed:
            reports, data = run_reports(args.profile), DATA_DIR
        else:
            reports, data = REPORTS_DIR / "seeds" / f"seed{seed}", DATA_DIR / "seeds" / f"seed{seed}"
            if not args.no_run:
                print(f"[spread] seed {seed}: pipeline into {data} and {reports}")
                params = {"SEED": seed, "DATA_ROOT": str(data), "REPORTS_DIR": str(reports.resolve())}
                if not run(args.profile, params, reports).ok:
                    failed.append(seed)
                    continue
        try:
            per_seed[seed] = headline(reports, data / "runs" / args.profile)
            per_seed_targets[seed] = run_targets(reports, data / "runs" / args.profile)
        except FileNotFoundError as exc:
            print(f"[spread] seed {seed}: skipped ({exc})")
            failed.append(seed)
    write_spread(per_seed, args.out, args.profile)
    table = write_seed_targets(per_seed_targets, args.out, args.profile)
    if other:  # these runs read back from their table, at the 4 decimals the other machine's file has
        a, _, b = args.labels.partition(",")
        write_paired_targets(pd.concat(other, ignore_index=True), targets_long(table), args.out, (a.strip(), b.strip()))
        print(f"[spread] wrote {Path(args.out) / 'seed_targets_paired.csv'} and .md")
    print(f"[spread] wrote {Path(args.out) / 'seed_spread.csv'} and seed_targets.csv ({len(per_seed)} seeds)")
    return 1 if failed else 0
