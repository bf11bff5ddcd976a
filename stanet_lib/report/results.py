"""Notebook 06: the analogues of the paper's Tables 1-4 on the synthetic test databases, from this run's
artefacts only (no number is typed in), with the paper's rows printed beside ours and labelled as quoted.

* Table 1 (selective vs average fusion): SCAM_avg and SCAM, coarse and fine.
* Table 2 (CAM per source vs SCAM, coarse and fine): CAM_S, CAM_ST, CAM_SA, SCAM (the paper's CAM_STA row, a
  fifth network, is not trained here).
* Table 3 (audio switch): the fine SCAM with the SA nets trained without / with the switch, and the STA net
  without / with it.
* Table 4: the STA net beside the baselines (centre bias, constant map, spectral residual + motion, the ground
  truth as an upper bound) and beside the pseudo-fixations it was trained on.

The paper's Tables 1-3 are on AVAD; ours are per synthetic database. They show the mechanics and the orderings
this pipeline produces on the synthetic world; they are not claims about real data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..artefacts import digest, write_json, write_text
from ..eval.baselines import BaselinePredictions
from ..eval.metrics import TABLE_METRICS
from ..eval.protocol import EvalOptions, evaluate_db, scoring_pool
from ..stages.world import World
from . import tables as tab
from .fusion import write_fusion
from .localisation import write_localisation
from .targets import switch_rows, targets_from_tables, write_targets

STAGE_LABEL = {"coarse": "CO.", "fine": "FI."}
BASELINES = {"centre": "centre bias", "constant": "constant map", "spectral_residual_motion":
             "spectral residual + motion (Hou & Zhang 2007)", "ground_truth": "ground truth (upper bound)"}


def _read(world: World, name: str) -> pd.DataFrame:
    path = world.runs / "tables" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; run the notebook that writes it (03, 04 or 05) first")
    return pd.read_csv(path)


def map_means(world: World) -> pd.DataFrame:
    """All map variants' dataset means of notebooks 03 and 04 (rows db, stage, variant)."""
    return pd.concat([_read(world, "coarse_maps.csv"), _read(world, "fine_maps.csv")], ignore_index=True)


def _ablation(df: pd.DataFrame, variants: dict[str, str], stages: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for db, g in df.groupby("db", sort=True):
        for stage in stages:
            for v, label in variants.items():
                hit = g[(g["stage"] == stage) & (g["variant"] == v)]
                if len(hit):
                    rows.append({"variant": f"{db} / {STAGE_LABEL.get(stage, stage)} / {label}",
                                 **hit.iloc[0][list(TABLE_METRICS)].to_dict()})
    return pd.DataFrame(rows).set_index("variant")


def table1(world: World) -> pd.DataFrame:
    """Table 1 analogue (CAM_S / ST / SA vs SCAM, coarse and fine) from the map tables of stages 03-04."""
    return tab.ablation_table(_ablation(map_means(world), {"SCAM_avg": "SCAM_avg", "SCAM": "SCAM_sel"},
                                        ("coarse", "fine")), published=1)


def table2(world: World) -> pd.DataFrame:
    """Table 2 analogue (SCAM_avg vs SCAM_sel, coarse and fine) from the map tables of stages 03-04."""
    v = {"CAM_S": "CAM_S", "CAM_ST": "CAM_ST", "CAM_SA": "CAM_SA", "SCAM": "SCAM"}
    return tab.ablation_table(_ablation(map_means(world), v, ("coarse", "fine")), published=2)


STA_LABELS = {"sta": "STA net", "sta_noswitch": "STA net trained without the audio switch",
              "sta_gate_open": "STA net, switch forced open at test"}


def sta_results(world: World) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Notebook 05's STA results: dataset means (columns db, variant = STA | STA_noswitch | ..., metrics) and
    per-video results keyed by a readable label."""
    means = _read(world, "sta_metrics.csv")
    per_video = _read(world, "sta_per_video.csv")
    means = means.assign(variant=means["model"].map({"sta": "STA", "sta_noswitch": "STA_noswitch"})
                         .fillna(means["model"]))
    pv = {STA_LABELS.get(m, m): g.drop(columns="model") for m, g in per_video.groupby("model", sort=False)}
    return means, pv


def unrelated_audio(world: World) -> dict[str, set[str]]:
    """Per test database, the videos whose audio is unrelated to what is visible (the generator's truth; empty for
    real data)."""
    if world.truth is None:
        return {}
    t = world.truth[(world.truth["source"] == "stavis") & ~world.truth["audio_matches_tag"]]
    return {db: set(g["video"]) for db, g in t.groupby("db")}


def subset_means(per_video: pd.DataFrame, videos: dict[str, set[str]], by: str) -> pd.DataFrame:
    """Means over the scored videos of each database that are in ``videos`` (the STAViS protocol's per-video
    means, averaged over that subset), per value of column ``by``: columns db, ``by``, videos, metrics."""
    rows = []
    for (db, key), g in per_video.groupby(["db", by], sort=False):
        sel = g[g["video"].isin(videos.get(db, set())) & (g["status"] == "ok")]
        if len(sel):
            rows.append({"db": db, by: key, "videos": len(sel), **sel[list(TABLE_METRICS)].mean().to_dict()})
    return pd.DataFrame(rows)


def table3(world: World, sta: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fine SCAM and (when given) the STA net, without and with the audio switch; for the STA nets also the means
    over the test videos with audio unrelated to the visible objects, where the switch should matter."""
    ours = _ablation(map_means(world), {"SCAM_noswitch": "pseudo-fixations w/o. AS",
                                        "SCAM": "pseudo-fixations w. AS"}, ("fine",))
    if sta is not None and len(sta):
        extra = _ablation(sta.assign(stage="sta"), {"STA_noswitch": "STA net w/o. AS", "STA": "STA net w. AS"},
                          ("sta",))
        ours = pd.concat([ours, extra])
        path = world.runs / "tables" / "sta_per_video.csv"
        videos = unrelated_audio(world)
        if videos and path.is_file():
            sub = subset_means(pd.read_csv(path, keep_default_na=False, na_values=[""]), videos, "model")
            labels = {"sta_noswitch": "STA net w/o. AS", "sta": "STA net w. AS"}
            sub = sub[sub["model"].isin(list(labels))]
            sub = sub.assign(variant=[f"{r.db} / unrelated audio ({r.videos} videos) / {labels[r.model]}"
                                      for r in sub.itertuples()])
            order = {k: i for i, k in enumerate(labels)}
            sub = sub.sort_values(["db", "model"], key=lambda c: c.map(order) if c.name == "model" else c)
            ours = pd.concat([ours, sub.set_index("variant")[list(TABLE_METRICS)]])
    return tab.ablation_table(ours, published=3)


def baseline_results(world: World, kinds: tuple[str, ...] = tuple(BASELINES), log=print) -> dict[str, pd.DataFrame]:
    """Per-video STAViS-protocol results of each baseline on every test database (cached in
    ``runs/<profile>/tables/baselines_per_video.csv``)."""
    path = world.runs / "tables" / "baselines_per_video.csv"
    opts = EvalOptions.from_config(world.cfg.eval)
    key = _baselines_key(world, kinds, opts)
    side = path.with_name(path.name + ".json")
    if path.is_file() and _read_key(side) == key:
        df = pd.read_csv(path, keep_default_na=True)
        if set(kinds) <= set(df["method"]):
            return {BASELINES[k]: df[df["method"] == k].drop(columns="method") for k in kinds}
    parts = []
    with scoring_pool(world.cfg.eval.workers) as pool:
        for set_name in world.test_sets():
            db = set_name.split(":", 1)[1]
            for k in kinds:
                log(f"baseline {k} on {db} ...")
                res = evaluate_db(world.stavis_root, db, BaselinePredictions(k, world.stavis_root, db), opts=opts,
                                  executor=pool)
                parts.append(res.per_video.assign(method=k))
    df = pd.concat(parts, ignore_index=True)
    side.unlink(missing_ok=True)  # the key goes last: a crash in between leaves a table that is not reused
    write_text(path, df.to_csv(index=False))
    write_json(side, {"key": key})
    return {BASELINES[k]: df[df["method"] == k].drop(columns="method") for k in kinds}


def _baselines_key(world: World, kinds: tuple[str, ...], opts: EvalOptions) -> str:
    """What the baselines' results depend on: the evaluation options, the baselines, the test sets' frames and
    every file of the STAViS root (path, size, modification time): a regenerated world (other videos, other
    fixations under the same names) is scored again, never answered from an earlier world's table."""
    sets = [(n, world.sets[n].meta["video"].astype(str).tolist(), world.sets[n].meta["number"].astype(int).tolist())
            for n in world.test_sets()]
    root = Path(world.stavis_root)
    files = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in root.rglob("*") if p.is_file())
    return digest([repr(opts), list(kinds), sets, files])


def _read_key(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None


def pseudo_results(world: World) -> pd.DataFrame:
    """Per-video results of the pseudo-fixations themselves (fine SCAM after post-processing)."""
    df = _read(world, "fine_maps_per_video.csv")
    df = df[df["variant"] == "pseudo"]
    if df.empty:
        raise ValueError(f"{world.runs / 'tables' / 'fine_maps_per_video.csv'} has no 'pseudo' rows: "
                         "re-run notebook 04")
    return df.drop(columns=["stage", "variant"])


def table4_results(world: World, sta_per_video: dict[str, pd.DataFrame], log=print) -> dict[str, pd.DataFrame]:
    """Per-video results of every Table 4 row we measure: STA net(s), pseudo-fixations, baselines."""
    fallback = ", the coarse SCAM where it is empty" if world.cfg.scam.empty_fallback == "coarse" else ""
    return {**sta_per_video, f"pseudo-fixations (fine SCAM{fallback}; the STA net's targets)": pseudo_results(world),
            **baseline_results(world, log=log)}


def table4(world: World, sta_per_video: dict[str, pd.DataFrame], log=print) -> pd.DataFrame:
    """Our rows in the Table 4 layout over the test databases of this run (the synthetic ones by default).
    The paper's rows are on the six real sets: :func:`table4_paper` (printed beside ours, not merged, since no
    column is shared)."""
    results = table4_results(world, sta_per_video, log)
    dbs = tuple(s.split(":", 1)[1] for s in world.test_sets())
    names = tuple(dict.fromkeys(tab.DATASET_NAMES.get(d, d) for d in dbs))
    return tab.table4(results, include_published=False, datasets=names)


def table4_paper() -> pd.DataFrame:
    """The paper's Table 4, quoted."""
    return tab.table4({}, include_published=True)


def write_all(world: World, reports: Path, sta_per_video: dict[str, pd.DataFrame],
              sta_means: pd.DataFrame | None = None, log=print) -> dict[str, pd.DataFrame]:
    """Tables 1-4 as CSV, Markdown and LaTeX under ``<reports>/tables/``, ``localisation.csv``
    (:mod:`stanet_lib.report.localisation`), ``fusion_weights.csv`` (:mod:`stanet_lib.report.fusion`) and
    ``targets.csv`` (:mod:`stanet_lib.report.targets`, judged on the unrounded tables); returns the DataFrames."""
    out = Path(reports) / "tables"
    t = {"table1": table1(world), "table2": table2(world), "table3": table3(world, sta_means),
         "table4": table4(world, sta_per_video, log), "table4_paper": table4_paper()}
    captions = {"table1": "Selective vs average fusion (analogue of Table 1)",
                "table2": "CAM per source vs SCAM, coarse and fine (analogue of Table 2)",
                "table3": "Without / with the audio switch (analogue of Table 3)"}
    for name in ("table1", "table2", "table3"):
        tab.write_table(t[name], out / name, captions[name])
    tab.write_table(t["table4"], out / "table4", "STA net vs pseudo-fixations and baselines, synthetic test "
                    "databases (Table 4 layout); the paper's Table 4 is quoted in table4_paper.md")
    tab.write_table4({}, out / "table4_paper")
    t["localisation"] = write_localisation(world, reports)
    t["fusion_weights"] = write_fusion(world, reports)
    t["targets"] = targets_from_tables(t, switch_rows(world.runs))
    write_targets(t["targets"], out)
    return t
