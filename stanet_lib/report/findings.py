"""The "what this shows" cell at the end of notebooks 02-06: a few sentences computed from the run's own artefacts
(chance levels, the centre bias, the direction of each metric, what was scored and why, what is synthetic), so a
reader does not have to know the numbers' scale. Each function returns Markdown.

Metric directions and chance levels: every STAViS metric is "higher is better" (AUC-J, SIM, s-AUC, CC, NSS;
``reference/evaluation_protocol_and_datasets.md``); a map with no information scores AUC-J ~ 0.5 (s-AUC ~ 0.5,
CC 0, NSS 0), and the centre bias, a fixed Gaussian at the frame centre, is the baseline to beat.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..eval.metrics import TABLE_METRICS
from ..eval.protocol import dataset_means
from ..stages.world import World
from .localisation import localisation_table
from .results import baseline_results, unrelated_audio

__all__ = ["DIRECTIONS", "centre_bias", "stage02", "maps_stage", "stage05", "stage06"]

DIRECTIONS = ("All five metrics (AUC-J, SIM, s-AUC, CC, NSS) are higher-is-better; an uninformative map scores "
              "AUC-J and s-AUC ~0.5 and CC, NSS ~0.")
_SYNTHETIC = ("These are synthetic test databases: they show the mechanics and orderings of this pipeline, not "
              "numbers comparable with the paper's.")


def _fmt(x: float) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.3f}"


def centre_bias(world: World) -> pd.DataFrame:
    """Dataset means of the centre-bias baseline per test database (rows db; cached with the other baselines)."""
    res = baseline_results(world, ("centre",), log=lambda *_: None)["centre bias"]
    return pd.DataFrame({db: dataset_means(g) for db, g in res.groupby("db")}).T[list(TABLE_METRICS)]


def stage02(world: World) -> str:
    """Notebook 02: the nets' validation accuracy against chance, the switch against the truth."""
    m = json.loads((world.runs / "stage02.manifest.json").read_text())["tables"]
    chance = 1.0 / world.num_classes
    acc = pd.DataFrame(m["accuracy"])
    lines = [f"- Chance for the {world.num_classes}-way nets is {chance:.3f}; best validation accuracy: "
             + ", ".join(f"{r['net']} {r['val_acc']:.3f} (epoch {r['best_epoch']})" for r in acc.to_dict("records"))
             + "."]
    sw = {r["set"]: r for r in m["switch"]}
    if "val" in sw and "switch_vs_truth_acc" in sw["val"]:
        v = sw["val"]
        lines.append(
            f"- Audio switch on val: open (p > 0.5) on {v['switch_open_rate']:.3f} of the frames, while "
            f"{v['matching_audio_rate']:.3f} have audio that matches the tag; accuracy against the truth "
            f"{v['switch_vs_truth_acc']:.3f} (always open would score {v['matching_audio_rate']:.3f}); AUC of p_switch "
            f"between matching and unrelated audio {_fmt(v['switch_auc'])} (0.5 = no separation). Its labels "
            f"(the tagger's) agree with the truth on {v.get('labels_vs_truth_acc', float('nan')):.3f} of the frames.")
    lines.append("- The world is synthetic: every clip's truth (which audio matches, where the sounding object is) "
                 "is known, which is what the accuracies against the truth use.")
    return "\n".join(lines)


def maps_stage(world: World, stage: str) -> str:
    """Notebooks 03 ("coarse") and 04 ("fine"): each map's CC and pointing against the centre bias and chance,
    and how many frames each map was scored on."""
    df = pd.read_csv(world.runs / "tables" / f"{stage}_maps.csv")
    cb = centre_bias(world)
    loc = localisation_table(world)
    lines = [f"- {DIRECTIONS}"]
    for db, g in df.groupby("db", sort=True):
        best = g.loc[g["CC"].idxmax()]
        scam = g[g["variant"] == "SCAM"]
        text = (f"- {db}: centre bias CC {_fmt(cb.loc[db, 'CC'])}, NSS {_fmt(cb.loc[db, 'NSS'])}; best {stage} map "
                f"{best['variant']} (CC {_fmt(best['CC'])})")
        if len(scam):
            s = scam.iloc[0]
            text += (f"; SCAM CC {_fmt(s['CC'])}, scored on {int(s['frames_scored'])} frames of "
                     f"{int(g['frames_scored'].max())}")
        lo = loc[(loc["db"] == db) & (loc["map"] == f"{stage} SCAM")] if len(loc) else loc
        if len(lo):
            text += (f"; SCAM pointing {lo.iloc[0]['pointing']:.2f} (chance = box area "
                     f"{lo.iloc[0]['box_area']:.2f})")
        lines.append(text + ".")
    lines.append("- A frame whose SCAM is all zero (no net's top-1 class was the tag, so Eq. 3 filtered out every "
                 "source) carries no location: it is not scored and is not an STA training target.")
    lines.append(f"- {_SYNTHETIC}")
    return "\n".join(lines)


def stage05(world: World) -> str:
    """Notebook 05: the STA net against the centre bias and its own targets, and the epoch rule."""
    sta = pd.read_csv(world.runs / "tables" / "sta_metrics.csv")
    cb = centre_bias(world)
    fine = pd.read_csv(world.runs / "tables" / "fine_maps.csv")
    lines = [f"- {DIRECTIONS}"]
    for db, g in sta[sta["model"] == "sta"].groupby("db"):
        r = g.iloc[0]
        above = [k for k in TABLE_METRICS if np.isfinite(r[k]) and r[k] > cb.loc[db, k]]
        pseudo = fine[(fine["db"] == db) & (fine["variant"] == "pseudo")]
        pcc = float(pseudo.iloc[0]["CC"]) if len(pseudo) else float("nan")
        lines.append(f"- {db}: STA net CC {_fmt(r['CC'])} vs centre bias {_fmt(cb.loc[db, 'CC'])} and its targets, "
                     f"the pseudo-fixations, {_fmt(pcc)}; above the centre bias in {len(above)} of 5 metrics"
                     f"{' (' + ', '.join(above) + ')' if above else ''}.")
    lines.append("- The kept epoch is the one with the highest validation CC against the pseudo-fixations (not the "
                 "lowest validation BCE, which can rise while the maps improve).")
    lines.append(f"- {_SYNTHETIC}")
    return "\n".join(lines)


def _check(label: str, a: float, b: float) -> str:
    return f"{label} {'holds' if a > b else 'does not hold'} ({_fmt(a)} vs {_fmt(b)})"


def stage06(world: World) -> str:
    """Notebook 06: whether the paper's orderings hold in CC on each database, with the numbers."""
    maps = pd.concat([pd.read_csv(world.runs / "tables" / f"{s}_maps.csv") for s in ("coarse", "fine")])
    sta = pd.read_csv(world.runs / "tables" / "sta_per_video.csv", keep_default_na=False, na_values=[""])
    videos = unrelated_audio(world)
    lines = []
    for db, g in maps.groupby("db", sort=True):
        cc = {(r.stage, r.variant): r.CC for r in g.itertuples()}
        fine_cams = max(cc.get(("fine", f"CAM_{k}"), -1) for k in ("S", "ST", "SA"))
        items = [_check("fine SCAM > coarse SCAM", cc[("fine", "SCAM")], cc[("coarse", "SCAM")]),
                 _check("SCAM_sel > SCAM_avg (fine)", cc[("fine", "SCAM")], cc[("fine", "SCAM_avg")]),
                 _check("fine SCAM > every fine CAM", cc[("fine", "SCAM")], fine_cams),
                 _check("coarse CAM_ST or CAM_SA > CAM_S",
                       max(cc[("coarse", "CAM_ST")], cc[("coarse", "CAM_SA")]), cc[("coarse", "CAM_S")])]
        sub = sta[(sta["db"] == db) & sta["video"].isin(videos.get(db, set())) & (sta["status"] == "ok")]
        if len(sub):
            m = sub.groupby("model")["CC"].mean()
            if {"sta", "sta_noswitch"} <= set(m.index):
                items.append(_check(f"STA with the switch > without, on the {sub['video'].nunique()} videos with "
                                   "unrelated audio", m["sta"], m["sta_noswitch"]))
        lines.append(f"- {db}: " + "; ".join(items) + ".")
    lines.append(f"- CC, higher is better. {_SYNTHETIC}")
    return "\n".join(lines)
