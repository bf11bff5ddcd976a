"""stanet_lib.viz.viewer, the ipywidgets fixation viewer without a browser: widgets are driven from Python, the image is PNG bytes."""

import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from stanet_lib.config import load_profile
from stanet_lib.stages.world import open_world
from stanet_lib.viz import layers
from stanet_lib.viz import render as viz
from stanet_lib.viz import viewer as viewer_mod
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
    assert v.slider.min == v.play.min == 1 and v.slider.max == len(v.current) == v.play.max
    assert v.audio.value[:4] == b"RIFF" and v.audio.format == "wav"
    assert v.last_redraw_ms > 0 and "redraw" in v.status.value


def test_frame_slider_and_layer_toggle_change_the_image(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("gt_map",))
    first = v.image.value
    v.slider.value = 4
    moved = v.image.value
    assert moved != first
    strip = _img(v)[SIZE:]  # the playhead moved with the frame
    v.slider.value = 1
    assert not np.array_equal(strip, _img(v)[SIZE:])
    v.slider.value = 4
    assert v.image.value == moved  # same state, same bytes (cached data, deterministic drawing)
    v.toggles["CAM_SA"].value = True
    assert v.image.value != moved
    v.opacity.value = 0.0  # maps invisible: only the frame (and the strip) remain
    np.testing.assert_array_equal(_img(v)[:SIZE], v.current.frame(3, SIZE))  # frame 4 = index 3
    v.opacity.value = 0.5
    v.toggles["CAM_SA"].value = False  # one map again: the colormap applies to it
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
    v.slider.value = 3
    assert "<th>frame 3</th>" in v.metrics.value and "frame 3 of" in v.status.value
    assert v.metrics_html(3) == v.metrics.value and s == v.current.metrics("STA_prediction", 0)
    v.toggles["STA_prediction"].value = False
    assert "STA_prediction" not in v.metrics.value


def test_database_video_and_cam_stage_switching(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("CAM_S",))
    v.slider.value = 3
    other = [d for d in v.db.options if d != v.db.value][0]
    v.db.value = other
    assert v.current.db == other and v.video.value == v.video.options[0] and v.slider.value == 1
    assert v.slider.max == CFG.synth.test_dbs[other][4]
    v.slider.value = 3
    coarse = v.image.value
    v.cam_stage.value = "fine"  # the other CAMs of the same frame
    assert v.current.cam_stage == "fine" and v.image.value != coarse and v.slider.value == 3
    assert "frame 3 of" in v.status.value
    v.cam_stage.value = "coarse"
    assert v.image.value == coarse and v.slider.value == 3
    v.video.value = v.video.options[1]
    assert v.current.video == v.video.options[1] and f"{other}/{v.video.options[1]}" in v.status.value


def _clock(v) -> dict:
    """The data attributes the browser's audio script reads."""
    return dict(re.findall(r"data-(\w+)='([^']*)'", v.clock.value))


def test_audio_clock_follows_the_frame_and_play(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("gt_map",))
    vl = v.current
    fps = 1.0 / float(np.median(np.diff(vl.times)))
    assert v.play.interval == round(1000 / fps) and f"{v.fps:g} frames/s" in v.status.value  # the clip's rate
    assert _clock(v)["time"] == "0.0000" and _clock(v)["playing"] == "0" and _clock(v)["frame"] == "1"
    v.slider.value = 5
    assert float(_clock(v)["time"]) == pytest.approx(float(vl.times[4])) and _clock(v)["frame"] == "5"
    assert v.frame_time() == pytest.approx(4 / fps)
    v.play.playing = True
    assert _clock(v)["playing"] == "1"
    v.play.playing = False
    assert _clock(v)["playing"] == "0"
    js = v.sync.outputs[0]["data"]["application/javascript"]
    assert ".stanet-viewer-' + uid" in js and json.dumps(v.uid) in js and "currentTime" in js
    assert f"stanet-viewer-{v.uid}" in v.widget._dom_classes
    v.video.value = v.video.options[1]  # another clip starts at its frame 1, paused
    assert v.slider.value == 1 and _clock(v)["frame"] == "1" and _clock(v)["time"] == "0.0000"


def test_toggle_state_legend_and_disabled_controls(worlds):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("gt_map",))
    on, off = v.toggles["gt_map"], v.toggles["SCAM_fine"]
    assert on.button_style == "info" and on.icon == "check" and off.button_style == "" and off.icon == ""
    assert layers.GLOSSARY["SCAM_fine"] in off.tooltip and "hidden" in off.tooltip
    assert "stanet-legend-gt_map" in v.legend.value and layers.GLOSSARY["gt_map"] in v.legend.value
    assert "stanet-legend-SCAM_fine" not in v.legend.value and "audio strip" in v.legend.value
    assert v.left.disabled and v.right.disabled and not v.cmap.disabled
    off.value = True  # two maps: one colormap each, named by the legend's colour bars
    assert off.button_style == "info" and v.cmap.disabled
    assert viz.colormap_stops("Reds")[-1] in v.legend.value and viz.colormap_stops("Blues")[-1] in v.legend.value
    v.side.value = True
    assert not v.left.disabled and not v.right.disabled and not v.cmap.disabled
    assert v.toggles["CAM_S"].disabled and off.disabled and "side by side" in off.tooltip
    assert not v.toggles["box"].disabled and not v.toggles["gt_fixations"].disabled  # drawn on both tiles
    v.side.value = False
    assert not off.disabled and off.button_style == "info"


def test_layer_cmaps_and_colormap_stops():
    assert viewer_mod.layer_cmaps(["gt_map", "box"], "jet") == {"gt_map": "jet"}
    assert viewer_mod.layer_cmaps(["gt_map", "CAM_S", "gt_fixations"], "jet") == {"gt_map": "Reds", "CAM_S": "Blues"}
    stops = viz.colormap_stops("gray", 3)
    assert stops == ["#000000", "#808080", "#ffffff"]
    with pytest.raises(ValueError):
        viz.colormap_stops("gray", 1)


def test_play_drops_the_steps_it_has_fallen_behind_on(worlds, monkeypatch):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("gt_map",))
    clock = [100.0]
    monkeypatch.setattr(viewer_mod.time, "perf_counter", lambda: clock[0])
    v.play.playing = True  # pressed at frame 1
    clock[0] += 5 * v.play.interval / 1000  # Play's timer is at frame 6 by now
    v.slider.value = 2  # a late step: not drawn
    assert v.dropped == 1 and _clock(v)["frame"] == "1"
    v.slider.value = 6  # the step that is due: drawn
    assert v.dropped == 1 and _clock(v)["frame"] == "6"
    clock[0] += 20 * v.play.interval / 1000
    v.slider.value = v.slider.max  # the last frame is always drawn
    assert _clock(v)["frame"] == str(v.slider.max)
    v.slider.value = 7
    v.play.playing = False  # stopping draws the frame it stopped on, late or not
    assert _clock(v)["frame"] == "7" and _clock(v)["playing"] == "0"
    np.testing.assert_array_equal(_img(v), v.render(7))


def test_play_interval_is_shortened_by_the_timer_overhead(worlds, monkeypatch):
    _, _, full = worlds
    v = viewer(full, size=SIZE, layers=("gt_map",))
    frame_ms = v.play.interval
    clock = [100.0]
    monkeypatch.setattr(viewer_mod.time, "perf_counter", lambda: clock[0])
    v.play.playing = True
    for f in range(2, 2 + viewer_mod.PACE_EVERY):  # each step took 10 ms more than a frame
        clock[0] += (frame_ms + 10) / 1000
        v.slider.value = f
    assert v.play.interval == frame_ms - 10
    v.play.playing = False
    assert v.play.interval == frame_ms
