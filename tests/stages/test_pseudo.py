"""stanet_lib.stages.pseudo: the tag-class CAMs of a frame set (features-once ST path equals the plain one) and
the optional post-processing of the fine SCAM (empty maps are no STA target)."""

import pytest
import torch

from stanet_lib.config import ModelConfig, load_profile
from stanet_lib.data.frames import FrameDataset
from stanet_lib.nets.classifier import Classifier
from stanet_lib.stages.pseudo import postprocess, tag_cams
from stanet_lib.train.engine import set_seed
from tests.frame_fixtures import clips, frameset, uint8_frames

MCFG = ModelConfig(width=1 / 16, audio_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.mark.parametrize("batch", [4, 128])
def test_tag_cams_feature_reuse_equals_the_plain_path(batch: int) -> None:
    """Coarse ST CAMs: encoding each frame once per batch gives the per-window result (clip ends included)."""
    prev, nxt = clips([6, 1, 9])
    n = len(prev)
    set_seed(1)
    net = Classifier("ST", 5, MCFG)
    tags = torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(2))
    ds = FrameDataset("ST", uint8_frames(n, 32), prev=prev, next=nxt, extra={"tag": tags})
    plain = tag_cams(net, ds, batch_size=3, reuse=False, device="cpu")
    reused = tag_cams(net, ds, batch_size=batch, reuse=True, device="cpu")
    assert reused.cams.shape == plain.cams.shape == (n, 4, 4)
    torch.testing.assert_close(reused.probs, plain.probs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(reused.cams, plain.cams, rtol=1e-4, atol=1e-5)
    assert net.training  # the mode is restored
    with pytest.raises(ValueError, match="tags="):
        tag_cams(net, FrameDataset("ST", uint8_frames(n, 32), prev=prev, next=nxt), device="cpu")


def test_empty_pseudo_fixations_are_not_sta_targets():
    """cfg.scam.drop_empty: an all-zero fine SCAM (Eq. 3 kept no source) is marked invalid; off in smoke."""
    fs = frameset()
    maps = torch.rand(6, 5, 5)
    maps[[1, 4]] = 0.0
    out, valid = postprocess(maps, fs, load_profile("demo", **{"scam.smoothing_s": 0.0}))
    assert valid.tolist() == [True, False, True, True, False, True] and torch.equal(out, maps)
    _, valid = postprocess(maps, fs, load_profile("demo", **{"scam.drop_empty": False}))
    assert bool(valid.all())
    assert not load_profile("smoke").scam.drop_empty and load_profile("paper").scam.drop_empty


def test_empty_fallback_gives_empty_frames_the_coarse_scam():
    """scam.empty_fallback="coarse": a frame whose fine SCAM is all zero takes its coarse SCAM (resized, normalised)
    and is then an STA target; "none" (the paper) leaves it empty and invalid."""
    fs = frameset()
    maps = torch.rand(6, 8, 8)
    maps[[1, 4]] = 0.0
    coarse = torch.zeros(6, 4, 4)
    coarse[1, 0, 0], coarse[4, 3, 3] = 1.0, 2.0
    cfg = load_profile("demo", **{"scam.empty_fallback": "coarse", "scam.smoothing_s": 0.0})
    out, valid = postprocess(maps, fs, cfg, fallback=coarse)
    assert bool(valid.all())
    assert divmod(int(out[1].argmax()), 8) == (0, 0) and divmod(int(out[4].argmax()), 8) == (7, 7)
    assert float(out[1].max()) == 1.0 and float(out[4].max()) == 1.0
    keep = [0, 2, 3, 5]
    torch.testing.assert_close(out[keep], maps[keep])
    out, valid = postprocess(maps, fs, cfg.override(**{"scam.empty_fallback": "none"}), fallback=coarse)
    assert valid.tolist() == [True, False, True, True, False, True] and torch.equal(out, maps)


def test_hard_filter_and_mean_floor_options():
    """The released code's options: the p > 0.99 hard filter (every source's top-1 must be the tag) and the
    3 x mean floor."""
    fs = frameset(n_clips=1, t=3)
    maps = torch.zeros(3, 2, 2)
    maps[:, 0, 0], maps[:, 1, 1] = 1.0, 0.1  # mean 0.275: the floor at 3 x mean keeps the 1.0 only
    tags = torch.tensor([0, 1, 0])
    sure = torch.tensor([[0.995, 0.005], [0.001, 0.999], [0.6, 0.4]])
    cfg = load_profile("demo", **{"scam.hard_filter": True, "scam.mean_floor": 3.0, "scam.smoothing_s": 0.0})
    out, valid = postprocess(maps, fs, cfg, {"S": sure, "ST": sure}, tags)
    assert valid.tolist() == [True, True, False]  # frame 2: the tag is top-1 at p = 0.6 < 0.99
    assert out[:, 1, 1].tolist() == [0.0, 0.0, 0.0] and out[:, 0, 0].tolist() == [1.0, 1.0, 1.0]
    _, unfiltered = postprocess(maps, fs, cfg.override(**{"scam.hard_filter": False}), {"S": sure}, tags)
    assert bool(unfiltered.all())


def test_smoothing_in_seconds_stays_inside_each_clip():
    """scam.smoothing_s: each frame's pseudo-fixations become the mean of its clip's maps within +/- s seconds
    (frames of the fixture are 0.25 s apart); never another clip's, and an empty frame is filled from its
    neighbours before drop_empty looks at it."""
    fs = frameset(n_clips=2, t=3)  # clip 0 = frames 0-2, clip 1 = frames 3-5
    maps = torch.zeros(6, 1, 4)  # column 3 stays 0, so no mean is a constant map (which xi would zero)
    for i in range(6):
        maps[i, 0, i % 3] = 1.0  # frame i peaks at column i mod 3
    maps[4] = 0.0  # an empty fine SCAM in the middle of clip 1
    cfg = load_profile("demo", **{"scam.smoothing_s": 0.3, "scam.empty_fallback": "none"})
    out, valid = postprocess(maps, fs, cfg)
    assert bool(valid.all())
    torch.testing.assert_close(out[1], torch.tensor([[1.0, 1.0, 1.0, 0.0]]))  # frames 0-2 averaged, then xi
    torch.testing.assert_close(out[0], torch.tensor([[1.0, 1.0, 0.0, 0.0]]))  # frames 0-1: the clip's start
    torch.testing.assert_close(out[3], torch.tensor([[1.0, 0.0, 0.0, 0.0]]))  # frame 4 empty: frame 3 alone
    torch.testing.assert_close(out[4], torch.tensor([[1.0, 0.0, 1.0, 0.0]]))  # filled from frames 3 and 5
    torch.testing.assert_close(out[5], torch.tensor([[0.0, 0.0, 1.0, 0.0]]))  # clip 0's frame 2 is not a neighbour
    narrow, _ = postprocess(maps, fs, cfg.override(**{"scam.smoothing_s": 0.2}))  # 0.2 s < 0.25 s: no neighbour
    torch.testing.assert_close(narrow, maps)
    with pytest.raises(ValueError, match="smoothing_s"):
        load_profile("demo", **{"scam.smoothing_s": -0.1})
