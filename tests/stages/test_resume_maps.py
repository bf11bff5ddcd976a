"""stanet_lib.stages.coarse / fine / sta / maps: a coarse CAM + SCAM pass, a fine CAM + SCAM + pseudo-fixation
pass and an STA prediction pass killed after some videos resume per video to the same maps as an uninterrupted
pass, recomputing only the videos without their file; the parts stream into the set's npz."""

import numpy as np
import pytest
import torch

from stanet_lib.config import load_profile
from stanet_lib.nets.classifier import build_model
from stanet_lib.nets.sta import STANet
from stanet_lib.stages import coarse, fine, maps, pseudo, sta
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
    nets = {n: build_model(k, 3, cfg.model, pretrained=False).eval() for n, k in pseudo.STAGE_NETS.items()}
    images = fs.frames.permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32) uint8 at the smoke coarse size
    tags = torch.tensor([0, 1, 2, 0]).repeat_interleave(3)
    return cfg, fs, nets, images, tags, np.linspace(0.1, 0.9, len(fs)).astype(np.float32)


def test_a_killed_cam_pass_resumes_per_video_to_the_same_maps(tmp_path, monkeypatch):
    cfg, fs, nets, images, tags, sw = setup()
    calls, b = [], {"batch_size": 3}  # a batch per 3-frame video: coarse_maps runs once per video
    # the uninterrupted pass in the same batches: on some CPUs (AMD EPYC) a conv rounds differently for another
    # batch size, and bit-equality across batch sizes is the next test's (batch-aligned) claim, not this one's
    whole = coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "uninterrupted", **b)
    real = coarse.coarse_maps
    monkeypatch.setattr(coarse, "coarse_maps", dies_after(2, real, calls))  # killed after 2 videos
    with pytest.raises(Killed):
        coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "killed", **b)
    done = sorted(p.name for p in (tmp_path / "killed").glob("*.npz"))
    assert done == ["00000_v0.npz", "00001_v1.npz"]  # nothing half-written: two complete videos, no temp file
    assert not list((tmp_path / "killed").glob(".*.tmp*"))
    calls.clear()
    monkeypatch.setattr(coarse, "coarse_maps", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "killed", **b)
    assert len(calls) == 2  # only the two videos without maps were computed
    assert sorted(resumed) == sorted(whole)
    for k in whole:
        assert np.array_equal(resumed[k].numpy(), whole[k].numpy()), k
    # other weights: another key, every video recomputed (never mixed with the old maps)
    with torch.no_grad():
        next(nets["S"].parameters()).add_(1.0)
    calls.clear()
    coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "killed", **b)
    assert len(calls) == 4


@pytest.mark.parametrize("batch_size", [5, 128])
def test_the_per_video_pass_gives_the_whole_set_maps_bit_for_bit(tmp_path, monkeypatch, batch_size):
    """Batches of 5 frames cut across the 3-frame videos: each video's CAMs come from the whole-set pass's
    batches, every batch computed once, so the maps equal that pass's exactly."""
    cfg, fs, nets, images, tags, sw = setup()
    whole = coarse.coarse_set(nets, fs, images, tags, sw, cfg, batch_size=batch_size)
    real, seen = coarse.set_cams, []
    monkeypatch.setattr(coarse, "set_cams", lambda *a, **k: seen.append((k["batch_size"], k["batches"])) or real(*a, **k))
    per_video = coarse.coarse_set_resumable(nets, fs, images, tags, sw, cfg, tmp_path / "parts", batch_size=batch_size)
    assert seen == [(batch_size, [k]) for k in range(-(-len(fs) // batch_size))]  # 0-4, 5-9, 10-11 once each
    assert sorted(per_video) == sorted(whole)
    for k in whole:
        assert torch.equal(per_video[k], whole[k]), k


def test_maps_cut_from_the_whole_pass_batches_equal_that_pass_on_both_st_paths():
    cfg, fs, nets, images, tags, sw = setup()
    for window in (None, (images.flip(-1), images.flip(-2))):  # ST: windows of the set's frames (reuse) / crops

        def flat(cams):
            return {f"{k}_{part}": getattr(v, part) for k, v in cams.items() for part in ("probs", "cams")}

        whole = flat(pseudo.set_cams(nets, fs, images, tags, sw, window, batch_size=5))
        ran = []
        maps = pseudo.batch_aligned(lambda k, rows: ran.append(k) or flat(  # noqa: B023 (used at once)
            pseudo.set_cams(nets, fs, images, tags, sw, window, batch_size=5, batches=[k])), len(fs), 5)
        for rows in (np.arange(3, 6), np.arange(6, 9), np.arange(9, 12), np.arange(0, 3)):  # across batches, back
            got = maps(rows)
            assert sorted(got) == sorted(whole) and all(torch.equal(got[k], whole[k][rows]) for k in whole)
        assert ran == [0, 1, 2, 0]  # batch 1 kept for the next two videos; batch 0 recomputed once let go
        got = maps(np.array([10, 2, 6]))  # rows in any order come back in that order
        assert all(torch.equal(got[k], whole[k][[10, 2, 6]]) for k in whole)
    with pytest.raises(ValueError, match=r"batches must lie in 0..2 for 12 samples in batches of 5"):
        pseudo.batch_rows([3], 5, 12)


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
    whole = fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "uninterrupted", batch_size=5)
    real, calls = fine.with_pseudo, []
    monkeypatch.setattr(fine, "with_pseudo", dies_after(2, real, calls))  # killed after 2 videos
    with pytest.raises(Killed):
        fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "killed", collect=False,
                                batch_size=5)
    assert sorted(p.name for p in (tmp_path / "killed").glob("*.npz")) == ["00000_v0.npz", "00001_v1.npz"]
    calls.clear()
    monkeypatch.setattr(fine, "with_pseudo", lambda *a, **k: calls.append(1) or real(*a, **k))
    files = fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "killed", collect=False,
                                    batch_size=5)
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


def test_the_per_video_fine_pass_gives_the_whole_set_maps_bit_for_bit(tmp_path):
    """42 frames (14 videos of 3) in batches of 16, which cut across videos: the whole-set pass's batches, so the
    same roundings in the nets and in the bilinear resizes (vectorised over the maps in groups of 8 or 16)."""
    torch.manual_seed(0)
    cfg = load_profile("smoke").override(**{"scam.fine_window": "centre"})
    fs = frameset(n_clips=14, t=3, size=32)
    nets = {n: build_model(k, 3, cfg.model, pretrained=False).eval() for n, k in pseudo.STAGE_NETS.items()}
    images = fs.frames.permute(0, 3, 1, 2).contiguous()
    crops = (images.flip(-1), images, images.flip(-2))  # crops of t-1, t, t+1 (stand-ins)
    tags = torch.arange(14).remainder(3).repeat_interleave(3)
    boxes = torch.tensor([[2, 25, 4, 29], [0, 31, 0, 31], [8, 20, 6, 18]]).repeat(14, 1)
    sw = np.linspace(0.1, 0.9, len(fs)).astype(np.float32)
    one_pass = fine.fine_set(nets, fs, crops, tags, boxes, sw, cfg, batch_size=16)[0]
    per_video = fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "p", batch_size=16)
    assert sorted(per_video) == sorted(one_pass) and {"pseudo", "SCAM", "CAM_ST"} <= set(one_pass)
    for k in one_pass:
        assert torch.equal(per_video[k], one_pass[k]), k


def test_saving_parts_refuses_parts_that_do_not_cover_the_set(tmp_path):
    cfg, fs, nets, crops, tags, boxes, sw = fine_setup()
    files = fine.fine_set_resumable(nets, fs, crops, tags, boxes, sw, cfg, tmp_path / "p", collect=False)
    with pytest.raises(ValueError, match="the parts hold 9 frames, the set 12"):
        maps.save_maps_parts(tmp_path / "x.npz", fs, files[:3])
    assert not (tmp_path / "x.npz").exists()
