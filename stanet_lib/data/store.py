"""The out-of-core frame store: every frame and audio feature of one frame set (a split of AVE, or a STAViS test
database) in memory-mapped ``.npy`` files, with the set's index beside them.

Layout (one set per name, :func:`set_name`)::

    CACHE/store/<name>.frames.npy   (N, S, S, 3) uint8 canvas frames, the per-video npz's frames concatenated
    CACHE/store/<name>.audio.npy    (N, F, A) float16 per-frame audio features
    CACHE/store/<name>.meta.npz     one entry per frame: source, db, video, row, split, clip, pos, time, number,
                                    label, audio_present
    CACHE/store/<name>.json         key of the selection and of the npz files it was made from, shapes

The ``.npy`` files are written once (``numpy.lib.format.open_memmap`` into a temporary file, filled one clip at
a time, renamed into place) and opened with ``np.load(mmap_mode="c")``: the pages are the file's, shared by every
process that maps it (DataLoader workers, the ranks of a node), read on demand and never counted as a process's
private memory; a batch is one fancy-index gather (:meth:`~stanet_lib.data.frames.FrameDataset.get_batch`).
The JSON is written last, so a store without it (a crash while writing) is rebuilt. Copy-on-write mapping
(``"c"``) rather than read-only: torch wraps it without the non-writable warning, and nothing writes to it.

:func:`cached_array` keeps arrays derived from a set (frames resized to a net's size, trunk features) the same
way, keyed by what they were made from: the numpy guide's ``open_memmap`` / ``np.load(mmap_mode=...)``
(https://numpy.org/doc/stable/reference/generated/numpy.lib.format.open_memmap.html).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.format import open_memmap

from ..artefacts import atomic_path, digest, write_json, write_npz
from . import cache as cache_mod

__all__ = ["STORE_DIR", "set_name", "default_sets", "store_key", "build_store", "open_store", "new_array",
           "open_array", "key_of", "is_cached", "cached_array"]

STORE_DIR = "store"
META_STR = ("source", "db", "video", "split")
META_COLS = ("source", "db", "video", "row", "split", "clip", "pos", "time", "number", "label", "audio_present")


def set_name(source: str, splits: tuple[str, ...] | None = None, db: str | None = None,
             max_clips: int | None = None) -> str:
    """File stem of a selection: ``ave_train``, ``ave_train-val``, ``stavis_DIEM``; ``_first<k>`` with max_clips."""
    parts = [source] + (["-".join(splits)] if splits else []) + ([db] if db else [])
    return "_".join(parts) + (f"_first{max_clips}" if max_clips is not None else "")


def default_sets(index: pd.DataFrame) -> list[dict[str, Any]]:
    """The selections the stages open (:func:`stanet_lib.stages.world.open_world`): AVE train and val, and each
    STAViS test database (``{"source", "splits", "db"}`` keyword sets of :func:`load_frameset`)."""
    sets: list[dict[str, Any]] = [{"source": "ave", "splits": ("train",), "db": None},
                                  {"source": "ave", "splits": ("val",), "db": None}]
    dbs = sorted(index.loc[index["source"] == "stavis", "db"].unique())
    return sets + [{"source": "stavis", "splits": None, "db": db} for db in dbs]


def store_key(cache: str | Path, sel: pd.DataFrame) -> str:
    """Identity of a store: the selected rows (npz, frame range, labels) and each npz's size and mtime (a video
    decoded again is a new file: the store is rebuilt; a reused npz keeps it)."""
    cols = ["source", "db", "video", "row", "split", "label", "npz", "frame_start", "frame_stop"]
    rows = [[str(v) for v in r] for r in sel[cols].itertuples(index=False)]
    stats = {}
    for npz in dict.fromkeys(sel["npz"]):
        st = (Path(cache) / npz).stat()
        stats[npz] = [st.st_size, st.st_mtime_ns]
    return digest({"rows": rows, "npz": stats, "version": 1})


def _paths(cache: str | Path, name: str) -> dict[str, Path]:
    base = Path(cache) / STORE_DIR / name
    return {k: base.with_name(f"{name}.{k}.npy") for k in ("frames", "audio")} | {
        "meta": base.with_name(f"{name}.meta.npz"), "json": base.with_name(f"{name}.json")}


@contextlib.contextmanager
def new_array(path: str | Path, shape: tuple[int, ...], dtype: Any) -> Iterator[np.memmap]:
    """A new ``.npy`` at ``path`` as a writable memmap; renamed into place only when the block succeeds."""
    with atomic_path(path) as tmp:
        mm = open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=tuple(int(s) for s in shape))
        yield mm
        mm.flush()
        del mm


def open_array(path: str | Path) -> np.ndarray:
    """A ``.npy`` memory-mapped copy-on-write (module docstring). Raises ValueError naming the file if it does not
    parse as ``.npy``."""
    try:
        return np.load(path, mmap_mode="c")
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from exc


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def build_store(cache: str | Path, sel: pd.DataFrame, name: str, key: str | None = None) -> Path:
    """Write the store of the index rows ``sel`` (module docstring), one clip in memory at a time.

    Returns the store's JSON path. Clips without frames are left out (as the in-memory loader did)."""
    paths = _paths(cache, name)
    key = key or store_key(cache, sel)
    rows = [(i, r) for i, (_, r) in enumerate(sel.iterrows()) if int(r["n_frames"]) > 0]  # clip ids as in sel
    n = sum(int(r["n_frames"]) for _, r in rows)
    first = cache_mod.load_clip(cache, rows[0][1])
    canvas, audio_shape = first["frames"].shape[1:], first["audio"].shape[1:]
    cols: dict[str, list[np.ndarray]] = {k: [] for k in META_COLS}
    with new_array(paths["frames"], (n, *canvas), np.uint8) as frames, \
            new_array(paths["audio"], (n, *audio_shape), np.float16) as audio:
        at = 0
        for j, (clip_id, row) in enumerate(rows):
            c = first if j == 0 else cache_mod.load_clip(cache, row)
            t = len(c["frames"])
            if t != int(row["n_frames"]):
                raise ValueError(f"{Path(cache) / row['npz']}: {t} frames in [{row['frame_start']}, "
                                 f"{row['frame_stop']}), the index says {row['n_frames']}")
            if c["frames"].shape[1:] != canvas or c["audio"].shape[1:] != audio_shape:
                raise ValueError(f"{Path(cache) / row['npz']}: frames {c['frames'].shape[1:]} / audio "
                                 f"{c['audio'].shape[1:]} differ from the set's {canvas} / {audio_shape}")
            frames[at : at + t] = c["frames"]
            audio[at : at + t] = c["audio"]
            pos = np.arange(t)
            for k in META_STR:
                cols[k].append(np.full(t, str(row[k]), dtype=object))
            cols["row"].append(np.full(t, int(row["row"]), np.int64))
            cols["clip"].append(np.full(t, clip_id, np.int64))
            cols["pos"].append(pos)
            cols["time"].append(np.asarray(c["times"], np.float64))
            cols["number"].append(np.asarray(c.get("numbers", pos + 1), np.int64))
            cols["label"].append(np.full(t, int(c["label"]), np.int64))
            cols["audio_present"].append(np.full(t, bool(c["audio_present"])))
            at += t
    meta = {k: np.concatenate(v) for k, v in cols.items()}
    write_npz(paths["meta"], **{k: (v.astype(str) if v.dtype == object else v) for k, v in meta.items()})
    return write_json(paths["json"], {"key": key, "frames": n, "canvas": list(canvas), "audio": list(audio_shape),
                                      "clips": len(rows)})


def open_store(cache: str | Path, sel: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, Path]:
    """The memmapped ``(frames, audio)``, the per-frame ``meta`` and the store's path prefix for the rows ``sel``;
    the store is (re)built first when it is missing, incomplete or was made from other rows or npz files."""
    paths = _paths(cache, name)
    key = store_key(cache, sel)
    info = _read_json(paths["json"])
    if info is None or info.get("key") != key or not all(paths[k].is_file() for k in ("frames", "audio", "meta")):
        build_store(cache, sel, name, key)
    frames, audio = open_array(paths["frames"]), open_array(paths["audio"])
    with np.load(paths["meta"]) as z:
        meta = pd.DataFrame({k: (z[k].tolist() if k in META_STR else z[k]) for k in META_COLS})  # str columns as pandas makes them
    if len(frames) != len(meta) or len(audio) != len(meta):
        raise ValueError(f"{paths['frames']}: {len(frames)} frames and {len(audio)} audio rows, but "
                         f"{paths['meta']} lists {len(meta)}; delete {paths['json']} to rebuild the store")
    return frames, audio, meta, paths["json"].with_suffix("")


def key_of(prefix: str | Path) -> str:
    """The key of the store at ``prefix`` (what :func:`open_store` returned), for arrays derived from it."""
    info = _read_json(Path(f"{prefix}.json"))
    if info is None:
        raise FileNotFoundError(f"{prefix}.json: no frame store there (load the frame set again to rebuild it)")
    return str(info["key"])


def is_cached(path: str | Path, key: Any) -> bool:
    """Whether :func:`cached_array` would open ``path`` for ``key`` without making it."""
    info = _read_json(Path(path).with_name(Path(path).name + ".json"))
    return info is not None and info.get("key") == digest(key) and Path(path).is_file()


def cached_array(path: str | Path, key: Any, shape: tuple[int, ...], dtype: Any,
                 fill: Callable[[np.ndarray], None]) -> np.ndarray:
    """An array derived from a store, kept at ``path`` (``.npy``) with ``<path>.json`` holding ``key``: opened
    memory-mapped when the key matches, else made by ``fill(memmap)`` (which writes every row), atomically.
    A stale file is replaced, never mixed."""
    path = Path(path)
    side = path.with_name(path.name + ".json")
    want = digest(key)
    if is_cached(path, key):
        arr = open_array(path)
        if arr.shape == tuple(shape) and arr.dtype == np.dtype(dtype):
            return arr
    side.unlink(missing_ok=True)
    with new_array(path, shape, dtype) as mm:
        fill(mm)
    write_json(side, {"key": want, "shape": list(shape), "dtype": np.dtype(dtype).str})
    return open_array(path)
