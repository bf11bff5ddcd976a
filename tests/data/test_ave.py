"""AVE reader on the real metadata (../shared/data/ave_meta) and on small bad files."""

import pandas as pd
import pytest

from stanet_lib.data.ave import AnnotationError, parse_annotation_file, read_ave, write_annotation_file
from stanet_lib.paths import SHARED_DIR
from tests import media_fixtures as mf

AVE_META = SHARED_DIR / "data" / "ave_meta"
needs_meta = pytest.mark.skipif(not AVE_META.exists(), reason=f"{AVE_META} not present")


@needs_meta
def test_real_ave_metadata_counts():
    idx = read_ave(AVE_META)
    rows = idx.rows
    assert len(rows) == 4143
    assert idx.num_classes == 28
    assert idx.categories[0] == "Church bell" and "Mandolin" in idx.categories
    assert rows["split"].value_counts().to_dict() == {"train": 3339, "val": 402, "test": 402}
    assert rows["video_id"].nunique() == 4097
    dup_ids = rows.loc[rows["duplicate_id"], "video_id"].unique()
    assert len(dup_ids) == 45
    assert rows["duplicate_id"].sum() == 91  # 44 ids x 2 rows + 0f_iTO5t3hU x 3
    assert (rows.groupby("video_id").size() == 3).sum() == 1
    cross = rows.loc[rows["cross_split_id"], "video_id"].unique()
    assert len(cross) == 18  # the official split is by row: these videos are in two splits
    zero = rows[rows["zero_length"]]
    assert list(zero["video_id"]) == ["VWi2ENBuTbw"] and zero.iloc[0]["category"] == "Church bell"
    assert rows["label"].between(0, 27).all()


@needs_meta
def test_duplicated_ids_keep_both_events():
    rows = read_ave(AVE_META).rows
    two = rows[rows["video_id"] == "-1qyr-IzqKY"]
    assert set(two["category"]) == {"Ukulele", "Accordion"}
    assert two["label"].nunique() == 2


def test_header_is_optional(tmp_path):
    df = pd.DataFrame({"category": ["a", "b"], "video_id": ["x1", "x2"], "quality": ["good"] * 2,
                       "start": [0, 2], "end": [10, 5]})
    write_annotation_file(tmp_path / "with.txt", df, header=True)
    write_annotation_file(tmp_path / "without.txt", df, header=False)
    a = parse_annotation_file(tmp_path / "with.txt")
    b = parse_annotation_file(tmp_path / "without.txt")
    assert len(a) == len(b) == 2
    assert a[["category", "video_id", "start", "end"]].equals(b[["category", "video_id", "start", "end"]])


@pytest.mark.parametrize("line,msg", [
    ("Bark&abc&good&0", "expected 5"),
    ("Bark&abc&good&zero&10", "not a number"),
    ("Bark&abc&good&8&2", "ends before"),
])
def test_bad_annotation_line_names_file_and_line(tmp_path, line, msg):
    p = tmp_path / "Annotations.txt"
    p.write_text("Bark&ok1&good&0&10\n" + line + "\n")
    with pytest.raises(AnnotationError, match=msg) as err:
        parse_annotation_file(p)
    assert f"{p}:2" in str(err.value)


def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Annotations.txt"):
        read_ave(tmp_path)


def test_split_row_not_in_annotations(tmp_path):
    (tmp_path / "Annotations.txt").write_text("Bark&v1&good&0&10\n")
    (tmp_path / "trainSet.txt").write_text("Bark&v2&good&0&10\n")
    with pytest.raises(AnnotationError, match="trainSet.txt"):
        read_ave(tmp_path)


def test_splits_with_different_categories_are_an_error(tmp_path):
    rows = [("Bark", "a", 0, 1, "train"), ("Bark", "b", 0, 1, "val"), ("Cat", "c", 0, 1, "val"),
            ("Bark", "d", 0, 1, "test"), ("Cat", "e", 0, 1, "test")]
    mf.ave_world(tmp_path, rows, make_videos=False)
    with pytest.raises(AnnotationError, match=r"trainSet\.txt: no row of category Cat, which the other splits have"):
        read_ave(tmp_path)


def test_a_duplicated_annotation_row_names_both_lines(tmp_path):
    (tmp_path / "Annotations.txt").write_text("Bark&v1&good&0&10\nCat&v2&good&0&10\nBark&v1&good&0&10\n")
    (tmp_path / "trainSet.txt").write_text("Bark&v1&good&0&10\nCat&v2&good&0&10\n")
    with pytest.raises(AnnotationError) as err:
        read_ave(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'Annotations.txt'}:3: the same event as line 1 (Bark&v1&0&10)")
    (tmp_path / "Annotations.txt").write_text("Bark&v1&good&0&10\nCat&v2&good&0&10\n")
    (tmp_path / "trainSet.txt").write_text("Bark&v1&good&0&10\nBark&v1&good&0&10\n")
    with pytest.raises(AnnotationError, match=r"trainSet\.txt:2: the same event as line 1"):
        read_ave(tmp_path)
    (tmp_path / "trainSet.txt").write_text("Bark&v1&good&0&10\nBark&v9&good&0&10\n")
    with pytest.raises(AnnotationError, match=r"trainSet\.txt:2: 1 row\(s\) not in .*Annotations\.txt, the first: "
                                              r"Bark&v9&0&10"):
        read_ave(tmp_path)
