"""``python -m stanet_lib spread``: the demo pipeline for several seeds, each in its own folders, and the spread of
its headline numbers (:mod:`stanet_lib.report.spread`) in ``reports/tables/seed_spread.{csv,md}``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .paths import DATA_DIR, REPORTS_DIR
from .pipeline import run
from .report.spread import headline, write_spread

__all__ = ["add_arguments", "run_cli"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib spread``."""
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    p.add_argument("--profile", default="demo", choices=("smoke", "demo"))
    p.add_argument("--main-seed", type=int, default=None,
                   help="this seed's run is the main one in data/ and reports/ (reused, not run again)")
    p.add_argument("--no-run", action="store_true", help="only collect the runs that exist")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "tables", help="where seed_spread.csv/.md go")


def run_cli(args: argparse.Namespace) -> int:
    """Run (or reuse) the pipeline of each seed in ``data/seeds/seed<N>/`` and ``reports/seeds/seed<N>/`` and write
    the spread; exit code 1 when a seed's run failed or is missing."""
    per_seed, failed = {}, []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        if seed == args.main_seed:
            reports, data = REPORTS_DIR, DATA_DIR
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
        except FileNotFoundError as exc:
            print(f"[spread] seed {seed}: skipped ({exc})")
            failed.append(seed)
    write_spread(per_seed, args.out, args.profile)
    print(f"[spread] wrote {Path(args.out) / 'seed_spread.csv'} ({len(per_seed)} seeds)")
    return 1 if failed else 0
