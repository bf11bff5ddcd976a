import dataclasses

import numpy as np
import pandas as pd

from stanet_lib.report.localisation import MAP_ROWS, localisation_table, write_localisation


def test_localisation_table_of_the_smoke_run(smoke_world, tmp_path):
    df = write_localisation(smoke_world, tmp_path)
    assert list(df.columns) == ["db", "map", "pointing", "cc", "frames", "box_area"]
    assert set(df["db"]) == {s.split(":", 1)[1] for s in smoke_world.test_sets()}
    names = set(df["map"])
    assert {n for _, _, n in MAP_ROWS} | {"centre bias", "GT ceiling"} == names
    assert any("pseudo" in n for n in names)
    assert ((df["pointing"] >= 0) & (df["pointing"] <= 1)).all()
    gt = df[df["map"] == "GT ceiling"]
    # the simulated observers look at the sounding object: far above chance (the box's share of the frame); the
    # smoke world's first frames look at the screen centre and a video has 10-12 frames, so not near 1
    assert (gt["pointing"] > 0.6).all() and (gt["pointing"] > 5 * gt["box_area"]).all()
    assert (df["box_area"] < 0.5).all() and (df["box_area"] > 0).all()
    sta = df[df["map"] == "STA net"].set_index("db")["cc"]
    metrics = pd.read_csv(smoke_world.runs / "tables" / "sta_metrics.csv")
    ref = metrics[metrics["model"] == "sta"].set_index("db")["CC"]
    assert np.allclose(sta.sort_index(), ref.sort_index())  # the CC column is the protocol's, not a second estimate
    assert pd.read_csv(tmp_path / "tables" / "localisation.csv").shape == df.shape


def test_no_truth_no_rows(smoke_world):
    real = dataclasses.replace(smoke_world, truth=None)
    assert localisation_table(real).empty
