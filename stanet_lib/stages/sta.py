"""Stage 05 (notebook 05): train the STA net(s) on the pseudo-fixations (Eq. 6), predict every test set, write the
arrays and the STAViS results layout, evaluate.

Targets: the **centre frame's** pseudo-fixation of stage 04, resized from the cache canvas to
``ModelConfig.sta_size`` (:func:`resize_targets`); the loss is :func:`stanet_lib.train.losses.sta_step`.

Encoder initialisation (:func:`init_encoder`): the paper's encoder starts from ImageNet VGG16; here
``model.imagenet_weights`` when given, else (``TrainConfig.sta_encoder_init``, default ``"coarse_S"``) the
encoder of the trained coarse S classification net, the only pretrained VGG16 available offline. It saw the
same tags only, so the STA net still learns from pseudo-fixations alone. Measured on the demo world (idle
2-core CPU, 8 epochs, the same seed): validation CC with the pseudo-fixations 0.60 from coarse_S vs 0.35 from
random; on the synthetic test sets CC 0.35-0.37 vs 0.25-0.28. ``""`` gives a random encoder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Subset

from ..artefacts import atomic_path, file_fingerprint, make_manifest, run_key, tensor_digest, write_json
from ..config import Config, ModelConfig, TrainConfig
from ..data.frames import FrameDataset, FrameSet
from ..data.loaders import is_distributed, make_loader
from ..data.store import cached_array
from ..eval.protocol import EvalOptions, eval_splits, evaluate_db, is_scored, scoring_pool, write_results
from ..nets.encoders import load_imagenet
from ..nets.runtime import select_device
from ..nets.sta import STANet
from ..nets.windows import predict_frames
from ..paths import profile_dirs
from ..train import engine
from ..train.losses import sta_step
from .maps import load_maps, resumable_pass, same_frames, save_maps, video_frames
from .world import World, frame_inputs, load_switch, open_world

__all__ = [
    "resize_targets", "sta_dataset", "PREDICTION_VARIANTS", "SELECT_BY", "sta_train_config", "load_targets",
    "encoder_source", "init_encoder", "init_audio", "init_class_attention", "train_sta", "train_sta_parallel",
    "load_sta",
    "predict_set_resumable", "stage_sta"
]


def resize_targets(maps: np.ndarray | Tensor, size: int, chunk: int = 512) -> Tensor:
    """Pseudo-fixations (N, S, S) at the cache canvas -> (N, 1, size, size) float16 in [0, 1] (antialiased
    bilinear, as the frames are resized)."""
    m = torch.as_tensor(np.asarray(maps, dtype=np.float32) if not isinstance(maps, Tensor) else maps).float()
    if m.dim() != 3:
        raise ValueError(f"pseudo-fixation maps must be (N, S, S), got {tuple(m.shape)}")
    out = []
    for i in range(0, len(m), chunk):
        x = m[i : i + chunk, None].nan_to_num(0.0)
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(x.clamp(0.0, 1.0).half())
    return torch.cat(out) if out else torch.zeros(0, 1, size, size, dtype=torch.float16)


def sta_dataset(fs: FrameSet, images: Tensor, switch: np.ndarray | Tensor | None = None,
                targets: Tensor | None = None) -> FrameDataset:
    """STA samples over the frames of ``fs``: window (t-1, t, t+1) of ``images`` (N, 3, s, s) uint8, audio,
    optional ``switch`` (N,) and pseudo-fixation ``targets`` (N, 1, s, s) (batch key ``"pseudo"``)."""
    sw = None if switch is None else torch.as_tensor(np.asarray(switch), dtype=torch.float32)
    return FrameDataset("STA", images, audio=fs.audio, prev=fs.prev, next=fs.next, switch=sw,
                        extra={"pseudo": targets} if targets is not None else None)


# name -> (net trained with the switch?, p_switch fed at inference: "switch" | "open" | "none", description)
PREDICTION_VARIANTS: dict[str, tuple[str, str, str]] = {
    "sta": ("sta", "switch", "STA net, audio switch p_switch (Eq. 5)"),
    "sta_gate_open": ("sta", "open", "same net, switch forced open (p = 1)"),
    "sta_noswitch": ("sta_noswitch", "none", "STA net trained and run without the switch (p = 1)"),
}


def load_targets(world: World, set_name: str, size: int, maps_path: str | Path | None = None
                 ) -> tuple[Tensor, np.ndarray]:
    """The stage-04 pseudo-fixations of a frame set at the STA size, (N, 1, size, size) float16, and ``valid``;
    the maps memory-mapped from ``runs/<profile>/features/targets<size>_<set>.npy``, made once per pseudo-fixation
    content (:func:`~stanet_lib.data.store.cached_array`), so a split's targets are never whole in memory.
    ``maps_path``: the stage-04 npz to read (default ``maps/fine_<set>.npz``).

    Raises:
        FileNotFoundError: stage 04 has not run. ValueError: its frames are not the frame set's (stale maps).
    """
    path = world.maps_path("fine", set_name) if maps_path is None else Path(maps_path)
    maps = load_maps(path)
    fs = world.sets[set_name]
    for key in ("pseudo", "video", "number"):
        if key not in maps:
            raise ValueError(f"{path}: no {key!r} array (keys {sorted(maps)}); re-run stage 04")
    if not same_frames(maps, fs):
        raise ValueError(f"{path}: its {len(maps['video'])} frames are not the {len(fs)} cached frames of "
                         f"{set_name} (stale maps); re-run stage 04")
    valid = maps["valid"].astype(bool) if "valid" in maps else np.ones(len(fs), bool)
    pseudo = maps["pseudo"]  # memory-mapped from the npz (load_maps): resized a chunk at a time into a map file

    def fill(out: np.ndarray, chunk: int = 512) -> None:
        for i in range(0, len(pseudo), chunk):
            out[i : i + chunk] = resize_targets(pseudo[i : i + chunk], size, chunk).numpy()

    target_path = world.runs / "features" / f"targets{size}_{set_name.replace(':', '__')}.npy"
    arr = cached_array(target_path, tensor_digest(pseudo, size), (len(fs), 1, size, size), np.float16, fill)
    return torch.from_numpy(arr), valid


def encoder_source(cfg: Config) -> str:
    """``"imagenet"`` (``model.imagenet_weights`` set), the net ``train.sta_encoder_init`` names, or ``"random"``."""
    if cfg.model.imagenet_weights and not cfg.model.trunk:
        return "imagenet"
    return cfg.train.sta_encoder_init or "random"


def _load_part(module: torch.nn.Module, state: dict, prefix: str) -> None:
    """Load a checkpoint's ``<prefix>.*`` weights into ``module`` (strict: RuntimeError when they do not fit)."""
    module.load_state_dict({k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(f"{prefix}.")},
                           strict=True)


def init_encoder(model: STANet, world: World) -> str:
    """Initialise the STA encoder: ImageNet VGG16 when ``model.imagenet_weights`` names a file (the paper),
    else the encoder of the trained classification net ``train.sta_encoder_init`` (default ``coarse_S``: the
    offline stand-in for a pretrained encoder; it was trained on the same tags, so no fixation data enters),
    else random. Returns what was used.

    Raises:
        FileNotFoundError: the named net has no ``best.pt``. ValueError: its encoder does not fit the STA net's.
    """
    name = encoder_source(world.cfg)
    if name == "imagenet":
        load_imagenet(model.encoder, world.cfg.model.imagenet_weights)
    if name in ("imagenet", "random"):
        return name
    path = world.net_dir(name) / "best.pt"
    state = engine.load_checkpoint(path).get("model", {})
    try:
        for part in ("encoder", "head"):  # the head: the trained layers after the fusion on a frozen trunk
            _load_part(getattr(model, part), state, part)
    except RuntimeError as exc:
        raise ValueError(f"{path}: its encoder does not fit the STA encoder (train.sta_encoder_init={name!r}): "
                         f"{str(exc).splitlines()[0]}") from exc
    return name


def _audio_state(world: World) -> tuple[str, Path, dict]:
    """The net ``train.sta_audio_init`` names: (name, its best.pt, its weights); ValueError when it has no audio
    encoder."""
    name = world.cfg.train.sta_audio_init
    path = world.net_dir(name) / "best.pt"
    state = engine.load_checkpoint(path).get("model", {})
    if not any(k.startswith("audio.") for k in state):
        raise ValueError(f"{path}: no audio encoder (no 'audio.*' weights) for train.sta_audio_init={name!r}")
    return name, path, state


def init_audio(model: STANet, world: World) -> str:
    """Initialise the STA net's audio encoder from the trained net ``train.sta_audio_init`` names (its ``audio.*``
    weights; e.g. ``"tagger/fold0"``, the audio tagger's, as the paper's STA net starts from a pretrained audio
    classifier, VGGSound); ``""``: random. With ``model.sta_audio_att="class"`` the tagger goes into the attention
    instead (:func:`init_class_attention`). Returns what was used.

    Raises:
        FileNotFoundError: the named net has no ``best.pt``. ValueError: it has no audio encoder fitting the STA's.
    """
    if model.class_att is not None:
        return init_class_attention(model, world)
    if not world.cfg.train.sta_audio_init:
        return "random"
    name, path, state = _audio_state(world)
    try:
        _load_part(model.audio, state, "audio")
    except RuntimeError as exc:
        raise ValueError(f"{path}: its audio encoder does not fit the STA net's (train.sta_audio_init={name!r}): "
                         f"{str(exc).splitlines()[0]}") from exc
    return name


def init_class_attention(model: STANet, world: World) -> str:
    """Load :class:`~stanet_lib.nets.sta.ClassAudioAttention`'s frozen parts (``model.sta_audio_att="class"``):
    the audio encoder and class layer of the tagger ``train.sta_audio_init`` names (e.g. ``"tagger/fold0"``) and
    the head and class layer of the S net ``train.sta_encoder_init`` names (``coarse_S``, whose encoder and head
    the STA net starts from). Returns ``"<tagger> x <S net>"``.

    Raises:
        ValueError: a name is empty, or its weights do not fit. FileNotFoundError: a named net has no ``best.pt``.
    """
    cfg = world.cfg
    if not cfg.train.sta_audio_init:
        raise ValueError("model.sta_audio_att='class' needs an audio tagger: set train.sta_audio_init, e.g. "
                         "tagger/fold0")
    visual = encoder_source(cfg)
    if visual in ("imagenet", "random"):
        raise ValueError(f"model.sta_audio_att='class' needs a trained S net's class maps: set "
                         f"train.sta_encoder_init (e.g. coarse_S), not {visual!r}")
    name, path, state = _audio_state(world)
    k = world.num_classes
    if state.get("classifier.weight") is not None and len(state["classifier.weight"]) == k + 1:
        # a tagger with the class of no category (train.tagger_background, its last class): the attention weighs
        # the K categories by their posterior given that one of them is heard (the switch says whether one is)
        state = {**state, "classifier.weight": state["classifier.weight"][:k],
                 "classifier.bias": state["classifier.bias"][:k]}
    s_path = world.net_dir(visual) / "best.pt"
    s_state = engine.load_checkpoint(s_path).get("model", {})
    att = model.class_att
    for where, st, ours, theirs in ((path, state, "audio", "audio"), (path, state, "audio_classifier", "classifier"),
                                     (s_path, s_state, "head", "head"), (s_path, s_state, "classifier", "classifier")):
        try:
            _load_part(getattr(att, ours), st, theirs)
        except RuntimeError as exc:
            raise ValueError(f"{where}: its {theirs} does not fit the STA net's class attention "
                             f"(model.sta_audio_att='class'): {str(exc).splitlines()[0]}") from exc
    return f"{name} x {visual}"


def _fingerprint(world: World, use_switch: bool, seed: int) -> tuple[str, dict[str, str | None]]:
    """The STA net's run key and the named inputs it is made from (content digests of the files)."""
    inputs = {k: file_fingerprint(world.maps_path("fine", k)) for k in ("train", "val")}
    inputs["switch"] = file_fingerprint(world.runs / "switch.npz") if use_switch else None
    source = encoder_source(world.cfg)
    if source not in ("imagenet", "random"):
        source = file_fingerprint(world.net_dir(source) / "best.pt")
    inputs["init"] = source
    audio = world.cfg.train.sta_audio_init
    if audio:  # a key only when set, so the run keys of the default stay as they were
        inputs["audio_init"] = file_fingerprint(world.net_dir(audio) / "best.pt")
    named = {"fine maps (train)": inputs["train"], "fine maps (val)": inputs["val"], "switch.npz": inputs["switch"],
             "encoder initialisation": inputs["init"], "config": run_key(world.cfg)}
    if audio:  # a changed audio initialisation says so when the net starts over
        named["audio encoder initialisation"] = inputs["audio_init"]
    return run_key(world.cfg, "sta", seed, use_switch, inputs), named


# The validation column that picks the kept epoch, and its direction (train_sta's docstring says why).
SELECT_BY = ("val_cc", "max")


def sta_train_config(cfg: Config) -> TrainConfig:
    """The training settings of the STA nets: ``cfg.train`` with ``epochs = train.epochs_sta`` when that is > 0
    (the demo trains its STA nets longer than its classification nets), else ``cfg.train`` itself."""
    return cfg.train.with_epochs(cfg.train.epochs_sta)


def train_sta(world: World, name: str, use_switch: bool, images: dict[str, Tensor], seed: int = 0
              ) -> tuple[STANet, engine.FitResult]:
    """Train one STA net into ``nets/<name>/`` (frames with ``valid == False`` left out).

    Model selection (:data:`SELECT_BY`): the epoch with the highest validation CC between the net's maps and the
    pseudo-fixations is kept. The BCE of Eq. 6 is what the net descends, but on the demo its validation value rose
    from the first epoch on while the validation CC climbed (0.29 to 0.60 over six epochs, measured at commit
    cc4364c): BCE against soft, sparse targets rewards a flat map, and the kept net was the first epoch's speckle.
    CC is what the net is for (a fixation map shaped like the targets) and it is the protocol's first metric.

    Resumes ``last.pt`` only when the config, seed and input artefacts are those it was started with
    (``run_key.json``; otherwise it starts over); writes ``config.json`` (the resolved config, read back by ``predict``).
    """
    cfg, size, out_dir = world.cfg, world.cfg.model.sta_size, world.net_dir(name)
    p_switch = load_switch(world) if use_switch else None
    data = {}
    for split in ("train", "val"):
        targets, valid = load_targets(world, split, size)
        sw = None if p_switch is None else p_switch[split]
        ds = sta_dataset(world.sets[split], images[split], sw, targets)
        idx = np.flatnonzero(valid)
        if len(idx) == 0:
            raise ValueError(f"{world.maps_path('fine', split)}: no valid pseudo-fixation to train on")
        data[split] = Subset(ds, idx.tolist())
    key, named = _fingerprint(world, use_switch, seed)  # other config or inputs: start over (engine.fit run_key)
    write_json(out_dir / "config.json", {"config": cfg.to_dict(), "use_switch": use_switch})
    engine.set_seed(seed)
    model = STANet(cfg.model, world.num_classes)
    init_encoder(model, world)
    init_audio(model, world)
    tl = make_loader(data["train"], cfg.train.batch_sta, True, seed, cfg.train.num_workers)
    vl = make_loader(data["val"], max(64, cfg.train.batch_sta), False, seed, cfg.train.num_workers)
    fit = engine.fit(model, tl, vl, step_fn=sta_step, cfg=sta_train_config(cfg), out_dir=out_dir, seed=seed,
                     monitor=SELECT_BY[0], mode=SELECT_BY[1], desc=name, run_key=key,
                     inputs=named)
    return model, fit


def _train_sta_process(cfg: Config, data_root: str, runs: str, name: str, use_switch: bool, seed: int) -> float:
    """A worker of :func:`train_sta_parallel`: one thread, the world reopened from its data root with the stage's
    runs folder, one STA net trained by :func:`train_sta` (its own printing silenced); returns its seconds."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        world = dataclasses.replace(open_world(cfg, data_root, build=False, log=lambda *_: None), runs=Path(runs))
        images = {k: frame_inputs(world, k, cfg.model.sta_size) for k in ("train", "val")}
        train_sta(world, name, use_switch, images, seed)
    return time.perf_counter() - t0


def train_sta_parallel(world: World, nets: list[tuple[str, bool]], seed: int = 0) -> dict[str, float]:
    """Train the STA nets ``nets`` ((name, use switch) pairs) at once on the CPU, each in a spawned worker process
    with one thread (``TrainConfig.parallel_nets`` of them), into the folders :func:`train_sta` uses; returns each
    net's seconds. The stage then calls :func:`train_sta` as always, which finds each finished run (same run key)
    and trains nothing. Returns ``{}`` and trains nothing when there is nothing to share out: ``parallel_nets``
    1 or one net, a GPU, a distributed run, or a world whose cache is not under a data root :func:`open_world`
    can reopen. An error in a worker is raised here with its traceback."""
    cfg = world.cfg
    workers = min(cfg.train.parallel_nets, len(nets))
    root = world.cache.parents[1]
    if (workers < 2 or select_device().type != "cpu" or is_distributed()
            or profile_dirs(cfg.profile, root)["cache"] != world.cache):
        return {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {name: pool.submit(_train_sta_process, cfg, str(root), str(world.runs), name, use_switch, seed)
                for name, use_switch in nets}
        return {name: job.result() for name, job in jobs.items()}


def load_sta(path: str | Path, cfg: ModelConfig) -> STANet:
    """An STA net with the weights of a ``best.pt`` / ``last.pt`` (clear error when they do not fit ``cfg``)."""
    k = 0
    if cfg.sta_audio_att == "class":  # the number of categories, from the class attention's class layer
        weight = engine.load_checkpoint(path).get("model", {}).get("class_att.classifier.weight")
        if weight is None:
            raise ValueError(f"{path}: not an STA checkpoint with a class attention (model.sta_audio_att='class')")
        k = int(weight.shape[0])
    model = STANet(cfg, k)
    try:
        return engine.load_weights(model, path)
    except RuntimeError as exc:  # load_state_dict: missing / unexpected keys, shape mismatch
        raise ValueError(f"{path}: not an STA checkpoint of this model configuration (width={cfg.width}, "
                         f"decoder={cfg.sta_decoder}, audio_channels={cfg.audio_channels}): {exc}") from exc


def predict_set_resumable(feeds: dict[str, tuple[torch.nn.Module, np.ndarray | None]], fs: FrameSet,
                          images: Tensor, folder: str | Path) -> dict[str, Tensor]:
    """STA predictions of each variant (``feeds``: variant -> (net, p_switch per frame or None)) over ``fs``, one
    video at a time through :func:`~stanet_lib.stages.maps.resumable_pass`: a killed pass resumes at the first
    video without its maps. Keyed by the nets' weights, the inputs and the switch values."""
    parts = [x for v in sorted(feeds) for x in (v, *feeds[v][0].state_dict().values(),
                                                 None if feeds[v][1] is None else np.asarray(feeds[v][1], np.float32))]
    key = tensor_digest(*parts, images, fs.audio, fs.prev, fs.next)

    def compute(rows: np.ndarray) -> dict[str, Tensor]:
        sub, idx = fs.subset(rows), torch.from_numpy(np.array(rows, np.int64))
        return {v: predict_frames(net, images[idx], sub.audio, sub.prev, sub.next,
                                  None if sw is None else np.asarray(sw)[rows]) for v, (net, sw) in feeds.items()}

    return resumable_pass(folder, fs, key, compute)


def stage_sta(world: World, seed: int = 0, log=print) -> dict[str, pd.DataFrame]:
    """Notebook 05: train the STA net(s), predict every test set, write arrays and the results layout, evaluate.

    Artefacts (``runs/<profile>/``): ``nets/sta/`` (and ``nets/sta_noswitch/`` when
    ``TrainConfig.sta_noswitch``), ``maps/sta_<set>.npz`` (one float16 (N, s, s) array per entry of
    :data:`PREDICTION_VARIANTS`, plus ``video``/``db``/``number``), ``predictions/<variant>/split<k>_results/
    <dbkey>/<video>/pred_sal_%05d.jpg``, ``tables/sta_metrics.csv`` and ``tables/sta_per_video.csv`` (column
    ``model`` = variant), ``stage05.manifest.json``.

    Returns:
        ``{"training": one row per net, "metrics": per (variant, db) STAViS-protocol means,
        "per_video": per (variant, db, split, video) rows}``.
    """
    cfg, t0 = world.cfg, time.perf_counter()
    size = cfg.model.sta_size
    images = {name: frame_inputs(world, name, size, log) for name in world.sets}
    nets: dict[str, STANet] = {}
    train_rows = []
    todo = [("sta", True)] + ([("sta_noswitch", False)] if cfg.train.sta_noswitch else [])
    seconds = train_sta_parallel(world, todo, seed)  # {} when they train here, one after the other
    if seconds:
        log("STA nets trained side by side, one process each: "
            + ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items()))
    for name, use_switch in todo:
        log(f"STA net {name} ...")
        t1 = time.perf_counter()
        nets[name], fit = train_sta(world, name, use_switch, images, seed)
        best = fit.history[fit.best_epoch - 1] if fit.history else {}
        train_rows.append({"net": name, "switch": use_switch, "encoder_init": encoder_source(cfg),
                           "epochs": fit.epochs_done, "best_epoch": fit.best_epoch,
                           "selected_by": SELECT_BY[0], "val_cc": best.get("val_cc", float("nan")),
                           "val_bce": best.get("val_loss", float("nan")),
                           "train_bce": best.get("train_loss", float("nan")),
                           "seconds": round(seconds.get(name, time.perf_counter() - t1), 1)})
    p_switch = load_switch(world)
    opts = EvalOptions.from_config(cfg.eval)
    rows, per_video = [], []
    with scoring_pool(cfg.eval.workers) as pool:  # one pool scores every variant and database
        for set_name in world.test_sets():
            fs, db = world.sets[set_name], set_name.split(":", 1)[1]
            log(f"STA predictions {set_name} ({len(fs)} frames) ...")
            feeds = {}
            for variant, (net, feed, _) in PREDICTION_VARIANTS.items():
                if net in nets:
                    sw = {"switch": p_switch[set_name], "open": np.ones(len(fs), np.float32), "none": None}[feed]
                    feeds[variant] = (nets[net], sw)
            parts = world.maps_path("sta", set_name).with_suffix(".parts")
            maps = predict_set_resumable(feeds, fs, images[set_name], parts)
            save_maps(world.maps_path("sta", set_name), fs, maps)
            shutil.rmtree(parts)  # the package's own per-video files, now in the set's npz
            splits = eval_splits(world.stavis_root, db)
            for variant, m in maps.items():
                frames = video_frames(fs, m.numpy())
                write_results(world.runs / "predictions" / variant, world.stavis_root, db, frames)
                res = evaluate_db(world.stavis_root, db, frames, splits, opts, executor=pool)
                for line in res.missing:
                    log(f"  not scored: {line}")
                n_ok = int(is_scored(res.per_video).sum())
                rows.append({"model": variant, "description": PREDICTION_VARIANTS[variant][2], "db": db,
                             **res.means.to_dict(), "videos": n_ok})
                per_video.append(res.per_video.assign(model=variant))
    tables = {"training": pd.DataFrame(train_rows), "metrics": pd.DataFrame(rows),
              "per_video": pd.concat(per_video, ignore_index=True) if per_video else pd.DataFrame()}
    for key, name in (("metrics", "sta_metrics.csv"), ("per_video", "sta_per_video.csv")):
        with atomic_path(world.runs / "tables" / name) as tmp:
            tables[key].to_csv(tmp, index=False, float_format="%.6f")
    write_json(world.runs / "stage05.manifest.json",
               make_manifest(cfg.to_dict(), {"cache": str(world.cache)}, seconds=time.perf_counter() - t0,
                             tables={k: tables[k].to_dict("records") for k in ("training", "metrics")}))
    return tables
