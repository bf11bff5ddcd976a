"""What each net is trained on: the step functions of :func:`stanet_lib.train.engine.fit`.

A step function is ``step(model, batch) -> StepResult`` (loss, samples, metric sums). Batches are dicts; the
entries the model's ``forward`` names go in (:func:`stanet_lib.nets.runtime.model_inputs`).

* :func:`classification_step`: cross entropy on the tag (paper Fig. 6 "Loss1"), every classifier;
* :func:`balanced_step`: class-weighted cross entropy for the audio switch (paper §3.7);
* :func:`sta_step`: Eq. 6, binary cross entropy **with logits** against the **centre frame's** pseudo-fixation.
  Two bugs of the released code are deliberately *not* reproduced (``reference/original_code_audit.md`` §5.4):
  G1 applied ``BCEWithLogitsLoss`` to an already sigmoided output (predictions squashed to [0.5, 0.73]), and took
  the target from frame t+1 while predicting frame t.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nets.runtime import model_inputs

__all__ = ["StepResult", "StepFn", "classification_step", "balanced_step", "pearson", "sta_step"]


class StepResult(NamedTuple):
    """loss: scalar batch mean (back-propagated); n: samples in the batch; sums: per-batch metric sums,
    reported per epoch as sum / n (e.g. ``{"acc": number correct}``)."""

    loss: Tensor
    n: int
    sums: dict[str, Tensor | float]


StepFn = Callable[[nn.Module, Any], StepResult]


def classification_step(model: nn.Module, batch: Mapping[str, Any]) -> StepResult:
    """Cross entropy (paper Fig. 6 "Loss1") on ``batch["target"]`` (B,) long; sums ``acc`` = correct."""
    out = model(**model_inputs(model, batch))
    logits = out.logits if hasattr(out, "logits") else out
    target = batch["target"]
    loss = F.cross_entropy(logits.float(), target)
    return StepResult(loss, int(target.shape[0]), {"acc": (logits.argmax(-1) == target).sum()})

def balanced_step(weights: Tensor) -> StepFn:
    """Cross entropy with class weights (the released code balanced the switch labels by sub-sampling
    negatives, audit §3.2; weighting keeps every fragment)."""
    def step(model: torch.nn.Module, batch: dict) -> StepResult:
        out = model(**model_inputs(model, batch))
        target = batch["target"]
        loss = F.cross_entropy(out.logits.float(), target, weight=weights.to(out.logits.device))
        return StepResult(loss, int(target.shape[0]), {"acc": (out.logits.argmax(-1) == target).sum()})

    return step

def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample correlation of (B, ...) maps (a training-curve diagnostic, not the evaluation's CC)."""
    a, b = a.flatten(1), b.flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def sta_step(model: nn.Module, batch: dict) -> StepResult:
    """Eq. 6: BCE with logits against ``batch["pseudo"]`` (B, 1, H, W), the centre frame's pseudo-fixation.
    Also sums ``cc`` (per-sample correlation of sigmoid(logits) and the target) for the training curve."""
    out = model(**model_inputs(model, batch))
    logits, target = out.logits.float(), batch["pseudo"].float()
    if logits.shape != target.shape:
        raise ValueError(f"pseudo-fixation targets {tuple(target.shape)} do not match the logits "
                         f"{tuple(logits.shape)}")
    loss = F.binary_cross_entropy_with_logits(logits, target)
    with torch.no_grad():
        cc = pearson(torch.sigmoid(logits), target).sum()
    return StepResult(loss, int(target.shape[0]), {"cc": cc})
