"""stanet_lib.train.losses: the step functions against hand-computed losses (Eq. 6; class-weighted CE)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stanet_lib.nets.sta import STAOutput
from stanet_lib.train.losses import balanced_step, classification_step, sta_step


class Logits(torch.nn.Module):
    """A classifier returning fixed logits, so the losses can be checked by hand."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, frames: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.logits)


def test_classification_and_balanced_steps_are_cross_entropy() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    target = torch.tensor([0, 0, 1])
    batch = {"frames": torch.zeros(3), "target": target}
    res = classification_step(Logits(logits), batch)
    nll = -torch.log_softmax(logits, -1)[torch.arange(3), target]
    assert res.n == 3 and int(res.sums["acc"]) == 1 and torch.allclose(res.loss, nll.mean())
    w = torch.tensor([1.0, 4.0])  # the rare class (switch on) weighted up
    bal = balanced_step(w)(Logits(logits), batch)
    assert torch.allclose(bal.loss, (w[target] * nll).sum() / w[target].sum()) and int(bal.sums["acc"]) == 1
    assert not torch.allclose(bal.loss, res.loss)


def test_step_is_bce_with_logits_on_the_pseudo_target() -> None:
    class Fixed(torch.nn.Module):  # returns known logits, so the loss can be checked by hand
        def __init__(self, logits: torch.Tensor) -> None:
            super().__init__()
            self.logits = logits

        def forward(self, frames: torch.Tensor, audio: torch.Tensor) -> STAOutput:
            z = torch.zeros(1)
            return STAOutput(self.logits, z, z, z, z, z, z)

    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(2, 1, 4, 4, generator=g) * 3, torch.rand(2, 1, 4, 4, generator=g)
    res = sta_step(Fixed(logits), {"frames": torch.zeros(2), "audio": torch.zeros(2), "pseudo": target})
    q = torch.sigmoid(logits)  # Eq. 6 with Dec(STA) = sigmoid(logits), not sigmoid(sigmoid(logits))
    expected = -(target * q.log() + (1 - target) * (1 - q).log()).mean()
    assert res.n == 2 and torch.allclose(res.loss, expected, atol=1e-6)
    cc = sum(float(np.corrcoef(q[i].flatten(), target[i].flatten())[0, 1]) for i in range(2))
    assert float(res.sums["cc"]) == pytest.approx(cc, rel=1e-5)  # the training curve's val_cc
    with pytest.raises(ValueError, match="do not match"):
        sta_step(Fixed(logits), {"frames": 0, "audio": 0, "pseudo": target[..., :2]})
