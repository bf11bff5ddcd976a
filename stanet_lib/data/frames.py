"""Frames in memory for training and inference: a :class:`FrameSet` per split or test database, and the torch
:class:`FrameDataset` that turns it into the dict batches :mod:`stanet_lib.train.engine` and the models take.

A FrameSet holds every cached frame of a set of clips at the cache canvas (``MediaConfig.cache_size``), its
audio features, its label and its neighbours in time (t-1, t+1, clamped at the clip's ends: the ST and STA nets
see the window (t-1, t, t+1)). Crops for the fine stage are cut from the canvas (:func:`crop_window`), with the
centre frame's box applied to all three frames of the window so that the temporal branch compares the same region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ..artefacts import tensor_digest
from ..scam import crop_and_resize
from . import cache as cache_mod
from . import store as store_mod
from .loaders import Batch

__all__ = [
    "FrameSet", "window_neighbours", "load_frameset", "write_stores", "to_float", "resized_frames", "crop_window", "FrameDataset",
    "frames_for_sta"
]


@dataclass
class FrameSet:
    """All frames of some clips. ``meta`` has one row per frame: source, db, video, row, split, clip (0..C-1),
    pos (frame position inside its clip), time (s), number (1-based frame number, STAViS rows; else pos + 1)."""

    frames: Tensor  # (N, S, S, 3) uint8, cache canvas
    audio: Tensor  # (N, F, A) float16 per-frame audio features
    labels: Tensor  # (N,) long, -1 = unknown
    prev: Tensor  # (N,) long index of frame t-1 (itself at a clip's start)
    next: Tensor  # (N,) long index of frame t+1 (itself at a clip's end)
    audio_present: Tensor  # (N,) bool
    meta: pd.DataFrame
    store: Path | None = None  # path prefix of the set's frame store (:mod:`stanet_lib.data.store`); None: in RAM

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def canvas(self) -> int:
        return int(self.frames.shape[1])

    def subset(self, rows: np.ndarray) -> FrameSet:
        """The frames ``rows`` (whole clips, in order) as a set of their own, in memory: neighbours renumbered."""
        rows = np.array(rows, np.int64)  # a copy: torch wraps it writable
        where = torch.full((len(self),), -1, dtype=torch.long)
        where[torch.from_numpy(rows)] = torch.arange(len(rows))
        idx = torch.from_numpy(rows)
        prev, nxt = where[self.prev[idx]], where[self.next[idx]]
        if bool((prev < 0).any() or (nxt < 0).any()):
            raise ValueError("subset: rows must hold whole clips (a frame's t-1 or t+1 is not in the rows)")
        return FrameSet(self.frames[idx], self.audio[idx], self.labels[idx], prev, nxt, self.audio_present[idx],
                        self.meta.iloc[rows].reset_index(drop=True))

    def clips(self) -> list[tuple[str, np.ndarray]]:
        """(video, frame indices) per clip, in order."""
        return [(g["video"].iloc[0], g.index.to_numpy()) for _, g in self.meta.groupby("clip", sort=True)]


def window_neighbours(times: np.ndarray, window_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of frames t-1 and t+1 inside one clip whose frames are at ``times`` (s, increasing).

    ``window_s`` None: the adjacent cached frames. Otherwise the frames nearest to t - window_s and t + window_s
    (the window is formed by time, so a 25 fps test clip and 4 fps training frames span the same 2 window_s),
    clamped to the clip's first and last frame. Ties go to the earlier frame."""
    t = np.asarray(times, np.float64)
    pos = np.arange(len(t))
    if window_s is None or len(t) < 2:
        return np.maximum(pos - 1, 0), np.minimum(pos + 1, len(t) - 1)

    def nearest(target: np.ndarray) -> np.ndarray:
        j = np.clip(np.searchsorted(t, target), 1, len(t) - 1)
        return np.where(np.abs(t[j - 1] - target) <= np.abs(t[j] - target), j - 1, j)

    return nearest(t - window_s), nearest(t + window_s)


def load_frameset(cache: str | Path, source: str = "ave", splits: tuple[str, ...] | None = None,
                  db: str | None = None, max_clips: int | None = None, window_s: float | None = None) -> FrameSet:
    """The frames of AVE rows in ``splits`` (``source="ave"``) or of one STAViS test database, memory-mapped from
    the cache's frame store (:mod:`stanet_lib.data.store`; built on first use when the data stage has not).

    ``frames`` and ``audio`` are tensors over the store's memmaps (``torch.from_numpy``: no copy, pages read on
    demand and shared between processes); labels, neighbours and meta are small and in memory.
    ``window_s``: the (t-1, t, t+1) window's step in seconds (:func:`window_neighbours`); None = adjacent frames.

    Raises:
        ValueError: nothing matches (the message says what was asked and what the cache holds).
    """
    index = cache_mod.load_index(cache)
    sel = index[index["source"] == source]
    if splits is not None:
        sel = sel[sel["split"].isin(splits)]
    if db is not None:
        sel = sel[sel["db"] == db]
    if max_clips is not None:
        sel = sel.head(max_clips)
    if sel.empty:
        have = index.groupby(["source", "db", "split"]).size().to_dict()
        raise ValueError(f"{cache}: no cached clips for source={source} splits={splits} db={db}; cache has {have}")
    frames, audio, meta, prefix = store_mod.open_store(cache, sel, store_mod.set_name(source, splits, db, max_clips))
    prev_idx, next_idx = np.empty(len(meta), np.int64), np.empty(len(meta), np.int64)
    for _, rows in meta.groupby("clip", sort=True).indices.items():
        before, after = window_neighbours(meta["time"].to_numpy()[rows], window_s)
        prev_idx[rows], next_idx[rows] = rows[before], rows[after]
    labels = torch.from_numpy(np.array(meta.pop("label"), np.int64))
    present = torch.from_numpy(np.array(meta.pop("audio_present"), bool))
    return FrameSet(torch.from_numpy(frames), torch.from_numpy(audio), labels, torch.from_numpy(prev_idx),
                    torch.from_numpy(next_idx), present, meta, store=prefix)


def write_stores(cache: str | Path) -> list[Path]:
    """The data stage's last step: the frame store of every set the stages open
    (:func:`stanet_lib.data.store.default_sets`), built now (once) rather than by the first stage that loads it.
    Returns the stores' path prefixes."""
    index = cache_mod.load_index(cache)
    return [load_frameset(cache, **sel).store for sel in store_mod.default_sets(index)]


def to_float(frames: Tensor, size: int | None = None) -> Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, size, size) float in [0, 1] (antialiased bilinear resize)."""
    x = frames.permute(0, 3, 1, 2).float().div_(255.0)
    if size is not None and x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp_(0.0, 1.0)


def resized_frames(fs: FrameSet, size: int, chunk: int = 512, device: torch.device | str | None = None) -> Tensor:
    """All frames resized to ``size`` as uint8 (N, 3, size, size), on the CPU: for a stored set
    (``fs.store``) memory-mapped from ``<store>.r<size>-<device>.npy`` beside it, made once (one chunk in memory at
    a time) and kept under the store's key (at the canvas size: a view of the stored frames, no second copy); for
    a set in memory, in memory.

    ``device``: where the resize runs (default the CPU); on a GPU the uint8 frames travel there and back in
    chunks (the resize is the same op; bilinear results can differ from the CPU's by float rounding, so a
    pixel may land one uint8 level apart, hence the device in the file name)."""
    dev = torch.device("cpu") if device is None else torch.device(device)
    shape = (len(fs), size, size, 3)  # kept (N, s, s, 3): returned as the channels-last (N, 3, s, s) view the
    # resize makes (the nets' convolutions see the memory format they always saw, hence the same float results)

    def fill(out: np.ndarray) -> None:
        for i in range(0, len(fs), chunk):
            x = to_float(fs.frames[i : i + chunk].to(dev, non_blocking=True), size)
            out[i : i + chunk] = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    if fs.store is not None and size == fs.canvas:  # round(v / 255 * 255) == v: the stored frames themselves
        return fs.frames.permute(0, 3, 1, 2)
    if fs.store is None:
        arr = np.empty(shape, np.uint8)
        fill(arr)
        return torch.from_numpy(arr).permute(0, 3, 1, 2)
    path = Path(f"{fs.store}.r{size}-{dev.type}.npy")
    arr = store_mod.cached_array(path, [store_mod.key_of(fs.store), size, dev.type, "nhwc"], shape, np.uint8, fill)
    return torch.from_numpy(arr).permute(0, 3, 1, 2)


def crop_window(fs: FrameSet, boxes: Tensor, size: int, chunk: int = 256,
                device: torch.device | str | None = None, window: str = "centre", path: str | Path | None = None
                ) -> tuple[Tensor | None, Tensor, Tensor | None]:
    """Fine-stage inputs: for every frame t, the crop of frames t-1, t, t+1 inside frame t's box (canvas
    pixels, (N, 4) y0, y1, x0, x1 inclusive), resized to ``size``. Returns three uint8 (N, 3, size, size) on
    the CPU; ``device`` as in :func:`resized_frames`. ``window="own"`` (``ScamConfig.fine_window``): only the
    centre crops, (None, centre, None); the window then takes the neighbours' own crops by index.

    ``path`` (a stored set, ``fs.store``): each part is memory-mapped from ``<path>.<part>.npy``, written one
    chunk at a time and kept under a key of the store, the boxes, the size and the device
    (:func:`~stanet_lib.data.store.cached_array`): out of core, and made once for the same boxes."""
    if window not in ("centre", "own"):
        raise ValueError(f"window must be 'centre' or 'own', got {window!r}")
    if boxes.shape != (len(fs), 4):
        raise ValueError(f"boxes must be ({len(fs)}, 4), got {tuple(boxes.shape)}")
    dev = torch.device("cpu") if device is None else torch.device(device)
    mapped = path is not None and fs.store is not None
    box_key = tensor_digest(boxes.long()) if mapped else ""
    outs = []
    everyone = torch.arange(len(fs))
    parts = [("prev", fs.prev), ("centre", everyone), ("next", fs.next)] if window == "centre" else [("centre", everyone)]
    for part, idx in parts:

        def fill(out: np.ndarray, idx: Tensor = idx) -> None:
            for i in range(0, len(fs), chunk):
                sl = slice(i, i + chunk)
                crops = crop_and_resize(to_float(fs.frames[idx[sl]].to(dev, non_blocking=True)), boxes[sl], size)
                out[sl] = (crops.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()

        shape = (len(fs), 3, size, size)
        if mapped:
            key = [store_mod.key_of(fs.store), box_key, size, part, dev.type]
            outs.append(torch.from_numpy(store_mod.cached_array(f"{path}.{part}.npy", key, shape, np.uint8, fill)))
        else:
            arr = np.empty(shape, np.uint8)
            fill(arr)
            outs.append(torch.from_numpy(arr))
    if window == "own":
        return None, outs[0], None
    prev, centre, nxt = outs
    return prev, centre, nxt


class FrameDataset(Dataset):
    """Dict samples for one net. ``kind``: ``"S"`` / ``"SA"`` / ``"switch"`` (centre frame), ``"ST"`` /
    ``"STA"`` (window (t-1, t, t+1) as (3, 3, h, w) = [T, C, h, w]), ``"tagger"`` (audio only).

    Args:
        images: (N, 3, h, w) uint8 centre frames at the net's input size.
        audio: (N, F, A) per-frame audio features.
        targets: (N,) long class labels (or switch labels); ``None`` for inference.
        prev_images, next_images: (N, 3, h, w) uint8 frames t-1 / t+1 (fine stage: cropped with frame t's box);
            default ``images[prev]`` / ``images[next]``.
        prev, next: neighbour indices (from the FrameSet) when prev/next images are not given.
        switch: (N,) float p_switch for the SA and STA nets (None: gate fully open).
        extra: further per-sample tensors put into the batch under their key (e.g. ``"pseudo"`` maps).
    """

    def __init__(self, kind: str, images: Tensor | None, audio: Tensor | None = None,
                 targets: Tensor | None = None, prev_images: Tensor | None = None,
                 next_images: Tensor | None = None, prev: Tensor | None = None, next: Tensor | None = None,
                 switch: Tensor | None = None, extra: dict[str, Tensor] | None = None) -> None:
        kinds = ("S", "ST", "SA", "switch", "tagger", "STA")
        if kind not in kinds:
            raise ValueError(f"kind must be one of {kinds}, got {kind!r}")
        n = len(images) if images is not None else len(audio)
        if kind in ("ST", "STA") and prev_images is None and (prev is None or next is None):
            raise ValueError(f"{kind} needs prev/next images or prev/next indices")
        if kind in ("SA", "switch", "tagger", "STA") and audio is None:
            raise ValueError(f"{kind} needs audio features")
        for name, t in (("audio", audio), ("targets", targets), ("switch", switch)):
            if t is not None and len(t) != n:
                raise ValueError(f"{name} has {len(t)} samples, images have {n}")
        self.kind, self.images, self.audio, self.targets = kind, images, audio, targets
        self.prev_images, self.next_images, self.prev, self.next = prev_images, next_images, prev, next
        self.switch, self.extra, self.n = switch, extra or {}, n

    def __len__(self) -> int:
        return self.n

    def content(self) -> list[Any]:
        """Everything the samples are made of (for :func:`stanet_lib.artefacts.tensor_digest` run keys)."""
        parts = [self.kind, self.images, self.audio, self.targets, self.prev_images, self.next_images,
                 self.prev, self.next, self.switch]
        return parts + [x for kv in sorted(self.extra.items()) for x in kv]

    def _img(self, t: Tensor) -> Tensor:
        """uint8 frames -> [0, 1]; trunk features (float16, :mod:`stanet_lib.nets.trunk`) -> float32."""
        return t.float().div(255.0) if t.dtype == torch.uint8 else t.float()

    def _fields(self, i: int | Tensor, batched: bool) -> dict[str, Any]:
        """Sample ``i`` (int) or the batch ``i`` ((B,) long), frames as stored (uint8)."""
        d: dict[str, Any] = {"index": i}
        axis = int(batched)  # the window / channel axis comes after the batch axis
        if self.kind in ("ST", "STA"):
            p = self.prev_images[i] if self.prev_images is not None else self.images[self.prev[i]]
            q = self.next_images[i] if self.next_images is not None else self.images[self.next[i]]
            d["frames"] = torch.stack([p, self.images[i], q], axis)  # ([B,] 3, 3, h, w) = [[B,] T, C, h, w]
        elif self.kind != "tagger":
            d["frames"] = self.images[i]
        if self.kind in ("SA", "switch", "tagger", "STA"):
            d["audio"] = self.audio[i].float().unsqueeze(axis)  # ([B,] 1, F, A)
        if self.switch is not None and self.kind in ("SA", "STA"):
            d["switch"] = self.switch[i].float()
        if self.targets is not None:
            d["target"] = self.targets[i]
        for k, v in self.extra.items():
            d[k] = v[i]
        return d

    def __getitem__(self, i: int) -> dict[str, Any]:
        d = self._fields(i, batched=False)
        if "frames" in d:
            d["frames"] = self._img(d["frames"])
        return d

    def get_batch(self, indices: Sequence[int]) -> Batch:
        """A whole batch by tensor indexing, what :func:`stanet_lib.data.loaders.make_loader`'s loaders fetch (a plain
        ``DataLoader`` keeps the per-sample path): the same keys, shapes and values as the per-sample dicts
        collated, except ``frames``, which stay uint8 (the encoder scales them,
        :meth:`~stanet_lib.nets.encoders.VGG16Encoder.normalize`): no per-sample Python work and a quarter of the bytes
        to pin and copy to the GPU."""
        return Batch(self._fields(torch.as_tensor(list(indices), dtype=torch.long), batched=True))

def frames_for_sta(canvas_frames: np.ndarray | Tensor, size: int) -> Tensor:
    """(T, S, S, 3) uint8 canvas frames -> (T, 3, size, size) uint8, the resize the training data had
    (:func:`stanet_lib.data.frames.resized_frames`)."""
    x = torch.as_tensor(np.ascontiguousarray(canvas_frames))
    return (to_float(x, size) * 255).round().to(torch.uint8)
