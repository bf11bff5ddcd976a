"""Config profiles, overrides, artefact helpers (atomic writes, manifests, digests, run keys) and the command-line
entry point."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from stanet_lib import cli, pipeline
from stanet_lib.artefacts import atomic_path, is_up_to_date, make_manifest, run_key, tensor_digest, write_json
from stanet_lib.cli import COMMANDS
from stanet_lib.config import PROFILES, ConfigError, load_profile, parse_overrides, split_overrides, validate
from stanet_lib.pipeline import notebook_overrides


def test_paper_profile_has_the_paper_values():
    cfg = load_profile("paper")
    assert (cfg.model.coarse_size, cfg.model.fine_size, cfg.model.sta_size) == (256, 356, 356)  # §4.2
    assert (cfg.train.batch_coarse, cfg.train.batch_fine, cfg.train.batch_sta) == (20, 3, 3)
    assert cfg.train.lr == 1e-3 and cfg.scam.lam == 1e-4 and cfg.scam.box_factor == 2.0
    assert cfg.model.width == 1.0


def test_profiles_and_overrides():
    for p in PROFILES:
        assert load_profile(p).profile == p
    cfg = load_profile("smoke", **parse_overrides(["train.epochs=3", "scam.lam=0.001", "media.fps=2.5"]))
    assert cfg.train.epochs == 3 and cfg.scam.lam == 0.001 and cfg.media.fps == 2.5
    with pytest.raises(KeyError):
        load_profile("demo", **{"train.nope": 1})
    with pytest.raises(ValueError):
        load_profile("huge")
    with pytest.raises(ValueError):
        parse_overrides(["novalue"])
    json.loads(cfg.to_json())


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_manifest_up_to_date(tmp_path):
    cfg, inputs = {"a": 1}, {"x.mp4": "10:20"}
    write_json(tmp_path / "m.json", make_manifest(cfg, inputs))
    assert is_up_to_date(tmp_path / "m.json", cfg, inputs)
    assert not is_up_to_date(tmp_path / "m.json", {"a": 2}, inputs)
    assert not is_up_to_date(tmp_path / "m.json", cfg, {"x.mp4": "10:21"})
    assert not is_up_to_date(tmp_path / "missing.json", cfg, inputs)


def test_tensor_digest_is_of_values_shape_and_dtype():
    assert tensor_digest(torch.ones(3)) != tensor_digest(torch.ones(4))
    assert tensor_digest(torch.ones(3), "a") == tensor_digest(torch.ones(3), "a") != tensor_digest(torch.ones(3), "b")
    assert tensor_digest(torch.ones(3)) == tensor_digest(np.ones(3, np.float32))  # a tensor = its numpy values
    assert tensor_digest(np.ones(3, np.float32)) != tensor_digest(np.ones(3, np.float64))
    assert tensor_digest(np.ones((2, 3))) != tensor_digest(np.ones((3, 2)))


def test_run_key_ignores_what_does_not_change_the_result():
    cfg = load_profile("smoke")
    key = run_key(cfg, "coarse_S", 0)
    assert key == run_key(cfg.override(**{"train.progress": False, "train.num_workers": 3, "eval.seed": 5}),
                          "coarse_S", 0)
    assert key != run_key(cfg.override(**{"train.lr": 0.5}), "coarse_S", 0)
    assert key != run_key(cfg.override(**{"model.width": 0.125}), "coarse_S", 0)
    assert key != run_key(cfg, "coarse_S", 1) and key != run_key(cfg, "coarse_ST", 0)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command):
    out = subprocess.run([sys.executable, "-m", "stanet_lib", command, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and command in out.stdout


def test_top_level_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "stanet_lib", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in COMMANDS:
        assert command in out.stdout


# ------------------------------------------------------------------------- validation and one-line user errors


@pytest.mark.parametrize("item, named", [
    ("train.epochs=abc", "train.epochs: expected an integer, got 'abc'"),
    ("train.epochs=0", "train.epochs: 0 is out of range"),
    ("media.fps=0", "media.fps: 0 is out of range"),
    ("train.amp=1", "train.amp: expected true or false"),
    ("train.lr=-1", "train.lr: -1 is out of range"),
    ("audio.kind=mfcc", "audio.kind: 'mfcc' is not one of"),
    ("synth.clips_per_class={\"train\": 2}", "synth.clips_per_class: expected"),
    ("train.nope=1", "--set train.nope: unknown config key; the fields of train are lr,"),
    ("nope.x=1", "--set nope.x: unknown config section 'nope'"),
    ("model=1", "--set model: unknown config key"),
    ("model.fusion_relu_off=sta", "model.fusion_relu_off: 'sta' is not one of"),
])  # fmt: skip
def test_config_is_validated_when_built(item, named):
    with pytest.raises(ConfigError) as err:
        load_profile("demo", **parse_overrides([item]))
    assert str(err.value).startswith(named) and "\n" not in str(err.value)
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)


def test_every_profile_is_valid_and_an_int_is_a_valid_float():
    for p in PROFILES:
        assert validate(load_profile(p)).profile == p
    assert load_profile("smoke", **{"media.fps": 2}).media.fps == 2


def test_override_values_may_contain_spaces():
    text = 'train.epochs=2 synth.clips_per_class={"train": 12, "val": 2, "test": 1} model.imagenet_weights=/a b/c.pt'
    assert split_overrides(text) == ["train.epochs=2", 'synth.clips_per_class={"train": 12, "val": 2, "test": 1}',
                                     "model.imagenet_weights=/a b/c.pt"]
    parsed = parse_overrides(text)
    assert parsed["synth.clips_per_class"] == {"train": 12, "val": 2, "test": 1}
    assert load_profile("smoke", **parsed).model.imagenet_weights == "/a b/c.pt"
    assert parse_overrides("") == {} and parse_overrides("  ") == {}
    # what `run` hands the notebooks: compact JSON, read back to the same values
    assert parse_overrides(notebook_overrides(['synth.clips_per_class={"train": 12, "val": 2, "test": 1}',
                                               "model.imagenet_weights=/a b/c.pt"])) == {
        "synth.clips_per_class": {"train": 12, "val": 2, "test": 1}, "model.imagenet_weights": "/a b/c.pt"}


@pytest.mark.parametrize("argv, named", [
    (["synth", "--set", "train.nope=1"], "error: --set train.nope: unknown config key"),
    (["prep", "--set", "media.fps=0"], "error: media.fps: 0 is out of range"),
    (["run", "--set", "train.epochs=abc"], "error: train.epochs: expected an integer"),
    (["predict", "x.mp4", "--out", "o", "--set", "nope.x=1"], "error: --set nope.x: unknown config section"),
    (["train", "--stage", "coarse", "--set", "train.epochs=abc"], "error: train.epochs: expected an integer"),
    (["run", "--stages", "05_sta,01_data_prep"], "error: --stages: unknown stage(s) 05_sta; the stages are"),
    (["evaluate", "--stavis-root", "nowhere", "--pred-root", "p", "--db", "AVAD", "--out", "o.csv", "--splits",
      "1,x"], "error: --splits: expected comma-separated integers"),
])  # fmt: skip
def test_user_errors_are_one_line_in_every_command(argv, named, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(named) and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(ConfigError):
        cli.main(["--debug", "synth", "--set", "train.nope=1"])
    with pytest.raises(ConfigError):
        cli.main(["synth", "--debug", "--set", "train.nope=1"])


def test_module_entry_point_prints_no_traceback():
    out = subprocess.run([sys.executable, "-m", "stanet_lib", "prep", "--set", "media.fps=0"], capture_output=True,
                         text=True)
    assert out.returncode == 1 and out.stderr.startswith("error: media.fps:") and "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------------- help texts


def _help(*argv: str) -> str:
    out = subprocess.run([sys.executable, "-m", "stanet_lib", *argv, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return " ".join(out.stdout.split())


def test_top_level_help_has_examples_in_plain_words():
    text = _help()
    assert "examples:" in text and "python -m stanet_lib run --profile smoke" in text and "--debug" in text
    assert "`" not in text and "``" not in text


def test_run_help_explains_profile_seed_stages_and_shows_defaults():
    text = _help("run")
    assert "smoke: tiny" in text and "paper: the paper's sizes" in text and "(default: demo)" in text
    assert "the synthetic world (01), the initialisation and data order of every net" in text and "(default: 0)" in text
    for stage in pipeline.STAGES:
        assert stage in text


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_set_option_says_repeatable(command):
    text = _help(command)
    if "--set" in text:
        assert "--set KEY=VALUE" in text and "repeatable" in text.split("--set KEY=VALUE", 2)[-1], command


def test_train_help_says_what_coarse_does():
    text = _help("train")
    assert "inference only" not in text and "trains nothing" in text and "CAMs, SCAM and boxes" in text


def test_for_stage_turns_the_fusion_relu_off_for_the_listed_stages_only():
    """``model.fusion_relu_off``: the nets of a listed stage fuse without the ReLU, the others as ``fusion_relu``
    says; an unlisted or empty stage gets the settings unchanged (the same object)."""
    m = load_profile("smoke", **{"model.fusion_relu_off": "coarse"}).model
    assert m.fusion_relu is True
    assert m.for_stage("coarse").fusion_relu is False
    assert m.for_stage("coarse").fusion_relu_off == "coarse" and m.for_stage("coarse").width == m.width
    assert m.for_stage("fine") is m and m.for_stage("") is m and m.for_stage("sta") is m
    both = load_profile("smoke", **{"model.fusion_relu_off": "coarse,fine"}).model
    assert both.for_stage("fine").fusion_relu is False and both.for_stage("coarse").fusion_relu is False
    off = load_profile("smoke", **{"model.fusion_relu": False}).model
    assert off.for_stage("coarse").fusion_relu is False and off.for_stage("fine").fusion_relu is False
