import dataclasses

import numpy as np
import pandas as pd

from stanet_lib.report.fusion import COLUMNS, _row, fusion_table, write_fusion


def _peak_map(h: int, w: int, r: int, c: int) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    m[r, c] = 1.0
    return m


def test_known_frames():
    """Four frames of 8 x 8 CAMs on an 8 px canvas, the object's box the top-left 2 x 2 pixels:
    0: equal weights; 1: no source passes Eq. 3; 2: S most weighted and on the box, SA least and off it;
    3: weights differ but the tagged object does not sound (outside the pointing game)."""
    hit, miss = _peak_map(8, 8, 0, 0), _peak_map(8, 8, 6, 6)
    weights = np.array([[0.9, 0.9, 0.9], [0, 0, 0], [0.95, 0.6, 0.2], [0.9, 0.1, 0.5]])
    cams = {"CAM_S": np.stack([hit, hit, hit, miss]), "CAM_ST": np.stack([hit, hit, miss, miss]),
            "CAM_SA": np.stack([hit, hit, miss, hit])}
    boxes = np.tile([0, 1, 0, 1], (4, 1))
    sounding = np.array([True, True, True, False])
    row = _row("DB", "fine", {"weights": weights, **cams}, sounding, boxes, 8, {("DB", "fine SCAM"): 0.5})
    assert row["frames"] == 4 and row["dropped"] == 0.25
    assert np.isclose(row["near_equal"], 1 / 3)  # of the three frames some source passes
    assert np.isclose(row["w_S"], (0.9 + 0.95 + 0.9) / 4) and np.isclose(row["w_SA"], 1.6 / 4)
    assert row["ranked"] == 1  # frame 2 only: frame 3 differs but does not sound
    assert row["top_pointing"] == 1.0 and row["bottom_pointing"] == 0.0
    assert row["cc_sel"] == 0.5 and np.isnan(row["cc_avg"])
    # the same frames with the weights' order reversed: the least weighted source is now the one on the box
    row = _row("DB", "fine", {"weights": weights[:, ::-1].copy(), "CAM_S": cams["CAM_SA"], "CAM_ST": cams["CAM_ST"],
                              "CAM_SA": cams["CAM_S"]}, sounding, boxes, 8, {})
    assert row["top_pointing"] == 1.0 and row["bottom_pointing"] == 0.0
    row = _row("DB", "coarse", {"weights": weights, "CAM_S": cams["CAM_SA"], "CAM_ST": cams["CAM_ST"],
                                "CAM_SA": cams["CAM_S"]}, sounding, boxes, 8, {})
    assert row["top_pointing"] == 0.0 and row["bottom_pointing"] == 1.0


def test_coarse_cams_are_resized_to_the_canvas_before_pointing():
    """A 4 x 4 CAM peaking in its top-left cell points inside a box over the canvas's top-left quarter of 16 px."""
    cam = _peak_map(4, 4, 0, 0)[None]
    maps = {"weights": np.array([[0.9, 0.5, 0.1]]), "CAM_S": cam, "CAM_ST": cam, "CAM_SA": np.roll(cam, 2, -1)}
    row = _row("DB", "coarse", maps, np.array([True]), np.array([[0, 3, 0, 3]]), 16, {})
    assert row["top_pointing"] == 1.0 and row["bottom_pointing"] == 0.0


def test_fusion_table_of_the_smoke_run(smoke_world, tmp_path):
    df = write_fusion(smoke_world, tmp_path)
    assert list(df.columns) == COLUMNS
    dbs = {s.split(":", 1)[1] for s in smoke_world.test_sets()}
    assert set(zip(df["db"], df["stage"])) == {(db, st) for db in dbs for st in ("coarse", "fine")}
    for col in ("dropped", "near_equal", "w_S", "w_ST", "w_SA"):
        assert ((df[col] >= 0) & (df[col] <= 1)).all(), col
    assert (df["ranked"] <= df["frames"]).all()
    for stage in ("coarse", "fine"):  # the CC columns are the protocol's, from the stage's table
        ref = pd.read_csv(smoke_world.runs / "tables" / f"{stage}_maps.csv").set_index(["db", "variant"])["CC"]
        got = df[df["stage"] == stage]
        assert np.allclose(got["cc_sel"], [ref[(db, "SCAM")] for db in got["db"]])
        assert np.allclose(got["cc_avg"], [ref[(db, "SCAM_avg")] for db in got["db"]])
    assert pd.read_csv(tmp_path / "tables" / "fusion_weights.csv").shape == df.shape


def test_no_truth_no_rows(smoke_world):
    assert fusion_table(dataclasses.replace(smoke_world, truth=None)).empty
