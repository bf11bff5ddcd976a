"""stanet_lib.stages.coarse (stage 03) on the session's smoke pipeline: normalised maps, the 2 x mean boxes, and
selective fusion (Eq. 2-3) recomputed from the stored parts."""

import numpy as np
import pytest
import torch

from stanet_lib import scam
from stanet_lib.stages.maps import load_maps
from stanet_lib.stages.pseudo import boxes_from

pytestmark = pytest.mark.slow


def test_coarse_maps_are_normalised_and_boxes_valid(smoke_world):
    world = smoke_world
    for name, fs in world.sets.items():
        m = load_maps(world.maps_path("coarse", name))
        n = len(fs)
        for key in ("CAM_S", "CAM_ST", "CAM_SA", "SCAM", "SCAM_avg", "SCAM_noswitch"):
            a = m[key].astype(np.float32)
            assert a.shape[0] == n and np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1 + 1e-3, key
        boxes = m["boxes"]
        assert boxes.shape == (n, 4)
        assert ((boxes[:, 0] <= boxes[:, 1]) & (boxes[:, 2] <= boxes[:, 3])).all()
        assert boxes.min() >= 0 and boxes.max() < fs.canvas
        # the boxes are the 2 x mean boxes of the SCAM at frame resolution (paper §3.6)
        again = boxes_from(torch.as_tensor(m["SCAM"].astype(np.float32)), fs.canvas, world.cfg.scam.box_factor)
        assert (again.numpy() == boxes).mean() > 0.95  # float16 storage may move a threshold pixel
        assert (m["number"] >= 1).all() and len(m["video"]) == n


def test_selective_fusion_recomputed_from_stored_parts(smoke_world):
    m = load_maps(smoke_world.maps_path("coarse", "val"))
    tags = torch.as_tensor(m["tags"]).long()
    probs = torch.stack([torch.as_tensor(m[f"probs_{k}"]) for k in ("S", "ST", "SA")], 1).float()
    cams = torch.stack([torch.as_tensor(m[f"CAM_{k}"].astype(np.float32)) for k in ("S", "ST", "SA")], 1)
    w = scam.soft_filter(probs, tags)
    assert torch.allclose(w, torch.as_tensor(m["weights"]).float(), atol=2e-3)
    fused = scam.selective_fusion(cams, w, smoke_world.cfg.scam.lam)
    assert torch.allclose(fused, torch.as_tensor(m["SCAM"].astype(np.float32)), atol=5e-3)
