"""stanet_lib.nets.sta: the STA net (Eq. 5, both decoders): shapes, gradients, the decoders, the fusion's known
answers, the audio switch, clear errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from stanet_lib.config import ModelConfig
from stanet_lib.nets.sta import DECODERS, FrameFeatures, STANet
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


def class_net(site: str = "audio", seed: int = 0, k: int = 4, closed: str = "uniform") -> STANet:
    set_seed(seed)
    model = STANet(dataclasses.replace(MCFG, sta_audio_att="class", sta_switch_site=site, sta_closed_att=closed),
                   num_classes=k)
    with torch.no_grad():  # frozen parts as a trained tagger / S net would leave them: not at their zero init
        for layer in (model.class_att.audio_classifier, model.class_att.classifier):
            layer.weight.normal_(0.0, 1.0)
            layer.bias.normal_(0.0, 1.0)
    return model


def test_class_attention_is_the_heard_categorys_class_map() -> None:
    """sta_audio_att="class": Att = gamma * z(sum_k q_k M_k) + beta, with q the tagger's posterior of the sound
    and M the S net's class maps of frame t (known answer); only gamma and beta train, the frozen parts stay in
    eval mode, and the STA net has no Eq. 4 convs or audio encoder of its own."""
    model = class_net().train()
    att = model.class_att
    assert [n for n, p in model.named_parameters() if n.startswith("class_att.") and p.requires_grad] == [
        "class_att.gamma", "class_att.beta"]
    assert not any(m.training for m in (att.audio, att.audio_classifier, att.head, att.classifier))
    assert model.audio_gate.att is None and not hasattr(model, "audio")
    frames, audio = batch(2)
    s = model.encode(frames[:, 1]).top
    p = torch.tensor([1.0, 1.0])
    with torch.no_grad():
        att.gamma.fill_(1.5)
        att.beta.fill_(-0.25)
        got = att(s, audio, p)
        q = torch.softmax(att.audio_classifier(att.audio.embed(audio)[:, :, None, None]).flatten(1), 1)
        m = att.classifier(att.head(s))
        want = []
        for i in range(2):
            z = m[i] - m[i].mean(dim=(1, 2), keepdim=True)
            z = z / z.std()
            want.append(1.5 * (q[i][:, None, None] * z).sum(0, keepdim=True) - 0.25)
    assert got.shape == (2, 1, *s.shape[-2:])
    assert torch.allclose(got, torch.stack(want), atol=1e-5)
    out = model(frames, audio, p)
    out.logits.sum().backward()
    assert att.gamma.grad is not None and att.gamma.grad.abs() > 0 and att.beta.grad is not None
    assert all(q.grad is None for n, q in att.named_parameters() if n not in ("gamma", "beta"))


@pytest.mark.parametrize("site", ["audio", "gate"])
def test_class_attention_follows_the_switch(site: str) -> None:
    """A closed switch makes the sound irrelevant: site "audio" (G2a) mixes the tagger's posterior with a uniform one
    by p, site "gate" (G1) closes the gate; open, the sound changes the prediction."""
    model = class_net(site).eval()
    frames, audio = batch(2)
    other = torch.randn_like(audio) * 3
    with torch.no_grad():
        for p, same in ((torch.zeros(2), True), (torch.ones(2), False)):
            a, b = model(frames, audio, p), model(frames, other, p)
            assert torch.allclose(a.logits, b.logits) == same
            # the attention map itself: the sound's under G1's gate (p scales it afterwards), none of it under G2a's
            assert torch.allclose(a.audio_att, b.audio_att) == (same and site == "audio")
    if site == "audio":  # closed: every category weighs alike (the objects attended, none by its sound)
        att = model.class_att
        s = model.encode(frames[:, 1]).top
        with torch.no_grad():
            m = att.classifier(att.head(s))
            m = m - m.mean(dim=(2, 3), keepdim=True)
            m = m / m.flatten(1).std(dim=1).view(-1, 1, 1, 1)
            want = att.gamma * m.mean(dim=1, keepdim=True) + att.beta
            assert torch.allclose(att(s, audio, torch.zeros(2)), want, atol=1e-5)
            half, opened = att(s, audio, torch.full((2,), 0.5)), att(s, audio, torch.ones(2))
            assert torch.allclose(half, (want + opened) / 2, atol=1e-5)


def test_closed_switch_attends_to_what_the_picture_shows() -> None:
    """sta_closed_att="picture": closed, the categories weigh as the S net's own posterior of frame t (softmax of its
    class maps' spatial means), not alike; the sound still counts only by p."""
    model = class_net(closed="picture").eval()
    att = model.class_att
    frames, audio = batch(2)
    s = model.encode(frames[:, 1]).top
    with torch.no_grad():
        m = att.classifier(att.head(s))
        prior = torch.softmax(m.mean(dim=(2, 3)), dim=1)
        z = m - m.mean(dim=(2, 3), keepdim=True)
        z = z / z.flatten(1).std(dim=1).view(-1, 1, 1, 1)
        want = att.gamma * (prior[:, :, None, None] * z).sum(dim=1, keepdim=True) + att.beta
        closed = att(s, audio, torch.zeros(2))
        assert torch.allclose(closed, want, atol=1e-5)
        assert not torch.allclose(closed, att.gamma * z.mean(dim=1, keepdim=True) + att.beta, atol=1e-3)
        assert torch.allclose(closed, att(s, torch.randn_like(audio) * 3, torch.zeros(2)))
        half, opened = att(s, audio, torch.full((2,), 0.5)), att(s, audio, torch.ones(2))
        assert torch.allclose(half, (want + opened) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="sta_closed_att"):
        STANet(dataclasses.replace(MCFG, sta_audio_att="class", sta_closed_att="tag"), num_classes=3)


def test_class_attention_needs_the_categories() -> None:
    with pytest.raises(ValueError, match="sta_audio_att"):
        STANet(dataclasses.replace(MCFG, sta_audio_att="dot"))
    with pytest.raises(ValueError, match="num_classes >= 1"):
        STANet(dataclasses.replace(MCFG, sta_audio_att="class"))


def test_fusion_relu_off_keeps_the_signed_sa_and_st() -> None:
    """``ModelConfig.fusion_relu=False``: SA = (1 + att) * S and ST = (1 + sigmoid(T)) * S, signed; Eq. 5's own ReLU
    after the 1 x 1 fusion stays."""
    model = net(fusion_relu=False).eval()
    frames, audio = batch(2)
    with torch.no_grad():
        s = model.encoder(frames[:, 1]) - 0.5  # signed features, as a PCA-centred trunk gives
        out = model.forward_features(*(FrameFeatures(x) for x in (s + 0.1, s, s - 0.1)), audio, torch.ones(2),
                                     (32, 32))
    torch.testing.assert_close(out.sa, out.audio_att * s + s)
    torch.testing.assert_close(out.st, out.temporal_gate * s + s)
    assert (out.sa < 0).any() and (out.sta >= 0).all()
