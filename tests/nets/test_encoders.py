"""stanet_lib.nets.encoders: torchvision name compatibility, ImageNet loading errors, output stride, pyramid
levels, width multiplier, torchvision's VGG initialisation."""

from __future__ import annotations

import pytest
import torch

from stanet_lib.nets.encoders import VGG16_CFG, VGG16Encoder, load_imagenet, scaled_channels

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


def test_initialisation_is_torchvisions_vgg_init() -> None:
    """init_weights: Kaiming normal (fan_out, ReLU) convolutions, zero biases (torchvision's VGG)."""
    torch.manual_seed(0)
    enc = VGG16Encoder(width=1.0, batch_norm=False)
    convs = [m for m in enc.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13
    for conv in convs[-4:]:  # >= 1.1 M weights each: the sample std is within 1 % of the target
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        w = conv.weight.detach()
        assert float(w.std()) == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.02) and abs(float(w.mean())) < 1e-3
    assert all(not conv.bias.any() for conv in convs)
