"""Reader of the STAViS data-release layout of the six audio-visual eye-tracking test sets.

Layout (``reference/evaluation_protocol_and_datasets.md`` §2.2)::

    video_frames/<DB>/<v>/img_%05d.jpg          1-based, every frame
    video_audio/<DB>/<v>/<v>.wav
    annotations/<DB>/<v>/fixMap_%05d.mat        MATLAB file, variable ``eyeMap``: binary fixation map
    annotations/<DB>/<v>/maps/eyeMap_%05d.jpg   continuous ground-truth saliency map (8-bit JPEG)
    fold_lists/<DB>_list_test_<k>_fps.txt       "name nframes fps" per line (DIEM: <DB>_list_test_fps.txt)

Quirks handled: trailing newline or not, overlapping AVAD test folds (a video counted once per fold it is in,
as ``compute_all_avad.m`` does), DIEM's single fixed split (the same 17 videos for every split).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.io
from PIL import Image

from ..artefacts import atomic_path

# STAViS results-layout keys of the six real sets (eval_<db>.m); other databases use the lower-cased name.
DB_KEYS = {
    "AVAD": "avad",
    "Coutrot_db1": "coutrot1",
    "Coutrot_db2": "coutrot2",
    "DIEM": "diem",
    "ETMD_av": "etmd",
    "SumMe": "summe",
}
_FOLD_RE = re.compile(r"^(?P<db>.+)_list_(?P<kind>train|test)(?:_(?P<k>\d+))?_fps\.txt$")


class StavisFormatError(ValueError):
    """A STAViS-layout file is malformed; the message names the file."""


@dataclass(frozen=True)
class FoldEntry:
    """One line of a STAViS fold list: the video name, its frame count and frame rate."""

    name: str
    nframes: int
    fps: float


def db_key(db: str) -> str:
    """Results-layout folder name of a database (``AVAD`` -> ``avad``, ``ETMD_av`` -> ``etmd``)."""
    return DB_KEYS.get(db, db.lower())


def read_fold_list(path: str | Path) -> list[FoldEntry]:
    """Parse ``name nframes fps`` lines (blank lines and comment lines starting with ``#`` or ``%`` ignored,
    trailing newline optional, a UTF-8 byte-order mark dropped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: fold list not found")
    out = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        parts = raw.split()
        if not parts or parts[0].startswith(("#", "%")):
            continue
        if len(parts) != 3:
            raise StavisFormatError(f"{path}:{lineno}: expected 'name nframes fps', got {raw!r}")
        try:
            out.append(FoldEntry(parts[0], int(parts[1]), float(parts[2])))
        except ValueError:
            raise StavisFormatError(f"{path}:{lineno}: nframes/fps not numbers: {raw!r}") from None
    return out


def fold_list_files(fold_dir: str | Path) -> dict[tuple[str, str, int | None], Path]:
    """All fold lists in a folder, keyed by ``(db, "train"|"test", k)`` (``k`` is None for a single split)."""
    out = {}
    for p in sorted(Path(fold_dir).glob("*_fps.txt")):
        m = _FOLD_RE.match(p.name)
        if m:
            out[(m["db"], m["kind"], int(m["k"]) if m["k"] else None)] = p
    return out


def test_folds(fold_dir: str | Path, db: str, splits: tuple[int, ...] = (1, 2, 3)) -> dict[int, list[FoldEntry]]:
    """Test videos of each split. A database with one fixed split (DIEM) returns that list for every split."""
    files = fold_list_files(fold_dir)
    if (db, "test", None) in files:
        single = read_fold_list(files[(db, "test", None)])
        return {k: single for k in splits}
    out = {}
    for k in splits:
        if (db, "test", k) not in files:
            raise FileNotFoundError(f"{Path(fold_dir) / f'{db}_list_test_{k}_fps.txt'}: fold list not found")
        out[k] = read_fold_list(files[(db, "test", k)])
    return out


@dataclass(frozen=True)
class StavisRoot:
    """Paths inside one STAViS-layout root."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def fold_dir(self) -> Path:
        return self.root / "fold_lists"

    def databases(self) -> list[str]:
        """Databases with a folder under ``video_frames`` or a fold list."""
        names = {p.name for p in (self.root / "video_frames").glob("*") if p.is_dir()}
        names |= {db for db, _, _ in fold_list_files(self.fold_dir)}
        return sorted(names)

    def frame_path(self, db: str, video: str, i: int) -> Path:
        return self.root / "video_frames" / db / video / f"img_{i:05d}.jpg"

    def audio_path(self, db: str, video: str) -> Path:
        return self.root / "video_audio" / db / video / f"{video}.wav"

    def fixation_path(self, db: str, video: str, i: int) -> Path:
        return self.root / "annotations" / db / video / f"fixMap_{i:05d}.mat"

    def map_path(self, db: str, video: str, i: int) -> Path:
        return self.root / "annotations" / db / video / "maps" / f"eyeMap_{i:05d}.jpg"

    def test_folds(self, db: str, splits: tuple[int, ...] = (1, 2, 3)) -> dict[int, list[FoldEntry]]:
        return test_folds(self.fold_dir, db, splits)

    def check_videos(self, db: str, entries: list[FoldEntry]) -> tuple[list[FoldEntry], list[str]]:
        """Split fold entries into those whose frame folder exists and a list of missing-video messages."""
        ok, missing = [], []
        for e in entries:
            folder = self.root / "video_frames" / db / e.name
            if folder.is_dir():
                ok.append(e)
            else:
                missing.append(f"{folder}: video listed in the {db} fold list is missing")
        return ok, missing


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    """MATLAB v7.3 files are HDF5 with a 512-byte user block: the signature sits at byte 0, 512, 1024, ..."""
    with open(path, "rb") as f:
        head = f.read(4096)
    return any(head[k:k + 8] == HDF5_SIGNATURE for k in range(0, len(head), 512))


def _load_eyemap_v73(path: Path) -> np.ndarray:
    """``eyeMap`` of a MATLAB v7.3 (HDF5) file: a top-level dataset, or one inside a top-level struct (group).
    MATLAB stores arrays column-major, so h5py sees them transposed."""
    try:
        with h5py.File(path, "r") as f:
            names = [k for k in f.keys() if not k.startswith("#")]
            node = f["eyeMap"] if "eyeMap" in f else next(
                (f[k]["eyeMap"] for k in names if isinstance(f[k], h5py.Group) and "eyeMap" in f[k]), None)
            if node is None:
                raise StavisFormatError(f"{path}: no variable 'eyeMap' (found {names})")
            if not isinstance(node, h5py.Dataset):
                raise StavisFormatError(f"{path}: 'eyeMap' is not a numeric array")
            return np.asarray(node[()]).T
    except OSError as exc:
        raise StavisFormatError(f"{path}: not a readable MATLAB v7.3 (HDF5) file ({exc})") from exc


def load_fixation_map(path: str | Path) -> np.ndarray:
    """Binary fixation map from a ``fixMap_%05d.mat`` (variable ``eyeMap``, also inside a struct) as bool.
    MATLAB v5 files (``save``'s default, scipy) and v7.3 files (``save -v7.3``, HDF5, h5py) are both read."""

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: fixation map not found")
    if _is_hdf5(path):
        arr = _load_eyemap_v73(path)
        if arr.ndim != 2:
            raise StavisFormatError(f"{path}: 'eyeMap' must be 2-D, got shape {arr.shape}")
        return arr > 0
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except Exception as exc:  # scipy raises several types for corrupt files
        raise StavisFormatError(f"{path}: not a readable MATLAB file ({exc})") from exc
    if "eyeMap" in mat:
        arr = mat["eyeMap"]
    else:
        structs = [v for k, v in mat.items() if not k.startswith("__") and hasattr(v, "eyeMap")]
        if not structs:
            keys = [k for k in mat if not k.startswith("__")]
            raise StavisFormatError(f"{path}: no variable 'eyeMap' (found {keys})")
        arr = structs[0].eyeMap
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise StavisFormatError(f"{path}: 'eyeMap' must be 2-D, got shape {arr.shape}")
    return arr > 0


def im2double_first_channel(path: str | Path, error: type[Exception] = StavisFormatError) -> np.ndarray:
    """MATLAB ``I = im2double(imread(path)); I = I(:,:,1)``: the first channel of a grey or RGB 8- or 16-bit
    image as float64 in [0, 1] (the STAViS evaluation reads both GT maps and predictions this way)."""

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except Exception as exc:
        raise error(f"{path}: not a readable image ({exc})") from exc
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.dtype == np.uint8:
        return arr / 255.0
    if arr.dtype == np.uint16:
        return arr / 65535.0
    raise error(f"{path}: unsupported image type {arr.dtype} (expected 8- or 16-bit)")


def load_gt_map(path: str | Path) -> np.ndarray:
    """Continuous ground-truth map (``maps/eyeMap_%05d.jpg``) as float64 in [0, 1] (MATLAB ``im2double``),
    first channel if the JPEG is RGB."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ground-truth map not found")
    return im2double_first_channel(path)


def save_fixation_map(path: str | Path, eye_map: np.ndarray) -> None:
    """Write a ``fixMap`` file as the STAViS release does (variable ``eyeMap``, binary), atomically."""

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        scipy.io.savemat(fh, {"eyeMap": (np.asarray(eye_map) > 0).astype(np.uint8)}, do_compression=True)
