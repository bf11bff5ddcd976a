"""stanet_lib.stages.coarse / fine / sta / maps: a coarse CAM + SCAM pass, a fine CAM + SCAM + pseudo-fixation
pass and an STA prediction pass killed after some videos resume per video to the same maps as an uninterrupted
pass, recomputing only the videos without their file; the parts stream into the set's npz."""

import numpy as np
import pytest
import torch

from stanet_lib.config import load_profile
from stanet_lib.nets.classifier import build_model
from stanet_lib.nets.sta import STANet
from stanet_lib.stages import coarse, fine, maps, sta
from stanet_lib.stages.pseudo import STAGE_NETS
from tests.frame_fixtures import frameset


class Killed(RuntimeError):
    """Stands for the process dying in the middle of the pass."""


def dies_after(n: int, real, calls: list):
    """A stand-in for ``real`` that counts its calls in ``calls`` and raises :class:`Killed` on call ``n + 1``."""

    def stand_in(*args, **kwargs):
        if len(calls) == n:
            raise Killed(f"killed after {n} calls")
        calls.append(1)
        return real(*args, **kwargs)

    return stand_in


def setup():
    torch.manual_seed(0)
    cfg = load_profile("smoke")
    fs = frameset(n_clips=4, t=3, size=32)
    nets = {n: build_model(k, 3, cfg.model, pretrained=False).eval() for n, k in STAGE_NETS.items()}
    images = fs.frames.permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32) uint8 at the smoke coarse size
    tags = torch.tensor([0, 1, 2, 0]).repeat_interleave(3)
    return cfg, fs, nets, images, tags, np.linspace(0.1, 0.9, len(fs)).astype(np.float32)


def test_a_killed_cam_pass_resumes_per_video_to_the_same_maps(tmp_path, monkeypatch):
    cfg, fs, nets, images, tags, sw = setup()
    whole = coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "uninterrupted")
    calls = []
    real = coarse.coarse_set
    monkeypatch.setattr(coarse, "coarse_set", dies_after(2, real, calls))  # killed after 2 videos
    with pytest.raises(Killed):
        coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "killed")
    done = sorted(p.name for p in (tmp_path / "killed").glob("*.npz"))
    assert done == ["00000_v0.npz", "00001_v1.npz"]  # nothing half-written: two complete videos, no temp file
    assert not list((tmp_path / "killed").glob(".*.tmp*"))
    calls.clear()
    monkeypatch.setattr(coarse, "coarse_set", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "killed")
    assert len(calls) == 2  # only the two videos without maps were computed
    assert sorted(resumed) == sorted(whole)
    for k in whole:
        assert np.array_equal(resumed[k].numpy(), whole[k].numpy()), k
    # other weights: another key, every video recomputed (never mixed with the old maps)
    with torch.no_grad():
        next(nets["S"].parameters()).add_(1.0)
    calls.clear()
    coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "killed")
    assert len(calls) == 4


def test_the_per_video_pass_gives_the_whole_set_maps(tmp_path):
    cfg, fs, nets, images, tags, sw = setup()
    per_video = coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "parts")
    whole = coarse.coarse_set(nets, fs, images, tags, sw, cfg)
    assert torch.equal(per_video["boxes"], whole["boxes"]) and torch.equal(per_video["tags"], whole["tags"])
    for k in ("CAM_S", "CAM_ST", "CAM_SA", "SCAM", "SCAM_avg", "weights"):
        assert torch.allclose(per_video[k].float(), whole[k].float(), atol=1e-5), k


def test_a_killed_sta_prediction_pass_resumes_per_video(tmp_path, monkeypatch):
    torch.manual_seed(0)
    cfg = load_profile("smoke")
    fs = frameset(n_clips=3, t=4, size=32)
    images = fs.frames.permute(0, 3, 1, 2).contiguous()
    feeds = {"STA": (STANet(cfg.model).eval(), np.linspace(0.2, 0.8, len(fs)).astype(np.float32)),
             "STA_noswitch": (STANet(cfg.model).eval(), None)}
    whole = sta.predict_set_resumable(feeds, fs, images, tmp_path / "uninterrupted")
    real, calls = sta.predict_frames, []
    # two variants per video: killed in the second video, the first one done
    monkeypatch.setattr(sta, "predict_frames", dies_after(2, real, calls))
    with pytest.raises(Killed):
        sta.predict_set_resumable(feeds, fs, images, tmp_path / "killed")
    assert [p.name for p in (tmp_path / "killed").glob("*.npz")] == ["00000_v0.npz"]
    calls.clear()
    monkeypatch.setattr(sta, "predict_frames", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = sta.predict_set_resumable(feeds, fs, images, tmp_path / "killed")
    assert len(calls) == 4  # videos 2 and 3, two variants each
    for k in whole:
        assert whole[k].shape == (len(fs), 32, 32) and np.array_equal(resumed[k].numpy(), whole[k].numpy()), k


def fine_setup():
    cfg, fs, nets, images, tags, sw = setup()
    torch.manual_seed(1)
    boxes = torch.tensor([[2, 25, 4, 29], [0, 31, 0, 31], [8, 20, 6, 18]]).repeat(4, 1)  # (12, 4)
    crops = (None, images, None)  # the "own" window: the neighbours' own crops (here the frames themselves)
    return cfg.override(**{"scam.fine_window": "own"}), fs, nets, crops, tags, boxes, sw


def test_a_killed_fine_pass_resumes_per_video_and_streams_to_the_saved_maps(tmp_path, monkeypatch):
    cfg, fs, nets, crops, tags, boxes, sw = fine_setup()
    whole = fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "uninterrupted")
    real, calls = fine.fine_set, []
    monkeypatch.setattr(fine, "fine_set", dies_after(2, real, calls))  # killed after 2 videos
    with pytest.raises(Killed):
        fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "killed", collect=False)
    assert sorted(p.name for p in (tmp_path / "killed").glob("*.npz")) == ["00000_v0.npz", "00001_v1.npz"]
    calls.clear()
    monkeypatch.setattr(fine, "fine_set", lambda *a, **k: calls.append(1) or real(*a, **k))
    files = fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "killed", collect=False)
    assert len(calls) == 2 and [p.name for p in files] == [f"0000{i}_v{i}.npz" for i in range(4)]
    with np.load(files[0]) as part:  # parts bound for the npz are kept in its dtypes (float16 maps)
        assert part["pseudo"].dtype == np.float16 and part["weights"].dtype == np.float32
    # streamed into the set's npz one video at a time: the arrays save_maps writes for the whole set
    streamed = maps.load_maps(maps.save_maps_parts(tmp_path / "streamed.npz", fs, files))
    saved = maps.load_maps(maps.save_maps(tmp_path / "saved.npz", fs, whole))
    assert sorted(streamed) == sorted(saved) and {"pseudo", "valid", "SCAM", "video", "number"} <= set(saved)
    for k in saved:
        assert streamed[k].dtype == saved[k].dtype and np.array_equal(streamed[k], saved[k]), k
    assert saved["pseudo"].shape == (len(fs), fs.canvas, fs.canvas) and saved["pseudo"].dtype == np.float16


def test_saving_parts_refuses_parts_that_do_not_cover_the_set(tmp_path):
    cfg, fs, nets, crops, tags, boxes, sw = fine_setup()
    files = fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "p", collect=False)
    with pytest.raises(ValueError, match="the parts hold 9 frames, the set 12"):
        maps.save_maps_parts(tmp_path / "x.npz", fs, files[:3])
    assert not (tmp_path / "x.npz").exists()
