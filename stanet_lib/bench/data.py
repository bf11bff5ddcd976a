"""Benchmark target ``data``: the data stage (synthetic world + prep) beside a naive per-frame baseline.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from ..config import Config, load_profile
from ..data import audio, media, synthetic
from ..data.cache import cache_config, prepare
from ..paths import profile_dirs
from .perf import measure


def naive_prepare_video(path: Path, cfg: Config) -> float:
    """Baseline of ``bench data``: every native frame converted and resized with Pillow one by one (a fresh
    swscale context each), frames picked by timestamp afterwards, audio features frame by frame."""

    size = cfg.media.cache_size
    with av.open(str(path)) as c:
        decoded = [(f.time, np.asarray(Image.fromarray(f.to_ndarray(format="rgb24")).resize((size, size))))
                   for f in c.decode(video=0)]  # fmt: skip
    duration = media.probe(path).duration
    pts, times = np.array([t for t, _ in decoded]), media.target_times(0.0, duration, cfg.media.fps)
    _ = [decoded[max(0, int(np.searchsorted(pts, t, "right")) - 1)][1] for t in times]
    wave, _, _ = media.read_audio(path, cfg.media.sample_rate)
    for k in range(len(times)):
        audio.frame_features(wave, cfg.media.sample_rate, times[k : k + 1], cfg.audio)
    return duration


def bench_data(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``bench data``: the profile's data stage (synthetic world, built if missing, then prep): wall time and
    video-seconds prepared per second, beside a single-process prep and a naive per-frame baseline on up to 24
    AVE videos (``--quick``: 4)."""
    cfg = load_profile(getattr(args, "profile", "demo"))
    work = Path(args.work_dir) if getattr(args, "work_dir", None) else None
    world = profile_dirs(cfg.profile, root=work / "data" if work else None)["synth"]
    t0 = time.perf_counter()
    built = not synthetic.is_complete(world, cfg, cfg.seed)
    synthetic.generate(cfg, world, cfg.seed, progress=False)
    synth_s = time.perf_counter() - t0
    if not built:  # the world was there: the generation time its manifest records
        synth_s = float(json.loads((world / "manifest.json").read_text()).get("seconds", 0.0))
    roots = (world / "ave", world / "stavis")
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        rep = prepare(cfg, *roots, Path(tmp) / "cache", force=True)
        rerun = prepare(cfg, *roots, Path(tmp) / "cache")
        single = prepare(cfg.override(**{"media.prep_workers": 1}), *roots, Path(tmp) / "single", force=True)
    videos = sorted((world / "ave" / "AVE").glob("*.mp4"))[: 4 if args.quick else 24]
    t1 = time.perf_counter()
    naive_rate = sum(naive_prepare_video(p, cfg) for p in videos) / (time.perf_counter() - t1)
    baseline = "naive: every frame converted and resized, audio features frame by frame, one process"
    measures = [
        measure("prep_video_seconds_per_s", rep.video_seconds / rep.wall_s, "video-s/s", naive_rate,
                workers=cfg.media.prep_workers, baseline=baseline),
        measure("prep_single_process_video_seconds_per_s", single.video_seconds / single.wall_s, "video-s/s",
                naive_rate, workers=1, baseline=baseline),
        measure("data_stage_wall_s", synth_s + rep.wall_s, "s", None, goal_s=120.0, synth_s=synth_s,
                synth_built=built, synth_s_from="measured" if built else "world manifest", prep_s=rep.wall_s),
        measure("prep_rerun_s", rerun.wall_s, "s", None, up_to_date=rerun.up_to_date),
    ]  # fmt: skip
    extra = {"profile": cfg.profile, "config": cache_config(cfg), "counts": rep.counts, "world": str(world),
             "video_seconds": rep.video_seconds, "naive_videos": len(videos), "quick": bool(args.quick)}
    return measures, extra
