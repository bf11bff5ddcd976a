"""Saliency metrics following the MIT benchmark code (``cvzoya/saliency/code_forMetrics``) exactly.

These are the functions the STAViS wrapper calls, hence the ones behind STANet's Table 4
(``reference/evaluation_protocol_and_datasets.md`` §1.0-1.2). Conventions, each from the named ``.m`` file:

- ``AUC_Judd.m``: NaN without fixations; jitter ``rand/1e7`` (default on); min-max; NaN if the map is all NaN;
  one threshold per fixated pixel (sorted descending); ``tp(i+1) = i/Nfix``,
  ``fp(i+1) = (#{S >= thr_i} - i)/(Npix - Nfix)`` with 1-based ``i``; (0,0) and (1,1) end points; ``trapz``.
- ``AUC_shuffled.m``: no jitter; min-max; ``Nfix_oth = min(Nfix, #other)`` negatives drawn without replacement
  (``randperm``) from the other map, 100 splits, thresholds ``fliplr(0:0.1:max([Sth; curfix]))`` (MATLAB colon),
  ``tp = mean(Sth >= t)``, ``fp = sum(curfix >= t)/Nfix_oth``, end points, ``trapz``, mean over the splits.
- ``NSS.m``: z-score with ``std`` normalised by N-1 (``ddof=1``), mean at fixated pixels; constant map -> NaN.
- ``CC.m``: both maps z-scored (N-1), ``corr2``; a constant map -> NaN.
- ``similarity.m`` (SIM): each map that has a non-zero value is min-max normalised then divided by its sum (an
  all-zero map stays zero: SIM 0); an all-NaN map -> NaN; ``sum(min(map1, map2))``.
- ``KLdiv.m``: each map divided by its sum (no min-max), ``sum(G .* log(eps + G./(P + eps)))``,
  ``eps = 2.2204e-16``.

Every function resizes the saliency map to the fixation/ground-truth map size with MATLAB's bicubic
``imresize`` (:func:`stanet_lib.eval.matlab.imresize`) when the sizes differ, as the ``.m`` files do. MATLAB's
``min``/``max``/``any`` ignore NaN, ``sum``/``mean``/``std`` propagate it; the same holds here. Random parts
(AUC-J jitter, sAUC negatives) take a ``numpy.random.Generator`` or a seed; MATLAB's own draws (Mersenne
Twister, seed 0 in every fresh session) cannot be reproduced, so expect ~1e-3 noise in sAUC/AUC-J, not a bias.

Implementation notes (same numbers as the literal loops at the end of this module, faster): AUC-J counts
``#{S >= thr}`` for all thresholds at once (bucket histogram + exact comparisons near the thresholds); sAUC
draws its 100 subsets at once (:func:`draw_negatives`: uniform subsets without replacement, like the first
``Nfix_oth`` of a ``randperm``) and evaluates all splits together.
"""

from __future__ import annotations

import numpy as np

from .matlab import MATLAB_EPS, imresize, matlab_colon

RngLike = np.random.Generator | int | None

#: Result-column names in the paper's column order (Tables 1-4: AUC-J, SIM, s-AUC, CC, NSS) and their labels.
TABLE_METRICS = ("AUC_J", "SIM", "sAUC", "CC", "NSS")
PAPER_LABELS = {"AUC_J": "AUC-J", "SIM": "SIM", "sAUC": "s-AUC", "CC": "CC", "NSS": "NSS"}


def _rng(rng: RngLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _as_map(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D map, got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def _fit(sal: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Resize the saliency map to ``shape`` when it differs (``if size(S) ~= size(F), S = imresize(...)``)."""
    return sal if sal.shape == shape else imresize(sal, shape)


def _minmax(s: np.ndarray) -> np.ndarray:
    """``(S - min(S(:))) / (max(S(:)) - min(S(:)))`` with MATLAB's NaN-ignoring min/max; 0/0 gives NaN."""
    mn, mx = s.min(), s.max()
    if np.isnan(mn) or np.isnan(mx):
        finite = s[~np.isnan(s)]
        if finite.size == 0:
            return s
        mn, mx = finite.min(), finite.max()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s - mn) / (mx - mn)


def _trapz(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """MATLAB ``trapz(x, y)`` along the last axis."""
    return np.sum(np.diff(x, axis=-1) * (y[..., 1:] + y[..., :-1]) / 2.0, axis=-1)


def AUC_Judd(saliency_map: np.ndarray, fixation_map: np.ndarray, jitter: bool = True,
             rng: RngLike = None) -> float:
    """AUC-Judd (``AUC_Judd.m``, cvzoya/saliency ``code_forMetrics``).

    Args:
        saliency_map: (h, w) prediction; resized to the fixation map size when it differs.
        fixation_map: (H, W) fixation map; pixels > 0 are fixations (duplicates collapse).
        jitter: add ``rand(H, W)/1e7`` before normalising (MATLAB default 1) to break ties.
        rng: Generator or seed for the jitter.

    Returns:
        The area under the ROC curve, or NaN (no fixations, an all-NaN or constant-without-jitter map).
    """
    fix = np.asarray(fixation_map) > 0
    if not fix.any():
        return float("nan")
    s = _fit(_as_map(saliency_map, "saliency_map"), fix.shape)
    if jitter:
        s = s + _rng(rng).random(s.shape) / 10000000
    s = _minmax(s)
    if np.all(np.isnan(s)):
        return float("nan")
    s, f = s.ravel(), fix.ravel()
    n_pix, sth = s.size, s[f]
    n_fix = sth.size
    asc = np.sort(sth)  # NaN last: in 'descend' order they come first and count nothing (S >= NaN is false)
    n_nan = int(np.isnan(asc).sum())
    above = np.zeros(n_fix)  # above[i-1] = #{S >= thr_i}, thresholds descending
    if n_nan < n_fix:
        above[n_nan:] = _count_at_or_above(s, asc[: n_fix - n_nan])[::-1]
    i = np.arange(1, n_fix + 1)
    tp = np.concatenate([[0.0], i / n_fix, [1.0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        fp = np.concatenate([[0.0], (above - i) / (n_pix - n_fix), [1.0]])
    return float(_trapz(fp, tp))


_BUCKETS = 4096  # a power of two: x * K is exact, so the bucket index is monotone in x


def _count_at_or_above(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``#{values >= t}`` for each of the ascending ``thresholds``; exact for ``values`` in [0, 1] (a min-max
    normalised map; NaN values never count).

    Pixels are first counted in 4096 equal buckets (integer ``bincount``); only the pixels sharing a bucket
    with a threshold are compared one by one. A plain ``searchsorted`` of 230k pixels is ~5x slower.
    """
    k = _BUCKETS
    if np.isnan(values).any():
        values = values[~np.isnan(values)]
    vb = (values * k).astype(np.intp)  # 0..k (k only for 1.0); monotone in the value
    tb = (thresholds * k).astype(np.intp)
    hist = np.bincount(vb, minlength=k + 1)
    n_above_bucket = np.concatenate([np.cumsum(hist[::-1])[::-1][1:], [0]])  # #{bucket > b}
    in_tb = np.zeros(k + 1, dtype=bool)
    in_tb[tb] = True
    near = np.sort(values[in_tb[vb]])  # every value sharing a bucket with some threshold, ascending
    near_b = (near * k).astype(np.intp)
    same_or_above = near.size - np.searchsorted(near, thresholds, side="left")  # #{near >= t}
    near_higher = near.size - np.searchsorted(near_b, tb, side="right")  # #{near in a bucket > tb}
    return n_above_bucket[tb] + same_or_above - near_higher


def draw_negatives(gen: np.random.Generator, n_pool: int, m: int, n_splits: int) -> np.ndarray:
    """(n_splits, m) indices into a pool of ``n_pool``: each row a uniform random m-subset, no repeats.

    MATLAB takes the first ``m`` of ``randperm(n_pool)``; any uniform subset is the same in distribution.
    Large pools: the first ``m`` distinct values of ``m + pad`` i.i.d. draws per row (sequential sampling
    without replacement; the rare short row is redrawn with ``Generator.choice``). Small pools: the ``m``
    smallest of ``n_pool`` random keys.
    """
    if m > n_pool or m < 0:
        raise ValueError(f"cannot draw {m} negatives from a pool of {n_pool}")
    if n_pool < 4 * m or n_pool <= 64:
        keys = gen.random((n_splits, n_pool))
        return np.argpartition(keys, m - 1, axis=1)[:, :m] if m < n_pool else np.argsort(keys, axis=1)
    pad = m // 4 + 8
    draws = gen.integers(0, n_pool, (n_splits, m + pad))
    order = np.argsort(draws, axis=1, kind="stable")
    srt = np.take_along_axis(draws, order, axis=1)
    first_sorted = np.ones_like(srt, dtype=bool)
    first_sorted[:, 1:] = srt[:, 1:] != srt[:, :-1]  # first occurrence (stable sort keeps draw order)
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, order, first_sorted, axis=1)
    keep = first & (np.cumsum(first, axis=1) <= m)
    out = np.empty((n_splits, m), dtype=np.int64)
    ok = keep.sum(axis=1) == m
    out[ok] = draws[ok][keep[ok]].reshape(-1, m)
    for r in np.flatnonzero(~ok):
        out[r] = gen.choice(n_pool, m, replace=False)
    return out


def sauc_thresholds(top: float, step: float = 0.1) -> np.ndarray:
    """``fliplr(0:stepSize:top)`` as ``AUC_shuffled.m`` builds it (MATLAB colon rounding)."""
    return matlab_colon(0.0, step, top)[::-1]


def AUC_shuffled(saliency_map: np.ndarray, fixation_map: np.ndarray, other_map: np.ndarray,
                 n_splits: int = 100, step_size: float = 0.1, rng: RngLike = None) -> float:
    """Shuffled AUC (``AUC_shuffled.m``, cvzoya/saliency ``code_forMetrics``).

    Args:
        saliency_map: (h, w) prediction; resized to the fixation map size when it differs.
        fixation_map: (H, W); pixels > 0 are the positives.
        other_map: (H, W); pixels > 0 are the pool of negatives (STAViS: the union of the video's
            fixation maps with the current frame's fixated pixels removed, ``createShuffmap1.m``).
        n_splits: random splits (``Nsplits`` = 100).
        step_size: threshold step (``stepSize`` = 0.1).
        rng: Generator or seed for the ``randperm`` draws.

    Returns:
        Mean AUC over the splits; NaN without fixations, for an all-NaN/constant map, or an empty other map
        (MATLAB: ``0/0`` in ``fp``).
    """
    fix = np.asarray(fixation_map) > 0
    if not fix.any():
        return float("nan")
    oth = np.asarray(other_map)
    if oth.shape != fix.shape:
        raise ValueError(f"other_map shape {oth.shape} != fixation_map shape {fix.shape}")
    s = _minmax(_fit(_as_map(saliency_map, "saliency_map"), fix.shape))
    if np.all(np.isnan(s)):
        return float("nan")
    s = s.ravel()
    sth = s[fix.ravel()]
    pool = s[np.flatnonzero(oth.ravel() > 0)]
    n_fix, n_pool = sth.size, pool.size
    m = min(n_fix, n_pool)
    if m == 0:
        return float("nan")
    if m == n_pool:  # every split takes the whole pool (only the order differs): no draw needed
        curfix = np.broadcast_to(pool, (n_splits, m))
    else:
        curfix = pool[draw_negatives(_rng(rng), n_pool, m, n_splits)]  # (splits, m)
    return float(np.mean(_sauc_splits(sth, curfix, step_size)))


def _sauc_splits(sth: np.ndarray, curfix: np.ndarray, step: float) -> np.ndarray:
    """AUC of each split (row of ``curfix``) with thresholds ``fliplr(0:step:max([Sth; curfix]))``."""
    n_fix, (n_splits, m) = sth.size, curfix.shape
    top_fix = np.nanmax(sth) if not np.all(np.isnan(sth)) else -np.inf
    with np.errstate(invalid="ignore"):
        tops = np.fmax(np.nanmax(np.where(np.isnan(curfix), -np.inf, curfix), axis=1), top_fix)  # (splits,)
    uniq, inverse = np.unique(tops, return_inverse=True)
    thr_sets = [sauc_thresholds(float(t), step) for t in uniq]
    width = max(len(t) for t in thr_sets)
    # Pad with +inf: a threshold above every value repeats the (0, 0) point and adds no area.
    thr = np.full((len(uniq), width), np.inf)
    for j, t in enumerate(thr_sets):
        thr[j, width - len(t):] = t
    thr = thr[inverse.ravel()]  # (splits, width), descending after the padding
    sth_sorted = np.sort(sth[~np.isnan(sth)])
    tp_counts = sth_sorted.size - np.searchsorted(sth_sorted, thr, side="left")  # #{Sth >= t}
    fp_counts = np.zeros(thr.shape, dtype=np.int64)
    for j in range(width):  # <= 11 thresholds; NaN >= t is false, as in MATLAB
        fp_counts[:, j] = np.count_nonzero(curfix >= thr[:, j : j + 1], axis=1)
    zeros, ones = np.zeros((n_splits, 1)), np.ones((n_splits, 1))
    tp = np.hstack([zeros, tp_counts / n_fix, ones])
    fp = np.hstack([zeros, fp_counts / m, ones])
    return _trapz(fp, tp)


def NSS(saliency_map: np.ndarray, fixation_map: np.ndarray) -> float:
    """Normalised scanpath saliency (``NSS.m``): ``(S - mean)/std`` with N-1, mean at fixated pixels.

    NaN without fixations (``mean([])``) or for a constant map (``0/0``).
    """
    fix = np.asarray(fixation_map) > 0
    s = _fit(_as_map(saliency_map, "saliency_map"), fix.shape)
    if not fix.any():
        return float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (s[fix] - s.mean()) / s.std(ddof=1)
    return float(np.mean(z))


def CC(saliency_map: np.ndarray, gt_map: np.ndarray) -> float:
    """Pearson correlation (``CC.m``): both maps z-scored (N-1), then ``corr2``. NaN if either is constant.

    ``corr2`` is invariant to the z-scoring, so the centred maps go straight into it (same value in real
    arithmetic; a constant map gives ``0/0``, NaN, as MATLAB's ``std`` = 0 does).
    """
    g = _as_map(gt_map, "gt_map")
    s = _fit(_as_map(saliency_map, "saliency_map"), g.shape)
    a = (s - s.mean()).ravel()
    b = (g - g.mean()).ravel()
    dot = lambda u, v: np.einsum("i,i->", u, v)  # noqa: E731  (no BLAS: threaded ddot stalls on busy CPUs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(dot(a, b) / np.sqrt(dot(a, a) * dot(b, b)))


def _sim_normalise(m: np.ndarray) -> np.ndarray:
    """``if any(m(:)), m = (m - min)/(max - min); m = m/sum(m(:)); end`` (``similarity.m``).

    The ``1/(max - min)`` factor cancels in ``m/sum(m)``, so it is skipped; a constant non-zero map still
    gives ``0/0`` = NaN.
    """
    mn, mx = m.min(), m.max()
    if np.isnan(mn):  # MATLAB min/max/any ignore NaN
        finite = m[~np.isnan(m)]
        if finite.size == 0 or not finite.any():
            return m
        mn = finite.min()
    elif mn == 0 and mx == 0:
        return m  # an all-zero map stays all zero
    m = m - mn
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(m, m.sum(), out=m)  # m is a fresh array here
    return m


def SIM(saliency_map: np.ndarray, gt_map: np.ndarray) -> float:
    """Similarity / histogram intersection (``similarity.m``).

    Each map with a non-zero value is min-max normalised and divided by its sum; an all-zero map stays zero
    (score 0); a constant non-zero map becomes 0/0 (NaN) and so does the score.
    """
    g = _as_map(gt_map, "gt_map")
    s = _fit(_as_map(saliency_map, "saliency_map"), g.shape)
    a, b = _sim_normalise(s), _sim_normalise(g)
    if np.all(np.isnan(a)) or np.all(np.isnan(b)):
        return float("nan")
    return float(np.minimum(a, b).sum())


similarity = SIM


def KLdiv(saliency_map: np.ndarray, gt_map: np.ndarray) -> float:
    """KL divergence of the prediction from the ground truth (``KLdiv.m``; STANet does not report it).

    ``P = S/sum(S)``, ``G = G/sum(G)`` (only for maps with a non-zero value),
    ``sum(G .* log(eps + G./(P + eps)))`` with MATLAB ``eps = 2.2204e-16``.
    """
    g = _as_map(gt_map, "gt_map")
    s = _fit(_as_map(saliency_map, "saliency_map"), g.shape)
    if np.any((s != 0) & ~np.isnan(s)):
        s = s / np.sum(s)
    if np.any((g != 0) & ~np.isnan(g)):
        g = g / np.sum(g)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.sum(g * np.log(MATLAB_EPS + g / (s + MATLAB_EPS))))


# --- Literal ports ------------------------------------------------------------------------------------------
# Line-by-line transcriptions of the .m files (loops over thresholds and splits, no shortcuts). They are the
# reference the fast functions above are tested against and the naive baseline of ``bench eval``.


def literal_auc_judd(sal: np.ndarray, fix: np.ndarray, jitter: bool = True, rng: RngLike = None) -> float:
    """``AUC_Judd.m`` loop by loop (same random draws as :func:`AUC_Judd` for the same ``rng``)."""
    fix = np.asarray(fix)
    if not np.any(fix):
        return float("nan")
    s = _fit(np.asarray(sal, dtype=np.float64), fix.shape)
    if jitter:
        s = s + _rng(rng).random(s.shape) / 10000000
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (s - np.nanmin(s)) / (np.nanmax(s) - np.nanmin(s))
    if np.sum(np.isnan(s)) == s.size:
        return float("nan")
    sv, fv = s.ravel(), fix.ravel()
    sth = sv[fv > 0]
    n_fix, n_pix = sth.size, sv.size
    allthreshes = np.sort(sth)[::-1]  # MATLAB sort(..., "descend") puts NaN first
    tp, fp = np.zeros(n_fix + 2), np.zeros(n_fix + 2)
    tp[-1] = fp[-1] = 1.0
    for i in range(1, n_fix + 1):
        aboveth = np.sum(sv >= allthreshes[i - 1])
        tp[i] = i / n_fix
        fp[i] = (aboveth - i) / (n_pix - n_fix) if n_pix > n_fix else float("nan")
    return float(np.trapezoid(tp, fp))


def literal_auc_shuffled(sal: np.ndarray, fix: np.ndarray, other: np.ndarray, n_splits: int = 100,
                         step_size: float = 0.1, rng: RngLike = None, draw: str = "same") -> float:
    """``AUC_shuffled.m`` loop by loop.

    ``draw="same"`` takes the splits' subsets from :func:`draw_negatives` as :func:`AUC_shuffled` does
    (identical numbers for the same ``rng``); ``draw="randperm"`` permutes the whole pool each split, as
    MATLAB's ``ind(randperm(length(ind)))`` does (same distribution, other draws).
    """
    fix = np.asarray(fix)
    if not np.any(fix):
        return float("nan")
    s = _fit(np.asarray(sal, dtype=np.float64), fix.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (s - np.nanmin(s)) / (np.nanmax(s) - np.nanmin(s))
    if np.sum(np.isnan(s)) == s.size:
        return float("nan")
    sv = s.ravel()
    sth = sv[np.asarray(fix).ravel() > 0]
    ind = np.flatnonzero(np.asarray(other).ravel() > 0)
    n_fix = sth.size
    n_oth = min(n_fix, ind.size)
    if n_oth == 0:
        return float("nan")
    gen = _rng(rng)
    same = draw_negatives(gen, ind.size, n_oth, n_splits) if draw == "same" and n_oth < ind.size else None
    randfix = np.empty((n_oth, n_splits))
    for i in range(n_splits):
        if draw == "randperm":
            randind = ind[gen.permutation(ind.size)]
        elif same is None:
            randind = ind
        else:
            randind = ind[same[i]]
        randfix[:, i] = sv[randind[:n_oth]]
    auc = np.empty(n_splits)
    for k in range(n_splits):
        curfix = randfix[:, k]
        allthreshes = matlab_colon(0.0, step_size, float(np.nanmax(np.concatenate([sth, curfix]))))[::-1]
        tp, fp = np.zeros(allthreshes.size + 2), np.zeros(allthreshes.size + 2)
        tp[-1] = fp[-1] = 1.0
        for i, thresh in enumerate(allthreshes, start=1):
            tp[i] = np.sum(sth >= thresh) / n_fix
            fp[i] = np.sum(curfix >= thresh) / n_oth
        auc[k] = np.trapezoid(tp, fp)
    return float(np.mean(auc))


def literal_nss(sal: np.ndarray, fix: np.ndarray) -> float:
    """``NSS.m``: ``map = imresize(S, size(F)); map = (map - mean)/std; mean(map(logical(F)))``."""
    fix = np.asarray(fix)
    m = imresize(np.asarray(sal, dtype=np.float64), fix.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (m - m.mean()) / m.std(ddof=1)
    vals = m[fix.astype(bool)]
    return float(vals.mean()) if vals.size else float("nan")


def literal_cc(sal: np.ndarray, gt: np.ndarray) -> float:
    """``CC.m``: z-score both maps (N-1), then ``corr2``."""
    gt = np.asarray(gt, dtype=np.float64)
    m1 = imresize(np.asarray(sal, dtype=np.float64), gt.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = (m1 - m1.mean()) / m1.std(ddof=1)
        m2 = (gt - gt.mean()) / gt.std(ddof=1)
        a, b = m1 - m1.mean(), m2 - m2.mean()
        return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def literal_sim(sal: np.ndarray, gt: np.ndarray) -> float:
    """``similarity.m``: min-max then divide by the sum, for each map with a non-zero value."""
    m2 = np.asarray(gt, dtype=np.float64)
    m1 = imresize(np.asarray(sal, dtype=np.float64), m2.shape)
    out = []
    for m in (m1, m2):
        if np.any(np.nan_to_num(m, nan=0.0)):
            with np.errstate(invalid="ignore", divide="ignore"):
                m = (m - np.nanmin(m)) / (np.nanmax(m) - np.nanmin(m))
                m = m / np.sum(m)
        out.append(m)
    if np.all(np.isnan(out[0])) or np.all(np.isnan(out[1])):
        return float("nan")
    return float(np.sum(np.minimum(out[0], out[1])))
