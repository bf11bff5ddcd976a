"""stanet_lib.nets.fusion: the temporal gate (ST fusion, its Conv3d and the equal 2-D form) and the audio gate
(Eq. 4) on their own; how the nets use them is in test_classifier.py and test_sta.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stanet_lib.nets.fusion import AudioGate, TemporalGate


def test_temporal_gate_is_relu_of_gated_centre_features() -> None:
    torch.manual_seed(0)
    gate = TemporalGate(6)
    clip = torch.randn(2, 3, 6, 5, 7)  # (B, t-1 / t / t+1, C, h, w)
    with torch.no_grad():
        fused, g = gate(clip)
        t = gate.conv(clip.permute(0, 2, 1, 3, 4))[:, :, 0]  # the Conv3d collapses the 3 frames
    assert fused.shape == g.shape == (2, 6, 5, 7)
    torch.testing.assert_close(g, torch.sigmoid(t))
    torch.testing.assert_close(fused, F.relu(g * clip[:, 1] + clip[:, 1]))
    with pytest.raises(ValueError, match=r"\(B, 3, C, h, w\)"):
        gate(clip[:, :2])


def test_temporal_gate_2d_form_equals_the_conv3d() -> None:
    """``as_2d``: the Conv3d over exactly 3 frames as one 2-D convolution over the frames stacked on the channels
    (the form the GPU runs), forced on the CPU."""
    torch.manual_seed(1)
    gate = TemporalGate(5)
    x = torch.randn(2, 3, 5, 6, 4)
    with torch.no_grad():
        gate.as_2d = False
        a_fused, a_gate = gate(x)
        gate.as_2d = True
        b_fused, b_gate = gate(x)
    torch.testing.assert_close(b_fused, a_fused, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b_gate, a_gate, rtol=1e-5, atol=1e-5)


def test_audio_gate_eq4_scales_the_attention_by_p_switch() -> None:
    torch.manual_seed(2)
    gate = AudioGate(4, 3)
    s, a = torch.randn(2, 4, 3, 5), torch.randn(2, 3)
    with torch.no_grad():
        closed, att = gate(s, a, torch.zeros(2))
        opened, att1 = gate(s, a, torch.ones(2))
        half, _ = gate(s, a, torch.tensor([0.5, 0.25]))
        other_audio, att2 = gate(s, torch.randn(2, 3), torch.ones(2))
    assert att.shape == (2, 1, 3, 5) and ((att > 0) & (att < 1)).all()
    torch.testing.assert_close(att, att1)  # the attention does not depend on p
    torch.testing.assert_close(closed, F.relu(s))  # p = 0: the audio has no effect
    torch.testing.assert_close(opened, F.relu(att * s + s))
    p = torch.tensor([0.5, 0.25]).view(2, 1, 1, 1)
    torch.testing.assert_close(half, F.relu(p * att * s + s))  # the soft switch
    assert not torch.allclose(att2, att)  # the attention reads the audio


def test_audio_gate_audio_site_scales_the_audio_not_the_attention() -> None:
    """``site="audio"`` (G2a's ``switch * Aup``): ReLU(sigmoid(Att(p * A, S)) * S + S); a closed switch leaves
    the attention S gives with a zero audio vector, whatever the audio."""
    torch.manual_seed(3)
    gate = AudioGate(4, 3, site="audio")
    s, a = torch.randn(2, 4, 3, 5), torch.randn(2, 3)
    with torch.no_grad():
        closed, att0 = gate(s, a, torch.zeros(2))
        closed_other, att0b = gate(s, torch.randn(2, 3), torch.zeros(2))
        silent, att_z = gate(s, torch.zeros(2, 3), torch.ones(2))
        half, att_h = gate(s, a, torch.tensor([0.5, 0.25]))
        scaled, att_s = gate(s, a * torch.tensor([[0.5], [0.25]]), torch.ones(2))
        opened, att1 = gate(s, a, torch.ones(2))
    torch.testing.assert_close(att0, att0b)  # closed: the audio has no effect
    torch.testing.assert_close(closed, closed_other)
    torch.testing.assert_close(att0, att_z)  # ... the same as a zero audio vector
    torch.testing.assert_close(closed, F.relu(att0 * s + s))  # and the attention still applies
    assert not torch.allclose(closed, F.relu(s))
    torch.testing.assert_close(att_h, att_s)  # p scales the audio vector
    torch.testing.assert_close(half, scaled)
    torch.testing.assert_close(opened, F.relu(att1 * s + s))
    assert not torch.allclose(att1, att0)
    with pytest.raises(ValueError, match="site"):
        AudioGate(4, 3, site="both")


@pytest.mark.parametrize("site", ["gate", "audio"])
def test_fusions_without_relu_keep_signed_features(site: str) -> None:
    """``relu=False`` (``ModelConfig.fusion_relu``): (1 + gate) * S, with the same gate. On non-negative S (the
    paper's VGG16 features, after a ReLU) it is the ReLU form; on signed S (a PCA-centred trunk) it keeps the
    negative components the ReLU form zeroes."""
    torch.manual_seed(4)
    clip, s, a, p = torch.randn(2, 3, 4, 5, 6), torch.randn(2, 4, 5, 6), torch.randn(2, 3), torch.tensor([0.7, 0.2])
    temporal, temporal_plain = TemporalGate(4), TemporalGate(4, relu=False)
    temporal_plain.load_state_dict(temporal.state_dict())
    audio, audio_plain = AudioGate(4, 3, site=site), AudioGate(4, 3, site=site, relu=False)
    audio_plain.load_state_dict(audio.state_dict())
    with torch.no_grad():
        fused, g = temporal(clip)
        plain, g2 = temporal_plain(clip)
        torch.testing.assert_close(g2, g)
        torch.testing.assert_close(plain, g * clip[:, 1] + clip[:, 1])
        torch.testing.assert_close(F.relu(plain), fused)
        assert (plain < 0).any()  # the signed part the ReLU form drops
        torch.testing.assert_close(temporal_plain(clip.abs())[0], temporal(clip.abs())[0])
        fused_a, att = audio(s, a, p)
        plain_a, att2 = audio_plain(s, a, p)
        torch.testing.assert_close(att2, att)
        scale = att if site == "audio" else p.view(-1, 1, 1, 1) * att
        torch.testing.assert_close(plain_a, scale * s + s)
        torch.testing.assert_close(F.relu(plain_a), fused_a)
        assert (plain_a < 0).any()
        torch.testing.assert_close(audio_plain(s.abs(), a, p)[0], audio(s.abs(), a, p)[0])


def test_neutral_gates_start_every_gate_at_one_half() -> None:
    """neutral_gates: sigmoid(T) and sigmoid(Att) are 1/2 at every place and channel whatever the input, so the
    fused features are ReLU(1.5 S) and ReLU((1 + p / 2) S); the gates still learn (their convs get gradients)."""
    from stanet_lib.config import ModelConfig
    from stanet_lib.nets.classifier import build_model
    from stanet_lib.nets.fusion import neutral_gates

    torch.manual_seed(0)
    tg, ag = TemporalGate(4), AudioGate(4, 3)
    holder = torch.nn.ModuleList([tg, ag, torch.nn.Conv2d(4, 4, 1)])
    assert neutral_gates(holder) == 2
    clip = torch.randn(2, 3, 4, 5, 5)
    fused, gate = tg(clip)
    torch.testing.assert_close(gate, torch.full_like(gate, 0.5))
    torch.testing.assert_close(fused, F.relu(1.5 * clip[:, 1]))
    s, a, p = torch.randn(2, 4, 5, 5), torch.randn(2, 3), torch.tensor([1.0, 0.2])
    fused, att = ag(s, a, p)
    torch.testing.assert_close(att, torch.full_like(att, 0.5))
    torch.testing.assert_close(fused, F.relu((1 + p.view(-1, 1, 1, 1) / 2) * s))
    (fused.sum() + tg(clip)[0].sum()).backward()
    assert tg.conv.weight.grad.abs().sum() > 0 and ag.att[-1].weight.grad.abs().sum() > 0
    cfg = ModelConfig(width=1 / 16, audio_channels=8)
    assert neutral_gates(build_model("ST", 5, cfg)) == 1
    assert neutral_gates(build_model("SA", 5, cfg)) == 1
    assert neutral_gates(build_model("S", 5, cfg)) == 0
