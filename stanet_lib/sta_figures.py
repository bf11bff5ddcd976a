"""Figures of notebook 05 (STA net): one function per figure, returning a matplotlib Figure and saving a PNG when
given a path (STYLE.md P11; :func:`stanet_lib.figures.save`). Every number and image comes from this run's
artefacts (``nets/<name>/log.csv``, ``maps/fine_<set>.npz``, ``maps/sta_<set>.npz``, the STAViS ground truth).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import pseudo, viz
from .figures import image_grid, save
from .stages import World
from .stavis import StavisRoot, load_fixation_map, load_gt_map


def training_curves(world: World, nets: Sequence[str] = ("sta", "sta_noswitch"),
                    path: str | Path | None = None) -> plt.Figure:
    """BCE (Eq. 6) on the training and validation frames, and the validation maps' correlation with the
    pseudo-fixations, per epoch, for each STA net that has a ``log.csv``; the selected epoch is marked."""
    fig, (ax_loss, ax_cc) = plt.subplots(1, 2, figsize=(9, 3))
    for i, name in enumerate(nets):
        csv = world.net_dir(name) / "log.csv"
        if not csv.is_file():
            continue
        log, color = pd.read_csv(csv), f"C{i}"
        ax_loss.plot(log["epoch"], log["train_loss"], "--", color=color, label=f"{name} train")
        ax_loss.plot(log["epoch"], log["val_loss"], "-o", ms=3, color=color, label=f"{name} val")
        ax_cc.plot(log["epoch"], log["val_cc"], "-o", ms=3, color=color, label=f"{name} val")
        best = log.loc[log["val_loss"].idxmin()]
        ax_loss.plot([best["epoch"]], [best["val_loss"]], "*", ms=11, color=color)
    ax_loss.set(xlabel="epoch", ylabel="BCE with logits", title="loss (Eq. 6), * = kept epoch")
    ax_cc.set(xlabel="epoch", ylabel="CC(prediction, pseudo-fixation)", title="validation agreement")
    for ax in (ax_loss, ax_cc):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, path)


def sample_frames(world: World, set_name: str, n: int = 4) -> np.ndarray:
    """``n`` frame indices of a frame set, evenly spaced (the first video's start to the last video's end)."""
    total = len(world.sets[set_name])
    return np.unique(np.linspace(0, total - 1, n).round().astype(int))


def predictions(world: World, set_name: str, variant: str = "sta", n: int = 4,
                path: str | Path | None = None) -> plt.Figure:
    """Test frames (cache canvas) with, side by side: the stage-04 pseudo-fixation, the STA prediction, and the
    eye-tracking ground truth (continuous map with the binary fixations as points)."""
    fs = world.sets[set_name]
    db = set_name.split(":", 1)[1]
    fine = pseudo.load_maps(world.maps_path("fine", set_name))
    pred = pseudo.load_maps(world.maps_path("sta", set_name))
    root = StavisRoot(world.stavis_root)
    images, titles = [], []
    for i in sample_frames(world, set_name, n):
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
    return save(image_grid(images, titles, cols=4, size=2.3,
                           suptitle=f"{db}: STA net trained on pseudo-fixations only (no tags at inference)"), path)
