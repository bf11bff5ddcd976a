"""stanet_lib.bench.scam: one coarse + fine SCAM pass of the ``scam`` target (stages 03 and 04 after training, through
their own per-set functions) on a random frame set: feature reuse and the crops' device change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stanet_lib.bench.scam import scam_frameset, scam_pass
from stanet_lib.config import load_profile
from stanet_lib.nets.classifier import Classifier
from stanet_lib.stages.pseudo import STAGE_NETS
from stanet_lib.train.engine import set_seed

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_scam_pass_gives_the_same_pseudo_fixations_with_and_without_reuse() -> None:
    cfg = load_profile("smoke")
    nets = {}
    for stage in ("coarse", "fine"):
        for name, kind in STAGE_NETS.items():
            set_seed(len(nets))
            nets[f"{stage}_{name}"] = Classifier(kind, 3, cfg.model).eval()
    fs = scam_frameset(12, cfg.media.cache_size, cfg, clip=5)
    p_switch = np.random.default_rng(0).random(len(fs)).astype(np.float32)
    cpu = torch.device("cpu")
    fast = scam_pass(nets, fs, cfg, fs.labels % 3, p_switch, 8, True, False, cpu)
    plain = scam_pass(nets, fs, cfg, fs.labels % 3, p_switch, 3, False, False, cpu, on_device=False)
    assert fast.shape == (len(fs), cfg.media.cache_size, cfg.media.cache_size)
    assert bool((fast.flatten(1).amax(1) > 0).all())  # untrained nets at random init: no frame empty here
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)
