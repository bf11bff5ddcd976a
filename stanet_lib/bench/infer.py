"""Benchmark target ``sta``: STA inference frames/s (:func:`stanet_lib.nets.windows.predict_frames`, the function notebook 05
and ``predict`` call) beside the naive baseline, with the reuse, Conv3d and ``torch.compile`` variants.

Every target measures the optimised path and the naive baseline (the released code's way: fp32, batch 3, no
feature reuse, NCHW, no cuDNN autotuning; IEEE fp32, see :mod:`stanet_lib.bench.perf`) in the same process on the same data, so
``speedup`` is a ratio on one machine. Sizes come from ``--profile`` (``paper``: width 1.0, 256 px coarse, 356 px
fine and STA, batches 20 / 3 / 3; ``demo`` for the CPU) and ``--set`` overrides. Nets have random weights and the
frames are random uint8 (speed does not depend on the values; never zeros). FLOPs per frame are counted with
``torch.utils.flop_counter`` on the meta device; the fraction of peak is given against the vendor's dense bf16
figure and the bf16 matrix-product rate measured in the same run (GPU only).
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import torch

from ..data.frames import FrameDataset
from ..nets.runtime import model_inputs, to_channels_last
from ..nets.sta import STANet
from ..nets.windows import encodes_per_frame, predict_frames
from ..train import engine
from .perf import (
    NAIVE_WORKERS,
    bench_audio_shape,
    bench_classes,
    bench_setup,
    clip_neighbours,
    device_peaks,
    fast_mode,
    fp32_math,
    measure,
    naive_loader,
    net_flops,
    random_frames,
    rate_fields,
    run_flags,
    temporal_as_2d,
    time_variant,
)


def bench_sta(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """STA inference frames/s at the profile's STA size: features-once + batching (+ bf16, channels-last,
    autotuning on CUDA) beside the naive baseline (fp32, batch 3 windows, every window encodes its 3 frames,
    through a DataLoader as the released code), plus the pipeline's :func:`stanet_lib.nets.windows.predict_frames` as it
    is, the reuse and batching ablations and, on CUDA, ``torch.compile`` of the encoder."""
    cfg, device, quick = bench_setup(args)
    gpu = device.type == "cuda"
    s, batch = cfg.model.sta_size, (64 if gpu else 32)
    n_fast = 2048 if gpu else (64 if quick else 512)
    n_slow = 192 if gpu else (24 if quick else 192)
    clip, repeats = 32, (1 if quick else 2)
    fa = bench_audio_shape(cfg)
    images = random_frames(n_fast, (3, s, s))
    audio = torch.randn(n_fast, *fa, generator=torch.Generator().manual_seed(1)).half()
    prev, nxt = clip_neighbours(n_fast, clip)
    switch = torch.rand(n_fast, generator=torch.Generator().manual_seed(2))
    engine.set_seed(0)
    base = STANet(cfg.model, bench_classes(cfg)).eval()
    flops = net_flops(cfg, bench_classes(cfg), fa)["STA"]
    peaks = device_peaks(device)
    workers = NAIVE_WORKERS if gpu else 0  # the naive baseline's loader (the released code's way)

    def sub(n: int) -> tuple:  # the first n frames, neighbours kept inside them
        return images[:n], audio[:n], prev[:n].clamp(max=n - 1), nxt[:n].clamp(max=n - 1), switch[:n]

    res: dict[str, dict[str, Any]] = {}
    compile_only = bool(getattr(args, "compile_only", False)) and gpu
    if compile_only:
        return sta_compile_only(args, cfg, device, base, sub, n_fast, batch, repeats, flops, peaks)
    # naive: the released code's way (a DataLoader of windows, fp32, batch 3, NCHW, no autotuning)
    naive_net = copy.deepcopy(base)
    temporal_as_2d(naive_net, False)  # the released code's Conv3d
    si, sa, sp, sn, ss = sub(n_slow)
    ds = FrameDataset("STA", si, audio=sa, prev=sp, next=sn, switch=ss)
    loader = naive_loader(ds, 3, workers, device)

    def naive() -> torch.Tensor:
        fwd = (lambda net, b: torch.sigmoid(net(**model_inputs(net, b)).logits.float())[:, 0])
        return engine.predict(naive_net, loader, forward=fwd, device=device, amp=False, channels_last=False)

    refs: list[torch.Tensor] = []
    with fp32_math(device):
        res["naive"] = time_variant("naive", naive, n_slow, device, lambda: refs.append(naive()), repeats)
    ref = refs[0]
    if gpu:  # the same with a stock PyTorch's TF32 convolutions (not the released code's arithmetic)
        res["naive_tf32"] = time_variant("naive, TF32", naive, n_slow, device, naive, repeats)
    # the pipeline's predict_frames as notebook 05 and `predict` call it (its defaults, deterministic cuDNN)
    pipe_net = copy.deepcopy(base)
    res["pipeline"] = time_variant("pipeline predict_frames", lambda: predict_frames(pipe_net, *sub(n_fast),
                                                                                   device=device),
                               n_fast, device, lambda: predict_frames(pipe_net, *sub(2 * batch), device=device),
                               repeats)
    fast_net = copy.deepcopy(base)

    def run(n: int, **kw: Any) -> torch.Tensor:
        return predict_frames(fast_net, *sub(n), device=device, **kw)

    with fast_mode(device):
        res["fast"] = time_variant("fast", lambda: run(n_fast, batch=batch), n_fast, device,
                               lambda: run(2 * batch, batch=batch), repeats)
        out_fast = run(n_slow, batch=batch)
        if gpu:  # A/B: the temporal gate as the Conv3d instead of its 2D form (models.TemporalGate.as_2d)
            c3 = copy.deepcopy(base)
            temporal_as_2d(c3, False)
            res["conv3d"] = time_variant("fast, temporal Conv3d", lambda: predict_frames(c3, *sub(n_fast), batch=batch,
                                                                                         device=device),
                                     n_fast, device, lambda: predict_frames(c3, *sub(2 * batch), batch=batch,
                                                                               device=device), repeats)
        n_nr = n_fast // 2
        res["no_reuse"] = time_variant("fast, no reuse", lambda: run(n_nr, batch=batch, reuse=False), n_nr, device,
                                   lambda: run(batch, batch=batch, reuse=False), repeats)
    plain = dict(amp=False, reuse=False, channels_last=False)
    nf = copy.deepcopy(base)
    with fp32_math(device):
        res["fp32_b3"] = time_variant("fp32 no reuse batch 3", lambda: predict_frames(nf, *sub(n_slow), batch=3,
                                                                                      **plain),
                                  n_slow, device, lambda: predict_frames(nf, *sub(6), batch=3, **plain), repeats)
        res["fp32_bB"] = time_variant(f"fp32 no reuse batch {batch}",
                                  lambda: predict_frames(nf, *sub(n_slow), batch=batch, **plain), n_slow, device,
                                  lambda: predict_frames(nf, *sub(batch), batch=batch, **plain), repeats)
    compiled_error = None
    if gpu and not getattr(args, "no_compile", False):
        try:
            res["compiled"] = sta_compiled(base, sub, n_fast, batch, device, repeats)
        except Exception as exc:  # noqa: BLE001 - recorded in the report, the other numbers stand
            compiled_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            print(f"  torch.compile failed: {compiled_error}", flush=True)

    size = f"{s}x{s}"
    useful = flops["reuse_per_frame"]
    common = {"size": size, "unit": "frames/s"}

    def m(name: str, key: str, base_key: str | None, b: int, note: str, **kw: Any) -> dict[str, Any]:
        r = res[key]
        return measure(name, r["rate"], common["unit"], res[base_key]["rate"] if base_key else None, size=size,
                       batch=b, frames=r["frames"], peak_memory_mb=r["peak_memory_mb"],
                       memory_kind=r["memory_kind"], **rate_fields(r["rate"], useful, peaks), note=note, **kw)

    opt = "bf16 autocast + channels-last + cuDNN autotuning" if gpu else "fp32 (CPU: no bf16)"
    measures = [
        m("sta_infer_frames_per_s", "fast", "naive", batch,
          f"predict_frames: features once per frame, batch {batch}, {opt}; baseline naive (IEEE fp32, batch 3 "
          "windows, no reuse, DataLoader)", baseline_frames=n_slow),
        m("sta_infer_pipeline_frames_per_s", "pipeline", "naive", 64,
          "sta.predict_frames as notebook 05 and predict call it (= predict_frames with its defaults, cuDNN "
          "deterministic as the profile's default); baseline naive"),
        m("sta_feature_reuse", "fast", "no_reuse", batch, "same settings, each window encodes its 3 frames (baseline)",
          encodes_per_frame=encodes_per_frame(prev, nxt, batch)),
        m("sta_batching", "fp32_bB", "fp32_b3", batch, "fp32, NCHW, no reuse: batch of windows B vs 3 (baseline)"),
    ]
    if "naive_tf32" in res:
        measures.append(m("sta_infer_frames_per_s_vs_tf32", "fast", "naive_tf32", batch,
                          "the fast path against the naive path with TF32 convolutions (a stock PyTorch's default "
                          "on this GPU, not the released code's fp32); bf16 over TF32 is capped near 2x by the "
                          "tensor-core peaks"))
    if "conv3d" in res:
        measures.append(m("sta_temporal_gate_as_conv2d", "fast", "conv3d", batch,
                          "the Conv3d of the temporal gate as one 2D conv over the stacked frames (same sum); "
                          "baseline: nn.Conv3d"))
    if "compiled" in res:
        measures.append(m("sta_infer_compiled_frames_per_s", "compiled", "fast", batch,
                          "torch.compile(encoder), static shape (clips aligned to the batch); baseline: the same "
                          "path uncompiled", compile_seconds=res["compiled"]["compile_seconds"]))
    agree = float((out_fast[:n_slow] - ref).abs().max())
    extra = {"config": {"profile": cfg.profile, "width": cfg.model.width, "sta_size": s, "audio": list(fa),
                        "frames": n_fast, "baseline_frames": n_slow, "clip_frames": clip, "batch": batch,
                        "repeats": repeats, "loader_workers_baseline": workers},
             "flops_gflop": flops, "flops_note": "useful GFLOP per frame = encoder once + fusion + decoder "
                                                 "(reuse_per_frame); the naive path executes forward_per_frame",
             "max_abs_diff_fast_vs_naive": agree, "compile_error": compiled_error,
             "variants": res, **peaks, "flags": run_flags(device)}
    return measures, extra


def sta_compiled(base, sub, n_fast: int, batch: int, device: torch.device, repeats: int,
                  whole: bool = False) -> dict[str, Any]:
    """fast path with ``torch.compile`` of the encoder (``whole``: and of the fusion + decoder head); the
    batches have one padded shape (:func:`stanet_lib.nets.windows.padded`), so each compiles once."""
    cnet = copy.deepcopy(base).to(device)
    to_channels_last(cnet)
    enc = torch.compile(cnet.encode, dynamic=False)
    head = torch.compile(cnet.forward_features, dynamic=False) if whole else None
    label = "encoder + head" if whole else "encoder"
    with fast_mode(device):
        t0 = time.perf_counter()
        predict_frames(cnet, *sub(2 * batch), batch=batch, device=device, encoder=enc, head=head)
        compile_s = time.perf_counter() - t0
        r = time_variant(f"fast + torch.compile({label})",
                     lambda: predict_frames(cnet, *sub(n_fast), batch=batch, device=device, encoder=enc,
                                               head=head),
                     n_fast, device, lambda: None, repeats)
    r["compile_seconds"] = compile_s
    return r


def sta_compile_only(args, cfg, device, base, sub, n_fast, batch, repeats, flops, peaks):
    """``--compile-only``: the fast path with and without ``torch.compile`` (a separate, short device run)."""
    fast_net = copy.deepcopy(base)
    with fast_mode(device):
        fast = time_variant("fast", lambda: predict_frames(fast_net, *sub(n_fast), batch=batch, device=device),
                        n_fast, device, lambda: predict_frames(fast_net, *sub(2 * batch), batch=batch,
                                                                  device=device), repeats)
    s, measures, variants, errors = cfg.model.sta_size, [], {"fast": fast}, {}
    for whole in (False, True):
        name = "sta_infer_compiled_whole_frames_per_s" if whole else "sta_infer_compiled_frames_per_s"
        try:
            comp = sta_compiled(base, sub, n_fast, batch, device, repeats, whole)
        except Exception as exc:  # noqa: BLE001 - recorded, the other measure stands
            errors[name] = f"{type(exc).__name__}: {exc}"[:500]
            print(f"  torch.compile failed: {errors[name]}", flush=True)
            continue
        variants[name] = comp
        what = "encoder and fusion + decoder head" if whole else "encoder"
        measures.append(measure(name, comp["rate"], "frames/s", fast["rate"], size=f"{s}x{s}", batch=batch,
                                frames=n_fast, peak_memory_mb=comp["peak_memory_mb"],
                                compile_seconds=comp["compile_seconds"],
                                **rate_fields(comp["rate"], flops["reuse_per_frame"], peaks),
                                note=f"torch.compile({what}), one padded shape; baseline: the same path "
                                     "uncompiled, same run"))
    return measures, {"variants": variants, "compile_errors": errors, **peaks, "flags": run_flags(device)}
