"""stanet_lib.stages.world: where a profile's data and artefacts live, the generator's truth for the switch and
the tags, the notebooks' first cell, and open_world building the data stage when it is missing."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from stanet_lib import paths
from stanet_lib.config import load_profile
from stanet_lib.stages.world import audio_truth, load_switch, open_world, setup, source_root, truth_tags


@pytest.fixture(scope="module")
def world(smoke_data_root):
    """The session's smoke data stage, frame sets loaded, no trained stage."""
    return open_world(load_profile("smoke"), smoke_data_root, build=False)


def test_layout_of_the_profile_folders(world, smoke_data_root):
    assert world.cache == smoke_data_root / "cache" / "smoke" and world.synth == smoke_data_root / "synthetic" / "smoke"
    assert world.runs == smoke_data_root / "runs" / "smoke"
    assert world.net_dir("coarse_S") == world.runs / "nets" / "coarse_S"
    assert world.maps_path("fine", "test:SynthAV_a") == world.runs / "maps" / "fine_test_SynthAV_a.npz"
    assert world.stavis_root == world.synth / "stavis"
    assert world.test_sets() == ["test:SynthAV_a", "test:SynthAV_b"] and world.num_classes == 3


def test_switch_truth_columns(world):
    truth = audio_truth(world, "train")
    assert truth.dtype == bool and truth.shape == (len(world.sets["train"]),)
    assert truth.any() and not truth.all()  # the smoke world has clips whose audio is not their tag's
    assert torch.equal(truth_tags(world, "train"), world.sets["train"].labels)  # AVE sets: their labels
    tags = truth_tags(world, world.test_sets()[0])
    assert tags.dtype == torch.long and int(tags.min()) >= 0 and int(tags.max()) < world.num_classes


def test_switch_of_a_world_without_stage_02_is_a_clear_error(world):
    with pytest.raises(FileNotFoundError, match="run notebook 02 first"):
        load_switch(world)


def test_open_world_builds_the_data_stage_when_missing(tmp_path):
    w = open_world(load_profile("smoke"), tmp_path, log=lambda m: None)
    assert (tmp_path / "cache" / "smoke" / "index.csv").exists()
    assert w.truth is not None and set(w.sets) >= {"train", "val"} and w.test_sets()
    with pytest.raises(FileNotFoundError, match="prep"):
        open_world(load_profile("smoke"), tmp_path / "other", build=False)


def test_setup_is_the_notebooks_first_cell(smoke_data_root, tmp_path):
    """setup(PROFILE, SMOKE, OVERRIDES, DATA_ROOT, REPORTS_DIR): config, world and reports folder."""
    cfg, world, reports = setup("demo", True, "train.epochs=3 scam.lam=0.001", str(smoke_data_root), str(tmp_path))
    assert cfg.profile == "smoke" and cfg.train.epochs == 3 and cfg.scam.lam == 0.001  # SMOKE wins, overrides apply
    assert reports == tmp_path and world.cfg is cfg and "train" in world.sets
    assert world.summary() == (f"{ {n: len(fs) for n, fs in world.sets.items()} } frames; {world.num_classes} "
                               f"categories: {', '.join(world.categories)}")
    cfg2, world2, reports2 = setup("smoke", data_root=str(smoke_data_root), load=False)
    assert reports2 == paths.REPORTS_DIR / "smoke" and not world2.sets  # a run writes into its profile's folder
    assert cfg2.train.epochs == load_profile("smoke").train.epochs
    with pytest.raises(KeyError, match="no_such_field"):
        setup("smoke", overrides="train.no_such_field=1", data_root=str(smoke_data_root))


def test_the_paper_profile_never_builds_a_synthetic_world(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no data cache for the paper profile.*real AVE and STAViS"):
        open_world(load_profile("paper"), tmp_path, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []  # nothing generated


def test_setup_overrides_may_contain_spaces(smoke_data_root):
    cfg, _, _ = setup("smoke", True, 'train.epochs=2 model.imagenet_weights=/a b/c.pt', str(smoke_data_root),
                      load=False)
    assert cfg.train.epochs == 2 and cfg.model.imagenet_weights == "/a b/c.pt"


def test_a_copied_data_folder_reads_its_own_synthetic_world(smoke_data_root, tmp_path):
    """The cache manifest records absolute roots; in a copy of the data folder they name the original's world.
    The copy's own world is used when its files have the recorded checksums (truth, STAViS root), the recorded
    root otherwise, and a synthetic profile without truth says so in one line."""
    copy = tmp_path / "copy"
    for part in ("synthetic", "cache"):
        shutil.copytree(smoke_data_root / part, copy / part)
    manifest = json.loads((copy / "cache" / "smoke" / "manifest.json").read_text())
    assert manifest["ave_root"] == str(smoke_data_root / "synthetic" / "smoke" / "ave")  # the original's path
    w = open_world(load_profile("smoke"), copy, load=False, build=False, log=pytest.fail)
    assert w.truth is not None and w.stavis_root == copy / "synthetic" / "smoke" / "stavis"
    original = open_world(load_profile("smoke"), smoke_data_root, load=False, build=False, log=pytest.fail)
    assert original.stavis_root == smoke_data_root / "synthetic" / "smoke" / "stavis" and original.truth is not None

    # one AVE input file of the copy differs from what the cache was made from: the recorded root stands
    video = next(p for p in manifest["inputs"] if p.endswith(".mp4") and "/ave/" in p)
    own = copy / "synthetic" / "smoke" / "ave" / video.split("/ave/", 1)[1]
    own.write_bytes(own.read_bytes() + b"\0")
    said = []
    w = open_world(load_profile("smoke"), copy, load=False, build=False, log=said.append)
    assert w.truth is None and len(said) == 1 and "no generator truth" in said[0] and str(copy / "cache") in said[0]
    assert source_root(manifest, "ave_root", copy / "synthetic" / "smoke" / "ave") == Path(manifest["ave_root"])
    assert w.stavis_root == copy / "synthetic" / "smoke" / "stavis"  # its own files still match
    assert source_root({}, "stavis_root", copy / "synthetic" / "smoke" / "stavis") is None
    # a folder's own world without its truth file: said, naming the file
    said.clear()
    shutil.copytree(smoke_data_root / "cache", tmp_path / "own" / "cache")
    shutil.copytree(smoke_data_root / "synthetic", tmp_path / "own" / "synthetic")
    (tmp_path / "own" / "synthetic" / "smoke" / "truth" / "clips.csv").unlink()
    w = open_world(load_profile("smoke"), tmp_path / "own", load=False, build=False, log=said.append)
    assert w.truth is None and len(said) == 1 and "clips.csv is missing" in said[0]
    # a recorded folder of another layout (real data) is never replaced
    real = {"ave_root": str(tmp_path / "AVE_Dataset"), "inputs": {}}
    assert source_root(real, "ave_root", copy / "synthetic" / "smoke" / "ave") == tmp_path / "AVE_Dataset"


def test_trunk_features_are_kept_per_trunk_dtype(smoke_data_root, tmp_path):
    """model.trunk_dtype is part of the stored features' key (and the projection's): features of the float32 trunk
    are not read back for the bfloat16 one, but recomputed; each is reused while the dtype stays."""
    from stanet_lib.nets.encoders import VGG16Encoder
    from stanet_lib.stages.world import net_inputs

    torch.manual_seed(0)
    vgg = tmp_path / "vgg16.pt"
    torch.save(VGG16Encoder(1.0, 8, batch_norm=False).state_dict(), vgg)
    root = tmp_path / "data"
    for part in ("synthetic", "cache"):
        shutil.copytree(smoke_data_root / part, root / part)
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    runs = []
    for dtype in ("float32", "float32", "bfloat16", "bfloat16"):
        cfg = load_profile("smoke", **{"model.trunk": str(vgg), "model.trunk_reduce": 8,
                                       "model.trunk_dtype": dtype})
        said = []
        feats = net_inputs(open_world(cfg, root, build=False), "probe", images, log=said.append).clone()
        runs.append((feats, any(m.startswith("trunk features probe") for m in said),
                     any("PCA to 8 channels" in m for m in said)))
    assert [r[1] for r in runs] == [True, False, True, False]  # computed once per dtype, then reused
    assert [r[2] for r in runs] == [True, False, True, False]  # the projection too
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[2][0], runs[3][0])
    f32, f16 = runs[0][0].float(), runs[2][0].float()
    assert not torch.equal(f32, f16) and float((f16 - f32).norm() / f32.norm()) < 0.1
