"""The audio switch (paper §3.7): binary labels from an audio tagger, and the switch net trained on them.

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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from . import engine
from .config import Config
from .datasets import FrameDataset, FrameSet
from .models import AudioTagger, build_model, switch_probability
from .pseudo import run_key


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


def switch_labels(probs: np.ndarray, tags: np.ndarray, match: np.ndarray) -> np.ndarray:
    """Paper §3.7: label 1 iff the tagger's top-1 class is identical to the tag.

    Args:
        probs: (N, C) tagger probabilities; tags: (N,) dataset labels; match: (K, C) from :meth:`Tagger.matches`.

    Returns:
        (N,) int64 in {0, 1}.
    """
    top1 = np.asarray(probs).argmax(-1)
    return match[np.asarray(tags), top1].astype(np.int64)


def _tagger_dataset(fs: FrameSet, idx: np.ndarray | None = None) -> FrameDataset:
    sel = slice(None) if idx is None else torch.as_tensor(idx)
    return FrameDataset("tagger", None, audio=fs.audio[sel], targets=fs.labels[sel])


def _fit_tagger(fs: FrameSet, train_idx: np.ndarray, val_idx: np.ndarray | None, num_classes: int, cfg: Config,
                out_dir: Path, seed: int) -> AudioTagger:
    engine.set_seed(seed)
    model = AudioTagger(num_classes, cfg.model)
    train = engine.make_loader(_tagger_dataset(fs, train_idx), cfg.train.batch_coarse, True, seed)
    val = (engine.make_loader(_tagger_dataset(fs, val_idx), 256, False, seed) if val_idx is not None else None)
    key = run_key(cfg, "tagger", num_classes, seed, fs.audio, fs.labels, train_idx, val_idx)
    engine.fit(model, train, val, cfg=cfg.train, out_dir=out_dir, seed=seed, monitor="val_acc" if val else "train_acc",
               mode="max", desc=f"tagger {out_dir.name}", run_key=key)
    return model


def _predict_probs(model: torch.nn.Module, ds: FrameDataset, batch: int = 256) -> np.ndarray:
    out = engine.predict(model, engine.make_loader(ds, batch, shuffle=False))
    return torch.softmax(out.logits.float(), -1).numpy()


def default_tagger_oof(train: FrameSet, num_classes: int, cfg: Config, out_dir: str | Path, folds: int = 2,
                       seed: int = 0) -> tuple[np.ndarray, list[AudioTagger]]:
    """Out-of-fold tagger probabilities for every training frame, and the fold models.

    Folds are made of whole clips (frames of one clip never straddle train and held-out parts). Audio outside
    the training split (validation, test) is tagged by the average of the fold models (:func:`tagger_fn`).

    Returns:
        probs (N, K) for the frames of ``train`` (each from the fold model that did not see its clip) and the
        ``folds`` models.
    """
    out_dir = Path(out_dir)
    clips = train.meta["clip"].to_numpy()
    uniq = np.unique(clips)
    rng = np.random.default_rng(seed)
    fold_of_clip = dict(zip(rng.permutation(uniq), np.arange(len(uniq)) % folds))
    fold = np.array([fold_of_clip[c] for c in clips])
    probs = np.zeros((len(train), num_classes), np.float32)
    models = []
    for f in range(folds):
        held = np.flatnonzero(fold == f)
        fit_idx = np.flatnonzero(fold != f)
        model = _fit_tagger(train, fit_idx, held, num_classes, cfg, out_dir / f"fold{f}", seed + f)
        probs[held] = _predict_probs(model, _tagger_dataset(train, held))
        models.append(model)
    return probs, models


def tagger_fn(models: AudioTagger | list[AudioTagger]) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap trained :class:`AudioTagger` (s) as a :class:`Tagger` callable (probabilities averaged)."""
    models = models if isinstance(models, list) else [models]

    def fn(audio: np.ndarray) -> np.ndarray:
        ds = FrameDataset("tagger", None, audio=torch.as_tensor(np.asarray(audio, np.float32)))
        return np.mean([_predict_probs(m, ds) for m in models], axis=0)

    return fn


def switch_dataset(fs: FrameSet, images: Tensor, labels: np.ndarray | None) -> FrameDataset:
    targets = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    return FrameDataset("switch", images, audio=fs.audio, targets=targets)


def balanced_step(weights: Tensor) -> engine.StepFn:
    """Cross entropy with class weights (the released code balanced the switch labels by sub-sampling
    negatives, audit §3.2; weighting keeps every fragment)."""
    import torch.nn.functional as F

    def step(model: torch.nn.Module, batch: dict) -> engine.StepResult:
        out = model(**engine.model_inputs(model, batch))
        target = batch["target"]
        loss = F.cross_entropy(out.logits.float(), target, weight=weights.to(out.logits.device))
        return engine.StepResult(loss, int(target.shape[0]), {"acc": (out.logits.argmax(-1) == target).sum()})

    return step


def train_switch(train: FrameSet, train_images: Tensor, train_labels: np.ndarray, val: FrameSet,
                 val_images: Tensor, val_labels: np.ndarray, cfg: Config, out_dir: str | Path, seed: int = 0
                 ) -> torch.nn.Module:
    """The switch net (SA structure, 2 classes) on (frame, audio) with the tagger's labels."""
    engine.set_seed(seed)
    model = build_model("switch", 2, cfg.model)  # ImageNet encoder when model.imagenet_weights is set
    counts = np.bincount(train_labels, minlength=2).astype(np.float64)
    weights = torch.tensor(counts.sum() / (2 * np.maximum(counts, 1)), dtype=torch.float32)
    tl = engine.make_loader(switch_dataset(train, train_images, train_labels), cfg.train.batch_coarse, True, seed)
    vl = engine.make_loader(switch_dataset(val, val_images, val_labels), 256, False, seed)
    key = run_key(cfg, "switch", seed, weights, *tl.dataset.content(), *vl.dataset.content())
    engine.fit(model, tl, vl, step_fn=balanced_step(weights), cfg=cfg.train, out_dir=out_dir, seed=seed,
               monitor="val_acc", mode="max", desc="switch", run_key=key)
    return model


def switch_probabilities(model: torch.nn.Module, fs: FrameSet, images: Tensor, batch: int = 256) -> np.ndarray:
    """(N,) p_switch = softmax probability of "audio matches the tag" (the soft switch of the G1 code)."""
    out = engine.predict(model, engine.make_loader(switch_dataset(fs, images, None), batch, shuffle=False))
    return switch_probability(out).numpy()
