"""The S / ST / SA classification nets, the audio switch and the audio-only tagger (paper §3.4, §3.7, Fig. 6 A-C,
Eq. 1 and Eq. 4).

Every ``forward`` is pure: tensors in, a :class:`ClassifierOutput` out (logits and class activation maps
returned explicitly), no hooks, no hidden state, no I/O (``../shared/STYLE.md`` P4).

* CAM: a 1x1 conv to K class maps then global average pooling. GAP and a 1x1 conv commute, so the logits
  equal GAP + FC and the class maps are Eq. 1's CAMs (before :math:`\\xi`) for every class at once.
  CAM size = :meth:`VGG16Encoder.output_size` = (H // s, W // s) for H, W divisible by the stride s.
* Audio switch: "identical structure as the SA classification net" (paper §3.7), 2 classes, gate open; or
  (``ModelConfig.switch_arch = "bilinear"``) the released SoundSwitch's structure (audit §3.2, G2): an audio
  and a frame embedding, each linear to d, joined by a bilinear layer, then linear to 2.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..config import ModelConfig
from .encoders import AudioEncoder, VGG16Encoder, init_weights, load_imagenet
from .fusion import AudioGate, TemporalGate
from .trunk import make_encoder, make_head

__all__ = [
    "BRANCHES", "ClassifierOutput", "Classifier", "BilinearSwitch", "MatmulBilinear", "audio_switch_net",
    "switch_probability", "switch_window_mean", "AudioTagger",
    "build_model"
]


BRANCHES = ("S", "ST", "SA")


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
        self.encoder = make_encoder(cfg)
        c = self.encoder.out_channels
        if branch == "ST":
            self.temporal = TemporalGate(c, cfg.fusion_relu)
        if branch == "SA":
            self.audio = AudioEncoder(cfg.audio_channels)
            self.audio_gate = AudioGate(c, cfg.audio_channels, relu=cfg.fusion_relu)
        self.head = make_head(cfg, c)  # trained layers after the fusion (frozen-trunk encoders), else none
        self.classifier = nn.Conv2d(self.head.out_channels, num_classes, 1)  # the FC layer at every location
        for gate in (getattr(self, "temporal", None), getattr(self, "audio_gate", None)):
            if gate is not None:
                init_weights(gate)
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
        x = self.head(x)
        cams = self.classifier(x)  # (B, K, h, w)
        return ClassifierOutput(cams.mean(dim=(2, 3)), cams, x, gate)

    def forward(self, frames: Tensor, audio: Tensor | None = None, switch: Tensor | None = None
                ) -> ClassifierOutput:
        if self.branch == "ST":
            if frames.dim() != 5 or frames.shape[1] != 3:
                raise ValueError(f"ST expects frames (B, 3, C, H, W) = [B, T, C, H, W], got "
                                 f"{tuple(frames.shape)}")
            b = frames.shape[0]
            feats = self.encode(frames.flatten(0, 1))  # (B*3, C, h, w), one shared encoder
            return self.forward_features(feats.view(b, 3, *feats.shape[1:]), audio, switch)
        if frames.dim() != 4:
            raise ValueError(f"{self.branch} expects frames (B, 3, H, W), got {tuple(frames.shape)}")
        if self.branch == "SA" and audio is None:
            raise ValueError("SA needs audio (B, 1, F, S)")
        return self.forward_features(self.encode(frames), audio, switch)


class MatmulBilinear(nn.Bilinear):
    """``nn.Bilinear`` (y_o = x1^T W_o x2 + b_o, W of shape (out, in1, in2)) computed as two matrix products:
    t = x1 @ W viewed (in1, out * in2), then y = t (B, out, in2) @ x2. The same parameters and ``state_dict`` as
    ``nn.Bilinear``, the same function up to float rounding (summation order). Why: on the CPU PyTorch computes
    ``nn.Bilinear`` as ``aten::_trilinear``, thousands of small products a step; with the demo switch's (128, 128,
    128) layer and batches of 20 that was 26 ms of forward and backward against 5.9 ms as two products (2-core
    Intel Xeon), about a third of a switch training step."""

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        out, in1, in2 = self.weight.shape
        if input1.dim() != 2 or input2.dim() != 2 or input1.shape[0] != input2.shape[0]:
            raise ValueError(f"MatmulBilinear expects (B, {in1}) and (B, {in2}), got {tuple(input1.shape)} and "
                             f"{tuple(input2.shape)}")
        t = (input1 @ self.weight.permute(1, 0, 2).reshape(in1, out * in2)).view(-1, out, in2)
        y = torch.bmm(t, input2.unsqueeze(2)).squeeze(2)
        return y if self.bias is None else y + self.bias


class BilinearSwitch(nn.Module):
    """The audio switch of the released SoundSwitch (audit §3.2, G2 ``models.py``): frame features (the same
    encoder and head as the classification nets) pooled to a vector, the audio embedding, each linear to ``dim``,
    a bilinear layer (dim, dim) -> dim (``nn.Bilinear``'s function, :class:`MatmulBilinear`), ReLU, linear to 2
    (0 = audio unrelated to the frame, 1 = related). Called as the SA net is (``frames``, ``audio``; ``switch``
    must be None); ``cams`` are the logits as 1 x 1 maps.

    Example:
        >>> net = BilinearSwitch(ModelConfig(width=1 / 16, audio_channels=8))
        >>> net(torch.rand(2, 3, 64, 64), torch.rand(2, 1, 32, 51)).logits.shape  # (2, 2)
    """

    branch = "SA"  # the inputs of the SA net: a frame and its audio window

    def __init__(self, cfg: ModelConfig | None = None, dim: int = 128) -> None:
        super().__init__()
        cfg = cfg or ModelConfig()
        self.num_classes = 2
        self.encoder = make_encoder(cfg)
        self.head = make_head(cfg, self.encoder.out_channels)
        self.audio = AudioEncoder(cfg.audio_channels)
        self.visual_fc = nn.Linear(self.head.out_channels, dim)
        self.audio_fc = nn.Linear(cfg.audio_channels, dim)
        self.bilinear = MatmulBilinear(dim, dim, dim)
        self.classifier = nn.Linear(dim, 2)

    def cam_size(self, height: int, width: int) -> tuple[int, int]:
        return (1, 1)

    def encode(self, frames: Tensor) -> Tensor:
        """(N, 3, H, W) frames in [0, 1] -> (N, C, h, w) encoder features."""
        return self.encoder(frames)

    def forward_features(self, feats: Tensor, audio: Tensor | None = None, switch: Tensor | None = None
                         ) -> ClassifierOutput:
        if feats.dim() != 4:
            raise ValueError(f"switch features must be (B, C, h, w), got {tuple(feats.shape)}")
        if audio is None or audio.shape[0] != feats.shape[0]:
            raise ValueError("the switch needs audio (B, 1, F, S) with the frames' batch")
        if switch is not None:
            raise ValueError("the switch net takes no switch input")
        x = self.head(feats)
        v = torch.relu(self.visual_fc(x.mean(dim=(2, 3))))
        a = torch.relu(self.audio_fc(self.audio.embed(audio)))
        z = torch.relu(self.bilinear(v, a))
        logits = self.classifier(z)
        return ClassifierOutput(logits, logits[:, :, None, None], x, None)

    def forward(self, frames: Tensor, audio: Tensor | None = None, switch: Tensor | None = None
                ) -> ClassifierOutput:
        if frames.dim() != 4:
            raise ValueError(f"the switch expects frames (B, 3, H, W), got {tuple(frames.shape)}")
        return self.forward_features(self.encode(frames), audio, switch)


def audio_switch_net(cfg: ModelConfig | None = None) -> nn.Module:
    """The audio switch (paper §3.7): by default the SA net's structure with 2 classes (0 = audio unrelated to the
    tag, 1 = related), called with ``switch=None`` (gate open); ``cfg.switch_arch = "bilinear"``:
    :class:`BilinearSwitch`. :func:`switch_probability` gives p_switch."""
    cfg = cfg or ModelConfig()
    return BilinearSwitch(cfg) if cfg.switch_arch == "bilinear" else Classifier("SA", 2, cfg)


def switch_probability(out: ClassifierOutput) -> Tensor:
    """(B,) softmax probability of class 1 (the soft switch of the G1 code, audit §3.3)."""
    if out.logits.shape[-1] != 2:
        raise ValueError(f"switch logits must be (B, 2), got {tuple(out.logits.shape)}")
    return torch.softmax(out.logits.float(), dim=-1)[:, 1]


def switch_window_mean(p: np.ndarray, times: np.ndarray, half_width_s: float) -> np.ndarray:
    r"""One video's p_switch averaged over a window in seconds (``ModelConfig.switch_smoothing_s``):
    :math:`\bar p_t = \mathrm{mean}\{p_u : |\tau_u - \tau_t| \le h\}` over the frames u of the video at times
    :math:`\tau`, so the window covers the same seconds at any frame rate. The paper's switch is per frame (§3.7);
    this is our addition, measured in ``docs/record.md``.

    Args:
        p: (T,) switch probabilities of one video's frames.
        times: (T,) their times in seconds.
        half_width_s: h >= 0; 0 returns ``p`` as float32.

    Returns:
        (T,) float32 in [0, 1].

    Raises:
        ValueError: p and times differ in length, or h < 0.
    """
    p, t = np.asarray(p, np.float64).ravel(), np.asarray(times, np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"switch_window_mean: {p.size} probabilities but {t.size} times")
    if not half_width_s >= 0:
        raise ValueError(f"switch_window_mean: half_width_s must be >= 0, got {half_width_s}")
    if half_width_s == 0 or p.size == 0:
        return p.astype(np.float32)
    order = np.argsort(t, kind="stable")  # a running sum over the frames in time order: O(T log T), no T x T
    ts, cs = t[order], np.concatenate([[0.0], np.cumsum(p[order])])
    lo = np.searchsorted(ts, ts - half_width_s - 1e-9, side="left")
    hi = np.searchsorted(ts, ts + half_width_s + 1e-9, side="right")  # hi > lo: the frame itself is inside
    out = np.empty_like(p)
    out[order] = (cs[hi] - cs[lo]) / (hi - lo)
    return out.astype(np.float32)


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
    if pretrained and cfg is not None and cfg.imagenet_weights and isinstance(model.encoder, VGG16Encoder):
        load_imagenet(model.encoder, cfg.imagenet_weights)
    return model
