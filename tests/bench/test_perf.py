"""stanet_lib.bench.perf: FLOP counts (VGG16 by hand), the timed batch iterator, CPU peaks, fp32 arithmetic for
the naive baselines."""

from __future__ import annotations

import pytest
import torch

from stanet_lib.bench import perf
from stanet_lib.bench.perf import fp32_math
from stanet_lib.config import load_profile
from stanet_lib.nets.encoders import VGG16Encoder


def test_flop_counts() -> None:
    """VGG16 convolutions at 224 px (plain, stride 32): 15,346,630,656 multiply-adds, counted by hand."""
    with torch.device("meta"):
        enc = VGG16Encoder(width=1.0, output_stride=32)
        x = torch.rand(1, 3, 224, 224)
    assert perf.count_flops(lambda: enc(x)) == 2 * 15_346_630_656
    cfg = load_profile("paper")
    fl = perf.net_flops(cfg, 28, (64, 101))
    assert set(fl) == {"coarse_S", "coarse_ST", "coarse_SA", "fine_S", "fine_ST", "fine_SA", "STA"}
    for name, f in fl.items():
        assert f["reuse_per_frame"] <= f["forward_per_frame"] < f["train_per_sample"], name
    for stage in ("coarse", "fine"):
        s, st = fl[f"{stage}_S"], fl[f"{stage}_ST"]
        assert s["reuse_per_frame"] == pytest.approx(s["forward_per_frame"])
        h = getattr(cfg.model, f"{stage}_size") // 8  # feature map side at output stride 8
        conv3d = 2 * 512 * 512 * 27 * h * h / 1e9  # the temporal gate, 3x3x3 over 512 channels
        assert st["reuse_per_frame"] - s["forward_per_frame"] == pytest.approx(conv3d, rel=1e-3)
        assert st["forward_per_frame"] / st["reuse_per_frame"] > 2.5  # the encoder dominates
    ratio = fl["fine_S"]["encoder_per_frame"] / fl["coarse_S"]["encoder_per_frame"]
    assert ratio == pytest.approx((356 / 256) ** 2, rel=0.03)  # convolutions scale with the pixels



def test_timed_batches_stops_on_budget_and_counts_samples() -> None:
    loader = [{"index": torch.arange(3)} for _ in range(10)]
    tb = perf.TimedBatches(loader, budget_s=0.0, min_batches=4)
    assert len(list(tb)) == 4 and tb.samples == 12 and tb.t_first is not None
    tb = perf.TimedBatches(loader, budget_s=1e9, min_batches=1, max_batches=6)
    assert len(list(tb)) == 6 and tb.samples == 18



def test_cpu_peak_is_not_computed() -> None:
    peak, note = perf.device_peak_tflops(torch.device("cpu"))
    assert peak is None and "CPU" in note
    assert perf.matmul_peak_tflops(torch.device("cpu")) is None
    mem, kind = perf.peak_memory_mb(torch.device("cpu"))
    assert mem > 10 and "RSS" in kind



def test_fp32_math_turns_tf32_off_on_cuda_only_and_restores():
    """The naive baseline's arithmetic: IEEE fp32 (the released code's PyTorch 1.2 had no TF32)."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with fp32_math(torch.device("cuda")):
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        with fp32_math(torch.device("cpu")), fp32_math(torch.device("cuda"), enabled=False):
            assert torch.backends.cudnn.allow_tf32  # nothing to change
        with pytest.raises(RuntimeError), fp32_math(torch.device("cuda")):
            raise RuntimeError("boom")
        assert torch.backends.cudnn.allow_tf32  # restored after an error too
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
