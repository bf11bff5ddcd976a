"""stanet_lib.stages.classifiers (stage 02): the audio-switch labelling (paper §3.7), and the nets and switch
probabilities the session's smoke pipeline wrote."""

from pathlib import Path

import numpy as np
import pytest
import torch

from stanet_lib.artefacts import write_npz
from stanet_lib.stages.classifiers import (
    Tagger,
    repaired_fragments,
    separation_auc,
    smoothed_switch,
    switch_class_weights,
    switch_labels,
    switch_report,
)
from stanet_lib.stages.world import audio_truth, load_switch
from tests.frame_fixtures import frameset


def test_switch_labels_top1_identical_to_tag():
    tagger = Tagger(lambda a: a, ["dog", "cat", "car"], mapping={"Bark": ["dog"], "Race car": ["car", "cat"]})
    match = tagger.matches(["Bark", "Race car", "cat"])
    assert match.tolist() == [[True, False, False], [False, True, True], [False, True, False]]
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3]])
    tags = np.array([0, 1, 2, 2])
    assert switch_labels(probs, tags, match).tolist() == [1, 1, 0, 1]
    # train.switch_label_min_p: a top-1 below it is no category (silence, noise), so label 0 even where it is the tag
    assert switch_labels(probs, tags, match, min_p=0.55).tolist() == [1, 1, 0, 0]
    assert switch_labels(probs, tags, match, min_p=0.5).tolist() == [1, 1, 0, 1]  # at least min_p counts
    with pytest.raises(KeyError, match="horse"):
        Tagger(lambda a: a, ["dog"], {"Horse": ["horse"]}).matches(["Horse"])


def test_repaired_fragments_positive_only_for_matching_audio_of_the_frames_category():
    fs = frameset(n_clips=4, t=3)
    fs.labels[:] = torch.tensor([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1])  # clips 0, 2 of tag 0; clips 1, 3 of tag 1
    labels = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1])  # clip 2's audio is not its tag's sound (noise, say)
    frames, audio, y = repaired_fragments(fs, labels, per_frame=4, seed=0)
    assert len(frames) == 4 * len(fs)
    clip = fs.meta["clip"].to_numpy()
    tags = fs.labels.numpy()
    assert (clip[frames] != clip[audio]).all()  # always another clip's audio
    same = tags[frames] == tags[audio]
    assert same.any() and (~same).any()
    assert (y[~same] == 0).all()  # another category's sound never matches
    assert (y[same] == labels[audio[same]]).all()  # the same category's: positive iff that audio matched its tag
    assert (y[same & (clip[audio] == 2)] == 0).all() and (y[same & (clip[audio] == 0)] == 1).all()
    with pytest.raises(ValueError, match="one per frame"):
        repaired_fragments(fs, labels[:5], per_frame=2)


@pytest.mark.slow
def test_nets_and_switch_written(smoke_world):
    world = smoke_world
    for name in ("tagger/fold0", "tagger/fold1", "switch", "coarse_S", "coarse_ST", "coarse_SA", "coarse_SA_noswitch",
                 "fine_S", "fine_ST", "fine_SA", "fine_SA_noswitch"):
        assert (world.net_dir(name) / "best.pt").exists(), name
        assert (world.net_dir(name) / "log.csv").exists(), name
    p = load_switch(world)
    assert set(p) == set(world.sets)
    for name, fs in world.sets.items():
        assert p[name].shape == (len(fs),) and ((p[name] >= 0) & (p[name] <= 1)).all()


def test_separation_auc_is_the_rank_statistic():
    assert separation_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0], bool)) == 1.0
    assert separation_auc(np.array([0.1, 0.2, 0.9, 0.8]), np.array([1, 1, 0, 0], bool)) == 0.0
    assert separation_auc(np.array([0.5, 0.5]), np.array([1, 0], bool)) == 0.5  # a tie counts half
    assert np.isnan(separation_auc(np.array([0.3, 0.7]), np.array([1, 1], bool)))


def test_switch_report_on_every_frame_set(smoke_world):
    p = load_switch(smoke_world)
    for name in smoke_world.sets:
        row = switch_report(smoke_world, name, p[name], None)
        truth = audio_truth(smoke_world, name)
        assert row["switch_vs_truth_acc"] == float(((p[name] > 0.5) == truth).mean())
        assert row["matching_audio_rate"] == float(truth.mean())
        assert np.isnan(row["switch_auc"]) == (truth.all() or not truth.any())


def test_warm_start_copies_the_s_nets_shared_parts_and_keeps_the_gate(tmp_path):
    from stanet_lib.config import ModelConfig
    from stanet_lib.nets.classifier import build_model
    from stanet_lib.stages.classifiers import warm_start

    cfg = ModelConfig(width=1 / 16, audio_channels=8)
    torch.manual_seed(0)
    s = build_model("S", 5, cfg)
    torch.save({"model": s.state_dict()}, tmp_path / "best.pt")
    for kind, gate in (("ST", "temporal"), ("SA", "audio_gate")):
        torch.manual_seed(1)
        net = build_model(kind, 5, cfg)
        own_gate = {k: v.clone() for k, v in net.state_dict().items() if k.startswith(gate)}
        copied = warm_start(net, tmp_path / "best.pt")
        state = net.state_dict()
        assert copied and all(k.startswith(("encoder.", "head.", "classifier.")) for k in copied)
        for k, v in s.state_dict().items():
            torch.testing.assert_close(state[k], v)  # every S weight now in the net
        for k, v in own_gate.items():
            torch.testing.assert_close(state[k], v)  # the fusion block keeps its own initialisation
        assert own_gate
    other = build_model("S", 7, cfg)  # 7 classes: the classifier does not fit
    torch.save({"model": other.state_dict()}, tmp_path / "seven.pt")
    with pytest.raises(ValueError, match=r"seven\.pt: does not fit the ST net \(mismatched: classifier"):
        warm_start(build_model("ST", 5, cfg), tmp_path / "seven.pt")
    with pytest.raises(FileNotFoundError):
        warm_start(build_model("ST", 5, cfg), tmp_path / "none.pt")


def test_switch_class_weights_balanced_or_at_the_clips_label_rate():
    """train.switch_prior: "balanced" gives each class half the loss; "labels" keeps the clips' own share of label 1
    (0.78 here) whatever mix of re-paired fragments is added, and weighs every fragment alike without them."""
    clips = np.array([1] * 78 + [0] * 22)
    w = switch_class_weights(clips).numpy()
    assert np.isclose(78 * w[1], 22 * w[0])
    assert np.allclose(switch_class_weights(clips, "labels").numpy(), [1.0, 1.0])
    mixed = np.concatenate([clips, [1] * 80 + [0] * 120])  # re-paired fragments: mostly label 0
    w = switch_class_weights(mixed, "labels", label_rate=0.78).numpy()
    assert np.isclose(158 * w[1] / (158 * w[1] + 142 * w[0]), 0.78) and np.isclose(158 * w[1] + 142 * w[0], 300)
    with pytest.raises(ValueError, match="switch prior"):
        switch_class_weights(clips, "uniform")


@pytest.mark.parametrize("tune", [False, True])
def test_branch_tune_starts_the_gate_neutral_at_a_lower_lr(tmp_path, monkeypatch, tune):
    """train.branch_tune: a warm-started ST net of a tuned stage enters training with its temporal gate at zero
    (sigmoid 1/2 everywhere) and lr * branch_tune_lr; untuned, its gate keeps its own initialisation and lr."""
    import dataclasses

    from stanet_lib.config import load_profile
    from stanet_lib.data.frames import FrameDataset
    from stanet_lib.nets.classifier import build_model
    from stanet_lib.stages import classifiers

    cfg = load_profile("smoke", **{"train.branch_init": "S", "train.branch_tune": "fine" if tune else "",
                                   "train.branch_tune_lr": 0.25})
    assert classifiers.branch_tuned(cfg, "fine") is tune and classifiers.branch_tuned(cfg, "coarse") is False
    assert not classifiers.branch_tuned(dataclasses.replace(
        cfg, train=dataclasses.replace(cfg.train, branch_init="")), "fine")
    torch.save({"model": build_model("S", 3, cfg.model).state_dict()}, tmp_path / "best.pt")
    seen = {}

    def fake_fit(model, train, val, cfg, **kw):
        seen["lr"] = cfg.lr
        seen["gate"] = model.temporal.conv.weight.detach().abs().sum().item()

    monkeypatch.setattr(classifiers.engine, "fit", fake_fit)
    n = 6
    images = torch.randint(0, 255, (n, 3, 32, 32), dtype=torch.uint8)
    ds = FrameDataset("ST", images, targets=torch.arange(n) % 3, prev=torch.arange(n), next=torch.arange(n))
    classifiers.train_classifier("ST", ds, ds, 3, cfg, tmp_path / "st", 2, init_from=tmp_path / "best.pt",
                                 tune=classifiers.branch_tuned(cfg, "fine"))
    assert seen["lr"] == pytest.approx(cfg.train.lr * (0.25 if tune else 1.0))
    assert (seen["gate"] == 0.0) is tune


@pytest.mark.parametrize("stage, relu", [("coarse", False), ("fine", True), ("", True)])
def test_train_classifier_and_load_net_build_a_stage_s_fusion(tmp_path, monkeypatch, stage, relu):
    """``model.fusion_relu_off="coarse"``: the coarse ST and SA nets are trained, and loaded back
    (:func:`~stanet_lib.stages.world.load_net`), without the fusion's ReLU; the fine ones keep it."""
    from types import SimpleNamespace

    from stanet_lib.config import load_profile
    from stanet_lib.data.frames import FrameDataset
    from stanet_lib.stages import classifiers
    from stanet_lib.stages.world import load_net

    cfg = load_profile("smoke", **{"model.fusion_relu_off": "coarse"})
    seen = {}

    def fake_fit(model, train, val, cfg, out_dir, **kw):
        seen["relu"] = model.temporal.relu
        torch.save({"model": model.state_dict()}, Path(out_dir) / "best.pt")

    monkeypatch.setattr(classifiers.engine, "fit", fake_fit)
    n = 6
    images = torch.randint(0, 255, (n, 3, 32, 32), dtype=torch.uint8)
    ds = FrameDataset("ST", images, targets=torch.arange(n) % 3, prev=torch.arange(n), next=torch.arange(n))
    (tmp_path / "nets" / "st").mkdir(parents=True)
    classifiers.train_classifier("ST", ds, ds, 3, cfg, tmp_path / "nets" / "st", 2, stage=stage)
    assert seen["relu"] is relu
    world = SimpleNamespace(cfg=cfg, num_classes=3, net_dir=lambda name: tmp_path / "nets" / name)
    net = load_net(world, "st", "ST", stage)
    assert net.temporal.relu is relu
    saved = torch.load(tmp_path / "nets" / "st" / "best.pt")["model"]
    assert all(torch.equal(v, saved[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize("monitor, mode", [("val_acc", "max"), ("val_loss", "min")])
def test_switch_keeps_the_epoch_of_train_switch_monitor(tmp_path, monkeypatch, monitor, mode):
    """train.switch_monitor: the switch's best epoch by val accuracy (highest) or by its class-weighted val loss
    (lowest), passed to the shared loop."""
    from stanet_lib.config import load_profile
    from stanet_lib.stages import classifiers

    seen = {}
    monkeypatch.setattr(classifiers.engine, "fit", lambda model, tl, vl, **kw: seen.update(kw))
    cfg = load_profile("smoke", **{"train.switch_monitor": monitor})
    fs = frameset()
    images = torch.randint(0, 255, (len(fs.labels), 3, 32, 32), dtype=torch.uint8)
    labels = np.arange(len(fs.labels)) % 2
    classifiers.train_switch(fs, images, labels, fs, images, labels, cfg, tmp_path / "switch")
    assert (seen["monitor"], seen["mode"]) == (monitor, mode)


def test_switch_warm_start_takes_the_taggers_audio_and_the_s_nets_frame_parts(tmp_path):
    """train.switch_init="tagger+S": the bilinear switch's audio encoder is the tagger's, its encoder and head the S
    net's; its projections, bilinear layer and classifier keep their own start; a part a file lacks is an error
    naming the file."""
    from stanet_lib.config import ModelConfig
    from stanet_lib.nets.classifier import BilinearSwitch, build_model
    from stanet_lib.stages.classifiers import SWITCH_INITS, switch_warm_start

    cfg = ModelConfig(width=1 / 16, audio_channels=8)
    torch.manual_seed(0)
    tagger, s = build_model("tagger", 5, cfg), build_model("S", 5, cfg)
    torch.save({"model": tagger.state_dict()}, tmp_path / "tagger.pt")
    torch.save({"model": s.state_dict()}, tmp_path / "s.pt")
    torch.manual_seed(1)
    net = BilinearSwitch(cfg)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    (_, audio_parts), (_, frame_parts) = SWITCH_INITS["tagger+S"]
    copied = switch_warm_start(net, [(tmp_path / "tagger.pt", audio_parts), (tmp_path / "s.pt", frame_parts)])
    state = net.state_dict()
    assert copied and set(copied) == {k for k in state if k.startswith(("audio.", "encoder.", "head."))}
    assert any(k.startswith("audio.") for k in copied) and any(k.startswith("encoder.") for k in copied)
    for k in copied:
        source = tagger if k.startswith("audio.") else s
        torch.testing.assert_close(state[k], source.state_dict()[k])
    kept = [k for k in state if k not in copied]
    assert kept and all(torch.equal(state[k], before[k]) for k in kept)
    assert any(not torch.equal(before[k], state[k]) for k in copied)  # the copy changed the start
    with pytest.raises(ValueError, match=r"s\.pt: does not fit the switch net \(no audio\.\* weights\)"):
        switch_warm_start(BilinearSwitch(cfg), [(tmp_path / "s.pt", ("audio.",))])


def _tone_clips(cfg, n_clips: int = 24, t: int = 4, k: int = 3):
    """A FrameSet whose clip c is category c % k and sounds a tone of that category's pitch, at a random level:
    real log-mel features of the config's shape."""
    from stanet_lib.data.audio import logmel
    from stanet_lib.data.frames import FrameSet

    rng = np.random.default_rng(0)
    fs = frameset(n_clips=n_clips, t=t)
    labels = np.repeat(np.arange(n_clips) % k, t)
    sr = 16000
    time = np.arange(int(cfg.audio.window_s * sr)) / sr
    waves = np.stack([rng.uniform(0.1, 0.6) * np.sin(2 * np.pi * (300.0 * 2.0 ** c) * time) for c in labels])
    audio = torch.from_numpy(logmel(waves.astype(np.float32), cfg.audio, sr)).half()
    return FrameSet(fs.frames, audio, torch.as_tensor(labels), fs.prev, fs.next, fs.audio_present, fs.meta), k


def test_tagger_background_adds_a_class_of_no_category(tmp_path):
    """train.tagger_background: each fold's tagger also learns the generated fragments of no category as class K
    ((background)); the out-of-fold probabilities have K + 1 columns, the tagger names the class, a fragment whose
    top-1 it is gets switch label 0; off, the tagger has the K categories only."""
    from stanet_lib.config import load_profile
    from stanet_lib.data.audio import background_features
    from stanet_lib.stages.classifiers import BACKGROUND, default_tagger_oof, tagger_classes, tagger_fn

    cfg = load_profile("smoke", **{"train.epochs": 8, "train.lr": 0.05, "train.tagger_background": 1.0,
                                   "audio.n_mels": 32, "audio.hop_length": 320, "train.progress": False})
    fs, k = _tone_clips(cfg)
    probs, models = default_tagger_oof(fs, k, cfg, tmp_path / "bg", seed=0)
    assert probs.shape == (len(fs), k + 1) and all(m.classifier.out_channels == k + 1 for m in models)
    assert tagger_classes(["a", "b", "c"], cfg) == ["a", "b", "c", BACKGROUND]
    tags = fs.labels.numpy()
    assert np.mean(probs.argmax(1) == tags) > 0.9  # the tones are still their categories, out of fold
    noise = background_features(20, cfg.audio, np.random.default_rng(5))  # fragments no fold model saw
    p_noise = tagger_fn(models)(noise)
    assert np.mean(p_noise.argmax(1) == k) > 0.9
    match = Tagger(tagger_fn(models), tagger_classes(["a", "b", "c"], cfg)).matches(["a", "b", "c"])
    assert not match[:, k].any()  # no category maps to the background class
    assert switch_labels(p_noise, np.zeros(20, int), match).sum() == np.sum(p_noise.argmax(1) == 0)
    off = cfg.override(**{"train.tagger_background": 0.0})
    probs0, models0 = default_tagger_oof(fs, k, off, tmp_path / "off", seed=0)
    assert probs0.shape == (len(fs), k) and tagger_classes(["a"], off) == ["a"]


def test_smoothed_switch_averages_within_each_video_only():
    fs = frameset(n_clips=2, t=3)  # frames at 0, 0.25, 0.5 s in two videos
    p = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0], np.float32)
    np.testing.assert_array_equal(smoothed_switch(fs, p, 10.0), p)  # one video's frames never reach the other's
    q = smoothed_switch(fs, np.array([1.0, 0.0, 0.0, 0.0, 0.0, 1.0], np.float32), 0.25)
    np.testing.assert_allclose(q, [1 / 2, 1 / 3, 0, 0, 1 / 3, 1 / 2], rtol=1e-6)
    np.testing.assert_array_equal(smoothed_switch(fs, p, 0.0), p)
    with pytest.raises(ValueError, match="5 probabilities for a set of 6 frames"):
        smoothed_switch(fs, p[:5], 0.5)


def test_load_switch_returns_the_values_the_nets_use(tmp_path):
    """switch.npz keeps the frame-by-frame p_switch beside the averaged one; load_switch gives the averaged."""
    class W:
        runs = tmp_path

    write_npz(tmp_path / "switch.npz", train=np.full(3, 0.5, np.float32), test__SynthAV_a=np.ones(2, np.float32),
              label__train=np.ones(3), frame__train=np.array([1, 0, 0.5], np.float32))
    p = load_switch(W())
    assert set(p) == {"train", "test:SynthAV_a"}
    np.testing.assert_array_equal(p["train"], np.full(3, 0.5, np.float32))


def test_switch_report_adds_the_per_frame_accuracy(smoke_world):
    p = load_switch(smoke_world)["val"]
    truth = audio_truth(smoke_world, "val")
    frame = np.where(truth, 0.0, 1.0).astype(np.float32)  # every frame wrong before the averaging
    row = switch_report(smoke_world, "val", p, None, frame)
    assert row["switch_vs_truth_acc_per_frame"] == 0.0
    assert row["switch_vs_truth_acc"] == float(((p > 0.5) == truth).mean())
    assert "switch_vs_truth_acc_per_frame" not in switch_report(smoke_world, "val", p, None)
