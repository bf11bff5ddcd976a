"""What every benchmark target shares: FLOP counting, timing, peak memory, the naive baseline's loader and switches,
and the random inputs (speed does not depend on the values; never zeros).

The naive baseline of every target is the released code's way: fp32, batch 3, no feature reuse, NCHW,
no cuDNN autotuning. fp32 means IEEE fp32 arithmetic (:func:`fp32_math`: TF32 off for cuDNN convolutions and
matrix products): the released code ran on PyTorch 1.2 and a GTX 1080 Ti (``original_code_audit.md``, the G1
README), before TF32 existed. A stock PyTorch >= 1.7 on an Ampere+ GPU silently runs fp32 convolutions as TF32 (10-bit mantissa,
tensor cores, up to half the bf16 rate); the benchmarks also report every GPU speed-up against that TF32
baseline (``*_vs_tf32``), where bf16's ceiling is about 2x (the dense bf16 / TF32 tensor-core peak ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from ..config import Config, load_profile, parse_overrides
from ..data.audio import feature_shape
from ..nets.classifier import build_model
from ..nets.fusion import TemporalGate
from ..nets.runtime import select_device
from ..nets.sta import STANet
from ..nets.trunk import frozen_trunk, register_projection
from ..train import engine

# Dense bf16 tensor-core peaks (TFLOP/s), vendor figures: NVIDIA H100 SXM5 datasheet "BF16 Tensor Core 1,979
# TFLOPS" with sparsity = 989.4 dense; H200 datasheet the same 1,979 (sparse) = 989 dense; H100 PCIe 1,513
# sparse = 756 dense. The device README (KINDS.md) measured 798 (H100) and 788 (H200) TFLOP/s for an
# 8192^3 bf16 product here; the benchmarks also measure it in the same run (``matmul_peak_tflops``).
VENDOR_BF16_DENSE_TFLOPS: dict[str, float] = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4}


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations (multiply-add = 2) that ``fn()`` runs, by ``torch.utils.flop_counter``
    (convolutions, transposed convolutions and matrix products, backward included when ``fn`` runs it)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def input_shape(cfg: Config, size: int) -> tuple[int, int, int]:
    """What a net of the profile takes per frame at ``size`` px in training: the frame (3, s, s), or with a frozen
    trunk (``model.trunk``) the reduced trunk features the stages cache, (k, s/8, s/8)."""
    m = cfg.model
    return (m.trunk_reduce, size // 8, size // 8) if m.trunk else (3, size, size)


def random_inputs(n: int, cfg: Config, size: int, seed: int = 0) -> torch.Tensor:
    """(n, *input_shape) training inputs: random uint8 frames, or random float16 trunk features."""
    shape = input_shape(cfg, size)
    if not cfg.model.trunk:
        return random_frames(n, shape, seed=seed)
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(min(n, 256), *shape, generator=g).half()
    return base[torch.arange(n) % len(base)]


def bench_projection(cfg: Config, seed: int = 0) -> None:
    """With a frozen trunk, register a random orthonormal PCA projection (zero mean) for the nets this process
    builds, so their encoders lift frames as trained ones do (:func:`stanet_lib.nets.trunk.register_projection`;
    the stages fit the real one on the training frames). Needs the trunk file (``make weights``)."""
    m = cfg.model
    if not m.trunk:
        return
    _, channels = frozen_trunk(m.trunk, m.trunk_layer)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(channels, m.trunk_reduce, generator=g))
    register_projection(m.trunk, m.trunk_layer, torch.zeros(channels), q.T.contiguous())


def net_flops(cfg: Any, num_classes: int, audio_shape: tuple[int, int]) -> dict[str, dict[str, float]]:
    """GFLOPs of each net at the profile's sizes, counted on the ``meta`` device (no arithmetic is run); with a
    frozen trunk (``model.trunk``) on the CPU at batch 1, since the shared trunk is a loaded CPU module.

    Per net: ``forward_per_frame`` (one output frame from frames, the plain forward: the ST/STA window encodes 3
    frames), ``reuse_per_frame`` (encoder once + fusion and head: the features-once inference per frame),
    ``train_per_sample`` (forward + backward of one training sample, on what training feeds the net: frames, or
    the cached trunk features, so the frozen trunk is not in it), ``encoder_per_frame`` (with a trunk: its frozen
    layers and the projection). ``switch`` is counted when the profile's switch is the bilinear one.
    """
    m, out = cfg.model, {}
    specs = [("coarse_S", "S", m.coarse_size), ("coarse_ST", "ST", m.coarse_size), ("coarse_SA", "SA", m.coarse_size),
             ("fine_S", "S", m.fine_size), ("fine_ST", "ST", m.fine_size), ("fine_SA", "SA", m.fine_size),
             ("STA", "STA", m.sta_size)]
    if m.switch_arch == "bilinear":
        specs.append(("switch", "switch", m.coarse_size))
    if m.trunk:
        bench_projection(cfg)
    dev = torch.device("cpu") if m.trunk else torch.device("meta")
    for name, kind, s in specs:
        with dev:
            stage_m = m.for_stage(name.split("_")[0])  # the coarse / fine nets as their stage builds them
            net = STANet(m, num_classes) if kind == "STA" else build_model(kind, num_classes, stage_m, pretrained=False)
            b = 1 if m.trunk else 2
            window = kind in ("ST", "STA")
            frames = torch.rand(b, 3, 3, s, s) if window else torch.rand(b, 3, s, s)
            fed = torch.rand(b, *((3,) if window else ()), *input_shape(cfg, s))  # what training feeds it
            audio = torch.rand(b, 1, *audio_shape)
            one = torch.rand(1, 3, s, s)
        kw = {"audio": audio} if kind in ("SA", "STA", "switch") else {}

        def forward(net=net, frames=frames, kw=kw) -> Any:
            with torch.no_grad():
                return net(frames, **kw)

        def train(net=net, fed=fed, kw=kw) -> None:
            net(fed, **kw).logits.float().sum().backward()

        fwd = count_flops(forward) / b
        enc = count_flops(lambda net=net, one=one: net.encoder(one))
        n_enc = 3 if kind in ("ST", "STA") else 1
        head = fwd - n_enc * enc
        try:
            tr = count_flops(train) / b
        except (NotImplementedError, RuntimeError):  # a meta kernel missing for some backward op
            tr = 3.0 * fwd
        out[name] = {"size": s, "forward_per_frame": fwd / 1e9, "reuse_per_frame": (enc + head) / 1e9,
                     "encoder_per_frame": enc / 1e9, "train_per_sample": tr / 1e9}
    return out


@contextlib.contextmanager
def fp32_math(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """IEEE fp32 convolutions and matrix products on CUDA while inside (TF32 off in cuDNN and cuBLAS; restored
    after). ``enabled=False`` (or the CPU, which has no TF32) changes nothing."""
    if not enabled or device.type != "cuda":
        yield
        return
    prev = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = prev


def device_peak_tflops(device: torch.device) -> tuple[float | None, str]:
    """Vendor dense bf16 peak of the GPU (TFLOP/s) and a note; (None, why) on the CPU."""
    if device.type != "cuda":
        return None, ("CPU: no peak computed (a shared 2-core VM, clock and vector units unknown); achieved "
                      "GFLOP/s are reported instead")
    name = torch.cuda.get_device_name(device)
    for key in sorted(VENDOR_BF16_DENSE_TFLOPS, key=len, reverse=True):
        if key in name:
            return VENDOR_BF16_DENSE_TFLOPS[key], f"{name}: vendor dense bf16 peak (datasheet, sparse / 2)"
    return None, f"{name}: no vendor figure recorded; see matmul_peak_tflops"


def matmul_peak_tflops(device: torch.device, n: int = 8192, reps: int = 10) -> float | None:
    """Measured bf16 matrix-product rate (TFLOP/s) of an n^3 product on random data, mean of ``reps`` after 3
    warm-ups (the device README's method); None on the CPU."""
    if device.type != "cuda":
        return None
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    end.synchronize()
    return 2 * n ** 3 * reps / (start.elapsed_time(end) / 1e3) / 1e12


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    """Reset the peak-memory counter (CUDA); on the CPU the process peak cannot be reset."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """Peak memory since :func:`reset_peak`: ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the
    process's peak resident set (VmHWM, since the process started: not reset per measure)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "process peak RSS (VmHWM, since start)"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process peak RSS (ru_maxrss)"


def timed(fn: Callable[[], Any], device: torch.device, repeats: int = 2) -> float:
    """Best wall-clock seconds of ``repeats`` calls of ``fn`` (synchronised on CUDA)."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


class TimedBatches:
    """Wraps a DataLoader for one timed training epoch: yields at most ``max_batches`` batches and stops once
    ``budget_s`` have passed (after ``min_batches``); the clock starts when the first batch is ready, so worker
    start-up is left out. ``samples`` / ``seconds`` after the epoch (the caller synchronises)."""

    def __init__(self, loader: Iterable, budget_s: float, min_batches: int = 3, max_batches: int = 10**9) -> None:
        self.loader, self.budget_s, self.min_batches, self.max_batches = loader, budget_s, min_batches, max_batches
        self.samples, self.batches, self.t_first = 0, 0, None

    def __len__(self) -> int:
        return min(len(self.loader), self.max_batches)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        for i, batch in enumerate(self.loader):
            if self.t_first is None:
                self.t_first = time.perf_counter()
            elif (i >= self.max_batches or (i >= self.min_batches
                                             and time.perf_counter() - self.t_first >= self.budget_s)):
                return
            self.batches += 1
            self.samples += len(batch["index"]) if isinstance(batch, dict) and "index" in batch else 1
            yield batch


def cpu_threads() -> int:
    """torch's intra-op thread count (what the CPU measures ran with)."""
    return torch.get_num_threads() if hasattr(torch, "get_num_threads") else os.cpu_count() or 1

NAIVE_WORKERS = 8  # loader workers of the naive baseline on a GPU host (the paper profile's old default)


def naive_loader(ds, batch: int, workers: int, device: torch.device, train: bool = False) -> DataLoader:
    """The released code's loader, the naive baselines': a plain ``DataLoader`` of per-sample float dicts,
    collated (no whole-batch fetch), pinned on CUDA; ``train``: shuffled, last partial batch dropped."""
    return DataLoader(ds, batch_size=batch, shuffle=train, drop_last=train, num_workers=workers,
                      persistent_workers=workers > 0, pin_memory=device.type == "cuda")


def bench_setup(args: argparse.Namespace) -> tuple[Config, torch.device, bool]:
    """The profile config with ``--set`` overrides, the device and the ``--quick`` flag of a bench run."""
    cfg = load_profile(getattr(args, "profile", "demo"), **parse_overrides(getattr(args, "overrides", None) or []))
    device = select_device(getattr(args, "device", None) or "auto")
    bench_projection(cfg)  # the nets' trunk encoders (demo) lift frames with a projection
    return cfg, device, bool(getattr(args, "quick", False))


def bench_classes(cfg: Config) -> int:
    """Classes of the nets at the profile: 28 (AVE) for ``paper``, else the synthetic world's."""
    return 28 if cfg.profile == "paper" else cfg.synth.num_classes  # AVE has 28 categories


def bench_audio_shape(cfg: Config) -> tuple[int, int]:
    """Per-frame audio feature shape (F, A) at the profile."""
    return feature_shape(cfg.audio, cfg.media.sample_rate)


def clip_neighbours(n: int, clip: int) -> tuple[torch.Tensor, torch.Tensor]:
    """prev / next indices of n frames in clips of ``clip`` frames (clamped at the clip ends)."""
    i = torch.arange(n)
    start = i - i % clip
    end = torch.clamp(start + clip - 1, max=n - 1)
    return torch.maximum(i - 1, start), torch.minimum(i + 1, end)


def random_frames(n: int, shape: tuple[int, ...], seed: int = 0, distinct: int = 256) -> torch.Tensor:
    """(n, *shape) random uint8 (``distinct`` random frames, repeated: generating GBs of noise is slow)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 256, (min(n, distinct), *shape), dtype=torch.uint8, generator=g)
    return base[torch.arange(n) % len(base)]


def run_flags(device: torch.device) -> dict[str, Any]:
    """torch version, threads and the cuDNN / TF32 switches the run had."""
    info: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info.update(cudnn=torch.backends.cudnn.version(), cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    return info


def device_peaks(device: torch.device) -> dict[str, Any]:
    """The device's vendor bf16 peak and the measured bf16 matrix-product rate (GPU only)."""
    vendor, note = device_peak_tflops(device)
    return {"vendor_bf16_dense_tflops": vendor, "peak_note": note,
            "matmul_peak_tflops": matmul_peak_tflops(device)}


def rate_fields(rate: float, gflop: float, peaks: dict[str, Any]) -> dict[str, Any]:
    """Achieved TFLOP/s (``gflop`` per item at ``rate`` items/s) and its fraction of the device's peaks."""
    tflops = rate * gflop / 1e3
    out: dict[str, Any] = {"gflop_per_item": gflop, "achieved_tflops": tflops}
    for key, name in (("vendor_bf16_dense_tflops", "fraction_of_vendor_peak"),
                      ("matmul_peak_tflops", "fraction_of_measured_peak")):
        out[name] = tflops / peaks[key] if peaks.get(key) else None
    return out


def fast_mode(device: torch.device) -> contextlib.AbstractContextManager:
    """cuDNN autotuning on CUDA (engine.deterministic_mode(False)); on the CPU nothing changes in """
    return engine.deterministic_mode(False, device) if device.type == "cuda" else contextlib.nullcontext()


def time_variant(name: str, fn, n: int, device: torch.device, warm, repeats: int) -> dict[str, Any]:
    """Warm ``warm()`` (autotuning, allocator), then the best of ``repeats`` timed ``fn()`` over n frames."""
    warm()
    reset_peak(device)
    dt = timed(fn, device, repeats)
    mem, kind = peak_memory_mb(device)
    print(f"  {name}: {n / dt:.1f} frames/s ({n} frames, {dt:.2f} s, peak {mem:.0f} MB)", flush=True)
    return {"rate": n / dt, "seconds": dt, "frames": n, "peak_memory_mb": mem, "memory_kind": kind}


def temporal_as_2d(net: torch.nn.Module, value: bool | None) -> None:
    """Set every temporal gate's 2D form (True), Conv3d form (False) or the default (None: 2D on CUDA)."""
    for mod in net.modules():
        if isinstance(mod, TemporalGate):
            mod.as_2d = value


def measure(name: str, value: float, unit: str, baseline_value: float | None = None, size: Any = None,
            batch: int | None = None, **extra: Any) -> dict[str, Any]:
    """One entry of ``measures``; ``speedup`` = value / baseline (for rates; pass inverted times)."""
    speedup = (value / baseline_value) if baseline_value else None
    return {"name": name, "value": value, "unit": unit, "baseline_value": baseline_value,
            "speedup": speedup, "size": size, "batch": batch, **extra}
