"""stanet_lib.eval.matlab: the MATLAB operations of the protocol (colon, imresize, fspecial / imfilter,
postprocessMap) against hand-computed values and torch."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from stanet_lib.eval import matlab

# --- MATLAB colon, imresize, fspecial/imfilter, postprocessMap ----------------------------------------------


def test_matlab_colon_end_point_symmetry_and_special_cases():
    v = matlab.matlab_colon(0, 0.1, 1)
    assert len(v) == 11 and v[0] == 0 and v[-1] == 1.0 and v[5] == 0.5
    assert v[3] == 3 * 0.1 != 0.3  # first half built as a + k*d
    assert v[7] == 1.0 - 3 * 0.1  # second half built back from the end point
    w = matlab.matlab_colon(0, 0.1, 0.3)
    assert len(w) == 4 and w[-1] == 0.3  # end point snapped to b (3*0.1 would be 0.30000000000000004)
    assert len(matlab.matlab_colon(0, 0.1, 0.85)) == 9 and matlab.matlab_colon(0, 0.1, 0.85)[-1] == 8 * 0.1
    assert matlab.matlab_colon(0, 0.1, 0.04).tolist() == [0.0]
    assert matlab.matlab_colon(0, 0.1, -1).size == 0
    assert np.isnan(matlab.matlab_colon(0, 0.1, float("nan"))).all()


def test_imresize_golden_upscale_by_hand():
    # scale 2, u = x/2 + 1/4; cubic(0.25)=.8671875, cubic(0.75)=.2265625, cubic(1.25)=-.0703125,
    # cubic(1.75)=-.0234375; mirrored borders (aux = [1 2 2 1]) ->
    # [1.09375 a - .09375 b, .796875 a + .203125 b, ...]
    out = matlab.imresize(np.array([[0.0, 1.0]]), (1, 4))
    np.testing.assert_allclose(out, [[-0.09375, 0.203125, 0.796875, 1.09375]], atol=1e-15)


def test_imresize_golden_antialiased_shrink_by_hand():
    # scale 1/2 with antialiasing: h(x) = cubic(x/2)/2, width 8, u = 2x - 1/2, mirrored indices ->
    # out(1) = (1.09375 x1 + .796875 x2 + .203125 x3 - .09375 x4) / 2
    out = matlab.imresize(np.array([[0.0, 1.0, 2.0, 3.0]]), (1, 2))
    np.testing.assert_allclose(out, [[0.4609375, 2.5390625]], atol=1e-15)
    no_aa = matlab.imresize(np.array([[0.0, 1.0, 2.0, 3.0]]), (1, 2), antialias=False)
    assert not np.allclose(no_aa, out)


@pytest.mark.parametrize("out", [(80, 120), (20, 30), (37, 90), (15, 53), (360, 640)])
def test_imresize_interior_matches_torch_antialiased_bicubic(out):
    # torch's antialias=True bicubic uses the same a = -0.5 kernel and pixel-centre mapping; it clips
    # instead of mirroring at the border, so only the interior must agree.
    x = np.random.default_rng(0).random((37, 53))
    ours = matlab.imresize(x, out)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x)[None, None], size=out, mode="bicubic",
                                          antialias=True, align_corners=False)[0, 0].numpy()
    by, bx = (int(3 * max(o / i, i / o)) + 3 for o, i in zip(out, x.shape, strict=True))  # border reach
    np.testing.assert_allclose(ours[by:-by, bx:-bx], ref[by:-by, bx:-bx], atol=1e-12)
    assert np.abs(ours - ref).max() > 1e-6  # ... while the borders do differ (mirror vs clip)
    assert matlab.imresize(np.full((37, 53), 0.3), out) == pytest.approx(0.3, abs=1e-15)


def test_imresize_identity_and_order_independence():
    x = np.random.default_rng(1).random((9, 7))
    np.testing.assert_array_equal(matlab.imresize(x, (9, 7)), x)
    two_step = matlab.imresize(matlab.imresize(x, (9, 20)), (30, 20))  # separable: rows/cols commute
    np.testing.assert_allclose(matlab.imresize(x, (30, 20)), two_step, atol=1e-13)


def test_fspecial_gaussian_size_and_normalisation():
    h = matlab.fspecial_gaussian(2.0)
    assert h.shape == (13, 13) and h.sum() == pytest.approx(1.0, abs=1e-15)
    g = np.exp(-np.arange(-6, 7) ** 2 / 8.0)
    np.testing.assert_allclose(h, np.outer(g, g) / g.sum() ** 2, rtol=1e-13)


def test_blur_border_symmetric_padding_by_hand():
    g = np.exp(-np.arange(-6, 7) ** 2 / 8.0)
    g /= g.sum()
    x = np.zeros((15, 15))
    x[0, 0] = 1.0
    out = matlab.imfilter_symmetric(x, matlab.fspecial_gaussian(2.0))
    # 'symmetric' mirrors with the edge repeated: pixel (0,0) is seen at offsets 0 and -1 on both axes.
    assert out[0, 0] == pytest.approx((g[6] + g[5]) ** 2, rel=1e-13)
    assert out[0, 3] == pytest.approx((g[6] + g[5]) * (g[3] + g[2]), rel=1e-13)
    y = np.zeros((15, 15))
    y[7, 7] = 1.0
    yb = matlab.imfilter_symmetric(y, matlab.fspecial_gaussian(2.0))
    assert yb[7, 7] == pytest.approx(g[6] ** 2, rel=1e-13)
    z = np.random.default_rng(2).random((20, 17))
    np.testing.assert_allclose(matlab.imfilter_symmetric(z, matlab.fspecial_gaussian(2.0)),
                               gaussian_filter(z, 2.0, truncate=3.0, mode="reflect"), atol=1e-14)


def test_postprocess_map_conventions():
    rng = np.random.default_rng(3)
    p = rng.random((20, 24))
    ref = matlab.postprocess_map(p)
    np.testing.assert_allclose(matlab.postprocess_map(0.5 * p), ref, atol=1e-12)  # /max removes the scale
    np.testing.assert_allclose(matlab.postprocess_map(np.minimum(2 * p, 1.0)),
                               matlab.postprocess_map(2 * p), atol=0)  # values above 1 clip at 255
    assert ref.min() >= 0 and ref.max() <= 1
    assert np.all(matlab.postprocess_map(np.full((5, 6), 0.7)) == 0.5)  # normalizeImage1: constant -> 0.5
    assert np.all(np.isnan(matlab.postprocess_map(np.zeros((5, 6)))))  # 0/max(0) = NaN: frame dropped


def test_postresize_equals_two_step_matlab_order():
    rng = np.random.default_rng(4)
    post = matlab.PostResize(2.0)
    for src, dst in [((30, 30), (36, 64)), ((40, 50), (20, 25)), ((12, 20), (18, 32))]:
        p = rng.random(src)
        two = matlab.imresize(matlab.postprocess_map(p, 2.0), dst)
        np.testing.assert_allclose(post(p, dst), two, atol=1e-13)
    assert np.all(post(np.full((8, 8), 0.3), (16, 20)) == 0.5)
    assert np.all(np.isnan(post(np.zeros((8, 8)), (16, 20))))
