"""stanet_lib.stages.fine (stage 04) on the session's smoke pipeline: fine maps recovered into the coarse box, and
the pseudo-fixations and their ``valid`` flags as the post-processing gives them."""

import numpy as np
import pytest
import torch

from stanet_lib.stages.maps import load_maps
from stanet_lib.stages.pseudo import postprocess

pytestmark = pytest.mark.slow


def test_fine_maps_zero_outside_the_box(smoke_world):
    world = smoke_world
    for name, fs in world.sets.items():
        m = load_maps(world.maps_path("fine", name))
        pseudo_maps = m["pseudo"].astype(np.float32)
        assert pseudo_maps.shape == (len(fs), fs.canvas, fs.canvas)
        for key in ("pseudo", "SCAM", "CAM_S"):
            for i, (y0, y1, x0, x1) in enumerate(m["boxes"]):
                outside = m[key][i].astype(np.float32)
                outside[y0 : y1 + 1, x0 : x1 + 1] = 0
                assert outside.max() == 0, (name, key, i)


def test_pseudo_fixations_and_valid_are_the_post_processed_fine_scam(smoke_world):
    """The stored ``pseudo`` / ``valid`` are :func:`postprocess` of the stored fine SCAM under the world's config;
    with ``scam.drop_empty`` on (the demo and paper profiles; smoke turns it off), exactly the frames whose map
    is all zero (Eq. 3 kept no source) lose their target."""
    world = smoke_world
    kept = dropped = 0
    for name, fs in world.sets.items():
        m = load_maps(world.maps_path("fine", name))
        scam_fine = torch.as_tensor(m["SCAM"].astype(np.float32))
        tags = torch.as_tensor(m["tags"]).long()
        probs = {k: torch.as_tensor(m[f"probs_{k}"]) for k in ("S", "ST", "SA")}
        maps, valid = postprocess(scam_fine, fs, world.cfg, probs, tags)
        assert m["valid"].dtype == bool and np.array_equal(m["valid"], valid.numpy()), name
        np.testing.assert_allclose(m["pseudo"].astype(np.float32), maps.numpy(), rtol=0, atol=2e-3)
        strict = world.cfg.override(**{"scam.drop_empty": True})
        maps_on, valid_on = postprocess(scam_fine, fs, strict, probs, tags)
        assert torch.equal(valid_on, maps_on.flatten(1).amax(1) > 0), name
        kept, dropped = kept + int(valid_on.sum()), dropped + int((~valid_on).sum())
    assert kept > 0 and dropped > 0  # the smoke nets are at chance: both kinds of frame occur
