"""FrameSet / FrameDataset shapes, fine-stage crops, and the audio-switch labelling (paper §3.7)."""

import numpy as np
import pandas as pd
import pytest
import torch

from stanet_lib.datasets import FrameDataset, FrameSet, crop_window, resized_frames, to_float
from stanet_lib.switch import Tagger, switch_labels


def _frameset(n_clips=2, t=3, size=16):
    n = n_clips * t
    frames = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, size, size, 3).contiguous() * 10
    pos = np.tile(np.arange(t), n_clips)
    offset = np.repeat(np.arange(n_clips) * t, t)
    meta = pd.DataFrame({"source": "ave", "db": "AVE", "video": np.repeat([f"v{i}" for i in range(n_clips)], t),
                         "row": np.repeat(np.arange(n_clips), t), "split": "train",
                         "clip": np.repeat(np.arange(n_clips), t), "pos": pos, "time": pos / 4.0, "number": pos + 1})
    return FrameSet(frames, torch.rand(n, 4, 5).half(), torch.tensor(np.repeat(np.arange(n_clips), t)),
                    torch.as_tensor(offset + np.maximum(pos - 1, 0)), torch.as_tensor(offset + np.minimum(pos + 1, t - 1)),
                    torch.ones(n, dtype=torch.bool), meta)


def test_frame_dataset_kinds():
    fs = _frameset()
    imgs = resized_frames(fs, 8)
    assert imgs.shape == (6, 3, 8, 8) and imgs.dtype == torch.uint8
    st = FrameDataset("ST", imgs, prev=fs.prev, next=fs.next, targets=fs.labels)[3]
    assert st["frames"].shape == (3, 3, 8, 8)
    # clip start: frame t-1 clamps to the frame itself; values identify the frames (10 * index / 255)
    assert torch.allclose(st["frames"][:, 0, 0, 0] * 255, torch.tensor([30.0, 30.0, 40.0]), atol=1)
    sa = FrameDataset("SA", imgs, audio=fs.audio, switch=torch.full((6,), 0.25))[0]
    assert sa["frames"].shape == (3, 8, 8) and sa["audio"].shape == (1, 4, 5) and sa["switch"] == 0.25
    tag = FrameDataset("tagger", None, audio=fs.audio, targets=fs.labels)[5]
    assert "frames" not in tag and tag["target"] == 1
    with pytest.raises(ValueError, match="needs audio"):
        FrameDataset("SA", imgs)
    with pytest.raises(ValueError, match="prev/next"):
        FrameDataset("ST", imgs)
    with pytest.raises(ValueError, match="samples"):
        FrameDataset("S", imgs, targets=fs.labels[:3])


def test_crop_window_uses_the_centre_frames_box():
    fs = _frameset(size=16)
    boxes = torch.tensor([[0, 7, 0, 7]] * 6)
    prev, centre, nxt = crop_window(fs, boxes, 4)
    assert prev.shape == centre.shape == nxt.shape == (6, 3, 4, 4)
    # constant frames: each crop keeps its own frame's value, cut with the centre frame's box
    assert int(prev[4, 0, 0, 0]) == 30 and int(centre[4, 0, 0, 0]) == 40 and int(nxt[4, 0, 0, 0]) == 50
    with pytest.raises(ValueError, match="boxes must be"):
        crop_window(fs, boxes[:2], 4)


def test_to_float_range_and_size():
    x = to_float(torch.full((2, 10, 10, 3), 255, dtype=torch.uint8), 5)
    assert x.shape == (2, 3, 5, 5) and float(x.max()) == 1.0


def test_switch_labels_top1_identical_to_tag():
    tagger = Tagger(lambda a: a, ["dog", "cat", "car"], mapping={"Bark": ["dog"], "Race car": ["car", "cat"]})
    match = tagger.matches(["Bark", "Race car", "cat"])
    assert match.tolist() == [[True, False, False], [False, True, True], [False, True, False]]
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3]])
    tags = np.array([0, 1, 2, 2])
    assert switch_labels(probs, tags, match).tolist() == [1, 1, 0, 1]
    with pytest.raises(KeyError, match="horse"):
        Tagger(lambda a: a, ["dog"], {"Horse": ["horse"]}).matches(["Horse"])


@pytest.mark.parametrize("kind", ["S", "ST", "SA", "STA", "tagger", "switch"])
def test_batched_fetch_equals_collated_samples(kind):
    """FrameDataset.get_batch (one tensor gather per batch) gives what default_collate of the per-sample dicts
    gives, frames as uint8 (x / 255 of them = the per-sample floats); make_loader's loaders use it (also under a
    Subset), a plain DataLoader keeps the per-sample path."""
    from torch.utils.data import DataLoader, Subset, default_collate

    from stanet_lib import engine

    fs = _frameset()
    imgs = resized_frames(fs, 8)
    extra = {"pseudo": torch.rand(6, 1, 8, 8)} if kind == "STA" else None
    ds = FrameDataset(kind, None if kind == "tagger" else imgs, audio=fs.audio, prev=fs.prev, next=fs.next,
                      targets=None if kind == "STA" else fs.labels,
                      switch=torch.linspace(0, 1, 6) if kind in ("SA", "STA") else None, extra=extra)
    idx = [4, 0, 3]
    ref = default_collate([ds[i] for i in idx])
    got = ds.get_batch(idx)
    assert isinstance(got, engine.Batch) and sorted(got) == sorted(ref)
    for key in ref:
        if key == "frames":
            assert got[key].dtype == torch.uint8 and got[key].shape == ref[key].shape
            torch.testing.assert_close(got[key].float() / 255.0, ref[key], rtol=0, atol=0)
        else:
            assert got[key].dtype == ref[key].dtype, key
            torch.testing.assert_close(got[key], ref[key], rtol=0, atol=0)
    sub = Subset(Subset(ds, [5, 4, 3, 2, 1, 0]), [0, 1, 2, 3, 5])
    loader = engine.make_loader(sub, 4, shuffle=False)
    assert isinstance(loader.dataset, engine.BatchedView) and len(loader.dataset) == 5
    batches = list(loader)
    assert [b["index"].tolist() for b in batches] == [[5, 4, 3, 2], [0]]  # the dataset's own indices
    if kind != "tagger":
        assert batches[0]["frames"].dtype == torch.uint8
        plain = next(iter(DataLoader(ds, 2)))
        assert plain["frames"].dtype == torch.float32  # a user's own DataLoader: per-sample floats as before
    assert engine.collate([ds[0], ds[1]])["index"].tolist() == [0, 1]  # per-sample dicts: default_collate
    assert engine.make_loader(ds, 2).dataset.kind == kind  # attributes of the wrapped dataset


def test_encoder_takes_uint8_frames_as_x_over_255():
    from stanet_lib.config import ModelConfig
    from stanet_lib.models import Classifier

    torch.manual_seed(0)
    net = Classifier("ST", 3, ModelConfig(width=1 / 16)).eval()
    x = torch.randint(0, 256, (2, 3, 3, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(net(x).logits, net(x.float() / 255.0).logits, rtol=0, atol=0)


def test_empty_pseudo_fixations_are_not_sta_targets():
    """cfg.scam.drop_empty: an all-zero fine SCAM (Eq. 3 kept no source) is marked invalid; off in smoke."""
    from stanet_lib import pseudo
    from stanet_lib.config import load_profile

    fs = _frameset()
    maps = torch.rand(6, 5, 5)
    maps[[1, 4]] = 0.0
    _, valid = pseudo.postprocess(maps, fs, load_profile("demo"))
    assert valid.tolist() == [True, False, True, True, False, True]
    _, valid = pseudo.postprocess(maps, fs, load_profile("demo", **{"scam.drop_empty": False}))
    assert bool(valid.all())
    assert not load_profile("smoke").scam.drop_empty and load_profile("paper").scam.drop_empty
