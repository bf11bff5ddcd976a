"""The STAViS evaluation protocol in Python (``reference/evaluation_protocol_and_datasets.md`` §1.2).

Per video (STAViS ``eval_code/eval_<db>.m``):

1. all binary fixation maps ``fixMap_%05d.mat`` (``eyeMap``) of frames 1..nframes are loaded; the shuffled
   "other" map is their union (``createShuffmap1.m``) with the current frame's fixated pixels removed;
2. every prediction frame ``1 <= f <= nframes`` (files beyond nframes are skipped) is read as ``im2double``
   of its first channel, post-processed (``postprocessMap(x, 2)``: x255, clip, /max, min-max, 13x13
   Gaussian sigma 2 with symmetric padding) and bicubically resized to the ground-truth size
   (:class:`stanet_lib.eval.matlab.PostResize`);
3. CC and SIM against ``maps/eyeMap_%05d.jpg``, NSS / AUC-Judd / shuffled AUC against ``eyeMap``
   (:mod:`stanet_lib.eval.metrics`);
4. NaN frames are dropped per metric and the rest averaged (``metrics_avg_video``).

Dataset (``compute_all_<db>.m``): the per-video means of the test videos of all requested folds are pooled
and averaged, unweighted, a video counted once per fold it appears in (AVAD has 3 such videos); DIEM's one
fixed list is scored with each split's predictions and the split means are averaged. NaN in a per-video mean
propagates to the dataset mean, as MATLAB's ``mean`` does.

RNG: MATLAB starts every video in a fresh session (Mersenne Twister, seed 0); here each (split, video) gets a
fresh ``numpy.random.default_rng(seed)``, so results do not depend on video order or on parallel workers.
Deliberate deviations, all about broken inputs: a video that cannot be scored (no predictions, a missing or
unreadable ``fixMap``/``eyeMap`` file, an unreadable prediction) is reported in ``status`` (``missing: ...``,
``empty: ...``, ``error: <file>: <reason>``) and the others are still scored, instead of MATLAB stopping at the
first; a video scored with a metric NaN over all its frames (a constant map) has ``status`` ``nan: <metrics>``
and stays in the dataset mean (NaN, as MATLAB's), and :func:`dataset_means_with_values` gives the mean over the
videos that have a value; a skipped file (frame > nframes) sorted before a scored one does not leave MATLAB's
stray 0 in the per-video arrays.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..artefacts import atomic_path
from ..data.encode import write_jpeg
from ..data.stavis import (
    FoldEntry,
    StavisRoot,
    db_key,
    fold_list_files,
    im2double_first_channel,
    load_fixation_map,
    load_gt_map,
)
from . import metrics as M
from .matlab import PostResize, imresize, postprocess_map

COLUMNS = ["db", "split", "video", "frames_scored", *M.TABLE_METRICS, "nframes", "frames_with_nan", "status"]
IGNORED_IMAGE_SUFFIXES = (".png", ".jpeg", ".bmp", ".tif", ".tiff", ".npy")  # present but not read (*jpg only)
_INT_RE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class EvalOptions:
    """Protocol knobs (defaults = STAViS; ``stanet_lib.config.EvalConfig`` holds the same values)."""

    sigma: float = 2.0  # postprocessMap(I_pred, 2)
    n_splits: int = 100  # AUC_shuffled Nsplits
    step: float = 0.1  # AUC_shuffled stepSize
    seed: int = 0  # fresh default_rng(seed) per (split, video)
    every_nth: int = 1  # score frames first_frame, first_frame + n, ... (released STANet code: 30, from 2)
    first_frame: int = 1
    naive: bool = False  # literal per-frame ports, weights rebuilt per call: the benchmark's baseline only

    @classmethod
    def from_config(cls, cfg: Any) -> EvalOptions:
        """From ``stanet_lib.config.EvalConfig`` (``blur_sigma``, ``sauc_splits``, ``sauc_step``,
        ``every_nth``, ``seed``)."""
        return cls(sigma=cfg.blur_sigma, n_splits=cfg.sauc_splits, step=cfg.sauc_step, seed=cfg.seed,
                   every_nth=cfg.every_nth)

    def wants(self, frame: int) -> bool:
        return frame >= self.first_frame and (frame - self.first_frame) % self.every_nth == 0


# --- prediction sources -------------------------------------------------------------------------------------


def read_prediction_jpeg(path: str | Path) -> np.ndarray:
    """``I = im2double(imread(path)); I = I(:,:,1)``: first channel of a grey or RGB image, float64."""
    return im2double_first_channel(path, ValueError)


def frame_number(filename: str) -> int | None:
    """STAViS: ``strsplit(name, '.')`` -> first part -> ``strsplit(_, '_')`` -> last token is the frame."""
    token = filename.split(".")[0].split("_")[-1]
    return int(token) if _INT_RE.match(token) else None


class StavisResults:
    """Predictions in the STAViS layout ``<root>/split<k>_results/<dbkey>/<video>/<x>_<frame>.jpg``."""

    def __init__(self, root: str | Path, db: str) -> None:
        self.root, self.db = Path(root), db

    def video_dir(self, split: int, video: str) -> Path:
        return self.root / f"split{split}_results" / db_key(self.db) / video

    def list_frames(self, split: int, video: str, nframes: int) -> list[tuple[int, Any]] | None:
        folder = self.video_dir(split, video)
        if not folder.is_dir():
            return None
        out = []
        for p in sorted(folder.iterdir()):  # MATLAB dir() order; only '*jpg' files count
            if p.is_file() and p.suffix.lower() == ".jpg":
                f = frame_number(p.name)
                if f is not None and 1 <= f <= nframes:
                    out.append((f, p))
        return out

    def load(self, handle: Any) -> np.ndarray | None:
        return read_prediction_jpeg(handle)

    def ignored(self, split: int, video: str) -> str:
        """What in the video's folder is an image but not a ``.jpg`` (the STAViS evaluator reads ``*jpg`` only),
        e.g. ``"40 .png files"``; "" when there is none."""
        folder = self.video_dir(split, video)
        if not folder.is_dir():
            return ""
        counts: dict[str, int] = {}
        for q in folder.iterdir():
            if q.is_file() and q.suffix.lower() in IGNORED_IMAGE_SUFFIXES:
                counts[q.suffix.lower()] = counts.get(q.suffix.lower(), 0) + 1
        return ", ".join(f"{n} {suffix} files" for suffix, n in sorted(counts.items()))


class ArrayPredictions:
    """In-memory predictions: ``maps[(split, video)]`` or ``maps[video]`` is a ``{frame: (H, W)}`` mapping or
    a (T, H, W) array (frame ``t + 1``). Float maps are taken as ``im2double`` values (in [0, 1]); uint8 is
    divided by 255."""

    def __init__(self, maps: Mapping) -> None:
        self.maps = maps

    def _video(self, split: int, video: str) -> Any:
        if (split, video) in self.maps:
            return self.maps[(split, video)]
        return self.maps.get(video)

    def list_frames(self, split: int, video: str, nframes: int) -> list[tuple[int, Any]] | None:
        v = self._video(split, video)
        if v is None:
            return None
        frames = range(1, len(v) + 1) if isinstance(v, np.ndarray) else sorted(v)
        return [(f, (v, f)) for f in frames if 1 <= f <= nframes]

    def load(self, handle: Any) -> np.ndarray | None:
        v, f = handle
        return _as_double(v[f - 1] if isinstance(v, np.ndarray) else v[f])

    def only(self, split: int, video: str) -> ArrayPredictions:
        """The source cut to one (split, video): what a scoring process is sent, instead of every video's maps."""
        key = (split, video) if (split, video) in self.maps else video
        return ArrayPredictions({key: self.maps[key]} if key in self.maps else {})


class CallablePredictions:
    """``fn(split, video, frame) -> (H, W) map or None`` (None: that frame has no prediction)."""

    def __init__(self, fn: Callable[[int, str, int], np.ndarray | None]) -> None:
        self.fn = fn

    def list_frames(self, split: int, video: str, nframes: int) -> list[tuple[int, Any]] | None:
        return [(f, (split, video, f)) for f in range(1, nframes + 1)]

    def load(self, handle: Any) -> np.ndarray | None:
        m = self.fn(*handle)
        return None if m is None else _as_double(m)


def _as_double(m: Any) -> np.ndarray:
    a = np.asarray(m)
    if a.ndim == 3:
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"prediction map must be (H, W) or (H, W, C), got shape {a.shape}")
    return a / 255.0 if a.dtype == np.uint8 else a.astype(np.float64, copy=False)


def as_source(predictions: Any, db: str) -> Any:
    """A folder (results layout), a mapping (:class:`ArrayPredictions`), a callable or a ready source."""
    if isinstance(predictions, (str, Path)):
        return StavisResults(predictions, db)
    if isinstance(predictions, Mapping):
        return ArrayPredictions(predictions)
    if hasattr(predictions, "list_frames") and hasattr(predictions, "load"):
        return predictions
    if callable(predictions):
        return CallablePredictions(predictions)
    raise TypeError(f"cannot use {type(predictions).__name__} as predictions")


def write_prediction_maps(pred_root: str | Path, db: str, split: int, video: str, maps: Any,
                          name: str = "pred_sal", quality: int = 95) -> Path:
    """Save maps as ``<pred_root>/split<k>_results/<dbkey>/<video>/<name>_%05d.jpg`` (grey JPEG).

    Args:
        maps: (T, H, W) array (frame ``t + 1``) or ``{frame: (H, W)}`` (1-based frames); float in [0, 1]
            (clipped, x255, rounded) or uint8.
    """
    folder = StavisResults(pred_root, db).video_dir(split, video)
    items = enumerate(maps, start=1) if isinstance(maps, np.ndarray) else sorted(maps.items())
    for f, m in items:
        a = np.asarray(m)
        if a.dtype != np.uint8:
            a = np.round(np.clip(np.nan_to_num(a.astype(np.float64)), 0.0, 1.0) * 255).astype(np.uint8)
        write_jpeg(folder / f"{name}_{int(f):05d}.jpg", a, quality=quality)
    return folder


# --- scoring ------------------------------------------------------------------------------------------------


@dataclass
class VideoFixations:
    """All fixation maps of one video as flat pixel indices, plus their union (``createShuffmap1``)."""

    shape: tuple[int, int]
    frames: list[np.ndarray]  # frame j (1-based) -> flat indices of fixated pixels, at index j - 1
    union: np.ndarray = field(repr=False)  # (H, W) bool

    @classmethod
    def load(cls, root: StavisRoot, db: str, video: str, nframes: int) -> VideoFixations:
        frames, shape, union = [], None, None
        for j in range(1, nframes + 1):
            path = root.fixation_path(db, video, j)
            fm = load_fixation_map(path)
            if shape is None:
                shape, union = fm.shape, np.zeros(fm.shape, dtype=bool)
            elif fm.shape != shape:
                raise ValueError(f"{path}: eyeMap shape {fm.shape} differs from frame 1's {shape}")
            union |= fm
            frames.append(np.flatnonzero(fm).astype(np.int32))
        return cls(shape, frames, union)

    def maps(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(fixation map, other map) of a 1-based frame; other = union with this frame's fixations removed."""
        idx = self.frames[frame - 1]
        fix = np.zeros(self.shape, dtype=bool)
        fix.flat[idx] = True
        other = self.union.copy()
        other.flat[idx] = False
        return fix, other


_POST: dict[float, PostResize] = {}


def _post_resize(sigma: float) -> PostResize:
    """One :class:`PostResize` (and its per-size matrices) per sigma for the whole process."""
    if sigma not in _POST:
        _POST[sigma] = PostResize(sigma)
    return _POST[sigma]


def score_frame(sal: np.ndarray, gt: np.ndarray, fix: np.ndarray, other: np.ndarray, rng: np.random.Generator,
                opts: EvalOptions) -> tuple[float, ...]:
    """The five metrics of one frame in :data:`metrics.TABLE_METRICS` order; ``sal`` is already post-processed
    and at ground-truth size. Random draws in MATLAB's call order (AUC-J jitter, then sAUC)."""
    if opts.naive:
        cc, sim, nss = M.literal_cc(sal, gt), M.literal_sim(sal, gt), M.literal_nss(sal, fix)
        aucj = M.literal_auc_judd(sal, fix, rng=rng)
        sauc = M.literal_auc_shuffled(sal, fix, other, opts.n_splits, opts.step, rng=rng, draw="randperm")
    else:
        cc, sim, nss = M.CC(sal, gt), M.SIM(sal, gt), M.NSS(sal, fix)
        aucj = M.AUC_Judd(sal, fix, rng=rng)
        sauc = M.AUC_shuffled(sal, fix, other, opts.n_splits, opts.step, rng=rng)
    return aucj, sim, sauc, cc, nss


def evaluate_video(root: StavisRoot, db: str, split: int, entry: FoldEntry, source: Any,
                   opts: EvalOptions = EvalOptions(),
                   fixations: VideoFixations | None = None) -> dict[str, Any]:
    """One row of the per-video table (see :data:`COLUMNS`)."""
    row: dict[str, Any] = {"db": db, "split": split, "video": entry.name, "frames_scored": 0,
                           **{m: float("nan") for m in M.TABLE_METRICS}, "nframes": entry.nframes,
                           "frames_with_nan": 0, "status": "ok"}
    listed = source.list_frames(split, entry.name, entry.nframes)
    if listed is None:
        row["status"] = "missing: no predictions for this video"
        return row
    listed = [(f, h) for f, h in listed if opts.wants(f)]
    if not listed:
        row["status"] = _empty_status(source, split, entry)
        return row
    fx = fixations or VideoFixations.load(root, db, entry.name, entry.nframes)
    rng = np.random.default_rng(opts.seed)
    post = _post_resize(opts.sigma)
    scores = []
    for f, handle in listed:
        pred = source.load(handle)
        if pred is None:
            continue
        gt = load_gt_map(root.map_path(db, entry.name, f))
        if opts.naive:
            sal = imresize(postprocess_map(pred, opts.sigma), gt.shape, cached=False)
        else:
            sal = post(pred, gt.shape)
        fix, other = fx.maps(f)
        scores.append(score_frame(sal, gt, fix, other, rng, opts))
    if not scores:
        row["status"] = _empty_status(source, split, entry)
        return row
    arr = np.asarray(scores)  # (frames, 5)
    valid = ~np.isnan(arr)
    row["frames_scored"] = len(scores)
    row["frames_with_nan"] = int((~valid).any(axis=1).sum())
    for k, m in enumerate(M.TABLE_METRICS):
        row[m] = float(arr[valid[:, k], k].mean()) if valid[:, k].any() else float("nan")
    nan = [M.PAPER_LABELS[m] for m in M.TABLE_METRICS if np.isnan(row[m])]
    if nan:
        row["status"] = f"nan: {', '.join(nan)} NaN in every scored frame (a constant or empty prediction?)"
    return row


def _empty_status(source: Any, split: int, entry: FoldEntry) -> str:
    ignored = source.ignored(split, entry.name) if hasattr(source, "ignored") else ""
    if ignored:
        return (f"empty: no .jpg prediction frame in 1..{entry.nframes}; {ignored} present and ignored (the "
                f"protocol reads .jpg files only)")
    return f"empty: no prediction frame in 1..{entry.nframes} to score"


def is_scored(per_video: pd.DataFrame) -> pd.Series:
    """Rows of a per-video table that were scored: status ``ok``, or ``nan: ...`` (a metric NaN over the whole
    video; the row still counts in the MATLAB mean)."""
    status = per_video["status"].astype(str)
    return (status == "ok") | status.str.startswith("nan:")


def safe_evaluate_video(root: StavisRoot, db: str, split: int, entry: FoldEntry, source: Any,
                        opts: EvalOptions = EvalOptions(), fixations: VideoFixations | None = None
                        ) -> dict[str, Any]:
    """:func:`evaluate_video`, with a bad input file of the video (missing or unreadable fixation map, ground
    truth or prediction) turned into the row's ``status`` ``error: <file>: <reason>``, so the others are scored."""
    try:
        return evaluate_video(root, db, split, entry, source, opts, fixations)
    except (OSError, ValueError) as exc:
        row = {"db": db, "split": split, "video": entry.name, "frames_scored": 0,
               **{m: float("nan") for m in M.TABLE_METRICS}, "nframes": entry.nframes, "frames_with_nan": 0}
        return {**row, "status": f"error: {' '.join(str(exc).split())}"}


@dataclass
class EvalResult:
    """Per-(split, video) rows, the dataset means in paper order and the videos that could not be scored."""

    db: str
    per_video: pd.DataFrame
    means: pd.Series
    missing: list[str]


def dataset_means(per_video: pd.DataFrame) -> pd.Series:
    """``compute_all_<db>.m``: unweighted mean of per-video means over the pooled folds; when every split
    lists the same videos (DIEM) the mean of the per-split means. Rows that were not scored (:func:`is_scored`)
    are left out; NaN propagates (MATLAB ``mean``)."""
    return _means(per_video, skipna=False)


def dataset_means_with_values(per_video: pd.DataFrame) -> pd.Series:
    """As :func:`dataset_means`, but each metric averaged over the videos that have a value for it (a video whose
    metric is NaN is left out of that metric's mean instead of making it NaN). Not MATLAB's number: label it."""
    return _means(per_video, skipna=True)


def _means(per_video: pd.DataFrame, skipna: bool) -> pd.Series:
    ok = per_video[is_scored(per_video)]
    if ok.empty:
        return pd.Series({m: float("nan") for m in M.TABLE_METRICS})
    sets = {k: frozenset(g["video"]) for k, g in per_video.groupby("split")}
    if len(sets) > 1 and len(set(sets.values())) == 1:
        return ok.groupby("split")[list(M.TABLE_METRICS)].mean(numeric_only=True).mean(skipna=skipna)
    return ok[list(M.TABLE_METRICS)].mean(skipna=skipna)


def _task(args: tuple) -> dict[str, Any]:
    root, db, split, entry, source, opts = args
    return safe_evaluate_video(root, db, split, entry, source, opts)


@contextmanager
def scoring_pool(workers: int) -> Iterator[cf.Executor | None]:
    """A pool of ``workers`` forked processes for :func:`evaluate_db`'s ``executor``, shared by several calls (map
    variants, databases); None (score in this process) when ``workers`` <= 1 or the platform cannot fork.

    Fork, not spawn, as the data stage's decoders (``stanet_lib.data.cache``): a spawned process re-imports the
    package and torch (about 3 s on a 2-core CPU, a fifth of scoring 14 maps of the demo) and re-runs an
    unguarded ``__main__`` script. The workers run numpy / scipy only, never torch's thread pool."""
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        yield None
        return
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as ex:
        yield ex


def evaluate_db(stavis_root: str | Path, db: str, predictions: Any, splits: tuple[int, ...] = (1, 2, 3),
                opts: EvalOptions = EvalOptions(), workers: int = 1,
                executor: cf.Executor | None = None) -> EvalResult:
    """Score one database's test folds (``fold_lists/<db>_list_test_<k>_fps.txt``) with the STAViS protocol.

    Args:
        predictions: results-layout folder, ``{video | (split, video): frames}`` mapping, ``fn(split, video,
            frame)`` callable, or an object with ``list_frames``/``load``.
        workers: >1 scores videos in a process pool (:func:`scoring_pool`; same numbers: each video has its own
            RNG); sources must then be picklable (a folder always is; a mapping is sent one video at a time).
        executor: a pool to score the videos in (:func:`scoring_pool`), used instead of ``workers``.
    """
    root = StavisRoot(stavis_root)
    source = as_source(predictions, db)
    if not root.fold_dir.is_dir():
        raise FileNotFoundError(f"{root.fold_dir}: no fold_lists folder; is --stavis-root {root.root} a STAViS "
                                f"layout root (annotations/, fold_lists/)?")
    known = sorted({d for d, kind, _ in fold_list_files(root.fold_dir) if kind == "test"})
    if db not in known:
        raise FileNotFoundError(f"--db {db}: no test fold list for it in {root.fold_dir}; databases there: "
                                f"{', '.join(known) or 'none'}")
    folds = root.test_folds(db, tuple(splits))
    pairs = [(k, e) for k in splits for e in folds[k]]
    pool_of = nullcontext(executor) if executor is not None else scoring_pool(workers if len(pairs) > 1 else 1)
    with pool_of as pool:
        if pool is not None:  # each process is sent only its video's maps where the source can be cut
            tasks = [(root, db, k, e, source.only(k, e.name) if hasattr(source, "only") else source, opts)
                     for k, e in pairs]
            rows = list(pool.map(_task, tasks))
        else:
            cache: dict[str, VideoFixations] = {}  # AVAD and DIEM list a video in several folds
            rows = []
            for k, e in pairs:
                if e.name not in cache and source.list_frames(k, e.name, e.nframes):
                    try:
                        cache[e.name] = VideoFixations.load(root, db, e.name, e.nframes)
                    except (OSError, ValueError):
                        pass  # safe_evaluate_video loads them again and reports the file
                rows.append(safe_evaluate_video(root, db, k, e, source, opts, fixations=cache.get(e.name)))
    df = pd.DataFrame(rows, columns=COLUMNS)
    missing = [f"{db} split {r.split} {r.video}: {r.status}" for r in df.itertuples()
               if not (r.status == "ok" or str(r.status).startswith("nan:"))]
    return EvalResult(db, df, dataset_means(df), missing)


# --- command line -------------------------------------------------------------------------------------------


def format_means(result: EvalResult) -> str:
    """The dataset means in the paper's column order (AUC-J, SIM, s-AUC, CC, NSS) with the number of videos
    scored; when a video has a NaN metric, the videos and metrics, and a second, labelled line: the mean over the
    videos that have a value."""
    head = "  ".join(f"{M.PAPER_LABELS[m]:>6}" for m in M.TABLE_METRICS)
    vals = "  ".join(f"{result.means[m]:6.3f}" for m in M.TABLE_METRICS)
    df = result.per_video
    scored = is_scored(df)
    lines = [f"{'db':<14}{head}   videos", f"{result.db:<14}{vals}   {int(scored.sum())}/{len(df)} scored"]
    nan_rows = df[df["status"].astype(str).str.startswith("nan:")]
    if len(nan_rows):
        with_values = dataset_means_with_values(df)
        vals2 = "  ".join(f"{with_values[m]:6.3f}" for m in M.TABLE_METRICS)
        lines.append(f"{'':<14}{vals2}   mean over the videos with a value (not MATLAB's mean, which is NaN)")
        lines += [f"  NaN metric: {result.db} split {r.split} {r.video}: {r.status[5:]}" for r in nan_rows.itertuples()]
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib evaluate``."""
    p.add_argument("--stavis-root", type=Path, required=True,
                   help="STAViS layout root (annotations/, fold_lists/)")
    p.add_argument("--pred-root", type=Path, required=True,
                   help="predictions: <pred-root>/split<k>_results/<dbkey>/<video>/<name>_<frame>.jpg")
    p.add_argument("--db", required=True,
                   help="database folder name, e.g. AVAD, DIEM, ETMD_av (comma list allowed)")
    p.add_argument("--splits", default="1,2,3", help="comma-separated folds")
    p.add_argument("--seed", type=int, default=0, help="seed of each video's RNG (AUC-J jitter, sAUC draws)")
    p.add_argument("--every-nth", type=int, default=1,
                   help="score every N-th frame (released STANet code: 30)")
    p.add_argument("--first-frame", type=int, default=1,
                   help="first frame scored with --every-nth (released STANet code: 2)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes scoring videos in parallel (same numbers)")
    p.add_argument("--out", type=Path, required=True, help="CSV, one row per (split, video)")


def run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib evaluate``: score a results folder, write the per-video CSV, print the means."""
    try:
        splits = tuple(int(k) for k in str(args.splits).split(",") if k.strip())
    except ValueError:
        raise ValueError(f"--splits: expected comma-separated integers, got {args.splits!r}") from None
    if args.every_nth < 1:
        raise ValueError(f"--every-nth: must be >= 1, got {args.every_nth}")
    if not Path(args.pred_root).is_dir():
        raise FileNotFoundError(f"--pred-root {args.pred_root}: folder not found")
    opts = EvalOptions(seed=args.seed, every_nth=args.every_nth, first_frame=args.first_frame)
    results, failed = [], []
    for db in (d.strip() for d in str(args.db).split(",") if d.strip()):
        try:
            results.append(evaluate_db(args.stavis_root, db, args.pred_root, splits, opts, workers=args.workers))
        except (OSError, ValueError) as exc:  # no fold list, a malformed one: the other databases are scored
            failed.append(" ".join(str(exc).split()))
    if not results:
        raise ValueError(failed[0] if len(failed) == 1 else "; ".join(failed))
    table = pd.concat([r.per_video for r in results], ignore_index=True)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    print(f"wrote {args.out} ({len(table)} rows)")
    for r in results:
        print(format_means(r))
        for line in r.missing:
            print(f"  not scored: {line}")
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    n_bad = sum(len(r.missing) for r in results)
    if n_bad or failed:
        print(f"error: {args.out}: {n_bad} video(s) not scored{f', {len(failed)} database(s) failed' if failed else ''}"
              f" (listed above); the CSV has every row, with the reason in its status column", file=sys.stderr)
        return 1
    return 0


# --- benchmark ----------------------------------------------------------------------------------------------

def eval_splits(stavis_root: str | Path, db: str) -> tuple[int, ...]:
    """The test folds of a database (``<db>_list_test_<k>_fps.txt``); (1, 2, 3) for a single fixed list (DIEM)."""
    files = fold_list_files(StavisRoot(stavis_root).fold_dir)
    ks = sorted(k for (d, kind, k) in files if d == db and kind == "test" and k is not None)
    return tuple(ks) or (1, 2, 3)


def write_results(pred_root: str | Path, stavis_root: str | Path, db: str,
                  frames: dict[str, dict[int, np.ndarray]]) -> int:
    """Write maps in the STAViS results layout, one ``split<k>_results`` per fold that lists the video.

    Each map is divided by its maximum first (the released code's ``/max * 255``, audit §5.5) so the 8-bit
    JPEG keeps its precision; the protocol min-max normalises anyway. Returns the number of files written.
    """
    folds = StavisRoot(stavis_root).test_folds(db, eval_splits(stavis_root, db))
    written = 0
    for k, entries in folds.items():
        for e in entries:
            if e.name not in frames:
                continue
            scaled = {f: m / max(float(np.max(m)), 1e-12) for f, m in frames[e.name].items()}
            write_prediction_maps(pred_root, db, k, e.name, scaled)
            written += len(scaled)
    return written
