"""Known-answer tests for stanet_lib.scam on small hand-computed tensors (paper Eq. 1-3, §3.6, audit §4)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stanet_lib import scam


def t(x: list) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------- normalize


def test_normalize_min_max_per_map() -> None:
    maps = t([[[1.0, 3.0], [5.0, 9.0]], [[-2.0, 0.0], [2.0, 2.0]]])  # (2, 2, 2)
    out = scam.normalize(maps)
    torch.testing.assert_close(out[0], t([[0.0, 0.25], [0.5, 1.0]]))
    torch.testing.assert_close(out[1], t([[0.0, 0.5], [1.0, 1.0]]))


def test_normalize_constant_map_is_zero_not_nan() -> None:
    maps = torch.stack([torch.full((3, 4), 7.0), torch.zeros(3, 4), torch.arange(12.0).view(3, 4)])
    out = scam.normalize(maps)
    assert not torch.isnan(out).any()
    assert torch.equal(out[0], torch.zeros(3, 4)) and torch.equal(out[1], torch.zeros(3, 4))
    assert out[2].min() == 0 and out[2].max() == 1


def test_normalize_rejects_integer_and_1d() -> None:
    with pytest.raises(TypeError, match="floating"):
        scam.normalize(torch.ones(2, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match="at least 2"):
        scam.normalize(torch.ones(3))


# ---------------------------------------------------------------------------------------------- Eq. 1


def test_cam_from_features_is_weighted_channel_sum() -> None:
    f = torch.zeros(1, 2, 2, 2)
    f[0, 0] = t([[1, 0], [0, 0]])
    f[0, 1] = t([[0, 0], [0, 2]])
    w = t([[3.0, 1.0], [0.0, -1.0]])  # (K=2, d=2)
    cams = scam.cam_from_features(f, w, fc_bias=t([0.5, 0.0]))
    torch.testing.assert_close(cams[0, 0], t([[3.5, 0.5], [0.5, 2.5]]))
    torch.testing.assert_close(cams[0, 1], t([[0.0, 0.0], [0.0, -2.0]]))
    # GAP of the CAM equals the FC layer applied to GAP(features) (why the classifier's 1x1 conv is the CAM)
    torch.testing.assert_close(cams.mean((2, 3)), f.mean((2, 3)) @ w.T + t([0.5, 0.0]))


def test_select_class_picks_tag_map() -> None:
    cams = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    out = scam.select_class(cams, torch.tensor([2, 0]))
    assert torch.equal(out[0], cams[0, 2]) and torch.equal(out[1], cams[1, 0])
    with pytest.raises(ValueError, match="tag values"):
        scam.select_class(cams, torch.tensor([3, 0]))


# ---------------------------------------------------------------------------------------------- Eq. 3


def test_soft_filter_keeps_confidence_only_when_tag_is_argmax() -> None:
    probs = t([[[0.7, 0.2, 0.1],  # source 0: tag 0 is top-1 -> 0.7
                [0.3, 0.6, 0.1],  # source 1: top-1 is 1 -> 0
                [0.4, 0.4, 0.2]],  # source 2: tie for top -> 0 (strictly greater needed)
               [[0.1, 0.1, 0.8],
                [0.2, 0.3, 0.5],
                [0.5, 0.1, 0.4]]])  # (B=2, N=3, K=3)
    w = scam.soft_filter(probs, torch.tensor([0, 2]))
    torch.testing.assert_close(w, t([[0.7, 0.0, 0.0], [0.8, 0.5, 0.0]]))


def test_soft_filter_single_class_and_bad_tag() -> None:
    torch.testing.assert_close(scam.soft_filter(t([[[1.0]]]), torch.tensor([0])), t([[1.0]]))
    with pytest.raises(ValueError, match=r"\(B,\)"):
        scam.soft_filter(torch.rand(2, 3, 4), torch.tensor([0]))
    with pytest.raises(ValueError, match="tag values"):
        scam.soft_filter(torch.rand(1, 3, 4), torch.tensor([4]))


def test_hard_filter_needs_top1_and_probability_above_p() -> None:
    probs = t([[[0.995, 0.005], [0.98, 0.02], [0.001, 0.999]]])  # (1, 3, 2)
    keep = scam.hard_filter(probs, torch.tensor([0]), p=0.99)
    assert keep.tolist() == [[True, False, False]]
    assert scam.hard_filter(probs, torch.tensor([1]), p=0.99).tolist() == [[False, False, True]]


# ---------------------------------------------------------------------------------------------- Eq. 2


def test_selective_fusion_weighted_average_by_hand() -> None:
    cams = torch.stack([t([[1.0, 0.0], [0.0, 0.0]]), t([[0.0, 1.0], [0.0, 0.0]]),
                        t([[0.0, 0.0], [0.0, 1.0]])])[None]  # (1, 3, 2, 2)
    w = t([[0.6, 0.2, 0.0]])
    lam = 1e-4
    raw = (0.6 * cams[0, 0] + 0.2 * cams[0, 1] + lam) / (0.8 + lam)
    expected = (raw - raw.min()) / (raw.max() - raw.min())  # xi
    out = scam.selective_fusion(cams, w, lam=lam)
    torch.testing.assert_close(out[0], expected)
    torch.testing.assert_close(out[0], t([[1.0, 1 / 3], [0.0, 0.0]]))  # the third source (weight 0) is gone


def test_selective_fusion_all_weights_zero_gives_zero_map() -> None:
    cams = torch.rand(2, 3, 4, 4)
    w = t([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0]])
    out = scam.selective_fusion(cams, w, lam=1e-4)
    assert torch.equal(out[0], torch.zeros(4, 4))  # (0 + lam) / (0 + lam) = 1 everywhere -> constant -> 0
    torch.testing.assert_close(out[1], scam.normalize(cams[1, 0]))  # one source: its own normalised CAM
    with pytest.raises(ValueError, match="weights must be"):
        scam.selective_fusion(cams, torch.zeros(2, 2))


def test_average_fusion_is_normalised_mean() -> None:
    cams = torch.stack([t([[1.0, 0.0], [0.0, 0.0]]), t([[1.0, 1.0], [0.0, 0.0]])])[None]  # (1, 2, 2, 2)
    torch.testing.assert_close(scam.average_fusion(cams)[0], t([[1.0, 0.5], [0.0, 0.0]]))


# ---------------------------------------------------------------------------------------------- box


def test_coarse_box_inclusive_edges() -> None:
    m = torch.zeros(1, 6, 8)
    m[0, 1, 2] = 1.0
    m[0, 4, 6] = 1.0  # mean = 2/48; both pixels > 2 x mean
    m[0, 3, 3] = 0.05  # 0.05 < 2 x mean (~0.085): ignored
    assert scam.coarse_box(m, factor=2.0).tolist() == [[1, 4, 2, 6]]
    assert scam.coarse_box(m).dtype == torch.long


def test_coarse_box_threshold_factor_and_strictness() -> None:
    m = t([[[1.0, 1.0], [1.0, 5.0]]])  # mean 2: 5 > 4 only at (1, 1) with factor 2
    assert scam.coarse_box(m, factor=2.0).tolist() == [[1, 1, 1, 1]]
    assert scam.coarse_box(m, factor=0.5).tolist() == [[1, 1, 1, 1]]  # 1 > 1 is false: only the 5
    assert scam.coarse_box(m, factor=0.4).tolist() == [[0, 1, 0, 1]]  # every pixel > 0.8
    assert scam.coarse_box(m, factor=2.5).tolist() == [[0, 1, 0, 1]]  # 5 > 5 is false: none -> whole frame


def test_coarse_box_no_pixel_above_threshold_is_whole_frame() -> None:
    m = torch.stack([torch.zeros(5, 7), torch.full((5, 7), 3.0)])
    assert scam.coarse_box(m).tolist() == [[0, 4, 0, 6], [0, 4, 0, 6]]


# ------------------------------------------------------------------------------------------ crop / recover


def test_crop_and_resize_identity_size_is_exact_crop() -> None:
    img = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    boxes = torch.tensor([[1, 3, 2, 4], [0, 2, 0, 2]])
    out = scam.crop_and_resize(img, boxes, 3)
    assert out.shape == (2, 3, 3, 3)
    assert torch.equal(out[0], img[0, :, 1:4, 2:5]) and torch.equal(out[1], img[1, :, 0:3, 0:3])


def test_crop_and_resize_matches_interpolate_and_shares_box_over_time() -> None:
    clip = torch.rand(1, 3, 3, 10, 12)  # (B, T, C, H, W)
    boxes = torch.tensor([[2, 7, 3, 10]])
    out = scam.crop_and_resize(clip, boxes, (4, 5), antialias=False)
    ref = F.interpolate(clip[0, :, :, 2:8, 3:11], size=(4, 5), mode="bilinear", align_corners=False)
    assert out.shape == (1, 3, 3, 4, 5)
    torch.testing.assert_close(out[0], ref)


def test_crop_rejects_box_outside_frame() -> None:
    with pytest.raises(ValueError, match="outside"):
        scam.crop_and_resize(torch.rand(1, 3, 4, 4), torch.tensor([[0, 4, 0, 3]]), 2)


def test_recover_pastes_into_box_zero_outside() -> None:
    fine = t([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
    boxes = torch.tensor([[1, 2, 2, 3]])  # a 2x2 box: no resampling
    out = scam.recover(fine, boxes, (4, 5))
    expected = torch.zeros(4, 5)
    expected[1:3, 2:4] = fine[0]
    assert torch.equal(out[0], expected)


def test_recover_resizes_to_box_and_round_trips_with_crop() -> None:
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    blob = torch.exp(-((yy - 3.5) ** 2 + (xx - 3.5) ** 2) / 8.0)  # a smooth map survives resampling
    fine = torch.stack([blob, torch.rand(8, 8) + 0.1])  # (2, 8, 8)
    boxes = torch.tensor([[0, 15, 0, 15], [4, 11, 6, 9]])  # 16x16 and 8x4 boxes in a 16x16 frame
    out = scam.recover(fine, boxes, 16)
    assert out.shape == (2, 16, 16)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:12, 6:10] = True
    assert torch.equal(out[1][~mask], torch.zeros(int((~mask).sum())))
    assert (out[1][mask] > 0).all()
    # crop the recovered map back with the same box and size: the fine map again, up to resampling blur
    back = scam.crop_and_resize(out[:1, None], boxes[:1], 8)[:, 0]
    torch.testing.assert_close(back, fine[:1], atol=0.1, rtol=0)  # the antialias filter lowers the peak


# ---------------------------------------------------------------------------------------------- options


def test_temporal_smooth_plain_sliding_mean() -> None:
    maps = torch.zeros(5, 1, 2)
    maps[:, 0, 0] = t([1.0, 2.0, 3.0, 4.0, 5.0])  # per-frame xi: every frame becomes [[1, 0]]
    maps[2, 0, 1] = 10.0  # frame 2 becomes [[0.3, 1]] after xi (3 / 10, 10 / 10)
    out = scam.temporal_smooth(maps, window=3, recursive=False)
    # frame 1: mean of frames 0..2 = [[(1 + 1 + 0.3) / 3, 1 / 3]] -> xi -> [[1, 0]]
    torch.testing.assert_close(out[1], t([[1.0, 0.0]]))
    # frame 0 (window shrinks to frames 0..1): [[1, 0]]
    torch.testing.assert_close(out[0], t([[1.0, 0.0]]))
    # frame 2: mean of frames 1..3 = [[2.3 / 3, 1 / 3]] -> xi -> [[1, 0]]
    torch.testing.assert_close(out[2], t([[1.0, 0.0]]))


def test_temporal_smooth_recursive_matches_matlab_queue() -> None:
    # Hand-run of ssmooth.m's queue for window 3 (r = 1) on 5 frames of 1 x 3 maps.
    xi = scam.normalize
    raw = [t([[0.0, 1.0, 3.0]]), t([[2.0, 0.0, 1.0]]), t([[1.0, 4.0, 0.0]]), t([[0.0, 2.0, 5.0]]),
           t([[3.0, 0.0, 1.0]])]
    maps = torch.stack(raw)
    v = [xi(m) for m in raw]  # the script normalises every map it reads
    out = scam.temporal_smooth(maps, window=3, recursive=True)
    o0 = xi((v[0] + v[1]) / 2)  # edge: shrunk window, not fed back
    o1 = xi((v[0] + v[1] + v[2]) / 3)  # first full window; o1 replaces frame 2 in the queue
    o2 = xi((v[1] + o1 + v[3]) / 3)  # queue [v1, o1, v3]; o2 replaces frame 3
    o3 = xi((o1 + o2 + v[4]) / 3)  # queue [o1, o2, v4]; 3 + r = 4 is the last frame: still fed back
    o4 = xi((o2 + o3) / 2)  # edge: shrunk window [frame 3 (= o2), frame 4 (= o3)]
    torch.testing.assert_close(out, torch.stack([o0, o1, o2, o3, o4]))
    plain = scam.temporal_smooth(maps, window=3, recursive=False)
    torch.testing.assert_close(plain[2], xi((v[1] + v[2] + v[3]) / 3))
    assert not torch.allclose(out[2:], plain[2:])  # the recursion changes the answer


def test_temporal_smooth_rejects_even_window() -> None:
    with pytest.raises(ValueError, match="odd"):
        scam.temporal_smooth(torch.rand(4, 2, 2), window=4)


def test_time_window_mean_spans_the_same_seconds_at_any_rate() -> None:
    # one frame lit per map; the mean over +/- 0.3 s counts 15 frames at 25 fps and 3 at 4 fps
    for fps, frames in ((25.0, 15), (4.0, 3)):
        n = 31
        maps = torch.zeros(n, 1, n)
        maps[torch.arange(n), 0, torch.arange(n)] = 1.0
        out = scam.time_window_mean(maps, torch.arange(n) / fps, 0.3)
        assert int((out[n // 2] > 0).sum()) == frames
        torch.testing.assert_close(out[n // 2, 0, n // 2 - frames // 2 : n // 2 + frames // 2 + 1],
                                   torch.ones(frames))  # equal weights, normalised to 1
    maps = torch.rand(4, 2, 2)
    torch.testing.assert_close(scam.time_window_mean(maps, [0.0, 1.0, 2.0, 3.0], 0.0), scam.normalize(maps))
    with pytest.raises(ValueError, match="one per map"):
        scam.time_window_mean(maps, [0.0, 1.0], 0.3)
    with pytest.raises(ValueError, match="half_width_s"):
        scam.time_window_mean(maps, [0.0, 1.0, 2.0, 3.0], -1.0)


def test_mean_floor_zeroes_below_factor_times_mean() -> None:
    m = t([[[0.0, 1.0], [2.0, 5.0]]])  # mean 2 -> threshold 3 with factor 1.5
    assert scam.mean_floor(m, factor=1.5).tolist() == [[[0.0, 0.0], [0.0, 5.0]]]
    assert scam.mean_floor(m, factor=1.0).tolist() == [[[0.0, 0.0], [2.0, 5.0]]]  # equal to threshold: kept


def test_resize_maps_keeps_leading_dims() -> None:
    m = torch.rand(2, 3, 4, 4)
    out = scam.resize_maps(m, 8)
    assert out.shape == (2, 3, 8, 8)
    torch.testing.assert_close(out[1, 2], F.interpolate(m[1:2, 2:3], size=(8, 8), mode="bilinear",
                                                       align_corners=False)[0, 0])


def test_fill_empty_replaces_only_all_zero_maps() -> None:
    maps = torch.zeros(3, 4, 4)
    maps[0, 1, 2] = 1.0  # a located map: kept as it is
    fallback = torch.zeros(3, 2, 2)
    fallback[1, 1, 1] = 3.0  # the empty frame 1 takes it, resized to 4 x 4 and normalised
    out = scam.fill_empty(maps, fallback)
    torch.testing.assert_close(out[0], maps[0])
    torch.testing.assert_close(out[1], scam.normalize(scam.resize_maps(fallback[1:2], 4))[0])
    assert float(out[1].max()) == 1.0 and divmod(int(out[1].argmax()), 4) in {(2, 2), (2, 3), (3, 2), (3, 3)}
    assert float(out[2].abs().sum()) == 0.0  # an empty fallback leaves the frame empty (constant -> zeros)
    assert float(maps[1].abs().sum()) == 0.0  # the input is not modified
    with pytest.raises(ValueError, match="share B"):
        scam.fill_empty(maps, fallback[:2])
