"""Baseline predictors for the metric tables: no training, no fixations used (except the upper bound).

- ``centre``: a centre-bias Gaussian (sigma = a fraction of each image side), the same map for every frame;
- ``constant``: a constant map -- shows the NaN handling (CC, NSS, SIM, s-AUC are NaN on every frame, AUC-J is
  ~0.5 from the jitter alone, ``metrics.AUC_Judd``);
- ``ground_truth``: the continuous ground-truth map ``maps/eyeMap_%05d.jpg`` itself (an upper bound; it
  still goes through the protocol's blur, so CC < 1);
- ``spectral_residual_motion``: spectral residual saliency (Hou & Zhang, "Saliency Detection: A Spectral
  Residual Approach", CVPR 2007: grey frame down-sampled to 64 px, log amplitude spectrum minus its 3x3 local average,
  inverse FFT with the original phase, squared, Gaussian sigma 8 px at 64 px) averaged with a frame-difference
  motion cue (the "flicker" channel of Itti, Dhavale & Pighin, SPIE 2003: ``|Y_t - Y_{t-1}|``, smoothed
  the same way). Each cue is max-normalised before averaging; the first frame has no motion cue.

Every baseline is a :class:`BaselinePredictions` source that :func:`stanet_lib.eval.protocol.evaluate_db`
consumes directly, or a (T, H, W) array from :func:`video_maps`. Maps are float in [0, 1] at the ground-truth size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter, uniform_filter

from ..data.stavis import StavisRoot, load_gt_map
from .matlab import imresize

KINDS = ("centre", "constant", "ground_truth", "spectral_residual_motion")


def centre_bias(shape: tuple[int, int], sigma_frac: float = 0.25) -> np.ndarray:
    """(H, W) Gaussian centred on the image, sigma = ``sigma_frac`` x height (rows), x width (cols); max 1."""
    h, w = shape
    y = (np.arange(h) - (h - 1) / 2) / (sigma_frac * h)
    x = (np.arange(w) - (w - 1) / 2) / (sigma_frac * w)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))


def constant_map(shape: tuple[int, int], value: float = 0.5) -> np.ndarray:
    """(H, W) map with one value everywhere."""
    return np.full(shape, float(value))


def _small(gray: np.ndarray, width: int) -> np.ndarray:
    h, w = gray.shape
    return imresize(gray, (max(1, round(h * width / w)), width))


def spectral_residual(gray: np.ndarray, width: int = 64, sigma: float = 8.0) -> np.ndarray:
    """Hou & Zhang (CVPR 2007) spectral residual saliency of a grey (H, W) image, at ``width`` px, max 1.

    ``A = log|F|``, ``R = A - h_3 * A`` (3x3 mean), ``S = g_sigma * |F^-1(exp(R + i P))|^2``.
    """
    small = _small(np.asarray(gray, dtype=np.float64), width)
    f = np.fft.fft2(small)
    log_amp = np.log(np.abs(f) + 1e-12)
    residual = log_amp - uniform_filter(log_amp, size=3, mode="wrap")  # the spectrum is periodic
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2
    sal = gaussian_filter(sal, sigma, mode="reflect")
    return sal / sal.max() if sal.max() > 0 else sal


def flicker(gray: np.ndarray, prev: np.ndarray, width: int = 64, sigma: float = 8.0) -> np.ndarray:
    """Frame-difference motion cue ``g_sigma * |Y_t - Y_{t-1}|`` at ``width`` px, max 1 (zero if static)."""
    diff = np.abs(_small(np.asarray(gray, np.float64), width) - _small(np.asarray(prev, np.float64), width))
    m = gaussian_filter(diff, sigma, mode="reflect")
    return m / m.max() if m.max() > 1e-12 else np.zeros_like(m)


def spectral_residual_motion(gray: np.ndarray, prev: np.ndarray | None, out_shape: tuple[int, int],
                             width: int = 64, sigma: float = 8.0, motion_weight: float = 0.5) -> np.ndarray:
    """Spectral residual + flicker, resized (MATLAB bicubic) to ``out_shape``, clipped to [0, 1], max 1."""
    sal = spectral_residual(gray, width, sigma)
    if prev is not None:
        mot = flicker(gray, prev, width, sigma)
        if mot.any():
            sal = (1 - motion_weight) * sal + motion_weight * mot
    out = np.clip(imresize(sal, out_shape), 0.0, None)
    return out / out.max() if out.max() > 0 else out


def read_gray(path: str | Path) -> np.ndarray:
    """A video frame as grey float64 in [0, 1] (PIL ``L`` conversion, ITU-R 601 luma)."""

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: video frame not found")
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float64) / 255.0


class BaselinePredictions:
    """An evaluation source (``list_frames``/``load``) computing a baseline's map for each frame on demand.

    Example:
        >>> from stanet_lib.eval.protocol import evaluate_db
        >>> res = evaluate_db(root, "AVAD", BaselinePredictions("centre", root, "AVAD"))  # doctest: +SKIP
    """

    def __init__(self, kind: str, stavis_root: str | Path, db: str, **params: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown baseline {kind!r}; choose one of {', '.join(KINDS)}")
        self.kind, self.root, self.db, self.params = kind, StavisRoot(stavis_root), db, params
        self._shapes: dict[str, tuple[int, int]] = {}

    def gt_shape(self, video: str) -> tuple[int, int]:
        """(H, W) of the video's ground-truth maps (read from the first map's header)."""
        if video not in self._shapes:

            path = self.root.map_path(self.db, video, 1)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: ground-truth map not found")
            with Image.open(path) as im:
                self._shapes[video] = (im.size[1], im.size[0])
        return self._shapes[video]

    def list_frames(self, split: int, video: str, nframes: int) -> list[tuple[int, Any]]:
        return [(f, (video, f)) for f in range(1, nframes + 1)]

    def load(self, handle: tuple[str, int]) -> np.ndarray:
        video, f = handle
        if self.kind == "ground_truth":
            return load_gt_map(self.root.map_path(self.db, video, f))
        shape = self.gt_shape(video)
        if self.kind == "centre":
            return centre_bias(shape, self.params.get("sigma_frac", 0.25))
        if self.kind == "constant":
            return constant_map(shape, self.params.get("value", 0.5))
        gray = read_gray(self.root.frame_path(self.db, video, f))
        prev = read_gray(self.root.frame_path(self.db, video, f - 1)) if f > 1 else None
        keys = ("width", "sigma", "motion_weight")
        kw = {k: self.params[k] for k in keys if k in self.params}
        return spectral_residual_motion(gray, prev, shape, **kw)


def video_maps(kind: str, stavis_root: str | Path, db: str, video: str, nframes: int,
               **params: Any) -> np.ndarray:
    """(T, H, W) float32 maps of one baseline for frames 1..nframes (usable as ``{video: array}``)."""
    src = BaselinePredictions(kind, stavis_root, db, **params)
    return np.stack([src.load((video, f)) for f in range(1, nframes + 1)]).astype(np.float32)
