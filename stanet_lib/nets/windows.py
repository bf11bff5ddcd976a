"""Feature reuse over the overlapping (t-1, t, t+1) windows: how the ST and STA nets run at inference.

The ST and STA nets see the window (t-1, t, t+1) through ONE shared encoder, so a frame's encoder
features are the same in the three windows it belongs to. :func:`window_batches` groups centre frames into
batches with the sorted set of frames their windows need; each needed frame is encoded once per batch
(``batch + 2`` encodes per ``batch`` frames inside a clip instead of ``3 x batch``). It serves
:func:`stanet_lib.stages.pseudo.tag_cams` (coarse ST CAMs) and :func:`predict_frames` (notebook 05, ``predict``). Fine-stage ST windows cannot share features: the
crops of t-1 and t+1 are cut with frame t's box, so they differ from those frames' own centre crops.

:func:`predict_frames` is fed for a GPU: frames travel as uint8 in chunks
(pinned, asynchronous) and become float on the device, every index is computed on the host up front (no
synchronisation inside the loop), results are copied back once per chunk, bf16 autocast and channels-last
on CUDA, optionally ``torch.compile`` of the encoder at one static shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .runtime import autocast, eval_on, select_device
from .sta import FrameFeatures

__all__ = ["window_batches", "encodes_per_frame", "padded", "predict_frames"]


def window_batches(prev: Tensor, next: Tensor, batch: int,
                   only: Sequence[int] | None = None) -> list[tuple[slice, Tensor, Tensor]]:
    """Batches of centre frames with the frames their (t-1, t, t+1) windows need, each listed once.

    Args:
        prev, next: (N,) long indices of frames t-1 and t+1 (clamped at clip ends, :class:`~stanet_lib.data.frames.FrameSet`).
        batch: centre frames per batch.
        only: the numbers of the batches to make (batch k holds centre frames ``k * batch`` to
            ``(k + 1) * batch - 1``); default all, in order.

    Returns:
        Per batch ``(centre, need, pos)``: ``centre`` the slice of centre frames, ``need`` (M,) the sorted
        unique frame indices (the same set :func:`predict_frames` encodes), ``pos`` (3, B) the
        positions in ``need`` of frames t-1, t, t+1 of each window.
    """
    prev, next = torch.as_tensor(prev).long(), torch.as_tensor(next).long()
    if prev.shape != next.shape or prev.dim() != 1:
        raise ValueError(f"prev and next must be (N,) index vectors, got {tuple(prev.shape)} and {tuple(next.shape)}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    n, out = len(prev), []
    starts = range(0, n, batch) if only is None else [k * batch for k in only]
    if any(not 0 <= s < n for s in starts):
        raise ValueError(f"only: batch numbers must lie in 0..{(n - 1) // batch} for {n} frames in batches of {batch}")
    for s in starts:
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

def predict_frames(model: nn.Module, images: Tensor, audio: Tensor, prev: Tensor, next: Tensor,
                switch: np.ndarray | Tensor | None = None, batch: int = 64, device: torch.device | str | None = None,
                amp: bool = True, reuse: bool = True, chunk: int = 512, channels_last: bool = True,
                encoder: Callable[[Tensor], Any] | None = None, head: Callable[..., Any] | None = None,
                pad: bool | None = None, compile_nets: bool = False) -> Tensor:
    """Fixation maps sigmoid(logits) of every frame, each frame encoded once per batch (features-once inference).

    One code path for notebook 05, ``predict`` and ``bench sta``: uint8 frames shipped to the device in chunks,
    indices prepared on the host, bf16 + channels-last + padded batch shapes on CUDA.

    Args:
        model: an :class:`~stanet_lib.nets.sta.STANet`.
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
    device = select_device() if device is None else torch.device(device)
    cuda = device.type == "cuda"
    images, audio = torch.as_tensor(images), torch.as_tensor(audio)
    n = len(images)
    # frames (N, 3, H, W), or trunk features (N, C, h, w) standing for frames of encoder.image_size
    h, w = model.encoder.image_size(images[:1])
    prev, next = torch.as_tensor(prev).long(), torch.as_tensor(next).long()
    if images.dim() != 4 or len(audio) != n or len(prev) != n or len(next) != n:
        raise ValueError(f"predict_frames: images {tuple(images.shape)} must be (N, 3, H, W); audio ({len(audio)}), "
                         f"prev ({len(prev)}) and next ({len(next)}) must have N = {n} rows")
    sw = None if switch is None else torch.as_tensor(np.asarray(switch), dtype=torch.float32)
    pad = cuda if pad is None else pad
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
    with eval_on(model, device, channels_last) as net, torch.no_grad(), autocast(device, amp):
        encode, fuse = encoder or net.encode, head or net.forward_features
        if compile_nets:
            encode = encoder or torch.compile(net.encode, dynamic=False)
            fuse = head or torch.compile(net.forward_features, dynamic=False)
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
    return out
