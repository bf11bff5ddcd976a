"""The fusion blocks of the ST and SA nets (and of the STA net, Eq. 5): the temporal gate and the audio gate.

* ST: frames (t-1, t, t+1) through ONE shared encoder, Conv3d with kernel 3 over time (3 -> 1),
  ReLU(sigmoid(T) * S + S) with S the centre frame's features (G1 ``STcoarse_model.py``, permuted correctly).
* SA: Eq. 4 as the released G1 code applies it, ReLU(p_switch * sigmoid(Att(A, S)) * S + S), p_switch in
  [0, 1] per sample (soft switch); ``ModelConfig.hard_switch`` thresholds it at 0.5. Att is two 1x1 convs
  on the concatenation of S and the audio vector tiled over the map (the code up-sampled the audio vector
  with transposed convs to one fixed map size, which broke at other input sizes, audit §2.1).
  ``site="audio"`` (the STA net's option ``ModelConfig.sta_switch_site``) moves p_switch onto the audio vector
  instead, as the G2a STANet code does (``extra_convs(switch * Aup)``, audit §3.3):
  ReLU(sigmoid(Att(p * A, S)) * S + S). A closed switch then leaves an attention computed from S alone, where
  the G1 form drops the attention block altogether.
* ``relu=False`` (``ModelConfig.fusion_relu``): the fusions without their last ReLU, (1 + gate) * S. On the paper's
  VGG16 features, outputs of a ReLU, S >= 0 and the two are the same map; on a frozen trunk's PCA-centred features
  (``ModelConfig.trunk``) S is signed, and the ReLU would drop every negative component that the S net's own head
  sees.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TemporalGate", "AudioGate", "neutral_gates"]


def _fuse(scale: Tensor, s: Tensor, relu: bool) -> Tensor:
    """ReLU(scale * S + S), the gates' shared form; without the ReLU when ``relu`` is False (``fusion_relu``)."""
    fused = scale * s + s
    return F.relu(fused) if relu else fused


class TemporalGate(nn.Module):
    """ST fusion: T = Conv3d over (t-1, t, t+1) collapsing time 3 -> 1; ReLU(sigmoid(T) * S + S).

    With exactly 3 frames and no temporal padding the Conv3d is one 2D convolution over the frames stacked on
    the channels (weight (C, C, 3, 3, 3) -> (C, 3C, 3, 3), the same sum): ``as_2d`` (default None = on CUDA)
    takes that form, which runs on the channels-last bf16 kernels of 2D convolutions. The CPU keeps the Conv3d.
    """

    def __init__(self, channels: int, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, kernel_size=3, padding=(0, 1, 1))
        self.as_2d: bool | None = None
        self.relu = relu

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
        return _fuse(gate, s, self.relu), gate

    def neutral_(self) -> None:
        """T = 0 everywhere: sigmoid(T) = 1/2, the fused map ReLU(1.5 S) (:func:`neutral_gates`)."""
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)


class AudioGate(nn.Module):
    """SA fusion, Eq. 4 as the G1 code: ReLU(p * sigmoid(Att(A, S)) * S + S), Att = 1x1 convs on [S, A].
    ``site="audio"``: ReLU(sigmoid(Att(p * A, S)) * S + S) (G2a's placement of the switch).
    ``learned=False``: no Att convs; the caller passes Att's logits (the STA net's
    :class:`~stanet_lib.nets.sta.ClassAudioAttention`, which applies ``site="audio"``'s p itself)."""

    def __init__(self, channels: int, audio_channels: int, site: str = "gate", learned: bool = True,
                 relu: bool = True) -> None:
        super().__init__()
        if site not in ("gate", "audio"):
            raise ValueError(f"AudioGate site must be 'gate' or 'audio', got {site!r}")
        self.site, self.relu = site, relu
        self.att = nn.Sequential(nn.Conv2d(channels + audio_channels, channels, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(channels, 1, 1)) if learned else None

    def forward(self, s: Tensor, a: Tensor | None, p: Tensor, logits: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
        """s (B, C, h, w), a (B, Ca), p (B,) -> (fused (B, C, h, w), attention sigmoid(Att) (B, 1, h, w)).
        ``logits`` (B, 1, h, w): Att's output computed by the caller (then ``a`` is not used)."""
        p = p.to(s.dtype).view(-1, 1, 1, 1)
        if logits is None:
            if self.att is None or a is None:
                raise ValueError("AudioGate(learned=False) needs the attention logits (B, 1, h, w)")
            if self.site == "audio":
                a = a * p.view(-1, 1)
            tiled = a[:, :, None, None].expand(-1, -1, *s.shape[-2:])  # (B, Ca, h, w)
            logits = self.att(torch.cat([s, tiled], dim=1))
        att = torch.sigmoid(logits)  # (B, 1, h, w)
        return _fuse(att if self.site == "audio" else p * att, s, self.relu), att

    def neutral_(self) -> None:
        """Att = 0 everywhere (its last 1x1 conv at zero): sigmoid(Att) = 1/2, the fused map ReLU((1 + p / 2) S)
        (``site="audio"``: ReLU(1.5 S), p then reaching Att's input only)."""
        if self.att is not None:
            nn.init.zeros_(self.att[-1].weight)
            nn.init.zeros_(self.att[-1].bias)


def neutral_gates(model: nn.Module) -> int:
    """Start every temporal and audio gate of ``model`` neutral (``neutral_``): 1/2 at every place and channel, so
    the gate has no spatial preference at the start (:meth:`TemporalGate.neutral_`, :meth:`AudioGate.neutral_`;
    without the ReLU under ``fusion_relu=False``) and departs from it only where the loss asks
    (``TrainConfig.branch_tune``). Returns the number of gates set."""
    gates = [m for m in model.modules() if isinstance(m, (TemporalGate, AudioGate))]
    for gate in gates:
        gate.neutral_()
    return len(gates)
