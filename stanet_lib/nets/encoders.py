"""The VGG16 encoder and the audio encoder (paper §3.2, §3.7, Fig. 6), with the ImageNet loader.

Choices (``../shared/DESIGN.md`` fidelity table, ``reference/original_code_audit.md`` §2):

* Encoder: VGG16 (cfg "D") with torchvision's parameter names ``features.N.weight/bias`` so that a
  torchvision ``vgg16`` ImageNet ``state_dict`` file loads (:func:`load_imagenet`). ``width`` scales the
  channels (minimum 4) for the CPU profiles. **Default output stride 8**: pool4 becomes a 3x3 stride-1
  max-pool, block 5 is dilated by 2 and pool5 is dropped, the VGG16-"D1" of the released "+" code (audit
  §2). The CVPR code's ResNeXt had stride 32 (8 x 8 CAMs at 256 px); at the CPU profiles' 32-64 px a stride
  of 32 leaves 1-2 CAM pixels, and stride 8 gives the STA decoder's three 2x de-convolutions an exact way
  back to the input size. ``output_stride=16`` drops only pool5, ``32`` is plain VGG16. Dilation does not
  change weight shapes, so ImageNet weights load at every stride.
* ``ModelConfig.batch_norm`` (default True): conv-BN-ReLU with torchvision ``vgg16_bn`` names. The paper's
  plain VGG16 (False) relies on ImageNet weights; from scratch it stayed at chance on a toy task where
  vgg16_bn learned (see config.py).
* Input: frames are float in [0, 1] or uint8 (0-255), (B, 3, H, W); the encoder scales uint8 and applies the
  ImageNet mean/std itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = [
    "VGG16_CFG", "IMAGENET_MEAN", "IMAGENET_STD", "scaled_channels", "init_weights", "VGG16Encoder",
    "load_imagenet", "AudioEncoder"
]


VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                    512, 512, 512, "M")


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # audit §8, the loaders' normalisation


IMAGENET_STD = (0.229, 0.224, 0.225)


def scaled_channels(channels: int, width: float) -> int:
    """VGG16 channel count times ``width``, at least 4."""
    return max(4, int(round(channels * width)))


def init_weights(module: nn.Module) -> None:
    """torchvision's VGG initialisation: Kaiming (fan_out, ReLU) convs, zero biases, N(0, 0.01) linear."""
    # torchvision's VGG initialisation: Kaiming (fan_out, ReLU) convs, zero biases, N(0, 0.01) linear.
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


class VGG16Encoder(nn.Module):
    """VGG16 (cfg "D") convolutional features with torchvision's names (``features.N``).

    Args:
        width: channel multiplier (1.0 = torchvision vgg16; needed for ImageNet weights).
        output_stride: 8 (default, dilated block 5), 16 (no pool5) or 32 (plain VGG16).
        batch_norm: conv-BN-ReLU, named as torchvision's ``vgg16_bn``.

    Example:
        >>> enc = VGG16Encoder(width=1 / 16)
        >>> enc(torch.rand(2, 3, 64, 64)).shape  # (B, 32, 8, 8)
    """

    def __init__(self, width: float = 1.0, output_stride: int = 8, batch_norm: bool = False) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        self.width, self.output_stride, self.batch_norm = width, output_stride, batch_norm
        layers: list[nn.Module] = []
        taps: list[int] = []  # index of each block's last ReLU
        c_in, dilation, pools = 3, 1, 0
        for v in VGG16_CFG:
            if v == "M":
                pools += 1
                taps.append(len(layers) - 1)
                if 2 ** pools <= output_stride:
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                elif pools < 5:  # keep the index: a stride-1 pool, then dilate the next block
                    layers.append(nn.MaxPool2d(kernel_size=3, stride=1, padding=1))
                    dilation *= 2
                continue  # pool5 beyond the stride is the last layer: dropping it shifts no index
            c_out = scaled_channels(int(v), width)
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.out_channels = c_in
        self._taps = taps
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        init_weights(self)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Feature (= CAM) size for an (height, width) input: floor-halved once per stride-2 pool."""
        for _ in range(int(math.log2(self.output_stride))):
            height, width = height // 2, width // 2
        return height, width

    def image_size(self, x: Tensor) -> tuple[int, int]:
        """The (H, W) of input frames (B, 3, H, W) (the same method as the trunk encoder's, which also takes
        features)."""
        return int(x.shape[-2]), int(x.shape[-1])

    def _check(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG16Encoder expects frames (B, 3, H, W), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.output_stride:
            raise ValueError(f"frames of {tuple(x.shape[-2:])} px are smaller than the stride "
                             f"{self.output_stride}")

    def normalize(self, x: Tensor) -> Tensor:
        """ImageNet mean/std of frames in [0, 1]; uint8 frames (0-255, what the batched loaders and the GPU
        paths ship: a quarter of the bytes) become ``x.float() / 255`` first, the same values the per-sample
        path gives."""
        self._check(x)
        if x.dtype == torch.uint8:
            x = x.float().div(255.0)
        return (x - self.mean) / self.std

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) float in [0, 1] or uint8 -> (B, C, H/s, W/s) features."""
        return self.features(self.normalize(x))

    def pyramid(self, x: Tensor) -> list[Tensor]:
        """The output of each of the 5 conv blocks (before its pool), for skip decoders (STA, later)."""
        out, h = [], self.normalize(x)
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._taps:
                out.append(h)
        return out


def load_imagenet(encoder: VGG16Encoder, path: str | Path) -> VGG16Encoder:
    """Load torchvision ``vgg16`` (or ``vgg16_bn``) ImageNet weights from a local ``state_dict`` file.

    Only ``features.*`` keys are used (the ``classifier.*`` FC layers are ignored). Nothing is downloaded.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a state_dict, or its keys or shapes do not match the encoder (the
            encoder must have ``width=1.0`` and the same ``batch_norm``).
    """
    path = Path(path)
    if not isinstance(encoder, VGG16Encoder):
        raise TypeError(f"load_imagenet needs a VGG16Encoder, got {type(encoder).__name__}")
    if not path.is_file():
        raise FileNotFoundError(f"ImageNet weights file not found: {path} (a torchvision vgg16 state_dict)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path}: cannot be read as a torch state_dict ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict (dict of tensors), got {type(state).__name__}")
    theirs = {k: v for k, v in state.items() if k.startswith("features.")}
    ours = {k: v for k, v in encoder.state_dict().items()}
    missing, unexpected = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    file_bn = any(k.endswith("running_mean") for k in theirs)
    if file_bn != encoder.batch_norm:
        raise ValueError(f"{path}: a torchvision vgg16{'_bn' if file_bn else ''} file, but the encoder has "
                         f"batch_norm={encoder.batch_norm}; set model.batch_norm={str(file_bn).lower()}")
    if missing or unexpected:
        raise ValueError(f"{path}: not a torchvision vgg16{'_bn' if encoder.batch_norm else ''} state_dict; "
                         f"missing {missing[:4]}{'...' if len(missing) > 4 else ''}, "
                         f"unexpected {unexpected[:4]}{'...' if len(unexpected) > 4 else ''}")
    for key, value in ours.items():
        if tuple(theirs[key].shape) != tuple(value.shape):
            raise ValueError(f"{path}: {key} has shape {tuple(theirs[key].shape)}, the encoder expects "
                             f"{tuple(value.shape)}; ImageNet weights need width=1.0 (this encoder: "
                             f"width={encoder.width})")
    encoder.load_state_dict(theirs, strict=True)
    return encoder


class AudioEncoder(nn.Module):
    """Small 2D CNN on the per-frame spectrogram (paper §3.7 "2D spectrum histograms").

    (B, 1, F, S) -> (B, C, F/8, S/8) map; :meth:`embed` gives the (B, C) vector (global mean). An input
    BatchNorm learns the dataset's feature scale, so log-mel and the code's z-scored STFT both work.
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        c1, c2 = max(4, channels // 4), max(4, channels // 2)
        chans = [(1, c1), (c1, c2), (c2, channels), (channels, channels)]
        layers: list[nn.Module] = [nn.BatchNorm2d(1)]
        for i, (a, b) in enumerate(chans):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.net = nn.Sequential(*layers)
        self.out_channels = channels
        init_weights(self)

    def forward(self, audio: Tensor) -> Tensor:
        if audio.dim() != 4 or audio.shape[1] != 1:
            raise ValueError(f"AudioEncoder expects spectrograms (B, 1, F, S), got {tuple(audio.shape)}")
        return self.net(audio)

    def embed(self, audio: Tensor) -> Tensor:
        """(B, 1, F, S) -> (B, C)."""
        return self.forward(audio).mean(dim=(2, 3))
