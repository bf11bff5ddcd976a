"""``python -m stanet_lib predict VIDEO --out DIR``: fixation maps of the trained STA net for any video file.

Any container FFmpeg reads, any resolution and frame rate, with or without an audio track:

* frames are chosen by timestamp (:func:`stanet_lib.data.media.read_frames`) at ``--fps`` (default the profile's
  ``media.fps``, the rate the nets were trained at; ``--fps 0`` = the file's own average rate, i.e. every frame
  of a constant-frame-rate video), resized exactly as the training frames were (square cache canvas, then the
  STA input size);
* audio: 16 kHz mono, one feature window per frame (:func:`stanet_lib.data.audio.frame_features`). A file **without an
  audio track** is said on the console and gets p_switch = 0 (Eq. 5's audio term off: SA = S); its features are
  those of silence, as the data stage stores them for such clips (with p = 0 they do not enter the output);
* p_switch comes from the audio switch net the pipeline trained (``nets/switch/best.pt``), unless the STA net
  was trained without the switch (its ``config.json`` says so) or ``--no-switch`` is given (p = 1);
* each frame is encoded once and its features reused across the windows (t-1, t, t+1)
  (:func:`stanet_lib.nets.windows.predict_frames`).

Outputs in ``--out`` (written to a temporary folder next to it and renamed when complete, so a failure leaves
nothing behind; a folder left by a killed run is removed by the next one). The folder carries the package's marker
(:data:`stanet_lib.artefacts.OUTPUT_MARKER`): ``--overwrite`` replaces only a folder with that marker and refuses
any other, so a folder of the user's is never deleted: ``maps.npz`` (``maps`` (T, s, s) float16 = sigmoid of the logits at the STA size, ``times``
(T,) s, ``p_switch`` (T,), ``audio_present``, ``fps``, ``size`` (H, W) of the video), ``maps/map_%05d.png``
(per frame, at the video's resolution, divided by the frame's maximum), ``overlay.mp4`` (the map over each frame,
h264, with the file's audio resampled to 16 kHz mono as AAC; frame k spans [k / fps, (k + 1) / fps), the
interval around its sampling time (k + 0.5) / fps).

Default checkpoint: ``<data-root>/runs/<profile>/nets/sta/best.pt`` (what ``run`` / notebook 05 trained); its
``config.json`` gives the model, audio and media settings it was trained with.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .artefacts import OUTPUT_MARKER, clean_partials, is_package_output, mark_output
from .config import PROFILES, Config, load_profile, parse_overrides
from .data import audio as audio_mod
from .data import encode, media
from .data.frames import FrameDataset, frames_for_sta
from .data.loaders import make_loader
from .nets.classifier import audio_switch_net, switch_probability, switch_window_mean
from .nets.runtime import select_device
from .nets.windows import predict_frames
from .paths import profile_dirs
from .stages.sta import load_sta
from .train import engine
from .viz import render as viz

CONFIG_SECTIONS = ("model", "audio", "media")  # taken from the checkpoint's config.json when it has one


@dataclass
class PredictResult:
    """What ``predict`` wrote: the output folder, frames, rate, whether audio was present, the mean p_switch."""

    out: Path
    frames: int
    fps: float
    audio_present: bool
    p_switch_mean: float


def default_checkpoint(profile: str, data_root: str | Path | None = None) -> Path:
    """``<data-root>/runs/<profile>/nets/sta/best.pt``."""
    return profile_dirs(profile, Path(data_root) if data_root else None)["runs"] / "nets" / "sta" / "best.pt"


def resolve_config(cfg: Config, checkpoint: Path, overrides: dict | None = None) -> tuple[Config, bool]:
    """The profile's config with the checkpoint's own model/audio/media settings (``config.json`` beside it),
    then ``overrides``; and whether the net was trained with the audio switch (True when unknown)."""
    side = checkpoint.parent / "config.json"
    use_switch = True
    if side.is_file():
        try:
            saved = json.loads(side.read_text())
            trained = {f"{sec}.{k}": v for sec in CONFIG_SECTIONS for k, v in saved["config"][sec].items()}
            cfg = cfg.override(**trained)
            use_switch = bool(saved.get("use_switch", True))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{side}: not a readable STA config.json ({exc})") from exc
    return cfg.override(**(overrides or {})), use_switch


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad (T, H, W, 3) to even H and W by repeating the last row / column (h264 yuv420p needs even sizes)."""
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else frames


def _switch_probs(path: Path, cfg: Config, canvas: np.ndarray, feats: torch.Tensor, device: str) -> np.ndarray:
    net = engine.load_weights(audio_switch_net(cfg.model), path)
    ds = FrameDataset("switch", frames_for_sta(canvas, cfg.model.coarse_size), audio=feats)
    out = engine.predict(net, make_loader(ds, 64, shuffle=False), device=device)
    return switch_probability(out).numpy()


def _write_outputs(tmp: Path, frames: np.ndarray, times: np.ndarray, maps: np.ndarray, p: np.ndarray,
                   present: bool, fps: float, wave: np.ndarray, sr: int) -> None:
    h, w = frames.shape[1:3]
    np.savez(tmp / "maps.npz", maps=maps.astype(np.float16), times=times, p_switch=p.astype(np.float32),
             audio_present=np.bool_(present), fps=np.float64(fps), size=np.array([h, w]))
    (tmp / "maps").mkdir()
    overlays = np.empty_like(frames)
    for k, m in enumerate(maps):
        big = np.asarray(Image.fromarray(m.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR))
        grey = np.round(np.clip(big / max(float(big.max()), 1e-12), 0, 1) * 255).astype(np.uint8)
        Image.fromarray(grey).save(tmp / "maps" / f"map_{k + 1:05d}.png")
        overlays[k] = viz.overlay(frames[k], m, alpha=0.5)
    encode.write_mp4(tmp / "overlay.mp4", _even(overlays), fps, wave if present else None, sample_rate=sr)


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that exists, unless ``overwrite`` and it is a folder this package wrote."""
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise FileExistsError(f"{out}: already exists; pass --overwrite to replace it, or choose another --out")
    if not is_package_output(out):
        raise FileExistsError(f"{out}: not a folder written by predict (no {OUTPUT_MARKER} marker); it is left "
                              f"untouched: choose another --out")


def predict_video(video: str | Path, out: str | Path, checkpoint: str | Path, cfg: Config,
                  switch_checkpoint: str | Path | None = None, use_switch: bool = True, fps: float | None = None,
                  overwrite: bool = False, batch: int = 32, device: str = "auto", log: Callable = print
                  ) -> PredictResult:
    """Fixation maps and an overlay video for one file (module docstring).

    Args:
        cfg: the config the net was trained with (:func:`resolve_config`).
        switch_checkpoint: the audio switch net; required when ``use_switch`` and the video has audio.
        fps: sampling rate; None = ``cfg.media.fps``; 0 = the file's own average rate.

    Raises:
        FileNotFoundError: a checkpoint is missing. FileExistsError: ``out`` exists and not ``overwrite``.
        stanet_lib.data.media.MediaError: the video is missing, corrupt or truncated. ValueError: other bad input.
    """
    video, out, checkpoint = Path(video), Path(out), Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"STA checkpoint not found: {checkpoint} (train it with notebook 05 / "
                                f"`python -m stanet_lib run`, or pass --checkpoint)")
    if use_switch and (switch_checkpoint is None or not Path(switch_checkpoint).is_file()):
        raise FileNotFoundError(f"audio switch checkpoint not found: {switch_checkpoint} (pass "
                                f"--switch-checkpoint, or --no-switch to run with the gate open)")
    _check_out(out, overwrite)
    dev = str(select_device(device))
    net = load_sta(checkpoint, cfg.model)
    info = media.probe(video)
    rate = cfg.media.fps if fps is None else float(fps)
    if rate < 0:
        raise ValueError(f"--fps must be >= 0, got {rate}")
    if rate == 0:
        if info.fps <= 0:
            raise media.MediaError(f"{video}: the file does not state its frame rate; pass --fps")
        rate = info.fps
    frames, times = media.read_frames(video, rate, None)  # (T, H, W, 3) native, (T,)
    wave, present, _ = media.read_audio(video, cfg.media.sample_rate)
    sr = cfg.media.sample_rate
    feats = torch.from_numpy(audio_mod.frame_features(wave, sr, times, cfg.audio))  # (T, F, A)
    canvas = np.stack([media.resize_square(f, cfg.media.cache_size) for f in frames])  # (T, S, S, 3)
    t = len(frames)
    if not present:
        log(f"note: {video.name} has no audio track: p_switch = 0 (the audio term of Eq. 5 is off), "
            "audio features of silence")
        p = np.zeros(t, np.float32)
    elif use_switch:
        p = switch_window_mean(_switch_probs(Path(switch_checkpoint), cfg, canvas, feats, dev), times,
                               cfg.model.switch_smoothing_s)
    else:
        p = np.ones(t, np.float32)
    pos = torch.arange(t)
    maps = predict_frames(net, frames_for_sta(canvas, cfg.model.sta_size), feats,
                              (pos - 1).clamp(min=0), (pos + 1).clamp(max=t - 1), p, batch, dev).numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_partials(out.parent, out.name, log)
    _check_out(out, overwrite)  # again: another process may have written it meanwhile
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    tmp.mkdir()
    mark_output(tmp)
    try:
        _write_outputs(tmp, frames, times, maps, p, present, rate, wave, sr)
        if out.exists():  # overwrite: swap, then delete the old folder
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if is_package_output(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"{video.name}: {t} frames at {rate:g} fps ({info.width}x{info.height}), audio "
        f"{'present' if present else 'absent'}, mean p_switch {float(p.mean()):.2f} -> {out}")
    return PredictResult(out, t, rate, present, float(p.mean()))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib predict``."""
    p.add_argument("video", type=Path, help="any video file FFmpeg reads, with or without audio")
    p.add_argument("--out", type=Path, required=True, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="STA weights (default: <data-root>/runs/<profile>/nets/sta/best.pt)")
    p.add_argument("--switch-checkpoint", type=Path, default=None,
                   help="audio switch weights (default: nets/switch/best.pt beside the STA net's folder)")
    p.add_argument("--no-switch", action="store_true", help="run with the audio gate open (p_switch = 1)")
    p.add_argument("--profile", choices=PROFILES, default="demo", help="config profile")
    p.add_argument("--data-root", default="", help="root of runs/ (default: the project's data/)")
    p.add_argument("--fps", type=float, default=None,
                   help="frames per second to sample (default: the profile's media.fps; 0 = every frame)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set media.fps=2 (repeatable)")
    p.add_argument("--batch", type=int, default=32, help="frames per inference step")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the nets run")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out folder, only one that predict wrote (it carries the marker)")


def run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib predict VIDEO --out DIR``."""
    checkpoint = args.checkpoint or default_checkpoint(args.profile, args.data_root or None)
    cfg, trained_with_switch = resolve_config(load_profile(args.profile), Path(checkpoint),
                                              parse_overrides(args.overrides))
    switch_ckpt = args.switch_checkpoint or Path(checkpoint).parent.parent / "switch" / "best.pt"
    predict_video(args.video, args.out, checkpoint, cfg, switch_ckpt,
                  use_switch=trained_with_switch and not args.no_switch, fps=args.fps,
                  overwrite=args.overwrite, batch=args.batch, device=args.device)
    return 0  # a user error (missing file, corrupt video, bad option) is one line: stanet_lib.cli.main
