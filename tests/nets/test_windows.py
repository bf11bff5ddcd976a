"""stanet_lib.speed / speed_bench: features-once inference equals the plain path, FLOP counts, bench targets."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from stanet_lib import bench, engine, pseudo, speed
from stanet_lib.config import ModelConfig, load_profile
from stanet_lib.datasets import FrameDataset
from stanet_lib.models import Classifier, VGG16Encoder
from stanet_lib.sta import STANet, predict_frames

MCFG = ModelConfig(width=1 / 16, audio_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def clips(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """prev / next of consecutive clips of the given lengths (clamped at each clip's ends)."""
    prev, nxt, off = [], [], 0
    for n in lengths:
        i = torch.arange(n)
        prev.append(off + (i - 1).clamp(min=0))
        nxt.append(off + (i + 1).clamp(max=n - 1))
        off += n
    return torch.cat(prev), torch.cat(nxt)


def frames(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_window_batches_list_each_needed_frame_once() -> None:
    prev, nxt = clips([5, 1, 7])
    wb = speed.window_batches(prev, nxt, 4)
    assert [c for c, _, _ in wb] == [slice(0, 4), slice(4, 8), slice(8, 12), slice(12, 13)]
    for centre, need, pos in wb:
        c = torch.arange(centre.start, centre.stop)
        assert torch.equal(need, torch.unique(torch.cat([prev[c], c, nxt[c]])))  # sorted, unique
        assert torch.equal(need[pos[0]], prev[c]) and torch.equal(need[pos[1]], c) and torch.equal(need[pos[2]], nxt[c])
    long_prev, long_next = clips([64])
    assert speed.encodes_per_frame(long_prev, long_next, 16) == pytest.approx((17 + 18 + 18 + 17) / 64)
    with pytest.raises(ValueError, match="batch"):
        speed.window_batches(prev, nxt, 0)
    with pytest.raises(ValueError, match="index vectors"):
        speed.window_batches(prev, nxt[:-1], 2)


def test_classifier_forward_features_is_the_forward_split() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 3, 32, 32)
    st = Classifier("ST", 4, MCFG).eval()
    with torch.no_grad():
        feats = torch.stack([st.encode(x[:, t]) for t in range(3)], 1)  # each frame encoded on its own
        a, b = st(x), st.forward_features(feats)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.cams, b.cams, rtol=1e-5, atol=1e-6)
    sa = Classifier("SA", 4, MCFG).eval()
    audio, p = torch.randn(2, 1, 64, 101), torch.tensor([0.3, 0.8])
    with torch.no_grad():
        assert torch.equal(sa(x[:, 1], audio, p).logits, sa.forward_features(sa.encode(x[:, 1]), audio, p).logits)
    with pytest.raises(ValueError, match=r"\(B, 3, C, h, w\)"):
        st.forward_features(feats[:, 0])


@pytest.mark.parametrize("batch", [4, 128])
def test_tag_cams_feature_reuse_equals_the_plain_path(batch: int) -> None:
    """Coarse ST CAMs: encoding each frame once per batch gives the per-window result (clip ends included)."""
    prev, nxt = clips([6, 1, 9])
    n = len(prev)
    engine.set_seed(1)
    net = Classifier("ST", 5, MCFG)
    tags = torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(2))
    ds = FrameDataset("ST", frames(n, 32), prev=prev, next=nxt, extra={"tag": tags})
    plain = pseudo.tag_cams(net, ds, batch_size=3, reuse=False, device="cpu")
    reused = pseudo.tag_cams(net, ds, batch_size=batch, reuse=True, device="cpu")
    assert reused.cams.shape == plain.cams.shape == (n, 4, 4)
    torch.testing.assert_close(reused.probs, plain.probs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(reused.cams, plain.cams, rtol=1e-4, atol=1e-5)
    assert net.training  # the mode is restored


@pytest.mark.parametrize("decoder", ["deconv", "skip"])
def test_sta_predict_equals_predict_frames(decoder: str) -> None:
    cfg = ModelConfig(width=1 / 16, audio_channels=8, sta_decoder=decoder)
    engine.set_seed(3)
    net = STANet(cfg)
    prev, nxt = clips([7, 2, 6])
    n = len(prev)
    imgs, audio = frames(n, 32, seed=4), torch.randn(n, 64, 101).half()
    sw = torch.rand(n, generator=torch.Generator().manual_seed(5))
    ref = predict_frames(net, imgs, audio, prev, nxt, sw, batch=4, device="cpu")
    for kw in ({"batch": 4, "chunk": 6}, {"batch": 16, "chunk": 2048}, {"batch": 5, "chunk": 7, "reuse": False}):
        out = speed.sta_predict(net, imgs, audio, prev, nxt, sw, device="cpu", **kw)
        assert out.shape == (n, 32, 32) and out.dtype == torch.float32
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    open_gate = speed.sta_predict(net, imgs, audio, prev, nxt, None, batch=8, device="cpu")
    torch.testing.assert_close(open_gate, predict_frames(net, imgs, audio, prev, nxt, None, device="cpu"),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="must have N"):
        speed.sta_predict(net, imgs, audio[:-1], prev, nxt, device="cpu")


def test_padded_batches_and_the_2d_temporal_gate() -> None:
    assert speed.padded(torch.tensor([4, 5, 6]), 4).tolist() == [4, 5, 6, 6, 6, 6]  # batch + 2
    assert len(speed.padded(torch.arange(7), 4)) == 8 and len(speed.padded(torch.arange(9), 4)) == 12
    assert len(speed.padded(torch.arange(13), 4)) == 13  # beyond 3 x batch: left as it is
    engine.set_seed(6)
    net = STANet(MCFG)
    prev, nxt = clips([5, 8])
    imgs, audio = frames(13, 32, seed=7), torch.randn(13, 64, 101).half()
    ref = predict_frames(net, imgs, audio, prev, nxt, device="cpu")
    net.temporal.as_2d = True  # the GPU form of the temporal Conv3d, forced on the CPU
    out = speed.sta_predict(net, imgs, audio, prev, nxt, batch=4, device="cpu", pad=True)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    x = torch.randn(2, 3, net.temporal.conv.in_channels, 5, 6)
    net.temporal.as_2d = False
    a = net.temporal(x)
    net.temporal.as_2d = True
    torch.testing.assert_close(net.temporal(x), a, rtol=1e-5, atol=1e-5)


def test_flop_counts() -> None:
    """VGG16 convolutions at 224 px (plain, stride 32): 15,346,630,656 multiply-adds, counted by hand."""
    with torch.device("meta"):
        enc = VGG16Encoder(width=1.0, output_stride=32)
        x = torch.rand(1, 3, 224, 224)
    assert speed.count_flops(lambda: enc(x)) == 2 * 15_346_630_656
    cfg = load_profile("paper")
    fl = speed.net_flops(cfg, 28, (64, 101))
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
    tb = speed.TimedBatches(loader, budget_s=0.0, min_batches=4)
    assert len(list(tb)) == 4 and tb.samples == 12 and tb.t_first is not None
    tb = speed.TimedBatches(loader, budget_s=1e9, min_batches=1, max_batches=6)
    assert len(list(tb)) == 6 and tb.samples == 18


def test_cpu_peak_is_not_computed() -> None:
    peak, note = speed.device_peak_tflops(torch.device("cpu"))
    assert peak is None and "CPU" in note
    assert speed.matmul_peak_tflops(torch.device("cpu")) is None
    mem, kind = speed.peak_memory_mb(torch.device("cpu"))
    assert mem > 10 and "RSS" in kind


def test_bench_targets_write_the_schema(tmp_path, capsys) -> None:
    """The three model targets at the smoke sizes, through the CLI entry (schema and ratios, not speed)."""
    args = argparse.Namespace(targets=["sta", "train", "scam", "loader"], profile="smoke", out_dir=tmp_path,
                              work_dir=None, quick=True, overrides=[], device="cpu", prefix="cpu_", no_compile=True,
                              trace=2, workers=0)
    assert bench.run_cli(args) == 0
    loader = json.loads((tmp_path / "cpu_loader.json").read_text())
    assert {m["name"] for m in loader["measures"]} == {"loader_coarse_S_w0_samples_per_s", "loader_STA_w0_samples_per_s"}
    assert all(r["batched"]["samples"] > 0 and r["per_sample"]["samples"] > 0 for r in loader["runs"].values())
    for target in ("sta", "train", "scam"):
        rep = json.loads((tmp_path / f"cpu_{target}.json").read_text())
        assert rep["target"] == target and rep["device"].startswith("cpu") and rep["measures"]
        for m in rep["measures"]:
            assert {"name", "value", "unit", "baseline_value", "speedup", "size", "batch"} <= set(m)
            assert m["value"] > 0 and m["baseline_value"] > 0
            assert m["speedup"] == pytest.approx(m["value"] / m["baseline_value"])
            assert m["peak_memory_mb"] > 0 and m["fraction_of_vendor_peak"] is None  # CPU: no peak
    sta = json.loads((tmp_path / "cpu_sta.json").read_text())
    names = {m["name"] for m in sta["measures"]}
    assert {"sta_infer_frames_per_s", "sta_feature_reuse", "sta_batching"} <= names
    assert sta["max_abs_diff_fast_vs_naive"] < 1e-4  # fp32 on the CPU: the same maps
    assert sta["flops_gflop"]["forward_per_frame"] > sta["flops_gflop"]["reuse_per_frame"]
    train = json.loads((tmp_path / "cpu_train.json").read_text())
    assert {m["name"] for m in train["measures"]} == {"train_coarse_S_samples_per_s", "train_STA_samples_per_s"}
    ops = train["runs"]["coarse_S"]["fast"]["top_ops"]  # --trace: where the time of 2 more steps went
    assert ops["by"] == "self_cpu_time_total" and 0 < ops["total_self_ms"] and len(ops["ops"]) > 3
    assert any("conv" in o["op"] for o in ops["ops"]) and all(o["calls"] >= 1 for o in ops["ops"])
    assert "bench sta: wrote" in capsys.readouterr().out
    args.targets, args.nets = ["train"], "STA"
    assert bench.run_cli(args) == 0  # --nets: a subset
    assert {m["name"] for m in json.loads((tmp_path / "cpu_train.json").read_text())["measures"]} == {
        "train_STA_samples_per_s"}
    args.nets = "fine_X"
    with pytest.raises(SystemExit, match="unknown"):
        bench.run_cli(args)


def test_fp32_math_turns_tf32_off_on_cuda_only_and_restores():
    """The naive baseline's arithmetic: IEEE fp32 (the released code's PyTorch 1.2 had no TF32)."""
    from stanet_lib.speed import fp32_math

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


def test_make_optimizer_fused_on_cuda_same_update_rule():
    from stanet_lib.config import TrainConfig
    from stanet_lib.engine import make_optimizer

    cfg = TrainConfig(lr=0.1, momentum=0.9, weight_decay=1e-3)
    torch.manual_seed(0)
    w0 = torch.randn(5, 4)
    grads = [torch.randn(5, 4) for _ in range(3)]
    out = {}
    for dev in ("cpu", "cuda"):  # "cuda": the fused kernel, run here on CPU tensors (same implementation family)
        p = torch.nn.Parameter(w0.clone())
        opt = make_optimizer([p], cfg, torch.device(dev))
        assert bool(opt.defaults["fused"]) == (dev == "cuda")
        for g in grads:
            p.grad = g.clone()
            opt.step()
        out[dev] = p.detach()
    assert not torch.equal(out["cpu"], w0)
    torch.testing.assert_close(out["cuda"], out["cpu"], rtol=1e-6, atol=1e-6)


def test_predict_frames_is_the_plain_windowed_forward_for_uint8_and_float_frames() -> None:
    """predict_frames (= speed.sta_predict) against the net's own forward over (t-1, t, t+1) windows."""
    engine.set_seed(8)
    net = STANet(MCFG).eval()
    prev, nxt = clips([4, 1, 5])
    n = len(prev)
    imgs, audio = frames(n, 32, seed=9), torch.randn(n, 64, 101).half()
    sw = torch.rand(n, generator=torch.Generator().manual_seed(10))
    win = torch.stack([imgs[prev], imgs, imgs[nxt]], 1).float() / 255.0
    with torch.no_grad():
        ref = torch.sigmoid(net(win, audio.float()[:, None], sw).logits)[:, 0]
    torch.testing.assert_close(predict_frames(net, imgs, audio, prev, nxt, sw, batch=3, device="cpu"), ref,
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(predict_frames(net, imgs.float() / 255.0, audio, prev, nxt, sw, device="cpu"), ref,
                               rtol=1e-4, atol=1e-5)
    assert predict_frames(net, imgs[:0], audio[:0], prev[:0], nxt[:0], device="cpu").shape == (0, 32, 32)
    with pytest.raises(ValueError, match="must have N"):
        predict_frames(net, imgs, audio[:-1], prev, nxt, device="cpu")
