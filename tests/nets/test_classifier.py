"""stanet_lib.models: torchvision name compatibility, ImageNet loading errors, shapes / NaN / backward of
every branch, the CAM identity (Eq. 1) and the gates (Eq. 4, ST fusion)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from stanet_lib import scam
from stanet_lib.config import ModelConfig
from stanet_lib.models import (
    VGG16_CFG,
    AudioEncoder,
    AudioTagger,
    Classifier,
    VGG16Encoder,
    audio_switch_net,
    build_model,
    load_imagenet,
    scaled_channels,
    switch_probability,
)

CFG = ModelConfig(width=1 / 16, audio_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def torchvision_vgg16_keys(batch_norm: bool) -> list[str]:
    """The ``features.*`` keys of torchvision's vgg16 / vgg16_bn, built from cfg "D" independently of the
    encoder: each conv adds (conv[, bn], relu), each "M" one pool; torchvision numbers them in order."""
    keys, idx = [], 0
    for v in VGG16_CFG:
        if v == "M":
            idx += 1
            continue
        keys += [f"features.{idx}.weight", f"features.{idx}.bias"]
        idx += 1
        if batch_norm:
            keys += [f"features.{idx}.{n}" for n in ("weight", "bias", "running_mean", "running_var",
                                                      "num_batches_tracked")]
            idx += 1
        idx += 1  # relu
    return keys


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("stride", [8, 16, 32])
def test_encoder_names_match_torchvision(batch_norm: bool, stride: int) -> None:
    enc = VGG16Encoder(width=1 / 16, output_stride=stride, batch_norm=batch_norm)
    assert list(enc.state_dict()) == torchvision_vgg16_keys(batch_norm)
    if not batch_norm:  # the well-known torchvision indices of the 13 convs
        convs = sorted({int(k.split(".")[1]) for k in enc.state_dict()})
        assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def test_encoder_width_one_has_vgg16_shapes() -> None:
    enc = VGG16Encoder(width=1.0, batch_norm=False)
    shapes, c_in, it = {}, 3, iter(torchvision_vgg16_keys(False)[::2])
    for v in VGG16_CFG:
        if v != "M":
            shapes[next(it)] = (v, c_in, 3, 3)
            c_in = v
    assert {k: tuple(p.shape) for k, p in enc.state_dict().items() if k.endswith("weight")} == shapes
    assert sum(p.numel() for p in enc.parameters()) == 14_714_688  # torchvision vgg16().features


def test_width_multiplier_minimum_four() -> None:
    assert scaled_channels(64, 1 / 16) == 4 and scaled_channels(64, 1 / 32) == 4
    assert scaled_channels(512, 0.125) == 64
    assert VGG16Encoder(width=1 / 16).out_channels == 32


def fake_torchvision_file(tmp_path, enc: VGG16Encoder, name: str = "vgg16.pth"):
    state = dict(enc.state_dict())
    state["classifier.0.weight"] = torch.zeros(3, 3)  # torchvision files also hold the FC layers: ignored
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_load_imagenet_loads_features(tmp_path) -> None:
    torch.manual_seed(0)
    src = VGG16Encoder(width=1 / 16, batch_norm=False)
    path = fake_torchvision_file(tmp_path, src)
    dst = VGG16Encoder(width=1 / 16, batch_norm=False, output_stride=16)  # dilation keeps weight shapes
    assert not torch.equal(dst.features[0].weight, src.features[0].weight)
    load_imagenet(dst, path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_load_imagenet_clear_errors(tmp_path) -> None:
    enc = VGG16Encoder(width=1 / 16, batch_norm=False)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_imagenet(enc, tmp_path / "missing.pth")
    wide = fake_torchvision_file(tmp_path, VGG16Encoder(width=1 / 8, batch_norm=False), "wide.pth")
    with pytest.raises(ValueError, match=r"width=1\.0"):
        load_imagenet(enc, wide)
    bn = fake_torchvision_file(tmp_path, VGG16Encoder(width=1 / 16, batch_norm=True), "bn.pth")
    with pytest.raises(ValueError, match="batch_norm=true"):
        load_imagenet(enc, bn)
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in enc.state_dict().items() if not k.startswith("features.28")}, partial)
    with pytest.raises(ValueError, match="missing"):
        load_imagenet(enc, partial)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        load_imagenet(enc, junk)


@pytest.mark.parametrize("stride,size,expected",
                         [(8, 64, 8), (16, 64, 4), (32, 64, 2), (8, 32, 4), (8, 70, 8)])
def test_encoder_output_stride(stride: int, size: int, expected: int) -> None:
    enc = VGG16Encoder(width=1 / 16, output_stride=stride)
    out = enc(torch.rand(1, 3, size, size))
    assert out.shape == (1, enc.out_channels, expected, expected)
    assert enc.output_size(size, size) == (expected, expected)


def test_encoder_pyramid_levels() -> None:
    levels = VGG16Encoder(width=1 / 16).pyramid(torch.rand(1, 3, 32, 32))
    shapes = [(4, 32, 32), (8, 16, 16), (16, 8, 8), (32, 4, 4), (32, 4, 4)]  # block 5 dilated: stride 8
    assert [tuple(x.shape[1:]) for x in levels] == shapes


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
    with pytest.raises(ValueError, match=r"\(B, 3, 3, H, W\)"):
        Classifier("ST", 3, CFG)(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="needs audio"):
        Classifier("SA", 3, CFG)(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="switch"):
        Classifier("SA", 3, CFG)(torch.rand(2, 3, 32, 32), torch.randn(2, 1, 64, 101), torch.ones(3))
    with pytest.raises(ValueError, match="smaller than the stride"):
        Classifier("S", 3, CFG)(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="output_stride"):
        VGG16Encoder(output_stride=4)


def test_same_seed_same_initialisation() -> None:
    torch.manual_seed(3)
    a = Classifier("SA", 3, CFG)
    torch.manual_seed(3)
    b = Classifier("SA", 3, CFG)
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k
