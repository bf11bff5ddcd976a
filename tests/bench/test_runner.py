"""stanet_lib.bench.runner: the model targets at the smoke sizes through the CLI entry (schema and ratios, not
speed): sta (stanet_lib.bench.infer), train and loader (bench.train), scam (bench.scam)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json

import pytest
import torch

from stanet_lib.bench import runner
from stanet_lib.nets.encoders import VGG16Encoder

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

MODEL_KEYS = {"name", "value", "unit", "baseline_value", "speedup", "size", "batch"}


def cli_args(out_dir, targets: list[str], **kw) -> argparse.Namespace:
    return argparse.Namespace(targets=targets, profile="smoke", out_dir=out_dir, work_dir=None, quick=True,
                              overrides=[], device="cpu", prefix="cpu_", no_compile=True, trace=2, workers=0, **kw)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """One CLI run of the sta, train and loader targets: (their JSON by target, what it printed)."""
    out = tmp_path_factory.mktemp("bench")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert runner.run_cli(cli_args(out, ["sta", "train", "loader"])) == 0
    return {t: json.loads((out / f"cpu_{t}.json").read_text()) for t in ("sta", "train", "loader")}, printed.getvalue()


def assert_model_measures(rep: dict, target: str) -> None:
    assert rep["target"] == target and rep["device"].startswith("cpu") and rep["measures"] and rep["commit"]
    for m in rep["measures"]:
        assert MODEL_KEYS <= set(m), m["name"]
        assert m["value"] > 0 and m["baseline_value"] > 0
        assert m["speedup"] == pytest.approx(m["value"] / m["baseline_value"])
        assert m["peak_memory_mb"] > 0 and m["fraction_of_vendor_peak"] is None  # CPU: no peak


def test_loader_target(reports) -> None:
    loader = reports[0]["loader"]
    assert {m["name"] for m in loader["measures"]} == {"loader_coarse_S_w0_samples_per_s", "loader_STA_w0_samples_per_s"}
    assert all(r["batched"]["samples"] > 0 and r["per_sample"]["samples"] > 0 for r in loader["runs"].values())


def test_sta_target(reports) -> None:
    sta, printed = reports[0]["sta"], reports[1]
    assert_model_measures(sta, "sta")
    names = {m["name"] for m in sta["measures"]}
    assert {"sta_infer_frames_per_s", "sta_feature_reuse", "sta_batching"} <= names
    assert sta["max_abs_diff_fast_vs_naive"] < 1e-4  # fp32 on the CPU: the same maps
    assert sta["flops_gflop"]["forward_per_frame"] > sta["flops_gflop"]["reuse_per_frame"]
    assert "bench sta: wrote" in printed and "sta_infer_frames_per_s:" in printed


def test_train_target_with_trace_and_net_subsets(reports, tmp_path) -> None:
    train = reports[0]["train"]
    assert_model_measures(train, "train")
    assert {m["name"] for m in train["measures"]} == {"train_coarse_S_samples_per_s", "train_STA_samples_per_s"}
    ops = train["runs"]["coarse_S"]["fast"]["top_ops"]  # --trace: where the time of 2 more steps went
    assert ops["by"] == "self_cpu_time_total" and 0 < ops["total_self_ms"] and len(ops["ops"]) > 3
    assert any("conv" in o["op"] for o in ops["ops"]) and all(o["calls"] >= 1 for o in ops["ops"])
    args = cli_args(tmp_path, ["train"], nets="STA")
    with contextlib.redirect_stdout(io.StringIO()):
        assert runner.run_cli(args) == 0  # --nets: a subset
    assert {m["name"] for m in json.loads((tmp_path / "cpu_train.json").read_text())["measures"]} == {
        "train_STA_samples_per_s"}
    args.nets = "fine_X"
    with pytest.raises(SystemExit, match="unknown"):
        runner.run_cli(args)


@pytest.fixture(scope="module")
def random_trunk(tmp_path_factory) -> str:
    """A VGG16 state_dict of random weights: a stand-in for the packaged trunk file (not needed here)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("trunk") / "vgg16.pt"
    torch.save(VGG16Encoder(1.0, 8, batch_norm=False).state_dict(), path)
    return str(path)


def test_model_targets_on_a_frozen_trunk(random_trunk, tmp_path) -> None:
    """The demo's layout, nets on a shared frozen trunk with the bilinear switch: the fast training runs take the
    cached trunk features, the naive ones frames lifted at every step; the switch is measured; the FLOP counts
    have the trunk in the forward from frames and not in training; the sta and scam targets run on frames (scam
    with the demo's smoothing of the pseudo-fixations over seconds, which reads each frame's time)."""
    args = cli_args(tmp_path, ["train", "sta", "scam"], nets="coarse_S,switch")
    args.overrides = [f"model.trunk={random_trunk}", "model.trunk_reduce=16", "model.switch_arch=bilinear",
                      "scam.smoothing_s=0.24"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert runner.run_cli(args) == 0
    train = json.loads((tmp_path / "cpu_train.json").read_text())
    assert_model_measures(train, "train")
    assert {m["name"] for m in train["measures"]} == {"train_coarse_S_samples_per_s", "train_switch_samples_per_s"}
    assert all("cached" in m["note"] for m in train["measures"])
    fl = train["flops_gflop"]
    assert {"switch", "STA"} <= set(fl)
    for name in ("coarse_S", "switch"):
        assert fl[name]["encoder_per_frame"] > fl[name]["train_per_sample"] > 0, name  # the trunk is not trained
    assert_model_measures(json.loads((tmp_path / "cpu_sta.json").read_text()), "sta")
    assert_model_measures(json.loads((tmp_path / "cpu_scam.json").read_text()), "scam")


def test_scam_target(tmp_path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert runner.run_cli(cli_args(tmp_path, ["scam"])) == 0
    assert_model_measures(json.loads((tmp_path / "cpu_scam.json").read_text()), "scam")


def test_unknown_target_is_refused(tmp_path) -> None:
    with pytest.raises(SystemExit, match="unknown bench target"):
        runner.run_cli(cli_args(tmp_path, ["sta", "nope"]))
    assert list(tmp_path.iterdir()) == []  # refused before any target ran
