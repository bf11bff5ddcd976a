"""stanet_lib.viz.viewer, the ipywidgets fixation viewer without a browser: widgets are driven from Python, the image is PNG bytes."""

import io

import numpy as np
import pytest
from PIL import Image

from stanet_lib.config import load_profile
from stanet_lib.stages.world import open_world
from stanet_lib.viz import layers
from stanet_lib.viz import render as viz
from stanet_lib.viz.viewer import STRIP_HEIGHT, viewer

CFG = load_profile("smoke")
SIZE = 96


@pytest.fixture(scope="module")
def worlds(smoke_data_root, tmp_path_factory):
    bare = open_world(CFG, smoke_data_root, load=False, build=False)
    return smoke_data_root, bare, layers.example_world(bare, tmp_path_factory.mktemp("widgets") / "runs_full")


def _img(v) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(v.image.value)).convert("RGB"))


def test_viewer_shows_a_frame_with_the_spectrogram_strip(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE)
    img = _img(v)
    assert v.image.format == "png" and img.shape == (SIZE + STRIP_HEIGHT, SIZE, 3)
    np.testing.assert_array_equal(img, v.render())
    assert v.slider.max == len(v.current) - 1 == v.play.max
    assert v.audio.value[:4] == b"RIFF" and v.audio.format == "wav"
    assert v.last_redraw_ms > 0 and "redraw" in v.status.value


def test_frame_slider_and_layer_toggle_change_the_image(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("gt_map",))
    first = v.image.value
    v.slider.value = 3
    moved = v.image.value
    assert moved != first
    strip = _img(v)[SIZE:]  # the playhead moved with the frame
    v.slider.value = 0
    assert not np.array_equal(strip, _img(v)[SIZE:])
    v.slider.value = 3
    assert v.image.value == moved  # same state, same bytes (cached data, deterministic drawing)
    v.toggles["CAM_SA"].value = True
    assert v.image.value != moved
    v.opacity.value = 0.0  # maps invisible: only the frame (and the strip) remain
    np.testing.assert_array_equal(_img(v)[:SIZE], v.current.frame(3, SIZE))
    v.opacity.value = 0.5
    before = v.image.value
    v.cmap.value = "viridis"
    assert v.image.value != before


def test_missing_layers_are_disabled_with_the_reason(worlds):
    root, bare, _ = worlds
    v = viewer(root, profile="smoke", size=SIZE, layers=layers.LAYER_NAMES)  # a data root works too
    assert v.world.cache == bare.cache
    for name in layers.PREDICTIONS + ("box",):
        tb = v.toggles[name]
        assert tb.disabled and not tb.value and "not computed yet" in tb.tooltip
        assert f"{name}: not computed yet" in v.status.value
    assert not v.toggles["gt_map"].disabled and v.toggles["gt_map"].value
    assert "switch on a prediction layer" in v.metrics.value
    v.side.value = True  # a missing layer in side-by-side mode: its tile says why, nothing raises
    v.right.value = "STA_prediction"
    assert _img(v).shape[1] == 2 * SIZE + 2


def test_side_by_side_shows_two_labelled_layers(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("box",))
    v.left.value, v.right.value = "gt_map", "SCAM_fine"
    single = _img(v)
    v.side.value = True
    img = _img(v)
    assert img.shape[1] == 2 * SIZE + 2 and img.shape[0] > single.shape[0]  # two tiles, captions on top
    def tile(name: str) -> np.ndarray:  # one layer with the box on top, drawn from the public pieces
        names = [name, "box"]
        values, reasons = v.current.values_at(0, names, SIZE)
        return viz.compose_layers(v.current.frame(0, SIZE), values, names, float(v.opacity.value), v.cmap.value,
                                  reasons=reasons).image

    expect = viz.side_by_side([tile("gt_map"), tile("SCAM_fine")], labels=["gt_map", "SCAM_fine"])
    np.testing.assert_array_equal(img[: expect.shape[0]], expect)
    assert v.shown_layers() == ["gt_map", "SCAM_fine"]


def test_metrics_of_the_shown_predictions(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("SCAM_fine", "STA_prediction"))
    html = v.metrics.value
    assert all(m in html for m in ("AUC-J", "SIM", "CC", "NSS")) and "SCAM_fine" in html and "STA_prediction" in html
    s = v.current.metrics("STA_prediction", 0)
    assert f"{s['CC']:.3f}" in html and s["CC"] > 0.5  # the stand-in STA map is the GT map plus a little noise
    v.slider.value = 2
    assert "frame 3" in v.metrics.value
    v.toggles["STA_prediction"].value = False
    assert "STA_prediction" not in v.metrics.value


def test_database_video_and_cam_stage_switching(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("CAM_S",))
    v.slider.value = 2
    other = [d for d in v.db.options if d != v.db.value][0]
    v.db.value = other
    assert v.current.db == other and v.video.value == v.video.options[0] and v.slider.value == 0
    assert v.slider.max == CFG.synth.test_dbs[other][4] - 1
    coarse = v.image.value
    v.cam_stage.value = "fine"
    assert v.current.cam_stage == "fine" and v.image.value != coarse
    v.video.value = v.video.options[1]
    assert v.current.video == v.video.options[1] and f"{other}/{v.video.options[1]}" in v.status.value
