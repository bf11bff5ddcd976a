"""Figures of the stage notebooks: one function per figure, each returning a matplotlib Figure and saving a PNG
under ``reports/figures/`` when given a path (STYLE.md P11). Images come from :mod:`stanet_lib.viz`.

Every figure has a title; figures of maps have a colour bar (:func:`map_colorbar`: maps are drawn min-max scaled
per frame, :func:`stanet_lib.viz.render.overlay`), and plots of scores draw the chance level (:data:`CHANCE`) as a
dashed line.

The figures that read a run's artefacts through a :class:`~stanet_lib.stages.world.World` (notebooks 03-05) are in
:mod:`stanet_lib.report.stage_figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from ..artefacts import atomic_path
from ..data import cache as cache_mod
from ..data.stavis import StavisRoot, load_fixation_map
from ..viz import render as viz

#: The score of a map that knows nothing (a constant or random map) on each metric: AUC-J and s-AUC 0.5, CC and
#: NSS 0. SIM has no fixed chance level (it depends on the ground truth), so it gets no line.
CHANCE: dict[str, float] = {"AUC_J": 0.5, "AUC-J": 0.5, "sAUC": 0.5, "s-AUC": 0.5, "CC": 0.0, "NSS": 0.0}
MAP_CMAP = "jet"  # viz.overlay's default, the colormap of every map figure


def chance_line(ax: plt.Axes, value: float | None, label: str = "chance") -> None:
    """A dashed grey horizontal line at ``value`` (nothing for None), labelled for the legend."""
    if value is not None:
        ax.axhline(value, color="0.4", linestyle="--", linewidth=1, label=label, zorder=3)


def map_colorbar(fig: plt.Figure, axes: Sequence[plt.Axes] | np.ndarray, cmap: str = MAP_CMAP,
                 label: str = "map value, scaled to each frame's min .. max") -> None:
    """A colour bar from low (0) to high (1) beside ``axes`` for maps drawn with ``cmap``."""
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0.0, 1.0))
    cb = fig.colorbar(sm, ax=list(np.ravel(axes)), fraction=0.025, pad=0.01, ticks=[0, 1])
    cb.ax.set_yticklabels(["low", "high"], fontsize=7)
    cb.set_label(label, fontsize=7)


def save(fig: plt.Figure, path: str | Path | None, dpi: int = 110) -> plt.Figure:
    """Save ``fig`` as PNG atomically when ``path`` is given; return it."""
    if path is not None:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return fig


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str], cols: int = 4, size: float = 2.2,
               suptitle: str = "", colorbar: bool = False) -> plt.Figure:
    """A matplotlib grid of images with titles (``cols`` per row); ``colorbar``: the maps' colour bar beside it."""
    rows = (len(images) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.set_title(title, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    if colorbar:  # after tight_layout, which does not make room for it
        map_colorbar(fig, axes)
    return fig


def cache_frames(cache: str | Path, n: int = 8, path: str | Path | None = None) -> plt.Figure:
    """The middle frame of the first ``n`` cached AVE clips, titled with their tag."""
    index = cache_mod.load_index(cache)
    rows = index[index["source"] == "ave"].groupby("label", sort=True).head(2).head(n)
    images, titles = [], []
    for _, row in rows.iterrows():
        clip = cache_mod.load_clip(cache, row)
        images.append(clip["frames"][len(clip["frames"]) // 2])
        titles.append(f"{row['category']} ({row['split']})")
    return save(image_grid(images, titles, suptitle="AVE-layout clips (cache canvas)"), path)


def spectrogram(cache: str | Path, path: str | Path | None = None) -> plt.Figure:
    """Per-frame audio features of one clip, side by side, with the frame times."""
    index = cache_mod.load_index(cache)
    clip = cache_mod.load_clip(cache, index[index["source"] == "ave"].iloc[0])
    feats = clip["audio"].astype(np.float32)  # (T, F, S)
    fig, ax = plt.subplots(figsize=(9, 2.6))
    ax.imshow(np.concatenate(list(feats), axis=1), origin="lower", aspect="auto", cmap="magma")
    ax.set_title(f"{clip['video']} ({index.iloc[0]['category']}): per-frame log-mel windows "
                 f"({feats.shape[1]} bands x {feats.shape[2]} steps each), frames at "
                 f"{', '.join(f'{t:.2f}' for t in clip['times'][:6])} s ...", fontsize=8)
    ax.set_xlabel("frame windows, concatenated")
    ax.set_ylabel("mel band")
    fig.tight_layout()
    return save(fig, path)


def fixations(stavis_root: str | Path, db: str, video: str, frames: Sequence[int],
              path: str | Path | None = None) -> plt.Figure:
    """Frames of a test video with the ground-truth map overlaid and the binary fixations as points."""

    root = StavisRoot(stavis_root)
    images, titles = [], []
    for i in frames:
        with Image.open(root.frame_path(db, video, i)) as im:
            frame = np.asarray(im.convert("RGB"))
        with Image.open(root.map_path(db, video, i)) as im:
            gt = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        fix = load_fixation_map(root.fixation_path(db, video, i))
        img = viz.draw_points(viz.overlay(frame, gt, alpha=0.45), viz.points_from_map(fix, frame.shape[:2]),
                              radius=1)
        images.append(img)
        titles.append(f"{db}/{video} #{i}: {int(fix.sum())} fixations")
    return save(image_grid(images, titles, cols=len(images), size=3.0, colorbar=True,
                           suptitle="Simulated eye tracking: continuous map and fixations"), path)


def table_bars(df: pd.DataFrame, metrics: Sequence[str], by: str, title: str = "",
               path: str | Path | None = None, quoted: Mapping[str, pd.DataFrame] | None = None) -> plt.Figure:
    """Bar plot of metric columns per row label ``by`` (one panel per metric, the chance level dashed)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 2.8), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        ax.bar(range(len(df)), df[m].to_numpy(dtype=float), color="tab:blue")
        chance_line(ax, CHANCE.get(m))
        ax.set_xticks(range(len(df)), df[by].astype(str), rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{m} (higher is better)", fontsize=9)
    fig.suptitle(title or f"{', '.join(metrics)} per {by}; dashed: chance", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def training_curves(log_csvs: Mapping[str, str | Path], metric: str = "val_acc",
                    path: str | Path | None = None, chance: float | None = None, title: str = "") -> plt.Figure:
    """One line per net: ``metric`` per epoch from each ``log.csv`` of :func:`stanet_lib.train.engine.fit`;
    ``chance`` (e.g. ``1 / classes`` for an accuracy) is drawn dashed."""
    fig, ax = plt.subplots(figsize=(5, 3))
    chance_line(ax, chance, f"chance ({chance:.3g})" if chance is not None else "chance")
    for name, csv in log_csvs.items():
        if Path(csv).exists():
            df = pd.read_csv(csv)
            if metric in df:
                ax.plot(df["epoch"], df[metric], marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} per epoch", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def map_samples(frames: np.ndarray, layers: Mapping[str, np.ndarray], boxes: np.ndarray | None = None,
                titles: Sequence[str] | None = None, path: str | Path | None = None,
                points: Sequence[np.ndarray] | None = None, title: str = "Maps on sample test frames") -> plt.Figure:
    """Rows = sample frames, columns = the frame (with the box and fixations) then each map layer overlaid.

    Args:
        frames: (n, H, W, 3) uint8; layers: name -> (n, h, w) maps (resized to the frame by :func:`viz.overlay`);
        boxes: (n, 4) boxes (y0, y1, x0, x1) in frame pixels, drawn on the first column; points: per frame
        (k, 2) fixation points.
    """
    rows = []
    for i, frame in enumerate(frames):
        first = frame
        if boxes is not None:
            first = viz.draw_box(first, boxes[i], color=(255, 255, 0), thickness=1)
        if points is not None:
            first = viz.draw_points(first, points[i], radius=1)
        rows.append([first] + [viz.overlay(frame, np.asarray(m[i], np.float32), alpha=0.55) for m in layers.values()])
    labels = ["frame (+box, fixations)"] + list(layers)
    fig = image_grid([im for r in rows for im in r], [labels[j] if i == 0 else "" for i, r in enumerate(rows)
                                                       for j in range(len(r))], cols=len(labels), size=1.9,
                     suptitle=title, colorbar=True)
    if titles is not None:
        for ax, t in zip(fig.axes[:: len(labels)], titles):
            ax.set_ylabel(t, fontsize=7)
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
    return save(fig, path)


def table4_bars(table: pd.DataFrame, metrics: Sequence[str] = ("AUC-J", "CC", "NSS"),
                path: str | Path | None = None) -> plt.Figure:
    """Grouped bars of a Table 4-layout DataFrame (index (source, method), columns (dataset, metric)):
    one panel per (dataset, metric), one bar per method, the chance level dashed."""
    datasets = list(dict.fromkeys(table.columns.get_level_values(0)))
    methods = [m for _, m in table.index]
    fig, axes = plt.subplots(len(datasets), len(metrics), figsize=(3.2 * len(metrics), 2.6 * len(datasets)),
                             squeeze=False)
    colors = plt.cm.tab10(np.arange(len(methods)) % 10)
    for i, d in enumerate(datasets):
        for j, m in enumerate(metrics):
            ax = axes[i, j]
            vals = table[(d, m)].to_numpy(dtype=float)
            ax.bar(range(len(methods)), np.nan_to_num(vals), color=colors)
            chance_line(ax, CHANCE.get(m))
            ax.set_title(f"{d}: {m}", fontsize=9)
            ax.set_xticks([])
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors]
    fig.suptitle("Table 4 layout: every method on the synthetic test databases (higher is better; dashed: chance)",
                 fontsize=10)
    fig.legend(handles, methods, loc="lower center", ncol=2, fontsize=7, bbox_to_anchor=(0.5, -0.02 - 0.03 * len(methods) / 2))
    fig.tight_layout()
    return save(fig, path)
