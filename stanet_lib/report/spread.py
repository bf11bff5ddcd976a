"""The run-to-run spread of the demo's headline numbers over seeds (``python -m stanet_lib spread``).

The pipeline runs one seed (the world, the initialisations and the data order all follow it). This module runs it
for several seeds, each in its own data root and reports folder (``data/seeds/seed<N>/``,
``reports/seeds/seed<N>/``; an up-to-date run is reused, as ``run`` does), and collects from each run's own
tables the headline rows: the localisation table (pointing, CC), the Table 4 rows of the STA net, the
pseudo-fixations and the centre bias (five metrics), and the switch net's accuracy against the truth. It writes
``reports/tables/seed_spread.{csv,md}``: one row per quantity, a column per seed, the mean and the sample standard
deviation; and ``reports/tables/seed_targets.{csv,md}``: each of the demo's targets
(:mod:`stanet_lib.report.targets`) per seed, value against reference, and on how many seeds it holds.

Two such target tables of the same seeds from two machines (or thread counts) pair up case by case
(:func:`paired_targets`, ``spread --pair-with``): how far each margin moved and which verdicts flipped, which is how
large a margin must be before a run on another machine can be expected to keep it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..artefacts import write_text
from .tables import to_markdown
from .targets import demo_targets

__all__ = ["LOCALISATION_MAPS", "TABLE4_METHODS", "headline", "spread_table", "write_spread", "run_targets",
           "targets_table", "write_seed_targets", "targets_long", "paired_targets", "paired_summary",
           "write_paired_targets"]

LOCALISATION_MAPS = ("coarse SCAM", "fine SCAM", "pseudo-fixations", "STA net", "centre bias")
TABLE4_METHODS = {"STA net": "STA net", "pseudo-fixations": "pseudo-fixations", "centre bias": "centre bias"}


def headline(reports: str | Path, runs: str | Path) -> pd.DataFrame:
    """The headline quantities of one run: columns ``quantity``, ``db``, ``value`` (from ``reports/tables`` and
    ``runs/stage02.manifest.json``)."""
    reports, runs = Path(reports), Path(runs)
    rows = []
    loc = pd.read_csv(reports / "tables" / "localisation.csv")
    for r in loc[loc["map"].isin(LOCALISATION_MAPS)].itertuples():
        rows += [(f"{r.map}: pointing", r.db, r.pointing), (f"{r.map}: CC", r.db, r.cc)]
    t4 = pd.read_csv(reports / "tables" / "table4.csv")
    t4 = t4[t4["source"].str.startswith("measured")]
    for method, label in TABLE4_METHODS.items():
        hit = t4[t4["method"].str.startswith(method)]
        if hit.empty:
            continue
        for col in hit.columns[2:]:
            db, metric = col.rsplit(" ", 1)
            if metric != "CC":  # CC is in the localisation rows
                rows.append((f"{label}: {metric}", db, float(hit.iloc[0][col])))
    manifest = runs / "stage02.manifest.json"
    if manifest.is_file():
        for r in json.loads(manifest.read_text()).get("tables", {}).get("switch", []):
            if "switch_vs_truth_acc" in r:
                rows.append(("switch net: accuracy vs truth", r["set"], r["switch_vs_truth_acc"]))
    return pd.DataFrame(rows, columns=["quantity", "db", "value"])


def spread_table(per_seed: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """One row per (quantity, db): the value of each seed, their mean and sample standard deviation."""
    wide = None
    for seed, df in per_seed.items():
        d = df.set_index(["quantity", "db"])["value"].rename(f"seed {seed}")
        wide = d.to_frame() if wide is None else wide.join(d, how="outer")
    if wide is None:
        return pd.DataFrame()
    values = wide.to_numpy(dtype=float)
    wide["mean"] = np.nanmean(values, axis=1)
    wide["std"] = np.nanstd(values, axis=1, ddof=1) if values.shape[1] > 1 else np.nan
    return wide.reset_index()


def write_spread(per_seed: dict[int, pd.DataFrame], out: str | Path, profile: str) -> pd.DataFrame:
    """``out/seed_spread.csv`` and ``.md`` from the per-seed headlines; returns the table."""
    table = spread_table(per_seed)
    out = Path(out)
    write_text(out / "seed_spread.csv", table.to_csv(index=False, float_format="%.4f"))
    caption = (f"Headline numbers over seeds {', '.join(map(str, per_seed))} (profile {profile}; mean and sample "
               f"standard deviation)")
    write_text(out / "seed_spread.md", to_markdown(table, caption) if len(table) else f"{caption}: no run\n")
    return table


def run_targets(reports: str | Path, runs: str | Path) -> pd.DataFrame:
    """One run's targets: its ``tables/targets.csv`` when the run wrote one (judged on unrounded values), else
    computed from its 3-decimal tables (:func:`~stanet_lib.report.targets.demo_targets`)."""
    path = Path(reports) / "tables" / "targets.csv"
    if path.is_file():
        return pd.read_csv(path)
    return demo_targets(Path(reports) / "tables", runs)


def targets_table(per_seed: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """One row per (target, db): ``seed N`` = "value vs reference" and ``holds N`` for each seed, then ``holds on``
    ("k of n"), ``smallest margin``, and the ``mean margin`` and ``margin sd`` (the sample standard deviation, ddof
    1) over the seeds: a target whose mean margin is small beside its spread is a near tie that some seeds miss."""
    wide, holds, margins = None, {}, {}
    for seed, df in per_seed.items():
        d = df.set_index(["target", "db"])
        col = (d["value"].map("{:.4f}".format) + " vs " + d["reference"].map("{:.4f}".format)).rename(f"seed {seed}")
        h = d["holds"].astype(bool).rename(f"holds {seed}")
        part = pd.concat([col, h], axis=1)
        wide = part if wide is None else wide.join(part, how="outer")
        holds[seed], margins[seed] = h, d["margin"]
    if wide is None:
        return pd.DataFrame()
    order = list(dict.fromkeys(k for df in per_seed.values() for k in zip(df["target"], df["db"])))
    wide = wide.reindex(pd.MultiIndex.from_tuples(order, names=["target", "db"]))  # the targets' own order
    hold = pd.concat(holds, axis=1).reindex(wide.index)
    wide["holds on"] = [f"{int(r.sum())} of {int(r.notna().sum())}" for _, r in hold.iterrows()]
    margin = pd.concat(margins, axis=1).reindex(wide.index)
    wide["smallest margin"] = margin.min(axis=1)
    wide["mean margin"] = margin.mean(axis=1)
    wide["margin sd"] = margin.std(axis=1, ddof=1)  # NaN with one seed
    return wide.reset_index()


def write_seed_targets(per_seed: dict[int, pd.DataFrame], out: str | Path, profile: str) -> pd.DataFrame:
    """``out/seed_targets.csv`` and ``.md`` (:func:`targets_table`); returns the table."""
    table = targets_table(per_seed)
    out = Path(out)
    write_text(out / "seed_targets.csv", table.to_csv(index=False, float_format="%.4f"))
    caption = f"The demo's targets on seeds {', '.join(map(str, per_seed))} (profile {profile}): value vs reference"
    md = to_markdown(table.set_index(["target", "db"]), caption, digits=4) if len(table) else f"{caption}: no run\n"
    write_text(out / "seed_targets.md", md)
    return table


def targets_long(table: pd.DataFrame) -> pd.DataFrame:
    """A seed-targets table (:func:`targets_table`, ``seed_targets.csv``) in long form: one row per (target, db,
    seed) with ``value``, ``reference``, ``margin`` (value - reference, as ``targets.csv`` has it) and ``holds``."""
    rows = []
    for col in table.columns:
        if not col.startswith("seed "):
            continue
        seed = int(col.split()[1])
        for target, db, cell, holds in table[["target", "db", col, f"holds {seed}"]].itertuples(index=False):
            if isinstance(cell, str) and " vs " in cell:
                value, reference = (float(x) for x in cell.split(" vs "))
                rows.append((target, db, seed, value, reference, value - reference, holds in (True, "True")))
    return pd.DataFrame(rows, columns=["target", "db", "seed", "value", "reference", "margin", "holds"])


def paired_targets(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The (target, db, seed) cases present in both long tables (:func:`targets_long`) of the same seeds run twice
    (two machines): value, reference, margin and holds of each (suffixes ``_a`` and ``_b``), ``margin change``
    (b - a) and ``flipped`` (the verdicts differ)."""
    m = a.merge(b, on=["target", "db", "seed"], suffixes=("_a", "_b"))
    m["margin change"] = m["margin_b"] - m["margin_a"]
    m["flipped"] = m["holds_a"] != m["holds_b"]
    return m


def paired_summary(paired: pd.DataFrame) -> pd.DataFrame:
    """Per (target, db) and over all cases: how many cases, how many hold on each run and flip, and the median and
    largest absolute margin change."""
    def row(g: pd.DataFrame) -> dict:
        change = g["margin change"].abs()
        return {"cases": len(g), "holds a": int(g["holds_a"].sum()), "holds b": int(g["holds_b"].sum()),
                "flipped": int(g["flipped"].sum()), "median |margin change|": float(change.median()),
                "largest |margin change|": float(change.max())}
    rows = [{"target": t, "db": d, **row(g)} for (t, d), g in paired.groupby(["target", "db"], sort=False)]
    if len(paired):
        rows.append({"target": "all targets", "db": "", **row(paired)})
    return pd.DataFrame(rows)


def write_paired_targets(a: pd.DataFrame, b: pd.DataFrame, out: str | Path, labels: tuple[str, str]
                         ) -> pd.DataFrame:
    """``out/seed_targets_paired.csv`` (every case of :func:`paired_targets`, run a = ``labels[0]``) and
    ``seed_targets_paired.md`` (:func:`paired_summary`); returns the summary."""
    paired = paired_targets(a, b)
    summary = paired_summary(paired)
    out = Path(out)
    write_text(out / "seed_targets_paired.csv", paired.to_csv(index=False, float_format="%.4f"))
    seeds = ", ".join(map(str, sorted(paired["seed"].unique())))
    caption = (f"The demo's targets on seeds {seeds}, run a: {labels[0]}, run b: {labels[1]}: cases held on each, "
               f"verdicts that flip, and how far the margins (value - reference) move")
    md = to_markdown(summary.set_index(["target", "db"]), caption, digits=4) if len(summary) else f"{caption}: none\n"
    write_text(out / "seed_targets_paired.md", md)
    return summary
