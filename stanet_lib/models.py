"""Networks: the VGG16 encoder, the audio encoder, the S / ST / SA classification nets, the audio switch and
the audio-only tagger (paper §3.2, §3.7, Fig. 6 A-C, Eq. 1 and Eq. 4).

Every ``forward`` is pure: tensors in, a :class:`ClassifierOutput` out (logits and class activation maps
returned explicitly), no hooks, no hidden state, no I/O (``../shared/STYLE.md`` P4). The fusion blocks
(:class:`TemporalGate`, :class:`AudioGate`) and :meth:`VGG16Encoder.pyramid` are separate so that the STA
net (Eq. 5) can reuse them.

Choices (``../shared/DESIGN.md`` fidelity table, ``reference/original_code_audit.md`` §2-3):

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
* CAM: a 1x1 conv to K class maps then global average pooling. GAP and a 1x1 conv commute, so the logits
  equal GAP + FC and the class maps are Eq. 1's CAMs (before :math:`\\xi`) for every class at once.
  CAM size = :meth:`VGG16Encoder.output_size` = (H // s, W // s) for H, W divisible by the stride s.
* ST: frames (t-1, t, t+1) through ONE shared encoder, Conv3d with kernel 3 over time (3 -> 1),
  ReLU(sigmoid(T) * S + S) with S the centre frame's features (G1 ``STcoarse_model.py``, permuted correctly).
* SA: Eq. 4 as the released G1 code applies it, ReLU(p_switch * sigmoid(Att(A, S)) * S + S), p_switch in
  [0, 1] per sample (soft switch); ``ModelConfig.hard_switch`` thresholds it at 0.5. Att is two 1x1 convs
  on the concatenation of S and the audio vector tiled over the map (the code up-sampled the audio vector
  with transposed convs to one fixed map size, which broke at other input sizes, audit §2.1).
* Audio switch: "identical structure as the SA classification net" (paper §3.7), 2 classes, gate open.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig

VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                    512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # audit §8, the loaders' normalisation
IMAGENET_STD = (0.229, 0.224, 0.225)
BRANCHES = ("S", "ST", "SA")


def scaled_channels(channels: int, width: float) -> int:
    """VGG16 channel count times ``width``, at least 4."""
    return max(4, int(round(channels * width)))


def _init_weights(module: nn.Module) -> None:
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
        _init_weights(self)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Feature (= CAM) size for an (height, width) input: floor-halved once per stride-2 pool."""
        for _ in range(int(math.log2(self.output_stride))):
            height, width = height // 2, width // 2
        return height, width

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
        _init_weights(self)

    def forward(self, audio: Tensor) -> Tensor:
        if audio.dim() != 4 or audio.shape[1] != 1:
            raise ValueError(f"AudioEncoder expects spectrograms (B, 1, F, S), got {tuple(audio.shape)}")
        return self.net(audio)

    def embed(self, audio: Tensor) -> Tensor:
        """(B, 1, F, S) -> (B, C)."""
        return self.forward(audio).mean(dim=(2, 3))


class TemporalGate(nn.Module):
    """ST fusion: T = Conv3d over (t-1, t, t+1) collapsing time 3 -> 1; ReLU(sigmoid(T) * S + S).

    With exactly 3 frames and no temporal padding the Conv3d is one 2D convolution over the frames stacked on
    the channels (weight (C, C, 3, 3, 3) -> (C, 3C, 3, 3), the same sum): ``as_2d`` (default None = on CUDA)
    takes that form, which runs on the channels-last bf16 kernels of 2D convolutions. The CPU keeps the Conv3d.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, kernel_size=3, padding=(0, 1, 1))
        self.as_2d: bool | None = None

    def forward(self, clip: Tensor) -> tuple[Tensor, Tensor]:
        """clip (B, 3, C, h, w) encoder features -> (fused (B, C, h, w), gate sigmoid(T) (B, C, h, w))."""
        if clip.dim() != 5 or clip.shape[1] != 3:
            raise ValueError(f"TemporalGate expects (B, 3, C, h, w) features, got {tuple(clip.shape)}")
        s = clip[:, 1]  # (B, C, h, w), the centre frame t
        if self.as_2d if self.as_2d is not None else clip.is_cuda:
            b, _, c, h, w = clip.shape
            weight = self.conv.weight.permute(0, 2, 1, 3, 4).reshape(self.conv.out_channels, 3 * c, 3, 3)
            t = F.conv2d(clip.reshape(b, 3 * c, h, w), weight, self.conv.bias, padding=1)  # channel = t * C + c
        else:
            t = self.conv(clip.permute(0, 2, 1, 3, 4)).squeeze(2)  # (B, C, 3, h, w) -> (B, C, h, w)
        gate = torch.sigmoid(t)
        return F.relu(gate * s + s), gate


class AudioGate(nn.Module):
    """SA fusion, Eq. 4 as the G1 code: ReLU(p * sigmoid(Att(A, S)) * S + S), Att = 1x1 convs on [S, A]."""

    def __init__(self, channels: int, audio_channels: int) -> None:
        super().__init__()
        self.att = nn.Sequential(nn.Conv2d(channels + audio_channels, channels, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(channels, 1, 1))

    def forward(self, s: Tensor, a: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """s (B, C, h, w), a (B, Ca), p (B,) -> (fused (B, C, h, w), attention sigmoid(Att) (B, 1, h, w))."""
        tiled = a[:, :, None, None].expand(-1, -1, *s.shape[-2:])  # (B, Ca, h, w)
        att = torch.sigmoid(self.att(torch.cat([s, tiled], dim=1)))  # (B, 1, h, w)
        return F.relu(p.to(s.dtype).view(-1, 1, 1, 1) * att * s + s), att


class ClassifierOutput(NamedTuple):
    """logits (B, K); cams (B, K, h, w) class maps (Eq. 1 before xi); features (B, C, h, w) fused map;
    gate: sigmoid(T) (B, C, h, w) for ST, sigmoid(Att) (B, 1, h, w) for SA, None otherwise."""

    logits: Tensor
    cams: Tensor
    features: Tensor
    gate: Tensor | None = None


class Classifier(nn.Module):
    """The classification net of branch ``"S"``, ``"ST"`` or ``"SA"`` (Fig. 6 A-C), one class for all three.

    Inputs: ``frames`` (B, 3, H, W) for S and SA, (B, 3, 3, H, W) = [B, T, C, H, W] (t-1, t, t+1) for ST;
    SA also ``audio`` (B, 1, F, S) and ``switch`` (B,) in [0, 1] (None = 1, the gate fully open: the
    paper's SA without the audio switch). Frames are float in [0, 1].

    Example:
        >>> net = Classifier("ST", 6, ModelConfig(width=1 / 16))
        >>> out = net(torch.rand(2, 3, 3, 64, 64))
        >>> out.logits.shape, out.cams.shape  # (2, 6), (2, 6, 8, 8)
    """

    def __init__(self, branch: str, num_classes: int, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        cfg = cfg or ModelConfig()
        self.branch, self.num_classes, self.hard_switch = branch, num_classes, cfg.hard_switch
        self.encoder = VGG16Encoder(cfg.width, cfg.output_stride, cfg.batch_norm)
        c = self.encoder.out_channels
        if branch == "ST":
            self.temporal = TemporalGate(c)
        if branch == "SA":
            self.audio = AudioEncoder(cfg.audio_channels)
            self.audio_gate = AudioGate(c, cfg.audio_channels)
        self.classifier = nn.Conv2d(c, num_classes, 1)  # the FC layer, applied at every location
        for gate in (getattr(self, "temporal", None), getattr(self, "audio_gate", None)):
            if gate is not None:
                _init_weights(gate)
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    def cam_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of ``cams`` for (height, width) frames."""
        return self.encoder.output_size(height, width)

    def encode(self, frames: Tensor) -> Tensor:
        """(N, 3, H, W) frames in [0, 1] -> (N, C, h, w) per-frame encoder features (the shared encoder; the ST
        net's window reuses them: :meth:`forward_features`)."""
        return self.encoder(frames)

    def forward_features(self, feats: Tensor, audio: Tensor | None = None, switch: Tensor | None = None
                         ) -> ClassifierOutput:
        """Fusion and CAM head from precomputed encoder features: (B, C, h, w) for S and SA, (B, 3, C, h, w)
        (frames t-1, t, t+1) for ST. ``forward(frames)`` = ``forward_features(encode(frames))``, op for op."""
        gate = None
        if self.branch == "ST":
            if feats.dim() != 5 or feats.shape[1] != 3:
                raise ValueError(f"ST features must be (B, 3, C, h, w), got {tuple(feats.shape)}")
            x, gate = self.temporal(feats)  # (B, C, h, w)
        else:
            if feats.dim() != 4:
                raise ValueError(f"{self.branch} features must be (B, C, h, w), got {tuple(feats.shape)}")
            x = feats
            if self.branch == "SA":
                b = x.shape[0]
                if audio is None:
                    raise ValueError("SA needs audio (B, 1, F, S)")
                if audio.shape[0] != b:
                    raise ValueError(f"audio batch {audio.shape[0]} != frames batch {b}")
                p = torch.ones(b, device=x.device) if switch is None else switch
                if p.shape != (b,):
                    raise ValueError(f"switch must be (B,) = ({b},), got {tuple(p.shape)}")
                if self.hard_switch:
                    p = (p > 0.5).to(x.dtype)
                x, gate = self.audio_gate(x, self.audio.embed(audio), p)
        cams = self.classifier(x)  # (B, K, h, w)
        return ClassifierOutput(cams.mean(dim=(2, 3)), cams, x, gate)

    def forward(self, frames: Tensor, audio: Tensor | None = None, switch: Tensor | None = None
                ) -> ClassifierOutput:
        if self.branch == "ST":
            if frames.dim() != 5 or frames.shape[1:3] != (3, 3):
                raise ValueError(f"ST expects frames (B, 3, 3, H, W) = [B, T, C, H, W], got "
                                 f"{tuple(frames.shape)}")
            b = frames.shape[0]
            feats = self.encode(frames.flatten(0, 1))  # (B*3, C, h, w), one shared encoder
            return self.forward_features(feats.view(b, 3, *feats.shape[1:]), audio, switch)
        if frames.dim() != 4:
            raise ValueError(f"{self.branch} expects frames (B, 3, H, W), got {tuple(frames.shape)}")
        if self.branch == "SA" and audio is None:
            raise ValueError("SA needs audio (B, 1, F, S)")
        return self.forward_features(self.encode(frames), audio, switch)


def audio_switch_net(cfg: ModelConfig | None = None) -> Classifier:
    """The audio switch (paper §3.7): the SA net's structure with 2 classes (0 = audio unrelated to the tag,
    1 = related). Call it with ``switch=None`` (gate open); :func:`switch_probability` gives p_switch."""
    return Classifier("SA", 2, cfg)


def switch_probability(out: ClassifierOutput) -> Tensor:
    """(B,) softmax probability of class 1 (the soft switch of the G1 code, audit §3.3)."""
    if out.logits.shape[-1] != 2:
        raise ValueError(f"switch logits must be (B, 2), got {tuple(out.logits.shape)}")
    return torch.softmax(out.logits.float(), dim=-1)[:, 1]


class AudioTagger(nn.Module):
    """The default pluggable audio tagger: an audio-only classifier over the K categories.

    Same CAM head as :class:`Classifier` on the audio map: ``cams`` are time-frequency class maps
    (B, K, F/8, S/8). Input ``audio`` (B, 1, F, S).
    """

    def __init__(self, num_classes: int, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or ModelConfig()
        self.num_classes = num_classes
        self.audio = AudioEncoder(cfg.audio_channels)
        self.classifier = nn.Conv2d(cfg.audio_channels, num_classes, 1)
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, audio: Tensor) -> ClassifierOutput:
        x = self.audio(audio)  # (B, C, f, s)
        cams = self.classifier(x)  # (B, K, f, s)
        return ClassifierOutput(cams.mean(dim=(2, 3)), cams, x, None)


def build_model(kind: str, num_classes: int, cfg: ModelConfig | None = None, pretrained: bool = True
                ) -> nn.Module:
    """``"S"``, ``"ST"``, ``"SA"`` -> :class:`Classifier`; ``"switch"`` -> :func:`audio_switch_net`;
    ``"tagger"`` -> :class:`AudioTagger`. With ``pretrained`` and ``cfg.imagenet_weights`` set, the visual
    encoder starts from that torchvision VGG16 file (the paper's classification nets are ImageNet VGG16)."""
    if kind in BRANCHES:
        model: nn.Module = Classifier(kind, num_classes, cfg)
    elif kind == "switch":
        model = audio_switch_net(cfg)
    elif kind == "tagger":
        return AudioTagger(num_classes, cfg)
    else:
        raise ValueError(f"unknown model kind {kind!r}; choose S, ST, SA, switch or tagger")
    if pretrained and cfg is not None and cfg.imagenet_weights:
        load_imagenet(model.encoder, cfg.imagenet_weights)
    return model
