"""Config profiles, overrides, artefact helpers (atomic writes, manifests, digests, run keys) and the command-line
entry point."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from stanet_lib.artefacts import atomic_path, is_up_to_date, make_manifest, run_key, tensor_digest, write_json
from stanet_lib.cli import COMMANDS
from stanet_lib.config import PROFILES, load_profile, parse_overrides


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
