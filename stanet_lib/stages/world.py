"""Where one profile's data and artefacts live (:class:`World`), and the first cell of every stage notebook.

Artefacts go under ``runs/<profile>/`` (see :class:`World`): ``nets/<name>/`` (``best.pt``, ``last.pt``,
``log.csv``), ``switch.npz``, ``maps/<stage>_<set>.npz``, ``tables/``, and a manifest per stage. Frame sets are
``train`` and ``val`` (AVE) and ``test:<DB>`` for each STAViS-layout test database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..artefacts import atomic_path, file_fingerprint, make_manifest, tensor_digest, write_json
from ..config import Config, ModelConfig, load_profile, parse_overrides
from ..data import cache as cache_mod
from ..data.frames import FrameSet, load_frameset, resized_frames
from ..data.store import cached_array
from ..data.synthetic import generate, read_truth
from ..nets.classifier import build_model
from ..nets.runtime import select_device
from ..nets.trunk import fit_projection, lift, project, register_projection, stored_layout
from ..paths import profile_dirs, run_reports
from ..train import engine

__all__ = [
    "World", "open_world", "setup", "source_root", "truth_tags", "audio_truth", "write_stage_manifest", "load_net",
    "load_switch", "frame_inputs", "net_inputs"
]


@dataclass
class World:
    """Where one profile's data and artefacts live, and what is known about its clips."""

    cfg: Config
    synth: Path
    cache: Path
    runs: Path
    categories: list[str]
    truth: pd.DataFrame | None = None  # synthetic world only
    stavis: Path | None = None  # the STAViS-layout root the cache was made from (open_world: source_root)
    sets: dict[str, FrameSet] = field(default_factory=dict)
    memo: dict = field(default_factory=dict, repr=False)  # values computed once per process (the trunk's PCA)

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    @property
    def stavis_root(self) -> Path:
        """The STAViS-layout root: ``stavis`` as :func:`open_world` resolved it from the cache's manifest; a World
        built without it reads this folder's synthetic world."""
        return self.stavis if self.stavis is not None else self.synth / "stavis"

    def net_dir(self, name: str) -> Path:
        return self.runs / "nets" / name

    def maps_path(self, stage: str, set_name: str) -> Path:
        return self.runs / "maps" / f"{stage}_{set_name.replace(':', '_')}.npz"

    def summary(self) -> str:
        """One line for a notebook's first cell: frames per loaded set and the categories."""
        frames = {name: len(fs) for name, fs in self.sets.items()}
        return f"{frames} frames; {self.num_classes} categories: {', '.join(self.categories)}"

    def test_sets(self) -> list[str]:
        return [s for s in self.sets if s.startswith("test:")]


def open_world(cfg: Config, data_root: str | Path | None = None, load: bool = True, build: bool = True,
               log=print) -> World:
    """Locate the profile's cache and runs folders, read categories and (synthetic) truth, load frame sets.

    When the cache does not exist yet and ``build`` is set, the data stage runs first on the synthetic world
    (what notebook 01 does with its defaults), so a stage notebook opened on its own finds what it needs; with
    real data run notebook 01 (or ``prep``) first. The paper profile never builds a synthetic world: without a
    cache it raises ``FileNotFoundError`` naming the missing cache and how to make it from the real data.
    """
    dirs = profile_dirs(cfg.profile, Path(data_root) if data_root else None)
    if build and not (dirs["cache"] / "index.csv").exists() and cfg.profile == "paper":
        raise FileNotFoundError(
            f"{dirs['cache']}: no data cache for the paper profile; the paper profile never builds the synthetic "
            f"world: run notebook 01 (or `python -m stanet_lib prep --profile paper --ave-root AVE_DIR "
            f"--stavis-root STAVIS_DIR --out {dirs['cache']}`) on the real AVE and STAViS data first")
    if build and not (dirs["cache"] / "index.csv").exists():
        log(f"{dirs['cache']}: no cache yet; building the synthetic world and the data stage (notebook 01) ...")
        world_dir = generate(cfg, dirs["synth"], seed=cfg.seed, progress=False)
        cache_mod.prepare(cfg, world_dir / "ave", world_dir / "stavis", dirs["cache"])
    index = cache_mod.load_index(dirs["cache"])
    ave = index[index["source"] == "ave"]
    categories = ave.drop_duplicates("label").sort_values("label")["category"].tolist()
    truth = None
    manifest = json.loads((dirs["cache"] / "manifest.json").read_text())
    ave_root = source_root(manifest, "ave_root", dirs["synth"] / "ave")
    synthetic = ave_root is not None and ave_root.resolve() == (dirs["synth"] / "ave").resolve()
    if synthetic and (dirs["synth"] / "truth" / "clips.csv").exists():  # the generator's truth, never for real data
        truth = read_truth(dirs["synth"])
    elif cfg.profile != "paper":  # the targets that need the truth are left out of every table: say so once
        why = (f"{dirs['synth'] / 'truth' / 'clips.csv'} is missing" if synthetic else
               f"{dirs['cache'] / 'manifest.json'}: made from {ave_root}, not this data folder's synthetic world "
               f"{dirs['synth']}")
        log(f"{why}: no generator truth, so the pointing game and the unrelated-audio rows are left out")
    world = World(cfg, dirs["synth"], dirs["cache"], dirs["runs"], categories, truth,
                  source_root(manifest, "stavis_root", dirs["synth"] / "stavis"))
    if load:
        step = cfg.media.window_s or None
        world.sets["train"] = load_frameset(dirs["cache"], "ave", ("train",), window_s=step)
        world.sets["val"] = load_frameset(dirs["cache"], "ave", ("val",), window_s=step)
        for db in sorted(index.loc[index["source"] == "stavis", "db"].unique()):
            world.sets[f"test:{db}"] = load_frameset(dirs["cache"], "stavis", db=db, window_s=step)
    return world


def source_root(manifest: dict, key: str, own: Path) -> Path | None:
    """The folder a data cache was made from: its manifest's ``key`` (``ave_root`` or ``stavis_root``), or ``own``,
    this data folder's synthetic ``ave`` / ``stavis`` world, when the recorded folder is a copy of it.

    A data folder copied or moved elsewhere keeps the absolute paths its data stage recorded, so its cache would
    otherwise be read as made from another folder's world (no generator truth, the test maps scored against the
    other folder's fixations). The recorded folder is taken as ``own``'s copy only when both end in the same
    ``synthetic/<profile>/<ave|stavis>`` and every input the manifest lists under it is in ``own``: each file
    (AVE videos and lists, STAViS fold lists) with the same sha256 (:func:`stanet_lib.artefacts.file_fingerprint`),
    each STAViS frame folder present; otherwise the recorded path stands. None when the manifest records no such
    folder."""
    recorded = manifest.get(key)
    if not recorded:
        return None
    recorded = Path(recorded)
    if recorded.parts[-3:] != own.parts[-3:] or not own.is_dir() or recorded.resolve() == own.resolve():
        return recorded
    listed = {}
    for path, fingerprint in (manifest.get("inputs") or {}).items():
        if Path(path).is_relative_to(recorded):
            listed[Path(path).relative_to(recorded)] = fingerprint

    def matches(mine: Path, fingerprint: str | None) -> bool:
        if fingerprint is None:
            return False
        if mine.is_dir():  # a STAViS frame folder: its fingerprint digests frames, audio and fps (data.cache)
            return True
        return mine.is_file() and file_fingerprint(mine) == fingerprint

    same = all(matches(own / rel, fp) for rel, fp in listed.items())
    return own if listed and same else recorded


def setup(profile: str, smoke: bool = False, overrides: str = "", data_root: str = "", reports_dir: str = "",
          load: bool = True) -> tuple[Config, World, Path]:
    """The first cell of every stage notebook, from its papermill parameters: the resolved config
    (``smoke`` selects the smoke profile; ``overrides`` space-separated ``section.field=value``), the
    :class:`World` (:func:`open_world`; ``""`` = the project's data folder) and the reports folder (``""`` =
    ``reports/<profile>/``, :func:`stanet_lib.paths.run_reports`: a run never writes into another profile's)."""
    cfg = load_profile("smoke" if smoke else profile, **parse_overrides(overrides))
    world = open_world(cfg, data_root or None, load=load)
    return cfg, world, run_reports(cfg.profile, reports_dir)


def truth_tags(world: World, set_name: str) -> Tensor | None:
    """Tags of a test set's frames from the generator's truth (None when there is no truth)."""
    fs = world.sets[set_name]
    if not set_name.startswith("test:"):
        return fs.labels
    if world.truth is None:
        return None
    t = world.truth[world.truth["source"] == "stavis"].set_index(["db", "video"])["label"]
    keys = list(zip(fs.meta["db"], fs.meta["video"]))
    return torch.as_tensor([int(t[k]) for k in keys], dtype=torch.long)


def audio_truth(world: World, set_name: str) -> np.ndarray | None:
    """Per frame: does the clip's audio match its tag (the generator's truth for the switch)."""
    if world.truth is None:
        return None
    fs = world.sets[set_name]
    tr = world.truth
    t = dict(zip(zip(tr["source"], tr["db"].where(tr["source"] == "stavis", ""), tr["video"]),
                 tr["audio_matches_tag"]))
    keys = zip(fs.meta["source"], fs.meta["db"].where(fs.meta["source"] == "stavis", ""), fs.meta["video"])
    return np.array([bool(t[k]) for k in keys])


def write_stage_manifest(world: World, stage: str, seconds: float, **extra) -> None:
    """``runs/<profile>/<stage>.manifest.json``: config, inputs, commit, seconds and what the stage reports."""
    write_json(world.runs / f"{stage}.manifest.json",
               make_manifest(world.cfg.to_dict(), {"cache": str(world.cache)}, seconds=seconds, **extra))


def load_net(world: World, name: str, kind: str, stage: str = "") -> torch.nn.Module:
    """A trained net from ``nets/<name>/best.pt``, built with ``stage``'s settings (``"coarse"``, ``"fine"``:
    :meth:`~stanet_lib.config.ModelConfig.for_stage`) as it was trained."""
    m = world.cfg.model.for_stage(stage)
    model = build_model(kind, 2 if kind == "switch" else world.num_classes, m, pretrained=False)
    return engine.load_weights(model, world.net_dir(name) / "best.pt")


def load_switch(world: World) -> dict[str, np.ndarray]:
    """p_switch per frame set from ``switch.npz`` (notebook 02): the values the nets use (time-window means under
    ``model.switch_smoothing_s``; the frame-by-frame ones are kept there as ``frame__<set>``)."""
    path = world.runs / "switch.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run notebook 02 first")
    with np.load(path) as z:
        return {k.replace("__", ":"): z[k] for k in z.files if not k.startswith(("label__", "frame__"))}


def _projection(world: World, log=None) -> tuple[Tensor, Tensor]:
    """The fixed PCA reduction of the trunk's features (:func:`~stanet_lib.nets.trunk.fit_projection`), fit once on
    the training frames at the coarse size and kept in ``runs/<profile>/features/projection.pt`` under a key of
    the trunk, its cut, the width and those frames; registered for every trunk encoder this process builds."""
    m = world.cfg.model
    if "projection" in world.memo:
        return world.memo["projection"]
    frames = resized_frames(world.sets["train"], m.coarse_size)
    key = tensor_digest(m.trunk, m.trunk_layer, m.trunk_reduce, *_dtype_key(m), frames)
    path = world.runs / "features" / "projection.pt"
    saved = _load_keyed(path, key)
    if saved is None:
        if log is not None:
            log(f"trunk features of train ({len(frames)} frames at {m.coarse_size} px), PCA to {m.trunk_reduce} "
                f"channels ...")
        feats = lift(m.trunk, m.trunk_layer, frames, device=select_device(), dtype=m.trunk_dtype)
        mean, axes = fit_projection(feats, m.trunk_reduce, seed=world.cfg.seed)
        saved = {"key": key, "mean": mean, "axes": axes}
        with atomic_path(path) as tmp:
            torch.save(saved, tmp)
        # the training frames' reduced features, as net_inputs would write them (their trunk pass is done)
        reduced = project(feats, mean, axes).half()
        nhwc, shape = stored_layout(reduced)
        data = (reduced.permute(0, 2, 3, 1) if nhwc else reduced).numpy()
        cached_array(_features_path(world, f"frames{m.coarse_size}_train"),
                     [_features_key(m, mean, axes, frames), nhwc], shape, np.float16,
                     lambda out: out.__setitem__(slice(None), data))
    register_projection(m.trunk, m.trunk_layer, saved["mean"], saved["axes"])
    world.memo["projection"] = (saved["mean"], saved["axes"])
    return world.memo["projection"]


def _dtype_key(m: ModelConfig) -> tuple[str, ...]:
    """What the trunk's dtype adds to a features key: nothing for float32 (the keys of features stored before the
    option stay valid), its name otherwise."""
    return () if m.trunk_dtype == "float32" else (m.trunk_dtype,)


def _features_key(m: ModelConfig, mean: Tensor, axes: Tensor, images: Tensor) -> str:
    """The key the reduced trunk features of ``images`` are stored under (:func:`net_inputs`, and the training
    frames' features :func:`_projection` writes as a by-product, which ``net_inputs`` must then find)."""
    return tensor_digest(m.trunk, m.trunk_layer, *_dtype_key(m), mean, axes, images)


def _features_path(world: World, name: str) -> Path:
    return world.runs / "features" / f"{name.replace(':', '__')}.npy"


def _load_keyed(path: Path, key: str) -> dict | None:
    """A ``{"key": ..., ...}`` torch file when it exists, reads and carries ``key``; else None."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - an unreadable cache file is recomputed
        return None
    return saved if isinstance(saved, dict) and saved.get("key") == key else None


def _lift_to_store(world: World, name: str, images: Tensor, key: str, projection: tuple[Tensor, Tensor],
                   log=None) -> Tensor:
    """The reduced trunk features of ``images`` as float16 memory-mapped from ``features/<name>.npy`` (kept under
    ``key``; :func:`~stanet_lib.data.store.cached_array`), computed a batch at a time into the file (``log``
    is told when they are computed, not when the file is reused)."""
    m = world.cfg.model
    dev = select_device()
    probe = lift(m.trunk, m.trunk_layer, images[:1], device=dev, projection=projection,
                 dtype=m.trunk_dtype)  # shape and layout
    nhwc, shape = stored_layout(probe, len(images))

    def fill(out: np.ndarray) -> None:
        if log is not None:
            log(f"trunk features {name} ({len(images)} frames at {images.shape[-1]} px) ...")
        lift(m.trunk, m.trunk_layer, images, device=dev, projection=projection, out=out, nhwc=nhwc,
             dtype=m.trunk_dtype)

    arr = torch.from_numpy(cached_array(_features_path(world, name), [key, nhwc], shape, np.float16, fill))
    return arr.permute(0, 3, 1, 2) if nhwc else arr


def frame_inputs(world: World, set_name: str, size: int, log=None) -> Tensor:
    """What the nets take for the frame set ``set_name`` at ``size`` px: its frames resized where the nets run
    (:func:`~stanet_lib.nets.runtime.select_device`), or the frozen trunk's features of them (:func:`net_inputs`,
    stored as ``features/frames<size>_<set>.npy``)."""
    frames = resized_frames(world.sets[set_name], size, device=select_device())
    return net_inputs(world, f"frames{size}_{set_name}", frames, log)


def net_inputs(world: World, name: str, images: Tensor, log=None) -> Tensor:
    """What the nets of this profile take for ``images`` (N, 3, s, s) uint8: the frames themselves, or, with a
    frozen trunk (``model.trunk``, :mod:`stanet_lib.nets.trunk`), its PCA-reduced features (N, k, s/8, s/8)
    float16, computed once and memory-mapped from ``runs/<profile>/features/<name>.npy`` under a key of the
    projection and the frames' digest (a changed frame recomputes them; a stale file is replaced, never mixed)."""
    m = world.cfg.model
    if not m.trunk:
        return images
    mean, axes = _projection(world, log)
    key = _features_key(m, mean, axes, images)
    return _lift_to_store(world, name, images, key, (mean, axes), log)
