"""The ``paper`` profile's code path, end to end through papermill, on a tiny dataset in the real layouts.

Real data is not available here, so this runs the paper configuration (width-1.0 VGG16 without batch norm,
ImageNet weights from a local torchvision-style file, real roots given as AVE_ROOT / STAVIS_ROOT, a test
database named like a real one, no generator truth) with only the sizes and epochs shrunk to fit the CPU. The
numbers mean nothing; the point is that nothing in that path is untested.
"""

import json
import shutil

import pytest
import torch

from stanet_lib import pipeline
from stanet_lib.config import load_profile
from stanet_lib.data import synthetic
from stanet_lib.nets.encoders import VGG16Encoder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("paper_profile")
    cfg = load_profile("smoke", **{"synth.test_dbs": {"AVAD": (96, 54, 25.0, 3, 8)}, "synth.num_classes": 2,
                                   "synth.clips_per_class": {"train": 2, "val": 1, "test": 1}})
    world = synthetic.generate(cfg, base / "raw", seed=3, progress=False)
    shutil.rmtree(world / "truth")  # real data: no generator truth
    weights = base / "vgg16_imagenet.pth"
    state = VGG16Encoder(width=1.0, batch_norm=False).state_dict()
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a torchvision file also has the FC layers
    torch.save(state, weights)
    overrides = (f"model.imagenet_weights={weights} model.coarse_size=32 model.fine_size=32 model.sta_size=32 "
                 "media.cache_size=48 media.prep_workers=1 train.epochs=1 train.num_workers=0 "
                 "train.progress=false train.sta_noswitch=false")
    params = {"DATA_ROOT": str(base / "data"), "REPORTS_DIR": str(base / "reports"), "OVERRIDES": overrides,
              "AVE_ROOT": str(world / "ave"), "STAVIS_ROOT": str(world / "stavis")}
    report = pipeline.run("paper", params, base / "reports", log=lambda m: None)
    return base, report


def test_paper_profile_runs_every_stage(paper_run):
    base, report = paper_run
    assert report.ok, [s.message for s in report.stages if s.status == "failed"]
    assert [s.status for s in report.stages] == ["ran"] * len(pipeline.STAGES)
    runs = base / "data" / "runs" / "paper"
    cfg = json.loads((runs / "stage02.manifest.json").read_text())["config"]
    assert cfg["model"]["width"] == 1.0 and cfg["model"]["batch_norm"] is False
    assert cfg["train"]["lr"] == 1e-3 and cfg["train"]["batch_fine"] == 3 and cfg["train"]["batch_sta"] == 3
    # no truth: the test tags come from the coarse S net's top-1 (stage 03 says so)
    summary = json.loads((runs / "stage03.manifest.json").read_text())["summary"]
    assert {r["tags"] for r in summary if r["set"].startswith("test:")} == {"S top-1"}
    # predictions in the STAViS results layout under the real database key
    assert list((runs / "predictions").glob("*/split1_results/avad/*/pred_sal_00001.jpg"))
    assert (base / "reports" / "tables" / "table4.md").exists()


def test_imagenet_file_reached_the_encoders(paper_run):
    base, _ = paper_run
    runs = base / "data" / "runs" / "paper"
    ref = VGG16Encoder(width=1.0, batch_norm=False).state_dict()
    ckpt = torch.load(runs / "nets" / "coarse_S" / "best.pt", map_location="cpu", weights_only=False)
    first = ckpt["model"]["encoder.features.0.weight"]
    assert first.shape == ref["features.0.weight"].shape  # width 1.0: the full VGG16
