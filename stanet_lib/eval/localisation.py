"""Localisation against a known object: the pointing game.

Zhang, Lin, Brandt, Shen and Sclaroff, "Top-down Neural Attention by Excitation Backprop" (ECCV 2016): a map
*points* at an object when its maximum lies inside the object's box; the pointing accuracy of a set of frames is
the share of hits. Here the box is the sounding object's in the synthetic world's truth (``truth/stavis/<DB>/
<video>.npz``, ``box`` = y0, y1, x0, x1 inclusive, video pixels). A map with no maximum (all equal, e.g. an empty
SCAM, or not finite) points nowhere and counts as a miss. Ties go to the first maximum in row-major order, as
``numpy.argmax``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["map_peaks", "scale_boxes", "pointing_hits"]


def map_peaks(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, valid) of each map's maximum: ``maps`` (N, H, W); ``valid`` is False for a map that is constant
    or has a non-finite value."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 3:
        raise ValueError(f"maps must be (N, H, W), got {m.shape}")
    flat = m.reshape(len(m), -1)
    finite = np.isfinite(flat).all(1)
    safe = np.where(np.isfinite(flat), flat, -np.inf)
    idx = safe.argmax(1)
    valid = finite & (flat.max(1, initial=-np.inf) > flat.min(1, initial=np.inf))
    return idx // m.shape[2], idx % m.shape[2], valid


def scale_boxes(boxes: np.ndarray, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> np.ndarray:
    """Boxes (N, 4) y0, y1, x0, x1 (inclusive pixels) of an image of ``from_hw`` in the pixels of ``to_hw`` (an
    anisotropic resize, as the cache's square canvas): the covered pixel range [y0, y1 + 1) is scaled and the
    pixels it touches are kept."""
    b = np.asarray(boxes, dtype=np.float64)
    sy, sx = to_hw[0] / from_hw[0], to_hw[1] / from_hw[1]
    out = np.stack([np.floor(b[:, 0] * sy), np.ceil((b[:, 1] + 1) * sy) - 1,
                    np.floor(b[:, 2] * sx), np.ceil((b[:, 3] + 1) * sx) - 1], 1)
    out[:, :2] = out[:, :2].clip(0, to_hw[0] - 1)
    out[:, 2:] = out[:, 2:].clip(0, to_hw[1] - 1)
    return out.astype(np.int64)


def pointing_hits(maps: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: the maximum of map i lies inside box i (same pixel grid; boxes (N, 4) y0, y1, x0, x1 inclusive)."""
    b = np.asarray(boxes)
    if b.shape != (len(maps), 4):
        raise ValueError(f"boxes must be ({len(maps)}, 4), got {b.shape}")
    r, c, valid = map_peaks(maps)
    return valid & (r >= b[:, 0]) & (r <= b[:, 1]) & (c >= b[:, 2]) & (c <= b[:, 3])
