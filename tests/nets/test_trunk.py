"""The frozen pretrained trunk + trainable head (stanet_lib.nets.trunk): the cut, the head's layout, features and
frames giving the same output, the trunk kept out of checkpoints and out of training. Uses a random VGG16
state_dict written in the test (the packaged HED file is not needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stanet_lib.config import ModelConfig
from stanet_lib.nets.classifier import Classifier
from stanet_lib.nets.encoders import VGG16Encoder
from stanet_lib.nets.sta import STANet
from stanet_lib.nets.trunk import (
    LAYERS,
    TrunkEncoder,
    TrunkHead,
    fit_projection,
    frozen_trunk,
    lift,
    make_encoder,
    project,
    register_projection,
    stored_layout,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    torch.manual_seed(0)
    enc = VGG16Encoder(1.0, 8, batch_norm=False)
    path = tmp_path_factory.mktemp("trunk") / "vgg16.pt"
    torch.save({k: v for k, v in enc.state_dict().items()}, path)
    return str(path), enc


def test_cut_is_the_named_layer_and_frozen(vgg_file):
    path, enc = vgg_file
    trunk, channels = frozen_trunk(path, "conv4_3")
    convs = [m for m in trunk if isinstance(m, nn.Conv2d)]
    assert len(convs) == LAYERS.index("conv4_3") + 1 == 10 and channels == 512
    assert isinstance(trunk[-1], nn.ReLU) and not any(p.requires_grad for p in trunk.parameters())
    x = torch.rand(2, 3, 32, 32)
    ref = enc.features[: len(trunk)](enc.normalize(x))  # the same layers of the full encoder
    torch.testing.assert_close(trunk(enc.normalize(x)), ref)
    assert frozen_trunk(path, "conv4_3")[0] is trunk  # one shared copy per process
    with pytest.raises(ValueError, match="trunk_layer"):
        frozen_trunk(path, "conv5_1")


def projection_of(path, layer="conv4_3", k=16):
    feats = lift(path, layer, torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8))
    return fit_projection(feats, k)


@pytest.mark.parametrize("layer", ["conv4_3", "conv3_3"])
def test_encoder_stride_and_nothing_trained(vgg_file, layer):
    enc = TrunkEncoder(vgg_file[0], layer, reduce=16)
    enc.set_projection(*projection_of(vgg_file[0], layer))
    assert isinstance(enc.features, nn.MaxPool2d) == (layer == "conv3_3")  # stride 4 -> 8
    assert not list(enc.parameters())  # frozen trunk (not a child) + PCA buffers
    y = enc(torch.randint(0, 256, (2, 3, 64, 48), dtype=torch.uint8))
    assert y.shape == (2, 16, 8, 6) and enc.output_size(64, 48) == (8, 6)
    head = TrunkHead(16, 32)
    assert head(y).shape == (2, 32, 8, 6) and sum(isinstance(m, nn.Conv2d) for m in head.modules()) == 2


def test_fit_projection_finds_the_principal_axes():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(8, 8, generator=g))[0]  # orthonormal columns
    scales = torch.tensor([10.0, 5.0, 1, 0.1, 0.1, 0.1, 0.1, 0.1])
    z = torch.randn(4000, 8, generator=g) * scales
    x = (z @ basis.T + 3.0).T.reshape(8, 40, 10, 10).permute(1, 0, 2, 3)  # (N, C, h, w), mean 3
    mean, axes = fit_projection(x, 2)
    torch.testing.assert_close(mean, torch.full((8,), 3.0), atol=0.5, rtol=0)
    assert abs(float(axes[0] @ basis[:, 0])) > 0.99 and abs(float(axes[1] @ basis[:, 1])) > 0.99
    y = project(x, mean, axes)  # centred: the projected mean is ~0, variance ~ the two largest scales squared
    assert y.shape == (40, 2, 10, 10) and abs(float(y.mean())) < 0.5
    torch.testing.assert_close(y.var(dim=(0, 2, 3)), torch.tensor([100.0, 25.0]), rtol=0.15, atol=0)


def test_features_and_frames_give_the_same_output(vgg_file):
    enc = TrunkEncoder(vgg_file[0], "conv4_3", reduce=16).eval()
    frames = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    with pytest.raises(ValueError, match="no projection"):
        enc(frames)
    proj = projection_of(vgg_file[0])
    enc.set_projection(*proj)
    feats = lift(vgg_file[0], "conv4_3", frames, batch=2, projection=proj)
    assert feats.dtype == torch.float16 and feats.shape == (5, 16, 4, 4)
    assert enc.image_size(feats) == enc.image_size(frames) == (32, 32)
    torch.testing.assert_close(enc(feats), enc(frames), atol=2e-2, rtol=2e-2)  # float16 storage of the features
    restored = TrunkEncoder(vgg_file[0], "conv4_3", reduce=16).eval()
    restored.load_state_dict(enc.state_dict())  # the projection travels in the checkpoint
    torch.testing.assert_close(restored(frames), enc(frames))


def test_trunk_is_not_in_the_state_dict_and_does_not_train(vgg_file):
    cfg = ModelConfig(trunk=vgg_file[0], head_width=0.125, audio_channels=8, trunk_reduce=16)
    register_projection(vgg_file[0], "conv4_3", *projection_of(vgg_file[0]))
    net = Classifier("ST", 4, cfg)
    assert isinstance(make_encoder(cfg), TrunkEncoder) and isinstance(make_encoder(ModelConfig()), VGG16Encoder)
    keys = net.state_dict().keys()
    assert sorted(k for k in keys if k.startswith("encoder.")) == ["encoder.proj_axes", "encoder.proj_mean"]
    assert len([k for k in keys if k.startswith("head.")]) == 2 * 2 + 2 * 5  # 2 convs, 2 batch norms
    assert bool(net.encoder.proj_axes.any())  # the registered projection
    plain = Classifier("ST", 4, ModelConfig(width=1 / 16))
    assert not [k for k in plain.state_dict() if k.startswith("head.")]  # end-to-end encoders: no head keys
    trunk, _ = frozen_trunk(vgg_file[0], "conv4_3")
    before = [p.clone() for p in trunk.parameters()]
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = lift(vgg_file[0], "conv4_3", torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8),
             projection=projection_of(vgg_file[0]))
    out = net(x.view(2, 3, *x.shape[1:]))
    assert out.cams.shape == (2, 4, 4, 4)
    out.logits.sum().backward()
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, trunk.parameters(), strict=True))


def test_sta_net_on_features_predicts_at_frame_size(vgg_file):
    cfg = ModelConfig(trunk=vgg_file[0], head_width=0.125, audio_channels=8, trunk_reduce=16)
    net = STANet(cfg).eval()
    feats = lift(vgg_file[0], "conv4_3", torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8),
                 projection=projection_of(vgg_file[0]))
    out = net(feats.view(2, 3, *feats.shape[1:]), torch.randn(2, 1, 64, 101))
    assert out.logits.shape == (2, 1, 32, 32)


@pytest.mark.parametrize("channels_last", [True, False])
def test_features_written_into_a_file_keep_the_memory_format_of_the_frames(vgg_file, tmp_path, channels_last):
    """Features lifted into a memory-mapped file are the in-memory features, with their strides: channels-last
    frames (the resized frames) give channels-last features, stored (N, H, W, C); contiguous ones (the crops) not.
    The nets' convolutions give other float results for another memory format, so this keeps a run's numbers."""
    proj = projection_of(vgg_file[0])
    frames = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    if channels_last:
        frames = frames.to(memory_format=torch.channels_last)
    in_ram = lift(vgg_file[0], "conv4_3", frames, batch=2, projection=proj)
    nhwc, shape = stored_layout(in_ram[:1], len(frames))
    assert nhwc == channels_last and shape == ((5, 4, 4, 16) if channels_last else (5, 16, 4, 4))
    out = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.float16, shape=shape)
    mapped = lift(vgg_file[0], "conv4_3", frames, batch=2, projection=proj, out=out, nhwc=nhwc)
    assert torch.equal(mapped, in_ram) and mapped.stride() == in_ram.stride()


def test_a_seeded_net_starts_alike_whether_or_not_the_trunk_was_loaded_before(vgg_file, monkeypatch, tmp_path):
    """The trunk's first load builds VGG16 layers (random initialisation, then the file's weights): it must not
    move the global random state, or the first net seeded after it would start elsewhere than the next ones."""
    import stanet_lib.nets.trunk as trunk_mod

    path = tmp_path / "copy.pt"  # a trunk file this process has not loaded yet
    path.write_bytes(open(vgg_file[0], "rb").read())
    cfg = ModelConfig(trunk=str(path), head_width=0.125, audio_channels=8, trunk_reduce=16)
    register_projection(str(path), "conv4_3", torch.zeros(512), torch.eye(16, 512))
    assert (str(path), "conv4_3", "float32") not in trunk_mod._CACHE
    torch.manual_seed(3)
    first = STANet(cfg).state_dict()  # loads the trunk
    assert (str(path), "conv4_3", "float32") in trunk_mod._CACHE
    torch.manual_seed(3)
    second = STANet(cfg).state_dict()  # the trunk already loaded
    assert sorted(first) == sorted(second)
    for k in first:
        assert torch.equal(first[k], second[k]), k


def test_a_net_built_on_the_meta_device_leaves_a_real_trunk(vgg_file):
    """FLOP counts build nets under ``torch.device("meta")``; the shared trunk they load first is still built on
    the CPU, so a later lift in the process computes real features."""
    path, enc = vgg_file
    with torch.device("meta"):
        frozen_trunk(path, "conv3_2")  # the first load of this cut, inside the meta context
    trunk, _ = frozen_trunk(path, "conv3_2")
    assert not any(p.is_meta for p in trunk.parameters())
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(trunk(enc.normalize(x)), enc.features[: len(trunk)](enc.normalize(x)))


def test_bfloat16_trunk_is_the_rounded_float32_trunk(vgg_file):
    """model.trunk_dtype="bfloat16": a separate cached copy of the float32 weights rounded to bfloat16; features in
    float32 within bfloat16's rounding of float32's; the encoder, lift and checkpoints agree on the dtype."""
    path = vgg_file[0]
    t32, c = frozen_trunk(path, "conv4_3")
    t16, c16 = frozen_trunk(path, "conv4_3", "bfloat16")
    assert c16 == c and t16 is not t32 and frozen_trunk(path, "conv4_3", "bfloat16")[0] is t16
    assert all(p.dtype == torch.bfloat16 and not p.requires_grad for p in t16.parameters())
    assert all(p.dtype == torch.float32 for p in t32.parameters())  # the float32 copy untouched
    torch.testing.assert_close(next(t16.parameters()).float(), next(t32.parameters()).bfloat16().float())
    frames = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    f32 = lift(path, "conv4_3", frames).float()
    f16 = lift(path, "conv4_3", frames, dtype="bfloat16").float()
    err = float((f16 - f32).norm() / f32.norm())
    assert 0 < err < 0.03, err  # rounded, not the float32 result, and close to it
    proj = projection_of(path)
    enc = TrunkEncoder(path, "conv4_3", reduce=16, dtype="bfloat16").eval()
    enc.set_projection(*proj)
    feats = lift(path, "conv4_3", frames, projection=proj, dtype="bfloat16")
    torch.testing.assert_close(enc(feats), enc(frames), atol=2e-2, rtol=2e-2)  # float16 storage of the features
    cfg = ModelConfig(trunk=path, trunk_reduce=16, trunk_dtype="bfloat16")
    assert make_encoder(cfg).dtype == "bfloat16"
    with pytest.raises(ValueError, match="trunk_dtype"):
        frozen_trunk(path, "conv4_3", "float16")
