"""Benchmark targets ``train`` and ``loader`` of ``python -m stanet_lib bench`` : training samples/s
per net at the profile's sizes and batches, and the training loader's capacity, each beside the naive baseline
(the released code's way, see :mod:`stanet_lib.bench.perf`) in the same process. Shared helpers (sizes, random
frames, peaks) are in :mod:`stanet_lib.bench.perf`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import Subset

from ..config import Config
from ..data.frames import FrameDataset
from ..data.loaders import make_loader
from ..nets.classifier import build_model
from ..nets.runtime import to_channels_last
from ..nets.sta import STANet
from ..train import engine
from ..train.losses import classification_step, sta_step
from .perf import (
    NAIVE_WORKERS,
    TimedBatches,
    bench_audio_shape,
    bench_classes,
    bench_setup,
    clip_neighbours,
    cpu_threads,
    device_peaks,
    fp32_math,
    measure,
    naive_loader,
    net_flops,
    peak_memory_mb,
    random_frames,
    random_inputs,
    rate_fields,
    reset_peak,
    run_flags,
    sync,
    temporal_as_2d,
)


def net_specs(cfg: Config) -> list[tuple[str, str, int, int]]:
    """(name, branch, input size, batch) of every trained net at the profile's sizes and batches; the switch net
    too when it is the bilinear one (on the demo the net with the most training steps: each frame with its own
    and four other clips' audio)."""
    m, t = cfg.model, cfg.train
    specs = [("coarse_S", "S", m.coarse_size, t.batch_coarse), ("coarse_ST", "ST", m.coarse_size, t.batch_coarse),
             ("coarse_SA", "SA", m.coarse_size, t.batch_coarse), ("fine_S", "S", m.fine_size, t.batch_fine),
             ("fine_ST", "ST", m.fine_size, t.batch_fine), ("fine_SA", "SA", m.fine_size, t.batch_fine),
             ("STA", "STA", m.sta_size, t.batch_sta)]
    if m.switch_arch == "bilinear":
        specs.append(("switch", "switch", m.coarse_size, t.batch_coarse))
    return specs


def train_dataset(kind: str, size: int, n_img: int, cfg: Config, length: int, frames: bool = False):
    """Random training samples of one net kind at ``size`` px (``n_img`` distinct inputs, ``length`` samples): what
    the stages feed it (frames, or with a frozen trunk its cached reduced features, :func:`random_inputs`), or
    with ``frames`` uint8 frames whatever the profile (a trunk encoder then lifts them at every step)."""
    fa = bench_audio_shape(cfg)
    g = torch.Generator().manual_seed(3)
    images = random_frames(n_img, (3, size, size), seed=4) if frames else random_inputs(n_img, cfg, size, seed=4)
    audio = torch.randn(n_img, *fa, generator=g).half() if kind in ("SA", "STA", "switch") else None
    prev, nxt = clip_neighbours(n_img, 16)
    sw = torch.rand(n_img, generator=g) if kind in ("SA", "STA") else None
    if kind == "STA":
        extra = {"pseudo": torch.rand(n_img, 1, size, size, generator=g).half()}
        ds = FrameDataset("STA", images, audio=audio, prev=prev, next=nxt, switch=sw, extra=extra)
    else:
        labels = torch.randint(0, 2 if kind == "switch" else bench_classes(cfg), (n_img,), generator=g)
        ds = FrameDataset(kind, images, audio=audio, targets=labels, prev=prev, next=nxt, switch=sw)
    return Subset(ds, [i % n_img for i in range(length)])


def train_rate(kind: str, size: int, batch: int, ds, cfg: Config, device: torch.device, fast: bool,
                deterministic: bool, budget: float, warm: int, tf32: bool = False,
                compile_model: bool = False, trace: int = 0) -> dict[str, Any]:
    """samples/s of one timed epoch. ``fast``: bf16 autocast, channels-last, the temporal gate's 2D form, fused
    SGD (CUDA); else the naive way, in IEEE fp32 unless ``tf32`` (:func:`stanet_lib.bench.perf.fp32_math`).
    ``compile_model``: ``torch.compile`` the net (its warm-up batches include the compilation). ``trace``: after
    the timed epoch, profile that many more steps and keep the top operators (:func:`op_table`)."""
    engine.set_seed(0)
    net = (STANet(cfg.model, bench_classes(cfg)) if kind == "STA"
           else build_model(kind, bench_classes(cfg), cfg.model, pretrained=False)).to(device)
    if fast and device.type == "cuda":
        to_channels_last(net)
    if not fast:
        temporal_as_2d(net, False)  # the released code's Conv3d (fast: its 2D form on CUDA)
    opt = (engine.make_optimizer(net.parameters(), cfg.train, device) if fast
           else torch.optim.SGD(net.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum))
    step = sta_step if kind == "STA" else classification_step
    if fast:  # the library's loader: whole-batch fetch in the process (cfg.train.num_workers, 0 in the profiles)
        loader = make_loader(ds, batch, shuffle=True, seed=0, num_workers=cfg.train.num_workers,
                                    drop_last=True)
    else:  # the released code's: per-sample float dicts, collated; 8 workers on a GPU host
        loader = naive_loader(ds, batch, NAIVE_WORKERS if device.type == "cuda" else 0, device, train=True)
    run_net = torch.compile(net) if compile_model else net
    ctx = engine.deterministic_mode(deterministic, device) if fast else fp32_math(device, not tf32)
    with ctx:
        engine.run_epoch(run_net, TimedBatches(loader, 0.0, warm, warm), step, device, fast, opt, "warm",
                          False)
        reset_peak(device)
        tb = TimedBatches(loader, budget, min_batches=4)
        engine.run_epoch(run_net, tb, step, device, fast, opt, "bench", False)  # ends with .item(): synchronised
        t_end = time.perf_counter()
        mem, mem_kind = peak_memory_mb(device)
        ops = None
        if trace:
            try:
                ops = op_table(lambda: engine.run_epoch(run_net, TimedBatches(loader, 0.0, trace, trace),
                                                         step, device, fast, opt, "trace", False),  # noqa: F821
                               device)
            except Exception as exc:  # noqa: BLE001 - a profiler problem must not cost the measured rate
                ops = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    rate = tb.samples / (t_end - tb.t_first)
    del net, opt
    if device.type == "cuda":
        torch.cuda.empty_cache()
    out = {"rate": rate, "samples": tb.samples, "seconds": t_end - tb.t_first, "peak_memory_mb": mem,
           "memory_kind": mem_kind}
    if ops is not None:
        out["top_ops"] = ops
    return out


def op_table(fn, device: torch.device, top: int = 15) -> dict[str, Any]:
    """Run ``fn()`` under ``torch.profiler`` and return where the time went: the ``top`` operators by self time
    on the device (CUDA) or the CPU, with their call counts, and the totals (self device time vs wall time
    tells whether the GPU was kept busy or waited for the host)."""
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync(device)
    t0 = time.perf_counter()
    with profile(activities=acts, acc_events=True) as prof:
        fn()
        sync(device)
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    rows = sorted(events, key=lambda e: getattr(e, key, 0.0), reverse=True)
    total = sum(getattr(e, key, 0.0) for e in events)
    return {"by": key, "wall_ms": wall * 1e3, "total_self_ms": total / 1e3,
            "ops": [{"op": e.key, "self_ms": getattr(e, key, 0.0) / 1e3, "calls": e.count} for e in rows[:top]]}


def bench_train(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Training samples/s per net (coarse S / ST / SA, fine S / ST / SA, STA) at the profile's sizes and batches
    (bf16 + channels-last + autotuning on CUDA) beside the naive baseline (fp32, batch 3, NCHW) in the same run,
    through the engine's own epoch loop (:func:`stanet_lib.train.engine.run_epoch`: loader with the profile's workers
    and pinned memory, SGD). On CUDA also the STA net with ``deterministic=True`` (the profile default: no
    autotuning) and at batch 24."""
    cfg, device, quick = bench_setup(args)
    gpu = device.type == "cuda"
    compiled = gpu and bool(getattr(args, "compile_train", False))
    trace = int(getattr(args, "trace", 0) or 0)
    m, t = cfg.model, cfg.train
    budget, warm = (1.5, 3) if gpu else ((0.3, 1) if quick else (2.0, 1))
    specs = net_specs(cfg)
    if quick:
        specs = [sp for sp in specs if sp[0] in ("coarse_S", "STA", "switch")]
    only = [n for n in (getattr(args, "nets", None) or "").split(",") if n]
    if only:
        unknown = sorted(set(only) - {sp[0] for sp in specs})
        if unknown:
            raise SystemExit(f"bench train --nets: unknown {unknown}; choose from {[sp[0] for sp in specs]}")
        specs = [sp for sp in specs if sp[0] in only]
    seen, todo = set(), []
    for sp in specs:  # the CPU profiles give coarse and fine the same size and batch: measure once
        if (sp[1], sp[2], sp[3]) not in seen:
            seen.add((sp[1], sp[2], sp[3]))
            todo.append(sp)
    flops = net_flops(cfg, bench_classes(cfg), bench_audio_shape(cfg))
    peaks = device_peaks(device)
    measures, runs = [], {}
    n_img, length = (128, 4096) if gpu else (64, 512)
    for name, kind, size, batch in todo:
        ds = train_dataset(kind, size, n_img, cfg, length)
        # the naive baseline takes frames: with a frozen trunk it lifts them at every step (no feature cache)
        naive_ds = train_dataset(kind, size, n_img, cfg, length, frames=True) if cfg.model.trunk else ds
        naive = train_rate(kind, size, 3, naive_ds, cfg, device, False, False, budget, warm)
        fast = train_rate(kind, size, batch, ds, cfg, device, True, False, budget, warm, trace=trace)
        runs[name] = {"naive": naive, "fast": fast}
        if gpu:
            runs[name]["naive_tf32"] = train_rate(kind, size, 3, ds, cfg, device, False, False, budget, warm, True)
        if gpu and compiled:
            try:
                runs[name]["compiled"] = train_rate(kind, size, batch, ds, cfg, device, True, False, budget,
                                                     warm + 2, compile_model=True)
            except Exception as exc:  # noqa: BLE001 - recorded; the other numbers stand
                runs[name]["compile_error"] = f"{type(exc).__name__}: {exc}"[:300]
        print(f"  train {name}: {fast['rate']:.1f} samples/s (batch {batch}) vs naive {naive['rate']:.1f}", flush=True)
        gflop = flops[name]["train_per_sample"]
        opt = "bf16 autocast + channels-last + cuDNN autotuning" if gpu else "fp32 (CPU)"
        if cfg.model.trunk:
            opt += (f", on cached {cfg.model.trunk} {cfg.model.trunk_layer} features (PCA to "
                    f"{cfg.model.trunk_reduce}); baseline on frames, the frozen trunk run at every step")
        measures.append(measure(f"train_{name}_samples_per_s", fast["rate"], "samples/s", naive["rate"],
                                size=f"{size}x{size}", batch=batch, peak_memory_mb=fast["peak_memory_mb"],
                                memory_kind=fast["memory_kind"], baseline_peak_memory_mb=naive["peak_memory_mb"],
                                **rate_fields(fast["rate"], gflop, peaks),
                                note=f"profile batch {batch}, {opt}; baseline IEEE fp32, batch 3, NCHW"))
        if "naive_tf32" in runs[name]:
            tf = runs[name]["naive_tf32"]
            measures.append(measure(f"train_{name}_samples_per_s_vs_tf32", fast["rate"], "samples/s", tf["rate"],
                                    size=f"{size}x{size}", batch=batch, baseline_peak_memory_mb=tf["peak_memory_mb"],
                                    note="the same fast run against the naive run with TF32 convolutions (a stock "
                                         "PyTorch's default on this GPU, not the released code's fp32); bf16 over "
                                         "TF32 is capped near 2x by the tensor-core peaks"))
        if "compiled" in runs[name]:
            c = runs[name]["compiled"]
            measures.append(measure(f"train_{name}_compiled_samples_per_s", c["rate"], "samples/s", naive["rate"],
                                    size=f"{size}x{size}", batch=batch, peak_memory_mb=c["peak_memory_mb"],
                                    fast_samples_per_s=fast["rate"], **rate_fields(c["rate"], gflop, peaks),
                                    note="the fast run with torch.compile(net) (TrainConfig.compile); baseline "
                                         "naive IEEE fp32 batch 3"))
        if gpu and kind == "STA":
            det = train_rate(kind, size, batch, ds, cfg, device, True, True, budget, warm)
            big = train_rate(kind, size, 24, ds, cfg, device, True, False, budget, warm)
            runs[name].update(deterministic=det, batch24=big)
            measures.append(measure("train_STA_deterministic_samples_per_s", det["rate"], "samples/s", naive["rate"],
                                    size=f"{size}x{size}", batch=batch, peak_memory_mb=det["peak_memory_mb"],
                                    **rate_fields(det["rate"], gflop, peaks),
                                    note="TrainConfig.deterministic=True (the profile default: cuDNN deterministic, "
                                         "no autotuning), bf16 + channels-last"))
            measures.append(measure("train_STA_batch24_samples_per_s", big["rate"], "samples/s", naive["rate"],
                                    size=f"{size}x{size}", batch=24, peak_memory_mb=big["peak_memory_mb"],
                                    **rate_fields(big["rate"], gflop, peaks),
                                    note="batch 24: NOT the paper's batch 3 (the learning rate would need a check)"))
    extra = {"config": {"profile": cfg.profile, "width": m.width, "sizes": {"coarse": m.coarse_size,
                        "fine": m.fine_size, "sta": m.sta_size}, "batches": {"coarse": t.batch_coarse,
                        "fine": t.batch_fine, "sta": t.batch_sta}, "budget_s": budget, "warm_batches": warm,
                        "loader_workers": t.num_workers, "naive_loader_workers": NAIVE_WORKERS if gpu else 0},
             "flops_gflop": flops, "runs": runs, **peaks, "flags": run_flags(device),
             "note": "rate = samples of the timed epoch / seconds from its first batch (worker start-up left out)"}
    return measures, extra


def loader_rate(loader, budget: float, min_batches: int = 5) -> dict[str, Any]:
    """Batches the loader delivers per second (the clock starts at the first batch: worker start-up left
    out); each batch's frames are touched (summed) so a lazy path cannot look free."""
    it, n, t_first, checksum = iter(loader), 0, None, 0
    for batch in it:
        checksum += int(batch["frames"][:, ..., 0, 0].sum()) if "frames" in batch else 0
        if t_first is None:
            t_first = time.perf_counter()
            continue
        n += len(batch["index"])
        if n >= min_batches and time.perf_counter() - t_first >= budget:
            break
    dt = time.perf_counter() - (t_first or time.perf_counter())
    del it
    return {"rate": n / dt if dt > 0 else 0.0, "samples": n, "seconds": dt}


def bench_loader(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Training-loader capacity (samples/s the loader alone delivers; the GPU cannot train faster than this) per
    net at the profile's sizes and batches: ``make_loader`` (whole-batch fetch, uint8 frames:
    :meth:`stanet_lib.data.frames.FrameDataset.get_batch`) beside a plain ``DataLoader`` over the same dataset
    (per-sample dicts of float frames collated: the released code's way), same workers and pinning. No model
    runs, so the CPU measures what a GPU host's loader would deliver per worker count."""
    cfg, device, quick = bench_setup(args)
    gpu = device.type == "cuda"
    specs = [sp for sp in net_specs(cfg) if sp[0] != "coarse_SA"]  # coarse SA loads as coarse S (+ audio)
    if quick:
        specs = [specs[0], specs[-1]]
    given = getattr(args, "workers", None)
    worker_counts = [given] if given is not None else ([0, NAIVE_WORKERS] if gpu else [0, 2])
    budget = 0.3 if quick else 2.0
    measures, runs = [], {}
    for name, kind, size, batch in specs:
        ds = train_dataset(kind, size, 64, cfg, 256 if quick else 4096)
        for w in worker_counts:
            plain = naive_loader(ds, batch, w, device, train=True)
            fast = make_loader(ds, batch, shuffle=True, seed=0, num_workers=w, drop_last=True)
            r_plain, r_fast = loader_rate(plain, budget), loader_rate(fast, budget)
            runs[f"{name}_w{w}"] = {"per_sample": r_plain, "batched": r_fast}
            print(f"  loader {name} ({w} workers): {r_fast['rate']:.0f} samples/s vs per-sample "
                  f"{r_plain['rate']:.0f}", flush=True)
            measures.append(measure(f"loader_{name}_w{w}_samples_per_s", r_fast["rate"], "samples/s",
                                    r_plain["rate"], size=f"{size}x{size}", batch=batch, workers=w,
                                    note="make_loader (whole-batch fetch, uint8 frames) vs a plain DataLoader "
                                         "(per-sample float dicts, default_collate); loader only, no model"))
    extra = {"config": {"profile": cfg.profile, "workers": worker_counts, "budget_s": budget,
                        "pin_memory": gpu, "cpu_threads": cpu_threads()}, "runs": runs,
             "note": "samples/s after the first batch; what the training step can consume at most"}
    return measures, extra
