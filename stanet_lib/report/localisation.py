"""The localisation table: how often each map of a run points at the sounding object, beside its CC.

``pointing``: the share of test frames whose map maximum lies inside the sounding object's box from the synthetic
world's truth (:mod:`stanet_lib.eval.localisation`, the pointing game), over the frames where the tagged object
sounds (truth ``sounding``; ``frames`` counts them). A frame of a video whose audio is unrelated to the picture has
no sounding object, so the game has no target there (the simulated observers follow its tagged object when it is
played under a dubbed soundtrack, ``synth.unrelated_played``, and split between the look-alikes otherwise).
``cc``: the map's STAViS-protocol CC against the simulated eye tracking (dataset mean, from the tables notebooks
03-06 write). Chance for pointing is the box's share of the frame (column ``box_area``). Rows: the coarse and
fine CAMs of S, ST and SA, SCAM and SCAM_avg, the pseudo-fixations (the STA net's targets), the STA net, the centre
bias and the ground-truth map (the ceiling). Real data has no such truth: the table is then empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import scam
from ..artefacts import write_text
from ..data.stavis import StavisRoot, load_gt_map
from ..data.synthetic import truth_path
from ..eval.baselines import centre_bias
from ..eval.localisation import pointing_hits, scale_boxes
from ..eval.protocol import dataset_means
from ..stages.maps import load_maps, same_frames
from ..stages.world import World

__all__ = ["MAP_ROWS", "localisation_table", "map_cc", "truth_boxes", "write_localisation"]

# (stage file, key in the maps npz, row name, table the CC comes from, key there)
MAP_ROWS: tuple[tuple[str, str, str], ...] = (
    ("coarse", "CAM_S", "coarse CAM_S"), ("coarse", "CAM_ST", "coarse CAM_ST"), ("coarse", "CAM_SA", "coarse CAM_SA"),
    ("coarse", "SCAM_avg", "coarse SCAM_avg"), ("coarse", "SCAM", "coarse SCAM"),
    ("fine", "CAM_S", "fine CAM_S"), ("fine", "CAM_ST", "fine CAM_ST"), ("fine", "CAM_SA", "fine CAM_SA"),
    ("fine", "SCAM_avg", "fine SCAM_avg"), ("fine", "SCAM", "fine SCAM"), ("fine", "pseudo", "pseudo-fixations"),
    ("sta", "sta", "STA net"),
)


def _boxes(world: World, db: str, videos: np.ndarray, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Truth boxes (N, 4) of the frames (video pixels), whether the tagged object sounds (N,) bool, and each video's
    (height, width)."""
    tr = world.truth[(world.truth["source"] == "stavis") & (world.truth["db"] == db)].set_index("video")
    boxes, sounding, sizes = np.zeros((len(videos), 4), np.int64), np.zeros(len(videos), bool), {}
    for video in dict.fromkeys(videos.tolist()):
        with np.load(truth_path(world.synth, "stavis", db, video)) as z:
            box, sounds = z["box"], z["sounding"]
        rows = np.flatnonzero(videos == video)
        boxes[rows] = box[numbers[rows] - 1]
        sounding[rows] = sounds[numbers[rows] - 1]
        sizes[video] = (int(tr.loc[video, "height"]), int(tr.loc[video, "width"]))
    return boxes, sounding, sizes


def truth_boxes(world: World, set_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes, sounding, on_canvas) of every frame of a synthetic test set: the sounding object's truth box in video
    pixels, whether the tagged object sounds there ((N,) bool), and the box on the frame set's square canvas (boxes
    (N, 4) y0, y1, x0, x1 inclusive)."""
    db, fs = set_name.split(":", 1)[1], world.sets[set_name]
    videos = fs.meta["video"].astype(str).to_numpy()
    boxes, sounding, sizes = _boxes(world, db, videos, fs.meta["number"].to_numpy().astype(np.int64))
    on_canvas = np.zeros_like(boxes)
    for video, hw in sizes.items():
        sel = videos == video
        on_canvas[sel] = scale_boxes(boxes[sel], hw, (fs.canvas, fs.canvas))
    return boxes, sounding, on_canvas


def map_cc(world: World) -> dict[tuple[str, str], float]:
    """(db, row name) -> dataset-mean CC from the run's tables, where they exist."""
    out: dict[tuple[str, str], float] = {}
    tables = world.runs / "tables"
    for stage in ("coarse", "fine"):
        path = tables / f"{stage}_maps.csv"
        if path.is_file():
            df = pd.read_csv(path)
            names = {k: n for s, k, n in MAP_ROWS if s == stage}
            for _, r in df[df["variant"].isin(names)].iterrows():
                out[(r["db"], names[r["variant"]])] = float(r["CC"])
    if (tables / "sta_metrics.csv").is_file():
        df = pd.read_csv(tables / "sta_metrics.csv")
        for _, r in df[df["model"] == "sta"].iterrows():
            out[(r["db"], "STA net")] = float(r["CC"])
    if (tables / "baselines_per_video.csv").is_file():
        df = pd.read_csv(tables / "baselines_per_video.csv")
        for method, name in (("centre", "centre bias"), ("ground_truth", "GT ceiling")):
            for db, g in df[df["method"] == method].groupby("db"):
                out[(db, name)] = float(dataset_means(g)["CC"])
    return out


def localisation_table(world: World) -> pd.DataFrame:
    """Rows ``db, map, pointing, cc, frames, box_area`` for every map of :data:`MAP_ROWS` the run has written, the
    centre bias and the GT ceiling, on each synthetic test database (empty without the generator's truth)."""
    if world.truth is None:
        return pd.DataFrame(columns=["db", "map", "pointing", "cc", "frames", "box_area"])
    cc = map_cc(world)
    rows = []
    for set_name in world.test_sets():
        db, fs = set_name.split(":", 1)[1], world.sets[set_name]
        videos = fs.meta["video"].astype(str).to_numpy()
        numbers = fs.meta["number"].to_numpy().astype(np.int64)
        boxes, sounding, on_canvas = truth_boxes(world, set_name)
        canvas = fs.canvas
        box_px = (on_canvas[:, 1] - on_canvas[:, 0] + 1) * (on_canvas[:, 3] - on_canvas[:, 2] + 1)
        area = float(np.mean(box_px[sounding])) / canvas**2 if sounding.any() else float("nan")

        def row(name: str, hits: np.ndarray) -> dict:
            scored = hits[sounding]
            return {"db": db, "map": name, "pointing": float(np.mean(scored)) if scored.size else float("nan"),
                    "cc": cc.get((db, name), float("nan")), "frames": int(scored.size), "box_area": area}

        for stage, key, name in MAP_ROWS:
            path = world.maps_path(stage, set_name)
            if not path.is_file():
                continue
            maps = load_maps(path)
            if key not in maps or not same_frames(maps, fs):
                continue  # not written yet, or left by an earlier run over other frames: not this run's map
            m = torch.as_tensor(maps[key].astype(np.float32))
            if m.shape[-1] != canvas:  # coarse CAMs, STA maps: to the canvas, as the evaluation resizes them
                m = scam.resize_maps(m, canvas)
            rows.append(row(name, pointing_hits(m.numpy(), on_canvas)))
        rows.append(row("centre bias", pointing_hits(np.broadcast_to(centre_bias((canvas, canvas)), (len(fs), canvas, canvas)),
                                                     on_canvas)))
        root = StavisRoot(world.stavis_root)
        gt_hits = np.array([pointing_hits(load_gt_map(root.map_path(db, v, int(n)))[None], boxes[i:i + 1])[0]
                            for i, (v, n) in enumerate(zip(videos, numbers))])
        rows.append(row("GT ceiling", gt_hits))
    return pd.DataFrame(rows)


def write_localisation(world: World, reports: str | Path) -> pd.DataFrame:
    """:func:`localisation_table` as ``<reports>/tables/localisation.csv`` (columns db, map, pointing, cc, ...)."""
    df = localisation_table(world)
    write_text(Path(reports) / "tables" / "localisation.csv", df.to_csv(index=False, float_format="%.4f"))
    return df
