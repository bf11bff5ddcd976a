"""stanet_lib.stages.sta (stage 05): the STA targets, samples and encoder initialisation, and the stage on the smoke
data with stand-in upstream artefacts: training on valid frames only, predictions as arrays and in the STAViS
results layout (evaluated), resume rules, clear errors."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from stanet_lib.artefacts import write_npz
from stanet_lib.config import load_profile
from stanet_lib.data.frames import resized_frames
from stanet_lib.data.stavis import StavisRoot, db_key
from stanet_lib.eval.protocol import EvalOptions, evaluate_db, frame_number
from stanet_lib.nets.classifier import AudioTagger, Classifier
from stanet_lib.nets.sta import STANet
from stanet_lib.stages import sta
from stanet_lib.stages.maps import load_maps, save_maps
from stanet_lib.stages.world import World, open_world
from stanet_lib.train.engine import set_seed
from tests.data.test_store import mapped_file

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_resize_targets() -> None:
    maps = np.zeros((2, 64, 64), np.float16)
    maps[0] = 0.5
    maps[1, 16:48, 16:48] = 1.0
    out = sta.resize_targets(maps, 32)
    assert out.shape == (2, 1, 32, 32) and out.dtype == torch.float16
    assert torch.allclose(out[0].float(), torch.full((1, 32, 32), 0.5))
    assert out[1].max() == 1.0 and out[1, 0, 0, 0] == 0.0 and 0.24 < out[1].float().mean() < 0.26


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
def world(smoke_data_root, tmp_path_factory) -> World:
    """The session's smoke data stage (conftest.py) with a runs folder of this module's own holding stand-ins for
    the stage 02 and 04 artefacts the STA stage reads (switch.npz, a coarse S net, maps/fine_<set>.npz in the
    format :func:`stanet_lib.stages.maps.save_maps` writes): seconds instead of minutes."""
    cfg = load_profile("smoke", **{"train.progress": False, "eval.sauc_splits": 10})
    w = dataclasses.replace(open_world(cfg, smoke_data_root, build=False), runs=tmp_path_factory.mktemp("sta_runs"))
    rng = np.random.default_rng(0)
    write_npz(w.runs / "switch.npz", **{k.replace(":", "__"): rng.uniform(0, 1, len(fs)).astype(np.float32)
                                        for k, fs in w.sets.items()})
    set_seed(1)  # a coarse S net to initialise the STA encoder from (train.sta_encoder_init)
    w.net_dir("coarse_S").mkdir(parents=True)
    torch.save({"model": Classifier("S", w.num_classes, cfg.model).state_dict()}, w.net_dir("coarse_S") / "best.pt")
    for i, (name, fs) in enumerate(w.sets.items()):
        valid = np.ones(len(fs), bool)
        valid[::5] = False  # some frames dropped by a hard filter
        save_maps(w.maps_path("fine", name), fs, {"pseudo": torch.from_numpy(_blobs(fs, i)),
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
    valid = load_maps(world.maps_path("fine", "train"))["valid"]
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
        maps = load_maps(world.maps_path("sta", set_name))
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
                assert [frame_number(p.name) for p in files] == list(range(1, e.nframes + 1))
        from_jpeg = evaluate_db(world.stavis_root, db, root, opts=opts)
        assert from_jpeg.missing == []
        row = tables["metrics"].query("model == 'sta' and db == @db").iloc[0]
        for metric in ("AUC_J", "CC", "NSS", "SIM"):  # 8-bit JPEG of map / max vs the float arrays
            assert from_jpeg.means[metric] == pytest.approx(row[metric], abs=0.02)


def test_stale_pseudo_maps_give_a_clear_error(world, tmp_path) -> None:
    bad = dataclasses.replace(world, runs=tmp_path)
    fs = world.sets["train"]
    maps = load_maps(world.maps_path("fine", "train"))
    write_npz(bad.maps_path("fine", "train"), **{**maps, "number": maps["number"] + 1})
    with pytest.raises(ValueError, match=r"fine_train\.npz.*stale"):
        sta.load_targets(bad, "train", 32)
    with pytest.raises(FileNotFoundError, match="fine_val"):
        sta.load_targets(bad, "val", 32)
    assert len(fs) == len(maps["number"])


def test_rerun_resumes_only_with_the_same_config_and_inputs(world, staged) -> None:
    best = world.net_dir("sta") / "best.pt"
    before = best.stat().st_mtime_ns
    images = {k: resized_frames(fs, world.cfg.model.sta_size) for k, fs in world.sets.items()}
    _, fit = sta.train_sta(world, "sta", True, images)
    assert fit.resumed_from == world.cfg.train.epochs and best.stat().st_mtime_ns == before  # nothing retrained
    changed = dataclasses.replace(world, cfg=world.cfg.override(**{"train.lr": 0.01}))
    _, fit = sta.train_sta(changed, "sta", True, images)
    assert fit.resumed_from == 0 and best.stat().st_mtime_ns != before  # other config: trained from scratch
    _, fit = sta.train_sta(world, "sta", True, images, seed=1)
    assert fit.resumed_from == 0  # another seed: a fresh run, not a refused resume


def test_epochs_sta_sets_the_sta_nets_epochs_alone(world, staged, tmp_path) -> None:
    """``train.epochs_sta`` > 0: the STA net trains that many epochs on the cosine schedule over them; the run key
    changes with it, so the nets trained with ``train.epochs`` are not resumed as if finished."""
    epochs = world.cfg.train.epochs
    more = world.cfg.override(**{"train.epochs_sta": epochs + 2, "train.lr_schedule": "cosine"})
    assert more.train.epochs == epochs  # every other net keeps train.epochs
    assert sta.sta_train_config(more).epochs == epochs + 2 and sta.sta_train_config(world.cfg) is world.cfg.train
    shutil.copytree(world.runs, tmp_path / "runs")
    w = dataclasses.replace(world, cfg=more, runs=tmp_path / "runs")
    images = {k: resized_frames(fs, w.cfg.model.sta_size) for k, fs in w.sets.items()}
    _, fit = sta.train_sta(w, "sta", True, images)
    assert fit.resumed_from == 0 and fit.epochs_done == epochs + 2
    log = pd.read_csv(w.net_dir("sta") / "log.csv")
    assert len(log) == epochs + 2 and log["lr"].is_monotonic_decreasing and log["lr"].iloc[0] == more.train.lr


def test_parallel_nets_train_in_one_thread_workers_and_the_stage_finds_them_done(world, staged, tmp_path) -> None:
    """``train.parallel_nets=2``: both STA nets train at once in spawned one-thread worker processes; each
    checkpoint is the one a one-thread training in this process writes, and the stage's own call then finds the
    run finished. With ``parallel_nets=1`` nothing is shared out."""
    par = world.cfg.override(**{"train.parallel_nets": 2})
    worlds = {}
    for tag in ("workers", "here"):
        shutil.copytree(world.runs, tmp_path / tag, ignore=shutil.ignore_patterns("sta", "sta_noswitch"))
        worlds[tag] = dataclasses.replace(world, cfg=par, runs=tmp_path / tag)
    nets = [("sta", True), ("sta_noswitch", False)]
    seconds = sta.train_sta_parallel(worlds["workers"], nets)
    assert set(seconds) == {"sta", "sta_noswitch"} and all(v > 0 for v in seconds.values())
    images = {k: resized_frames(fs, world.cfg.model.sta_size) for k, fs in world.sets.items()}
    for name, use_switch in nets:
        _, fit = sta.train_sta(worlds["workers"], name, use_switch, images)
        assert fit.resumed_from == fit.epochs_done == world.cfg.train.epochs  # trained by its worker
        _, fit = sta.train_sta(worlds["here"], name, use_switch, images)  # one thread (one_thread fixture)
        assert fit.resumed_from == 0
        got, want = (torch.load(w.net_dir(name) / "best.pt", weights_only=True)["model"] for w in worlds.values())
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want), name
    assert sta.train_sta_parallel(dataclasses.replace(worlds["here"], cfg=world.cfg), nets) == {}


def test_encoder_initialisation(world, tmp_path) -> None:
    model = STANet(world.cfg.model)
    assert sta.init_encoder(model, world) == "coarse_S"
    ref = torch.load(world.net_dir("coarse_S") / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(v, ref[f"encoder.{k}"]) for k, v in model.encoder.state_dict().items())
    rand = dataclasses.replace(world, cfg=world.cfg.override(**{"train.sta_encoder_init": ""}))
    assert sta.init_encoder(STANet(world.cfg.model), rand) == "random"
    missing = dataclasses.replace(world, runs=tmp_path)
    with pytest.raises(FileNotFoundError, match="coarse_S"):
        sta.init_encoder(model, missing)
    other = dataclasses.replace(world, cfg=world.cfg.override(**{"model.width": 0.125}))
    with pytest.raises(ValueError, match="does not fit the STA encoder"):
        sta.init_encoder(STANet(other.cfg.model), other)


def test_audio_initialisation(world, tmp_path) -> None:
    """train.sta_audio_init: the STA net's audio encoder starts as the named net's (the tagger's); "" leaves it
    random; a missing net, a net without an audio encoder, or one of another width is a clear error."""
    w = dataclasses.replace(world, runs=tmp_path, cfg=world.cfg.override(**{"train.sta_audio_init": "tagger/fold0"}))
    set_seed(2)
    w.net_dir("tagger/fold0").mkdir(parents=True)
    tagger = AudioTagger(w.num_classes, w.cfg.model)
    torch.save({"model": tagger.state_dict()}, w.net_dir("tagger/fold0") / "best.pt")
    model = STANet(w.cfg.model)
    before = {k: v.clone() for k, v in model.audio.state_dict().items()}
    assert sta.init_audio(model, w) == "tagger/fold0"
    got, ref = model.audio.state_dict(), tagger.audio.state_dict()
    assert got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)
    assert any(not torch.equal(before[k], ref[k]) for k in ref if ref[k].is_floating_point())
    assert sta.init_audio(STANet(world.cfg.model), world) == "random"  # the default: ""
    with pytest.raises(FileNotFoundError, match="fold1"):
        sta.init_audio(model, dataclasses.replace(w, cfg=w.cfg.override(**{"train.sta_audio_init": "tagger/fold1"})))
    w.net_dir("coarse_S").mkdir()
    shutil.copy(world.net_dir("coarse_S") / "best.pt", w.net_dir("coarse_S") / "best.pt")
    with pytest.raises(ValueError, match="no audio encoder"):
        sta.init_audio(model, dataclasses.replace(w, cfg=w.cfg.override(**{"train.sta_audio_init": "coarse_S"})))
    wide = w.cfg.override(**{"model.audio_channels": 2 * w.cfg.model.audio_channels})
    with pytest.raises(ValueError, match="does not fit the STA net's"):
        sta.init_audio(STANet(wide.model), dataclasses.replace(w, cfg=wide))


def test_class_attention_loads_the_tagger_and_the_s_net(world, tmp_path) -> None:
    """model.sta_audio_att="class": init_audio fills the attention's frozen parts, the audio encoder and class layer
    from train.sta_audio_init's tagger and the head and class layer from train.sta_encoder_init's S net; an empty
    tagger name, an encoder source that is no net, or a tagger of other categories are clear errors; load_sta
    rebuilds the net with its number of categories."""
    cfg = world.cfg.override(**{"model.sta_audio_att": "class", "train.sta_audio_init": "tagger/fold0"})
    w = dataclasses.replace(world, runs=tmp_path, cfg=cfg)
    set_seed(3)
    w.net_dir("tagger/fold0").mkdir(parents=True)
    tagger = AudioTagger(w.num_classes, cfg.model)
    with torch.no_grad():
        tagger.classifier.weight.normal_()
    torch.save({"model": tagger.state_dict()}, w.net_dir("tagger/fold0") / "best.pt")
    w.net_dir("coarse_S").mkdir()
    shutil.copy(world.net_dir("coarse_S") / "best.pt", w.net_dir("coarse_S") / "best.pt")
    s_net = Classifier("S", w.num_classes, cfg.model)
    s_net.load_state_dict(torch.load(w.net_dir("coarse_S") / "best.pt", weights_only=True)["model"])
    model = STANet(cfg.model, w.num_classes)
    assert sta.init_encoder(model, w) == "coarse_S"
    assert sta.init_audio(model, w) == "tagger/fold0 x coarse_S"
    att = model.class_att
    for ours, theirs in ((att.audio, tagger.audio), (att.audio_classifier, tagger.classifier), (att.head, s_net.head),
                         (att.classifier, s_net.classifier)):
        got, ref = ours.state_dict(), theirs.state_dict()
        assert got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)
    with pytest.raises(ValueError, match="needs an audio tagger"):
        sta.init_audio(model, dataclasses.replace(w, cfg=cfg.override(**{"train.sta_audio_init": ""})))
    with pytest.raises(ValueError, match="class maps"):
        sta.init_audio(model, dataclasses.replace(w, cfg=cfg.override(**{"train.sta_encoder_init": ""})))
    with pytest.raises(ValueError, match="does not fit the STA net's class attention"):
        sta.init_audio(STANet(cfg.model, w.num_classes + 1), w)
    torch.save({"model": model.state_dict()}, tmp_path / "best.pt")
    again = sta.load_sta(tmp_path / "best.pt", cfg.model)
    assert again.class_att.classifier.out_channels == w.num_classes
    torch.save({"model": STANet(world.cfg.model).state_dict()}, tmp_path / "concat.pt")
    with pytest.raises(ValueError, match="class attention"):
        sta.load_sta(tmp_path / "concat.pt", cfg.model)


def test_targets_are_memory_mapped_and_follow_the_pseudo_fixations(world, tmp_path) -> None:
    """The STA targets are the resized pseudo-fixations, kept in a map file under their content (not in RAM)."""
    other = dataclasses.replace(world, runs=tmp_path)
    maps = load_maps(world.maps_path("fine", "train"))
    write_npz(other.maps_path("fine", "train"), **maps)
    targets, valid = sta.load_targets(other, "train", 32)
    assert mapped_file(targets.data_ptr()).endswith("features/targets32_train.npy")
    assert torch.equal(targets, sta.resize_targets(maps["pseudo"], 32)) and valid.dtype == bool
    again, _ = sta.load_targets(other, "train", 32)  # the same content: the same file, opened again
    assert torch.equal(again, targets)
    write_npz(other.maps_path("fine", "train"), **{**maps, "pseudo": maps["pseudo"][::-1].copy()})
    flipped, _ = sta.load_targets(other, "train", 32)  # other content: made again, never the old maps
    assert torch.equal(flipped, sta.resize_targets(maps["pseudo"][::-1].copy(), 32))


def test_samples_pair_the_window_with_the_centre_frames_target(world) -> None:
    """Eq. 6 on the centre frame t (the released code took frame t+1's pseudo-fixation)."""
    fs = world.sets["train"]
    images = resized_frames(fs, 32)
    targets, _ = sta.load_targets(world, "train", 32)
    ds = sta.sta_dataset(fs, images, None, targets)
    k = int(fs.next[0])  # a frame with distinct neighbours
    sample = ds[k]
    assert torch.equal(sample["pseudo"], targets[k]) and not torch.equal(sample["pseudo"], targets[int(fs.next[k])])
    assert torch.equal((sample["frames"][1] * 255).round().to(torch.uint8), images[k])
    assert torch.equal((sample["frames"][2] * 255).round().to(torch.uint8), images[fs.next[k]])


def test_sta_run_key_follows_content_not_file_times_or_location(tmp_path):
    """A byte-identical rewrite or a copy of the data folder keeps the STA run key (the finished nets are reused);
    other bytes change it, and the named input says which."""
    cfg = load_profile("smoke")

    def world_at(root):
        return World(cfg, root / "synth", root / "cache", root / "runs", ["a", "b"])

    w = world_at(tmp_path / "a")
    for split in ("train", "val"):
        write_npz(w.maps_path("fine", split), x=np.arange(5.0) + (split == "val"))
    write_npz(w.runs / "switch.npz", p=np.ones(3))
    (w.net_dir("coarse_S")).mkdir(parents=True)
    (w.net_dir("coarse_S") / "best.pt").write_bytes(b"weights")
    key, named = sta._fingerprint(w, True, 0)
    shutil.copytree(tmp_path / "a", tmp_path / "b", copy_function=shutil.copy)  # new mtimes
    assert sta._fingerprint(world_at(tmp_path / "b"), True, 0) == (key, named)
    train = w.maps_path("fine", "train")
    train.write_bytes(train.read_bytes())
    assert sta._fingerprint(w, True, 0)[0] == key
    write_npz(train, x=np.arange(6.0))
    key2, named2 = sta._fingerprint(w, True, 0)
    assert key2 != key and [k for k in named if named[k] != named2[k]] == ["fine maps (train)"]
    # train.sta_audio_init: the audio encoder's source joins the key and the named inputs, only when set
    (w.net_dir("tagger/fold0")).mkdir(parents=True)
    (w.net_dir("tagger/fold0") / "best.pt").write_bytes(b"tagger")
    wa = dataclasses.replace(w, cfg=cfg.override(**{"train.sta_audio_init": "tagger/fold0"}))
    key3, named3 = sta._fingerprint(wa, True, 0)
    assert key3 != key2 and set(named3) - set(named2) == {"audio encoder initialisation"}
    (w.net_dir("tagger/fold0") / "best.pt").write_bytes(b"tagger, retrained")
    key4, named4 = sta._fingerprint(wa, True, 0)
    assert key4 != key3 and [k for k in named3 if named3[k] != named4[k]] == ["audio encoder initialisation"]


def test_class_attention_takes_the_categories_of_a_tagger_with_a_background_class(world, tmp_path) -> None:
    """A tagger with the class of no category (train.tagger_background: K + 1 classes, the last the background):
    the attention's class layer is its first K rows, so its posterior is over the K categories given one is heard."""
    cfg = world.cfg.override(**{"model.sta_audio_att": "class", "train.sta_audio_init": "tagger/fold0"})
    w = dataclasses.replace(world, runs=tmp_path, cfg=cfg)
    set_seed(4)
    w.net_dir("tagger/fold0").mkdir(parents=True)
    tagger = AudioTagger(w.num_classes + 1, cfg.model)
    with torch.no_grad():
        tagger.classifier.weight.normal_()
        tagger.classifier.bias.normal_()
    torch.save({"model": tagger.state_dict()}, w.net_dir("tagger/fold0") / "best.pt")
    w.net_dir("coarse_S").mkdir()
    shutil.copy(world.net_dir("coarse_S") / "best.pt", w.net_dir("coarse_S") / "best.pt")
    model = STANet(cfg.model, w.num_classes)
    assert sta.init_audio(model, w) == "tagger/fold0 x coarse_S"
    got = model.class_att.audio_classifier
    assert torch.equal(got.weight, tagger.classifier.weight[: w.num_classes])
    assert torch.equal(got.bias, tagger.classifier.bias[: w.num_classes])
    audio = torch.randn(2, 1, *world.sets["val"].audio.shape[1:])
    logits = tagger.classifier(tagger.audio.embed(audio)[:, :, None, None]).flatten(1)[:, : w.num_classes]
    torch.testing.assert_close(model.class_att.heard(audio), torch.softmax(logits, 1))
