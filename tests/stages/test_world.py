"""Stages 02-04 on the smoke world (artefacts of the session's papermill run): switch, CAMs, SCAM, boxes,
fine maps recovered into the frame, pseudo-fixations, and their STAViS-protocol tables."""

import numpy as np
import pandas as pd
import pytest
import torch

from stanet_lib import pseudo, scam, stages
from stanet_lib.config import load_profile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(smoke_pipeline):
    assert smoke_pipeline.report.ok
    return stages.open_world(load_profile("smoke"), smoke_pipeline.data_root)


def test_nets_and_switch_written(world):
    for name in ("tagger/fold0", "tagger/fold1", "switch", "coarse_S", "coarse_ST", "coarse_SA", "coarse_SA_noswitch",
                 "fine_S", "fine_ST", "fine_SA", "fine_SA_noswitch"):
        assert (world.net_dir(name) / "best.pt").exists(), name
        assert (world.net_dir(name) / "log.csv").exists(), name
    p = stages.load_switch(world)
    for name, fs in world.sets.items():
        assert p[name].shape == (len(fs),) and ((p[name] >= 0) & (p[name] <= 1)).all()


def test_coarse_maps_are_normalised_and_boxes_valid(world):
    for name, fs in world.sets.items():
        m = pseudo.load_maps(world.maps_path("coarse", name))
        n = len(fs)
        for key in ("CAM_S", "CAM_ST", "CAM_SA", "SCAM", "SCAM_avg", "SCAM_noswitch"):
            a = m[key].astype(np.float32)
            assert a.shape[0] == n and np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1 + 1e-3, key
        boxes = m["boxes"]
        assert boxes.shape == (n, 4)
        assert ((boxes[:, 0] <= boxes[:, 1]) & (boxes[:, 2] <= boxes[:, 3])).all()
        assert boxes.min() >= 0 and boxes.max() < fs.canvas
        # the boxes are the 2 x mean boxes of the SCAM at frame resolution (paper §3.6)
        again = pseudo.boxes_from(torch.as_tensor(m["SCAM"].astype(np.float32)), fs.canvas, 2.0)
        assert (again.numpy() == boxes).mean() > 0.95  # float16 storage may move a threshold pixel
        assert (m["number"] >= 1).all() and len(m["video"]) == n


def test_selective_fusion_recomputed_from_stored_parts(world):
    m = pseudo.load_maps(world.maps_path("coarse", "val"))
    tags = torch.as_tensor(m["tags"]).long()
    probs = torch.stack([torch.as_tensor(m[f"probs_{k}"]) for k in ("S", "ST", "SA")], 1).float()
    cams = torch.stack([torch.as_tensor(m[f"CAM_{k}"].astype(np.float32)) for k in ("S", "ST", "SA")], 1)
    w = scam.soft_filter(probs, tags)
    assert torch.allclose(w, torch.as_tensor(m["weights"]).float(), atol=2e-3)
    fused = scam.selective_fusion(cams, w, 1e-4)
    assert torch.allclose(fused, torch.as_tensor(m["SCAM"].astype(np.float32)), atol=5e-3)


def test_fine_maps_zero_outside_the_box(world):
    for name, fs in world.sets.items():
        m = pseudo.load_maps(world.maps_path("fine", name))
        pseudo_maps = m["pseudo"].astype(np.float32)
        assert pseudo_maps.shape == (len(fs), fs.canvas, fs.canvas)
        for i, (y0, y1, x0, x1) in enumerate(m["boxes"]):
            outside = pseudo_maps[i].copy()
            outside[y0 : y1 + 1, x0 : x1 + 1] = 0
            assert outside.max() == 0
        assert m["valid"].dtype == bool and m["valid"].all()  # no hard filter by default


def test_map_tables_cover_every_db_and_variant(world):
    for stage in ("coarse", "fine"):
        df = pd.read_csv(world.runs / "tables" / f"{stage}_maps.csv")
        dbs = {s.split(":", 1)[1] for s in world.test_sets()}
        assert set(df["db"]) == dbs
        assert {"CAM_S", "CAM_ST", "CAM_SA", "SCAM", "SCAM_avg"} <= set(df["variant"])
        for col in ("AUC_J", "SIM", "sAUC", "CC", "NSS"):
            assert col in df
        ok = df.dropna(subset=["AUC_J"])
        assert ((ok["AUC_J"] >= 0) & (ok["AUC_J"] <= 1)).all()


def test_switch_truth_columns(world):
    truth = stages.audio_truth(world, "train")
    assert truth.dtype == bool and truth.shape == (len(world.sets["train"]),)
    tags = stages.truth_tags(world, world.test_sets()[0])
    assert tags.dtype == torch.long and int(tags.min()) >= 0 and int(tags.max()) < world.num_classes


def test_open_world_builds_the_data_stage_when_missing(tmp_path):
    w = stages.open_world(load_profile("smoke"), tmp_path, log=lambda m: None)
    assert (tmp_path / "cache" / "smoke" / "index.csv").exists()
    assert w.truth is not None and set(w.sets) >= {"train", "val"} and w.test_sets()
    with pytest.raises(FileNotFoundError, match="prep"):
        stages.open_world(load_profile("smoke"), tmp_path / "other", build=False)


def test_setup_is_the_notebooks_first_cell(smoke_data_root, tmp_path):
    """stages.setup(PROFILE, SMOKE, OVERRIDES, DATA_ROOT, REPORTS_DIR): config, world and reports folder."""
    from stanet_lib import paths

    cfg, world, reports = stages.setup("demo", True, "train.epochs=3 scam.lam=0.001", str(smoke_data_root),
                                       str(tmp_path))
    assert cfg.profile == "smoke" and cfg.train.epochs == 3 and cfg.scam.lam == 0.001  # SMOKE wins, overrides apply
    assert reports == tmp_path and world.cfg is cfg and "train" in world.sets
    assert world.summary() == (f"{ {n: len(fs) for n, fs in world.sets.items()} } frames; {world.num_classes} "
                               f"categories: {', '.join(world.categories)}")
    cfg2, world2, reports2 = stages.setup("smoke", data_root=str(smoke_data_root), load=False)
    assert reports2 == paths.REPORTS_DIR and not world2.sets and cfg2.train.epochs == load_profile("smoke").train.epochs
    with pytest.raises(KeyError, match="no_such_field"):
        stages.setup("smoke", overrides="train.no_such_field=1", data_root=str(smoke_data_root))
