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

from ..artefacts import make_manifest, write_json
from ..config import Config, load_profile, parse_overrides
from ..data import cache as cache_mod
from ..data.frames import FrameSet, load_frameset
from ..data.synthetic import generate, read_truth
from ..nets.classifier import build_model
from ..paths import profile_dirs, run_reports
from ..train import engine

__all__ = [
    "World", "open_world", "setup", "truth_tags", "audio_truth", "write_stage_manifest", "load_net",
    "load_switch"
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
    sets: dict[str, FrameSet] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    @property
    def stavis_root(self) -> Path:
        root = json.loads((self.cache / "manifest.json").read_text()).get("stavis_root")
        return Path(root) if root else self.synth / "stavis"

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
    real data run notebook 01 (or ``prep``) first.
    """
    dirs = profile_dirs(cfg.profile, Path(data_root) if data_root else None)
    if build and not (dirs["cache"] / "index.csv").exists():
        log(f"{dirs['cache']}: no cache yet; building the synthetic world and the data stage (notebook 01) ...")
        world_dir = generate(cfg, dirs["synth"], seed=cfg.seed, progress=False)
        cache_mod.prepare(cfg, world_dir / "ave", world_dir / "stavis", dirs["cache"])
    index = cache_mod.load_index(dirs["cache"])
    ave = index[index["source"] == "ave"]
    categories = ave.drop_duplicates("label").sort_values("label")["category"].tolist()
    truth = None
    manifest = json.loads((dirs["cache"] / "manifest.json").read_text())
    synthetic = Path(manifest.get("ave_root") or "").resolve() == (dirs["synth"] / "ave").resolve()
    if synthetic and (dirs["synth"] / "truth" / "clips.csv").exists():  # the generator's truth, never for real data
        truth = read_truth(dirs["synth"])
    world = World(cfg, dirs["synth"], dirs["cache"], dirs["runs"], categories, truth)
    if load:
        world.sets["train"] = load_frameset(dirs["cache"], "ave", ("train",))
        world.sets["val"] = load_frameset(dirs["cache"], "ave", ("val",))
        for db in sorted(index.loc[index["source"] == "stavis", "db"].unique()):
            world.sets[f"test:{db}"] = load_frameset(dirs["cache"], "stavis", db=db)
    return world


def setup(profile: str, smoke: bool = False, overrides: str = "", data_root: str = "", reports_dir: str = "",
          load: bool = True) -> tuple[Config, World, Path]:
    """The first cell of every stage notebook, from its papermill parameters: the resolved config
    (``smoke`` selects the smoke profile; ``overrides`` space-separated ``section.field=value``), the
    :class:`World` (:func:`open_world`; ``""`` = the project's data folder) and the reports folder (``""`` =
    ``reports/<profile>/``, :func:`stanet_lib.paths.run_reports`: a run never writes into another profile's)."""
    cfg = load_profile("smoke" if smoke else profile, **parse_overrides(overrides.split()))
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


def load_net(world: World, name: str, kind: str) -> torch.nn.Module:
    """A trained net from ``nets/<name>/best.pt``."""
    model = build_model(kind, 2 if kind == "switch" else world.num_classes, world.cfg.model, pretrained=False)
    return engine.load_weights(model, world.net_dir(name) / "best.pt")


def load_switch(world: World) -> dict[str, np.ndarray]:
    """p_switch per frame set from ``switch.npz`` (notebook 02)."""
    path = world.runs / "switch.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run notebook 02 first")
    with np.load(path) as z:
        return {k.replace("__", ":"): z[k] for k in z.files if not k.startswith("label__")}
