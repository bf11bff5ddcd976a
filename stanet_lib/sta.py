"""The STA fixation prediction net (paper §3.8, Fig. 6-D, Eq. 5-6): model, loss, training, inference.

Data flow (one shared VGG16 encoder, :class:`~stanet_lib.models.VGG16Encoder`, over frames t-1, t, t+1):

* S  = encoder(frame t) (B, C, h, w); A = :class:`~stanet_lib.models.AudioEncoder` vector of frame t's audio;
* SA = ReLU(p * sigmoid(Att(A, S)) * S + S) (Eq. 4 as the SA net applies it: :class:`~stanet_lib.models.AudioGate`,
  p = p_switch of the audio switch; ``switch=None`` = gate open, p = 1);
* ST = ReLU(sigmoid(T) * S + S), T = Conv3d over the three frames' features
  (:class:`~stanet_lib.models.TemporalGate`);
* STA = ReLU(Conv1x1(Concat(SA, ST))) (Eq. 5);
* logits = Dec(STA) (B, 1, H, W): ``ModelConfig.sta_decoder="deconv"`` (default, paper: "a typical decoder with
  three de-convolutional layers"): three 4x4 stride-2 transposed convolutions, the encoder's stride 8 back to the
  input size (a final bilinear resize only when H or W is not a multiple of 8 or the stride is not 8);
  ``"skip"``: the released G1 decoder (audit §5.1): bilinear up-sampling to the two finer encoder levels, each
  concatenated with a 1x1 projection of frame t's features there, a 3x3 conv after each, a 1x1 conv to one map
  and a bilinear resize to the input size, with no non-linearity between the convs (as released).

Loss (Eq. 6): binary cross entropy **with logits** against the **centre frame's** pseudo-fixation, resized from
the cache canvas to ``ModelConfig.sta_size``. Two bugs of the released code are deliberately *not* reproduced
(``reference/original_code_audit.md`` §5.4): G1 applied ``BCEWithLogitsLoss`` to an already sigmoided output
(predictions squashed to [0.5, 0.73]), and took the target from frame t+1 while predicting frame t. Differences
from the code's fusion (audit §5.1): Eq. 5 concatenates only SA and ST (the code also concatenated S) and applies
the ReLU after the 1x1 conv (the code had none). No category tag is needed at inference.

Encoder initialisation (:func:`init_encoder`): the paper's encoder starts from ImageNet VGG16; here
``model.imagenet_weights`` when given, else (``TrainConfig.sta_encoder_init``, default ``"coarse_S"``) the
encoder of the trained coarse S classification net, the only pretrained VGG16 available offline. It saw the
same tags only, so the STA net still learns from pseudo-fixations alone. Measured on the demo world (idle
2-core CPU, 8 epochs, the same seed): validation CC with the pseudo-fixations 0.60 from coarse_S vs 0.35 from
random; on the synthetic test sets CC 0.35-0.37 vs 0.25-0.28. ``""`` gives a random encoder.

Inference computes each frame's encoder features once and reuses them across the overlapping windows
(:meth:`STANet.encode` + :meth:`STANet.forward_features`, :func:`predict_frames`); the result equals the plain
:meth:`STANet.forward` in eval mode. :func:`stage_sta` is the pipeline stage (notebook 05).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Subset

from . import engine, pseudo, stages
from .artefacts import atomic_path, digest, file_fingerprint, make_manifest, write_json
from .config import Config, ModelConfig
from .datasets import FrameDataset, FrameSet, resized_frames, to_float
from .evaluation import EvalOptions, evaluate_db, write_prediction_maps
from .models import (AudioEncoder, AudioGate, TemporalGate, VGG16Encoder, _init_weights, load_imagenet,
                     scaled_channels)
from .stavis import StavisRoot, fold_list_files

DECODERS = ("deconv", "skip")
BLOCK_CHANNELS = (64, 128, 256, 512, 512)  # VGG16 conv blocks 1-5 (times ModelConfig.width)


class FrameFeatures(NamedTuple):
    """Per-frame encoder output: ``top`` (N, C, h, w), and for the skip decoder the two finer pyramid levels
    ``skips`` (coarse to fine, e.g. (N, C3, H/4, W/4), (N, C2, H/2, W/2)); ``()`` for the deconv decoder."""

    top: Tensor
    skips: tuple[Tensor, ...] = ()


class STAOutput(NamedTuple):
    """logits (B, 1, H, W) (sigmoid = the fixation map); sta (B, C, h, w) Eq. 5; sa, st (B, C, h, w) the two
    fused streams; temporal_gate sigmoid(T) (B, C, h, w); audio_att sigmoid(Att(A, S)) (B, 1, h, w);
    p (B,) the switch value used."""

    logits: Tensor
    sta: Tensor
    sa: Tensor
    st: Tensor
    temporal_gate: Tensor
    audio_att: Tensor
    p: Tensor


def _select(ff: FrameFeatures, idx: Tensor | slice) -> FrameFeatures:
    return FrameFeatures(ff.top[idx], tuple(s[idx] for s in ff.skips))


class DeconvDecoder(nn.Module):
    """Three 4x4 stride-2 transposed convolutions C -> C/2 -> C/4 -> 1 (BN + ReLU between them when the encoder
    has batch norm): x8 up-sampling, the encoder's stride 8 back to the input size."""

    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        c1, c2 = max(4, channels // 2), max(4, channels // 4)
        layers: list[nn.Module] = []
        for a, b in ((channels, c1), (c1, c2)):
            layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.ConvTranspose2d(c2, 1, 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)
        for m in self.net.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, skips: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        out = self.net(x)  # (B, 1, 8h, 8w)
        if tuple(out.shape[-2:]) != tuple(size):
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out


class SkipDecoder(nn.Module):
    """The released G1 decoder (audit §5.1): up -> cat(proj(skip_1)) -> 3x3, up -> cat(proj(skip_2)) -> 3x3,
    1x1 -> one map, bilinear to the input size; linear between the convs, as released."""

    def __init__(self, channels: int, skip_channels: Sequence[int]) -> None:
        super().__init__()
        d = max(4, channels // 2)
        self.proj = nn.ModuleList([nn.Conv2d(c, d, 1) for c in skip_channels])
        ins = [channels + d] + [2 * d] * (len(skip_channels) - 1)
        self.refine = nn.ModuleList([nn.Conv2d(c, d, 3, padding=1) for c in ins])
        self.predict = nn.Conv2d(d, 1, 1)
        _init_weights(self)

    def forward(self, x: Tensor, skips: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        for proj, refine, skip in zip(self.proj, self.refine, skips):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = refine(torch.cat([x, proj(skip)], dim=1))
        return F.interpolate(self.predict(x), size=size, mode="bilinear", align_corners=False)


class STANet(nn.Module):
    """STA fixation prediction net (Fig. 6-D). Inputs: ``frames`` (B, 3, 3, H, W) = [B, T, C, H, W] (t-1, t, t+1)
    in [0, 1], ``audio`` (B, 1, F, S) of frame t, ``switch`` (B,) p_switch in [0, 1] or None (gate open).

    Example:
        >>> net = STANet(ModelConfig(width=1 / 16, audio_channels=8)).eval()
        >>> out = net(torch.rand(2, 3, 3, 32, 32), torch.randn(2, 1, 64, 101), torch.tensor([0.2, 0.9]))
        >>> out.logits.shape  # (2, 1, 32, 32)
    """

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or ModelConfig()
        if cfg.sta_decoder not in DECODERS:
            raise ValueError(f"ModelConfig.sta_decoder must be one of {DECODERS}, got {cfg.sta_decoder!r}")
        self.decoder_kind, self.hard_switch = cfg.sta_decoder, cfg.hard_switch
        self.encoder = VGG16Encoder(cfg.width, cfg.output_stride, cfg.batch_norm)
        c = self.encoder.out_channels
        self.audio = AudioEncoder(cfg.audio_channels)
        self.temporal = TemporalGate(c)
        self.audio_gate = AudioGate(c, cfg.audio_channels)
        self.fuse = nn.Conv2d(2 * c, c, 1)  # Eq. 5: Cov(Con(SA, ST))
        _init_weights(self.temporal)
        _init_weights(self.audio_gate)
        _init_weights(self.fuse)
        # pyramid block i has stride min(2**i, output_stride); the skip decoder takes the two finer than the top
        self.skip_levels = [i for i in range(5) if 2 ** i < cfg.output_stride][-2:][::-1]  # coarse to fine
        if cfg.sta_decoder == "deconv":
            self.decoder: nn.Module = DeconvDecoder(c, cfg.batch_norm)
        else:
            widths = [scaled_channels(v, cfg.width) for v in BLOCK_CHANNELS]
            self.decoder = SkipDecoder(c, [widths[i] for i in self.skip_levels])

    def encode(self, frames: Tensor) -> FrameFeatures:
        """(N, 3, H, W) frames in [0, 1] -> per-frame :class:`FrameFeatures` (computed once, reusable)."""
        if self.decoder_kind == "deconv":
            return FrameFeatures(self.encoder(frames))
        levels = self.encoder.pyramid(frames)  # block outputs, before their pool
        top = levels[4] if self.encoder.output_stride < 32 else F.max_pool2d(levels[4], 2, 2)
        return FrameFeatures(top, tuple(levels[i] for i in self.skip_levels))

    def _switch(self, switch: Tensor | None, b: int, ref: Tensor) -> Tensor:
        p = torch.ones(b, device=ref.device, dtype=ref.dtype) if switch is None else switch.to(ref.dtype)
        if p.shape != (b,):
            raise ValueError(f"switch must be (B,) = ({b},), got {tuple(p.shape)}")
        return (p > 0.5).to(ref.dtype) if self.hard_switch else p

    def forward_features(self, prev: FrameFeatures, centre: FrameFeatures, next: FrameFeatures, audio: Tensor,
                         switch: Tensor | None, out_size: tuple[int, int]) -> STAOutput:
        """Eq. 5 and the decoder from precomputed features of frames t-1, t, t+1 (each (B, C, h, w))."""
        s = centre.top  # (B, C, h, w)
        b = s.shape[0]
        if audio.dim() != 4 or audio.shape[0] != b:
            raise ValueError(f"audio must be (B, 1, F, S) with B = {b}, got {tuple(audio.shape)}")
        st, gate = self.temporal(torch.stack([prev.top, s, next.top], dim=1))  # (B, 3, C, h, w) -> (B, C, h, w)
        p = self._switch(switch, b, s)
        sa, att = self.audio_gate(s, self.audio.embed(audio), p)  # Eq. 4
        sta = F.relu(self.fuse(torch.cat([sa, st], dim=1)))  # Eq. 5, (B, C, h, w)
        logits = self.decoder(sta, centre.skips, tuple(out_size))  # (B, 1, H, W)
        return STAOutput(logits, sta, sa, st, gate, att, p)

    def forward(self, frames: Tensor, audio: Tensor, switch: Tensor | None = None) -> STAOutput:
        if frames.dim() != 5 or frames.shape[1:3] != (3, 3):
            raise ValueError(f"STA expects frames (B, 3, 3, H, W) = [B, T, C, H, W], got {tuple(frames.shape)}")
        b, h, w = frames.shape[0], frames.shape[-2], frames.shape[-1]
        feats = self.encode(frames.flatten(0, 1))  # (B*3, ...): one shared encoder
        idx = torch.arange(b, device=frames.device) * 3
        return self.forward_features(_select(feats, idx), _select(feats, idx + 1), _select(feats, idx + 2),
                                     audio, switch, (h, w))


# ------------------------------------------------------------------------------------------ loss and data


def _pearson(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample correlation of (B, ...) maps (a training-curve diagnostic, not the evaluation's CC)."""
    a, b = a.flatten(1), b.flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def sta_step(model: nn.Module, batch: dict) -> engine.StepResult:
    """Eq. 6: BCE with logits against ``batch["pseudo"]`` (B, 1, H, W), the centre frame's pseudo-fixation.
    Also sums ``cc`` (per-sample correlation of sigmoid(logits) and the target) for the training curve."""
    out = model(**engine.model_inputs(model, batch))
    logits, target = out.logits.float(), batch["pseudo"].float()
    if logits.shape != target.shape:
        raise ValueError(f"pseudo-fixation targets {tuple(target.shape)} do not match the logits "
                         f"{tuple(logits.shape)}")
    loss = F.binary_cross_entropy_with_logits(logits, target)
    with torch.no_grad():
        cc = _pearson(torch.sigmoid(logits), target).sum()
    return engine.StepResult(loss, int(target.shape[0]), {"cc": cc})


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


# ---------------------------------------------------------------------------------------------- inference


def predict_frames(model: STANet, images: Tensor, audio: Tensor, prev: Tensor, next: Tensor,
                   switch: np.ndarray | Tensor | None = None, batch: int = 64,
                   device: torch.device | str | None = None, amp: bool = True,
                   compile_nets: bool = False) -> Tensor:
    """Fixation maps sigmoid(logits) of every frame, encoding each frame once (features-once inference).

    One code path with the benchmark: :func:`stanet_lib.speed.sta_predict` (uint8 frames shipped to the device
    in chunks, indices prepared on the host, bf16 + channels-last + padded batch shapes on CUDA).

    Args:
        images: (N, 3, H, W) frames, uint8 or float in [0, 1], at the STA input size.
        audio: (N, F, A) per-frame audio features.
        prev, next: (N,) indices of frames t-1 / t+1 (clamped at clip ends, as in :class:`FrameSet`).
        switch: (N,) p_switch, or None (gate open).
        batch: centre frames per step; the features of a step's frames and their neighbours are computed once.
        compile_nets: ``torch.compile`` the encoder and head (CUDA; measured 1.57x on an H200, see
            :func:`stanet_lib.speed.sta_predict`).

    Returns:
        (N, H, W) float32 in (0, 1).
    """
    from .speed import sta_predict  # validates the inputs

    return sta_predict(model, images, audio, prev, next, switch, batch=batch, device=device, amp=amp,
                       compile_nets=compile_nets)


def frames_for_sta(canvas_frames: np.ndarray | Tensor, size: int) -> Tensor:
    """(T, S, S, 3) uint8 canvas frames -> (T, 3, size, size) uint8, the resize the training data had
    (:func:`stanet_lib.datasets.resized_frames`)."""
    x = torch.as_tensor(np.ascontiguousarray(canvas_frames))
    return (to_float(x, size) * 255).round().to(torch.uint8)


# ------------------------------------------------------------------------------------- stage 05 (notebook)

# name -> (net trained with the switch?, p_switch fed at inference: "switch" | "open" | "none", description)
PREDICTION_VARIANTS: dict[str, tuple[str, str, str]] = {
    "sta": ("sta", "switch", "STA net, audio switch p_switch (Eq. 5)"),
    "sta_gate_open": ("sta", "open", "same net, switch forced open (p = 1)"),
    "sta_noswitch": ("sta_noswitch", "none", "STA net trained and run without the switch (p = 1)"),
}


def load_targets(world: stages.World, set_name: str, size: int) -> tuple[Tensor, np.ndarray]:
    """The stage-04 pseudo-fixations of a frame set at the STA size, (N, 1, size, size) float16, and ``valid``.

    Raises:
        FileNotFoundError: stage 04 has not run. ValueError: its frames are not the frame set's (stale maps).
    """
    path = world.maps_path("fine", set_name)
    maps = pseudo.load_maps(path)
    fs = world.sets[set_name]
    for key in ("pseudo", "video", "number"):
        if key not in maps:
            raise ValueError(f"{path}: no {key!r} array (keys {sorted(maps)}); re-run stage 04")
    same = (len(maps["video"]) == len(fs) and (maps["video"] == fs.meta["video"].astype(str).to_numpy()).all()
            and (maps["number"] == fs.meta["number"].to_numpy()).all())
    if not same:
        raise ValueError(f"{path}: its {len(maps['video'])} frames are not the {len(fs)} cached frames of "
                         f"{set_name} (stale maps); re-run stage 04")
    valid = maps["valid"].astype(bool) if "valid" in maps else np.ones(len(fs), bool)
    return resize_targets(maps["pseudo"], size), valid


def encoder_source(cfg: Config) -> str:
    """``"imagenet"`` (``model.imagenet_weights`` set), the net ``train.sta_encoder_init`` names, or ``"random"``."""
    return "imagenet" if cfg.model.imagenet_weights else (cfg.train.sta_encoder_init or "random")


def init_encoder(model: STANet, world: stages.World) -> str:
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
    enc = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    try:
        model.encoder.load_state_dict(enc, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: its encoder does not fit the STA encoder (train.sta_encoder_init={name!r}): "
                         f"{str(exc).splitlines()[0]}") from exc
    return name


def _fingerprint(world: stages.World, use_switch: bool, seed: int) -> str:
    inputs = {k: file_fingerprint(world.maps_path("fine", k)) for k in ("train", "val")}
    inputs["switch"] = file_fingerprint(world.runs / "switch.npz") if use_switch else None
    source = encoder_source(world.cfg)
    if source not in ("imagenet", "random"):
        source = file_fingerprint(world.net_dir(source) / "best.pt")
    inputs["init"] = source
    skip = ("progress", "num_workers")  # do not change the result
    train = {k: v for k, v in dataclasses.asdict(world.cfg.train).items() if k not in skip}
    return digest({"model": dataclasses.asdict(world.cfg.model), "train": train, "seed": seed,
                   "use_switch": use_switch, "inputs": inputs})


def train_sta(world: stages.World, name: str, use_switch: bool, images: dict[str, Tensor], seed: int = 0
              ) -> tuple[STANet, engine.FitResult]:
    """Train one STA net into ``nets/<name>/`` (frames with ``valid == False`` left out; best val BCE kept).

    Resumes ``last.pt`` only when the config, seed and input artefacts are those it was started with
    (``run_key.json``; otherwise it starts over); writes ``config.json`` (the resolved config, read back by ``predict``).
    """
    cfg, size, out_dir = world.cfg, world.cfg.model.sta_size, world.net_dir(name)
    p_switch = stages.load_switch(world) if use_switch else None
    data = {}
    for split in ("train", "val"):
        targets, valid = load_targets(world, split, size)
        sw = None if p_switch is None else p_switch[split]
        ds = sta_dataset(world.sets[split], images[split], sw, targets)
        idx = np.flatnonzero(valid)
        if len(idx) == 0:
            raise ValueError(f"{world.maps_path('fine', split)}: no valid pseudo-fixation to train on")
        data[split] = Subset(ds, idx.tolist())
    key = _fingerprint(world, use_switch, seed)  # other config or inputs: start over (engine.fit run_key)
    write_json(out_dir / "config.json", {"config": cfg.to_dict(), "use_switch": use_switch})
    engine.set_seed(seed)
    model = STANet(cfg.model)
    init_encoder(model, world)
    tl = engine.make_loader(data["train"], cfg.train.batch_sta, True, seed, cfg.train.num_workers)
    vl = engine.make_loader(data["val"], max(64, cfg.train.batch_sta), False, seed, cfg.train.num_workers)
    fit = engine.fit(model, tl, vl, step_fn=sta_step, cfg=cfg.train, out_dir=out_dir, seed=seed,
                     monitor="val_loss", mode="min", desc=name, run_key=key)
    return model, fit


def load_sta(path: str | Path, cfg: ModelConfig) -> STANet:
    """An STA net with the weights of a ``best.pt`` / ``last.pt`` (clear error when they do not fit ``cfg``)."""
    model = STANet(cfg)
    try:
        return engine.load_weights(model, path)
    except RuntimeError as exc:  # load_state_dict: missing / unexpected keys, shape mismatch
        raise ValueError(f"{path}: not an STA checkpoint of this model configuration (width={cfg.width}, "
                         f"decoder={cfg.sta_decoder}, audio_channels={cfg.audio_channels}): {exc}") from exc


def video_frames(fs: FrameSet, maps: Tensor | np.ndarray) -> dict[str, dict[int, np.ndarray]]:
    """``{video: {frame number: (H, W) map}}`` (the evaluation's array source, 1-based STAViS numbers)."""
    arr = np.asarray(maps)
    out: dict[str, dict[int, np.ndarray]] = {}
    for i, (video, number) in enumerate(zip(fs.meta["video"].astype(str), fs.meta["number"])):
        out.setdefault(video, {})[int(number)] = arr[i]
    return out


def eval_splits(stavis_root: str | Path, db: str) -> tuple[int, ...]:
    """The test folds of a database (``<db>_list_test_<k>_fps.txt``); (1, 2, 3) for a single fixed list (DIEM)."""
    files = fold_list_files(StavisRoot(stavis_root).fold_dir)
    ks = sorted(k for (d, kind, k) in files if d == db and kind == "test" and k is not None)
    return tuple(ks) or (1, 2, 3)


def write_results(pred_root: str | Path, stavis_root: str | Path, db: str,
                  frames: dict[str, dict[int, np.ndarray]]) -> int:
    """Write maps in the STAViS results layout, one ``split<k>_results`` per fold that lists the video.

    Each map is divided by its maximum first (the released code's ``/max * 255``, audit §5.5) so the 8-bit
    JPEG keeps its precision; the protocol min-max normalises anyway. Returns the number of files written.
    """
    folds = StavisRoot(stavis_root).test_folds(db, eval_splits(stavis_root, db))
    written = 0
    for k, entries in folds.items():
        for e in entries:
            if e.name not in frames:
                continue
            scaled = {f: m / max(float(np.max(m)), 1e-12) for f, m in frames[e.name].items()}
            write_prediction_maps(pred_root, db, k, e.name, scaled)
            written += len(scaled)
    return written


def stage_sta(world: stages.World, seed: int = 0, log=print) -> dict[str, pd.DataFrame]:
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
    dev = engine.select_device()  # the resize runs where the nets run
    images = {name: resized_frames(fs, size, device=dev) for name, fs in world.sets.items()}
    nets: dict[str, STANet] = {}
    train_rows = []
    for name, use_switch in [("sta", True)] + ([("sta_noswitch", False)] if cfg.train.sta_noswitch else []):
        log(f"STA net {name} ...")
        t1 = time.perf_counter()
        nets[name], fit = train_sta(world, name, use_switch, images, seed)
        best = fit.history[fit.best_epoch - 1] if fit.history else {}
        train_rows.append({"net": name, "switch": use_switch, "encoder_init": encoder_source(cfg),
                           "epochs": fit.epochs_done, "best_epoch": fit.best_epoch,
                           "val_bce": fit.best_value, "val_cc": best.get("val_cc", float("nan")),
                           "train_bce": best.get("train_loss", float("nan")),
                           "seconds": round(time.perf_counter() - t1, 1)})
    p_switch = stages.load_switch(world)
    opts = EvalOptions.from_config(cfg.eval)
    rows, per_video = [], []
    for set_name in world.test_sets():
        fs, db = world.sets[set_name], set_name.split(":", 1)[1]
        log(f"STA predictions {set_name} ({len(fs)} frames) ...")
        maps: dict[str, Tensor] = {}
        for variant, (net, feed, _) in PREDICTION_VARIANTS.items():
            if net not in nets:
                continue
            sw = {"switch": p_switch[set_name], "open": np.ones(len(fs), np.float32), "none": None}[feed]
            maps[variant] = predict_frames(nets[net], images[set_name], fs.audio, fs.prev, fs.next, sw)
        pseudo.save_maps(world.maps_path("sta", set_name), fs, maps)
        splits = eval_splits(world.stavis_root, db)
        for variant, m in maps.items():
            frames = video_frames(fs, m.numpy())
            write_results(world.runs / "predictions" / variant, world.stavis_root, db, frames)
            res = evaluate_db(world.stavis_root, db, frames, splits, opts)
            for line in res.missing:
                log(f"  not scored: {line}")
            n_ok = int((res.per_video["status"] == "ok").sum())
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
