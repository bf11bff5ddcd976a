"""The STA fixation prediction net (paper §3.8, Fig. 6-D, Eq. 5): encoder, fusion and decoder.

Data flow (one shared VGG16 encoder, :class:`~stanet_lib.nets.encoders.VGG16Encoder`, over frames t-1, t, t+1):

* S  = encoder(frame t) (B, C, h, w); A = :class:`~stanet_lib.nets.encoders.AudioEncoder` vector of frame t's audio;
* SA = ReLU(p * sigmoid(Att(A, S)) * S + S) (Eq. 4 as the SA net applies it: :class:`~stanet_lib.nets.fusion.AudioGate`,
  p = p_switch of the audio switch; ``switch=None`` = gate open, p = 1); ``ModelConfig.sta_audio_att="class"``
  computes Att from the heard category instead (:class:`ClassAudioAttention`);
* ST = ReLU(sigmoid(T) * S + S), T = Conv3d over the three frames' features
  (:class:`~stanet_lib.nets.fusion.TemporalGate`);
* STA = ReLU(Conv1x1(Concat(SA, ST))) (Eq. 5);
* logits = Dec(STA) (B, 1, H, W): ``ModelConfig.sta_decoder="deconv"`` (default, paper: "a typical decoder with
  three de-convolutional layers"): three 4x4 stride-2 transposed convolutions, the encoder's stride 8 back to the
  input size (a final bilinear resize only when H or W is not a multiple of 8 or the stride is not 8);
  ``"skip"``: the released G1 decoder (audit §5.1): bilinear up-sampling to the two finer encoder levels, each
  concatenated with a 1x1 projection of frame t's features there, a 3x3 conv after each, a 1x1 conv to one map
  and a bilinear resize to the input size, with no non-linearity between the convs (as released).

Differences from the code's fusion (audit §5.1): Eq. 5 concatenates only SA and ST (the code also concatenated S)
and applies the ReLU after the 1x1 conv (the code had none). No category tag is needed at inference. The loss
(Eq. 6) is :func:`stanet_lib.train.losses.sta_step`; training and the pipeline stage are in
:mod:`stanet_lib.stages.sta`; inference with each frame's features computed once is
:func:`stanet_lib.nets.windows.predict_frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ModelConfig
from .encoders import AudioEncoder, init_weights, scaled_channels
from .fusion import AudioGate, TemporalGate
from .trunk import make_encoder, make_head

__all__ = ["DECODERS", "AUDIO_ATTENTIONS", "CLOSED_ATTENTIONS", "FrameFeatures", "STAOutput", "DeconvDecoder",
           "SkipDecoder", "ClassAudioAttention", "STANet"]


DECODERS = ("deconv", "skip")
AUDIO_ATTENTIONS = ("concat", "class")
CLOSED_ATTENTIONS = ("uniform", "picture")  # ClassAudioAttention with a closed switch (ModelConfig.sta_closed_att)


BLOCK_CHANNELS = (64, 128, 256, 512, 512)  # VGG16 conv blocks 1-5 (times ModelConfig.width)


class FrameFeatures(NamedTuple):
    """Per-frame encoder output: ``top`` (N, C, h, w), and for the skip decoder the two finer pyramid levels
    ``skips`` (coarse to fine, e.g. (N, C3, H/4, W/4), (N, C2, H/2, W/2)); ``()`` for the deconv decoder."""

    top: Tensor
    skips: tuple[Tensor, ...] = ()


class STAOutput(NamedTuple):
    """logits (B, 1, H, W) (sigmoid = the fixation map); sta (B, C, h, w) Eq. 5; sa, st (B, C, h, w) the two
    fused streams; temporal_gate sigmoid(T) (B, C, h, w); audio_att sigmoid(Att(A, S)) (B, 1, h, w);
    p (B,) the switch value used."""

    logits: Tensor
    sta: Tensor
    sa: Tensor
    st: Tensor
    temporal_gate: Tensor
    audio_att: Tensor
    p: Tensor


def _select(ff: FrameFeatures, idx: Tensor | slice) -> FrameFeatures:
    return FrameFeatures(ff.top[idx], tuple(s[idx] for s in ff.skips))


class DeconvDecoder(nn.Module):
    """Three 4x4 stride-2 transposed convolutions C -> C/2 -> C/4 -> 1 (BN + ReLU between them when the encoder
    has batch norm): x8 up-sampling, the encoder's stride 8 back to the input size."""

    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        c1, c2 = max(4, channels // 2), max(4, channels // 4)
        layers: list[nn.Module] = []
        for a, b in ((channels, c1), (c1, c2)):
            layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.ConvTranspose2d(c2, 1, 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)
        for m in self.net.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, skips: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        out = self.net(x)  # (B, 1, 8h, 8w)
        if tuple(out.shape[-2:]) != tuple(size):
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out


class SkipDecoder(nn.Module):
    """The released G1 decoder (audit §5.1): up -> cat(proj(skip_1)) -> 3x3, up -> cat(proj(skip_2)) -> 3x3,
    1x1 -> one map, bilinear to the input size; linear between the convs, as released."""

    def __init__(self, channels: int, skip_channels: Sequence[int]) -> None:
        super().__init__()
        d = max(4, channels // 2)
        self.proj = nn.ModuleList([nn.Conv2d(c, d, 1) for c in skip_channels])
        ins = [channels + d] + [2 * d] * (len(skip_channels) - 1)
        self.refine = nn.ModuleList([nn.Conv2d(c, d, 3, padding=1) for c in ins])
        self.predict = nn.Conv2d(d, 1, 1)
        init_weights(self)

    def forward(self, x: Tensor, skips: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        for proj, refine, skip in zip(self.proj, self.refine, skips):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = refine(torch.cat([x, proj(skip)], dim=1))
        return F.interpolate(self.predict(x), size=size, mode="bilinear", align_corners=False)


class ClassAudioAttention(nn.Module):
    """Att(A, S) of Eq. 4 from the heard category: gamma * z(sum_k q_k(A) M_k(S)) + beta (one logit map).

    q = softmax over the K categories of a trained audio tagger (its audio encoder and class layer: the clip's
    sound -> which category is heard); M_k = the class maps (Eq. 1 before xi) of a trained S net's head and class
    layer on the STA encoder's features of frame t (where each category is seen); z removes each map's spatial
    mean and divides by the sample's standard deviation over all K maps. Both nets are frozen (eval mode, no
    gradient): only gamma and beta train. It is SCAM's tag-selected class map (Eq. 2) with the tag replaced by the
    category the sound says, which the STA net must find without a tag.

    Why (the demo, docs/record.md): Eq. 4's Att, two 1 x 1 convs on [S, A], saturates on the trunk's features
    (sigmoid(Att) all but binary over space), so its gradient is near zero and the STA net never learnt to use the
    sound. The switch enters as the G2a code places it, on what the audio says (``site="audio"``: q is taken as
    p * q + (1 - p) / K, so a closed switch weighs every category alike: the objects are attended, none by its
    sound; with ``ModelConfig.sta_closed_att="picture"``, p * q + (1 - p) * softmax(mean M), the S net's own
    posterior of frame t, so a closed switch attends to what the picture shows, as G2a's Att(0 * A, S) is S's own
    attention), or as G1's gate (``site="gate"``: p times the attention, in :class:`~stanet_lib.nets.fusion.AudioGate`).
    Two other closed states were measured on the demo (stage 05 alone): the tagger's embedding times p (G2a's
    switch * A: q = softmax of the class layer's bias, which favours some categories) and p times the whole term
    (a constant attention). On SynthAV_b's two noise videos the closed net scored below the one forced open with
    all three (CC 0.437 vs 0.442 on seed 4 for the first; 0.429 vs 0.443 and 0.440 vs 0.447 on seeds 4 and 0 for
    the second; 0.430 vs 0.443 and 0.441 vs 0.448 for this one); this one is kept because it favours no category.
    """

    def __init__(self, channels: int, num_classes: int, cfg: ModelConfig) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"sta_audio_att='class' needs the number of categories (num_classes >= 1), got "
                             f"{num_classes}")
        self.audio = AudioEncoder(cfg.audio_channels)  # the tagger's (loaded by stages.sta.init_class_attention)
        self.audio_classifier = nn.Conv2d(cfg.audio_channels, num_classes, 1)
        self.head = make_head(cfg, channels)  # the S net's head and class layer
        self.classifier = nn.Conv2d(self.head.out_channels, num_classes, 1)
        for p in self.parameters():
            p.requires_grad_(False)
        if cfg.sta_closed_att not in CLOSED_ATTENTIONS:
            raise ValueError(f"ModelConfig.sta_closed_att must be one of {CLOSED_ATTENTIONS}, got "
                             f"{cfg.sta_closed_att!r}")
        self.closed = cfg.sta_closed_att
        self.gamma = nn.Parameter(torch.tensor(2.0))
        self.beta = nn.Parameter(torch.tensor(0.0))

    def train(self, mode: bool = True) -> ClassAudioAttention:
        super().train(mode)
        for part in (self.audio, self.audio_classifier, self.head, self.classifier):
            part.eval()  # frozen, batch norm statistics included
        return self

    def heard(self, audio: Tensor) -> Tensor:
        """(B, K) the tagger's category posterior of the sound."""
        e = self.audio.embed(audio)
        return torch.softmax(self.audio_classifier(e[:, :, None, None]).flatten(1).float(), dim=1)

    def forward(self, s: Tensor, audio: Tensor, p: Tensor) -> Tensor:
        """s (B, C, h, w) frame t's encoder features, audio (B, 1, F, S), p (B,) the trust in the sound (p_switch at
        ``site="audio"``, else 1) -> Att logits (B, 1, h, w)."""
        with torch.no_grad():
            p = p.float().view(-1, 1)
            m = self.classifier(self.head(s)).float()  # (B, K, h, w)
            closed = (torch.softmax(m.mean(dim=(2, 3)), dim=1) if self.closed == "picture"
                      else torch.full_like(m[:, :, 0, 0], 1.0 / m.shape[1]))
            q = p * self.heard(audio) + (1 - p) * closed  # (B, K)
            m = m - m.mean(dim=(2, 3), keepdim=True)
            m = m / (m.flatten(1).std(dim=1).view(-1, 1, 1, 1) + 1e-6)
            r = (q[:, :, None, None] * m).sum(dim=1, keepdim=True)
        return self.gamma * r.to(s.dtype) + self.beta


class STANet(nn.Module):
    """STA fixation prediction net (Fig. 6-D). Inputs: ``frames`` (B, 3, 3, H, W) = [B, T, C, H, W] (t-1, t, t+1)
    in [0, 1], ``audio`` (B, 1, F, S) of frame t, ``switch`` (B,) p_switch in [0, 1] or None (gate open).
    ``num_classes``: the K categories, needed only with ``cfg.sta_audio_att="class"`` (:class:`ClassAudioAttention`).

    Example:
        >>> net = STANet(ModelConfig(width=1 / 16, audio_channels=8)).eval()
        >>> out = net(torch.rand(2, 3, 3, 32, 32), torch.randn(2, 1, 64, 101), torch.tensor([0.2, 0.9]))
        >>> out.logits.shape  # (2, 1, 32, 32)
    """

    def __init__(self, cfg: ModelConfig | None = None, num_classes: int = 0) -> None:
        super().__init__()
        cfg = cfg or ModelConfig()
        if cfg.sta_decoder not in DECODERS:
            raise ValueError(f"ModelConfig.sta_decoder must be one of {DECODERS}, got {cfg.sta_decoder!r}")
        if cfg.sta_audio_att not in AUDIO_ATTENTIONS:
            raise ValueError(f"ModelConfig.sta_audio_att must be one of {AUDIO_ATTENTIONS}, got {cfg.sta_audio_att!r}")
        self.decoder_kind, self.hard_switch = cfg.sta_decoder, cfg.hard_switch
        self.encoder = make_encoder(cfg)
        c = self.encoder.out_channels
        # modules made in the same order as before the class attention, so "concat" draws the same initial weights
        self.class_att: ClassAudioAttention | None = None
        if cfg.sta_audio_att == "concat":
            self.audio = AudioEncoder(cfg.audio_channels)
        self.temporal = TemporalGate(c, cfg.fusion_relu)
        if cfg.sta_audio_att == "class":  # the tagger's audio encoder, inside the attention; no Att convs
            self.class_att = ClassAudioAttention(c, num_classes, cfg)
        self.audio_gate = AudioGate(c, cfg.audio_channels, cfg.sta_switch_site, learned=self.class_att is None,
                                    relu=cfg.fusion_relu)
        self.fuse = nn.Conv2d(2 * c, c, 1)  # Eq. 5: Cov(Con(SA, ST))
        init_weights(self.temporal)
        init_weights(self.audio_gate)
        init_weights(self.fuse)
        self.head = make_head(cfg, c)  # trained layers after the fusion (frozen-trunk encoders), else none
        c = self.head.out_channels
        # pyramid block i has stride min(2**i, output_stride); the skip decoder takes the two finer than the top
        self.skip_levels = [i for i in range(5) if 2 ** i < cfg.output_stride][-2:][::-1]  # coarse to fine
        if cfg.sta_decoder == "deconv":
            self.decoder: nn.Module = DeconvDecoder(c, cfg.batch_norm)
        else:
            widths = [scaled_channels(v, cfg.width) for v in BLOCK_CHANNELS]
            self.decoder = SkipDecoder(c, [widths[i] for i in self.skip_levels])

    def encode(self, frames: Tensor) -> FrameFeatures:
        """(N, 3, H, W) frames in [0, 1] -> per-frame :class:`FrameFeatures` (computed once, reusable)."""
        if self.decoder_kind == "deconv":
            return FrameFeatures(self.encoder(frames))
        levels = self.encoder.pyramid(frames)  # block outputs, before their pool
        top = levels[4] if self.encoder.output_stride < 32 else F.max_pool2d(levels[4], 2, 2)
        return FrameFeatures(top, tuple(levels[i] for i in self.skip_levels))

    def _switch(self, switch: Tensor | None, b: int, ref: Tensor) -> Tensor:
        p = torch.ones(b, device=ref.device, dtype=ref.dtype) if switch is None else switch.to(ref.dtype)
        if p.shape != (b,):
            raise ValueError(f"switch must be (B,) = ({b},), got {tuple(p.shape)}")
        return (p > 0.5).to(ref.dtype) if self.hard_switch else p

    def forward_features(self, prev: FrameFeatures, centre: FrameFeatures, next: FrameFeatures, audio: Tensor,
                         switch: Tensor | None, out_size: tuple[int, int]) -> STAOutput:
        """Eq. 5 and the decoder from precomputed features of frames t-1, t, t+1 (each (B, C, h, w))."""
        s = centre.top  # (B, C, h, w)
        b = s.shape[0]
        if audio.dim() != 4 or audio.shape[0] != b:
            raise ValueError(f"audio must be (B, 1, F, S) with B = {b}, got {tuple(audio.shape)}")
        st, gate = self.temporal(torch.stack([prev.top, s, next.top], dim=1))  # (B, 3, C, h, w) -> (B, C, h, w)
        p = self._switch(switch, b, s)
        if self.class_att is not None:
            heard_p = p if self.audio_gate.site == "audio" else torch.ones_like(p)  # "gate": p scales the attention
            sa, att = self.audio_gate(s, None, p, logits=self.class_att(s, audio, heard_p))
        else:
            sa, att = self.audio_gate(s, self.audio.embed(audio), p)  # Eq. 4
        sta = self.head(F.relu(self.fuse(torch.cat([sa, st], dim=1))))  # Eq. 5, (B, C, h, w)
        logits = self.decoder(sta, centre.skips, tuple(out_size))  # (B, 1, H, W)
        return STAOutput(logits, sta, sa, st, gate, att, p)

    def forward(self, frames: Tensor, audio: Tensor, switch: Tensor | None = None) -> STAOutput:
        if frames.dim() != 5 or frames.shape[1] != 3:
            raise ValueError(f"STA expects frames (B, 3, 3, H, W) = [B, T, C, H, W], got {tuple(frames.shape)}")
        b, (h, w) = frames.shape[0], self.encoder.image_size(frames[:, 0])
        feats = self.encode(frames.flatten(0, 1))  # (B*3, ...): one shared encoder
        idx = torch.arange(b, device=frames.device) * 3
        return self.forward_features(_select(feats, idx), _select(feats, idx + 1), _select(feats, idx + 2),
                                     audio, switch, (h, w))
