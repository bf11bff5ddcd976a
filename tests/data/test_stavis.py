"""STAViS reader on the real fold lists (../shared/data/stavis_fold_lists) and on small files."""

import numpy as np
import pytest
import scipy.io

from stanet_lib.data.stavis import (
    StavisFormatError,
    StavisRoot,
    db_key,
    fold_list_files,
    load_fixation_map,
    load_gt_map,
    read_fold_list,
    save_fixation_map,
)
from stanet_lib.data.stavis import (
    test_folds as read_test_folds,
)
from stanet_lib.paths import SHARED_DIR

FOLDS = SHARED_DIR / "data" / "stavis_fold_lists"
needs_folds = pytest.mark.skipif(not FOLDS.exists(), reason=f"{FOLDS} not present")


@needs_folds
def test_every_real_fold_list_parses():
    files = fold_list_files(FOLDS)
    assert len(files) == 32  # 5 DBs x 3 folds x {train,test} + DIEM train/test
    for path in files.values():
        entries = read_fold_list(path)
        assert entries and all(e.nframes > 0 and 10 < e.fps < 61 for e in entries)


@needs_folds
@pytest.mark.parametrize("db,videos,test_entries,unique_test", [
    ("AVAD", 45, 45, 42), ("Coutrot_db1", 60, 60, 60), ("Coutrot_db2", 15, 15, 15),
    ("ETMD_av", 12, 12, 12), ("SumMe", 25, 23, 23),
])
def test_real_fold_counts(db, videos, test_entries, unique_test):
    folds = read_test_folds(FOLDS, db)
    assert sorted(folds) == [1, 2, 3]
    names = [e.name for k in folds for e in folds[k]]
    assert len(names) == test_entries
    assert len(set(names)) == unique_test
    train = {e.name for k in (1, 2, 3) for e in read_fold_list(FOLDS / f"{db}_list_train_{k}_fps.txt")}
    assert len(train | set(names)) == videos


@needs_folds
def test_avad_overlap_and_diem_single_split():
    folds = read_test_folds(FOLDS, "AVAD")
    sets = {k: {e.name for e in v} for k, v in folds.items()}
    assert sets[1] & sets[2] == {"V39_Guitar4", "V3_Speech3"}
    assert sets[2] & sets[3] == {"V26_Piano2"}
    diem = read_test_folds(FOLDS, "DIEM")
    assert all(len(v) == 17 for v in diem.values())
    assert diem[1] == diem[2] == diem[3]
    assert "harry_potter_6_trailer_1280x544" in {e.name for e in diem[1]}
    assert abs(read_fold_list(FOLDS / "AVAD_list_test_1_fps.txt")[0].fps - 28.666571) < 1e-9


def test_db_keys():
    assert [db_key(d) for d in ["AVAD", "Coutrot_db1", "Coutrot_db2", "DIEM", "ETMD_av", "SumMe"]] == [
        "avad", "coutrot1", "coutrot2", "diem", "etmd", "summe"]
    assert db_key("SynthAV_a") == "synthav_a"


def test_fold_list_without_trailing_newline_and_bad_line(tmp_path):
    p = tmp_path / "X_list_test_1_fps.txt"
    p.write_text("a 10 25.000000\nb 12 29.970030")
    assert [e.name for e in read_fold_list(p)] == ["a", "b"]
    p.write_text("a 10\n")
    with pytest.raises(StavisFormatError, match="X_list_test_1_fps.txt:1"):
        read_fold_list(p)


def test_missing_fold_is_named(tmp_path):
    (tmp_path / "X_list_test_1_fps.txt").write_text("a 10 25\n")
    with pytest.raises(FileNotFoundError, match="X_list_test_2_fps.txt"):
        read_test_folds(tmp_path, "X")


def test_fixation_map_roundtrip_and_errors(tmp_path):
    eye = np.zeros((9, 16), bool)
    eye[2, 3] = eye[8, 15] = True
    p = tmp_path / "fixMap_00001.mat"
    save_fixation_map(p, eye)
    got = load_fixation_map(p)
    assert got.dtype == bool and np.array_equal(got, eye)
    bad = tmp_path / "fixMap_00002.mat"
    scipy.io.savemat(bad, {"fixations": eye.astype(np.uint8)})
    with pytest.raises(StavisFormatError, match="no variable 'eyeMap'") as err:
        load_fixation_map(bad)
    assert str(bad) in str(err.value)
    junk = tmp_path / "fixMap_00003.mat"
    junk.write_bytes(b"not a mat file")
    with pytest.raises(StavisFormatError, match="fixMap_00003.mat"):
        load_fixation_map(junk)


def test_fixation_map_inside_struct(tmp_path):
    eye = np.eye(4, dtype=np.uint8)
    p = tmp_path / "s.mat"
    scipy.io.savemat(p, {"fix": {"eyeMap": eye}})
    assert np.array_equal(load_fixation_map(p), eye > 0)


def test_gt_map_gray_and_rgb(tmp_path):
    from stanet_lib.data.encode import write_jpeg

    g = np.full((6, 8), 255, np.uint8)
    write_jpeg(tmp_path / "g.jpg", g)
    write_jpeg(tmp_path / "c.jpg", np.stack([g] * 3, -1))
    for name in ("g.jpg", "c.jpg"):
        m = load_gt_map(tmp_path / name)
        assert m.shape == (6, 8) and m.max() <= 1.0 and m.min() > 0.95


def test_stavis_root_paths_and_missing_videos(tmp_path):
    root = StavisRoot(tmp_path)
    (tmp_path / "video_frames" / "DB" / "v1").mkdir(parents=True)
    assert root.frame_path("DB", "v1", 3).name == "img_00003.jpg"
    assert root.fixation_path("DB", "v1", 12).name == "fixMap_00012.mat"
    assert root.map_path("DB", "v1", 1).parent.name == "maps"
    assert root.audio_path("DB", "v1").name == "v1.wav"
    from stanet_lib.data.stavis import FoldEntry

    ok, missing = root.check_videos("DB", [FoldEntry("v1", 3, 25.0), FoldEntry("v2", 3, 25.0)])
    assert [e.name for e in ok] == ["v1"] and len(missing) == 1 and "v2" in missing[0]
