"""stanet_lib.nets.sta: the STA net (Eq. 5, both decoders): shapes, gradients, the decoders, the fusion's known
answers, the audio switch, clear errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from stanet_lib.config import ModelConfig
from stanet_lib.nets.sta import DECODERS, STANet
from stanet_lib.train.engine import set_seed

MCFG = ModelConfig(width=1 / 16, audio_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def batch(b: int = 2, h: int = 32, w: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, 3, h, w, generator=g), torch.randn(b, 1, 64, 101, generator=g)


def net(decoder: str = "deconv", seed: int = 0, **kw) -> STANet:
    set_seed(seed)
    return STANet(dataclasses.replace(MCFG, sta_decoder=decoder, **kw))


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("hw", [(32, 32), (40, 36)])
def test_shapes_finite_and_trainable(decoder: str, hw: tuple[int, int]) -> None:
    model = net(decoder)
    frames, audio = batch(3, *hw)
    out = model(frames, audio, torch.tensor([0.0, 0.5, 1.0]))
    c, h8, w8 = model.encoder.out_channels, hw[0] // 8, hw[1] // 8
    assert out.logits.shape == (3, 1, *hw)
    assert out.sta.shape == out.sa.shape == out.st.shape == out.temporal_gate.shape == (3, c, h8, w8)
    assert out.audio_att.shape == (3, 1, h8, w8)
    assert torch.isfinite(out.logits).all()
    out.logits.mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.encoder.features[0].weight.grad.abs().sum() > 0  # the loss reaches the shared encoder


def test_deconv_decoder_is_three_transposed_convs_back_to_the_input_size() -> None:
    model = net("deconv")
    deconvs = [m for m in model.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(deconvs) == 3 and all(m.stride == (2, 2) for m in deconvs) and deconvs[-1].out_channels == 1
    x = torch.randn(1, model.encoder.out_channels, 4, 5)
    assert model.decoder.net(x).shape == (1, 1, 32, 40)  # x8 exactly, no resize needed at stride 8


def test_skip_decoder_uses_the_two_finer_encoder_levels() -> None:
    model = net("skip").eval()
    frames, _ = batch(1, 32, 32)
    ff = model.encode(frames[:, 1])
    assert [s.shape[-1] for s in ff.skips] == [8, 16]  # H/4 then H/2 (the code: layer3 then layer2)
    assert torch.allclose(ff.top, model.encoder(frames[:, 1]))


@pytest.mark.parametrize("decoder", DECODERS)
def test_eq5_fusion_known_answers(decoder: str) -> None:
    model = net(decoder).eval()
    frames, audio = batch(2)
    with torch.no_grad():
        s = model.encoder(frames[:, 1])  # (B, C, h, w) the spatial stream of frame t
        closed = model(frames, audio, torch.zeros(2))
        opened = model(frames, audio, torch.ones(2))
        default = model(frames, audio, None)
        att = opened.audio_att
        st_expected = F.relu(opened.temporal_gate * s + s)
        sta_expected = F.relu(model.fuse(torch.cat([opened.sa, opened.st], 1)))
    assert torch.allclose(closed.sa, F.relu(s))  # p = 0: SA = ReLU(S), the audio term vanishes
    assert torch.allclose(opened.sa, F.relu(att * s + s), atol=1e-6)  # p = 1: ReLU(sigmoid(Att) * S + S)
    assert not torch.allclose(closed.sa, opened.sa)  # the switch matters
    assert torch.allclose(closed.st, opened.st) and torch.allclose(opened.st, st_expected, atol=1e-6)
    assert torch.allclose(opened.sta, sta_expected, atol=1e-6) and (opened.sta >= 0).all()  # Eq. 5
    assert torch.allclose(default.logits, opened.logits)  # switch=None = gate open


def test_audio_changes_the_output_only_through_the_open_gate() -> None:
    model = net().eval()
    frames, audio = batch(2)
    other = torch.randn_like(audio)
    with torch.no_grad():
        for p, same in ((torch.zeros(2), True), (torch.ones(2), False)):
            a, b = model(frames, audio, p).logits, model(frames, other, p).logits
            assert torch.allclose(a, b) == same


def test_hard_switch_thresholds_at_half() -> None:
    model = net(hard_switch=True).eval()
    frames, audio = batch(2)
    with torch.no_grad():
        out = model(frames, audio, torch.tensor([0.4, 0.6]))
    assert out.p.tolist() == [0.0, 1.0]


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="sta_decoder"):
        STANet(dataclasses.replace(MCFG, sta_decoder="unet"))
    model = net()
    frames, audio = batch(2)
    with pytest.raises(ValueError, match=r"\(B, 3, 3, H, W\)"):
        model(frames[:, 1], audio)
    with pytest.raises(ValueError, match="switch must be"):
        model(frames, audio, torch.ones(3))
