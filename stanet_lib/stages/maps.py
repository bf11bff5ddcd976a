"""Map artefacts of the stages: one npz per (stage, frame set) with the frames' identity, and their evaluation.

``maps/<stage>_<set>.npz`` (:func:`save_maps`) holds the maps as float16 (N, h, w) arrays, per-frame vectors as
float32, and ``video`` / ``db`` / ``number`` (1-based STAViS frame numbers). :func:`evaluate_maps` scores every
map variant of a stage on the test databases with the STAViS protocol (:mod:`stanet_lib.eval.protocol`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .. import scam
from ..artefacts import mark_output, open_npz, write_npz, write_npz_streamed, write_text
from ..data.frames import FrameSet
from ..eval.protocol import EvalOptions, evaluate_db, is_scored, scoring_pool
from ..progress import bar as progress_bar
from .world import World

__all__ = ["save_maps", "save_maps_parts", "resumable_pass", "load_maps", "same_frames", "MAP_VARIANTS", "video_maps", "evaluate_maps", "video_frames"]


def _stored(a: np.ndarray) -> np.ndarray:
    """The dtype a map array is kept in: maps (N, h, w) as float16; per-frame vectors (probabilities, weights)
    stay float32, as the soft filter's arg-max test must be reproducible from the stored values."""
    return a.astype(np.float16 if a.ndim >= 3 else np.float32) if a.dtype.kind == "f" else a


def _identity(fs: FrameSet) -> dict[str, np.ndarray]:
    return {"video": np.array(fs.meta["video"].astype(str).tolist(), dtype=str),
            "db": np.array(fs.meta["db"].astype(str).tolist(), dtype=str),
            "number": fs.meta["number"].to_numpy().astype(np.int64)}


def save_maps(path: str | Path, fs: FrameSet, maps: Mapping[str, Tensor]) -> Path:
    """Maps of one frame set with the frames' identity (video, db, number), atomically."""
    arrays = {k: _stored(v.detach().cpu().numpy()) for k, v in maps.items()}
    return write_npz(path, **arrays, **_identity(fs))


def save_maps_parts(path: str | Path, fs: FrameSet, parts: list[Path]) -> Path:
    """:func:`save_maps` of the per-video part files of :func:`resumable_pass` (``collect=False``), streamed: the
    same npz, written one array and one video at a time, so no map array of the set is ever whole in memory."""
    if not parts:
        raise ValueError(f"{path}: no part files to save")
    with np.load(parts[0]) as z:
        first = {k: z[k] for k in z.files if k != "key"}
    sizes = []
    for p in parts:
        with np.load(p) as z:
            sizes.append(len(z[next(iter(first))]))
    if sum(sizes) != len(fs):
        raise ValueError(f"{path}: the parts hold {sum(sizes)} frames, the set {len(fs)}")

    def blocks(key: str):
        def gen():
            for p in parts:
                with np.load(p) as z:
                    yield _stored(z[key])
        return gen

    members = [(k, _stored(a[:1]).dtype, (len(fs), *a.shape[1:]), blocks(k)) for k, a in first.items()]
    members += [(k, a.dtype, a.shape, (lambda a=a: iter([a]))) for k, a in _identity(fs).items()]
    return write_npz_streamed(path, members)


def resumable_pass(folder: str | Path, fs: FrameSet, key: str,
                   compute: Callable[[np.ndarray], Mapping[str, Tensor]],
                   collect: bool = True) -> dict[str, Tensor] | list[Path]:
    """A map pass over ``fs`` one video (clip) at a time, resumable: each clip's maps ``compute(rows)`` go to
    ``folder/<clip>_<video>.npz`` atomically with ``key``; a clip whose file exists and carries ``key`` is read
    instead of computed, so a killed pass restarts at the first missing clip. Returns the clips' maps
    concatenated in frame order (what one pass over the set gives, as the maps are per frame), or with
    ``collect=False`` the part files in frame order, for :func:`save_maps_parts` (nothing held in memory; the
    maps kept as float16, the dtypes :func:`save_maps` stores)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mark_output(folder)
    parts, paths = [], []
    key = key if collect else f"{key}:stored"  # the two modes keep other dtypes: never read one as the other
    for clip, (video, rows) in enumerate(fs.clips()):
        path = folder / f"{clip:05d}_{''.join(c if c.isalnum() or c in '-_' else '_' for c in str(video))}.npz"
        saved = _read_part(path, key)
        if saved is None:
            maps = {k: v.detach().cpu() for k, v in compute(rows).items()}
            # parts bound for save_maps_parts are kept in the npz's dtypes already (half the disk of float32)
            write_npz(path, key=np.str_(key), **{k: v.numpy() if collect else _stored(v.numpy())
                                                 for k, v in maps.items()})
            saved = maps
        paths.append(path)
        if collect:
            parts.append(saved)
    if not collect:
        return paths
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _read_part(path: Path, key: str) -> dict[str, Tensor] | None:
    """One clip's maps of :func:`resumable_pass` when the file reads and carries ``key``; else None."""
    try:
        with np.load(path) as z:
            if str(z["key"]) != key:
                return None
            return {k: torch.from_numpy(z[k]) for k in z.files if k != "key"}
    except (OSError, KeyError, ValueError, EOFError):
        return None


def load_maps(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a maps npz (clear error when the stage has not run); the large ones (the maps) memory-mapped
    copy-on-write where they lie in the file (:func:`~stanet_lib.artefacts.open_npz`), not read whole."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: maps not found (run the stage that writes them first)")
    try:
        return open_npz(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable maps npz ({exc}); re-run the stage that writes it") from exc

def same_frames(maps: Mapping[str, np.ndarray], fs: FrameSet) -> bool:
    """True when a maps npz holds exactly the frame set's frames, in its order (``video`` and ``number`` arrays);
    False for maps an earlier run left over other frames (stale) or without those arrays."""
    if "video" not in maps or "number" not in maps or len(maps["video"]) != len(fs):
        return False
    return bool((maps["video"].astype(str) == fs.meta["video"].astype(str).to_numpy()).all()
                and (maps["number"].astype(np.int64) == fs.meta["number"].to_numpy().astype(np.int64)).all())


MAP_VARIANTS = ("CAM_S", "CAM_ST", "CAM_SA", "CAM_SA_noswitch", "SCAM_avg", "SCAM", "SCAM_noswitch")


def video_maps(maps: dict[str, np.ndarray], key: str, canvas: int) -> dict[str, dict[int, np.ndarray]]:
    """``{video: {frame number: (canvas, canvas) float32}}`` from a maps npz; maps smaller than the canvas
    (coarse CAMs) are resized to it first, as the released code saved CAMs at frame resolution.

    An all-zero map is not a prediction: it is what Eq. 2 gives when the soft filter zeroed every source, and the
    released code wrote no map for such frames; they are left out (not scored), and a video with none left is
    reported as missing by the evaluation instead of turning the dataset mean into NaN.
    """
    out = {}
    for video in dict.fromkeys(maps["video"].tolist()):
        rows = np.flatnonzero(maps["video"] == video)
        rows = rows[np.argsort(maps["number"][rows])]
        m = torch.as_tensor(maps[key][rows].astype(np.float32))
        if m.shape[-1] != canvas:
            m = scam.resize_maps(m, canvas)
        m = m.clamp(min=0).numpy()
        frames = {int(n): f for n, f in zip(maps["number"][rows], m) if f.max() > 0}
        if frames:
            out[video] = frames
    return out


def evaluate_maps(world: World, stage: str, variants: tuple[str, ...] = MAP_VARIANTS, log=print) -> pd.DataFrame:
    """STAViS-protocol metrics of each map variant of ``stage`` ("coarse" | "fine") on every test database.

    Returns one row per (db, variant) with the dataset means (AUC_J, SIM, sAUC, CC, NSS); also written to
    ``runs/<profile>/tables/<stage>_maps.csv``, and the per-video rows to ``<stage>_maps_per_video.csv``.
    """
    opts = EvalOptions.from_config(world.cfg.eval)
    rows, per_video = [], []
    bar = progress_bar(total=len(world.test_sets()) * len(variants), desc=f"{stage} maps, STAViS metrics",
                       unit="maps")
    with scoring_pool(world.cfg.eval.workers) as pool:
        for set_name in world.test_sets():
            db = set_name.split(":", 1)[1]
            maps = load_maps(world.maps_path(stage, set_name))
            for v in variants:
                bar.update()
                if v not in maps:
                    continue
                res = evaluate_db(world.stavis_root, db, video_maps(maps, v, world.sets[set_name].canvas),
                                  opts=opts, executor=pool)
                if res.missing:
                    log(f"{db} {v}: not scored: {res.missing}")
                ok = res.per_video[is_scored(res.per_video)]
                rows.append({"db": db, "stage": stage, "variant": v, **res.means.to_dict(), "videos": len(ok),
                             "frames_scored": int(ok["frames_scored"].sum())})
                per_video.append(res.per_video.assign(stage=stage, variant=v))
    bar.close()
    df = pd.DataFrame(rows)
    write_text(world.runs / "tables" / f"{stage}_maps.csv", df.to_csv(index=False))
    write_text(world.runs / "tables" / f"{stage}_maps_per_video.csv",
               pd.concat(per_video, ignore_index=True).to_csv(index=False))
    return df

def video_frames(fs: FrameSet, maps: Tensor | np.ndarray) -> dict[str, dict[int, np.ndarray]]:
    """``{video: {frame number: (H, W) map}}`` (the evaluation's array source, 1-based STAViS numbers)."""
    arr = np.asarray(maps)
    out: dict[str, dict[int, np.ndarray]] = {}
    for i, (video, number) in enumerate(zip(fs.meta["video"].astype(str), fs.meta["number"])):
        out.setdefault(video, {})[int(number)] = arr[i]
    return out
