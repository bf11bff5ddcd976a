"""``python -m stanet_lib bench [targets]``: benchmarks that write JSON to ``reports/benchmarks/``.

One schema for every target::

    {"device": str, "commit": str, "target": str, "config": {...},
     "measures": [{"name", "value", "unit", "baseline_value", "speedup", "size", "batch", ...}]}

Speed and memory targets are checked here, never by timed tests. A target is a function
``fn(args) -> (measures, extra)`` registered in :data:`TARGETS` as ``"module:function"``; it is imported only
when run.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

from ..artefacts import git_commit, write_json
from ..nets.runtime import device_name
from ..paths import BENCH_DIR
from .perf import measure

__all__ = ["TARGETS", "device_name", "measure", "write_report", "add_arguments", "run_cli"]


# target -> ("module:function", output file name)
TARGETS: dict[str, tuple[str, str]] = {
    "data": ("stanet_lib.bench.data:bench_data", "data_prep.json"),
    "eval": ("stanet_lib.bench.eval:bench_eval", "eval.json"),
    "viewer": ("stanet_lib.bench.viewer:bench_viewer", "viewer.json"),
    "sta": ("stanet_lib.bench.infer:bench_sta", "sta.json"),
    "train": ("stanet_lib.bench.train:bench_train", "train.json"),
    "scam": ("stanet_lib.bench.scam:bench_scam", "scam.json"),
    "loader": ("stanet_lib.bench.train:bench_loader", "loader.json"),
    "scale": ("stanet_lib.bench.scale:bench_scale", "scale.json"),
}


def write_report(target: str, measures: list[dict[str, Any]], out: Path, **extra: Any) -> Path:
    """Write one target's JSON (device, commit, date, measures and ``extra``)."""
    report = {"device": device_name(), "commit": git_commit(), "target": target,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "measures": measures, **extra}
    write_json(out, report)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib bench``."""
    p.add_argument("targets", nargs="*", default=None, help=f"targets to run (default: all): {', '.join(TARGETS)}")
    p.add_argument("--profile", default="demo", help="config profile the benchmark sizes come from")
    p.add_argument("--out-dir", type=Path, default=BENCH_DIR, help="folder for the JSON files")
    p.add_argument("--work-dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--quick", action="store_true", help="smaller run (used by the tests)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for the model targets, e.g. --set model.sta_size=128 (repeatable)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="model targets' device")
    p.add_argument("--prefix", default="", help="prefix of the JSON file names (e.g. gpu_)")
    p.add_argument("--no-compile", action="store_true", help="sta: skip the torch.compile measure")
    p.add_argument("--compile-train", action="store_true", help="train on CUDA: also each net with "
                   "torch.compile (TrainConfig.compile)")
    p.add_argument("--workers", type=int, default=None, help="loader: worker processes (default: 0 and 8 "
                   "on a GPU host, 0 and 2 on the CPU)")
    p.add_argument("--nets", default="", help="train: comma-separated subset, e.g. fine_S,fine_SA,STA")
    p.add_argument("--trace", type=int, default=0, metavar="STEPS", help="train: profile STEPS more steps of "
                   "each fast run and keep the top operators in the JSON")
    p.add_argument("--compile-only", action="store_true", help="sta on CUDA: only the fast path with / without "
                   "torch.compile")


def run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib bench [targets]``: run each target and write its JSON."""
    targets = args.targets or list(TARGETS)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown bench target(s) {unknown}; choose from {', '.join(TARGETS)}")
    for t in targets:
        spec, fname = TARGETS[t]
        mod, fn = spec.split(":")
        measures, extra = getattr(importlib.import_module(mod), fn)(args)
        path = write_report(t, measures, Path(args.out_dir) / f"{getattr(args, 'prefix', '')}{fname}", **extra)
        print(f"bench {t}: wrote {path}")
        for m in measures:
            base = f" (baseline {m['baseline_value']:.4g}, x{m['speedup']:.2f})" if m.get("baseline_value") else ""
            print(f"  {m['name']}: {m['value']:.4g} {m['unit']}{base}")
    return 0
