"""Benchmark target ``scam``: pseudo-fixation frames/s of the coarse + fine SCAM passes, timed through the stage
functions themselves (:func:`stanet_lib.stages.coarse.coarse_set`, :func:`stanet_lib.data.frames.crop_window`,
:func:`stanet_lib.stages.fine.fine_set`) on random nets, beside the naive baseline (fp32, batch 3, no reuse, crops
on the CPU) and the reuse ablation.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import Config
from ..data.frames import FrameSet, crop_window, resized_frames
from ..nets.classifier import Classifier
from ..stages.coarse import coarse_set
from ..stages.fine import fine_set
from ..stages.pseudo import STAGE_NETS
from ..train import engine
from .perf import (
    bench_audio_shape,
    bench_classes,
    bench_setup,
    clip_neighbours,
    device_peaks,
    fast_mode,
    fp32_math,
    measure,
    net_flops,
    random_frames,
    rate_fields,
    run_flags,
    time_variant,
)


def scam_frameset(n: int, canvas: int, cfg: Config, clip: int = 20):
    """A random :class:`~stanet_lib.data.frames.FrameSet` of ``n`` frames in clips of ``clip`` at the canvas size,
    each frame's ``time`` at the profile's frame rate (the pseudo-fixations' smoothing over seconds reads it)."""
    fa = bench_audio_shape(cfg)
    g = torch.Generator().manual_seed(5)
    prev, nxt = clip_neighbours(n, clip)
    pos = np.arange(n) % clip
    meta = pd.DataFrame({"clip": (np.arange(n) // clip), "pos": pos, "video": "bench", "db": "",
                         "number": pos + 1, "time": pos / cfg.media.fps})
    return FrameSet(random_frames(n, (canvas, canvas, 3), seed=6), torch.randn(n, *fa, generator=g).half(),
                    torch.randint(0, bench_classes(cfg), (n,), generator=g), prev, nxt,
                    torch.ones(n, dtype=torch.bool), meta)

def scam_pass(nets: dict[str, torch.nn.Module], fs: FrameSet, cfg: Config, tags: torch.Tensor, p_switch: np.ndarray,
              batch: int, reuse: bool, amp: bool, device: torch.device, on_device: bool = True) -> torch.Tensor:
    """Coarse + fine SCAM pseudo-fixations of a frame set, the work of stages 03 and 04 after training, through their
    own per-set functions: :func:`~stanet_lib.stages.coarse.coarse_set` (tag-class CAMs of S, ST, SA, SA without the
    switch, Eq. 2-3, 2 x mean boxes), :func:`~stanet_lib.data.frames.crop_window`,
    :func:`~stanet_lib.stages.fine.fine_set` (fine CAMs, fusion, recovery, pseudo-fixations). ``on_device``: the
    resizes, crops and recovery on ``device`` (False: on the CPU, as the released code's MATLAB step). Returns the
    pseudo-fixations (N, canvas, canvas)."""
    infer = {"batch_size": batch, "reuse": reuse, "amp": amp, "device": device, "channels_last": amp}
    prep = device if on_device else None
    coarse = coarse_set({k: nets[f"coarse_{k}"] for k in STAGE_NETS}, fs,
                        resized_frames(fs, cfg.model.coarse_size, device=prep), tags, p_switch, cfg, **infer)
    crops = crop_window(fs, coarse["boxes"], cfg.model.fine_size, device=prep)
    out, _ = fine_set({k: nets[f"fine_{k}"] for k in STAGE_NETS}, fs, crops, tags, coarse["boxes"], p_switch, cfg,
                      prep or torch.device("cpu"), **infer)
    return out["pseudo"]

def bench_scam(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pseudo-fixation frames/s of coarse + fine SCAM generation (:func:`scam_pass`, 8 nets) with feature reuse
    and batch 128 (+ bf16 / channels-last on CUDA) beside the naive baseline (fp32, batch 3, no reuse), and the
    reuse ablation (the same settings without reuse: only the coarse ST windows can share features)."""
    cfg, device, quick = bench_setup(args)
    gpu = device.type == "cuda"
    n_fast = 320 if gpu else (24 if quick else 96)
    n_slow = 80 if gpu else (24 if quick else 96)
    nets = {}
    for stage in ("coarse", "fine"):
        for name, kind in STAGE_NETS.items():
            engine.set_seed(len(nets))
            nets[f"{stage}_{name}"] = Classifier(kind, bench_classes(cfg), cfg.model.for_stage(stage)).eval()
    fs = scam_frameset(n_fast, cfg.media.cache_size, cfg)
    warm_fs = scam_frameset(20, cfg.media.cache_size, cfg)
    small = scam_frameset(n_slow, cfg.media.cache_size, cfg) if n_slow != n_fast else fs
    rng = np.random.default_rng(0)

    def go(frames, batch: int, reuse: bool, amp: bool, on_device: bool = True) -> torch.Tensor:
        tags = frames.labels
        return scam_pass(nets, frames, cfg, tags, rng.random(len(frames)).astype(np.float32), batch, reuse, amp,
                         device, on_device)

    repeats = 1
    with fp32_math(device):  # the released code's way: IEEE fp32, batch 3, no reuse, crops on the CPU
        res = {"naive": time_variant("scam naive", lambda: go(small, 3, False, False, False), n_slow, device,
                                 lambda: go(warm_fs, 3, False, False, False), repeats)}
    if gpu:
        res["naive_tf32"] = time_variant("scam naive, TF32", lambda: go(small, 3, False, False, False), n_slow, device,
                                     lambda: None, repeats)
    with fast_mode(device):
        res["fast"] = time_variant("scam fast", lambda: go(fs, 128, True, True), n_fast, device,
                               lambda: go(fs, 128, True, True), repeats)
        res["no_reuse"] = time_variant("scam fast, no reuse", lambda: go(fs, 128, False, True), n_fast, device,
                                   lambda: go(fs, 128, False, True), repeats)
        if gpu:
            res["cpu_crops"] = time_variant("scam fast, crops on the CPU", lambda: go(fs, 128, True, True, False), n_fast,
                                        device, lambda: None, repeats)
    fl = net_flops(cfg, bench_classes(cfg), bench_audio_shape(cfg))
    useful = sum(fl[f"{st}_{k}"]["reuse_per_frame"] * (2 if k == "SA" else 1)
                 for st in ("coarse", "fine") for k in ("S", "ST", "SA"))
    peaks = device_peaks(device)
    size = f"canvas {cfg.media.cache_size}, coarse {cfg.model.coarse_size}, fine {cfg.model.fine_size}"

    def m(name: str, key: str, base_key: str, batch: int, note: str) -> dict[str, Any]:
        r = res[key]
        return measure(name, r["rate"], "frames/s", res[base_key]["rate"], size=size, batch=batch,
                       frames=r["frames"], peak_memory_mb=r["peak_memory_mb"], memory_kind=r["memory_kind"],
                       **rate_fields(r["rate"], useful, peaks), note=note)

    opt = "bf16 + channels-last + autotuning" if gpu else "fp32 (CPU)"
    measures = [m("scam_pseudo_frames_per_s", "fast", "naive", 128,
                  f"8 nets (coarse and fine S, ST, SA, SA without switch), features once for coarse ST, batch 128, "
                  f"{opt}, resizes / crops / recovery on the device; baseline IEEE fp32, batch 3, no reuse, "
                  "crops on the CPU"),
                m("scam_feature_reuse", "fast", "no_reuse", 128,
                  "same settings without reuse (baseline); expected gain small: per frame 12 encoder passes "
                  "without reuse, 10 + 2/128 with (only coarse ST windows share frames)")]
    if gpu:
        measures += [m("scam_pseudo_frames_per_s_vs_tf32", "fast", "naive_tf32", 128,
                       "the fast path against the naive path with TF32 convolutions (a stock PyTorch's default, "
                       "not the released code's fp32)"),
                     m("scam_crops_on_device", "fast", "cpu_crops", 128,
                       "resizes, crops and recovery on the GPU vs on the CPU (baseline), nets the same")]
    extra = {"config": {"profile": cfg.profile, "frames": n_fast, "baseline_frames": n_slow, "clip_frames": 20},
             "flops_gflop_useful_per_frame": useful, "variants": res, **peaks, "flags": run_flags(device)}
    return measures, extra
