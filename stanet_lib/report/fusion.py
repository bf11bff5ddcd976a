"""How far the selective fusion (Eq. 2-3) departs from the plain average, and whether its weights rank the maps.

SCAM weighs each source's CAM by its soft-filtered tag confidence (Eq. 3); SCAM_avg weighs them alike (Table 1's
ablation). After the min-max normalisation only the weights' ratios within a frame matter, so SCAM differs from
SCAM_avg only where the sources' confidences differ, and it can beat it only where the less confident source also
has the worse map. Per synthetic test database and stage (coarse, fine), from the maps npz of notebooks 03-04:

* ``dropped``: share of frames where no source has the tag as its top class (every weight 0): SCAM carries no
  location there and the protocol does not score the frame;
* ``near_equal``: share of the other frames whose smallest weight is at least 0.9 x the largest, where SCAM is
  within 10 % of SCAM_avg's mixture;
* ``w_S``, ``w_ST``, ``w_SA``: the mean weights;
* ``ranked``: frames where the tagged object sounds and the weights differ (smallest < 0.9 x largest);
  ``top_pointing`` / ``bottom_pointing``: on those frames, the pointing game (:mod:`stanet_lib.eval.localisation`)
  of the most / the least weighted source's CAM against the truth box. Eq. 2 helps where the first exceeds the
  second;
* ``cc_sel``, ``cc_avg``: SCAM's and SCAM_avg's protocol CC from the run's tables (the localisation table's
  :func:`~stanet_lib.report.localisation.map_cc`).

Real data has no truth: the table is then empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import scam
from ..artefacts import write_text
from ..eval.localisation import pointing_hits
from ..stages.maps import load_maps, same_frames
from ..stages.world import World
from .localisation import map_cc, truth_boxes

__all__ = ["SOURCES", "COLUMNS", "fusion_table", "write_fusion"]

SOURCES = ("S", "ST", "SA")
COLUMNS = ["db", "stage", "frames", "dropped", "near_equal", "w_S", "w_ST", "w_SA", "ranked", "top_pointing",
           "bottom_pointing", "cc_sel", "cc_avg"]
NEAR = 0.9  # smallest / largest weight at or above which a frame counts as near_equal


def _row(db: str, stage: str, maps: dict[str, np.ndarray], sounding: np.ndarray, on_canvas: np.ndarray,
         canvas: int, cc: dict[tuple[str, str], float]) -> dict:
    w = np.asarray(maps["weights"], dtype=np.float64)  # (N, 3), sources in SOURCES order (stages.pseudo.fused_maps)
    top, low = w.max(1), w.min(1)
    kept = top > 0
    near = kept & (low >= NEAR * top)
    differ = kept & ~near & sounding
    row = {"db": db, "stage": stage, "frames": len(w), "dropped": float(np.mean(~kept)),
           "near_equal": float(np.mean(near[kept])) if kept.any() else float("nan"),
           **{f"w_{s}": float(w[:, i].mean()) for i, s in enumerate(SOURCES)}, "ranked": int(differ.sum()),
           "top_pointing": float("nan"), "bottom_pointing": float("nan"),
           "cc_sel": cc.get((db, f"{stage} SCAM"), float("nan")),
           "cc_avg": cc.get((db, f"{stage} SCAM_avg"), float("nan"))}
    if differ.any():
        rows = np.flatnonzero(differ)
        cams = np.stack([np.asarray(maps[f"CAM_{s}"][rows], dtype=np.float32) for s in SOURCES], 1)  # (n, 3, h, w)
        for name, pick in (("top_pointing", w[rows].argmax(1)), ("bottom_pointing", w[rows].argmin(1))):
            m = torch.from_numpy(cams[np.arange(len(rows)), pick])
            if m.shape[-1] != canvas:  # coarse CAMs: to the canvas, as the localisation table resizes them
                m = scam.resize_maps(m, canvas)
            row[name] = float(pointing_hits(m.numpy(), on_canvas[rows]).mean())
    return row


def fusion_table(world: World) -> pd.DataFrame:
    """Rows :data:`COLUMNS` for each synthetic test database and each stage whose maps this run wrote."""
    if world.truth is None:
        return pd.DataFrame(columns=COLUMNS)
    cc = map_cc(world)  # (db, "coarse SCAM") etc. -> the protocol's CC, the localisation table's column
    rows = []
    for set_name in world.test_sets():
        db, fs = set_name.split(":", 1)[1], world.sets[set_name]
        _, sounding, on_canvas = truth_boxes(world, set_name)
        for stage in ("coarse", "fine"):
            path = world.maps_path(stage, set_name)
            if not path.is_file():
                continue
            maps = load_maps(path)
            if "weights" not in maps or not same_frames(maps, fs):
                continue  # not written yet, or left by an earlier run over other frames
            rows.append(_row(db, stage, maps, sounding, on_canvas, fs.canvas, cc))
    return pd.DataFrame(rows, columns=COLUMNS)


def write_fusion(world: World, reports: str | Path) -> pd.DataFrame:
    """:func:`fusion_table` as ``<reports>/tables/fusion_weights.csv``."""
    df = fusion_table(world)
    write_text(Path(reports) / "tables" / "fusion_weights.csv", df.to_csv(index=False, float_format="%.4f"))
    return df
