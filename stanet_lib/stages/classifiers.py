"""Stage 02 (notebook 02): the audio switch (labels from a tagger, the switch net) and the coarse S / ST / SA nets.

The audio switch (paper §3.7): binary labels from an audio tagger, and the switch net trained on them.

Paper: a (1 frame, 1 s audio) fragment is labelled 1 when the category an off-the-shelf audio classifier
(VGGSound) predicts is identical to the video's tag, else 0; the switch is "an individual network with an
identical structure as the SA classification net" trained on those labels; its output gates the audio in the SA
and STA fusions (Eq. 4, 5). The released code matched keyword substrings of VGGSound class names (audit §3.1).

Here the tagger is pluggable (:class:`Tagger`: a callable on per-frame audio features plus its class names and
a mapping from the dataset's categories to tagger classes), so a VGGSound or AudioSet tagger can be plugged in.
The default is an audio-only classifier trained on the training audio with **out-of-fold** predictions (a clip's
labels come from a tagger that never saw that clip), because no pretrained tagger can be downloaded here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import Tensor

from ..artefacts import file_fingerprint, run_key, write_npz
from ..config import Config
from ..data.audio import background_features
from ..data.frames import FrameDataset, FrameSet
from ..data.loaders import make_loader
from ..nets.classifier import AudioTagger, build_model, switch_probability, switch_window_mean
from ..nets.fusion import neutral_gates
from ..train import engine
from ..train.losses import balanced_step
from .pseudo import classifier_dataset
from .world import World, audio_truth, frame_inputs, write_stage_manifest

__all__ = [
    "BACKGROUND", "Tagger", "switch_labels", "default_tagger_oof", "tagger_classes", "tagger_fn", "repaired_fragments", "switch_class_weights",
    "SWITCH_INITS", "switch_warm_start",
    "train_switch", "switch_probabilities", "smoothed_switch",
    "train_classifier", "branch_tuned", "separation_auc", "switch_report", "stage_classifiers"
]


# the default tagger's class of no category (TrainConfig.tagger_background): no tag maps to it, so a fragment whose
# top-1 it is gets switch label 0, as an AudioSet tagger's "Silence" or "White noise" would
BACKGROUND = "(background)"


@dataclass
class Tagger:
    """A pluggable audio tagger.

    Args:
        fn: per-frame audio features (N, F, A) float32 numpy -> class probabilities (N, C).
        class_names: the tagger's C class names.
        mapping: dataset category -> the tagger classes that count as "identical" to it (paper §3.7).
            Default: a category maps to the tagger class of the same name.
    """

    fn: Callable[[np.ndarray], np.ndarray]
    class_names: Sequence[str]
    mapping: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def matches(self, categories: Sequence[str]) -> np.ndarray:
        """(K, C) bool: dataset category k counts as identical to tagger class c."""
        index = {c: i for i, c in enumerate(self.class_names)}
        out = np.zeros((len(categories), len(self.class_names)), bool)
        for k, cat in enumerate(categories):
            targets = self.mapping.get(cat, [cat])
            unknown = [t for t in targets if t not in index]
            if unknown:
                raise KeyError(f"category {cat!r} maps to tagger classes {unknown} the tagger does not have")
            out[k, [index[t] for t in targets]] = True
        return out


def switch_labels(probs: np.ndarray, tags: np.ndarray, match: np.ndarray, min_p: float = 0.0) -> np.ndarray:
    """Paper §3.7: label 1 iff the tagger's top-1 class is identical to the tag; with ``min_p`` > 0 also only where
    the top-1 probability is at least ``min_p`` (``train.switch_label_min_p``).

    Why ``min_p``: a tagger over the dataset's own categories (the default one here) has no class for silence or
    noise, so its top-1 there is one of the categories all the same, and it is the tag by chance. An AudioSet
    tagger, as the paper's, answers "Silence" or "Noise" there, which no tag is identical to. A top-1 below
    ``min_p`` counts as that answer.

    Args:
        probs: (N, C) tagger probabilities; tags: (N,) dataset labels; match: (K, C) from :meth:`Tagger.matches`.

    Returns:
        (N,) int64 in {0, 1}.
    """
    probs = np.asarray(probs)
    top1 = probs.argmax(-1)
    sure = probs.max(-1) >= min_p
    return (match[np.asarray(tags), top1] & sure).astype(np.int64)


def _tagger_dataset(fs: FrameSet, idx: np.ndarray | None = None) -> FrameDataset:
    sel = slice(None) if idx is None else torch.as_tensor(idx)
    return FrameDataset("tagger", None, audio=fs.audio[sel], targets=fs.labels[sel])


def _fit_tagger(fs: FrameSet, train_idx: np.ndarray, val_idx: np.ndarray | None, num_classes: int, cfg: Config,
                out_dir: Path, seed: int, background: Tensor | None = None) -> AudioTagger:
    """One tagger on the frames ``train_idx`` of ``fs``; with ``background`` (M, F, S) features also on those, as
    class ``num_classes`` (the tagger then has ``num_classes + 1`` classes)."""
    engine.set_seed(seed)
    data = _tagger_dataset(fs, train_idx)
    if background is not None:
        data = FrameDataset("tagger", None, audio=torch.cat([data.audio, background.to(data.audio.dtype)]),
                            targets=torch.cat([data.targets, torch.full((len(background),), num_classes)]))
    model = AudioTagger(num_classes + (background is not None), cfg.model)
    train = make_loader(data, cfg.train.batch_coarse, True, seed)
    val = (make_loader(_tagger_dataset(fs, val_idx), 256, False, seed) if val_idx is not None else None)
    key = run_key(cfg, "tagger", num_classes, seed, fs.audio, fs.labels, train_idx, val_idx,
                  *([] if background is None else [background]))
    engine.fit(model, train, val, cfg=cfg.train, out_dir=out_dir, seed=seed, monitor="val_acc" if val else "train_acc",
               mode="max", desc=f"tagger {out_dir.name}", run_key=key)
    return model


def _predict_probs(model: torch.nn.Module, ds: FrameDataset, batch: int = 256) -> np.ndarray:
    out = engine.predict(model, make_loader(ds, batch, shuffle=False))
    return torch.softmax(out.logits.float(), -1).numpy()


def default_tagger_oof(train: FrameSet, num_classes: int, cfg: Config, out_dir: str | Path, folds: int = 2,
                       seed: int = 0) -> tuple[np.ndarray, list[AudioTagger]]:
    """Out-of-fold tagger probabilities for every training frame, and the fold models.

    Folds are made of whole clips (frames of one clip never straddle train and held-out parts). Audio outside
    the training split (validation, test) is tagged by the average of the fold models (:func:`tagger_fn`). With
    ``cfg.train.tagger_background`` > 0 each fold model also learns a class of no category, :data:`BACKGROUND`
    (index ``num_classes``), from that many times ``len(fold's training frames) / num_classes`` generated
    fragments (:func:`~stanet_lib.data.audio.background_features`, drawn from ``seed`` and the fold).

    Returns:
        probs (N, C) for the frames of ``train`` (each from the fold model that did not see its clip; C =
        ``num_classes``, plus one with the background class) and the ``folds`` models.
    """
    out_dir = Path(out_dir)
    clips = train.meta["clip"].to_numpy()
    uniq = np.unique(clips)
    rng = np.random.default_rng(seed)
    fold_of_clip = dict(zip(rng.permutation(uniq), np.arange(len(uniq)) % folds))
    fold = np.array([fold_of_clip[c] for c in clips])
    share = cfg.train.tagger_background
    probs = np.zeros((len(train), num_classes + (share > 0)), np.float32)
    models = []
    for f in range(folds):
        held = np.flatnonzero(fold == f)
        fit_idx = np.flatnonzero(fold != f)
        bg = None
        if share > 0:
            n_bg = max(1, round(share * len(fit_idx) / num_classes))
            bg = torch.from_numpy(background_features(n_bg, cfg.audio, np.random.default_rng([seed, f, 1])))
        model = _fit_tagger(train, fit_idx, held, num_classes, cfg, out_dir / f"fold{f}", seed + f, bg)
        probs[held] = _predict_probs(model, _tagger_dataset(train, held))
        models.append(model)
    return probs, models


def tagger_classes(categories: Sequence[str], cfg: Config) -> list[str]:
    """The default tagger's class names: the dataset's categories, then :data:`BACKGROUND` when
    ``cfg.train.tagger_background`` > 0."""
    return [*categories, BACKGROUND] if cfg.train.tagger_background > 0 else list(categories)


def tagger_fn(models: AudioTagger | list[AudioTagger]) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap trained :class:`AudioTagger` (s) as a :class:`Tagger` callable (probabilities averaged)."""
    models = models if isinstance(models, list) else [models]

    def fn(audio: np.ndarray) -> np.ndarray:
        ds = FrameDataset("tagger", None, audio=torch.as_tensor(np.asarray(audio, np.float32)))
        return np.mean([_predict_probs(m, ds) for m in models], axis=0)

    return fn


def switch_dataset(fs: FrameSet, images: Tensor, labels: np.ndarray | None) -> FrameDataset:
    """Switch-net samples: centre frame, its audio, the switch label (None for inference)."""
    targets = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    return FrameDataset("switch", images, audio=fs.audio, targets=targets)


def repaired_fragments(fs: FrameSet, labels: np.ndarray, per_frame: int, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Extra switch-training fragments: each frame with the audio of ``per_frame`` frames of *other* clips, half of
    them of its own category and half of others. A new pair is labelled 1 iff its audio's own label (``labels``,
    the paper's rule, §3.7: the tagger's top-1 class for it is its clip's tag) is 1 and its clip's tag is the
    frame's, so the pair's audio is the sound of the frame's category. Applying the rule to the new pair itself
    (the audio's top-1 against the frame's tag) labelled noise and silence 1 whenever the tagger's arbitrary
    top-1 for them happened to be the frame's tag (seed 0 demo world, 4 re-pairings: the switch then opened on
    a quarter of the val frames with noise or silence).

    Why: the switch labels are constant within a clip, so a net trained on the clips as they are can tell the
    labels from the clip (its background, its objects) instead of from the sound; with re-paired fragments the same
    frame comes with matching and unrelated audio (the correspondence task of Arandjelovic & Zisserman, "Look,
    Listen and Learn", ICCV 2017). Returns (frame index, audio index, label) arrays of N * per_frame rows."""
    rng = np.random.default_rng(seed)
    clips = fs.meta["clip"].to_numpy()
    tags = fs.labels.numpy()
    labels = np.asarray(labels)
    if labels.shape != (len(fs),):
        raise ValueError(f"labels must be ({len(fs)},), one per frame, got {labels.shape}")
    frames, audio = [], []
    for i in np.arange(len(fs)):
        same = np.flatnonzero((tags == tags[i]) & (clips != clips[i]))
        other = np.flatnonzero(tags != tags[i])
        for k in range(per_frame):
            pool = same if (k % 2 == 0 and len(same)) else other
            if len(pool):
                frames.append(i)
                audio.append(int(rng.choice(pool)))
    frames, audio = np.asarray(frames, np.int64), np.asarray(audio, np.int64)
    return frames, audio, ((labels[audio] == 1) & (tags[audio] == tags[frames])).astype(np.int64)


def switch_class_weights(labels: np.ndarray, prior: str = "balanced", label_rate: float | None = None) -> Tensor:
    """(2,) class weights of the switch's cross entropy over its training ``labels`` (clips and re-paired fragments).

    ``"balanced"``: each class weighs half (N / (2 N_c)), as if label 1 and 0 were equally likely. ``"labels"``: the
    classes weigh as the clips' own labels do (``label_rate``, the share of label 1 before any re-pairing): the
    re-paired fragments (half of them of other categories, all labelled 0) change the mix the net sees, not the prior
    its p_switch is calibrated to (the prior-shift correction of Saerens et al., Neural Computation 2002, applied to
    the loss). Without re-paired fragments ``"labels"`` weighs every fragment alike."""
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    if prior == "balanced":
        w = counts.sum() / (2 * np.maximum(counts, 1))
    elif prior == "labels":
        rate = float(np.mean(labels)) if label_rate is None else float(label_rate)
        w = np.array([1.0 - rate, rate]) * counts.sum() / np.maximum(counts, 1)
    else:
        raise ValueError(f"switch prior must be 'balanced' or 'labels', got {prior!r}")
    return torch.tensor(w, dtype=torch.float32)


# train.switch_init -> the nets whose parts the switch starts from: (net folder under nets/, its parts copied)
SWITCH_INITS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "": (),
    "tagger+S": (("tagger/fold0", ("audio.",)), ("coarse_S", ("encoder.", "head."))),
}


def _fitting_parts(model: torch.nn.Module, path: str | Path, prefixes: Sequence[str], net: str) -> dict[str, Tensor]:
    """The weights of ``path``'s ``best.pt`` whose names start with ``prefixes``, checked against ``model``: every
    part ``model`` has is in the file and every copied tensor has ``model``'s shape.

    Raises:
        FileNotFoundError: no such file. ValueError: ``"<path>: does not fit the <net> net (...)"``."""
    state = engine.load_checkpoint(path).get("model", {})
    own = model.state_dict()
    sub = {k: v for k, v in state.items() if k.startswith(tuple(prefixes))}
    bad = [k for k, v in sub.items() if k not in own or own[k].shape != v.shape]
    missing = [p for p in prefixes if any(k.startswith(p) for k in own) and not any(k.startswith(p) for k in sub)]
    if bad or missing or not sub:
        why = f"no {(missing or list(prefixes))[0]}* weights" if missing or not sub else f"mismatched: {bad[0]}"
        raise ValueError(f"{path}: does not fit the {net} net ({why})")
    return sub


def switch_warm_start(model: torch.nn.Module, sources: Sequence[tuple[str | Path, Sequence[str]]]) -> list[str]:
    """Copy into the switch net ``model`` the parts (name prefixes) of each trained net's ``best.pt`` in
    ``sources``: with ``train.switch_init="tagger+S"`` the audio encoder of the audio tagger (``tagger/fold0``) and
    the frame encoder and head of the coarse S net, so the switch starts from a sound recognised by category and a
    frame recognised by category and learns how the two agree, instead of learning both from its binary labels
    alone (the released SoundSwitch, audit §3.2, takes its audio and visual embeddings from pretrained nets; the
    paper's §3.7 switch has the SA net's structure). Its projections, bilinear layer and classifier keep their own
    initialisation. Returns the copied names.

    Raises:
        FileNotFoundError: no such file. ValueError: a part missing from a file or not fitting ``model``."""
    copied = {}
    for path, prefixes in sources:
        copied.update(_fitting_parts(model, path, prefixes, "switch"))
    model.load_state_dict(copied, strict=False)
    return sorted(copied)


def train_switch(train: FrameSet, train_images: Tensor, train_labels: np.ndarray, val: FrameSet,
                 val_images: Tensor, val_labels: np.ndarray, cfg: Config, out_dir: str | Path, seed: int = 0,
                 extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 init_from: Sequence[tuple[str | Path, Sequence[str]]] = ()) -> torch.nn.Module:
    """The switch net (SA structure, 2 classes) on (frame, audio) with the tagger's labels; ``extra``: re-paired
    fragments (frame index, audio index, label) of :func:`repaired_fragments` added to the training samples;
    ``init_from``: (best.pt, part prefixes) it starts from (:func:`switch_warm_start`)."""
    engine.set_seed(seed)
    model = build_model("switch", 2, cfg.model)  # ImageNet encoder when model.imagenet_weights is set
    init = []
    if init_from:
        switch_warm_start(model, init_from)
        init = [file_fingerprint(path) for path, _ in init_from]  # other starting weights: trained anew
    label_rate = float(np.mean(train_labels)) if len(train_labels) else 0.5  # the clips' own share of label 1
    if extra is not None and len(extra[0]):
        fi, ai = (torch.as_tensor(x) for x in extra[:2])
        train_labels = np.concatenate([train_labels, extra[2]])
        train_ds = FrameDataset("switch", torch.cat([train_images, train_images[fi]]),
                                audio=torch.cat([train.audio, train.audio[ai]]), targets=torch.as_tensor(train_labels))
    else:
        train_ds = switch_dataset(train, train_images, train_labels)
    weights = switch_class_weights(train_labels, cfg.train.switch_prior, label_rate)
    tl = make_loader(train_ds, cfg.train.batch_coarse, True, seed)
    vl = make_loader(switch_dataset(val, val_images, val_labels), 256, False, seed)
    key = run_key(cfg, "switch", seed, weights, *tl.dataset.content(), *vl.dataset.content(), *init)
    engine.fit(model, tl, vl, step_fn=balanced_step(weights), cfg=cfg.train, out_dir=out_dir, seed=seed,
               monitor=cfg.train.switch_monitor, mode="min" if cfg.train.switch_monitor == "val_loss" else "max",
               desc="switch", run_key=key)
    return model


def switch_probabilities(model: torch.nn.Module, fs: FrameSet, images: Tensor, batch: int = 256) -> np.ndarray:
    """(N,) p_switch = softmax probability of "audio matches the tag" (the soft switch of the G1 code)."""
    out = engine.predict(model, make_loader(switch_dataset(fs, images, None), batch, shuffle=False))
    return switch_probability(out).numpy()


def smoothed_switch(fs: FrameSet, p: np.ndarray, half_width_s: float) -> np.ndarray:
    """p_switch of a frame set averaged within each of its videos over +/- ``half_width_s`` seconds
    (:func:`~stanet_lib.nets.classifier.switch_window_mean`, ``ModelConfig.switch_smoothing_s``); 0 = unchanged."""
    p = np.asarray(p, np.float32)
    if len(p) != len(fs):
        raise ValueError(f"smoothed_switch: {len(p)} probabilities for a set of {len(fs)} frames")
    if half_width_s == 0:
        return p
    times, out = fs.meta["time"].to_numpy(np.float64), p.copy()
    for _, idx in fs.clips():
        out[idx] = switch_window_mean(p[idx], times[idx], half_width_s)
    return out


def warm_start(model: torch.nn.Module, path: str | Path) -> list[str]:
    """Copy the encoder, head and classifier of the trained S net in ``path`` (``best.pt``) into the ST or SA net
    ``model``; its fusion block (temporal or audio gate) keeps its own initialisation. Returns the copied names.

    Raises:
        FileNotFoundError: no such file. ValueError: a part ``model`` has that the file lacks, or whose shapes do
        not fit ``model``'s (:func:`_fitting_parts`)."""
    sub = _fitting_parts(model, path, ("encoder.", "head.", "classifier."), getattr(model, "branch", "?"))
    model.load_state_dict(sub, strict=False)
    return sorted(sub)


def train_classifier(kind: str, train: FrameDataset, val: FrameDataset, num_classes: int, cfg: Config,
                     out_dir: str | Path, batch_size: int, seed: int = 0, init_from: str | Path | None = None,
                     tune: bool = False, stage: str = "") -> torch.nn.Module:
    """Train one S / ST / SA net with the shared loop (cross entropy, SGD, best val accuracy kept). ``init_from``:
    a trained S net's ``best.pt`` whose encoder, head and classifier the net starts from (:func:`warm_start`);
    ``tune`` (with ``init_from``; :func:`branch_tuned`): its gates start neutral (:func:`neutral_gates`) and it
    trains at ``lr * train.branch_tune_lr``. ``stage`` ("coarse", "fine"): the net is built with that stage's
    settings (:meth:`~stanet_lib.config.ModelConfig.for_stage`)."""
    engine.set_seed(seed)
    model = build_model(kind, num_classes, cfg.model.for_stage(stage))
    init = None
    tcfg = cfg.train
    if init_from is not None:
        warm_start(model, init_from)
        init = file_fingerprint(init_from)
        if tune:
            neutral_gates(model)
            tcfg = dataclasses.replace(tcfg, lr=tcfg.lr * tcfg.branch_tune_lr)
    tl = make_loader(train, batch_size, True, seed, cfg.train.num_workers)
    vl = make_loader(val, max(64, batch_size), False, seed, cfg.train.num_workers)
    key = run_key(cfg, kind, num_classes, batch_size, seed, *train.content(), *val.content(),
                  *([] if init is None else [init]))
    engine.fit(model, tl, vl, cfg=tcfg.with_epochs(tcfg.epochs_classifiers), out_dir=out_dir, seed=seed,
               monitor="val_acc", mode="max", desc=Path(out_dir).name, run_key=key)
    return model


def branch_init(world: World, stage: str, kind: str) -> Path | None:
    """The ``best.pt`` an ST / SA net of ``stage`` ("coarse" | "fine") starts from: the same stage's trained S net
    when ``train.branch_init == "S"``, else None (its own initialisation)."""
    if kind == "S" or world.cfg.train.branch_init != "S":
        return None
    return world.net_dir(f"{stage}_S") / "best.pt"


def branch_tuned(cfg: Config, stage: str) -> bool:
    """Whether ``stage``'s ("coarse" | "fine") warm-started ST / SA nets are tuned from their S net
    (``train.branch_tune``): neutral gates, ``lr * train.branch_tune_lr``."""
    return cfg.train.branch_init == "S" and stage in cfg.train.branch_tune.split(",")


def separation_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` separating ``positive`` from the rest (Mann-Whitney U / (n1 n0), ties
    counted half); NaN when one of the two classes is empty."""
    pos, n1 = np.asarray(positive, bool), int(np.sum(positive))
    n0 = len(pos) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, np.float64))
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def switch_report(world: World, set_name: str, p_switch: np.ndarray, labels: np.ndarray | None,
                  p_frame: np.ndarray | None = None) -> dict:
    """One row of notebook 02's switch table: the switch net on a frame set against the tagger's labels (train,
    val) and against the generator's truth "the clip's audio matches its tag" (accuracy of p > 0.5, and the AUC
    with which p_switch separates matching from unrelated audio, NaN when the set has only one kind).
    ``p_frame``: the frame-by-frame p_switch when ``p_switch`` is its time-window mean
    (``ModelConfig.switch_smoothing_s``); its accuracy and AUC against the truth are added as ``*_per_frame``."""
    row = {"set": set_name, "frames": len(p_switch), "switch_open_rate": float(np.mean(p_switch > 0.5))}
    if labels is not None:
        row["label_positive_rate"] = float(labels.mean())
        row["switch_agrees_with_labels"] = float(((p_switch > 0.5) == labels).mean())
    truth = audio_truth(world, set_name)
    if truth is not None:
        row["matching_audio_rate"] = float(truth.mean())
        if labels is not None:
            row["labels_vs_truth_acc"] = float((labels.astype(bool) == truth).mean())
        row["switch_vs_truth_acc"] = float(((p_switch > 0.5) == truth).mean())
        row["switch_auc"] = separation_auc(p_switch, truth)
        if p_frame is not None:
            row["switch_vs_truth_acc_per_frame"] = float(((p_frame > 0.5) == truth).mean())
            row["switch_auc_per_frame"] = separation_auc(p_frame, truth)
    return row


def stage_classifiers(world: World, seed: int = 0, log=print) -> dict[str, pd.DataFrame]:
    """Notebook 02: switch labels, switch net, coarse S / ST / SA (+ SA without switch). Returns tables."""
    cfg, t0 = world.cfg, time.perf_counter()
    size = cfg.model.coarse_size
    images = {name: frame_inputs(world, name, size, log) for name in world.sets}
    train, val = world.sets["train"], world.sets["val"]

    # Audio switch labels (paper §3.7): default tagger, out-of-fold on the training clips.
    log("tagger (out-of-fold) ...")
    oof, taggers = default_tagger_oof(train, world.num_classes, cfg, world.net_dir("tagger"), seed=seed)
    tg = Tagger(tagger_fn(taggers), tagger_classes(world.categories, cfg))
    match = tg.matches(world.categories)
    min_p = cfg.train.switch_label_min_p
    labels = {"train": switch_labels(oof, train.labels.numpy(), match, min_p),
              "val": switch_labels(tg.fn(val.audio.float().numpy()), val.labels.numpy(), match, min_p)}

    p_frame: dict[str, np.ndarray] = {}  # frame by frame, when model.switch_smoothing_s averages them

    def switch() -> dict[str, np.ndarray]:  # after the S net, which train.switch_init may start it from
        log("switch net ...")
        extra = None
        if cfg.train.switch_repairs > 0:  # re-paired fragments: the same frame with matching and unrelated audio
            extra = repaired_fragments(train, labels["train"], cfg.train.switch_repairs, seed)
        init = [(world.net_dir(name) / "best.pt", parts) for name, parts in SWITCH_INITS[cfg.train.switch_init]]
        net = train_switch(train, images["train"], labels["train"], val, images["val"], labels["val"], cfg,
                           world.net_dir("switch"), seed, extra, init)
        h = cfg.model.switch_smoothing_s
        raw = {name: switch_probabilities(net, fs, images[name]) for name, fs in world.sets.items()}
        p = {name: smoothed_switch(fs, raw[name], h) for name, fs in world.sets.items()}
        if h > 0:
            p_frame.update(raw)
        write_npz(world.runs / "switch.npz", **{k.replace(":", "__"): v for k, v in p.items()},
                  **{f"label__{k}": v for k, v in labels.items()},
                  **{f"frame__{k.replace(':', '__')}": v for k, v in p_frame.items()})
        return p

    # Coarse classification nets (paper §4.2: 256 px, batch 20; here the profile's sizes). Each net seeds its own
    # start (engine.set_seed), so the order changes no weights: S and ST need no p_switch, SA does.
    acc_rows, p_switch = [], None
    variants = [("S", "S", False), ("ST", "ST", False), ("SA", "SA", True), ("SA_noswitch", "SA", False)]
    for name, kind, uses_switch in variants:
        if uses_switch and p_switch is None:
            p_switch = switch()
        sw = p_switch if uses_switch else None
        log(f"coarse {name} ...")
        tr = classifier_dataset(kind, train, images["train"], train.labels,
                                       None if sw is None else sw["train"])
        va = classifier_dataset(kind, val, images["val"], val.labels, None if sw is None else sw["val"])
        t1 = time.perf_counter()
        train_classifier(kind, tr, va, world.num_classes, cfg, world.net_dir(f"coarse_{name}"),
                         cfg.train.batch_coarse, seed, branch_init(world, "coarse", kind),
                         branch_tuned(cfg, "coarse"), stage="coarse")
        log_df = pd.read_csv(world.net_dir(f"coarse_{name}") / "log.csv")
        best = log_df.loc[log_df["val_acc"].idxmax()]
        acc_rows.append({"net": f"coarse {name}", "epochs": len(log_df), "best_epoch": int(best["epoch"]),
                         "train_acc": best["train_acc"], "val_acc": best["val_acc"],
                         "seconds": round(time.perf_counter() - t1, 1)})
    switch_rows = [switch_report(world, name, p_switch[name], labels.get(name), p_frame.get(name))
                   for name in world.sets]
    tables = {"switch": pd.DataFrame(switch_rows), "accuracy": pd.DataFrame(acc_rows)}
    write_stage_manifest(world, "stage02", time.perf_counter() - t0, tables={k: v.to_dict("records") for k, v in tables.items()})
    return tables
