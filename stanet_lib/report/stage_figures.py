"""Figures that read a run's artefacts (notebooks 03-05): the sample frames and map layers of the coarse and fine
stages (:func:`sample_rows`, :func:`figure_inputs`, drawn by :func:`stanet_lib.report.figures.map_samples`), the STA
nets' training curves and their predictions beside the ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import scam
from ..data.stavis import StavisRoot, load_fixation_map, load_gt_map
from ..stages.maps import load_maps
from ..stages.sta import SELECT_BY
from ..stages.world import World
from ..viz import render as viz
from .figures import CHANCE, chance_line, image_grid, save


def sta_training_curves(world: World, nets: Sequence[str] = ("sta", "sta_noswitch"),
                    path: str | Path | None = None) -> plt.Figure:
    """BCE (Eq. 6) on the training and validation frames, and the validation maps' correlation with the
    pseudo-fixations, per epoch, for each STA net that has a ``log.csv``; the kept epoch (``best.pt``,
    :data:`~stanet_lib.stages.sta.SELECT_BY`) is starred in both."""
    fig, (ax_loss, ax_cc) = plt.subplots(1, 2, figsize=(9, 3))
    for i, name in enumerate(nets):
        csv = world.net_dir(name) / "log.csv"
        if not csv.is_file():
            continue
        log, color = pd.read_csv(csv), f"C{i}"
        ax_loss.plot(log["epoch"], log["train_loss"], "--", color=color, label=f"{name} train")
        ax_loss.plot(log["epoch"], log["val_loss"], "-o", ms=3, color=color, label=f"{name} val")
        ax_cc.plot(log["epoch"], log["val_cc"], "-o", ms=3, color=color, label=f"{name} val")
        best = log.loc[log["best"].astype(str).str.lower().eq("true")].iloc[-1]  # the epoch fit kept (best.pt)
        ax_loss.plot([best["epoch"]], [best["val_loss"]], "*", ms=11, color=color)
        ax_cc.plot([best["epoch"]], [best["val_cc"]], "*", ms=11, color=color)
    chance_line(ax_cc, CHANCE["CC"], "chance (CC 0)")
    ax_loss.set(xlabel="epoch", ylabel="BCE with logits", title="loss (Eq. 6); * = kept epoch")
    ax_cc.set(xlabel="epoch", ylabel="CC(prediction, pseudo-fixation)",
              title=f"validation agreement (kept: best {SELECT_BY[0]})")
    for ax in (ax_loss, ax_cc):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, path)


def sta_predictions(world: World, set_name: str, variant: str = "sta", n: int = 4,
                path: str | Path | None = None, seed: int = 0) -> plt.Figure:
    """Test frames (cache canvas) with, side by side: the stage-04 pseudo-fixation, the STA prediction, and the
    eye-tracking ground truth (continuous map with the binary fixations as points). The frames are those of
    :func:`sample_rows`, middle frames of clips, as in the figures of notebooks 03 and 04: evenly spaced rows fell on
    the clips' first frames, where the window has no t-1 and the observers start at the screen centre."""
    fs = world.sets[set_name]
    db = set_name.split(":", 1)[1]
    fine = load_maps(world.maps_path("fine", set_name))
    pred = load_maps(world.maps_path("sta", set_name))
    root = StavisRoot(world.stavis_root)
    images, titles = [], []
    for i in sample_rows(world, set_name, n, seed=seed):
        frame = fs.frames[i].numpy()  # (S, S, 3)
        video, number = str(fs.meta["video"].iloc[i]), int(fs.meta["number"].iloc[i])
        gt = load_gt_map(root.map_path(db, video, number))
        fix = load_fixation_map(root.fixation_path(db, video, number))
        points = viz.points_from_map(fix, frame.shape[:2])
        images += [frame, viz.overlay(frame, fine["pseudo"][i].astype(np.float32), alpha=0.5),
                   viz.overlay(frame, pred[variant][i].astype(np.float32), alpha=0.5),
                   viz.draw_points(viz.overlay(frame, gt, alpha=0.5), points, radius=1)]
        titles += [f"{video} #{number}", "pseudo-fixation (stage 04)", f"STA prediction ({variant})",
                   f"ground truth, {len(points)} fixations"]
    return save(image_grid(images, titles, cols=4, size=2.3, colorbar=True,
                           suptitle=f"{db}: STA net trained on pseudo-fixations only (no tags at inference)"), path)

def sample_rows(world: World, set_name: str, n: int = 4, seed: int = 0) -> np.ndarray:
    """``n`` frame indices of a set, the middle frames of randomly chosen clips (for figures)."""
    fs = world.sets[set_name]
    picks = [idx[len(idx) // 2] for _, idx in fs.clips()]
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(picks, size=min(n, len(picks)), replace=False))


def figure_inputs(world: World, stage: str, set_name: str, rows: np.ndarray,
                  layers: tuple[str, ...] = ("CAM_S", "CAM_ST", "CAM_SA", "SCAM")) -> dict:
    """Frames, map layers (resized to the canvas), boxes, titles and GT fixation points of some rows: the
    arguments of :func:`stanet_lib.report.figures.map_samples`."""
    fs = world.sets[set_name]
    maps = load_maps(world.maps_path(stage, set_name))
    frames = fs.frames[torch.as_tensor(rows)].numpy()
    out = {"frames": frames, "boxes": maps["boxes"][rows] if "boxes" in maps else None,
           "layers": {k: scam.resize_maps(torch.as_tensor(maps[k][rows].astype(np.float32)), fs.canvas).numpy()
                      for k in layers if k in maps},
           "titles": [f"{fs.meta['video'].iloc[r]} #{fs.meta['number'].iloc[r]}" for r in rows], "points": None}
    if set_name.startswith("test:"):
        root, db = StavisRoot(world.stavis_root), set_name.split(":", 1)[1]
        out["points"] = [viz.points_from_map(load_fixation_map(root.fixation_path(db, fs.meta["video"].iloc[r],
                                                                              int(fs.meta["number"].iloc[r]))),
                                         frames.shape[1:3]) for r in rows]
    return out


def coarse_and_fine_inputs(world: World, set_name: str, rows: np.ndarray) -> dict:
    """:func:`figure_inputs` of notebook 04: the coarse CAM_S and SCAM beside the fine CAMs, SCAM and pseudo-fixations
    of the same rows, with the fine boxes and the GT fixation points."""
    coarse = figure_inputs(world, "coarse", set_name, rows, ("CAM_S", "SCAM"))
    fine = figure_inputs(world, "fine", set_name, rows, ("CAM_S", "CAM_ST", "CAM_SA", "SCAM", "pseudo"))
    layers = {"coarse CAM_S": coarse["layers"]["CAM_S"], "coarse SCAM": coarse["layers"]["SCAM"]}
    layers.update({f"fine {k}": v for k, v in fine["layers"].items()})
    return {**fine, "layers": layers}


def sta_prediction_figures(world: World, fig_dir: str | Path, n: int = 3) -> list[plt.Figure]:
    """:func:`sta_predictions` of every test set, saved as ``<fig_dir>/05_predictions_<db>.png`` (notebook 05)."""
    return [sta_predictions(world, set_name, n=n, seed=world.cfg.seed,
                            path=Path(fig_dir) / f"05_predictions_{set_name.split(':', 1)[1]}.png")
            for set_name in world.test_sets()]
