"""What the fixation viewer shows for one test video: frames, audio, ground truth and the pipeline's maps.

:class:`VideoLayers` gathers, for one STAViS-layout test video ``(db, video)`` of a profile's world
(:func:`stanet_lib.stages.world.open_world`), everything the viewer (:mod:`stanet_lib.viz.viewer`) and the static
report grid (:func:`sample_grid`) draw with :mod:`stanet_lib.viz`:

* frames, times, per-frame audio features and 1-based frame numbers from the cache (``cache.load_clip``), and
  the clip's wav file (``StavisRoot.audio_path``);
* ground truth per frame number, read lazily and cached: the binary fixation map ``fixMap_%05d.mat`` and the
  continuous map ``maps/eyeMap_%05d.jpg`` (``stavis.load_fixation_map`` / ``load_gt_map``);
* the map layers of :data:`stanet_lib.viz.render.LAYERS`, from the npz files the stages write (``stages.maps.save_maps``:
  arrays ``(N, h, w)`` float16 plus the identity arrays ``video``, ``db``, ``number`` per row):
  ``maps/coarse_test_<db>.npz`` (``CAM_S``, ``CAM_ST``, ``CAM_SA``, ``SCAM``, ``boxes`` as ``(y0, y1, x0,
  x1)`` inclusive canvas pixels), ``maps/fine_test_<db>.npz`` (fine CAMs and ``SCAM`` recovered into the
  canvas, ``pseudo``) and ``maps/sta_test_<db>.npz`` (``pred`` or ``sta``; else the first float map array).

A layer that cannot be shown is never an exception: it is absent from :attr:`VideoLayers.maps` and
:attr:`VideoLayers.reasons` says why (not computed yet, unreadable file, key or video missing). Metrics of a
shown prediction (:func:`frame_metrics`) follow the STAViS protocol (``evaluation.py``): min-max to [0, 1] as
a saved map is, ``postprocessMap(x, 2)`` and bicubic resize to the ground-truth size, then AUC-J, SIM, CC, NSS.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..artefacts import write_npz
from ..config import load_profile
from ..data import cache
from ..data.stavis import StavisRoot, load_fixation_map, load_gt_map
from ..eval import metrics as M
from ..eval.matlab import PostResize
from ..stages.world import open_world
from . import render as viz

#: The viewer's ten layers, in the order of the layer toggles.
LAYER_NAMES: tuple[str, ...] = ("gt_fixations", "gt_map", "CAM_S", "CAM_ST", "CAM_SA", "SCAM_coarse",
                                "SCAM_fine", "box", "pseudo_fixation", "STA_prediction")
#: Layers that are saliency predictions, scored against the ground truth.
PREDICTIONS: tuple[str, ...] = ("CAM_S", "CAM_ST", "CAM_SA", "SCAM_coarse", "SCAM_fine", "pseudo_fixation",
                                "STA_prediction")
#: Metrics shown per frame, in the paper's column order (Table 4 without the shuffled AUC).
METRICS: tuple[str, ...] = ("AUC_J", "SIM", "CC", "NSS")
#: One line per layer: what it is (the viewer's legend and tooltips).
GLOSSARY: dict[str, str] = {
    "gt_fixations": "ground truth: the eye fixations recorded on this frame (dots)",
    "gt_map": "ground truth: the fixations blurred into a continuous saliency map",
    "CAM_S": "class activation map of the video's tag class from the spatial net (the frame alone)",
    "CAM_ST": "class activation map of the tag class from the spatial-temporal net (frames t-1, t, t+1)",
    "CAM_SA": "class activation map of the tag class from the spatial-audio net (the frame and its sound)",
    "SCAM_coarse": "the three coarse CAMs fused selectively (Eq. 2), over the whole frame",
    "SCAM_fine": "the fine CAMs fused selectively, computed on the crop inside the box, put back into the frame",
    "box": "the coarse box: where the coarse SCAM exceeds 2 x its mean; the fine nets see only this crop",
    "pseudo_fixation": "the fine SCAM after post-processing: the STA net's training target",
    "STA_prediction": "the trained STA net's fixation prediction, the method's output",
}
GT_LAYERS = ("gt_fixations", "gt_map")
STA_KEYS = ("pred", "sta")  # preferred array names in maps/sta_test_<db>.npz


@dataclass(frozen=True)
class MapSource:
    """Where a map layer comes from: stage file (``coarse``, ``fine``, ``sta``) and array key (None: STA rule)."""

    stage: str
    key: str | None


def map_sources(cam_stage: str = "coarse") -> dict[str, MapSource]:
    """Layer -> source; the CAM_S / CAM_ST / CAM_SA layers come from the ``coarse`` or ``fine`` stage file."""
    if cam_stage not in ("coarse", "fine"):
        raise ValueError(f"cam_stage must be 'coarse' or 'fine', got {cam_stage!r}")
    return {"CAM_S": MapSource(cam_stage, "CAM_S"), "CAM_ST": MapSource(cam_stage, "CAM_ST"),
            "CAM_SA": MapSource(cam_stage, "CAM_SA"), "SCAM_coarse": MapSource("coarse", "SCAM"),
            "SCAM_fine": MapSource("fine", "SCAM"), "box": MapSource("coarse", "boxes"),
            "pseudo_fixation": MapSource("fine", "pseudo"), "STA_prediction": MapSource("sta", None)}


def maps_file(world: Any, stage: str, db: str) -> Path:
    """The npz of one stage and test database: ``runs/<profile>/maps/<stage>_test_<db>.npz``."""
    return Path(world.maps_path(stage, f"test:{db}"))


def as_world(world_or_root: Any, profile: str = "demo") -> Any:
    """A :class:`stanet_lib.stages.World` as is, or one opened (``load=False``) from a data root folder
    (None: the project's ``data/``)."""
    if hasattr(world_or_root, "cache") and hasattr(world_or_root, "maps_path"):
        return world_or_root
    root = Path(world_or_root) if world_or_root not in (None, "") else None
    return open_world(load_profile(profile), root, load=False)


def list_videos(world: Any) -> list[tuple[str, str]]:
    """``(db, video)`` of every STAViS-layout test video in the cache index, sorted."""
    index = cache.load_index(world.cache)
    rows = index[index["source"] == "stavis"]
    return sorted({(str(d), str(v)) for d, v in zip(rows["db"], rows["video"])})


# -------------------------------------------------------------------------------------------- npz reading
@functools.lru_cache(maxsize=8)
def _npz_keys(path: str, stamp: tuple[int, int]) -> tuple[str, ...]:
    with np.load(path) as z:
        return tuple(z.files)


_ARRAYS: collections.OrderedDict[tuple, np.ndarray] = collections.OrderedDict()
_ARRAYS_MAX_BYTES = 512 * 2**20  # decoded arrays kept (whole database files: video switches stay fast)


def read_array(path: Path, key: str) -> np.ndarray:
    """One array of an npz file, cached by (path, mtime, size, key) up to 512 MiB in all, least recently used
    dropped first; a rewritten file is read again."""
    st = path.stat()
    k = (str(path), st.st_mtime_ns, st.st_size, key)
    if k not in _ARRAYS:
        with np.load(path) as z:
            _ARRAYS[k] = z[key]
    _ARRAYS.move_to_end(k)
    while len(_ARRAYS) > 1 and sum(a.nbytes for a in _ARRAYS.values()) > _ARRAYS_MAX_BYTES:
        _ARRAYS.popitem(last=False)
    return _ARRAYS[k]


def _sta_key(keys: Sequence[str], path: Path) -> str:
    """``pred`` or ``sta`` (``sta.PREDICTION_VARIANTS``' main variant) when present, else the first float
    (N, h, w) array: the STA file's key names are read defensively."""
    for k in STA_KEYS:
        if k in keys:
            return k
    for k in keys:
        if k not in ("video", "db", "number") and read_array(path, k).dtype.kind == "f" \
                and read_array(path, k).ndim == 3:
            return k
    raise KeyError(f"{path.name}: no {' / '.join(STA_KEYS)} and no float (N, h, w) map array (found {list(keys)})")


@dataclass
class MapLayer:
    """One layer's rows for one video: ``values[i]`` belongs to frame number ``numbers[i]``."""

    values: np.ndarray  # (n, h, w) maps or (n, 4) boxes
    numbers: np.ndarray  # (n,) 1-based frame numbers
    path: Path
    key: str

    def at(self, number: int) -> np.ndarray | None:
        hit = np.flatnonzero(self.numbers == number)
        return self.values[hit[0]] if hit.size else None


def load_map_layer(path: Path, key: str | None, db: str, video: str, kind: str = "map") -> MapLayer:
    """Rows of one video from a stage npz, ordered by frame number. Raises with a message naming the file."""
    if not path.is_file():
        raise FileNotFoundError(str(path))
    try:
        keys = _npz_keys(str(path), (path.stat().st_mtime_ns, path.stat().st_size))
    except Exception as exc:  # zip errors of a broken file have no common base class
        raise ValueError(f"cannot read {path.name}: {exc}") from exc
    key = _sta_key(keys, path) if key is None else key
    if key not in keys:
        raise KeyError(f"{path.name} has no array {key!r}")
    if "video" not in keys or "number" not in keys:
        raise KeyError(f"{path.name} lacks the identity arrays 'video' and 'number'")
    values, videos, numbers = read_array(path, key), read_array(path, "video"), read_array(path, "number")
    rows = videos.astype(str) == video
    if "db" in keys:
        rows &= read_array(path, "db").astype(str) == db
    want = (values.ndim == 2 and values.shape[1] == 4) if kind == "box" else values.ndim == 3
    if not want or len(values) != len(videos):
        shape = "(N, 4) boxes" if kind == "box" else "(N, h, w) maps"
        raise ValueError(f"{path.name}[{key!r}] has shape {values.shape}, expected {shape} for {len(videos)} rows")
    if not rows.any():
        raise LookupError(f"{path.name} has no rows for {db}/{video}")
    idx = np.flatnonzero(rows)
    idx = idx[np.argsort(numbers[idx], kind="stable")]
    return MapLayer(values[idx], numbers[idx].astype(np.int64), path, key)


def _reason(exc: Exception, name: str) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"not computed yet (run notebook {viz.LAYERS[name].source})"
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError quotes str()


# ------------------------------------------------------------------------------------------------ metrics
@functools.lru_cache(maxsize=4)
def _post(sigma: float) -> PostResize:
    return PostResize(sigma)  # caches its per-size matrices


def to_canvas(saliency: np.ndarray, size: int) -> np.ndarray:
    """(h, w) map -> (size, size) float64, bilinear (how the viewer shows a small CAM over the frame)."""
    m = np.asarray(saliency, dtype=np.float32)
    if m.shape != (size, size):
        m = np.asarray(Image.fromarray(m).resize((size, size), Image.Resampling.BILINEAR))
    return m.astype(np.float64)


def frame_metrics(pred: np.ndarray, fix: np.ndarray, gt: np.ndarray, sigma: float = 2.0,
                  seed: int = 0) -> dict[str, float]:
    """AUC-J, SIM, CC, NSS of one prediction against one frame's ground truth (STAViS protocol).

    The map is min-max scaled to [0, 1] (what a saved prediction JPEG holds), post-processed and resized to
    the ground-truth size (``postprocessMap(x, sigma)`` + bicubic ``imresize``: :class:`imops.PostResize`),
    then scored with :mod:`stanet_lib.eval.metrics`; ``seed`` drives the AUC-J jitter. A constant map gives NaN.
    """
    p = np.asarray(pred, dtype=np.float64)
    p = np.where(np.isfinite(p), p, 0.0)
    lo, hi = float(p.min()), float(p.max())
    p = (p - lo) / (hi - lo) if hi > lo else np.zeros_like(p)
    sal = _post(float(sigma))(p, gt.shape)  # (H, W) at the GT size
    return {"AUC_J": float(M.AUC_Judd(sal, fix, rng=np.random.default_rng(seed))), "SIM": float(M.SIM(sal, gt)),
            "CC": float(M.CC(sal, gt)), "NSS": float(M.NSS(sal, fix))}


# ------------------------------------------------------------------------------------------------ helpers
def scale_box(box: Sequence[float], src: int, dst: int) -> np.ndarray:
    """An inclusive ``(y0, y1, x0, x1)`` box on a ``src`` canvas -> the same pixels' box on a ``dst`` canvas."""
    b = np.asarray(box, dtype=np.float64)
    s = dst / src
    return np.array([b[0] * s, (b[1] + 1) * s - 1, b[2] * s, (b[3] + 1) * s - 1])


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """(S, S, 3) uint8 -> (size, size, 3) uint8, bilinear (the display canvas of the viewer)."""
    if frame.shape[:2] == (size, size):
        return frame
    return np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BILINEAR))


def audio_timeline(audio: np.ndarray, times: np.ndarray, window_s: float) -> np.ndarray:
    """The clip's sound along time, for the viewer's spectrogram strip: (T, F, S) per-frame windows of
    ``window_s`` seconds centred on each frame -> (F, T * k), from each window the ``k = round(S * dt / window_s)``
    steps around its centre (``dt``: the frame interval). Concatenating whole windows instead repeats each second
    of sound ``window_s / dt`` times and shows the zero padding of the windows that reach past the clip's ends as
    dark bars."""
    a = np.asarray(audio)
    if a.ndim != 3 or a.shape[0] == 0:
        raise ValueError(f"audio must be (T, F, S) per-frame windows, got shape {a.shape}")
    t, f, steps = a.shape
    dt = float(np.median(np.diff(times))) if len(times) > 1 else window_s
    k = int(np.clip(round(steps * dt / window_s), 1, steps))
    lo = steps // 2 - k // 2
    return np.transpose(a[:, :, lo : lo + k], (1, 0, 2)).reshape(f, t * k)  # (F, T*k), frame j at columns j*k..


# -------------------------------------------------------------------------------------------- VideoLayers
class VideoLayers:
    """Everything drawable for one test video; ground truth is read per frame on first use and cached.

    Attributes:
        frames: (T, S, S, 3) uint8 at the cache canvas; ``times`` (T,) s; ``audio`` (T, F, A) features
            (``audio_strip`` (F, T * k): the same along time, :func:`audio_timeline`);
            ``numbers`` (T,) 1-based frame numbers of the STAViS folder.
        wav: path of the clip's wav, or None (``reasons["audio"]`` says why).
        maps: layer name -> :class:`MapLayer` for every map/box layer that could be loaded.
        reasons: layer name -> why it is missing (also ``gt_fixations``/``gt_map`` and ``audio``).

    Example:
        >>> v = VideoLayers(world, "SynthAV_a", "V01_flute")
        >>> v.values_at(0, ["gt_map", "SCAM_coarse"], size=384)  # ({name: array | None}, {name: reason})
    """

    def __init__(self, world: Any, db: str, video: str, cam_stage: str = "coarse",
                 stavis_root: str | Path | None = None, seed: int = 0) -> None:
        self.world, self.db, self.video, self.cam_stage, self.seed = world, db, video, cam_stage, seed
        index = cache.load_index(world.cache)
        rows = index[(index["source"] == "stavis") & (index["db"] == db) & (index["video"] == video)]
        if rows.empty:
            raise LookupError(f"{Path(world.cache) / 'index.csv'}: no STAViS test video {db}/{video} "
                              f"(choose from {list_videos(world)})")
        clip = cache.load_clip(world.cache, rows.iloc[0])
        self.frames: np.ndarray = clip["frames"]  # (T, S, S, 3)
        self.times: np.ndarray = clip["times"]  # (T,)
        self.audio: np.ndarray = clip["audio"]  # (T, F, A)
        self.numbers: np.ndarray = clip.get("numbers", np.arange(1, len(self.frames) + 1))  # (T,)
        acfg = world.cfg.audio
        self.audio_strip = audio_timeline(self.audio, self.times,
                                          acfg.window_s if acfg.kind == "logmel" else acfg.stft_window_s)
        self.canvas = int(self.frames.shape[1])
        self.root = StavisRoot(Path(stavis_root) if stavis_root else world.stavis_root)
        self.reasons: dict[str, str] = {}
        wav = self.root.audio_path(db, video)
        self.wav: Path | None = wav if wav.is_file() else None
        if self.wav is None:
            self.reasons["audio"] = f"no audio file {wav}"
        first = int(self.numbers[0]) if len(self.numbers) else 1
        for name, path in (("gt_fixations", self.root.fixation_path(db, video, first)),
                           ("gt_map", self.root.map_path(db, video, first))):
            if not path.is_file():
                self.reasons[name] = f"no ground truth {path}"
        self.maps: dict[str, MapLayer] = {}
        for name, src in map_sources(cam_stage).items():
            try:
                kind = viz.LAYERS[name].kind
                self.maps[name] = load_map_layer(maps_file(world, src.stage, db), src.key, db, video, kind)
            except Exception as exc:  # noqa: BLE001 - a broken file greys its layers out, never breaks the viewer
                self.reasons[name] = _reason(exc, name)
        self._gt: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {}
        self._frame_reasons: dict[tuple[str, int], str] = {}
        self._scores: dict[tuple[str, int], dict[str, float] | str] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def available(self, name: str) -> bool:
        """Can the layer be drawn for this video (per-frame gaps aside)?"""
        return name in LAYER_NAMES and name not in self.reasons

    def wav_bytes(self) -> bytes | None:
        return self.wav.read_bytes() if self.wav is not None else None

    def ground_truth(self, t: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(fixation map bool (H, W), continuous map float (H, W)) of frame index ``t``; None where missing."""
        if t not in self._gt:
            n = int(self.numbers[t])
            out: list[np.ndarray | None] = []
            for name, load, path in (("gt_fixations", load_fixation_map, self.root.fixation_path),
                                     ("gt_map", load_gt_map, self.root.map_path)):
                try:
                    out.append(None if name in self.reasons else load(path(self.db, self.video, n)))
                except (OSError, ValueError) as exc:  # one unreadable frame: that frame only
                    out.append(None)
                    self._frame_reasons[(name, t)] = str(exc)
            self._gt[t] = (out[0], out[1])
        return self._gt[t]

    def why(self, name: str, t: int) -> str:
        """Why layer ``name`` has nothing at frame index ``t``."""
        return self.reasons.get(name) or self._frame_reasons.get(
            (name, t), f"no map for frame {int(self.numbers[t])}")

    def layer(self, name: str, t: int) -> np.ndarray | None:
        """The raw value of a layer at frame index ``t``: a map (h, w), a canvas box (4,), a GT map; or None."""
        if name not in LAYER_NAMES:
            raise ValueError(f"unknown layer {name!r}; choose from {LAYER_NAMES}")
        if name in GT_LAYERS:
            fix, gt = self.ground_truth(t)
            return fix if name == "gt_fixations" else gt
        m = self.maps.get(name)
        return None if m is None else m.at(int(self.numbers[t]))

    def values_at(self, t: int, names: Sequence[str], size: int | None = None
                  ) -> tuple[dict[str, np.ndarray | None], dict[str, str]]:
        """Values for :func:`viz.compose_layers` over a frame of ``size`` px (default the canvas): maps as
        stored (viz resizes them), boxes scaled to ``size``, fixations as (N, 2) ``(y, x)`` points; and a
        reason for every None."""
        size = int(size or self.canvas)
        values: dict[str, np.ndarray | None] = {}
        reasons: dict[str, str] = {}
        for name in names:
            v = self.layer(name, t)
            if v is not None and name == "box":
                v = scale_box(v, self.canvas, size)
            elif v is not None and name == "gt_fixations":
                v = viz.points_from_map(v, (size, size))
            values[name] = v
            if v is None:
                reasons[name] = self.why(name, t)
        return values, reasons

    def frame(self, t: int, size: int | None = None) -> np.ndarray:
        return resize_frame(self.frames[t], int(size or self.canvas))

    def metrics(self, name: str, t: int) -> dict[str, float] | str:
        """Metrics of prediction layer ``name`` at frame ``t`` (cached), or the reason they cannot be computed."""
        if name not in PREDICTIONS:
            raise ValueError(f"{name!r} is not a prediction layer ({PREDICTIONS})")
        key = (name, t)
        if key not in self._scores:
            pred = self.layer(name, t)
            fix, gt = self.ground_truth(t)
            if pred is None:
                self._scores[key] = self.why(name, t)
            elif fix is None or gt is None:
                self._scores[key] = "no ground truth: " + self.why("gt_map" if gt is None else "gt_fixations", t)
            else:
                self._scores[key] = frame_metrics(to_canvas(pred, self.canvas), fix, gt, seed=self.seed)
        return self._scores[key]


def sample_grid(world: Any, videos: int = 2, frames: int = 3, size: int = 128,
                columns: Sequence[str] = ("frame", "gt_map", *PREDICTIONS), cmap: str = "jet",
                stavis_root: str | Path | None = None) -> np.ndarray:
    """A static image for the batch report: rows are sample frames (``frames`` evenly spaced frames of the
    first video of each of up to ``videos`` databases, then further videos), columns are ``columns``; GT
    fixations are dotted on ``gt_map``, the coarse box on ``SCAM_coarse``; a missing layer is a grey tile
    with its reason (:func:`viz.placeholder`)."""
    picks: list[tuple[str, str]] = []
    for db in sorted({d for d, _ in list_videos(world)}):
        picks += [v for v in list_videos(world) if v[0] == db][:1]
    picks += [v for v in list_videos(world) if v not in picks]
    rows, labels = [], []
    for db, video in picks[: max(int(videos), 1)]:
        vl = VideoLayers(world, db, video, stavis_root=stavis_root)
        for t in np.unique(np.linspace(0, len(vl) - 1, max(int(frames), 1)).round().astype(int)):
            base = vl.frame(int(t), size)
            cells = []
            for col in columns:
                if col == "frame":
                    cells.append(base)
                    continue
                extra = {"gt_map": ["gt_fixations"], "SCAM_coarse": ["box"]}.get(col, [])
                vals, why = vl.values_at(int(t), [col, *extra], size)
                if vals[col] is None:
                    cells.append(viz.placeholder(base.shape, f"{col}: {why[col]}", size=10))
                    continue
                shown = [n for n in (col, *extra) if vals[n] is not None]
                cells.append(viz.compose_layers(base, vals, shown, 0.5, cmap, annotate_missing=False).image)
            rows.append(cells)
            labels.append(f"{db}/{video} #{int(vl.numbers[t])}")
    return viz.frame_grid(rows, labels=list(columns), row_labels=labels)


def example_world(world: Any, runs: str | Path, stages: Sequence[str] = ("coarse", "fine", "sta"),
                  cam_size: int = 8, seed: int = 0) -> Any:
    """A copy of ``world`` whose runs folder is ``runs``, holding stand-in maps of every test video in the
    stages' file format (``stages.maps.save_maps`` layout; the STA file as ``maps/sta_test_<db>.npz`` key ``pred``),
    made from the ground-truth map plus noise. For the viewer benchmark and tests when the pipeline has not
    run; the real world's runs folder is never touched."""
    out = dataclasses.replace(world, runs=Path(runs))
    rng = np.random.default_rng(seed)
    by_db: dict[str, list[tuple[str, int, np.ndarray]]] = collections.defaultdict(list)
    for db, video in list_videos(world):
        vl = VideoLayers(world, db, video)
        for t in range(len(vl)):
            gt = vl.ground_truth(t)[1]
            base = to_canvas(gt if gt is not None else rng.random((8, 8)), vl.canvas)  # (S, S)
            by_db[db].append((video, int(vl.numbers[t]), base))
    for db, rows in by_db.items():
        base = np.stack([r[2] for r in rows])  # (N, S, S)
        n, s = base.shape[0], base.shape[1]
        ident = {"video": np.array([r[0] for r in rows], dtype=str), "db": np.array([db] * n, dtype=str),
                 "number": np.array([r[1] for r in rows], dtype=np.int64)}

        def noisy(size: int, amount: float) -> np.ndarray:
            m = base + amount * rng.random(base.shape) * base.max()
            if size != s:
                m = np.stack([np.asarray(Image.fromarray(x.astype(np.float32)).resize((size, size))) for x in m])
            return m.astype(np.float16)

        ys, xs = np.arange(s), np.arange(s)
        hot = base >= 2 * base.mean(axis=(1, 2), keepdims=True)  # (N, S, S), the paper's 2x-mean box rule
        boxes = np.array([[ys[h.any(1)].min(), ys[h.any(1)].max(), xs[h.any(0)].min(), xs[h.any(0)].max()]
                          if h.any() else [0, s - 1, 0, s - 1] for h in hot], dtype=np.int64)  # (N, 4)
        cams = {k: noisy(cam_size, a) for k, a in (("CAM_S", 0.6), ("CAM_ST", 0.8), ("CAM_SA", 1.0))}
        if "coarse" in stages:
            write_npz(maps_file(out, "coarse", db), **cams, SCAM=noisy(cam_size, 0.4), boxes=boxes, **ident)
        if "fine" in stages:
            fine = {k: noisy(s, a) for k, a in (("CAM_S", 0.3), ("CAM_ST", 0.4), ("CAM_SA", 0.5))}
            write_npz(maps_file(out, "fine", db), **fine, SCAM=noisy(s, 0.2), pseudo=noisy(s, 0.1),
                      boxes=boxes, **ident)
        if "sta" in stages:
            write_npz(maps_file(out, "sta", db), pred=noisy(s, 0.05), **ident)
    return out
