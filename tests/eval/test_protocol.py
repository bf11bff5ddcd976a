"""stanet_lib.eval.protocol, the STAViS protocol pipeline: wiring against a hand-run of the steps, aggregation, robustness, CLI, bench."""

import math
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
from PIL import Image

from stanet_lib import cli
from stanet_lib.config import load_profile
from stanet_lib.data.encode import write_jpeg
from stanet_lib.data.stavis import StavisFormatError, load_fixation_map, load_gt_map, save_fixation_map
from stanet_lib.eval import matlab
from stanet_lib.eval import metrics as M
from stanet_lib.eval import protocol as E
from tests.stavis_fixtures import make_layout, smooth_predictions

DB = "TinyDB"
VIDEOS = {"vidA": 6, "vidB": 5, "vidC": 4}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three videos, folds 1-2 overlapping on vidB (AVAD-style), JPEG predictions at 12x20 for 18x32 GT."""
    tmp = tmp_path_factory.mktemp("stavis")
    root = make_layout(tmp / "data", DB, VIDEOS, {1: ["vidA", "vidB"], 2: ["vidB", "vidC"]})
    preds = smooth_predictions(VIDEOS)
    for k in (1, 2):
        for v in VIDEOS:
            E.write_prediction_maps(tmp / "preds", DB, k, v, preds[v])
    return root, tmp / "preds", preds


def _by_hand(root, pred_dir, video, nframes, seed=0):
    """The eval_<db>.m loop written out step by step with the library's primitives."""
    rng = np.random.default_rng(seed)
    eye = [load_fixation_map(root.fixation_path(DB, video, j)) for j in range(1, nframes + 1)]
    union = np.any(eye, axis=0)
    rows = []
    for p in sorted(pred_dir.glob("*.jpg")):
        f = int(p.stem.split("_")[-1])
        if f > nframes:
            continue
        sal = matlab.imresize(matlab.postprocess_map(E.read_prediction_jpeg(p), 2.0),
                             load_gt_map(root.map_path(DB, video, f)).shape)
        gt = load_gt_map(root.map_path(DB, video, f))
        other = union.copy()
        other[eye[f - 1]] = False
        rows.append([M.AUC_Judd(sal, eye[f - 1], rng=rng), M.SIM(sal, gt),
                     M.AUC_shuffled(sal, eye[f - 1], other, rng=rng), M.CC(sal, gt), M.NSS(sal, eye[f - 1])])
    a = np.array(rows)
    return [np.nanmean(a[:, k]) for k in range(5)], len(rows)


def test_pipeline_equals_hand_run_and_pooled_mean(world):
    root, preds, _ = world
    res = E.evaluate_db(root.root, DB, preds, splits=(1, 2))
    df = res.per_video
    assert list(df.columns[:9]) == ["db", "split", "video", "frames_scored", "AUC_J", "SIM", "sAUC", "CC",
                                    "NSS"]
    assert list(zip(df.split, df.video)) == [(1, "vidA"), (1, "vidB"), (2, "vidB"), (2, "vidC")]
    for r in df.itertuples():
        want, n = _by_hand(root, E.StavisResults(preds, DB).video_dir(r.split, r.video), r.video, r.nframes)
        assert r.frames_scored == n == VIDEOS[r.video]
        np.testing.assert_allclose([r.AUC_J, r.SIM, r.sAUC, r.CC, r.NSS], want, rtol=1e-12)
    # frame 2 has no fixations: NaN for AUC-J, sAUC and NSS, dropped from the video means
    assert (df.frames_with_nan == 1).all()
    # compute_all: unweighted mean over the 4 (split, video) entries, vidB counted twice
    np.testing.assert_allclose(res.means.values, df[list(M.TABLE_METRICS)].mean().values, rtol=1e-14)
    assert res.missing == []


def test_shuffle_map_is_union_minus_current_frame(world):
    root, _, _ = world
    fx = E.VideoFixations.load(root, DB, "vidA", 6)
    eye = [load_fixation_map(root.fixation_path(DB, "vidA", j)) for j in range(1, 7)]
    fix, other = fx.maps(3)
    np.testing.assert_array_equal(fix, eye[2])
    np.testing.assert_array_equal(other, np.any(eye, axis=0) & ~eye[2])
    assert not other[eye[2]].any() and other.sum() > 0


def test_array_and_callable_sources_match_jpeg_source(world):
    root, preds, maps = world
    jpeg = E.evaluate_db(root.root, DB, preds, splits=(1,)).per_video
    decoded = {v: np.stack([E.read_prediction_jpeg(p) for p in sorted(E.StavisResults(preds, DB)
                                                                       .video_dir(1, v).glob("*.jpg"))])
               for v in ("vidA", "vidB")}
    arr = E.evaluate_db(root.root, DB, decoded, splits=(1,)).per_video
    call = E.evaluate_db(root.root, DB, lambda k, v, f: decoded[v][f - 1], splits=(1,)).per_video
    cols = list(M.TABLE_METRICS)
    np.testing.assert_allclose(arr[cols].values, jpeg[cols].values, rtol=1e-13)
    np.testing.assert_allclose(call[cols].values, jpeg[cols].values, rtol=1e-13)
    raw = E.evaluate_db(root.root, DB, maps, splits=(1,)).per_video  # unquantised floats: close, not equal
    assert np.abs(raw[cols].values - jpeg[cols].values).max() < 0.05


def test_every_nth_and_seed(world):
    root, preds, _ = world
    df = E.evaluate_db(root.root, DB, preds, (1,), E.EvalOptions(every_nth=2, first_frame=1)).per_video
    assert df.frames_scored.tolist() == [3, 3]  # vidA 1,3,5; vidB 1,3,5
    df2 = E.evaluate_db(root.root, DB, preds, (1,), E.EvalOptions(every_nth=3, first_frame=2)).per_video
    assert df2.frames_scored.tolist() == [2, 2]  # frames 2, 5
    a = E.evaluate_db(root.root, DB, preds, (1,), E.EvalOptions(seed=0)).per_video
    b = E.evaluate_db(root.root, DB, preds, (1,), E.EvalOptions(seed=1)).per_video
    assert (a.CC == b.CC).all() and (a.NSS == b.NSS).all() and not (a.sAUC == b.sAUC).all()
    assert (a.AUC_J == b.AUC_J).all()  # tie-free maps: the 1e-7 jitter changes no order


def test_parallel_workers_give_identical_rows(world):
    root, preds, _ = world
    one = E.evaluate_db(root.root, DB, preds, (1, 2)).per_video
    two = E.evaluate_db(root.root, DB, preds, (1, 2), workers=2).per_video
    pd.testing.assert_frame_equal(one, two)


def test_a_shared_pool_scores_mappings_one_video_at_a_time(world):
    """One pool serves several calls (as a stage scores its map variants); each process is sent only its video's
    maps (ArrayPredictions.only); rows equal the in-process ones, for (split, video) and video keys."""
    root, _, arrays = world
    keyed = {(k, v): arrays[v] for k in (1, 2) for v in VIDEOS}
    with E.scoring_pool(2) as pool:
        assert pool is not None
        shared = [E.evaluate_db(root.root, DB, src, (1, 2), executor=pool).per_video for src in (arrays, keyed)]
    for src, rows in zip((arrays, keyed), shared):
        pd.testing.assert_frame_equal(E.evaluate_db(root.root, DB, src, (1, 2)).per_video, rows)
    cut = E.ArrayPredictions(keyed).only(2, "vidB")
    assert list(cut.maps) == [(2, "vidB")] and cut.list_frames(1, "vidB", 5) is None
    assert list(E.ArrayPredictions(arrays).only(1, "vidC").maps) == ["vidC"]
    assert E.ArrayPredictions(arrays).only(1, "nope").maps == {}
    with E.scoring_pool(1) as pool:
        assert pool is None


def test_robustness_layout_quirks(tmp_path):
    videos = {"v1": 5, "v2": 4, "v3": 4, "v4": 4}
    root = make_layout(tmp_path / "data", DB, videos, {1: list(videos)}, seed=3)
    preds = smooth_predictions(videos, seed=4)
    out = tmp_path / "preds"
    # v1: frames 1, 3, 4 only (missing frames), plus frame 9 > nframes, a .png, a .txt, an unparsable jpg
    E.write_prediction_maps(out, DB, 1, "v1", {f: preds["v1"][f - 1] for f in (1, 3, 4)}, name="pred_sal")
    folder = E.StavisResults(out, DB).video_dir(1, "v1")
    write_jpeg(folder / "pred_sal_00009.jpg", np.full((12, 20), 200, np.uint8))
    (folder / "notes.txt").write_text("not a map")
    write_jpeg(folder / "x.jpg", np.full((12, 20), 9, np.uint8))
    Image.fromarray(np.zeros((12, 20), np.uint8)).save(folder / "pred_sal_00002.png")
    # v2: RGB JPEG whose first channel is v1-like data; the protocol reads channel 1 only
    e2 = E.StavisResults(out, DB).video_dir(1, "v2")
    grey = np.round(preds["v2"] * 255).astype(np.uint8)
    for f in range(1, 5):
        rgb = np.stack([grey[f - 1], np.zeros_like(grey[f - 1]), np.full_like(grey[f - 1], 255)], axis=-1)
        write_jpeg(e2 / f"frame_{f:04d}.jpg", rgb, quality=100)
    # v3: constant prediction; v4: absent
    E.write_prediction_maps(out, DB, 1, "v3", np.full((4, 12, 20), 0.6))
    res = E.evaluate_db(root.root, DB, out, (1,))
    df = res.per_video.set_index("video")
    assert df.loc["v1", "frames_scored"] == 3 and df.loc["v1", "status"] == "ok"
    assert df.loc["v2", "frames_scored"] == 4
    grey_only = {"v2": np.stack([E.read_prediction_jpeg(p) for p in sorted(e2.glob("*.jpg"))])}
    ref = E.evaluate_db(root.root, DB, grey_only, (1,)).per_video.set_index("video")
    assert df.loc["v2", "CC"] == pytest.approx(ref.loc["v2", "CC"], rel=1e-12)
    # constant: normalizeImage1 -> 0.5 everywhere -> CC, SIM, NSS, sAUC NaN; AUC-J from the jitter alone
    assert all(math.isnan(df.loc["v3", m]) for m in ("SIM", "sAUC", "CC", "NSS"))
    assert 0.15 < df.loc["v3", "AUC_J"] < 0.85 and df.loc["v3", "frames_with_nan"] == 4
    assert df.loc["v4", "status"].startswith("missing") and df.loc["v4", "frames_scored"] == 0
    assert any("v4" in m for m in res.missing) and not any("v3" in m for m in res.missing)
    # the constant video is scored, its NaN metrics named in its status
    assert df.loc["v3", "status"] == "nan: SIM, s-AUC, CC, NSS NaN in every scored frame (a constant or empty prediction?)"
    # NaN of the constant video propagates to the dataset mean (MATLAB mean); the missing video is left out
    assert math.isnan(res.means["CC"]) and not math.isnan(res.means["AUC_J"])
    scored = df[E.is_scored(res.per_video).to_numpy()]
    assert sorted(scored.index) == ["v1", "v2", "v3"]
    assert res.means["AUC_J"] == pytest.approx(scored.AUC_J.mean())
    with_values = E.dataset_means_with_values(res.per_video)
    assert with_values["CC"] == pytest.approx(df.loc[["v1", "v2"], "CC"].mean())
    assert with_values["AUC_J"] == pytest.approx(res.means["AUC_J"])


def test_all_zero_frames_are_dropped_per_metric(tmp_path):
    videos = {"z": 4}
    root = make_layout(tmp_path / "data", DB, videos, {1: ["z"]}, seed=5)
    maps = smooth_predictions(videos, seed=6)["z"].copy()
    maps[2] = 0.0  # frame 3 all zero -> NaN in every metric -> dropped
    full = E.evaluate_db(root.root, DB, {"z": maps}, (1,)).per_video.iloc[0]
    assert full.frames_scored == 4 and full.frames_with_nan == 2  # frame 2 (no fixations) and frame 3
    only = {"z": {f: maps[f - 1] for f in (1, 2, 4)}}
    part = E.evaluate_db(root.root, DB, only, (1,)).per_video.iloc[0]
    assert full.CC == pytest.approx(part.CC, rel=1e-12) and full.SIM == pytest.approx(part.SIM, rel=1e-12)


def test_diem_single_list_is_mean_of_split_means(tmp_path):
    videos = {"d1": 4, "d2": 3}
    root = make_layout(tmp_path / "data", "DIEMlike", videos, {None: ["d1", "d2"]}, seed=7)
    preds = smooth_predictions(videos, seed=8)
    res = E.evaluate_db(root.root, "DIEMlike", {(k, v): preds[v] * (0.5 + 0.2 * k) + 0.05 * k
                                                  for k in (1, 2, 3) for v in videos}, (1, 2, 3))
    df = res.per_video
    assert sorted(df.split.unique()) == [1, 2, 3] and len(df) == 6
    want = df.groupby("split")[list(M.TABLE_METRICS)].mean().mean()
    np.testing.assert_allclose(res.means.values, want.values, rtol=1e-14)
    # with video d2 missing from split 3, the split means are no longer the pooled mean
    part = {(k, v): preds[v] for k in (1, 2, 3) for v in videos if (k, v) != (3, "d2")}
    r2 = E.evaluate_db(root.root, "DIEMlike", part, (1, 2, 3))
    ok = r2.per_video[r2.per_video.status == "ok"]
    by_split = ok.groupby("split")[list(M.TABLE_METRICS)].mean().mean()
    np.testing.assert_allclose(r2.means.values, by_split.values)
    assert len(r2.missing) == 1


def test_writer_layout_and_frame_number_parsing(tmp_path):
    folder = E.write_prediction_maps(tmp_path, "ETMD_av", 2, "clip", {7: np.full((4, 5), 0.5)}, name="p_x")
    assert folder == tmp_path / "split2_results" / "etmd" / "clip"
    assert [p.name for p in folder.iterdir()] == ["p_x_00007.jpg"]
    got = E.read_prediction_jpeg(folder / "p_x_00007.jpg")
    assert got == pytest.approx(np.full((4, 5), 128 / 255), abs=2e-2)
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 255
    write_jpeg(tmp_path / "rgb_1.jpg", rgb, quality=100)
    got = E.read_prediction_jpeg(tmp_path / "rgb_1.jpg")
    assert got == pytest.approx(np.full((4, 5), 200 / 255), abs=3e-2)  # channel 1, not luma
    assert E.frame_number("pred_sal_000009.jpg") == 9 and E.frame_number("img.00003_5.jpg") is None
    assert E.frame_number("a_b_c.jpg") is None and E.frame_number("12.jpg") == 12


def test_cli_end_to_end(world, tmp_path, capsys):
    root, preds, _ = world
    out = tmp_path / "res.csv"
    rc = cli.main(["evaluate", "--stavis-root", str(root.root), "--pred-root", str(preds), "--db", DB,
                   "--splits", "1,2", "--seed", "0", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert len(df) == 4 and df.columns[:9].tolist() == E.COLUMNS[:9]
    printed = capsys.readouterr().out
    assert "AUC-J     SIM   s-AUC      CC     NSS" in printed.replace("   ", "   ")
    means = E.evaluate_db(root.root, DB, preds, (1, 2)).means
    assert f"{means['NSS']:6.3f}" in printed and f"{means['AUC_J']:6.3f}" in printed
    # a prediction root without split 2 for vidC: the others are scored and written, the video is reported, exit 1
    shutil.rmtree(E.StavisResults(preds, DB).video_dir(2, "vidC"))
    try:
        rc = cli.main(["evaluate", "--stavis-root", str(root.root), "--pred-root", str(preds), "--db", DB,
                       "--splits", "2", "--out", str(out)])
        captured = capsys.readouterr()
        printed = captured.out
        assert rc == 1 and "not scored" in printed and "vidC" in printed and "missing" in printed
        assert "1 video(s) not scored" in captured.err and len(pd.read_csv(out)) == 2
    finally:
        maps = smooth_predictions(VIDEOS)
        E.write_prediction_maps(preds, DB, 2, "vidC", maps["vidC"])


def test_options_from_profile_config():
    opts = E.EvalOptions.from_config(load_profile("smoke", **{"eval.every_nth": 30, "eval.seed": 4}).eval)
    assert (opts.sigma, opts.n_splits, opts.step, opts.every_nth, opts.seed) == (2.0, 100, 0.1, 30, 4)
    assert opts.wants(1) and opts.wants(31) and not opts.wants(2)


# --------------------------------------------------------------------------------------------------- bad input


def _bad_world(tmp_path):
    videos = {"good": 4, "nofix": 4, "noeye": 4, "png": 4, "const": 4, "badjpg": 4}
    root = make_layout(tmp_path / "data", DB, videos, {1: list(videos)}, seed=11)
    preds = smooth_predictions(videos, seed=12)
    out = tmp_path / "preds"
    for v in videos:
        if v != "png":
            E.write_prediction_maps(out, DB, 1, v, np.full((4, 12, 20), 0.4) if v == "const" else preds[v])
    root.fixation_path(DB, "nofix", 3).unlink()
    scipy.io.savemat(root.fixation_path(DB, "noeye", 1), {"fixations": np.zeros((18, 32), np.uint8)})
    png = E.StavisResults(out, DB).video_dir(1, "png")
    png.mkdir(parents=True)
    for f in range(1, 5):
        Image.fromarray(np.round(preds["png"][f - 1] * 255).astype(np.uint8)).save(png / f"pred_sal_{f:05d}.png")
    bad = E.StavisResults(out, DB).video_dir(1, "badjpg") / "pred_sal_00002.jpg"
    bad.write_bytes(b"not a jpeg")
    return root, out


def test_evaluate_scores_every_video_it_can_and_reports_the_others(tmp_path, capsys):
    root, preds = _bad_world(tmp_path)
    out = tmp_path / "res.csv"
    rc = cli.main(["evaluate", "--stavis-root", str(root.root), "--pred-root", str(preds), "--db", DB, "--splits",
                   "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 1 and "Traceback" not in captured.err
    df = pd.read_csv(out).set_index("video")
    assert len(df) == 6 and df.loc["good", "status"] == "ok" and df.loc["good", "frames_scored"] == 4
    assert df.loc["nofix", "status"] == f"error: {root.fixation_path(DB, 'nofix', 3)}: fixation map not found"
    assert df.loc["noeye", "status"].startswith(f"error: {root.fixation_path(DB, 'noeye', 1)}: no variable 'eyeMap'")
    assert df.loc["png", "status"] == ("empty: no .jpg prediction frame in 1..4; 4 .png files present and ignored "
                                       "(the protocol reads .jpg files only)")
    assert df.loc["badjpg", "status"].startswith("error: ") and "pred_sal_00002.jpg: not a readable image" in \
        df.loc["badjpg", "status"]
    assert df.loc["const", "status"].startswith("nan: SIM, s-AUC, CC, NSS")
    printed = " ".join(captured.out.split())
    assert "2/6 scored" in printed  # good and const
    assert f"NaN metric: {DB} split 1 const: SIM, s-AUC, CC, NSS" in printed
    assert "mean over the videos with a value (not MATLAB's mean, which is NaN)" in printed
    for v in ("nofix", "noeye", "png", "badjpg"):
        assert f"not scored: {DB} split 1 {v}:" in printed
    assert "4 video(s) not scored" in captured.err


def test_evaluate_database_and_fold_list_errors_are_one_line(tmp_path, capsys):
    root = make_layout(tmp_path / "data", DB, {"a": 3}, {1: ["a"]}, seed=1)
    preds = tmp_path / "preds"
    E.write_prediction_maps(preds, DB, 1, "a", smooth_predictions({"a": 3})["a"])
    base = ["evaluate", "--stavis-root", str(root.root), "--pred-root", str(preds), "--splits", "1"]
    assert cli.main([*base, "--db", "TinyBD", "--out", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err
    assert err == f"error: --db TinyBD: no test fold list for it in {root.fold_dir}; databases there: {DB}\n"
    assert cli.main([*base, "--db", DB, "--splits", "2", "--out", str(tmp_path / "x.csv")]) == 1
    assert capsys.readouterr().err == f"error: {root.fold_dir / f'{DB}_list_test_2_fps.txt'}: fold list not found\n"
    assert not (tmp_path / "x.csv").exists()
    # one database fails, the other is scored and written
    assert cli.main([*base, "--db", f"{DB},Nope", "--out", str(tmp_path / "y.csv")]) == 1
    err = capsys.readouterr().err
    assert "error: --db Nope" in err and len(pd.read_csv(tmp_path / "y.csv")) == 1
    # a comment line in a fold list is skipped
    fold = root.fold_dir / f"{DB}_list_test_1_fps.txt"
    fold.write_text("# name nframes fps\n" + fold.read_text())
    assert cli.main([*base, "--db", DB, "--out", str(tmp_path / "z.csv")]) == 0


def test_matlab_v73_fixation_files_are_read(tmp_path):
    eye = np.zeros((6, 9), np.uint8)
    eye[1, 7] = eye[4, 2] = 1
    v5 = tmp_path / "fixMap_00001.mat"
    save_fixation_map(v5, eye)
    v73 = tmp_path / "fixMap_00002.mat"  # MATLAB -v7.3: HDF5 behind a 512-byte user block, column-major
    with h5py.File(v73, "w", userblock_size=512) as f:
        f.create_dataset("eyeMap", data=eye.T.astype(np.float64))
    with open(v73, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file".ljust(128, b" "))
    struct = tmp_path / "fixMap_00003.mat"
    with h5py.File(struct, "w") as f:
        f.create_group("S").create_dataset("eyeMap", data=eye.T)
    for path in (v5, v73, struct):
        got = load_fixation_map(path)
        assert got.dtype == bool and got.shape == (6, 9) and (got == (eye > 0)).all(), path
    empty = tmp_path / "fixMap_00004.mat"
    with h5py.File(empty, "w") as f:
        f.create_dataset("other", data=eye.T)
    with pytest.raises(StavisFormatError, match=r"fixMap_00004.mat: no variable 'eyeMap' \(found \['other'\]\)"):
        load_fixation_map(empty)
