"""Speed at paper scale (issue 7): features-once inference over the overlapping (t-1, t, t+1) windows, FLOP
counting, and the model benchmark targets ``sta``, ``train`` and ``scam`` of ``python -m stanet_lib bench``.

Feature reuse. The ST and STA nets see the window (t-1, t, t+1) through ONE shared encoder, so a frame's encoder
features are the same in the three windows it belongs to. :func:`window_batches` groups centre frames into
batches with the sorted set of frames their windows need; each needed frame is encoded once per batch
(``batch + 2`` encodes per ``batch`` frames inside a clip instead of ``3 x batch``). It serves
:func:`stanet_lib.pseudo.tag_cams` (coarse ST CAMs) and :func:`sta_predict`; :func:`stanet_lib.sta.predict_frames`
(notebook 05, ``predict``) composes its batches the same way. Fine-stage ST windows cannot share features: the
crops of t-1 and t+1 are cut with frame t's box, so they differ from those frames' own centre crops.

:func:`sta_predict` is :func:`stanet_lib.sta.predict_frames` for a GPU: frames travel as uint8 in chunks
(pinned, asynchronous) and become float on the device, every index is computed on the host up front (no
synchronisation inside the loop), results are copied back once per chunk, bf16 autocast and channels-last
on CUDA, optionally ``torch.compile`` of the encoder at one static shape.

The naive baseline of every target is the released code's way (issue 7): fp32, batch 3, no feature reuse, NCHW,
no cuDNN autotuning. fp32 means IEEE fp32 arithmetic (:func:`fp32_math`: TF32 off for cuDNN convolutions and
matrix products): the released code ran on PyTorch 1.2 and a GTX 1080 Ti (``original_code_audit.md``, the G1
README), before TF32 existed. A stock PyTorch >= 1.7 on an Ampere+ GPU silently runs fp32 convolutions as TF32 (10-bit mantissa,
tensor cores, up to half the bf16 rate); the benchmarks also report every GPU speed-up against that TF32
baseline (``*_vs_tf32``), where bf16's ceiling is about 2x (the dense bf16 / TF32 tensor-core peak ratio). The
bench functions live in :mod:`stanet_lib.speed_bench`; this module holds what the library and the benchmarks
share.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

# Dense bf16 tensor-core peaks (TFLOP/s), vendor figures: NVIDIA H100 SXM5 datasheet "BF16 Tensor Core 1,979
# TFLOPS" with sparsity = 989.4 dense; H200 datasheet the same 1,979 (sparse) = 989 dense; H100 PCIe 1,513
# sparse = 756 dense. The device README (KINDS.md) measured 798 (H100) and 788 (H200) TFLOP/s for an
# 8192^3 bf16 product here; the benchmarks also measure it in the same run (``matmul_peak_tflops``).
VENDOR_BF16_DENSE_TFLOPS: dict[str, float] = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4}


# --------------------------------------------------------------------------------------- feature reuse


def window_batches(prev: Tensor, next: Tensor, batch: int) -> list[tuple[slice, Tensor, Tensor]]:
    """Batches of centre frames with the frames their (t-1, t, t+1) windows need, each listed once.

    Args:
        prev, next: (N,) long indices of frames t-1 and t+1 (clamped at clip ends, :class:`~stanet_lib.datasets.FrameSet`).
        batch: centre frames per batch.

    Returns:
        Per batch ``(centre, need, pos)``: ``centre`` the slice of centre frames, ``need`` (M,) the sorted
        unique frame indices (the same set :func:`stanet_lib.sta.predict_frames` encodes), ``pos`` (3, B) the
        positions in ``need`` of frames t-1, t, t+1 of each window.
    """
    prev, next = torch.as_tensor(prev).long(), torch.as_tensor(next).long()
    if prev.shape != next.shape or prev.dim() != 1:
        raise ValueError(f"prev and next must be (N,) index vectors, got {tuple(prev.shape)} and {tuple(next.shape)}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    n, out = len(prev), []
    for s in range(0, n, batch):
        e = min(n, s + batch)
        need, inv = torch.unique(torch.cat([prev[s:e], torch.arange(s, e), next[s:e]]), return_inverse=True)
        out.append((slice(s, e), need, inv.view(3, e - s)))
    return out


def encodes_per_frame(prev: Tensor, next: Tensor, batch: int) -> float:
    """Encoder passes per centre frame with :func:`window_batches` (3.0 without reuse)."""
    wb = window_batches(prev, next, batch)
    return sum(len(need) for _, need, _ in wb) / max(1, len(prev))


def padded(sel: Tensor, batch: int) -> Tensor:
    """``sel`` (M,) padded by repeating its last entry to the first of batch + 2, 2 x batch, 3 x batch that holds
    it: the encoder sees at most three batch shapes whatever the clip layout (cuDNN autotuning and
    ``torch.compile`` work per shape). The extra rows are encoded and never read."""
    m = len(sel)
    size = next((k for k in (batch + 2, 2 * batch, 3 * batch) if m <= k), m)
    return torch.cat([sel, sel[-1:].expand(size - m)]) if size > m else sel


def _pinned(x: Tensor, cuda: bool) -> Tensor:
    return x.pin_memory() if cuda else x


def sta_predict(model: nn.Module, images: Tensor, audio: Tensor, prev: Tensor, next: Tensor,
                switch: np.ndarray | Tensor | None = None, batch: int = 64, device: torch.device | str | None = None,
                amp: bool = True, reuse: bool = True, chunk: int = 512, channels_last: bool = True,
                encoder: Callable[[Tensor], Any] | None = None, head: Callable[..., Any] | None = None,
                pad: bool | None = None, compile_nets: bool = False) -> Tensor:
    """Fixation maps sigmoid(logits) of every frame (= :func:`stanet_lib.sta.predict_frames`), GPU-fed.

    Args:
        model: an :class:`~stanet_lib.sta.STANet`.
        images: (N, 3, H, W) uint8 frames (or float in [0, 1]) at the STA size; audio (N, F, A); prev, next (N,)
            neighbour indices;
            switch (N,) p_switch or None (gate open).
        batch: centre frames per step.
        reuse: encode each needed frame once per batch (False: every window encodes its three frames, the
            released code's way, for the ablation).
        chunk: centre frames whose uint8 frames are on the device at once (bounds device memory).
        channels_last: 2D convs in channels-last on CUDA (changes only the memory layout).
        encoder: replaces ``model.encode`` (e.g. a ``torch.compile``-d one); returns :class:`FrameFeatures`.
        head: replaces ``model.forward_features`` (e.g. a ``torch.compile``-d one).
        pad: pad each batch's frame set to one of three sizes (:func:`padded`); default on CUDA only.
        compile_nets: ``torch.compile`` the encoder and the fusion + decoder head (static shapes; with ``pad``
            at most three compilations). Measured on an H200 at 356 px: 1.57x the uncompiled path, compile ~6 s
            (reports/benchmarks/gpu_compile_sta.json). Off by default (needs a working Triton / C compiler).

    Returns:
        (N, H, W) float32 in (0, 1), on the CPU.
    """
    from . import engine
    from .sta import FrameFeatures

    device = engine.select_device() if device is None else torch.device(device)
    cuda = device.type == "cuda"
    images, audio = torch.as_tensor(images), torch.as_tensor(audio)
    n, (h, w) = len(images), tuple(images.shape[-2:])
    prev, next = torch.as_tensor(prev).long(), torch.as_tensor(next).long()
    if images.dim() != 4 or images.shape[1] != 3 or len(audio) != n or len(prev) != n or len(next) != n:
        raise ValueError(f"sta_predict: images {tuple(images.shape)} must be (N, 3, H, W); audio ({len(audio)}), "
                         f"prev ({len(prev)}) and next ({len(next)}) must have N = {n} rows")
    sw = None if switch is None else torch.as_tensor(np.asarray(switch), dtype=torch.float32)
    net = engine.unwrap(model).to(device)
    if channels_last and cuda:
        engine.to_channels_last(net)
    encode, fuse = encoder or net.encode, head or net.forward_features
    if compile_nets:
        encode = encoder or torch.compile(net.encode, dynamic=False)
        fuse = head or torch.compile(net.forward_features, dynamic=False)
    pad = cuda if pad is None else pad
    was_training = net.training
    net.eval()
    out = _pinned(torch.empty(n, h, w), cuda)

    def host_chunk(s0: int, e0: int) -> dict[str, Any]:
        """Everything a chunk needs, prepared on the host (uint8 frames, indices) and pinned."""
        c = torch.arange(s0, e0)
        need = torch.unique(torch.cat([prev[s0:e0], c, next[s0:e0]]))  # frames this chunk touches
        lp, lc, ln = (torch.searchsorted(need, i) for i in (prev[s0:e0], c, next[s0:e0]))
        steps, idx = [], []
        for bs in range(0, e0 - s0, batch):
            be = min(e0 - s0, bs + batch)
            if reuse:
                sel, inv = torch.unique(torch.cat([lp[bs:be], lc[bs:be], ln[bs:be]]), return_inverse=True)
                sel = padded(sel, batch) if pad else sel
                steps.append((bs, be, len(sel)))
                idx += [sel, inv]
            else:
                steps.append((bs, be, 0))
                idx += [lp[bs:be], lc[bs:be], ln[bs:be]]
        frames = images[need[0]: need[-1] + 1] if len(need) == int(need[-1] - need[0]) + 1 else images[need]
        d = {"frames": _pinned(frames.contiguous(), cuda), "audio": _pinned(audio[s0:e0].contiguous(), cuda),
             "idx": _pinned(torch.cat(idx), cuda), "steps": steps, "span": (s0, e0)}
        if sw is not None:
            d["switch"] = _pinned(sw[s0:e0].contiguous(), cuda)
        return d

    chunks = [(s, min(n, s + chunk)) for s in range(0, n, chunk)]
    try:
        with torch.no_grad(), engine.autocast(device, amp):
            host = host_chunk(*chunks[0]) if chunks else None
            for ci in range(len(chunks)):
                s0, e0 = host["span"]
                imgs = host["frames"].to(device, non_blocking=True)  # (M, 3, H, W) uint8
                aud = host["audio"].to(device, non_blocking=True).float()[:, None]  # (k, 1, F, A)
                idx = host["idx"].to(device, non_blocking=True)
                p_all = host["switch"].to(device, non_blocking=True) if "switch" in host else None
                res = torch.empty(e0 - s0, h, w, device=device)
                o = 0
                for bs, be, m in host["steps"]:
                    k = be - bs
                    p = None if p_all is None else p_all[bs:be]
                    if reuse:
                        sel, inv = idx[o: o + m], idx[o + m: o + m + 3 * k]
                        o += m + 3 * k
                        ff = encode(imgs.index_select(0, sel))  # uint8 scaled by the encoder

                        def pick(j: Tensor, ff=ff) -> Any:
                            return FrameFeatures(ff.top.index_select(0, j),
                                                 tuple(s.index_select(0, j) for s in ff.skips))

                        y = fuse(pick(inv[:k]), pick(inv[k: 2 * k]), pick(inv[2 * k:]), aud[bs:be], p, (h, w))
                    else:
                        win = torch.stack([imgs.index_select(0, idx[o + j * k: o + (j + 1) * k]) for j in range(3)], 1)
                        o += 3 * k
                        y = net(win, aud[bs:be], p)
                    res[bs:be] = torch.sigmoid(y.logits.float())[:, 0]
                out[s0:e0].copy_(res, non_blocking=cuda)
                if ci + 1 < len(chunks):
                    host = host_chunk(*chunks[ci + 1])  # host work overlaps the queued device work
            if cuda:
                torch.cuda.current_stream(device).synchronize()
    finally:
        net.train(was_training)
    return out


# ------------------------------------------------------------------------------------------------ FLOPs


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations (multiply-add = 2) that ``fn()`` runs, by ``torch.utils.flop_counter``
    (convolutions, transposed convolutions and matrix products, backward included when ``fn`` runs it)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def net_flops(cfg: Any, num_classes: int, audio_shape: tuple[int, int]) -> dict[str, dict[str, float]]:
    """GFLOPs of each net at the profile's sizes, counted on the ``meta`` device (no arithmetic is run).

    Per net: ``forward_per_frame`` (one output frame, the plain forward: the ST/STA window encodes 3 frames),
    ``reuse_per_frame`` (encoder once + fusion and head: the features-once inference per frame),
    ``train_per_sample`` (forward + backward of one training sample).
    """
    from .models import Classifier
    from .sta import STANet

    m, out = cfg.model, {}
    specs = [("coarse_S", "S", m.coarse_size), ("coarse_ST", "ST", m.coarse_size), ("coarse_SA", "SA", m.coarse_size),
             ("fine_S", "S", m.fine_size), ("fine_ST", "ST", m.fine_size), ("fine_SA", "SA", m.fine_size),
             ("STA", "STA", m.sta_size)]
    meta = torch.device("meta")
    for name, kind, s in specs:
        with meta:
            net = STANet(m) if kind == "STA" else Classifier(kind, num_classes, m)
            b = 2
            frames = torch.rand(b, 3, 3, s, s) if kind in ("ST", "STA") else torch.rand(b, 3, s, s)
            audio = torch.rand(b, 1, *audio_shape)
            one = torch.rand(1, 3, s, s)
        kw = {"audio": audio} if kind in ("SA", "STA") else {}

        def forward(net=net, frames=frames, kw=kw) -> Any:
            return net(frames, **kw)

        def train(net=net, frames=frames, kw=kw) -> None:
            net(frames, **kw).logits.float().sum().backward()

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


# ------------------------------------------------------------------------------------ timing, memory


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
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
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
    import resource

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
    return torch.get_num_threads() if hasattr(torch, "get_num_threads") else os.cpu_count() or 1
