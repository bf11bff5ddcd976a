"""A frozen pretrained VGG16 trunk with a trainable head: the CPU profiles' encoder (``ModelConfig.trunk``).

The paper's encoders are ImageNet VGG16s fine-tuned end to end (§4.2). On a 2-core CPU that does not fit the demo's
budget, so the demo freezes the pretrained layers up to ``ModelConfig.trunk_layer`` (default conv4_3) and trains only
a small head at ``ModelConfig.head_width`` with batch norm, at stride 8 with dilated convs as the released "+"
code's VGG16-D1 (:class:`TrunkEncoder`). The frozen
part is deterministic, so its features are computed once per frame and size (:func:`lift`) and cached by the stages;
every net (S, ST, SA, switch, STA) then takes those features instead of frames. Given frames, a
:class:`TrunkEncoder` lifts them itself, so inference on new videos (``predict``) needs no cache.

The trunk is shared: one frozen copy per (file, layer, dtype) per process (:func:`frozen_trunk`), kept out of the
nets' ``state_dict`` (a checkpoint holds only what was trained). ``ModelConfig.trunk_dtype="bfloat16"`` runs the
frozen layers in bfloat16 (frames normalised in float32, features back to float32 before the PCA): measured on the
2-core Intel Xeon with AMX (2026-12-07, batches of 64 channels-last frames, conv1_1-conv4_3) 20 against 65 ms a
frame at 128 px and 10 against 29 ms at 96 px, the features within 0.53% of float32's (relative L2 norm). Its file
is checked against its recorded sha256 when it is the packaged HED trunk
(:func:`~stanet_lib.nets.pretrained.verify_trunk`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..config import ModelConfig
from .encoders import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG16_CFG,
    VGG16Encoder,
    init_weights,
    load_imagenet,
    scaled_channels,
)
from .pretrained import TRUNK_PATH, verify_trunk

__all__ = ["TRUNK_NAMES", "LAYERS", "DTYPES", "trunk_forward", "trunk_path", "frozen_trunk", "register_projection",
           "fit_projection", "project", "lift", "stored_layout", "TrunkEncoder", "TrunkHead", "Passthrough",
           "make_encoder", "make_head"]

TRUNK_NAMES = {"hed_bsds500": TRUNK_PATH}  # ModelConfig.trunk: a name here or a torchvision vgg16 state_dict path
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # ModelConfig.trunk_dtype


def _layer_names() -> list[str]:
    names, block, k = [], 1, 0
    for v in VGG16_CFG:
        if v == "M":
            block, k = block + 1, 0
            continue
        k += 1
        names.append(f"conv{block}_{k}")
    return names


LAYERS = tuple(_layer_names())  # conv1_1 .. conv5_3
_CACHE: dict[tuple[str, str, str], tuple[nn.Sequential, int]] = {}
_PROJECTIONS: dict[tuple[str, str, int], tuple[Tensor, Tensor]] = {}


def register_projection(name: str, layer: str, mean: Tensor, axes: Tensor) -> None:
    """Make (mean, axes) the projection every :class:`TrunkEncoder` of this trunk, cut and width built from now on
    in this process starts with (the stages fit it once per world, :func:`stanet_lib.stages.world.net_inputs`)."""
    _PROJECTIONS[(str(name), layer, int(axes.shape[0]))] = (mean.float().clone(), axes.float().clone())


def trunk_path(name: str) -> Path:
    """The state_dict file of ``ModelConfig.trunk`` (a name of :data:`TRUNK_NAMES` or a path)."""
    path = TRUNK_NAMES.get(name, Path(name))
    if not Path(path).is_file():
        hint = " (run `make weights`)" if name in TRUNK_NAMES else ""
        raise FileNotFoundError(f"{path}: pretrained trunk file not found{hint}")
    return Path(path)


def frozen_trunk(name: str, layer: str = "conv4_3", dtype: str = "float32") -> tuple[nn.Sequential, int]:
    """The frozen VGG16 layers conv1_1 .. ``layer`` (with its ReLU) of trunk ``name`` and their output channels;
    their parameters in ``dtype`` (a key of :data:`DTYPES`: the bfloat16 copy is the float32 weights rounded).

    Loaded once per process; eval mode, ``requires_grad`` off. Only conv layers of blocks 1-4 can be the cut (the
    head's stride-8 layout starts at pool4). Building it leaves the global random state as it was (its layers'
    random initialisation is overwritten by the file), so a net seeded and built next starts from the same
    weights whether or not the trunk was loaded before in the process."""
    if layer not in LAYERS[:10]:
        raise ValueError(f"trunk_layer must be one of {', '.join(LAYERS[:10])}, got {layer!r}")
    if dtype not in DTYPES:
        raise ValueError(f"trunk_dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    key = (str(name), layer, dtype)
    if key in _CACHE:
        return _CACHE[key]
    if dtype != "float32":
        trunk, channels = frozen_trunk(name, layer)
        _CACHE[key] = (copy.deepcopy(trunk).to(DTYPES[dtype]), channels)
    else:
        path = trunk_path(name)
        if name in TRUNK_NAMES:
            verify_trunk(path)
        # the CPU generator restored on exit (no CUDA state touched); built on the CPU whatever device context the
        # caller is in (a net built under ``torch.device("meta")`` must not leave a meta trunk in the cache)
        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
            enc = load_imagenet(VGG16Encoder(1.0, 8, batch_norm=False), path)
        relus = [i for i, m in enumerate(enc.features) if isinstance(m, nn.ReLU)]
        cut = relus[LAYERS.index(layer)] + 1
        trunk = nn.Sequential(*list(enc.features)[:cut]).eval()
        for p in trunk.parameters():
            p.requires_grad_(False)
        channels = [m for m in trunk if isinstance(m, nn.Conv2d)][-1].out_channels
        _CACHE[key] = (trunk, channels)
    return _CACHE[key]


def trunk_forward(trunk: nn.Module, frames: Tensor) -> Tensor:
    """The frozen layers on frames (B, 3, H, W) uint8 or [0, 1]: normalised in float32, run in the trunk's own
    dtype, returned in float32."""
    dtype = next(trunk.parameters()).dtype
    return trunk(_normalise(frames).to(dtype)).float()


def _normalise(x: Tensor) -> Tensor:
    """uint8 or [0, 1] frames -> ImageNet mean/std (the convention the converted trunk expects)."""
    if x.dtype == torch.uint8:
        x = x.float().div(255.0)
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x.float() - mean) / std


def fit_projection(features: Tensor, channels: int, max_positions: int = 200_000, seed: int = 0
                   ) -> tuple[Tensor, Tensor]:
    """PCA of trunk features (N, C, h, w) over all positions: (mean (C,), the top ``channels`` principal axes
    (channels, C)) in float32, float64 maths. At most ``max_positions`` positions, drawn with ``seed``.

    The frozen reduction that makes the demo's heads cheap: on this CPU a trainable 1 x 1 conv from 512 channels
    was most of a head's cost (60 ms a batch of 20 at 12 x 12, forward and backward)."""
    x = features.float().permute(0, 2, 3, 1).reshape(-1, features.shape[1])
    if len(x) > max_positions:
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:max_positions]]
    x = x.double()
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / max(len(x) - 1, 1)
    _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
    axes = vecs[:, -channels:].flip(1).T  # (channels, C), largest variance first
    return mean.float(), axes.float()


def project(features: Tensor, mean: Tensor, axes: Tensor) -> Tensor:
    """(N, C, h, w) -> (N, k, h, w): the features centred and projected on the PCA axes (a fixed 1 x 1 conv)."""
    w = axes.to(features.device, torch.float32)
    b = -(w @ mean.to(features.device, torch.float32))
    return torch.nn.functional.conv2d(features.float(), w[:, :, None, None], b)


def lift(name: str, layer: str, frames: Tensor, batch: int = 64, device: torch.device | str | None = None,
         projection: tuple[Tensor, Tensor] | None = None, out: np.ndarray | None = None,
         nhwc: bool = False, dtype: str = "float32") -> Tensor:
    """Trunk features of frames: (N, 3, H, W) uint8 -> (N, C, H', W') float16 on the CPU, ``batch`` at a time;
    with ``projection`` (mean, axes) of :func:`fit_projection` the projected (N, k, H', W').

    Frames are processed on ``device`` (default the CPU); the result equals the trunk applied to the whole tensor up
    to float rounding (the frozen layers are in eval mode and per-sample). ``out``: a float16 array of the result's
    shape (a memmap) that each batch is written into, returned as a tensor over it (nothing held in memory);
    ``nhwc``: ``out`` is (N, H', W', C) and the tensor returned the channels-last (N, C, H', W') view of it, the
    memory format the trunk gives for channels-last frames (:func:`stored_layout`); ``dtype``: the frozen
    layers' (:func:`frozen_trunk`)."""
    trunk, c = frozen_trunk(name, layer, dtype)
    dev = torch.device("cpu") if device is None else torch.device(device)
    trunk.to(dev)
    parts = []
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = trunk_forward(trunk, frames[i : i + batch].to(dev, non_blocking=True))
            x = (x if projection is None else project(x, *projection)).half().cpu()
            if out is None:
                parts.append(x)
            else:
                out[i : i + batch] = (x.permute(0, 2, 3, 1) if nhwc else x).numpy()
    if out is not None:
        return torch.from_numpy(out).permute(0, 3, 1, 2) if nhwc else torch.from_numpy(out)
    if not parts:
        k = c if projection is None else len(projection[1])
        return torch.zeros(0, k, 0, 0, dtype=torch.float16)
    return torch.cat(parts)


def stored_layout(features: Tensor, n: int | None = None) -> tuple[bool, tuple[int, ...]]:
    """(nhwc, the file's shape) for ``n`` (default ``len(features)``) features like ``features`` (N, C, H, W) kept
    in a file: a channels-last tensor is stored (N, H, W, C) and read back as the channels-last view (the nets'
    convolutions then see the memory format they were given when the features were computed, and so give the same
    float results), any other (N, C, H, W)."""
    _, c, h, w = features.shape
    n = len(features) if n is None else n
    nhwc = not features.is_contiguous() and features.is_contiguous(memory_format=torch.channels_last)
    return nhwc, ((n, h, w, c) if nhwc else (n, c, h, w))


class TrunkEncoder(nn.Module):
    """The frozen pretrained trunk (not a registered child) and its fixed PCA reduction: the shared encoder of the
    nets when ``ModelConfig.trunk`` is set, stride 8, ``reduce`` channels, nothing trained.

    ``forward`` takes reduced trunk features (B, k, h, w) (what the stages cache: :func:`lift` with the
    projection), which pass through, or frames (B, 3, H, W) uint8 / float in [0, 1], which it lifts and projects
    with the buffers ``proj_mean`` / ``proj_axes`` (saved in the checkpoint, set by :meth:`set_projection`). A cut
    above stride 8 (conv3_3) adds a 2 x 2 max-pool. The trained layers follow the fusion (:class:`TrunkHead`).

    Example:
        >>> enc = TrunkEncoder("hed_bsds500", "conv4_3", reduce=64)  # doctest: +SKIP
        >>> enc(torch.zeros(2, 3, 96, 96, dtype=torch.uint8)).shape  # (2, 64, 12, 12)
    """

    stride = 8

    def __init__(self, name: str, layer: str = "conv4_3", reduce: int = 64, dtype: str = "float32") -> None:
        super().__init__()
        trunk, c_trunk = frozen_trunk(name, layer, dtype)
        self.name, self.layer, self.dtype, self.trunk_channels = name, layer, dtype, c_trunk
        self.in_channels = self.out_channels = reduce
        self.output_stride, self.batch_norm = self.stride, True
        self.register_buffer("proj_mean", torch.zeros(c_trunk))
        self.register_buffer("proj_axes", torch.zeros(reduce, c_trunk))
        if (name, layer, reduce) in _PROJECTIONS:
            self.set_projection(*_PROJECTIONS[(name, layer, reduce)])
        stride_in = 2 ** sum(isinstance(m, nn.MaxPool2d) for m in trunk)  # the trunk's own stride
        pool = self.stride // stride_in
        self.features = nn.MaxPool2d(pool, pool) if pool > 1 else nn.Identity()
        self._in_stride = stride_in

    def set_projection(self, mean: Tensor, axes: Tensor) -> None:
        """Set the fixed PCA reduction (:func:`fit_projection`)."""
        if tuple(axes.shape) != tuple(self.proj_axes.shape):
            raise ValueError(f"projection axes must be {tuple(self.proj_axes.shape)}, got {tuple(axes.shape)}")
        self.proj_mean.copy_(mean)
        self.proj_axes.copy_(axes)
    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Feature (= CAM) size for (height, width) frames."""
        return height // self.stride, width // self.stride

    def image_size(self, x: Tensor) -> tuple[int, int]:
        """The frame size (H, W) an input stands for: its own for frames, the trunk stride times for features."""
        h, w = x.shape[-2:]
        return (int(h), int(w)) if x.shape[-3] == 3 else (int(h) * self._in_stride, int(w) * self._in_stride)

    def lift(self, x: Tensor) -> Tensor:
        """Frames (B, 3, H, W) -> reduced trunk features (B, k, h, w) float32 (no gradient); features pass."""
        if x.dim() == 4 and x.shape[1] == self.in_channels:
            return x.float()
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"TrunkEncoder expects frames (B, 3, H, W) or reduced trunk features "
                             f"(B, {self.in_channels}, h, w), got {tuple(x.shape)}")
        if not bool(self.proj_axes.any()):
            raise ValueError("TrunkEncoder has no projection yet (set_projection, or load a trained checkpoint)")
        trunk, _ = frozen_trunk(self.name, self.layer, self.dtype)
        trunk.to(x.device)
        with torch.no_grad():
            return project(trunk_forward(trunk, x), self.proj_mean, self.proj_axes)

    def forward(self, x: Tensor) -> Tensor:
        """Frames or reduced trunk features -> (B, k, H/8, W/8)."""
        return self.features(self.lift(x))


class TrunkHead(nn.Module):
    """The trained layers after the fusion of nets on a frozen trunk: two 3 x 3 conv-BN-ReLU at ``channels``.

    The fusions (ST's temporal gate, SA's audio gate, Eq. 4-5) act on the shared frozen encoder's features and the
    head follows them, so an ST window runs the trained layers once, not once per frame. Measured on this 2-core
    CPU (forward + backward, a batch of 20 at 12 x 12): a trainable 1 x 1 conv from 512 channels 60 ms, a 3 x 3
    64-channel conv 28 ms, dilated by 2 84 ms; a VGG16 block 5 at 128 channels in the encoder took ~20 s an epoch
    of the demo's 1,508 frames per net, three times that for the ST net."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1), nn.BatchNorm2d(channels),
                                 nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, padding=1),
                                 nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.out_channels = channels
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Passthrough(nn.Identity):
    """No head (an encoder trained end to end): the fused features go straight to the classifier or decoder."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.out_channels = channels

    def pyramid(self, x: Tensor) -> list[Tensor]:
        """Not available: the finer levels are the frozen trunk's (use ``sta_decoder="deconv"``)."""
        raise ValueError("the skip decoder needs the encoder's pyramid; with model.trunk use sta_decoder='deconv'")


def make_encoder(cfg: ModelConfig) -> nn.Module:
    """The visual encoder a config asks for: :class:`TrunkEncoder` when ``cfg.trunk`` names a trunk, else
    :class:`~stanet_lib.nets.encoders.VGG16Encoder` (trained end to end)."""
    if cfg.trunk:
        return TrunkEncoder(cfg.trunk, cfg.trunk_layer, cfg.trunk_reduce, cfg.trunk_dtype)
    return VGG16Encoder(cfg.width, cfg.output_stride, cfg.batch_norm)


def make_head(cfg: ModelConfig, in_channels: int) -> nn.Module:
    """The layers after the fusion: :class:`TrunkHead` (``512 * head_width`` channels) on a frozen trunk, else a
    :class:`Passthrough` (no parameters, so checkpoints of end-to-end encoders keep their keys)."""
    if cfg.trunk:
        return TrunkHead(in_channels, scaled_channels(512, cfg.head_width))
    return Passthrough(in_channels)
