"""stanet_lib.viz.render: the render functions on tiny synthetic frames and maps."""

import matplotlib
import numpy as np
import pytest
from PIL import Image

from stanet_lib.viz import render as viz

RNG = np.random.default_rng(0)


def _frame(h: int = 24, w: int = 32) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _mpl(values: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """matplotlib's own colour for values in [0, 1], as uint8 RGB."""
    return np.rint(np.asarray(matplotlib.colormaps[cmap](values))[..., :3] * 255).astype(np.uint8)


# -------------------------------------------------------------------------------------------- overlay
def test_overlay_shape_dtype_and_range():
    frame = _frame()
    sal = RNG.random((6, 8))
    out = viz.overlay(frame, sal, alpha=0.4)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, frame)
    # a blend lies between the frame and the colour, channel by channel
    color = viz.overlay(frame, sal, alpha=1.0)
    assert color.dtype == np.uint8
    lo, hi = np.minimum(frame, color).astype(int), np.maximum(frame, color).astype(int)
    assert ((lo <= out) & (out <= hi)).all() and not np.array_equal(out, frame) and not np.array_equal(out, color)


def test_alpha_zero_returns_the_frame_exactly():
    frame = _frame()
    out = viz.overlay(frame, RNG.random((5, 7)), alpha=0.0)
    np.testing.assert_array_equal(out, frame)


def test_alpha_one_gives_matplotlibs_colormap():
    frame = _frame(16, 16)
    sal = np.linspace(0, 1, 256).reshape(16, 16)
    for cmap in ("jet", "viridis"):
        out = viz.overlay(frame, sal, cmap=cmap, alpha=1.0, normalize=False)
        np.testing.assert_array_equal(out, _mpl(sal, cmap))


def test_intermediate_alpha_is_the_linear_blend():
    frame = _frame(16, 16)
    sal = RNG.random((16, 16))
    color = _mpl(sal).astype(np.float64)
    out = viz.overlay(frame, sal, alpha=0.3, normalize=False)
    expected = 0.7 * frame + 0.3 * color
    assert np.abs(out - expected).max() <= 0.51


def test_weighted_alpha_keeps_low_saliency_transparent():
    frame = _frame(8, 8)
    sal = np.zeros((8, 8))
    sal[2:4, 2:4] = 1.0
    out = viz.overlay(frame, sal, alpha=1.0, weighted=True)
    np.testing.assert_array_equal(out[sal == 0], frame[sal == 0])  # map 0 -> fully transparent
    np.testing.assert_array_equal(out[sal == 1], _mpl(np.ones(4)))  # map 1 at alpha 1 -> the colour
    half = viz.overlay(frame, sal * 0.5, alpha=0.8, weighted=True, normalize=False)
    expected = frame * 0.6 + _mpl(np.array(0.5)) * 0.4  # opacity 0.8 * 0.5
    assert np.abs(half[2:4, 2:4] - expected[2:4, 2:4]).max() <= 0.51


def test_normalize_min_max_vs_clip():
    frame = _frame(4, 4)
    sal = np.full((4, 4), 3.0)
    sal[0, 0] = 1.0  # min 1, max 3 -> [0, 1]
    norm = viz.overlay(frame, sal, alpha=1.0, normalize=True)
    assert (norm[0, 0] == _mpl(np.array(0.0))).all() and (norm[1, 1] == _mpl(np.array(1.0))).all()
    clipped = viz.overlay(frame, sal, alpha=1.0, normalize=False)  # everything >= 1 -> top of the map
    assert (clipped == _mpl(np.array(1.0))).all()
    const = viz.overlay(frame, np.full((4, 4), 7.0), alpha=1.0)  # a flat map carries no information
    assert (const == _mpl(np.array(0.0))).all()


def test_uint8_maps_are_read_as_fractions():
    frame = _frame(2, 2)
    out = viz.overlay(frame, np.full((2, 2), 255, np.uint8), alpha=1.0, normalize=False)
    assert (out == _mpl(np.array(1.0))).all()


def test_map_resize_from_smaller_size_is_bilinear_half_pixel():
    # 2 -> 4 columns with align_corners=False: source x = (i + .5) / 2 - .5 -> 0, .25, .75, 1 of the ramp
    out = viz.overlay(_frame(1, 4), np.array([[0.0, 1.0]]), alpha=1.0, normalize=False)
    np.testing.assert_array_equal(out, viz.colorize(np.array([[0.0, 0.25, 0.75, 1.0]])))
    assert not np.array_equal(out[0, 1], viz.colorize(np.array([[0.5]]))[0, 0])  # not nearest / not align_corners
    frame = _frame(30, 40)
    out = viz.overlay(frame, np.tile(np.array([[0.0, 1.0]]), (3, 1)), alpha=1.0, normalize=False)
    assert out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out[:, 0], _mpl(np.zeros(30)))
    np.testing.assert_array_equal(out[:, -1], _mpl(np.ones(30)))


def test_downsampling_a_larger_map_averages_the_block_under_each_pixel():
    sal = np.zeros((100, 90))
    sal[50:, 50:] = 5.0  # a bright block: normalised to 1, the rest 0
    out = viz.overlay(_frame(10, 9), sal, alpha=1.0, normalize=True)
    assert out.shape == (10, 9, 3)
    assert (out[7:, 7:] == viz.colorize(np.ones(1))[0]).all()  # pixels whose whole footprint is the block
    assert (out[:4, :4] == viz.colorize(np.zeros(1))[0]).all()
    edge = out[7, 5]  # straddles the block's left edge: a colour strictly between the two ends (antialiased)
    assert not (edge == viz.colorize(np.ones(1))[0]).all() and not (edge == viz.colorize(np.zeros(1))[0]).all()


def test_nan_in_map_counts_as_zero():
    frame = _frame(4, 4)
    sal = np.ones((4, 4))
    sal[1, 2] = np.nan
    sal[0, 0] = 0.0
    out = viz.overlay(frame, sal, alpha=1.0, normalize=False)
    np.testing.assert_array_equal(out[1, 2], out[0, 0])
    np.testing.assert_array_equal(out[1, 2], _mpl(np.array(0.0)))


@pytest.mark.parametrize(
    ("frame", "sal", "kwargs", "match"),
    [
        (np.zeros((4, 4), np.uint8), np.zeros((2, 2)), {}, r"\(H, W, 3\)"),
        (np.zeros((4, 4, 3), np.float32), np.zeros((2, 2)), {}, "uint8"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 1)), {}, "2-D"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2)), {"alpha": 1.5}, "alpha"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2)), {"alpha": -0.1}, "alpha"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2)), {"cmap": "no_such_map"}, "colormap"),
    ],
)
def test_overlay_rejects_bad_input_with_clear_errors(frame, sal, kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.overlay(frame, sal, **kwargs)


# --------------------------------------------------------------------------------------------- points
def test_points_inside_drawn_outside_ignored():
    img = np.zeros((10, 12, 3), np.uint8)
    pts = np.array([[2, 3], [9, 11], [-1, 5], [4, 12], [20, 20], [np.nan, 1]])
    out = viz.draw_points(img, pts, color=(255, 0, 0), radius=0)
    drawn = np.argwhere(out.any(axis=2))
    assert {tuple(p) for p in drawn} == {(2, 3), (9, 11)}
    assert (out[2, 3] == [255, 0, 0]).all()
    assert not img.any()  # input untouched


def test_point_radius_disc_is_clipped_at_the_border():
    img = np.zeros((10, 10, 3), np.uint8)
    out = viz.draw_points(img, np.array([[5.4, 5.6]]), radius=2)  # rounds to (5, 6)
    mask = out.any(axis=2)
    yy, xx = np.mgrid[:10, :10]
    np.testing.assert_array_equal(mask, (yy - 5) ** 2 + (xx - 6) ** 2 <= 4)
    corner = viz.draw_points(img, np.array([[0, 0]]), radius=2).any(axis=2)
    assert corner.sum() == 6  # the quarter of a radius-2 disc (13 pixels) inside the image
    assert viz.draw_points(img, np.zeros((0, 2)), radius=3).sum() == 0


def test_points_from_fixation_map_rescale():
    fix = np.zeros((4, 4), bool)
    fix[1, 2] = True
    np.testing.assert_array_equal(viz.points_from_map(fix), [[1, 2]])
    np.testing.assert_allclose(viz.points_from_map(fix, (8, 8)), [[2.5, 4.5]])  # pixel centre to centre


def test_draw_points_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        viz.draw_points(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 3)))


# ------------------------------------------------------------------------------------------------ box
def test_box_edges_inclusive():
    img = np.zeros((20, 20, 3), np.uint8)
    out = viz.draw_box(img, (3, 10, 5, 15), color=(0, 255, 0), thickness=1).any(axis=2)
    assert out[3, 5:16].all() and out[10, 5:16].all() and out[3:11, 5].all() and out[3:11, 15].all()
    assert not out[2].any() and not out[11].any() and not out[:, 4].any() and not out[:, 16].any()
    assert not out[4:10, 6:15].any()  # hollow
    assert out.sum() == 2 * 11 + 2 * 6


def test_box_thickness_grows_inwards():
    out = viz.draw_box(np.zeros((20, 20, 3), np.uint8), (3, 10, 5, 15), thickness=2).any(axis=2)
    assert out[4, 6:15].all() and not out[5, 7:14].any() and not out[2].any()


def test_box_is_clipped_to_the_image():
    img = np.zeros((10, 10, 3), np.uint8)
    out = viz.draw_box(img, (-5, 6, 2, 30), thickness=1).any(axis=2)
    assert out[6, 2:].all() and out[:7, 2].all()  # visible bottom and left edges
    assert not out[0, 3:].any()  # the top edge is outside: no line along the frame border
    assert not out[:6, 9].any()  # nor along the right border (row 6 is the bottom edge)
    assert not viz.draw_box(img, (20, 30, 20, 30)).any()  # entirely outside


def test_box_rejects_bad_boxes():
    img = np.zeros((4, 4, 3), np.uint8)
    for bad in [(3, 1, 0, 2), (0, 1, 2), (0, np.nan, 0, 1)]:
        with pytest.raises(ValueError, match="box"):
            viz.draw_box(img, bad)


# ---------------------------------------------------------------------------------------- spectrogram
def test_spectrogram_strip_shape_orientation_and_playhead():
    spec = np.zeros((8, 20))
    spec[0] = 10.0  # lowest frequency bin is loud
    strip = viz.spectrogram_strip(spec, width=50, height=16, cmap="gray")
    assert strip.shape == (16, 50, 3) and strip.dtype == np.uint8
    assert strip[-1].mean() > 200 and strip[0].mean() < 50  # low frequencies at the bottom
    for frac, col in [(0.0, 0), (0.5, 24), (1.0, 49)]:
        with_head = viz.spectrogram_strip(spec, 50, 16, playhead=frac, cmap="gray", playhead_color=(255, 0, 0))
        changed = np.flatnonzero((with_head != strip).any(axis=(0, 2)))
        np.testing.assert_array_equal(changed, [col])
        assert (with_head[:, col] == [255, 0, 0]).all()


def test_spectrogram_strip_concatenates_clip_features_and_validates():
    feats = RNG.random((5, 8, 4))  # (T, F, S)
    assert viz.spectrogram_strip(feats, 40, 10).shape == (10, 40, 3)
    with pytest.raises(ValueError, match="playhead"):
        viz.spectrogram_strip(feats, 40, 10, playhead=1.2)
    with pytest.raises(ValueError, match=r"\(F, S\)"):
        viz.spectrogram_strip(np.zeros(7), 40, 10)


# --------------------------------------------------------------------------------- placeholder, layers
def test_placeholder_is_grey_with_text():
    img = viz.placeholder((60, 200), "CAM_SA: not computed yet (run notebook 03)")
    assert img.shape == (60, 200, 3) and img.dtype == np.uint8
    grey = (img == viz.GREY).all(axis=2)
    assert 0.5 < grey.mean() < 1.0  # mostly grey, with text pixels
    assert not (img == viz.GREY).all(axis=2)[4:20].all()
    with pytest.raises(ValueError, match="shape"):
        viz.placeholder((0, 10), "x")


def _all_layers(h: int, w: int) -> dict[str, np.ndarray]:
    fix = np.zeros((h // 2, w // 2), bool)
    fix[3, 4] = fix[5, 1] = True
    layers = {name: RNG.random((h // 4, w // 4)).astype(np.float32) for name, s in viz.LAYERS.items()
              if s.kind == "map"}
    layers["gt_map"] = (RNG.random((h, w)) * 255).astype(np.uint8)
    layers["box"] = np.array([2, h - 3, 3, w - 4])
    layers["gt_fixations"] = fix
    return layers


ISSUE_LAYERS = ["gt_fixations", "gt_map", "CAM_S", "CAM_ST", "CAM_SA", "SCAM_coarse", "SCAM_fine", "box",
                "pseudo_fixation", "STA_prediction"]


def test_layer_registry_names_every_layer_of_the_issue():
    assert sorted(viz.LAYERS) == sorted(ISSUE_LAYERS)


@pytest.mark.parametrize("name", ISSUE_LAYERS)
def test_every_layer_goes_through_compose_layers(name):
    frame = _frame(32, 40)
    layers = _all_layers(32, 40)
    img, missing = viz.compose_layers(frame, layers, [name], opacity=0.6)
    assert img.shape == frame.shape and img.dtype == np.uint8 and missing == []
    assert (img != frame).any()
    off, _ = viz.compose_layers(frame, layers, [])
    np.testing.assert_array_equal(off, frame)
    kind = viz.LAYERS[name].kind
    if kind == "box":
        np.testing.assert_array_equal(img, viz.draw_box(frame, layers["box"]))
    elif kind == "points":
        np.testing.assert_array_equal(img, viz.draw_points(frame, viz.points_from_map(layers[name], (32, 40))))
    else:
        np.testing.assert_array_equal(img, viz.overlay(frame, layers[name], "jet", 0.6))


def test_missing_layers_give_messages_not_exceptions():
    frame = _frame(64, 96)
    layers = {"CAM_S": RNG.random((8, 12)), "CAM_SA": None}
    img, missing = viz.compose_layers(frame, layers, ["CAM_S", "CAM_SA", "STA_prediction"],
                                      reasons={"STA_prediction": "no checkpoint"})
    assert missing == ["CAM_SA: not computed yet (run notebook 03_coarse_scam)", "STA_prediction: no checkpoint"]
    drawn = viz.overlay(frame, layers["CAM_S"], "jet", 0.5)
    assert (img != drawn).any()  # the messages are written on the image ...
    quiet, again = viz.compose_layers(frame, layers, ["CAM_S", "CAM_SA"], annotate_missing=False)
    np.testing.assert_array_equal(quiet, drawn)  # ... unless asked not to
    assert len(again) == 1
    only_missing, msgs = viz.compose_layers(frame, {}, ["SCAM_fine"], annotate_missing=False)
    np.testing.assert_array_equal(only_missing, frame)
    assert msgs == ["SCAM_fine: not computed yet (run notebook 04_fine_pseudo_fixations)"]


def test_compose_layers_order_opacity_cmap_and_errors():
    frame = _frame(16, 16)
    a, b = RNG.random((4, 4)), RNG.random((4, 4))
    img, _ = viz.compose_layers(frame, {"CAM_S": a, "CAM_ST": b}, ["CAM_ST", "CAM_S"],
                                opacity={"CAM_S": 0.3, "CAM_ST": 0.8}, cmap={"CAM_S": "viridis"})
    expected = viz.overlay(viz.overlay(frame, b, "jet", 0.8), a, "viridis", 0.3)
    np.testing.assert_array_equal(img, expected)
    with pytest.raises(ValueError, match="unknown layer"):
        viz.compose_layers(frame, {"CAM_S": a}, ["CAM-S"])
    with pytest.raises(ValueError, match="CAM_S"):
        viz.compose_layers(frame, {"CAM_S": np.zeros((2, 2, 2))}, ["CAM_S"])
    extra, _ = viz.compose_layers(frame, {"SCAM_avg": a}, ["SCAM_avg"])  # unlisted names are maps
    np.testing.assert_array_equal(extra, viz.overlay(frame, a))


def test_points_and_box_arguments_are_drawn_on_top():
    frame = np.zeros((20, 20, 3), np.uint8)
    img, _ = viz.compose_layers(frame, {"CAM_S": np.ones((5, 5))}, ["CAM_S"], opacity=1.0,
                                points=np.array([[10, 10]]), box=(2, 17, 2, 17), point_radius=0)
    assert (img[10, 10] == [255, 0, 255]).all() and (img[2, 5] == [255, 255, 255]).all()


def test_compose_356_frame_with_three_layers():
    frame = _frame(356, 356)
    layers = {"CAM_S": RNG.random((11, 11)), "SCAM_fine": RNG.random((178, 178)),
              "STA_prediction": RNG.random((356, 356)).astype(np.float16)}
    img, missing = viz.compose_layers(frame, layers, list(layers), opacity=0.4)
    assert img.shape == (356, 356, 3) and img.dtype == np.uint8 and missing == []
    assert (img != frame).any()


# -------------------------------------------------------------------------------------------- tiling
def test_side_by_side_tiles_and_captions():
    a, b = _frame(20, 10), _frame(14, 6)
    out = viz.side_by_side([a, b], gap=2)
    assert out.shape == (20, 18, 3)
    np.testing.assert_array_equal(out[:, :10], a)
    np.testing.assert_array_equal(out[:14, 12:], b)
    assert (out[14:, 12:] == 255).all() and (out[:, 10:12] == 255).all()
    cap = viz.side_by_side([a, b], ["frame", "CAM_S"], gap=2)
    assert cap.shape[0] > 20 and cap.shape[1] == 18
    np.testing.assert_array_equal(cap[-20:, :10], a)
    assert (cap[: cap.shape[0] - 20] < 255).any()  # caption text
    with pytest.raises(ValueError, match="labels"):
        viz.side_by_side([a, b], ["one"])


def test_frame_grid_builds_one_image_with_placeholders():
    rows = [[_frame(12, 16), _frame(12, 16), None], [_frame(12, 16), None, _frame(12, 16)]]
    grid = viz.frame_grid(rows, labels=["frame", "CAM_S", "STA"], row_labels=["t=0", "t=5"], gap=1)
    assert grid.dtype == np.uint8 and grid.ndim == 3
    assert grid.shape[1] == 3 * 16 + 2 and grid.shape[0] > 2 * 12 + 1
    body = grid[-25:]
    np.testing.assert_array_equal(body[:12, 17:33], rows[0][1])
    assert (body[-12:, 17:33] == viz.GREY).mean() > 0.5  # the None cell became a grey placeholder
    with pytest.raises(ValueError, match="same"):
        viz.frame_grid([[_frame()], [_frame(), _frame()]])


def test_save_png_roundtrip(tmp_path):
    img = _frame(9, 13)
    path = viz.save_png(tmp_path / "sub" / "fig.png", img)
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), img)
    assert [p.name for p in path.parent.iterdir()] == ["fig.png"]  # no temporary file left
    assert isinstance(viz.to_pil(img), Image.Image)
