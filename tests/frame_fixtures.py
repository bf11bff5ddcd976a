"""Tiny in-memory frame sets and clip layouts for the frames, loaders, nets and stage tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from stanet_lib.data.frames import FrameSet


def frameset(n_clips: int = 2, t: int = 3, size: int = 16) -> FrameSet:
    """``n_clips`` clips of ``t`` frames; frame ``i`` is a flat image of value ``10 * i`` (so a test can tell which
    frame it got), random (4, 5) float16 audio features, label = clip index."""
    n = n_clips * t
    frames = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, size, size, 3).contiguous() * 10
    pos = np.tile(np.arange(t), n_clips)
    offset = np.repeat(np.arange(n_clips) * t, t)
    meta = pd.DataFrame({"source": "ave", "db": "AVE", "video": np.repeat([f"v{i}" for i in range(n_clips)], t),
                         "row": np.repeat(np.arange(n_clips), t), "split": "train",
                         "clip": np.repeat(np.arange(n_clips), t), "pos": pos, "time": pos / 4.0, "number": pos + 1})
    return FrameSet(frames, torch.rand(n, 4, 5).half(), torch.tensor(np.repeat(np.arange(n_clips), t)),
                    torch.as_tensor(offset + np.maximum(pos - 1, 0)), torch.as_tensor(offset + np.minimum(pos + 1, t - 1)),
                    torch.ones(n, dtype=torch.bool), meta)


def clips(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """prev / next of consecutive clips of the given lengths (clamped at each clip's ends)."""
    prev, nxt, off = [], [], 0
    for n in lengths:
        i = torch.arange(n)
        prev.append(off + (i - 1).clamp(min=0))
        nxt.append(off + (i + 1).clamp(max=n - 1))
        off += n
    return torch.cat(prev), torch.cat(nxt)


def uint8_frames(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) random uint8 frames."""
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
