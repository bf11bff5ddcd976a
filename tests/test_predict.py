"""``python -m stanet_lib predict``: any video with or without audio, clear errors, no partial outputs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from stanet_lib import cli, predict
from stanet_lib.artefacts import OUTPUT_MARKER, mark_output, write_json
from stanet_lib.config import load_profile
from stanet_lib.data import encode, media
from stanet_lib.data.audio import frame_features
from stanet_lib.data.frames import frames_for_sta
from stanet_lib.nets.classifier import audio_switch_net
from stanet_lib.nets.sta import STANet
from stanet_lib.paths import PROJ_ROOT
from stanet_lib.stages.sta import load_sta
from stanet_lib.train.engine import set_seed

W, H = 80, 60  # not square, not the canvas: the maps and overlays must come back at this size


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """``runs/smoke/nets/{sta,switch}/best.pt`` as the pipeline writes them (untrained smoke-size nets)."""
    root = tmp_path_factory.mktemp("predict_root")
    cfg = load_profile("smoke")
    nets = root / "runs" / "smoke" / "nets"
    set_seed(0)
    for name, model in (("sta", STANet(cfg.model)), ("switch", audio_switch_net(cfg.model))):
        (nets / name).mkdir(parents=True)
        torch.save({"model": model.state_dict()}, nets / name / "best.pt")
    write_json(nets / "sta" / "config.json", {"config": cfg.to_dict(), "use_switch": True})
    return root


def _video(path, audio: bool, fps: float = 10.0, seconds: float = 2.0):
    n = int(fps * seconds)
    yy, xx = np.mgrid[0:H, 0:W]
    frames = np.stack([np.where(((yy - 30) ** 2 + (xx - 10 - 3 * k) ** 2) < 64, 230, 40).astype(np.uint8)
                       for k in range(n)])[..., None].repeat(3, -1)  # a bright disc moving right
    sr = 22050
    wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)
    return encode.write_mp4(path, frames, fps, wave if audio else None, sample_rate=sr)


def _no_partials(folder) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") and "partial" in p.name]


def test_video_with_audio_default_checkpoint(data_root, tmp_path, capsys) -> None:
    video, out = _video(tmp_path / "clip.mp4", audio=True), tmp_path / "out"
    rc = cli.main(["predict", str(video), "--out", str(out), "--profile", "smoke", "--data-root", str(data_root)])
    assert rc == 0, capsys.readouterr().err
    z = np.load(out / "maps.npz")
    cfg = load_profile("smoke")
    t = int(2.0 * cfg.media.fps)  # sampled by timestamp at the profile's fps, not the file's 10 fps
    assert z["maps"].shape == (t, cfg.model.sta_size, cfg.model.sta_size) and z["maps"].dtype == np.float16
    assert np.allclose(z["times"], (np.arange(t) + 0.5) / cfg.media.fps)
    assert bool(z["audio_present"]) and ((z["p_switch"] > 0) & (z["p_switch"] < 1)).all()
    assert np.isfinite(z["maps"].astype(np.float32)).all()
    pngs = sorted((out / "maps").glob("map_*.png"))
    assert len(pngs) == t and Image.open(pngs[0]).size == (W, H)
    info = media.probe(out / "overlay.mp4")
    assert (info.width, info.height) == (W, H) and info.has_audio and info.audio_rate == cfg.media.sample_rate
    frames, _ = media.read_frames(out / "overlay.mp4", cfg.media.fps, None)
    assert len(frames) == t
    assert "no audio track" not in capsys.readouterr().out
    assert _no_partials(tmp_path)


def test_video_without_audio_every_frame(data_root, tmp_path, capsys) -> None:
    video, out = _video(tmp_path / "silent.mp4", audio=False, fps=8.0, seconds=1.5), tmp_path / "out"
    ckpt = data_root / "runs" / "smoke" / "nets" / "sta" / "best.pt"
    rc = cli.main(["predict", str(video), "--out", str(out), "--checkpoint", str(ckpt), "--profile", "smoke",
                   "--fps", "0"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "no audio track" in printed and "p_switch = 0" in printed
    z = np.load(out / "maps.npz")
    assert len(z["maps"]) == 12 and float(z["fps"]) == 8.0  # --fps 0: every frame of the file
    assert not bool(z["audio_present"]) and (z["p_switch"] == 0).all()
    assert not media.probe(out / "overlay.mp4").has_audio


def test_library_call_matches_features_once_path(data_root, tmp_path) -> None:
    """The maps ``predict`` writes are the STA net's output on the same frames (no silent re-scaling)."""
    video = _video(tmp_path / "clip.mp4", audio=True)
    ckpt = data_root / "runs" / "smoke" / "nets" / "sta" / "best.pt"
    cfg, use_switch = predict.resolve_config(load_profile("demo"), ckpt)  # config.json wins over the profile
    assert cfg.model.sta_size == load_profile("smoke").model.sta_size and use_switch
    res = predict.predict_video(video, tmp_path / "o", ckpt, cfg, use_switch=False, log=lambda m: None)
    z = np.load(tmp_path / "o" / "maps.npz")
    assert res.frames == len(z["maps"]) and (z["p_switch"] == 1).all()
    model = load_sta(ckpt, cfg.model).eval()
    frames, _ = media.read_frames(video, cfg.media.fps, cfg.media.cache_size)
    x = frames_for_sta(frames, cfg.model.sta_size).float() / 255
    wave, _, _ = media.read_audio(video, cfg.media.sample_rate)
    feats = torch.from_numpy(frame_features(wave, cfg.media.sample_rate, z["times"], cfg.audio))[:, None]
    i = torch.arange(len(x))
    with torch.no_grad():
        out = model(torch.stack([x[(i - 1).clamp(min=0)], x, x[(i + 1).clamp(max=len(x) - 1)]], 1), feats, None)
    assert np.allclose(z["maps"].astype(np.float32), torch.sigmoid(out.logits)[:, 0].numpy(), atol=2e-3)


def test_corrupt_video_clear_error_nothing_left(data_root, tmp_path, capsys) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    out = tmp_path / "out"
    rc = cli.main(["predict", str(bad), "--out", str(out), "--profile", "smoke", "--data-root", str(data_root)])
    err = capsys.readouterr().err
    assert rc != 0 and "broken.mp4" in err and "corrupt" in err
    assert not out.exists() and _no_partials(tmp_path)


def test_missing_checkpoint_names_the_file(tmp_path, capsys) -> None:
    video, out = _video(tmp_path / "clip.mp4", audio=True, seconds=0.5), tmp_path / "out"
    rc = cli.main(["predict", str(video), "--out", str(out), "--profile", "smoke", "--data-root",
                   str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc != 0 and str(tmp_path / "nowhere" / "runs" / "smoke" / "nets" / "sta" / "best.pt") in err
    assert not out.exists()


def test_existing_output_is_kept_unless_overwrite(data_root, tmp_path, capsys) -> None:
    video, out = _video(tmp_path / "clip.mp4", audio=True, seconds=0.5), tmp_path / "out"
    args = ["predict", str(video), "--out", str(out), "--profile", "smoke", "--data-root", str(data_root)]
    assert cli.main(args) == 0 and (out / OUTPUT_MARKER).is_file()
    (out / "extra.txt").write_text("x")
    assert cli.main(args) != 0 and "--overwrite" in capsys.readouterr().err and (out / "extra.txt").exists()
    assert cli.main([*args, "--overwrite"]) == 0  # a folder predict wrote (marker) is replaced
    assert (out / "maps.npz").exists() and not (out / "extra.txt").exists() and _no_partials(tmp_path)


def test_overwrite_never_deletes_a_folder_of_the_users(data_root, tmp_path, capsys) -> None:
    video, mine = _video(tmp_path / "clip.mp4", audio=True, seconds=0.5), tmp_path / "my_results"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    rc = cli.main(["predict", str(video), "--out", str(mine), "--profile", "smoke", "--data-root", str(data_root),
                   "--overwrite"])
    err = capsys.readouterr().err
    assert rc != 0 and (mine / "thesis.tex").read_text() == "years of work" and sorted(mine.iterdir()) == [
        mine / "thesis.tex"]
    assert err.count("\n") == 1 and err.startswith(f"error: {mine}: not a folder written by predict")
    (tmp_path / "a_file").write_text("mine")
    assert cli.main(["predict", str(video), "--out", str(tmp_path / "a_file"), "--profile", "smoke",
                     "--data-root", str(data_root), "--overwrite"]) != 0
    assert (tmp_path / "a_file").read_text() == "mine"


def test_a_killed_runs_partial_folder_is_removed_by_the_next_run(data_root, tmp_path, capsys) -> None:
    video, out = _video(tmp_path / "clip.mp4", audio=True, seconds=0.5), tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    left = tmp_path / f".out.partial-{dead.pid}"
    left.mkdir()
    mark_output(left)
    (left / "maps.npz").write_bytes(b"half")
    alive = tmp_path / f".out.partial-{os.getppid()}"  # a live process's folder is not touched
    alive.mkdir()
    mark_output(alive)
    foreign = tmp_path / f".out.partial-{dead.pid + 100000}"  # no marker: not the package's, kept
    foreign.mkdir()
    assert cli.main(["predict", str(video), "--out", str(out), "--profile", "smoke", "--data-root",
                     str(data_root)]) == 0
    assert not left.exists() and alive.exists() and foreign.exists()
    assert f"removed {left}" in capsys.readouterr().out


def test_exit_code_of_the_module_entry_point(tmp_path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    ckpt = tmp_path / "missing.pt"
    proc = subprocess.run([sys.executable, "-m", "stanet_lib", "predict", str(bad), "--out", str(tmp_path / "o"),
                           "--checkpoint", str(ckpt), "--no-switch"], cwd=PROJ_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "missing.pt" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_p_switch_is_averaged_over_the_configs_window(data_root, tmp_path, monkeypatch) -> None:
    """``model.switch_smoothing_s`` (from the STA net's config.json) averages p_switch as stage 02 does."""
    video = _video(tmp_path / "clip.mp4", audio=True)
    ckpt = data_root / "runs" / "smoke" / "nets" / "sta" / "best.pt"
    switch = data_root / "runs" / "smoke" / "nets" / "switch" / "best.pt"
    monkeypatch.setattr(predict, "_switch_probs", lambda path, cfg, canvas, feats, dev:
                        (np.arange(len(canvas)) % 2).astype(np.float32))  # 0, 1, 0, 1, ...: the frames disagree
    cfg, _ = predict.resolve_config(load_profile("smoke"), ckpt)
    for h, out in ((0.0, tmp_path / "raw"), (10.0, tmp_path / "mean")):
        predict.predict_video(video, out, ckpt, cfg.override(**{"model.switch_smoothing_s": h}), switch,
                              log=lambda m: None)
    raw, mean = np.load(tmp_path / "raw" / "maps.npz")["p_switch"], np.load(tmp_path / "mean" / "maps.npz")["p_switch"]
    np.testing.assert_array_equal(raw, np.arange(len(raw)) % 2)
    np.testing.assert_allclose(mean, np.full(len(raw), raw.mean()), rtol=1e-6)  # 10 s covers the 2 s video
