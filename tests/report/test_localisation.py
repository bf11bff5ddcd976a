import dataclasses
import shutil

import numpy as np
import pandas as pd

from stanet_lib.data.synthetic import truth_path
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


def test_pointing_scores_only_the_frames_where_the_tag_sounds(smoke_world, tmp_path):
    """A video with unrelated audio has no sounding object: its frames leave the pointing game. The smoke world has
    no such video, so one video's truth is rewritten as silent in a copy of the truth."""
    synth = tmp_path / "synth"
    shutil.copytree(smoke_world.synth / "truth", synth / "truth")
    (synth / "stavis").symlink_to(smoke_world.stavis_root)
    set_name = smoke_world.test_sets()[0]
    db, fs = set_name.split(":", 1)[1], smoke_world.sets[set_name]
    video = str(fs.meta["video"].iloc[0])
    path = truth_path(synth, "stavis", db, video)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["sounding"] = np.zeros_like(arrays["sounding"])
    np.savez(path, **arrays)
    before = localisation_table(smoke_world).set_index(["db", "map"])["frames"]
    after = localisation_table(dataclasses.replace(smoke_world, synth=synth)).set_index(["db", "map"])["frames"]
    silent = int((fs.meta["video"].astype(str) == video).sum())
    assert (before.loc[db] == len(fs)).all()  # every smoke frame sounds
    assert (after.loc[db] == len(fs) - silent).all()
    other = [k for k in before.index if k[0] != db]
    assert (after.loc[other] == before.loc[other]).all()


def test_maps_left_by_a_run_over_other_frames_are_not_scored(smoke_world, tmp_path):
    """A later stage's maps from an earlier run (another test set size) are skipped, not misread or an error."""
    runs = tmp_path / "runs"
    shutil.copytree(smoke_world.runs / "maps", runs / "maps")
    shutil.copytree(smoke_world.runs / "tables", runs / "tables")
    set_name = smoke_world.test_sets()[0]
    db = set_name.split(":", 1)[1]
    path = dataclasses.replace(smoke_world, runs=runs).maps_path("fine", set_name)
    with np.load(path) as z:
        arrays = {k: z[k][: len(z["video"]) // 2] if z[k].shape[:1] == z["video"].shape else z[k] for k in z.files}
    np.savez(path, **arrays)
    df = localisation_table(dataclasses.replace(smoke_world, runs=runs))
    fine = {n for s, _, n in MAP_ROWS if s == "fine"}
    assert not (df["db"].eq(db) & df["map"].isin(fine)).any()
    assert (df["db"].eq(db) & df["map"].eq("coarse SCAM")).any()
    assert df[~df["db"].eq(db)]["map"].isin(fine).sum() == len(fine)
