"""The demo's targets, checked from one run's own tables: every quantity, the value it is held against, and whether
it holds (``reports/<profile>/tables/targets.csv``, notebook 06, ``python -m stanet_lib spread``).

The targets are those the demo is built to show (README, "Measured"): the pseudo-fixations localise (pointing game
against the synthetic truth) and beat the centre bias; the STA net learns them; and the orderings of the paper's
ablations hold in CC: fine SCAM > coarse SCAM and SCAM_sel > SCAM_avg (Table 1), the fine SCAM above every fine
single-source CAM and the ST or SA CAM above the S CAM (Table 2), the STA net with the audio switch above the one
trained without it on the test videos whose audio is unrelated to the picture (Table 3); and the switch agrees with
the world's truth on the validation clips. Every value is read from the run's ``table1``-``table4``,
``localisation.csv`` and ``stage02.manifest.json``: nothing is recomputed here.

Example:
    >>> t = demo_targets("reports/demo/tables", "data/runs/demo")
    >>> t[~t["holds"]]  # what the run misses, with its numbers
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..artefacts import write_text
from .tables import flat_columns, to_markdown

__all__ = ["THRESHOLDS", "switch_rows", "demo_targets", "targets_from_tables", "write_targets", "targets_summary"]

# the demo's targets: pointing and s-AUC floors, and the ratios of the CC targets
THRESHOLDS = {"pointing": 0.75, "cc_over_centre": 1.3, "sauc": 0.60, "sta_over_pseudo": 0.9, "switch_val": 0.9}
_METRICS = ("AUC-J", "SIM", "s-AUC", "CC", "NSS")


def _measured(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["source"].astype(str).str.startswith("measured")]


def _split_variant(table: pd.DataFrame) -> pd.DataFrame:
    """``"SynthAV_a / FI. / CAM_S"`` -> columns db, part, name."""
    parts = table["variant"].astype(str).str.split(" / ", n=2, expand=True)
    return table.assign(db=parts[0], part=parts[1], name=parts[2])


def _row(target: str, db: str, value: float, reference: float, strict: bool, what: str) -> dict:
    ok = bool(np.isfinite(value) and np.isfinite(reference) and (value > reference if strict else value >= reference))
    return {"target": target, "db": db, "value": float(value), "reference": float(reference),
            "margin": float(value - reference), "holds": ok, "reference_is": what}


def _flat(df: pd.DataFrame | None) -> pd.DataFrame | None:
    """A table as its CSV reads back: the index as columns, (dataset, metric) columns joined by a space."""
    if df is None:
        return None
    out = df.copy()
    out.columns = flat_columns(out)  # the tables' CSV headers (tables.write_table)
    named = [n for n in out.index.names if n]
    return out.reset_index() if named else out


def switch_rows(runs: str | Path) -> list[dict]:
    """The switch table of ``runs/stage02.manifest.json`` (empty when stage 02 has not run)."""
    manifest = Path(runs) / "stage02.manifest.json"
    if not manifest.is_file():
        return []
    return list(json.loads(manifest.read_text()).get("tables", {}).get("switch", []))


def demo_targets(tables: str | Path, runs: str | Path, thresholds: dict | None = None) -> pd.DataFrame:
    """:func:`targets_from_tables` of a run's written tables: ``tables`` is its ``reports/<profile>/tables``
    (``table1``-``table4``, ``localisation.csv``; their CSVs round to 3 decimals), ``runs`` its ``runs/<profile>``."""
    tables = Path(tables)
    frames = {name: pd.read_csv(tables / f"{name}.csv") for name in ("table1", "table2", "table3", "table4",
                                                                    "localisation") if (tables / f"{name}.csv").is_file()}
    return targets_from_tables(frames, switch_rows(runs), thresholds)


def targets_from_tables(tables: dict[str, pd.DataFrame], switch: list[dict] | None = None,
                        thresholds: dict | None = None) -> pd.DataFrame:
    """The targets of one run, one row per (target, database): ``target``, ``db``, ``value``, ``reference`` (the
    threshold or the compared map's value), ``margin`` (value - reference), ``holds`` and ``reference_is``.

    Args:
        tables: ``table1``-``table4`` and ``localisation`` as :func:`stanet_lib.report.results.write_all` returns
            them, or read back from their CSVs; a table that is missing leaves its rows out.
        switch: the rows of stage 02's switch table (:func:`switch_rows`); the "val" row's accuracy against the
            truth is the switch target.
        thresholds: overrides of :data:`THRESHOLDS`.
    """
    th = {**THRESHOLDS, **(thresholds or {})}
    rows: list[dict] = []

    def read(name: str) -> pd.DataFrame | None:
        return _flat(tables.get(name))

    t4 = read("table4")
    loc = read("localisation")
    dbs = sorted({c.rsplit(" ", 1)[0] for c in t4.columns[2:]}) if t4 is not None else []
    if t4 is not None:
        t4 = _measured(t4)

        def method(prefix: str) -> pd.Series | None:
            hit = t4[t4["method"].astype(str).str.startswith(prefix)]
            return None if hit.empty else hit.iloc[0]

        pseudo, sta, centre = method("pseudo-fixations"), method("STA net"), method("centre bias")
        for db in dbs:
            if pseudo is not None and loc is not None:
                hit = loc[(loc["db"] == db) & (loc["map"] == "pseudo-fixations")]
                if len(hit):
                    rows.append(_row("pseudo-fixations: pointing", db, hit.iloc[0]["pointing"], th["pointing"],
                                     False, "threshold"))
            if pseudo is not None and centre is not None:
                rows.append(_row("pseudo-fixations: CC >= 1.3 x centre bias", db, pseudo[f"{db} CC"],
                                 th["cc_over_centre"] * centre[f"{db} CC"], False, "1.3 x centre bias CC"))
            if pseudo is not None:
                rows.append(_row("pseudo-fixations: s-AUC", db, pseudo[f"{db} s-AUC"], th["sauc"], False,
                                 "threshold"))
            if sta is not None and centre is not None:
                for m in _METRICS:
                    rows.append(_row(f"STA net >= centre bias: {m}", db, sta[f"{db} {m}"], centre[f"{db} {m}"],
                                     False, "centre bias"))
            if sta is not None and pseudo is not None:
                rows.append(_row("STA net: CC >= 0.9 x pseudo-fixations", db, sta[f"{db} CC"],
                                 th["sta_over_pseudo"] * pseudo[f"{db} CC"], False, "0.9 x pseudo-fixations CC"))
    t1, t2, t3 = read("table1"), read("table2"), read("table3")
    if t1 is not None:
        t1 = _split_variant(_measured(t1))
        cc = {(r.db, r.part, r.name): r.CC for r in t1.itertuples()}
        for db in sorted(t1["db"].unique()):
            if (db, "FI.", "SCAM_sel") in cc and (db, "CO.", "SCAM_sel") in cc:
                rows.append(_row("fine SCAM > coarse SCAM", db, cc[(db, "FI.", "SCAM_sel")],
                                 cc[(db, "CO.", "SCAM_sel")], True, "coarse SCAM"))
            for part, word in (("CO.", "coarse"), ("FI.", "fine")):
                if (db, part, "SCAM_sel") in cc and (db, part, "SCAM_avg") in cc:
                    rows.append(_row(f"SCAM_sel > SCAM_avg, {word}", db, cc[(db, part, "SCAM_sel")],
                                     cc[(db, part, "SCAM_avg")], True, f"{word} SCAM_avg"))
    if t2 is not None:
        t2 = _split_variant(_measured(t2))
        cc = {(r.db, r.part, r.name): r.CC for r in t2.itertuples()}
        for db in sorted(t2["db"].unique()):
            fine = {k: cc.get((db, "FI.", f"CAM_{k}"), np.nan) for k in ("S", "ST", "SA")}
            if (db, "FI.", "SCAM") in cc:
                best = max(fine, key=lambda k: -np.inf if np.isnan(fine[k]) else fine[k])
                rows.append(_row("fine SCAM > each fine CAM", db, cc[(db, "FI.", "SCAM")], fine[best], True,
                                 f"fine CAM_{best}"))
            for part, word in (("CO.", "coarse"), ("FI.", "fine")):
                s, st, sa = (cc.get((db, part, f"CAM_{k}"), np.nan) for k in ("S", "ST", "SA"))
                if np.isfinite(s):
                    which = "ST" if st >= sa else "SA"
                    rows.append(_row(f"CAM_ST or CAM_SA > CAM_S, {word}", db, max(st, sa), s, True,
                                     f"{word} CAM_S (value: CAM_{which})"))
    if t3 is not None:
        t3 = _split_variant(_measured(t3))
        sub = t3[t3["part"].str.startswith("unrelated audio")]
        for db, g in sub.groupby("db", sort=True):
            cc = {r.name: r.CC for r in g.itertuples()}
            if {"STA net w. AS", "STA net w/o. AS"} <= set(cc):
                rows.append(_row("STA with the switch > without, unrelated-audio videos", db, cc["STA net w. AS"],
                                 cc["STA net w/o. AS"], True, "STA net trained without the switch"))
    for r in switch or []:
        if r.get("set") == "val" and "switch_vs_truth_acc" in r:
            rows.append(_row("switch net: accuracy vs truth", "val", r["switch_vs_truth_acc"], th["switch_val"],
                             False, "threshold"))
    cols = ["target", "db", "value", "reference", "margin", "holds", "reference_is"]
    return pd.DataFrame(rows, columns=cols)


def write_targets(targets: pd.DataFrame, out: str | Path) -> Path:
    """``<out>/targets.csv`` (4 decimals, so that a strict ordering that holds by less than the tables' rounding
    still reads as it was judged) and ``targets.md``; returns the CSV path."""
    out = Path(out)
    write_text(out / "targets.md", to_markdown(targets.set_index(["target", "db"]),
                                               "The demo's targets in this run (holds: judged on unrounded values)",
                                               digits=4))
    return write_text(out / "targets.csv", targets.to_csv(index=False, float_format="%.4f"))


def targets_summary(targets: pd.DataFrame) -> str:
    """One Markdown paragraph: how many targets hold, and each one missed with its value and reference."""
    if targets.empty:
        return "- No target could be checked (the tables of stages 03-06 are missing)."
    miss = targets[~targets["holds"]]
    lines = [f"- {len(targets) - len(miss)} of {len(targets)} targets hold in this run."]
    for r in miss.itertuples():
        lines.append(f"- Missed: {r.target} on {r.db}: {r.value:.4f} against {r.reference:.4f} ({r.reference_is}).")
    return "\n".join(lines)
