"""Project-relative paths (no absolute, OS-specific paths anywhere else)."""

from __future__ import annotations

from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJ_ROOT / "data"
SYNTH_DIR = DATA_DIR / "synthetic"
CACHE_DIR = DATA_DIR / "cache"
REPORTS_DIR = PROJ_ROOT / "reports"
BENCH_DIR = REPORTS_DIR / "benchmarks"
TABLES_DIR = REPORTS_DIR / "tables"
FIGURES_DIR = REPORTS_DIR / "figures"
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
SHARED_DIR = PROJ_ROOT.parent / "shared"


def profile_dirs(profile: str, root: Path | None = None) -> dict[str, Path]:
    """Default locations of one profile's artefacts: synthetic world, cache, runs (checkpoints, maps)."""
    root = Path(root) if root is not None else DATA_DIR
    return {
        "synth": root / "synthetic" / profile,
        "cache": root / "cache" / profile,
        "runs": root / "runs" / profile,
    }
