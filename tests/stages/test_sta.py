"""stanet_lib.sta: the STA net (Eq. 5, both decoders), the loss (Eq. 6), features-once inference, and the stage
on a smoke world (predictions as arrays and in the STAViS results layout, evaluated)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from stanet_lib import cache, engine, evaluation, pseudo, sta, stages, synth
from stanet_lib.artefacts import write_npz
from stanet_lib.config import ModelConfig, load_profile
from stanet_lib.evaluation import EvalOptions
from stanet_lib.models import Classifier
from stanet_lib.stavis import StavisRoot, db_key

MCFG = ModelConfig(width=1 / 16, audio_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def batch(b: int = 2, h: int = 32, w: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, 3, h, w, generator=g), torch.randn(b, 1, 64, 101, generator=g)


def net(decoder: str = "deconv", seed: int = 0, **kw) -> sta.STANet:
    engine.set_seed(seed)
    return sta.STANet(dataclasses.replace(MCFG, sta_decoder=decoder, **kw))


# ----------------------------------------------------------------------------------------------- the model


@pytest.mark.parametrize("decoder", sta.DECODERS)
@pytest.mark.parametrize("hw", [(32, 32), (40, 36)])
def test_shapes_finite_and_trainable(decoder: str, hw: tuple[int, int]) -> None:
    model = net(decoder)
    frames, audio = batch(3, *hw)
    out = model(frames, audio, torch.tensor([0.0, 0.5, 1.0]))
    c, h8, w8 = model.encoder.out_channels, hw[0] // 8, hw[1] // 8
    assert out.logits.shape == (3, 1, *hw)
    assert out.sta.shape == out.sa.shape == out.st.shape == out.temporal_gate.shape == (3, c, h8, w8)
    assert out.audio_att.shape == (3, 1, h8, w8)
    assert torch.isfinite(out.logits).all()
    out.logits.mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.encoder.features[0].weight.grad.abs().sum() > 0  # the loss reaches the shared encoder


def test_deconv_decoder_is_three_transposed_convs_back_to_the_input_size() -> None:
    model = net("deconv")
    deconvs = [m for m in model.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(deconvs) == 3 and all(m.stride == (2, 2) for m in deconvs) and deconvs[-1].out_channels == 1
    x = torch.randn(1, model.encoder.out_channels, 4, 5)
    assert model.decoder.net(x).shape == (1, 1, 32, 40)  # x8 exactly, no resize needed at stride 8


def test_skip_decoder_uses_the_two_finer_encoder_levels() -> None:
    model = net("skip").eval()
    frames, _ = batch(1, 32, 32)
    ff = model.encode(frames[:, 1])
    assert [s.shape[-1] for s in ff.skips] == [8, 16]  # H/4 then H/2 (the code: layer3 then layer2)
    assert torch.allclose(ff.top, model.encoder(frames[:, 1]))


@pytest.mark.parametrize("decoder", sta.DECODERS)
def test_eq5_fusion_known_answers(decoder: str) -> None:
    model = net(decoder).eval()
    frames, audio = batch(2)
    with torch.no_grad():
        s = model.encoder(frames[:, 1])  # (B, C, h, w) the spatial stream of frame t
        closed = model(frames, audio, torch.zeros(2))
        opened = model(frames, audio, torch.ones(2))
        default = model(frames, audio, None)
        att = opened.audio_att
        st_expected = F.relu(opened.temporal_gate * s + s)
        sta_expected = F.relu(model.fuse(torch.cat([opened.sa, opened.st], 1)))
    assert torch.allclose(closed.sa, F.relu(s))  # p = 0: SA = ReLU(S), the audio term vanishes
    assert torch.allclose(opened.sa, F.relu(att * s + s), atol=1e-6)  # p = 1: ReLU(sigmoid(Att) * S + S)
    assert not torch.allclose(closed.sa, opened.sa)  # the switch matters
    assert torch.allclose(closed.st, opened.st) and torch.allclose(opened.st, st_expected, atol=1e-6)
    assert torch.allclose(opened.sta, sta_expected, atol=1e-6) and (opened.sta >= 0).all()  # Eq. 5
    assert torch.allclose(default.logits, opened.logits)  # switch=None = gate open


def test_audio_changes_the_output_only_through_the_open_gate() -> None:
    model = net().eval()
    frames, audio = batch(2)
    other = torch.randn_like(audio)
    with torch.no_grad():
        for p, same in ((torch.zeros(2), True), (torch.ones(2), False)):
            a, b = model(frames, audio, p).logits, model(frames, other, p).logits
            assert torch.allclose(a, b) == same


def test_hard_switch_thresholds_at_half() -> None:
    model = net(hard_switch=True).eval()
    frames, audio = batch(2)
    with torch.no_grad():
        out = model(frames, audio, torch.tensor([0.4, 0.6]))
    assert out.p.tolist() == [0.0, 1.0]


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="sta_decoder"):
        sta.STANet(dataclasses.replace(MCFG, sta_decoder="unet"))
    model = net()
    frames, audio = batch(2)
    with pytest.raises(ValueError, match=r"\(B, 3, 3, H, W\)"):
        model(frames[:, 1], audio)
    with pytest.raises(ValueError, match="switch must be"):
        model(frames, audio, torch.ones(3))


@pytest.mark.parametrize("decoder", sta.DECODERS)
def test_features_once_equals_the_plain_forward(decoder: str) -> None:
    model = net(decoder).eval()
    g = torch.Generator().manual_seed(1)
    n = 7
    images = (torch.rand(n, 3, 32, 32, generator=g) * 255).round().to(torch.uint8)
    audio = torch.randn(n, 64, 101, generator=g)
    prev = torch.tensor([0, 0, 1, 2, 4, 4, 5])  # two clips: frames 0-3 and 4-6, clamped at their ends
    nxt = torch.tensor([1, 2, 3, 3, 5, 6, 6])
    p = torch.rand(n, generator=g)
    fast = sta.predict_frames(model, images, audio, prev, nxt, p, batch=3, device="cpu")
    x = images.float() / 255
    with torch.no_grad():
        plain = torch.sigmoid(model(torch.stack([x[prev], x, x[nxt]], 1), audio[:, None], p).logits)[:, 0]
    assert fast.shape == (n, 32, 32)
    assert torch.allclose(fast, plain, atol=1e-5)


def test_step_is_bce_with_logits_on_the_pseudo_target() -> None:
    class Fixed(torch.nn.Module):  # returns known logits, so the loss can be checked by hand
        def __init__(self, logits: torch.Tensor) -> None:
            super().__init__()
            self.logits = logits

        def forward(self, frames: torch.Tensor, audio: torch.Tensor) -> sta.STAOutput:
            z = torch.zeros(1)
            return sta.STAOutput(self.logits, z, z, z, z, z, z)

    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(2, 1, 4, 4, generator=g) * 3, torch.rand(2, 1, 4, 4, generator=g)
    res = sta.sta_step(Fixed(logits), {"frames": torch.zeros(2), "audio": torch.zeros(2), "pseudo": target})
    q = torch.sigmoid(logits)  # Eq. 6 with Dec(STA) = sigmoid(logits), not sigmoid(sigmoid(logits))
    expected = -(target * q.log() + (1 - target) * (1 - q).log()).mean()
    assert res.n == 2 and torch.allclose(res.loss, expected, atol=1e-6)
    with pytest.raises(ValueError, match="do not match"):
        sta.sta_step(Fixed(logits), {"frames": 0, "audio": 0, "pseudo": target[..., :2]})


def test_resize_targets() -> None:
    maps = np.zeros((2, 64, 64), np.float16)
    maps[0] = 0.5
    maps[1, 16:48, 16:48] = 1.0
    out = sta.resize_targets(maps, 32)
    assert out.shape == (2, 1, 32, 32) and out.dtype == torch.float16
    assert torch.allclose(out[0].float(), torch.full((1, 32, 32), 0.5))
    assert out[1].max() == 1.0 and out[1, 0, 0, 0] == 0.0 and 0.24 < out[1].float().mean() < 0.26


# --------------------------------------------------------------------------------------------- the stage


def _blobs(fs, seed: int) -> np.ndarray:
    """A Gaussian blob per frame, moving within each clip: stand-in pseudo-fixations."""
    rng = np.random.default_rng(seed)
    s = fs.canvas
    yy, xx = np.mgrid[0:s, 0:s]
    out = np.zeros((len(fs), s, s), np.float32)
    for _, idx in fs.clips():
        y0, x0 = rng.uniform(0.25, 0.75, 2) * s
        for j, i in enumerate(idx):
            out[i] = np.exp(-((yy - y0 - j) ** 2 + (xx - x0) ** 2) / (2 * (0.08 * s) ** 2))
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> stages.World:
    """A smoke world (synthetic data + cache) with stand-ins for the stage 02 and 04 artefacts the STA stage
    reads (switch.npz, maps/fine_<set>.npz in the format pseudo.save_maps writes): seconds instead of minutes."""
    root = tmp_path_factory.mktemp("sta_world")
    cfg = load_profile("smoke", **{"train.progress": False, "eval.sauc_splits": 10})
    synth.generate(cfg, root / "synthetic" / "smoke", progress=False)
    cache.prepare(cfg, root / "synthetic/smoke/ave", root / "synthetic/smoke/stavis", root / "cache" / "smoke")
    w = stages.open_world(cfg, root)
    rng = np.random.default_rng(0)
    write_npz(w.runs / "switch.npz", **{k.replace(":", "__"): rng.uniform(0, 1, len(fs)).astype(np.float32)
                                        for k, fs in w.sets.items()})
    engine.set_seed(1)  # a coarse S net to initialise the STA encoder from (train.sta_encoder_init)
    w.net_dir("coarse_S").mkdir(parents=True)
    torch.save({"model": Classifier("S", w.num_classes, cfg.model).state_dict()}, w.net_dir("coarse_S") / "best.pt")
    for i, (name, fs) in enumerate(w.sets.items()):
        valid = np.ones(len(fs), bool)
        valid[::5] = False  # some frames dropped by a hard filter
        pseudo.save_maps(w.maps_path("fine", name), fs, {"pseudo": torch.from_numpy(_blobs(fs, i)),
                                                         "valid": torch.from_numpy(valid)})
    return w


@pytest.fixture(scope="module")
def staged(world, tmp_path_factory):
    """stage_sta run once; records the sample indices the training steps saw."""
    seen: dict[str, set[int]] = {"train": set()}
    real_step = sta.sta_step

    def spy(model, b):
        if model.training:
            seen["train"].update(b["index"].tolist())
        return real_step(model, b)

    mp = pytest.MonkeyPatch()
    mp.setattr(sta, "sta_step", spy)
    try:
        tables = sta.stage_sta(world, seed=0, log=lambda m: None)
    finally:
        mp.undo()
    return tables, seen


def test_stage_trains_on_valid_frames_only(world, staged) -> None:
    _, seen = staged
    valid = pseudo.load_maps(world.maps_path("fine", "train"))["valid"]
    assert seen["train"] == set(np.flatnonzero(valid).tolist())  # both nets: every valid frame, no other
    for name in ("sta", "sta_noswitch"):
        d = world.net_dir(name)
        assert (d / "best.pt").is_file() and (d / "config.json").is_file()
        log = pd.read_csv(d / "log.csv")
        assert {"train_loss", "val_loss", "val_cc"} <= set(log.columns) and np.isfinite(log["val_loss"]).all()


def test_stage_writes_arrays_and_results_layout_that_evaluate(world, staged) -> None:
    tables, _ = staged
    size = world.cfg.model.sta_size
    assert set(tables["metrics"]["model"]) == set(sta.PREDICTION_VARIANTS)
    assert set(tables["metrics"]["db"]) == {s.split(":")[1] for s in world.test_sets()}
    assert np.isfinite(tables["metrics"][["AUC_J", "SIM", "sAUC", "CC", "NSS"]].to_numpy()).all()
    assert (world.runs / "tables" / "sta_metrics.csv").is_file()
    per_video = pd.read_csv(world.runs / "tables" / "sta_per_video.csv")
    assert set(per_video["model"]) == set(sta.PREDICTION_VARIANTS) and (per_video["status"] == "ok").all()
    opts = EvalOptions.from_config(world.cfg.eval)
    for set_name in world.test_sets():
        fs, db = world.sets[set_name], set_name.split(":")[1]
        maps = pseudo.load_maps(world.maps_path("sta", set_name))
        assert (maps["video"] == fs.meta["video"].astype(str).to_numpy()).all()
        assert (maps["number"] == fs.meta["number"].to_numpy()).all()
        for variant in sta.PREDICTION_VARIANTS:
            m = maps[variant]
            assert m.dtype == np.float16 and m.shape == (len(fs), size, size)
            assert np.isfinite(m).all() and m.min() > 0 and m.max() < 1  # sigmoid of the logits
        assert not np.array_equal(maps["sta"], maps["sta_gate_open"])  # p_switch is used
        # every test video has one results folder per fold listing it, one JPEG per frame
        root = world.runs / "predictions" / "sta"
        folds = StavisRoot(world.stavis_root).test_folds(db)
        for k, entries in folds.items():
            for e in entries:
                files = sorted((root / f"split{k}_results" / db_key(db) / e.name).glob("*.jpg"))
                assert [evaluation.frame_number(p.name) for p in files] == list(range(1, e.nframes + 1))
        from_jpeg = evaluation.evaluate_db(world.stavis_root, db, root, opts=opts)
        assert from_jpeg.missing == []
        row = tables["metrics"].query("model == 'sta' and db == @db").iloc[0]
        for metric in ("AUC_J", "CC", "NSS", "SIM"):  # 8-bit JPEG of map / max vs the float arrays
            assert from_jpeg.means[metric] == pytest.approx(row[metric], abs=0.02)


def test_stale_pseudo_maps_give_a_clear_error(world, tmp_path) -> None:
    bad = dataclasses.replace(world, runs=tmp_path)
    fs = world.sets["train"]
    maps = pseudo.load_maps(world.maps_path("fine", "train"))
    write_npz(bad.maps_path("fine", "train"), **{**maps, "number": maps["number"] + 1})
    with pytest.raises(ValueError, match=r"fine_train\.npz.*stale"):
        sta.load_targets(bad, "train", 32)
    with pytest.raises(FileNotFoundError, match="fine_val"):
        sta.load_targets(bad, "val", 32)
    assert len(fs) == len(maps["number"])


def test_rerun_resumes_only_with_the_same_config_and_inputs(world, staged) -> None:
    best = world.net_dir("sta") / "best.pt"
    before = best.stat().st_mtime_ns
    images = {k: sta.resized_frames(fs, world.cfg.model.sta_size) for k, fs in world.sets.items()}
    _, fit = sta.train_sta(world, "sta", True, images)
    assert fit.resumed_from == world.cfg.train.epochs and best.stat().st_mtime_ns == before  # nothing retrained
    changed = dataclasses.replace(world, cfg=world.cfg.override(**{"train.lr": 0.01}))
    _, fit = sta.train_sta(changed, "sta", True, images)
    assert fit.resumed_from == 0 and best.stat().st_mtime_ns != before  # other config: trained from scratch
    _, fit = sta.train_sta(world, "sta", True, images, seed=1)
    assert fit.resumed_from == 0  # another seed: a fresh run, not a refused resume


def test_encoder_initialisation(world, tmp_path) -> None:
    model = sta.STANet(world.cfg.model)
    assert sta.init_encoder(model, world) == "coarse_S"
    ref = torch.load(world.net_dir("coarse_S") / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(v, ref[f"encoder.{k}"]) for k, v in model.encoder.state_dict().items())
    rand = dataclasses.replace(world, cfg=world.cfg.override(**{"train.sta_encoder_init": ""}))
    assert sta.init_encoder(sta.STANet(world.cfg.model), rand) == "random"
    missing = dataclasses.replace(world, runs=tmp_path)
    with pytest.raises(FileNotFoundError, match="coarse_S"):
        sta.init_encoder(model, missing)
    other = dataclasses.replace(world, cfg=world.cfg.override(**{"model.width": 0.125}))
    with pytest.raises(ValueError, match="does not fit the STA encoder"):
        sta.init_encoder(sta.STANet(other.cfg.model), other)


def test_samples_pair_the_window_with_the_centre_frames_target(world) -> None:
    """Eq. 6 on the centre frame t (the released code took frame t+1's pseudo-fixation)."""
    fs = world.sets["train"]
    images = sta.resized_frames(fs, 32)
    targets, _ = sta.load_targets(world, "train", 32)
    ds = sta.sta_dataset(fs, images, None, targets)
    k = int(fs.next[0])  # a frame with distinct neighbours
    sample = ds[k]
    assert torch.equal(sample["pseudo"], targets[k]) and not torch.equal(sample["pseudo"], targets[int(fs.next[k])])
    assert torch.equal((sample["frames"][1] * 255).round().to(torch.uint8), images[k])
    assert torch.equal((sample["frames"][2] * 255).round().to(torch.uint8), images[fs.next[k]])
