"""Reader of the AVE dataset layout (Tian et al., ECCV 2018), STANet's training set.

Layout (``reference/evaluation_protocol_and_datasets.md`` §2.1)::

    <root>/AVE/<VideoID>.mp4
    <root>/Annotations.txt            Category&VideoID&Quality&StartTime&EndTime, with or without header
    <root>/trainSet.txt valSet.txt testSet.txt   same line format, no header

Facts the reader handles explicitly (checked in ``tests/test_ave.py`` on the real metadata):
4,143 rows, 28 categories, split 3,339 / 402 / 402; 4,097 distinct video ids: 45 ids carry more than one row
(one video, several events of different categories: 44 ids with two rows, ``0f_iTO5t3hU`` with three), and 18 of
them have rows in two splits (``cross_split_id``); one row has a zero-length event
(``Church bell&VWi2ENBuTbw&good&0&0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..artefacts import write_text

HEADER = ["Category", "VideoID", "Quality", "StartTime", "EndTime"]
SPLIT_FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}


class AnnotationError(ValueError):
    """A line of an AVE annotation file does not parse; the message names the file and line."""


@dataclass(frozen=True)
class AVEIndex:
    """All annotation rows with their split, plus the category order used for integer labels."""

    rows: pd.DataFrame  # columns: row, category, video_id, quality, start, end, label, split, duplicate_id
    categories: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    def split(self, name: str) -> pd.DataFrame:
        return self.rows[self.rows["split"] == name]


def parse_annotation_file(path: str | Path) -> pd.DataFrame:
    """Parse one ``&``-separated file; a header line equal to :data:`HEADER` is accepted and skipped.

    Raises:
        FileNotFoundError: the file is missing.
        AnnotationError: a line does not have 5 fields or its times are not numbers (file and line named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: AVE annotation file not found")
    records = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split("&")
        if lineno == 1 and [f.strip() for f in fields] == HEADER:
            continue
        if len(fields) != 5:
            raise AnnotationError(f"{path}:{lineno}: expected 5 '&'-separated fields, got {len(fields)}: {raw!r}")
        category, video_id, quality, start, end = (f.strip() for f in fields)
        try:
            start_f, end_f = float(start), float(end)
        except ValueError:
            raise AnnotationError(f"{path}:{lineno}: start/end time is not a number: {raw!r}") from None
        if not category or not video_id:
            raise AnnotationError(f"{path}:{lineno}: empty category or video id: {raw!r}")
        if end_f < start_f:
            raise AnnotationError(f"{path}:{lineno}: event ends before it starts: {raw!r}")
        records.append((lineno, category, video_id, quality, start_f, end_f))
    return pd.DataFrame(records, columns=["line", "category", "video_id", "quality", "start", "end"])


def category_order(annotations: pd.DataFrame) -> tuple[str, ...]:
    """Categories in order of first appearance in ``Annotations.txt`` (the 28-way order used by STA_trial;
    the released code used folder order, which is OS-dependent: audit §1.1)."""
    return tuple(dict.fromkeys(annotations["category"]))


def read_ave(root: str | Path) -> AVEIndex:
    """Read ``Annotations.txt`` and the three split files under ``root``.

    Split rows are matched to annotation rows by their full key (category, video id, start, end), so each of
    the 45 two-event videos keeps both of its rows. Rows found in no split get ``split == "none"``.
    """
    root = Path(root)
    key = ["category", "video_id", "start", "end"]
    ann = parse_annotation_file(root / "Annotations.txt")
    _no_duplicate_events(ann, root / "Annotations.txt", key)
    cats = category_order(ann)
    ann = ann.drop(columns="line").reset_index(names="row")
    ann["label"] = ann["category"].map({c: i for i, c in enumerate(cats)}).astype(int)
    ann["split"] = "none"
    for name, fname in SPLIT_FILES.items():
        path = root / fname
        if not path.exists():
            continue
        split = parse_annotation_file(path)
        _no_duplicate_events(split, path, key)
        known = split.merge(ann[key], on=key, how="left", indicator=True)
        unknown = known[known["_merge"] == "left_only"]
        if len(unknown):
            first = unknown.iloc[0]
            raise AnnotationError(f"{path}:{first['line']}: {len(unknown)} row(s) not in {root / 'Annotations.txt'}, "
                                  f"the first: {first['category']}&{first['video_id']}&{first['start']:g}&"
                                  f"{first['end']:g}")
        merged = ann.reset_index().merge(split[key], on=key, how="inner")
        clash = ann.loc[merged["index"], "split"] != "none"
        if clash.any():
            raise AnnotationError(f"{path}: rows already assigned to another split: {merged[clash.values].head()}")
        ann.loc[merged["index"], "split"] = name
    ann["duplicate_id"] = ann.duplicated("video_id", keep=False)
    # The official split is by row, not by video: some two-event videos have rows in two splits (18 of the
    # 45 in the real metadata), so the same frames appear in train and val/test. Flagged, not changed.
    ann["cross_split_id"] = ann.groupby("video_id")["split"].transform("nunique") > 1
    ann["zero_length"] = ann["end"] <= ann["start"]
    _same_categories(ann, root)
    return AVEIndex(rows=ann, categories=cats)


def _no_duplicate_events(rows: pd.DataFrame, path: Path, key: list[str]) -> None:
    """The same event (category, video id, start, end) twice in one file is an error naming both lines."""
    dup = rows[rows.duplicated(key, keep=False)]
    if len(dup):
        first = dup.iloc[0]
        lines = dup.loc[(dup[key] == first[key]).all(axis=1), "line"].tolist()
        raise AnnotationError(f"{path}:{lines[1]}: the same event as line {lines[0]} ({first['category']}&"
                              f"{first['video_id']}&{first['start']:g}&{first['end']:g}); remove one of them "
                              f"({len(dup) - dup.drop_duplicates(key).shape[0]} duplicate row(s) in the file)")


def _same_categories(ann: pd.DataFrame, root: Path) -> None:
    """Every split present has the same categories: a category missing from train would give nets with a class
    that is never trained, one missing from val or test is never evaluated."""
    present = {name: set(ann.loc[ann["split"] == name, "category"]) for name in SPLIT_FILES}
    present = {name: cats for name, cats in present.items() if cats}
    if len(present) < 2:
        return
    every = set().union(*present.values())
    for name, cats in present.items():
        if cats != every:
            missing = sorted(every - cats)
            raise AnnotationError(
                f"{root / SPLIT_FILES[name]}: no row of categor{'y' if len(missing) == 1 else 'ies'} "
                f"{', '.join(missing)}, which the other splits have; the splits must have the same categories "
                f"(add rows or drop the category from every split)")


def video_path(root: str | Path, video_id: str) -> Path:
    """Where AVE keeps a video: ``<root>/AVE/<video_id>.mp4``."""
    return Path(root) / "AVE" / f"{video_id}.mp4"


def write_annotation_file(path: str | Path, rows: pd.DataFrame, header: bool) -> None:
    """Write rows (columns category, video_id, quality, start, end) in the AVE format (used by the generator)."""
    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"

    lines = ["&".join(HEADER)] if header else []
    lines += [
        f"{r.category}&{r.video_id}&{r.quality}&{fmt(r.start)}&{fmt(r.end)}" for r in rows.itertuples()
    ]
    write_text(path, "\n".join(lines) + "\n")
