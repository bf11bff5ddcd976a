"""stanet_lib.viz.layers on the session's smoke world: every layer present, layers missing with a reason, metrics, the grid."""

import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from stanet_lib.config import load_profile
from stanet_lib.data import cache
from stanet_lib.stages.maps import save_maps
from stanet_lib.stages.world import open_world
from stanet_lib.viz import layers
from stanet_lib.viz import render as viz

CFG = load_profile("smoke")


@pytest.fixture(scope="module")
def worlds(smoke_data_root, tmp_path_factory):
    """(bare world: frames and GT only, full world: stand-in maps of every stage in a separate runs folder)."""
    bare = open_world(CFG, smoke_data_root, load=False, build=False)
    full = layers.example_world(bare, tmp_path_factory.mktemp("layers") / "runs_full")
    return bare, full


def _first(world):
    return layers.list_videos(world)[0]


def _save(path, video_rows, **maps):
    """Write maps with the stages' own writer (stages.maps.save_maps): identity arrays video, db, number per row."""
    meta = pd.DataFrame(video_rows, columns=["db", "video", "number"])
    save_maps(path, SimpleNamespace(meta=meta), {k: torch.as_tensor(v) for k, v in maps.items()})


def test_list_videos_matches_the_synthetic_test_databases(worlds):
    bare, _ = worlds
    vids = layers.list_videos(bare)
    assert len(vids) == sum(spec[3] for spec in CFG.synth.test_dbs.values())
    assert {d for d, _ in vids} == set(CFG.synth.test_dbs) and vids == sorted(vids)


def test_every_layer_present_with_stand_in_maps(worlds):
    _, full = worlds
    db, video = _first(full)
    vl = layers.VideoLayers(full, db, video)
    s = CFG.media.cache_size
    assert vl.frames.shape[1:] == (s, s, 3) and vl.frames.dtype == np.uint8
    assert list(vl.numbers) == list(range(1, len(vl) + 1)) and len(vl.times) == len(vl) == len(vl.audio)
    assert vl.reasons == {} and all(vl.available(n) for n in layers.LAYER_NAMES)
    assert vl.wav_bytes()[:4] == b"RIFF"
    w, h = CFG.synth.test_dbs[db][:2]
    values, reasons = vl.values_at(2, layers.LAYER_NAMES, size=2 * s)
    assert reasons == {}
    assert values["gt_map"].shape == (h, w) and 0 <= values["gt_map"].min() <= values["gt_map"].max() <= 1
    pts = values["gt_fixations"]
    assert pts.ndim == 2 and pts.shape[1] == 2 and len(pts) > 0 and pts.max() < 2 * s
    assert values["CAM_S"].shape == (8, 8) and values["SCAM_fine"].shape == (s, s)
    b = values["box"]  # scaled from the canvas to the display
    raw = vl.layer("box", 2)
    np.testing.assert_allclose(b, [raw[0] * 2, raw[1] * 2 + 1, raw[2] * 2, raw[3] * 2 + 1])
    img = viz.compose_layers(vl.frame(2, 2 * s), values, list(layers.LAYER_NAMES)).image
    assert img.shape == (2 * s, 2 * s, 3) and not np.array_equal(img, vl.frame(2, 2 * s))


def test_fine_cams_come_from_the_fine_file(worlds):
    _, full = worlds
    vl = layers.VideoLayers(full, *_first(full), cam_stage="fine")
    assert vl.layer("CAM_SA", 0).shape == (CFG.media.cache_size,) * 2
    with pytest.raises(ValueError, match="cam_stage"):
        layers.map_sources("medium")


def test_missing_layers_are_reported_never_raised(worlds):
    bare, _ = worlds
    vl = layers.VideoLayers(bare, *_first(bare))
    assert vl.available("gt_map") and vl.available("gt_fixations")
    for name in layers.PREDICTIONS + ("box",):
        assert not vl.available(name)
        assert vl.reasons[name] == f"not computed yet (run notebook {viz.LAYERS[name].source})"
        if name in layers.PREDICTIONS:
            assert vl.metrics(name, 0) == vl.reasons[name]
    values, reasons = vl.values_at(0, layers.LAYER_NAMES)
    assert values["SCAM_fine"] is None and "04_fine" in reasons["SCAM_fine"]
    out = viz.compose_layers(vl.frame(0), values, list(layers.LAYER_NAMES), reasons=reasons)
    assert len(out.missing) == 8 and out.image.shape == vl.frames[0].shape


def test_defensive_reading_of_odd_files(worlds, tmp_path):
    bare, _ = worlds
    db, video = _first(bare)
    n = int(cache.load_index(bare.cache).query("source == 'stavis' and db == @db and video == @video")
            ["n_frames"].iloc[0])
    odd = layers.example_world(bare, tmp_path / "runs", stages=())
    rows = [(db, video, k) for k in range(n, 0, -1)]  # reversed: the layer must be ordered by number
    maps = np.stack([np.full((4, 4), k, np.float32) for k in range(n, 0, -1)])
    _save(layers.maps_file(odd, "sta", db), rows, saliency=maps, count=np.arange(n))  # no "pred"/"sta" key
    _save(layers.maps_file(odd, "coarse", db), [(db, "other_video", 1)], CAM_S=maps[:1], boxes=np.zeros((1, 4)))
    layers.maps_file(odd, "fine", db).write_bytes(b"not a zip file")
    vl = layers.VideoLayers(odd, db, video)
    assert vl.maps["STA_prediction"].key == "saliency"
    assert [float(vl.layer("STA_prediction", t)[0, 0]) for t in range(n)] == list(range(1, n + 1))
    assert "no rows for" in vl.reasons["CAM_S"] and "no array 'CAM_ST'" in vl.reasons["CAM_ST"]
    assert vl.reasons["SCAM_fine"].startswith("cannot read")
    _save(layers.maps_file(odd, "coarse", db), rows, CAM_S=maps[:, 0], boxes=np.zeros((n, 4)))  # (N, 4) map
    assert "expected (N, h, w)" in layers.VideoLayers(odd, db, video).reasons["CAM_S"]
    with pytest.raises(LookupError, match="index.csv"):
        layers.VideoLayers(odd, db, "no_such_video")


def test_a_frame_without_ground_truth_is_skipped_with_its_reason(worlds, tmp_path):
    _, full = worlds
    db, video = _first(full)
    root = shutil.copytree(full.stavis_root, tmp_path / "stavis")
    (root / "annotations" / db / video / "fixMap_00002.mat").unlink()
    vl = layers.VideoLayers(full, db, video, stavis_root=root)
    assert vl.available("gt_fixations")  # frame 1 exists: the layer as a whole is there
    assert vl.layer("gt_fixations", 0) is not None and vl.layer("gt_fixations", 1) is None
    assert "fixMap_00002.mat" in vl.why("gt_fixations", 1)
    assert vl.metrics("SCAM_fine", 1).startswith("no ground truth") and isinstance(vl.metrics("SCAM_fine", 0), dict)
    shutil.rmtree(root / "annotations" / db / video)
    vl = layers.VideoLayers(full, db, video, stavis_root=root)
    assert not vl.available("gt_map") and "no ground truth" in vl.reasons["gt_map"]


def test_frame_metrics_follow_the_ground_truth(worlds):
    bare, _ = worlds
    vl = layers.VideoLayers(bare, *_first(bare))
    fix, gt = vl.ground_truth(3)
    good = layers.frame_metrics(gt, fix, gt)
    rng = np.random.default_rng(1)
    noise = layers.frame_metrics(rng.random((8, 8)), fix, gt)
    assert set(good) == set(layers.METRICS)
    assert good["CC"] > 0.8 and good["AUC_J"] > 0.9 and good["NSS"] > 2 and good["SIM"] > 0.5
    assert noise["CC"] < good["CC"] and noise["AUC_J"] < good["AUC_J"] and noise["NSS"] < good["NSS"]
    assert 0 <= noise["AUC_J"] <= 1 and 0 <= noise["SIM"] <= 1
    scaled = layers.frame_metrics(3 * gt + 2, fix, gt)  # min-max first: affine changes nothing
    np.testing.assert_allclose([scaled[m] for m in layers.METRICS], [good[m] for m in layers.METRICS], rtol=1e-9)
    assert np.isnan(layers.frame_metrics(np.ones((8, 8)), fix, gt)["CC"])


def test_scale_box_keeps_the_same_pixels():
    np.testing.assert_allclose(layers.scale_box((0, 63, 0, 63), 64, 128), (0, 127, 0, 127))
    np.testing.assert_allclose(layers.scale_box((3, 3, 5, 6), 64, 128), (6, 7, 10, 13))


def test_sample_grid_shows_every_column_and_greys_missing_ones(worlds):
    bare, full = worlds
    cols = ("frame", "gt_map", "SCAM_coarse", "STA_prediction")
    g_full = layers.sample_grid(full, videos=2, frames=2, size=48, columns=cols)
    g_bare = layers.sample_grid(bare, videos=2, frames=2, size=48, columns=cols)
    assert g_full.shape == g_bare.shape and g_full.shape[1] == 4 * 48 + 3 * 2
    last = g_bare[-48:, -48:]  # bottom-right tile: STA prediction, missing in the bare world
    assert (np.all(last == viz.GREY, axis=-1)).mean() > 0.7
    assert (np.all(g_full[-48:, -48:] == viz.GREY, axis=-1)).mean() < 0.1
    assert not layers.maps_file(bare, "coarse", _first(bare)[0]).exists()  # the real runs folder is untouched


def test_audio_timeline_takes_each_frame_s_own_stretch_of_sound():
    t, f, steps = 5, 3, 40  # 1 s windows of 40 steps; frames 0.25 s apart: 10 steps each, from the window's middle
    audio = np.arange(t * f * steps, dtype=np.float32).reshape(t, f, steps)
    strip = layers.audio_timeline(audio, np.arange(t) * 0.25, window_s=1.0)
    assert strip.shape == (f, t * 10)
    np.testing.assert_array_equal(strip[:, 10:20], audio[1, :, 15:25])
    padded = np.ones((4, 1, 8), np.float32)  # the first frame's window reaches past the clip's start: half zeros
    padded[0, :, :4] = 0.0
    strip = layers.audio_timeline(padded, np.arange(4) * 0.25, 1.0)  # 2 steps per frame
    assert strip.shape == (1, 8) and int((strip == 0).sum()) == 1  # half a frame of padding, not half a window
    with pytest.raises(ValueError, match=r"\(T, F, S\)"):
        layers.audio_timeline(np.zeros((4, 4)), np.arange(4), 1.0)


def test_the_strip_of_a_video_is_its_timeline(smoke_data_root):
    world = open_world(load_profile("smoke"), smoke_data_root, load=False, build=False)
    db, video = layers.list_videos(world)[0]
    vl = layers.VideoLayers(world, db, video)
    assert vl.audio_strip.shape[0] == vl.audio.shape[1] and vl.audio_strip.shape[1] % len(vl) == 0
    assert vl.audio_strip.shape[1] < vl.audio.shape[0] * vl.audio.shape[2]  # not every whole window repeated
