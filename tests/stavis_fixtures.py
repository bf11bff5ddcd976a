"""Tiny STAViS-layout databases for the evaluation tests (written with the real writers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from stanet_lib.data.encode import write_jpeg
from stanet_lib.data.stavis import StavisRoot, save_fixation_map


def make_layout(root: Path, db: str, videos: dict[str, int], folds: dict[int | None, list[str]],
                shape: tuple[int, int] = (18, 32), seed: int = 0, fix_per_frame: int = 4) -> StavisRoot:
    """Fixation maps (random pixels, one frame without fixations per video: frame 2), blurred GT JPEGs,
    grey video frames, and fold lists (key None = one fixed list, DIEM style)."""
    rng = np.random.default_rng(seed)
    sr = StavisRoot(root)
    h, w = shape
    for name, nframes in videos.items():
        for j in range(1, nframes + 1):
            fix = np.zeros(shape, dtype=bool)
            if j != 2:
                fix.flat[rng.choice(h * w, fix_per_frame, replace=False)] = True
            save_fixation_map(sr.fixation_path(db, name, j), fix)
            gt = gaussian_filter(fix.astype(float), 2.0) + 0.01 * rng.random(shape)
            write_jpeg(sr.map_path(db, name, j), np.round(gt / gt.max() * 255).astype(np.uint8))
            frame = np.round(rng.random((h, w, 3)) * 255).astype(np.uint8)
            write_jpeg(sr.frame_path(db, name, j), frame)
    sr.fold_dir.mkdir(parents=True, exist_ok=True)
    for k, names in folds.items():
        fname = f"{db}_list_test_fps.txt" if k is None else f"{db}_list_test_{k}_fps.txt"
        (sr.fold_dir / fname).write_text("\n".join(f"{n} {videos[n]} 25.000000" for n in names))
    return sr


def smooth_predictions(videos: dict[str, int], shape: tuple[int, int] = (12, 20), seed: int = 1) -> dict:
    """{video: (T, h, w) float in [0, 1]} smooth random maps (prediction resolution differs from GT)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, n in videos.items():
        maps = gaussian_filter(rng.random((n, *shape)), (0, 1.5, 1.5))
        maps = (maps - maps.min()) / (maps.max() - maps.min())
        out[name] = maps
    return out
