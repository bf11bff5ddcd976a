"""The work of notebooks 02-04, as functions (the notebooks hold parameters, figures and tables only).

* :func:`stage_classifiers` (02): audio-switch labels from the tagger, the switch net, the coarse S / ST / SA nets
  (and the SA net without the switch, for the Table 3 analogue);
* :func:`stage_coarse_scam` (03): tag-class CAMs of the coarse nets on every frame set, SCAM and SCAM_avg, the
  2 x mean boxes;
* :func:`stage_fine` (04): the fine nets on the crops, fine CAMs and SCAM recovered into the frame, the
  pseudo-fixations.

Artefacts go under ``runs/<profile>/`` (see :class:`World`): ``nets/<name>/`` (``best.pt``, ``last.pt``,
``log.csv``), ``switch.npz``, ``maps/coarse_<set>.npz``, ``maps/fine_<set>.npz``, and a manifest per stage.
Frame sets are ``train`` and ``val`` (AVE) and ``test:<DB>`` for each STAViS-layout test database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from . import cache as cache_mod
from . import engine, pseudo, scam
from . import switch as switch_mod
from .artefacts import make_manifest, write_json, write_npz
from .config import Config
from .datasets import FrameSet, crop_window, load_frameset, resized_frames
from .models import build_model
from .paths import profile_dirs


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
        import json

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
    import json

    dirs = profile_dirs(cfg.profile, Path(data_root) if data_root else None)
    if build and not (dirs["cache"] / "index.csv").exists():
        from .synth import generate

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
        from .synth import read_truth

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
    the project's ``reports/``)."""
    from .config import load_profile, parse_overrides
    from .paths import REPORTS_DIR

    cfg = load_profile("smoke" if smoke else profile, **parse_overrides(overrides.split()))
    world = open_world(cfg, data_root or None, load=load)
    return cfg, world, Path(reports_dir) if reports_dir else REPORTS_DIR


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


def _manifest(world: World, stage: str, seconds: float, **extra) -> None:
    write_json(world.runs / f"{stage}.manifest.json",
               make_manifest(world.cfg.to_dict(), {"cache": str(world.cache)}, seconds=seconds, **extra))


# --------------------------------------------------------------------------------------------- stage 02
def stage_classifiers(world: World, seed: int = 0, log=print) -> dict[str, pd.DataFrame]:
    """Notebook 02: switch labels, switch net, coarse S / ST / SA (+ SA without switch). Returns tables."""
    cfg, t0 = world.cfg, time.perf_counter()
    size = cfg.model.coarse_size
    dev = engine.select_device()  # resizes and crops run where the nets run
    images = {name: resized_frames(fs, size, device=dev) for name, fs in world.sets.items()}
    train, val = world.sets["train"], world.sets["val"]

    # Audio switch labels (paper §3.7): default tagger, out-of-fold on the training clips.
    log("tagger (out-of-fold) ...")
    oof, taggers = switch_mod.default_tagger_oof(train, world.num_classes, cfg, world.net_dir("tagger"), seed=seed)
    tg = switch_mod.Tagger(switch_mod.tagger_fn(taggers), world.categories)
    match = tg.matches(world.categories)
    labels = {"train": switch_mod.switch_labels(oof, train.labels.numpy(), match),
              "val": switch_mod.switch_labels(tg.fn(val.audio.float().numpy()), val.labels.numpy(), match)}
    log("switch net ...")
    net = switch_mod.train_switch(train, images["train"], labels["train"], val, images["val"], labels["val"], cfg,
                                  world.net_dir("switch"), seed)
    p_switch = {name: switch_mod.switch_probabilities(net, fs, images[name]) for name, fs in world.sets.items()}
    write_npz(world.runs / "switch.npz", **{k.replace(":", "__"): v for k, v in p_switch.items()},
              **{f"label__{k}": v for k, v in labels.items()})
    switch_rows = []
    for name in ("train", "val"):
        truth = audio_truth(world, name)
        row = {"set": name, "frames": len(world.sets[name]), "label_positive_rate": labels[name].mean(),
               "switch_agrees_with_labels": ((p_switch[name] > 0.5) == labels[name]).mean()}
        if truth is not None:
            row["labels_vs_truth_acc"] = (labels[name].astype(bool) == truth).mean()
            row["switch_vs_truth_acc"] = ((p_switch[name] > 0.5) == truth).mean()
        switch_rows.append(row)

    # Coarse classification nets (paper §4.2: 256 px, batch 20; here the profile's sizes).
    acc_rows = []
    variants = [("S", "S", None), ("ST", "ST", None), ("SA", "SA", p_switch), ("SA_noswitch", "SA", None)]
    for name, kind, sw in variants:
        log(f"coarse {name} ...")
        tr = pseudo.classifier_dataset(kind, train, images["train"], train.labels,
                                       None if sw is None else sw["train"])
        va = pseudo.classifier_dataset(kind, val, images["val"], val.labels, None if sw is None else sw["val"])
        t1 = time.perf_counter()
        pseudo.train_classifier(kind, tr, va, world.num_classes, cfg, world.net_dir(f"coarse_{name}"),
                                cfg.train.batch_coarse, seed)
        log_df = pd.read_csv(world.net_dir(f"coarse_{name}") / "log.csv")
        best = log_df.loc[log_df["val_acc"].idxmax()]
        acc_rows.append({"net": f"coarse {name}", "epochs": len(log_df), "best_epoch": int(best["epoch"]),
                         "train_acc": best["train_acc"], "val_acc": best["val_acc"],
                         "seconds": round(time.perf_counter() - t1, 1)})
    tables = {"switch": pd.DataFrame(switch_rows), "accuracy": pd.DataFrame(acc_rows)}
    _manifest(world, "stage02", time.perf_counter() - t0, tables={k: v.to_dict("records") for k, v in tables.items()})
    return tables


def load_net(world: World, name: str, kind: str) -> torch.nn.Module:
    """A trained net from ``nets/<name>/best.pt``."""
    model = build_model(kind, 2 if kind == "switch" else world.num_classes, world.cfg.model, pretrained=False)
    return engine.load_weights(model, world.net_dir(name) / "best.pt")


def load_switch(world: World) -> dict[str, np.ndarray]:
    path = world.runs / "switch.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run notebook 02 first")
    with np.load(path) as z:
        return {k.replace("__", ":"): z[k] for k in z.files if not k.startswith("label__")}


# --------------------------------------------------------------------------------------------- stage 03
SA_VARIANTS = {"SA": True, "SA_noswitch": False}  # net name -> fed with p_switch


def _cams_for_set(world: World, set_name: str, stage: str, images: Tensor, tags: Tensor,
                  p_switch: np.ndarray, window: tuple[Tensor, Tensor] | None = None) -> dict[str, pseudo.CamResult]:
    fs = world.sets[set_name]
    out = {}
    for name, kind in (("S", "S"), ("ST", "ST"), ("SA", "SA"), ("SA_noswitch", "SA")):
        net = load_net(world, f"{stage}_{name}", kind)
        sw = p_switch if SA_VARIANTS.get(name) else None
        prev_i, next_i = window if window is not None else (None, None)
        ds = pseudo.classifier_dataset(kind, fs, images, switch=sw, prev_images=prev_i, next_images=next_i,
                                       tags=tags)
        out[name] = pseudo.tag_cams(net, ds)
    return out


def _fused(cams: dict[str, pseudo.CamResult], tags: Tensor, lam: float) -> dict[str, Tensor]:
    with_switch = pseudo.fuse({k: cams[k] for k in ("S", "ST", "SA")}, tags, lam)
    without = pseudo.fuse({"S": cams["S"], "ST": cams["ST"], "SA": cams["SA_noswitch"]}, tags, lam)
    maps = {f"CAM_{k}": v.cams for k, v in cams.items()}
    maps.update(SCAM=with_switch["SCAM"], SCAM_avg=with_switch["SCAM_avg"], SCAM_noswitch=without["SCAM"],
                weights=with_switch["weights"])
    maps.update({f"probs_{k}": v.probs for k, v in cams.items()})
    return maps


def set_tags(world: World, set_name: str, images: Tensor) -> tuple[Tensor, str]:
    """Tags for CAMs: AVE labels, the generator's category for synthetic test clips, else the coarse S net's
    top-1 class (real test sets have no tags)."""
    tags = truth_tags(world, set_name)
    if tags is not None:
        return tags, "tag"
    fs = world.sets[set_name]
    net = load_net(world, "coarse_S", "S")
    probe = pseudo.classifier_dataset("S", fs, images, tags=torch.zeros(len(fs), dtype=torch.long))
    return pseudo.tag_cams(net, probe).top1, "S top-1"


def stage_coarse_scam(world: World, log=print) -> pd.DataFrame:
    """Notebook 03: coarse CAMs, SCAM, SCAM_avg, boxes, for every frame set. Returns per-set summaries."""
    cfg, t0 = world.cfg, time.perf_counter()
    p_switch = load_switch(world)
    rows = []
    dev = engine.select_device()  # the resizes run where the nets run
    for name, fs in world.sets.items():
        images = resized_frames(fs, cfg.model.coarse_size, device=dev)
        tags, tag_source = set_tags(world, name, images)
        log(f"coarse CAMs {name} ({len(fs)} frames) ...")
        maps = _fused(_cams_for_set(world, name, "coarse", images, tags, p_switch[name]), tags, cfg.scam.lam)
        maps["boxes"] = pseudo.boxes_from(maps["SCAM"], fs.canvas, cfg.scam.box_factor)
        maps["tags"] = tags
        pseudo.save_maps(world.maps_path("coarse", name), fs, maps)
        area = ((maps["boxes"][:, 1] - maps["boxes"][:, 0] + 1) * (maps["boxes"][:, 3] - maps["boxes"][:, 2] + 1))
        rows.append({"set": name, "frames": len(fs), "tags": tag_source,
                     "box_area_fraction": float(area.float().mean() / fs.canvas ** 2),
                     **{f"top1_acc_{k}": float((maps[f"probs_{k}"].argmax(-1) == tags).float().mean())
                        for k in ("S", "ST", "SA", "SA_noswitch")}})
    df = pd.DataFrame(rows)
    _manifest(world, "stage03", time.perf_counter() - t0, summary=df.to_dict("records"))
    return df


# --------------------------------------------------------------------------------------------- stage 04
def _boxes(world: World, set_name: str) -> Tensor:
    m = pseudo.load_maps(world.maps_path("coarse", set_name))
    return torch.as_tensor(m["boxes"]).long()


def stage_fine(world: World, seed: int = 0, log=print) -> dict[str, pd.DataFrame]:
    """Notebook 04: fine nets on the crops, fine CAMs and SCAM recovered into the frame, pseudo-fixations."""
    cfg, t0 = world.cfg, time.perf_counter()
    size = cfg.model.fine_size
    p_switch = load_switch(world)
    dev = engine.select_device()  # crops and recovery run where the nets run
    crops = {name: crop_window(fs, _boxes(world, name), size, device=dev) for name, fs in world.sets.items()}
    train, val = world.sets["train"], world.sets["val"]
    acc_rows = []
    for name, kind in (("S", "S"), ("ST", "ST"), ("SA", "SA"), ("SA_noswitch", "SA")):
        sw = p_switch if SA_VARIANTS.get(name) else None

        def ds(set_name: str, fs: FrameSet):
            p, c, n = crops[set_name]
            return pseudo.classifier_dataset(kind, fs, c, fs.labels, None if sw is None else sw[set_name], p, n)

        log(f"fine {name} ...")
        t1 = time.perf_counter()
        pseudo.train_classifier(kind, ds("train", train), ds("val", val), world.num_classes, cfg,
                                world.net_dir(f"fine_{name}"), cfg.train.batch_fine, seed)
        log_df = pd.read_csv(world.net_dir(f"fine_{name}") / "log.csv")
        best = log_df.loc[log_df["val_acc"].idxmax()]
        acc_rows.append({"net": f"fine {name}", "epochs": len(log_df), "best_epoch": int(best["epoch"]),
                         "train_acc": best["train_acc"], "val_acc": best["val_acc"],
                         "seconds": round(time.perf_counter() - t1, 1)})
    rows = []
    for name, fs in world.sets.items():
        coarse = pseudo.load_maps(world.maps_path("coarse", name))
        tags = torch.as_tensor(coarse["tags"]).long()
        boxes = torch.as_tensor(coarse["boxes"]).long()
        p, c, n = crops[name]
        log(f"fine CAMs {name} ...")
        cams = _cams_for_set(world, name, "fine", c, tags, p_switch[name], window=(p, n))
        fine = _fused(cams, tags, cfg.scam.lam)
        recovered = {k: scam.recover(scam.resize_maps(v.float().to(dev), size), boxes, fs.canvas).cpu()
                     for k, v in fine.items() if k.startswith(("CAM_", "SCAM"))}
        probs = {k: v.probs for k, v in cams.items() if k in ("S", "ST", "SA")}
        pseudo_maps, valid = pseudo.postprocess(recovered["SCAM"], fs, cfg, probs, tags)
        out = {**recovered, "pseudo": pseudo_maps, "valid": valid, "boxes": boxes, "tags": tags,
               "weights": fine["weights"], **{k: v for k, v in fine.items() if k.startswith("probs_")}}
        pseudo.save_maps(world.maps_path("fine", name), fs, out)
        rows.append({"set": name, "frames": len(fs), "valid_frames": int(valid.sum()),
                     **{f"top1_acc_{k}": float((fine[f"probs_{k}"].argmax(-1) == tags).float().mean())
                        for k in ("S", "ST", "SA", "SA_noswitch")}})
    tables = {"accuracy": pd.DataFrame(acc_rows), "summary": pd.DataFrame(rows)}
    _manifest(world, "stage04", time.perf_counter() - t0, tables={k: v.to_dict("records") for k, v in tables.items()})
    return tables


# ------------------------------------------------------------------------------------- map evaluation
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
    from .evaluation import EvalOptions, evaluate_db

    opts = EvalOptions.from_config(world.cfg.eval)
    rows, per_video = [], []
    for set_name in world.test_sets():
        db = set_name.split(":", 1)[1]
        maps = pseudo.load_maps(world.maps_path(stage, set_name))
        for v in variants:
            if v not in maps:
                continue
            res = evaluate_db(world.stavis_root, db, video_maps(maps, v, world.sets[set_name].canvas), opts=opts)
            if res.missing:
                log(f"{db} {v}: not scored: {res.missing}")
            ok = res.per_video[res.per_video["status"] == "ok"]
            rows.append({"db": db, "stage": stage, "variant": v, **res.means.to_dict(), "videos": len(ok),
                         "frames_scored": int(ok["frames_scored"].sum())})
            per_video.append(res.per_video.assign(stage=stage, variant=v))
    df = pd.DataFrame(rows)
    from .artefacts import write_text

    write_text(world.runs / "tables" / f"{stage}_maps.csv", df.to_csv(index=False))
    write_text(world.runs / "tables" / f"{stage}_maps_per_video.csv",
               pd.concat(per_video, ignore_index=True).to_csv(index=False))
    return df


def sample_rows(world: World, set_name: str, n: int = 4, seed: int = 0) -> np.ndarray:
    """``n`` frame indices of a set, the middle frames of randomly chosen clips (for figures)."""
    fs = world.sets[set_name]
    picks = [idx[len(idx) // 2] for _, idx in fs.clips()]
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(picks, size=min(n, len(picks)), replace=False))


def figure_inputs(world: World, stage: str, set_name: str, rows: np.ndarray,
                  layers: tuple[str, ...] = ("CAM_S", "CAM_ST", "CAM_SA", "SCAM")) -> dict:
    """Frames, map layers (resized to the canvas), boxes, titles and GT fixation points of some rows: the
    arguments of :func:`stanet_lib.figures.map_samples`."""
    from .stavis import StavisRoot, load_fixation_map
    from .viz import points_from_map

    fs = world.sets[set_name]
    maps = pseudo.load_maps(world.maps_path(stage, set_name))
    frames = fs.frames[torch.as_tensor(rows)].numpy()
    out = {"frames": frames, "boxes": maps["boxes"][rows] if "boxes" in maps else None,
           "layers": {k: scam.resize_maps(torch.as_tensor(maps[k][rows].astype(np.float32)), fs.canvas).numpy()
                      for k in layers if k in maps},
           "titles": [f"{fs.meta['video'].iloc[r]} #{fs.meta['number'].iloc[r]}" for r in rows], "points": None}
    if set_name.startswith("test:"):
        root, db = StavisRoot(world.stavis_root), set_name.split(":", 1)[1]
        out["points"] = [points_from_map(load_fixation_map(root.fixation_path(db, fs.meta["video"].iloc[r],
                                                                              int(fs.meta["number"].iloc[r]))),
                                         frames.shape[1:3]) for r in rows]
    return out
