"""stanet_lib.nets.classifier: shapes / NaN / backward of every branch, the CAM identity (Eq. 1), the gates as the
S, ST and SA nets use them (Eq. 4, ST fusion), the features-once split, uint8 frames, the switch net and tagger,
seeded initialisation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from stanet_lib import scam
from stanet_lib.config import ModelConfig
from stanet_lib.nets.classifier import (
    AudioTagger,
    BilinearSwitch,
    Classifier,
    MatmulBilinear,
    audio_switch_net,
    build_model,
    switch_probability,
    switch_window_mean,
)
from stanet_lib.nets.encoders import AudioEncoder, VGG16Encoder

CFG = ModelConfig(width=1 / 16, audio_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def inputs(branch: str, size: int, batch: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(size)
    frames = torch.rand(batch, 3, 3, size, size, generator=g) if branch == "ST" else torch.rand(
        batch, 3, size, size, generator=g)
    out = {"frames": frames}
    if branch == "SA":
        out["audio"] = torch.randn(batch, 1, 64, 101, generator=g)  # log-mel: 64 bands x 1 s at 10 ms
        out["switch"] = torch.tensor([0.3, 0.9])
    return out


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("branch", ["S", "ST", "SA"])
def test_classifier_shapes_nan_backward(branch: str, size: int) -> None:
    torch.manual_seed(0)
    net = Classifier(branch, 5, CFG)
    out = net(**inputs(branch, size))
    h = size // 8
    assert net.cam_size(size, size) == (h, h)
    assert out.logits.shape == (2, 5) and out.cams.shape == (2, 5, h, h)
    assert out.features.shape == (2, net.encoder.out_channels, h, h)
    if branch == "S":
        assert out.gate is None
    else:
        assert out.gate.shape == ((2, net.encoder.out_channels, h, h) if branch == "ST" else (2, 1, h, h))
        assert ((out.gate >= 0) & (out.gate <= 1)).all()
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.cams).all()
    torch.nn.functional.cross_entropy(out.logits, torch.tensor([1, 4])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert net.encoder.features[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("branch", ["S", "ST", "SA"])
def test_logits_are_gap_of_cams_which_are_eq1(branch: str) -> None:
    net = Classifier(branch, 4, CFG).eval()
    out = net(**inputs(branch, 32))
    torch.testing.assert_close(out.logits, out.cams.mean((2, 3)))
    w = net.classifier.weight[:, :, 0, 0]  # (K, C), the FC layer
    torch.testing.assert_close(out.cams, scam.cam_from_features(out.features, w, net.classifier.bias))


def test_st_uses_one_shared_encoder_and_all_three_frames() -> None:
    net = Classifier("ST", 3, CFG).eval()
    assert sum(isinstance(m, VGG16Encoder) for m in net.modules()) == 1
    x = inputs("ST", 32)["frames"]
    base = net(x)
    with torch.no_grad():
        for t in (0, 2):  # t-1 and t+1 reach the output only through the temporal gate
            y = x.clone()
            y[:, t] = torch.rand_like(y[:, t])
            assert not torch.allclose(net(y).logits, base.logits)
        # the spatial path is the centre frame's encoder features
        s = net.encoder(x[:, 1])
        gate = base.gate
        torch.testing.assert_close(base.features, torch.relu(gate * s + s))


def test_sa_switch_gates_the_audio() -> None:
    net = Classifier("SA", 3, CFG).eval()
    x = inputs("SA", 32)
    with torch.no_grad():
        s = net.encoder(x["frames"])
        off = net(x["frames"], x["audio"], torch.zeros(2))
        torch.testing.assert_close(off.features, torch.relu(s))  # p = 0: the audio has no effect
        on = net(x["frames"], x["audio"], torch.ones(2))
        torch.testing.assert_close(on.features, torch.relu(on.gate * s + s))  # Eq. 4 with p = 1
        assert not torch.allclose(on.logits, off.logits)
        assert torch.allclose(net(x["frames"], x["audio"]).logits, on.logits)  # None = gate open
        other = net(x["frames"], torch.randn_like(x["audio"]), torch.ones(2))
        assert not torch.allclose(other.logits, on.logits)


def test_matmul_bilinear_is_nn_bilinear() -> None:
    """Same parameters, same outputs and gradients as ``nn.Bilinear`` (up to float rounding); a batch mismatch is
    a clear error."""
    torch.manual_seed(0)
    ref = torch.nn.Bilinear(7, 5, 3)
    fast = MatmulBilinear(7, 5, 3)
    fast.load_state_dict(ref.state_dict())
    assert list(fast.state_dict()) == ["weight", "bias"]
    a, b = torch.randn(4, 7, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    y_ref, y = ref(a, b), fast(a, b)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    grads_ref = torch.autograd.grad(y_ref, [a, b, ref.weight, ref.bias], g)
    grads = torch.autograd.grad(y, [a, b, fast.weight, fast.bias], g)
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want)
    no_bias = MatmulBilinear(7, 5, 3, bias=False)
    torch.testing.assert_close(no_bias(a, b), torch.einsum("bi,oij,bj->bo", a, no_bias.weight, b))
    with pytest.raises(ValueError, match="expects"):
        fast(a, b[:3])


def test_bilinear_switch_learns_what_the_sa_gate_cannot() -> None:
    """The released SoundSwitch's structure (audit §3.2): audio and frame embeddings joined bilinearly. On a toy
    task where only the audio decides (the same frames, audio silent or a loud tone), it learns; its logits move
    with the audio and with the frame."""
    torch.manual_seed(0)
    net = audio_switch_net(dataclasses.replace(CFG, switch_arch="bilinear"))
    assert isinstance(net, BilinearSwitch) and net.num_classes == 2
    frames = torch.rand(16, 3, 32, 32)
    labels = torch.arange(16) % 2
    audio = torch.randn(16, 1, 32, 51) * 0.05 + labels.view(-1, 1, 1, 1).float() * 2.0
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(frames, audio).logits, labels)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        out = net(frames, audio)
        assert (out.logits.argmax(1) == labels).float().mean() == 1.0 and out.cams.shape == (16, 2, 1, 1)
        p = switch_probability(out)
        assert ((p >= 0) & (p <= 1)).all()
        assert not torch.allclose(net(torch.rand_like(frames), audio).logits, out.logits)
    with pytest.raises(ValueError, match="no switch input"):
        net(frames, audio, torch.ones(16))


def test_hard_switch_thresholds_at_half() -> None:
    torch.manual_seed(1)
    soft = Classifier("SA", 3, CFG).eval()
    hard = Classifier("SA", 3, dataclasses.replace(CFG, hard_switch=True)).eval()
    hard.load_state_dict(soft.state_dict())
    x = inputs("SA", 32)
    with torch.no_grad():
        p = torch.tensor([0.4, 0.6])
        torch.testing.assert_close(hard(x["frames"], x["audio"], p).logits,
                                   soft(x["frames"], x["audio"], torch.tensor([0.0, 1.0])).logits)


def test_switch_net_and_tagger() -> None:
    sw = audio_switch_net(CFG)
    assert isinstance(sw, Classifier) and sw.branch == "SA" and sw.num_classes == 2
    x = inputs("SA", 32)
    p = switch_probability(sw(x["frames"], x["audio"]))
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()
    tagger = AudioTagger(6, CFG)
    for shape, cam in [((2, 1, 64, 101), (8, 13)), ((2, 1, 257, 48), (33, 6))]:  # log-mel; the code's STFT
        out = tagger(torch.randn(*shape))
        assert out.logits.shape == (2, 6) and out.cams.shape == (2, 6, *cam)
        assert torch.isfinite(out.logits).all()
    assert AudioEncoder(8).embed(torch.randn(3, 1, 64, 101)).shape == (3, 8)
    assert isinstance(build_model("tagger", 6, CFG), AudioTagger)
    assert build_model("ST", 6, CFG).branch == "ST"


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="branch"):
        Classifier("X", 3, CFG)
    with pytest.raises(ValueError, match=r"\(B, 3, C, H, W\)"):
        Classifier("ST", 3, CFG)(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="needs audio"):
        Classifier("SA", 3, CFG)(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="switch"):
        Classifier("SA", 3, CFG)(torch.rand(2, 3, 32, 32), torch.randn(2, 1, 64, 101), torch.ones(3))
    with pytest.raises(ValueError, match="smaller than the stride"):
        Classifier("S", 3, CFG)(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="output_stride"):
        VGG16Encoder(output_stride=4)


def test_classifier_forward_features_is_the_forward_split() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 3, 32, 32)
    st = Classifier("ST", 4, CFG).eval()
    with torch.no_grad():
        feats = torch.stack([st.encode(x[:, t]) for t in range(3)], 1)  # each frame encoded on its own
        a, b = st(x), st.forward_features(feats)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.cams, b.cams, rtol=1e-5, atol=1e-6)
    sa = Classifier("SA", 4, CFG).eval()
    audio, p = torch.randn(2, 1, 64, 101), torch.tensor([0.3, 0.8])
    with torch.no_grad():
        assert torch.equal(sa(x[:, 1], audio, p).logits, sa.forward_features(sa.encode(x[:, 1]), audio, p).logits)
    with pytest.raises(ValueError, match=r"\(B, 3, C, h, w\)"):
        st.forward_features(feats[:, 0])


def test_encoder_takes_uint8_frames_as_x_over_255() -> None:
    torch.manual_seed(0)
    net = Classifier("ST", 3, ModelConfig(width=1 / 16)).eval()
    x = torch.randint(0, 256, (2, 3, 3, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(net(x).logits, net(x.float() / 255.0).logits, rtol=0, atol=0)


def test_initialisation_follows_the_torch_seed() -> None:
    """The same seed gives the same weights; another seed changes every randomly initialised weight (encoder,
    audio encoder, gate, classifier), and only those: biases and batch-norm statistics start at their constants."""
    def init(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return Classifier("SA", 3, CFG).state_dict()

    a, b, c = init(3), init(3), init(4)
    assert list(a) == list(b) == list(c)
    assert all(torch.equal(a[k], b[k]) for k in a)
    differ = {k for k in a if not torch.equal(a[k], c[k])}
    net = Classifier("SA", 3, CFG)
    random_weights = {f"{name}.weight" for name, m in net.named_modules()
                      if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear))}
    assert differ == random_weights
    assert {"classifier.weight", "audio_gate.att.0.weight", "encoder.features.0.weight"} <= differ


def test_fusion_relu_reaches_the_st_and_sa_gates() -> None:
    """``ModelConfig.fusion_relu=False``: the ST and SA nets fuse without the ReLU, (1 + gate) * S."""
    cfg = dataclasses.replace(CFG, fusion_relu=False)
    torch.manual_seed(5)
    st, sa = Classifier("ST", 3, cfg).eval(), Classifier("SA", 3, cfg).eval()
    assert not st.temporal.relu and not sa.audio_gate.relu
    assert Classifier("ST", 3, CFG).temporal.relu and Classifier("SA", 3, CFG).audio_gate.relu
    feats, audio, p = torch.randn(2, 3, st.encoder.out_channels, 4, 4), torch.randn(2, 1, 64, 101), torch.ones(2)
    with torch.no_grad():
        out = st.forward_features(feats)
        expected = st.classifier(st.head(out.gate * feats[:, 1] + feats[:, 1]))
        torch.testing.assert_close(out.cams, expected)
        out = sa.forward_features(feats[:, 1], audio, p)
        expected = sa.classifier(sa.head(out.gate * feats[:, 1] + feats[:, 1]))
        torch.testing.assert_close(out.cams, expected)


def test_switch_window_mean_averages_the_frames_within_the_seconds():
    p, times = np.array([1.0, 0.0, 0.0, 1.0]), np.array([0.0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(switch_window_mean(p, times, 0.25), [1 / 2, 1 / 3, 1 / 3, 1 / 2], rtol=1e-6)
    np.testing.assert_array_equal(switch_window_mean(p, times, 0.0), p.astype(np.float32))  # 0: each frame its own
    np.testing.assert_allclose(switch_window_mean(p, times, 10.0), np.full(4, 0.5))  # the whole video
    assert switch_window_mean(p, times, 0.25).dtype == np.float32
    one = np.array([1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(switch_window_mean(one, times, 0.25), [1 / 2, 1 / 3, 0, 0], atol=1e-7)
    rev = switch_window_mean(one[::-1], times[::-1], 0.25)  # frames out of time order: each keeps its own mean
    np.testing.assert_allclose(rev, [0, 0, 1 / 3, 1 / 2], atol=1e-7)


def test_switch_window_mean_covers_the_same_seconds_at_any_frame_rate():
    def step(fps: float) -> tuple[np.ndarray, np.ndarray]:  # the switch open for the first second, then closed
        t = np.arange(int(2 * fps)) / fps
        return (t < 1.0).astype(np.float64), t

    for fps in (4.0, 15.0, 25.0):
        p, t = step(fps)
        q = switch_window_mean(p, t, 0.5)
        assert (q[t <= 0.5 - 1e-9] == 1).all() and (q[t >= 1.5 - 1e-9] == 0).all(), fps  # untouched beyond h
        assert abs(float(q[np.argmin(np.abs(t - 1.0))]) - 0.5) < 0.15, fps  # the change is spread over +/- 0.5 s


def test_switch_window_mean_rejects_bad_input():
    with pytest.raises(ValueError, match="3 probabilities but 2 times"):
        switch_window_mean(np.zeros(3), np.zeros(2), 0.5)
    with pytest.raises(ValueError, match="half_width_s must be >= 0"):
        switch_window_mean(np.zeros(2), np.zeros(2), -0.1)
