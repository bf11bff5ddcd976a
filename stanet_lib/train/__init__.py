"""Training: one loop for every net (:mod:`~stanet_lib.train.engine`: SGD, checkpoints, exact resume, run keys,
inference), the step functions (:mod:`~stanet_lib.train.losses`: cross entropy, the switch's weighted loss, Eq. 6),
and the DDP plumbing under ``torchrun`` (:mod:`~stanet_lib.train.distributed`).
"""

from .engine import FitResult, fit, predict
from .losses import StepResult, classification_step, sta_step

__all__ = ["fit", "FitResult", "predict", "StepResult", "classification_step", "sta_step"]
