"""The data stage: decode AVE videos and STAViS test videos into per-video arrays plus one index.

``python -m stanet_lib prep [--ave-root DIR] [--stavis-root DIR] --out CACHE [--profile P] [--set k=v]
[--force]``; without roots, the profile's synthetic world ``data/synthetic/<P>/{ave,stavis}``, and without
``--out``, ``data/cache/<P>``. Layout (DESIGN.md "Data contracts"; every file written atomically)::

    CACHE/ave/<video_id>.npz        frames (T,S,S,3) uint8, times (T,) s, audio (T,F,S) float16,
                                    audio_present (), duration (), meta (JSON: config digest,
                                    input fingerprint)
    CACHE/stavis/<DB>/<video>.npz   the same for every frame of a test video, plus numbers (T,) = 1..T;
                                    times = (number - 1) / fps
    CACHE/index.csv                 one row per AVE annotation row and one per STAViS test video
    CACHE/manifest.json             config, git commit, inputs with fingerprints, counts, skips

An AVE video is decoded once at ``MediaConfig.fps`` over its whole length (the 45 ids with two events share
one npz); each annotation row stores the index range ``[frame_start, frame_stop)`` of its frames in that npz:
the frames whose times fall inside the event ``[start, end)`` when ``MediaConfig.use_event_span``, else all.
Skips are counted, listed in the manifest and printed, and leave no file: a missing video, a corrupt or
truncated file, a file that is not a video (a still image named ``.mp4``, a single frame), a video much shorter
than its event (less than half of the event inside it), the zero-length event, an event with no sampled frame, a
fold-list video without frames. Videos kept without an audio track are listed in the printed summary; an event
that ends after its video is kept with a warning. Splits whose categories differ, or a duplicated annotation row,
are errors (:class:`~stanet_lib.data.ave.AnnotationError`).
A re-run reuses every npz whose ``meta`` matches its input's fingerprint and the media/audio config.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import artefacts
from ..config import AudioConfig, Config, MediaConfig, load_profile, parse_overrides
from ..paths import profile_dirs
from ..progress import bar as progress_bar
from . import audio, ave, media, stavis
from .media import MediaError, MediaWarning, NotAVideoError

__all__ = [
    "INDEX_COLUMNS", "PrepReport", "cache_config", "prepare", "load_index", "load_clip", "add_arguments",
    "run_cli"
]


INDEX_COLUMNS = [
    "source", "db", "video", "row", "category", "label", "split", "folds", "n_frames", "fps", "t_first",
    "t_last", "frame_start", "frame_stop", "audio_present", "event_start", "event_end", "duplicate_id", "npz",
    "status", "message",
]  # fmt: skip
Job = dict[str, Any]
SHORT_VIDEO_FRACTION = 0.5  # an AVE event less than half inside its video is a skip (video_shorter_than_event)
EVENT_END_SLACK_S = 0.5  # an event ending later than this after its video is kept, with a warning


@dataclass
class PrepReport:
    """What :func:`prepare` did (also in ``manifest.json``)."""

    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    skips: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    video_seconds: float = 0.0  # duration of every video the cache holds
    wall_s: float = 0.0
    up_to_date: bool = False  # nothing was decoded: the manifest matched
    no_audio: list[str] = field(default_factory=list)  # videos kept without an audio track (features of silence)

    def summary(self) -> str:
        c = self.counts
        keys = ("ave_rows_ok", "ave_rows", "stavis_ok", "stavis_videos", "decoded", "reused")
        n = {k: c.get(k, 0) for k in keys}
        head = (f"prep: {self.out}: {n['ave_rows_ok']}/{n['ave_rows']} AVE rows, {n['stavis_ok']}/"
                f"{n['stavis_videos']} STAViS videos; decoded {n['decoded']}, reused {n['reused']}, "
                f"{len(self.skips)} skipped, {self.video_seconds:.1f} video-s in {self.wall_s:.1f} s"
                + (" (up to date)" if self.up_to_date else ""))  # fmt: skip
        lines = [head] + [f"  skip [{s['reason']}] {s['message']}" for s in self.skips]
        if self.no_audio:
            shown = ", ".join(self.no_audio[:10]) + (f" and {len(self.no_audio) - 10} more" if len(self.no_audio) > 10
                                                    else "")
            lines.append(f"  no audio track: {len(self.no_audio)} video(s) kept with the audio features of silence "
                         f"(p_switch near 0): {shown}")
        return "\n".join(lines + [f"  warning: {w}" for w in self.warnings])


def cache_config(cfg: Config) -> dict[str, Any]:
    """The part of the config the cached arrays depend on (media and audio sections, minus parallelism)."""
    media = {k: v for k, v in cfg.to_dict()["media"].items() if k != "prep_workers"}
    return {"media": media, "audio": cfg.to_dict()["audio"]}


# ------------------------------------------------------------------------------------------------ one video
def _meta(job: Job) -> str:
    return json.dumps({"config_digest": job["config_digest"], "input": job["fingerprint"]}, sort_keys=True)


def _is_fresh(job: Job) -> bool:
    try:
        with np.load(job["npz"]) as z:
            return str(z["meta"]) == _meta(job)
    except (OSError, KeyError, ValueError):
        return False


def _summary_of(npz: str | Path) -> dict[str, Any]:
    with np.load(npz) as z:
        return {"status": "ok", "message": "", "times": z["times"], "audio_present": bool(z["audio_present"]),
                "duration": float(z["duration"])}  # fmt: skip


def _decode(job: Job) -> tuple[dict[str, np.ndarray], float]:
    """Arrays of one video (raises MediaError)."""
    m, a = MediaConfig(**job["media"]), AudioConfig(**job["audio"])
    arrays: dict[str, np.ndarray] = {}
    if job["source"] == "ave":
        info = media.probe(job["path"])
        why = media.not_a_video(info)
        if why:
            raise NotAVideoError(f"{job['path']}: {why}")
        frames, times = media.read_frames(job["path"], m.fps, m.cache_size, on_truncated=m.on_truncated)
        wave, present, _ = media.read_audio(job["path"], m.sample_rate, on_truncated=m.on_truncated)
        duration = min(info.duration, float(times[-1]) + 1.0 / m.fps)
    else:
        frames, numbers = media.read_frame_folder(job["path"], m.cache_size)
        times, duration = (numbers - 1) / job["fps"], len(numbers) / job["fps"]
        arrays["numbers"] = numbers
        if Path(job["wav"]).is_file():
            wave, present, _ = media.read_audio(job["wav"], m.sample_rate, on_truncated=m.on_truncated)
        else:  # a test video without its wav: kept, audio marked absent
            wave, present = np.zeros(int(round(duration * m.sample_rate)), np.float32), False
    feats = audio.frame_features(wave, m.sample_rate, times, a).astype(np.float16)  # (T, F, S)
    arrays.update(frames=frames, times=times, audio=feats, audio_present=np.bool_(present))
    return arrays, duration


def _decode_job(job: Job) -> dict[str, Any]:
    """Decode one video into its npz; a bad file gives a ``skip:decode_error`` result, never an exception."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MediaWarning)
        try:
            arrays, duration = _decode(job)
        except MediaError as exc:
            Path(job["npz"]).unlink(missing_ok=True)  # a stale npz of an earlier, readable version must go
            status = "skip:not_a_video" if isinstance(exc, NotAVideoError) else "skip:decode_error"
            return {"key": job["key"], "status": status, "message": str(exc)}
    artefacts.write_npz(job["npz"], **arrays, duration=np.float64(duration), meta=np.str_(_meta(job)))
    warned = [str(w.message) for w in caught if issubclass(w.category, MediaWarning)]
    return {"key": job["key"], "status": "ok", "message": "", "times": arrays["times"], "duration": duration,
            "path": job["path"],
            "audio_present": bool(arrays["audio_present"]), "warnings": warned}  # fmt: skip


def _worker_init() -> None:
    # One video at a time per worker; more intra-op threads per worker would oversubscribe the cores (the
    # torch DataLoader does the same in its workers). This runs in the worker processes only.

    torch.set_num_threads(1)


def _run_jobs(jobs: list[Job], workers: int) -> dict[str, dict[str, Any]]:
    """Decode jobs, in a pool of ``workers`` forked processes when there are enough of them.

    Fork, not spawn: a spawned worker re-imports torch (~2.5 s here) and re-runs an unguarded ``__main__``
    script; forked workers start at once (as the torch DataLoader's). Where fork is missing: in this process.
    """


    results: dict[str, dict[str, Any]] = {}
    with progress_bar(total=len(jobs), desc="prep", unit="video") as bar:
        if workers <= 1 or len(jobs) < 4 or "fork" not in mp.get_all_start_methods():
            for job in jobs:
                results[job["key"]] = _decode_job(job)
                bar.update()
            return results
        ctx = mp.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
            for fut in as_completed([pool.submit(_decode_job, job) for job in jobs]):
                res = fut.result()
                results[res["key"]] = res
                bar.update()
    return results


# ------------------------------------------------------------------------------------------------ sources
def _ave_jobs(root: Path, out: Path, base: Job) -> tuple[pd.DataFrame, list[Job]]:
    """Annotation rows and one job per video id that has a non-empty event."""
    rows = ave.read_ave(root).rows  # AnnotationError (file and line named) propagates: the stage cannot go on
    jobs = []
    for vid in dict.fromkeys(rows.loc[~rows["zero_length"], "video_id"]):
        path = ave.video_path(root, vid)
        fingerprint = artefacts.file_fingerprint(path) if path.is_file() else None
        jobs.append({**base, "source": "ave", "key": f"ave/{vid}", "path": str(path),
                     "npz": str(out / "ave" / f"{vid}.npz"), "fingerprint": fingerprint})
    return rows, jobs


def _test_entries(sroot: Any, db: str) -> dict[str, tuple[Any, list[int]]]:
    """Test videos of a database, each with the folds it is in (AVAD folds overlap; DIEM: fold 0 = single)."""
    entries: dict[str, tuple[Any, list[int]]] = {}
    files = stavis.fold_list_files(sroot.fold_dir)
    for (name, kind, k) in sorted(files, key=lambda key: (key[0], key[1], key[2] or 0)):
        if name == db and kind == "test":
            for e in stavis.read_fold_list(files[(name, kind, k)]):
                entries.setdefault(e.name, (e, []))[1].append(k or 0)
    return entries


def _stavis_jobs(root: Path, out: Path, base: Job) -> tuple[list[Job], list[dict[str, Any]]]:
    """One job per test video of every database; skip records for fold-list videos without a frame folder."""
    sroot = stavis.StavisRoot(root)
    jobs, missing = [], []
    for db in sroot.databases():
        entries = _test_entries(sroot, db)
        if not entries:
            missing.append({"db": db, "video": "", "folds": "", "fps": np.nan,
                            "message": f"{sroot.fold_dir}: no test fold list for database {db}"})
        for name, (e, ks) in entries.items():
            folds, folder = ";".join(map(str, ks)), sroot.root / "video_frames" / db / name
            wav = sroot.audio_path(db, name)
            if not folder.is_dir():
                missing.append({"db": db, "video": name, "folds": folds, "fps": e.fps,
                                "message": f"{folder}: video listed in the {db} fold list is missing"})
                continue
            prints = sorted(artefacts.file_fingerprint(p) for p in folder.glob("img_*.jpg"))
            wav_print = artefacts.file_fingerprint(wav) if wav.is_file() else None
            jobs.append({**base, "source": "stavis", "key": f"stavis/{db}/{name}", "db": db, "video": name,
                         "folds": folds, "fps": e.fps, "nframes_listed": e.nframes, "path": str(folder),
                         "wav": str(wav), "npz": str(out / "stavis" / db / f"{name}.npz"),
                         "fingerprint": artefacts.digest({"frames": prints, "wav": wav_print, "fps": e.fps})})
    return jobs, missing


def _span(times: np.ndarray, start: float, end: float, use_span: bool) -> tuple[int, int]:
    if not use_span:
        return 0, len(times)
    return int(np.searchsorted(times, start, "left")), int(np.searchsorted(times, end, "left"))


def _ave_index_rows(cfg: Config, rows: pd.DataFrame, results: dict[str, dict]) -> list[dict[str, Any]]:
    recs = []
    for r in rows.itertuples():
        rec = {"source": "ave", "db": "AVE", "video": r.video_id, "row": int(r.row), "category": r.category,
               "label": int(r.label), "split": r.split, "folds": "", "fps": cfg.media.fps,
               "event_start": float(r.start), "event_end": float(r.end), "duplicate_id": bool(r.duplicate_id),
               "npz": f"ave/{r.video_id}.npz"}  # fmt: skip
        where = f"{r.video_id} row {r.row}: event [{r.start:g}, {r.end:g})"
        if r.zero_length:
            recs.append({**rec, "status": "skip:zero_length_event", "message": f"{where} has zero length"})
            continue
        res = results[f"ave/{r.video_id}"]
        if res["status"] != "ok":
            recs.append({**rec, "status": res["status"], "message": res["message"]})
            continue
        times = res["times"]
        covered = min(r.end, res["duration"]) - r.start
        if covered < SHORT_VIDEO_FRACTION * (r.end - r.start):
            msg = (f"{where}, but the video {res.get('path', r.video_id)} lasts {res['duration']:.2f} s: much "
                   f"shorter than its event (less than {SHORT_VIDEO_FRACTION:.0%} of it is in the video)")
            recs.append({**rec, "status": "skip:video_shorter_than_event", "message": msg})
            continue
        a, b = _span(times, r.start, r.end, cfg.media.use_event_span)
        if b <= a:
            msg = f"{where}: no frame sampled inside it (video of {res['duration']:.2f} s)"
            recs.append({**rec, "status": "skip:empty_event", "message": msg})
            continue
        note = (f"{where} ends after the video ({res['duration']:.2f} s): its first {covered:.2f} s are used"
                if r.end > res["duration"] + EVENT_END_SLACK_S else "")
        recs.append({**rec, "frame_start": a, "frame_stop": b, "n_frames": b - a, "t_first": float(times[a]),
                     "t_last": float(times[b - 1]), "audio_present": res["audio_present"], "status": "ok",
                     "message": note})  # fmt: skip
    return recs


def _stavis_index_rows(jobs: list[Job], missing: list[dict], results: dict[str, dict]) -> list[dict]:
    base = {"source": "stavis", "row": -1, "category": "", "label": -1, "split": "test",
            "duplicate_id": False}
    recs = []
    for job in jobs:
        res = results[job["key"]]
        rec = {**base, "db": job["db"], "video": job["video"], "folds": job["folds"], "fps": job["fps"],
               "npz": f"stavis/{job['db']}/{job['video']}.npz", "status": res["status"],
               "message": res["message"]}
        if res["status"] == "ok":
            n = len(res["times"])
            rec.update(frame_start=0, frame_stop=n, n_frames=n, t_first=float(res["times"][0]),
                       t_last=float(res["times"][-1]), audio_present=res["audio_present"])
            if n != job["nframes_listed"]:
                rec["message"] = f"fold list says {job['nframes_listed']} frames, the folder has {n}"
        recs.append(rec)
    return recs + [{**base, **m, "npz": "", "status": "skip:missing_video"} for m in missing]


# ------------------------------------------------------------------------------------------------ stage
def _inputs(ave_root: Path | None, stavis_root: Path | None, jobs: list[Job]) -> dict[str, str | None]:
    names = ("Annotations.txt", "trainSet.txt", "valSet.txt", "testSet.txt")
    files = [ave_root / n for n in names] if ave_root else []
    files += sorted((stavis_root / "fold_lists").glob("*_fps.txt")) if stavis_root else []
    inputs = {str(p): artefacts.file_fingerprint(p) if p.is_file() else None for p in files}
    return inputs | {j["path"]: j["fingerprint"] for j in jobs}


def _counts(index: pd.DataFrame, rows: pd.DataFrame | None, jobs: list[Job], todo: list[Job],
            results: dict[str, dict]) -> dict[str, int]:
    ok = [j for j in jobs if results[j["key"]]["status"] == "ok"]
    is_ave, is_ok = index["source"] == "ave", index["status"] == "ok"
    return {
        "ave_rows": int(is_ave.sum()), "ave_rows_ok": int((is_ave & is_ok).sum()),
        "ave_videos": int(rows["video_id"].nunique()) if rows is not None else 0,
        "stavis_videos": int(((~is_ave) & (index["video"] != "")).sum()),
        "stavis_ok": int((~is_ave & is_ok).sum()),
        "videos_ok": len(ok), "decoded": sum(results[j["key"]]["status"] == "ok" for j in todo),
        "reused": len(ok) - sum(results[j["key"]]["status"] == "ok" for j in todo),
        "skipped": int((~is_ok).sum()),
        "truncated_kept": sum(bool(r.get("warnings")) for r in results.values()),  # videos
        "audio_absent": sum(not results[j["key"]]["audio_present"] for j in ok),
    }  # fmt: skip


def prepare(cfg: Config, ave_root: str | Path | None, stavis_root: str | Path | None, out: str | Path,
            force: bool = False) -> PrepReport:  # fmt: skip
    """Run the data stage (module docstring) and return what it did.

    Args:
        cfg: resolved config; ``cfg.media`` and ``cfg.audio`` shape the arrays.
        ave_root: AVE-layout root (``Annotations.txt``, ``AVE/<id>.mp4``), or None to skip AVE.
        stavis_root: STAViS-layout root (``video_frames``, ``video_audio``, ``fold_lists``), or None.
        out: cache folder.
        force: decode everything again even when up to date.

    Raises:
        ave.AnnotationError: an annotation line does not parse (file and line named); nothing is written.
        stavis.StavisFormatError: a fold-list line does not parse.
    """
    t0 = time.perf_counter()
    out, ccfg = Path(out), cache_config(cfg)
    ave_root, stavis_root = (Path(p) if p is not None else None for p in (ave_root, stavis_root))
    base = {**{k: cfg.to_dict()[k] for k in ("media", "audio")}, "config_digest": artefacts.digest(ccfg)}
    rows, ave_jobs = _ave_jobs(ave_root, out, base) if ave_root else (None, [])
    st_jobs, st_missing = _stavis_jobs(stavis_root, out, base) if stavis_root else ([], [])
    jobs = ave_jobs + st_jobs
    inputs = _inputs(ave_root, stavis_root, jobs)
    manifest_path, index_path = out / "manifest.json", out / "index.csv"
    if not force and index_path.is_file() and artefacts.is_up_to_date(manifest_path, ccfg, inputs):
        old = json.loads(manifest_path.read_text())
        if all((out / p).is_file() for p in old.get("npz_files", [])):
            counts = {**old["counts"], "decoded": 0, "reused": old["counts"]["videos_ok"]}
            return PrepReport(out, counts, old["skips"], old["warnings"], old["video_seconds"],
                              time.perf_counter() - t0, up_to_date=True,
                              no_audio=old.get("no_audio", []))  # fmt: skip

    results: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if job["fingerprint"] is None:
            msg = f"{job['path']}: video listed in {ave_root / 'Annotations.txt'} is missing"
            results[job["key"]] = {"status": "skip:missing_video", "message": msg}
        elif not force and _is_fresh(job):
            results[job["key"]] = {**_summary_of(job["npz"]), "path": job["path"]}
    todo = [j for j in jobs if j["key"] not in results]
    results.update(_run_jobs(todo, cfg.media.prep_workers))

    recs = (_ave_index_rows(cfg, rows, results) if rows is not None else [])
    used = {r["npz"] for r in recs if r["status"] == "ok"}
    for j in ave_jobs:  # a video all of whose rows were skipped (e.g. shorter than its event) keeps no npz
        if results[j["key"]]["status"] == "ok" and f"ave/{Path(j['npz']).name}" not in used:
            Path(j["npz"]).unlink(missing_ok=True)
            results[j["key"]] = {**results[j["key"]], "status": "skip:no_row_kept"}
    index = pd.DataFrame(recs + _stavis_index_rows(st_jobs, st_missing, results), columns=INDEX_COLUMNS)
    index.loc[index["status"] != "ok", "npz"] = ""
    skips = [{"source": r.source, "db": r.db, "video": r.video, "row": int(r.row), "reason": r.status[5:],
              "message": r.message} for r in index.itertuples() if r.status != "ok"]  # fmt: skip
    counts = _counts(index, rows, jobs, todo, results)
    ok = [j for j in jobs if results[j["key"]]["status"] == "ok"]
    warns = [w for r in results.values() for w in r.get("warnings", [])]
    warns += [r["message"] for r in recs if r["status"] == "ok" and r["message"]]  # events past their video's end
    no_audio = sorted(j["key"] for j in ok if not results[j["key"]]["audio_present"])
    seconds = float(sum(results[j["key"]]["duration"] for j in ok))
    artefacts.write_text(index_path, index.to_csv(index=False))
    wall = time.perf_counter() - t0
    artefacts.write_json(manifest_path, artefacts.make_manifest(
        ccfg, inputs, profile=cfg.profile, ave_root=ave_root, stavis_root=stavis_root, counts=counts,
        skips=skips, warnings=warns, video_seconds=seconds, wall_s=wall, no_audio=no_audio,
        npz_files=sorted(str(Path(j["npz"]).relative_to(out)) for j in ok)))  # fmt: skip
    return PrepReport(out, counts, skips, warns, seconds, wall, up_to_date=False, no_audio=no_audio)


# ------------------------------------------------------------------------------------------------ loaders
_STR_COLS = ["source", "db", "video", "category", "split", "folds", "npz", "status", "message"]
_NUM_COLS = ["row", "label", "fps", "t_first", "t_last", "event_start", "event_end", "n_frames",
             "frame_start", "frame_stop", "audio_present"]  # fmt: skip


def load_index(cache: str | Path, ok_only: bool = True) -> pd.DataFrame:
    """``CACHE/index.csv`` with typed columns (nullable ints and booleans); ``ok_only`` drops skipped rows.

    Raises:
        FileNotFoundError: no index (run ``python -m stanet_lib prep`` first).
    """
    path = Path(cache) / "index.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no cache index; run `python -m stanet_lib prep` first")
    df = pd.read_csv(path, dtype={c: str for c in _STR_COLS}, keep_default_na=False,
                     na_values={c: [""] for c in _NUM_COLS})  # fmt: skip
    for c in ("row", "label", "n_frames", "frame_start", "frame_stop"):
        df[c] = df[c].astype("Int64")
    df["audio_present"] = df["audio_present"].map({"True": True, "False": False, True: True, False: False})
    df["audio_present"] = df["audio_present"].astype("boolean")
    df["duplicate_id"] = df["duplicate_id"].astype(str) == "True"
    return df[df["status"] == "ok"].reset_index(drop=True) if ok_only else df


def load_clip(cache: str | Path, row: int | pd.Series | dict) -> dict[str, Any]:
    """Arrays of one index row, restricted to its frame range (the AVE event span).

    Args:
        cache: cache folder.
        row: a row of :func:`load_index` (Series or dict), or its position in ``load_index(cache)``.

    Returns:
        ``frames (T,S,S,3) uint8, times (T,), audio (T,F,S) float16, audio_present, label`` (-1 for STAViS),
        ``source, db, video, split`` and, for STAViS rows, ``numbers (T,)`` (1-based frame numbers).

    Raises:
        ValueError: the row was skipped by the data stage.
    """
    row = dict(load_index(cache).iloc[int(row)] if isinstance(row, (int, np.integer)) else row)
    if row["status"] != "ok":
        raise ValueError(f"{row['source']} {row['video']}: row was skipped in the data stage "
                         f"({row['message']})")
    a, b = int(row["frame_start"]), int(row["frame_stop"])
    out: dict[str, Any] = {k: row[k] for k in ("source", "db", "video", "split")}
    out["label"] = int(row["label"])
    with np.load(Path(cache) / row["npz"]) as z:
        keys = ("frames", "times", "audio") + (("numbers",) if "numbers" in z else ())
        out.update({k: z[k][a:b] for k in keys})
        out["audio_present"] = bool(z["audio_present"])
    return out


# ------------------------------------------------------------------------------------------------ CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib prep``."""
    p.add_argument("--ave-root", type=Path, default=None, help="AVE-layout root")
    p.add_argument("--stavis-root", type=Path, default=None, help="STAViS-layout root")
    p.add_argument("--out", type=Path, default=None, help="cache folder (default: data/cache/<profile>)")
    p.add_argument("--profile", default="demo", choices=("smoke", "demo", "paper"), help="config profile")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. media.fps=2 (repeatable)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="decode everything again")
    p.epilog = "Without --ave-root and --stavis-root: the profile's synthetic world, data/synthetic/<profile>"


def run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib prep``: the data stage; prints the summary with every skip."""
    cfg = load_profile(args.profile, **parse_overrides(args.set))
    dirs = profile_dirs(args.profile)
    roots = [args.ave_root, args.stavis_root]
    if roots == [None, None]:  # defaults only when no root is given (never mix real and synthetic data)
        roots = [p if p.is_dir() else None for p in (dirs["synth"] / "ave", dirs["synth"] / "stavis")]
        if roots == [None, None]:
            raise FileNotFoundError(f"{dirs['synth']}: no input: pass --ave-root/--stavis-root, or run "
                                    f"`python -m stanet_lib synth --profile {args.profile}` to write it")
    for root in roots:
        if root is not None and not Path(root).is_dir():
            raise FileNotFoundError(f"{root}: folder not found")
    report = prepare(cfg, roots[0], roots[1], args.out or dirs["cache"], force=args.force)  # errors: one line (cli)
    print(report.summary())
    return 0
