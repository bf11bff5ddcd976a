"""stanet_lib.nets.windows: the (t-1, t, t+1) window batches, padded batch shapes, and features-once inference
(:func:`predict_frames`) against the STA net's own plain windowed forward."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from stanet_lib.config import ModelConfig
from stanet_lib.nets.sta import DECODERS, STANet
from stanet_lib.nets.windows import encodes_per_frame, padded, predict_frames, window_batches
from stanet_lib.train.engine import set_seed
from tests.frame_fixtures import clips, uint8_frames

MCFG = ModelConfig(width=1 / 16, audio_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_window_batches_list_each_needed_frame_once() -> None:
    prev, nxt = clips([5, 1, 7])
    wb = window_batches(prev, nxt, 4)
    assert [c for c, _, _ in wb] == [slice(0, 4), slice(4, 8), slice(8, 12), slice(12, 13)]
    for centre, need, pos in wb:
        c = torch.arange(centre.start, centre.stop)
        assert torch.equal(need, torch.unique(torch.cat([prev[c], c, nxt[c]])))  # sorted, unique
        assert torch.equal(need[pos[0]], prev[c]) and torch.equal(need[pos[1]], c) and torch.equal(need[pos[2]], nxt[c])
    long_prev, long_next = clips([64])
    assert encodes_per_frame(long_prev, long_next, 16) == pytest.approx((17 + 18 + 18 + 17) / 64)
    with pytest.raises(ValueError, match="batch"):
        window_batches(prev, nxt, 0)
    with pytest.raises(ValueError, match="index vectors"):
        window_batches(prev, nxt[:-1], 2)


@pytest.mark.parametrize("decoder", DECODERS)
def test_predict_frames_is_the_nets_windowed_forward(decoder: str) -> None:
    """predict_frames (each frame encoded once per batch, uint8 chunks) equals the STA net's own forward over the
    (t-1, t, t+1) windows in eval mode, for uint8 and float frames, every batch / chunk layout, without feature
    reuse (the released code's way), with the switch and with the gate open; an empty set gives no maps, wrong
    row counts raise. The net's train / eval mode is restored."""
    set_seed(3)
    net = STANet(dataclasses.replace(MCFG, sta_decoder=decoder))
    prev, nxt = clips([7, 2, 1, 6])  # a one-frame clip too: t-1 = t = t+1
    n = len(prev)
    imgs, audio = uint8_frames(n, 32, seed=4), torch.randn(n, 64, 101).half()
    sw = torch.rand(n, generator=torch.Generator().manual_seed(5))
    x = imgs.float() / 255.0
    win = torch.stack([x[prev], x, x[nxt]], 1)  # (N, 3, 3, H, W)
    with torch.no_grad():
        net.eval()
        ref = torch.sigmoid(net(win, audio.float()[:, None], sw).logits)[:, 0]
        ref_open = torch.sigmoid(net(win, audio.float()[:, None], None).logits)[:, 0]
    net.train()
    assert not torch.allclose(ref, ref_open, atol=1e-3)  # the switch changes the maps: two distinct checks
    layouts = ({}, {"batch": 3}, {"batch": 4, "chunk": 6}, {"batch": 16, "chunk": 2048}, {"batch": 4, "pad": True},
               {"batch": 5, "chunk": 7, "reuse": False})
    for kw in layouts:
        out = predict_frames(net, imgs, audio, prev, nxt, sw, device="cpu", **kw)
        assert out.shape == (n, 32, 32) and out.dtype == torch.float32
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5, msg=lambda m, kw=kw: f"{kw}: {m}")
    assert net.training
    torch.testing.assert_close(predict_frames(net, x, audio, prev, nxt, sw, batch=3, device="cpu"), ref,
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(predict_frames(net, imgs, audio, prev, nxt, None, batch=8, device="cpu"), ref_open,
                               rtol=1e-4, atol=1e-5)
    assert predict_frames(net, imgs[:0], audio[:0], prev[:0], nxt[:0], device="cpu").shape == (0, 32, 32)
    with pytest.raises(ValueError, match="must have N"):
        predict_frames(net, imgs, audio[:-1], prev, nxt, device="cpu")


def test_padded_batches_with_the_2d_temporal_gate() -> None:
    """The GPU layout forced on the CPU: padded batch shapes and the temporal Conv3d as one 2-D convolution."""
    assert padded(torch.tensor([4, 5, 6]), 4).tolist() == [4, 5, 6, 6, 6, 6]  # batch + 2
    assert len(padded(torch.arange(7), 4)) == 8 and len(padded(torch.arange(9), 4)) == 12
    assert len(padded(torch.arange(13), 4)) == 13  # beyond 3 x batch: left as it is
    set_seed(6)
    net = STANet(MCFG)
    prev, nxt = clips([5, 8])
    imgs, audio = uint8_frames(13, 32, seed=7), torch.randn(13, 64, 101).half()
    ref = predict_frames(net, imgs, audio, prev, nxt, device="cpu")
    net.temporal.as_2d = True
    out = predict_frames(net, imgs, audio, prev, nxt, batch=4, device="cpu", pad=True)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
