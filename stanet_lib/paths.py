"""Project-relative paths (no absolute, OS-specific paths anywhere else).

The project root is the checkout a command runs in, not the one the package was imported from: a second clone
that shares a virtual environment (an editable install of the first) reads its own notebooks and writes its own
``data/`` and ``reports/``. It is, in this order, ``$STANET_ROOT``; the nearest folder at or above the working
directory that holds ``stanet_lib/`` and ``notebooks/`` (a checkout); the checkout the package lives in.

A run writes into ``reports/<profile>/`` (:func:`run_reports`), so runs of different profiles never overwrite
each other's figures and tables, and the reference tables committed under ``reports/tables/`` are never
rewritten by a run.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the checkout this code was imported from


def is_checkout(folder: Path) -> bool:
    """Does ``folder`` look like a checkout of this project (``stanet_lib/__init__.py`` and ``notebooks/``)?"""
    return (folder / "stanet_lib" / "__init__.py").is_file() and (folder / "notebooks").is_dir()


def find_root(start: Path | None = None, environ: dict[str, str] | None = None) -> Path:
    """The project root for a command started in ``start`` (default: the working directory); see the module."""
    env = os.environ if environ is None else environ
    if env.get("STANET_ROOT"):
        return Path(env["STANET_ROOT"]).resolve()
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_checkout(folder):
            return folder
    return PACKAGE_ROOT


PROJ_ROOT = find_root()
DATA_DIR = PROJ_ROOT / "data"
SYNTH_DIR = DATA_DIR / "synthetic"
CACHE_DIR = DATA_DIR / "cache"
REPORTS_DIR = PROJ_ROOT / "reports"
BENCH_DIR = REPORTS_DIR / "benchmarks"
TABLES_DIR = REPORTS_DIR / "tables"  # the reference tables (committed); a run writes run_reports(p) / "tables"
FIGURES_DIR = REPORTS_DIR / "figures"
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
SHARED_DIR = PROJ_ROOT.parent / "shared"


def run_reports(profile: str, reports_dir: str | Path = "") -> Path:
    """Where a run of ``profile`` writes its executed notebooks, figures and tables: ``reports_dir`` when given,
    else ``reports/<profile>/`` (git-ignored)."""
    return Path(reports_dir) if str(reports_dir) else REPORTS_DIR / profile


def profile_dirs(profile: str, root: Path | None = None) -> dict[str, Path]:
    """Default locations of one profile's artefacts: synthetic world, cache, runs (checkpoints, maps)."""
    root = Path(root) if root is not None else DATA_DIR
    return {
        "synth": root / "synthetic" / profile,
        "cache": root / "cache" / profile,
        "runs": root / "runs" / profile,
    }
