"""Benchmark targets ``sta`` and ``scam`` of ``python -m stanet_lib bench`` (issue 7), and the helpers the
``train`` and ``loader`` targets (:mod:`stanet_lib.train_bench`) share.

Every target measures the optimised path and the naive baseline (the released code's way: fp32, batch 3, no
feature reuse, NCHW, no cuDNN autotuning; IEEE fp32, see :mod:`stanet_lib.speed`) in the same process on the same data, so
``speedup`` is a ratio on one machine. Sizes come from ``--profile`` (``paper``: width 1.0, 256 px coarse, 356 px
fine and STA, batches 20 / 3 / 3; ``demo`` for the CPU) and ``--set`` overrides. Nets have random weights and the
frames are random uint8 (speed does not depend on the values; never zeros). FLOPs per frame are counted with
``torch.utils.flop_counter`` on the meta device; the fraction of peak is given against the vendor's dense bf16
figure and the bf16 matrix-product rate measured in the same run (GPU only).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import engine, speed
from .bench import measure
from .config import Config, load_profile, parse_overrides


# ------------------------------------------------------------------------------------------------ setup

NAIVE_WORKERS = 8  # loader workers of the naive baseline on a GPU host (the paper profile's old default)


def naive_loader(ds, batch: int, workers: int, device: torch.device, train: bool = False) -> DataLoader:
    """The released code's loader, the naive baselines': a plain ``DataLoader`` of per-sample float dicts,
    collated (no whole-batch fetch), pinned on CUDA; ``train``: shuffled, last partial batch dropped."""
    return DataLoader(ds, batch_size=batch, shuffle=train, drop_last=train, num_workers=workers,
                      persistent_workers=workers > 0, pin_memory=device.type == "cuda")


def _setup(args: argparse.Namespace) -> tuple[Config, torch.device, bool]:
    cfg = load_profile(getattr(args, "profile", "demo"), **parse_overrides(getattr(args, "overrides", None) or []))
    device = engine.select_device(getattr(args, "device", None) or "auto")
    return cfg, device, bool(getattr(args, "quick", False))


def _num_classes(cfg: Config) -> int:
    return 28 if cfg.profile == "paper" else cfg.synth.num_classes  # AVE has 28 categories


def _audio_shape(cfg: Config) -> tuple[int, int]:
    from .audio import feature_shape

    return feature_shape(cfg.audio, cfg.media.sample_rate)


def _clips(n: int, clip: int) -> tuple[torch.Tensor, torch.Tensor]:
    """prev / next indices of n frames in clips of ``clip`` frames (clamped at the clip ends)."""
    i = torch.arange(n)
    start = i - i % clip
    end = torch.clamp(start + clip - 1, max=n - 1)
    return torch.maximum(i - 1, start), torch.minimum(i + 1, end)


def _frames(n: int, shape: tuple[int, ...], seed: int = 0, distinct: int = 256) -> torch.Tensor:
    """(n, *shape) random uint8 (``distinct`` random frames, repeated: generating GBs of noise is slow)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 256, (min(n, distinct), *shape), dtype=torch.uint8, generator=g)
    return base[torch.arange(n) % len(base)]


def _flags(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info.update(cudnn=torch.backends.cudnn.version(), cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    return info


def _peaks(device: torch.device) -> dict[str, Any]:
    vendor, note = speed.device_peak_tflops(device)
    return {"vendor_bf16_dense_tflops": vendor, "peak_note": note,
            "matmul_peak_tflops": speed.matmul_peak_tflops(device)}


def _rate_fields(rate: float, gflop: float, peaks: dict[str, Any]) -> dict[str, Any]:
    """Achieved TFLOP/s (``gflop`` per item at ``rate`` items/s) and its fraction of the device's peaks."""
    tflops = rate * gflop / 1e3
    out: dict[str, Any] = {"gflop_per_item": gflop, "achieved_tflops": tflops}
    for key, name in (("vendor_bf16_dense_tflops", "fraction_of_vendor_peak"),
                      ("matmul_peak_tflops", "fraction_of_measured_peak")):
        out[name] = tflops / peaks[key] if peaks.get(key) else None
    return out


def _fast_mode(device: torch.device) -> contextlib.AbstractContextManager:
    """cuDNN autotuning on CUDA (engine.deterministic_mode(False)); on the CPU nothing changes in speed."""
    return engine.deterministic_mode(False, device) if device.type == "cuda" else contextlib.nullcontext()


def _variant(name: str, fn, n: int, device: torch.device, warm, repeats: int) -> dict[str, Any]:
    """Warm ``warm()`` (autotuning, allocator), then the best of ``repeats`` timed ``fn()`` over n frames."""
    warm()
    speed.reset_peak(device)
    dt = speed.timed(fn, device, repeats)
    mem, kind = speed.peak_memory_mb(device)
    print(f"  {name}: {n / dt:.1f} frames/s ({n} frames, {dt:.2f} s, peak {mem:.0f} MB)", flush=True)
    return {"rate": n / dt, "seconds": dt, "frames": n, "peak_memory_mb": mem, "memory_kind": kind}


# -------------------------------------------------------------------------------------------------- sta


def bench_sta(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """STA inference frames/s at the profile's STA size: features-once + batching (+ bf16, channels-last,
    autotuning on CUDA) beside the naive baseline (fp32, batch 3 windows, every window encodes its 3 frames,
    through a DataLoader as the released code), plus the pipeline's :func:`stanet_lib.sta.predict_frames` as it
    is, the reuse and batching ablations and, on CUDA, ``torch.compile`` of the encoder."""
    from .datasets import FrameDataset
    from .sta import STANet, predict_frames

    cfg, device, quick = _setup(args)
    gpu = device.type == "cuda"
    s, batch = cfg.model.sta_size, (64 if gpu else 32)
    n_fast = 2048 if gpu else (64 if quick else 512)
    n_slow = 192 if gpu else (24 if quick else 192)
    clip, repeats = 32, (1 if quick else 2)
    fa = _audio_shape(cfg)
    images = _frames(n_fast, (3, s, s))
    audio = torch.randn(n_fast, *fa, generator=torch.Generator().manual_seed(1)).half()
    prev, nxt = _clips(n_fast, clip)
    switch = torch.rand(n_fast, generator=torch.Generator().manual_seed(2))
    engine.set_seed(0)
    base = STANet(cfg.model).eval()
    flops = speed.net_flops(cfg, _num_classes(cfg), fa)["STA"]
    peaks = _peaks(device)
    workers = NAIVE_WORKERS if gpu else 0  # the naive baseline's loader (the released code's way)

    def sub(n: int) -> tuple:  # the first n frames, neighbours kept inside them
        return images[:n], audio[:n], prev[:n].clamp(max=n - 1), nxt[:n].clamp(max=n - 1), switch[:n]

    res: dict[str, dict[str, Any]] = {}
    compile_only = bool(getattr(args, "compile_only", False)) and gpu
    if compile_only:
        return _sta_compile_only(args, cfg, device, base, sub, n_fast, batch, repeats, flops, peaks)
    # naive: the released code's way (a DataLoader of windows, fp32, batch 3, NCHW, no autotuning)
    naive_net = copy.deepcopy(base)
    _temporal_as_2d(naive_net, False)  # the released code's Conv3d
    si, sa, sp, sn, ss = sub(n_slow)
    ds = FrameDataset("STA", si, audio=sa, prev=sp, next=sn, switch=ss)
    loader = naive_loader(ds, 3, workers, device)

    def naive() -> torch.Tensor:
        fwd = (lambda net, b: torch.sigmoid(net(**engine.model_inputs(net, b)).logits.float())[:, 0])
        return engine.predict(naive_net, loader, forward=fwd, device=device, amp=False, channels_last=False)

    refs: list[torch.Tensor] = []
    with speed.fp32_math(device):
        res["naive"] = _variant("naive", naive, n_slow, device, lambda: refs.append(naive()), repeats)
    ref = refs[0]
    if gpu:  # the same with a stock PyTorch's TF32 convolutions (not the released code's arithmetic)
        res["naive_tf32"] = _variant("naive, TF32", naive, n_slow, device, naive, repeats)
    # the pipeline's predict_frames as notebook 05 and `predict` call it (its defaults, deterministic cuDNN)
    pipe_net = copy.deepcopy(base)
    res["pipeline"] = _variant("pipeline predict_frames", lambda: predict_frames(pipe_net, *sub(n_fast),
                                                                                   device=device),
                               n_fast, device, lambda: predict_frames(pipe_net, *sub(2 * batch), device=device),
                               repeats)
    fast_net = copy.deepcopy(base)

    def run(n: int, **kw: Any) -> torch.Tensor:
        return speed.sta_predict(fast_net, *sub(n), device=device, **kw)

    with _fast_mode(device):
        res["fast"] = _variant("fast", lambda: run(n_fast, batch=batch), n_fast, device,
                               lambda: run(2 * batch, batch=batch), repeats)
        out_fast = run(n_slow, batch=batch)
        if gpu:  # A/B: the temporal gate as the Conv3d instead of its 2D form (models.TemporalGate.as_2d)
            c3 = copy.deepcopy(base)
            _temporal_as_2d(c3, False)
            res["conv3d"] = _variant("fast, temporal Conv3d", lambda: speed.sta_predict(c3, *sub(n_fast), batch=batch,
                                                                                         device=device),
                                     n_fast, device, lambda: speed.sta_predict(c3, *sub(2 * batch), batch=batch,
                                                                               device=device), repeats)
        n_nr = n_fast // 2
        res["no_reuse"] = _variant("fast, no reuse", lambda: run(n_nr, batch=batch, reuse=False), n_nr, device,
                                   lambda: run(batch, batch=batch, reuse=False), repeats)
    plain = dict(amp=False, reuse=False, channels_last=False)
    nf = copy.deepcopy(base)
    with speed.fp32_math(device):
        res["fp32_b3"] = _variant("fp32 no reuse batch 3", lambda: speed.sta_predict(nf, *sub(n_slow), batch=3,
                                                                                      **plain),
                                  n_slow, device, lambda: speed.sta_predict(nf, *sub(6), batch=3, **plain), repeats)
        res["fp32_bB"] = _variant(f"fp32 no reuse batch {batch}",
                                  lambda: speed.sta_predict(nf, *sub(n_slow), batch=batch, **plain), n_slow, device,
                                  lambda: speed.sta_predict(nf, *sub(batch), batch=batch, **plain), repeats)
    compiled_error = None
    if gpu and not getattr(args, "no_compile", False):
        try:
            res["compiled"] = _sta_compiled(base, sub, n_fast, batch, device, repeats)
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
                       memory_kind=r["memory_kind"], **_rate_fields(r["rate"], useful, peaks), note=note, **kw)

    opt = "bf16 autocast + channels-last + cuDNN autotuning" if gpu else "fp32 (CPU: no bf16)"
    measures = [
        m("sta_infer_frames_per_s", "fast", "naive", batch,
          f"speed.sta_predict: features once per frame, batch {batch}, {opt}; baseline naive (IEEE fp32, batch 3 "
          "windows, no reuse, DataLoader)", baseline_frames=n_slow),
        m("sta_infer_pipeline_frames_per_s", "pipeline", "naive", 64,
          "sta.predict_frames as notebook 05 and predict call it (= speed.sta_predict with its defaults, cuDNN "
          "deterministic as the profile's default); baseline naive"),
        m("sta_feature_reuse", "fast", "no_reuse", batch, "same settings, each window encodes its 3 frames (baseline)",
          encodes_per_frame=speed.encodes_per_frame(prev, nxt, batch)),
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
             "variants": res, **peaks, "flags": _flags(device)}
    return measures, extra


def _temporal_as_2d(net: torch.nn.Module, value: bool | None) -> None:
    from .models import TemporalGate

    for mod in net.modules():
        if isinstance(mod, TemporalGate):
            mod.as_2d = value


def _sta_compiled(base, sub, n_fast: int, batch: int, device: torch.device, repeats: int,
                  whole: bool = False) -> dict[str, Any]:
    """fast path with ``torch.compile`` of the encoder (``whole``: and of the fusion + decoder head); the
    batches have one padded shape (:func:`stanet_lib.speed.padded`), so each compiles once."""
    cnet = copy.deepcopy(base).to(device)
    engine.to_channels_last(cnet)
    enc = torch.compile(cnet.encode, dynamic=False)
    head = torch.compile(cnet.forward_features, dynamic=False) if whole else None
    label = "encoder + head" if whole else "encoder"
    with _fast_mode(device):
        t0 = time.perf_counter()
        speed.sta_predict(cnet, *sub(2 * batch), batch=batch, device=device, encoder=enc, head=head)
        compile_s = time.perf_counter() - t0
        r = _variant(f"fast + torch.compile({label})",
                     lambda: speed.sta_predict(cnet, *sub(n_fast), batch=batch, device=device, encoder=enc,
                                               head=head),
                     n_fast, device, lambda: None, repeats)
    r["compile_seconds"] = compile_s
    return r


def _sta_compile_only(args, cfg, device, base, sub, n_fast, batch, repeats, flops, peaks):
    """``--compile-only``: the fast path with and without ``torch.compile`` (a separate, short device run)."""
    fast_net = copy.deepcopy(base)
    with _fast_mode(device):
        fast = _variant("fast", lambda: speed.sta_predict(fast_net, *sub(n_fast), batch=batch, device=device),
                        n_fast, device, lambda: speed.sta_predict(fast_net, *sub(2 * batch), batch=batch,
                                                                  device=device), repeats)
    s, measures, variants, errors = cfg.model.sta_size, [], {"fast": fast}, {}
    for whole in (False, True):
        name = "sta_infer_compiled_whole_frames_per_s" if whole else "sta_infer_compiled_frames_per_s"
        try:
            comp = _sta_compiled(base, sub, n_fast, batch, device, repeats, whole)
        except Exception as exc:  # noqa: BLE001 - recorded, the other measure stands
            errors[name] = f"{type(exc).__name__}: {exc}"[:500]
            print(f"  torch.compile failed: {errors[name]}", flush=True)
            continue
        variants[name] = comp
        what = "encoder and fusion + decoder head" if whole else "encoder"
        measures.append(measure(name, comp["rate"], "frames/s", fast["rate"], size=f"{s}x{s}", batch=batch,
                                frames=n_fast, peak_memory_mb=comp["peak_memory_mb"],
                                compile_seconds=comp["compile_seconds"],
                                **_rate_fields(comp["rate"], flops["reuse_per_frame"], peaks),
                                note=f"torch.compile({what}), one padded shape; baseline: the same path "
                                     "uncompiled, same run"))
    return measures, {"variants": variants, "compile_errors": errors, **peaks, "flags": _flags(device)}


# ------------------------------------------------------------------------------------------------- scam


def _scam_frameset(n: int, canvas: int, cfg: Config, clip: int = 20):
    import pandas as pd

    from .datasets import FrameSet

    fa = _audio_shape(cfg)
    g = torch.Generator().manual_seed(5)
    prev, nxt = _clips(n, clip)
    meta = pd.DataFrame({"clip": (np.arange(n) // clip), "pos": np.arange(n) % clip, "video": "bench",
                         "db": "", "number": np.arange(n) % clip + 1})
    return FrameSet(_frames(n, (canvas, canvas, 3), seed=6), torch.randn(n, *fa, generator=g).half(),
                    torch.randint(0, _num_classes(cfg), (n,), generator=g), prev, nxt,
                    torch.ones(n, dtype=torch.bool), meta)


def scam_pass(nets: dict[str, torch.nn.Module], fs, cfg: Config, tags: torch.Tensor, p_switch: np.ndarray,
              batch: int, reuse: bool, amp: bool, device: torch.device, on_device: bool = True) -> torch.Tensor:
    """Coarse + fine SCAM pseudo-fixations of a frame set (the work of stages 03 and 04 after training):
    tag-class CAMs of S, ST, SA, SA without switch, Eq. 2-3 fusion, 2 x mean boxes, crops, fine CAMs, fusion,
    recovery into the frame. ``on_device``: the resizes, crops and recovery on ``device`` (False: on the CPU, as
    the released code's MATLAB step). Returns (N, canvas, canvas)."""
    from . import pseudo, scam
    from .datasets import crop_window, resized_frames

    def cams(stage: str, images, window=None) -> dict[str, Any]:
        out = {}
        for name, kind, sw in (("S", "S", None), ("ST", "ST", None), ("SA", "SA", p_switch),
                               ("SA_noswitch", "SA", None)):
            p, q = window if window is not None else (None, None)
            ds = pseudo.classifier_dataset(kind, fs, images, switch=sw, prev_images=p, next_images=q, tags=tags)
            out[name] = pseudo.tag_cams(nets[f"{stage}_{name}"], ds, batch, reuse=reuse, amp=amp, device=device,
                                        channels_last=amp)
        pseudo.fuse({"S": out["S"], "ST": out["ST"], "SA": out["SA_noswitch"]}, tags, cfg.scam.lam)
        return pseudo.fuse({k: out[k] for k in ("S", "ST", "SA")}, tags, cfg.scam.lam)

    prep = device if on_device else None  # resizes, crops, recovery on the nets' device (the pipeline's way)
    coarse = cams("coarse", resized_frames(fs, cfg.model.coarse_size, device=prep))
    boxes = pseudo.boxes_from(coarse["SCAM"].to(prep or "cpu"), fs.canvas, cfg.scam.box_factor).cpu()
    p, c, n = crop_window(fs, boxes, cfg.model.fine_size, device=prep)
    fine = cams("fine", c, (p, n))
    return scam.recover(scam.resize_maps(fine["SCAM"].float().to(prep or "cpu"), cfg.model.fine_size), boxes,
                        fs.canvas).cpu()


def bench_scam(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pseudo-fixation frames/s of coarse + fine SCAM generation (:func:`scam_pass`, 8 nets) with feature reuse
    and batch 128 (+ bf16 / channels-last on CUDA) beside the naive baseline (fp32, batch 3, no reuse), and the
    reuse ablation (the same settings without reuse: only the coarse ST windows can share features)."""
    from .models import Classifier

    cfg, device, quick = _setup(args)
    gpu = device.type == "cuda"
    n_fast = 320 if gpu else (24 if quick else 96)
    n_slow = 80 if gpu else (24 if quick else 96)
    nets = {}
    for stage in ("coarse", "fine"):
        for name, kind in (("S", "S"), ("ST", "ST"), ("SA", "SA"), ("SA_noswitch", "SA")):
            engine.set_seed(len(nets))
            nets[f"{stage}_{name}"] = Classifier(kind, _num_classes(cfg), cfg.model).eval()
    fs = _scam_frameset(n_fast, cfg.media.cache_size, cfg)
    warm_fs = _scam_frameset(20, cfg.media.cache_size, cfg)
    small = _scam_frameset(n_slow, cfg.media.cache_size, cfg) if n_slow != n_fast else fs
    rng = np.random.default_rng(0)

    def go(frames, batch: int, reuse: bool, amp: bool, on_device: bool = True) -> torch.Tensor:
        tags = frames.labels
        return scam_pass(nets, frames, cfg, tags, rng.random(len(frames)).astype(np.float32), batch, reuse, amp,
                         device, on_device)

    repeats = 1
    with speed.fp32_math(device):  # the released code's way: IEEE fp32, batch 3, no reuse, crops on the CPU
        res = {"naive": _variant("scam naive", lambda: go(small, 3, False, False, False), n_slow, device,
                                 lambda: go(warm_fs, 3, False, False, False), repeats)}
    if gpu:
        res["naive_tf32"] = _variant("scam naive, TF32", lambda: go(small, 3, False, False, False), n_slow, device,
                                     lambda: None, repeats)
    with _fast_mode(device):
        res["fast"] = _variant("scam fast", lambda: go(fs, 128, True, True), n_fast, device,
                               lambda: go(fs, 128, True, True), repeats)
        res["no_reuse"] = _variant("scam fast, no reuse", lambda: go(fs, 128, False, True), n_fast, device,
                                   lambda: go(fs, 128, False, True), repeats)
        if gpu:
            res["cpu_crops"] = _variant("scam fast, crops on the CPU", lambda: go(fs, 128, True, True, False), n_fast,
                                        device, lambda: None, repeats)
    fl = speed.net_flops(cfg, _num_classes(cfg), _audio_shape(cfg))
    useful = sum(fl[f"{st}_{k}"]["reuse_per_frame"] * (2 if k == "SA" else 1)
                 for st in ("coarse", "fine") for k in ("S", "ST", "SA"))
    peaks = _peaks(device)
    size = f"canvas {cfg.media.cache_size}, coarse {cfg.model.coarse_size}, fine {cfg.model.fine_size}"

    def m(name: str, key: str, base_key: str, batch: int, note: str) -> dict[str, Any]:
        r = res[key]
        return measure(name, r["rate"], "frames/s", res[base_key]["rate"], size=size, batch=batch,
                       frames=r["frames"], peak_memory_mb=r["peak_memory_mb"], memory_kind=r["memory_kind"],
                       **_rate_fields(r["rate"], useful, peaks), note=note)

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
             "flops_gflop_useful_per_frame": useful, "variants": res, **peaks, "flags": _flags(device)}
    return measures, extra
