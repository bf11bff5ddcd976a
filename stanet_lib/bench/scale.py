"""``python -m stanet_lib bench scale``: cost of the pipeline's stages against the size of the data.

Synthetic worlds of 1x, 4x and 16x the demo profile's clip counts (``SCALES``; the smoke profile's nets, canvas and
clip length keep it cheap), and over each, every stage in a process of its own:

* ``data``: the data stage (decode into the cache, then the memory-mapped frame stores);
* ``train``: one epoch of the coarse S classifier on the training set;
* ``scam``: coarse CAMs of S, ST, SA and SA without switch, SCAM (Eq. 2-3) and boxes over the training set, per video,
  streamed into the set's maps npz (stage 03's path);
* ``fine``: the fine crops of frames t-1, t, t+1 (memory-mapped files) and the fine CAMs, SCAM, recovery and
  pseudo-fixations over the training set, per video, streamed into the set's npz (stage 04's inference path);
* ``sta``: the STA targets (memory-mapped, from that npz) and STA inference (features once per frame) over the
  training set.

Per stage: wall time, the time of the stage's work alone (``work_s``: measured inside the child process after
its imports and the opening of the world, the fixed start-up that every size pays once), peak private memory of
the stage's process tree (``RssAnon`` of /proc/<pid>/status summed over the process and its children, sampled
every 20 ms by a thread; pages of memory-mapped files do not count) and the disk the stage added. The nets are
untrained (costs do not depend on the weights). Writes ``<prefix>scale.json`` and ``<prefix>scale.png``
(``--prefix cpu_``: ``cpu_scale.json``) (cost against size); the JSON says, from 4x to 16x, whether peak private
memory grew by at most 30 % and whether the work time grew about linearly (its ratio within 0.7-1.3 x the
ratio of frames).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch

from ..config import Config, load_profile
from ..data import cache as cache_mod
from ..data.frames import crop_window, resized_frames, write_stores
from ..data.synthetic import generate
from ..nets.classifier import build_model
from ..nets.sta import STANet
from ..nets.windows import predict_frames
from ..stages.classifiers import train_classifier
from ..stages.coarse import coarse_set_resumable
from ..stages.fine import fine_set_resumable
from ..stages.maps import save_maps_parts
from ..stages.pseudo import STAGE_NETS, classifier_dataset
from ..stages.sta import load_targets
from ..stages.world import open_world
from .perf import measure

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

__all__ = ["SCALES", "STAGES", "scale_config", "rss_anon_tree_mb", "run_stage", "time_and_memory_checks", "bench_scale"]

SCALES = (1, 4, 16)
STAGES = ("data", "train", "scam", "fine", "sta")
# the 1x world's clips per class: the demo profile's counts when reports/benchmarks/cpu_scale.json was measured,
# kept so the benchmark reruns the same worlds (the demo now has 48 / 8 / 2: config._demo); clip length and every
# other setting are the smoke profile's (scale_config)
BASE_CLIPS = {"train": 24, "val": 4, "test": 2}


def scale_config(scale: int) -> Config:
    """The smoke profile with ``scale`` x :data:`BASE_CLIPS` per class (train, val, test) and one epoch."""
    clips = {k: v * scale for k, v in BASE_CLIPS.items()}
    return load_profile("smoke", **{"synth.clips_per_class": clips, "train.epochs": 1, "media.prep_workers": 1})


def rss_anon_tree_mb(pid: int) -> float:
    """Private resident memory (MiB) of ``pid`` and all its descendants: the sum of their ``RssAnon``."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("RssAnon:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


def _du_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20 if folder.exists() else 0.0


def run_stage(stage: str, root: str, scale: int) -> dict[str, Any]:
    """One stage on the world under ``root`` (what the child process runs); returns frames processed."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg, root_p = scale_config(scale), Path(root)
    if stage == "data":
        cache = root_p / "cache" / "smoke"
        t0 = time.perf_counter()
        cache_mod.prepare(cfg, root_p / "synthetic" / "smoke" / "ave", root_p / "synthetic" / "smoke" / "stavis", cache)
        write_stores(cache)
        return {"frames": int(cache_mod.load_index(cache)["n_frames"].sum()), "work_s": round(time.perf_counter() - t0, 2)}
    world = open_world(cfg, root_p, build=False)
    fs, k = world.sets["train"], world.num_classes
    t0 = time.perf_counter()  # the work starts: the imports and the world's opening are start-up
    images = resized_frames(fs, cfg.model.coarse_size)
    maps_dir = root_p / "bench_maps"
    if stage == "train":
        tr = classifier_dataset("S", fs, images, fs.labels)
        va = classifier_dataset("S", world.sets["val"], resized_frames(world.sets["val"], cfg.model.coarse_size),
                                world.sets["val"].labels)
        train_classifier("S", tr, va, k, cfg, root_p / "bench_nets" / "S", cfg.train.batch_coarse)
    elif stage == "scam":
        m = cfg.model.for_stage("coarse")
        nets = {n: build_model(kind, k, m, pretrained=False).eval() for n, kind in STAGE_NETS.items()}
        sw = np.full(len(fs), 0.5, np.float32)
        files = coarse_set_resumable(nets, fs, images, fs.labels, sw, cfg, maps_dir / "coarse_train.parts",
                                     collect=False)
        save_maps_parts(maps_dir / "coarse_train.npz", fs, files)
    elif stage == "fine":
        m = cfg.model.for_stage("fine")
        nets = {n: build_model(kind, k, m, pretrained=False).eval() for n, kind in STAGE_NETS.items()}
        sw = np.full(len(fs), 0.5, np.float32)
        c = fs.canvas
        boxes = torch.tensor([[c // 8, c - 1 - c // 8, c // 4, c - 1 - c // 4]]).expand(len(fs), 4).contiguous()
        crops = crop_window(fs, boxes, cfg.model.fine_size, window=cfg.scam.fine_window,
                            path=maps_dir / f"crops{cfg.model.fine_size}_train")
        files = fine_set_resumable(nets, fs, crops, fs.labels, boxes, sw, cfg, maps_dir / "fine_train.parts",
                                   collect=False)
        save_maps_parts(maps_dir / "fine_train.npz", fs, files)
    elif stage == "sta":
        net = STANet(cfg.model, k).eval()
        targets, _ = load_targets(dataclasses.replace(world, runs=maps_dir.parent / "bench_runs"), "train",
                                  cfg.model.sta_size, maps_path=maps_dir / "fine_train.npz")
        sta_images = resized_frames(fs, cfg.model.sta_size)
        maps = predict_frames(net, sta_images, fs.audio, fs.prev, fs.next, np.full(len(fs), 0.5, np.float32))
        if len(maps) != len(fs) or len(targets) != len(fs):
            raise RuntimeError(f"STA: {len(maps)} maps and {len(targets)} targets for {len(fs)} frames")
    else:
        raise ValueError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}")
    return {"frames": len(fs), "work_s": round(time.perf_counter() - t0, 2)}


def _measured(stage: str, root: Path, scale: int) -> dict[str, Any]:
    """Run one stage in a child process; its wall time, peak private memory of its tree and added disk."""
    code = ("import json, sys; from stanet_lib.bench.scale import run_stage; "
            "print('RESULT ' + json.dumps(run_stage(sys.argv[1], sys.argv[2], int(sys.argv[3]))))")
    disk0 = _du_mb(root)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, stage, str(root), str(scale)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_anon_tree_mb(proc.pid))
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"bench scale: stage {stage} at {scale}x failed:\n{err[-2000:]}")
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    return {"stage": stage, "scale": scale, "wall_s": round(wall, 2), "peak_private_mb": round(peak[0], 1),
            "disk_added_mb": round(_du_mb(root) - disk0, 1), **result}


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for stage in STAGES:
        r = [x for x in rows if x["stage"] == stage]
        n = [x["scale"] for x in r]
        for ax, key in zip(axes, ("work_s", "peak_private_mb", "disk_added_mb")):
            ax.plot(n, [x[key] for x in r], "o-", label=stage)
    for ax, title in zip(axes, ("work time (s, start-up excluded)", "peak private memory (MiB)", "disk added (MiB)")):
        ax.set_xscale("log", base=2)
        if title.startswith(("work", "disk")):
            ax.set_yscale("log")
        ax.set_xlabel("x demo clips")
        ax.set_title(title)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def time_and_memory_checks(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """From the rows of the smaller world ``a`` to the larger ``b`` of one stage: peak private memory growth (at
    most 30 % asked), and the growth of the work time against the growth of the frames (``time_linearity`` = time
    ratio / size ratio; 1 is linear; "about linear" taken as 0.7-1.3). The wall time's ratio is kept beside it:
    it includes each process's fixed start-up."""
    size = b["frames"] / a["frames"]
    work = b.get("work_s", float("nan")) / a["work_s"] if a.get("work_s", 0) > 0 else float("nan")
    return {"memory_growth": round(b["peak_private_mb"] / a["peak_private_mb"] - 1, 3),
            "memory_growth_at_most_30pct": bool(b["peak_private_mb"] <= 1.3 * a["peak_private_mb"]),
            "size_ratio": round(size, 2), "work_time_ratio": round(work, 2),
            "time_linearity": round(work / size, 2), "time_about_linear": bool(0.7 <= work / size <= 1.3),
            "wall_time_ratio": round(b["wall_s"] / a["wall_s"], 2)}


def bench_scale(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``scale`` target (module docstring)."""
    work = Path(args.work_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"stanet_scale_{os.getpid()}")
    scales = (1, 2) if args.quick else SCALES
    rows, gen = [], {}
    for s in scales:
        root = work / f"x{s}"
        cfg = scale_config(s)
        t0 = time.perf_counter()
        generate(cfg, root / "synthetic" / "smoke", seed=0, progress=False)
        gen[s] = round(time.perf_counter() - t0, 1)
        rows += [_measured(stage, root, s) for stage in STAGES]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _plot(rows, out_dir / f"{args.prefix}scale.png")
    measures = [measure(f"{r['stage']}_{r['scale']}x_{key}", r[key], unit, size=r["frames"])
                for r in rows for key, unit in (("wall_s", "s"), ("peak_private_mb", "MiB"),
                                                 ("disk_added_mb", "MiB"))]
    big, mid = max(scales), sorted(scales)[-2]
    checks = {}
    for stage in STAGES:
        a = next(r for r in rows if r["stage"] == stage and r["scale"] == mid)
        b = next(r for r in rows if r["stage"] == stage and r["scale"] == big)
        checks[stage] = time_and_memory_checks(a, b)
    cfg = scale_config(1)
    extra = {"rows": rows, "checks": checks, "generate_s": gen, "scales": list(scales),
             "world": {"clips_per_class_1x": BASE_CLIPS, "num_classes": cfg.synth.num_classes,
                       "clip_seconds": cfg.synth.clip_seconds, "video": [cfg.synth.width, cfg.synth.height],
                       "canvas": cfg.media.cache_size, "fps": cfg.media.fps, "nets": "smoke profile, untrained",
                       "coarse_size": cfg.model.coarse_size, "sta_size": cfg.model.sta_size},
             "note": "per stage a child process; peak private memory = max over 20 ms samples of the summed "
                     "RssAnon of its process tree (file-backed pages, the memory-mapped stores, not counted)"}
    return measures, extra
