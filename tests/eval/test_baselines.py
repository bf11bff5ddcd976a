"""stanet_lib.eval.baselines: the baselines, consumed by the evaluation directly."""

import math

import numpy as np
import pytest

from stanet_lib.eval import baselines as B
from stanet_lib.eval import protocol as E
from tests.stavis_fixtures import make_layout

VIDEOS = {"b1": 5, "b2": 4}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = make_layout(tmp_path_factory.mktemp("b") / "data", "AVAD", VIDEOS, {1: ["b1"], 2: ["b2"]},
                       shape=(24, 40), fix_per_frame=6, seed=11)
    return root


def test_centre_bias_and_constant_maps():
    c = B.centre_bias((9, 16), sigma_frac=0.25)
    assert c.shape == (9, 16) and 0.98 < c.max() <= 1.0 and c[4].argmax() in (7, 8)
    assert c[4, 0] == pytest.approx(c[4, 15]) and c[0, 8] == pytest.approx(c[8, 8])
    assert c[4, 0] == pytest.approx(math.exp(-0.5 * (7.5 / 4) ** 2))  # row 4 is the centre row (y = 0)
    assert np.all(B.constant_map((3, 4), 0.2) == 0.2)


def test_spectral_residual_finds_the_odd_blob_and_motion():
    rng = np.random.default_rng(0)
    img = 0.5 + 0.02 * rng.standard_normal((96, 128))
    img[60:70, 90:100] = 1.0  # a small bright patch on a flat background
    sal = B.spectral_residual(img)
    ys, xs = np.unravel_index(sal.argmax(), sal.shape)
    assert sal.shape == (48, 64) and abs(ys - 32) <= 6 and abs(xs - 47) <= 6
    prev = img.copy()
    moved = img.copy()
    moved[10:20, 10:20] = 0.0  # something changed top-left
    mot = B.flicker(moved, prev)
    assert mot.max() == pytest.approx(1.0) and mot[:16, :16].mean() > 5 * mot[24:, 32:].mean()
    assert not B.flicker(img, img).any()
    both = B.spectral_residual_motion(moved, prev, (96, 128))
    assert both.shape == (96, 128) and both.min() >= 0 and both.max() == pytest.approx(1.0)


@pytest.mark.parametrize("kind", B.KINDS)
def test_every_baseline_is_consumed_by_the_evaluation(world, kind):
    res = E.evaluate_db(world.root, "AVAD", B.BaselinePredictions(kind, world.root, "AVAD"), (1, 2))
    df = res.per_video
    assert df.frames_scored.tolist() == [5, 4] and E.is_scored(df).all()
    if kind == "constant":  # scored, its NaN metrics named in the status
        assert df[["SIM", "sAUC", "CC", "NSS"]].isna().all().all() and df.AUC_J.notna().all()
        assert df.status.str.startswith("nan: SIM, s-AUC, CC, NSS").all() and res.missing == []
    else:
        assert df[["AUC_J", "SIM", "CC", "NSS"]].notna().all().all() and (df.status == "ok").all()
    if kind == "ground_truth":  # the upper bound beats the centre prior on every video and metric
        src = B.BaselinePredictions("centre", world.root, "AVAD")
        centre = E.evaluate_db(world.root, "AVAD", src, (1, 2))
        for m in ("AUC_J", "SIM", "CC", "NSS"):
            assert (df[m].values > centre.per_video[m].values).all(), m
        assert (df.CC > 0.6).all() and (df.AUC_J > 0.8).all()


def test_video_maps_array_matches_source(world):
    arr = B.video_maps("centre", world.root, "AVAD", "b1", 5)
    assert arr.shape == (5, 24, 40) and arr.dtype == np.float32
    a = E.evaluate_db(world.root, "AVAD", {"b1": arr}, (1,)).per_video
    b = E.evaluate_db(world.root, "AVAD", B.BaselinePredictions("centre", world.root, "AVAD"), (1,)).per_video
    assert a.CC.iloc[0] == pytest.approx(b.CC.iloc[0], abs=1e-6)
    with pytest.raises(ValueError, match="unknown baseline"):
        B.BaselinePredictions("itti", world.root, "AVAD")
