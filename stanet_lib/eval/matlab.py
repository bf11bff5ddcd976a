"""MATLAB-compatible image operations used by the STAViS evaluation protocol.

Every function names the MATLAB routine it reproduces (``reference/evaluation_protocol_and_datasets.md``
§1.1-1.2):

- :func:`matlab_colon` -- ``a:d:b`` (``colonop``: built symmetrically about the mid-point, ``2*eps``
  tolerance); ``AUC_shuffled.m`` takes its thresholds from ``0:stepSize:max``.
- :func:`imresize` -- ``imresize(A, [m n])`` with the default bicubic kernel (``a = -0.5``), antialiasing
  when a dimension shrinks, MATLAB's index mapping ``u = x/scale + 0.5*(1 - 1/scale)``, symmetric (mirror)
  borders, weights normalised per output pixel, the dimension with the smaller scale resized first. Doubles
  are not clipped (MATLAB clips only integer classes).
- :func:`fspecial_gaussian`, :func:`imfilter_symmetric` -- ``fspecial('gaussian', 2*ceil(3*sigma)+1, sigma)``
  and ``imfilter(x, h, 'symmetric', 'conv')`` (``padarray`` 'symmetric': ``[c b a | a b c | c b a]``).
- :func:`postprocess_map` -- STAViS ``eval_code/postprocessMap.m`` + ``normalizeImage1.m``.
- :class:`PostResize` -- ``postprocessMap`` followed by ``imresize`` to the ground-truth size, with the blur
  and the resize folded into two precomputed (out, in) matrices per size pair (one product per axis).

All resizing here is linear, so ``imresize(imfilter(x))`` = ``R_r B_r x B_c^T R_c^T`` exactly in real
arithmetic; the fused form differs from the two-step form only by float64 rounding (~1e-16). A map that is
exactly constant after ``normalizeImage1`` is kept exactly constant (the real-arithmetic result); MATLAB's
floating point could leave ~1e-17 ripples there, which would then decide CC/NSS by noise instead of NaN.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import convolve

MATLAB_EPS = 2.220446049250313e-16  # MATLAB eps(1.0)


def matlab_colon(a: float, d: float, b: float) -> np.ndarray:
    """``a:d:b`` as MATLAB builds it (the algorithm of MathWorks' ``colonop.m``).

    ``n = round((b-a)/d)`` (minus one when ``a+n*d`` overshoots ``b`` by more than ``2*eps*max(|a|,|b|)``),
    end point ``c = a + n d`` snapped to ``b`` when within that tolerance, first half ``a + k d``, second half
    ``c - k d``, middle element ``(a + c)/2`` when ``n`` is even. Non-finite input gives ``[NaN]``; an empty
    range gives ``[]``.
    """
    if not (math.isfinite(a) and math.isfinite(d) and math.isfinite(b)):
        return np.array([np.nan])
    if d == 0 or (a < b and d < 0) or (b < a and d > 0):
        return np.zeros(0)
    tol = 2.0 * MATLAB_EPS * max(abs(a), abs(b))
    sig = 1.0 if d > 0 else -1.0
    n = round((b - a) / d)
    if sig * (a + n * d - b) > tol:
        n -= 1
    c = a + n * d
    if sig * (c - b) > -tol:
        c = b
    v = np.empty(n + 1)
    k = np.arange(n // 2 + 1)
    v[k] = a + k * d
    v[n - k] = c - k * d
    if n % 2 == 0:
        v[n // 2] = (a + c) / 2
    return v


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic kernel with a = -0.5 (``imresize.m`` ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def _mirror(idx: np.ndarray, n: int) -> np.ndarray:
    """1-based indices mapped into 1..n by ``aux = [1:n, n:-1:1]; aux(mod(idx-1, 2n)+1)`` (0-based output)."""
    aux = np.concatenate([np.arange(n), np.arange(n - 1, -1, -1)])
    return aux[np.mod(idx - 1, 2 * n)]


@functools.lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, antialias: bool = True) -> np.ndarray:
    """(out_len, in_len) float64 matrix of ``imresize``'s bicubic ``contributions`` along one dimension."""
    if in_len < 1 or out_len < 1:
        raise ValueError(f"imresize: lengths must be positive, got {in_len} -> {out_len}")
    scale = out_len / in_len
    width = 4.0
    if scale < 1 and antialias:
        kernel = lambda x: scale * _cubic(scale * x)  # noqa: E731
        width = width / scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = math.ceil(width) + 2
    idx = left[:, None] + np.arange(p)[None, :]  # (out, P), 1-based
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    cols = _mirror(idx.astype(np.int64), in_len)
    m = np.zeros((out_len, in_len))
    np.add.at(m, (np.repeat(np.arange(out_len), p), cols.ravel()), w.ravel())
    m.setflags(write=False)
    return m


def imresize(image: np.ndarray, size: tuple[int, int], antialias: bool = True,
             cached: bool = True) -> np.ndarray:
    """MATLAB ``imresize(image, [rows cols])`` (bicubic) for a 2-D array, as float64 without clipping.

    Args:
        image: (H, W) array; integer input is converted with ``astype(float64)`` (values kept, not rescaled).
        size: output (rows, cols).
        antialias: MATLAB's default ``'Antialiasing', true`` (only acts on a shrinking dimension).
        cached: reuse the weight matrices of earlier calls (``False`` rebuilds them, as MATLAB does per call).

    Returns:
        (rows, cols) float64.
    """
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"imresize: expected a 2-D map, got shape {x.shape}")
    rows, cols = int(size[0]), int(size[1])
    if x.shape == (rows, cols):
        return x.copy()  # scale 1 weights are exactly the identity
    build = resize_matrix if cached else resize_matrix.__wrapped__
    mr = build(x.shape[0], rows, antialias)
    mc = build(x.shape[1], cols, antialias)
    # MATLAB resizes the dimension with the smaller scale first (sort(scale), stable).
    if cols / x.shape[1] < rows / x.shape[0]:
        return mr @ (x @ mc.T)
    return (mr @ x) @ mc.T


@functools.lru_cache(maxsize=8)
def fspecial_gaussian(sigma: float = 2.0, size: int | None = None) -> np.ndarray:
    """``fspecial('gaussian', size, sigma)``; default size ``2*ceil(3*sigma)+1`` (13 for sigma 2), sum 1."""
    size = 2 * math.ceil(3 * sigma) + 1 if size is None else int(size)
    r = (size - 1) / 2
    y, x = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < MATLAB_EPS * h.max()] = 0
    h = h / h.sum()
    h.setflags(write=False)
    return h


@functools.lru_cache(maxsize=64)
def blur_matrix(n: int, sigma: float = 2.0) -> np.ndarray:
    """(n, n) matrix of the 1-D factor of the separable Gaussian with symmetric padding (``padarray``)."""
    h = fspecial_gaussian(sigma)
    g = h.sum(axis=1)  # the 2-D kernel is outer(g, g): exp(-(x^2+y^2)/2s^2) factorises
    r = (len(g) - 1) // 2
    rows = np.repeat(np.arange(n), len(g))
    cols = _mirror((np.arange(n)[:, None] + np.arange(-r, r + 1)[None, :] + 1).ravel(), n)
    m = np.zeros((n, n))
    np.add.at(m, (rows, cols), np.tile(g, n))
    m.setflags(write=False)
    return m


def imfilter_symmetric(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``imfilter(image, kernel, 'symmetric', 'conv')`` for a 2-D float map and an odd-sized 2-D kernel."""

    x = np.asarray(image, dtype=np.float64)
    if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"imfilter_symmetric: odd kernel sizes only, got {kernel.shape}")
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    # MATLAB padarray 'symmetric' handles pads larger than the image by periodic mirroring; so does _mirror.
    iy = _mirror(np.arange(-ry, x.shape[0] + ry) + 1, x.shape[0])
    ix = _mirror(np.arange(-rx, x.shape[1] + rx) + 1, x.shape[1])
    padded = x[np.ix_(iy, ix)]
    return convolve(padded, kernel, mode="constant")[ry : ry + x.shape[0], rx : rx + x.shape[1]]


def normalize_image1(x: np.ndarray) -> np.ndarray:
    """STAViS ``normalizeImage1.m`` with range [0, 1]: min-max; a constant map becomes 0.5 (NaN stays NaN)."""
    mx, mn = _nanmax(x), _nanmin(x)
    if mx == mn:
        return x - mx + 0.5
    return (x - mn) / (mx - mn)


def _nanmax(x: np.ndarray) -> float:
    return float(np.nanmax(x)) if not np.all(np.isnan(x)) else float("nan")


def _nanmin(x: np.ndarray) -> float:
    return float(np.nanmin(x)) if not np.all(np.isnan(x)) else float("nan")


def _scale_clip(pred: np.ndarray) -> np.ndarray:
    """``postprocessMap.m`` up to ``normalizeImage1``: x255, clip [0, 255], /max x255, min-max."""
    x = 255.0 * np.asarray(pred, dtype=np.float64)
    x = np.clip(x, 0.0, 255.0)  # NaN stays NaN, as MATLAB's logical indexing leaves it
    with np.errstate(invalid="ignore", divide="ignore"):
        x = x / _nanmax(x) * 255.0  # all-zero map: 0/0 = NaN (the frame is dropped from every metric)
        return normalize_image1(x)


def postprocess_map(pred: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """STAViS ``postprocessMap(netMap, sigma)`` on a prediction in [0, 1] (``im2double`` of the saved JPEG).

    ``255*x``, clip to [0, 255], ``x/max(x)*255``, ``normalizeImage1`` (min-max; constant -> 0.5), then
    ``imfilter(x, fspecial('gaussian', 2*ceil(3*sigma)+1, sigma), 'symmetric', 'conv')``.
    """
    x = _scale_clip(pred)
    if np.all(np.isnan(x)) or _nanmax(x) == _nanmin(x):
        return x  # constant (0.5) or all-NaN: the blur leaves it unchanged in real arithmetic
    return imfilter_symmetric(x, fspecial_gaussian(sigma))


class PostResize:
    """``imresize(postprocessMap(pred, sigma), out_size)``, both linear steps folded into per-axis matrices.

    ``M_r = R_r B_r`` (rows) and ``M_c = R_c B_c`` (columns) are built once per (input size, output size) and
    cached; one frame then costs two sparse-by-dense products.
    """

    def __init__(self, sigma: float = 2.0, antialias: bool = True) -> None:
        self.sigma = float(sigma)
        self.antialias = antialias
        self._cache: dict[tuple[int, int], sp.csr_matrix] = {}

    def _axis(self, n_in: int, n_out: int) -> sp.csr_matrix:
        key = (n_in, n_out)
        if key not in self._cache:
            m = resize_matrix(n_in, n_out, self.antialias) @ blur_matrix(n_in, self.sigma)  # (out, in)
            m[np.abs(m) < 1e-300] = 0.0
            self._cache[key] = sp.csr_matrix(m)
        return self._cache[key]

    def __call__(self, pred: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        """(h, w) prediction in [0, 1] -> (rows, cols) float64 saliency map at the ground-truth size."""
        x = _scale_clip(pred)
        rows, cols = int(out_size[0]), int(out_size[1])
        if np.all(np.isnan(x)) or _nanmax(x) == _nanmin(x):
            return np.full((rows, cols), x.flat[0])  # all-NaN or exactly constant 0.5
        mr, mc = self._axis(x.shape[0], rows), self._axis(x.shape[1], cols)
        y = mr @ x  # (rows, w)
        return np.ascontiguousarray((mc @ y.T).T)  # (rows, cols), C order: the metrics ravel it often
