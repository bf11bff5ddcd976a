"""Coarse-to-fine SCAM pseudo-fixations (paper §3.4-3.6, Fig. 4): the S, ST and SA classification nets, their
tag-class CAMs, selective fusion (Eq. 2-3), the 2 x mean box, crops, the fine-stage nets, recovery into the
frame. The tensor maths is in :mod:`stanet_lib.scam`; this module holds the CAM passes over a frame set and the
fusion that stages 03 (:mod:`~stanet_lib.stages.coarse`) and 04 (:mod:`~stanet_lib.stages.fine`) share.

Conventions (``../shared/DESIGN.md`` fidelity table):

* CAM of a frame = the class map of the **tag** class, :math:`\\xi`-normalised (Eq. 1); confidence
  :math:`C^v` = softmax probability of the tag class; Eq. 3's soft filter zeroes a source whose top-1 is not
  the tag. For synthetic test clips the tag is the generator's category; for real test sets (no tags) the
  coarse S net's top-1 class stands in (said in the tables).
* The coarse SCAM is resized to the cache canvas (frame resolution) before the box is taken; crops of frames
  t-1, t, t+1 are cut with frame t's box and resized to the fine size; fine maps are pasted back into a zero
  canvas (zero outside the box is inherent to the method).
* The released code's extra behaviours (5-frame smoothing, 3 x mean floor, p > 0.99 hard filter) are applied to
  the final pseudo-fixations only when :class:`~stanet_lib.config.ScamConfig` asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Subset

from .. import scam
from ..config import Config
from ..data.frames import FrameDataset, FrameSet
from ..data.loaders import is_distributed, make_loader
from ..nets.runtime import autocast, eval_on, model_inputs, select_device
from ..nets.windows import padded, window_batches
from ..train import engine
from .world import World, load_net, truth_tags

__all__ = [
    "classifier_dataset", "CamResult", "CAM_BATCH", "tag_cams", "batch_rows", "STAGE_NETS", "stage_nets",
    "set_cams", "batch_aligned", "fuse", "fused_maps", "boxes_from", "postprocess", "set_tags"
]


def classifier_dataset(kind: str, fs: FrameSet, images: Tensor, targets: Tensor | None = None,
                       switch: np.ndarray | None = None, prev_images: Tensor | None = None,
                       next_images: Tensor | None = None, tags: Tensor | None = None) -> FrameDataset:
    """Samples for a classification net of branch ``kind`` over the frames of ``fs``."""
    sw = None if switch is None else torch.as_tensor(switch, dtype=torch.float32)
    extra = {"tag": tags} if tags is not None else None
    return FrameDataset(kind, images, audio=fs.audio if kind == "SA" else None, targets=targets,
                        prev_images=prev_images, next_images=next_images, prev=fs.prev, next=fs.next,
                        switch=sw, extra=extra)


@dataclass
class CamResult:
    """Per frame: class probabilities (N, K) and the tag-class CAM, :math:`\\xi`-normalised (N, h, w)."""

    probs: Tensor
    cams: Tensor

    @property
    def top1(self) -> Tensor:
        return self.probs.argmax(-1)


CAM_BATCH = 128  # frames per batch of a CAM pass (tag_cams' default)


def tag_cams(model: torch.nn.Module, ds: FrameDataset, batch_size: int = CAM_BATCH, reuse: bool = True,
             amp: bool = True, device: torch.device | str | None = None, channels_last: bool = True,
             batches: Sequence[int] | None = None) -> CamResult:
    """Run a classifier over ``ds`` (which carries ``tag`` per sample) and keep the tag-class CAM (Eq. 1).

    ``reuse`` (ST net, windows drawn from the set's own frames, i.e. the coarse stage): each frame is encoded once
    per batch of centre frames and its features serve the three windows it is in (:func:`_st_cams_reuse`);
    the result equals the plain path up to float rounding. Fine-stage ST windows (crops of t-1 and t+1 cut with
    frame t's box) share no features and take the plain path. ``amp``: bf16 autocast, ``channels_last``: 2D convs
    in channels-last memory format, both on CUDA only (never on the CPU).

    ``batches``: run only these batches of the pass over the whole of ``ds`` (batch k holds samples
    ``k * batch_size`` to ``(k + 1) * batch_size - 1``), in order. Each is the same batch, of the same size, as in
    the whole pass, so its maps are bit-equal to that pass's rows: convolutions round differently for other
    batch sizes (:func:`batch_aligned`).
    """
    if "tag" not in ds.extra:
        raise ValueError("tag_cams needs a dataset built with tags=")
    if reuse and ds.kind == "ST" and ds.prev_images is None and ds.next_images is None:
        probs, cams = _st_cams_reuse(model, ds, batch_size, amp, device, channels_last, batches)
        return CamResult(probs, scam.normalize(cams))
    if batches is not None:
        ds = Subset(ds, batch_rows(batches, batch_size, len(ds)).tolist())  # type: ignore[assignment]

    def forward(net: torch.nn.Module, batch: dict) -> tuple[Tensor, Tensor]:
        out = net(**model_inputs(net, batch))
        probs = torch.softmax(out.logits.float(), -1)
        return probs, scam.select_class(out.cams.float(), batch["tag"])

    probs, cams = engine.predict(model, make_loader(ds, batch_size, shuffle=False), forward=forward,
                                 device=device, amp=amp, channels_last=channels_last)
    return CamResult(probs, scam.normalize(cams))


def batch_rows(batches: Sequence[int], batch_size: int, n: int) -> np.ndarray:
    """The sample rows of batches ``batches`` of a pass over ``n`` samples in batches of ``batch_size``."""
    if any(not 0 <= k <= (n - 1) // batch_size for k in batches):
        raise ValueError(f"batches must lie in 0..{(n - 1) // batch_size} for {n} samples in batches of {batch_size}")
    return np.concatenate([np.arange(k * batch_size, min(n, (k + 1) * batch_size)) for k in batches]) \
        if len(batches) else np.zeros(0, np.int64)


def _st_cams_reuse(model: torch.nn.Module, ds: FrameDataset, batch_size: int, amp: bool,
                   device: torch.device | str | None, channels_last: bool = True,
                   batches: Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
    """ST CAMs with features once per frame: per batch of centre frames, encode the frames their windows need
    (:func:`stanet_lib.nets.windows.window_batches`), gather (t-1, t, t+1) features, fuse and classify
    (:meth:`~stanet_lib.nets.classifier.Classifier.forward_features`). Under torchrun the batches are split over the
    ranks and gathered. Returns (probs (N, K), tag-class CAMs (N, h, w)), float32 on the CPU."""
    device = select_device() if device is None else torch.device(device)
    work = window_batches(ds.prev, ds.next, batch_size, only=batches)
    if is_distributed():
        work = work[dist.get_rank()::dist.get_world_size()]
    tags = ds.extra["tag"]
    parts: list[tuple[int, Tensor, Tensor]] = []
    with eval_on(model, device, channels_last) as net, torch.no_grad(), autocast(device, amp):
        for centre, need, pos in work:
            if device.type == "cuda":  # few distinct batch shapes for cuDNN autotuning
                need = padded(need, batch_size)
            x = ds.images[need].to(device, non_blocking=True)  # each needed frame once, uint8 (M, 3, h, w)
            feats = net.encode(x)  # (M, C, h', w')
            out = net.forward_features(torch.stack([feats[pos[0]], feats[pos[1]], feats[pos[2]]], 1))
            probs = torch.softmax(out.logits.float(), -1)
            cams = scam.select_class(out.cams.float(), tags[centre].to(device))
            parts.append((centre.start, probs.cpu(), cams.cpu()))
    if is_distributed():
        gathered: list = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, parts)
        parts = [p for rank_parts in gathered for p in rank_parts]
    if not parts:
        raise ValueError("tag_cams: the frame set is empty")
    parts.sort(key=lambda p: p[0])
    return torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])

# The four nets of a stage: name -> branch; SA with and without the audio switch (Table 3 analogue).
STAGE_NETS: dict[str, str] = {"S": "S", "ST": "ST", "SA": "SA", "SA_noswitch": "SA"}

SA_VARIANTS = {"SA": True, "SA_noswitch": False}  # net name -> fed with p_switch

def stage_nets(world: World, stage: str) -> dict[str, nn.Module]:
    """The trained nets ``<stage>_S``, ``_ST``, ``_SA``, ``_SA_noswitch`` (``stage``: "coarse" | "fine")."""
    return {name: load_net(world, f"{stage}_{name}", kind, stage) for name, kind in STAGE_NETS.items()}


def set_cams(nets: Mapping[str, nn.Module], fs: FrameSet, images: Tensor, tags: Tensor, p_switch: np.ndarray,
             window: tuple[Tensor, Tensor] | None = None, **infer) -> dict[str, CamResult]:
    """Tag-class CAMs of a stage's four nets (:data:`STAGE_NETS`) over a frame set: ``images`` (N, 3, s, s) uint8
    at the stage's size, ``window`` the fine stage's crops of frames t-1 / t+1; ``infer`` goes to :func:`tag_cams`
    (batch_size, reuse, amp, device, channels_last, batches)."""
    out = {}
    for name, kind in STAGE_NETS.items():
        sw = p_switch if SA_VARIANTS.get(name) else None
        prev_i, next_i = window if window is not None else (None, None)
        ds = classifier_dataset(kind, fs, images, switch=sw, prev_images=prev_i, next_images=next_i, tags=tags)
        out[name] = tag_cams(nets[name], ds, **infer)
    return out

def batch_aligned(compute_batch: Callable[[int, np.ndarray], Mapping[str, Tensor]], n: int,
                  batch_size: int = CAM_BATCH) -> Callable[[np.ndarray], dict[str, Tensor]]:
    """Per-frame maps of some rows (a video, for a resumable per-video pass) cut from the batches of the pass over
    all ``n`` frames: ``rows -> maps`` runs ``compute_batch(k, rows_of_batch_k)`` for the batches that hold
    ``rows`` (batch k: frames ``k * batch_size`` to ``(k + 1) * batch_size - 1``) and keeps those the next rows
    may share, so consecutive videos compute each batch once. Batch k is the batch of the same size the whole
    pass runs, so its maps are bit-equal to that pass's rows: on the CPU both the convolutions and the
    bilinear resizes (vectorised over maps) round otherwise for other batch sizes."""
    done: dict[int, dict[str, Tensor]] = {}

    def maps(rows: np.ndarray) -> dict[str, Tensor]:
        ids = sorted({int(r) // batch_size for r in np.asarray(rows)})
        for k in [k for k in done if k not in ids]:  # batches behind these rows are not needed again
            del done[k]
        for k in ids:
            if k not in done:
                done[k] = dict(compute_batch(k, batch_rows([k], batch_size, n)))
        rows = np.asarray(rows, np.int64)
        # each batch's own rows picked before joining: the video's frames copied, not its batches whole
        grouped = [rows[rows // batch_size == k] for k in ids]
        joined = {name: torch.cat([done[k][name][torch.from_numpy(g - k * batch_size)] for k, g in zip(ids, grouped)])
                  for name in done[ids[0]]}
        at = {int(r): i for i, r in enumerate(np.concatenate(grouped))}
        perm = [at[int(r)] for r in rows]
        if perm == list(range(len(rows))):  # rows in increasing order (a clip): already in place
            return joined
        return {name: v[torch.tensor(perm)] for name, v in joined.items()}

    return maps


def fuse(results: Mapping[str, CamResult], tags: Tensor, lam: float = 1e-4) -> dict[str, Tensor]:
    """SCAM (Eq. 2 with the soft filter Eq. 3) and SCAM_avg over the sources in ``results``.

    Returns:
        ``{"SCAM": (N, h, w), "SCAM_avg": (N, h, w), "weights": (N, n_sources)}``.
    """
    names = list(results)
    cams = torch.stack([results[n].cams for n in names], 1)  # (N, n, h, w)
    probs = torch.stack([results[n].probs for n in names], 1)  # (N, n, K)
    weights = scam.soft_filter(probs, tags)  # (N, n)
    return {"SCAM": scam.selective_fusion(cams, weights, lam), "SCAM_avg": scam.average_fusion(cams),
            "weights": weights}

def fused_maps(cams: dict[str, CamResult], tags: Tensor, lam: float) -> dict[str, Tensor]:
    """Every map of a stage from its four CAMs: CAM_<net>, SCAM and SCAM_avg (Eq. 2-3 over S, ST, SA), SCAM_noswitch
    (SA without the switch), the soft-filter weights and each net\'s probabilities."""
    with_switch = fuse({k: cams[k] for k in ("S", "ST", "SA")}, tags, lam)
    without = fuse({"S": cams["S"], "ST": cams["ST"], "SA": cams["SA_noswitch"]}, tags, lam)
    maps = {f"CAM_{k}": v.cams for k, v in cams.items()}
    maps.update(SCAM=with_switch["SCAM"], SCAM_avg=with_switch["SCAM_avg"], SCAM_noswitch=without["SCAM"],
                weights=with_switch["weights"])
    maps.update({f"probs_{k}": v.probs for k, v in cams.items()})
    return maps

def boxes_from(maps: Tensor, canvas: int, factor: float = 2.0) -> Tensor:
    """Paper §3.6: maps resized to the frame (canvas) first, then the tight box over > factor x mean."""
    return scam.coarse_box(scam.resize_maps(maps.float(), canvas), factor)


def postprocess(pseudo: Tensor, fs: FrameSet, cfg: Config, probs: Mapping[str, Tensor] | None = None,
                tags: Tensor | None = None, fallback: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The released code's optional post-processing of the fine SCAM, per clip (audit §4.3-4.4), after
    ``cfg.scam.empty_fallback="coarse"`` has given an all-zero fine SCAM the frame's coarse SCAM (``fallback``,
    (N, h, w), :func:`stanet_lib.scam.fill_empty`).

    Returns:
        (maps (N, H, W), valid (N,) bool): ``valid`` is False for frames the hard filter drops and, with
        ``cfg.scam.drop_empty``, for frames whose map is all zero (no STA training target).
    """
    out = pseudo.clone()
    if cfg.scam.empty_fallback == "coarse" and fallback is not None:
        out = scam.fill_empty(out, torch.as_tensor(fallback).float())
    valid = torch.ones(len(fs), dtype=torch.bool)
    if cfg.scam.temporal_smoothing:
        for _, idx in fs.clips():
            sel = torch.as_tensor(idx)
            out[sel] = scam.temporal_smooth(out[sel], window=5, recursive=True)
    if cfg.scam.smoothing_s > 0:
        times = fs.meta["time"].to_numpy(np.float64)
        for _, idx in fs.clips():
            sel = torch.as_tensor(idx)
            out[sel] = scam.time_window_mean(out[sel], times[idx], cfg.scam.smoothing_s)
    if cfg.scam.mean_floor > 0:
        out = scam.mean_floor(out, cfg.scam.mean_floor)
    if cfg.scam.hard_filter and probs is not None and tags is not None:
        for p in probs.values():
            valid &= scam.hard_filter(p, tags, 0.99)
    if cfg.scam.drop_empty:
        valid &= out.flatten(1).amax(1) > 0
    return out, valid

def set_tags(world: World, set_name: str, images: Tensor) -> tuple[Tensor, str]:
    """Tags for CAMs: AVE labels, the generator's category for synthetic test clips, else the coarse S net's
    top-1 class (real test sets have no tags)."""
    tags = truth_tags(world, set_name)
    if tags is not None:
        return tags, "tag"
    fs = world.sets[set_name]
    net = load_net(world, "coarse_S", "S", "coarse")
    probe = classifier_dataset("S", fs, images, tags=torch.zeros(len(fs), dtype=torch.long))
    return tag_cams(net, probe).top1, "S top-1"
