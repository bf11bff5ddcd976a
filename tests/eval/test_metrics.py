"""stanet_lib.eval.metrics: hand-computed golden values, literal-port parity, pysaliency."""

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from stanet_lib.eval import matlab
from stanet_lib.eval import metrics as M

# --- golden metric values -----------------------------------------------------------------------------------


def test_auc_judd_golden_ties_and_one_based_i():
    s = np.array([[1.0, 0.5, 0.5], [0.0, 0.5, 0.2]])
    f = np.array([[0, 1, 0], [0, 0, 1]])
    # thresholds 0.5, 0.2: #{S>=.5}=4 -> fp=(4-1)/4; #{S>=.2}=5 -> fp=(5-2)/4; tp=.5, 1
    # trapz over fp=[0,.75,.75,1], tp=[0,.5,1,1] = .1875 + 0 + .25
    assert M.AUC_Judd(s, f, jitter=False) == pytest.approx(0.4375, abs=1e-15)
    assert M.literal_auc_judd(s, f, jitter=False) == pytest.approx(0.4375, abs=1e-15)


def test_auc_judd_endpoints():
    s = np.arange(20, dtype=float).reshape(4, 5)
    top, bottom = np.zeros((4, 5)), np.zeros((4, 5))
    top[3, 4], bottom[0, 0] = 1, 1
    assert M.AUC_Judd(s, top, jitter=False) == pytest.approx(1.0)  # (0,0) -> (0,1) -> (1,1)
    assert M.AUC_Judd(s, bottom, jitter=False) == pytest.approx(0.5)  # (0,0) -> (1,1) diagonal, not 0
    mid = np.zeros((4, 5))
    mid.flat[10] = 1  # 9 of 19 negatives above -> fp = 9/19, area = 1 - fp/2
    assert M.AUC_Judd(s, mid, jitter=False) == pytest.approx(1 - 9 / 19 / 2)


def test_auc_judd_nan_cases_and_jitter_seed():
    f = np.zeros((6, 8))
    f[2, 3] = f[4, 5] = 1
    assert math.isnan(M.AUC_Judd(np.random.rand(6, 8), np.zeros((6, 8))))  # no fixations
    assert math.isnan(M.AUC_Judd(np.zeros((6, 8)), f, jitter=False))  # all-zero: 0/0 -> all NaN
    assert math.isnan(M.AUC_Judd(np.full((6, 8), 3.0), f, jitter=False))  # constant
    v = M.AUC_Judd(np.full((6, 8), 3.0), f, rng=0)  # jitter alone orders a constant map at random
    assert 0.0 <= v <= 1.0 and v == M.AUC_Judd(np.full((6, 8), 3.0), f, rng=0)


def test_sauc_golden_mann_whitney():
    s = np.array([[0.0, 0.35, 0.75, 0.55, 0.15, 1.0]])
    f = np.array([[0, 1, 1, 0, 0, 0]])
    o = np.array([[0, 0, 0, 1, 1, 0]])
    # Nfix = Noth = 2: every split uses both negatives; thresholds .7,...,0 give 3 of 4 ordered pairs
    assert M.AUC_shuffled(s, f, o, rng=0) == pytest.approx(0.75, abs=1e-15)


def test_sauc_thresholds_use_matlab_colon():
    # positive exactly at the top value 0.3: MATLAB's 0:0.1:0.3 ends at exactly 0.3, so the positive is
    # counted before the negative (0.25): AUC 1. np.arange-style 0.30000000000000004 would give 0.5.
    s = np.array([[0.0, 0.3, 0.25, 1.0]])
    assert M.AUC_shuffled(s / 1.0, [[0, 1, 0, 0]], [[0, 0, 1, 0]], rng=0) == pytest.approx(1.0)
    assert M.sauc_thresholds(1.0)[0] == 1.0 and len(M.sauc_thresholds(1.0)) == 11


def test_sauc_nan_cases():
    s = np.random.default_rng(0).random((5, 7))
    f, o = np.zeros((5, 7)), np.zeros((5, 7))
    f[1, 1], o[3, 3] = 1, 1
    assert math.isnan(M.AUC_shuffled(s, np.zeros((5, 7)), o))  # no fixations
    assert math.isnan(M.AUC_shuffled(s, f, np.zeros((5, 7))))  # no other fixations: fp = 0/0
    assert math.isnan(M.AUC_shuffled(np.full((5, 7), 2.0), f, o))  # constant map (no jitter in sAUC)
    assert math.isnan(M.AUC_shuffled(np.zeros((5, 7)), f, o))


def test_sauc_subsampling_and_seed():
    rng = np.random.default_rng(5)
    s = rng.random((30, 40))
    f = rng.random((30, 40)) < 0.02
    o = (rng.random((30, 40)) < 0.3) & ~f
    a, b = M.AUC_shuffled(s, f, o, rng=1), M.AUC_shuffled(s, f, o, rng=1)
    assert a == b and a != M.AUC_shuffled(s, f, o, rng=2)  # Nfix < Noth: random subsets, seeded
    # same distribution as MATLAB's randperm draws: means over seeds agree
    ours = np.mean([M.AUC_shuffled(s, f, o, rng=k) for k in range(40)])
    perm = np.mean([M.literal_auc_shuffled(s, f, o, rng=k, draw="randperm") for k in range(40)])
    assert abs(ours - perm) < 0.01


def test_draw_negatives_uniform_without_repeats():
    gen = np.random.default_rng(0)
    for n, m in [(10, 3), (1000, 20), (300, 100), (50, 50)]:
        d = M.draw_negatives(gen, n, m, 400)
        assert d.shape == (400, m) and all(len(set(r)) == m for r in d) and d.min() >= 0 and d.max() < n
        freq = np.bincount(d.ravel(), minlength=n) / d.size
        assert np.abs(freq - 1 / n).max() < 6 * math.sqrt(1 / n / d.size) + 1e-12


def test_nss_golden_ddof1():
    s = np.array([[0.0, 1.0], [2.0, 3.0]])
    f = np.array([[0, 0], [0, 1]])
    assert M.NSS(s, f) == pytest.approx(1.5 / math.sqrt(5 / 3), abs=1e-14)  # std with N-1
    assert math.isnan(M.NSS(np.full((2, 2), 4.0), f))  # constant: 0/0
    assert math.isnan(M.NSS(s, np.zeros((2, 2))))  # no fixations: mean([])


def test_cc_golden_and_constant():
    s = np.array([[1.0, 2.0], [3.0, 4.0]])
    g = np.array([[1.0, 3.0], [2.0, 4.0]])
    assert M.CC(s, g) == pytest.approx(0.8, abs=1e-15)
    assert math.isnan(M.CC(np.full((2, 2), 0.5), g)) and math.isnan(M.CC(np.zeros((2, 2)), g))


def test_sim_golden_minmax_then_sum():
    s = np.array([[0.0, 1.0], [1.0, 2.0]])
    g = np.array([[1.0, 1.0], [1.0, 3.0]])
    # min-max: s -> [0,.25,.25,.5]; g -> [0,0,0,1] -> min sums to .5
    assert M.SIM(s, g) == pytest.approx(0.5, abs=1e-15)
    assert M.SIM(np.zeros((2, 2)), g) == 0.0  # all-zero map stays zero
    assert math.isnan(M.SIM(np.full((2, 2), 0.4), g))  # constant non-zero: 0/0


def test_kldiv_golden():
    s, g = np.array([[1.0, 3.0]]), np.array([[1.0, 1.0]])
    assert M.KLdiv(s, g) == pytest.approx(0.5 * math.log(4 / 3), abs=1e-12)
    z = M.KLdiv(np.zeros((1, 2)), g)  # all-zero prediction stays zero: log(eps + .5/eps)
    assert z == pytest.approx(math.log(matlab.MATLAB_EPS + 0.5 / matlab.MATLAB_EPS), rel=1e-12)


def test_non_square_and_resize_path():
    rng = np.random.default_rng(6)
    small = rng.random((9, 16))
    f = np.zeros((18, 32))
    f.flat[rng.choice(18 * 32, 6, replace=False)] = 1
    g = rng.random((18, 32))
    big = matlab.imresize(small, (18, 32))
    assert M.NSS(small, f) == M.NSS(big, f)
    assert M.CC(small, g) == M.CC(big, g) and M.SIM(small, g) == M.SIM(big, g)
    assert M.AUC_Judd(small, f, rng=3) == M.AUC_Judd(big, f, rng=3)
    # a transposed fixation map scores differently on a non-square map (no row/column mix-up)
    f2 = np.zeros((18, 32))
    f2[2, 30] = 1
    assert M.NSS(big, f2) == pytest.approx((big[2, 30] - big.mean()) / big.std(ddof=1))


def test_fast_metrics_equal_literal_ports():
    rng = np.random.default_rng(7)
    for trial in range(25):
        h, w = rng.integers(5, 30, 2)
        s = rng.random((h, w))
        if trial % 3 == 0:
            s = np.round(s * 4) / 4  # heavy ties
        f = rng.random((h, w)) < rng.choice([0.02, 0.1, 0.4])
        f.flat[0] = True
        o = (rng.random((h, w)) < rng.choice([0.05, 0.3, 0.9])) & ~f
        g = rng.random((h, w))
        assert M.AUC_Judd(s, f, rng=trial) == pytest.approx(M.literal_auc_judd(s, f, rng=trial), abs=1e-12)
        want = M.literal_auc_judd(s, f, jitter=False)
        assert M.AUC_Judd(s, f, jitter=False) == pytest.approx(want, abs=1e-12)
        a, b = M.AUC_shuffled(s, f, o, rng=trial), M.literal_auc_shuffled(s, f, o, rng=trial)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)
        assert M.NSS(s, f) == pytest.approx(M.literal_nss(s, f), abs=1e-12)
        assert M.CC(s, g) == pytest.approx(M.literal_cc(s, g), abs=1e-12)
        assert M.SIM(s, g) == pytest.approx(M.literal_sim(s, g), abs=1e-12)


def test_metrics_do_not_modify_inputs():
    rng = np.random.default_rng(8)
    s, g = rng.random((6, 9)), rng.random((6, 9))
    f = rng.random((6, 9)) < 0.2
    f.flat[0] = True
    z = np.zeros((6, 9))
    copies = [a.copy() for a in (s, g, f, z)]
    for fn in (lambda: M.SIM(z, g), lambda: M.SIM(s, g), lambda: M.CC(s, g), lambda: M.NSS(s, f),
               lambda: M.AUC_Judd(s, f), lambda: M.AUC_shuffled(s, f, ~f), lambda: M.KLdiv(s, g)):
        fn()
    for a, c in zip((s, g, f, z), copies, strict=True):
        np.testing.assert_array_equal(a, c)


# --- independent check against pysaliency -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pysal():
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid  # pysaliency 0.2.22 still calls np.trapz (removed in numpy 2.4)
    import pysaliency.metrics as pm
    from pysaliency.roc import general_roc

    return pm, general_roc


def _case(seed=9, shape=(24, 31), nfix=15):
    rng = np.random.default_rng(seed)
    s = gaussian_filter(rng.random(shape), 1.0)
    g = gaussian_filter(rng.random(shape), 2.0)
    idx = rng.choice(shape[0] * shape[1], nfix, replace=False)
    ys, xs = np.unravel_index(idx, shape)
    f = np.zeros(shape)
    f[ys, xs] = 1
    return s, g, f, xs, ys


def test_pysaliency_nss_differs_by_ddof_only(pysal):
    pm, _ = pysal
    s, _, f, xs, ys = _case()
    n = s.size
    assert M.NSS(s, f) == pytest.approx(pm.NSS(s, xs, ys).mean() * math.sqrt((n - 1) / n), rel=1e-12)


def test_pysaliency_cc_and_kl_agree(pysal):
    pm, _ = pysal
    s, g, *_ = _case()
    assert M.CC(s, g) == pytest.approx(pm.CC(s, g), rel=1e-12)
    assert M.KLdiv(s, g) == pytest.approx(pm.MIT_KLDiv(s, g), rel=1e-10)
    # known difference: a constant prediction is NaN here (MATLAB), 0.0 in pysaliency
    assert math.isnan(M.CC(np.ones_like(g), g)) and pm.CC(np.ones_like(g), g) == 0.0


def test_pysaliency_sim_agrees_without_floor_and_differs_with_one(pysal):
    pm, _ = pysal
    s, g, *_ = _case()
    s0, g0 = s - s.min(), g - g.min()  # min 0: min-max then sum == sum normalisation
    assert M.SIM(s0, g0) == pytest.approx(pm.SIM(s0, g0), rel=1e-12)
    assert M.SIM(s0 + 1.0, g0) == pytest.approx(M.SIM(s0, g0), rel=1e-12)  # MIT removes the floor
    assert abs(pm.SIM(s0 + 1.0, g0) - M.SIM(s0, g0)) > 0.02  # pysaliency keeps it (no min-max)


def test_pysaliency_auc_judd_without_jitter(pysal):
    _, general_roc = pysal
    s, _, f, *_ = _case()
    pos, neg = s[f > 0], s[f == 0]
    ref, _, _ = general_roc(pos.astype(float), neg.astype(float), judd=1)
    assert M.AUC_Judd(s, f, jitter=False) == pytest.approx(ref, abs=1e-12)


def test_pysaliency_exact_roc_equals_sauc_on_grid_valued_maps(pysal):
    _, general_roc = pysal
    rng = np.random.default_rng(10)
    grid = matlab.matlab_colon(0, 0.1, 1)  # values exactly equal to the thresholds MATLAB builds
    s = grid[rng.integers(0, 11, (12, 15))]
    s[0, 0], s[0, 1] = 0.0, 1.0
    f = np.zeros((12, 15), dtype=bool)
    f.flat[rng.choice(np.arange(2, 180), 20, replace=False)] = True
    f[0, 1] = True
    o = np.zeros_like(f)
    o.flat[rng.choice(np.flatnonzero(~f), 12, replace=False)] = True  # Noth < Nfix: all used in every split
    ref, _, _ = general_roc(s[f].astype(float), s[o].astype(float), judd=0)
    assert M.AUC_shuffled(s, f, o, rng=0) == pytest.approx(ref, abs=1e-12)


def test_jitter_alone_gives_chance_auc_on_a_constant_map():
    rng = np.random.default_rng(11)
    f = rng.random((60, 80)) < 0.05
    vals = [M.AUC_Judd(np.full((60, 80), 0.5), f, rng=k) for k in range(5)]
    assert all(abs(v - 0.5) < 0.06 for v in vals) and len(set(vals)) == 5
