"""stanet_lib.data.frames: FrameSet / FrameDataset shapes and sample kinds, fine-stage crops, float frames."""

import pytest
import torch

from stanet_lib.data.frames import FrameDataset, crop_window, resized_frames, to_float
from tests.frame_fixtures import frameset


def test_frame_dataset_kinds():
    fs = frameset()
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
    fs = frameset(size=16)
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
